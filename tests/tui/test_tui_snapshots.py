"""Snapshots of every pane at 120x40 and 80x24 (pytest-textual-snapshot).

The workspace is built with fixed ids and times, shown in UTC; background work (polling, crons,
inner monologue) is off and the input's cursor does not blink, so nothing depends on the clock.
Update with ``--snapshot-update`` only after looking at the report.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from textual.widgets import DataTable, TextArea

from llmos_tui.tui.app import LLMOSApp, make_app
from tests.support.tui_workspace import build_workspace

pytestmark = pytest.mark.slow

SIZES = {"wide": (120, 40), "narrow": (80, 24)}


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    old = os.environ.get("LLMOS_PRESET")
    os.environ["LLMOS_PRESET"] = "testing"
    try:
        return build_workspace(tmp_path_factory.mktemp("tui-snap"))
    finally:
        if old is None:
            os.environ.pop("LLMOS_PRESET", None)
        else:
            os.environ["LLMOS_PRESET"] = old


@pytest.fixture
def snap_app(template: Path, monkeypatch: pytest.MonkeyPatch) -> LLMOSApp:
    """The app on a copy of the workspace under HOME (so paths show as ~/ws), times in UTC."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    home = Path(os.environ["HOME"])
    shutil.copytree(template, home / "ws")
    (home / "work").mkdir()
    yield make_app(home / "ws", cwd=home / "work", background=False)
    monkeypatch.delenv("TZ")
    time.tzset()


async def _wait(pilot, predicate, timeout: float = 15.0) -> None:
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError("the app did not get ready for the snapshot")
        await pilot.pause(0.02)


def _before(pane: str):
    async def run_before(pilot) -> None:
        app: LLMOSApp = pilot.app
        for area in app.query(TextArea):
            area.cursor_blink = False
        await _wait(
            pilot,
            lambda: (
                app.panes_ready
                and app.hub is not None
                and app.traces.rows is not None
                and app._state is not None
                and app.inbox.items is not None
            ),
        )
        if pane != "chat":
            await pilot.press({"traces": "f3", "volumes": "f4", "inbox": "f5", "state": "f6"}[pane])
        if pane == "traces":
            table = app.query_one("#trace-table", DataTable)
            await _wait(
                pilot,
                lambda: (
                    table.row_count == 7
                    and app.traces._preview_id is not None
                    and "id" in str(app.query_one("#trace-meta").content)
                ),
            )
        elif pane == "volumes":
            explorer = app.volumes
            await _wait(pilot, lambda: explorer.loaded)
            user = explorer.volume_tree.root.children[2].children[0]
            traces = next(n for n in user.children if str(n.label).startswith("traces"))
            explorer.volume_tree.move_cursor(traces)
            await pilot.press("right")
            await _wait(pilot, lambda: len(traces.children) == 6)
            await pilot.press("down")
            await _wait(
                pilot, lambda: "traces/t_000000000001" in str(app.query_one("#volume-meta").content)
            )
        await pilot.pause(0.3)
        await app.workers.wait_for_complete()
        await pilot.pause()

    return run_before


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("pane", ["chat", "traces", "volumes", "inbox", "state"])
def test_pane_snapshot(snap_compare, snap_app: LLMOSApp, pane: str, size: str) -> None:
    assert snap_compare(snap_app, terminal_size=SIZES[size], run_before=_before(pane))
