"""Our tool executors: real files, real shell (sandboxed when a backend exists), hooks around every call."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Callable

import pytest

from llmos_tui.execution.replay.executors import (
    SUPPORTED_TOOLS,
    ToolExecutor,
    check_input,
    expand_braces,
    scrubbed_env,
)
from llmos_tui.execution.replay.hooks import HookRegistry, HookVerdict, ToolOutcome
from tests.support.sandbox_backend import BACKEND, BACKENDS


class Recorder:
    """Pre/post hooks that record what they saw; the pre-hook answers ``answer``."""

    def __init__(self, answer: str = "allow") -> None:
        self.answer = answer
        self.pre: list[tuple[str, dict[str, Any]]] = []
        self.post: list[tuple[str, ToolOutcome]] = []

    def registry(self) -> HookRegistry:
        hooks = HookRegistry()
        hooks.add_pre(
            lambda name, inp, tid: (
                self.pre.append((name, inp)),
                HookVerdict(self.answer, "test", "t"),
            )[1]
        )
        hooks.add_post(lambda name, inp, tid, outcome: self.post.append((name, outcome)))
        return hooks


@pytest.fixture
def work(tmp_path: Path) -> Path:
    cwd = tmp_path / "work"
    cwd.mkdir()
    return cwd


@pytest.fixture
def rec() -> Recorder:
    return Recorder()


@pytest.fixture
def ex(work: Path, rec: Recorder) -> ToolExecutor:
    return ToolExecutor(work, rec.registry(), sandbox_backend=BACKEND, timeout_s=30)


# ---- Write / Edit / MultiEdit / Read ------------------------------------------------------


def test_write_creates_then_updates_and_keeps_mode(
    ex: ToolExecutor, work: Path, rec: Recorder
) -> None:
    target = work / "sub" / "a.txt"
    out = ex.execute("Write", {"file_path": str(target), "content": "one\n"})
    assert not out.is_error and out.status == "ok"
    assert target.read_text() == "one\n"
    assert out.files_created == [str(target)]
    assert out.response["type"] == "create"
    os.chmod(target, 0o755)
    out = ex.execute("Write", {"file_path": "sub/a.txt", "content": "two\n"})  # relative to cwd
    assert out.response["type"] == "update" and out.files_created == []
    assert target.read_text() == "two\n"
    assert target.stat().st_mode & 0o777 == 0o755
    assert [n for n, _ in rec.pre] == ["Write", "Write"] and [n for n, _ in rec.post] == [
        "Write",
        "Write",
    ]
    assert not list(target.parent.glob(".*.tmp"))  # atomic write left no temporary


def test_edit_semantics(ex: ToolExecutor, work: Path) -> None:
    f = work / "x.py"
    f.write_text("a = 1\nb = 1\n")
    out = ex.execute("Edit", {"file_path": str(f), "old_string": "= 1", "new_string": "= 2"})
    assert out.is_error and "2 matches" in out.summary and f.read_text() == "a = 1\nb = 1\n"
    out = ex.execute(
        "Edit", {"file_path": str(f), "old_string": "= 1", "new_string": "= 2", "replace_all": True}
    )
    assert (
        not out.is_error and out.response["replacements"] == 2 and f.read_text() == "a = 2\nb = 2\n"
    )
    out = ex.execute("Edit", {"file_path": str(f), "old_string": "zzz", "new_string": "y"})
    assert out.is_error and "not found" in out.summary
    out = ex.execute("Edit", {"file_path": str(f), "old_string": "a", "new_string": "a"})
    assert out.is_error and "No changes" in out.summary
    out = ex.execute(
        "Edit", {"file_path": str(work / "missing.py"), "old_string": "a", "new_string": "b"}
    )
    assert out.is_error and "does not exist" in out.summary
    out = ex.execute(
        "Edit", {"file_path": str(work / "new.py"), "old_string": "", "new_string": "print(1)\n"}
    )
    assert not out.is_error and (work / "new.py").read_text() == "print(1)\n"


def test_multiedit_is_all_or_nothing(ex: ToolExecutor, work: Path) -> None:
    f = work / "m.txt"
    f.write_text("alpha beta gamma\n")
    out = ex.execute(
        "MultiEdit",
        {
            "file_path": str(f),
            "edits": [
                {"old_string": "alpha", "new_string": "ALPHA"},
                {"old_string": "nope", "new_string": "x"},
            ],
        },
    )
    assert out.is_error and f.read_text() == "alpha beta gamma\n"
    out = ex.execute(
        "MultiEdit",
        {
            "file_path": str(f),
            "edits": [
                {"old_string": "alpha", "new_string": "ALPHA"},
                {"old_string": "gamma", "new_string": "GAMMA"},
            ],
        },
    )
    assert not out.is_error and f.read_text() == "ALPHA beta GAMMA\n"


def test_read_with_offset_and_limit(ex: ToolExecutor, work: Path) -> None:
    f = work / "r.txt"
    f.write_text("".join(f"line {i}\n" for i in range(1, 11)))
    out = ex.execute("Read", {"file_path": str(f), "offset": 3, "limit": 2})
    assert not out.is_error
    assert out.response["file"]["content"] == "     3\tline 3\n     4\tline 4"
    assert out.response["file"]["totalLines"] == 10
    assert ex.execute("Read", {"file_path": str(work / "nope.txt")}).is_error
    assert ex.execute("Read", {"file_path": str(work)}).is_error
    (work / "bin.dat").write_bytes(b"\x00\x01\x02")
    assert "binary" in ex.execute("Read", {"file_path": str(work / "bin.dat")}).summary


def test_notebook_edit(ex: ToolExecutor, work: Path) -> None:
    nb = {
        "cells": [
            {
                "cell_type": "code",
                "id": "c1",
                "metadata": {},
                "source": ["print(1)\n"],
                "outputs": [],
                "execution_count": 1,
            }
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path = work / "n.ipynb"
    path.write_text(json.dumps(nb))
    out = ex.execute(
        "NotebookEdit", {"notebook_path": str(path), "cell_id": "c1", "new_source": "print(2)"}
    )
    assert not out.is_error
    out = ex.execute(
        "NotebookEdit",
        {
            "notebook_path": str(path),
            "cell_id": "c1",
            "new_source": "# hi",
            "cell_type": "markdown",
            "edit_mode": "insert",
        },
    )
    assert not out.is_error
    cells = json.loads(path.read_text())["cells"]
    assert [c["cell_type"] for c in cells] == ["code", "markdown"]
    assert cells[0]["source"] == ["print(2)"] and cells[0]["execution_count"] is None


# ---- Glob / Grep --------------------------------------------------------------------------


def test_glob_and_grep(ex: ToolExecutor, work: Path) -> None:
    (work / "src").mkdir()
    (work / "src" / "a.py").write_text("import os\nx = 1\nTODO: fix\n")
    (work / "src" / "b.ts").write_text("// todo later\n")
    (work / "notes.md").write_text("nothing here\n")
    (work / ".hidden").mkdir()
    (work / ".hidden" / "c.py").write_text("TODO hidden\n")
    out = ex.execute("Glob", {"pattern": "**/*.{py,ts}"})
    assert not out.is_error
    assert sorted(Path(p).name for p in out.response["filenames"]) == ["a.py", "b.ts", "c.py"]
    out = ex.execute("Glob", {"pattern": "*.md", "path": str(work)})
    assert [Path(p).name for p in out.response["filenames"]] == ["notes.md"]

    out = ex.execute("Grep", {"pattern": "todo", "-i": True})
    assert sorted(Path(p).name for p in out.response["filenames"]) == [
        "a.py",
        "b.ts",
    ]  # hidden skipped
    out = ex.execute(
        "Grep", {"pattern": "todo", "-i": True, "type": "py", "output_mode": "content"}
    )
    assert out.response["content"] == f"{work / 'src' / 'a.py'}:3:TODO: fix"
    out = ex.execute(
        "Grep",
        {"pattern": "x = 1", "path": str(work / "src" / "a.py"), "output_mode": "content", "-B": 1},
    )
    assert out.response["content"] == "1-import os\n2:x = 1"
    out = ex.execute("Grep", {"pattern": "i", "glob": "*.py", "output_mode": "count"})
    assert out.response["content"] == f"{work / 'src' / 'a.py'}:2"
    out = ex.execute("Grep", {"pattern": "import.*\\nx", "multiline": True})
    assert [Path(p).name for p in out.response["filenames"]] == ["a.py"]
    out = ex.execute("Grep", {"pattern": "(unclosed"})
    assert out.is_error and "regular expression" in out.summary
    assert expand_braces("a.{x,y{1,2}}") == ["a.x", "a.y1", "a.y2"]


# ---- Bash ---------------------------------------------------------------------------------


def test_bash_runs_in_cwd_with_exit_code_and_created_files(ex: ToolExecutor, work: Path) -> None:
    out = ex.execute("Bash", {"command": "pwd && echo data > made.txt", "description": "x"})
    assert not out.is_error and out.exit_code == 0
    assert out.response["stdout"].strip() == str(work)
    assert out.files_created == [str(work / "made.txt")]
    out = ex.execute("Bash", {"command": "echo oops >&2; exit 3"})
    assert out.is_error and out.exit_code == 3 and "oops" in out.summary
    out = ex.execute("Bash", {"command": "sleep 5", "timeout": 300})
    assert out.is_error and out.response["interrupted"] is True


def test_bash_environment_has_no_secrets(ex: ToolExecutor, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-secret")
    monkeypatch.setenv("MY_SERVICE_TOKEN", "tok")
    assert "ANTHROPIC_API_KEY" not in scrubbed_env() and "PATH" in scrubbed_env()
    out = ex.execute("Bash", {"command": "env"})
    assert "sk-secret" not in out.response["stdout"] and "tok" not in out.response["stdout"].split(
        "="
    )


@pytest.mark.parametrize(
    "backend", BACKENDS or [pytest.param("none", marks=pytest.mark.skip("no OS sandbox here"))]
)
def test_bash_is_sandboxed_even_when_every_hook_allows(
    work: Path, tmp_path: Path, backend: str
) -> None:
    outside = tmp_path / "outside.txt"
    ex = ToolExecutor(work, Recorder("allow").registry(), sandbox_backend=backend, timeout_s=30)
    out = ex.execute("Bash", {"command": f"echo pwned > {outside}; cat {outside}"})
    assert out.response["sandbox"] == backend
    assert not outside.exists()  # bubblewrap: a private /tmp; Landlock: write denied
    if backend == "landlock":
        assert out.is_error and out.exit_code != 0
    inside = ex.execute("Bash", {"command": "echo fine > ok.txt"})
    assert not inside.is_error and (work / "ok.txt").read_text() == "fine\n"
    assert inside.files_created == [str(work / "ok.txt")]


def test_sandbox_none_runs_unsandboxed_with_a_notice(work: Path) -> None:
    notices: list[tuple[str, str]] = []
    ex = ToolExecutor(
        work,
        Recorder("allow").registry(),
        sandbox_backend="none",
        on_notice=lambda level, text: notices.append((level, text)),
    )
    assert ex.execute("Bash", {"command": "true"}).response["sandbox"] == "none"
    ex.execute("Bash", {"command": "true"})
    assert len(notices) == 1 and "without an OS sandbox" in notices[0][1]


# ---- hooks, policy, refusals ----------------------------------------------------------------


def test_denied_call_does_not_run(work: Path) -> None:
    rec = Recorder("deny")
    ex = ToolExecutor(work, rec.registry(), sandbox_backend=BACKEND)
    out = ex.execute("Write", {"file_path": str(work / "a.txt"), "content": "x"})
    assert out.status == "denied" and out.is_error
    assert not (work / "a.txt").exists()
    out = ex.execute("Bash", {"command": "touch b.txt"})
    assert out.status == "denied" and not (work / "b.txt").exists()
    assert rec.post == []  # nothing ran, so no post-hook


def test_no_hook_means_deny(work: Path) -> None:
    ex = ToolExecutor(work, HookRegistry(), sandbox_backend=BACKEND)
    assert (
        ex.execute("Write", {"file_path": str(work / "a.txt"), "content": "x"}).status == "denied"
    )
    assert not (work / "a.txt").exists()


def test_write_outside_cwd_is_refused_even_if_hooks_allow(
    ex: ToolExecutor, work: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "escape.txt"
    out = ex.execute("Write", {"file_path": str(outside), "content": "x"})
    assert out.status == "denied" and out.rule == "executor.confine"
    assert not outside.exists()
    out = ex.execute("Write", {"file_path": str(work / ".." / "escape2.txt"), "content": "x"})
    assert out.status == "denied" and not (tmp_path / "escape2.txt").exists()
    os.symlink(tmp_path, work / "link")
    out = ex.execute(
        "Edit",
        {"file_path": str(work / "link" / "escape3.txt"), "old_string": "", "new_string": "x"},
    )
    assert out.status == "denied" and not (tmp_path / "escape3.txt").exists()


def test_policy_engine_as_pre_hook(work: Path, tmp_path: Path) -> None:
    policy_mod = pytest.importorskip("llmos_tui.execution.policy.engine")
    engine = policy_mod.PolicyEngine(workspace_root=None)
    hooks = HookRegistry()
    hooks.add_pre(
        lambda name, inp, tid: (lambda d: HookVerdict(d.decision, d.reason, d.rule))(
            engine.check(name, inp, work)
        )
    )
    ex = ToolExecutor(work, hooks, sandbox_backend=BACKEND)
    assert not ex.execute("Write", {"file_path": str(work / "ok.txt"), "content": "x"}).is_error
    out = ex.execute("Bash", {"command": f"rm -rf {tmp_path}"})
    assert out.status == "denied" and tmp_path.exists()


def test_ask_is_resolved_by_confirm_and_assume_yes(work: Path) -> None:
    asked: list[str] = []
    ex = ToolExecutor(
        work,
        Recorder("ask").registry(),
        sandbox_backend=BACKEND,
        confirm=lambda name, inp, reason: asked.append(name) or False,
    )
    assert (
        ex.execute("Write", {"file_path": str(work / "a.txt"), "content": "x"}).status == "denied"
    )
    assert asked == ["Write"] and not (work / "a.txt").exists()
    headless = ToolExecutor(work, Recorder("ask").registry(), sandbox_backend=BACKEND)
    assert (
        headless.execute("Write", {"file_path": str(work / "a.txt"), "content": "x"}).status
        == "denied"
    )
    yes = ToolExecutor(work, Recorder("ask").registry(), sandbox_backend=BACKEND, assume_yes=True)
    assert yes.execute("Write", {"file_path": str(work / "a.txt"), "content": "x"}).status == "ok"


def test_a_raising_hook_fails_closed(work: Path) -> None:
    hooks = HookRegistry()
    hooks.add_pre(lambda *a: 1 / 0)
    ex = ToolExecutor(work, hooks, sandbox_backend=BACKEND)
    assert (
        ex.execute("Write", {"file_path": str(work / "a.txt"), "content": "x"}).status == "denied"
    )
    assert not (work / "a.txt").exists()


@pytest.mark.parametrize(
    "name,inp,needle",
    [
        ("Write", {"file_path": "/x"}, "needs content"),
        ("Write", {"file_path": 3, "content": "x"}, "must be a string"),
        ("Write", "not a dict", "must be an object"),
        ("Write", {"file_path": "", "content": "x"}, "empty"),
        ("Write", {"file_path": "~/x", "content": "x"}, "home-relative"),
        ("Edit", {"file_path": "/x", "old_string": "a"}, "needs new_string"),
        (
            "Edit",
            {"file_path": "/x", "old_string": "a", "new_string": "b", "replace_all": "yes"},
            "boolean",
        ),
        ("MultiEdit", {"file_path": "/x", "edits": []}, "empty"),
        ("MultiEdit", {"file_path": "/x", "edits": [{"old_string": "a"}]}, "needs new_string"),
        ("Read", {"file_path": "/x", "limit": 0}, "limit"),
        ("Read", {"file_path": "/x", "pages": "1-2"}, "not supported"),
        ("Bash", {"command": "  "}, "empty"),
        ("Bash", {"command": "ls", "run_in_background": True}, "not supported"),
        ("Bash", {"command": "ls", "timeout": True}, "must be a number"),
        ("Bash", {"command": "ls", "bogus": 1}, "no option"),
        ("Grep", {"pattern": "x", "output_mode": "lines"}, "output_mode"),
        ("Grep", {"pattern": "x", "-A": -1}, "non-negative"),
        ("Glob", {}, "needs pattern"),
    ],
)
def test_malformed_input_is_refused_not_raised(
    ex: ToolExecutor, rec: Recorder, name: str, inp: Any, needle: str
) -> None:
    out = ex.execute(name, inp)
    assert out.status == "malformed" and out.is_error
    assert needle in out.summary
    assert rec.pre == []  # refused before the hooks were even asked


@pytest.mark.parametrize("name", ["WebFetch", "Task", "Agent", "TodoWrite", "WebSearch", ""])
def test_unsupported_tools(ex: ToolExecutor, name: str) -> None:
    out = ex.execute(name, {"url": "http://example.com"})
    assert out.status == "unsupported" and out.is_error and name not in SUPPORTED_TOOLS


def test_check_input_accepts_real_cli_shapes() -> None:
    assert (
        check_input(
            "Bash",
            {
                "command": "ls",
                "timeout": 1000,
                "description": "List files",
                "dangerouslyDisableSandbox": True,
            },
        )
        is None
    )
    assert (
        check_input(
            "Grep", {"pattern": "x", "-n": True, "-C": 2, "head_limit": 0, "multiline": False}
        )
        is None
    )
    assert (
        check_input("Read", {"file_path": "/a", "offset": 0, "limit": 10, "allow_large": True})
        is None
    )


def test_hidden_paths_are_refused_to_every_file_tool(tmp_path: Path) -> None:
    """llmos's own state (hidden_paths) is refused even when the policy would allow the call."""
    cwd = tmp_path / "work"
    state = cwd / "ws" / "state"
    state.mkdir(parents=True)
    (state / "economy.json").write_text('{"balance": 5}')
    ex = ToolExecutor(cwd, Recorder().registry(), sandbox_backend=BACKEND, hidden_paths=(state,))
    for name, tool_input in [
        ("Read", {"file_path": str(state / "economy.json")}),
        ("Write", {"file_path": "ws/state/economy.json", "content": "{}"}),
        ("Grep", {"pattern": "balance", "path": str(state)}),
        ("Glob", {"pattern": "*", "path": "ws/state"}),
    ]:
        outcome = ex.execute(name, tool_input)
        assert outcome.status == "denied" and outcome.rule == "executor.hidden", (name, outcome)
    assert (state / "economy.json").read_text() == '{"balance": 5}'
    assert ex.execute("Write", {"file_path": "ws/notes.txt", "content": "ok"}).is_error is False


# ---- symlinks and races: nothing outside cwd is written, read or listed through one -------------

CANARY = "CANARY-51c9-do-not-leak"


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder next to cwd holding a secret (and the only file that may ever be there)."""
    out = tmp_path / "outside"
    out.mkdir()
    (out / "x").write_text(CANARY + "\n")
    (out / "secret.py").write_text(f"KEY = '{CANARY}'\n")
    return out


def outside_untouched(out: Path) -> None:
    assert sorted(p.name for p in out.iterdir()) == ["secret.py", "x"]
    assert (out / "x").read_text() == CANARY + "\n"


@pytest.fixture(params=["auto", "walk"])
def fs_mode(request: pytest.FixtureRequest) -> Any:
    """The openat2 path (where the kernel has it) and the component walker forced on."""
    from edgekit import fs

    previous = fs.set_mode(request.param)
    yield request.param
    fs.set_mode(previous)


def _left_cwd(outcome: Any) -> bool:
    """Refused for leaving the working directory: its target is outside the read view (checked on the
    resolved path first), or the open beneath the working directory's fd refused the link."""
    return (
        outcome.rule == "executor.read_view" or "escapes the working directory" in outcome.summary
    )


def test_file_tools_refuse_symlinks_that_leave_cwd(
    ex: ToolExecutor, work: Path, outside: Path
) -> None:
    os.symlink(outside, work / "link")  # cwd/link -> a folder outside
    os.symlink(outside / "x", work / "alias")  # cwd/alias -> a file outside
    out = ex.execute("Read", {"file_path": str(work / "alias")})
    assert out.is_error and _left_cwd(out) and CANARY not in json.dumps(out.response)
    out = ex.execute("Read", {"file_path": "link/x"})
    assert out.is_error and _left_cwd(out)
    for name, inp in [
        ("Write", {"file_path": str(work / "alias"), "content": "pwned"}),
        ("Edit", {"file_path": str(work / "alias"), "old_string": "CANARY", "new_string": "X"}),
        ("Write", {"file_path": str(work / "link" / "new.txt"), "content": "pwned"}),
    ]:
        out = ex.execute(name, inp)
        assert out.is_error and out.status == "denied" and out.rule == "executor.confine"
    outside_untouched(outside)


def test_symlinks_inside_cwd_still_work(ex: ToolExecutor, work: Path) -> None:
    (work / "real").mkdir()
    (work / "real" / "AGENTS.md").write_text("rules v1\n")
    os.chmod(work / "real" / "AGENTS.md", 0o640)
    os.symlink("real/AGENTS.md", work / "CLAUDE.md")  # a common layout: edits go to the target
    os.symlink("real", work / "docs")
    out = ex.execute(
        "Edit", {"file_path": str(work / "CLAUDE.md"), "old_string": "v1", "new_string": "v2"}
    )
    assert not out.is_error and out.response["filePath"] == str(work / "real" / "AGENTS.md")
    assert (work / "CLAUDE.md").is_symlink() and (
        work / "real" / "AGENTS.md"
    ).read_text() == "rules v2\n"
    assert (work / "real" / "AGENTS.md").stat().st_mode & 0o777 == 0o640
    os.symlink(
        str(work / "real" / "AGENTS.md"), work / "ABS.md"
    )  # absolute, naming a file inside cwd
    out = ex.execute("Edit", {"file_path": "ABS.md", "old_string": "v2", "new_string": "v3"})
    assert not out.is_error and (work / "real" / "AGENTS.md").read_text() == "rules v3\n"
    out = ex.execute("Edit", {"file_path": "ABS.md", "old_string": "v3", "new_string": "v2"})
    out = ex.execute("Write", {"file_path": "docs/new.md", "content": "hello\n"})
    assert not out.is_error and out.files_created == [str(work / "real" / "new.md")]
    assert (
        "rules v2"
        in ex.execute("Read", {"file_path": "docs/AGENTS.md"}).response["file"]["content"]
    )
    out = ex.execute("Grep", {"pattern": "hello", "path": str(work / "docs")})
    assert out.response["filenames"] == [str(work / "real" / "new.md")]


def test_grep_and_glob_never_show_what_a_symlink_out_of_cwd_points_at(
    ex: ToolExecutor, work: Path, outside: Path
) -> None:
    (work / "src").mkdir()
    (work / "src" / "ok.py").write_text("KEY = 'public'\n")
    os.symlink(outside, work / "link")  # a folder outside, like ~/.ssh
    os.symlink(outside / "secret.py", work / "src" / "leak.py")  # a file outside
    os.symlink("../../outside", work / "src" / "up")
    for inp in [
        {"pattern": "KEY", "output_mode": "content"},
        {"pattern": "CANARY", "output_mode": "content"},
        {"pattern": "KEY", "output_mode": "count"},
        {"pattern": "KEY", "glob": "**/*.py"},
        {"pattern": "KEY", "path": str(work / "src"), "output_mode": "content"},
    ]:
        out = ex.execute("Grep", inp)
        assert CANARY not in json.dumps(out.response) and "secret.py" not in json.dumps(
            out.response
        ), inp
    assert (
        ex.execute("Grep", {"pattern": "KEY", "output_mode": "content"}).response["content"]
        == f"{work / 'src' / 'ok.py'}:1:KEY = 'public'"
    )
    out = ex.execute("Grep", {"pattern": "KEY", "path": str(work / "src" / "leak.py")})
    assert out.is_error and _left_cwd(out)
    out = ex.execute("Grep", {"pattern": "KEY", "path": str(work / "link")})
    assert out.is_error and _left_cwd(out)
    for pattern in ["**/*", "*/*", "link/*", "src/up/*", "**/*.py", "src/*"]:
        out = ex.execute("Glob", {"pattern": pattern})
        names = out.response["filenames"]
        assert not any(
            "secret" in n or "/link/" in n or "/up/" in n or n.endswith("leak.py") for n in names
        ), (pattern, names)
    assert ex.execute("Glob", {"pattern": "**/*.py"}).response["filenames"] == [
        str(work / "src" / "ok.py")
    ]


def _race(
    ex: ToolExecutor,
    work: Path,
    call: Callable[[int], tuple[str, dict[str, Any]]],
    minimum: int,
    outcomes: list[Any] | None = None,
    *,
    both: bool = True,
) -> list[Any]:
    """Run ``call(i)`` through the executor at least ``minimum`` times while cwd/d is swapped with
    a symlink to the outside folder, and with ``both`` until both outcomes (done / refused) were
    seen (8 s at most).
    The outcomes are appended to ``outcomes`` as they come (``call`` may look at them)."""
    from tests.support.fs_race import Swapper

    outcomes = [] if outcomes is None else outcomes
    deadline = time.monotonic() + 8
    with Swapper(work / "d", work / "swap") as swapper:
        i = 0
        while i < minimum or (
            both
            and time.monotonic() < deadline
            and not (any(o.status == "ok" for o in outcomes) and any(o.is_error for o in outcomes))
        ):
            name, inp = call(i)
            outcomes.append(ex.execute(name, inp))
            i += 1
    assert swapper.swaps > 0
    return outcomes


def _race_setup(work: Path, outside: Path) -> None:
    (work / "d").mkdir()
    (work / "d" / "x").write_text("AAA\n")
    os.symlink(outside, work / "swap")


def _clear_refusal(outcome: Any) -> bool:
    return outcome.rule in ("executor.confine", "executor.read_view") or any(
        words in outcome.summary
        for words in (
            "escapes the working directory",
            "kept changing",
            "changed while",
            "File does not exist",
        )
    )


def test_write_race_never_lands_outside(
    fs_mode: str, ex: ToolExecutor, work: Path, outside: Path
) -> None:
    _race_setup(work, outside)
    outcomes = _race(
        ex,
        work,
        lambda i: ("Write", {"file_path": str(work / "d" / "x"), "content": f"w{i}\n"}),
        300,
    )
    outside_untouched(outside)
    done = [o for o in outcomes if o.status == "ok"]
    refused = [o for o in outcomes if o.is_error]
    assert done and refused and len(done) + len(refused) == len(outcomes)
    assert all(_clear_refusal(o) for o in refused), [
        o.summary for o in refused if not _clear_refusal(o)
    ][:3]
    for o in done:  # where the summary says it wrote is where it wrote: inside cwd
        assert Path(o.response["filePath"]).parent.parent == work and o.summary.startswith(
            "update "
        )


@pytest.mark.slow
def test_edit_and_read_race_never_touch_outside(
    fs_mode: str, ex: ToolExecutor, work: Path, outside: Path
) -> None:
    _race_setup(work, outside)
    outcomes: list[Any] = []

    def edit(i: int) -> tuple[str, dict[str, Any]]:
        if i % 2:
            return "Read", {"file_path": str(work / "d" / "x")}
        done = sum(1 for o in outcomes if o.status == "ok" and "replacements" in o.response)
        old, new = (
            ("AAA", "BBB") if done % 2 == 0 else ("BBB", "AAA")
        )  # the file's text flips on each edit
        return "Edit", {"file_path": str(work / "d" / "x"), "old_string": old, "new_string": new}

    _race(ex, work, edit, 300, outcomes)
    outside_untouched(outside)
    assert CANARY not in json.dumps([o.response for o in outcomes])
    refused = [o for o in outcomes if o.is_error]
    assert all(_clear_refusal(o) for o in refused), [
        o.summary for o in refused if not _clear_refusal(o)
    ][:3]
    # an edit never read the outside file (its text has neither AAA nor BBB: "not found" would say so)
    assert not any("not found" in o.summary for o in outcomes)
    assert any(o.status == "ok" for o in outcomes) and refused


def test_grep_race_never_reads_outside(ex: ToolExecutor, work: Path, outside: Path) -> None:
    _race_setup(work, outside)
    outcomes = _race(
        ex,
        work,
        lambda i: ("Grep", {"pattern": "CANARY|AAA", "output_mode": "content"}),
        150,
        both=False,
    )
    assert CANARY not in json.dumps([o.response for o in outcomes])
    assert any("AAA" in o.response.get("content", "") for o in outcomes)
    outcomes = _race(ex, work, lambda i: ("Glob", {"pattern": "*/*"}), 150, both=False)
    assert not any("secret" in n for o in outcomes for n in o.response.get("filenames", []))


def test_root_fds_are_not_inherited_and_close_releases_them(ex: ToolExecutor, work: Path) -> None:
    assert not ex.execute(
        "Write", {"file_path": "a.txt", "content": "x"}
    ).is_error  # opens the cwd's fd
    held = [
        fd
        for fd in os.listdir("/proc/self/fd")
        if os.path.realpath(f"/proc/self/fd/{fd}") == str(work)
    ]
    assert held, "the executor should hold a descriptor of its working directory"
    out = ex.execute("Bash", {"command": "for f in /proc/$$/fd/*; do readlink $f; done; true"})
    targets = out.response["stdout"].split()
    assert not out.is_error and targets and str(work) not in targets  # close-on-exec
    ex.close()
    assert not [
        fd
        for fd in os.listdir("/proc/self/fd")
        if os.path.realpath(f"/proc/self/fd/{fd}") == str(work)
    ]
    assert not ex.execute(
        "Write", {"file_path": "a.txt", "content": "y"}
    ).is_error  # reopened on use
    assert (work / "a.txt").read_text() == "y"


def test_glob_patterns_with_a_folder_of_their_own(
    ex: ToolExecutor, work: Path, outside: Path
) -> None:
    (work / "src").mkdir()
    (work / "src" / "a.py").write_text("")
    os.symlink(outside, work / "link")
    names = lambda pattern: ex.execute("Glob", {"pattern": pattern}).response.get("filenames", [])  # noqa: E731
    assert names(f"{work}/src/*.py") == [str(work / "src" / "a.py")]
    assert names("src/../src/*.py") == [str(work / "src" / "a.py")]
    assert names(f"{work}/link/*") == [] and names("link/*") == []  # out through a symlink: nothing
    # named outright: outside the read view (a temporary folder is not a system folder), refused
    assert ex.execute("Glob", {"pattern": f"{outside}/*"}).rule == "executor.read_view"
    assert names(f"{work}/src/a.py") == [str(work / "src" / "a.py")]
    out = ex.execute("Glob", {"pattern": "src/a**.py"})
    assert out.is_error and "invalid glob pattern" in out.summary
