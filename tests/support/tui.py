"""Driving the TUI through Textual's Pilot: wait for a positive signal, send a goal, read a widget."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from textual.message_pump import MessagePump
from textual.widgets import Static

from llmos_tui.observability.hub import ObservabilityHub
from llmos_tui.tui.app import LLMOSApp
from llmos_tui.tui.widgets.chat import AnswerView, GoalInput

SIZE = (120, 40)


def plain(widget: Static) -> str:
    content = widget.content
    return content.plain if hasattr(content, "plain") else str(content)


async def wait_until(pilot, predicate, timeout: float = 60.0, what: str = "condition") -> float:
    """Let the app run until ``predicate()`` is true; return the seconds it took."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        await pilot.pause(0.02)
    return time.monotonic() - start


async def ready(pilot) -> LLMOSApp:
    app: LLMOSApp = pilot.app
    await wait_until(
        pilot,
        lambda: (
            app.panes_ready
            and app.hub is not None
            and app.traces.rows is not None
            and app._state is not None
        ),
        15,
        "the kernel to boot and the panes to load",
    )
    return app


async def send_goal(pilot, goal: str) -> None:
    app = await ready(pilot)
    field = app.query_one(GoalInput)
    field.focus()
    field.load_text(goal)
    await pilot.press("enter")


async def finished_answer(pilot, index: int = -1, timeout: float = 60.0) -> AnswerView:
    app: LLMOSApp = pilot.app
    await wait_until(
        pilot,
        lambda: bool(app.chat.answers) and app.chat.answers[index].done,
        timeout,
        "the answer to finish",
    )
    return app.chat.answers[index]


def propose(hub: ObservabilityHub, name: str, text: str) -> str:
    return hub.propose(
        "artifact.write",
        f"New insight: {name}",
        f"about {name}",
        f"--- /dev/null\n+++ insights/{name}.md\n@@ -0,0 +1 @@\n+{text}\n",
        {
            "scope": "users/local",
            "kind": "insights",
            "name": name,
            "content": text + "\n",
            "identity": {"kind": "user_cron", "user": "local", "team": "default"},
        },
        source="user_cron:local",
        volume="users/local",
    )


async def drained(pilot, *pumps: MessagePump, rounds: int = 3, timeout: float = 30.0) -> None:
    """Wait until each of ``pumps`` (widgets, screens, the app) has handled what was posted to it
    before: a marker callback posted to each in turn must come back. A message handled by one pump
    may post or bubble another to the next, so several rounds follow it from an input up to the
    app. A positive signal (the markers ran), never a fixed pause."""
    for _ in range(rounds):
        for pump in pumps:
            done = asyncio.Event()
            pump.call_later(done.set)
            start = time.monotonic()
            while not done.is_set():
                if time.monotonic() - start > timeout:
                    raise AssertionError(f"{pump!r} did not handle its messages in {timeout:.0f} s")
                await pilot.pause(0.01)


async def workers_done(app: LLMOSApp, group: str) -> None:
    """Wait until every worker of ``group`` the app has started so far has finished."""
    await app.workers.wait_for_complete([w for w in app.workers if w.group == group])


def record_polls(app: LLMOSApp) -> list[Any]:
    """Record each look at the event log the app has handled (its ``PollResult``), in order.

    The app follows the event log with one poll at a time; a poll that is handled with no new
    notifications at least two polls after something was written proves every notification of
    that write has been handled (toasted or held) — the positive signal "nothing more will come"."""
    handled: list[Any] = []
    original = app._on_success["poll"]

    def spy(self: LLMOSApp, result: Any) -> None:
        original(self, result)
        handled.append(result)

    app._on_success = {**app._on_success, "poll": spy}
    return handled


async def caught_up(pilot, polls: list[Any], timeout: float = 30.0) -> None:
    """Wait until the app has handled, after this call, a poll that found no notification and
    that started after the call (so after whatever the test wrote before it)."""
    first = len(polls) + 2  # a poll handled next may have read the log before the test wrote to it
    await wait_until(
        pilot,
        lambda: any(not p.notifications for p in polls[first:]),
        timeout,
        "the app to have read the event log to its end",
    )


def record_toasts(app: LLMOSApp) -> list[tuple[str, str]]:
    """Record every toast the app shows as ``(title, message)``; unlike ``app._notifications``
    the record keeps toasts whose time-out has passed."""
    shown: list[tuple[str, str]] = []
    original = app.notify

    def notify(message: str, *, title: str = "", **kwargs: Any) -> None:
        shown.append((title, str(message)))
        original(message, title=title, **kwargs)

    app.notify = notify  # type: ignore[method-assign]
    return shown
