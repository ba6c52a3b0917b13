"""The internal state, live: a compact gauge for the sidebar and the full State pane.

Both render a :class:`~llmos_tui.tui.data.StateView` that the app sets from a worker (attributes
down). Nothing here reads a file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.reactive import reactive
from textual.widgets import Static

from ..format import MODE_STYLES, VALENCE, format_cost, short, signed, valence_bar

if TYPE_CHECKING:  # the loaders' records load with the loaders, after the first paint
    from ..data import StateView


def dollars(usd: float) -> str:
    return f"${usd:,.2f}" if abs(usd) >= 0.01 or usd == 0 else f"${usd:.4f}"


LABELS = {
    "safety": "safety",
    "curiosity": "curiosity",
    "energy": "energy",
    "confidence": "confidence",
}
SHORT = {"safety": "S", "curiosity": "Cu", "energy": "E", "confidence": "Co"}


def mode_badge(mode: str) -> Content:
    return Content.assemble((f" {mode} ", f"{MODE_STYLES.get(mode, 'bold')} reverse"))


def valence_lines(view: StateView, *, bar_width: int = 11) -> list[Content]:
    lines = []
    for name in VALENCE:
        value = view.valence[name]
        delta = view.deltas.get(name)
        change: tuple[str, str] | str = ""
        if delta:
            change = (
                f" {'▲' if delta > 0 else '▼'}{abs(delta):.2f}",
                "$text-success" if delta > 0 else "$text-error",
            )
        style = "$text-error" if value < -0.3 else ""
        lines.append(
            Content.assemble(
                (f"{LABELS[name]:<11}", "$foreground-muted"),
                valence_bar(value, bar_width, setpoint=view.setpoints.get(name)),
                (f" {signed(value)}", style),
                change,
            )
        )
    return lines


def budget_line(view: StateView) -> Content:
    low = view.budget_usd > 0 and view.balance_usd < 0.1 * view.budget_usd
    over = f" (overspent by {dollars(-view.balance_usd)})" if view.balance_usd < 0 else ""
    return Content.assemble(
        ("budget     ", "$foreground-muted"),
        (dollars(max(view.balance_usd, 0.0)), "bold $text-error" if low else "bold"),
        (f" left of {dollars(view.budget_usd)}", "$foreground-muted"),
        (over, "$text-error"),
    )


def last_mode_line(view: StateView) -> Content:
    if not view.last_mode:
        return Content.assemble(
            ("last mode  ", "$foreground-muted"), ("none yet", "$foreground-muted")
        )
    cost = f" · {format_cost(view.last_cost_usd or 0.0)}" if view.last_cost_usd is not None else ""
    return Content.assemble(
        ("last mode  ", "$foreground-muted"),
        (view.last_mode, "bold $text-accent"),
        (cost, "$foreground-muted"),
    )


def compact_line(view: StateView | None) -> Content:
    """The gauge on one line (the status bar of a narrow terminal)."""
    if view is None:
        return Content.styled("state: …", "$foreground-muted")
    parts: list[Content | tuple[str, str] | str] = [mode_badge(view.latent_mode), " "]
    for name in VALENCE:
        value = view.valence[name]
        parts.append((SHORT[name], "$foreground-muted"))
        parts.append(
            (f"{value:+.2f} ".replace("0.", ".", 1), "$text-error" if value < -0.3 else "")
        )
    parts.append((f"· {dollars(max(view.balance_usd, 0.0))} left", "$foreground-muted"))
    if view.last_mode:
        parts.append((f" · last {view.last_mode}", "$foreground-muted"))
    return Content.assemble(*parts)


class GaugePanel(Vertical):
    """Sidebar: latent mode, the four variables, budget left, last mode used, latest thoughts."""

    view: reactive[StateView | None] = reactive(None, init=False)
    #: The key that resets the state (the app sets it from the keymap).
    reset_key = "F7"

    def compose(self) -> ComposeResult:
        yield Static(
            Content.styled("reading the internal state…", "$foreground-muted"),
            id="gauge-body",
            markup=False,
        )
        yield Static(id="gauge-thoughts", markup=False)

    def on_mount(self) -> None:
        self.border_title = "State"

    def watch_view(self, view: StateView | None) -> None:
        if view is None:
            return
        head = Content.assemble(
            mode_badge(view.latent_mode),
            ("" if view.enabled else "  (sentience off)", "$foreground-muted"),
        )
        lines = [head, *valence_lines(view), budget_line(view), last_mode_line(view)]
        if view.latent_mode in ("CAUTIOUS", "RECOVERY"):
            lines.append(
                Content.assemble(
                    (self.reset_key, "bold $text-warning"),
                    (" resets to the set-points", "$foreground-muted"),
                )
            )
        self.query_one("#gauge-body", Static).update(Content("\n").join(lines))
        thoughts = self.query_one("#gauge-thoughts", Static)
        if view.thoughts:
            thoughts.update(
                Content("\n").join(
                    [
                        Content.styled("thinking", "bold $text-secondary"),
                        *[
                            Content.assemble(("› ", "$text-secondary"), (short(t, 110), "italic"))
                            for t in view.thoughts[:2]
                        ],
                    ]
                )
            )
        else:
            thoughts.update(
                Content.styled(
                    "no thoughts yet\n(they come when llmos is idle)", "$foreground-muted"
                )
            )


class StatePane(VerticalScroll):
    """The State pane: everything the gauge shows, and policy, user model, triggers, set-points."""

    can_focus = True
    view: reactive[StateView | None] = reactive(None, init=False)

    def compose(self) -> ComposeResult:
        yield Static(
            Content.styled("reading the internal state…", "$foreground-muted"),
            id="state-body",
            markup=False,
        )

    def watch_view(self, view: StateView | None) -> None:
        if view is None:
            return
        muted = "$foreground-muted"
        out: list[Content] = [
            Content.assemble(("Latent mode  ", "bold"), mode_badge(view.latent_mode)),
            Content.styled(view.mode_reason or "", muted),
            Content(""),
        ]
        if view.latent_mode in ("CAUTIOUS", "RECOVERY"):
            out[-1] = Content.assemble(
                (GaugePanel.reset_key, "bold $text-warning"),
                (
                    " resets the state to its set-points now (or it fades back with the half-life)",
                    muted,
                ),
            )
            out.append(Content(""))
        out.append(Content.styled("Valence  (set-point ╎, zero ┃)", "bold"))
        out += valence_lines(view, bar_width=31)
        gated = [
            f"{k} {signed(view.effective[k])}"
            for k in VALENCE
            if abs(view.effective[k] - view.valence[k]) > 1e-4
        ]
        if gated:
            out.append(Content.styled("effective after coupling: " + ", ".join(gated), muted))
        out.append(Content.styled(f"homeostasis half-life {view.half_life_minutes:g} min", muted))
        out += [
            Content(""),
            budget_line(view),
            Content.assemble(("spent      ", muted), format_cost(view.spent_usd)),
            last_mode_line(view),
            Content(""),
        ]
        pol = view.policy
        out.append(Content.styled("Policy in force", "bold"))
        out.append(
            Content.assemble(
                ("thresholds ", muted),
                f"follower ≥ {pol.get('follower_threshold', 0):.2f}, "
                f"mixed ≥ {pol.get('mixed_threshold', 0):.2f}",
            )
        )
        flags = [
            name
            for key, name in (
                ("require_confirmation", "confirm risky actions"),
                ("prefer_cheap_modes", "prefer cheap modes"),
                ("allow_exploration", "exploration tools"),
                ("verify_steps", "verify each step"),
            )
            if pol.get(key)
        ]
        out.append(Content.assemble(("behaviour  ", muted), ", ".join(flags) or "no restrictions"))
        if pol.get("remove_tools"):
            out.append(
                Content.assemble(
                    ("withheld   ", muted), (", ".join(pol["remove_tools"]), "$text-warning")
                )
            )
        if pol.get("add_tools"):
            out.append(Content.assemble(("offered    ", muted), ", ".join(pol["add_tools"])))
        for line in pol.get("guidance") or []:
            out.append(Content.assemble(("guidance   ", muted), short(str(line), 200)))
        um = view.user_model
        out += [Content(""), Content.styled("User model (theory of mind)", "bold")]
        if um:
            out.append(
                Content(
                    ", ".join(
                        f"{k} {float(um.get(k, 0)):.2f}"
                        for k in ("frustration", "satisfaction", "engagement", "expertise")
                    )
                )
            )
            out.append(
                Content.styled(
                    f"empathy gap {float(um.get('empathy_gap', 0)):.2f} · "
                    f"{um.get('interaction_count', 0)} messages · {um.get('corrections', 0)} "
                    f"corrections · {um.get('thanks', 0)} thanks",
                    muted,
                )
            )
        out += [Content(""), Content.styled("Inner monologue", "bold")]
        out += [
            Content.assemble(("› ", "$text-secondary"), (t, "italic")) for t in view.thoughts
        ] or [Content.styled("no thoughts yet: they are produced while llmos is idle", muted)]
        out += [Content(""), Content.styled("Recent triggers", "bold")]
        if view.recent_triggers:
            for trig in reversed(view.recent_triggers[-10:]):
                delta = trig.get("delta") or {}
                moved = ", ".join(
                    f"{k} {float(v):+.2f}"
                    for k, v in delta.items()
                    if isinstance(v, (int, float)) and v
                )
                out.append(
                    Content.assemble(
                        (f"{trig.get('type', '?'):<18}", "bold"),
                        (moved or "", ""),
                        (f"  {short(str(trig.get('reason') or ''), 70)}", muted),
                    )
                )
        else:
            out.append(Content.styled("none yet", muted))
        self.query_one("#state-body", Static).update(Content("\n").join(out))
