"""Concurrency: a TUI-like reader/writer, two headless runs and a cron-like job, in four
separate processes on one workspace, recording 1,000 traces at once.

Every process goes through the real engine objects (``LLMOS.boot``, ``TraceStore``, the
event log, the economy, the sentience state, promotion, volumes), exactly as the kernel does
after a LEARNER run (``store.save`` then a ``TRACE_RECORDED`` event):

* ``tui``      records traces and, between writes, does what the TUI does: refreshes the index
               and the matcher, tails the event log with ``poll_new``, counts outcomes of
               traces other processes recorded;
* ``headless`` (two of them) record traces, charge the budget and move the sentience state
               for each, and replay-count (``record_outcome``) random traces;
* ``cron``     records traces and runs cycles: reads every trace, promotes some to the team,
               writes an insight artifact, records CRON_STARTED/COMPLETED.

The event log is set to rotate every 64 KiB so appends race with rotations. Afterwards: all
1,000 traces are files and in the index (fresh process and the TUI's incremental view), every
event each process reported is in the log exactly once, each trace has exactly one
TRACE_RECORDED event, no outcome or charge was lost, and the TUI's tail saw every event.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

TRACES_PER_PROCESS = 250
ROLES = ("tui", "headless", "headless", "cron")
CHARGE = 0.0001

CHILD = r"""
import json, os, random, sys, time
from pathlib import Path
role, seed, count, ws, out, gate = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6]
from llmos_tui.kernel import LLMOS
from llmos_tui.learning.traces import ToolCall, make_trace
from llmos_tui.volumes.acl import Identity
from llmos_tui.volumes.promotion import Promoter
from llmos_tui.volumes.volume import Volume

kernel = LLMOS.boot(ws)
store, events = kernel.store, kernel.events
rnd = random.Random(seed)
report = {"role": role, "traces": [], "events": [], "outcomes": {}, "charges": 0, "promoted": [],
          "tailed": [], "seen_by_tui": 0}
cursor = events.cursor() if role == "tui" else None
Path(out + ".ready").write_text("ready")
while not os.path.exists(gate):       # start together
    time.sleep(0.005)

def record(n):
    goal = f"{role} {seed} task {n}: {rnd.choice(['create', 'build', 'write'])} file f{n}.txt"
    calls = [ToolCall("Write", {"file_path": "{{cwd}}/f.txt", "content": goal},
                      {"is_error": False, "summary": "created", "files_created": ["f.txt"]})]
    trace = make_trace(goal, calls, cost_usd=CHARGE, tokens={"input": 50, "output": 5})
    store.save(trace, volume=kernel.config.user_volume())
    ev = events.record("TRACE_RECORDED", trace_id=trace.id, goal=goal, success=True, source_role=role)
    report["traces"].append(trace.id)
    report["events"].append(ev.id)
    return trace

CHARGE = %r
for n in range(count):
    trace = record(n)
    if role == "headless":
        kernel.economy.charge(mode="LEARNER", cost_usd=CHARGE, input_tokens=50, output_tokens=5, goal=trace.goal)
        report["charges"] += 1
        if n %% 5 == 0:
            kernel.sentience.after_run(trace.goal, mode="LEARNER", success=True, cost_usd=CHARGE)
    if role in ("headless", "tui") and n %% 3 == 0:
        others = store.index.entries([kernel.config.user_volume()])
        target = rnd.choice(others).id
        store.record_outcome(target, True)
        report["outcomes"][target] = report["outcomes"].get(target, 0) + 1
    if role == "tui":
        if n %% 4 == 0:
            kernel.matcher()                          # the trace browser / matcher refresh
        new, cursor = events.poll_new(cursor)         # the activity feed
        report["tailed"].extend(e.id for e in new)
    if role == "cron" and n %% 25 == 24:
        started = events.record("CRON_STARTED", cron="team", cycle=n)
        traces = list(store.iter_traces([kernel.config.user_volume()]))
        cron = Identity.team_cron(kernel.config.team)
        promoter = Promoter(kernel.workspace, config=kernel.config, events=events)
        for t in rnd.sample(traces, min(3, len(traces))):
            result = promoter.promote("traces", t.id, from_scope=kernel.config.user_volume(),
                                      to_scope="teams/" + kernel.config.team, identity=cron,
                                      reason="cron cycle")
            report["promoted"].append([t.id, result.target_name])
        Volume(kernel.workspace, "teams/" + kernel.config.team, identity=cron, events=events).write_artifact(
            "insights", f"cycle-{seed}-{n}", f"# Cycle {n}\n\n{len(traces)} traces seen.\n")
        done = events.record("CRON_COMPLETED", cron="team", cycle=n, traces=len(traces))
        report["events"] += [started.id, done.id]
if role == "tui":
    deadline = time.time() + 180
    while time.time() < deadline:       # wait until every other process is done, then drain
        new, cursor = events.poll_new(cursor)
        report["tailed"].extend(e.id for e in new)
        if os.path.exists(gate + ".others-done"):
            new, cursor = events.poll_new(cursor)
            report["tailed"].extend(e.id for e in new)
            break
        time.sleep(0.05)
    report["seen_by_tui"] = len(store.index.entries([kernel.config.user_volume()]))
Path(out).write_text(json.dumps(report))
""" % (CHARGE,)


def _config(ws: Path) -> None:
    ws.mkdir(parents=True, exist_ok=True)
    (ws / "config.yaml").write_text("observability:\n  max_file_mb: 0.02\n  keep_files: 1000\n")


def test_four_processes_record_1000_traces_and_lose_or_duplicate_nothing(tmp_path: Path) -> None:
    from llmos_tui.kernel import LLMOS
    from llmos_tui.learning.index import TraceIndex
    from llmos_tui.learning.traces import parse_trace
    from llmos_tui.observability.events import EventLog

    ws = tmp_path / "ws"
    _config(ws)
    LLMOS.boot(ws)
    gate = tmp_path / "go"
    procs = []
    for n, role in enumerate(ROLES):
        out = tmp_path / f"report-{n}.json"
        procs.append(
            (
                role,
                out,
                subprocess.Popen(
                    [
                        sys.executable,
                        "-c",
                        CHILD,
                        role,
                        str(1000 + n),
                        str(TRACES_PER_PROCESS),
                        str(ws),
                        str(out),
                        str(gate),
                    ],
                    stderr=subprocess.PIPE,
                    text=True,
                ),
            )
        )
    deadline = (
        time.monotonic() + 120
    )  # let them import and boot (the TUI takes its cursor), then start together
    while (
        not all(Path(str(out) + ".ready").exists() for _r, out, _p in procs)
        and time.monotonic() < deadline
    ):
        assert all(p.poll() is None for _r, _o, p in procs), "a writer died while booting"
        time.sleep(0.02)
    gate.write_text("go")
    started = time.monotonic()
    for role, _out, proc in procs:
        if role != "tui":
            _, err = proc.communicate(timeout=240)
            assert proc.returncode == 0, f"{role} failed:\n{err[-3000:]}"
    Path(str(gate) + ".others-done").write_text("done")
    tui = next(p for r, _o, p in procs if r == "tui")
    _, err = tui.communicate(timeout=120)
    assert tui.returncode == 0, f"tui failed:\n{err[-3000:]}"
    elapsed = time.monotonic() - started
    reports = [json.loads(out.read_text()) for _r, out, _p in procs]

    # All 1,000 traces: files that parse, in a fresh index, and in the TUI's incremental view.
    recorded = [tid for r in reports for tid in r["traces"]]
    assert len(recorded) == len(set(recorded)) == TRACES_PER_PROCESS * len(ROLES)
    files = {
        parse_trace(p.read_text()).id: p
        for p in (ws / "volumes" / "users" / "local" / "traces").glob("*.md")
    }
    assert set(recorded) == set(files)
    warnings: list[str] = []
    index = TraceIndex(LLMOS.boot(ws).workspace, on_warning=warnings.append)
    indexed = {e.id: e for e in index.entries(["users/local"])}
    assert set(indexed) == set(recorded)
    assert warnings == [], f"the index needed a repair after concurrent writers: {warnings}"
    assert next(r for r in reports if r["role"] == "tui")["seen_by_tui"] == len(recorded)

    # No outcome lost: each trace's uses = 1 + the outcomes the processes counted for it.
    outcomes: Counter[str] = Counter()
    for r in reports:
        outcomes.update(r["outcomes"])
    for tid in recorded:
        trace = parse_trace(files[tid].read_text())
        assert trace.usage_count == 1 + outcomes[tid], (
            f"{tid}: {trace.usage_count} uses, {outcomes[tid]} counted"
        )
        assert indexed[tid].usage_count == trace.usage_count

    # No charge lost.
    charges = sum(r["charges"] for r in reports)
    economy = json.loads((ws / "state" / "economy.json").read_text())
    assert abs(economy["spent_usd"] - charges * CHARGE) < 1e-9
    assert economy["by_mode"]["LEARNER"]["runs"] == charges

    # Events: every reported one exactly once, across rotations; one TRACE_RECORDED per trace.
    log = EventLog(ws / "observability" / "events.jsonl")
    assert len(log.files()) > 3, "the log should have rotated several times during the test"
    all_events = list(log.iter_events())
    assert log.corrupt_lines == 0
    counts = Counter(e.id for e in all_events)
    assert [eid for eid, c in counts.items() if c > 1] == []
    reported = [eid for r in reports for eid in r["events"]]
    assert [eid for eid in reported if eid not in counts] == []
    per_trace = Counter(
        e.data.get("trace_id")
        for e in all_events
        if e.type == "TRACE_RECORDED" and e.data.get("source_role")
    )
    assert per_trace == Counter(recorded)
    # The TUI's tail saw every event appended after it started, once, in order of the log.
    tailed = next(r for r in reports if r["role"] == "tui")["tailed"]
    assert len(tailed) == len(set(tailed))
    assert set(reported) <= set(tailed), (
        f"the TUI's tail missed {len(set(reported) - set(tailed))} events"
    )

    # The cron's promotions are in the team volume and indexed there.
    promoted = [dst for r in reports for _src, dst in r["promoted"]]
    assert promoted
    team = {e.id for e in index.entries(["teams/default"])}
    assert set(promoted) <= team
    print(
        f"\n4 processes, {len(recorded)} traces, {len(all_events)} events in {len(log.files())} files, "
        f"{sum(outcomes.values())} outcomes, {charges} charges in {elapsed:.1f} s"
    )


def test_a_tail_that_falls_behind_by_several_rotations_loses_no_event(tmp_path: Path) -> None:
    """The TUI tails the log with ``poll_new``; a busy cron can rotate the log more than once
    between two polls (a suspended terminal, a 10 KiB ``max_file_mb``). Every event appended
    after the cursor must still come back, once, in order."""
    from llmos_tui.observability.events import EventLog

    log = EventLog(tmp_path / "events.jsonl", max_bytes=1024, keep=50)
    log.record("FIRST")
    cursor = log.cursor()
    written = [
        log.record("BURST", n=n, pad="x" * 200).id for n in range(40)
    ]  # ~10 KiB: ~8 rotations
    assert len(log.files()) > 3
    got, cursor = log.poll_new(cursor)
    assert [e.id for e in got] == written, (
        f"{len(written) - len(got)} of {len(written)} events lost by the tail"
    )
    more = log.record("AFTER").id
    got, cursor = log.poll_new(cursor)
    assert [e.id for e in got] == [more]
