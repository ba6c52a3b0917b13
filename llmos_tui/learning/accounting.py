"""Accounting: is every difference between a new goal and a stored goal harmless?

A zero-model replay (FOLLOWER, CRYSTALLIZED) runs recorded actions with no model looking, so
similarity is not enough: ``account(goal, trace_goal)`` lists every difference between the two
goals and says how each one is accounted for. The replay is allowed only when all are
(:attr:`Accounting.complete`). A difference is accounted for when it is one of:

1. **identical after normalization**: case, punctuation, articles and politeness ("the",
   "please", "can you ..."), hyphenation and spacing ("command-line" / "command line" /
   "commandline"), numbers written as words ("ten" / "10", see ``slots.py``), British and
   American spelling ("summarise" / "summarize") and inflection (:func:`lemma`: "files" /
   "file", "modified" / "modify", "running" / "run", "nicely" / "nice");
2. **a listed equivalence** from :data:`EQUIVALENCES`: a curated table of words and phrases
   that cannot change the action ("folder" / "directory", "display" / "show" / "print",
   "every night" / "nightly", "venv" / "virtual environment", "below" / "under" / "less
   than"); each row says why it holds;
3. **a grammatical word that carries no scope** (:data:`IGNORABLE`: auxiliaries, pronouns,
   "of", "in", "for", "that", the infinitive "to", ...) present on one side only, or a file
   named in words on the other side ("the README file" / "README.md");
4. **a slot** (file, path, number, port, quoted text) whose value differs: the new value is
   substituted into the recorded calls. A quoted value that either goal calls an option, flag,
   setting, mode, keyword or command (:data:`VOCABULARY_NOUNS`) is not data but part of the
   action, from a program's own vocabulary: a different one is unaccounted. Whether the old value really occurs in the calls and
   can be replaced safely is checked by ``plan_substitution`` when the replay is planned; when
   it cannot, there is no replay. A value that sits inside a recorded *shell command* is data
   only if the command treats it as data, which depends on each program's own grammar: the
   first replay of a trace with a new value there is confirmed once (by the user, or by a
   VERIFIED call), and from then on that slot of that trace is a template
   (``traces.shell_slots``; a crystallized tool, whose parameters were verified when it was built,
   needs no confirmation). A value in a structured field (a file path, a file's content) is
   data by construction.

Everything else is *unaccounted*. In particular quantifier, logic and scope words are content
and never noise (:data:`SCOPE_WORDS`): "only", "all", "every", "each", "any", "both",
"either", "or", "and", "not", "more than", "at least", "below", "recursively", "current",
"files" vs "directories", "user" vs "group". One of them on one side only, or swapped for
another, changes which objects a command touches ("files modified more than 60 minutes ago"
is not "files modified 60 minutes ago"; "writable by group or others" is not "by group and
others"; "the current folder" is not "the root folder"). The rule is deliberately strict: a
difference that is probably harmless but not provably so goes to a model (MIXED/LEARNER), to
the user's confirmation (``--replay-similar``) or to a verification, never to a blind replay.

Word order is not compared (the slot keys keep the order of values); the matcher's other gates
(verb classes, negation, technology, grammatical person, mood, tense) still apply on top.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache
from typing import Any

from ..records import field, record
from ..redact import LazyRegex  # module patterns: compiled on first use
from .slots import number_keys, find_slots
from .text import normalize_text

#: Slot kinds whose values a replay may substitute (the others are a different task).
SUBSTITUTABLE = frozenset({"file", "path", "number", "port", "quoted"})
# ---- vocabularies (generic English, not tuned to a data set) -------------------------------

#: Articles and politeness: never a difference ("the" is kept as a unit, see ALL_THE).
DROPPED = frozenset("a an please pls plz kindly".split())

#: Grammatical words that carry no scope: may be present on one side only. Prepositions that
#: only attach a phrase ("in", "of", "for", "with") are here; those that give a direction or a
#: bound ("to", "from", "into", "below", "than", "within", "after") are not.
IGNORABLE = frozenset(
    """
is am are was were be been being do does did doing done will would shall should can could may
might must have has had having
i me my mine myself we us our ours you your yours yourself u it its they them their this these
those that which who whom there here
of in on for with by as about via using use
want wanna need like let going gonna try trying able sure so just also then now really actually
basically simply hey hi ok okay thanks thank
""".split()
)

#: Words that may stand on one side only because they name the kind of thing the word before
#: them already names ("a calculator program" is "a calculator", "the black formatter" is
#: "black", "a json file" is "json"): only right after a word that both goals share.
KIND_NOUNS = frozenset(
    "program programs script scripts app application tool utility file files "
    "command formatter linter folder directory dir".split()
)
#: Adjectives of manner that do not select anything ("a simple calculator"): one side only.
#: Size, age, order and length adjectives are not here ("small files", "long listing").
MANNER_ADJECTIVES = frozenset("simple basic nice proper brief".split())
#: Nouns that say a quoted value names part of the action itself, from a program's own
#: vocabulary, not the data the action works on: "the 'xtrace' shell option", "the command
#: 'ls'", "the --force flag", "'insert' mode". A different value there is a different action
#: (``shopt -s extglob`` does not become ``shopt -s xtrace`` by substitution: xtrace is not a
#: shopt option), so such a value is never substituted by accounting alone.
VOCABULARY_NOUNS = frozenset(
    """option options flag flags switch switches setting settings keyword
keywords builtin builtins command commands subcommand subcommands mode modes parameter parameters
""".split()
)
_WORDS_AROUND = re.compile(r"[a-z][a-z-]*")

#: One-sided "=here" units (see EQUIVALENCES) name the default place.
DEFAULT_PLACE = frozenset({"=here"})
#: Deictic determiners: "this folder" / "the current folder" / "the folder" pick the same one.
DEICTIC = frozenset({"this", "current"})

#: Quantifier, logic and scope words (and phrases): content, never noise.
SCOPE_WORDS = frozenset(
    """
only all every each any some both either neither nor none no not never without except excluding
including or and but more less most least fewer greater larger smaller bigger than below above
under over beyond within between after before since until older newer oldest newest latest
first last top bottom next previous other another same different empty recursive recursively
current whole entire single multiple many few several own to into onto from at per
""".split()
)

#: Curated equivalences: each row is (canonical, members, why it cannot change the action).
#: A member may be a phrase (words separated by spaces); members are compared after
#: :func:`lemma`. Rows were checked on the dev data sets as a whole (how many replays each
#: row enables and how many of those run a different command), never on single examples.
EQUIVALENCES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("folder", ("folder", "directory", "dir"), "two names of the same file-system object"),
    ("subfolder", ("subfolder", "subdirectory", "subdir"), "the same, one level down"),
    ("show", ("show", "display", "print", "view"), "all four mean: write it to the output"),
    # "find" is not in the "search" row: on shell tasks it names the program that walks a tree
    # (`find`), where "search for" is as often `grep` over contents. Measured on the dev sets
    # as a whole, one row for both enabled 3 NL2Bash replays of which 1 ran another command.
    ("find", ("find", "find out"), "the same request ('find out' is 'find')"),
    ("search", ("search", "search for", "look for"), "the same request"),
    ("manual", ("manual", "manual page", "man page", "man"), "the same documentation (man)"),
    ("delete", ("delete", "remove", "erase"), "the same removal"),
    (
        "create",
        ("create", "make", "build", "write", "generate", "produce"),
        "making a new artifact (a program, a report, an agent)",
    ),
    ("convert", ("convert", "transform", "turn into"), "the same conversion"),
    ("start", ("start", "launch", "run", "execute"), "the same invocation"),
    (
        "count",
        ("count", "how many", "number of", "count how many", "count number of"),
        "a count is asked either way",
    ),
    (
        "summarize",
        (
            "summarize",
            "summary",
            "sum up",
            "write summary",
            "give me summary",
            "make summary",
            "create summary",
            "produce summary",
        ),
        "a summary is asked either way (a light verb and its action noun)",
    ),
    ("prime", ("prime", "prime number"), "a prime is a prime number"),
    (
        "here",
        (
            "this repository",
            "current repository",
            "this repo",
            "current repo",
            "this project",
            "current project",
            "this codebase",
            "in repository",
            "in repo",
            "in project",
            "in codebase",
            "in code",
            "of repository",
            "of repo",
            "of project",
            "on codebase",
            "on code",
            "on project",
        ),
        "the repository or project at hand: where git and project commands act by default",
    ),
    (
        "#all",
        ("all", "every"),
        "the universal quantifier ('each' is not here: per-item); "
        "'all the Xs' / 'all Xs' also equal 'the Xs' (ALL_THE)",
    ),
    (
        "cwd",
        (
            "current directory",
            "current folder",
            "current dir",
            "working directory",
            "working folder",
            "working dir",
            "current working directory",
            "present working directory",
            "this directory",
            "this folder",
            "cwd",
            "pwd",
        ),
        "the directory the command runs in",
    ),
    ("#to", ("to", "into", "onto"), "the destination of a conversion, copy or move"),
    (
        "#gt",
        ("more than", "greater than", "larger than", "bigger than", "above", "over"),
        "a strict lower bound",
    ),
    (
        "#lt",
        ("less than", "fewer than", "smaller than", "below", "under"),
        "a strict upper bound, or 'inside, recursively' for a place",
    ),
    ("#ge", ("at least", "no less than", "no fewer than"), "an inclusive lower bound"),
    ("#le", ("at most", "no more than", "up to"), "an inclusive upper bound"),
    ("nightly", ("nightly", "every night", "each night"), "a schedule"),
    ("daily", ("daily", "every day", "each day"), "a schedule"),
    ("hourly", ("hourly", "every hour", "each hour"), "a schedule"),
    ("weekly", ("weekly", "every week", "each week"), "a schedule"),
    ("monthly", ("monthly", "every month", "each month"), "a schedule"),
    ("venv", ("venv", "virtualenv", "virtual environment", "virtual env"), "the same Python tool"),
    ("cli", ("cli", "command line", "commandline"), "the same interface"),
    ("repo", ("repo", "repository"), "abbreviation"),
    ("docs", ("docs", "documentation"), "abbreviation"),
    ("app", ("app", "application"), "abbreviation"),
    ("database", ("database", "db"), "abbreviation"),
    ("config", ("config", "configuration"), "abbreviation"),
    ("image", ("image", "picture", "photo", "img"), "the same kind of file"),
    ("program", ("program", "programme"), "British and American spelling"),
    ("filesystem", ("filesystem", "file system"), "one word written apart"),
    ("dirname", ("folder name", "directory name"), "follows from the first row"),
)

#: "all the tests" / "all tests" / "the tests": a definite plural already means all of them, so
#: "all" on one side is accounted for when the other side has "the" in its place (or "the"
#: follows it). A bare "find all files" vs "find files" stays a difference.
ALL_THE = True

#: Irregular inflections -> base form.
IRREGULAR = {
    "wrote": "write",
    "written": "write",
    "made": "make",
    "built": "build",
    "ran": "run",
    "began": "begin",
    "begun": "begin",
    "sent": "send",
    "found": "find",
    "gave": "give",
    "given": "give",
    "took": "take",
    "taken": "take",
    "shown": "show",
    "did": "do",
    "done": "do",
    "got": "get",
    "gotten": "get",
    "children": "child",
    "people": "person",
    "men": "man",
    "women": "woman",
    "analyses": "analysis",
    "indices": "index",
    "bought": "buy",
    "paid": "pay",
    "kept": "keep",
    "lost": "lose",
    "went": "go",
    "gone": "go",
    "saw": "see",
    "seen": "see",
    "knew": "know",
    "known": "know",
    "chose": "choose",
    "chosen": "choose",
    "held": "hold",
    "told": "tell",
    "said": "say",
    "brought": "bring",
    "thought": "think",
    "caught": "catch",
    "hid": "hide",
    "hidden": "hide",
    "froze": "freeze",
    "frozen": "freeze",
    "wrote-": "write",
    "data": "data",
    "media": "media",
    "series": "series",
    "status": "status",
    "news": "news",
    "used": "use",
    "bytes": "byte",
    "aliases": "alias",
    "statuses": "status",
    "processes": "process",
    "addresses": "address",
    "accesses": "access",
    "classes": "class",
    "passes": "pass",
}

_VOWELS = frozenset("aeiouy")


@lru_cache(maxsize=65536)
def lemma(word: str) -> str:
    """A deterministic inflectional lemma: plural, past, participle and spelling variants map
    to one form ("files"/"file" -> "fil", "modified"/"modifies"/"modify" -> "modify",
    "running"/"runs" -> "run", "summarise"/"summarized" -> "summariz"). It never strips a
    derivational suffix (-ion, -er, -ness: "compression" is not "compress"); adverbs in -ly are
    matched pairwise (:func:`_adverb_of`), not here, so "family" stays "family"."""
    w = word.lower()
    if w in IRREGULAR:
        w = IRREGULAR[w]
    if len(w) <= 3 or not w.isalpha():
        return w
    # British -ise/-yse spellings
    w = re.sub(r"(?<=\w\w)is(e|es|ed|ing|ation|ations)$", r"iz\1", w)
    w = re.sub(r"(?<=\w\w)ys(e|es|ed|ing)$", r"yz\1", w)
    if w.endswith("ies") and len(w) > 4:
        w = w[:-3] + "y"
    elif w.endswith("ied") and len(w) > 4:
        w = w[:-3] + "y"
    elif w.endswith("s") and not w.endswith(("ss", "us", "is", "ys")) and len(w) > 3:
        w = w[:-1]
    if w.endswith("ed") and len(w) > 4 and not w.endswith("eed"):
        base = w[:-2]
        if len(base) < 3 or not (_VOWELS & set(base)):
            base = w[:-1]  # "used" -> "use"
        elif len(base) >= 4 and base[-1] == base[-2] and base[-1] not in "lsz":
            base = base[:-1]  # "stopped" -> "stop"
        w = base
    elif w.endswith("ing") and len(w) > 5:
        base = w[:-3]
        if _VOWELS & set(base):
            if len(base) >= 4 and base[-1] == base[-2] and base[-1] not in "lsz":
                base = base[:-1]  # "running" -> "run"
            elif len(base) < 3:
                base = base + "e"
            w = base
    if w.endswith("e") and len(w) >= 4 and w[-2] not in _VOWELS:
        w = w[:-1]  # "make"/"making" -> "mak", "file"/"files" -> "fil"
    return w


def _adverb_of(adverb: str, base: str) -> bool:
    """ "nicely" of "nice", "easily" of "easy", "automatically" of "automatic", "fully" of "full"."""
    a, b = adverb.lower(), base.lower()
    if not a.endswith("ly") or len(b) < 3:
        return False
    return a in (b + "ly", b[:-1] + "ily", b + "ally", b[:-2] + "ly", b[:-1] + "ly") and a != b


# ---- units -----------------------------------------------------------------------------------

_TOKEN = re.compile(r"\x00\d+\x00|[a-z0-9][a-z0-9+#_]*(?:[.'][a-z0-9]+)*|[-/]")
_REQUEST = re.compile(
    r"^(?:(?:hey|hi|ok|okay|so|now),?\s+)?(?:please\s+)?"
    r"(?:(?:can|could|would|will)\s+you\s+(?:please\s+)?(?:help\s+me\s+(?:to\s+)?)?"
    r"|i\s+(?:want|need|would\s+like|'d\s+like|wish)\s+(?:you\s+)?to\s+"
    r"|i'd\s+like\s+(?:you\s+)?to\s+|help\s+me\s+(?:to\s+)?|(?:go\s+ahead\s+and|let's|lets)\s+)"
)
_CONTRACTIONS = (
    (LazyRegex(r"\bcan't\b"), "can not"),
    (LazyRegex(r"\bwon't\b"), "will not"),
    (LazyRegex(r"\b(\w+)n't\b"), r"\1 not"),
    (LazyRegex(r"'(s|re|ve|ll|d|m)\b"), ""),
)


def _phrase_table() -> tuple[dict[tuple[str, ...], str], int]:
    table: dict[tuple[str, ...], str] = {}
    longest = 1
    for canon, members, _why in EQUIVALENCES:
        for member in members:
            key = tuple(lemma(w) for w in member.split())
            table[key] = "=" + canon
            longest = max(longest, len(key))
    return table, longest


_PHRASES, _LONGEST = _phrase_table()
_SCOPE_LEMMAS = frozenset(lemma(w) for w in SCOPE_WORDS)


@record(frozen=True)
class Units:
    """One goal as accounting sees it: word units in order (lemma, surface) and its slots."""

    words: tuple[tuple[str, str], ...]
    slots: dict[str, tuple[str, str]]  # key -> (kind, value)
    file_words: dict[str, frozenset[str]]  # file slot key -> lemmas of its base name
    after_the: frozenset[int] = frozenset()  # indexes of words right after "the"
    vocabulary: dict[str, str] = field(default_factory=dict)  # slot key -> the noun naming it


@lru_cache(maxsize=200_000)
def units(goal: str) -> Units:
    """Normalize *goal* into accounting units (cached: stored goals are seen many times)."""
    text = normalize_text(goal)
    keyed = number_keys(find_slots(text))
    pieces, pos = [], 0
    slots: dict[str, tuple[str, str]] = {}
    file_words: dict[str, frozenset[str]] = {}
    vocabulary: dict[str, str] = {}
    for i, (key, span) in enumerate(keyed):
        pieces.append(text[pos : span.start])
        pieces.append(f" \x00{i}\x00 ")
        pos = span.end
        slots[key] = (span.kind, span.value)
        if span.kind == "quoted":
            near = (
                _WORDS_AROUND.findall(text[max(0, span.start - 40) : span.start].lower())[-2:]
                + _WORDS_AROUND.findall(text[span.end : span.end + 40].lower())[:2]
            )
            noun = next((w for w in near if w in VOCABULARY_NOUNS), None)
            if noun:
                vocabulary[key] = noun
        if span.kind == "file":
            base = span.value.lower().rsplit("/", 1)[-1].split(".")[0]
            file_words[key] = frozenset(lemma(w) for w in re.split(r"[_\-\s]+", base) if w)
    pieces.append(text[pos:])
    body = "".join(pieces).lower()
    body = _REQUEST.sub("", body.strip())
    if "'" in body:
        for pattern, repl in _CONTRACTIONS:
            body = pattern.sub(repl, body)
    raw = [t for t in _TOKEN.findall(body)]
    words: list[tuple[str, str]] = []
    the_flags: list[bool] = []
    the = False
    for n, tok in enumerate(raw):
        if tok == "/" and words and 0 < n < len(raw) - 1 and raw[n + 1] not in ("-", "/"):
            # "files/directories" is "files or directories": an alternative, never noise
            words.append(("or", "/"))
            the_flags.append(False)
            continue
        if tok in ("-", "/"):
            continue
        if tok == "the":
            the = True
            continue
        if tok in DROPPED:
            continue
        words.append(("\x00slot", tok) if tok.startswith("\x00") else (lemma(tok), tok))
        the_flags.append(the)
        the = False
    # equivalence phrases (longest first), then scope words marked as such
    out: list[tuple[str, str]] = []
    flags: list[bool] = []
    i = 0
    lemmas = [w for w, _s in words]
    while i < len(words):
        flags.append(the_flags[i])
        for n in range(min(_LONGEST, len(words) - i), 0, -1):
            canon = _PHRASES.get(tuple(lemmas[i : i + n]))
            if canon is not None:
                out.append((canon, " ".join(s for _w, s in words[i : i + n])))
                i += n
                break
        else:
            lem, surface = words[i]
            if (
                surface in SCOPE_WORDS or lem in _SCOPE_LEMMAS and surface not in IGNORABLE
            ) and surface not in DEICTIC:
                lem = "#" + lem
            out.append((lem, surface))
            i += 1
    # "to" before a verb-like word is the infinitive, not a direction: "a script to print ..."
    fixed: list[tuple[str, str]] = []
    for j, (lem, surface) in enumerate(out):
        if lem == "=#to" and surface == "to" and j + 1 < len(out) and _verbish(out[j + 1][1]):
            fixed.append(("to", "to"))
        else:
            fixed.append((lem, surface))
    kept = [j for j, w in enumerate(fixed) if w[0] != "\x00slot"]
    return Units(
        tuple(fixed[j] for j in kept),
        slots,
        file_words,
        frozenset(n for n, j in enumerate(kept) if flags[j]),
        vocabulary,
    )


def _verbish(word: str) -> bool:
    """A word that is used as a verb after "to" ("to print", "to delete")."""
    from .text import VERB_LOOKUP, stem

    return word in VERB_LOOKUP or stem(word) in VERB_LOOKUP or word.startswith("=")


# ---- the accounting ---------------------------------------------------------------------------


@record
class Difference:
    """One difference between the goal and the trace's goal, and how it is accounted for."""

    goal: str  # the goal's words ("" when only the trace has it)
    trace: str  # the trace goal's words
    how: str  # normalization | equivalence | ignorable | slot | unaccounted
    note: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"goal": self.goal, "trace": self.trace, "how": self.how, "note": self.note}

    def __str__(self) -> str:
        return f"{self.goal or '-'!s} / {self.trace or '-'!s}: {self.how}" + (
            f" ({self.note})" if self.note else ""
        )


@record
class Accounting:
    """Whether every difference between two goals is accounted for, and how."""

    complete: bool
    differences: list[Difference] = field(default_factory=list)
    substitutions: dict[str, str] = field(default_factory=dict)  # slot key -> new value

    @property
    def unaccounted(self) -> list[Difference]:
        return [d for d in self.differences if d.how == "unaccounted"]

    def unaccounted_words(self) -> tuple[list[str], list[str]]:
        """The goal's and the trace's words that are not accounted for."""
        return (
            [d.goal for d in self.unaccounted if d.goal],
            [d.trace for d in self.unaccounted if d.trace],
        )

    def describe(self) -> str:
        if self.complete:
            if not self.differences:
                return "identical after normalization"
            return "every difference accounted for: " + "; ".join(str(d) for d in self.differences)
        goal_words, trace_words = self.unaccounted_words()
        parts = []
        if goal_words:
            parts.append("goal only: " + ", ".join(repr(w) for w in goal_words))
        if trace_words:
            parts.append("trace only: " + ", ".join(repr(w) for w in trace_words))
        return "unaccounted differences (" + "; ".join(parts) + ")"

    def to_dict(self) -> dict[str, Any]:
        return {
            "complete": self.complete,
            "differences": [d.to_dict() for d in self.differences],
            "substitutions": dict(self.substitutions),
            "summary": self.describe(),
        }


def _same_value(kind: str, a: str, b: str) -> bool:
    return a == b if kind in ("file", "path") else a.lower() == b.lower()


@record
class _Ledger:
    """The running state of one accounting: the two goals' units, the words each side still
    has to account for, and the differences found so far."""

    goal: str
    trace_goal: str
    q: Units
    t: Units
    common: Counter
    q_left: Counter
    t_left: Counter
    q_shared: frozenset[int]  # positions of q.words aligned with a word of t (difflib)
    t_shared: frozenset[int]
    diffs: list[Difference] = field(default_factory=list)
    subs: dict[str, str] = field(default_factory=dict)
    ok: bool = True

    def add(self, goal: str, trace: str, how: str, note: str = "") -> None:
        self.diffs.append(Difference(goal, trace, how, note))
        if how == "unaccounted":
            self.ok = False

    def prune(self) -> None:
        self.q_left, self.t_left = +self.q_left, +self.t_left

    def sides(self) -> tuple["_Side", "_Side"]:
        """The goal's side and the trace's side, each with the other's words left."""
        return (
            _Side(True, self.q, self.q_left, self.t_left, self.q_shared, self.goal),
            _Side(False, self.t, self.t_left, self.q_left, self.t_shared, self.trace_goal),
        )


@record
class _Side:
    """One goal of an accounting: its units and the words not yet accounted for."""

    is_goal: bool
    units: Units
    left: Counter
    other_left: Counter
    shared: frozenset[int]
    text: str

    def pair(self, mine: str, theirs: str) -> tuple[str, str]:
        """(goal words, trace words) of a difference seen from this side."""
        return (mine, theirs) if self.is_goal else (theirs, mine)

    @property
    def surfaces(self) -> dict[str, str]:
        return {w: s for w, s in self.units.words}


def account(goal: str, trace_goal: str) -> Accounting:
    """Every difference between *goal* and *trace_goal*, each accounted for or not."""
    q, t = units(goal), units(trace_goal)
    qw = Counter(w for w, _s in q.words)
    tw = Counter(w for w, _s in t.words)
    common = qw & tw
    q_shared, t_shared = _aligned(q, t)
    ledger = _Ledger(goal, trace_goal, q, t, common, qw - common, tw - common, q_shared, t_shared)
    _account_slots(ledger)
    ledger.prune()
    _account_spacing(ledger)
    ledger.prune()
    _account_adverbs(ledger)
    ledger.prune()
    _account_all_the(ledger)
    ledger.prune()
    _account_implied_verbs(ledger)
    ledger.prune()
    _report_equivalences(ledger)
    for side in ledger.sides():
        _account_one_sided(ledger, side)
    return Accounting(ledger.ok, ledger.diffs, ledger.subs)


def _aligned(q: Units, t: Units) -> tuple[frozenset[int], frozenset[int]]:
    """Positions of the words that line up in order on both sides (difflib's longest
    matching blocks): which occurrence of a repeated word is the extra one."""
    from difflib import SequenceMatcher

    a = [w for w, _s in q.words]
    b = [w for w, _s in t.words]
    qs: set[int] = set()
    ts: set[int] = set()
    for block in SequenceMatcher(None, a, b, autojunk=False).get_matching_blocks():
        qs.update(range(block.a, block.a + block.size))
        ts.update(range(block.b, block.b + block.size))
    return frozenset(qs), frozenset(ts)


def _account_slots(ledger: _Ledger) -> None:
    """Slots by key (order of appearance per kind): substituted, named in words, or not."""
    q, t = ledger.q, ledger.t
    for key in sorted(set(q.slots) | set(t.slots)):
        qs, ts = q.slots.get(key), t.slots.get(key)
        if qs and ts:
            _account_slot_pair(ledger, key, qs, ts)
        elif qs:
            _account_lone_slot(ledger, key, qs, q, ledger.t_left, is_goal=True)
        elif ts:
            _account_lone_slot(ledger, key, ts, t, ledger.q_left, is_goal=False)


def _account_slot_pair(ledger: _Ledger, key: str, qs: tuple[str, str], ts: tuple[str, str]) -> None:
    if qs[0] != ts[0]:
        ledger.add(qs[1], ts[1], "unaccounted", f"a {qs[0]} is not a {ts[0]}")
        return
    if _same_value(qs[0], qs[1], ts[1]):
        return
    noun = ledger.q.vocabulary.get(key) or ledger.t.vocabulary.get(key)
    if noun:
        ledger.add(
            qs[1], ts[1], "unaccounted", f"the goal calls it a {noun}: part of the action, not data"
        )
    elif qs[0] in SUBSTITUTABLE:
        ledger.subs[key] = qs[1]
        ledger.add(qs[1], ts[1], "slot", f"{key}: substituted in the calls")
    else:
        kind = qs[0].replace("_", " ")
        ledger.add(qs[1], ts[1], "unaccounted", f"a different {kind} is a different task")


def _account_lone_slot(
    ledger: _Ledger,
    key: str,
    slot: tuple[str, str],
    mine: Units,
    other_left: Counter,
    *,
    is_goal: bool,
) -> None:
    """A slot on one side only: "README.md" here may be "the README file" there."""
    words = mine.file_words.get(key)
    if slot[0] == "file" and words and all(other_left.get(w, 0) > 0 for w in words):
        for w in words:
            other_left[w] -= 1
        if other_left.get("fil", 0) > 0:
            other_left["fil"] -= 1
        named = " ".join(sorted(words))
        goal_w, trace_w = (slot[1], named) if is_goal else (named, slot[1])
        ledger.add(goal_w, trace_w, "equivalence", "the file named in words")
        return
    goal_w, trace_w = (slot[1], "") if is_goal else ("", slot[1])
    ledger.add(goal_w, trace_w, "unaccounted", f"a {slot[0].replace('_', ' ')} on one side only")


def _account_spacing(ledger: _Ledger) -> None:
    """Hyphenation and spacing: "commandline" vs "command line", "pretty-print" vs "prettyprint"."""
    for side in ledger.sides():
        other = ledger.t if side.is_goal else ledger.q
        seq = [w for w, _ in other.words]
        surf_l, surf_o = side.surfaces, {w: s for w, s in other.words}
        for word in list(side.left):
            if side.left[word] <= 0 or word.startswith(("=", "#")):
                continue
            raw = surf_l.get(word, word)
            for a, b in zip(seq, seq[1:], strict=False):
                if (
                    side.other_left.get(a, 0) > 0
                    and side.other_left.get(b, 0) > 0
                    and _joins(raw, surf_o.get(a, a), surf_o.get(b, b))
                ):
                    side.left[word] -= 1
                    side.other_left[a] -= 1
                    side.other_left[b] -= 1
                    pair = f"{surf_o.get(a, a)} {surf_o.get(b, b)}"
                    ledger.add(*side.pair(raw, pair), "normalization", "spacing")
                    break


def _account_adverbs(ledger: _Ledger) -> None:
    """Adverbs: "nicely" vs "nice"."""
    surf_q = {w: s for w, s in ledger.q.words}
    surf_t = {w: s for w, s in ledger.t.words}
    for a in list(ledger.q_left):
        for b in list(ledger.t_left):
            if ledger.q_left.get(a, 0) <= 0 or ledger.t_left.get(b, 0) <= 0:
                continue
            sa, sb = surf_q.get(a, a), surf_t.get(b, b)
            if _adverb_of(sa, sb) or _adverb_of(sb, sa):
                ledger.q_left[a] -= 1
                ledger.t_left[b] -= 1
                ledger.add(sa, sb, "normalization", "inflection")


def _account_all_the(ledger: _Ledger) -> None:
    """ "all (the) Xs" vs "the Xs": a definite plural means all of them (ALL_THE)."""
    for side in ledger.sides():
        a = side.units
        b = ledger.t if side.is_goal else ledger.q
        for i, (w, surface) in enumerate(a.words):
            if w != "=#all" or side.left.get(w, 0) <= 0 or i + 1 >= len(a.words):
                continue
            nxt = a.words[i + 1][0]
            if (i + 1) in a.after_the or any(
                bw == nxt and j in b.after_the for j, (bw, _s) in enumerate(b.words)
            ):
                side.left[w] -= 1
                ledger.add(
                    *side.pair(surface, "the"), "equivalence", "a definite plural means all of them"
                )


def _account_implied_verbs(ledger: _Ledger) -> None:
    """A goal without any verb ("python fizzbuzz program") asks for what the other goal did,
    when that is to create, show or run the thing it names."""
    trace_side, goal_side = ledger.sides()[1], ledger.sides()[0]
    for side, verbless in ((trace_side, ledger.goal), (goal_side, ledger.trace_goal)):
        implied = _implied_verbs(verbless, side.text)
        surfaces = side.surfaces
        for word in list(side.left):
            if side.left[word] > 0 and word in implied:
                side.left[word] -= 1
                ledger.add(
                    *side.pair(surfaces.get(word, word), ""),
                    "equivalence",
                    "the other goal names only the thing; this is the action it implies",
                )


def _report_equivalences(ledger: _Ledger) -> None:
    """Equivalences were folded into "=canon" units: report those whose surfaces differ."""
    for w, s in ledger.q.words:
        if w.startswith("=") and ledger.common.get(w, 0) > 0:
            other = next((s2 for w2, s2 in ledger.t.words if w2 == w), s)
            if other != s:
                ledger.add(s, other, "equivalence", w[1:].lstrip("#"))


def _account_one_sided(ledger: _Ledger, side: _Side) -> None:
    """Words on one side only: ignorable grammatical words, else unaccounted."""
    surfaces = side.surfaces
    verbs = _main_verbs(side.text)
    other_surf = {w: s for w, s in (ledger.t if side.is_goal else ledger.q).words}
    for word, _n in side.left.items():
        raw = surfaces.get(word, word)
        why = _one_sided_reason(word, raw)
        if (
            why is None
            and raw in KIND_NOUNS
            and _after_shared(word, side, ledger.common, verbs)
            and not any(other_surf.get(w, w) in KIND_NOUNS for w in side.other_left)
        ):
            why = "names the kind of the thing before it"
        if why is None:
            ledger.add(
                *side.pair(raw, ""),
                "unaccounted",
                "scope word" if "#" in word else "content word",
            )
        else:
            ledger.add(*side.pair(raw, ""), "ignorable", why)


def _one_sided_reason(word: str, raw: str) -> str | None:
    """Why *raw* may stand on one side only ("" for a plain grammatical word), or None."""
    if raw in IGNORABLE and not word.startswith(("#", "=")):
        return ""
    if raw in DEICTIC:
        return "the current one is the one meant"
    if word in DEFAULT_PLACE:
        return "the place a command acts on by default"
    if raw in MANNER_ADJECTIVES:
        return "an adjective of manner"
    if word == "to" and raw == "to":
        return "infinitive"
    return None


def _implied_verbs(verbless_goal: str, other_goal: str) -> frozenset[str]:
    """Units of *other_goal*'s main verbs that *verbless_goal* implies (empty unless it has no
    verb at all and those verbs create, show or run)."""
    from .text import IMPLIED_CLASSES, prepare

    try:
        a, b = prepare(verbless_goal), prepare(other_goal)
    except Exception:
        return frozenset()
    if (
        a.main_verbs
        or a.light_verb
        or a.polar_question
        or any(t.kind == "qword" for t in a.tokens)
        or not b.main_verbs
        or not b.main_verbs <= IMPLIED_CLASSES
    ):
        return frozenset()  # a question ("what is on my list") is not a bare noun phrase
    out: set[str] = set()
    for tok in b.tokens:
        if tok.kind == "verb" and tok.main:
            out.update(w for w, s in units(other_goal).words if s == tok.raw)
    return frozenset(out)


def _after_shared(
    word: str,
    side: "_Side",
    common: Counter,
    verbs: frozenset[str] = frozenset(),
) -> bool:
    """Each extra occurrence of *word* on this side (one the alignment leaves unmatched)
    follows a content word (a name: not a scope or grammatical word, not the goal's main verb)
    that both goals share. After a verb the noun is the verb's object, not the kind of a name
    ("change directory" is not "change"); after "or" it is an alternative ("files/directories")."""
    seq = side.units.words
    at = [i for i, (w, _s) in enumerate(seq) if w == word]
    extra = [i for i in at if i not in side.shared]
    if extra:
        return all(_follows_shared(seq, i, common, verbs) for i in extra)
    return any(_follows_shared(seq, i, common, verbs) for i in at)


def _follows_shared(
    seq: tuple[tuple[str, str], ...], i: int, common: Counter, verbs: frozenset[str]
) -> bool:
    if i == 0:
        return False
    prev, prev_surface = seq[i - 1]
    return (
        common.get(prev, 0) > 0
        and "#" not in prev
        and prev_surface not in IGNORABLE
        and prev_surface not in verbs
    )


@lru_cache(maxsize=65536)
def _main_verbs(goal: str) -> frozenset[str]:
    """Surfaces (lowercase) of the main verbs of *goal* (see ``text.prepare``)."""
    from .text import prepare

    try:
        return frozenset(t.raw.lower() for t in prepare(goal).tokens if t.kind == "verb" and t.main)
    except Exception:
        return frozenset()


def _joins(word: str, a: str, b: str) -> bool:
    return word.replace("-", "") == a + b


def normal_form(goal: str) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """The goal after normalization (lemmas in order, and its slots): two goals with the same
    normal form are the same request."""
    u = units(goal)
    return (
        tuple(lemma(w) for _u, s in u.words for w in s.split()),
        tuple(
            sorted(
                (k, v[1].lower() if v[0] not in ("file", "path") else v[1])
                for k, v in u.slots.items()
            )
        ),
    )
