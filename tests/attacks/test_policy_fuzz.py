"""Property tests: ``PolicyEngine.check`` never raises and always returns a valid decision."""

from __future__ import annotations

import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmos_tui.execution.policy.engine import PolicyDecision, PolicyEngine

pytestmark = pytest.mark.slow

ENGINE = PolicyEngine()
TOOLS = [
    "Bash",
    "Write",
    "Edit",
    "MultiEdit",
    "NotebookEdit",
    "Read",
    "Glob",
    "Grep",
    "LS",
    "WebFetch",
    "WebSearch",
    "TodoWrite",
    "Task",
    "mcp__llmos__x",
    "mcp__x__y",
    "Unknown",
]
KEYS = [
    "command",
    "file_path",
    "content",
    "old_string",
    "new_string",
    "edits",
    "pattern",
    "path",
    "url",
    "query",
    "notebook_path",
    "new_source",
    "timeout",
    "glob",
    "-i",
    "offset",
    "limit",
    "replace_all",
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=60),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
SHELL_TOKENS = [
    "rm",
    "-rf",
    "~",
    "/",
    "..",
    "$(",
    ")",
    "`",
    "'",
    '"',
    "|",
    "||",
    "&&",
    ";",
    "&",
    ">",
    ">>",
    "<",
    "<<",
    "<<<",
    "EOF",
    "{",
    "}",
    "(",
    ")",
    "$",
    "${",
    "IFS",
    "HOME",
    "\\",
    "\n",
    "*",
    "?",
    "[",
    "]",
    "bash",
    "-c",
    "eval",
    "curl",
    "sh",
    "python3",
    "xargs",
    "find",
    "-exec",
    "\\;",
    "cd",
    "echo",
    "cat",
    "~/.ssh/id_rsa",
    "/etc/shadow",
    "=",
    "x",
    "for",
    "in",
    "do",
    "done",
    "if",
    "then",
    "fi",
    "case",
    "esac",
    "function",
    "!",
    "#",
    "$'\\x72'",
    "<(",
    ">(",
    "2>&1",
    "/dev/tcp/1.2.3.4/80",
    "LD_PRELOAD=a",
    "x=a.b/c",
    "x=~",
    "${x%.*}",
    "${x##*/}",
    "${x#a}",
    "${x%%b}",
    "${x:-y}",
    "${x:=z}",
    "${x:+w}",
    "${x/a/b}",
    "${x^^}",
    "${#x}",
    "${!x}",
    "${x[0]}",
    "$@",
    "$1",
    "set",
    "--",
    "read",
    "IFS=:",
    "while",
    "until",
    "select",
    "{a,b}",
    "{1..3}",
    "$((1+2))",
    "((x++))",
    "[[",
    "]]",
    "-f",
    "git",
    "push",
    "-f",
    "tar",
    "xf",
    "-C",
    "sed",
    "-i",
    "awk",
    "'{print > \"/x\"}'",
    "python3",
    "-c",
    "'import os; os.system(\"ls\")'",
    "ln",
    "-s",
    "/etc",
    "trap",
    "alias",
    "source",
    ".",
]
shell_text = st.lists(
    st.sampled_from(SHELL_TOKENS) | st.text(alphabet=string.printable, max_size=6), max_size=30
).map(" ".join)
FUZZ = settings(
    max_examples=250,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def _valid(d: PolicyDecision) -> None:
    assert isinstance(d, PolicyDecision)
    assert d.decision in ("allow", "ask", "deny")
    assert isinstance(d.reason, str) and d.reason
    assert isinstance(d.rule, str) and d.rule
    assert d.rule != "policy.error", d.reason  # an internal error is fail-closed, but still a bug
    assert set(d.to_dict()) == {"decision", "reason", "rule"}


@FUZZ
@given(
    tool=st.sampled_from(TOOLS) | st.text(max_size=20) | st.none() | st.integers(),
    tool_input=json_values,
    mode=st.sampled_from([None, "CAUTIOUS", "RECOVERY", "CURIOUS", 3]),
)
def test_check_never_raises_on_arbitrary_input(tmp_path: Path, tool, tool_input, mode) -> None:
    _valid(ENGINE.check(tool, tool_input, tmp_path, latent_mode=mode))


@FUZZ
@given(command=shell_text)
def test_check_never_raises_on_shell_like_text(tmp_path: Path, command: str) -> None:
    d = ENGINE.check("Bash", {"command": command}, tmp_path)
    _valid(d)
    # deterministic, and a cautious mode only ever makes the answer stricter
    assert ENGINE.check("Bash", {"command": command}, tmp_path).decision == d.decision
    cautious = ENGINE.check("Bash", {"command": command}, tmp_path, latent_mode="CAUTIOUS")
    assert cautious.decision == ("deny" if d.decision == "deny" else cautious.decision)
    if d.decision == "deny":
        assert cautious.decision == "deny"


@FUZZ
@given(command=st.text(max_size=200))
def test_check_never_raises_on_arbitrary_text(tmp_path: Path, command: str) -> None:
    _valid(ENGINE.check("Bash", {"command": command}, tmp_path))


@FUZZ
@given(path=st.text(max_size=80), cwd=st.text(max_size=30) | st.none())
def test_paths_never_raise(tmp_path: Path, path: str, cwd) -> None:
    for tool in ("Write", "Read"):
        _valid(
            ENGINE.check(
                tool, {"file_path": path, "content": ""}, cwd if cwd is not None else tmp_path
            )
        )


@settings(max_examples=40, deadline=None, database=None)
@given(code=st.text(alphabet=string.printable, max_size=120))
def test_interpreter_code_never_raises(code: str) -> None:
    import shlex
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        for prog in ("python3 -c", "perl -e", "node -e", "awk", "sed"):
            _valid(ENGINE.check("Bash", {"command": f"{prog} {shlex.quote(code)}"}, tmp))
