"""The headless path never imports textual; paths that call no LLM import no LLM library.

Each case runs the real entry point in a fresh interpreter and inspects ``sys.modules`` at exit.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

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


@pytest.mark.parametrize(
    "args", [["--help"], ["--version"], ["run", "--help"], ["config", "show"], ["config", "keys"]]
)
def test_cli_paths_import_no_heavy_library(tmp_path: Path, args: list[str]) -> None:
    mods, code = heavy_modules(tmp_path, *args)
    assert code == 0
    assert mods == set(), f"{args} imported {mods}"


def test_headless_run_without_llm_imports_nothing_heavy(tmp_path: Path) -> None:
    mods, code = heavy_modules(
        tmp_path,
        "--headless",
        "run",
        "Say hi",
        "--json",
        "--workspace",
        str(tmp_path / "ws"),
        "--cwd",
        str(tmp_path),
    )
    assert code == 5
    assert mods == set()


def test_a_run_loads_no_other_command_group(tmp_path: Path) -> None:
    """Sub-apps (traces, bench, memory, ...) are imported only when invoked: a run pays for none."""
    found, code = probe(
        tmp_path,
        "--headless",
        "run",
        "Say hi",
        "--json",
        "--workspace",
        str(tmp_path / "ws"),
        "--cwd",
        str(tmp_path),
    )
    assert code == 5
    loaded = {m.rsplit(".", 1)[1] for m in found["cli"]}
    assert not loaded & {
        "traces",
        "bench",
        "memory",
        "projects",
        "policy",
        "inbox",
        "cron",
        "sentience",
        "agents",
        "volumes",
        "activity",
        "bundle",
        "doctor",
    }, loaded
    found, code = probe(tmp_path, "traces", "list", "--workspace", str(tmp_path / "ws"))
    assert code == 0
    loaded = {m.rsplit(".", 1)[1] for m in found["cli"]}
    assert {"traces", "bundle"} <= loaded and not loaded & {"bench", "memory", "inbox", "cron"}, (
        loaded
    )


def test_headless_bad_usage_imports_nothing_heavy(tmp_path: Path) -> None:
    mods, code = heavy_modules(
        tmp_path, "--headless", "run", "   ", "--workspace", str(tmp_path / "ws")
    )
    assert code == 2
    assert mods == set()
