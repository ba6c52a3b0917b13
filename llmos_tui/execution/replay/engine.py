"""FOLLOWER: replay a trace's tool calls with our own executors, no LLM (programmatic tool calling).

``replay`` takes a trace's calls (paths stored as ``{{cwd}}/...``), optionally applies a
parameter ``Substitution``, re-roots them into the run's working directory and then:

1. **refuses before running anything** (nothing half-applied) when a call names a tool with no
   executor, has malformed input, holds a ``[REDACTED:…]`` mark (a secret redacted when the trace
   was stored: replaying it would use the mark), was blocked when it was recorded, touches a path that
   resolves outside the working directory (path fields, and absolute / ``~`` / ``..`` paths in
   shell commands), or is not allowed by the pre-hooks (the policy): every call is checked
   before the first one runs;
2. runs the calls in order through the ``ToolExecutor``, emitting
   ``ToolCallStarted`` / ``ToolCallFinished``, and checks each result against the recorded
   one: error flag, exit status (when one was recorded), and every file the call recorded as
   created must exist afterwards. On the first mismatch it stops and says which step and why
   (the kernel counts a failure for the trace and falls back to LEARNER).
   The pre-flight verdict of a call is used again when it runs only while nothing the replay
   did can have changed it (:func:`_verdict_still_valid`: no shell command has run, and no
   earlier step wrote anything the answer may depend on; with the policy engine, only a Write
   over a file an earlier step wrote and any shell command after a write are asked again).
   Otherwise the hooks are asked again, just before the call runs.

Parameterized replay (``plan_substitution``): when a goal differs from the trace's goal only in
slot values (a file name, a path, a number, a port, a quoted string), the new values are put
into the calls where the old ones were. It is refused (the kernel then uses MIXED) unless every
use of every changed value is in a recognised position and the new value is safe there:

* the values: a file name stays a plain file name (``[A-Za-z0-9_][A-Za-z0-9_.+-]*``, no ``..``)
  with the same extension (``calc.py`` -> ``calc.js`` is another task); a path stays relative
  with such components; a number stays a plain number (and ``0``/``1`` are never substituted:
  too common to be a parameter); a port is 1-65535; a quoted string is text without quotes,
  backslashes, ``$``, backquotes, ``#``, ``%``, braces, ``<>&|;`` or newlines. Languages,
  natural languages and URLs are not substituted;
* the positions: whole path components in path fields and glob patterns; whole tokens in
  shell commands (a quoted string goes into a command only as a whole shell word: the whole
  content of the quotes it already had, or its own shell word(s) quoted with ``shlex.quote``,
  with the same number of words; never as part of a longer word such as ``'*old*'`` or
  ``key=old``, whose rest is the recorded command's own reading of the goal), in
  a heredoc body, or bounded by non-word characters in file content; never inside another word
  (``hello.txt`` inside ``my-hello.txt.bak``), never in a Grep regex or any other field;
* a number that looks like part of an enumeration (its neighbour n±1 in the same text), or a
  one-digit number used more than once, is refused: it may be a coincidence, not the slot;
* a changed slot must be used by the calls at all (else the trace does not fit: a stale value
  would be replayed), and after substitution no form of the old value (another case, escaped)
  may remain anywhere in the calls.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Iterable, Mapping

from ...records import field, record
from ...learning.traces import CWD_TOKEN, ToolCall, reroot
from ...redact import MARK as REDACTION_MARK
from ...runs import CancelToken, EventSink, Notice, ToolCallFinished, ToolCallStarted
from .executors import (
    PATH_FIELDS,
    STATUS_DENIED,
    SUPPORTED_TOOLS,
    WRITE_TOOLS,
    ExecOutcome,
    ToolExecutor,
    make_refusal,
    check_input,
    input_paths,
    inside,
    resolve_path,
)
from .hooks import REJECTED, HookVerdict
from ...redact import LazyRegex  # module patterns: compiled on first use

# ---- results --------------------------------------------------------------------------------


@record
class StepResult:
    """What became of one step of a replayed trace."""

    index: int  # 0-based position in the trace
    name: str
    input: dict[str, Any]
    outcome: ExecOutcome | None  # None when the step did not run
    matched: bool
    reason: str = ""
    tool_use_id: str = ""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "step": self.index + 1,
            "name": self.name,
            "input": self.input,
            "matched": self.matched,
            "reason": self.reason,
        }
        if self.outcome is not None:
            out.update(
                is_error=self.outcome.is_error,
                summary=self.outcome.summary,
                exit_code=self.outcome.exit_code,
                files_created=list(self.outcome.files_created),
                decision=self.outcome.decision,
            )
            if getattr(self.outcome, "rule", ""):
                out["rule"] = self.outcome.rule
        return out


@record
class ReplayResult:
    """The outcome of a replay: its steps and where and why it stopped."""

    success: bool
    steps: list[StepResult] = field(default_factory=list)
    stopped_at: int | None = None  # 0-based index of the step that stopped the replay
    reason: str = ""
    files_created: list[str] = field(default_factory=list)  # relative to the working directory
    refused: bool = False  # refused before anything ran (nothing was changed)
    cancelled: bool = False

    @property
    def executed(self) -> int:
        return sum(1 for s in self.steps if s.outcome is not None and s.outcome.executed)

    def describe(self) -> str:
        """What each call did, one line per step (the ``output`` of a FOLLOWER run)."""
        lines = []
        for step in self.steps:
            if step.outcome is None:
                continue
            mark = "ok" if step.matched else "MISMATCH"
            lines.append(f"[{step.index + 1}] {step.name}: {step.outcome.summary} ({mark})")
        if not self.success:
            where = f" at step {self.stopped_at + 1}" if self.stopped_at is not None else ""
            lines.append(f"replay stopped{where}: {self.reason}")
        return "\n".join(lines)

    def tool_calls(self) -> list[dict[str, Any]]:
        """Entries for ``RunResult.tool_calls``."""
        return [s.to_dict() for s in self.steps if s.outcome is not None]


# ---- parameterized replay -------------------------------------------------------------------

SUBSTITUTABLE_KINDS = ("file", "path", "number", "port", "quoted")
_SAFE_NAME = LazyRegex(r"[A-Za-z0-9_][A-Za-z0-9_.+-]{0,254}")
_PLAIN_NUMBER = LazyRegex(r"\d{1,15}(?:\.\d{1,15})?")
_SAFE_TEXT = LazyRegex(r"[^\W_][\w .,:!?@()+=/-]{0,199}")
_CONTENT_FIELDS = {
    ("Write", "content"),
    ("Edit", "old_string"),
    ("Edit", "new_string"),
    ("MultiEdit", "old_string"),
    ("MultiEdit", "new_string"),
    ("NotebookEdit", "new_source"),
}
_PATTERN_FIELDS = {("Glob", "pattern"), ("Grep", "glob")}
_TEXT_FIELDS = {("Bash", "description")}
_SHELL_BREAK = set(" \t\n;&|()<>")


@record(frozen=True)
class SlotChange:
    """A slot whose value differs from the trace's, and where the new one goes."""

    key: str
    kind: str
    old: str
    new: str
    uses: int = 0  # how many places in the calls' inputs get the new value

    def to_dict(self) -> dict[str, Any]:
        return {
            "slot": self.key,
            "kind": self.kind,
            "old": self.old,
            "new": self.new,
            "uses": self.uses,
        }


@record(frozen=True)
class Refusal:
    """Why a parameterized replay is not provably safe (the kernel sends the goal to MIXED)."""

    reason: str
    slot: str | None = None

    def __bool__(self) -> bool:  # a refusal is never "a plan"
        return False


@record
class Substitution:
    """A checked plan: which slot values change, and the calls with the new values in."""

    changes: list[SlotChange] = field(default_factory=list)
    calls: list[ToolCall] = field(default_factory=list)
    source: list[ToolCall] = field(default_factory=list)

    def __bool__(self) -> bool:  # a plan, even an empty one
        return True

    @property
    def empty(self) -> bool:
        return not self.changes

    def apply(self, calls: list[ToolCall]) -> "list[ToolCall] | Refusal":
        """The calls with the new values in (re-checked when ``calls`` are not the planned ones)."""
        if not self.changes:
            return list(calls)
        if _same_calls(calls, self.source):
            return list(self.calls)
        result = _substitute(calls, self.changes)
        if isinstance(result, Refusal):
            return result
        new_calls, uses = result
        for change, n in zip(self.changes, uses, strict=True):
            if n == 0:
                return Refusal(
                    f"slot {change.key}: these calls never use {change.old!r}", change.key
                )
        return new_calls

    def to_dict(self) -> dict[str, Any]:
        return {"changes": [c.to_dict() for c in self.changes]}


def _same_calls(a: list[ToolCall], b: list[ToolCall]) -> bool:
    return len(a) == len(b) and all(x.to_dict() == y.to_dict() for x, y in zip(a, b, strict=True))


def slot_kind(key: str) -> str:
    return re.sub(r"\d+$", "", key)


def _ext(name: str) -> str:
    base = name.rsplit("/", 1)[-1]
    return base.rsplit(".", 1)[-1].lower() if "." in base.lstrip(".") else ""


def _safe_text(value: str) -> bool:
    return bool(_SAFE_TEXT.fullmatch(value)) and ".." not in value


def _check_value(kind: str, value: str, *, which: str) -> str | None:
    """Why ``value`` is not a safe value of ``kind`` (None when it is)."""
    if not isinstance(value, str) or not value:
        return f"the {which} value is empty"
    if kind == "file":
        if not _SAFE_NAME.fullmatch(value) or ".." in value or not _ext(value):
            return f"the {which} value {value!r} is not a plain file name"
    elif kind == "path":
        if value.startswith(("/", "~")) or "\\" in value:
            return f"the {which} value {value!r} is not a relative path"
        parts = [p for p in value.split("/") if p not in ("", ".")]
        if not parts or any(p == ".." or not _SAFE_NAME.fullmatch(p) or ".." in p for p in parts):
            return f"the {which} value {value!r} is not a plain relative path"
    elif kind == "number":
        if not _PLAIN_NUMBER.fullmatch(value):
            return f"the {which} value {value!r} is not a plain number"
    elif kind == "port":
        if not re.fullmatch(r"\d{1,5}", value) or not 0 < int(value) < 65536:
            return f"the {which} value {value!r} is not a port number"
    elif kind == "quoted":
        if not _safe_text(value):
            return (
                f"the {which} value {value!r} has characters that are not safe to substitute "
                f"(quotes, backslashes, $, `, #, %, braces, <>&|;, newlines)"
            )
    else:
        return f"slots of kind {kind!r} are not substituted"
    return None


# -- occurrences -------------------------------------------------------------------------------


def _word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def _bounded(text: str, start: int, end: int, kind: str) -> bool:
    before = text[start - 1] if start > 0 else ""
    after = text[end] if end < len(text) else ""
    nxt = text[end + 1] if end + 1 < len(text) else ""
    if kind in ("number", "port"):
        if before and (_word(before) or before in ".-"):
            return False
        if after and (_word(after) or (after in ".," and nxt.isdigit())):
            return False
        return True
    if before and (_word(before) or before in ".-"):
        return False
    if after and (_word(after) or after == "-" or (after == "." and _word(nxt))):
        return False
    return True


def _cwd_spans(text: str) -> list[tuple[int, int]]:
    spans, i = [], text.find(CWD_TOKEN)
    while i >= 0:
        spans.append((i, i + len(CWD_TOKEN)))
        i = text.find(CWD_TOKEN, i + 1)
    return spans


def _occurrences(text: str, old: str) -> list[tuple[int, int]]:
    masked = _cwd_spans(text)
    out, i = [], text.find(old)
    while i >= 0:
        j = i + len(old)
        if not any(a < j and i < b for a, b in masked):
            out.append((i, j))
        i = text.find(old, i + 1)
    return out


_QUOTE_STATES = {"string": "d", "raw_string": "s", "ansi_c_string": "x"}


def _shell_states(command: str) -> list[str] | None:
    """Quoting state of each character of a shell command: u(nquoted), s(ingle), d(ouble),
    h(eredoc body), q (a quote or escape character itself), x (unknown: $'..', the character
    after a backslash). None if the command does not parse.

    The regions come from the tree-sitter-bash parse the policy makes of the same command
    (``policy.shell.parse``; its byte ranges mapped to characters): ``raw_string`` ('..'),
    ``string`` ("..", everything up to its closing quote, a ``$(..)`` inside included),
    ``ansi_c_string`` ($'..'), and each heredoc's body lines. Only backslashes are looked at here:
    one outside every quote and heredoc body, or inside "..", quotes the next character."""
    from ..policy.shell import ShellParseError, parse

    try:
        data, root = parse(command)
    except ShellParseError:
        return None
    char_at: list[int] | None = None
    if len(data) != len(command):  # non-ASCII: byte offsets to character offsets
        char_at = []
        for ci, ch in enumerate(command):
            char_at.extend([ci] * len(ch.encode("utf-8", "surrogateescape")))
        char_at.append(len(command))

    def pos(byte: int) -> int:
        return byte if char_at is None else char_at[byte]

    def line_start(i: int) -> int:
        return command.rfind("\n", 0, i) + 1

    n = len(command)
    states = ["u"] * n
    quoted = [False] * n  # inside quotes or a heredoc body: no unquoted backslash there
    stack = [root]
    while stack:
        node = stack.pop()
        inner = _QUOTE_STATES.get(node.type)
        if inner is not None:
            a, b = pos(node.start_byte), pos(node.end_byte)
            opening = 2 if node.type == "ansi_c_string" else 1  # $' or ' or "
            for p in range(a, b):
                quoted[p], states[p] = True, inner
            for p in (*range(a, a + opening), b - 1):
                states[p] = "q"
            if inner == "d":
                _mark_escapes(command, states, a + opening, b - 1)
            continue
        if node.type == "heredoc_redirect":
            kids = {c.type: c for c in node.children}
            body, end = kids.get("heredoc_body"), kids.get("heredoc_end")
            if body is not None and end is not None:  # whole lines, the closing one excluded
                for p in range(line_start(pos(body.start_byte)), line_start(pos(end.start_byte))):
                    quoted[p] = True
                    if command[p] != "\n":
                        states[p] = "h"
            stack.extend(c for c in node.children if c.type not in ("heredoc_body", "heredoc_end"))
            continue
        stack.extend(node.children)
    _mark_escapes(command, states, 0, n, skip=quoted)
    return states


def _mark_escapes(
    command: str, states: list[str], start: int, end: int, skip: list[bool] | None = None
) -> None:
    """A backslash in ``command[start:end]`` (outside ``skip``) is ``q``, the character after it
    ``x``."""
    p = start
    while p < end:
        if command[p] == "\\" and not (skip and skip[p]):
            states[p] = "q"
            if p + 1 < end:
                states[p + 1] = "x"
            p += 2
            continue
        p += 1


def _field_context(tool: str, key: str) -> str:
    if key in PATH_FIELDS.get(tool, ()):
        return "path"
    if tool == "Bash" and key == "command":
        return "command"
    if (tool, key) in _CONTENT_FIELDS:
        return "content"
    if (tool, key) in _PATTERN_FIELDS:
        return "pattern"
    if (tool, key) in _TEXT_FIELDS:
        return "text"
    return "other"


def _component(text: str, start: int, end: int) -> bool:
    before = text[start - 1] if start > 0 else ""
    after = text[end] if end < len(text) else ""
    return before in ("", "/") and after in ("", "/")


def _whole_word(text: str, states: list[str], start: int, end: int) -> bool:
    """``text[start:end]`` is a whole shell word: bounded by shell breaks (or the ends of the
    command), or the whole content of one pair of quotes (``"old"``, ``'old'``)."""
    before, after = start - 1, end
    quoted_before = before >= 0 and states[before] == "q" and text[before] in "'\""
    quoted_after = after < len(text) and states[after] == "q" and text[after] in "'\""
    if quoted_before != quoted_after or (quoted_before and text[before] != text[after]):
        return False
    if quoted_before:
        before, after = before - 1, after + 1
    return (before < 0 or text[before] in _SHELL_BREAK) and (
        after >= len(text) or text[after] in _SHELL_BREAK
    )


def _plan_string(  # noqa: C901 - baseline, see README "Checks"
    text: str, context: str, where: str, changes: list[SlotChange]
) -> "tuple[list[tuple[int, int, str, int]], Refusal | None]":
    """Edits (start, end, replacement, change index) for one string, or why not."""
    edits: list[tuple[int, int, str, int]] = []
    states: list[str] | None = None
    for ci, change in enumerate(changes):
        spans = _occurrences(text, change.old)
        if not spans:
            continue
        kind, old, new = change.kind, change.old, change.new
        if context == "other":
            return [], Refusal(
                f"{where} contains {old!r} in a field where slot values are never substituted",
                change.key,
            )
        for start, end in spans:
            if not _bounded(text, start, end, kind):
                snippet = text[max(0, start - 12) : end + 12].replace("\n", " ")
                return [], Refusal(
                    f"{where} contains {old!r} inside a longer word ({snippet!r}); "
                    f"cannot tell whether it is the slot",
                    change.key,
                )
            replacement = new
            if context in ("path", "pattern"):
                if kind == "quoted" and (
                    _check_value("file", old, which="old") or _check_value("file", new, which="new")
                ):
                    return [], Refusal(
                        f"{where} uses the quoted value {old!r} in a path and {new!r} is not "
                        f"a plain file name",
                        change.key,
                    )
                if kind == "quoted" and _ext(old) != _ext(new):
                    return [], Refusal(
                        f"{where} uses the quoted value {old!r} as a file name; {new!r} changes "
                        f"its file type",
                        change.key,
                    )
                if not _component(text, start, end):
                    return [], Refusal(
                        f"{where} contains {old!r} but not as a whole path component", change.key
                    )
            elif context == "command":
                if states is None:
                    states = _shell_states(text)
                if states is None:
                    return [], Refusal(
                        f"{where}: the shell command's quoting cannot be analysed "
                        f"(unbalanced quotes or heredoc)",
                        change.key,
                    )
                used = set(states[start:end])
                if kind == "quoted" and not _whole_word(text, states, start, end):
                    snippet = text[max(0, start - 12) : end + 12].replace("\n", " ")
                    return [], Refusal(
                        f"{where}: {old!r} is only part of a shell word ({snippet!r}); the rest "
                        f"of that word is the recorded command's own reading of the goal",
                        change.key,
                    )
                if kind != "quoted":
                    # file names, paths and numbers of our safe shapes have no shell metacharacter
                    if used - {"u", "s", "d", "h"}:
                        return [], Refusal(
                            f"{where}: {old!r} sits in an escaped or $'..' part of the command",
                            change.key,
                        )
                elif used <= {"d"} or used <= {"s"} or used <= {"h"}:
                    pass  # inside the quotes it already had: safe text cannot break out of them
                elif used <= {"u"}:
                    before = text[start - 1] if start > 0 else " "
                    after = text[end] if end < len(text) else " "
                    if before not in _SHELL_BREAK or after not in _SHELL_BREAK:
                        if " " in new or _check_value("file", new, which="new"):
                            return [], Refusal(
                                f"{where}: {old!r} is part of a larger unquoted shell word",
                                change.key,
                            )
                    else:
                        old_words, new_words = old.split(), new.split()
                        if old.split(" ") != old_words or len(old_words) != len(new_words):
                            return [], Refusal(
                                f"{where}: {old!r} is unquoted in the command; {new!r} has a "
                                f"different number of words, which changes the arguments",
                                change.key,
                            )
                        import shlex  # shell commands only: not imported by every replay

                        replacement = " ".join(shlex.quote(w) for w in new_words)
                else:
                    return [], Refusal(
                        f"{where}: {old!r} crosses quoting boundaries in the command", change.key
                    )
            edits.append((start, end, replacement, ci))
    issue = _number_issue(text, changes, edits)
    if issue is not None:
        return [], Refusal(f"{where}: {issue[1]}", issue[0])
    edits.sort()
    for (a1, b1, _, _), (a2, b2, _, _) in zip(edits, edits[1:], strict=False):
        if a2 < b1:
            return [], Refusal(
                f"{where}: two slot values overlap ({text[a1:b1]!r}, {text[a2:b2]!r})"
            )
    return edits, None


_EXIT_CODE = LazyRegex(r"Exit code (-?\d+)\b")
_NUM_TOKEN = LazyRegex(r"(?<![\w.-])\d+(?:\.\d+)?(?![\w]|\.\d)")


def _number_issue(
    text: str, changes: list[SlotChange], edits: list[tuple[int, int, str, int]]
) -> tuple[str, str] | None:
    """A number that looks like part of an enumeration (n-1 or n+1 also in the text)."""
    used = {ci for _, _, _, ci in edits}
    if not any(changes[ci].kind == "number" for ci in used):
        return None
    numbers = {m.group(0) for m in _NUM_TOKEN.finditer(text)}
    for ci in used:
        change = changes[ci]
        if change.kind != "number" or "." in change.old:
            continue
        n = int(change.old)
        neighbours = {str(n - 1), str(n + 1)} & numbers
        if neighbours:
            return change.key, (
                f"the number {change.old} appears next to {', '.join(sorted(neighbours))}: it looks "
                f"like part of a sequence, not necessarily the slot"
            )
    return None


def _walk_strings(value: Any, path: tuple) -> Iterable[tuple[tuple, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _walk_strings(item, path + (i,))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _walk_strings(item, path + (key,))


def _set_at(root: Any, path: tuple, value: Any) -> None:
    for key in path[:-1]:
        root = root[key]
    root[path[-1]] = value


def _loose(old: str) -> re.Pattern[str]:
    """The old value in any case, with or without backslash escapes before punctuation."""
    parts = [
        ("\\\\?" + re.escape(ch)) if not ch.isalnum() and not ch.isspace() else re.escape(ch)
        for ch in old
    ]
    return re.compile("".join(parts), re.IGNORECASE)


def _substitute(
    calls: list[ToolCall], changes: list[SlotChange]
) -> "tuple[list[ToolCall], list[int]] | Refusal":
    uses = [0] * len(changes)
    out: list[ToolCall] = []
    for i, call in enumerate(calls):
        new_input = json.loads(json.dumps(call.input))
        for path, text in list(_walk_strings(call.input, ())):
            key = next((p for p in reversed(path) if isinstance(p, str)), "")
            context = _field_context(call.name, key)
            where = f"step {i + 1} ({call.name}.{'.'.join(str(p) for p in path)})"
            edits, refusal = _plan_string(text, context, where, changes)
            if refusal is not None:
                return refusal
            if not edits:
                continue
            pieces, last = [], 0
            for start, end, replacement, ci in edits:
                pieces.append(text[last:start])
                pieces.append(replacement)
                last = end
                uses[ci] += 1
            pieces.append(text[last:])
            _set_at(new_input, path, "".join(pieces))
        new_result = json.loads(json.dumps(call.result))
        files = new_result.get("files_created")
        if isinstance(files, list):
            fixed = []
            for item in files:
                if isinstance(item, str):
                    for change in changes:
                        if change.kind in ("file", "path", "quoted"):
                            spans = [
                                s for s in _occurrences(item, change.old) if _component(item, *s)
                            ]
                            for start, end in reversed(spans):
                                item = item[:start] + change.new + item[end:]
                fixed.append(item)
            new_result["files_created"] = fixed
        summary = new_result.get("summary")
        if isinstance(summary, str):
            for change in changes:
                spans = [
                    s
                    for s in _occurrences(summary, change.old)
                    if _bounded(summary, *s, change.kind)
                ]
                for start, end in reversed(spans):
                    summary = summary[:start] + change.new + summary[end:]
            new_result["summary"] = summary
        out.append(
            ToolCall(
                name=call.name, input=new_input, result=new_result, tool_use_id=call.tool_use_id
            )
        )
    # No form of an old value may remain (another case, backslash-escaped, ...).
    for change in changes:
        rx = _loose(change.old)
        others = sorted({c.new for c in changes}, key=len, reverse=True)
        for i, call in enumerate(out):
            for path, text in _walk_strings(call.input, ()):
                masked = text.replace(CWD_TOKEN, "\x00")
                for value in others:
                    masked = masked.replace(value, "\x00" * len(value))
                m = rx.search(masked)
                if m and (
                    change.kind not in ("number", "port")
                    or _bounded(masked, m.start(), m.end(), change.kind)
                ):
                    where = f"step {i + 1} ({call.name}.{'.'.join(str(p) for p in path)})"
                    return Refusal(
                        f"{where} still contains {m.group(0)!r} (a form of the old value {change.old!r}) "
                        f"that cannot be substituted safely; replaying would keep a stale value",
                        change.key,
                    )
    return out, uses


def plan_substitution(
    trace_goal_slots: Mapping[str, Any], new_slots: Mapping[str, Any], calls: list[ToolCall]
) -> "Substitution | Refusal":
    """A safe substitution of the slot values that differ, or why there is none.

    ``trace_goal_slots`` are the trace's recorded slots; ``new_slots`` the new goal's slots,
    all of them or only the changed ones (the matcher's ``slot_bindings``): a key absent from
    ``new_slots`` keeps its value. ``calls`` are the trace's calls as stored (``{{cwd}}``).
    """
    if not isinstance(trace_goal_slots, Mapping) or not isinstance(new_slots, Mapping):
        return Refusal("slots must be mappings of slot name to value")
    raw: list[SlotChange] = []
    for key, new in new_slots.items():
        if key not in trace_goal_slots:
            return Refusal(
                f"the goal has a slot {key}={new!r} that the trace's goal does not have", key
            )
        old = trace_goal_slots[key]
        if not isinstance(new, str) or not isinstance(old, str):
            return Refusal(f"slot {key}: values must be strings", key)
        if new == old:
            continue
        kind = slot_kind(key)
        if kind not in SUBSTITUTABLE_KINDS:
            return Refusal(
                f"slot {key} ({old!r} -> {new!r}): {kind} slots are never substituted "
                f"(a different {kind.replace('_', ' ')} is a different task)",
                key,
            )
        for which, value in (("old", old), ("new", new)):
            problem = _check_value(kind, value, which=which)
            if problem:
                return Refusal(f"slot {key}: {problem}", key)
        if kind in ("file", "path") and _ext(old) != _ext(new):
            return Refusal(
                f"slot {key}: {old!r} -> {new!r} changes the file type (.{_ext(old) or '?'} -> "
                f".{_ext(new) or '?'}): the recorded content may not fit",
                key,
            )
        if kind == "number" and old in ("0", "1"):
            return Refusal(
                f"slot {key}: the number {old} is too common to be located safely in the calls", key
            )
        if kind == "number" and ("." in old) != ("." in new):
            return Refusal(
                f"slot {key}: {old!r} -> {new!r} changes an integer into a decimal or back", key
            )
        raw.append(SlotChange(key, kind, old, new))
    if not raw:
        return Substitution([], list(calls), list(calls))
    # Slot values that contain one another cannot be located unambiguously.
    values = {k: str(v) for k, v in trace_goal_slots.items() if isinstance(v, str)}
    for change in raw:
        for key, value in values.items():
            if key != change.key and value and (change.old in value or value in change.old):
                return Refusal(
                    f"slot {change.key} ({change.old!r}) overlaps slot {key} ({value!r})",
                    change.key,
                )
    result = _substitute(calls, raw)
    if isinstance(result, Refusal):
        return result
    new_calls, uses = result
    changes = [SlotChange(c.key, c.kind, c.old, c.new, n) for c, n in zip(raw, uses, strict=True)]
    for change in changes:
        if change.uses == 0:
            return Refusal(
                f"slot {change.key} changes ({change.old!r} -> {change.new!r}) but the recorded calls never "
                f"use {change.old!r}: the trace does not fit this goal",
                change.key,
            )
        if change.kind == "number" and len(change.old) == 1 and change.uses > 1:
            return Refusal(
                f"slot {change.key}: the one-digit number {change.old} appears {change.uses} times; "
                f"cannot tell which ones are the slot",
                change.key,
            )
    return Substitution(changes, new_calls, list(calls))


def _value_kind(value: str) -> str:
    """The slot kind a literal value has (file, path, number, else quoted text)."""
    from ...learning.slots import is_file_name

    if _PLAIN_NUMBER.fullmatch(value):
        return "number"
    if "/" in value:
        return "path"
    if is_file_name(value):
        return "file"
    return "quoted"


def plan_values(pairs: Mapping[str, str], calls: list[ToolCall]) -> "Substitution | Refusal":
    """A safe substitution of literal values ``{old: new}`` (an approved alias's values, a
    VERIFIED answer): each pair is given the slot kind of its old value (a number, a path, a
    file name, else quoted text) and goes through every check of :func:`plan_substitution`."""
    if not isinstance(pairs, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in pairs.items()
    ):
        return Refusal("substitutions must be a mapping of old value to new value")
    old_slots: dict[str, str] = {}
    new_slots: dict[str, str] = {}
    counts: dict[str, int] = {}
    for old, new in pairs.items():
        if old == new:
            continue
        kind = _value_kind(old)
        counts[kind] = counts.get(kind, 0) + 1
        key = kind if counts[kind] == 1 else f"{kind}{counts[kind]}"
        old_slots[key], new_slots[key] = old, new
    return plan_substitution(old_slots, new_slots, calls)


# ---- the replay -----------------------------------------------------------------------------

_SYSTEM_READ_PREFIXES = (
    "/usr/",
    "/bin/",
    "/sbin/",
    "/lib/",
    "/lib32/",
    "/lib64/",
    "/opt/",
    "/etc/",
)
_SAFE_DEVICES = frozenset(
    {
        "/dev/null",
        "/dev/stdin",
        "/dev/stdout",
        "/dev/stderr",
        "/dev/zero",
        "/dev/urandom",
        "/dev/random",
        "/dev/tty",
        "/usr",
        "/bin",
        "/sbin",
        "/lib",
        "/lib64",
        "/etc",
    }
)


def command_path_problem(command: str, cwd: Path) -> str | None:
    """Why a shell command reaches outside ``cwd`` by name: an absolute path elsewhere (system
    program folders and harmless devices excepted), ``~`` / ``$HOME``, or ``..`` leaving cwd."""
    import shlex  # shell commands only: not imported by every replay

    try:
        lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        lexer.commenters = ""
        words = list(lexer)
    except ValueError as exc:
        return f"the command cannot be parsed ({exc})"
    for word in words:
        candidates = [word]
        if "=" in word:
            candidates.append(word.split("=", 1)[1])
        for text in candidates:
            if not text:
                continue
            if text.startswith("~") or "$HOME" in text or "${HOME}" in text:
                return f"the command names the home directory ({word!r})"
            if text.startswith("/"):
                real = os.path.realpath(text)
                if inside(Path(real), cwd):
                    continue
                if (
                    text in _SAFE_DEVICES
                    or real in _SAFE_DEVICES
                    or text.startswith(_SYSTEM_READ_PREFIXES)
                    or real.startswith(_SYSTEM_READ_PREFIXES)
                ):
                    continue  # programs and harmless devices; the policy and the sandbox guard the rest
                return f"the command names {text!r}, outside the working directory"
            elif ".." in text.split("/"):
                resolved = Path(os.path.realpath(cwd / text))
                if not inside(resolved, cwd):
                    return f"the command's path {text!r} leaves the working directory"
    return None


def _preflight(
    calls: list[ToolCall], cwd: Path, executor: ToolExecutor
) -> tuple[int, str] | tuple[int, str, HookVerdict] | list[HookVerdict]:
    """(step, reason) of the first call that must not run, checking every call; else the
    pre-hooks' verdict (allow) for each call."""
    for i, call in enumerate(calls):
        problem = _call_problem(call, cwd)
        if problem:
            return i, f"step {i + 1} ({call.name}): {problem}"
    # Policy for every call, before any call runs.
    decisions: list[HookVerdict] = []
    for i, call in enumerate(calls):
        verdict = executor.decide(call.name, call.input, _tool_use_id(call, i))
        if verdict.decision != "allow":
            return (
                i,
                f"step {i + 1} ({call.name}): not allowed by the policy: {verdict.reason}"
                + (f" [{verdict.rule}]" if verdict.rule else ""),
                verdict,
            )
        decisions.append(verdict)
    return decisions


def _call_problem(call: ToolCall, cwd: Path) -> str | None:
    """Why a recorded call must not be replayed in *cwd* (None when it may, policy aside): no
    executor, malformed or redacted input, blocked when recorded, or a path outside *cwd*."""
    if call.name not in SUPPORTED_TOOLS:
        return (
            f"no executor for tool {call.name!r} (supported: {', '.join(SUPPORTED_TOOLS)}); "
            f"this trace cannot be replayed"
        )
    if not isinstance(call.input, dict):
        return "input is not an object"
    problem = check_input(call.name, call.input)
    if problem:
        return f"malformed input: {problem}"
    encoded = json.dumps(call.input)
    if CWD_TOKEN in encoded:
        return f"input still contains {CWD_TOKEN} after re-rooting"
    if REDACTION_MARK in encoded:
        return (
            f"a secret in its input was redacted when the trace was stored "
            f"({REDACTION_MARK}...]); this trace cannot be replayed"
        )
    result = call.result if isinstance(call.result, dict) else {}
    if result.get("decision") == "deny":
        return "this call was blocked by the policy when it was recorded"
    return _outside_problem(call, cwd) or _recorded_files_problem(result, cwd)


def _outside_problem(call: ToolCall, cwd: Path) -> str | None:
    """A path field, a Glob pattern or a command's paths that reach outside *cwd*."""
    for key in PATH_FIELDS.get(call.name, ()):
        value = call.input.get(key)
        if isinstance(value, str) and value.strip():
            real = resolve_path(value, cwd)
            if not inside(real, cwd):
                return f"{key} {value!r} resolves to {real}, outside the working directory {cwd}"
    if call.name == "Glob":
        pattern = call.input["pattern"]
        if ".." in pattern.split("/"):
            return f"the pattern {pattern!r} leaves the working directory"
        if pattern.startswith("/"):
            fixed = pattern.split("*", 1)[0].rsplit("/", 1)[0] or "/"
            if not inside(Path(os.path.realpath(fixed)), cwd):
                return f"the pattern {pattern!r} is outside the working directory"
    if call.name == "Bash":
        problem: str | None = command_path_problem(call.input["command"], cwd)
        return problem or None
    return None


def _recorded_files_problem(result: dict[str, Any], cwd: Path) -> str | None:
    files = result.get("files_created") or []
    if not isinstance(files, list):
        return "recorded files_created is not a list"
    for rel in files:
        if not isinstance(rel, str) or not inside(resolve_path(rel, cwd), cwd):
            return f"recorded file {rel!r} is outside the working directory"
    return None


_FILE_TOOLS = frozenset({"Write", "Edit", "MultiEdit", "NotebookEdit", "Read"})


def _verdict_still_valid(
    call: ToolCall, cwd: Path, written: set[Path], shell_ran: bool, path_scoped: bool = False
) -> bool:
    """May the pre-flight verdict of ``call`` be used when it runs?

    Before a call runs, the replay has changed the filesystem only through its own earlier
    steps: a file tool writes the one regular file it names and may create real folders above
    it (counted as written too); a shell command may do anything (symlinks included). So:

    * after a shell command, every call is asked again;
    * when nothing was written yet, every verdict holds;
    * with hooks of unknown rules, a Read/Write/Edit/MultiEdit/NotebookEdit keeps its verdict
      when no earlier step wrote a path it names; anything else is asked again;
    * with path-scoped hooks (the policy engine: answers depend only on where the named paths
      resolve and whether they exist — ``HookRegistry.add_pre``): file writes never change
      where a path resolves, so every file tool keeps its verdict except a Write to a path an
      earlier step wrote (overwriting is judged apart from creating); a shell command, whose
      check expands globs over what exists, is asked again."""
    if shell_ran:
        return False
    if not written:
        return True
    if path_scoped:
        if call.name == "Bash":
            return False
        if call.name != "Write":
            return True
    elif call.name not in _FILE_TOOLS:
        return False  # Bash, Glob, Grep, LS: their answer may depend on any file that now exists
    return not any(path in written for _key, path in input_paths(call.name, call.input, cwd))


def _tool_use_id(call: ToolCall, index: int) -> str:
    return f"replay_{index + 1}_{call.tool_use_id}" if call.tool_use_id else f"replay_{index + 1}"


def compare(recorded: ToolCall, outcome: ExecOutcome, cwd: Path) -> str | None:
    """Why ``outcome`` does not match the recorded result (None when it does)."""
    result = recorded.result if isinstance(recorded.result, dict) else {}
    if outcome.refused:
        return outcome.summary
    was_error = bool(result.get("is_error", False))
    if was_error != outcome.is_error:
        if was_error:
            return f"recorded as failed ({result.get('summary', '')!s:.120}) but now succeeded"
        return f"recorded as succeeded but now failed: {outcome.summary}"
    code = result.get("exit_code")
    if code is None and recorded.name == "Bash":
        # Claude Code reports a failed command as an error whose text starts "Exit code N".
        m = _EXIT_CODE.match(str(result.get("summary") or ""))
        code = int(m.group(1)) if m else None
    if (
        isinstance(code, int)
        and not isinstance(code, bool)
        and outcome.exit_code is not None
        and code != outcome.exit_code
    ):
        return f"exit status {outcome.exit_code}, recorded {code}"
    expected = [f for f in (result.get("files_created") or []) if isinstance(f, str)]
    if (
        recorded.name == "Write"
        and str(result.get("summary") or "").startswith("create ")
        and isinstance(recorded.input.get("file_path"), str)
    ):
        expected.append(recorded.input["file_path"])  # a Write recorded as creating its file
    for rel in expected:
        if not os.path.exists(os.path.join(cwd, rel)):  # follows links, as resolving first would
            return f"the recorded call created {rel}, which does not exist after the replayed call"
    return None


def _calls_to_replay(
    calls: list[ToolCall], root: Path, bindings: Substitution | None
) -> list[ToolCall] | str:
    """The calls to replay, the goal's values substituted and re-rooted into *root*; or why
    there are none (no calls, not tool calls, a refused substitution, bad paths)."""
    if not calls:
        return "the trace has no tool calls to replay"
    if not all(isinstance(c, ToolCall) for c in calls):
        return "the trace's calls are not tool calls"
    # A call rejected before it ran (invalid input, unknown tool) had no effect: nothing to replay.
    calls = [
        c
        for c in calls
        if not (isinstance(c.result, dict) and c.result.get("decision") == REJECTED)
    ]
    if not calls:
        return "the trace has no tool calls to replay"
    if isinstance(bindings, Refusal):
        return f"parameter substitution refused: {bindings.reason}"
    if bindings is not None:
        applied = bindings.apply(list(calls))
        if isinstance(applied, Refusal):
            return f"parameter substitution refused: {applied.reason}"
        calls = applied
    try:
        rooted: list[ToolCall] = reroot(calls, root)
    except (TypeError, ValueError, AttributeError) as exc:
        return f"the trace's calls cannot be re-rooted: {exc}"
    return rooted


def _refused_before_running(
    rooted: list[ToolCall], checked: tuple[int, str] | tuple[int, str, HookVerdict]
) -> ReplayResult:
    """The preflight refused step *index*: nothing ran. A call the policy (or the user, asked)
    refused is recorded as refused, with its rule; the other refusals (unsupported, malformed,
    outside the folder) leave the step unrun."""
    index, reason = checked[0], checked[1]
    call = rooted[index]
    refusal = (
        make_refusal(STATUS_DENIED, checked[2].reason or "denied", rule=checked[2].rule)
        if len(checked) > 2
        else None
    )
    step = StepResult(
        index,
        call.name,
        call.input if isinstance(call.input, dict) else {},
        refusal,
        False,
        reason,
        _tool_use_id(call, index),
    )
    return ReplayResult(False, steps=[step], stopped_at=index, reason=reason, refused=True)


def _note_written(call: ToolCall, root: Path, written: set[Path], path_scoped: bool) -> None:
    """Add the paths a file tool wrote to *written* (the verdicts that depend on them are asked
    again, see ``_verdict_still_valid``)."""
    if call.name not in WRITE_TOOLS:
        return
    if path_scoped and call.name != "Write" and written:
        return  # path-scoped rules: only Write targets and "anything written" matter (see above)
    for _key, path in input_paths(call.name, call.input, root):
        written.add(path)
        if not path_scoped:  # unknown rules may care about the folders it may create
            written.update(p for p in path.parents if inside(p, root))


def replay(
    calls: list[ToolCall],
    cwd: str | os.PathLike[str],
    executor: ToolExecutor,
    *,
    bindings: Substitution | None = None,
    on_event: EventSink | None = None,
    cancel: CancelToken | None = None,
) -> ReplayResult:
    """Replay ``calls`` (as stored, with ``{{cwd}}``) in ``cwd``; see the module docstring."""
    emit = on_event or (lambda _e: None)
    root = Path(os.path.realpath(os.path.abspath(os.fspath(cwd))))
    if executor.cwd != root:
        return ReplayResult(
            False, reason=f"the executor runs in {executor.cwd}, not in {root}", refused=True
        )
    rooted = _calls_to_replay(calls, root, bindings)
    if isinstance(rooted, str):
        return ReplayResult(False, reason=rooted, refused=True)
    checked = _preflight(rooted, root, executor)
    if isinstance(checked, tuple):
        return _refused_before_running(rooted, checked)

    restore = executor.on_notice
    if restore is None:
        executor.on_notice = lambda level, text: emit(Notice(level, text))
    out = ReplayResult(True)
    created: list[str] = []
    written: set[Path] = set()
    shell_ran = False
    path_scoped = bool(getattr(getattr(executor, "hooks", None), "path_scoped", False))
    try:
        for i, call in enumerate(rooted):
            if cancel is not None and cancel.cancelled:
                out.success, out.cancelled, out.stopped_at = False, True, i
                out.reason = f"cancelled before step {i + 1}"
                break
            tid = _tool_use_id(call, i)
            reuse = _verdict_still_valid(call, root, written, shell_ran, path_scoped)
            # Decide (and confirm, when the policy asks) before the call is shown: a call awaiting the
            # user's answer is never shown as allowed.
            verdict = checked[i] if reuse else executor.decide(call.name, call.input, tid)
            emit(
                ToolCallStarted(
                    tid, call.name, dict(call.input), verdict.decision, verdict.reason or "allowed"
                )
            )
            outcome = executor.execute(call.name, call.input, tid, verdict=verdict)
            if call.name == "Bash":
                shell_ran = True
            else:
                _note_written(call, root, written, path_scoped)
            emit(
                ToolCallFinished(
                    tid,
                    call.name,
                    outcome.is_error,
                    outcome.summary,
                    diff=getattr(outcome, "diff", "") or "",
                )
            )
            for created_path in outcome.files_created:
                rel = os.path.relpath(created_path, root)
                if rel not in created:
                    created.append(rel)
            problem = compare(call, outcome, root)
            out.steps.append(
                StepResult(i, call.name, call.input, outcome, problem is None, problem or "", tid)
            )
            if problem is not None:
                out.success, out.stopped_at = False, i
                out.reason = f"step {i + 1} ({call.name}) does not match the recording: {problem}"
                break
    finally:
        executor.on_notice = restore
    out.files_created = created
    if out.success:
        out.reason = f"replayed {len(rooted)} call{'s' if len(rooted) != 1 else ''}, all matched the recording"
    return out
