"""Goal preprocessing for the matcher: tokens, verb classes, negation, technology, slots.

``prepare(goal)`` turns a goal into a :class:`PreparedGoal`: canonical tokens (light stemming,
a synonym map for action verbs and a few generic computing words; articles and politeness
dropped; function words, question words and grammatical person kept as weak evidence), the
action-verb classes it uses (and which of them head a clause), what it negates, which
technologies it names, its sentence type (order or yes/no question), tense, and its slots.
Everything here is generic English/computing vocabulary; nothing is tuned to a data set.

Slot values are replaced by placeholders (``<number>``, ``<url>``, ...) so that two goals that
differ only in a value still share their tokens; the values themselves travel in ``slots``.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from functools import cached_property, lru_cache
from typing import Any

# The verb classes and the stemmer are shared with the edge runtime (one copy, no drift);
# IMPLIED_CLASSES is re-exported for the accounting.
from edgekit.words import IMPLIED_CLASSES, VERB_LOOKUP, stem  # noqa: F401

from ..records import field, record
from ..errors import UsageError
from .slots import PROGRAMMING_LANGUAGES, SlotSpan, find_slots, number_keys

# ---- vocabularies -------------------------------------------------------------------------

#: Words dropped outright: articles and politeness.
DROP_WORDS = frozenset(
    """
a an the please pls plz kindly just really actually basically simply um uh
""".split()
)

#: Question words: they often decide what is asked ("when" vs "how" to change the oil).
QUESTION_WORDS = frozenset("what when where who whom whose why how which".split())

#: Grammatical person: "what will you call me" is not "what should I call you".
FIRST_PERSON = frozenset("i me my mine myself we us our ours ourselves".split())
SECOND_PERSON = frozenset("you your yours yourself yourselves u ur".split())

#: Verbs without an action class of their own ("get the list", "put bread on the list"): a goal
#: that uses one is not "verbless".
LIGHT_FUNCTION_VERBS = frozenset("get got gets give put take keep bring grab".split())

#: Function words: kept as weak evidence (they separate "that is right" from "are you okay
#: right now"), never a content difference on their own.
STOP_WORDS = (
    LIGHT_FUNCTION_VERBS
    | frozenset(
        """
this that these those there here it its they them their theirs he him his she her hers one ones
is am are was were be been being do does did doing done have has had having will would shall
should can could may might must ought
of in on at by for with from to into onto over under below above about after before between
through during via per up down out off as than like so such too very also only
again ever even still already yet now then once
and or nor if else while
want wanna need needs like let lets going gonna getting gives gave giving puts try trying
some any all every each both either other another same own much many more most few
lot lots bit something anything everything someone anyone everyone thing things stuff way able
sure using within inside whether know wonder
""".split()
    )
    | QUESTION_WORDS
    | FIRST_PERSON
    | SECOND_PERSON
    | DROP_WORDS
)
# "not", "no", "never", "without" are negation cues, handled before stop words are dropped.


#: Request frames stripped at the start of a goal ("can you ...", "I want you to ...").
_REQUEST_FRAMES = (  # compiled by _request_frames()
    r"^(?:(?:hey|hi|ok|okay|so|now),?\s+)?(?:please\s+)?"
    r"(?:(?:can|could|would|will)\s+you\s+(?:please\s+)?(?:help\s+me\s+(?:to\s+)?)?"
    r"|i\s+(?:want|need|would\s+like|'d\s+like|wish)\s+(?:you\s+)?to\s+"
    r"|i'd\s+like\s+(?:you\s+)?to\s+"
    r"|help\s+me\s+(?:to\s+)?"
    r"|(?:go\s+ahead\s+and|let's|lets)\s+)"
)


# The patterns below are compiled when a goal is first prepared, not when the module is imported:
# a replay whose goals come prepared from the cache never needs them.
@lru_cache(maxsize=None)
def _request_frames() -> re.Pattern[str]:
    return re.compile(_REQUEST_FRAMES)


#: Words that carry little task identity: they count, but little.
GENERIC_WORDS = frozenset(
    """
simple small quick basic short brief little tiny big large new current latest recent newest
nice good proper complete full whole entire main entire default existing given certain
program script code app application tool utility file files folder thing project repo
version
""".split()
)

#: Classes that are "light": "write a summary" means "summarize", "make a backup" means "back up".
LIGHT_VERBS = frozenset(
    {
        "write",
        "make",
        "create",
        "give",
        "do",
        "produce",
        "generate",
        "provide",
        "prepare",
        "perform",
        "take",
        "build",
    }
)
#: Adjectives that may stand between a light verb and its action noun ("a short summary").
LIGHT_ADJECTIVES = frozenset(
    """
simple small quick basic short brief little tiny big large new full complete detailed proper
nice good whole entire daily weekly monthly overall final concise thorough clean fresh
""".split()
)

#: Multi-word phrases rewritten before tokenising (generic English phrasal verbs).
PHRASES: tuple[tuple[str, str], ...] = (
    (r"\bback(?:ing|ed|s)? up\b", "backup"),
    (r"\bset(?:ting|s)? up\b", "setup"),
    (r"\bshut(?:ting|s)? down\b", "shutdown"),
    (r"\bturn(?:ing|ed|s)? off\b", "turnoff"),
    (r"\bturn(?:ing|ed|s)? (?:it |that |this )?up\b", "increase"),
    (r"\bturn(?:ing|ed|s)? (?:it |that |this )?down\b", "decrease"),
    (r"\bspeed(?:ing|s)? up\b", "accelerate"),
    (r"\bslow(?:ing|ed|s)? down\b", "decelerate"),
    (r"\bswitch(?:ing|ed|es)? off\b", "switchoff"),
    (r"\bturn(?:ing|ed|s)? on\b", "turnon"),
    (r"\bswitch(?:ing|ed|es)? on\b", "switchon"),
    (r"\blook(?:ing|ed|s)? up\b", "lookup"),
    (r"\blook(?:ing|ed|s)? for\b", "find"),
    (r"\bfind(?:ing|s)? out\b", "find"),
    (r"\bfigur(?:e|ing|ed|es) out\b", "find"),
    (r"\bclean(?:ing|ed|s)? up\b", "cleanup"),
    (r"\bget(?:ting|s)? rid of\b", "delete"),
    (r"\btear(?:ing|s)? down\b", "delete"),
    (r"\bspin(?:ning|s)? up\b", "spinup"),
    (r"\bkick(?:ing|ed|s)? off\b", "kickoff"),
    (r"\bfre(?:e|eing|ed|es) up\b", "free"),
    (r"\blog(?:ging|ged|s)? in(?:to)?\b", "login"),
    (r"\bsign(?:ing|ed|s)? in(?:to)?\b", "signin"),
    (r"\blog(?:ging|ged|s)? out\b", "logout"),
    (r"\bsign(?:ing|ed|s)? out\b", "signout"),
    (r"\bhow many\b", "howmany"),
    (r"\bmake sure\b", "makesure"),
    (r"\bto-?do\b", "todo"),
    (r"\bcheck(?:ing|ed|s)? out\b", "checkout"),
    (r"\bpick(?:ing|ed|s)? up\b", "pickup"),
    (r"\bwrite(?:s)? down\b", "note"),
    (r"\bturn(?:ing|ed|s)? (?=\w+ into\b)", "convert "),
    (r"\bcode ?base\b", "code"),
    (r"\bsource code\b", "code"),
)

#: Synonyms for non-verb words (generic computing vocabulary) -> canonical.
SYNONYMS: dict[str, str] = {
    "directory": "folder",
    "dir": "folder",
    "directories": "folder",
    "repository": "repo",
    "repositories": "repo",
    "documentation": "docs",
    "doc": "docs",
    "document": "doc",
    "application": "app",
    "programme": "program",
    "function": "func",
    "method": "func",
    "web": "http",
    "website": "site",
    "webpage": "page",
    "picture": "image",
    "photo": "image",
    "img": "image",
    "pic": "image",
    "primes": "prime",
    "haikus": "haiku",
    "commandline": "cli",
    "terminal": "shell",
    "console": "shell",
    "db": "database",
    "dbs": "database",
    "config": "configuration",
    "cfg": "configuration",
    "settings": "configuration",
    "vacation": "vacation",
    "pto": "vacation",
    "automobile": "car",
    "vehicle": "car",
    "auto": "car",
}

#: Technology words: formats, tools and platforms (programming languages come from slots.py).
TECH_WORDS: dict[str, str] = {
    **{
        k: v
        for k, v in PROGRAMMING_LANGUAGES.items()
        if k not in {"c", "r", "go", "py", "ts", "js"}
    },
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
    "xlsx": "excel",
    "parquet": "parquet",
    "sqlite": "sqlite",
    "protobuf": "protobuf",
    "docker": "docker",
    "kubernetes": "kubernetes",
    "k8s": "kubernetes",
    "podman": "podman",
    "npm": "npm",
    "yarn": "yarn",
    "pnpm": "pnpm",
    "pip": "pip",
    "conda": "conda",
    "poetry": "poetry",
    "cargo": "cargo",
    "maven": "maven",
    "gradle": "gradle",
    "pytest": "pytest",
    "unittest": "unittest",
    "jest": "jest",
    "mocha": "mocha",
    "black": "black",
    "ruff": "ruff",
    "flake8": "flake8",
    "pylint": "pylint",
    "mypy": "mypy",
    "prettier": "prettier",
    "eslint": "eslint",
    "isort": "isort",
    "flask": "flask",
    "django": "django",
    "fastapi": "fastapi",
    "react": "react",
    "vue": "vue",
    "angular": "angular",
    "svelte": "svelte",
    "express": "express",
    "rails": "rails",
    "postgres": "postgres",
    "postgresql": "postgres",
    "mysql": "mysql",
    "mongodb": "mongodb",
    "mongo": "mongodb",
    "redis": "redis",
    "nginx": "nginx",
    "apache": "apache",
    "aws": "aws",
    "gcp": "gcp",
    "azure": "azure",
    "terraform": "terraform",
    "ansible": "ansible",
    "git": "git",
    "svn": "svn",
    "mercurial": "mercurial",
    "github": "github",
    "gitlab": "gitlab",
    "linux": "linux",
    "windows": "windows",
    "macos": "macos",
    "ubuntu": "ubuntu",
    "debian": "debian",
    "ssh": "ssh",
    "ftp": "ftp",
    "http": "http",
    "https": "https",
    "tcp": "tcp",
    "udp": "udp",
    "grpc": "grpc",
    "graphql": "graphql",
    "rest": "rest",
    "pandas": "pandas",
    "numpy": "numpy",
    "matplotlib": "matplotlib",
    "pytorch": "pytorch",
    "tensorflow": "tensorflow",
    "sklearn": "sklearn",
    "jupyter": "jupyter",
    "tar": "tar",
    "zip": "zip",
    "gzip": "gzip",
    "tar.gz": "tar.gz",
    "tgz": "tar.gz",
    "vim": "vim",
    "emacs": "emacs",
    "vscode": "vscode",
    "make": "make",
    "cmake": "cmake",
    "webpack": "webpack",
    "vite": "vite",
}
#: "Families" of tech words: a swap inside one family is a different task ("Python" -> "Rust").
_FORMATS = {
    "json",
    "csv",
    "tsv",
    "yaml",
    "toml",
    "xml",
    "markdown",
    "pdf",
    "excel",
    "parquet",
    "sqlite",
    "protobuf",
    "html",
    "text",
    "zip",
    "tar.gz",
    "bzip2",
    "xz",
    "7z",
    "rar",
    "tar",
    "gzip",
}
_LANGS = set(PROGRAMMING_LANGUAGES.values())
TECH_AMBIGUOUS = {"black", "rest", "make", "express", "apache", "tar", "zip", "http", "git"}

#: File extension -> the technology it implies (used only to detect a swap: data.json vs csv).
EXT_TECH = {
    "py": "python",
    "js": "javascript",
    "ts": "typescript",
    "rs": "rust",
    "go": "go",
    "java": "java",
    "rb": "ruby",
    "php": "php",
    "c": "c",
    "cpp": "c++",
    "cs": "c#",
    "sh": "shell",
    "json": "json",
    "jsonl": "json",
    "csv": "csv",
    "tsv": "tsv",
    "yaml": "yaml",
    "yml": "yaml",
    "toml": "toml",
    "xml": "xml",
    "md": "markdown",
    "pdf": "pdf",
    "xlsx": "excel",
    "xls": "excel",
    "html": "html",
    "htm": "html",
    "parquet": "parquet",
    "sqlite": "sqlite",
    "db": "sqlite",
    "txt": "text",
    "zip": "zip",
    "gz": "tar.gz",
    "tgz": "tar.gz",
    "bz2": "bzip2",
    "xz": "xz",
    "7z": "7z",
    "rar": "rar",
}

NEGATION_CUES = (
    "do not",
    "don't",
    "dont",
    "does not",
    "doesn't",
    "did not",
    "didn't",
    "not",
    "never",
    "without",
    "no",
    "except",
    "excluding",
    "but not",
    "avoid",
    "instead of",
    "rather than",
    "skip",
    "nothing",
    "none",
    "neither",
    "nor",
    "cannot",
    "can't",
    "won't",
    "shouldn't",
    "mustn't",
    "isn't",
    "aren't",
)

_CONTRACTIONS = [
    (r"\bcan't\b", "can not"),
    (r"\bwon't\b", "will not"),
    (r"\bshan't\b", "shall not"),
    (r"\b(\w+)n't\b", r"\1 not"),
    (r"\b(\w+)'re\b", r"\1 are"),
    (r"\b(\w+)'ve\b", r"\1 have"),
    (r"\b(\w+)'ll\b", r"\1 will"),
    (r"\b(\w+)'d\b", r"\1 would"),
    (r"\bi'm\b", "i am"),
    (r"\b(what|where|who|how|that|there|it|here|when|why)'s\b", r"\1 is"),
    (r"'s\b", ""),
    (r"\bdont\b", "do not"),
    (r"\bcant\b", "can not"),
    (r"\bwont\b", "will not"),
]


@lru_cache(maxsize=None)
def _contractions_re() -> list[tuple[re.Pattern[str], str]]:
    return [(re.compile(p), r) for p, r in _CONTRACTIONS]


_CONTRACTION_HINT = re.compile(r"'|\b(?:dont|cant|wont)\b")


# All phrases in one alternation: one pass over the text instead of one per phrase.
@lru_cache(maxsize=None)
def _phrases_one() -> re.Pattern[str]:
    return re.compile("|".join(f"(?P<p{i}>{p})" for i, (p, _r) in enumerate(PHRASES)))


_PHRASE_REPL = {f"p{i}": r for i, (_p, r) in enumerate(PHRASES)}

#: For each of PHRASES, the literal pieces every match of it contains (its top-level literal
#: runs; tests/unit/test_matcher_prefilter.py derives them from the patterns). A text holding all
#: the pieces of no phrase has no match, so it skips the alternation, whose compilation (≈ 10 ms)
#: a one-off run (a replayed goal) would otherwise pay for nothing.
PHRASE_NEEDLES: tuple[tuple[str, ...], ...] = (
    ("back", " up"),
    ("set", " up"),
    ("shut", " down"),
    ("turn", " off"),
    ("turn", " ", "up"),
    ("turn", " ", "down"),
    ("speed", " up"),
    ("slow", " down"),
    ("switch", " off"),
    ("turn", " on"),
    ("switch", " on"),
    ("look", " up"),
    ("look", " for"),
    ("find", " out"),
    ("figur", " out"),
    ("clean", " up"),
    ("get", " rid of"),
    ("tear", " down"),
    ("spin", " up"),
    ("kick", " off"),
    ("free", " up"),
    ("log", " in"),
    ("sign", " in"),
    ("log", " out"),
    ("sign", " out"),
    ("how many",),
    ("make sure",),
    ("to", "do"),
    ("check", " out"),
    ("pick", " up"),
    ("write", " down"),
    ("turn", " "),
    ("code", "base"),
    ("source code",),
)


def _rewrite_phrases(body: str) -> str:
    if not any(all(piece in body for piece in pieces) for pieces in PHRASE_NEEDLES):
        return body  # no phrase can match (see PHRASE_NEEDLES)
    # Every alternative is a named group: the one that matched is always set.
    return _phrases_one().sub(lambda m: _PHRASE_REPL[m.lastgroup or ""], body)


# Clause boundaries: punctuation, coordinators and sequencing words.
CLAUSE_BREAKS = frozenset(
    {
        "and",
        "then",
        "but",
        "or",
        "also",
        "afterwards",
        "afterward",
        "finally",
        "lastly",
        "plus",
        "while",
        "before",
        "after",
        "once",
        "when",
        "if",
        "where",
    }
)
_SUBORDINATORS = frozenset(
    {
        "that",
        "which",
        "who",
        "whom",
        "whose",
        "to",
        "for",
        "so",
        "where",
        "how",
        "what",
        "when",
        "by",
        "of",
        "about",
        "on",
        "with",
    }
)
_TOKEN_RE = re.compile(r"\x00\d+\x00|[a-z0-9][a-z0-9+#]*(?:[.'\-][a-z0-9]+)*|[.;,:!?()\[\]]")


# ---- stems of the vocabularies (the stemmer and the verb classes: edgekit/words.py) -----------

_LIGHT_STEMS = frozenset(stem(w) for w in LIGHT_VERBS) | LIGHT_VERBS
_STOP_STEMS = frozenset(stem(w) for w in STOP_WORDS) | STOP_WORDS
_GENERIC_STEMS = frozenset(stem(w) for w in GENERIC_WORDS) | GENERIC_WORDS
_SYNONYM_STEMS = {stem(k): v for k, v in SYNONYMS.items()} | SYNONYMS
_NEG_SINGLE = frozenset(
    {
        "not",
        "never",
        "without",
        "no",
        "except",
        "excluding",
        "avoid",
        "skip",
        "nothing",
        "none",
        "neither",
        "nor",
    }
)


# ---- the prepared goal ------------------------------------------------------------------------


@record(frozen=True, slots=True, fast_init=True)
class Token:
    """One canonical token of a goal."""

    text: str  # canonical form ("create", "calculator", "<number>", "python")
    kind: str  # "verb" | "tech" | "slot" | "generic" | "word"
    clause: int  # index of the clause it belongs to
    main: bool = False  # a verb heading its clause (not inside "that ..." / "to ...")
    negated: bool = False
    raw: str = ""

    def __reduce__(self):
        # The constructor, not the frozen-dataclass __setstate__ (which looks up fields() for
        # every token): the prepared-goal cache loads twice as fast.
        return (Token, (self.text, self.kind, self.clause, self.main, self.negated, self.raw))


@record(frozen=True, fast_init=True)
class PreparedGoal:
    """A goal preprocessed for matching (built once per trace, held in memory)."""

    text: str
    tokens: tuple[Token, ...]
    slots: dict[str, str] = field(default_factory=dict)
    slot_kinds: dict[str, str] = field(default_factory=dict)  # key -> kind
    implied_tech: frozenset[str] = frozenset()  # from file extensions
    light_verb: bool = False  # uses get/put/give/take...: not a verbless goal
    polar_question: bool = False  # "did I ...?", "is there ...?": asks, does not order
    past: bool = False  # "when did I change the oil" looks back, not ahead

    # ---- views used by the matcher --------------------------------------------------------
    @cached_property
    def words(self) -> tuple[str, ...]:
        """Canonical non-negated tokens (negated ones carry a ``!`` prefix)."""
        return tuple(("!" + t.text) if t.negated else t.text for t in self.tokens)

    @cached_property
    def kinds(self) -> dict[str, str]:
        """Kind of each distinct word in :attr:`words` (first occurrence wins)."""
        out: dict[str, str] = {}
        for tok, word in zip(self.tokens, self.words, strict=True):
            out.setdefault(word, tok.kind)
        return out

    @cached_property
    def key(self) -> str:
        """Sorted canonical tokens that carry the task (no function words): what rapidfuzz compares."""
        return " ".join(
            sorted(w for t, w in zip(self.tokens, self.words, strict=True) if t.kind in KEY_KINDS)
        )

    @cached_property
    def verbs(self) -> frozenset[str]:
        return frozenset(t.text for t in self.tokens if t.kind == "verb" and not t.negated)

    @cached_property
    def main_verbs(self) -> frozenset[str]:
        return frozenset(
            t.text for t in self.tokens if t.kind == "verb" and t.main and not t.negated
        )

    @cached_property
    def negated(self) -> frozenset[str]:
        return frozenset(t.text for t in self.tokens if t.negated)

    @cached_property
    def tech(self) -> frozenset[str]:
        return frozenset(t.text for t in self.tokens if t.kind == "tech" and not t.negated)

    @cached_property
    def persons(self) -> tuple[str, ...]:
        """Grammatical persons in order, runs collapsed: "can you call me" -> ("<you>", "<i>")."""
        out: list[str] = []
        for t in self.tokens:
            if t.kind == "person" and (not out or out[-1] != t.text):
                out.append(t.text)
        return tuple(out)

    @cached_property
    def clause_count(self) -> int:
        return len({t.clause for t in self.tokens})

    def clauses(self) -> list[list[Token]]:
        out: dict[int, list[Token]] = {}
        for t in self.tokens:
            out.setdefault(t.clause, []).append(t)
        return [out[k] for k in sorted(out)]


def normalize_text(goal: str) -> str:
    """NFKC, lower case, typographic quotes straightened, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", goal)
    text = text.replace("’", "'").replace("‘", "'").replace("`", "'")
    return re.sub(r"\s+", " ", text).strip()


def has_words(goal: str) -> bool:
    return bool(re.search(r"[^\W_]", goal or ""))


def require_goal(goal: object) -> str:
    """Return *goal* stripped, or raise :class:`UsageError` for an empty/punctuation-only goal."""
    if not isinstance(goal, str) or not has_words(goal):
        raise UsageError("the goal is empty: give a goal with at least one word")
    return goal.strip()


def _slot_placeholder(span: SlotSpan) -> tuple[str, str]:
    if span.kind == "language":
        return span.value, "tech"
    if span.kind == "file":
        return "file", "slot"  # "README.md" is "the README file"
    if span.kind == "path":
        return "folder", "slot"
    return f"<{span.kind}>", "slot"


def file_name_words(value: str) -> list[str]:
    """The words of a file name without its extension ("README.md" -> ["readme"])."""
    base = value.lower().rsplit("/", 1)[-1]
    parts = base.split(".")
    stem_part = parts[0] if parts[0] else (parts[1] if len(parts) > 1 else "")
    return [w for w in re.split(r"[_\-\s]+", stem_part) if w and not w.isdigit()]


def prepare(goal: str) -> PreparedGoal:
    """Preprocess *goal*. Raises :class:`UsageError` for a goal without any word."""
    made = _MADE_BACK.get(goal)
    return made if made is not None else _prepare(goal)


# Tokens are immutable and repeat from goal to goal ("create" as the main verb of clause 0):
# 100k prepared goals share one object each instead of holding 800k copies.
_TOKENS: dict[Token, Token] = {}


def shared_token(text: str, kind: str, clause: int, main: bool, negated: bool, raw: str) -> Token:
    """The one shared :class:`Token` equal to ``Token(text, kind, clause, main, negated, raw)``."""
    token = Token(text, kind, clause, main, negated, raw)
    shared = _TOKENS.get(token)
    if shared is None:
        if len(_TOKENS) >= 500_000:  # a bound for a process that prepares unbounded input
            _TOKENS.clear()
        shared = _TOKENS[token] = Token(
            sys.intern(text), sys.intern(kind), clause, main, negated, sys.intern(raw)
        )
    return shared


def _prepare_uncached(goal: str) -> PreparedGoal:
    goal = require_goal(goal)
    text = normalize_text(goal)
    spans = find_slots(text)
    keyed = number_keys(spans)
    slots = {k: s.value for k, s in keyed}
    slot_kinds = {k: s.kind for k, s in keyed}
    implied: set[str] = set()
    # Replace slot spans by \x00i\x00 markers, keep the spans for their tokens.
    pieces: list[str] = []
    pos = 0
    markers: list[tuple[SlotSpan, str]] = []
    for key, span in keyed:
        pieces.append(text[pos : span.start])
        pieces.append(f" \x00{len(markers)}\x00 ")
        markers.append((span, key))
        pos = span.end
        if span.kind == "file":
            ext = span.value.lower().rsplit(".", 1)[-1]
            if ext in EXT_TECH:
                implied.add(EXT_TECH[ext])
    pieces.append(text[pos:])
    body = "".join(pieces).lower().strip()
    body = _request_frames().sub("", body)
    if _CONTRACTION_HINT.search(body):
        for pattern, repl in _contractions_re():
            body = pattern.sub(repl, body)
    body = _rewrite_phrases(body)
    body = re.sub(r"\bbut not\b", " , not ", body)
    raw_tokens = _TOKEN_RE.findall(body)
    tokens, light = _tokenize(raw_tokens, markers)
    words = [w for w in raw_tokens if w[0].isalnum()]
    polar = (
        bool(words)
        and words[0] in POLAR_STARTERS
        and not (len(words) > 1 and words[1] in _NEG_SINGLE)
    )
    past = any(w in PAST_MARKERS for w in words)
    # Renumber clauses densely.
    remap = {c: i for i, c in enumerate(sorted({t.clause for t in tokens}))}
    toks = tuple(
        shared_token(t.text, t.kind, remap[t.clause], t.main, t.negated, t.raw) for t in tokens
    )
    return PreparedGoal(
        text=goal,
        tokens=toks,
        slots=slots,
        slot_kinds=slot_kinds,
        implied_tech=frozenset(implied),
        light_verb=light,
        polar_question=polar,
        past=past,
    )


#: Prepared goals by text, most recently used kept: queries, and the few stored goals a decision
#: scores (the matcher keeps only :func:`goal_terms` of every stored goal).
_prepare = lru_cache(maxsize=200_000)(_prepare_uncached)


# ---- what the matcher keeps of every stored goal ----------------------------------------------

#: ``(group key, rapidfuzz key, tokens, rest)``: the normalized lower-case text (goals equal
#: under it share a matcher group), :attr:`PreparedGoal.key`, :attr:`PreparedGoal.tokens` (shared
#: :class:`Token` objects) and the rest of the prepared goal, ``None`` when it has no slot and
#: no flag set, else ``(implied_tech, light_verb, polar_question, past, key, value, kind, key,
#: value, kind, ...)`` (the slots flattened). :func:`prepared_from_terms` makes the prepared goal
#: back without parsing the text again.
GoalTerms = tuple[str, str, tuple[Token, ...], Any]

# Terms loaded from the disk cache (learning/prepared_cache.py), consulted first.
_SEEDED_TERMS: dict[str, GoalTerms] = {}


def seed_terms(terms: dict[str, GoalTerms]) -> None:
    _SEEDED_TERMS.update(terms)


def terms_seeded(goal: str) -> bool:
    """True when the terms of *goal* came from the disk cache."""
    return goal in _SEEDED_TERMS


def goal_terms(goal: str) -> GoalTerms:
    """What the matcher keeps of a stored goal (:data:`GoalTerms`).

    The goal is prepared without the :func:`prepare` cache: a matcher over 100k goals holds
    their terms (a tuple of shared tokens, the few slots), not 100k prepared goals with their
    dictionaries and cached views. Raises :class:`UsageError` for a goal without any word."""
    seeded = _SEEDED_TERMS.get(goal)
    if seeded is not None:
        return seeded
    p = _prepare_uncached(goal)
    rest = None
    if p.slots or p.implied_tech or p.light_verb or p.polar_question or p.past:
        implied = _IMPLIED.setdefault(p.implied_tech, p.implied_tech)  # a few distinct sets
        slots = (
            x for k, v in p.slots.items() for x in (sys.intern(k), v, sys.intern(p.slot_kinds[k]))
        )
        rest = (implied, p.light_verb, p.polar_question, p.past, *slots)
    return (normalize_text(goal).lower(), p.key, p.tokens, rest)


# implied_tech sets of stored goals, one object per distinct set (technologies of file
# extensions: a handful of combinations)
_IMPLIED: dict[frozenset[str], frozenset[str]] = {}


# Stored goals the matcher made back from their terms, most recent last: prepare() answers with
# them too (the accounting prepares the candidates the matcher just scored).
_MADE_BACK: dict[str, PreparedGoal] = {}
_MADE_BACK_MAX = 1024


def prepared_from_terms(goal: str, tokens: tuple[Token, ...], rest: Any) -> PreparedGoal:
    """``prepare(goal)`` made back, without parsing, from the tokens and rest of
    ``goal_terms(goal)`` (which must be *goal*'s own): equal to it, field by field. The last
    :data:`_MADE_BACK_MAX` are kept (with their cached views) and :func:`prepare` uses them."""
    made = _MADE_BACK.get(goal)
    if made is None:
        made = _made_back(goal, tokens, rest)
        if len(_MADE_BACK) >= _MADE_BACK_MAX:
            del _MADE_BACK[next(iter(_MADE_BACK))]
        _MADE_BACK[goal] = made
    return made


def _made_back(goal: str, tokens: tuple[Token, ...], rest: Any) -> PreparedGoal:
    if rest is None:
        return PreparedGoal(text=goal.strip(), tokens=tokens)
    implied, light, polar, past = rest[:4]
    return PreparedGoal(
        text=goal.strip(),
        tokens=tokens,
        slots={rest[i]: rest[i + 1] for i in range(4, len(rest), 3)},
        slot_kinds={rest[i]: rest[i + 2] for i in range(4, len(rest), 3)},
        implied_tech=implied,
        light_verb=light,
        polar_question=polar,
        past=past,
    )


class _State:
    __slots__ = ("clause", "negating", "subordinate", "has_main", "pending_light", "light_fn")

    def __init__(self) -> None:
        self.clause = 0
        self.negating = False
        self.subordinate = False
        self.has_main = False
        self.pending_light: int | None = None
        self.light_fn = False

    def new_clause(self, tokens: list[Token], *, keep_negation: bool = False) -> None:
        if tokens and tokens[-1].clause == self.clause:
            self.clause += 1
        if not keep_negation:
            self.negating = False
        self.subordinate = False
        self.has_main = False
        self.pending_light = None
        self.light_fn = False


def _slot_tokens(span: SlotSpan, st: _State) -> list[Token]:
    """A slot's placeholder token; a file slot also gives the words of its name."""
    placeholder, kind = _slot_placeholder(span)
    out = [Token(placeholder, kind, st.clause, negated=st.negating, raw=span.value)]
    if span.kind == "file":
        for w in file_name_words(span.value):
            out.append(Token(canon_noun(w), "slotword", st.clause, negated=st.negating, raw=w))
    return out


def _add_verb(raw: str, canon: str, prev: str, tokens: list[Token], st: _State) -> None:
    """A word that can be a verb: the clause's action (main verb), an action noun a light verb
    gives way to ("write a summary"), or a plain word (a noun use: "my shopping list")."""
    has_content = any(t.clause == st.clause and t.kind in _CONTENT_TOKEN_KINDS for t in tokens)
    participle = raw.endswith("ing") and has_content and prev not in NOUN_MARKERS
    nominal = raw in VERB_LOOKUP_NOUNS
    # A light verb followed by an action noun ("write a summary") gives way to it.
    if st.pending_light is not None and nominal:
        lv = tokens[st.pending_light]
        del tokens[st.pending_light]
        st.pending_light = None
        tokens.append(Token(canon, "verb", st.clause, main=lv.main, negated=st.negating, raw=raw))
        return
    if st.light_fn and nominal and not st.has_main:
        # "give me a summary", "get a backup": the noun is the action
        st.light_fn = False
        st.has_main = True
        tokens.append(Token(canon, "verb", st.clause, main=True, negated=st.negating, raw=raw))
        return
    action = (
        (not has_content and prev not in NOUN_MARKERS)
        or prev in VERB_PRECEDERS
        or participle
        or raw in PHRASE_VERBS
    )
    if not action:
        # A noun use ("my shopping list", "more checks", "the test suite"): a plain
        # word; a nominalised action ("README summary") keeps its class name.
        tokens.append(
            Token(
                canon if raw in NOMINAL_ACTIONS else stem(raw),
                "word",
                st.clause,
                negated=st.negating,
                raw=raw,
            )
        )
        st.pending_light = None
        return
    main = not st.has_main and not st.subordinate and not participle
    tokens.append(Token(canon, "verb", st.clause, main=main, negated=st.negating, raw=raw))
    if main:
        st.has_main = True
        if raw in _LIGHT_STEMS or stem(raw) in _LIGHT_STEMS:
            st.pending_light = len(tokens) - 1


def _tokenize(
    raw_tokens: list[str], markers: list[tuple[SlotSpan, str]]
) -> tuple[list[Token], bool]:
    tokens: list[Token] = []
    st = _State()
    light = False
    for i, raw in enumerate(raw_tokens):
        if raw in ".;!?()[]," or raw == ":":
            st.new_clause(tokens)
            continue
        if raw.startswith("\x00"):
            span, _key = markers[int(raw.strip("\x00"))]
            tokens.extend(_slot_tokens(span, st))
            continue
        if raw in CLAUSE_BREAKS and (tokens or raw not in _LEADING_OK):
            # "and" inside a negated clause keeps the negation ("without tests and docs").
            st.new_clause(tokens, keep_negation=raw in {"and", "or", "nor"})
            if raw in QUESTION_WORDS:
                tokens.append(Token(raw, "qword", st.clause, raw=raw))
                st.subordinate = True
            continue
        if raw in _NEG_SINGLE:
            st.negating = True
            tokens.append(Token("not", "negation", st.clause, raw=raw))
            continue
        if raw in DROP_WORDS:
            continue
        if raw in _SUBORDINATORS:
            st.subordinate = True
        if raw in LIGHT_FUNCTION_VERBS:
            light = True
        canon, kind = _canon_word(raw)
        if kind == "stop":
            tokens.append(_function_token(raw, st))
            if raw in _LIGHT_FN_NOMINAL and not any(
                t.clause == st.clause and t.kind in _CONTENT_TOKEN_KINDS for t in tokens
            ):
                st.light_fn = True
            continue
        if kind == "verb":
            _add_verb(raw, canon, _prev_word(raw_tokens, i), tokens, st)
            continue
        tokens.append(Token(canon, kind, st.clause, negated=st.negating, raw=raw))
        # An adjective between a light verb and its noun keeps the light verb pending; any
        # other content word ends it ("write a report": "report" is not an action noun).
        if raw not in LIGHT_ADJECTIVES and kind not in {"slot", "tech"}:
            st.pending_light = None
    return tokens, light


#: First words of a yes/no question (request frames like "can you" are stripped before).
POLAR_STARTERS = frozenset(
    "do does did is are was were am have has had can could should would "
    "will shall may might must".split()
)
#: Auxiliaries that put a goal in the past ("when did I ...", "what was ...").
PAST_MARKERS = frozenset("did was were had didn't wasn't weren't hadn't".split())
_CONTENT_TOKEN_KINDS = frozenset({"word", "generic", "tech", "slot", "slotword", "verb"})
#: Words after which a verb-class word is a noun ("my list", "the test", "more checks").
NOUN_MARKERS = frozenset(
    """
a an the my your our their his her its this these those some any every each all more most
another other of on in for with at from by about into onto per no few several many much
""".split()
)
#: Words after which a verb-class word is a verb ("to delete", "I change", "that prints").
VERB_PRECEDERS = frozenset(
    """
to that which who i we you they he she it not never please also then and or just
can could should would will shall may might must do does did don't
""".split()
)


#: Words made by PHRASES that are verbs wherever they stand ("count how many ...").
PHRASE_VERBS = frozenset(
    {
        "howmany",
        "turnon",
        "turnoff",
        "switchon",
        "switchoff",
        "spinup",
        "kickoff",
        "makesure",
        "shutdown",
        "signin",
        "signout",
        "login",
        "logout",
    }
)
_LIGHT_FN_NOMINAL = frozenset({"give", "get", "take"})


def _prev_word(raw_tokens: list[str], i: int) -> str:
    """The raw word before position *i* (punctuation ends the search)."""
    j = i - 1
    while j >= 0:
        w = raw_tokens[j]
        if w in ".;!?()[],:":
            return ""
        return w
    return ""


def _function_token(raw: str, st: _State) -> Token:
    if raw in QUESTION_WORDS:
        return Token(raw, "qword", st.clause, raw=raw)
    if raw in FIRST_PERSON:
        return Token("<i>", "person", st.clause, raw=raw)
    if raw in SECOND_PERSON:
        return Token("<you>", "person", st.clause, raw=raw)
    return Token(_AUX.get(raw, raw), "function", st.clause, raw=raw)


# Auxiliaries folded together: tense and modality rarely change the task.
_AUX = {
    w: "<aux>"
    for w in "is am are was were be been being do does did doing done will would "
    "shall should can could may might must".split()
}
_AUX.update(
    {
        "has": "have",
        "had": "have",
        "having": "have",
        "needs": "need",
        "wanna": "want",
        "lets": "let",
        "gives": "give",
        "gave": "give",
        "giving": "give",
        "puts": "put",
        "got": "get",
        "gets": "get",
        "getting": "get",
    }
)
_LEADING_OK = frozenset({"when", "if", "before", "after", "once", "so", "while", "first", "next"})


#: Nouns that name an action: after a light verb they carry the action themselves.
VERB_LOOKUP_NOUNS = frozenset(
    w
    for w in (
        "summary",
        "summaries",
        "summarization",
        "backup",
        "backups",
        "archive",
        "snapshot",
        "translation",
        "count",
        "analysis",
        "review",
        "comparison",
        "explanation",
        "description",
        "definition",
        "search",
        "installation",
        "deletion",
        "removal",
        "conversion",
        "update",
        "list",
        "plot",
        "chart",
        "graph",
        "diff",
        "benchmark",
        "calculation",
        "cleanup",
        "recap",
        "digest",
        "audit",
        "reservation",
        "booking",
        "payment",
        "restore",
        "copy",
        "download",
        "upload",
        "commit",
        "merge",
        "sort",
    )
)


#: Nominalised actions that keep their class name when used as a noun ("README summary").
NOMINAL_ACTIONS = frozenset(
    """
summary summaries summarization translation analysis explanation description definition comparison
installation deletion removal conversion backup backups calculation recap digest audit cleanup
""".split()
)


@lru_cache(maxsize=65536)
def _canon_word(raw: str) -> tuple[str, str]:
    """(canonical token, kind) for one raw lower-case word; kind "stop" means drop it."""
    if raw in TECH_WORDS and raw not in TECH_AMBIGUOUS:
        return TECH_WORDS[raw], "tech"
    if raw in STOP_WORDS:
        return raw, "stop"
    if raw in VERB_LOOKUP:
        return VERB_LOOKUP[raw], "verb"
    s = stem(raw)
    if s in VERB_LOOKUP and raw not in SYNONYMS:
        return VERB_LOOKUP[s], "verb"
    if raw in TECH_WORDS:
        return TECH_WORDS[raw], "tech"
    if s in _STOP_STEMS and raw not in GENERIC_WORDS:
        return raw, "stop"
    canon = SYNONYMS.get(raw) or _SYNONYM_STEMS.get(s) or s
    if canon in _TECH_CANON:
        return canon, "tech"
    if raw in GENERIC_WORDS or s in _GENERIC_STEMS or canon in _GENERIC_STEMS:
        return canon, "generic"
    return canon, "word"


def canon_noun(raw: str) -> str:
    """Canonical form of a word that is known to be a name (a file's base name): no verb class."""
    s = stem(raw)
    return SYNONYMS.get(raw) or _SYNONYM_STEMS.get(s) or s


_TECH_CANON = frozenset(TECH_WORDS.values())
#: Token kinds that make up :attr:`PreparedGoal.key`.
KEY_KINDS = frozenset({"word", "verb", "tech", "slot", "slotword", "generic", "qword", "negation"})


def tech_family(name: str) -> str:
    if name in _LANGS:
        return "language"
    if name in _FORMATS:
        return "format"
    return "tool"
