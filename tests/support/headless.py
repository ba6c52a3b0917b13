"""Running ``llmos --headless run`` in a subprocess, and finding the trace files it writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def run(goal: str, cwd: Path, ws: Path, *extra: str) -> tuple[int, dict, str]:
    """Exit code, the ``--json`` result and stderr of one headless run (no stdin: a question
    the run would ask is answered as on a closed terminal)."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "llmos_tui",
            "--headless",
            "run",
            goal,
            "--json",
            "--workspace",
            str(ws),
            "--cwd",
            str(cwd),
            *extra,
        ],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=180,
        stdin=subprocess.DEVNULL,
    )
    return proc.returncode, json.loads(proc.stdout), proc.stderr


def trace_file(ws: Path, trace_id: str) -> Path:
    return ws / "volumes" / "users" / "local" / "traces" / f"{trace_id}.md"
