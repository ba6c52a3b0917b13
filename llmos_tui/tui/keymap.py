"""Every key of the app in one table: binding id, default keys, action, description, group.

Widgets build their ``BINDINGS`` from this table (``bindings_for(scope)``), the help screen and
the command palette read it, and ``config.keymap`` (binding id -> keys) remaps any entry through
``App.set_keymap`` (Posting's approach). Ids are stable: they are what users write in
``config.yaml``::

    keymap:
      pane.traces: ctrl+t
      inbox.accept: y

Key names are checked by ``llmos_tui/keys.py`` (``key_problem``), which the config loader uses
on the headless path without importing the TUI: a key Textual would never deliver (``ctrl+nope``)
is a configuration error naming the key, not a binding that silently stops working.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, Mapping

from ..keys import MODIFIERS, NAMED_KEYS, key_problem  # noqa: F401 - the keymap's key names

if TYPE_CHECKING:
    from textual.binding import BindingType


@dataclass(frozen=True)
class KeyAction:
    """One bindable action."""

    id: str  # binding id (config.keymap key)
    keys: str  # default keys, comma separated (Textual key names)
    action: str  # the Textual action run in ``scope``'s namespace
    description: str  # short label (footer, palette title)
    help: str  # one sentence (help screen, palette help)
    group: str  # heading in the help screen
    scope: str  # app | chat | goal-input | traces | volumes | inbox
    show: bool = False  # shown in the footer
    priority: bool = False
    palette: bool = True  # offered in the command palette

    @property
    def default_display(self) -> str:
        return self.keys.split(",")[0]


#: Panes by id: (title, the binding that shows it).
PANES: dict[str, str] = {
    "chat": "Chat",
    "traces": "Traces",
    "volumes": "Volumes",
    "inbox": "Inbox",
    "state": "State",
}

ACTIONS: tuple[KeyAction, ...] = (
    # ---- panes -----------------------------------------------------------------------------
    KeyAction(
        "pane.chat",
        "f2",
        "app.show_pane('chat')",
        "Chat",
        "Show the chat: goals in, answers streamed out.",
        "Panes",
        "app",
        priority=True,
    ),
    KeyAction(
        "pane.traces",
        "f3",
        "app.show_pane('traces')",
        "Traces",
        "Show the trace browser: every learned run, sortable and filterable.",
        "Panes",
        "app",
        priority=True,
    ),
    KeyAction(
        "pane.volumes",
        "f4",
        "app.show_pane('volumes')",
        "Volumes",
        "Show the volume explorer: system, team and user artifacts.",
        "Panes",
        "app",
        priority=True,
    ),
    KeyAction(
        "pane.inbox",
        "f5",
        "app.show_pane('inbox')",
        "Inbox",
        "Show the notification inbox: proposals to accept or reject, news to acknowledge.",
        "Panes",
        "app",
        priority=True,
    ),
    KeyAction(
        "pane.state",
        "f6",
        "app.show_pane('state')",
        "State",
        "Show the internal state in full: valence, latent mode, policy, user model, triggers, thoughts.",
        "Panes",
        "app",
        priority=True,
    ),
    # ---- app ---------------------------------------------------------------------------------
    KeyAction(
        "app.help",
        "f1,question_mark",
        "app.help",
        "Help",
        "Show every key and what it does.",
        "App",
        "app",
        show=True,
    ),
    KeyAction(
        "app.palette",
        "ctrl+p",
        "app.command_palette",
        "Commands",
        "Open the command palette: search every action by name.",
        "App",
        "app",
        priority=True,
        palette=False,
    ),
    KeyAction(
        "crons.run_now",
        "ctrl+r",
        "app.run_crons_now",
        "Run crons",
        "Run a cron cycle now (user, team and system), in the background.",
        "App",
        "app",
        priority=True,
    ),
    KeyAction(
        "app.quit",
        "ctrl+q",
        "app.quit",
        "Quit",
        "Quit llmos (a running goal is cancelled first).",
        "App",
        "app",
        priority=True,
    ),
    KeyAction(
        "state.reset",
        "f7",
        "app.reset_state",
        "Reset state",
        "Reset the internal state to its set-points now (the way out of CAUTIOUS or RECOVERY without "
        "waiting for it to fade); applied self-modifications are kept.",
        "App",
        "app",
        priority=True,
    ),
    # ---- chat --------------------------------------------------------------------------------
    KeyAction(
        "chat.cancel",
        "escape",
        "app.cancel_goal",
        "Cancel goal",
        "Stop the running goal (the model session or replay stops cleanly).",
        "Chat",
        "app",
        show=True,
    ),
    KeyAction(
        "chat.details",
        "ctrl+g",
        "app.toggle_details",
        "Details",
        "Show or hide the last answer's decision: mode, confidence, gates, candidates.",
        "Chat",
        "app",
        show=True,
        priority=True,
    ),
    KeyAction(
        "chat.clear",
        "ctrl+l",
        "app.clear_chat",
        "Clear chat",
        "Remove every goal and answer from the chat.",
        "Chat",
        "app",
    ),
    KeyAction(
        "chat.undo",
        "ctrl+z",
        "app.undo_last_run",
        "Undo run",
        "Restore the files the last run in the working directory changed with the file tools (Write, Edit, "
        "MultiEdit, NotebookEdit; not Bash), like `llmos undo`: files it created are deleted; refused when a "
        "file changed since.",
        "Chat",
        "app",
        priority=True,
    ),
    KeyAction(
        "chat.cwd",
        "ctrl+o",
        "app.change_cwd",
        "Working dir",
        "Change the working directory goals run in (it must exist and not be a system folder).",
        "Chat",
        "app",
        priority=True,
    ),
    KeyAction(
        "chat.send",
        "enter",
        "submit",
        "Send",
        "Send the goal in the input.",
        "Chat input",
        "goal-input",
        palette=False,
    ),
    KeyAction(
        "chat.newline",
        "shift+enter,ctrl+j,alt+enter",
        "newline",
        "New line",
        "Start a new line in the input (ctrl+j works in every terminal; shift+enter where the terminal "
        "reports it).",
        "Chat input",
        "goal-input",
        palette=False,
    ),
    KeyAction(
        "chat.history_prev",
        "up",
        "history_previous",
        "Previous goal",
        "On the input's first line: recall the previous goal you sent.",
        "Chat input",
        "goal-input",
        palette=False,
    ),
    KeyAction(
        "chat.history_next",
        "down",
        "history_next",
        "Next goal",
        "On the input's last line: recall the next goal (or back to what you were typing).",
        "Chat input",
        "goal-input",
        palette=False,
    ),
    # ---- traces ------------------------------------------------------------------------------
    KeyAction(
        "traces.filter",
        "slash",
        "focus_filter",
        "Filter",
        "Filter the traces as you type (goal, mode, id, tool).",
        "Traces",
        "traces",
        show=True,
    ),
    KeyAction(
        "traces.sort",
        "s",
        "cycle_sort",
        "Sort",
        "Sort by the next column.",
        "Traces",
        "traces",
        show=True,
    ),
    KeyAction(
        "traces.reverse",
        "S",
        "reverse_sort",
        "Reverse",
        "Reverse the sort order.",
        "Traces",
        "traces",
    ),
    KeyAction(
        "traces.replay",
        "r",
        "replay",
        "Replay here",
        "Replay the selected trace's goal here (FOLLOWER: no LLM call), in the chat's working directory.",
        "Traces",
        "traces",
        show=True,
    ),
    KeyAction(
        "traces.delete",
        "d,delete",
        "delete",
        "Delete",
        "Delete the selected trace (asks you to type 'delete').",
        "Traces",
        "traces",
        show=True,
    ),
    KeyAction(
        "traces.tool",
        "t",
        "show_tool",
        "Show tool",
        "Show the crystallized tool made from the selected trace (its module source).",
        "Traces",
        "traces",
        show=True,
    ),
    KeyAction(
        "traces.refresh",
        "ctrl+e",
        "refresh",
        "Reload",
        "Reload the traces from the index.",
        "Traces",
        "traces",
    ),
    # ---- volumes -----------------------------------------------------------------------------
    KeyAction(
        "volumes.promote",
        "p",
        "promote",
        "Promote",
        "Promote the selected artifact one level up (user → team → system), with the criteria shown.",
        "Volumes",
        "volumes",
        show=True,
    ),
    KeyAction(
        "volumes.refresh",
        "ctrl+e",
        "refresh",
        "Reload",
        "Reload the volumes from disk.",
        "Volumes",
        "volumes",
        show=True,
    ),
    # ---- inbox -------------------------------------------------------------------------------
    KeyAction(
        "inbox.down",
        "j",
        "cursor_down",
        "Down",
        "Next notification.",
        "Inbox",
        "inbox",
        palette=False,
    ),
    KeyAction(
        "inbox.up",
        "k",
        "cursor_up",
        "Up",
        "Previous notification.",
        "Inbox",
        "inbox",
        palette=False,
    ),
    KeyAction(
        "inbox.open",
        "enter",
        "open",
        "Open",
        "Open the selected notification in full (a proposal's complete change).",
        "Inbox",
        "inbox",
        show=True,
    ),
    KeyAction(
        "inbox.accept",
        "a",
        "accept",
        "Accept",
        "Accept the selected proposal: apply what it shows.",
        "Inbox",
        "inbox",
        show=True,
    ),
    KeyAction(
        "inbox.reject",
        "r",
        "reject",
        "Reject",
        "Reject the selected proposal (you may give a reason).",
        "Inbox",
        "inbox",
        show=True,
    ),
    KeyAction(
        "inbox.acknowledge",
        "space",
        "acknowledge",
        "Mark read",
        "Acknowledge (mark read) the selected notification.",
        "Inbox",
        "inbox",
        show=True,
    ),
    KeyAction(
        "inbox.acknowledge_all",
        "A",
        "acknowledge_all",
        "All read",
        "Acknowledge every unread notification (proposals stay open until decided).",
        "Inbox",
        "inbox",
        show=True,
    ),
    KeyAction(
        "inbox.filter",
        "slash",
        "focus_filter",
        "Filter",
        "Filter the notifications as you type.",
        "Inbox",
        "inbox",
        show=True,
    ),
    KeyAction(
        "inbox.history",
        "h",
        "toggle_history",
        "History",
        "Also show notifications already read and proposals already decided.",
        "Inbox",
        "inbox",
    ),
)

BY_ID: dict[str, KeyAction] = {a.id: a for a in ACTIONS}
GROUP_ORDER = ("Panes", "App", "Chat", "Chat input", "Traces", "Volumes", "Inbox")


def bindings_for(scope: str) -> "list[BindingType]":
    """The ``BINDINGS`` of one scope's widget (ids kept, so ``config.keymap`` can remap them)."""
    from textual.binding import Binding

    return [
        Binding(
            a.keys,
            a.action.removeprefix("app.") if scope == "app" else a.action,
            a.description,
            show=a.show,
            priority=a.priority,
            id=a.id,
            tooltip=a.help,
        )
        for a in ACTIONS
        if a.scope == scope
    ]


def unknown_ids(keymap: Mapping[str, str]) -> list[str]:
    """Keymap entries that name no binding (a typo in config.yaml)."""
    return sorted(k for k in keymap if k not in BY_ID)


def keys_for(action: KeyAction, keymap: Mapping[str, str]) -> list[str]:
    """The keys an action answers to now (the config's keymap wins over the default)."""
    return [k.strip() for k in (keymap.get(action.id) or action.keys).split(",") if k.strip()]


def display_key(key: str) -> str:
    """``ctrl+r`` -> ``^r``, ``question_mark`` -> ``?``, ``f3`` -> ``F3`` (what the help shows)."""
    names = {
        "question_mark": "?",
        "slash": "/",
        "space": "space",
        "escape": "esc",
        "delete": "del",
        "enter": "enter",
        "up": "↑",
        "down": "↓",
    }
    parts = key.split("+")
    last = names.get(parts[-1], parts[-1])
    if (
        len(last) == 2
        and last[0] == "f"
        and last[1:].isdigit()
        or (last.startswith("f") and last[1:].isdigit())
    ):
        last = last.upper()
    mods = parts[:-1]
    if mods == ["ctrl"]:
        return f"^{last}"
    return "+".join([*mods, last])


def grouped(actions: Iterable[KeyAction] = ACTIONS) -> list[tuple[str, list[KeyAction]]]:
    by_group: dict[str, list[KeyAction]] = {}
    for action in actions:
        by_group.setdefault(action.group, []).append(action)
    return [(g, by_group[g]) for g in GROUP_ORDER if g in by_group]
