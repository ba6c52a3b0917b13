"""Cold start of a replay, side by side with `claude -p` and `python -c pass` in the same run.

    .venv/bin/python bench/bench_coldstart.py [--runs 7] [--traces 1000] [--profile] [--json]

Setup: a fresh workspace (``llmos init``) holding ``--traces`` synthetic traces (the generator of
``bench_index.py``, one user volume) plus two the goals match: one Write (``hello.txt``), and a
Write of ``calc.py`` followed by one Bash step (``python3 calc.py``). Warm-up runs build the index
and the caches (and probe the sandbox once, in the bench's own ``XDG_CACHE_HOME``). Each sample is
a new process::

    llmos --headless run GOAL --json --workspace WS --cwd NEWDIR

which must print mode FOLLOWER and exit 0 (zero LLM calls; it writes the files, records the use,
events and the sentience state). Three installs of the same sources are measured:

* ``make install``: the venv's ``llmos`` (editable install, our modules compiled by ``make``);
* ``pip install .``: a copy of the package compiled to bytecode, as a regular install leaves it;
* editable without bytecode: a copy without ``__pycache__`` run with ``PYTHONDONTWRITEBYTECODE=1``
  (every start compiles our modules).

Against, in the same loop (runs interleaved, so machine noise hits every series alike):
``python -c pass`` (the interpreter floor) and ``claude -p "hi"``: the Claude Code CLI bundled
with claude-agent-sdk, against the scripted Messages-API server on loopback, with its own
temporary HOME and ``CLAUDE_CONFIG_DIR`` and ``CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1``; it
makes one model call. Wall time from spawn to exit (``os.wait4``), peak RSS and CPU time (user +
system, the process and its children: on a loaded machine the steadier measure of work done) from
the child's rusage; the targets (issue 19) are ratios to ``claude -p``'s median, so a loaded machine shifts
both sides.

``--profile`` adds where the time goes in one FOLLOWER run: ``python -X importtime`` (top imports by
cumulative time) and cProfile (top functions by cumulative time, after imports).
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
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

BIN = Path(sys.executable).parent
LLMOS = str(BIN / "llmos")
GOAL = "Create the greeting file hello.txt"
BASH_GOAL = "Write a python script calc.py that prints 6 times 7 and run it"
# issue 19: ratios to `claude -p "hi"` in the same run, and peak memory
TARGET_WRITE = 0.25
TARGET_BASH = 0.35
TARGET_NO_BYTECODE = 0.5
TARGET_RSS_MIB = 40.0


def claude_binary() -> Path | None:
    import claude_agent_sdk

    path = Path(claude_agent_sdk.__file__).parent / "_bundled" / "claude"
    return path if path.exists() else None


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, max(0, int(round(q * len(values))) - 1))]


# Children are started by a small helper process, not by this one: Linux counts the RSS of the
# process that forked into the child's peak RSS, and this bench holds the package and a server.
_SPAWNER = r"""
import json, os, subprocess, sys, time
for line in sys.stdin:
    req = json.loads(line)
    start = time.perf_counter()
    proc = subprocess.Popen(req["argv"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL,
                            env=req["env"], cwd=req["cwd"])
    out = proc.stdout.read()
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = (time.perf_counter() - start) * 1000
    cpu = (usage.ru_utime + usage.ru_stime) * 1000
    sys.stdout.write(json.dumps([wall, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status),
                                 out.decode("latin-1"), cpu]) + "\n")
    sys.stdout.flush()
"""
_spawner: subprocess.Popen | None = None
_CPU = [0.0]  # user + system CPU ms of the last process spawned (and its children)


def spawn(
    argv: list[str], env: dict[str, str], cwd: str | None = None
) -> tuple[float, float, int, bytes]:
    """(wall ms, peak RSS MiB, exit code, stdout) of one process."""
    global _spawner
    if _spawner is None:
        _spawner = subprocess.Popen(
            [sys.executable, "-S", "-c", _SPAWNER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
    assert _spawner.stdin and _spawner.stdout
    _spawner.stdin.write(json.dumps({"argv": argv, "env": env, "cwd": cwd}) + "\n")
    _spawner.stdin.flush()
    wall, rss, code, out, cpu = json.loads(_spawner.stdout.readline())
    _CPU[0] = cpu
    return wall, rss, code, out.encode("latin-1")


def summarize(walls: list[float], rss: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(statistics.median(walls), 1),
        "p90_ms": round(pct(walls, 0.9), 1),
        "min_ms": round(min(walls), 1),
        "max_ms": round(max(walls), 1),
        "rss_mib": round(statistics.median(rss), 1),
        "rss_max_mib": round(max(rss), 1),
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
    calc = make_trace(
        BASH_GOAL,
        [
            ToolCall(
                "Write",
                {"file_path": "{{cwd}}/calc.py", "content": "print(6 * 7)\n"},
                {"is_error": False, "summary": "created", "files_created": ["calc.py"]},
            ),
            ToolCall("Bash", {"command": "python3 calc.py"}, {"is_error": False, "summary": "42"}),
        ],
        slots=extract_slots(BASH_GOAL),
    )
    (folder / f"{calc.id}.md").write_text(dump_trace(calc), encoding="utf-8")
    # As if this workspace had recorded them itself (own content is replayed without asking).
    from llmos_tui.learning.trust import TrustStore
    from llmos_tui.workspace import Workspace

    TrustStore(Workspace(ws)).record_own_many(written + [hit, calc])
    return ws


def run_follower(
    ws: Path,
    base: Path,
    env: dict[str, str],
    n: int,
    launcher: list[str] | None = None,
    goal: str = GOAL,
) -> tuple[float, float, dict]:
    cwd = base / f"cwd-{len(list(base.glob('cwd-*')))}-{n}"
    cwd.mkdir()
    argv = (launcher or [LLMOS]) + [
        "--headless",
        "run",
        goal,
        "--json",
        "--workspace",
        str(ws),
        "--cwd",
        str(cwd),
    ]
    wall, rss, code, out = spawn(argv, env)
    result = json.loads(out or b"{}")
    made = cwd / ("hello.txt" if goal == GOAL else "calc.py")
    if code != 0 or result.get("mode") != "FOLLOWER" or not made.exists():
        raise SystemExit(f"the FOLLOWER run did not replay: exit {code}, {out[:400]!r}")
    if goal == BASH_GOAL and "42" not in str(result.get("output")):
        raise SystemExit(f"the Bash step did not run: {out[:400]!r}")
    return wall, rss, result


def installs(base: Path, env: dict[str, str]) -> dict[str, tuple[list[str], dict[str, str]]]:
    """How to start each install of the same sources: argv prefix and environment."""
    launch = base / "launch"
    launch.mkdir()
    script = launch / "llmos"  # what pip's console script does
    script.write_text("import sys\nfrom llmos_tui.__main__ import main\nsys.exit(main())\n")
    out = {"make install": ([LLMOS], env)}
    src = Path(__import__("llmos_tui").__file__).parent
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name, compiled in (("pip install .", True), ("editable, no bytecode", False)):
        root = base / ("site-" + name.split()[0].strip(","))
        shutil.copytree(src, root / "llmos_tui", ignore=ignore)
        e = dict(env, PYTHONPATH=str(root))
        if compiled:
            subprocess.run(
                [sys.executable, "-m", "compileall", "-q", str(root)],
                check=True,
                capture_output=True,
            )
            e.pop("PYTHONDONTWRITEBYTECODE", None)
        else:
            e["PYTHONDONTWRITEBYTECODE"] = "1"
        out[name] = ([sys.executable, str(script)], e)
    return out


class Claude:
    """`claude -p "hi"` against the scripted server on loopback (one model call per run)."""

    def __init__(self, base: Path, runs: int) -> None:
        from llmos_tui.devtools.scripted_server import ScriptedServer, text_turn

        self.binary = claude_binary()
        self.base = base
        self.server = ScriptedServer()
        self.server.add_turns([lambda body: text_turn("hi")] * (runs + 5))
        self.server.start()
        self.n = 0

    def run(self) -> tuple[float, float]:
        home = self.base / f"claude-home-{self.n}"
        self.n += 1
        home.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "CLAUDE_"))}
        env.update(self.server.env(), HOME=str(home), CLAUDE_CONFIG_DIR=str(home / ".claude"))
        wall, r, code, out = spawn([str(self.binary), "-p", "hi"], env, cwd=str(home))
        if code != 0 or b"hi" not in out:
            raise SystemExit(f"claude -p failed: exit {code}, {out[:300]!r}")
        return wall, r

    def stop(self) -> None:
        self.server.stop()


def measure(args: argparse.Namespace, base: Path, env: dict[str, str]) -> dict:
    """Every series, runs interleaved: floor, each install x each goal, claude -p."""
    ws = make_workspace(base, args.traces, env)
    variants = installs(base, env)
    spaces = {name: ws for name in variants}
    if (
        args.baseline
    ):  # other sources (e.g. the previous commit), compiled, with their own workspace
        root = base / "site-baseline"
        src = Path(args.baseline) / "llmos_tui"
        shutil.copytree(src, root / "llmos_tui", ignore=shutil.ignore_patterns("__pycache__"))
        subprocess.run(
            [sys.executable, "-m", "compileall", "-q", str(root)], check=True, capture_output=True
        )
        benv = dict(env, PYTHONPATH=str(root))
        variants["baseline, pip install ."] = (variants["pip install ."][0], benv)
        spaces["baseline, pip install ."] = base / "ws-baseline"
        shutil.copytree(ws, spaces["baseline, pip install ."], symlinks=True)
    for name, (launcher, venv) in variants.items():  # warm-up: index, caches, probe, page cache
        for goal in (GOAL, BASH_GOAL):
            run_follower(spaces[name], base, venv, -1, launcher, goal)
    os.sync()
    claude = Claude(base, args.runs) if args.claude and claude_binary() else None
    series: dict[str, tuple[list[float], list[float]]] = {}
    failures: dict[str, list[str]] = {}

    cpus: dict[str, list[float]] = {}

    def add(name: str, wall: float, rss: float) -> None:
        walls, rsss = series.setdefault(name, ([], []))
        walls.append(wall)
        rsss.append(rss)
        cpus.setdefault(name, []).append(_CPU[0])

    try:
        if claude:
            claude.run()  # warm-up (page cache)
        for n in range(args.runs):
            add("python -c pass", *spawn([sys.executable, "-c", "pass"], env)[:2])
            for name, (launcher, venv) in variants.items():
                for label, goal in (("one Write", GOAL), ("Write + one Bash step", BASH_GOAL)):
                    if (
                        name not in ("make install", "baseline, pip install .")
                        and goal != GOAL
                        and not args.all_installs
                    ):
                        continue
                    series_name = f"FOLLOWER hit, {label} ({name})"
                    try:
                        wall, rss, _ = run_follower(spaces[name], base, venv, n, launcher, goal)
                    except SystemExit as exc:  # a failed replay is reported, not timed
                        failures.setdefault(series_name, []).append(str(exc)[:300])
                        continue
                    add(series_name, wall, rss)
            if claude:
                add('claude -p "hi"', *claude.run())
    finally:
        if claude:
            claude.stop()
    out: dict = {name: summarize(w, r) for name, (w, r) in series.items()}
    for name, values in cpus.items():
        out[name]["cpu_ms"] = round(statistics.median(values), 1)
    for name, why in failures.items():
        out.setdefault(name, {})["failed"] = why
    out["workspace"] = str(ws)
    return out


def targets(result: dict) -> list[tuple[str, float, str, bool | None]]:
    """(row, measured, target, met) of issue 19."""
    claude = result.get('claude -p "hi"')
    rows = []
    checks = [
        ("FOLLOWER hit, one Write (make install)", TARGET_WRITE),
        ("FOLLOWER hit, one Write (pip install .)", TARGET_WRITE),
        ("FOLLOWER hit, Write + one Bash step (make install)", TARGET_BASH),
        ("FOLLOWER hit, Write + one Bash step (pip install .)", TARGET_BASH),
        ("FOLLOWER hit, one Write (editable, no bytecode)", TARGET_NO_BYTECODE),
    ]
    for name, limit in checks:
        if "p50_ms" not in result.get(name, {}) or not claude:
            continue
        ratio = result[name]["p50_ms"] / claude["p50_ms"]
        rows.append((f"{name} / claude -p", round(ratio, 3), f"<= {limit}", ratio <= limit))
    for install in ("make install", "pip install .", "editable, no bytecode"):
        peaks = [
            v["rss_max_mib"]
            for k, v in result.items()
            if k.startswith("FOLLOWER") and k.endswith(f"({install})") and "rss_max_mib" in v
        ]
        if peaks:
            # without bytecode every start compiles our modules: more memory, no target (make
            # install is the path that avoids it)
            bytecode = install != "editable, no bytecode"
            rows.append(
                (
                    f"FOLLOWER hit, peak RSS MiB ({install})",
                    max(peaks),
                    f"<= {TARGET_RSS_MIB:.0f}" if bytecode else "-",
                    max(peaks) <= TARGET_RSS_MIB if bytecode else None,
                )
            )
    return rows


PHASES = r"""
import json, sys, time
t0 = time.perf_counter()
import llmos_tui.headless, llmos_tui.headless_render  # what `llmos --headless run` imports first
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
print(json.dumps({"import the headless entry point": ms(t0, t1), "import the kernel": ms(t1, t2), "boot (config, workspace)": ms(t2, t3),
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
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--traces", type=int, default=1000)
    parser.add_argument("--no-claude", dest="claude", action="store_false")
    parser.add_argument(
        "--all-installs", action="store_true", help="the Bash goal for every install, too"
    )
    parser.add_argument(
        "--baseline",
        metavar="SRC",
        help="also measure the llmos_tui of another source tree (e.g. a checkout of the previous "
        "commit) in the same loop, compiled, on its own copy of the workspace",
    )
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
        XDG_CACHE_HOME=str(base / "home" / "cache"),
        # Measure FOLLOWER itself: after 5 uses the trace would be crystallized (CRYSTALLIZED mode).
        LLMOS_LEARNING__AUTO_CRYSTALLIZATION="false",
    )
    try:
        result = measure(args, base, env)
        result["traces"] = args.traces
        rows = targets(result)
        if args.profile:
            result["profile"] = profile(Path(result["workspace"]), base, env)
        result.pop("workspace")
    finally:
        shutil.rmtree(base, ignore_errors=True)
    for name, row in result.items():
        for why in row.get("failed", []) if isinstance(row, dict) else []:
            print(f"{name}: {why}", file=sys.stderr)
    if args.json:
        result["targets"] = [
            {"row": r, "measured": m, "target": t, "met": ok} for r, m, t, ok in rows
        ]
        print(json.dumps(result, indent=2))
        return
    print(
        f"| command ({args.traces} traces in the workspace, {args.runs} runs interleaved) "
        "| p50 ms | p90 ms | min ms | peak RSS MiB | x claude -p | CPU ms (user+sys, median) |"
    )
    print("|---|---|---|---|---|---|---|")
    claude = result.get('claude -p "hi"')
    for name, row in result.items():
        if isinstance(row, dict) and row.get("failed"):
            print(f"| {name}: **{len(row['failed'])} run(s) did not replay** | | | | | | |")
        if not isinstance(row, dict) or "p50_ms" not in row:
            continue
        ratio = f"{row['p50_ms'] / claude['p50_ms']:.2f}" if claude else "-"
        print(
            f"| {name} | {row['p50_ms']} | {row['p90_ms']} | {row['min_ms']} | {row['rss_max_mib']} "
            f"| {ratio} | {row.get('cpu_ms', '-')} |"
        )
    print()
    from run_all import summary_row

    for name, measured, target, ok in rows:
        summary_row(f"cold replay: {name}", measured, target, ok)
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
