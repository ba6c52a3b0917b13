"""A precision-first goal matcher with the standard library only.

The same kinds of gates as llmos's matcher (``llmos_tui/learning/matcher.py``), with no
rapidfuzz. The action-verb classes, their oppositions and the stemmer are llmos's own
(``edgekit/words.py``, the one copy both import); the rest of the vocabulary is smaller:

1. ``prepare`` lowercases a goal, takes out its slot values (quoted strings, URLs, file names and
   paths, numbers) as placeholders, expands contractions, drops articles and function words,
   stems lightly, and sorts what is left into action-verb classes (create/delete/run/...),
   technology words (Python, CSV, Docker, ...), generic words (script, simple, file, ...) and
   content words; words after a negation cue ("not", "without", "never", ...) up to the end of
   the clause are recorded as negated.
2. The base similarity of two goals is a weighted Dice overlap of their verb classes,
   technologies, content words and slot kinds, blended with ``difflib.SequenceMatcher`` over the
   sorted tokens.
3. Gates can only lower it: ``verb`` (same action classes; opposite ones such as create/delete
   cost most), ``negation``, ``technology``, ``slots`` (same kinds; a different value becomes a
   binding to substitute), ``content`` (a content word on one side only fails; generic words
   cost a little), ``track_record`` (the recorded run failed, or failures >= successes) and
   ``margin`` (another task scores almost as high).

A replay needs confidence >= the threshold *and* every gate passed.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Iterable

# The verb classes, their oppositions and the stemmer: one copy, shared with llmos.
from .words import IMPLIED_CLASSES, OPPOSED, VERB_LOOKUP, stem

FOLLOWER_THRESHOLD = 0.92
MIXED_THRESHOLD = 0.75

TECH_WORDS: dict[str, str | None] = {
    "python": "python",
    "python3": "python",
    "javascript": "javascript",
    "js": "javascript",
    "node": "javascript",
    "nodejs": "javascript",
    "typescript": "typescript",
    "ts": "typescript",
    "java": "java",
    "kotlin": "kotlin",
    "scala": "scala",
    "rust": "rust",
    "golang": "go",
    "go": "go",
    "c": "c",
    "c++": "c++",
    "cpp": "c++",
    "c#": "c#",
    "csharp": "c#",
    "ruby": "ruby",
    "php": "php",
    "perl": "perl",
    "swift": "swift",
    "haskell": "haskell",
    "elixir": "elixir",
    "lua": "lua",
    "julia": "julia",
    "dart": "dart",
    "bash": "bash",
    "shell": "shell",
    "zsh": "zsh",
    "powershell": "powershell",
    "sql": "sql",
    "r": "r",
    "html": "html",
    "css": "css",
    "json": "json",
    "jsonl": "json",
    "csv": "csv",
    "tsv": "tsv",
    "yaml": "yaml",
    "yml": "yaml",
    "toml": "toml",
    "xml": "xml",
    "markdown": "markdown",
    "pdf": "pdf",
    "excel": "excel",
    "sqlite": "sqlite",
    "docker": "docker",
    "kubernetes": "kubernetes",
    "npm": "npm",
    "pip": "pip",
    "cargo": "cargo",
    "pytest": "pytest",
    "jest": "jest",
    "black": "black",
    "ruff": "ruff",
    "flake8": "flake8",
    "mypy": "mypy",
    "eslint": "eslint",
    "prettier": "prettier",
    "flask": "flask",
    "django": "django",
    "fastapi": "fastapi",
    "react": "react",
    "vue": "vue",
    "postgres": "postgres",
    "mysql": "mysql",
    "redis": "redis",
    "nginx": "nginx",
    "git": "git",
    "github": "github",
    "linux": "linux",
    "windows": "windows",
    "http": "http",
    "https": "http",
    "ssh": "ssh",
    "pandas": "pandas",
    "numpy": "numpy",
    "matplotlib": "matplotlib",
    "tar": "tar",
    "zip": "zip",
    "gzip": "gzip",
    "make": None,
}
TECH_FAMILIES = {
    "lang": {
        "python",
        "javascript",
        "typescript",
        "java",
        "kotlin",
        "scala",
        "rust",
        "go",
        "c",
        "c++",
        "c#",
        "ruby",
        "php",
        "perl",
        "swift",
        "haskell",
        "elixir",
        "lua",
        "julia",
        "dart",
        "bash",
        "shell",
        "zsh",
        "powershell",
        "sql",
        "r",
    },
    "format": {
        "json",
        "csv",
        "tsv",
        "yaml",
        "toml",
        "xml",
        "markdown",
        "pdf",
        "excel",
        "sqlite",
        "html",
    },
}
GENERIC_WORDS = frozenset(
    """
simple small quick basic short brief little tiny big large new current latest nice good proper complete full
whole entire main default existing program script code app application tool utility file files thing project
version recent newest number numbers
""".split()
)
STOP_WORDS = frozenset(
    """
a an the please pls kindly just really actually this that these those there here it its they them their
is am are was were be been being do does did doing done have has had having will would shall should can could
may might must of in on at by for with from to into onto over under about after before between through via per
as than like so such too very also only again now then once and or if else while want need
let lets some any all every each both other another same own more most few he she it named called
get give put take using use within inside
""".split()
)
QUESTION_WORDS = frozenset("what when where who whom whose why how which if whether".split())
#: Words that put a goal in the past ("when did I change the oil" is not "when should I").
PAST_MARKERS = frozenset("did was were had ago yesterday last previously".split())
PERSONS = {
    **{w: "1" for w in "i me my mine myself we us our ours ourselves".split()},
    **{w: "2" for w in "you your yours yourself yourselves u ur".split()},
}
NEGATION_CUES = frozenset(
    "not no never without except excluding avoid skip nor neither none nothing".split()
)
CLAUSE_BREAKS = frozenset(
    {"and", "then", "but", "or", "also", "plus", ",", ".", ";", ":", "!", "?"}
)
_PHRASES = (
    (r"\bback(?:ing|ed|s)? up\b", "backup"),
    (r"\bset(?:ting|s)? up\b", "setup"),
    (r"\bshut(?:ting|s)? down\b", "shutdown"),
    (r"\bturn(?:ing|ed|s)? off\b", "turnoff"),
    (r"\bturn(?:ing|ed|s)? on\b", "turnon"),
    (r"\bclean(?:ing|ed|s)? up\b", "cleanup"),
    (r"\bget(?:ting|s)? rid of\b", "delete"),
    (r"\blook(?:ing|ed|s)? for\b", "find"),
    (r"\bfind(?:ing|s)? out\b", "find"),
    (r"\bhow many\b", "howmany"),
)
_CONTRACTIONS = (
    (r"\bcan't\b", "can not"),
    (r"\bwon't\b", "will not"),
    (r"\b(\w+)n't\b", r"\1 not"),
    (r"\b(\w+)'(?:re|ve|ll|d|m|s)\b", r"\1"),
    (r"\bdont\b", "do not"),
)
SYNONYMS = {
    "directory": "folder",
    "directories": "folder",
    "dir": "folder",
    "repository": "repo",
    "repositories": "repo",
    "codebase": "code",
    "documentation": "docs",
    "website": "site",
    "webpage": "page",
    "picture": "image",
    "photo": "image",
    "terminal": "shell",
    "console": "shell",
}
FILE_EXTENSIONS = frozenset(
    """
py pyi ipynb js mjs cjs jsx ts tsx java kt rs go c h cc cpp hpp cs rb php pl swift scala lua sh bash zsh ps1
sql r jl dart ex exs erl hs md markdown rst txt log csv tsv json jsonl yaml yml toml ini cfg conf env xml html
htm css scss svg pdf doc docx xls xlsx odt rtf tex png jpg jpeg gif webp ico mp3 wav mp4 zip gz tgz tar bz2 xz
7z db sqlite lock
""".split()
)

_QUOTED = re.compile(r"\"([^\"\n]{1,200})\"|(?<![\w])'([^'\n]{1,200})'(?![\w])")
_URL = re.compile(r"\bhttps?://[^\s\"'<>]+", re.IGNORECASE)
_FILE = re.compile(
    r"(?<![\w./~-])((?:\.{1,2}/|/)?(?:[\w.-]+/)*[\w-][\w.+-]*\.([A-Za-z0-9]{1,8}))(?![\w/-])"
)
_NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?![\w.]*\w)")
_TOKEN = re.compile(r"<[a-z]+>|[a-z0-9][a-z0-9+#]*|[,.;:!?]")

W_VERB, W_TECH, W_WORD, W_SLOT, W_QWORD = 1.0, 1.2, 1.0, 0.5, 0.6
MIN_SHARED = 2


_GENERIC_STEMS = frozenset(stem(w) for w in GENERIC_WORDS)


@dataclass(frozen=True)
class Goal:
    text: str
    tokens: tuple[str, ...]
    verbs: frozenset[str]
    tech: frozenset[str]
    words: frozenset[str]
    generic: frozenset[str]
    negated: frozenset[str]
    negation: bool
    qwords: frozenset[str] = frozenset()
    persons: frozenset[str] = frozenset()
    past: bool = False
    slots: dict[str, str] = field(default_factory=dict, hash=False, compare=False)
    slot_kinds: tuple[str, ...] = ()

    @property
    def key(self) -> tuple:
        return (self.tokens, tuple(sorted(self.slots.items())))

    def weighted(self) -> dict[str, float]:
        out = {f"v:{v}": W_VERB for v in self.verbs}
        out.update({f"t:{t}": W_TECH for t in self.tech})
        out.update({w: W_WORD for w in self.words})
        out.update({f"q:{w}": W_QWORD for w in self.qwords})
        for i, kind in enumerate(self.slot_kinds):
            out[f"<{kind}{i}>"] = W_SLOT
        return out


def extract_slots(goal: str) -> tuple[str, dict[str, str]]:
    """The goal with slot values replaced by placeholders, and the values by key (file, file2, ...)."""
    slots: dict[str, str] = {}
    counts: dict[str, int] = {}
    spans: list[tuple[int, int, str, str]] = []

    def taken(a: int, b: int) -> bool:
        return any(a < e and s < b for s, e, _k, _v in spans)

    def add(kind: str, a: int, b: int, value: str) -> None:
        if not taken(a, b):
            spans.append((a, b, kind, value))

    for m in _QUOTED.finditer(goal):
        add("quoted", m.start(), m.end(), m.group(1) if m.group(1) is not None else m.group(2))
    for m in _URL.finditer(goal):
        add("url", m.start(), m.end(), m.group(0).rstrip(".,;:!?)"))
    for m in _FILE.finditer(goal):
        if m.group(2).lower() in FILE_EXTENSIONS:
            value = m.group(1)
            add("path" if "/" in value else "file", m.start(1), m.end(1), value)
    for m in _NUMBER.finditer(goal):
        add("number", m.start(), m.end(), m.group(0))
    out, last = [], 0
    for a, b, kind, value in sorted(spans):
        n = counts.get(kind, 0) + 1
        counts[kind] = n
        slots[kind if n == 1 else f"{kind}{n}"] = value
        out.append(goal[last:a])
        out.append(f" <{kind}> ")
        last = b
    out.append(goal[last:])
    return "".join(out), slots


def prepare(goal: str) -> Goal:
    text = unicodedata.normalize("NFKC", goal).strip()
    body, slots = extract_slots(text)
    body = body.lower().replace("\u2019", "'")
    for pattern, repl in _CONTRACTIONS:
        body = re.sub(pattern, repl, body)
    for pattern, repl in _PHRASES:
        body = re.sub(pattern, repl, body)
    tokens: list[str] = []
    verbs: set[str] = set()
    tech: set[str] = set()
    words: set[str] = set()
    generic: set[str] = set()
    negated: set[str] = set()
    negation = False
    in_scope = False
    qwords: set[str] = set()
    persons: set[str] = set()
    words_raw = _TOKEN.findall(body)
    past = any(w in PAST_MARKERS for w in words_raw)
    for raw in words_raw:
        if raw in CLAUSE_BREAKS:
            in_scope = False
            continue
        if raw in NEGATION_CUES:
            negation = in_scope = True
            continue
        if raw.startswith("<"):
            tokens.append(raw)
            continue
        if raw in QUESTION_WORDS:
            qwords.add(raw)
            tokens.append("q:" + raw)
            continue
        if raw in PERSONS:
            persons.add(PERSONS[raw])
            continue
        if tech_word := TECH_WORDS.get(raw):
            tok = "t:" + tech_word
            tech.add(tech_word)
        elif raw in STOP_WORDS:
            continue
        else:
            raw = SYNONYMS.get(raw, raw)
            root = stem(raw)
            if raw in VERB_LOOKUP or root in VERB_LOOKUP:
                cls = VERB_LOOKUP.get(raw) or VERB_LOOKUP[root]
                tok = "v:" + cls
                verbs.add(cls)
            elif raw in GENERIC_WORDS or root in _GENERIC_STEMS:
                generic.add(root)
                continue
            else:
                tok = root
                words.add(root)
        tokens.append(tok)
        if in_scope:
            negated.add(tok)
    kinds = tuple(sorted(re.sub(r"\d+$", "", k) for k in slots))
    return Goal(
        text=text,
        tokens=tuple(tokens),
        verbs=frozenset(verbs),
        tech=frozenset(tech),
        words=frozenset(words),
        generic=frozenset(generic),
        negated=frozenset(negated),
        negation=negation,
        qwords=frozenset(qwords),
        persons=frozenset(persons),
        past=past,
        slots=slots,
        slot_kinds=kinds,
    )


# ---- scoring ---------------------------------------------------------------------------------------


@dataclass
class Gate:
    name: str
    passed: bool
    penalty: float = 0.0
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "passed": self.passed,
            "penalty": round(self.penalty, 4),
            "reason": self.reason,
        }


@dataclass
class Match:
    trace_id: str
    goal: str
    confidence: float
    base: float
    gates: list[Gate]
    bindings: dict[str, str]

    @property
    def passed(self) -> bool:
        return all(g.passed for g in self.gates)

    def to_dict(self) -> dict[str, Any]:
        return {
            "trace_id": self.trace_id,
            "goal": self.goal,
            "confidence": round(self.confidence, 4),
            "base": round(self.base, 4),
            "gates": [g.to_dict() for g in self.gates],
            "slot_bindings": dict(self.bindings),
        }


def similarity(q: Goal, t: Goal) -> float:
    qw, tw = q.weighted(), t.weighted()
    if not q.verbs or not t.verbs:  # a verbless goal implies its action: compare the rest
        qw = {k: v for k, v in qw.items() if not k.startswith("v:")}
        tw = {k: v for k, v in tw.items() if not k.startswith("v:")}
    shared = sum(min(qw[k], tw[k]) for k in qw.keys() & tw.keys())
    total = sum(qw.values()) + sum(tw.values())
    dice = 2 * shared / total if total else 0.0
    a = " ".join(sorted(x for x in q.tokens if not x.startswith("<") and x in qw))
    b = " ".join(sorted(x for x in t.tokens if not x.startswith("<") and x in tw))
    ratio = difflib.SequenceMatcher(None, a, b, autojunk=False).ratio() if (a or b) else 1.0
    return 0.8 * dice + 0.2 * ratio


def _verb_gate(q: Goal, t: Goal) -> Gate:
    only_q, only_t = q.verbs - t.verbs, t.verbs - q.verbs
    opposed = sorted(
        f"{a} vs {b}" for a in q.verbs for b in t.verbs if frozenset((a, b)) in OPPOSED
    )
    if opposed:
        return Gate("verb", False, 0.6, f"opposite actions: {', '.join(opposed)}")
    if not only_q and not only_t:
        return Gate("verb", True, 0.0, f"same actions ({', '.join(sorted(q.verbs)) or 'none'})")
    if not q.verbs and only_t <= IMPLIED_CLASSES and len(only_t) == 1:
        return Gate(
            "verb", True, 0.03, f"the goal has no action verb; '{next(iter(only_t))}' is implied"
        )
    if not t.verbs and only_q <= IMPLIED_CLASSES and len(only_q) == 1:
        return Gate(
            "verb", True, 0.03, f"the trace has no action verb; '{next(iter(only_q))}' is implied"
        )
    parts = ([f"goal only: {', '.join(sorted(only_q))}"] if only_q else []) + (
        [f"trace only: {', '.join(sorted(only_t))}"] if only_t else []
    )
    return Gate("verb", False, 0.35, "different actions (" + "; ".join(parts) + ")")


def _negation_gate(q: Goal, t: Goal) -> Gate:
    if q.negation == t.negation and q.negated == t.negated:
        return Gate("negation", True, 0.0, "no negation" if not q.negation else "same negation")
    return Gate("negation", False, 0.6, "one goal negates what the other does not")


def _tech_gate(q: Goal, t: Goal) -> Gate:
    if q.tech == t.tech:
        return Gate(
            "technology",
            True,
            0.0,
            f"same technology ({', '.join(sorted(q.tech)) or 'none named'})",
        )
    only_q, only_t = q.tech - t.tech, t.tech - q.tech
    swaps = [
        f"{b} -> {a}"
        for a in only_q
        for b in only_t
        if any(a in fam and b in fam for fam in TECH_FAMILIES.values())
    ]
    if swaps:
        return Gate("technology", False, 0.6, f"different technology: {', '.join(sorted(swaps))}")
    return Gate(
        "technology", False, 0.3, f"goal names {sorted(only_q)}, trace names {sorted(only_t)}"
    )


def _slot_gate(q: Goal, t: Goal) -> tuple[Gate, dict[str, str]]:
    if q.slot_kinds != t.slot_kinds or set(q.slots) != set(t.slots):
        return Gate(
            "slots",
            False,
            0.15,
            f"different slots: goal {sorted(q.slots)}, trace {sorted(t.slots)}",
        ), {}
    bindings = {k: v for k, v in q.slots.items() if v != t.slots[k]}
    if bindings:
        desc = ", ".join(f"{k}: {t.slots[k]!r} -> {v!r}" for k, v in sorted(bindings.items()))
        return Gate(
            "slots", True, 0.02, f"differs only in slot values ({desc}); substitution required"
        ), bindings
    return Gate("slots", True, 0.0, "same slots" if q.slots else "no slots"), {}


def _content_gate(q: Goal, t: Goal) -> Gate:
    only_q = (q.words - t.words) | {f"{w}?" for w in q.qwords - t.qwords}
    only_t = (t.words - q.words) | {f"{w}?" for w in t.qwords - q.qwords}
    shared = (
        len(q.words & t.words)
        + len(q.tech & t.tech)
        + len(q.verbs & t.verbs)
        + sum(min(q.slot_kinds.count(k), t.slot_kinds.count(k)) for k in set(q.slot_kinds))
    )
    if shared < MIN_SHARED:
        return Gate(
            "content",
            False,
            0.2,
            f"too little in common ({shared} shared word(s); {MIN_SHARED} needed)",
        )
    if only_q or only_t:
        parts = ([f"goal only: {', '.join(sorted(only_q))}"] if only_q else []) + (
            [f"trace only: {', '.join(sorted(only_t))}"] if only_t else []
        )
        return Gate("content", False, 0.15, "; ".join(parts))
    generic = q.generic ^ t.generic
    if generic:
        return Gate(
            "content",
            True,
            min(0.06, 0.02 * len(generic)),
            f"only generic words differ ({', '.join(sorted(generic))})",
        )
    return Gate("content", True, 0.0, "same content words")


def _tense_gate(q: Goal, t: Goal) -> Gate:
    if q.past == t.past:
        return Gate("tense", True, 0.0, "same tense")
    return Gate("tense", False, 0.1, f"only the {'goal' if q.past else 'trace'} is about the past")


def _person_gate(q: Goal, t: Goal) -> Gate:
    """Who does what to whom: "what will you call me" is not "what should I call you"."""
    if not q.persons or not t.persons or q.persons == t.persons:
        return Gate(
            "person", True, 0.0, "same roles" if q.persons and t.persons else "no roles to compare"
        )
    return Gate(
        "person",
        False,
        0.2,
        f"different roles ({'/'.join(sorted(q.persons))} vs {'/'.join(sorted(t.persons))})",
    )


def _track_gate(trace: Any) -> Gate:
    if getattr(trace, "outcome", "success") != "success":
        return Gate("track_record", False, 0.3, "the recorded run failed")
    ok, bad = int(getattr(trace, "success_count", 0)), int(getattr(trace, "failure_count", 0))
    if bad and bad >= ok:
        return Gate("track_record", False, 0.3, f"{bad} failures vs {ok} successes")
    return Gate("track_record", True, 0.0, f"{ok} successes, {bad} failures")


class Matcher:
    """Scores a goal against the traces of a bundle: traces sharing a word with the goal are
    pre-ranked by weighted Dice overlap, the best ``FULL_CANDIDATES`` get the full score and gates."""

    FULL_CANDIDATES = 40

    def __init__(self, traces: Iterable[Any]) -> None:
        self.traces = [t for t in traces if getattr(t, "calls", None)]
        self._prepared = [(t, prepare(t.goal)) for t in self.traces]
        self._weights = [g.weighted() for _t, g in self._prepared]
        self._by_id = {t.id: t for t in self.traces}
        self._postings: dict[str, list[int]] = {}
        for i, w in enumerate(self._weights):
            for token in w:
                self._postings.setdefault(token, []).append(i)

    def _dice(self, qw: dict[str, float], i: int) -> float:
        tw = self._weights[i]
        shared = sum(min(qw[k], tw[k]) for k in qw.keys() & tw.keys())
        total = sum(qw.values()) + sum(tw.values())
        return 2 * shared / total if total else 0.0

    def rank(self, goal: str, k: int = 5) -> list[Match]:
        q = prepare(goal)
        qw = q.weighted()
        pool = {i for token in qw for i in self._postings.get(token, ())}
        pool |= {i for i, (_t, g) in enumerate(self._prepared) if g.key == q.key}
        order = sorted(pool, key=lambda i: (-self._dice(qw, i), i))[: self.FULL_CANDIDATES]
        scored: list[tuple[Match, Goal]] = []
        for i in order:
            trace, t = self._prepared[i]
            base = 1.0 if q.key == t.key else similarity(q, t)
            gates = [_verb_gate(q, t), _negation_gate(q, t), _tech_gate(q, t)]
            slot_gate, bindings = _slot_gate(q, t)
            gates += [
                slot_gate,
                _content_gate(q, t),
                _person_gate(q, t),
                _tense_gate(q, t),
                _track_gate(trace),
            ]
            conf = base
            for g in gates:
                conf *= 1.0 - g.penalty
            scored.append(
                (Match(trace.id, trace.goal, max(0.0, min(1.0, conf)), base, gates, bindings), t)
            )
        # Prefer healthy, proven traces among equal goals.
        scored.sort(
            key=lambda mt: (
                -mt[0].confidence,
                -int(mt[0].passed),
                -int(getattr(self._by_id.get(mt[0].trace_id), "success_count", 0)),
                mt[0].trace_id,
            )
        )
        if scored:
            best, best_goal = scored[0]
            margin = Gate("margin", True, 0.0, "no close rival task")
            for other, other_goal in scored[1:]:
                if best.confidence - other.confidence >= 0.05:
                    break
                if other_goal.key != best_goal.key and similarity(best_goal, other_goal) < 0.6:
                    margin = Gate(
                        "margin",
                        False,
                        0.1,
                        f"rival task {other.goal!r} scores within "
                        f"{best.confidence - other.confidence:.2f}",
                    )
                    best.confidence = max(0.0, best.confidence - 0.1)
                    break
            best.gates.append(margin)
        return [m for m, _t in scored[:k]]


def decide(
    matches: list[Match], *, threshold: float = FOLLOWER_THRESHOLD
) -> tuple[Match | None, str]:
    """(the match to replay, or None; the reason)."""
    if not matches:
        return None, "the bundle has no replayable trace"
    best = matches[0]
    failed = [g for g in best.gates if not g.passed]
    if failed:
        return None, (
            f"best match {best.goal!r} at {best.confidence:.2f}; failed: "
            + "; ".join(f"{g.name} ({g.reason})" for g in failed)
        )
    if best.confidence < threshold:
        return (
            None,
            f"best match {best.goal!r} at {best.confidence:.2f} is below the replay threshold {threshold:.2f}",
        )
    return best, f"best match {best.goal!r} at {best.confidence:.2f}; all gates passed"
