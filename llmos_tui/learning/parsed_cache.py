"""A disk cache of parsed trace files (``state/parsed-traces.pickle``), keyed by their text.

A FOLLOWER hit reads the matched trace (and reads it again to count the outcome). Parsing its
YAML frontmatter needs PyYAML, whose import alone is a good part of a cold start (BENCHMARKS.md). The
store remembers the traces it has just written, keyed by a hash of the exact text it wrote, so
the next process that reads that text gets the parsed trace without PyYAML. The key is the
content, so a stale entry can never be returned: a file edited by hand has another hash and is
parsed (and validated) as always.

Only our own, private file is read (``state/``, owned by the current user, not writable by
others, the same rules as ``prepared_cache``); anything unexpected and the cache is ignored,
never an error, and so is a cache written by another version of the trace model (a stamp of
``traces.py``). It holds the last version of the :data:`KEEP` most recently used traces. Written without fsync
(atomic rename only): it is a cache, and a lost or empty file is simply rebuilt.
"""

from __future__ import annotations

import os
import pickle
import threading
from pathlib import Path
from typing import Any

from ..atomic import atomic_write_bytes
from ..digest import blake2b

FORMAT = 2
NAME = "parsed-traces.pickle"
KEEP = 256


def code_stamp() -> str:
    """Changes whenever the trace model or its header reader changes (a hash of the source of
    ``traces.py`` and ``trace_header.py``): objects pickled by other code are never handed to
    this code, while two installs of the same sources share the cache."""
    digest = blake2b(digest_size=16)
    for path in _source_files():
        with open(path, "rb") as f:
            digest.update(f.read())
    return f"{FORMAT}:{digest.hexdigest()}"


def _source_files() -> tuple[str, str]:
    """The files of ``traces`` and ``trace_header``: this package's sources next to this one,
    found without importing ``trace_header`` (its patterns cost about 3 ms to compile, and a
    cache hit never parses a header); the modules' own ``__file__`` when they are elsewhere."""
    here = os.path.dirname(os.path.abspath(__file__))
    files = (os.path.join(here, "traces.py"), os.path.join(here, "trace_header.py"))
    if all(os.path.isfile(f) for f in files):
        return files
    from . import trace_header, traces

    return str(traces.__file__), str(trace_header.__file__)


def text_key(text: str) -> str:
    return blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


class ParsedTraceCache:
    """One entry per trace id (the version last written or read): a trace rewritten after every
    replay replaces its entry instead of piling up versions."""

    def __init__(self, state_dir: Path) -> None:
        self.path = Path(state_dir) / NAME
        self._by_id: dict[str, tuple[str, bytes]] | None = (
            None  # trace id -> (text key, pickled Trace), oldest first
        )
        self._by_key: dict[str, str] = {}  # text key -> trace id
        self._dirty = False
        self._lock = threading.Lock()  # the TUI runs goals in worker threads

    def _load(self) -> dict[str, tuple[str, bytes]]:
        if self._by_id is not None:
            return self._by_id
        self._by_id, self._by_key = {}, {}
        try:
            st = os.stat(self.path)
            if st.st_uid != os.getuid() or st.st_mode & 0o022:
                return self._by_id
            with open(self.path, "rb") as handle:
                data = pickle.load(handle)
            if (
                isinstance(data, dict)
                and data.get("stamp") == code_stamp()
                and isinstance(data.get("traces"), dict)
            ):
                for tid, entry in data["traces"].items():
                    if (
                        isinstance(tid, str)
                        and isinstance(entry, tuple)
                        and len(entry) == 2
                        and isinstance(entry[0], str)
                        and isinstance(entry[1], bytes)
                    ):
                        self._by_id[tid] = entry
                        self._by_key[entry[0]] = tid
        except Exception:  # noqa: BLE001 - a missing or broken cache is rebuilt, never an error
            self._by_id, self._by_key = {}, {}
        return self._by_id

    def get(self, text: str) -> Any:
        """The trace parsed from exactly ``text``, a fresh object (None when not cached)."""
        key = text_key(text)
        with self._lock:
            by_id = self._load()
            tid = self._by_key.get(key)
            entry = by_id.get(tid) if tid is not None else None
        if entry is None or entry[0] != key:
            return None
        from .traces import Trace

        try:
            trace = pickle.loads(entry[1])
        except Exception:  # noqa: BLE001
            return None
        return trace if isinstance(trace, Trace) and trace.id == tid else None

    def put(self, text: str, trace: Any) -> None:
        """Remember that ``text`` parses to ``trace`` (written by :meth:`flush`)."""
        blob = pickle.dumps(
            trace, protocol=pickle.HIGHEST_PROTOCOL
        )  # a snapshot: callers mutate traces
        key = text_key(text)
        tid = str(trace.id)
        with self._lock:
            by_id = self._load()
            old = by_id.pop(tid, None)
            if old is not None:
                self._by_key.pop(old[0], None)
            by_id[tid] = (key, blob)
            self._by_key[key] = tid
            while len(by_id) > KEEP:
                oldest = next(iter(by_id))
                self._by_key.pop(by_id.pop(oldest)[0], None)
            self._dirty = True

    def flush(self) -> None:
        """Write the cache if it changed; never raises."""
        with self._lock:
            if not self._dirty or self._by_id is None:
                return
            self._dirty = False
            payload = pickle.dumps(
                {"stamp": code_stamp(), "traces": dict(self._by_id)},
                protocol=pickle.HIGHEST_PROTOCOL,
            )
        try:
            atomic_write_bytes(self.path, payload, mode=0o600, durable=False)
        except Exception:  # noqa: BLE001 - a cache that cannot be written is not an error
            pass
