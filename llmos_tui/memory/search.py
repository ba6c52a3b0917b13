"""Search every level of memory at once: facts (L4), volume insights (L4), traces (L3) and session
logs (L2). Ranking is BM25 over light-stemmed words with the stop words removed; ``relevance`` is
the share of the query's (IDF-weighted) words a document contains, in [0, 1].
"""

from __future__ import annotations

import contextlib
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from edgekit.frontmatter import FrontmatterError
from edgekit.frontmatter import split as split_frontmatter

KINDS = ("fact", "insight", "trace", "session")
MAX_SESSIONS = 200
MAX_INSIGHT_CHARS = 4000
_WORD = re.compile(r"[a-z0-9][a-z0-9+#]*")
STOP = frozenset(
    """
a an the and or but if then so to of in on at by for with from into onto as is am are was were be been being
do does did doing have has had it its this that these those there here i me my we our you your he she they
them their what which who whom how why when where can could should would will shall may might must not no
please just also only very too about over under again more most some any all each both few other such own
same than up down out off let lets get got
""".split()
)


def stem(word: str) -> str:
    for suffix, repl in (("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if (
            word.endswith(suffix)
            and len(word) - len(suffix) >= 3
            and not (suffix == "s" and word.endswith("ss"))
        ):
            word = word[: -len(suffix)] + repl
            break
    if len(word) > 3 and word.endswith("e"):
        word = word[:-1]
    return word


def tokens(text: str) -> list[str]:
    return [stem(w) for w in _WORD.findall(text.lower()) if w not in STOP]


@dataclass
class MemoryHit:
    kind: str
    id: str
    title: str
    text: str
    score: float = 0.0
    relevance: float = 0.0
    source: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "id": self.id,
            "title": self.title,
            "text": self.text,
            "score": round(self.score, 4),
            "relevance": round(self.relevance, 4),
            "source": self.source,
            "meta": self.meta,
        }


class BM25:
    def __init__(self, docs: list[list[str]], k1: float = 1.2, b: float = 0.75) -> None:
        self.docs = docs
        self.k1, self.b = k1, b
        self.n = len(docs)
        self.avg = (sum(len(d) for d in docs) / self.n) if self.n else 0.0
        self.df: dict[str, int] = {}
        for d in docs:
            for t in set(d):
                self.df[t] = self.df.get(t, 0) + 1
        self.tf = [self._counts(d) for d in docs]

    @staticmethod
    def _counts(doc: list[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        for t in doc:
            out[t] = out.get(t, 0) + 1
        return out

    def idf(self, term: str) -> float:
        df = self.df.get(term, 0)
        return math.log(1 + (self.n - df + 0.5) / (df + 0.5))

    def score(self, query: list[str], i: int) -> float:
        tf, length = self.tf[i], len(self.docs[i])
        total = 0.0
        for term in set(query):
            f = tf.get(term)
            if not f:
                continue
            denom = f + self.k1 * (1 - self.b + self.b * length / (self.avg or 1.0))
            total += self.idf(term) * f * (self.k1 + 1) / denom
        return total

    def coverage(self, query: list[str], i: int) -> float:
        """Share of the query's distinct words found in document ``i``; a word no document holds
        weighs as much as the rarest word that some document does hold (not more)."""
        terms = set(query)
        if not terms:
            return 0.0
        known = [self.idf(t) for t in terms if t in self.df]
        cap = max(known) if known else 1.0
        weights = {t: (self.idf(t) if t in self.df else cap) for t in terms}
        return sum(w for t, w in weights.items() if t in self.tf[i]) / (
            sum(weights.values()) or 1.0
        )


def _fact_hits(workspace: Any, project: str | None, warn: Callable[[str], None]) -> list[MemoryHit]:
    from .facts import all_facts

    return [
        MemoryHit(
            "fact",
            f.id,
            f.kind,
            f.text,
            source=str(f.path or ""),
            meta={
                "kind": f.kind,
                "key": f.key,
                "project": f.project,
                "updated_at": f.updated_at,
                "confidence": f.confidence,
            },
        )
        for f in all_facts(workspace, project, on_warning=warn)
    ]


def _insight_hits(workspace: Any, volumes: Iterable[str] | None) -> list[MemoryHit]:
    out = []
    root = Path(workspace.volumes_dir)
    folders = (
        [root / v / "insights" for v in volumes]
        if volumes is not None
        else sorted(root.glob("**/insights"))
    )
    for folder in folders:
        try:
            files = sorted(folder.glob("*.md"))
        except OSError:
            continue
        for path in files:
            try:
                text = path.read_text(encoding="utf-8", errors="replace")[:MAX_INSIGHT_CHARS]
            except OSError:
                continue
            with contextlib.suppress(FrontmatterError):
                text = split_frontmatter(text)[1]  # the body (the header is not parsed)
            title = next(
                (ln.lstrip("# ").strip() for ln in text.splitlines() if ln.strip()), path.stem
            )
            out.append(MemoryHit("insight", path.stem, title, text.strip(), source=str(path)))
    return out


def call_summary(calls: Iterable[Any], limit: int = 6) -> str:
    """``Write calc.py; Bash `python3 calc.py``` — what a trace did, in a line."""
    parts = []
    calls = list(calls)
    for call in calls[:limit]:
        name = getattr(call, "name", None) or (call.get("name") if isinstance(call, dict) else "?")
        data = getattr(call, "input", None) if not isinstance(call, dict) else call.get("input")
        data = data if isinstance(data, dict) else {}
        detail = ""
        for key in ("file_path", "notebook_path", "command", "pattern", "path", "url", "query"):
            value = data.get(key)
            if isinstance(value, str) and value:
                value = value.replace("{{cwd}}/", "").replace("{{cwd}}", ".")
                value = " ".join(value.split())
                detail = value if len(value) <= 60 else value[:59] + "…"
                if key == "command":
                    detail = f"`{detail}`"
                break
        parts.append(f"{name} {detail}".strip())
    if len(calls) > limit:
        parts.append(f"… ({len(calls) - limit} more)")
    return "; ".join(parts)


def _trace_hits(store: Any, volumes: Iterable[str] | None) -> list[MemoryHit]:
    out = []
    for e in store.index.entries(volumes):
        out.append(
            MemoryHit(
                "trace",
                e.id,
                e.goal,
                e.goal,
                source=e.path,
                meta={
                    "volume": e.volume,
                    "project": e.project,
                    "outcome": e.outcome,
                    "uses": e.usage_count,
                    "success_rate": round(e.success_rate, 4),
                    "tools": list(e.tools_used),
                    "mode": e.mode,
                    "crystallized_tool": e.crystallized_tool,
                    "needs_context": getattr(e, "needs_context", False),
                },
            )
        )
    return out


def _session_hits(workspace: Any) -> list[MemoryHit]:
    from .sessions import iter_sessions

    out = []
    for session in iter_sessions(workspace, newest_first=True, limit=MAX_SESSIONS):
        for n, entry in enumerate(session.entries):
            text = entry.text if len(entry.text) <= 2000 else entry.text[:1999] + "…"
            out.append(
                MemoryHit(
                    "session",
                    f"{session.id}#{n + 1}",
                    f"{entry.role} · {entry.at}",
                    text,
                    source=str(session.path),
                    meta={
                        "session": session.id,
                        "role": entry.role,
                        "at": entry.at,
                        "project": session.meta.get("project"),
                    },
                )
            )
    return out


def collect(
    workspace: Any,
    *,
    store: Any = None,
    kinds: Iterable[str] = KINDS,
    volumes: Iterable[str] | None = None,
    project: str | None = None,
    on_warning: Callable[[str], None] | None = None,
) -> list[MemoryHit]:
    warn = on_warning or (lambda _m: None)
    kinds = set(kinds)
    bad = kinds - set(KINDS)
    if bad:
        from ..errors import UsageError

        raise UsageError(
            f"unknown memory kind(s) {', '.join(sorted(bad))} (choose from {', '.join(KINDS)})"
        )
    volumes = list(volumes) if volumes is not None else None
    docs: list[MemoryHit] = []
    if "fact" in kinds:
        docs += _fact_hits(workspace, project, warn)
    if "insight" in kinds:
        docs += _insight_hits(workspace, volumes)
    if "trace" in kinds and store is not None:
        docs += _trace_hits(store, volumes)
    if "session" in kinds:
        docs += _session_hits(workspace)
    return docs


def rank(
    query: str, docs: list[MemoryHit], *, limit: int = 10, min_relevance: float = 0.0
) -> list[MemoryHit]:
    q = tokens(query)
    if not q or not docs:
        return []
    index = BM25(
        [tokens(d.title + " " + d.text) if d.kind != "trace" else tokens(d.text) for d in docs]
    )
    hits = []
    for i, doc in enumerate(docs):
        score = index.score(q, i)
        if score <= 0:
            continue
        doc.score, doc.relevance = score, index.coverage(q, i)
        if doc.relevance >= min_relevance:
            hits.append(doc)
    hits.sort(key=lambda h: (-h.score, h.kind, h.id))
    return hits[:limit] if limit else hits


def search_memory(
    query: str,
    workspace: Any,
    *,
    store: Any = None,
    kinds: Iterable[str] = KINDS,
    volumes: Iterable[str] | None = None,
    project: str | None = None,
    limit: int = 10,
    on_warning: Callable[[str], None] | None = None,
) -> list[MemoryHit]:
    """The best ``limit`` hits for ``query`` across the memory levels asked for."""
    return rank(
        query,
        collect(
            workspace,
            store=store,
            kinds=kinds,
            volumes=volumes,
            project=project,
            on_warning=on_warning,
        ),
        limit=limit,
    )
