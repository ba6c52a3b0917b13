"""CRYSTALLIZED tools: generation, verification, checked loading, running, demotion. No LLM."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from llmos_tui.config import LLMOSConfig
from llmos_tui.evolution.crystallizer import CrystallizationError, Crystallizer, tool_name_for
from llmos_tui.execution.policy.engine import default_engine
from llmos_tui.execution.replay.crystallized import (
    ToolLoadError,
    ToolNotFound,
    find_tool_for_trace,
    list_tools,
    load_tool,
    render_module,
    run_tool,
)
from llmos_tui.execution.replay.executors import ToolExecutor
from llmos_tui.execution.replay.hooks import HookRegistry, HookVerdict
from llmos_tui.learning.slots import extract_slots
from llmos_tui.learning.store import TraceStore
from llmos_tui.learning.traces import ToolCall, make_trace
from llmos_tui.observability.events import EventLog
from llmos_tui.runs import CancelToken, ToolCallStarted
from llmos_tui.workspace import open_workspace
from tests.support.sandbox_backend import BACKEND

CALC = "def add(a, b):\n    return a + b\n\n\nprint(add(2, 3))\n"


# ---- fixtures -------------------------------------------------------------------------------------


@pytest.fixture
def ws(tmp_path: Path):
    return open_workspace(tmp_path / "ws")


@pytest.fixture
def config() -> LLMOSConfig:
    cfg = LLMOSConfig.testing()
    cfg.execution.sandbox = BACKEND
    return cfg


@pytest.fixture
def store(ws) -> TraceStore:
    return TraceStore(ws)


@pytest.fixture
def crystallizer(ws, store, config) -> Crystallizer:
    return Crystallizer(ws, store, config)


def save_trace(
    store: TraceStore,
    goal: str,
    calls: list[ToolCall],
    *,
    uses: int = 5,
    successes: int | None = None,
    slots: dict[str, str] | None = None,
) -> Any:
    trace = make_trace(goal, calls, slots=extract_slots(goal) if slots is None else slots)
    trace.usage_count = uses
    trace.success_count = uses if successes is None else successes
    trace.failure_count = uses - trace.success_count
    store.save(trace, volume="users/local")
    return trace


def calc_calls() -> list[ToolCall]:
    return [
        ToolCall(
            "Write",
            {"file_path": "{{cwd}}/calc.py", "content": CALC},
            {
                "is_error": False,
                "summary": "create {{cwd}}/calc.py",
                "exit_code": None,
                "files_created": ["calc.py"],
            },
            "toolu_1",
        ),
        ToolCall(
            "Bash",
            {"command": "python3 calc.py", "description": "Run the calculator"},
            {"is_error": False, "summary": "5", "exit_code": 0, "files_created": []},
            "toolu_2",
        ),
    ]


def hello_calls() -> list[ToolCall]:
    return [
        ToolCall(
            "Write",
            {"file_path": "{{cwd}}/hello.txt", "content": "Hello!\n"},
            {
                "is_error": False,
                "summary": "create {{cwd}}/hello.txt",
                "files_created": ["hello.txt"],
            },
        ),
        ToolCall(
            "Bash",
            {"command": "cat hello.txt"},
            {"is_error": False, "summary": "Hello!", "exit_code": 0},
        ),
    ]


@pytest.fixture
def calc_trace(store: TraceStore):
    return save_trace(store, "Create a Python calculator in calc.py", calc_calls())


def policy_executor(ws, config, cwd: Path, *, deny: Any = None) -> ToolExecutor:
    """The real policy engine as the pre-hook (as the kernel registers it), plus an optional extra hook."""
    engine = default_engine(config, ws)
    hooks = HookRegistry()
    hooks.add_pre(
        lambda n, i, t: (lambda d: HookVerdict(d.decision, d.reason, d.rule))(
            engine.check(n, i, cwd)
        )
    )
    if deny is not None:
        hooks.add_pre(deny)
    return ToolExecutor(cwd, hooks, sandbox_backend=BACKEND, timeout_s=30)


def fresh(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    path.mkdir()
    return path.resolve()


def events(ws, kind: str) -> list[Any]:
    return EventLog(ws.events_file).read([kind])


# ---- crystallize ------------------------------------------------------------------------------------


def test_crystallize_writes_module_and_manifest_and_marks_the_trace(
    ws, store, crystallizer, calc_trace
) -> None:
    tool = crystallizer.maybe_crystallize(calc_trace.id)
    assert tool is not None, crystallizer.last_reason
    assert tool.active and tool.version == 1
    tools = ws.user_volume("local") / "tools"
    assert tool.path == tools / f"{tool.name}_v1.py" and tool.path.is_file()
    assert tool.name == tool_name_for(calc_trace) and tool.name.startswith(
        "create_python_calculator_calc_py_"
    )
    manifest = json.loads((tools / f"{tool.name}_v1.json").read_text())
    assert manifest["status"] == "active"
    assert manifest["source_trace"] == calc_trace.id
    assert manifest["sha256"] == hashlib.sha256(tool.path.read_bytes()).hexdigest()
    assert manifest["verification"]["success"] is True
    assert [s["matched"] for s in manifest["verification"]["steps"]] == [True, True]
    assert manifest["verification"]["files_created"] == ["calc.py"]
    text = tool.path.read_text()
    assert calc_trace.id in text and "Create a Python calculator in calc.py" in text
    assert (
        'def run(executor, *, language="python", file="calc.py", on_event=None, cancel=None):'
        in text
    )
    assert "open(" not in text and "subprocess" not in text and "import os" not in text
    # the trace (file and index) now names the tool
    assert store.get(calc_trace.id).crystallized_tool == tool.id
    assert store.index.get(calc_trace.id).crystallized_tool == tool.id
    assert [e.data["tool"] for e in events(ws, "TOOL_CRYSTALLIZED")] == [tool.id]
    # eligible no more: already crystallized
    assert crystallizer.maybe_crystallize(calc_trace.id) is None
    assert "already crystallized" in crystallizer.last_reason
    assert len(list(tools.glob("*.py"))) == 1


def test_crystallized_tool_runs_in_a_new_directory(
    ws, config, crystallizer, calc_trace, tmp_path
) -> None:
    made = crystallizer.maybe_crystallize(calc_trace.id)
    assert made is not None
    tool = load_tool(ws, made.id, volumes=["users/local", "teams/default", "system"])
    target = fresh(tmp_path, "elsewhere")
    seen: list[Any] = []
    result = run_tool(
        tool,
        cwd=target,
        executor=policy_executor(ws, config, target),
        slot_values=extract_slots("Build a calculator in Python in calc.py"),
        on_event=seen.append,
    )
    assert result.success, result.reason
    assert (target / "calc.py").read_text() == CALC
    assert (
        subprocess.run(
            [sys.executable, "calc.py"], cwd=target, capture_output=True, text=True
        ).stdout
        == "5\n"
    )
    assert [s.name for s in result.steps] == ["Write", "Bash"]
    assert [c["name"] for c in result.tool_calls()] == ["Write", "Bash"]
    assert result.files_created == ["calc.py"]
    assert [e.name for e in seen if isinstance(e, ToolCallStarted)] == ["Write", "Bash"]
    assert result.describe().startswith(f"crystallized tool {tool.id} (from trace {calc_trace.id})")
    assert not result.refused and not result.cancelled
    # a bare name loads the newest active version
    assert load_tool(ws, tool.name).id == tool.id


def test_parameterized_tool_substitutes_the_new_file_name(
    ws, config, store, crystallizer, tmp_path
) -> None:
    trace = save_trace(store, "Create a file named hello.txt", hello_calls())
    assert trace.slots == {"file": "hello.txt"}
    tool = crystallizer.maybe_crystallize(trace.id)
    assert tool is not None, crystallizer.last_reason
    assert (
        'def run(executor, *, file="hello.txt", on_event=None, cancel=None):'
        in tool.path.read_text()
    )
    target = fresh(tmp_path, "notes")
    result = run_tool(
        load_tool(ws, tool.id),
        cwd=target,
        executor=policy_executor(ws, config, target),
        slot_values=extract_slots("Create a file named notes.txt"),
    )
    assert result.success, result.reason
    assert result.parameters == {"file": "notes.txt"}
    assert (target / "notes.txt").read_text() == "Hello!\n"
    assert not (target / "hello.txt").exists()
    assert "notes.txt" in result.describe()


@pytest.mark.parametrize(
    "values, why",
    [
        ({"file": "notes.md"}, "file type"),  # another extension: another task
        ({"file": "x;rm -rf ~.txt"}, "not a plain file name"),
        ({"port": "8080"}, "no parameter"),  # a slot the tool does not have
        ({"file": 7}, "not text"),
    ],
)
def test_unsafe_or_unknown_slot_values_are_refused_before_anything_runs(
    ws, config, store, crystallizer, tmp_path, values, why
) -> None:
    trace = save_trace(store, "Create a file named hello.txt", hello_calls())
    tool = crystallizer.maybe_crystallize(trace.id)
    assert tool is not None
    target = fresh(tmp_path, "target")
    result = run_tool(
        load_tool(ws, tool.id),
        cwd=target,
        executor=policy_executor(ws, config, target),
        slot_values=values,
    )
    assert not result.success and result.refused
    assert why in result.reason
    assert list(target.iterdir()) == []
    assert result.describe().endswith(f"not run: {result.reason}")


def test_a_tampered_module_is_refused(ws, crystallizer, calc_trace) -> None:
    tool = crystallizer.maybe_crystallize(calc_trace.id)
    assert tool is not None
    tool.path.write_text(tool.path.read_text() + "\n# harmless?\n")
    with pytest.raises(ToolLoadError, match="modified"):
        load_tool(ws, tool.id)
    assert find_tool_for_trace(ws, calc_trace.id) is None
    assert [e.data["tool"] for e in events(ws, "TOOL_REFUSED")][-1] == tool.id


def test_injected_code_is_refused_even_with_a_matching_manifest_hash(
    ws, crystallizer, calc_trace, tmp_path
) -> None:
    tool = crystallizer.maybe_crystallize(calc_trace.id)
    assert tool is not None
    marker = tmp_path / "pwned"
    evil = tool.path.read_text().replace(
        "GENERATOR = 1\n", f"GENERATOR = 1\nopen({str(marker)!r}, 'w').close()\n"
    )
    tool.path.write_text(evil)
    manifest = json.loads(tool.manifest_path.read_text())
    manifest["sha256"] = hashlib.sha256(evil.encode()).hexdigest()
    tool.manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(ToolLoadError, match="not what the crystallizer generates"):
        load_tool(ws, tool.id)
    assert not marker.exists()  # nothing of the file ran


def test_run_tool_refuses_a_tool_demoted_since_it_was_loaded(
    ws, config, crystallizer, calc_trace, tmp_path
) -> None:
    tool = load_tool(ws, crystallizer.maybe_crystallize(calc_trace.id).id)
    crystallizer.demote(tool.id, "demoted by another process")
    target = fresh(tmp_path, "t")
    result = run_tool(
        tool, cwd=target, executor=policy_executor(ws, config, target), slot_values={}
    )
    assert result.refused and "demoted" in result.reason
    assert list(target.iterdir()) == []


def test_verification_failure_keeps_the_file_but_does_not_activate(ws, store, crystallizer) -> None:
    # The Bash step needs helper.py, which the trace did not create: it cannot work in a fresh directory.
    calls = [
        ToolCall(
            "Write",
            {"file_path": "{{cwd}}/main.py", "content": "import helper\nhelper.go()\n"},
            {"is_error": False, "summary": "create {{cwd}}/main.py", "files_created": ["main.py"]},
        ),
        ToolCall(
            "Bash",
            {"command": "python3 main.py"},
            {"is_error": False, "summary": "ok", "exit_code": 0},
        ),
    ]
    trace = save_trace(store, "Create main.py that uses the helper", calls)
    assert crystallizer.maybe_crystallize(trace.id) is None
    assert "rejected" in crystallizer.last_reason
    [tool] = list_tools(ws, source_trace=trace.id)
    assert tool.status == "rejected" and tool.path.is_file()
    assert "step 2 (Bash)" in tool.manifest["status_reason"]
    assert tool.verification["steps"][1]["matched"] is False
    assert store.get(trace.id).crystallized_tool is None
    with pytest.raises(ToolLoadError, match="rejected"):
        load_tool(ws, tool.id)
    with pytest.raises(ToolLoadError, match="no active version"):
        load_tool(ws, tool.name)
    assert load_tool(ws, tool.id, allow_inactive=True).module is not None  # kept for inspection
    assert [e.data["tool"] for e in events(ws, "TOOL_REJECTED")] == [tool.id]
    # not retried after every run: it needs min_uses more uses first
    assert crystallizer.maybe_crystallize(trace.id) is None
    assert "more use" in crystallizer.last_reason
    assert len(list_tools(ws, source_trace=trace.id)) == 1


def test_a_failing_run_demotes_the_tool_and_the_trace_goes_back_to_follower(
    ws, config, store, crystallizer, calc_trace, tmp_path
) -> None:
    tool = load_tool(ws, crystallizer.maybe_crystallize(calc_trace.id).id)
    target = fresh(tmp_path, "broken")
    (target / "calc.py").mkdir()  # the Write step cannot work here
    result = run_tool(
        tool, cwd=target, executor=policy_executor(ws, config, target), slot_values={}
    )
    assert not result.success and not result.refused and result.stopped_at == 0
    assert "does not match the recording" in result.reason
    store.record_outcome(calc_trace.id, False)  # what the kernel does
    demoted = crystallizer.demote(tool, result.reason)
    assert demoted.status == "demoted"
    assert json.loads(tool.manifest_path.read_text())["status"] == "demoted"
    assert store.get(calc_trace.id).crystallized_tool is None
    assert store.index.get(calc_trace.id).crystallized_tool is None
    assert find_tool_for_trace(ws, calc_trace.id) is None
    with pytest.raises(ToolLoadError, match="demoted"):
        load_tool(ws, tool.id)
    [event] = events(ws, "TOOL_DEMOTED")
    assert event.data["tool"] == tool.id and event.data["trace_cleared"] is True
    # Re-qualifying takes new uses and a success rate back above the threshold.
    assert crystallizer.maybe_crystallize(calc_trace.id) is None
    for _ in range(19):
        store.record_outcome(calc_trace.id, True)
    again = crystallizer.maybe_crystallize(calc_trace.id)
    assert again is not None and again.version == 2, crystallizer.last_reason
    assert store.get(calc_trace.id).crystallized_tool == again.id
    assert json.loads(tool.manifest_path.read_text())["status"] == "demoted"


def test_versions_are_never_overwritten(ws, store, crystallizer, calc_trace) -> None:
    first = crystallizer.crystallize(store.get(calc_trace.id))
    first_bytes = first.path.read_bytes()
    second = crystallizer.crystallize(store.get(calc_trace.id))
    assert (first.version, second.version) == (1, 2)
    assert first.path != second.path and first.path.read_bytes() == first_bytes
    assert json.loads(first.manifest_path.read_text())["status"] == "superseded"
    assert second.active
    assert store.get(calc_trace.id).crystallized_tool == second.id
    assert find_tool_for_trace(ws, calc_trace.id).id == second.id
    # deterministic: the two modules differ only in their version
    assert (
        first_bytes.decode().replace("_v1.", "_v2.").replace("VERSION = 1", "VERSION = 2")
        == second.path.read_text()
    )


@pytest.mark.parametrize("uses, successes", [(4, 4), (5, 4), (20, 18)])
def test_below_the_threshold_nothing_is_generated(ws, store, crystallizer, uses, successes) -> None:
    trace = save_trace(
        store, "Create a Python calculator in calc.py", calc_calls(), uses=uses, successes=successes
    )
    assert crystallizer.maybe_crystallize(trace.id) is None
    assert crystallizer.last_reason
    assert list_tools(ws) == []
    assert not any((ws.user_volume("local") / "tools").iterdir())


def test_ineligible_shapes_and_switches(ws, store, config, crystallizer) -> None:
    web = save_trace(
        store, "Fetch the docs", [ToolCall("WebFetch", {"url": "https://x.org", "prompt": "p"})]
    )
    assert crystallizer.maybe_crystallize(web.id) is None and "WebFetch" in crystallizer.last_reason
    empty = save_trace(store, "Do nothing at all", [])
    assert (
        crystallizer.maybe_crystallize(empty.id) is None
        and "no tool calls" in crystallizer.last_reason
    )
    with pytest.raises(CrystallizationError):
        crystallizer.crystallize(empty)
    bad_slot = save_trace(
        store, "Create a Python calculator in calc.py", calc_calls(), slots={"class": "calc.py"}
    )
    assert (
        crystallizer.maybe_crystallize(bad_slot.id) is None
        and "parameter name" in crystallizer.last_reason
    )
    ok = save_trace(store, "Create a Python calculator in calc.py", calc_calls())
    config.learning.auto_crystallization = False
    assert (
        crystallizer.maybe_crystallize(ok.id) is None
        and "auto_crystallization" in crystallizer.last_reason
    )
    config.learning.auto_crystallization = True
    assert (
        crystallizer.maybe_crystallize("t_doesnotexist") is None
        and "not" in crystallizer.last_reason
    )
    config.learning.crystallization_min_uses = 10
    assert crystallizer.maybe_crystallize(ok.id) is None
    assert list_tools(ws) == []


def test_a_policy_deny_inside_the_tool_fails_safely(
    ws, config, crystallizer, calc_trace, tmp_path
) -> None:
    tool = load_tool(ws, crystallizer.maybe_crystallize(calc_trace.id).id)
    target = fresh(tmp_path, "denied")

    def deny_write(name, inp, tid):
        return HookVerdict("deny", "no writes today", "test.deny") if name == "Write" else None

    result = run_tool(
        tool,
        cwd=target,
        executor=policy_executor(ws, config, target, deny=deny_write),
        slot_values={},
    )
    assert not result.success and result.refused
    assert "not allowed by the policy" in result.reason and "no writes today" in result.reason
    assert list(target.iterdir()) == []
    # a deny that only comes at execution time (after the pre-flight allowed it) stops the run too
    asked: list[str] = []

    def late_deny(name: str, inp: dict, tid: str) -> HookVerdict | None:
        asked.append(name)
        return (
            HookVerdict("deny", "changed my mind", "test.late") if asked.count("Bash") > 1 else None
        )

    target2 = fresh(tmp_path, "late")
    result = run_tool(
        tool,
        cwd=target2,
        executor=policy_executor(ws, config, target2, deny=late_deny),
        slot_values={},
    )
    assert not result.success and not result.refused and result.stopped_at == 1
    assert "changed my mind" in result.reason


def test_a_dangerous_tool_is_rejected_at_verification(ws, store, crystallizer) -> None:
    calls = [
        ToolCall(
            "Bash", {"command": "rm -rf /"}, {"is_error": False, "summary": "", "exit_code": 0}
        )
    ]
    trace = save_trace(store, "Clean everything up", calls)
    assert crystallizer.maybe_crystallize(trace.id) is None
    [tool] = list_tools(ws, source_trace=trace.id)
    assert tool.status == "rejected" and tool.verification["refused"] is True
    assert tool.verification["steps"][0]["is_error"] is None  # it never ran


def test_verification_goes_through_the_given_hooks(ws, store, config, calc_trace) -> None:
    seen: list[tuple[str, Path]] = []

    def factory(cwd: Path) -> HookRegistry:
        hooks = HookRegistry()
        hooks.add_pre(
            lambda n, i, t: (
                seen.append((n, cwd)),
                HookVerdict("ask" if n == "Bash" else "allow", "confirm it", "t"),
            )[1]
        )
        return hooks

    crystallizer = Crystallizer(ws, store, config, hooks_factory=factory)
    assert crystallizer.maybe_crystallize(calc_trace.id) is None  # ask with nobody to answer = deny
    [tool] = list_tools(ws, source_trace=calc_trace.id)
    assert tool.status == "rejected" and "confirm it" in tool.manifest["status_reason"]
    assert {n for n, _ in seen} == {"Write", "Bash"}
    assert all(cwd.name.startswith("llmos-verify-") and not cwd.exists() for _, cwd in seen)


def test_cancel_before_the_first_step(ws, config, crystallizer, calc_trace, tmp_path) -> None:
    tool = load_tool(ws, crystallizer.maybe_crystallize(calc_trace.id).id)
    target = fresh(tmp_path, "c")
    token = CancelToken()
    token.cancel()
    result = run_tool(
        tool, cwd=target, executor=policy_executor(ws, config, target), slot_values={}, cancel=token
    )
    assert result.cancelled and not result.success
    assert not (target / "calc.py").exists()


def test_unknown_tools_and_bad_names(ws) -> None:
    with pytest.raises(ToolNotFound):
        load_tool(ws, "nothing_here_v1")
    with pytest.raises(ToolNotFound):
        load_tool(ws, "../../etc/passwd")
    assert find_tool_for_trace(ws, "t_none") is None


def test_module_imports_in_isolation(ws, crystallizer, calc_trace) -> None:
    tool = crystallizer.maybe_crystallize(calc_trace.id)
    probe = (
        "import importlib.util, json, sys\n"
        f"spec = importlib.util.spec_from_file_location('tool', {str(tool.path)!r})\n"
        "mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules}\n"
        "               & {'textual', 'anthropic', 'claude_agent_sdk', 'llmos_tui'})\n"
        "print(json.dumps({'heavy': heavy, 'calls': len(mod.CALLS), 'slots': mod.SLOTS, 'trace': mod.SOURCE_TRACE}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data == {
        "heavy": [],
        "calls": 2,
        "slots": {"file": "calc.py", "language": "python"},
        "trace": calc_trace.id,
    }
    loaded = load_tool(ws, tool.id)
    assert not any(name.startswith("llmos_crystallized_") for name in sys.modules)
    assert loaded.module.__file__ == str(tool.path)


def test_rendering_is_deterministic_and_escapes_hostile_text() -> None:
    goal = 'Write """quotes""" and \\backslashes\\ and é\u2028 to "x.txt"\nsecond line'
    calls = [
        ToolCall(
            "Write",
            {"file_path": "{{cwd}}/x.txt", "content": 'a"""b\\\n' * 30 + "\x00\ud7ff end"},
            {"is_error": False, "summary": "create", "files_created": ["x.txt"]},
        ).to_dict()
    ]
    kwargs = dict(
        name="write_quotes_abc123",
        version=3,
        source_trace="t_abc123",
        goal=goal,
        slots={"quoted": '"""quotes"""', "file": "x.txt"},
        calls=calls,
    )
    text = render_module(**kwargs)
    assert text == render_module(**kwargs)
    assert text.isascii()
    namespace: dict[str, Any] = {}
    exec(compile(text, "tool.py", "exec"), namespace)  # our own generated text, in a test
    assert namespace["GOAL"] == goal and namespace["CALLS"] == calls
    assert namespace["__doc__"].splitlines()[3] == "Goal: " + goal.splitlines()[0]
    assert namespace["run"].__kwdefaults__["quoted"] == '"""quotes"""'
