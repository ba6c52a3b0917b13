"""L4: facts, one markdown file each, extracted from what the user said by deterministic rules.

Rules (``extract_facts``) read the user's turns sentence by sentence; questions are skipped:

=============  =========================================================  ============================
kind           said                                                       stored as
=============  =========================================================  ============================
``name``       "my name is Ada", "call me Ada"                            The user's name is Ada.
``profile``    "my email is a@b.c", "I work at Acme", "I live in Lyon"    The user's email is a@b.c.
``convention`` "we use pytest for tests", "our team uses uv",             The team uses pytest for
               "we don't use Docker", "our main branch is develop"        tests.
``rule``       "always run the tests", "never push to main",              Always run the tests.
               "don't ever commit secrets"
``preference`` "I prefer tabs over spaces", "I like short answers",       The user prefers tabs over
               "I don't like emojis"                                      spaces.
``note``       "remember that the API key rotates monthly"                The API key rotates monthly.
=============  =========================================================  ============================

Each fact has a *key*. Keys of single-valued facts (``user.name``, ``user.email``, "we use X
for Y" keyed by Y, "our X is Y" keyed by X, a rule keyed by its action, a preference keyed by
its object) make a later statement replace the earlier value (kept in ``history``); other facts
are keyed by their normalized text, so repeating one only counts a mention.

Facts of a session tagged with a project are project facts (``projects/<name>/memory/facts/``),
except what describes the user (name, profile, preferences), which is always global
(``memories/facts/``). Extraction is incremental: ``state/memory.json`` remembers how many
entries of each session were read.

LLM facts, only when ``memory.llm_facts`` is on, a config is passed and an LLM is configured:
after the rules, the new user turns (the latest ``LLM_INPUT_CHARS`` characters of them) go to
the cheap model in ONE call asking for durable facts as a JSON list of ``{"kind", "subject",
"text", "turn"}``. Each valid item becomes a candidate keyed like the rules' facts (``user.name``,
``user.email``, ``rule:<action>``, ``pref:<object>``, ``uses:<topic>``, ``note:<text>``) and goes
through the same ``FactStore.add``; an item whose key the rules produced in this extraction, or
whose text an existing fact already says, is counted as seen and not stored again. The call is
not made when its estimated cost (characters / 4 in, ``LLM_MAX_TOKENS`` out, priced by
``pricing.price``) exceeds ``memory.llm_facts_budget_usd`` or the economy's balance; its
real cost is charged to the economy (mode ``FACTS``). Any failure leaves the rule-based facts
alone (``ExtractionReport.llm_note`` says why). The call is made after the extraction state is
saved and its lock released, so a slow model never holds other extractors.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

from ..atomic import atomic_write_json, atomic_write_text, file_lock
from ..clock import iso_utc
from ..errors import UsageError
from ..workspace import check_project_name
from .sessions import read_session, session_files

if TYPE_CHECKING:  # pragma: no cover
    from ..config import LLMOSConfig

KINDS = ("name", "profile", "convention", "rule", "preference", "note")
USER_KINDS = frozenset({"name", "profile", "preference"})
MAX_VALUE_CHARS = 200
_ID_RE = re.compile(r"f_[0-9a-f]{12}")
_QUESTION_START = re.compile(
    r"^(?:what|how|why|when|where|who|which|do|does|did|can|could|should|would|will|"
    r"is|are|was|were|shall|may|have|has)\b",
    re.IGNORECASE,
)
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(])|\n+|;\s+")


@dataclass(frozen=True)
class FactCandidate:
    kind: str
    key: str
    value: str
    text: str
    confidence: float


@dataclass
class Fact:
    id: str
    kind: str
    key: str
    value: str
    text: str
    confidence: float = 0.6
    source: str = ""
    project: str | None = None
    created_at: str = ""
    updated_at: str = ""
    mentions: int = 1
    history: list[dict[str, str]] = field(default_factory=list)
    path: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "key": self.key,
            "value": self.value,
            "text": self.text,
            "confidence": self.confidence,
            "source": self.source,
            "project": self.project,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "mentions": self.mentions,
            "history": list(self.history),
        }


# ---- extraction rules ------------------------------------------------------------------------------


def _clean(value: str) -> str:
    value = " ".join(value.strip().split())
    value = value.strip(" \t\"'`“”‘’")
    value = re.sub(r"[\s.,;:!]+$", "", value)
    return value[:MAX_VALUE_CHARS].rstrip()


def _norm(text: str) -> str:
    text = re.sub(r"[^\w\s@.+#-]", " ", text.lower())
    words = [
        w for w in text.split() if w not in {"the", "a", "an", "to", "please", "always", "never"}
    ]
    return " ".join(words)[:120]


def _sentences(text: str) -> list[str]:
    out = []
    for part in _SENTENCE_SPLIT.split(text):
        part = part.strip()
        if part and len(part) <= 600:
            out.append(part)
    return out


def _is_question(sentence: str) -> bool:
    return sentence.rstrip().endswith("?") or bool(_QUESTION_START.match(sentence))


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text


_NAME = re.compile(
    r"\b(?i:my name is|my name's|call me|i am called|i'm called|you can call me)\s+"
    r"([A-Z][\w'-]*(?:\s+[A-Z][\w'-]*){0,2})"
)
_EMAIL = re.compile(
    r"\bmy (?:e-?mail|email address) is\s+([\w.+-]+@[\w-]+(?:\.[\w-]+)+)", re.IGNORECASE
)
_WORK = re.compile(r"\bi (?:work|am working) (?:at|for)\s+(.+)$", re.IGNORECASE)
_LIVE = re.compile(r"\bi (?:live|am based) in\s+(.+)$", re.IGNORECASE)
_TIMEZONE = re.compile(r"\bmy time ?zone is\s+(.+)$", re.IGNORECASE)
_USE = re.compile(
    r"^(?:(?:and|also|but|so)\s+)?(?:we|our team|the team|our project|this project|our company|i)\s+"
    r"(?:always\s+|usually\s+|mostly\s+|only\s+)?(?P<neg>don't use|do not use|never use|"
    r"use|uses|are using|'re using|are on|prefer to use|standardi[sz]e on)\s+(?P<what>.+?)"
    r"(?:\s+(?:for|to|as)\s+(?P<purpose>.+))?$",
    re.IGNORECASE,
)
_OUR_IS = re.compile(
    r"^(?:our|the project's|the team's)\s+(?P<what>[\w .-]{2,40}?)\s+(?:is|are)\s+(?P<value>.+)$",
    re.IGNORECASE,
)
_RULE = re.compile(
    r"^(?:please\s+)?(?:(?:you|we)\s+(?:should|must)\s+)?(?P<pol>always|never)\s+(?P<what>.+)$",
    re.IGNORECASE,
)
_RULE_DONT = re.compile(
    r"^(?:please\s+)?(?:don't|do not)\s+(?:ever\s+)(?P<what>.+)$", re.IGNORECASE
)
_PREFER = re.compile(
    r"^(?:(?:and|also|but)\s+)?i\s+(?P<verb>prefer|like|love|want|dislike|hate|don't like|do not like"
    r")\s+(?P<what>.+)$",
    re.IGNORECASE,
)
_REMEMBER = re.compile(
    r"^(?:please\s+)?(?:remember|note|keep in mind|don't forget|do not forget)\s+(?:that\s+)?"
    r"(?P<what>.+)$",
    re.IGNORECASE,
)


def extract_facts(text: str) -> list[FactCandidate]:
    """Facts stated in one user turn (see the module docstring for the rules)."""
    out: list[FactCandidate] = []
    for sentence in _sentences(text):
        m = _NAME.search(sentence)
        if m and not _is_question(sentence):
            name = _clean(m.group(1))
            if name:
                out.append(
                    FactCandidate("name", "user.name", name, f"The user's name is {name}.", 0.9)
                )
            continue
        if _is_question(sentence):
            continue
        for rx, key, template in (
            (_EMAIL, "user.email", "The user's email is {}."),
            (_WORK, "user.work", "The user works at {}."),
            (_LIVE, "user.location", "The user lives in {}."),
            (_TIMEZONE, "user.timezone", "The user's time zone is {}."),
        ):
            m = rx.search(sentence)
            if m and _clean(m.group(1)):
                value = _clean(m.group(1))
                out.append(FactCandidate("profile", key, value, template.format(value), 0.8))
                break
        else:
            fact = _sentence_fact(sentence)
            if fact is not None:
                out.append(fact)
    return out


def _sentence_fact(sentence: str) -> FactCandidate | None:
    s = sentence.strip().rstrip(".!")
    m = _REMEMBER.match(s)
    if m:
        what = _clean(m.group("what"))
        if len(what) >= 6:
            return FactCandidate("note", "note:" + _norm(what), what, _cap(what) + ".", 0.6)
        return None
    m = _RULE.match(s)
    if m and not re.match(r"(?i)never\s*mind\b", s):
        what = _clean(m.group("what"))
        if len(what.split()) >= 2:
            pol = m.group("pol").lower()
            return FactCandidate(
                "rule", "rule:" + _norm(what), pol, f"{pol.capitalize()} {what}.", 0.8
            )
        return None
    m = _RULE_DONT.match(s)
    if m:
        what = _clean(m.group("what"))
        if len(what.split()) >= 2:
            return FactCandidate("rule", "rule:" + _norm(what), "never", f"Never {what}.", 0.8)
        return None
    m = _PREFER.match(s)
    if m:
        verb = m.group("verb").lower()
        what = _clean(m.group("what"))
        if verb == "want" and not what.lower().startswith(("you to use", "to use")):
            return None  # "I want a calculator" is a request, not a preference
        what = re.sub(r"^(?:you to use|to use)\s+", "", what, flags=re.IGNORECASE)
        if not what or len(what) < 3:
            return None
        negative = verb in ("dislike", "hate", "don't like", "do not like")
        text = f"The user {'dislikes' if negative else 'prefers'} {what}."
        obj = re.split(r"\s+(?:over|to|instead of|rather than)\s+", what, maxsplit=1)[0]
        return FactCandidate(
            "preference", "pref:" + _norm(obj), "dislike" if negative else "like", text, 0.7
        )
    m = _USE.match(s)
    if m:
        what = _clean(m.group("what"))
        purpose = _clean(m.group("purpose") or "")
        if not what or len(what) > 80:
            return None
        negative = m.group("neg").lower() in ("don't use", "do not use", "never use")
        who = (
            "The user"
            if s.lower().startswith(("i ", "and i ", "also i ", "but i ", "so i "))
            else "The team"
        )
        verb = "does not use" if negative else "uses"
        text = f"{who} {verb} {what}" + (f" for {purpose}" if purpose else "") + "."
        key = "uses:" + (_norm(purpose) if purpose else _norm(what))
        value = ("not " if negative else "") + what + (f" for {purpose}" if purpose else "")
        return FactCandidate("convention", key, value, text, 0.7)
    m = _OUR_IS.match(s)
    if m:
        what, value = _clean(m.group("what")), _clean(m.group("value"))
        if what and value and len(value) <= 120:
            return FactCandidate(
                "convention", "is:" + _norm(what), value, f"The team's {what} is {value}.", 0.6
            )
    return None


# ---- the store ---------------------------------------------------------------------------------------


def fact_id(key: str) -> str:
    return "f_" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:12]


def facts_dir(workspace: Any, project: str | None = None) -> Path:
    if project:
        return Path(workspace.projects_dir) / check_project_name(project) / "memory" / "facts"
    return Path(workspace.facts_dir)


def _dump(fact: Fact) -> str:
    from edgekit.frontmatter import join

    return join(fact.to_dict(), f"{fact.text}\n")


_CACHE: dict[str, tuple[tuple[int, int, int], Fact]] = {}
_CACHE_MAX = 10_000


def _load(path: Path) -> Fact:
    """A fact file, parsed (cached by path, size and mtime: facts are read on every injection)."""
    import copy

    st = path.stat()
    sig = (st.st_ino, st.st_mtime_ns, st.st_size)  # every write replaces the file: a new inode
    hit = _CACHE.get(str(path))
    if hit is not None and hit[0] == sig:
        return copy.deepcopy(hit[1])
    fact = _parse(path)
    if len(_CACHE) >= _CACHE_MAX:
        _CACHE.clear()
    _CACHE[str(path)] = (sig, copy.deepcopy(fact))
    return fact


def _parse(path: Path) -> Fact:
    from edgekit.frontmatter import read

    data, _body = read(path.read_text(encoding="utf-8"))  # FrontmatterError is a ValueError
    for key in ("id", "kind", "key", "value", "text"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise ValueError(f"{key!r} is missing")
    if data["kind"] not in KINDS or not _ID_RE.fullmatch(data["id"]):
        raise ValueError("bad kind or id")
    conf = data.get("confidence", 0.6)
    history = v if isinstance(v := data.get("history"), list) else []
    return Fact(
        id=data["id"],
        kind=data["kind"],
        key=data["key"],
        value=data["value"],
        text=data["text"],
        confidence=float(conf)
        if isinstance(conf, (int, float)) and not isinstance(conf, bool)
        else 0.6,
        source=str(data.get("source") or ""),
        project=v if isinstance(v := data.get("project"), str) else None,
        created_at=str(data.get("created_at") or ""),
        updated_at=str(data.get("updated_at") or ""),
        mentions=int(data["mentions"]) if isinstance(data.get("mentions"), int) else 1,
        history=[h for h in history if isinstance(h, dict)],
        path=path,
    )


class FactStore:
    """Facts of one scope: the global ``memories/facts/`` or a project's ``memory/facts/``."""

    def __init__(
        self,
        workspace: Any,
        project: str | None = None,
        *,
        on_warning: Callable[[str], None] | None = None,
    ) -> None:
        self.workspace = workspace
        self.project = project
        self.folder = facts_dir(workspace, project)
        self.on_warning = on_warning or (lambda _m: None)

    def list(self) -> list[Fact]:
        out = []
        try:
            paths = sorted(self.folder.glob("f_*.md"))
        except OSError:
            return []
        for path in paths:
            try:
                out.append(_load(path))
            except (OSError, ValueError, UnicodeDecodeError, TypeError) as exc:
                self.on_warning(f"skipped the malformed fact file {path}: {exc}")
            except Exception as exc:  # noqa: BLE001 - yaml errors: a broken file never stops anything
                self.on_warning(f"skipped the malformed fact file {path}: {type(exc).__name__}")
        out.sort(key=lambda f: (f.updated_at, f.id), reverse=True)
        return out

    def get(self, ident: str) -> Fact:
        if not _ID_RE.fullmatch(ident or ""):
            raise UsageError(
                f"invalid fact id {ident!r} (f_ and 12 hex digits; see `llmos memory facts`)"
            )
        path = self.folder / f"{ident}.md"
        try:
            return _load(path)
        except FileNotFoundError:
            raise UsageError(f"no fact {ident!r} in {self.folder}") from None
        except Exception as exc:  # noqa: BLE001
            raise UsageError(f"the fact file {path} is malformed: {exc}") from None

    def add(
        self, candidate: FactCandidate, *, source: str = "", when: float | None = None
    ) -> tuple[Fact, str]:
        """Store a candidate; returns (fact, action) with action ``new``, ``seen`` or ``updated``.
        Secrets in its key, value and text are redacted first (``llmos_tui/redact.py``)."""
        from ..redact import redact_obj

        key, value, text = redact_obj([candidate.key, candidate.value, candidate.text])
        if (key, value, text) != (candidate.key, candidate.value, candidate.text):
            candidate = FactCandidate(candidate.kind, key, value, text, candidate.confidence)
        ident = fact_id(candidate.key)
        path = self.folder / f"{ident}.md"
        now = iso_utc(when)
        with file_lock(path):
            try:
                fact = _load(path)
            except FileNotFoundError:
                fact = None
            except Exception:  # noqa: BLE001 - a broken file is replaced by the new statement
                fact = None
            if fact is None:
                fact = Fact(
                    id=ident,
                    kind=candidate.kind,
                    key=candidate.key,
                    value=candidate.value,
                    text=candidate.text,
                    confidence=candidate.confidence,
                    source=source,
                    project=self.project,
                    created_at=now,
                    updated_at=now,
                    path=path,
                )
                action = "new"
            elif fact.value == candidate.value and fact.text == candidate.text:
                fact.mentions += 1
                fact.updated_at = now
                action = "seen"
            else:
                fact.history = (
                    fact.history + [{"value": fact.value, "text": fact.text, "until": now}]
                )[-10:]
                fact.value, fact.text, fact.kind = candidate.value, candidate.text, candidate.kind
                fact.confidence, fact.source, fact.updated_at, fact.mentions = (
                    candidate.confidence,
                    source,
                    now,
                    1,
                )
                action = "updated"
            atomic_write_text(path, _dump(fact))
        fact.path = path
        return fact, action

    def remember(self, text: str, *, source: str = "cli") -> tuple[Fact, str]:
        """Store a note given explicitly (``llmos memory remember``)."""
        what = _clean(text)
        if len(what) < 3:
            raise UsageError("the fact is empty or too short")
        return self.add(
            FactCandidate("note", "note:" + _norm(what), what, _cap(what).rstrip(".") + ".", 0.9),
            source=source,
        )

    def remove(self, ident: str) -> Path:
        fact = self.get(ident)
        path = fact.path
        if path is None:  # a fact read from the store always has its file
            raise UsageError(f"fact {ident} has no file")
        try:
            path.unlink()
        except OSError as exc:
            raise UsageError(f"cannot remove {path}: {exc}") from None
        return path


def all_facts(
    workspace: Any, project: str | None = None, *, on_warning: Callable[[str], None] | None = None
) -> list[Fact]:
    """Global facts, plus a project's facts when ``project`` is given."""
    facts = FactStore(workspace, on_warning=on_warning).list()
    if project:
        facts += FactStore(workspace, project, on_warning=on_warning).list()
    return facts


# ---- incremental extraction from the session logs ---------------------------------------------------


@dataclass
class ExtractionReport:
    sessions: int = 0
    entries: int = 0
    new: list[dict[str, Any]] = field(default_factory=list)
    updated: list[dict[str, Any]] = field(default_factory=list)
    seen: int = 0
    llm_requests: int = 0  # model calls made for LLM facts (0 or 1)
    llm_cost_usd: float = 0.0
    llm_facts: int = 0  # valid facts the model proposed
    llm_note: str = ""  # why no LLM facts were asked for or kept ("" when the feature is off)

    def to_dict(self) -> dict[str, Any]:
        return {
            "sessions": self.sessions,
            "entries": self.entries,
            "new": list(self.new),
            "updated": list(self.updated),
            "seen": self.seen,
            "llm_requests": self.llm_requests,
            "llm_cost_usd": round(self.llm_cost_usd, 6),
            "llm_facts": self.llm_facts,
            "llm_note": self.llm_note,
        }

    def _count(self, fact: Fact, action: str) -> None:
        if action == "new":
            self.new.append(fact.to_dict())
        elif action == "updated":
            self.updated.append(fact.to_dict())
        else:
            self.seen += 1


def _state_path(workspace: Any) -> Path:
    return Path(workspace.state_dir) / "memory.json"


@dataclass(frozen=True)
class _Turn:
    text: str
    source: str
    project: str | None


def _store_for(
    workspace: Any, kind: str, project: str | None, on_warning: Callable[[str], None] | None
) -> FactStore:
    scope = None if kind in USER_KINDS else project
    try:
        return FactStore(workspace, scope, on_warning=on_warning)
    except UsageError:
        return FactStore(workspace, None, on_warning=on_warning)


def extract_from_sessions(
    workspace: Any,
    *,
    full: bool = False,
    on_warning: Callable[[str], None] | None = None,
    config: LLMOSConfig | None = None,
) -> ExtractionReport:
    """Read the user turns not read yet (all of them with ``full``) and store the facts they state.

    With ``config`` whose ``memory.llm_facts`` is on, the new user turns also go to the cheap
    model once (see the module docstring); without ``config`` only the rules run.
    """
    state_path = _state_path(workspace)
    report = ExtractionReport()
    turns: list[_Turn] = []
    rule_keys: set[str] = set()
    with file_lock(state_path):
        try:
            state = json.loads(state_path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError, OSError):
            state = {}
        seen_state = (
            state.get("sessions") if isinstance(state.get("sessions"), dict) and not full else {}
        )
        changed = False
        for path in session_files(workspace):
            try:
                st = path.stat()
            except OSError:
                continue
            mark = v if isinstance(v := seen_state.get(path.name), dict) else {}
            if mark.get("size") == st.st_size and mark.get("mtime") == st.st_mtime:
                continue
            session = read_session(path)
            done = int(mark.get("entries", 0)) if isinstance(mark.get("entries"), int) else 0
            fresh = session.entries[done:]
            project = (
                session.meta.get("project")
                if isinstance(session.meta.get("project"), str)
                else None
            )
            source = f"memories/sessions/{path.name}"
            report.sessions += 1
            for entry in fresh:
                report.entries += 1
                if entry.role != "user":
                    continue
                if entry.text.strip():
                    turns.append(_Turn(entry.text, source, project))
                for cand in extract_facts(entry.text):
                    rule_keys.add(cand.key)
                    fact, action = _store_for(workspace, cand.kind, project, on_warning).add(
                        cand, source=source
                    )
                    report._count(fact, action)  # noqa: SLF001 - same module
            seen_state[path.name] = {
                "entries": len(session.entries),
                "size": st.st_size,
                "mtime": st.st_mtime,
            }
            changed = True
        if changed or full:
            atomic_write_json(
                state_path, {"format": 1, "sessions": seen_state, "last_run": iso_utc()}
            )
    if config is not None and config.memory.llm_facts:
        if not turns:
            report.llm_note = "no new user turns"
        else:
            _llm_extract(workspace, config, turns, rule_keys, report, on_warning)
    return report


# ---- LLM facts (only when memory.llm_facts is on) ----------------------------------------------------

LLM_MAX_TOKENS = 800
LLM_INPUT_CHARS = 12_000  # newest user turns sent, at most
LLM_TURN_CHARS = 1_500  # of each turn
LLM_MAX_FACTS = 20
LLM_CONFIDENCE = 0.5
LLM_TIMEOUT_S = 60.0
LLM_MODE = "FACTS"
_PROFILE_FIELDS = {
    "email": "email",
    "e-mail": "email",
    "work": "work",
    "employer": "work",
    "company": "work",
    "location": "location",
    "city": "location",
    "timezone": "timezone",
    "time zone": "timezone",
}
LLM_SYSTEM = (
    "You extract durable facts about a user and their team from what the user said to a terminal "
    "assistant: their name, profile (email, work, location, timezone), the team's conventions (tools, "
    "branches, layouts), rules to always or never follow, preferences, and things they asked to remember. "
    "Skip requests, questions, one-off task details and anything temporary. Reply with a JSON list only, "
    'no prose and no code fence; each item: {"kind": one of name, profile, convention, rule, preference, '
    'note; "subject": for name the name itself, for profile one of email, work, location, timezone, for '
    'convention the topic (e.g. tests, main branch), for preference its object, else a few words; "text": '
    'one sentence stating the fact in the third person (e.g. "The team uses pytest for tests.", '
    '"Never push to main."); "turn": the number of the turn it comes from}. Reply [] when there is none.'
)


def llm_facts_prompt(texts: list[str]) -> str:
    """The user message: numbered turns (each capped)."""
    parts = []
    for i, text in enumerate(texts, 1):
        text = text.strip()
        if len(text) > LLM_TURN_CHARS:
            text = text[: LLM_TURN_CHARS - 1] + "…"
        parts.append(f"[turn {i}]\n{text}")
    return "What the user said:\n\n" + "\n\n".join(parts)


def _same_text(text: str) -> str:
    """Normalization for "this fact already says it" (keeps always/never, unlike ``_norm``)."""
    return " ".join(re.sub(r"[^\w\s@+#-]", " ", text.lower()).split())


def _sentence(text: str) -> str:
    text = " ".join(text.split()).strip()
    text = text[:MAX_VALUE_CHARS].rstrip()
    return _cap(text.rstrip(".") + ".") if text else ""


def parse_llm_facts(answer: str, turns: int) -> list[tuple[FactCandidate, int | None]]:
    """(candidate, 1-based turn or None) for each valid item; ValueError when the answer is not a
    JSON list. Invalid items (unknown kind, missing or non-string fields) are dropped."""
    raw = (answer or "").strip()
    fence = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", raw, re.DOTALL)
    if fence:
        raw = fence.group(1)
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"the answer is not JSON ({exc.msg})") from None
    if not isinstance(data, list):
        raise ValueError("the answer is not a JSON list")
    out: list[tuple[FactCandidate, int | None]] = []
    for item in data[:LLM_MAX_FACTS]:
        if not isinstance(item, dict):
            continue
        kind, subject, text = item.get("kind"), item.get("subject"), item.get("text")
        if (
            kind not in KINDS
            or not isinstance(text, str)
            or not isinstance(subject, (str, type(None)))
        ):
            continue
        text, subject = _sentence(text), _clean(subject or "")
        if len(text) < 6:
            continue
        cand = _llm_candidate(kind, subject, text)
        if cand is None:
            continue
        turn = item.get("turn")
        turn = (
            turn
            if isinstance(turn, int) and not isinstance(turn, bool) and 1 <= turn <= turns
            else None
        )
        out.append((cand, turn))
    return out


def _llm_candidate(kind: str, subject: str, text: str) -> FactCandidate | None:
    if kind == "name":
        return (
            FactCandidate(
                "name", "user.name", subject, f"The user's name is {subject}.", LLM_CONFIDENCE
            )
            if subject and len(subject) <= 80
            else None
        )
    if kind == "profile":
        field_ = _PROFILE_FIELDS.get(subject.lower())
        return (
            FactCandidate("profile", f"user.{field_}", text.rstrip("."), text, LLM_CONFIDENCE)
            if field_
            else None
        )
    if kind == "rule":
        m = re.match(r"(?i)(always|never|do not|don't)\s+(.+)$", text.rstrip("."))
        if not m:
            return None
        pol = "always" if m.group(1).lower() == "always" else "never"
        what = _clean(m.group(2))
        return FactCandidate(
            "rule", "rule:" + _norm(what), pol, f"{pol.capitalize()} {what}.", LLM_CONFIDENCE
        )
    if kind == "preference":
        negative = bool(re.search(r"(?i)\b(dislikes|hates|does not like|doesn't like)\b", text))
        obj = subject or text
        return FactCandidate(
            "preference",
            "pref:" + _norm(obj),
            "dislike" if negative else "like",
            text,
            LLM_CONFIDENCE,
        )
    if kind == "convention":
        topic = subject or text
        prefix = (
            "is:"
            if re.search(r"(?i)\b(?:is|are)\b", text) and not re.search(r"(?i)\buses?\b", text)
            else "uses:"
        )
        return FactCandidate(
            "convention", prefix + _norm(topic), text.rstrip("."), text, LLM_CONFIDENCE
        )
    return FactCandidate(
        "note", "note:" + _norm(text.rstrip(".")), text.rstrip("."), text, LLM_CONFIDENCE
    )


def _llm_extract(
    workspace: Any,
    config: LLMOSConfig,
    turns: list[_Turn],
    rule_keys: set[str],
    report: ExtractionReport,
    on_warning: Callable[[str], None] | None,
) -> None:
    from ..execution.llm.economy import budgeted_call
    from ..execution.llm.configured import llm_configured

    if not llm_configured():
        report.llm_note = "no LLM is configured"
        return
    kept: list[_Turn] = []
    size = 0
    for turn in reversed(turns):  # the newest turns first, within LLM_INPUT_CHARS
        size += min(len(turn.text), LLM_TURN_CHARS) + 12
        if size > LLM_INPUT_CHARS and kept:
            break
        kept.append(turn)
    kept.reverse()
    prompt = llm_facts_prompt([t.text for t in kept])
    model = config.models.cheap
    warn = on_warning or (lambda _m: None)
    result = budgeted_call(
        model=model,
        system=LLM_SYSTEM,
        prompt=prompt,
        max_tokens=LLM_MAX_TOKENS,
        timeout_s=LLM_TIMEOUT_S,
        cap_usd=config.memory.llm_facts_budget_usd,
        cap_key="memory.llm_facts_budget_usd",
        economy_file=Path(workspace.economy_file),
        total_budget_usd=config.budget_usd,
        mode=LLM_MODE,
        goal="fact extraction",
        what="fact-extraction",
    )
    report.llm_requests = result.requests
    if result.text is None:
        report.llm_note = result.note
        if result.failed:
            warn(report.llm_note)
        return
    answer = result.text
    report.llm_cost_usd = result.cost_usd
    if result.charge_error:
        warn(result.charge_error)
    try:
        found = parse_llm_facts(answer, len(kept))
    except ValueError as exc:
        report.llm_note = f"the model's facts were rejected: {exc}"
        warn(report.llm_note)
        return
    report.llm_facts = len(found)
    known: dict[Path, set[str]] = {}
    for cand, turn_no in found:
        origin = kept[turn_no - 1] if turn_no else None
        store = _store_for(workspace, cand.kind, origin.project if origin else None, on_warning)
        texts = known.setdefault(store.folder, {_same_text(f.text) for f in store.list()})
        if cand.key in rule_keys or _same_text(cand.text) in texts:
            report.seen += 1  # the rules (or an earlier extraction) already say it
            continue
        fact, action = store.add(
            cand, source=(origin.source if origin else "memories/sessions") + " (llm)"
        )
        texts.add(_same_text(fact.text))
        report._count(fact, action)  # noqa: SLF001 - same module
    report.llm_note = "ok"


def extract_texts(texts: Iterable[str]) -> list[FactCandidate]:
    """Facts of several texts (for tests and tools)."""
    return [c for t in texts for c in extract_facts(t)]
