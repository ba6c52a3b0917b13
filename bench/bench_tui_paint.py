"""Time from process start to the TUI's first paint, to "ready" (the kernel booted) and to the
trace browser holding every trace.

Each sample is a fresh Python process that does what ``llmos`` does (imports the CLI package, then
the TUI) and runs the app headless at 120x40. The parent stamps ``time.monotonic()`` (system-wide
on Linux) just before spawning; the child prints the same clock when its first screen refresh has
been composed and painted (``call_after_refresh`` from the screen's mount), when the boot worker
has finished, and when the trace rows have reached the trace browser (read in a worker from the
index). Headless means the frame is rendered but not written to a terminal.

    .venv/bin/python bench/bench_tui_paint.py [--runs 5] [--traces N]

``--traces N`` fills the workspace with N trace files first and builds the index from them
(``TraceIndex.rebuild()``), as a workspace that has been used looks (issue 9 asks for first
paint <= 1 s with 10k traces). Each run gets its own copy of that workspace.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, os, sys, time
from pathlib import Path
import llmos_tui.cli  # what `llmos` imports before it opens the TUI
import llmos_tui.tui.app
from llmos_tui.tui.app import LLMOSApp
from textual.worker import WorkerState

marks = {}

class BenchApp(LLMOSApp):
    CSS_PATH = str(Path(llmos_tui.tui.app.__file__).with_name("app.tcss"))

    # Textual runs the handlers of every class in the MRO (this one first): no super() calls.
    def on_mount(self) -> None:
        self.call_after_refresh(self._painted)  # queued before the app's own after-refresh work

    def _painted(self) -> None:
        marks.setdefault("paint", time.monotonic())
        self._maybe_done()

    def on_worker_state_changed(self, event) -> None:
        if event.worker.group == "boot" and event.state == WorkerState.SUCCESS:
            marks.setdefault("ready", time.monotonic())
        if event.worker.group == "traces" and event.state == WorkerState.SUCCESS:
            marks.setdefault("traces", time.monotonic())
            marks["rows"] = len(event.worker.result[1])
        self._maybe_done()

    def _maybe_done(self) -> None:
        if "paint" in marks and "ready" in marks and "traces" in marks:
            self.exit()

app = BenchApp(sys.argv[1], cwd=sys.argv[2], background=False)
app.run(headless=True, size=(120, 40))
print(json.dumps(marks))
"""


def make_workspace(ws: Path, count: int) -> None:
    """A workspace whose user volume holds ``count`` trace files, indexed."""
    from llmos_tui.learning import traces as tr
    from llmos_tui.learning.index import TraceIndex
    from llmos_tui.learning.trust import init_workspace_trust
    from llmos_tui.workspace import open_workspace

    workspace = open_workspace(ws, on_create=init_workspace_trust)
    folder = ws / "volumes" / "users" / "local" / "traces"
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        goal = f"Create file number {i} with the {('weekly', 'daily', 'monthly')[i % 3]} report"
        day, uses = 1 + i % 28, 1 + i % 9
        (folder / f"t_bench{i:07d}.md").write_text(
            f"---\nid: t_bench{i:07d}\ngoal: {goal}\nsignature: '{tr.goal_signature(goal)}'\n"
            f"created_at: 2026-11-{day:02d}T10:00:00Z\nlast_used: 2026-11-{day:02d}T12:00:00Z\nmode: LEARNER\n"
            f"usage_count: {uses}\nsuccess_count: {uses}\nfailure_count: 0\ncost_usd: 0.0{uses}\n"
            "tokens: {input: 0, output: 0}\ntools_used: [Write]\nslots: {}\nagent: null\nmodel: null\n"
            "crystallized_tool: null\nemotion: {}\nproject: null\nparent_trace: null\noutcome: success\n"
            f"error: null\n---\n# {goal}\n## Summary\n\n## Tool calls\n```json\n"
            f'[{{"name": "Write", "input": {{"file_path": "{{{{cwd}}}}/f{i}.txt", "content": "x"}}, '
            '"result": {"is_error": false, "summary": "created"}}]\n```\n'
        )
    if count:
        TraceIndex(workspace).rebuild()


def sample(python: str, root: Path, template: Path) -> dict[str, float]:
    import shutil

    ws, work = (
        Path(tempfile.mkdtemp(prefix="ws-", dir=root)),
        Path(tempfile.mkdtemp(prefix="work-", dir=root)),
    )
    shutil.rmtree(ws)
    shutil.copytree(template, ws)
    env = {**os.environ, "LLMOS_PRESET": "testing"}
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"):
        env.pop(name, None)
    child = (
        root / "bench_tui_child.py"
    )  # a file, not -c: Textual finds app.tcss from the class's file
    if not child.exists():
        child.write_text(CHILD)
    start = time.monotonic()
    proc = subprocess.run(
        [python, str(child), str(ws), str(work)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    end = time.monotonic()
    if proc.returncode != 0:
        raise SystemExit(f"child failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    marks = json.loads(proc.stdout.strip().splitlines()[-1])
    return {
        "paint_ms": (marks["paint"] - start) * 1000,
        "ready_ms": (marks["ready"] - start) * 1000,
        "traces_ms": (marks["traces"] - start) * 1000,
        "rows": marks["rows"],
        "exit_ms": (end - start) * 1000,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--traces", type=int, default=0, help="trace files to put in the workspace first"
    )
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON")
    args = parser.parse_args()
    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="llmos-bench-tui-") as tmp:
        template = Path(tmp) / "template"
        os.environ.setdefault("LLMOS_PRESET", "testing")
        make_workspace(template, args.traces)
        sample(python, Path(tmp), template)  # warm the OS file cache; not counted
        runs = [sample(python, Path(tmp), template) for _ in range(max(1, args.runs))]
    medians = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
    if args.json:
        print(
            json.dumps(
                {"runs": args.runs, "traces": args.traces, "median": medians, "samples": runs}
            )
        )
    else:
        print(
            f"TUI first paint (process start -> first frame, headless 120x40, {args.traces} traces): "
            f"median {medians['paint_ms']:.0f} ms over {len(runs)} runs"
        )
        print(f"TUI ready (kernel booted):                median {medians['ready_ms']:.0f} ms")
        print(
            f"trace browser filled ({int(medians['rows'])} rows):     median {medians['traces_ms']:.0f} ms"
        )
        print("samples (paint ms): " + ", ".join(f"{r['paint_ms']:.0f}" for r in runs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
