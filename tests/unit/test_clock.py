"""llmos_tui/clock.py: one timestamp format for everything written, and every older one still read."""

from __future__ import annotations

import datetime as _dt

from llmos_tui.clock import iso_utc, parse_iso
from llmos_tui.learning.traces import now_iso as trace_now
from llmos_tui.observability.events import now_iso as event_now
from llmos_tui.observability.events import parse_ts

MOMENT = _dt.datetime(2026, 11, 21, 10, 0, 0, 654321, tzinfo=_dt.UTC)


def test_one_format_with_whole_seconds_from_a_datetime_a_unix_time_or_a_naive_datetime() -> None:
    assert iso_utc(MOMENT) == "2026-11-21T10:00:00Z"
    assert iso_utc(MOMENT.timestamp()) == "2026-11-21T10:00:00Z"
    assert iso_utc(MOMENT.replace(tzinfo=None)) == "2026-11-21T10:00:00Z"  # naive = UTC
    paris = MOMENT.astimezone(_dt.timezone(_dt.timedelta(hours=1)))
    assert iso_utc(paris) == "2026-11-21T10:00:00Z"
    # traces write the same text as everything else; the event log keeps microseconds, so
    # events within one second keep their order
    assert trace_now(MOMENT) == "2026-11-21T10:00:00Z"
    assert event_now(MOMENT) == "2026-11-21T10:00:00.654321Z"
    assert parse_iso(event_now(MOMENT)) == MOMENT
    now = iso_utc()
    assert len(now) == 20 and now.endswith("Z") and parse_iso(now) is not None


def test_older_timestamps_stay_readable() -> None:
    exact = MOMENT
    assert parse_iso("2026-11-21T10:00:00.654321Z") == exact  # events before the one clock
    assert parse_iso("2026-11-21T10:00:00Z") == exact.replace(microsecond=0)
    assert parse_iso("2026-11-21T11:00:00+01:00") == exact.replace(microsecond=0)
    assert parse_iso("2026-11-21T10:00:00") == exact.replace(microsecond=0)  # no zone: UTC
    assert parse_ts("2026-11-21T10:00:00.654321Z") == exact
    for bad in ("yesterday", "", None, 5, "2026-13-45T00:00:00Z"):
        assert parse_iso(bad) is None
