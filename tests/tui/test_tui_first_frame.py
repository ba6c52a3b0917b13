"""What the first frame costs: the stylesheet must not make every widget order-styled, and the
answer's markdown still drops the last block's bottom margin (the rule that used to do it with a
universal selector)."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Markdown

from llmos_tui.runs import TextDelta
from llmos_tui.tui.app import make_app
from tests.support.tui import SIZE, wait_until

ORDER = {"first-child", "last-child", "first-of-type", "last-of-type", "odd", "even"}


async def test_no_app_rule_with_an_order_pseudo_class_applies_to_every_widget(
    tmp_path: Path,
) -> None:
    # Textual marks every widget a universal rule with :last-child (and the like) is checked
    # against as order-styled, and restyles all siblings again on each mount.
    app = make_app(tmp_path / "ws", cwd=tmp_path, background=False)
    async with app.run_test(size=SIZE):
        universal = [
            rule
            for rule in app.stylesheet.rules_map.get("*", [])
            if not rule.is_default_rules and rule.pseudo_classes & ORDER
        ]
        assert universal == []


async def test_the_last_block_of_an_answer_has_no_bottom_margin(tmp_path: Path) -> None:
    app = make_app(tmp_path / "ws", cwd=tmp_path, background=False)
    async with app.run_test(size=SIZE) as pilot:
        answer = await app.chat.begin_answer("say two things")
        answer.sink(TextDelta("The first paragraph.\n\nThe second paragraph.\n"))
        await wait_until(
            pilot,
            lambda: (
                len(answer.query(Markdown)) == 1 and len(answer.query_one(Markdown).children) == 2
            ),
            10,
            "two markdown blocks",
        )
        first, last = answer.query_one(Markdown).children
        assert first.styles.margin.bottom == 1
        assert last.styles.margin.bottom == 0


async def test_an_app_quit_before_its_boot_finished_closes_cleanly(tmp_path: Path) -> None:
    """The kernel boots after the first frame: quitting at once must not let the boot's result
    reach widgets the shutdown is already taking down (seen as NoMatches in a loaded run)."""
    for n in range(3):
        app = make_app(tmp_path / f"ws{n}", cwd=tmp_path, background=False)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()  # the first frame is out; the boot worker is still running
        # run_test re-raises what the app raised while it closed
