"""The help screen (``?`` / F1): every key with its binding id, and how the chat input works."""

from __future__ import annotations

from typing import Mapping

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static

from ..keymap import display_key, grouped, keys_for

NOTES = (
    (
        "Chat input",
        "enter sends the goal. For a new line press ctrl+j (every terminal) or shift+enter / alt+enter "
        "(terminals that report them). Pasted text keeps its lines. ↑ on the first line recalls the "
        "previous goal, ↓ on the last line the next one. escape cancels a running goal.",
    ),
    (
        "Answers",
        "Each answer ends with its mode badge, cost, tokens and LLM calls. ctrl+g shows the last answer's "
        "decision: confidence, the matcher's gates and their reasons, the candidates.",
    ),
    (
        "Traces",
        "Saved ≈ cost to record × (successful uses − 1), counted once for a trace and its promoted "
        "copies (a failed recording saves nothing): an estimate that every successful use after the first "
        "would have cost what the recording run cost. Replay (r) runs the trace's goal in FOLLOWER mode, "
        "here, with no LLM call; a refused replay never turns into a paid run unless you say yes.",
    ),
    (
        "Inbox",
        "Toasts are only a view of the inbox: every notification stays in the inbox until you acknowledge "
        "it (space), and a proposal until you accept (a) or reject (r) it.",
    ),
    (
        "Keymap",
        "Any key can be changed in config.yaml under keymap, by binding id, e.g.  keymap: {pane.traces: "
        "ctrl+t, inbox.accept: y}.  ctrl+p opens the command palette with every action.",
    ),
)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,f1,question_mark", "close", "Close", id="help.close")]

    def __init__(self, keymap: Mapping[str, str] | None = None) -> None:
        super().__init__(classes="viewer")
        self.keymap = dict(keymap or {})

    def compose(self) -> ComposeResult:
        muted = "$foreground-muted"
        with Vertical(classes="viewer-box"):
            with VerticalScroll(classes="viewer-body", id="help-body"):
                yield Static(
                    Content.styled("llmos — keys", "bold $text-primary"),
                    classes="help-title",
                    markup=False,
                )
                for group, actions in grouped():
                    yield Static(
                        Content.styled(group, "bold $text-secondary"),
                        classes="help-group",
                        markup=False,
                    )
                    for action in actions:
                        keys = "  ".join(display_key(k) for k in keys_for(action, self.keymap))
                        with Horizontal(classes="help-row"):
                            yield Static(
                                Content.styled(keys, "bold"), classes="help-keys", markup=False
                            )
                            yield Static(
                                Content.assemble(action.help, (f"  [{action.id}]", muted)),
                                classes="help-text",
                                markup=False,
                            )
                for title, text in NOTES:
                    yield Static(
                        Content.styled(title, "bold $text-secondary"),
                        classes="help-group",
                        markup=False,
                    )
                    yield Static(Content(text), classes="help-note", markup=False)
                yield Static(
                    Content.styled("escape closes this help", muted),
                    classes="help-group",
                    markup=False,
                )

    @property
    def text(self) -> str:
        """Everything the help shows, as plain text (for tests and screen readers)."""
        return "\n".join(
            w.content.plain if hasattr(w.content, "plain") else str(w.content)
            for w in self.query(Static)
        )

    def on_mount(self) -> None:
        self.query_one("#help-body").focus()

    def action_close(self) -> None:
        self.dismiss(None)
