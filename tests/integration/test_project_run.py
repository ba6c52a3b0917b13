"""`--project NAME` through the real CLI: the project's output/ is the default working
directory, the trace is tagged, the run is in the project's log; an unknown project is exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from llmos_tui.devtools.scripted_server import ScriptedServer, text_turn, tool_turn
from llmos_tui.learning.traces import parse_trace

pytestmark = pytest.mark.llm


def llmos(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "llmos_tui", *args],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=120,
    )


def test_project_run_defaults_cwd_and_tags_the_trace(
    llm_env: ScriptedServer, tmp_path: Path
) -> None:
    ws = tmp_path / "ws"
    assert llmos("projects", "create", "website", "--workspace", str(ws)).returncode == 0
    output = ws / "projects" / "website" / "output"
    llm_env.add_turns(
        tool_turn("Write", {"file_path": str(output / "index.html"), "content": "<h1>hi</h1>\n"}),
        text_turn("Created index.html"),
    )
    proc = llmos(
        "--headless",
        "run",
        "Create the home page",
        "--json",
        "--project",
        "website",
        "--workspace",
        str(ws),
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["project"] == "website"
    assert (output / "index.html").exists()
    trace = parse_trace(
        (ws / "volumes" / "users" / "local" / "traces" / f"{data['trace_id']}.md").read_text()
    )
    assert trace.project == "website"
    assert str(output) in llm_env.main_requests[0].system or str(output) in json.dumps(
        llm_env.main_requests[0].raw
    )
    shown = llmos("projects", "show", "website", "--json", "--workspace", str(ws))
    assert shown.returncode == 0 and data["trace_id"] in shown.stdout


def test_unknown_project_is_a_usage_error(tmp_path: Path) -> None:
    proc = llmos(
        "--headless",
        "run",
        "Create the home page",
        "--project",
        "nope",
        "--workspace",
        str(tmp_path / "ws"),
    )
    assert proc.returncode == 2 and "nope" in proc.stderr
