"""Questions that change something: typed ``ModalScreen[T]`` dialogs, each dismissed with its answer.

* :class:`TypedConfirmScreen` — an irreversible action: the user types a word to confirm.
* :class:`ReasonScreen` — reject a proposal, with an optional reason.
* :class:`PromoteScreen` — promote an artifact: what, where to, the criteria and whether they are met.
* :class:`ReplayRefusedScreen` — a replay the user asked for was refused: run the goal with the model
  instead (a paid run) or not.

Every dialog defaults to "no": escape cancels, and the focused control is the harmless one.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from ..data import PromotionPlan


class TypedConfirmScreen(ModalScreen[bool]):
    """Returns True only when the user typed ``word`` and pressed enter."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="dialog.cancel")]

    def __init__(self, title: str, body: Content, *, word: str = "delete") -> None:
        super().__init__(classes="dialog")
        self.title_text = title
        self.body = body
        self.word = word

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box -danger"):
            yield Static(
                Content.styled(self.title_text, "bold $text-error"),
                classes="dialog-title",
                markup=False,
            )
            yield Static(self.body, classes="dialog-body", markup=False)
            yield Static(
                Content.assemble(
                    "Type ", (self.word, "bold"), " and press enter to confirm; escape cancels."
                ),
                markup=False,
            )
            yield Input(placeholder=self.word, id="typed-word")
            yield Static(id="typed-hint", markup=False)

    def on_mount(self) -> None:
        self.query_one("#typed-word", Input).focus()

    @on(Input.Submitted, "#typed-word")
    def _submitted(self, event: Input.Submitted) -> None:
        if event.value.strip().lower() == self.word:
            self.dismiss(True)
        else:
            self.query_one("#typed-hint", Static).update(
                Content.styled(
                    f"Type exactly “{self.word}” (or escape to cancel).", "$text-warning"
                )
            )

    def action_cancel(self) -> None:
        self.dismiss(False)


class ReasonScreen(ModalScreen["str | None"]):
    """Reject with an optional reason: enter rejects (the reason may be empty), escape cancels (None)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="dialog.cancel")]

    def __init__(self, title: str, body: Content) -> None:
        super().__init__(classes="dialog")
        self.title_text = title
        self.body = body

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Static(
                Content.styled(self.title_text, "bold"), classes="dialog-title", markup=False
            )
            yield Static(self.body, classes="dialog-body", markup=False)
            yield Input(placeholder="Why (optional) — enter rejects, escape cancels", id="reason")

    def on_mount(self) -> None:
        self.query_one("#reason", Input).focus()

    @on(Input.Submitted, "#reason")
    def _submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip())

    def action_cancel(self) -> None:
        self.dismiss(None)


class PromoteScreen(ModalScreen[bool]):
    """Shows the promotion and its criteria; True only on "Promote" (y)."""

    BINDINGS = [
        Binding("y", "promote", "Promote", id="dialog.yes"),
        Binding("n,escape", "cancel", "Cancel", id="dialog.no"),
    ]

    def __init__(self, plan: PromotionPlan) -> None:
        super().__init__(classes="dialog")
        self.plan = plan

    def compose(self) -> ComposeResult:
        p = self.plan
        muted = "$foreground-muted"
        verdict_style = {
            "meets": "bold $text-success",
            "already": "bold $text-accent",
            "explicit": "bold $text-accent",
        }.get(p.verdict, "bold $text-warning")
        body = [
            Content.assemble(("Promote ", "bold"), (f"{p.kind}/{p.name}", "bold $text-accent")),
            Content.assemble(
                ("from ", muted), (p.from_scope, "bold"), ("  →  to ", muted), (p.to_scope, "bold")
            ),
            Content(""),
            Content.styled("Criteria (promotion.* in config):", "bold"),
        ]
        body += [Content.assemble(("  • ", muted), c) for c in p.criteria]
        body += [
            Content(""),
            Content.assemble(
                ("Verdict: ", "bold"), (p.verdict, verdict_style), (f" — {p.reason}", "")
            ),
            Content.styled(
                "The artifact is copied (the source stays) with its provenance; a newer or "
                "different artifact in the target is never overwritten.",
                muted,
            ),
        ]
        with Vertical(classes="dialog-box"):
            yield Static(Content("\n").join(body), classes="dialog-body", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel (n)", id="cancel", variant="default")
                yield Button("Promote (y)", id="promote", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    def action_promote(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)

    @on(Button.Pressed, "#promote")
    def _promote(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(False)


class ReplayRefusedScreen(ModalScreen[bool]):
    """A replay the user asked for (no LLM call) was refused: says why and asks whether to run the
    goal with the model instead, which costs money. True only on "Run with the model" (y)."""

    BINDINGS = [
        Binding("y", "run", "Run with the model", id="dialog.yes"),
        Binding("n,escape", "cancel", "Keep it", id="dialog.no"),
    ]

    def __init__(self, goal: str, why: str) -> None:
        super().__init__(classes="dialog")
        self.goal = goal
        self.why = why

    def compose(self) -> ComposeResult:
        muted = "$foreground-muted"
        body = [
            Content.styled("The replay was refused", "bold $text-warning"),
            Content.assemble(("goal  ", muted), (self.goal, "bold")),
            Content.assemble(("why   ", muted), self.why),
            Content(""),
            Content.assemble(
                "Run this goal with the model instead? It is a ",
                ("paid", "bold"),
                " LEARNER run; nothing runs unless you say so.",
            ),
        ]
        with Vertical(classes="dialog-box"):
            yield Static(Content("\n").join(body), classes="dialog-body", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("No (n)", id="cancel", variant="default")
                yield Button("Run with the model (y)", id="run", variant="warning")

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    def action_run(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)

    @on(Button.Pressed, "#run")
    def _run(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(False)


class CwdScreen(ModalScreen["str | None"]):
    """The working directory goals run in: enter submits the path typed, escape cancels (None)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="dialog.cancel")]

    def __init__(self, current: str) -> None:
        super().__init__(classes="dialog")
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Static(
                Content.styled("Working directory", "bold"), classes="dialog-title", markup=False
            )
            yield Static(
                Content(
                    "Goals run here: tools may write only inside it. It must exist and not be a "
                    "system folder."
                ),
                classes="dialog-body",
                markup=False,
            )
            yield Input(value=self.current, placeholder="a folder, e.g. ~/llmos-work", id="cwd")

    def on_mount(self) -> None:
        self.query_one("#cwd", Input).focus()

    @on(Input.Submitted, "#cwd")
    def _submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip())

    def action_cancel(self) -> None:
        self.dismiss(None)
