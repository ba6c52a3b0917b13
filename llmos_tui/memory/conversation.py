"""Conversations: the chat (or a chain of headless runs) as one session whose turns give context.

A conversation is ``state/conversations/<id>.jsonl`` (the id has the L2 session log's form,
``YYYYMMDD-HHMMSS-xxxxxx``, and the same id names its markdown log under ``memories/sessions/``).
Line 1 is the header ``{"kind": "session", "id", "started_at", "cwd", "source", "user",
"project"}``; each later line is a ``turn`` (goal, mode, success, a short result summary, the
files the run wrote, its trace id, whether the goal referred back) or a ``feedback`` (a message
that was only thanks or a correction: no run). Every line is appended whole or not at all under
the file's sidecar lock (``atomic.append_bytes``); the file is created by its first append, header
included. Goals, summaries and feedback are redacted (``redact.py``) before they are written; a
torn or hand-broken line is skipped on read.

Contracts:

* :func:`context_block` -- the "Conversation so far" text a new turn's request carries: the last
  ``recent_turns`` turns verbatim within ``max_tokens`` (about 4 characters a token), older ones
  one line each under the marker ``[earlier turns summarized]``, and turns beyond the budget cut
  with ``[N earlier turns cut]``. It never exceeds ``max_tokens * 4`` characters.
* :func:`feedback_kind` -- ``"positive"``/``"negative"`` for a message made only of thanks, praise
  or correction words ("thanks", "perfect", "great, that worked", "that's wrong", "no, that's not
  it"); ``None`` as soon as one other word is in it ("thanks, now add a second line" is a goal).
  "yes", "ok" and "sure" alone are not feedback: they answer a question and go to the model.
* :func:`refers_back` -- a small detector for goals that lean on earlier turns: a continuation
  opener ("now", "also", "then", "and", "next", "instead", ...), "again" / "instead" / "the same" /
  "as before" / "previous" / "too" at the end, "that"/"this"/"those"/"these" standing alone or
  before a generic noun ("that file"), or "it"/"them" with no indefinite noun phrase or file name
  before it ("Run it", "Fix the bug in it"; not "Create a calculator and test it").
* :func:`depends_on` -- which files of earlier turns a run's calls name while its goal does not:
  a trace whose replay would need the conversation.
"""

from __future__ import annotations

import functools
import json
import os
import re
import time
from pathlib import Path
from typing import Any, Iterable

from ..records import field, record
from ..atomic import append_bytes, file_lock
from ..clock import iso_utc
from ..errors import UsageError
from ..redact import redact_text

ID_RE = re.compile(r"\d{8}-\d{6}-[0-9a-f]{6}")
MAX_GOAL_CHARS = 2000  # a goal as stored in a turn
MAX_SUMMARY_CHARS = 600  # a result as stored in a turn
MAX_FILES = 20  # files kept per turn
VERBATIM_GOAL_CHARS = 1200  # a goal as shown verbatim in the context block
LINE_GOAL_CHARS = 100  # a goal as shown in a summarized line
SUMMARIZED_MARKER = "[earlier turns summarized]"
WRITE_TOOLS = ("Write", "Edit", "MultiEdit", "NotebookEdit")


def new_id(clock: float | None = None) -> str:
    now = time.time() if clock is None else clock
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime(now)) + "-" + os.urandom(3).hex()


def conversations_dir(workspace: Any) -> Path:
    return Path(workspace.state_dir) / "conversations"


def check_id(session_id: str) -> str:
    if not isinstance(session_id, str) or not ID_RE.fullmatch(session_id.strip()):
        raise UsageError(
            f"invalid session id {session_id!r} (expected YYYYMMDD-HHMMSS-xxxxxx; see llmos sessions)"
        )
    return session_id.strip()


@record
class Turn:
    """One goal of a conversation and what came of it."""

    n: int
    at: str
    goal: str
    mode: str = ""
    success: bool = False
    summary: str = ""
    files: list[str] = field(default_factory=list)
    cwd: str = ""
    trace_id: str | None = None
    followup: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "turn",
            "n": self.n,
            "at": self.at,
            "goal": self.goal,
            "mode": self.mode,
            "success": self.success,
            "summary": self.summary,
            "files": list(self.files),
            "cwd": self.cwd,
            "trace_id": self.trace_id,
            "followup": self.followup,
        }


@record
class Conversation:
    """A conversation of a workspace: its header, turns and feedback."""

    workspace: Any
    id: str
    header: dict[str, Any] = field(default_factory=dict)
    turns: list[Turn] = field(default_factory=list)
    feedback: list[dict[str, Any]] = field(default_factory=list)
    mtime: float = 0.0

    @property
    def path(self) -> Path:
        return conversations_dir(self.workspace) / f"{self.id}.jsonl"

    @property
    def exists(self) -> bool:
        return self.path.is_file()

    @property
    def cwd(self) -> str:
        return str(self.header.get("cwd") or "")

    @classmethod
    def load(cls, workspace: Any, session_id: str, *, must_exist: bool = True) -> "Conversation":
        """The conversation ``session_id`` as stored (an empty one when it is new and not ``must_exist``)."""
        conv = cls(workspace, check_id(session_id))
        try:
            raw = conv.path.read_bytes()
            conv.mtime = conv.path.stat().st_mtime
        except FileNotFoundError:
            if must_exist:
                raise UsageError(
                    f"no session {session_id!r} in this workspace (see llmos sessions)"
                ) from None
            return conv
        except OSError as exc:
            raise UsageError(f"cannot read session {session_id!r}: {exc}") from None
        for line in raw.decode("utf-8", errors="replace").splitlines():
            try:
                item = json.loads(line)
            except ValueError:
                continue  # a torn or broken line: skipped
            if not isinstance(item, dict):
                continue
            kind = item.get("kind")
            if kind == "session" and not conv.header:
                conv.header = item
            elif kind == "turn" and isinstance(item.get("goal"), str):
                conv.turns.append(
                    Turn(
                        n=int(item["n"]) if isinstance(item.get("n"), int) else len(conv.turns) + 1,
                        at=str(item.get("at") or ""),
                        goal=item["goal"],
                        mode=str(item.get("mode") or ""),
                        success=item.get("success") is True,
                        summary=str(item.get("summary") or ""),
                        files=[str(f) for f in item.get("files") or [] if isinstance(f, str)][
                            :MAX_FILES
                        ],
                        cwd=str(item.get("cwd") or ""),
                        trace_id=item.get("trace_id")
                        if isinstance(item.get("trace_id"), str)
                        else None,
                        followup=item.get("followup") is True,
                    )
                )
            elif kind == "feedback":
                conv.feedback.append(item)
        return conv

    # ---- writing -------------------------------------------------------------------------
    def _append(
        self, item: dict[str, Any], *, cwd: str, source: str, user: str | None, project: str | None
    ) -> None:
        path = self.path
        path.parent.mkdir(parents=True, exist_ok=True)
        with file_lock(path):
            lines = []
            if not path.exists() or path.stat().st_size == 0:
                self.header = {
                    "kind": "session",
                    "id": self.id,
                    "started_at": item.get("at") or iso_utc(),
                    "cwd": cwd,
                    "source": source,
                    "user": user,
                    "project": project,
                }
                lines.append(self.header)
            lines.append(item)
            data = "".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines).encode("utf-8")
            append_bytes(path, data)

    def append_turn(
        self,
        *,
        goal: str,
        mode: str,
        success: bool,
        output: str,
        error: str | None,
        files: list[str],
        cwd: str,
        trace_id: str | None,
        followup: bool,
        source: str = "headless",
        user: str | None = None,
        project: str | None = None,
    ) -> Turn:
        summary = (output or "").strip() if success or not error else f"failed: {error}"
        if success and error:
            summary += f" (error: {error})"
        turn = Turn(
            n=len(self.turns) + 1,
            at=iso_utc(),
            goal=redact_text(goal)[:MAX_GOAL_CHARS],
            mode=mode,
            success=bool(success),
            summary=_clip(redact_text(summary), MAX_SUMMARY_CHARS),
            files=list(dict.fromkeys(files))[:MAX_FILES],
            cwd=cwd,
            trace_id=trace_id,
            followup=followup,
        )
        self._append(turn.to_dict(), cwd=cwd, source=source, user=user, project=project)
        self.turns.append(turn)
        return turn

    def append_feedback(
        self,
        text: str,
        label: str,
        *,
        cwd: str,
        source: str = "headless",
        user: str | None = None,
        project: str | None = None,
    ) -> dict[str, Any]:
        last = self.turns[-1] if self.turns else None
        item = {
            "kind": "feedback",
            "at": iso_utc(),
            "text": redact_text(text)[:500],
            "label": label,
            "about_turn": last.n if last else None,
            "about_trace": last.trace_id if last else None,
        }
        self._append(item, cwd=cwd, source=source, user=user, project=project)
        self.feedback.append(item)
        return item

    # ---- reading -------------------------------------------------------------------------
    def files_touched(self) -> list[str]:
        out: list[str] = []
        for turn in self.turns:
            for name in turn.files:
                if name not in out:
                    out.append(name)
        return out

    def summary(self) -> dict[str, Any]:
        last = self.turns[-1] if self.turns else None
        return {
            "id": self.id,
            "cwd": self.cwd,
            "started_at": self.header.get("started_at"),
            "source": self.header.get("source"),
            "turns": len(self.turns),
            "feedback": len(self.feedback),
            "last_goal": last.goal if last else None,
            "last_at": last.at if last else None,
            "last_activity": iso_utc(self.mtime) if self.mtime else None,
        }


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split()) if "\n" not in text else text.strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _header(path: Path) -> dict[str, Any] | None:
    try:
        with open(path, "rb") as fh:
            first = fh.readline(64 * 1024)
        item = json.loads(first)
    except (OSError, ValueError):
        return None
    return item if isinstance(item, dict) and item.get("kind") == "session" else None


def _files_newest_first(workspace: Any) -> list[tuple[float, Path]]:
    folder = conversations_dir(workspace)
    try:
        paths = [p for p in folder.iterdir() if p.suffix == ".jsonl" and ID_RE.fullmatch(p.stem)]
    except OSError:
        return []
    out = []
    for p in paths:
        try:
            out.append((p.stat().st_mtime, p))
        except OSError:
            continue
    out.sort(key=lambda t: (t[0], t[1].name), reverse=True)
    return out


def last_for(workspace: Any, cwd: str | os.PathLike[str]) -> str | None:
    """The id of the conversation of this workspace last active in ``cwd`` (None if there is none)."""
    wanted = str(Path(cwd).resolve())
    for _mtime, path in _files_newest_first(workspace):
        header = _header(path)
        if header is not None and header.get("cwd") == wanted:
            return path.stem
    return None


def list_conversations(workspace: Any, *, limit: int | None = None) -> list[Conversation]:
    """Conversations, most recently active first."""
    out: list[Conversation] = []
    for _mtime, path in _files_newest_first(workspace):
        if limit is not None and len(out) >= limit:
            break
        try:
            out.append(Conversation.load(workspace, path.stem))
        except UsageError:
            continue
    return out


# ---- the context block --------------------------------------------------------------------


def _verbatim(turn: Turn) -> str:
    status = "ok" if turn.success else "failed"
    lines = [
        f"### turn {turn.n} ({turn.mode or '?'}, {status})",
        f"User: {_clip(turn.goal, VERBATIM_GOAL_CHARS)}",
    ]
    if turn.summary:
        lines.append(f"Result: {turn.summary}")
    if turn.files:
        lines.append("Files written: " + ", ".join(turn.files))
    return "\n".join(lines)


def _one_line(turn: Turn) -> str:
    status = "ok" if turn.success else "failed"
    files = f"; files: {', '.join(turn.files[:5])}" if turn.files else ""
    return f"- turn {turn.n}: {_clip(turn.goal, LINE_GOAL_CHARS)!r} -> {status}{files}"


def context_block(conv: Conversation, *, max_tokens: int, recent_turns: int) -> str:
    """The "Conversation so far" block for the next turn ('' when there is no earlier turn)."""
    turns = conv.turns
    if not turns or max_tokens <= 0:
        return ""
    budget = max_tokens * 4
    head = (
        f"## Conversation so far (session {conv.id}; oldest first)\n"
        'The user\'s new message continues this conversation: words like "it", "that file", '
        '"again" or "now ..." refer to the turns below. Working directory of the last turn: '
        f"{turns[-1].cwd or conv.cwd}."
    )
    used = len(head) + 2
    verbatim: list[str] = []
    index = len(turns)
    while index > 0 and len(verbatim) < max(recent_turns, 0):
        text = _verbatim(turns[index - 1])
        room = budget - used - 2 - len(SUMMARIZED_MARKER) - 40
        if len(text) > room:
            if verbatim or room < 200:
                break
            text = text[: room - 1] + "…"  # the newest turn always shows, cut to fit
        verbatim.insert(0, text)
        used += len(text) + 2
        index -= 1
    older: list[str] = []
    if index > 0:
        used += len(SUMMARIZED_MARKER) + 1
        while index > 0:
            line = _one_line(turns[index - 1])
            if used + len(line) + 1 + 30 > budget:
                break
            older.insert(0, line)
            used += len(line) + 1
            index -= 1
    parts = [head]
    if index > 0 or older:
        marker = SUMMARIZED_MARKER
        if index > 0:
            marker += f"\n[{index} earlier turn(s) cut]"
        parts.append("\n".join([marker, *older]))
    parts.extend(verbatim)
    text = "\n\n".join(parts)
    return text if len(text) <= budget else text[: budget - 1] + "…"


# ---- what a run touched, what a trace depends on -------------------------------------------


def _rel(raw: str, cwd: Path) -> str:
    path = Path(raw)
    try:
        return (
            (path if path.is_absolute() else cwd / path)
            .resolve()
            .relative_to(cwd.resolve())
            .as_posix()
        )
    except (ValueError, OSError):
        return raw


def files_written(tool_calls: Iterable[dict[str, Any]], cwd: Path) -> list[str]:
    """Files a run's calls wrote or created (relative to ``cwd`` when inside it); refused calls skipped."""
    out: list[str] = []
    for call in tool_calls:
        if not isinstance(call, dict) or call.get("decision") == "deny":
            continue
        name = str(call.get("name") or "")
        raw_input = call.get("input")
        inp: dict[str, Any] = raw_input if isinstance(raw_input, dict) else {}
        found = [str(f) for f in call.get("files_created") or [] if isinstance(f, str)]
        if name.split("__")[-1] in WRITE_TOOLS and not call.get("is_error"):
            target = inp.get("file_path") or inp.get("notebook_path") or inp.get("path")
            if isinstance(target, str) and target:
                found.append(target)
        for raw in found:
            rel = _rel(raw, cwd)
            if rel not in out:
                out.append(rel)
    return out[:MAX_FILES]


def _mentions(text: str, name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    pattern = r"(?<![\w.-])" + re.escape(base) + r"(?![\w-]|\.\w)"
    return bool(re.search(pattern, text))


def depends_on(
    goal: str, calls: Iterable[dict[str, Any]], earlier_files: Iterable[str]
) -> list[str]:
    """Files of earlier turns that the calls name and the goal does not: the context a replay needs."""
    blob = json.dumps([c.get("input") for c in calls if isinstance(c, dict)], ensure_ascii=False)
    return [f for f in earlier_files if _mentions(blob, f) and not _mentions(goal, f)]


# ---- feedback and follow-ups ----------------------------------------------------------------

_POSITIVE = {
    "thanks",
    "thank",
    "thx",
    "ty",
    "cheers",
    "great",
    "perfect",
    "awesome",
    "excellent",
    "nice",
    "brilliant",
    "exactly",
    "cool",
    "good",
    "wonderful",
    "amazing",
    "lovely",
    "fantastic",
    "superb",
    "worked",
    "works",
    "work",
    "done",
    "right",
    "correct",
    "yay",
    "neat",
    "sweet",
    "splendid",
    "bravo",
    "job",
    "well",
    "love",
}
_NEGATIVE = {
    "wrong",
    "incorrect",
    "nope",
    "no",
    "broken",
    "bad",
    "failed",
    "fail",
    "fails",
    "mistake",
    "not",
}
# Words that carry no request of their own next to feedback words ("that's not it", "it worked").
_FILLER = {
    "that",
    "thats",
    "this",
    "it",
    "its",
    "is",
    "was",
    "you",
    "very",
    "much",
    "so",
    "a",
    "lot",
    "really",
    "indeed",
    "all",
    "just",
    "what",
    "i",
    "wanted",
    "asked",
    "for",
    "the",
    "ok",
    "okay",
    "oh",
    "wow",
    "yes",
    "yep",
    "yeah",
    "fine",
    "now",
    "did",
    "didnt",
    "doesnt",
    "does",
    "dont",
    "quite",
    "at",
    "still",
    "also",
    "many",
    "again",
    "totally",
    "absolutely",
    "looks",
    "look",
    "seems",
    "as",
    "expected",
    "one",
    "there",
    "we",
    "go",
    "hmm",
    "ah",
    "dear",
    "mate",
    "buddy",
    "man",
    "sir",
    "please",
    "to",
    "me",
    "my",
}
_EMOJI = re.compile(
    "[\U0001f44d\U0001f64f\U0001f389\u2764\u2705\U0001f600-\U0001f64f\u274c\U0001f44e]"
)
MAX_FEEDBACK_WORDS = 10


def feedback_kind(text: str) -> str | None:
    """``positive``/``negative`` when the message is only feedback; ``None`` when it asks for anything."""
    if not isinstance(text, str):
        return None
    lowered = text.lower().replace("\u2019", "'").replace("'", "")
    words = re.findall(r"[a-z]+", lowered)
    emoji = bool(_EMOJI.search(text))
    if not words and emoji:
        return "negative" if re.search("[\u274c\U0001f44e]", text) else "positive"
    if not words or len(words) > MAX_FEEDBACK_WORDS:
        return None
    if re.search(r"[\d/\\`~$@#%^&*=<>|{}\[\]]", text):
        return None  # numbers, paths, code: a request, not a thank-you
    if any(w not in _POSITIVE and w not in _NEGATIVE and w not in _FILLER for w in words):
        return None
    signal = [w for w in words if w in _POSITIVE or (w in _NEGATIVE and w != "not")]
    negated = "not" in words or any(w in words for w in ("didnt", "doesnt", "dont"))
    if not signal and not negated:
        return None  # "yes", "ok", "now": an answer or a nudge, for the model
    if any(w in _NEGATIVE for w in words) or (
        negated
        and any(w in words for w in ("work", "works", "worked", "right", "correct", "it", "what"))
    ):
        return "negative"
    return "positive"


_OPENERS = (
    "now",
    "also",
    "then",
    "and",
    "next",
    "again",
    "but",
    "so",
    "instead",
    "actually",
    "additionally",
    "plus",
    "same",
    "ok",
    "okay",
    "yes",
    "no",
    "afterwards",
    "after that",
    "what about",
    "how about",
    "do the same",
    "one more",
    "another",
)
_GENERIC = (
    "file",
    "files",
    "folder",
    "folders",
    "directory",
    "script",
    "scripts",
    "one",
    "ones",
    "code",
    "function",
    "change",
    "changes",
    "output",
    "error",
    "errors",
    "line",
    "lines",
    "command",
    "program",
    "test",
    "tests",
    "page",
    "result",
    "results",
    "version",
    "thing",
    "stuff",
    "project",
    "app",
    "module",
    "class",
    "list",
    "table",
    "text",
    "document",
    "image",
    "commit",
)
_HERE = ("folder", "folders", "directory", "project", "app")  # "this folder": the working directory


@functools.cache
def _refers_back_patterns() -> tuple[re.Pattern[str], ...]:
    """Compiled at the first question whether a goal refers back (a replay of a new goal with no
    conversation never asks): opener, tail, anywhere, a demonstrative alone, pronoun, antecedent."""
    return (
        re.compile(r"^\W*(?:" + "|".join(re.escape(o) for o in _OPENERS) + r")\b", re.IGNORECASE),
        re.compile(
            r"\b(?:again|instead|as\s+well|too|as\s+before|like\s+before|the\s+same(?:\s+\w+)?|"
            r"previous(?:ly)?|earlier|above|last\s+(?:one|file|time|change|command|run))\W*$",
            re.IGNORECASE,
        ),
        re.compile(
            r"\b(?:again|as\s+before|like\s+before|the\s+same\s+(?:way|thing|as)|previous|"
            r"you\s+(?:just|created|wrote|made|did)|(?:that|those)\s+(?:"
            + "|".join(_GENERIC)
            + r")\b|"
            r"(?:this|these)\s+(?:" + "|".join(g for g in _GENERIC if g not in _HERE) + r")\b)",
            re.IGNORECASE,
        ),
        re.compile(r"\b(?:that|this|those|these)\s*(?:$|[.,;:!?)])", re.IGNORECASE),
        re.compile(r"(?<![\w./-])(?:it|them|its|itself)(?![\w./-])", re.IGNORECASE),
        re.compile(
            r"\b(?:a|an|some|called|named)\s+\w|(?<![\w/])[\w-]+\.[A-Za-z0-9]{1,8}\b|[\w-]*/[\w./-]+",
            re.IGNORECASE,
        ),
    )


def refers_back(goal: str) -> bool:
    """Does the goal lean on earlier turns (see the module docstring for the rules)?"""
    if not isinstance(goal, str):
        return False
    text = goal.strip()
    opener, tail, anywhere, alone, pronoun, antecedent = _refers_back_patterns()
    if opener.search(text) or tail.search(text) or anywhere.search(text):
        return True
    if alone.search(text):
        return True
    m = pronoun.search(text)
    return m is not None and not antecedent.search(text[: m.start()])
