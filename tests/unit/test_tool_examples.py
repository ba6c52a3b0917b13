"""Tool Examples: example inputs learned from successful calls in good-enough traces."""

from __future__ import annotations

from pathlib import Path

from llmos_tui.config import LLMOSConfig
from llmos_tui.learning.store import TraceStore
from llmos_tui.learning.tool_examples import (
    REDACTED,
    api_tool,
    collect_examples,
    examples_by_tool,
    examples_for_tool,
    examples_from_store,
    examples_prompt,
    with_examples,
)
from llmos_tui.learning.traces import ToolCall, make_trace
from llmos_tui.workspace import open_workspace

MIN = LLMOSConfig().learning.tool_example_min_success  # 0.9


def ok(name: str, tool_input: dict, **result) -> ToolCall:
    return ToolCall(name, tool_input, {"is_error": False, "summary": "ok", **result})


def bad(name: str, tool_input: dict, **result) -> ToolCall:
    return ToolCall(name, tool_input, {"is_error": True, "summary": "failed", **result})


def trace(
    goal: str,
    calls: list[ToolCall],
    *,
    uses: int = 10,
    successes: int = 10,
    outcome: str = "success",
):
    t = make_trace(goal, calls, outcome=outcome)
    t.usage_count, t.success_count, t.failure_count = uses, successes, uses - successes
    return t


def test_only_successful_calls_of_reliable_traces_count() -> None:
    good = trace(
        "Create a calculator",
        [
            ok("Write", {"file_path": "{{cwd}}/calc.py", "content": "print(1)"}),
            ok("Bash", {"command": "python3 calc.py"}, exit_code=0),
            bad("Bash", {"command": "python3 missing.py"}, exit_code=2),
            ok("Bash", {"command": "false"}, exit_code=1),
            ok("Bash", {"command": "rm -rf /"}, decision="deny"),
        ],
    )
    flaky = trace(
        "Run the tests", [ok("Bash", {"command": "pytest -q"}, exit_code=0)], uses=10, successes=8
    )
    failed_run = trace(
        "Deploy", [ok("Bash", {"command": "make deploy"}, exit_code=0)], outcome="failure"
    )
    assert examples_for_tool([good, flaky, failed_run], "Bash", min_success=MIN) == [
        {"command": "python3 calc.py"}
    ]
    # Lower the threshold: the 80% trace lends its call too.
    assert {"command": "pytest -q"} in examples_for_tool([good, flaky], "Bash", min_success=0.8)
    assert examples_for_tool([good], "Grep", min_success=MIN) == []


def test_examples_are_deduplicated_capped_and_best_first() -> None:
    low = trace(
        "Greet",
        [ok("Write", {"file_path": "{{cwd}}/a.txt", "content": "hi"})],
        uses=10,
        successes=9,
    )
    high = trace(
        "Greet again",
        [
            ok("Write", {"file_path": "{{cwd}}/b.txt", "content": "hello"}),
            ok("Write", {"file_path": "{{cwd}}/B.txt", "content": "  Hello "}),  # same, normalized
            ok("Write", {"file_path": "{{cwd}}/c.txt", "content": "hey"}),
            ok("Write", {"file_path": "{{cwd}}/d.txt", "content": "yo"}),
        ],
        uses=20,
        successes=20,
    )
    found = collect_examples([low, high], "Write", min_success=MIN, cap=3)
    assert [e.input["file_path"] for e in found] == [
        "{{cwd}}/b.txt",
        "{{cwd}}/c.txt",
        "{{cwd}}/d.txt",
    ]
    assert all(e.trace_id == high.id and e.success_rate == 1.0 for e in found)
    assert len(examples_for_tool([low, high], "Write", min_success=MIN, cap=10)) == 4
    assert examples_for_tool([low, high], "Write", min_success=MIN, cap=0) == []


def test_paths_keep_the_placeholder_or_are_rerooted(tmp_path: Path) -> None:
    t = trace(
        "Make notes",
        [
            ok("Write", {"file_path": "{{cwd}}/notes.md", "content": "x"}),
            ok("Bash", {"command": "wc -l {{cwd}}/notes.md"}, exit_code=0),
        ],
    )
    assert examples_for_tool([t], "Write", min_success=MIN)[0]["file_path"] == "{{cwd}}/notes.md"
    rerooted = examples_for_tool([t], "Bash", min_success=MIN, cwd=tmp_path)
    assert rerooted == [{"command": f"wc -l {tmp_path}/notes.md"}]


def test_long_strings_are_cut_and_secrets_redacted() -> None:
    t = trace(
        "Configure",
        [
            ok("Write", {"file_path": "{{cwd}}/big.txt", "content": "x" * 5000}),
            ok(
                "Bash",
                {"command": "curl -H 'x-api-key: sk-ant-api03-abcdefghijklmnop' https://a.b"},
                exit_code=0,
            ),
            ok("Bash", {"command": "export API_TOKEN=hunter2 && ./run.sh"}, exit_code=0),
            ok(
                "Edit",
                {
                    "file_path": "{{cwd}}/.env",
                    "old_string": "a",
                    "new_string": "b",
                    "password": "swordfish",
                },
            ),
        ],
    )
    big = examples_for_tool([t], "Write", min_success=MIN, max_string=100)[0]["content"]
    assert len(big) == 100 and big.endswith("…")
    commands = [e["command"] for e in examples_for_tool([t], "Bash", min_success=MIN)]
    assert all("sk-ant" not in c and "hunter2" not in c for c in commands)
    assert REDACTED in commands[0] and "API_TOKEN=<redacted>" in commands[1]
    assert examples_for_tool([t], "Edit", min_success=MIN)[0]["password"] == REDACTED


def test_from_the_store_reads_only_candidate_traces(tmp_path: Path) -> None:
    ws = open_workspace(tmp_path / "ws")
    store = TraceStore(ws)
    wanted = trace(
        "Convert data", [ok("Bash", {"command": "python3 convert.py data.csv"}, exit_code=0)]
    )
    other = trace("Write hello", [ok("Write", {"file_path": "{{cwd}}/h.txt", "content": "hi"})])
    weak = trace(
        "Convert again",
        [ok("Bash", {"command": "python3 convert.py b.csv"}, exit_code=0)],
        uses=10,
        successes=5,
    )
    for t in (wanted, other, weak):
        store.save(t, volume="users/local")
    assert examples_from_store(store, "Bash", volumes=["users/local"], min_success=MIN) == [
        {"command": "python3 convert.py data.csv"}
    ]
    assert examples_from_store(store, "Bash", volumes=["system"], min_success=MIN) == []


def test_where_examples_go() -> None:
    by_tool = examples_by_tool(
        [
            trace(
                "Calc",
                [
                    ok("Write", {"file_path": "{{cwd}}/c.py", "content": "1"}),
                    ok("Bash", {"command": "python3 c.py"}, exit_code=0),
                ],
            )
        ],
        ["Write", "Bash", "Grep"],
        min_success=MIN,
    )
    assert sorted(by_tool) == ["Bash", "Write"]
    prompt = examples_prompt(by_tool)
    assert (
        prompt.startswith("Inputs that worked") and '- Bash {"command": "python3 c.py"}' in prompt
    )
    assert examples_prompt({}) == ""
    schema = {"type": "object", "properties": {"command": {"type": "string"}}}
    assert with_examples(schema, by_tool["Bash"])["examples"] == [{"command": "python3 c.py"}]
    assert "examples" not in schema  # the original is left alone
    assert api_tool("Bash", "Run", schema, by_tool["Bash"])["input_examples"] == [
        {"command": "python3 c.py"}
    ]
    assert "input_examples" not in api_tool("Bash", "Run", schema, [])


def test_examples_from_candidate_traces_of_the_store(tmp_path: Path) -> None:
    from llmos_tui.learning.tool_examples import examples_from_traces

    store = TraceStore(open_workspace(tmp_path / "ws"))
    near = trace(
        "Plot sales",
        [
            ok("Bash", {"command": "python3 plot.py sales.csv"}, exit_code=0),
            ok("Write", {"file_path": "{{cwd}}/plot.py", "content": "import csv"}),
        ],
    )
    store.save(near, volume="users/local")
    found = examples_from_traces(
        store, [near.id, "t_missing"], ["Bash", "Write", "Grep"], min_success=MIN
    )
    assert found == {
        "Bash": [{"command": "python3 plot.py sales.csv"}],
        "Write": [{"file_path": "{{cwd}}/plot.py", "content": "import csv"}],
    }
