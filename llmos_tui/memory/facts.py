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
entries of each session were read. No LLM is involved.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from ..atomic import atomic_write_json, atomic_write_text, file_lock
from ..errors import UsageError
from .sessions import read_session, session_files

KINDS = ("name", "profile", "convention", "rule", "preference", "note")
USER_KINDS = frozenset({"name", "profile", "preference"})
MAX_VALUE_CHARS = 200
_ID_RE = re.compile(r"f_[0-9a-f]{12}")
_QUESTION_START = re.compile(r"^(?:what|how|why|when|where|who|which|do|does|did|can|could|should|would|will|"
                             r"is|are|was|were|shall|may|have|has)\b", re.IGNORECASE)
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
        return {"id": self.id, "kind": self.kind, "key": self.key, "value": self.value, "text": self.text,
                "confidence": self.confidence, "source": self.source, "project": self.project,
                "created_at": self.created_at, "updated_at": self.updated_at, "mentions": self.mentions,
                "history": list(self.history)}


# ---- extraction rules ------------------------------------------------------------------------------

def _clean(value: str) -> str:
    value = " ".join(value.strip().split())
    value = value.strip(" \t\"'`“”‘’")
    value = re.sub(r"[\s.,;:!]+$", "", value)
    return value[:MAX_VALUE_CHARS].rstrip()


def _norm(text: str) -> str:
    text = re.sub(r"[^\w\s@.+#-]", " ", text.lower())
    words = [w for w in text.split() if w not in {"the", "a", "an", "to", "please", "always", "never"}]
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


_NAME = re.compile(r"\b(?i:my name is|my name's|call me|i am called|i'm called|you can call me)\s+"
                   r"([A-Z][\w'-]*(?:\s+[A-Z][\w'-]*){0,2})")
_EMAIL = re.compile(r"\bmy (?:e-?mail|email address) is\s+([\w.+-]+@[\w-]+(?:\.[\w-]+)+)", re.IGNORECASE)
_WORK = re.compile(r"\bi (?:work|am working) (?:at|for)\s+(.+)$", re.IGNORECASE)
_LIVE = re.compile(r"\bi (?:live|am based) in\s+(.+)$", re.IGNORECASE)
_TIMEZONE = re.compile(r"\bmy time ?zone is\s+(.+)$", re.IGNORECASE)
_USE = re.compile(r"^(?:(?:and|also|but|so)\s+)?(?:we|our team|the team|our project|this project|our company|i)\s+"
                  r"(?:always\s+|usually\s+|mostly\s+|only\s+)?(?P<neg>don't use|do not use|never use|"
                  r"use|uses|are using|'re using|are on|prefer to use|standardi[sz]e on)\s+(?P<what>.+?)"
                  r"(?:\s+(?:for|to|as)\s+(?P<purpose>.+))?$", re.IGNORECASE)
_OUR_IS = re.compile(r"^(?:our|the project's|the team's)\s+(?P<what>[\w .-]{2,40}?)\s+(?:is|are)\s+(?P<value>.+)$",
                     re.IGNORECASE)
_RULE = re.compile(r"^(?:please\s+)?(?:(?:you|we)\s+(?:should|must)\s+)?(?P<pol>always|never)\s+(?P<what>.+)$",
                   re.IGNORECASE)
_RULE_DONT = re.compile(r"^(?:please\s+)?(?:don't|do not)\s+(?:ever\s+)(?P<what>.+)$", re.IGNORECASE)
_PREFER = re.compile(r"^(?:(?:and|also|but)\s+)?i\s+(?P<verb>prefer|like|love|want|dislike|hate|don't like|do not like"
                     r")\s+(?P<what>.+)$", re.IGNORECASE)
_REMEMBER = re.compile(r"^(?:please\s+)?(?:remember|note|keep in mind|don't forget|do not forget)\s+(?:that\s+)?"
                       r"(?P<what>.+)$", re.IGNORECASE)


def extract_facts(text: str) -> list[FactCandidate]:
    """Facts stated in one user turn (see the module docstring for the rules)."""
    out: list[FactCandidate] = []
    for sentence in _sentences(text):
        m = _NAME.search(sentence)
        if m and not _is_question(sentence):
            name = _clean(m.group(1))
            if name:
                out.append(FactCandidate("name", "user.name", name, f"The user's name is {name}.", 0.9))
            continue
        if _is_question(sentence):
            continue
        for rx, key, template in ((_EMAIL, "user.email", "The user's email is {}."),
                                  (_WORK, "user.work", "The user works at {}."),
                                  (_LIVE, "user.location", "The user lives in {}."),
                                  (_TIMEZONE, "user.timezone", "The user's time zone is {}.")):
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
            return FactCandidate("rule", "rule:" + _norm(what), pol, f"{pol.capitalize()} {what}.", 0.8)
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
            return None    # "I want a calculator" is a request, not a preference
        what = re.sub(r"^(?:you to use|to use)\s+", "", what, flags=re.IGNORECASE)
        if not what or len(what) < 3:
            return None
        negative = verb in ("dislike", "hate", "don't like", "do not like")
        text = f"The user {'dislikes' if negative else 'prefers'} {what}."
        obj = re.split(r"\s+(?:over|to|instead of|rather than)\s+", what, maxsplit=1)[0]
        return FactCandidate("preference", "pref:" + _norm(obj), "dislike" if negative else "like", text, 0.7)
    m = _USE.match(s)
    if m:
        what = _clean(m.group("what"))
        purpose = _clean(m.group("purpose") or "")
        if not what or len(what) > 80:
            return None
        negative = m.group("neg").lower() in ("don't use", "do not use", "never use")
        who = "The user" if s.lower().startswith(("i ", "and i ", "also i ", "but i ", "so i ")) else "The team"
        verb = "does not use" if negative else "uses"
        text = f"{who} {verb} {what}" + (f" for {purpose}" if purpose else "") + "."
        key = "uses:" + (_norm(purpose) if purpose else _norm(what))
        value = ("not " if negative else "") + what + (f" for {purpose}" if purpose else "")
        return FactCandidate("convention", key, value, text, 0.7)
    m = _OUR_IS.match(s)
    if m:
        what, value = _clean(m.group("what")), _clean(m.group("value"))
        if what and value and len(value) <= 120:
            return FactCandidate("convention", "is:" + _norm(what), value, f"The team's {what} is {value}.", 0.6)
    return None


# ---- the store ---------------------------------------------------------------------------------------

def _stamp(when: float | None = None) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() if when is None else when))


def fact_id(key: str) -> str:
    return "f_" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:12]


def facts_dir(workspace: Any, project: str | None = None) -> Path:
    if project:
        from ..projects.manager import check_name

        return Path(workspace.projects_dir) / check_name(project) / "memory" / "facts"
    return Path(workspace.facts_dir)


def _dump(fact: Fact) -> str:
    import yaml

    data = fact.to_dict()
    head = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1000)
    return f"---\n{head}---\n{fact.text}\n"


_CACHE: dict[str, tuple[tuple[int, int, int], Fact]] = {}
_CACHE_MAX = 10_000


def _load(path: Path) -> Fact:
    """A fact file, parsed (cached by path, size and mtime: facts are read on every injection)."""
    import copy

    st = path.stat()
    sig = (st.st_ino, st.st_mtime_ns, st.st_size)   # every write replaces the file: a new inode
    hit = _CACHE.get(str(path))
    if hit is not None and hit[0] == sig:
        return copy.deepcopy(hit[1])
    fact = _parse(path)
    if len(_CACHE) >= _CACHE_MAX:
        _CACHE.clear()
    _CACHE[str(path)] = (sig, copy.deepcopy(fact))
    return fact


def _parse(path: Path) -> Fact:
    import yaml

    text = path.read_text(encoding="utf-8")
    if not text.startswith("---\n") or "\n---\n" not in text[3:]:
        raise ValueError("missing frontmatter")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    data = yaml.load(text[4:text.index("\n---\n", 3) + 1], Loader=loader)
    if not isinstance(data, dict):
        raise ValueError("the frontmatter is not a mapping")
    for key in ("id", "kind", "key", "value", "text"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise ValueError(f"{key!r} is missing")
    if data["kind"] not in KINDS or not _ID_RE.fullmatch(data["id"]):
        raise ValueError("bad kind or id")
    conf = data.get("confidence", 0.6)
    history = data.get("history") if isinstance(data.get("history"), list) else []
    return Fact(id=data["id"], kind=data["kind"], key=data["key"], value=data["value"], text=data["text"],
                confidence=float(conf) if isinstance(conf, (int, float)) and not isinstance(conf, bool) else 0.6,
                source=str(data.get("source") or ""), project=data.get("project") if isinstance(data.get("project"), str) else None,
                created_at=str(data.get("created_at") or ""), updated_at=str(data.get("updated_at") or ""),
                mentions=int(data["mentions"]) if isinstance(data.get("mentions"), int) else 1,
                history=[h for h in history if isinstance(h, dict)], path=path)


class FactStore:
    """Facts of one scope: the global ``memories/facts/`` or a project's ``memory/facts/``."""

    def __init__(self, workspace: Any, project: str | None = None, *,
                 on_warning: Callable[[str], None] | None = None) -> None:
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
            raise UsageError(f"invalid fact id {ident!r} (f_ and 12 hex digits; see `llmos memory facts`)")
        path = self.folder / f"{ident}.md"
        try:
            return _load(path)
        except FileNotFoundError:
            raise UsageError(f"no fact {ident!r} in {self.folder}") from None
        except Exception as exc:  # noqa: BLE001
            raise UsageError(f"the fact file {path} is malformed: {exc}") from None

    def add(self, candidate: FactCandidate, *, source: str = "", when: float | None = None) -> tuple[Fact, str]:
        """Store a candidate; returns (fact, action) with action ``new``, ``seen`` or ``updated``."""
        ident = fact_id(candidate.key)
        path = self.folder / f"{ident}.md"
        now = _stamp(when)
        with file_lock(path):
            try:
                fact = _load(path)
            except FileNotFoundError:
                fact = None
            except Exception:  # noqa: BLE001 - a broken file is replaced by the new statement
                fact = None
            if fact is None:
                fact = Fact(id=ident, kind=candidate.kind, key=candidate.key, value=candidate.value, text=candidate.text,
                            confidence=candidate.confidence, source=source, project=self.project, created_at=now,
                            updated_at=now, path=path)
                action = "new"
            elif fact.value == candidate.value and fact.text == candidate.text:
                fact.mentions += 1
                fact.updated_at = now
                action = "seen"
            else:
                fact.history = (fact.history + [{"value": fact.value, "text": fact.text, "until": now}])[-10:]
                fact.value, fact.text, fact.kind = candidate.value, candidate.text, candidate.kind
                fact.confidence, fact.source, fact.updated_at, fact.mentions = candidate.confidence, source, now, 1
                action = "updated"
            atomic_write_text(path, _dump(fact))
        fact.path = path
        return fact, action

    def remember(self, text: str, *, source: str = "cli") -> tuple[Fact, str]:
        """Store a note given explicitly (``llmos memory remember``)."""
        what = _clean(text)
        if len(what) < 3:
            raise UsageError("the fact is empty or too short")
        return self.add(FactCandidate("note", "note:" + _norm(what), what, _cap(what).rstrip(".") + ".", 0.9),
                        source=source)

    def remove(self, ident: str) -> Path:
        fact = self.get(ident)
        try:
            Path(fact.path).unlink()
        except OSError as exc:
            raise UsageError(f"cannot remove {fact.path}: {exc}") from None
        return Path(fact.path)


def all_facts(workspace: Any, project: str | None = None, *,
              on_warning: Callable[[str], None] | None = None) -> list[Fact]:
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

    def to_dict(self) -> dict[str, Any]:
        return {"sessions": self.sessions, "entries": self.entries, "new": list(self.new),
                "updated": list(self.updated), "seen": self.seen}


def _state_path(workspace: Any) -> Path:
    return Path(workspace.state_dir) / "memory.json"


def extract_from_sessions(workspace: Any, *, full: bool = False,
                          on_warning: Callable[[str], None] | None = None) -> ExtractionReport:
    """Read the user turns not read yet (all of them with ``full``) and store the facts they state."""
    state_path = _state_path(workspace)
    report = ExtractionReport()
    with file_lock(state_path):
        try:
            state = json.loads(state_path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError, OSError):
            state = {}
        seen_state = state.get("sessions") if isinstance(state.get("sessions"), dict) and not full else {}
        changed = False
        for path in session_files(workspace):
            try:
                st = path.stat()
            except OSError:
                continue
            mark = seen_state.get(path.name) if isinstance(seen_state.get(path.name), dict) else {}
            if mark.get("size") == st.st_size and mark.get("mtime") == st.st_mtime:
                continue
            session = read_session(path)
            done = int(mark.get("entries", 0)) if isinstance(mark.get("entries"), int) else 0
            fresh = session.entries[done:]
            project = session.meta.get("project") if isinstance(session.meta.get("project"), str) else None
            report.sessions += 1
            for entry in fresh:
                report.entries += 1
                if entry.role != "user":
                    continue
                for cand in extract_facts(entry.text):
                    scope = None if cand.kind in USER_KINDS else project
                    try:
                        store = FactStore(workspace, scope, on_warning=on_warning)
                    except UsageError:
                        store = FactStore(workspace, None, on_warning=on_warning)
                    fact, action = store.add(cand, source=f"memories/sessions/{path.name}")
                    if action == "new":
                        report.new.append(fact.to_dict())
                    elif action == "updated":
                        report.updated.append(fact.to_dict())
                    else:
                        report.seen += 1
            seen_state[path.name] = {"entries": len(session.entries), "size": st.st_size, "mtime": st.st_mtime}
            changed = True
        if changed or full:
            atomic_write_json(state_path, {"format": 1, "sessions": seen_state, "last_run": _stamp()})
    return report


def extract_texts(texts: Iterable[str]) -> list[FactCandidate]:
    """Facts of several texts (for tests and tools)."""
    return [c for t in texts for c in extract_facts(t)]
