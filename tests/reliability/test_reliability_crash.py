"""Crash safety: SIGKILL a process that records traces, counts outcomes, charges the budget,
moves the sentience state, appends events and promotes artifacts, at random moments, 200 times.

Afterwards (and every few kills along the way):

* every file the engine owns parses (trace markdown, index snapshot + journal, economy,
  sentience, events, inbox, changelog, provenance);
* every write the child reported complete (it reports on a pipe only after the call returned)
  is there: traces, outcome counts, charges, events (exactly once), promotions;
* nothing was counted twice: unreported work is bounded by one operation per kill;
* the index, opened as the product opens it, agrees with the markdown files (it may repair
  itself, never crash);
* no temporary file is left behind once the workspace has been opened again.

The children are forked from this process (modules already imported) so a kill lands in the
middle of real work within a few milliseconds; a second test kills real ``llmos --headless run``
processes in the middle of FOLLOWER replays.
"""

from __future__ import annotations

import json
import os
import random
import select
import signal
import subprocess
import sys
import time
import traceback
from collections import Counter
from pathlib import Path

import pytest

from llmos_tui.learning.traces import ToolCall, goal_signature, make_trace, parse_trace

pytestmark = pytest.mark.slow

KILLS = int(os.environ.get("LLMOS_TORTURE_KILLS", "200"))
USER_VOLUME = "users/local"
TEAM_SCOPE = "teams/default"
CHARGE = 0.001
VERBS = ("Create", "Write", "Build", "Generate", "Draft", "Render", "Compile", "Summarize")
NOUNS = ("report", "calculator", "parser", "notes file", "todo list", "invoice", "chart", "poem")
LEARNED_CALLS = [
    ToolCall(
        "Write",
        {"file_path": "{{cwd}}/app.py", "content": "print('hello')\n" * 200},
        {"is_error": False, "summary": "created", "files_created": ["app.py"]},
    ),
    ToolCall(
        "Bash",
        {"command": "python3 app.py > out.txt"},
        {"is_error": False, "summary": "ok", "exit_code": 0},
    ),
    ToolCall(
        "Write",
        {"file_path": "{{cwd}}/README.md", "content": "# App\n"},
        {"is_error": False, "summary": "created", "files_created": ["README.md"]},
    ),
]


# ---- the child --------------------------------------------------------------------------------


def _goal(rnd: random.Random) -> str:
    return (
        f"{rnd.choice(VERBS)} the {rnd.choice(NOUNS)} number {rnd.randrange(10**6)} "
        f"in file out{rnd.randrange(1000)}.txt"
    )


def _child(ws: Path, seed: int, wfd: int) -> None:
    """Work until killed; report each completed write on the pipe (one small write per line)."""

    def report(line: str) -> None:
        os.write(wfd, (line + "\n").encode())

    rnd = random.Random(seed)
    from llmos_tui.kernel import LLMOS
    from llmos_tui.learning import index as index_mod
    from llmos_tui.volumes.promotion import Promoter

    if seed % 2:
        index_mod.COMPACT_MIN = (
            8  # half the children compact the journal often: crash inside it too
        )
    kernel = LLMOS.boot(ws)
    store = kernel.store
    ids = [e.id for e in store.index.entries([USER_VOLUME])]
    promoter = Promoter(kernel.workspace, config=kernel.config, events=kernel.events)
    report("B")
    ops = ["save", "outcome", "charge", "sentience", "event", "promote"]
    weights = [34, 22, 12, 10, 14, 8]
    n = 0
    while True:
        n += 1
        op = rnd.choices(ops, weights)[0]
        if op in ("outcome", "promote") and not ids:
            op = "save"
        if op == "save":
            calls = [
                ToolCall(
                    "Write",
                    {"file_path": "{{cwd}}/out.txt", "content": "x" * rnd.randrange(1, 3000)},
                    {"is_error": False, "summary": "created", "files_created": ["out.txt"]},
                )
            ]
            trace = make_trace(
                _goal(rnd), calls, cost_usd=0.01, tokens={"input": 100, "output": 10}
            )
            store.save(trace, volume=USER_VOLUME)
            ids.append(trace.id)
            report(f"T {trace.id}")
        elif op == "outcome":
            tid = rnd.choice(ids)
            success = rnd.random() < 0.8
            store.record_outcome(tid, success)
            report(f"O {tid} {int(success)}")
        elif op == "charge":
            kernel.economy.charge(
                mode="LEARNER", cost_usd=CHARGE, input_tokens=100, output_tokens=10, goal="torture"
            )
            report("C")
        elif op == "sentience":
            kernel.sentience.after_run(
                _goal(rnd),
                mode=rnd.choice(["LEARNER", "FOLLOWER"]),
                success=rnd.random() < 0.7,
                cost_usd=0.01,
                duration_ms=5,
            )
            report("S")
        elif op == "event":
            event = kernel.events.record(
                "RELIABILITY_PROBE", seed=seed, n=n, pad="p" * rnd.randrange(0, 6000)
            )
            report(f"E {event.id}")
        else:
            tid = rnd.choice(ids)
            result = promoter.promote(
                "traces", tid, from_scope=USER_VOLUME, to_scope=TEAM_SCOPE, reason="torture"
            )
            report(f"P {tid} {result.target_name} {result.status}")


def _fork_child(ws: Path, seed: int) -> tuple[int, int]:
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 0
        try:
            os.close(rfd)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            _child(ws, seed, wfd)
        except BaseException:
            code = 3
            try:
                os.write(wfd, ("X " + traceback.format_exc().replace("\n", " | ") + "\n").encode())
            except OSError:
                pass
        finally:
            os._exit(code)
    os.close(wfd)
    return pid, rfd


def _read_all(rfd: int) -> list[str]:
    chunks = []
    while True:
        data = os.read(rfd, 65536)
        if not data:
            break
        chunks.append(data)
    os.close(rfd)
    return b"".join(chunks).decode("utf-8", "replace").splitlines()


class Ledger:
    """What the children reported complete."""

    def __init__(self) -> None:
        self.traces: set[str] = set()
        self.outcomes: Counter[str] = Counter()
        self.successes: Counter[str] = Counter()
        self.charges = 0
        self.sentience = 0
        self.events: list[str] = []
        self.promotions: dict[str, str] = {}
        self.promotion_status: dict[str, str] = {}
        self.errors: list[str] = []
        self.kills = 0
        self.booted = 0

    def add(self, lines: list[str]) -> None:
        for line in lines:
            kind, _, rest = line.partition(" ")
            if kind == "B":
                self.booted += 1
            elif kind == "T":
                self.traces.add(rest)
            elif kind == "O":
                tid, ok = rest.split()
                self.outcomes[tid] += 1
                self.successes[tid] += int(ok)
            elif kind == "C":
                self.charges += 1
            elif kind == "S":
                self.sentience += 1
            elif kind == "E":
                self.events.append(rest)
            elif kind == "P":
                src, dst, status = rest.split()
                self.promotions[src] = dst
                self.promotion_status[dst] = status
            elif kind == "X":
                self.errors.append(rest)
            elif line.strip():
                self.errors.append(f"unexpected report line {line!r}")


# ---- checks -----------------------------------------------------------------------------------


def _json_lines(path: Path) -> list[dict]:
    out = []
    for number, raw in enumerate(path.read_bytes().split(b"\n"), start=1):
        if raw.strip():
            try:
                out.append(json.loads(raw))
            except ValueError as exc:
                raise AssertionError(
                    f"{path} line {number} is not JSON ({exc}): {raw[:120]!r}"
                ) from None
    return out


def _temporaries(root: Path) -> list[str]:
    return sorted(
        str(p.relative_to(root))
        for p in root.rglob(".*")
        if p.is_file() and (p.name.endswith(".tmp") or p.name.startswith(".write-probe"))
    )


def check_workspace(ws: Path, ledger: Ledger) -> dict[str, int]:
    """Open the workspace as the product does, then check every promise of the module doc."""
    from llmos_tui.kernel import LLMOS
    from llmos_tui.learning.index import TraceIndex
    from llmos_tui.observability.events import EventLog

    warnings: list[str] = []
    kernel = LLMOS.boot(ws)  # the next open after the crashes
    index = TraceIndex(kernel.workspace, on_warning=warnings.append)
    entries = {e.id: e for e in index.entries()}

    # Every trace file parses; the index agrees with the files.
    files: dict[str, tuple[str, object]] = {}
    for path in sorted((ws / "volumes").glob("**/traces/*.md")):
        trace = parse_trace(path.read_text(encoding="utf-8"), source=str(path))
        assert trace.id not in files, f"trace id {trace.id} in two files"
        volume = path.parent.parent.relative_to(ws / "volumes").as_posix()
        files[trace.id] = (volume, trace)
    assert set(entries) == set(files), (
        f"index and files disagree: only indexed {sorted(set(entries) - set(files))[:5]}, "
        f"only on disk {sorted(set(files) - set(entries))[:5]}"
    )
    for tid, (volume, trace) in files.items():
        e = entries[tid]
        assert (e.volume, e.usage_count, e.success_count, e.failure_count) == (
            volume,
            trace.usage_count,
            trace.success_count,
            trace.failure_count,
        ), f"stale index entry {tid}"
    assert index.skipped() == {}, f"trace files skipped as malformed: {index.skipped()}"
    # A second, independent open needs no repair: the first one left the index consistent.
    again: list[str] = []
    assert {e.id for e in TraceIndex(kernel.workspace, on_warning=again.append).entries()} == set(
        files
    )
    assert again == [], f"the index needed a second repair: {again}"

    # Reported traces are present; counts include every reported outcome and at most one
    # unreported write per kill (the one in flight).
    missing = ledger.traces - set(files)
    assert not missing, f"traces reported saved are missing: {sorted(missing)[:5]}"
    extra_uses = 0
    for tid, (volume, trace) in files.items():
        if volume != USER_VOLUME:
            continue
        uses = trace.usage_count - 1 - ledger.outcomes[tid]
        assert uses >= 0, (
            f"trace {tid} lost reported outcomes ({trace.usage_count} uses, {ledger.outcomes[tid]} reported)"
        )
        assert trace.success_count - 1 >= ledger.successes[tid] - 0, (
            f"trace {tid} lost reported successes"
        )
        extra_uses += uses
    assert extra_uses <= ledger.kills, f"{extra_uses} unreported outcomes for {ledger.kills} kills"
    unreported_traces = sum(1 for tid, (v, _) in files.items() if v == USER_VOLUME) - len(
        ledger.traces
    )
    assert 0 <= unreported_traces <= ledger.kills

    # Promotions reported complete: the team copy exists, is indexed there and has provenance.
    for src, dst in ledger.promotions.items():
        assert dst in files and files[dst][0] == TEAM_SCOPE, (
            f"promoted trace {dst} (from {src}) is missing"
        )
        assert files[dst][1].parent_trace == src
        assert files[dst][1].signature == goal_signature(files[src][1].goal)
        prov = ws / "volumes" / TEAM_SCOPE / "traces" / ".provenance" / f"{dst}.json"
        assert prov.exists(), (
            f"promoted trace {dst} has no provenance (the promotion reported "
            f"{ledger.promotion_status[dst]!r})"
        )
        assert json.loads(prov.read_text())["origin"]["name"] == src
    for prov in (ws / "volumes").glob("**/.provenance/*.json"):
        json.loads(prov.read_text())
    for changelog in (ws / "volumes").glob("**/CHANGELOG*"):
        if changelog.is_file() and changelog.suffix in (".jsonl", ""):
            _json_lines(changelog)

    # Economy: parses, was never set aside as corrupt, holds every reported charge.
    state = ws / "state"
    assert not list(state.glob("*.corrupt-*")), (
        f"state files were found corrupt: {list(state.glob('*.corrupt-*'))}"
    )
    economy = (
        json.loads((state / "economy.json").read_text())
        if ledger.charges
        else {"spent_usd": 0.0, "log": []}
    )
    spent = float(economy["spent_usd"])
    assert spent >= ledger.charges * CHARGE - 1e-9, (
        f"spent {spent} < {ledger.charges} reported charges"
    )
    assert spent <= (ledger.charges + ledger.kills) * CHARGE + 1e-9
    assert len(economy["log"]) >= min(ledger.charges, 10_000)

    # Sentience: parses and was never reset as corrupt.
    if ledger.sentience:
        data = json.loads((state / "sentience.json").read_text())
        assert isinstance(data, dict) and data

    # Events: every line of every file parses; each reported event is there exactly once.
    log = EventLog(kernel.workspace.events_file)
    for path in log.files():
        _json_lines(path)
    seen = Counter(e.id for e in log.iter_events())
    assert log.corrupt_lines == 0
    dupes = [eid for eid, n in seen.items() if n > 1]
    assert not dupes, f"duplicated events: {dupes[:5]}"
    lost = [eid for eid in ledger.events if eid not in seen]
    assert not lost, f"reported events are missing: {lost[:5]}"
    inbox = ws / "observability" / "inbox.jsonl"
    if inbox.exists():
        _json_lines(inbox)
    # Last: once reopened, no temporary of a dead writer is left (checked after the rest so a
    # failure here does not hide the others).
    assert not _temporaries(ws), (
        f"temporary files left behind after reopening: {_temporaries(ws)[:10]}"
    )
    return {"traces": len(files), "warnings": len(warnings)}


# ---- the tests ----------------------------------------------------------------------------------


def test_sigkill_at_random_moments_loses_and_corrupts_nothing(tmp_path: Path) -> None:
    from llmos_tui.kernel import LLMOS

    ws = tmp_path / "ws"
    LLMOS.boot(ws)  # a workspace that exists before the first crash
    rnd = random.Random(int(os.environ.get("LLMOS_TORTURE_SEED", "20261121")))
    ledger = Ledger()
    started = time.monotonic()
    for k in range(KILLS):
        pid, rfd = _fork_child(ws, seed=rnd.randrange(2**31))
        delay = rnd.uniform(0.005, 0.150)
        # The child reports "B" once booted: wait for it (bounded) so the kill lands in the
        # middle of writes, not always in the boot.
        ready, _, _ = select.select([rfd], [], [], 5.0)
        time.sleep(delay if ready else 0)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        _, status = os.waitpid(pid, 0)
        lines = _read_all(rfd)
        ledger.add(lines)
        if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL:
            ledger.kills += 1
        assert not ledger.errors, f"child {k} failed: {ledger.errors[0][:2000]}"
        if (k + 1) % 50 == 0:
            check_workspace(ws, ledger)
    summary = check_workspace(ws, ledger)
    elapsed = time.monotonic() - started
    assert ledger.kills >= KILLS * 0.95, (
        f"only {ledger.kills} of {KILLS} children were killed mid-work"
    )
    # The torture did real work: many traces, outcomes, charges, events and promotions.
    assert len(ledger.traces) > KILLS and ledger.events and ledger.promotions and ledger.charges, (
        vars(ledger)
    )
    print(
        f"\n{KILLS} kills in {elapsed:.1f} s: {summary['traces']} traces, {len(ledger.traces)} reported saves, "
        f"{sum(ledger.outcomes.values())} outcomes, {ledger.charges} charges, {len(ledger.events)} events, "
        f"{len(ledger.promotions)} promotions"
    )


# A child that dies (SIGKILL) or stops (SIGSTOP) at the exact moment a chosen file is about to be
# renamed into place: the operating system call is intercepted, not our code.
DIE_ON_REPLACE = """
import os, signal, sys
sig, needle = int(sys.argv[1]), sys.argv[2]
real = os.replace
def replace(src, dst, *a, **kw):
    if needle in os.fspath(dst):
        os.kill(os.getpid(), sig)
    return real(src, dst, *a, **kw)
os.replace = replace
exec(sys.argv[3])
"""


def _run_until_replace(sig: int, needle: str, code: str, ws: Path) -> subprocess.Popen:
    env = dict(os.environ, WS=str(ws))
    return subprocess.Popen(
        [sys.executable, "-c", DIE_ON_REPLACE, str(int(sig)), needle, code], env=env
    )


def test_stale_temporaries_of_dead_writers_are_cleaned_on_next_open(tmp_path: Path) -> None:
    """Deterministic version of the torture's last check: writers killed right before the rename
    of the economy ledger, a trace file and the sentience state leave their temporaries; the next
    open removes them, but not the temporary of a writer that is alive (stopped) right now."""
    from llmos_tui.kernel import LLMOS

    ws = tmp_path / "ws"
    LLMOS.boot(ws)
    jobs = {
        "economy.json": "from llmos_tui.kernel import LLMOS; LLMOS.boot(os.environ['WS']).economy.charge(mode='LEARNER', cost_usd=0.5)",
        ".md": (
            "from llmos_tui.kernel import LLMOS; from llmos_tui.learning.traces import make_trace; "
            "k = LLMOS.boot(os.environ['WS']); k.store.save(make_trace('Create a calculator', []), volume='users/local')"
        ),
        "sentience.json": "from llmos_tui.kernel import LLMOS; LLMOS.boot(os.environ['WS']).sentience.after_run('x', mode='LEARNER', success=True)",
    }
    for needle, code in jobs.items():
        proc = _run_until_replace(signal.SIGKILL, needle, code, ws)
        assert proc.wait(timeout=60) == -signal.SIGKILL
        assert any(needle in name for name in _temporaries(ws)), (
            f"the killed writer of {needle} left nothing?"
        )
    live = _run_until_replace(
        signal.SIGSTOP,
        "economy.json",
        "from llmos_tui.atomic import atomic_write_json; "
        "atomic_write_json(os.environ['WS'] + '/state/economy.json', {'spent_usd': 1.0})",
        ws,
    )
    try:
        deadline = time.monotonic() + 30
        before = set(_temporaries(ws))
        while set(_temporaries(ws)) == before and time.monotonic() < deadline:
            time.sleep(0.02)
        (live_tmp,) = set(_temporaries(ws)) - before
        LLMOS.boot(ws).store.index.entries()
        remaining = _temporaries(ws)
        assert remaining == [live_tmp], (
            f"the next open must remove the dead writers' temporaries and keep the live one ({live_tmp}): {remaining}"
        )
    finally:
        live.kill()
        live.wait()
    LLMOS.boot(ws)
    assert _temporaries(ws) == []
    # The ledger whose writers died holds the previous version: nothing was charged.
    assert LLMOS.boot(ws).economy.spent() == 0.0


def test_a_promotion_killed_before_its_provenance_is_completed_by_the_next(tmp_path: Path) -> None:
    """A promotion writes the artifact, then its provenance sidecar. Killed in between, the next
    promotion of the same artifact must not report "unchanged" with no provenance (an artifact
    without provenance can never be updated from its source again: every later promotion is
    refused as a conflict)."""
    from llmos_tui.kernel import LLMOS
    from llmos_tui.volumes.promotion import Promoter

    ws = tmp_path / "ws"
    kernel = LLMOS.boot(ws)
    trace = make_trace("Create a Python calculator", LEARNED_CALLS[:1])
    kernel.store.save(trace, volume=USER_VOLUME)
    code = (
        f"from llmos_tui.kernel import LLMOS; from llmos_tui.volumes.promotion import Promoter; "
        f"k = LLMOS.boot(os.environ['WS']); "
        f"Promoter(k.workspace, config=k.config).promote('traces', '{trace.id}', from_scope='{USER_VOLUME}', "
        f"to_scope='{TEAM_SCOPE}')"
    )
    proc = _run_until_replace(signal.SIGKILL, ".provenance", code, ws)
    assert proc.wait(timeout=60) == -signal.SIGKILL
    kernel = LLMOS.boot(ws)
    promoter = Promoter(kernel.workspace, config=kernel.config, events=kernel.events)
    result = promoter.promote("traces", trace.id, from_scope=USER_VOLUME, to_scope=TEAM_SCOPE)
    assert result.provenance is not None, (
        f"the promotion reported {result.status!r} and left no provenance"
    )
    prov = ws / "volumes" / TEAM_SCOPE / "traces" / ".provenance" / f"{result.target_name}.json"
    assert json.loads(prov.read_text())["origin"]["name"] == trace.id
    # The source improves; promoting it again updates the team's copy instead of refusing.
    trace.summary = "a better calculator"
    kernel.store.update(trace)
    again = promoter.promote("traces", trace.id, from_scope=USER_VOLUME, to_scope=TEAM_SCOPE)
    assert again.status == "updated"


@pytest.mark.slow
def test_killing_real_headless_replays_leaves_a_consistent_workspace(tmp_path: Path) -> None:
    """SIGKILL real ``llmos --headless run`` processes during FOLLOWER replays (outcome counts,
    events, sentience writes, crystallization) at random moments; then a normal run works and
    every file parses."""
    from llmos_tui.kernel import LLMOS

    ws = tmp_path / "ws"
    kernel = LLMOS.boot(ws)
    trace = make_trace("Create a hello world Python app", LEARNED_CALLS)
    kernel.store.save(trace, volume=USER_VOLUME)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "CLAUDE_CODE_"))}
    rnd = random.Random(7)
    kills = runs = 0
    for n in range(40):
        if kills >= 8:
            break
        runs += 1
        cwd = tmp_path / f"run{n}"
        cwd.mkdir()
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "llmos_tui",
                "--headless",
                "run",
                "Create a hello world Python app",
                "--json",
                "--workspace",
                str(ws),
                "--cwd",
                str(cwd),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        time.sleep(
            rnd.uniform(0.05, 0.45)
        )  # boot takes ~0.2 s: some land in boot, most in the replay
        if proc.poll() is None:
            proc.kill()
            kills += 1
        proc.wait()
    assert kills >= 8, "the runs finished before they could be killed: lower the delays"
    ledger = Ledger()
    ledger.kills = runs  # each run, killed or not, may add one unreported outcome
    check_workspace(ws, ledger)
    final = tmp_path / "final"
    final.mkdir()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "llmos_tui",
            "--headless",
            "run",
            "Create a hello world Python app",
            "--json",
            "--workspace",
            str(ws),
            "--cwd",
            str(final),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    result = json.loads(proc.stdout)
    assert proc.returncode == 0 and result["mode"] in ("FOLLOWER", "CRYSTALLIZED"), proc.stderr
    assert (final / "out.txt").exists() and (final / "README.md").exists()
    after = parse_trace((ws / "volumes" / USER_VOLUME / "traces" / f"{trace.id}.md").read_text())
    assert after.usage_count >= 2 and after.failure_count == 0
