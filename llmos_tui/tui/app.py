"""The llmos terminal app: the whole OS on one screen, driven by the keyboard.

The app decides nothing about how a goal runs: it boots the kernel off the UI thread and every
read or write of the workspace happens in a named worker; results come back through
``on_worker_state_changed`` (one place for success and failure) and are handed down to the
widgets as attributes.

Layout: a header, the pane tabs, the body (the active pane and, on a wide terminal, a sidebar
with the live gauge and the inbox summary), a status bar (crons, unread count, and the gauge on
one line when the sidebar is hidden) and the footer. Panes: chat, traces, volumes, inbox, state
(F2…F6 by default, or the command palette).

Background work: crons run as workers on timers with the configured intervals (the tick only
starts a worker), the inner monologue runs when the app is idle, and a poller follows the event
log so that notifications written by any process appear as toasts and in the inbox.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, cast

from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.reactive import reactive
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import ContentSwitcher, Footer, Header
from textual.worker import Worker, WorkerState

from ..errors import LLMOSError
from ..exitcodes import ExitCode
from ..workspace import resolve_workspace_dir
from .format import display_path, format_ago, short
from .history import load_history, save_history
from .keymap import (
    ACTIONS,
    BY_ID,
    PANES,
    KeyAction,
    bindings_for,
    display_key,
    keys_for,
    unknown_ids,
)
from .screens.confirm import ConfirmCallScreen, ReplayConfirmScreen
from .widgets.chat import (
    AnswerView,
    CallConfirmed,
    ChatPane,
    CheckIn,
    describe_llm,
    idle_status,
    running_status,
)
from .widgets.gauge import GaugePanel, StatePane, compact_line
from .widgets.sidebar import InboxSummary
from .widgets.statusbar import StatusBar
from .widgets.tabs import PaneTabs

if TYPE_CHECKING:  # the panes and dialogs are imported when first needed, after the first paint
    # and the kernel, the event types and the pane loaders in the boot and loader workers
    from ..kernel import LLMOS
    from ..runs import CancelToken, RunResult
    from . import data
    from .widgets.inbox import InboxPane
    from .widgets.traces import TraceBrowser
    from .widgets.volumes import VolumeExplorer

#: Seconds between two looks at the event log (new notifications, other processes' traces).
POLL_S = 2.0
#: Seconds between two refreshes of the gauge (homeostasis moves it even when nothing happens).
STATE_REFRESH_S = 20.0
#: The inner monologue: checked this often, run after this much idle time, at most this often.
MONOLOGUE_CHECK_S = 30.0
MONOLOGUE_IDLE_S = 20.0
MONOLOGUE_EVERY_S = 300.0
#: Toasts shown for one poll (the inbox holds the rest).
MAX_TOASTS = 3


@dataclass
class ActiveGoal:
    """The goal being run: where its events go and how to stop it."""

    goal: str
    answer: AnswerView
    token: CancelToken
    started: float
    mode: str = "auto"
    worker: Worker[RunResult] | None = None


@dataclass
class Booted:
    kernel: LLMOS
    hub: Any
    history: list[str]
    cursor: Any


@dataclass
class PollResult:
    notifications: list[Any] = field(default_factory=list)
    inbox_changed: bool = False
    traces_changed: bool = False
    state_changed: bool = False
    crons_changed: bool = False


class LLMOSApp(App[None]):
    """``llmos`` with no command."""

    CSS_PATH = "app.tcss"
    TITLE = "llmos"
    BINDINGS = bindings_for("app")
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]

    #: A goal is running (drives the footer bindings and the chat pane's state).
    running: reactive[bool] = reactive(False, bindings=True)
    #: The pane on show.
    pane: reactive[str] = reactive("chat", init=False, bindings=True)

    def __init__(
        self,
        workspace_dir: str | os.PathLike[str] | None = None,
        *,
        kernel: LLMOS | None = None,
        cwd: str | os.PathLike[str] | None = None,
        crons: bool | None = None,
        background: bool = True,
    ) -> None:
        """``crons`` overrides ``config.crons.enabled``; ``background=False`` starts no timers at
        all (no polling, no monologue, no crons: what snapshot tests want)."""
        super().__init__()
        self.kernel: LLMOS | None = kernel
        self.hub: Any = None
        self.workspace_dir = (
            kernel.workspace.root if kernel is not None else resolve_workspace_dir(workspace_dir)
        )
        self.cwd = Path(cwd).expanduser().resolve() if cwd is not None else Path.cwd()
        self.active: ActiveGoal | None = None
        self.boot_error: LLMOSError | None = None
        self.crons_override = crons
        self.background = background
        self._kernel_lock = threading.Lock()
        self._tick: Timer | None = None
        self._cursor: Any = None
        self._traces_version = -1
        self._state: data.StateView | None = None
        self._last_mode: str | None = None
        self._last_cost: float | None = None
        self._last_input = time.monotonic()
        self._last_thought = 0.0
        self._state_dirty = True
        self._cron_lines: list[data.CronLine] = []
        self._cron_running: str | None = None
        self._cron_queue: list[str] = []
        self._inbox_items: list[data.InboxItem] | None = None
        self._trace_rows: list[data.TraceRow] | None = None
        self.panes_ready = False
        self._views_pending = False  # booted before the first frame: views load after it
        self._unread = 0
        self._bg_timers: list[Timer] = []
        self._held_toasts: list[Any] = []  # notifications that arrived while crons were running
        #: the chat's conversation (memory/conversation.py): every goal of this chat is one of its
        #: turns and carries the earlier ones; ctrl+l (clear) starts a new one
        self.conversation_id: str | None = None
        self.sub_title = self._header_text()

    # ---- layout ----------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header(icon="◆")
        yield PaneTabs(id="tabs")
        with Horizontal(id="body"):
            with ContentSwitcher(initial="chat", id="panes"):
                yield ChatPane(intro=self._intro(), cwd=self.cwd, id="chat")
                # The other panes are mounted right after the first paint (see _mount_panes).
            with Vertical(id="sidebar"):
                yield GaugePanel(id="gauge")
                yield InboxSummary(key=self._key_label("pane.inbox"), id="sidebar-inbox")
        yield StatusBar(id="status")
        yield Footer()

    def get_default_screen(self) -> Screen:
        """The default screen, holding the width's breakpoint class from the start: the first
        Resize would otherwise add it and restyle every widget once more before the first frame
        (a later resize still sets the class for the new width)."""
        screen = super().get_default_screen()
        width = self.size.width
        for breakpoint, class_name in sorted(self.HORIZONTAL_BREAKPOINTS, reverse=True):
            if width >= breakpoint:
                screen.add_class(class_name)
                break
        return screen

    def _intro(self) -> Content:
        return Content("\n").join(
            [
                Content.assemble(
                    ("llmos", "bold $text-primary"),
                    " runs each goal the cheapest way it knows, and learns from every run.",
                ),
                Content.assemble(
                    "Type a goal below and press enter, e.g. ",
                    ("Create a Python calculator in calc.py", "italic $text-secondary"),
                ),
                Content.assemble(
                    ("F1", "bold"),
                    " help · ",
                    ("F2–F6", "bold"),
                    " panes · ",
                    ("ctrl+p", "bold"),
                    " every command · ",
                    ("ctrl+g", "bold"),
                    " why the last answer ran as it did",
                ),
                describe_llm(os.environ),
            ]
        )

    @property
    def main(self) -> Screen:
        """The screen the panes live on (queries must not go to a modal on top of it)."""
        return self.screen_stack[0] if self.screen_stack else self.screen

    @property
    def chat(self) -> ChatPane:
        return self.main.query_one(ChatPane)

    @property
    def traces(self) -> "TraceBrowser":
        return cast("TraceBrowser", self.main.query_one("#traces"))

    @property
    def volumes(self) -> "VolumeExplorer":
        return cast("VolumeExplorer", self.main.query_one("#volumes"))

    @property
    def inbox(self) -> "InboxPane":
        return cast("InboxPane", self.main.query_one("#inbox"))

    def _key_label(self, binding_id: str) -> str:
        action = BY_ID[binding_id]
        keymap = getattr(self, "_keymap", {}) or {}
        return display_key(keys_for(action, keymap)[0])

    def on_mount(self) -> None:
        self.chat.input.focus()
        self._show_idle()
        self._update_tabs()
        self.main.query_one(StatusBar).crons = Content.styled(
            "crons: starting…", "$foreground-muted"
        )
        # The kernel boots and the other panes mount once the first frame is out: the boot
        # worker's imports and file reads hold the GIL, and would delay that frame for nothing.
        self.call_after_refresh(self._start_boot)
        self.call_after_refresh(self._mount_panes)

    def _start_boot(self) -> None:
        self._boot()

    async def _mount_panes(self) -> None:
        """Mount the panes that are not on show at start, once the first frame is out: styling
        four more panes before it would delay the first paint for nothing."""
        from .widgets.inbox import InboxPane
        from .widgets.traces import TraceBrowser
        from .widgets.volumes import VolumeExplorer

        panes = [
            TraceBrowser(id="traces"),
            VolumeExplorer(id="volumes"),
            InboxPane(id="inbox"),
            StatePane(id="state"),
        ]
        for pane in panes:
            pane.display = False
        await self.main.query_one("#panes", ContentSwitcher).mount_all(panes)
        self.panes_ready = True
        if self._views_pending:
            self._views_pending = False
            self._load_views()
        if self._trace_rows is not None:
            self.traces.rows = self._trace_rows
        if self._inbox_items is not None:
            self.inbox.items = self._inbox_items
        if self._state is not None:
            self.main.query_one(StatePane).view = self._state
        if self.pane != "chat":
            self.watch_pane(self.pane)

    def _header_text(self) -> str:
        """The header's second line: where goals run (and the workspace)."""
        return f"cwd {display_path(self.cwd)} · workspace {display_path(self.workspace_dir)}"

    def set_cwd(self, raw: str) -> str | None:
        """Make ``raw`` the working directory goals run in; returns why not (None when done)."""
        problem, where = cwd_problem(raw, self.workspace_dir)
        if problem:
            return problem
        if self.active is not None:
            return "a goal is running: change the working directory when it is done"
        self.cwd = where
        chat = self.chat
        chat.cwd = where
        self.sub_title = self._header_text()
        self._show_idle()
        return None

    def action_change_cwd(self) -> None:
        from .screens.dialogs import CwdScreen

        def chosen(value: str | None) -> None:
            if not value:
                return
            problem = self.set_cwd(value)
            if problem:
                self.notify(problem, title="Working directory", severity="error")
            else:
                self.notify(
                    f"Goals now run in {display_path(self.cwd)}.", title="Working directory"
                )

        self.push_screen(CwdScreen(str(self.cwd)), callback=chosen)

    def action_undo_last_run(self) -> None:
        if self.kernel is None:
            self.notify("The workspace is still opening.", severity="warning")
            return
        if self.active is not None:
            self.notify(
                "A goal is running: undo when it is done.", title="Undo", severity="warning"
            )
            return
        self._undo(self.cwd)

    @work(thread=True, exclusive=True, exit_on_error=False, group="undo", name="undo the last run")
    def _undo(self, cwd: Path) -> None:
        from ..observability.events import EventType

        kernel = self._ensure_kernel()
        report = kernel.undo_store().undo(cwd)
        kernel.events.record(
            EventType.UNDO,
            cwd=str(cwd),
            run_id=report.run_id,
            ok=report.ok,
            restored=report.restored,
            deleted=report.deleted,
            changed_since=report.changed_since,
            source="tui",
        )
        if report.ok:
            done = [f"restored {r}" for r in report.restored] + [
                f"deleted {r}" for r in report.deleted
            ]
            text = (
                f"Undid {short(report.goal, 60)!r}: "
                + (", ".join(done) or "nothing left to restore")
                + "."
            )
            self.call_from_thread(self.notify, short(text, 400), title="Undo")
        else:
            self.call_from_thread(
                self.notify,
                short(report.error or "undo failed", 400),
                title="Undo",
                severity="error",
                timeout=10,
            )

    def _show_idle(self) -> None:
        self.chat.status = idle_status(display_path(self.cwd), ready=self.kernel is not None)

    # ---- panes -----------------------------------------------------------------------
    def action_show_pane(self, pane: str) -> None:
        if pane in PANES and self.screen is self.main:  # not behind a dialog
            self.pane = pane

    def watch_pane(self, pane: str) -> None:
        self._update_tabs()
        if not self.panes_ready:
            return  # shown once mounted
        self.main.query_one("#panes", ContentSwitcher).current = pane
        # The trace table wants the whole width: the gauge moves to the status bar meanwhile.
        self.main.set_class(pane == "traces", "-pane-traces")
        self.main.set_class(pane == "inbox", "-pane-inbox")
        focus = {
            "chat": "#goal-input",
            "traces": "#trace-table",
            "volumes": "#volume-tree",
            "inbox": "#inbox-list",
            "state": "#state",
        }[pane]
        self.main.query_one(focus).focus()
        if pane == "volumes" and not self.volumes.loaded and self.kernel is not None:
            self._load_volumes()
        if pane == "state" and self.kernel is not None:
            self._load_state()

    @on(PaneTabs.Clicked)
    def _tab_clicked(self, event: PaneTabs.Clicked) -> None:
        self.pane = event.pane

    def _update_tabs(self) -> None:
        tabs = self.main.query_one(PaneTabs)
        keymap = getattr(self, "_keymap", {}) or {}
        tabs.keys = {p: display_key(keys_for(BY_ID[f"pane.{p}"], keymap)[0]) for p in PANES}
        counts: dict[str, Content] = {}
        rows = self._trace_rows
        if rows is not None:
            counts["traces"] = Content.styled(f"{len(rows):,}", "$foreground-muted")
        if self._unread:
            counts["inbox"] = Content.styled(f" {self._unread} ", "bold $text-warning reverse")
        if self._state is not None:
            counts["state"] = Content.styled(self._state.latent_mode, "$foreground-muted")
        if self.active is not None:
            counts["chat"] = Content.styled("●", "$text-accent")
        tabs.counts = counts
        tabs.active = self.pane

    # ---- kernel ----------------------------------------------------------------------
    def _ensure_kernel(self) -> LLMOS:
        """Boot the kernel once (called from worker threads only: boot does file I/O)."""
        from ..kernel import LLMOS

        with self._kernel_lock:
            if self.kernel is None:
                self.kernel = LLMOS.boot(self.workspace_dir)
            return self.kernel

    def _load_views(self) -> None:
        self._load_state()
        self._load_inbox()
        self._load_traces()

    def _booted(self, kernel: LLMOS) -> Booted:
        from ..observability.hub import ObservabilityHub
        from ..volumes.appliers import register_appliers

        hub = ObservabilityHub(kernel.workspace, config=kernel.config)
        register_appliers(hub)  # artifact.* proposals that name no module of their own
        return Booted(kernel, hub, load_history(kernel.workspace.state_dir), hub.cursor())

    @work(thread=True, exclusive=True, exit_on_error=False, group="boot", name="boot")
    def _boot(self) -> Booted:
        return self._booted(self._ensure_kernel())

    def _boot_failed(self, error: BaseException | None) -> None:
        if isinstance(error, LLMOSError):
            message, code = error.message, int(error.exit_code)
            self.boot_error = error
        else:
            message, code = (
                f"could not open the workspace {self.workspace_dir}: {error}",
                int(ExitCode.USAGE),
            )
        self.exit(return_code=code, message=Text(f"llmos: error: {message}"))

    def _on_booted(self, booted: Booted) -> None:
        self.kernel, self.hub, self._cursor = booted.kernel, booted.hub, booted.cursor
        config = booted.kernel.config
        keymap = dict(config.keymap or {})
        if keymap:
            self.set_keymap(keymap)
            bad = unknown_ids(keymap)
            if bad:
                self.notify(
                    f"config.yaml keymap: no binding named {', '.join(bad)} (F1 lists the ids)",
                    title="Keymap",
                    severity="warning",
                    timeout=10,
                )
        self.main.query_one(InboxSummary).key = self._key_label("pane.inbox")
        GaugePanel.reset_key = self._key_label("state.reset")
        self._update_tabs()
        self.chat.history.entries[:0] = [
            g for g in booted.history if g not in self.chat.history.entries
        ]
        if self.active is None:
            self._show_idle()
        # The state, inbox and trace rows are read in worker threads that hold the GIL while they
        # parse (a third of a second at 10k traces): they start once the first frame is out.
        if self.panes_ready:
            self._load_views()
        else:
            self._views_pending = True
        self._update_crons_status()
        if self.pane == "volumes":
            self._load_volumes()
        if not self.background:
            return
        self._bg_timers.append(self.set_interval(POLL_S, self._poll_tick, name="poll"))
        self._bg_timers.append(self.set_interval(STATE_REFRESH_S, self._state_tick, name="state"))
        self._bg_timers.append(
            self.set_interval(MONOLOGUE_CHECK_S, self._monologue_tick, name="monologue")
        )
        self.set_timer(3.0, self._monologue_tick)
        if self.crons_enabled:
            crons = config.crons
            for level, minutes in (
                ("user", crons.user_interval_minutes),
                ("team", crons.team_interval_minutes),
                ("system", crons.system_interval_minutes),
            ):
                self._bg_timers.append(
                    self.set_interval(
                        minutes * 60.0, lambda lvl=level: self._cron_tick(lvl), name=f"cron-{level}"
                    )
                )
            self.set_timer(5.0, self._crons_due_tick)

    @property
    def crons_enabled(self) -> bool:
        if self.crons_override is not None:
            return self.crons_override
        return bool(self.kernel is not None and self.kernel.config.crons.enabled)

    # ---- worker results: one place ---------------------------------------------------
    async def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if not self.screen_stack or not self.is_running:
            # the app is closing (shutdown clears is_running first, then prunes the widgets): a
            # result that arrives now, e.g. the boot of an app quit before it booted, has
            # nothing left to show on
            return
        if worker.group == "goal":
            self._goal_worker_changed(event)
            return
        if event.state == WorkerState.SUCCESS:
            handler = self._on_success.get(worker.group)
            if handler is not None:
                outcome = handler(self, worker.result)
                if asyncio.iscoroutine(outcome):
                    await outcome
        elif event.state == WorkerState.ERROR:
            self._worker_failed(worker)

    def _worker_failed(self, worker: Worker[Any]) -> None:
        error = worker.error
        text = (
            error.message if isinstance(error, LLMOSError) else f"{type(error).__name__}: {error}"
        )
        if worker.group == "boot":
            self._boot_failed(error)
        elif worker.group == "crons":
            self._cron_running = None
            self._record_alert("Cron cycle crashed", text)
            self._next_cron()
        elif worker.group in ("poll", "state", "monologue", "history", "crons-status", "crons-due"):
            pass  # background refreshes: the next tick tries again
        elif worker.group == "inbox-op":
            self.notify(short(text, 300), title="Inbox", severity="error", timeout=8)
            self._load_inbox()  # a failed accept is recorded in the inbox
        else:
            self.notify(
                short(text, 300), title=worker.name or worker.group, severity="error", timeout=8
            )

    # ---- internal state (gauge) ----------------------------------------------------------
    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="state",
        name="read the internal state",
    )
    def _load_state(self) -> data.StateView:
        from . import data
        from ..observability.events import EventType

        kernel = self._ensure_kernel()
        if self._last_mode is None and self.hub is not None:
            finished = self.hub.get_events([EventType.GOAL_FINISHED], limit=1)
            if finished:
                self._last_mode = str(finished[-1].data.get("mode") or "") or None
                cost = finished[-1].data.get("cost_usd")
                self._last_cost = float(cost) if isinstance(cost, (int, float)) else None
        return data.load_state_view(
            kernel, last_mode=self._last_mode, last_cost_usd=self._last_cost
        )

    def _state_loaded(self, view: data.StateView) -> None:
        view = view.with_deltas(self._state)
        if self._state is not None and not view.deltas and self._state.deltas:
            # Keep showing the last movement until something else moves.
            import dataclasses

            view = dataclasses.replace(view, deltas=self._state.deltas)
        self._state = view
        self._state_dirty = False
        self.main.query_one(GaugePanel).view = view
        if self.panes_ready:
            self.main.query_one(StatePane).view = view
        self.main.query_one(StatusBar).gauge = compact_line(view)
        self._update_tabs()

    def _state_tick(self) -> None:
        self._load_state()
        self._update_crons_status()

    # ---- inner monologue (idle worker) ---------------------------------------------------
    def _monologue_tick(self) -> None:
        if self.kernel is None or self.active is not None:
            return
        now = time.monotonic()
        idle = now - self._last_input >= MONOLOGUE_IDLE_S or self._last_thought == 0.0
        due = (
            self._state_dirty
            or now - self._last_thought >= MONOLOGUE_EVERY_S
            or self._last_thought == 0.0
        )
        if idle and due and not self._running_in("monologue"):
            self._think()

    @work(
        thread=True, exclusive=True, exit_on_error=False, group="monologue", name="inner monologue"
    )
    def _think(self) -> data.StateView:
        from . import data

        kernel = self._ensure_kernel()
        kernel.sentience.monologue_tick(data.recent_traces(kernel))
        return data.load_state_view(
            kernel, last_mode=self._last_mode, last_cost_usd=self._last_cost
        )

    def _thought(self, view: data.StateView) -> None:
        self._last_thought = time.monotonic()
        self._state_loaded(view)

    def _running_in(self, group: str) -> bool:
        return any(
            w.group == group and w.state in (WorkerState.PENDING, WorkerState.RUNNING)
            for w in self.workers
        )

    # ---- traces --------------------------------------------------------------------------
    @work(thread=True, exclusive=True, exit_on_error=False, group="traces", name="read the traces")
    def _load_traces(self) -> tuple[int, list[data.TraceRow]]:
        from . import data

        kernel = self._ensure_kernel()
        version = kernel.store.index.version
        return version, data.load_trace_rows(kernel)

    def _traces_loaded(self, result: tuple[int, list[data.TraceRow]]) -> None:
        changed = result[0] != self._traces_version
        self._traces_version, rows = result
        self._trace_rows = rows
        if self.panes_ready:
            self.traces.rows = rows
            if (
                changed
            ):  # what is on show follows the data (no ctrl+e needed): the preview and the volumes
                if self.traces.preview_id is not None and self.kernel is not None:
                    self._load_trace_preview(self.traces.preview_id)
                if self.volumes.loaded and self.kernel is not None:
                    self._load_volumes()
        self._update_tabs()

    # Pane messages are handled by name (on_<pane>_<message>), so their modules load lazily.
    def on_trace_browser_selected(self, event: "TraceBrowser.Selected") -> None:
        if event.trace_id is not None and self.kernel is not None:
            self._load_trace_preview(event.trace_id)

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="trace-preview",
        name="read the trace",
    )
    def _load_trace_preview(self, trace_id: str) -> data.TracePreview | tuple[str, str]:
        from . import data

        try:
            return data.load_trace_preview(self._ensure_kernel(), trace_id)
        except LLMOSError as exc:
            return trace_id, exc.message

    async def _trace_preview_loaded(self, preview: data.TracePreview | tuple[str, str]) -> None:
        if isinstance(preview, tuple):
            self.traces.show_preview_error(*preview)
        else:
            await self.traces.show_preview(preview)

    async def on_trace_browser_requested(self, event: "TraceBrowser.Requested") -> None:
        row = event.row
        if event.action == "refresh":
            self._load_traces()
        elif row is None:
            return
        elif event.action == "replay":
            self.pane = "chat"
            await self.start_goal(row.goal, mode="follower", label=f"↻ replay of {row.id}")
        elif event.action == "delete":
            body = Content.assemble(
                ("goal  ", "$foreground-muted"),
                (row.goal, "bold"),
                "\n",
                ("id    ", "$foreground-muted"),
                row.id,
                "\n",
                ("uses  ", "$foreground-muted"),
                f"{row.uses} ({row.success_rate:.0%} success)",
                "\n\n",
                (
                    "Its markdown file is removed and it is dropped from the index; llmos "
                    "forgets how to replay this goal.",
                    "$text-warning",
                ),
            )

            def confirmed(yes: bool | None, trace_id: str = row.id) -> None:
                if yes:
                    self._delete_trace(trace_id)

            from .screens.dialogs import TypedConfirmScreen

            self.push_screen(TypedConfirmScreen("Delete this trace?", body), callback=confirmed)
        elif event.action == "show_tool":
            self._load_tool(row.id)

    @work(thread=True, exit_on_error=False, group="trace-delete", name="delete the trace")
    def _delete_trace(self, trace_id: str) -> str:
        self._ensure_kernel().store.delete(trace_id)
        return trace_id

    def _trace_deleted(self, trace_id: str) -> None:
        self.notify(f"Deleted trace {trace_id}.", title="Traces")
        self._load_traces()

    @work(
        thread=True, exclusive=True, exit_on_error=False, group="tool-source", name="read the tool"
    )
    def _load_tool(self, trace_id: str) -> tuple[str, data.ToolSource | None]:
        from . import data

        return trace_id, data.load_tool_source(self._ensure_kernel(), trace_id)

    def _tool_loaded(self, result: tuple[str, data.ToolSource | None]) -> None:
        trace_id, tool = result
        if tool is None:
            self.notify(
                f"Trace {trace_id} has no crystallized tool yet (a trace is crystallized after "
                "successful replays).",
                title="No tool",
                severity="warning",
            )
            return
        from .screens.viewers import ToolSourceScreen

        self.push_screen(ToolSourceScreen(tool))

    # ---- volumes ---------------------------------------------------------------------------
    @work(
        thread=True, exclusive=True, exit_on_error=False, group="volumes", name="read the volumes"
    )
    def _load_volumes(self) -> list[data.VolumeSummary]:
        from . import data

        return data.load_volumes(self._ensure_kernel().workspace)

    def _volumes_loaded(self, volumes: list[data.VolumeSummary]) -> None:
        if not self.panes_ready:
            return  # showing the pane loads them again
        config = self.kernel.config if self.kernel is not None else None
        self.volumes.show_volumes(
            volumes,
            user_volume=f"users/{config.user}" if config else "",
            team_volume=f"teams/{config.team}" if config else "",
        )

    def on_volume_explorer_wanted(self, event: "VolumeExplorer.Wanted") -> None:
        if self.kernel is None:
            return
        if event.what == "volumes":
            self._load_volumes()
        elif event.what == "kind" and event.scope and event.kind:
            self._load_kind(event.scope, event.kind)
        elif event.what == "artifact" and event.scope and event.kind and event.name:
            self._load_artifact(event.scope, event.kind, event.name)

    @work(thread=True, exit_on_error=False, group="volume-kind", name="list the artifacts")
    def _load_kind(self, scope: str, kind: str) -> tuple[str, str, list[str], int]:
        from . import data

        names, total = data.list_volume_artifacts(self._ensure_kernel().workspace, scope, kind)
        return scope, kind, names, total

    def _kind_loaded(self, result: tuple[str, str, list[str], int]) -> None:
        self.volumes.show_artifacts(*result)

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="volume-preview",
        name="read the artifact",
    )
    def _load_artifact(
        self, scope: str, kind: str, name: str
    ) -> data.ArtifactPreview | tuple[str, str, str, str]:
        from . import data

        try:
            return data.load_artifact(self._ensure_kernel().workspace, scope, kind, name)
        except LLMOSError as exc:
            return scope, kind, name, exc.message

    async def _artifact_loaded(
        self, preview: data.ArtifactPreview | tuple[str, str, str, str]
    ) -> None:
        if isinstance(preview, tuple):
            self.volumes.show_preview_error(*preview)
        else:
            await self.volumes.show_preview(preview)

    def on_volume_explorer_promote_requested(
        self, event: "VolumeExplorer.PromoteRequested"
    ) -> None:
        if self.kernel is not None:
            self._plan_promotion(event.scope, event.kind, event.name)

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="promotion-plan",
        name="check the promotion",
    )
    def _plan_promotion(self, scope: str, kind: str, name: str) -> data.PromotionPlan:
        from . import data

        kernel = self._ensure_kernel()
        return data.plan_promotion(kernel.workspace, kernel.config, scope, kind, name)

    def _promotion_planned(self, plan: data.PromotionPlan) -> None:
        def confirmed(yes: bool | None) -> None:
            if yes:
                self._promote(plan)

        from .screens.dialogs import PromoteScreen

        self.push_screen(PromoteScreen(plan), callback=confirmed)

    @work(thread=True, exit_on_error=False, group="promote", name="promote")
    def _promote(self, plan: data.PromotionPlan) -> str:
        from ..volumes.acl import Identity
        from ..volumes.promotion import Promoter

        kernel = self._ensure_kernel()
        result = Promoter(kernel.workspace, config=kernel.config, events=self.hub).promote(
            plan.kind,
            plan.name,
            from_scope=plan.from_scope,
            to_scope=plan.to_scope,
            identity=Identity.by_hand(plan.to_scope, kernel.config.user),
            reason="promoted from the TUI",
            evidence={"criteria": plan.verdict, "why": plan.reason},
        )
        return result.message

    def _promoted(self, message: str) -> None:
        self.notify(message, title="Promoted")
        self._load_volumes()
        self._load_traces()

    # ---- inbox -------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, exit_on_error=False, group="inbox", name="read the inbox")
    def _load_inbox(self) -> tuple[list[data.InboxItem], int]:
        from . import data

        if self.hub is None:
            return [], 0
        include = self.panes_ready and self.inbox.show_history
        items = data.inbox_items(self.hub, include_read=include)
        unread = sum(1 for i in items if i.pending) if not include else data.unread_count(self.hub)
        return items, unread

    def _inbox_loaded(self, result: tuple[list[data.InboxItem], int]) -> None:
        items, self._unread = result
        self._inbox_items = items
        if self.panes_ready:
            self.inbox.items = items
        self.main.query_one(InboxSummary).items = [i for i in items if i.pending]
        self._update_inbox_status()
        self._update_tabs()

    def _update_inbox_status(self) -> None:
        key = self._key_label("pane.inbox")
        if self._unread:
            text = Content.assemble(
                ("✉ ", "$text-warning"),
                (f"{self._unread} unread", "bold $text-warning"),
                (f" ({key})", "$foreground-muted"),
            )
        else:
            text = Content.styled("✉ inbox empty", "$foreground-muted")
        self.main.query_one(StatusBar).inbox = text

    def on_inbox_pane_requested(self, event: "InboxPane.Requested") -> None:
        item = event.item
        if event.action == "reload":
            self._load_inbox()
            return
        if self.hub is None:
            return
        if event.action == "acknowledge_all":
            self._inbox_op("acknowledge_all", None, None)
            return
        if item is None:
            return
        if event.action == "open":

            def chosen(action: str | None, item: data.InboxItem = item) -> None:
                if action:
                    self._inbox_act(action, item)

            from .screens.viewers import NotificationScreen

            self.push_screen(NotificationScreen(item), callback=chosen)
            return
        self._inbox_act(event.action, item)

    def _inbox_act(self, action: str, item: data.InboxItem) -> None:
        if action in ("accept", "reject"):
            if not item.is_proposal:
                self.notify(
                    "Only proposals can be accepted or rejected; space marks this one read.",
                    severity="warning",
                )
                return
            if item.state not in ("pending", "failed"):
                self.notify(f"This proposal was {item.state} already.", severity="warning")
                return
        if action == "reject":

            def rejected(reason: str | None, item_id: str = item.id) -> None:
                if reason is not None:
                    self._inbox_op("reject", item_id, reason or None)

            from .screens.dialogs import ReasonScreen

            self.push_screen(
                ReasonScreen("Reject this proposal?", Content(item.title)), callback=rejected
            )
        elif action in ("accept", "acknowledge"):
            self._inbox_op(action, item.id, None)

    @work(thread=True, exit_on_error=False, group="inbox-op", name="inbox")
    def _inbox_op(self, action: str, item_id: str | None, reason: str | None) -> tuple[str, str]:
        hub = self.hub
        if action == "accept":
            return action, hub.accept(item_id)
        if action == "reject":
            hub.reject(item_id, reason)
            return action, "rejected" + (f": {reason}" if reason else "")
        if action == "acknowledge":
            return action, "marked read" if hub.acknowledge(item_id) else "already read"
        count = hub.acknowledge_all()
        return action, f"{count} notification{'s' if count != 1 else ''} marked read"

    def _inbox_done(self, result: tuple[str, str]) -> None:
        action, message = result
        if action in ("accept", "reject"):
            self.notify(short(message, 300), title="Accepted" if action == "accept" else "Rejected")
        self._load_inbox()
        if action == "accept":
            self._state_dirty = True
            self._load_traces()
            if self.panes_ready and self.volumes.loaded:
                self._load_volumes()

    @work(thread=True, exit_on_error=False, group="alert", name="record an alert")
    def _record_alert(self, title: str, message: str) -> None:
        if self.hub is not None:
            self.hub.record_alert(title, message, severity="error", source="tui")

    # ---- following the event log (toasts are a view of the inbox) --------------------------
    def _poll_tick(self) -> None:
        if self._cron_lines:
            self.main.query_one(StatusBar).crons = self._crons_text()  # "2 min ago" moves on
        if self.hub is not None and not self._running_in("poll"):
            self._poll()

    @work(
        thread=True, exclusive=True, exit_on_error=False, group="poll", name="follow the event log"
    )
    def _poll(self) -> PollResult:
        from ..observability.events import EventType

        events, self._cursor = self.hub.poll_new(self._cursor)
        out = PollResult()
        for ev in events:
            if ev.notify_user:
                out.notifications.append(ev)
                out.inbox_changed = True
            if ev.type in (
                EventType.ACKNOWLEDGED,
                EventType.PROPOSAL_ACCEPTED,
                EventType.PROPOSAL_REJECTED,
                EventType.PROPOSAL_FAILED,
            ):
                out.inbox_changed = True
            if ev.type in (
                EventType.GOAL_FINISHED,
                EventType.SENTIENCE_UPDATED,
                EventType.PROPOSAL_ACCEPTED,
            ):
                out.state_changed = True
            if ev.type.startswith("CRON_"):
                out.crons_changed = True
        kernel = self._ensure_kernel()
        out.traces_changed = kernel.store.index.version != self._traces_version
        return out

    def _polled(self, result: PollResult) -> None:
        self._held_toasts.extend(result.notifications)
        if (
            self._cron_running is None and not self._cron_queue
        ):  # crons' news come as one toast at the end
            held, self._held_toasts = self._held_toasts, []
            self._toast_notifications(held)
        if result.inbox_changed:
            self._load_inbox()
        if result.traces_changed:
            self._load_traces()  # reloads the trace preview and the volumes too (_traces_loaded)
        if result.state_changed:
            self._state_dirty = True
            self._load_state()
        if result.crons_changed:
            self._update_crons_status()

    def _toast_notifications(self, notifications: list[Any]) -> None:
        """At most one toast per look at the event log, however many notifications came (the
        inbox holds them all), and none over a dialog: the status bar's unread count says enough."""
        from ..observability.events import EventType
        from ..observability.inbox import title_of

        if not notifications or self.screen is not self.main:
            return
        error = any(ev.data.get("severity") == "error" for ev in notifications)
        if len(notifications) == 1:
            ev = notifications[0]
            body = str(
                ev.data.get("summary") or ev.data.get("message") or ev.data.get("reason") or ""
            )
            kind = "Proposal" if ev.type == EventType.PROPOSAL_CREATED else "Inbox"
            self.notify(
                short(body, 200) or "(open the inbox to see it)",
                title=f"{kind}: {short(title_of(ev), 60)}",
                severity="error" if error else "information",
                timeout=6,
            )
            return
        titles = "; ".join(short(title_of(ev), 50) for ev in notifications[:MAX_TOASTS])
        more = (
            f"; and {len(notifications) - MAX_TOASTS} more"
            if len(notifications) > MAX_TOASTS
            else ""
        )
        self.notify(
            f"{titles}{more}. {self._key_label('pane.inbox')} opens the inbox.",
            title=f"Inbox: {len(notifications)} new",
            severity="error" if error else "information",
            timeout=6,
        )

    # ---- crons (workers started by timer ticks) ------------------------------------------
    def _cron_tick(self, level: str) -> None:
        """A timer fired: queue the level's cycle (one cycle runs at a time)."""
        if level not in self._cron_queue and level != self._cron_running:
            self._cron_queue.append(level)
        self._next_cron()

    def _crons_due_tick(self) -> None:
        if self.kernel is not None:
            self._crons_due()

    @work(
        thread=True, exclusive=True, exit_on_error=False, group="crons-due", name="find due crons"
    )
    def _crons_due(self) -> list[str]:
        from . import data

        lines = data.load_cron_lines(self._ensure_kernel().workspace, self._ensure_kernel().config)
        return [line.level for line in lines if (data.seconds_until(line.next_due) or 0.0) <= 0]

    def _crons_found_due(self, levels: list[str]) -> None:
        for level in levels:
            self._cron_tick(level)

    def action_run_crons_now(self) -> None:
        """Run a cycle of every level now (user, team, system), in the background."""
        from . import data

        if self.kernel is None:
            self.notify("The workspace is still opening.", severity="warning")
            return
        for level in data.CRON_LEVELS:
            self._cron_tick(level)
        self.notify("Running the user, team and system crons in the background.", title="Crons")

    def _next_cron(self) -> None:
        if self._cron_running is not None or not self._cron_queue or self.kernel is None:
            return
        level = self._cron_queue.pop(0)
        self._cron_running = level
        self._update_crons_status()
        self._run_cron(level)

    @work(thread=True, exclusive=True, exit_on_error=False, group="crons", name="cron cycle")
    def _run_cron(self, level: str) -> Any:
        from ..evolution.crons import run_cycle

        kernel = self._ensure_kernel()
        return run_cycle(
            kernel.workspace,
            kernel.config,
            level,
            user=kernel.config.user,
            team=kernel.config.team,
            hub=self.hub,
        )

    def _cron_done(self, report: Any) -> None:
        self._cron_running = None
        if not self._cron_queue and self.hub is not None and not self._running_in("poll"):
            self._poll()  # the cycles' news, now, in one toast
        if not report.ok:
            self._load_inbox()  # the engine recorded CRON_FAILED as a notification
        elif report.counts().get("proposals"):
            self._load_inbox()
        self._state_dirty = True
        self._next_cron()
        self._update_crons_status()

    def _update_crons_status(self) -> None:
        if self.kernel is not None:
            self._load_cron_lines()

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="crons-status",
        name="read the crons",
    )
    def _load_cron_lines(self) -> list[data.CronLine]:
        from . import data

        kernel = self._ensure_kernel()
        return data.load_cron_lines(kernel.workspace, kernel.config)

    def _cron_lines_loaded(self, lines: list[data.CronLine]) -> None:
        self._cron_lines = lines
        self.main.query_one(StatusBar).crons = self._crons_text()

    def _crons_text(self) -> Content:
        from . import data

        muted = "$foreground-muted"
        parts: list[str | tuple[str, str]] = [("crons ", "bold" if self.crons_enabled else muted)]
        if not self.crons_enabled:
            parts.append(("off", muted))
            parts.append((f" ({self._key_label('crons.run_now')} runs them)", muted))
        shown = (
            self._cron_lines
            if self.crons_enabled
            else [
                line
                for line in self._cron_lines
                if line.last_status or line.level == self._cron_running
            ]
        )
        if shown and not self.crons_enabled:
            parts.append((" · last:", muted))
        for line in shown:
            parts.append((" ", ""))
            if line.level == self._cron_running:
                parts += [(line.level, "bold"), (" running…", "$text-accent")]
                continue
            if line.last_status is None:
                parts += [(line.level, ""), (" never run", muted)]
                continue
            ok = line.last_status != "failed"
            ago = data.seconds_until(line.last_run)
            parts += [
                (line.level, ""),
                (" ✓" if ok else " ✗", "$text-success" if ok else "$text-error"),
            ]
            if ago is not None:
                parts.append((f" {format_ago(-ago)} ago", muted))
        if self.crons_enabled and self._cron_lines:
            soon = [
                s
                for s in (data.seconds_until(line.next_due) for line in self._cron_lines)
                if s is not None
            ]
            if soon:
                parts.append((f" · next in {format_ago(max(0.0, min(soon)))}", muted))
        return Content.assemble(*parts)

    # ---- goals -------------------------------------------------------------------------
    @on(ChatPane.GoalSubmitted)
    async def _goal_submitted(self, message: ChatPane.GoalSubmitted) -> None:
        self._last_input = time.monotonic()
        if self.kernel is not None:
            self._save_history(list(self.chat.history.entries))
        await self.start_goal(message.goal, feedback=True)

    @work(
        thread=True, exclusive=True, exit_on_error=False, group="history", name="save the history"
    )
    def _save_history(self, entries: list[str]) -> None:
        save_history(self._ensure_kernel().workspace.state_dir, entries)

    async def start_goal(
        self, goal: str, *, mode: str = "auto", label: str | None = None, feedback: bool = False
    ) -> bool:
        """Show the goal in the chat and run it in the goal worker. False if one is running."""
        from ..runs import CancelToken

        if self.active is not None:
            self.notify(
                "A goal is running: wait for it, or press escape to cancel it.", severity="warning"
            )
            return False
        answer = await self.chat.begin_answer(goal, label=label)
        self.active = ActiveGoal(goal, answer, CancelToken(), time.monotonic(), mode=mode)
        self.running = True
        self.chat.running = True
        self._update_running_status()
        self._update_tabs()
        self._tick = self.set_interval(1.0, self._update_running_status)
        self.active.worker = self._run_goal(self.active, feedback)
        return True

    @work(thread=True, exclusive=True, exit_on_error=False, group="goal", name="goal")
    def _run_goal(self, run: ActiveGoal, feedback: bool) -> RunResult:
        from ..kernel import RunOptions

        kernel = self._ensure_kernel()
        from ..memory.conversation import feedback_kind, new_id

        if self.conversation_id is None:
            self.conversation_id = new_id()
        # A message that is only feedback ("thanks, that worked") is the kernel's: it runs nothing and
        # fires the user-feedback trigger itself (once).
        if (
            feedback
            and kernel.config.sentience.enabled
            and not (run.mode == "auto" and feedback_kind(run.goal))
        ):
            try:
                result = kernel.sentience.on_user_feedback(
                    run.goal
                )  # theory of mind: every chat message
            except LLMOSError:
                result = None
            if result is not None and result.check_in:
                run.answer.sink(CheckIn(result.check_in))
        options = RunOptions(
            mode=run.mode,
            cwd=self.cwd,
            conversation=self.conversation_id,
            source="tui",
            confirm_replay=lambda proposal: self.confirm_replay(proposal, token=run.token),
        )
        return kernel.execute(
            run.goal,
            options=options,
            on_event=run.answer.sink,
            cancel=run.token,
            confirm=self._confirm_for(run),
        )

    def _update_running_status(self) -> None:
        run = self.active
        if run is None:
            return
        self.chat.status = running_status(
            run.answer.mode,
            time.monotonic() - run.started,
            cancelling=run.token.cancelled,
            trouble=run.answer.trouble,
        )

    def on_answer_view_trouble_changed(self, _event: AnswerView.TroubleChanged) -> None:
        self._update_running_status()  # a retry shows at once, not at the next tick

    def _goal_worker_changed(self, event: Worker.StateChanged) -> None:
        from ..runs import RunResult

        worker = event.worker
        if self.active is None or worker is not self.active.worker:
            return
        if event.state not in (WorkerState.SUCCESS, WorkerState.ERROR, WorkerState.CANCELLED):
            return
        run, self.active = self.active, None
        if self._tick is not None:
            self._tick.stop()
            self._tick = None
        self.running = False
        self.chat.running = False
        self._show_idle()
        if event.state == WorkerState.SUCCESS and isinstance(worker.result, RunResult):
            result = worker.result
            run.answer.post_message(AnswerView.Finished(result, cancelled=run.token.cancelled))
            self._last_mode, self._last_cost = result.mode, result.cost_usd
            refused = (result.decision or {}).get("replay_refused")
            if refused and run.mode in ("follower", "crystallized") and not run.token.cancelled:
                self._ask_after_refused_replay(run.goal, str(refused))
        elif event.state == WorkerState.ERROR:
            error = worker.error
            text = (
                error.message
                if isinstance(error, LLMOSError)
                else f"{type(error).__name__}: {error}"
            )
            run.answer.post_message(AnswerView.Crashed(text))
        else:
            run.answer.post_message(AnswerView.Crashed("the run was stopped"))
        self._last_input = time.monotonic()
        self._state_dirty = True
        self._update_tabs()
        if self.kernel is not None:
            self._load_state()
            self._load_traces()

    def _ask_after_refused_replay(self, goal: str, why: str) -> None:
        """An explicit replay was refused: never a paid run on our own; ask (default: no)."""
        from .screens.dialogs import ReplayRefusedScreen

        async def answered(yes: bool | None) -> None:
            if yes:
                await self.start_goal(
                    goal, mode="learner", label="with the model, after the refused replay"
                )

        self.push_screen(ReplayRefusedScreen(goal, why), callback=answered)

    # ---- internal state: the one-key way out ----------------------------------------------
    def action_reset_state(self) -> None:
        """Reset the valence to the set-points (F7): no goal, no dialog, no waiting for decay."""
        if self.kernel is None:
            self.notify("The workspace is still opening.", severity="warning")
            return
        self._reset_state()

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="state-reset",
        name="reset the internal state",
    )
    def _reset_state(self) -> tuple[str, str, data.StateView]:
        from . import data

        kernel = self._ensure_kernel()
        before = kernel.sentience.latent_mode()
        kernel.sentience.reset()
        view = data.load_state_view(
            kernel, last_mode=self._last_mode, last_cost_usd=self._last_cost
        )
        return before, view.latent_mode, view

    def _state_was_reset(self, result: tuple[str, str, data.StateView]) -> None:
        before, after, view = result
        self._state_loaded(view)
        self.notify(f"Internal state reset to its set-points: {before} → {after}.", title="State")

    # ---- confirmations (called from the goal worker thread) --------------------------
    def confirm_call(
        self,
        name: str,
        tool_input: dict[str, Any],
        reason: str,
        *,
        token: CancelToken | None = None,
    ) -> bool:
        """Ask the user about one tool call and block until they answer (from a worker thread only).

        Deny is the default: escape, ``n``, cancelling the goal (``token``), the app closing or
        any failure all mean False.
        """
        if token is not None and token.cancelled:
            return False

        async def ask() -> bool:
            loop = asyncio.get_running_loop()
            answer: asyncio.Future[bool] = loop.create_future()
            screen = ConfirmCallScreen(name, tool_input, reason, cwd=self.cwd)

            def settle(value: bool | None) -> None:
                if not answer.done():
                    answer.set_result(bool(value))

            def withdraw() -> None:
                settle(False)
                if screen.is_current:
                    screen.dismiss(False)

            await self.push_screen(screen, callback=settle)
            if token is not None:
                token.on_cancel(lambda: loop.call_soon_threadsafe(withdraw))
            return await answer

        try:
            # textual types the callback as T | Awaitable[T]: mypy cannot infer T from a coroutine
            return bool(self.call_from_thread(ask))  # type: ignore[arg-type]
        except Exception:  # noqa: BLE001 - the app is closing or the screen failed: deny
            return False

    def confirm_replay(self, proposal: dict[str, Any], *, token: CancelToken | None = None) -> str:
        """Ask whether to replay a close trace (from a worker thread only): "replay", "model" or
        "cancel". Cancelling the goal, the app closing or any failure mean "cancel"."""
        if token is not None and token.cancelled:
            return "cancel"

        async def ask() -> str:
            loop = asyncio.get_running_loop()
            answer: asyncio.Future[str] = loop.create_future()
            screen = ReplayConfirmScreen(proposal)

            def settle(value: str | None) -> None:
                if not answer.done():
                    answer.set_result(value if isinstance(value, str) else "cancel")

            def withdraw() -> None:
                settle("cancel")
                if screen.is_current:
                    screen.dismiss("cancel")

            await self.push_screen(screen, callback=settle)
            if token is not None:
                token.on_cancel(lambda: loop.call_soon_threadsafe(withdraw))
            return await answer

        try:
            return str(self.call_from_thread(ask))  # type: ignore[arg-type]  # (as above)
        except Exception:  # noqa: BLE001 - the app is closing or the screen failed: run nothing
            return "cancel"

    def _confirm_for(self, run: ActiveGoal):
        def confirm(name: str, tool_input: dict[str, Any], reason: str) -> bool:
            allowed = self.confirm_call(name, tool_input, reason, token=run.token)
            run.answer.sink(CallConfirmed(name, allowed, dict(tool_input or {}), reason))
            return allowed

        return confirm

    # ---- actions ---------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel_goal":
            return self.active is not None
        if action == "clear_chat":
            return None if self.active is not None else True
        return True

    def action_cancel_goal(self) -> None:
        """Stop the running goal (the SDK session or replay stops cleanly)."""
        run = self.active
        if run is None or run.token.cancelled:
            return
        run.token.cancel()
        self._update_running_status()

    async def action_clear_chat(self) -> None:
        if self.active is None:
            await self.chat.clear()
            self.conversation_id = (
                None  # a cleared chat is a new conversation: no earlier turns carried
            )

    async def action_toggle_details(self) -> None:
        answers = self.chat.answers
        if not answers:
            self.notify(
                "No answer yet: the details explain how the last goal was run.", severity="warning"
            )
            return
        self.pane = "chat"
        await answers[-1].toggle_details()
        self.chat.query_one("#chat-log").scroll_end(animate=False)

    def action_help(self) -> None:
        from .screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(getattr(self, "_keymap", {}) or {}))

    async def action_quit(self) -> None:
        if self.active is not None:
            self.active.token.cancel()
        self.exit()

    def on_unmount(self) -> None:
        if self.active is not None:
            self.active.token.cancel()

    # ---- command palette: every action -------------------------------------------------
    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        keymap = getattr(self, "_keymap", {}) or {}
        for action in ACTIONS:
            if not action.palette:
                continue
            keys = ", ".join(display_key(k) for k in keys_for(action, keymap))
            yield SystemCommand(
                f"{action.group}: {action.description}",
                f"{action.help}  ({keys})",
                self._palette_callback(action),
            )

    def _palette_callback(self, action: KeyAction) -> Callable[[], Any]:
        async def run() -> None:
            if action.scope == "app":
                await self.run_action(action.action)
                return
            pane = {
                "traces": "traces",
                "volumes": "volumes",
                "inbox": "inbox",
                "goal-input": "chat",
            }[action.scope]
            self.pane = pane
            await asyncio.sleep(0)
            panes: dict[str, TraceBrowser | VolumeExplorer | InboxPane] = {
                "traces": self.traces,
                "volumes": self.volumes,
                "inbox": self.inbox,
            }
            target = panes.get(action.scope)
            if target is not None:
                target.run_action_named(action.action)

        return run

    # Worker group -> what to do with its result (failures: ``_worker_failed``).
    _on_success: dict[str, Callable[["LLMOSApp", Any], Any]] = {
        "boot": _on_booted,
        "state": _state_loaded,
        "monologue": _thought,
        "traces": _traces_loaded,
        "trace-preview": _trace_preview_loaded,
        "trace-delete": _trace_deleted,
        "tool-source": _tool_loaded,
        "volumes": _volumes_loaded,
        "volume-kind": _kind_loaded,
        "volume-preview": _artifact_loaded,
        "promotion-plan": _promotion_planned,
        "promote": _promoted,
        "inbox": _inbox_loaded,
        "inbox-op": _inbox_done,
        "poll": _polled,
        "crons": _cron_done,
        "crons-due": _crons_found_due,
        "crons-status": _cron_lines_loaded,
        "state-reset": _state_was_reset,
    }


def make_app(
    workspace_dir: str | os.PathLike[str] | None = None,
    *,
    kernel: LLMOS | None = None,
    cwd: str | os.PathLike[str] | None = None,
    crons: bool | None = None,
    background: bool = True,
) -> LLMOSApp:
    """Build the app (tests use this too). Nothing is read or written until it runs."""
    return LLMOSApp(workspace_dir, kernel=kernel, cwd=cwd, crons=crons, background=background)


#: Folders goals may not run in (a tool writes inside its working directory).
SYSTEM_DIRS = (
    "/",
    "/bin",
    "/boot",
    "/dev",
    "/etc",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/proc",
    "/run",
    "/sbin",
    "/sys",
    "/usr",
    "/var",
    "/opt",
    "/snap",
    "/srv",
)


def cwd_problem(raw: str, workspace_dir: Path | None = None) -> tuple[str | None, Path]:
    """Why ``raw`` cannot be the working directory (None, its resolved path when it can)."""
    if not raw or not raw.strip():
        return "give a folder", Path()
    where = Path(os.path.expanduser(raw.strip()))
    try:
        where = where.resolve()
    except OSError as exc:
        return f"{raw}: {exc}", where
    if not where.is_dir():
        return f"{where} does not exist or is not a folder", where
    if str(where) in SYSTEM_DIRS or any(
        str(where).startswith(d + "/") for d in ("/proc", "/sys", "/dev", "/boot", "/etc", "/usr")
    ):
        return f"{where} is a system folder: goals may not run there", where
    if workspace_dir is not None:
        ws = Path(workspace_dir).resolve()
        if where == ws or ws in where.parents:
            return f"{where} is inside llmos's workspace: goals may not run there", where
    return None, where


def run_tui(workspace: Path | None = None, cwd: Path | None = None) -> int:
    """Run the app in the terminal (goals run in ``cwd``, default the current directory); returns
    the process exit code."""
    app = make_app(workspace, cwd=cwd)
    app.run()
    return int(app.return_code or 0)
