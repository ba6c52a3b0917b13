"""Which heavy libraries (textual, anthropic, claude_agent_sdk) a real entry point imports: runs it
in a fresh interpreter and inspects ``sys.modules`` at exit."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

PROBE = r"""
import atexit, json, sys
out = sys.argv.pop(1)
def dump():
    mods = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'anthropic', 'claude_agent_sdk'))
    cli = sorted(m for m in sys.modules if m.startswith('llmos_tui.cli.'))
    with open(out, 'w') as f:
        json.dump({'heavy': sorted({m.split('.')[0] for m in mods}), 'cli': cli}, f)
atexit.register(dump)
sys.argv[0] = 'llmos'
from llmos_tui.__main__ import main
main()
"""


def probe(tmp_path: Path, *args: str, env_extra: dict[str, str] | None = None) -> tuple[dict, int]:
    import os

    out = tmp_path / "mods.json"
    env = dict(os.environ)
    env.update(env_extra or {})
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, str(out), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    return json.loads(out.read_text()), proc.returncode


def heavy_modules(
    tmp_path: Path, *args: str, env_extra: dict[str, str] | None = None
) -> tuple[set[str], int]:
    found, code = probe(tmp_path, *args, env_extra=env_extra)
    return set(found["heavy"]), code
