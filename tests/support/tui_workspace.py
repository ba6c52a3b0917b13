"""The workspace the TUI tests browse, built through the engine's own APIs (trace store,
crystallizer, promoter, observability hub), with fixed ids and timestamps where they are shown,
so snapshots do not depend on the clock."""

from __future__ import annotations

from pathlib import Path

from llmos_tui.kernel import LLMOS
from llmos_tui.learning import traces as tr
from llmos_tui.observability.events import Event, EventType

GOALS = [
    ("t_000000000001", "Create a Python calculator in calc.py", "LEARNER", 7, 7, 0.0412, "calc.py"),
    (
        "t_000000000002",
        "Write a haiku about the sea into sea.txt",
        "LEARNER",
        3,
        2,
        0.0205,
        "sea.txt",
    ),
    (
        "t_000000000003",
        "Make a README.md with a [bold]title[/bold]",
        "MIXED",
        1,
        1,
        0.0101,
        "README.md",
    ),
    (
        "t_000000000004",
        "Create notes.txt listing the week's tasks",
        "LEARNER",
        12,
        12,
        0.0330,
        "notes.txt",
    ),
    ("t_000000000005", "Write hello.py that prints hello", "LEARNER", 5, 5, 0.0150, "hello.py"),
    ("t_000000000006", "Create a failing script broken.sh", "LEARNER", 2, 0, 0.0090, "broken.sh"),
]
TOOL_TRACE = "t_000000000005"
PROPOSAL_ID = "e_00000000000000a1"
ALERT_ID = "e_00000000000000a2"


def _trace(
    ident: str, goal: str, mode: str, uses: int, ok: int, cost: float, file: str, day: int
) -> tr.Trace:
    stamp = f"2026-11-{day:02d}T10:{day:02d}:00Z"
    call = tr.ToolCall(
        name="Write",
        input={"file_path": f"{{{{cwd}}}}/{file}", "content": f"# {goal}\n"},
        result={"is_error": False, "summary": f"created {file}", "files_created": [file]},
        tool_use_id=f"toolu_{ident[-4:]}",
    )
    return tr.Trace(
        id=ident,
        goal=goal,
        signature=tr.goal_signature(goal),
        created_at=stamp,
        last_used=stamp,
        mode=mode,
        usage_count=uses,
        success_count=ok,
        failure_count=uses - ok,
        cost_usd=cost,
        tokens={"input": 1200, "output": 300},
        tools_used=["Write"],
        slots={"file": file},
        agent="system-agent",
        model="claude-sonnet-4-5",
        outcome="success" if ok else "failure",
        error=None if ok else "the script exited with status 1",
        summary=f"Wrote {file}.",
        calls=[call],
    )


def build_workspace(root: Path, *, proposals: bool = True, quiet: bool = True) -> Path:
    """A workspace with six traces, a crystallized tool promoted to the team, a pending proposal
    and an alert (fixed ids and times). Returns the workspace folder."""
    ws = root / "ws"
    kernel = LLMOS.boot(ws)
    for day, (ident, goal, mode, uses, ok, cost, file) in enumerate(GOALS, start=10):
        kernel.store.save(
            _trace(ident, goal, mode, uses, ok, cost, file, day), volume=kernel.config.user_volume()
        )
    tool = kernel.crystallizer().crystallize(kernel.store.get(TOOL_TRACE))
    assert tool.active, tool.manifest
    from llmos_tui.observability.hub import ObservabilityHub
    from llmos_tui.volumes.promotion import Promoter

    hub = ObservabilityHub(kernel.workspace, config=kernel.config)
    Promoter(kernel.workspace, config=kernel.config, events=hub).promote(
        "tools",
        tool.id,
        from_scope=kernel.config.user_volume(),
        to_scope=f"teams/{kernel.config.team}",
        reason="fixture",
    )
    if quiet:
        hub.acknowledge_all()
    if proposals:
        content = "# Weekly review\n\nRun the calculator tests every Monday.\n"
        hub.event_log.append(
            Event(
                type=EventType.PROPOSAL_CREATED,
                id=PROPOSAL_ID,
                ts="2026-11-20T09:00:00.000000Z",
                notify_user=True,
                source="user_cron:local",
                title="New suggestion: weekly-review",
                data={
                    "kind": "artifact.write",
                    "summary": "A suggestion drawn from your repeated goals.",
                    "preview": "--- /dev/null\n+++ suggestions/weekly-review.md\n@@ -0,0 +1,3 @@\n"
                    "+# Weekly review\n+\n+Run the calculator tests every Monday.\n",
                    "volume": "users/local",
                    "payload": {
                        "scope": "users/local",
                        "kind": "suggestions",
                        "name": "weekly-review",
                        "content": content,
                        "identity": {"kind": "user_cron", "user": "local", "team": "default"},
                    },
                },
            )
        )
        hub.event_log.append(
            Event(
                type=EventType.SYSTEM_ALERT,
                id=ALERT_ID,
                ts="2026-11-20T08:00:00.000000Z",
                notify_user=True,
                source="system_cron",
                title="System health: 1 unreadable file",
                data={
                    "message": "volumes/users/local/traces/junk.md cannot be parsed",
                    "severity": "warning",
                },
            )
        )
    return ws
