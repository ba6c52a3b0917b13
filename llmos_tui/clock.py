"""UTC time for every timestamp llmos writes: one format, one precision.

Every record (traces, events, facts, sessions, projects, the economy, crons, inbox items, undo
runs, bundles, proposals) stamps time as ``2026-11-21T10:00:00Z``: UTC, whole seconds, a ``Z``.
:func:`iso_utc` writes it; :func:`parse_iso` reads it back and also reads what older versions
wrote (``2026-11-21T10:00:00.123456Z`` with microseconds, ``+00:00`` or another offset, no zone
at all = UTC), so files written before stay readable.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

#: The one timestamp format (``time.strftime`` / ``datetime.strftime``), always in UTC.
ISO_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def utc_now() -> _dt.datetime:
    """Now, as an aware UTC datetime (full precision: for arithmetic, not for writing)."""
    return _dt.datetime.now(_dt.UTC)


def as_utc(when: _dt.datetime | float | None = None) -> _dt.datetime:
    """``when`` (an aware or naive-as-UTC datetime, or a Unix time; None: now) in UTC."""
    if when is None:
        return utc_now()
    if isinstance(when, _dt.datetime):
        return when.replace(tzinfo=_dt.UTC) if when.tzinfo is None else when.astimezone(_dt.UTC)
    return _dt.datetime.fromtimestamp(float(when), _dt.UTC)


def iso_utc(when: _dt.datetime | float | None = None) -> str:
    """``when`` (a datetime, a Unix time; None: now) as ``2026-11-21T10:00:00Z``."""
    return as_utc(when).strftime(ISO_FORMAT)


def parse_iso(text: Any) -> _dt.datetime | None:
    """An ISO 8601 timestamp (any precision, ``Z``, an offset, or none = UTC) as an aware UTC
    datetime; None when ``text`` is not one."""
    if isinstance(text, _dt.datetime):
        return as_utc(text)
    if not isinstance(text, str):
        return None
    try:
        value = _dt.datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return as_utc(value)
