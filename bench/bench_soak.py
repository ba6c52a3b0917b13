"""Soak: 10,000 goals through one long-lived kernel (the headless/TUI engine) against the scripted
model server, mostly replays; memory, open files and latency recorded over time.

    .venv/bin/python bench/bench_soak.py [--goals 10000] [--llm-share 0.01] [--cli-every 500]
                                         [--plot-dir bench/plots] [--json]

How it runs (and what it is not): the goals go through ``LLMOS.execute`` in this process, the
same call ``llmos --headless run`` and the TUI make, so 10,000 of them fit in minutes and the
process's own memory can be watched; the LLM path is the real Claude Code CLI against the
scripted Messages-API server (the model of ``bench_savings.py``, which answers each goal with its
task's tool calls). Every ``--cli-every`` goals one real ``llmos --headless run`` process is also
timed on the same workspace, so the cold path is sampled as the workspace grows.

Workload: the 20 base tasks of ``bench_savings.workload()`` are learned first (LEARNER). Then
each goal is drawn (seeded): with probability ``--llm-share`` a parameter variant or a near miss
(MIXED or LEARNER: the model is called), otherwise a repeat or a paraphrase of a learned goal
(FOLLOWER, then CRYSTALLIZED once a trace reaches the crystallization threshold). Each goal runs in
a fresh directory holding its input files, which is removed afterwards.

The model server runs in a child process (its request log is not the kernel's memory); goals
run in one of 20 working directories (recreated empty for each goal), as a user works in a
handful of projects. Recorded every 100 goals: RSS (VmRSS), open file descriptors, threads, the event log's size and
the number of indexed traces; per goal: wall time and mode. Bounds checked at the end (after a
warm-up of the first 10 % of goals): RSS grows by at most 64 MiB, open descriptors by at most 8,
and the replay p50 of the last window is at most 1.5x the first window's.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bench_savings import Model, tasks, workload  # noqa: E402
from svgplot import line_chart  # noqa: E402

LLMOS_BIN = str(Path(sys.executable).parent / "llmos")
RSS_BOUND_MIB = 64.0
FD_BOUND = 8
LATENCY_RATIO_BOUND = 1.5


def serve(queue, stop) -> None:
    """The scripted model server (the savings bench's model), in a child process."""
    sys.path.insert(0, str(REPO))
    sys.path.insert(0, str(REPO / "bench"))
    from bench_savings import tasks, workload

    from llmos_tui.devtools.scripted_server import ScriptedServer

    server = ScriptedServer([Model(workload(), tasks())] * 1_000_000)
    server.start()
    queue.put(server.env())
    stop.wait()
    queue.put(server.main_request_count)
    server.stop()


def proc_status() -> dict[str, float]:
    out: dict[str, float] = {}
    with open("/proc/self/status") as handle:
        for line in handle:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM", "Threads"):
                out[key] = float(value.split()[0])
    out["fds"] = float(len(os.listdir("/proc/self/fd")))
    return out


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, max(0, int(round(q * len(values))) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--goals", type=int, default=10_000)
    parser.add_argument("--llm-share", type=float, default=0.01)
    parser.add_argument("--cli-every", type=int, default=500)
    parser.add_argument(
        "--window", type=int, default=0, help="latency window (default: goals / 20)"
    )
    parser.add_argument("--plot-dir", type=Path, default=REPO / "bench" / "plots")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    window = args.window or max(50, args.goals // 20)

    goals = workload()
    table = tasks()
    base_goals = [g for g in goals if g.kind == "novel"]
    reuse = [g for g in goals if g.kind in ("repeat", "paraphrase")]
    llm_goals = [g for g in goals if g.kind in ("variant", "near_miss")]
    rnd = random.Random(args.seed)
    base = Path(tempfile.mkdtemp(prefix="llmos-soak-"))
    # The model server runs in its own process: it keeps a log of every request (tens of kB
    # each), which must not count as the kernel's memory.
    ctx = multiprocessing.get_context("spawn")
    queue, stop = ctx.Queue(), ctx.Event()
    server = ctx.Process(target=serve, args=(queue, stop), daemon=True)
    server.start()
    server_env = queue.get(timeout=60)
    for key in [k for k in os.environ if k.startswith(("ANTHROPIC_", "LLMOS_", "CLAUDE_"))]:
        del os.environ[key]
    os.environ.update(server_env, HOME=str(base / "home"), CLAUDE_CONFIG_DIR=str(base / "claude"))
    samples: list[dict[str, float]] = []
    per_goal: list[tuple[int, str, float]] = []
    cli: list[tuple[int, float, str]] = []
    try:
        from llmos_tui.kernel import LLMOS, RunOptions

        kernel = LLMOS.boot(base / "ws", overrides={"budget_usd": 1_000_000.0})
        ws = kernel.workspace.root

        last_error: list[str] = [""]

        def run(goal, n: int) -> tuple[str, float, bool]:
            cwd = base / f"project-{n % 20}"  # a handful of working directories, as a user has
            shutil.rmtree(cwd, ignore_errors=True)
            cwd.mkdir()
            table[goal.task].inputs(goal.params, cwd)
            start = time.perf_counter()
            result = kernel.execute(goal.text, options=RunOptions(cwd=cwd))
            elapsed = (time.perf_counter() - start) * 1000
            ok = result.success and table[goal.task].check(goal.params, cwd, result.to_json())
            if not ok:
                last_error[0] = f"{result.error} calls={result.tool_calls}"[:1500]
            shutil.rmtree(cwd, ignore_errors=True)
            return result.mode, elapsed, ok

        for n, goal in enumerate(base_goals):  # learn the tasks
            mode, _ms, ok = run(goal, -1 - n)
            if not ok:
                raise SystemExit(f"learning {goal.text!r} failed ({mode}): {last_error[0]}")
        started = time.perf_counter()
        failures = 0
        for n in range(args.goals):
            goal = rnd.choice(llm_goals) if rnd.random() < args.llm_share else rnd.choice(reuse)
            mode, ms, ok = run(goal, n)
            failures += not ok
            per_goal.append((n, mode, ms))
            if n % 100 == 0 or n == args.goals - 1:
                st = proc_status()
                events = sum(p.stat().st_size for p in (ws / "observability").glob("events*.jsonl"))
                samples.append(
                    {
                        "goal": n,
                        "rss_mib": st["VmRSS"] / 1024,
                        "fds": st["fds"],
                        "threads": st["Threads"],
                        "events_mib": events / 2**20,
                        "traces": len(kernel.store.index),
                        "elapsed_s": time.perf_counter() - started,
                    }
                )
                print(
                    f"[soak] {n:6d} goals  rss {st['VmRSS'] / 1024:6.1f} MiB  fds {st['fds']:.0f}  "
                    f"threads {st['Threads']:.0f}  traces {samples[-1]['traces']}  last {mode} {ms:.0f} ms",
                    file=sys.stderr,
                    flush=True,
                )
            if args.cli_every and n % args.cli_every == 0:
                probe = rnd.choice(reuse)
                cwd = base / f"cli-{n}"
                cwd.mkdir()
                table[probe.task].inputs(probe.params, cwd)
                t0 = time.perf_counter()
                proc = subprocess.run(
                    [
                        LLMOS_BIN,
                        "--headless",
                        "run",
                        probe.text,
                        "--json",
                        "--workspace",
                        str(ws),
                        "--cwd",
                        str(cwd),
                    ],
                    capture_output=True,
                    text=True,
                    env=dict(os.environ),
                )
                cli.append((n, (time.perf_counter() - t0) * 1000, json.loads(proc.stdout)["mode"]))
                shutil.rmtree(cwd, ignore_errors=True)
        total_s = time.perf_counter() - started
    finally:
        stop.set()
        try:
            llm_requests = queue.get(timeout=30)
        except Exception:  # noqa: BLE001 - the count is informative only
            llm_requests = -1
        server.join(timeout=30)
        shutil.rmtree(base, ignore_errors=True)

    # ---- analysis ----
    warm = samples[min(len(samples) - 1, max(1, len(samples) // 10))]
    last = samples[-1]
    windows = []
    for start in range(0, args.goals, window):
        chunk = [
            ms
            for n, mode, ms in per_goal[start : start + window]
            if mode in ("FOLLOWER", "CRYSTALLIZED")
        ]
        if chunk:
            windows.append(
                {
                    "goal": start + window,
                    "p50_ms": statistics.median(chunk),
                    "p99_ms": pct(chunk, 0.99),
                    "replays": len(chunk),
                }
            )
    modes: dict[str, int] = {}
    for _n, mode, _ms in per_goal:
        modes[mode] = modes.get(mode, 0) + 1
    result = {
        "goals": args.goals,
        "wall_s": round(total_s, 1),
        "failures": failures,
        "modes": modes,
        "llm_requests": llm_requests,
        "rss_mib": {
            "after_warmup": round(warm["rss_mib"], 1),
            "end": round(last["rss_mib"], 1),
            "growth": round(last["rss_mib"] - warm["rss_mib"], 1),
            "bound": RSS_BOUND_MIB,
        },
        "fds": {"after_warmup": warm["fds"], "end": last["fds"], "bound": FD_BOUND},
        "threads": {"after_warmup": warm["threads"], "end": last["threads"]},
        "events_mib_end": round(last["events_mib"], 1),
        "traces_end": last["traces"],
        "replay_latency": {
            "first_window": windows[0] if windows else None,
            "last_window": windows[-1] if windows else None,
            "ratio_bound": LATENCY_RATIO_BOUND,
            "all_p50_ms": round(
                statistics.median(
                    ms for _n, m, ms in per_goal if m in ("FOLLOWER", "CRYSTALLIZED")
                ),
                1,
            ),
            "all_p99_ms": round(
                pct([ms for _n, m, ms in per_goal if m in ("FOLLOWER", "CRYSTALLIZED")], 0.99), 1
            ),
        },
        "llm_runs_p50_ms": round(
            statistics.median([ms for _n, m, ms in per_goal if m in ("LEARNER", "MIXED")] or [0]), 1
        ),
        "cli_samples_ms": [{"goal": n, "wall_ms": round(ms, 1), "mode": m} for n, ms, m in cli],
        "windows": [
            {k: round(v, 1) if isinstance(v, float) else v for k, v in w.items()} for w in windows
        ],
        "memory": [
            {"goal": s["goal"], "rss_mib": round(s["rss_mib"], 1), "fds": s["fds"]}
            for s in samples[::10]
        ],
    }
    ratio = windows[-1]["p50_ms"] / windows[0]["p50_ms"] if windows else 1.0
    result["checks"] = {
        "rss_growth_within_bound": result["rss_mib"]["growth"] <= RSS_BOUND_MIB,
        "fds_within_bound": last["fds"] - warm["fds"] <= FD_BOUND,
        "replay_latency_flat": ratio <= LATENCY_RATIO_BOUND,
        "no_failed_goal": failures == 0,
    }
    args.plot_dir.mkdir(parents=True, exist_ok=True)
    line_chart(
        args.plot_dir / "soak_memory.svg",
        title=f"Soak: memory over {args.goals:,} goals (one kernel)",
        x_label="goals run",
        y_label="MiB",
        series={
            "RSS": [(s["goal"], s["rss_mib"]) for s in samples],
            "event log size": [(s["goal"], s["events_mib"]) for s in samples],
        },
        hlines={"warm-up RSS + bound": warm["rss_mib"] + RSS_BOUND_MIB},
    )
    line_chart(
        args.plot_dir / "soak_latency.svg",
        title=f"Soak: replay latency per {window}-goal window",
        x_label="goals run",
        y_label="ms",
        series={
            "replay p50": [(w["goal"], w["p50_ms"]) for w in windows],
            "replay p99": [(w["goal"], w["p99_ms"]) for w in windows],
            "llmos CLI (cold process)": [(n, ms) for n, ms, _m in cli],
        },
    )
    result["plots"] = [
        str((args.plot_dir / name).relative_to(REPO))
        if (args.plot_dir / name).is_relative_to(REPO)
        else str(args.plot_dir / name)
        for name in ("soak_memory.svg", "soak_latency.svg")
    ]
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(
        json.dumps(
            {k: v for k, v in result.items() if k not in ("cli_samples_ms", "windows", "memory")},
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
