"""Cold start of a FOLLOWER hit, side by side with `claude -p` on the same loopback server.

    .venv/bin/python bench/bench_coldstart.py [--runs 20] [--traces 1000] [--claude-runs 10] [--profile] [--json]

Setup: a fresh workspace (``llmos init``) holding ``--traces`` synthetic traces (the generator of
``bench_index.py``, one user volume) plus the trace the goal matches; one warm-up run builds the
index. Each sample is then a new process::

    llmos --headless run "Create the greeting file hello.txt" --json --workspace WS --cwd NEWDIR

which must print mode FOLLOWER and exit 0 (zero LLM calls; it writes hello.txt, records the use,
events and the sentience state). Wall time is measured from spawn to exit (``os.wait4``), peak RSS
from the child's rusage. For comparison, on the same machine and in the same conditions:

* ``python -c pass`` (the interpreter floor) and ``llmos --version``;
* ``claude -p "hi"``: the Claude Code CLI bundled with claude-agent-sdk, against the scripted
  Messages-API server on loopback (``ANTHROPIC_BASE_URL``), with its own temporary HOME and
  ``CLAUDE_CONFIG_DIR`` and ``CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1``. It makes one model call.

``--profile`` adds where the time goes in one FOLLOWER run: ``python -X importtime`` (top imports by
cumulative time) and cProfile (top functions by cumulative time, after imports).
Target (issue 5): FOLLOWER p50 <= 200 ms wall.
"""

from __future__ import annotations

import argparse
import json
import os
import re
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

BIN = Path(sys.executable).parent
LLMOS = str(BIN / "llmos")
GOAL = "Create the greeting file hello.txt"
TARGET_MS = 200.0


def claude_binary() -> Path | None:
    import claude_agent_sdk

    path = Path(claude_agent_sdk.__file__).parent / "_bundled" / "claude"
    return path if path.exists() else None


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, max(0, int(round(q * len(values))) - 1))]


def spawn(
    argv: list[str], env: dict[str, str], cwd: str | None = None
) -> tuple[float, float, int, bytes]:
    """(wall ms, peak RSS MiB, exit code, stdout) of one process."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, cwd=cwd
    )
    out = proc.stdout.read() if proc.stdout else b""
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = (time.perf_counter() - start) * 1000
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_maxrss / 1024, proc.returncode, out


def summarize(walls: list[float], rss: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(statistics.median(walls), 1),
        "p90_ms": round(pct(walls, 0.9), 1),
        "min_ms": round(min(walls), 1),
        "max_ms": round(max(walls), 1),
        "rss_mib": round(statistics.median(rss), 1),
        "runs": len(walls),
    }


def make_workspace(base: Path, traces: int, env: dict[str, str]) -> Path:
    from bench_index import synthetic_trace

    from llmos_tui.learning.traces import ToolCall, dump_trace, make_trace

    ws = base / "ws"
    subprocess.run([LLMOS, "init", str(ws)], env=env, check=True, capture_output=True)
    folder = ws / "volumes" / "users" / "local" / "traces"
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for i in range(traces):
        trace = synthetic_trace(i)
        (folder / f"{trace.id}.md").write_text(dump_trace(trace), encoding="utf-8")
        written.append(trace)
    from llmos_tui.learning.slots import extract_slots

    hit = make_trace(
        GOAL,
        [
            ToolCall(
                "Write",
                {"file_path": "{{cwd}}/hello.txt", "content": "Hello!\n"},
                {"is_error": False, "summary": "created", "files_created": ["hello.txt"]},
            )
        ],
        slots=extract_slots(GOAL),
    )
    (folder / f"{hit.id}.md").write_text(dump_trace(hit), encoding="utf-8")
    # As if this workspace had recorded them itself (own content is replayed without asking).
    from llmos_tui.learning.trust import TrustStore
    from llmos_tui.workspace import Workspace

    TrustStore(Workspace(ws)).record_own_many(written + [hit])
    return ws


def run_follower(ws: Path, base: Path, env: dict[str, str], n: int) -> tuple[float, float, dict]:
    cwd = base / f"cwd{n}"
    cwd.mkdir()
    wall, rss, code, out = spawn(
        [LLMOS, "--headless", "run", GOAL, "--json", "--workspace", str(ws), "--cwd", str(cwd)], env
    )
    result = json.loads(out)
    if code != 0 or result.get("mode") != "FOLLOWER" or not (cwd / "hello.txt").exists():
        raise SystemExit(f"the FOLLOWER run did not replay: exit {code}, {out[:400]!r}")
    return wall, rss, result


def bench_llmos(args: argparse.Namespace, base: Path, env: dict[str, str]) -> dict:
    ws = make_workspace(base, args.traces, env)
    run_follower(ws, base, env, -1)  # warm-up: builds the index from the markdown files
    os.sync()
    walls, rss = [], []
    for n in range(args.runs):
        wall, r, _ = run_follower(ws, base, env, n)
        walls.append(wall)
        rss.append(r)
    floor = [spawn([sys.executable, "-c", "pass"], env)[:2] for _ in range(args.runs)]
    version = [spawn([LLMOS, "--version"], env)[:2] for _ in range(args.runs)]
    out = {
        "follower": summarize(walls, rss),
        "python_floor": summarize([w for w, _ in floor], [r for _, r in floor]),
        "llmos_version": summarize([w for w, _ in version], [r for _, r in version]),
        "workspace": str(ws),
    }
    return out


def bench_claude(runs: int, base: Path) -> dict | None:
    from llmos_tui.devtools.scripted_server import ScriptedServer, text_turn

    binary = claude_binary()
    if binary is None:
        return None
    server = ScriptedServer()
    server.add_turns([lambda body: text_turn("hi")] * (runs + 5))
    server.start()
    try:
        walls, rss = [], []
        for n in range(runs + 1):
            home = base / f"claude-home-{n}"
            home.mkdir()
            env = {
                k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "CLAUDE_"))
            }
            env.update(server.env(), HOME=str(home), CLAUDE_CONFIG_DIR=str(home / ".claude"))
            wall, r, code, out = spawn([str(binary), "-p", "hi"], env, cwd=str(home))
            if code != 0 or b"hi" not in out:
                raise SystemExit(f"claude -p failed: exit {code}, {out[:300]!r}")
            if n:  # the first run is a warm-up (page cache)
                walls.append(wall)
                rss.append(r)
        result = summarize(walls, rss)
        result["model_calls"] = server.main_request_count
        return result
    finally:
        server.stop()


PHASES = r"""
import json, sys, time
t0 = time.perf_counter()
import llmos_tui.cli  # what `llmos` imports before it runs a command
t1 = time.perf_counter()
from pathlib import Path
from llmos_tui.kernel import LLMOS, RunOptions
t2 = time.perf_counter()
kernel = LLMOS.boot(sys.argv[1])
t3 = time.perf_counter()
kernel.store.index.entries()
t4 = time.perf_counter()
kernel.matcher()
t5 = time.perf_counter()
kernel.decide(sys.argv[3])
t6 = time.perf_counter()
result = kernel.execute(sys.argv[3], options=RunOptions(cwd=Path(sys.argv[2])))
t7 = time.perf_counter()
assert result.success and result.mode == "FOLLOWER", result
ms = lambda a, b: round((b - a) * 1000, 1)
print(json.dumps({"import the CLI package": ms(t0, t1), "import the kernel": ms(t1, t2), "boot (config, workspace)": ms(t2, t3),
                  "load the trace index": ms(t3, t4), "build the matcher (prepare every goal)": ms(t4, t5),
                  "decide": ms(t5, t6), "execute (sentience, replay, policy, writes, events)": ms(t6, t7)}))
"""


def phases(ws: Path, base: Path, env: dict[str, str], runs: int = 5) -> dict[str, float]:
    """Median time of each phase of a FOLLOWER hit, in a fresh process (no profiler)."""
    rows = []
    for n in range(runs):
        cwd = base / f"cwd-phase{n}"
        cwd.mkdir()
        out = subprocess.run(
            [sys.executable, "-c", PHASES, str(ws), str(cwd), GOAL],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        rows.append(json.loads(out.stdout))
    return {k: round(statistics.median(r[k] for r in rows), 1) for k in rows[0]}


def profile(ws: Path, base: Path, env: dict[str, str], top: int = 15) -> dict:
    cwd = base / "cwd-prof"
    cwd.mkdir()
    argv = [
        "-m",
        "llmos_tui",
        "--headless",
        "run",
        GOAL,
        "--json",
        "--workspace",
        str(ws),
        "--cwd",
        str(cwd),
    ]
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", *argv], env=env, capture_output=True, text=True
    )
    imports = []
    for line in proc.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)", line)
        if m:
            imports.append((int(m.group(2)) / 1000, len(m.group(3)) // 2, m.group(4)))
    top_level = sorted((i for i in imports if i[1] <= 1), reverse=True)[:top]
    total_import_ms = sum(ms for ms, depth, _ in imports if depth == 0)
    cwd2 = base / "cwd-prof2"
    cwd2.mkdir()
    prof = base / "follower.prof"
    code = (
        "import cProfile, sys, runpy; sys.argv = ['llmos'] + sys.argv[1:]; "
        f"cProfile.run(\"runpy.run_module('llmos_tui', run_name='__main__')\", {str(prof)!r})"
    )
    subprocess.run(
        [sys.executable, "-c", code, *argv[2:-1], str(cwd2)], env=env, capture_output=True
    )
    import pstats

    stats = pstats.Stats(str(prof))
    rows = []
    for (filename, line, func), (_cc, nc, tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append((ct * 1000, tt * 1000, nc, f"{Path(filename).name}:{line}({func})"))
    rows.sort(reverse=True)
    ours = []
    for (filename, line, func), (_cc, nc, tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        if "llmos_tui" in filename and "/cli/" not in filename and func not in ("<module>",):
            ours.append(
                (ct * 1000, tt * 1000, nc, f"{filename.split('llmos_tui/')[-1]}:{line}({func})")
            )
    ours.sort(reverse=True)
    syscalls = {
        name: (nc, ct * 1000)
        for (filename, line, name), (cc, nc, tt, ct, callers) in stats.stats.items()  # type: ignore[attr-defined]
        if name
        in (
            "<built-in method posix.fsync>",
            "<built-in method posix.replace>",
            "<built-in method fcntl.flock>",
            "<built-in method posix.stat>",
            "<built-in method io.open>",
        )
    }
    return {
        "phases_ms": phases(ws, base, env),
        "import_total_ms": round(total_import_ms, 1),
        "top_imports": [
            {"module": name, "cumulative_ms": round(ms, 1), "depth": depth}
            for ms, depth, name in top_level
        ],
        "top_functions": [
            {"function": name, "cumulative_ms": round(ct, 1), "self_ms": round(tt, 1), "calls": nc}
            for ct, tt, nc, name in ours[: top + 10]
        ],
        "syscalls": {
            name.split()[-1].rstrip(">"): {"calls": n, "ms": round(ms, 1)}
            for name, (n, ms) in syscalls.items()
        },
        "note": "cProfile inflates times ~1.5-2x; read it for proportions",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--traces", type=int, default=1000)
    parser.add_argument("--claude-runs", type=int, default=10)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="llmos-coldstart-"))
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "LLMOS_", "CLAUDE_"))
    }
    env.update(
        HOME=str(base / "home"),
        XDG_DATA_HOME=str(base / "home" / "data"),
        # Measure FOLLOWER itself: after 5 uses the trace would be crystallized (CRYSTALLIZED mode).
        LLMOS_LEARNING__AUTO_CRYSTALLIZATION="false",
    )
    try:
        result = bench_llmos(args, base, env)
        result["claude_p"] = bench_claude(args.claude_runs, base) if args.claude_runs else None
        result["traces"] = args.traces
        result["target_ms"] = TARGET_MS
        result["meets_target"] = result["follower"]["p50_ms"] <= TARGET_MS
        if args.profile:
            result["profile"] = profile(Path(result["workspace"]), base, env)
        result.pop("workspace")
    finally:
        shutil.rmtree(base, ignore_errors=True)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(
        f"| command ({args.traces} traces in the workspace) | p50 ms | p90 ms | min ms | peak RSS MiB |"
    )
    print("|---|---|---|---|---|")
    rows = [
        ("`python -c pass` (interpreter floor)", result["python_floor"]),
        ("`llmos --version`", result["llmos_version"]),
        ("`llmos --headless run GOAL --json` (FOLLOWER hit)", result["follower"]),
    ]
    if result["claude_p"]:
        rows.append(('`claude -p "hi"` (scripted server, 1 model call)', result["claude_p"]))
    for name, row in rows:
        print(
            f"| {name} | {row['p50_ms']} | {row['p90_ms']} | {row['min_ms']} | {row['rss_mib']} |"
        )
    print(
        f"\nFOLLOWER p50 {result['follower']['p50_ms']} ms vs target {TARGET_MS:.0f} ms: "
        f"{'met' if result['meets_target'] else 'MISSED'}"
    )
    if "profile" in result:
        prof = result["profile"]
        print("\nphases of one FOLLOWER hit (fresh process, median of 5, no profiler):")
        for name, ms in prof["phases_ms"].items():
            print(f"  {ms:8.1f} ms  {name}")
        print(f"\nimports: {prof['import_total_ms']} ms in all; top-level:")
        for row in prof["top_imports"]:
            print(f"  {row['cumulative_ms']:8.1f} ms  {'  ' * row['depth']}{row['module']}")
        print("cProfile, llmos_tui functions by cumulative time (inflated by the profiler):")
        for row in prof["top_functions"]:
            print(
                f"  {row['cumulative_ms']:8.1f} ms  self {row['self_ms']:6.1f}  x{row['calls']:<5} {row['function']}"
            )
        print(
            "system calls:",
            ", ".join(f"{k} x{v['calls']} {v['ms']} ms" for k, v in prof["syscalls"].items()),
        )


if __name__ == "__main__":
    main()
