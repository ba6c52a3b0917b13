"""UTC time for every timestamp llmos writes: one format, and one finer precision for the log.

Every record (traces, facts, sessions, projects, the economy, crons, undo runs, bundles) stamps
time as ``2026-11-21T10:00:00Z``: UTC, whole seconds, a ``Z``; :func:`iso_utc` writes it. The
event log (and the inbox items and proposals it holds) needs the order of events that happen
within one second, so :func:`iso_utc_us` writes the same format with microseconds
(``2026-11-21T10:00:00.123456Z``). :func:`parse_iso` reads it back and also reads what older versions
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


#: The event log's format: :data:`ISO_FORMAT` with microseconds.
ISO_FORMAT_US = "%Y-%m-%dT%H:%M:%S.%fZ"


def iso_utc_us(when: _dt.datetime | float | None = None) -> str:
    """``when`` as ``2026-11-21T10:00:00.123456Z``: events that happen within one second keep
    their order (the inbox lists them newest first)."""
    return as_utc(when).strftime(ISO_FORMAT_US)


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
