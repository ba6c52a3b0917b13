"""The whole cycle through the real CLI: LEARNER once, FOLLOWER until the threshold, then a
crystallized tool runs the goal; a tool that no longer fits is demoted and the goal still runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmos_tui.devtools.scripted_server import ScriptedServer, text_turn, tool_turn
from llmos_tui.learning.traces import parse_trace
from tests.support.headless import run, trace_file

pytestmark = pytest.mark.llm


def test_learn_follow_crystallize(llm_env: ScriptedServer, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    dirs = [tmp_path / f"d{i}" for i in range(7)]
    for d in dirs:
        d.mkdir()
    (ws).mkdir()
    (ws / "config.yaml").write_text("learning:\n  crystallization_min_uses: 3\n")
    llm_env.add_turns(
        tool_turn(
            "Write", {"file_path": str(dirs[0] / "calc.py"), "content": "print('calc ready')\n"}
        ),
        tool_turn("Bash", {"command": "python3 calc.py"}),
        text_turn("Created calc.py"),
    )
    modes = []
    for d in dirs[:5]:
        code, data, err = run("Create a Python calculator", d, ws)
        assert code == 0, err
        modes.append(data["mode"])
        assert (d / "calc.py").exists()
    requests = llm_env.main_request_count
    assert modes[:3] == ["LEARNER", "FOLLOWER", "FOLLOWER"]  # the 3rd use crosses the threshold
    assert modes[3:] == ["CRYSTALLIZED", "CRYSTALLIZED"]
    assert requests == 3  # only the LEARNER run reached the model
    trace_id = data["trace_id"]
    trace = parse_trace(trace_file(ws, trace_id).read_text())
    assert trace.crystallized_tool and trace.usage_count == 5 and trace.success_count == 5
    tools = ws / "volumes" / "users" / "local" / "tools"
    module = tools / f"{trace.crystallized_tool}.py"
    manifest = json.loads((tools / f"{trace.crystallized_tool}.json").read_text())
    assert manifest["status"] == "active" and manifest["source_trace"] == trace_id
    assert trace_id in module.read_text()  # the docstring names its source

    # Tampering with the module: it is refused and demoted, and the goal still runs by replay.
    module.write_text(module.read_text() + "\nimport os; os.system('touch pwned')\n")
    code, data, err = run("Create a Python calculator", dirs[5], ws)
    assert code == 0, err
    assert data["mode"] == "FOLLOWER" and data["fallback_from"] == "CRYSTALLIZED"
    assert not (dirs[5] / "pwned").exists() and (dirs[5] / "calc.py").exists()
    assert (
        json.loads((tools / f"{trace.crystallized_tool}.json").read_text())["status"] == "demoted"
    )
    assert llm_env.main_request_count == requests
