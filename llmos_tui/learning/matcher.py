"""Precision-first goal matcher: rapidfuzz candidates, then gates that can only lower confidence.

The matcher holds every trace goal preprocessed in memory (``text.prepare``): canonical tokens,
verb classes, negation, technology words and slots. A decision is:

1. **Candidates.** The union of an inverted index over canonical tokens (IDF-weighted overlap)
   and ``rapidfuzz`` ``ratio`` over the token-sorted canonical strings (``token_sort_ratio`` on
   preprocessed text). Neither WRatio, token_set_ratio nor partial_ratio is used: with those a
   subset scores 100.
2. **Base similarity** per candidate: IDF-weighted Dice overlap of canonical tokens (typos are
   tolerated on long words), blended with the rapidfuzz ratio.
3. **Gates**, each of which may only lower the confidence (a multiplicative penalty in [0, 1)
   on the raw score, or a subtraction for the margin gate): ``verb`` (action-verb classes:
   create vs delete, run vs stop, ...), ``negation``, ``technology`` (Python vs JavaScript,
   CSV vs JSON), ``person`` (who does what to whom), ``mood`` (a yes/no question is not an
   order), ``tense`` (looking back vs planning ahead), ``slots`` (kinds must agree; different
   values are reported as ``slot_bindings``), ``content`` (content words or question words
   present on one side only; at least two content words shared), ``track_record`` (a trace
   that failed is not replayed blindly) and ``margin`` (another, different task scores almost
   as high).
4. **Calibration**: the raw score maps monotonically to a confidence in [0, 1], anchored so
   that the default thresholds (0.92 FOLLOWER, 0.75 MIXED) sit where cross-validation on
   train-derived splits put them (``MatchParams.calib_*``).
5. **Semantic re-ranker** (optional: ``learning.semantic_reranker`` and the ``[semantic]``
   extra; see ``semantic.py``). Only when the lexical best is not already a safe replay: the
   goals nearest by sentence embedding join the candidates, and each candidate's confidence
   becomes the higher of its lexical confidence and its calibrated cosine times the same gate
   penalties (``MatchParams.sem_*``). The content gate accepts different content words when
   the embeddings agree (never a different question word); every other gate is unchanged.

6. **Accounting** (``accounting.py``, issue 16), for the candidates whose other gates pass:
   every difference between the goal and the trace's goal must be accounted for — identical
   after normalization (case, articles, hyphenation and spacing, number words, inflection), a
   row of the curated equivalence table, a grammatical word without scope, or a slot whose
   value is substituted. Quantifier, logic and scope words ("only", "all", "either", "or",
   "not", "more than", "below", "recursively", "current" vs a named place, "files" vs
   "directories") are content, never noise: one of them on one side only changes which
   objects the recorded commands touch. A candidate that is fully accounted for has its
   ``content`` and ``margin`` gates superseded and its confidence set by the remaining gates'
   penalties (similarity no longer matters); one that is not fails the ``accounting`` gate
   (no penalty: MIXED may still use it as an example). A decision whose best candidate fails
   only that gate at FOLLOWER-level confidence is ``close``: the user may confirm it
   (``--replay-similar``). Failed traces and traces whose last call failed
   (:func:`replayable`) are never added: no replay, no MIXED example.

FOLLOWER needs confidence >= ``follower_threshold`` *and* every gate passed (the accounting
included); mode selection itself lives in ``modes.py``.
"""

from __future__ import annotations

import heapq
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Collection, Iterable, Mapping

from rapidfuzz import fuzz, process

from edgekit.words import OPPOSED

from ..records import field, record
from ..config import LearningConfig
from ..errors import UsageError
from ..runs import Mode
from .accounting import Accounting, account
from .text import (
    IMPLIED_CLASSES,
    GoalTerms,
    PreparedGoal,
    Token,
    goal_terms,
    normalize_text,
    prepare,
    prepared_from_terms,
    shared_token,
    tech_family,
)

if TYPE_CHECKING:  # the semantic module (and numpy) load only when the re-ranker is on
    from .semantic import SemanticIndex

# ---- parameters -------------------------------------------------------------------------------


@record(frozen=True)
class MatchParams:
    """Weights and gate limits. Defaults were chosen by cross-validation on train-derived splits
    (``python bench/bench_match.py cv``), not on test queries."""

    # token weights by kind (multiplied with the token's IDF)
    w_word: float = 1.0
    w_verb: float = 1.0
    w_tech: float = 1.2
    w_slot: float = 0.4
    w_slotword: float = 0.8
    w_generic: float = 0.25
    w_function: float = 0.08
    w_qword: float = 0.5
    w_person: float = 0.15
    w_negation: float = 0.5
    # base similarity = dice_weight * weighted Dice + (1 - dice_weight) * rapidfuzz ratio
    dice_weight: float = 0.8
    # a typo-tolerant match of two long words ("acccount" ~ "account")
    fuzzy_token_min_len: int = 5
    fuzzy_token_ratio: float = 88.0
    # content gate: most unmatched weight allowed on either side (fraction of that side's weight)
    content_max_unmatched: float = 0.3
    # content gate: an unmatched word is "strong" when its weight is this share of the side's weight
    content_max_single: float = 0.15
    # content gate: content words (verbs included) the two goals must share
    min_shared: int = 2
    # calibration: the raw score (similarity x gate penalties) that maps to confidence 0.92 and 0.75
    calib_follower_raw: float = 0.85
    calib_mixed_raw: float = 0.6
    # margin gate: a different task within this confidence of the best is a competitor
    margin_min: float = 0.05
    # two goals whose own similarity is below this are "different tasks" for the margin gate
    margin_same_task: float = 0.6
    # penalties (fraction of confidence removed when a gate fails)
    p_verb: float = 0.35
    p_verb_opposed: float = 0.6
    p_negation: float = 0.6
    p_tech_swap: float = 0.6
    p_tech_one_side: float = 0.2
    p_person: float = 0.2
    p_mood: float = 0.15
    p_tense: float = 0.1
    p_slot_kind: float = 0.15
    p_slot_value: float = 0.02
    p_content: float = 0.1
    p_margin: float = 0.1
    p_track: float = 0.3
    p_implied_verb: float = 0.03
    # retrieval sizes; candidates that get every gate computed
    index_candidates: int = 25
    fuzzy_candidates: int = 10
    full_candidates: int = 10
    # semantic re-ranker (learning.semantic_reranker; chosen by cross-validation on train splits,
    # ``python bench/bench_match.py cv --semantic``): cosine of two goals' sentence embeddings
    # that maps to confidence 0.92 and 0.75, before the gates' penalties
    sem_follower_cos: float = 0.88
    sem_mixed_cos: float = 0.7
    # the content gate accepts different words when the goals' embeddings agree this much
    sem_content_cos: float = 0.88
    # two stored goals this close by embedding are the same task for the margin gate
    sem_same_task: float = 0.8
    # nearest goals by embedding added to the lexical candidates
    sem_candidates: int = 10


DEFAULT_PARAMS = MatchParams()

#: Question words that change what is asked when only one side has them.
STRONG_QWORDS = frozenset({"how", "why", "when", "where", "who", "whom", "whose"})
#: Token kinds that count as shared evidence (at least one must be shared for FOLLOWER).
EVIDENCE_KINDS = frozenset({"word", "tech", "slotword", "verb", "generic"})

#: Token kinds weighted by a constant rather than by IDF.
_CONSTANT_KINDS = frozenset({"generic", "function", "person", "negation", "slot"})

#: Token kinds whose presence on one side only is a content difference (verbs, slots and
#: negation have gates of their own; function words and person are weak evidence only).
CONTENT_KINDS = frozenset({"word", "tech", "slotword", "qword", "generic"})

#: Lexical gates that the accounting supersedes when every difference is accounted for.
SUPERSEDED_GATES = frozenset({"content", "margin"})


# ---- results ----------------------------------------------------------------------------------


@record
class GateResult:
    """One gate's verdict on a candidate, with its penalty."""

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


@record
class Candidate:
    """One scored candidate trace for a goal."""

    trace_id: str
    goal: str
    confidence: float
    base: float
    gates: list[GateResult] = field(default_factory=list)
    slot_bindings: dict[str, str] = field(default_factory=dict)
    entry: Any = None
    semantic: float | None = None  # cosine of the sentence embeddings, when the re-ranker ran
    unmatched: tuple[int, int] = (0, 0)  # content words only in the goal, only in the trace
    accounting: Accounting | None = None  # every difference and how it is accounted for

    @property
    def accounted(self) -> bool:
        return self.accounting is not None and self.accounting.complete

    @property
    def passed(self) -> bool:
        return all(g.passed for g in self.gates)

    @property
    def failed_gates(self) -> list[GateResult]:
        return [g for g in self.gates if not g.passed]

    def to_dict(self) -> dict[str, Any]:
        return {
            "trace_id": self.trace_id,
            "goal": self.goal,
            "confidence": round(self.confidence, 4),
            "base": round(self.base, 4),
            "gates": [g.to_dict() for g in self.gates],
            "slot_bindings": dict(self.slot_bindings),
            "semantic": None if self.semantic is None else round(self.semantic, 4),
            "accounting": None if self.accounting is None else self.accounting.to_dict(),
        }


@record
class MatchDecision:
    """What the matcher (and then the mode selector) decided for one goal."""

    goal: str
    mode: Mode = Mode.LEARNER
    confidence: float = 0.0
    trace_id: str | None = None
    matched_goal: str | None = None
    gates: list[GateResult] = field(default_factory=list)
    candidates: list[tuple[str, str, float]] = field(default_factory=list)
    slot_bindings: dict[str, str] = field(default_factory=dict)
    reason: str = ""
    crystallized_tool: str | None = None
    multi_step: bool = False
    latency_ms: float = 0.0
    semantic: float | None = None  # cosine to the matched goal when the semantic re-ranker ran
    accounting: dict[str, Any] | None = None  # Accounting.to_dict() of the matched trace
    #: the best candidate would replay but for unaccounted differences (confirm, verify or model)
    close: bool = False
    #: the goal is an approved phrasing (alias) of the trace: the replay uses that alias's values
    alias: str | None = None
    #: who approved a replay whose differences are not all accounted for: "user" or "verified"
    approved_by: str | None = None
    #: literal ``{old: new}`` values to put into the calls (a VERIFIED answer), instead of slots
    value_substitutions: dict[str, str] = field(default_factory=dict)
    #: the VERIFIED call's answer and cost (``verify.Verification.to_dict()``), when one was made
    verification: dict[str, Any] | None = None

    @property
    def accounted(self) -> bool:
        return bool(self.accounting and self.accounting.get("complete"))

    @property
    def gates_passed(self) -> bool:
        return bool(self.gates) and all(g.passed for g in self.gates)

    def to_dict(self) -> dict[str, Any]:
        return {
            "goal": self.goal,
            "mode": self.mode,
            "confidence": round(self.confidence, 4),
            "trace_id": self.trace_id,
            "matched_goal": self.matched_goal,
            "gates": [g.to_dict() for g in self.gates],
            "candidates": [
                {"trace_id": t, "goal": g, "score": round(s, 4)} for t, g, s in self.candidates
            ],
            "slot_bindings": dict(self.slot_bindings),
            "reason": self.reason,
            "crystallized_tool": self.crystallized_tool,
            "multi_step": self.multi_step,
            "latency_ms": round(self.latency_ms, 3),
            "semantic": None if self.semantic is None else round(self.semantic, 4),
            "accounting": self.accounting,
            "close": self.close,
            "alias": self.alias,
            "approved_by": self.approved_by,
            "value_substitutions": dict(self.value_substitutions),
            **({"verification": self.verification} if self.verification is not None else {}),
        }


# ---- entries ----------------------------------------------------------------------------------


_IS_MAPPING: dict[type, bool] = {dict: True}


def _get(entry: Any, name: str, default: Any = None) -> Any:
    kind = type(entry)
    mapping = _IS_MAPPING.get(kind)
    if mapping is None:  # the ABC check once per type, not once per field of every entry
        mapping = _IS_MAPPING[kind] = issubclass(kind, Mapping)
    if mapping:
        return entry.get(name, default)
    return getattr(entry, name, default)


def replayable(entry: Any) -> bool:
    """A trace that may be replayed, crystallized or shown as an example: its recorded run did
    not fail and neither did its last tool call (a failed run is not a recipe), and it was not
    recorded from a chat follow-up that needs its conversation (``needs_context``)."""
    failed = str(_get(entry, "outcome", "") or "").lower() in {"failure", "failed", "error"}
    return (
        not failed
        and not bool(_get(entry, "last_call_failed", False))
        and not bool(_get(entry, "needs_context", False))
    )


def _entry_rank(entry: Any) -> tuple:
    """Which of several traces with the same goal to replay: healthy, proven, recent."""
    failed = str(_get(entry, "outcome", "") or "").lower() in {"failure", "failed", "error"}
    rate = _get(entry, "success_rate", None)
    rate = 1.0 if rate is None else float(rate)
    return (
        not failed,
        rate,
        int(_get(entry, "success_count", 0) or 0),
        str(_get(entry, "last_used", "") or ""),
        str(_get(entry, "id", "")),
    )


class _Group:
    """All traces whose goals normalise to the same text (one per distinct goal: slots keep
    100k of them small).

    Only the terms of its goal are held (``text.goal_terms``: the rapidfuzz key, the shared
    tokens and the few slots), not a prepared goal with its dictionaries and cached views; the
    gates get one made back from them (``Matcher._prepared``) for the few candidates a decision
    scores."""

    __slots__ = (
        "goal",
        "key",
        "_tokens",
        "rest",
        "weights",
        "weights_version",
        "_tid",
        "_entry",
        "_more",
    )

    def __init__(self, goal: str, terms: GoalTerms) -> None:
        self.goal = goal  # the text whose prepared form stands for the group (its first goal)
        _gkey, self.key, tokens, self.rest = terms
        self._tokens: Any = tokens
        self.weights: dict[str, float] = _NO_WEIGHTS
        self.weights_version = -1
        # its traces: most groups hold one, kept without a dict of its own
        self._tid: str | None = None
        self._entry: Any = None
        self._more: dict[str, Any] | None = None

    @classmethod
    def restored(
        cls, gkey: str, goal: str, key: str, lazy: list[Any], rest: Any, members: Any, entries: Any
    ) -> "_Group":
        """A group of a restored matcher state: its tokens as ``[table, indices]`` (made when
        first needed: most groups are never scored in a process), *members* as
        :meth:`members` gave them, their entries from *entries* (trace id -> entry)."""
        self = cls.__new__(cls)  # (named self: it is the one being made)
        self.goal, self.key, self._tokens, self.rest = goal, key, lazy, rest
        self.weights, self.weights_version = _NO_WEIGHTS, -1
        if type(members) is str:
            self._tid, self._entry, self._more = members, entries[members], None
        elif type(members) is list and members and all(type(t) is str for t in members):
            self._tid = self._entry = None
            self._more = {tid: entries[tid] for tid in members}
        else:
            raise ValueError("a group of the matcher state has no trace")
        return self

    @property
    def tokens(self) -> tuple[Token, ...]:
        tokens = self._tokens
        if type(tokens) is list:  # [table, indices] of a restored state
            tokens = self._tokens = tokens[0].tokens(tokens[1])
        return tokens

    def pairs(self) -> Iterable[tuple[str, str]]:
        """(word, kind) of its tokens in order: the word as in ``PreparedGoal.words``."""
        return ((("!" + t.text) if t.negated else t.text, t.kind) for t in self.tokens)

    def words(self) -> tuple[str, ...]:
        """Its distinct words (postings and document frequency)."""
        return tuple(dict.fromkeys([("!" + t.text) if t.negated else t.text for t in self.tokens]))

    def put(self, tid: str, entry: Any) -> None:
        if self._more is not None:
            self._more[tid] = entry
        elif self._tid is None or self._tid == tid:
            self._tid, self._entry = tid, entry
        else:
            self._more = {self._tid: self._entry, tid: entry}
            self._tid = self._entry = None

    def members(self) -> str | list[str] | None:
        """Its trace ids as held (for the matcher state): one id, or a list when it holds a
        dict of them."""
        return list(self._more) if self._more is not None else self._tid

    def pop(self, tid: str) -> None:
        if self._more is not None:
            self._more.pop(tid, None)
        elif self._tid == tid:
            self._tid = self._entry = None

    def get(self, tid: str) -> Any:
        if self._more is not None:
            return self._more[tid]
        if self._tid != tid:
            raise KeyError(tid)
        return self._entry

    def empty(self) -> bool:
        return not self._more if self._more is not None else self._tid is None

    def best(self) -> Any:
        if self._more is None:
            return self._entry
        return max(self._more.values(), key=_entry_rank)


_NO_WEIGHTS: dict[str, float] = {}


class _TokenTable:
    """The distinct tokens of a restored matcher state, as plain rows ``(text, kind, clause,
    main, negated, raw)``, each made a shared :class:`Token` when a group first needs it."""

    __slots__ = ("rows", "made")

    def __init__(self, rows: list[Any]) -> None:
        self.rows = rows
        self.made: list[Token | None] = [None] * len(rows)

    def tokens(self, idx: tuple[int, ...]) -> tuple[Token, ...]:
        made = self.made
        out = []
        for i in idx:
            tok = made[i]
            if tok is None:
                tok = made[i] = shared_token(*self.rows[i])
            out.append(tok)
        return tuple(out)


# ---- the matcher ------------------------------------------------------------------------------


class Matcher:
    """In-memory index of preprocessed trace goals; scores a goal against them."""

    def __init__(
        self,
        entries: Iterable[Any] = (),
        *,
        config: LearningConfig | None = None,
        params: MatchParams | None = None,
        state_dir: str | Path | None = None,
        semantic: "SemanticIndex | None" = None,
    ) -> None:
        """*state_dir* (the workspace's ``state/``) holds the semantic embedding cache when
        ``config.semantic_reranker`` is on; *semantic* supplies a ready :class:`SemanticIndex`
        instead (and turns the re-ranker on whatever the config says)."""
        self.config = config or LearningConfig()
        self.params = params or DEFAULT_PARAMS
        self.state_dir = Path(state_dir) if state_dir is not None else None
        self._semantic: SemanticIndex | None = semantic
        self._semantic_error: str | None = None  # why the re-ranker cannot run here
        self._sem_view_version = -1
        self._sem_matrix: Any = None
        self._sem_rows: dict[str, int] = {}
        self._sem_keys: list[str] = []
        self.version: Any = None
        self._groups: dict[str, _Group] = {}
        self._by_id: dict[str, str] = {}  # trace id -> group key
        self._aliases: dict[str, set[str]] = {}  # normalized approved phrasing -> trace ids
        self._alias_keys: dict[str, tuple[str, ...]] = {}  # trace id -> its alias keys
        self._df: dict[str, int] = {}
        self._postings: dict[str, set[str]] = {}
        self._keys: list[str] = []  # rapidfuzz choices (group sort keys)
        self._key_groups: list[str] = []  # parallel: group key
        self._dirty = True
        self._corpus_version = 0
        self._idf_cache: dict[str, float] = {}
        self._shared: dict[str, str] = {}  # equal rapidfuzz keys of groups, one object
        #: pre-filter the overlap candidates (same candidates, far fewer sums at 100k goals);
        #: off only to compare decisions with and without it
        self.prefilter = True
        p = self.params
        self._kind_weights = {
            "word": p.w_word,
            "verb": p.w_verb,
            "tech": p.w_tech,
            "slot": p.w_slot,
            "slotword": p.w_slotword,
            "generic": p.w_generic,
            "function": p.w_function,
            "qword": p.w_qword,
            "person": p.w_person,
            "negation": p.w_negation,
        }
        for entry in entries:
            self.add(entry)

    # ---- maintenance ---------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._by_id)

    def add(self, entry: Any) -> None:
        """Add (or replace) one trace entry; it needs ``id`` and ``goal``."""
        tid = str(_get(entry, "id", "") or "")
        goal = _get(entry, "goal", "")
        if not tid or not isinstance(goal, str) or not goal.strip():
            return
        if not replayable(entry):
            # failed traces are never candidates: not for a replay, not as a MIXED example
            self.remove(tid)
            return
        try:
            terms: GoalTerms = goal_terms(goal)
        except UsageError:  # a goal without words cannot be matched; it is skipped
            return
        if tid in self._by_id:
            self.remove(tid)
        gkey = terms[0]
        group = self._groups.get(gkey)
        if group is None:
            group = _Group(goal, terms)
            group.key = self._share(group.key)
            self._groups[gkey] = group
            for w in group.words():
                self._df[w] = self._df.get(w, 0) + 1
                self._postings.setdefault(w, set()).add(gkey)
            self._corpus_changed()
        group.put(tid, entry)
        self._by_id[tid] = gkey
        self._set_aliases(tid, entry)

    def goal_terms(self) -> dict[str, GoalTerms]:
        """``text.goal_terms`` of the goal of every group, as held (for the disk cache)."""
        return {g.goal: (gkey, g.key, g.tokens, g.rest) for gkey, g in self._groups.items()}

    # ---- the built state, for the disk snapshot (matcher_state.py) -------------------------
    def export_state(self) -> tuple[Any, ...]:
        """What :meth:`add` built, as plain values (str, int, bool, tuple, list, dict, set,
        frozenset, None: what ``marshal`` writes): the groups in order with their goal, terms and
        trace ids, the document frequencies, postings and aliases. Entries are not included:
        :meth:`restore_state` links the groups to the entries again by trace id."""
        table: dict[Token, int] = {}
        tokens: list[tuple[str, str, int, bool, bool, str]] = []
        groups = []
        for gkey, group in self._groups.items():
            idx = []
            for tok in group.tokens:
                i = table.get(tok)
                if i is None:
                    i = table[tok] = len(tokens)
                    tokens.append((tok.text, tok.kind, tok.clause, tok.main, tok.negated, tok.raw))
                idx.append(i)
            groups.append((gkey, group.goal, group.key, tuple(idx), group.rest, group.members()))
        canon = {gkey: gkey for gkey in self._groups}  # one object per group key in the file
        by_id = {tid: canon[gkey] for tid, gkey in self._by_id.items()}
        postings = {w: {canon[g] for g in gs} for w, gs in self._postings.items()}
        return (
            tokens,
            groups,
            by_id,
            dict(self._df),
            postings,
            {k: set(ids) for k, ids in self._aliases.items()},
            dict(self._alias_keys),
        )

    def restore_state(self, state: Any, entries: Mapping[str, Any]) -> None:
        """Make this (empty) matcher what :meth:`export_state` exported, its groups holding
        *entries* (trace id -> entry; every trace id of the state must be there). Raises
        ``ValueError`` (or ``KeyError``/``TypeError``) when *state* is not well formed; the
        matcher must then be thrown away."""
        if self._by_id or self._groups:
            raise ValueError("restore_state needs an empty matcher")
        tokens, groups, by_id, df, postings, aliases, alias_keys = state
        if type(tokens) is not list or not all(
            type(t) is tuple
            and len(t) == 6
            and type(t[0]) is str
            and type(t[1]) is str
            and type(t[2]) is int
            and type(t[3]) is bool
            and type(t[4]) is bool
            and type(t[5]) is str
            for t in tokens
        ):
            raise ValueError("the tokens of the matcher state are malformed")
        table = _TokenTable(tokens)
        made: dict[str, _Group] = {}
        shared: dict[str, str] = {}
        used: list[tuple[int, ...]] = []
        restored = _Group.restored
        for gkey, goal, key, idx, rest, members in groups:
            if (
                type(gkey) is not str
                or type(goal) is not str
                or type(key) is not str
                or type(idx) is not tuple
                or not (rest is None or type(rest) is tuple)
            ):
                raise ValueError("a group of the matcher state is malformed")
            used.append(idx)
            key = shared.setdefault(key, key)
            made[gkey] = restored(gkey, goal, key, [table, idx], rest, members, entries)
        indices = set().union(*used)  # every token index in the table, checked once (in C)
        if indices and not (type(min(indices)) is int and min(indices) >= 0):
            raise ValueError("a token index of the matcher state is malformed")
        if indices and max(indices) >= len(tokens):
            raise ValueError("a token index of the matcher state is out of range")
        if (
            type(by_id) is not dict
            or type(df) is not dict
            or type(postings) is not dict
            or type(aliases) is not dict
            or type(alias_keys) is not dict
            or not all(gkey in made for gkey in by_id.values())
        ):
            raise ValueError("the matcher state is malformed")
        self._groups = made
        self._by_id = by_id
        self._df = df
        self._postings = postings
        self._aliases = aliases
        self._alias_keys = alias_keys
        self._shared = shared
        self._corpus_changed()

    def _share(self, key: str) -> str:
        """One object for equal rapidfuzz keys: goals that differ only in slot values (file
        names, numbers) often have the same one."""
        shared = self._shared.setdefault(key, key)
        if len(self._shared) > 2 * len(self._groups) + 1024:  # left over from removed groups
            live: dict[str, str] = {}
            for group in self._groups.values():
                live[group.key] = group.key
            live.setdefault(shared, shared)
            self._shared = live
        return shared

    def _set_aliases(self, tid: str, entry: Any) -> None:
        """Register the trace's approved phrasings (``aliases``) as exact matches."""
        for key in self._alias_keys.pop(tid, ()):
            ids = self._aliases.get(key)
            if ids is not None:
                ids.discard(tid)
                if not ids:
                    del self._aliases[key]
        keys = []
        for phrase in _get(entry, "aliases", None) or ():
            if isinstance(phrase, str) and phrase.strip():
                key = normalize_text(phrase).lower()
                self._aliases.setdefault(key, set()).add(tid)
                keys.append(key)
        if keys:
            self._alias_keys[tid] = tuple(keys)

    def remove(self, trace_id: str) -> bool:
        self._set_aliases(trace_id, None)
        gkey = self._by_id.pop(trace_id, None)
        if gkey is None:
            return False
        group = self._groups[gkey]
        group.pop(trace_id)
        if group.empty():
            del self._groups[gkey]
            for w in group.words():
                n = self._df.get(w, 0) - 1
                if n <= 0:
                    self._df.pop(w, None)
                    self._postings.pop(w, None)
                else:
                    self._df[w] = n
                    self._postings[w].discard(gkey)
            self._corpus_changed()
        return True

    def refresh(self, entries: Iterable[Any], version: Any = None) -> None:
        """Bring the matcher in line with *entries* (only what changed is re-prepared)."""
        if version is not None and version == self.version and self._by_id:
            return
        wanted: dict[str, Any] = {}
        for e in entries:
            tid = str(_get(e, "id", "") or "")
            if tid:
                wanted[tid] = e
        for tid in list(self._by_id):
            if tid not in wanted:
                self.remove(tid)
        for tid, e in wanted.items():
            gkey = self._by_id.get(tid)
            if gkey is not None and not replayable(e):
                self.remove(tid)
            elif gkey is not None and normalize_text(_get(e, "goal", "")).lower() == gkey:
                self._groups[gkey].put(tid, e)  # metadata may have changed
                self._set_aliases(tid, e)  # an alias may have been added or removed
            else:
                self.add(e)
        self.version = version

    def _rebuild_choices(self) -> None:
        if not self._dirty:
            return
        self._key_groups = list(self._groups)
        self._keys = [self._groups[g].key for g in self._key_groups]
        self._dirty = False

    # ---- weights ---------------------------------------------------------------------------
    def idf(self, word: str) -> float:
        """Inverse document frequency over the stored goals, scaled to (0, 1]: 1 = unseen."""
        cached = self._idf_cache.get(word)
        if cached is not None:
            return cached
        n = max(len(self._groups), 1)
        df = self._df.get(word, 0)
        top = math.log((n + 1) / 0.5) + 0.1
        value = (math.log((n + 1) / (df + 0.5)) + 0.1) / top
        if df:
            self._idf_cache[word] = value
        return value

    def _corpus_changed(self) -> None:
        self._corpus_version += 1
        self._idf_cache.clear()
        self._dirty = True

    def _kind_weight(self, kind: str) -> float:
        return self._kind_weights.get(kind, self.params.w_word)

    def _group_weights(self, group: "_Group") -> dict[str, float]:
        """A stored goal's weights, cached until the corpus (and so the IDF) changes."""
        if group.weights_version != self._corpus_version:
            group.weights = self._weights(group.pairs())
            group.weights_version = self._corpus_version
        return group.weights

    def weights(self, prepared: PreparedGoal) -> dict[str, float]:
        """Weight of each distinct canonical word of *prepared*: IDF x kind for words that
        carry the task, a small constant for function words, persons and generic words."""
        return self._weights(
            zip(prepared.words, (tok.kind for tok in prepared.tokens), strict=True)
        )

    def _weights(self, pairs: Iterable[tuple[str, str]]) -> dict[str, float]:
        """:meth:`weights` of (word, kind) pairs in token order (repeats change nothing)."""
        out: dict[str, float] = {}
        for word, kind in pairs:
            if kind in _CONSTANT_KINDS:
                w = self._kind_weight(kind)
            else:
                w = self.idf(word) * self._kind_weight(kind)
            if w > out.get(word, 0.0):
                out[word] = w
        return out

    def _prepared(self, group: "_Group") -> PreparedGoal:
        """The prepared form of a group's goal, made back from its terms when a decision
        scores it (no parsing: equal to ``prepare(group.goal)``)."""
        return prepared_from_terms(group.goal, group.tokens, group.rest)

    # ---- candidates ------------------------------------------------------------------------
    def _retrieve(self, q: PreparedGoal, qw: dict[str, float]) -> list[str]:
        """Group keys worth scoring: inverted-index overlap plus rapidfuzz neighbours."""
        p = self.params
        n = len(self._groups)
        kinds = q.kinds
        cap = max(500, n // 20)
        # Rare words first; function words never open a candidate; very common words only
        # add to the candidates already found.
        words: list[tuple[float, set[str], bool]] = []  # (weight, posting, opens candidates)
        for word, w in sorted(qw.items(), key=lambda kv: -kv[1]):
            posting = self._postings.get(word)
            if not posting or kinds.get(word) in _CONSTANT_KINDS:
                continue
            words.append((w, posting, len(posting) <= cap or not words))
        # ties fall by the group key (its text), never by set order: the same goal and store
        # give the same candidates in every process
        opened: Collection[str]
        if self.prefilter:
            found, opened = self._top_overlap(words, p.index_candidates)
        else:
            acc = self._overlap(words)
            found = heapq.nlargest(p.index_candidates, acc, key=lambda g: (acc[g], g))
            opened = acc.keys()
        # rapidfuzz over the token-sorted goals finds what shares no exact word: typos and
        # word variants. It is only needed when the goal has a word no stored goal has.
        unseen = any(kinds.get(w) in CONTENT_KINDS and w not in self._df for w in qw)
        self._rebuild_choices()
        if self._keys and (unseen or not found):
            for _choice, _score, idx in process.extract(
                q.key,
                self._keys,
                scorer=fuzz.ratio,
                limit=p.fuzzy_candidates,
                score_cutoff=40,
                processor=None,
            ):
                gkey = self._key_groups[idx]
                if gkey not in opened:
                    found.append(gkey)
        return found

    @staticmethod
    def _overlap(words: list[tuple[float, set[str], bool]]) -> dict[str, float]:
        """Every candidate's weighted overlap: the words that open candidates add their weight
        to each group of their posting, the others only to the groups already opened."""
        acc: dict[str, float] = {}
        for w, posting, opens in words:
            if opens:
                for gkey in posting:
                    acc[gkey] = acc.get(gkey, 0.0) + w
            else:
                for gkey in acc:
                    if gkey in posting:
                        acc[gkey] += w
        return acc

    @staticmethod
    def _top_overlap(
        words: list[tuple[float, set[str], bool]], k: int
    ) -> tuple[list[str], set[str]]:
        """The same top *k* as ``nlargest(k, _overlap(words))`` (ties by key), and the opened
        groups, without summing the overlap of every opened group.

        With 100k stored goals each word of a goal opens thousands of groups, most of which
        share that one word only. A group's overlap is a sum of its words' weights; one that
        shares a single word scores exactly that word's weight. So the groups that share two
        or more words are scored (set intersections, in C), the k-th best of them is a bound
        ``theta``, and of the single-word groups only the postings of words weighing at least
        ``theta`` can reach the top k: they are scored too. Everything else scores below
        ``theta``. Sums are taken in the same order as :meth:`_overlap`: the same floats, the
        same ties, the same candidates (``tests/test_matcher_prefilter.py`` compares them).
        """
        opened: set[str] = set()
        multi: set[str] = set()
        for _w, posting, opens in words:
            if opens:
                multi |= opened & posting
                opened |= posting
            else:
                multi |= opened & posting
        score: dict[str, float] = {}

        def add(groups: Iterable[str]) -> None:
            for gkey in groups:
                if gkey in score:
                    continue
                total, inside = 0.0, False
                for w, posting, opens in words:
                    if gkey in posting and (opens or inside):
                        total += w
                        inside = True
                score[gkey] = total

        add(multi)
        theta = -math.inf
        if len(score) >= k:
            theta = heapq.nlargest(k, score.values())[-1]
        for w, posting, opens in words:
            if opens and w >= theta:
                add(posting)
        return heapq.nlargest(k, score, key=lambda g: (score[g], g)), opened

    def candidates(self, goal: str, k: int | None = None) -> list[Candidate]:
        """The top *k* candidates for *goal*, best first, with gates applied."""
        q = prepare(goal)
        k = k or self.config.candidates
        scored, _note = self._rank(q, k)
        return scored[:k]

    def _rank(self, q: PreparedGoal, k: int = 0) -> tuple[list[Candidate], str | None]:
        """Lexical candidates; re-ranked with sentence embeddings when the re-ranker is on and
        the lexical best is not already a safe replay. The note says why it could not run."""
        scored = self._score_all(q, k)
        if not self.semantic_enabled:
            return scored, None
        if scored and scored[0].passed and scored[0].confidence >= self.config.follower_threshold:
            return scored, None
        if self._semantic_error is not None:
            return scored, self._semantic_error
        from .semantic import SemanticUnavailable

        try:
            view = self._semantic_view(q)
        except SemanticUnavailable as exc:
            # missing extra or a model that will not load: decide lexically, say so every time
            self._semantic_error = f"semantic re-ranker unavailable: {exc.message}"
            return scored, self._semantic_error
        if view is None:
            return scored, None
        return self._score_all(q, k, view), None

    def _score_all(
        self, q: PreparedGoal, k: int = 0, sem: "_SemView | None" = None
    ) -> list[Candidate]:
        """Score the retrieved candidates: similarity for all, gates for the best few.

        Gates only lower a score, so a candidate outside the best ``full_candidates`` by
        similarity could only outrank them if all of those failed gates; it could then not
        reach FOLLOWER level either (it is less similar than every one of them). With *sem*
        (the semantic re-ranker), the goals nearest by embedding join the candidates and each
        candidate's confidence may rise with its cosine (:meth:`_apply_semantic`).
        """
        qw = self.weights(q)
        quick: list[tuple[float, str, _Group, set[str], set[str]]] = []
        for gkey in self._retrieve(q, qw):
            group = self._groups[gkey]
            base, only_q, only_t = self._base(q.key, qw, group.key, self._group_weights(group))
            quick.append((base, gkey, group, only_q, only_t))
        quick.sort(key=lambda item: (-item[0], item[1]))
        top = quick[: max(self.params.full_candidates, k)]
        if sem is not None:
            have = {item[1] for item in top}
            for gkey in sem.nearest(self.params.sem_candidates):
                if gkey not in have and gkey in self._groups:
                    group = self._groups[gkey]
                    base, only_q, only_t = self._base(
                        q.key, qw, group.key, self._group_weights(group)
                    )
                    top.append((base, gkey, group, only_q, only_t))
        scored: list[Candidate] = []
        keys: list[str] = []
        for base, gkey, group, only_q, only_t in top:
            keys.append(gkey)
            cand = self._score(q, qw, group, base, only_q, only_t)
            if sem is not None:
                self._apply_semantic(cand, sem.cosine(gkey), q, self._prepared(group))
            scored.append(cand)
        order = sorted(
            range(len(scored)), key=lambda i: (-scored[i].confidence, scored[i].trace_id)
        )
        scored = [scored[i] for i in order]
        keys = [keys[i] for i in order]
        if scored:
            self._margin_gate(scored, keys, sem)
        for cand in scored:
            self._account(q, cand)
        scored.sort(key=lambda c: (not (c.accounted and c.passed), -c.confidence, c.trace_id))
        return scored

    def _account(self, q: PreparedGoal, cand: Candidate) -> None:
        """The accounting gate: a replay needs every difference accounted for (accounting.py).

        Computed for candidates whose other gates pass (else no replay is possible anyway).
        When every difference is accounted for, the lexical ``content`` and ``margin`` gates are
        superseded (they estimate what the accounting establishes) and the confidence is
        what the remaining gates leave of a perfect match; otherwise the candidate keeps its
        confidence (MIXED may still use it) but fails the ``accounting`` gate.
        """
        if not all(g.passed for g in cand.gates if g.name not in SUPERSEDED_GATES):
            return
        acc = account(q.text, cand.goal)
        cand.accounting = acc
        if not acc.complete:
            cand.gates.append(GateResult("accounting", False, 0.0, acc.describe()))
            return
        gates = [
            g
            if g.name not in SUPERSEDED_GATES or g.passed
            else GateResult(g.name, True, 0.0, f"superseded by the accounting ({g.reason})")
            for g in cand.gates
        ]
        pending = _unconfirmed_shell_values(acc, cand.entry)
        if pending:
            acc.complete = False
        gates.append(GateResult("accounting", not pending, 0.0, acc.describe()))
        raw = 1.0
        for g in gates:
            raw *= 1.0 - g.penalty
        cand.gates = gates
        cand.slot_bindings = dict(acc.substitutions)
        cand.confidence = max(cand.confidence, self.calibrate(raw))

    # ---- semantic re-ranker (optional) ----------------------------------------------------
    @property
    def semantic_enabled(self) -> bool:
        return self._semantic is not None or self.config.semantic_reranker

    def semantic_index(self) -> "SemanticIndex":
        """The embedding index (created on first use; raises SemanticUnavailable without the extra)."""
        from .semantic import CACHE_FILE, SemanticIndex, require_semantic

        if self._semantic is None:
            require_semantic()
            path = self.state_dir / CACHE_FILE if self.state_dir is not None else None
            self._semantic = SemanticIndex(path)
        return self._semantic

    def prepare_semantic(self) -> int:
        """Load the model and embed every stored goal now (else the first decision that needs
        them pays for it). Returns the number of distinct goals held."""
        self._semantic_matrix()
        return len(self._sem_rows)

    def _semantic_matrix(self) -> tuple[Any, dict[str, int]]:
        """Embeddings of the stored goals (one row per group), rebuilt when the corpus changed."""
        if self._sem_view_version != self._corpus_version or self._sem_matrix is None:
            index = self.semantic_index()
            self._rebuild_choices()
            keys = list(self._key_groups)
            self._sem_matrix = index.goals(keys)
            self._sem_rows = {g: i for i, g in enumerate(keys)}
            self._sem_keys = keys
            self._sem_view_version = self._corpus_version
        return self._sem_matrix, self._sem_rows

    def _semantic_view(self, q: PreparedGoal) -> "_SemView | None":
        matrix, rows = self._semantic_matrix()
        if not rows:
            return None
        qv = self.semantic_index().query(normalize_text(q.text).lower())
        return _SemView(matrix, rows, self._sem_keys, matrix @ qv)

    def calibrate_semantic(self, cosine: float) -> float:
        """Map a cosine to confidence, monotonically: ``sem_follower_cos`` is 0.92 and
        ``sem_mixed_cos`` is 0.75 (anchors chosen by cross-validation, like :meth:`calibrate`)."""
        p = self.params
        c = max(0.0, min(1.0, cosine))
        rf, rm = p.sem_follower_cos, p.sem_mixed_cos
        if c <= rm:
            return c * 0.75 / rm
        if c <= rf:
            return 0.75 + (c - rm) * (0.92 - 0.75) / (rf - rm)
        return min(1.0, 0.92 + (c - rf) * 0.08 / (1.0 - rf))

    def _apply_semantic(
        self, cand: Candidate, cosine: float, q: PreparedGoal, t: PreparedGoal
    ) -> None:
        """Combine a candidate's lexical confidence with its cosine; it can only rise.

        Every gate still applies: the semantic confidence is the calibrated cosine times the
        same gate penalties. One gate reads the embeddings: ``content`` (words present on one
        side only) accepts different content words when the two goals say the same thing by
        meaning (cosine >= ``sem_content_cos``), but never a question word that only one side
        has ("how" vs "when" to change the oil); verbs, negation, technology, slots, persons,
        mood, tense and track record are judged on the words exactly as without the re-ranker.
        """
        p = self.params
        cand.semantic = cosine
        same_question = {w for w in q.words if w in STRONG_QWORDS} == {
            w for w in t.words if w in STRONG_QWORDS
        }
        # Words replaced on both sides may be a paraphrase; words on one side only are an
        # addition or an omission ("... and delete all files"), whatever the embeddings say.
        substitution = cand.unmatched[0] > 0 and cand.unmatched[1] > 0
        for i, gate in enumerate(cand.gates):
            if (
                gate.name == "content"
                and not gate.passed
                and cosine >= p.sem_content_cos
                and same_question
                and (substitution or not any(cand.unmatched))
            ):
                cand.gates[i] = GateResult(
                    "content",
                    True,
                    0.0,
                    f"words differ ({gate.reason}) but the meaning agrees "
                    f"(embedding cosine {cosine:.2f} >= {p.sem_content_cos:.2f})",
                )
        factor = 1.0
        for gate in cand.gates:
            factor *= 1.0 - gate.penalty
        cand.confidence = max(cand.confidence, self.calibrate_semantic(cosine) * factor)

    # ---- scoring ---------------------------------------------------------------------------
    def similarity(self, a: PreparedGoal, b: PreparedGoal) -> float:
        """Symmetric base similarity of two prepared goals (no gates)."""
        return self._base(a.key, self.weights(a), b.key, self.weights(b))[0]

    def _align(
        self, qw: dict[str, float], tw: dict[str, float]
    ) -> tuple[float, set[str], set[str]]:
        """Matched weight and the unmatched words of each side (typo-tolerant on long words)."""
        p = self.params
        matched = 0.0
        common = qw.keys() & tw.keys()
        for w in common:
            matched += (qw[w] + tw[w]) / 2
        only_q = set(qw) - common
        only_t = set(tw) - common
        if only_q and only_t:
            for a in sorted(only_q):
                if len(a) < p.fuzzy_token_min_len or a.startswith(("<", "!")):
                    continue
                best, best_r = None, 0.0
                for b in only_t:
                    if len(b) < p.fuzzy_token_min_len or b.startswith(("<", "!")):
                        continue
                    r = fuzz.ratio(a, b)
                    if r > best_r:
                        best, best_r = b, r
                if best is not None and best_r >= p.fuzzy_token_ratio:
                    matched += (qw[a] + tw[best]) / 2 * (best_r / 100.0)
                    only_q.discard(a)
                    only_t.discard(best)
        return matched, only_q, only_t

    def _base(
        self, qkey: str, qw: dict[str, float], tkey: str, tw: dict[str, float]
    ) -> tuple[float, set[str], set[str]]:
        """Base similarity of two goals given their keys and weights, and the unmatched words
        of each side."""
        matched, only_q, only_t = self._align(qw, tw)
        total = sum(qw.values()) + sum(tw.values())
        dice = (2 * matched / total) if total else 0.0
        ratio = fuzz.ratio(qkey, tkey) / 100.0
        d = self.params.dice_weight
        return max(0.0, min(1.0, d * dice + (1 - d) * ratio)), only_q, only_t

    def _base_without(
        self,
        q: PreparedGoal,
        qw: dict[str, float],
        t: PreparedGoal,
        tw: dict[str, float],
        drop: set[str],
    ) -> float:
        """Base similarity with the words in *drop* removed from both goals."""
        qw2 = {w: v for w, v in qw.items() if w not in drop}
        tw2 = {w: v for w, v in tw.items() if w not in drop}
        matched, _oq, _ot = self._align(qw2, tw2)
        total = sum(qw2.values()) + sum(tw2.values())
        dice = (2 * matched / total) if total else 0.0
        qkey = " ".join(w for w in q.key.split() if w not in drop)
        tkey = " ".join(w for w in t.key.split() if w not in drop)
        ratio = fuzz.ratio(qkey, tkey) / 100.0
        d = self.params.dice_weight
        return max(0.0, min(1.0, d * dice + (1 - d) * ratio))

    def _score(
        self,
        q: PreparedGoal,
        qw: dict[str, float],
        group: _Group,
        base: float,
        only_q: set[str],
        only_t: set[str],
    ) -> Candidate:
        t = self._prepared(group)
        tw = self._group_weights(group)
        entry = group.best()
        gates: list[GateResult] = []
        gates.append(self._verb_gate(q, t))
        gates.append(self._negation_gate(q, t))
        gates.append(self._tech_gate(q, t))
        gates.append(self._person_gate(q, t))
        gates.append(self._mood_gate(q, t))
        gates.append(self._tense_gate(q, t))
        slot_gate, bindings, slot_words = self._slot_gate(q, t, only_q, only_t)
        gates.append(slot_gate)
        if slot_gate.passed and bindings and slot_words:
            # The differing file names are parameters of the task, not content: a goal that
            # differs only there ("hello.txt" -> "notes.txt") is scored as the same task, and the
            # slot gate's own penalty (substitution required) still applies.
            base = max(base, self._base_without(q, qw, t, tw, slot_words))
        gates.append(
            self._content_gate(
                qw,
                tw,
                q.kinds,
                t.kinds,
                only_q - slot_words,
                only_t - slot_words,
                identical=q.words == t.words,
            )
        )
        gates.append(self._track_gate(entry))
        raw = base
        for g in gates:
            raw *= 1.0 - g.penalty
        unmatched = (
            sum(1 for w in only_q - slot_words if q.kinds.get(w) in CONTENT_KINDS),
            sum(1 for w in only_t - slot_words if t.kinds.get(w) in CONTENT_KINDS),
        )
        return Candidate(
            trace_id=str(_get(entry, "id")),
            goal=str(_get(entry, "goal")),
            confidence=self.calibrate(raw),
            base=base,
            gates=gates,
            slot_bindings=bindings,
            entry=entry,
            unmatched=unmatched,
        )

    def calibrate(self, raw: float) -> float:
        """Map a raw score (similarity x gate penalties) to confidence, monotonically.

        Two anchors chosen by cross-validation on train-derived splits: a raw score of
        ``calib_follower_raw`` is confidence 0.92 (the default FOLLOWER threshold; replays
        above it were >= 99 % correct there) and ``calib_mixed_raw`` is 0.75 (MIXED).
        """
        p = self.params
        raw = max(0.0, min(1.0, raw))
        rf, rm = p.calib_follower_raw, p.calib_mixed_raw
        if raw <= rm:
            return raw * 0.75 / rm
        if raw <= rf:
            return 0.75 + (raw - rm) * (0.92 - 0.75) / (rf - rm)
        return min(1.0, 0.92 + (raw - rf) * 0.08 / (1.0 - rf))

    # ---- gates ---------------------------------------------------------------------------
    def _verb_gate(self, q: PreparedGoal, t: PreparedGoal) -> GateResult:
        p = self.params
        qv, tv = q.verbs, t.verbs
        only_q, only_t = qv - tv, tv - qv
        opposed = sorted(f"{a} vs {b}" for a in only_q for b in tv if frozenset((a, b)) in OPPOSED)
        opposed += sorted(
            f"{b} vs {a}"
            for a in only_t
            for b in qv
            if frozenset((a, b)) in OPPOSED and f"{b} vs {a}" not in opposed
        )
        if opposed:
            return GateResult(
                "verb", False, p.p_verb_opposed, f"opposite actions: {', '.join(opposed)}"
            )
        if not only_q and not only_t:
            shared = ", ".join(sorted(qv)) or "none"
            return GateResult("verb", True, 0.0, f"same action classes ({shared})")
        # A goal with no verb of its own ("python fizzbuzz program") implies create/show/run.
        if (
            not q.main_verbs
            and not q.light_verb
            and not only_q
            and only_t <= (t.main_verbs & IMPLIED_CLASSES)
        ):
            return GateResult(
                "verb",
                True,
                p.p_implied_verb,
                f"goal has no action verb; trace's '{', '.join(sorted(only_t))}' is implied",
            )
        if (
            not t.main_verbs
            and not t.light_verb
            and not only_t
            and only_q <= (q.main_verbs & IMPLIED_CLASSES)
        ):
            return GateResult(
                "verb",
                True,
                p.p_implied_verb,
                f"trace has no action verb; goal's '{', '.join(sorted(only_q))}' is implied",
            )
        parts = []
        if only_q:
            parts.append(f"goal only: {', '.join(sorted(only_q))}")
        if only_t:
            parts.append(f"trace only: {', '.join(sorted(only_t))}")
        return GateResult("verb", False, p.p_verb, "different actions (" + "; ".join(parts) + ")")

    def _negation_gate(self, q: PreparedGoal, t: PreparedGoal) -> GateResult:
        qn, tn = q.negated, t.negated
        if qn == tn:
            return GateResult(
                "negation",
                True,
                0.0,
                "no negation" if not qn else f"both negate {', '.join(sorted(qn))}",
            )
        parts = []
        if qn - tn:
            parts.append(f"goal negates {', '.join(sorted(qn - tn))}")
        if tn - qn:
            parts.append(f"trace negates {', '.join(sorted(tn - qn))}")
        return GateResult("negation", False, self.params.p_negation, "; ".join(parts))

    def _person_gate(self, q: PreparedGoal, t: PreparedGoal) -> GateResult:
        """Who does what to whom: "what will you call me" is not "what should I call you"."""
        qp, tp = q.persons, t.persons
        if not qp or not tp or qp == tp:
            return GateResult(
                "person", True, 0.0, "same roles" if qp and tp else "no roles to compare"
            )

        def show(seq: tuple[str, ...]) -> str:
            return " ... ".join(x.strip("<>") for x in seq)

        return GateResult(
            "person",
            False,
            self.params.p_person,
            f"different roles: goal '{show(qp)}' vs trace '{show(tp)}'",
        )

    def _mood_gate(self, q: PreparedGoal, t: PreparedGoal) -> GateResult:
        """A yes/no question ("did I run the tests?") does not order the action it asks about."""
        if q.polar_question == t.polar_question:
            return GateResult("mood", True, 0.0, "same sentence type")
        which = "goal" if q.polar_question else "trace"
        return GateResult(
            "mood",
            False,
            self.params.p_mood,
            f"the {which} asks a yes/no question, the other gives an order",
        )

    def _tense_gate(self, q: PreparedGoal, t: PreparedGoal) -> GateResult:
        """Looking back ("when did I change the oil") is not planning ahead ("when should I")."""
        if q.past == t.past:
            return GateResult("tense", True, 0.0, "same tense")
        which = "goal" if q.past else "trace"
        return GateResult(
            "tense", False, self.params.p_tense, f"only the {which} is about the past"
        )

    def _tech_gate(self, q: PreparedGoal, t: PreparedGoal) -> GateResult:
        p = self.params
        qt, tt = q.tech | q.implied_tech, t.tech | t.implied_tech
        only_q, only_t = q.tech - tt, t.tech - qt
        # Named technologies and file-extension ones are compared apart: "convert data.json
        # to CSV" names the same two formats as "convert data.csv to JSON", swapped.
        swaps = sorted(
            {
                f"{b} -> {a}"
                for mine, theirs in ((q.tech, t.tech), (q.implied_tech, t.implied_tech))
                for a in (mine - theirs)
                for b in (theirs - mine)
                if tech_family(a) == tech_family(b)
            }
        )
        if swaps:
            return GateResult(
                "technology", False, p.p_tech_swap, f"different technology: {', '.join(swaps)}"
            )
        if only_q or only_t:
            parts = []
            if only_q:
                parts.append(f"goal names {', '.join(sorted(only_q))}")
            if only_t:
                parts.append(f"trace names {', '.join(sorted(only_t))}")
            return GateResult("technology", False, p.p_tech_one_side, "; ".join(parts))
        shared = ", ".join(sorted(q.tech & t.tech))
        return GateResult(
            "technology", True, 0.0, f"same technology ({shared})" if shared else "none named"
        )

    def _slot_gate(
        self, q: PreparedGoal, t: PreparedGoal, only_q: set[str], only_t: set[str]
    ) -> tuple[GateResult, dict[str, str], set[str]]:
        """Slots must be of the same kinds; differing values become bindings."""
        p = self.params
        bindings: dict[str, str] = {}
        slot_words: set[str] = set()
        q_lang = {k for k, kind in q.slot_kinds.items() if kind == "language"}
        t_lang = {k for k, kind in t.slot_kinds.items() if kind == "language"}
        qk = {k: v for k, v in q.slots.items() if k not in q_lang}
        tk = {k: v for k, v in t.slots.items() if k not in t_lang}
        missing = sorted(set(tk) - set(qk))
        extra = sorted(set(qk) - set(tk))

        # A file slot on one side may be the same thing the other side names in words
        # ("README.md" vs "the README file"): fine when its words are matched.
        def covered(
            keys: list[str], prepared: PreparedGoal, other_unmatched: set[str]
        ) -> list[str]:
            left = []
            for key in keys:
                if prepared.slot_kinds.get(key) == "file":
                    words = {tok.text for tok in prepared.tokens if tok.kind == "slotword"}
                    if words and not (words & other_unmatched):
                        continue
                left.append(key)
            return left

        missing = covered(missing, t, only_t)
        extra = covered(extra, q, only_q)
        for key in sorted(set(qk) & set(tk)):
            # File names and paths are case-sensitive on this system: Hello.txt is not hello.txt.
            if q.slot_kinds.get(key) in ("file", "path"):
                differs = qk[key] != tk[key]
            else:
                differs = qk[key].lower() != tk[key].lower()
            if differs:
                bindings[key] = qk[key]
        if bindings:
            # the words of differing file names are the slot, not a content difference
            for key in bindings:
                for value in (qk[key], tk[key]):
                    if q.slot_kinds.get(key) == "file":
                        from .text import canon_noun, file_name_words

                        slot_words.update(canon_noun(w) for w in file_name_words(value))
        if missing or extra:
            parts = []
            if extra:
                parts.append(f"goal has {', '.join(f'{k}={qk[k]!r}' for k in extra)}")
            if missing:
                parts.append(f"trace has {', '.join(f'{k}={tk[k]!r}' for k in missing)}")
            return (
                GateResult("slots", False, p.p_slot_kind, "different slots: " + "; ".join(parts)),
                bindings,
                slot_words,
            )
        if bindings:
            desc = ", ".join(f"{k}: {tk[k]!r} -> {v!r}" for k, v in bindings.items())
            return (
                GateResult(
                    "slots",
                    True,
                    p.p_slot_value,
                    f"differs only in slot values ({desc}); substitution required",
                ),
                bindings,
                slot_words,
            )
        return (
            GateResult("slots", True, 0.0, "same slots" if qk else "no slots"),
            bindings,
            slot_words,
        )

    def _content_gate(
        self,
        qw: dict[str, float],
        tw: dict[str, float],
        qk: dict[str, str],
        tk: dict[str, str],
        only_q: set[str],
        only_t: set[str],
        identical: bool = False,
    ) -> GateResult:
        p = self.params
        only_q = {w for w in only_q if qk.get(w) in CONTENT_KINDS}
        only_t = {w for w in only_t if tk.get(w) in CONTENT_KINDS}
        q_total = sum(v for w, v in qw.items() if qk.get(w) in CONTENT_KINDS) or 1.0
        t_total = sum(v for w, v in tw.items() if tk.get(w) in CONTENT_KINDS) or 1.0
        uq = sum(qw[w] for w in only_q) / q_total
        ut = sum(tw[w] for w in only_t) / t_total
        # A question word on one side only asks something else ("how do I delete" is not
        # "delete"; "why is it frozen" is not "freeze it"); a non-generic word carrying a
        # large share of its side is a different object.
        strong_q = sorted(
            w
            for w in only_q
            if w in STRONG_QWORDS or (qk[w] != "generic" and qw[w] / q_total > p.content_max_single)
        )
        strong_t = sorted(
            w
            for w in only_t
            if w in STRONG_QWORDS or (tk[w] != "generic" and tw[w] / t_total > p.content_max_single)
        )
        shared = [w for w in qw if w in tw and qk.get(w) in EVIDENCE_KINDS]
        if len(shared) < p.min_shared and not (identical and shared):
            return GateResult(
                "content",
                False,
                p.p_content,
                "no content word in common"
                if not shared
                else f"too little in common ({', '.join(sorted(shared))})",
            )
        if (
            uq <= p.content_max_unmatched
            and ut <= p.content_max_unmatched
            and not strong_q
            and not strong_t
        ):
            return GateResult(
                "content",
                True,
                0.0,
                "same content words"
                if not only_q and not only_t
                else f"only minor words differ ({', '.join(sorted(only_q | only_t))})",
            )
        parts = []
        if only_q:
            parts.append(f"goal only: {', '.join(sorted(only_q))}")
        if only_t:
            parts.append(f"trace only: {', '.join(sorted(only_t))}")
        return GateResult("content", False, p.p_content, "; ".join(parts))

    def _track_gate(self, entry: Any) -> GateResult:
        outcome = str(_get(entry, "outcome", "") or "").lower()
        failures = int(_get(entry, "failure_count", 0) or 0)
        successes = int(_get(entry, "success_count", 0) or 0)
        if outcome in {"failure", "failed", "error"}:
            return GateResult("track_record", False, self.params.p_track, "the recorded run failed")
        if failures and failures >= successes:
            return GateResult(
                "track_record",
                False,
                self.params.p_track,
                f"{failures} failures vs {successes} successes",
            )
        return GateResult(
            "track_record",
            True,
            0.0,
            f"{successes} successes, {failures} failures"
            if successes or failures
            else "no history",
        )

    def _margin_gate(
        self, scored: list[Candidate], keys: list[str], sem: "_SemView | None" = None
    ) -> None:
        """Lower the best candidate when a different task scores almost as high (with the
        re-ranker, two goals close by embedding are the same task too)."""
        p = self.params
        best, bgroup = scored[0], self._groups[keys[0]]
        bw = self._group_weights(bgroup)
        rival = None
        for cand, gkey in zip(scored[1:], keys[1:], strict=True):
            if best.confidence - cand.confidence >= p.margin_min:
                break
            group = self._groups[gkey]
            sim = self._base(bgroup.key, bw, group.key, self._group_weights(group))[0]
            if sim < p.margin_same_task and (
                sem is None or sem.pair(keys[0], gkey) < p.sem_same_task
            ):
                rival = cand
                break
        if rival is None:
            best.gates.append(GateResult("margin", True, 0.0, "no close rival task"))
            return
        gap = best.confidence - rival.confidence
        best.gates.append(
            GateResult("margin", False, p.p_margin, f"rival task {rival.goal!r} within {gap:.2f}")
        )
        best.confidence = max(0.0, best.confidence - p.p_margin)

    # ---- decision ------------------------------------------------------------------------
    def decide(self, goal: str) -> MatchDecision:
        """Best candidate as a decision (mode is left to ``modes.select_mode``)."""
        import time

        start = time.perf_counter()
        q = prepare(goal)
        aliased = self._alias_decision(goal)
        if aliased is not None:
            aliased.latency_ms = (time.perf_counter() - start) * 1000
            return aliased
        scored, note = self._rank(q)
        decision = MatchDecision(goal=goal)
        decision.candidates = [
            (c.trace_id, c.goal, c.confidence) for c in scored[: self.config.candidates]
        ]
        if scored:
            best = scored[0]
            decision.confidence = best.confidence
            decision.trace_id = best.trace_id
            decision.matched_goal = best.goal
            decision.gates = list(best.gates)
            decision.slot_bindings = dict(best.slot_bindings)
            decision.crystallized_tool = _get(best.entry, "crystallized_tool", None) or None
            decision.semantic = best.semantic
            if best.accounting is not None:
                decision.accounting = best.accounting.to_dict()
            failed = best.failed_gates
            decision.close = (
                bool(failed)
                and all(g.name == "accounting" for g in failed)
                and best.confidence >= self.config.follower_threshold
            )
            if failed:
                decision.reason = (
                    f"best match {best.goal!r} at {best.confidence:.2f}; failed: "
                    + "; ".join(f"{g.name} ({g.reason})" for g in failed)
                )
            else:
                decision.reason = (
                    f"best match {best.goal!r} at {best.confidence:.2f}; all gates passed"
                )
        else:
            decision.reason = "no stored trace shares a word with this goal"
        if scored and scored[0].semantic is not None:
            decision.reason += f" (semantic re-ranker: cosine {scored[0].semantic:.2f})"
        if note:
            decision.reason += f" ({note})"
        decision.latency_ms = (time.perf_counter() - start) * 1000
        return decision

    def alias_of(self, goal: str) -> str | None:
        """The trace for which *goal* is an approved phrasing (an alias), if any: the healthiest
        when several list it."""
        if not self._aliases:
            return None
        ids = self._aliases.get(normalize_text(goal).lower())
        if not ids:
            return None
        live = [self._groups[self._by_id[t]].get(t) for t in ids if t in self._by_id]
        if not live:
            return None
        return str(_get(max(live, key=_entry_rank), "id"))

    def _alias_decision(self, goal: str) -> MatchDecision | None:
        """An exact match on an approved phrasing: the replay the user (or VERIFIED) approved
        for this very phrasing, with nothing left to account for."""
        tid = self.alias_of(goal)
        if tid is None:
            return None
        gkey = self._by_id[tid]
        entry = self._groups[gkey].get(tid)
        trace_goal = str(_get(entry, "goal", ""))
        phrase = next(
            (
                p
                for p in (_get(entry, "aliases", None) or ())
                if normalize_text(p).lower() == normalize_text(goal).lower()
            ),
            goal,
        )
        why = f"an approved phrasing of trace {tid} (alias {phrase!r})"
        decision = MatchDecision(
            goal=goal,
            confidence=1.0,
            trace_id=tid,
            matched_goal=trace_goal,
            gates=[GateResult("alias", True, 0.0, why)],
            candidates=[(tid, trace_goal, 1.0)],
            reason=f"best match {trace_goal!r}: {why}",
        )
        decision.crystallized_tool = _get(entry, "crystallized_tool", None) or None
        decision.alias = phrase
        decision.accounting = {
            "complete": True,
            "differences": [{"goal": goal, "trace": trace_goal, "how": "alias", "note": why}],
            "substitutions": {},
            "summary": f"every difference accounted for: {why}",
        }
        return decision


def _unconfirmed_shell_values(acc: Accounting, entry: Any) -> list[str]:
    """Slot keys substituted into a recorded shell command that no approved replay of the
    trace has confirmed yet (``traces.shell_slots``; a crystallized tool needs none): their
    slot differences become unaccounted until the user or a VERIFIED call confirms one."""
    if not acc.substitutions or _get(entry, "crystallized_tool", None):
        return []
    shell = set(_get(entry, "shell_slots", None) or ())
    pending = [key for key in acc.substitutions if key in shell]
    for diff in acc.differences:
        if diff.how == "slot" and diff.note.split(":", 1)[0] in pending:
            diff.how = "unaccounted"
            diff.note = (
                "a new value in a recorded shell command: confirmed once per trace (the user or "
                "a VERIFIED call), then substituted"
            )
    return pending


class _SemView:
    """One query's cosines to every stored goal (rows of the embedding matrix)."""

    __slots__ = ("matrix", "rows", "keys", "sims")

    def __init__(self, matrix: Any, rows: dict[str, int], keys: list[str], sims: Any) -> None:
        self.matrix, self.rows, self.keys, self.sims = matrix, rows, keys, sims

    def cosine(self, gkey: str) -> float:
        row = self.rows.get(gkey)
        return 0.0 if row is None else float(self.sims[row])

    def pair(self, a: str, b: str) -> float:
        ra, rb = self.rows.get(a), self.rows.get(b)
        if ra is None or rb is None:
            return 0.0
        return float(self.matrix[ra] @ self.matrix[rb])

    def nearest(self, n: int) -> list[str]:
        import numpy as np

        sims = self.sims
        n = min(n, len(sims))
        if n <= 0:
            return []
        top = np.argpartition(-sims, n - 1)[:n]
        top = top[np.argsort(-sims[top], kind="stable")]
        return [self.keys[i] for i in top]
