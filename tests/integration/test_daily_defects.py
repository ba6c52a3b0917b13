"""Issue #17, "smaller defects": each one as a user met it, fixed, and checked for real (real
processes, real workspaces, exit codes, stdout vs stderr)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from llmos_tui.exitcodes import ExitCode

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


def llmos(
    *args: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    stdin=None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "llmos_tui", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=timeout,
        stdin=stdin,
    )


def make_ws(tmp_path: Path, name: str = "ws") -> Path:
    ws = tmp_path / name
    assert llmos("init", str(ws)).returncode == 0
    return ws


# ---- the README documents the policy command that exists --------------------------------------------


def test_readme_documents_the_real_policy_command_and_it_answers(tmp_path: Path) -> None:
    readme = (REPO / "README.md").read_text()
    assert "policy check" not in readme and "policy explain" not in readme
    assert "`llmos policy --tool NAME --input JSON" in readme
    proc = llmos("policy", "--tool", "Bash", "--input", '{"command": "ls"}', "--json", cwd=tmp_path)
    assert proc.returncode == 0 and json.loads(proc.stdout)["decision"] == "allow", proc.stderr
    proc = llmos("policy", "check", "--tool", "Bash", "--input", '{"command": "ls"}', cwd=tmp_path)
    assert proc.returncode == 2  # what the README used to say does not exist
    # The failure-pattern advice names the real command too.
    from llmos_tui.evolution.evolvers import ADVICE

    assert "policy explain" not in ADVICE["policy"] and "llmos policy --tool" in ADVICE["policy"]


def test_policy_rejects_an_unknown_latent_mode(tmp_path: Path) -> None:
    args = ("policy", "--tool", "Bash", "--input", '{"command": "rm -rf build"}')
    proc = llmos(*args, "--latent-mode", "BOGUS", cwd=tmp_path)
    assert proc.returncode == ExitCode.USAGE and proc.stdout == ""
    assert "unknown --latent-mode 'BOGUS'" in proc.stderr and "CAUTIOUS" in proc.stderr
    proc = llmos(*args, "--latent-mode", "cautious", cwd=tmp_path)  # any case; it is honoured
    assert proc.returncode == ExitCode.POLICY_BLOCKED and proc.stdout.startswith("ask:")


# ---- a forced mode that cannot run says which mode it was -------------------------------------------


def test_forced_crystallized_without_a_tool_reports_crystallized(tmp_path: Path) -> None:
    ws = make_ws(tmp_path)
    proc = llmos(
        "--headless",
        "run",
        "Create a file hello.txt",
        "--mode",
        "crystallized",
        "--json",
        "--workspace",
        str(ws),
        "--cwd",
        str(tmp_path),
    )
    assert proc.returncode == ExitCode.USAGE
    data = json.loads(proc.stdout)
    assert (
        data["mode"] == "CRYSTALLIZED"
        and data["success"] is False
        and "needs a stored trace" in data["error"]
    )
    assert "[failed] CRYSTALLIZED" in proc.stderr and "LEARNER" not in proc.stderr


# ---- config show says what the environment set ---------------------------------------------------------


def test_config_show_marks_values_from_the_environment(tmp_path: Path) -> None:
    ws = make_ws(tmp_path)
    env = {"LLMOS_BUDGET_USD": "3", "LLMOS_EXECUTION__MAX_TURNS": "7"}
    proc = llmos("config", "show", "--workspace", str(ws), env=env)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "budget_usd: 3.0  # from LLMOS_BUDGET_USD" in lines
    assert "  max_turns: 7  # from LLMOS_EXECUTION__MAX_TURNS" in lines
    assert any(
        line.startswith("# budget_usd is set by the environment (LLMOS_BUDGET_USD)")
        for line in lines
    )
    assert not any("# from" in line for line in lines if line.startswith("model:"))
    data = json.loads(llmos("config", "show", "--json", "--workspace", str(ws), env=env).stdout)
    assert data["environment"] == {
        "budget_usd": "LLMOS_BUDGET_USD",
        "execution.max_turns": "LLMOS_EXECUTION__MAX_TURNS",
        "preset": "LLMOS_PRESET",
    }  # the tests run with LLMOS_PRESET=testing
    assert data["config"]["budget_usd"] == 3.0
    plain = json.loads(llmos("config", "show", "--json", "--workspace", str(ws)).stdout)
    assert plain["environment"] == {"preset": "LLMOS_PRESET"}
    assert "preset: testing  # from LLMOS_PRESET" in lines


# ---- keymap: a key Textual never delivers is a config error ------------------------------------------


def test_a_bad_key_in_the_keymap_is_a_config_error_naming_the_key(tmp_path: Path) -> None:
    ws = make_ws(tmp_path)
    config = ws / "config.yaml"
    config.write_text(config.read_text() + "\nkeymap:\n  pane.traces: ctrl+nope\n")
    proc = llmos("config", "show", "--workspace", str(ws))
    assert proc.returncode == ExitCode.USAGE
    assert (
        "key 'keymap.pane.traces'" in proc.stderr
        and "'nope'" in proc.stderr
        and str(config) in proc.stderr
    )
    from llmos_tui.errors import ConfigError
    from llmos_tui.kernel import LLMOS

    with pytest.raises(ConfigError, match="keymap.pane.traces"):
        LLMOS.boot(ws)  # the TUI boots through this: it never starts with F3 silently dead
    config.write_text(config.read_text().replace("ctrl+nope", "ctrl+t,f9"))
    assert llmos("config", "show", "--workspace", str(ws)).returncode == 0


# ---- read-only commands never create a workspace --------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ["traces", "list"],
        ["traces", "search", "hello"],
        ["economy"],
        ["memory", "sessions"],
        ["volumes", "list"],
        ["cron", "status"],
        ["inbox", "list"],
        ["activity"],
        ["sentience"],
        ["agents", "list"],
        ["projects", "list"],
    ],
)
def test_read_only_commands_do_not_create_a_workspace(tmp_path: Path, command: list[str]) -> None:
    missing = tmp_path / "nonexistent"
    proc = llmos(*command, "--workspace", str(missing))
    assert proc.returncode == ExitCode.USAGE, (command, proc.stderr)
    assert f"{missing} does not exist" in proc.stderr and "creates none" in proc.stderr
    assert not missing.exists()
    plain = tmp_path / "plain"  # a folder that is not a workspace is not filled with one
    plain.mkdir()
    proc = llmos(*command, "--workspace", str(plain))
    assert proc.returncode == ExitCode.USAGE and "is not an llmos workspace" in proc.stderr
    assert list(plain.iterdir()) == []


def test_read_only_commands_work_on_an_existing_workspace(tmp_path: Path) -> None:
    ws = make_ws(tmp_path)
    proc = llmos("traces", "list", "--workspace", str(ws))
    assert proc.returncode == 0 and "No traces yet" in proc.stdout


# ---- cron run for a team that does not exist ------------------------------------------------------------


def test_cron_run_for_an_unknown_team_is_a_usage_error_and_leaves_no_entry(tmp_path: Path) -> None:
    ws = make_ws(tmp_path)
    proc = llmos("cron", "run", "--level", "team", "--team", "nosuchteam", "--workspace", str(ws))
    assert proc.returncode == ExitCode.USAGE and "no team named 'nosuchteam'" in proc.stderr
    status = json.loads(llmos("cron", "status", "--json", "--workspace", str(ws)).stdout)
    assert "team_cron:nosuchteam" not in {row["cron_id"] for row in status["crons"]}
    assert not (ws / "volumes" / "teams" / "nosuchteam").exists()
    from llmos_tui.config import load_config
    from llmos_tui.evolution.crons import run_cycle
    from llmos_tui.workspace import Workspace

    report = run_cycle(
        Workspace(ws), load_config(ws), "team", team="nosuchteam"
    )  # the engine refuses too
    assert report.status == "failed" and "no team named" in report.error
    ok = llmos("cron", "run", "--level", "team", "--team", "default", "--workspace", str(ws))
    assert ok.returncode == 0, ok.stderr


# ---- agents create: bad input is a usage error ----------------------------------------------------------


def test_agents_create_bad_input_exits_2(tmp_path: Path) -> None:
    ws = make_ws(tmp_path)
    for args in (
        ["bad name!", "-d", "x", "-p", "y"],
        ["critic", "-d", "x", "-p", "y", "--tools", "Nope"],
        ["--from-goal", "hello there"],
        ["researcher", "-d", "x", "-p", "y"],
    ):
        proc = llmos("agents", "create", *args, "--workspace", str(ws))
        assert proc.returncode == ExitCode.USAGE, (args, proc.returncode, proc.stderr)
        assert proc.stderr.startswith("llmos: error:")


# ---- the TUI needs a terminal ---------------------------------------------------------------------------


def test_the_tui_with_redirected_stdio_says_it_needs_a_terminal(tmp_path: Path) -> None:
    ws = make_ws(tmp_path)
    out = tmp_path / "out.txt"
    with open(os.devnull) as devnull, open(out, "w") as sink:
        proc = subprocess.run(
            [sys.executable, "-m", "llmos_tui", "--workspace", str(ws)],
            stdin=devnull,
            stdout=sink,
            stderr=subprocess.PIPE,
            text=True,
            timeout=30,
            env=dict(os.environ),
        )
    assert proc.returncode == ExitCode.USAGE
    assert "needs a terminal" in proc.stderr and "--headless run" in proc.stderr
    assert "stdin and stdout are not terminals" in proc.stderr
    assert out.read_text() == ""  # nothing drawn into the file


# ---- money: never negative, never doubled, written to 6 decimals ------------------------------------------


def test_an_overspent_budget_reads_as_overspent_not_as_a_negative_balance(tmp_path: Path) -> None:
    from llmos_tui.errors import LowBatteryError
    from llmos_tui.execution.llm.economy import Economy

    ws = make_ws(tmp_path)
    economy = Economy(ws / "state" / "economy.json", 0.01)
    economy.charge(mode="LEARNER", cost_usd=0.13024200000000002)
    economy.charge(mode="LEARNER", cost_usd=0.1)
    with pytest.raises(LowBatteryError) as info:
        economy.check_budget(0.05)
    message = info.value.message
    assert "$-" not in message and "$0.2302 spent of the $0.0100 budget ($0.2202 over)" in message
    raw = (ws / "state" / "economy.json").read_text()
    assert "0.13024200000000002" not in raw and "0.230242" in raw
    proc = llmos("economy", "--workspace", str(ws), env={"LLMOS_BUDGET_USD": "0.01"})
    assert (
        proc.returncode == 0 and "$-" not in proc.stdout and "overspent by $0.2202" in proc.stdout
    )


def test_the_budget_hook_says_it_once_and_without_a_negative_balance() -> None:
    from llmos_tui.execution.llm.session import SessionMeter, budget_hook

    meter = SessionMeter()
    meter.cost_usd = 0.7656
    verdict = budget_hook(meter, lambda: 0.01)("Write", {}, "t1")
    assert verdict is not None and verdict.decision == "deny"
    assert verdict.reason.count("the budget ran out") == 1 and "$-" not in verdict.reason
    assert "$0.7556 over the budget" in verdict.reason


def test_a_trace_file_holds_money_to_six_decimals() -> None:
    from llmos_tui.learning.traces import ToolCall, dump_trace, make_trace, parse_trace

    trace = make_trace(
        "Create a file named a.txt",
        [ToolCall("Bash", {"command": "ls"}, {"is_error": False})],
        cost_usd=0.13024200000000002,
    )
    text = dump_trace(trace)
    assert re.search(r"^cost_usd: 0\.130242$", text, re.MULTILINE), (
        text
    )  # the kernel records through the same rule
    assert parse_trace(text).cost_usd == 0.130242


def test_the_gauge_never_shows_a_negative_balance() -> None:
    from llmos_tui.tui.data import StateView
    from llmos_tui.tui.widgets.gauge import budget_line, compact_line

    valence = {"safety": 0.5, "curiosity": 0.0, "energy": 0.7, "confidence": 0.3}
    view = StateView(
        valence=valence,
        effective=valence,
        setpoints=valence,
        latent_mode="BALANCED",
        mode_reason="",
        policy={},
        user_model={},
        recent_triggers=[],
        thoughts=[],
        half_life_minutes=30.0,
        enabled=True,
        budget_usd=0.01,
        balance_usd=-0.7556,
        spent_usd=0.7656,
    )
    line = budget_line(view).plain
    assert "$-" not in line and "$0.00 left of $0.01" in line and "overspent by $0.76" in line
    assert "$-" not in compact_line(view).plain


# ---- a promotion by hand is logged as the person, not as a cron -------------------------------------------


def test_a_manual_promotion_is_logged_as_the_operator(tmp_path: Path) -> None:
    from llmos_tui.kernel import LLMOS
    from llmos_tui.learning.traces import ToolCall, make_trace

    ws = tmp_path / "ws"
    kernel = LLMOS.boot(ws)
    trace = make_trace(
        "Create a file named hello.txt",
        [
            ToolCall(
                "Write",
                {"file_path": "{{cwd}}/hello.txt", "content": "hi\n"},
                {"is_error": False, "summary": "create", "files_created": ["hello.txt"]},
            )
        ],
    )
    kernel.store.save(trace, volume="users/local")
    proc = llmos(
        "volumes",
        "promote",
        "traces",
        trace.id,
        "--from",
        "users/local",
        "--to",
        "system",
        "--json",
        "--workspace",
        str(ws),
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["provenance"]["promoted_by"] == "operator:local"
    events = [
        json.loads(line)
        for line in (ws / "observability" / "events.jsonl").read_text().splitlines()
    ]
    promoted = [e for e in events if e.get("type") == "ARTIFACT_PROMOTED"]
    assert promoted and all("system_cron" not in json.dumps(e) for e in promoted), promoted
    assert any("operator:local" in json.dumps(e) for e in promoted)


# ---- traces import --on-conflict rename brings the renamed trace's tool ----------------------------------


def test_import_rename_brings_the_tool_of_the_renamed_trace(tmp_path: Path) -> None:
    from llmos_tui.edge.bundle import export_bundle, import_bundle
    from llmos_tui.execution.replay.crystallized import load_tool
    from llmos_tui.kernel import LLMOS, RunOptions
    from llmos_tui.learning.slots import extract_slots
    from llmos_tui.learning.traces import ToolCall, make_trace

    goal = "Create a file named hello.txt"
    calls = [
        ToolCall(
            "Write",
            {"file_path": "{{cwd}}/hello.txt", "content": "Hello\n"},
            {
                "is_error": False,
                "summary": "create {{cwd}}/hello.txt",
                "files_created": ["hello.txt"],
            },
        ),
        ToolCall(
            "Bash",
            {"command": "cat hello.txt"},
            {"is_error": False, "summary": "Hello", "exit_code": 0},
        ),
    ]
    kernel = LLMOS.boot(tmp_path / "wsA")
    trace = make_trace(goal, calls, slots=extract_slots(goal))
    kernel.store.save(trace, volume="users/local")
    tool = kernel.crystallizer().crystallize(kernel.store.get(trace.id))
    assert tool.status == "active", tool.manifest
    bundle = tmp_path / "bundle"
    export_bundle(kernel.workspace, kernel.store, bundle, volumes=["users/local"])
    kernel_b = LLMOS.boot(tmp_path / "wsB")
    first = import_bundle(kernel_b.workspace, kernel_b.store, bundle, volume="users/local")
    assert first.tools_imported == [tool.id]
    local = kernel_b.store.get(trace.id)
    local.summary = "edited here"  # the same id, other content: a conflict
    kernel_b.store.update(local)
    renamed = import_bundle(
        kernel_b.workspace, kernel_b.store, bundle, volume="users/local", on_conflict="rename"
    )
    new_id = renamed.renamed[trace.id]
    new_tool = renamed.tools_renamed[tool.id]
    assert renamed.tools_imported == [new_tool] and new_tool != tool.id and new_tool.endswith("_v2")
    copy = kernel_b.store.get(new_id)
    assert copy.crystallized_tool == new_tool
    loaded = load_tool(kernel_b.workspace, new_tool, volumes=["users/local"])
    assert loaded.source_trace == new_id  # the module names the renamed trace
    assert (
        load_tool(kernel_b.workspace, tool.id, volumes=["users/local"]).source_trace == trace.id
    )  # untouched
    # It really runs: the kernel replays the renamed trace through its tool, with no LLM call.
    work = tmp_path / "work"
    work.mkdir()
    kernel_b.store.delete(trace.id)
    from llmos_tui.learning.trust import approve_trace

    approve_trace(kernel_b.store, new_id, by="local")  # imported content runs only once approved
    result = kernel_b.execute(goal, options=RunOptions(cwd=work))
    assert result.mode == "CRYSTALLIZED" and result.success and result.trace_id == new_id, (
        result.error
    )
    assert (work / "hello.txt").read_text() == "Hello\n"
