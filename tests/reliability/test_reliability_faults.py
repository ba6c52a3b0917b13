"""Resource faults: a full disk, a file-size limit, a read-only workspace, and a model server
that fails (500, 429, broken streams, a hang). Each gives a clear error (exit code and a message,
never a traceback), leaves existing data intact, retries where that helps, and charges the
budget only for work that happened.

The full disk is a small tmpfs (needs root to mount; skipped otherwise), filled on purpose so the
next write fails with ENOSPC, possibly halfway through a write. The read-only workspace is a
read-only bind mount when root (root ignores file modes), else a ``chmod -R a-w`` copy. The model
server is the scripted Messages-API server; the LLM path is the real Claude Code CLI.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from llmos_tui.devtools.scripted_server import ScriptedServer, error_turn, malformed_turn, text_turn
from llmos_tui.learning.traces import ToolCall, make_trace, parse_trace

pytestmark = pytest.mark.slow

PAGE = 4096
GOAL = "Create the greeting file hello.txt"
CALLS = [
    ToolCall(
        "Write",
        {"file_path": "{{cwd}}/hello.txt", "content": "hi\n"},
        {"is_error": False, "summary": "created", "files_created": ["hello.txt"]},
    )
]


# ---- helpers ----------------------------------------------------------------------------------


def run_cli(
    ws: Path,
    cwd: Path,
    *args: str,
    env: dict[str, str] | None = None,
    goal: str = GOAL,
    timeout: float = 120,
    preexec=None,
) -> tuple[int, dict | None, str]:
    argv = [
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
        *args,
    ]
    proc = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        env=env or dict(os.environ),
        timeout=timeout,
        preexec_fn=preexec,
    )
    try:
        out = json.loads(proc.stdout) if proc.stdout.strip() else None
    except ValueError:
        raise AssertionError(f"stdout is not one JSON object: {proc.stdout[:500]!r}") from None
    return proc.returncode, out, proc.stderr


def assert_clean_error(code: int, stderr: str, *expected: str) -> None:
    assert code != 0
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr[-3000:]
    assert "llmos: error:" in stderr, stderr[-2000:]
    for text in expected:
        assert text in stderr, f"{text!r} not in stderr:\n{stderr[-2000:]}"


def tree_digest(root: Path) -> dict[str, str]:
    """Content hash of every regular file (lock files excluded: flock does not change them)."""
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.name.endswith(".lock"):
            out[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def seed_workspace(ws: Path, n: int = 20) -> list[str]:
    from llmos_tui.kernel import LLMOS

    kernel = LLMOS.boot(ws)
    ids = []
    trace = make_trace(GOAL, CALLS)
    kernel.store.save(trace, volume="users/local")
    ids.append(trace.id)
    for i in range(n):
        t = make_trace(f"Write the weekly report number {i} for the sales team", CALLS)
        kernel.store.save(t, volume="users/local")
        ids.append(t.id)
    kernel.economy.charge(
        mode="LEARNER", cost_usd=0.25, input_tokens=1000, output_tokens=100, goal="seed"
    )
    kernel.events.record("SEEDED", n=n)
    return ids


def check_intact(ws: Path, ids: list[str]) -> None:
    """Every trace parses and is indexed; economy and events parse; no temporaries linger."""
    from llmos_tui.kernel import LLMOS
    from llmos_tui.learning.index import TraceIndex
    from llmos_tui.observability.events import EventLog

    kernel = LLMOS.boot(ws)
    for path in (ws / "volumes").glob("**/traces/*.md"):
        parse_trace(path.read_text())
    assert set(ids) <= {e.id for e in TraceIndex(kernel.workspace).entries()}
    assert json.loads((ws / "state" / "economy.json").read_text())["spent_usd"] >= 0.25
    log = EventLog(ws / "observability" / "events.jsonl")
    for path in log.files():
        for line in path.read_bytes().splitlines():
            json.loads(line)
    assert not [p for p in ws.rglob(".*.tmp")], "temporaries left behind"


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a small tmpfs (a disk that can fill up) needs root and mount(8)")
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.decode(errors='replace').strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


class Filler:
    """Fill a filesystem to the last byte, then give back exactly ``pages`` pages."""

    def __init__(self, mount: Path) -> None:
        self.path = mount / "filler"

    def fill(self, leave_pages: int = 0) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            while True:
                os.write(fd, b"\0" * (64 * PAGE))
        except OSError:
            pass
        try:
            while True:
                os.write(fd, b"\0" * PAGE)
        except OSError:
            pass
        try:
            while True:
                os.write(fd, b"\0")
        except OSError:
            pass
        finally:
            os.close(fd)
        if leave_pages:
            size = self.path.stat().st_size
            os.truncate(self.path, max(0, (size // PAGE - leave_pages) * PAGE))

    def free(self) -> None:
        self.path.unlink(missing_ok=True)


# ---- full disk ----------------------------------------------------------------------------------


def test_a_full_disk_gives_a_clear_error_and_keeps_existing_data(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk", "4m") as disk:
        ws, cwd = disk / "ws", tmp_path / "cwd"
        cwd.mkdir()
        ids = seed_workspace(ws)
        before = tree_digest(ws / "volumes")
        filler = Filler(disk)

        # Completely full: the run refuses before doing anything, and says why.
        filler.fill()
        code, out, err = run_cli(ws, cwd)
        assert_clean_error(code, err, "No space left on device")
        assert not (cwd / "hello.txt").exists()

        # Full halfway through the run (one page left: the replay runs, recording its outcome fails).
        filler.free()
        filler.fill(leave_pages=1)
        code, out, err = run_cli(ws, cwd)
        assert "Traceback" not in err and "Exception ignored" not in err, err[-3000:]
        if code != 0:
            assert_clean_error(code, err, "No space left on device")
            assert out is not None and out["success"] is False and out["error"]
        filler.free()
        check_intact(ws, ids)
        after = tree_digest(ws / "volumes")
        for (
            name,
            digest,
        ) in before.items():  # nothing existing was damaged (the matched trace may count a use)
            if ids[0] not in name and ".provenance" not in name:
                assert after.get(name) == digest, f"{name} changed on a full disk"

        # Space back: the same goal works again, and the index needs no repair.
        fresh = tmp_path / "fresh"
        fresh.mkdir()
        code, out, err = run_cli(ws, fresh)
        assert code == 0 and out["mode"] == "FOLLOWER", err
        assert "warning" not in err, err


def test_an_event_cut_short_by_a_full_disk_does_not_swallow_the_next_one(tmp_path: Path) -> None:
    """A write that fills the disk halfway through a line leaves a torn line. The next event
    appended once there is space again must still be readable (not glued to the torn one)."""
    from llmos_tui.observability.events import EventLog

    with tmpfs(tmp_path / "disk", "1m") as disk:
        log = EventLog(disk / "events.jsonl")
        first = log.record("FIRST", pad="a" * 1000)
        filler = Filler(disk)
        filler.fill()
        lost = log.record(
            "CUT_SHORT", pad="b" * 3 * PAGE
        )  # crosses into pages the disk does not have
        assert log.write_errors == 1
        filler.free()
        after = log.record("AFTER", n=1)
        ids = [e.id for e in log.read()]
        assert first.id in ids and lost.id not in ids
        assert after.id in ids, (
            "the event written after the disk had space again was lost (glued to a torn line)"
        )
        assert log.corrupt_lines == 0, "a torn line was left in the log"


def test_a_trace_index_journal_cut_short_by_a_full_disk_needs_no_rebuild(tmp_path: Path) -> None:
    """The trace file fits, the index journal line does not (the disk fills halfway through it):
    the save fails with a clear error; once there is space, the next save and every reader work
    without a full rebuild of the index (a rebuild at 100k traces takes many seconds)."""
    from llmos_tui.errors import WorkspaceError
    from llmos_tui.kernel import LLMOS
    from llmos_tui.learning.index import TraceIndex
    from llmos_tui.learning.store import TraceStore

    with tmpfs(tmp_path / "disk", "2m") as disk:
        ws = disk / "ws"
        kernel = LLMOS.boot(ws)
        warnings: list[str] = []
        store = TraceStore(
            kernel.workspace,
            TraceIndex(kernel.workspace, on_warning=warnings.append),
            events=kernel.events,
        )
        journal = ws / "state" / "index.journal.jsonl"
        long_goal = "Write the quarterly report " + " ".join(f"section{i}" for i in range(120))
        store.save(make_trace("Create a Python calculator", CALLS), volume="users/local")
        # Leave less room in the journal's last page than one "put" line of the long goal needs.
        while not 200 < PAGE - journal.stat().st_size % PAGE < 1200:
            store.save(
                make_trace(f"Create note {journal.stat().st_size}", CALLS), volume="users/local"
            )
        filler = Filler(disk)
        filler.fill(leave_pages=1)  # room for the trace file only
        failed = make_trace(long_goal, CALLS)
        with pytest.raises(WorkspaceError, match="No space left on device"):
            store.save(failed, volume="users/local")
        filler.free()
        ok = make_trace("Create a Rust calculator", CALLS)
        store.save(ok, volume="users/local")
        fresh: list[str] = []
        ids = {e.id for e in TraceIndex(kernel.workspace, on_warning=fresh.append).entries()}
        assert ok.id in ids
        assert failed.id not in ids, "a save that failed left its trace behind"
        assert not [w for w in fresh + warnings if "rebuilt" in w], (
            f"a journal line cut short by the full disk forced a full rebuild: {fresh + warnings}"
        )


def test_a_file_size_limit_gives_a_clear_error_not_a_traceback(tmp_path: Path) -> None:
    """RLIMIT_FSIZE (works without root): every write past 48 KiB fails with EFBIG in the child."""
    from llmos_tui.kernel import LLMOS

    ws, cwd = tmp_path / "ws", tmp_path / "cwd"
    cwd.mkdir()
    ids = seed_workspace(ws)
    kernel = LLMOS.boot(ws)
    for n in range(200):  # an event log larger than the limit
        kernel.events.record("FILLER", n=n, pad="x" * 300)
    before = tree_digest(ws / "volumes")
    limit = 48 * 1024

    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    code, out, err = run_cli(ws, cwd, preexec=limited)
    assert "Traceback" not in err and "Exception ignored" not in err, err[-3000:]
    assert code in (0, 1, 2), err
    if code == 0:
        assert out["mode"] == "FOLLOWER" and (cwd / "hello.txt").exists()
    check_intact(ws, ids)
    after = tree_digest(ws / "volumes")
    assert {k: v for k, v in after.items() if ids[0] not in k} == {
        k: v for k, v in before.items() if ids[0] not in k
    }


# ---- read-only workspace ------------------------------------------------------------------------


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[None]:
    if os.geteuid() == 0:
        if not shutil.which("mount"):
            pytest.skip("a read-only bind mount needs mount(8) (root ignores file modes)")
        bind = subprocess.run(["mount", "--bind", str(path), str(path)], capture_output=True)
        if bind.returncode != 0:
            pytest.skip(f"cannot bind-mount: {bind.stderr.decode(errors='replace').strip()}")
        ro = subprocess.run(["mount", "-o", "remount,ro,bind", str(path)], capture_output=True)
        if ro.returncode != 0:
            subprocess.run(["umount", str(path)], capture_output=True)
            pytest.skip(f"cannot remount read-only: {ro.stderr.decode(errors='replace').strip()}")
        try:
            yield
        finally:
            subprocess.run(["umount", "-l", str(path)], capture_output=True)
    else:
        modes = {p: p.stat().st_mode for p in [path, *path.rglob("*")]}
        for p in modes:
            p.chmod(modes[p] & ~0o222)
        try:
            yield
        finally:
            for p, mode in modes.items():
                p.chmod(mode)


def test_a_read_only_workspace_gives_a_clear_error_and_is_left_untouched(tmp_path: Path) -> None:
    ws, cwd = tmp_path / "ws", tmp_path / "cwd"
    cwd.mkdir()
    ids = seed_workspace(ws)
    before = tree_digest(ws)
    env = dict(os.environ)
    with read_only(ws):
        code, out, err = run_cli(ws, cwd, env=env)
        assert_clean_error(code, err)
        assert "not writable" in err or "Read-only file system" in err, err
        assert code == 2
        assert not (cwd / "hello.txt").exists()  # nothing ran that could not be recorded
        proc = subprocess.run(
            [sys.executable, "-m", "llmos_tui", "traces", "list", "--workspace", str(ws)],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
        # Listing may work or refuse; either way it says why and changes nothing.
        assert proc.returncode == 0 or (
            "not writable" in proc.stderr or "Read-only file system" in proc.stderr
        )
        assert tree_digest(ws) == before
    check_intact(ws, ids)


# ---- a failing model server ---------------------------------------------------------------------


@pytest.fixture
def llm(llm_env: ScriptedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ScriptedServer:
    monkeypatch.setenv("CLAUDE_CODE_MAX_RETRIES", "1")  # one retry: the CLI retries by itself
    return llm_env


def spent(ws: Path) -> float:
    path = ws / "state" / "economy.json"
    return json.loads(path.read_text())["spent_usd"] if path.exists() else 0.0


@pytest.mark.llm
@pytest.mark.parametrize(
    "turns, what",
    [
        ([error_turn(500)] * 8, "HTTP 500"),
        ([error_turn(429, retry_after=0.1)] * 8, "HTTP 429"),
    ],
    ids=["500", "429"],
)
def test_a_failing_model_server_is_a_clean_failure_and_costs_nothing(
    llm: ScriptedServer, tmp_path: Path, turns, what: str
) -> None:
    ws, cwd = tmp_path / "ws", tmp_path / "cwd"
    cwd.mkdir()
    llm.add_turns(turns)
    code, out, err = run_cli(ws, cwd, goal="Say hello to the team")
    assert code == 1, err
    assert_clean_error(code, err, what)
    assert out["success"] is False and out["mode"] == "LEARNER"
    assert (out["input_tokens"], out["output_tokens"], out["cost_usd"]) == (0, 0, 0)
    assert llm.main_request_count >= 2, "the CLI should have retried"
    assert spent(ws) == 0.0, "the budget was charged for a run the server never answered"


@pytest.mark.llm
@pytest.mark.parametrize("mode", ["truncated", "bad_json"])
def test_a_broken_stream_is_a_clean_failure_charged_as_reported(
    llm: ScriptedServer, tmp_path: Path, mode: str
) -> None:
    """Streams that break (cut off after message_start, or unparseable) are retried by the CLI,
    then fail cleanly. No answer was completed; the CLI may still count the input tokens of the
    streams it had started to read (the API reports them in message_start; how many attempts it
    counts varies from run to run), and llmos charges what the CLI reports: never more than the
    server reported over all attempts, and exactly what the JSON says."""
    from llmos_tui.devtools.scripted_server import estimate_input_tokens

    ws, cwd = tmp_path / "ws", tmp_path / "cwd"
    cwd.mkdir()
    llm.add_turns([malformed_turn(mode)] * 8)
    code, out, err = run_cli(ws, cwd, goal="Say hello to the team")
    assert code == 1, err
    assert_clean_error(code, err, "failed")
    assert out["success"] is False
    assert llm.main_request_count >= 2, "the CLI should have retried"
    reported = sum(estimate_input_tokens(r.raw) for r in llm.main_requests)
    attempts = llm.main_request_count
    assert out["input_tokens"] <= reported and out["output_tokens"] <= attempts, (
        out["input_tokens"],
        out["output_tokens"],
        reported,
        attempts,
    )
    assert abs(spent(ws) - out["cost_usd"]) < 1e-9


@pytest.mark.llm
@pytest.mark.parametrize(
    "fault",
    [error_turn(429, retry_after=0.2), error_turn(500), malformed_turn("truncated")],
    ids=["429", "500", "truncated-sse"],
)
def test_a_transient_fault_is_retried_and_only_the_answer_is_charged(
    llm: ScriptedServer, tmp_path: Path, fault
) -> None:
    from llmos_tui.devtools.scripted_server import estimate_input_tokens

    ws, cwd = tmp_path / "ws", tmp_path / "cwd"
    cwd.mkdir()
    llm.add_turns(fault, text_turn("Hello, team!"))
    code, out, err = run_cli(ws, cwd, goal="Say hello to the team")
    assert code == 0, err
    seen = [(r.outcome, r.status, r.input_tokens, r.output_tokens) for r in llm.main_requests]
    assert out["success"] is True and "Hello, team!" in out["output"], (out, seen, err)
    assert llm.main_request_count == 2, seen
    answered = (llm.total_input_tokens, llm.total_output_tokens)
    tokens = (out["input_tokens"], out["output_tokens"])
    if fault.malformed:
        # The CLI may also count the input of the stream that was cut after message_start.
        cut = estimate_input_tokens(llm.main_requests[0].raw)
        assert tokens in (answered, (answered[0] + cut, answered[1] + 1)), (tokens, answered, seen)
    else:
        # Charged once, for exactly what the server reported for the answer that arrived.
        assert tokens == answered, (out, seen)
    assert out["cost_usd"] > 0 and abs(spent(ws) - out["cost_usd"]) < 1e-9


@pytest.mark.llm
def test_a_model_server_that_hangs_times_out_cleanly_and_costs_nothing(
    llm: ScriptedServer, tmp_path: Path
) -> None:
    ws, cwd = tmp_path / "ws", tmp_path / "cwd"
    ws.mkdir()
    cwd.mkdir()
    (ws / "config.yaml").write_text("execution:\n  run_timeout_s: 5\n")
    llm.add_turns(text_turn("too late", delay=60))
    started = time.monotonic()
    code, out, err = run_cli(ws, cwd, goal="Say hello to the team")
    elapsed = time.monotonic() - started
    assert code == 1
    assert_clean_error(code, err, "timed out after 5 s")
    assert out["success"] is False and out["cost_usd"] == 0
    assert spent(ws) == 0.0
    # the answer would come after 60 s: returning well before it proves the timeout fired
    assert elapsed < 45, f"a 5 s timeout took {elapsed:.1f} s to give the terminal back"


# ---- the JSON of a run that fails after its decision ---------------------------------------------


def test_a_run_that_fails_after_its_decision_still_reports_the_decision(tmp_path: Path) -> None:
    """No LLM configured (exit 5) for a MIXED run, or a full disk during a FOLLOWER run: the JSON
    must say which mode was decided and why, not "LEARNER" with an empty decision."""
    ws, cwd = tmp_path / "ws", tmp_path / "cwd"
    cwd.mkdir()
    seed_workspace(ws, n=2)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "CLAUDE_CODE_"))}
    code, out, err = run_cli(ws, cwd, "--mode", "mixed", env=env)
    assert code == 5, err
    assert out["decision"], "the decision was dropped from the JSON"
    assert out["mode"] == out["decision"]["mode"] == "MIXED"
    assert out["decision"]["trace_id"]
