"""Traces: the record of one solved goal, stored as one frontmatter markdown file.

The file format (ARCHITECTURE.md, "Files on disk")::

    ---
    id: t_3f9c1a7e3b5d
    goal: Create a Python calculator
    ...
    ---
    # Create a Python calculator
    ## Summary
    <free markdown>
    ## Tool calls
    ```json
    [{"name": "Write", "input": {...}, "result": {"is_error": false, "summary": "created"}}]
    ```

``dump_trace`` writes it with our own small YAML emitter (flow style, deterministic, fast)
so that ``parse_trace(dump_trace(t)) == t`` and ``dump_trace(parse_trace(text)) == text``
for every text we wrote. ``parse_trace`` reads any YAML (files may be edited by hand) and
raises ``TraceFormatError`` naming the problem; it never lets a YAML or JSON exception out.
The frontmatter is read with ``yamlio.safe_load``: YAML anchors and aliases are refused (a
"billion laughs" header fails in well under a millisecond), and so is a header over 1 MiB or a
file over ``MAX_TRACE_BYTES``.

Paths in tool calls are stored relative to the run's working directory as ``{{cwd}}``
(``relativize``), and put back for a replay in another directory (``reroot``).
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import re
import unicodedata
from typing import Any, Iterable

from .. import records
from ..records import field, record
from ..clock import iso_utc
from ..errors import LLMOSError, UsageError
from ..redact import LazyRegex  # module patterns: compiled on first use
from ..runs import TRACE_MODES, Mode

CWD_TOKEN = "{{cwd}}"
MODES = TRACE_MODES
OUTCOMES = ("success", "failure")
_MODES_TEXT = ", ".join(MODES)
# Frontmatter keys in the order they are written.
FIELD_ORDER = (
    "id",
    "goal",
    "aliases",
    "signature",
    "created_at",
    "last_used",
    "mode",
    "usage_count",
    "success_count",
    "failure_count",
    "cost_usd",
    "tokens",
    "tools_used",
    "slots",
    "agent",
    "model",
    "crystallized_tool",
    "emotion",
    "project",
    "parent_trace",
    "outcome",
    "error",
    "context",
)
_KNOWN_FIELDS = frozenset(FIELD_ORDER)
REQUIRED_FIELDS = (
    "id",
    "goal",
    "signature",
    "created_at",
    "mode",
    "usage_count",
    "success_count",
    "failure_count",
)
_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_TS_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.(?!0{6})\d{6})?Z")
_TIMESTAMP_FIELDS = ("created_at", "last_used")


class TraceFormatError(LLMOSError):
    """A trace file (or a Trace object) does not follow the format; says why and where."""

    def __init__(self, reason: str, *, source: str = "") -> None:
        super().__init__(f"{source}: {reason}" if source else reason)
        self.reason = reason
        self.source = source


class TraceNotFound(LLMOSError):
    """No trace with this id in the workspace (exit code 1)."""


# ---- records ---------------------------------------------------------------------------


@record
class ToolCall:
    """One recorded tool call: its name, input and result."""

    name: str
    input: dict[str, Any] = field(default_factory=dict)
    # keys: is_error (bool), summary (str), optional exit_code (int | None),
    # files_created (list of paths relative to the run's cwd)
    result: dict[str, Any] = field(default_factory=lambda: {"is_error": False, "summary": ""})
    tool_use_id: str = ""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "input": self.input, "result": self.result}
        if self.tool_use_id:
            out["tool_use_id"] = self.tool_use_id
        return out

    @property
    def is_error(self) -> bool:
        return bool(self.result.get("is_error", False))


@record
class Trace:
    """A recorded run: the goal, its tool calls, and the counters and metadata of the file."""

    id: str
    goal: str
    signature: str
    created_at: str
    last_used: str | None = None
    mode: str = Mode.LEARNER.value
    usage_count: int = 0
    success_count: int = 0
    failure_count: int = 0
    cost_usd: float = 0.0
    tokens: dict[str, int] = field(default_factory=lambda: {"input": 0, "output": 0})
    tools_used: list[str] = field(default_factory=list)
    slots: dict[str, Any] = field(default_factory=dict)
    agent: str | None = None
    model: str | None = None
    crystallized_tool: str | None = None
    emotion: dict[str, Any] = field(default_factory=dict)
    project: str | None = None
    parent_trace: str | None = None
    outcome: str = "success"
    error: str | None = None
    summary: str = ""
    calls: list[ToolCall] = field(default_factory=list)
    #: Other phrasings of this goal that a user (or VERIFIED) approved for a replay of this
    #: trace: each a phrase, or ``{phrase: ..., substitutions: {old: new}}`` when that replay
    #: put other values into the calls. Written only when there is one.
    aliases: list[Any] = field(default_factory=list)
    #: A trace recorded from a chat follow-up that leaned on earlier turns:
    #: ``{conversation: id, depends_on: [files or earlier goals], replayable: false}``. Such a
    #: trace is never replayed, crystallized or shown as an example on its own words (its goal
    #: says "it", the calls name what "it" was). Written only when there is one.
    context: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # A Mode is a StrEnum: stored, indexed (interned) and written as the plain string.
        self.mode = str(self.mode)

    @property
    def needs_context(self) -> bool:
        return bool(self.context) and self.context.get("replayable") is False

    @property
    def success_rate(self) -> float:
        done = self.success_count + self.failure_count
        return self.success_count / done if done else 0.0

    def frontmatter(self) -> dict[str, Any]:
        return {
            name: getattr(self, name)
            for name in FIELD_ORDER
            if (name != "aliases" or self.aliases) and (name != "context" or self.context)
        }

    def alias_phrases(self) -> list[str]:
        return [alias_phrase(a) for a in self.aliases]


#: Tools whose recorded input is a shell command (see :func:`shell_slots`).
SHELL_TOOLS = frozenset({"Bash"})


def shell_slots(slots: Any, calls: Any, aliases: Any = ()) -> list[str]:
    """Keys of the slots whose recorded value occurs inside a shell command of *calls* and
    that no approved replay of the trace has substituted yet (an alias with substitutions, see
    ``traces.make_alias``). A new value there needs one confirmation before a zero-model
    replay: whether ``grep -r "foo" .`` takes ``foo`` as data is the program's grammar, not
    ours. Kept in the index (``IndexEntry.shell_slots``) so the decision needs no file read."""
    if not isinstance(slots, dict):
        return []
    commands = [
        str((getattr(c, "input", None) or {}).get("command", ""))
        for c in calls or ()
        if getattr(c, "name", "") in SHELL_TOOLS
    ]
    if not commands:
        return []
    confirmed: set[str] = set()
    for alias in aliases or ():
        if isinstance(alias, dict):
            confirmed.update(str(k) for k in (alias.get("substitutions") or {}))
    return sorted(
        key
        for key, value in slots.items()
        if isinstance(value, str)
        and value
        and value not in confirmed
        and any(value in command for command in commands)
    )


MAX_ALIASES = 50
MAX_ALIAS_CHARS = 500


def alias_phrase(alias: Any) -> str:
    """The phrase of one ``aliases`` item (a string, or a mapping with ``phrase``)."""
    return alias["phrase"] if isinstance(alias, dict) else alias


def alias_substitutions(alias: Any) -> dict[str, str]:
    """The ``{old: new}`` values a replay under this alias puts into the calls ({} for none)."""
    return dict(alias.get("substitutions") or {}) if isinstance(alias, dict) else {}


def make_alias(phrase: str, substitutions: dict[str, str] | None = None) -> Any:
    """The ``aliases`` item for *phrase* (a plain string unless there are substitutions)."""
    phrase = " ".join(str(phrase).split())
    subs = {str(k): str(v) for k, v in (substitutions or {}).items() if str(k) != str(v)}
    return {"phrase": phrase, "substitutions": subs} if subs else phrase


# ---- ids, goals, time ------------------------------------------------------------------


def new_trace_id() -> str:
    return "t_" + os.urandom(6).hex()


def normalize_goal(goal: str) -> str:
    """Lowercase, NFKC, collapse whitespace, strip punctuation and spaces at both ends."""
    text = unicodedata.normalize("NFKC", goal).lower()
    text = " ".join(text.split())
    start, end = 0, len(text)
    while start < end and (
        text[start].isspace() or unicodedata.category(text[start]).startswith("P")
    ):
        start += 1
    while end > start and (
        text[end - 1].isspace() or unicodedata.category(text[end - 1]).startswith("P")
    ):
        end -= 1
    return text[start:end]


def goal_signature(goal: str) -> str:
    from ..digest import sha256

    return sha256(normalize_goal(goal).encode("utf-8")).hexdigest()[:16]


now_iso = iso_utc  # UTC in the trace format (``2026-11-21T10:00:00Z``): ``clock.iso_utc``


def _format_dt(value: _dt.datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=_dt.timezone.utc)
    value = value.astimezone(_dt.timezone.utc)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond:06d}"
    return text + "Z"


def tools_in(calls: Iterable[ToolCall]) -> list[str]:
    """Tool names in first-use order, without repeats."""
    seen: dict[str, None] = {}
    for call in calls:
        seen.setdefault(call.name, None)
    return list(seen)


def make_trace(
    goal: str,
    calls: list[ToolCall],
    *,
    mode: str = Mode.LEARNER.value,
    outcome: str = "success",
    error: str | None = None,
    summary: str = "",
    cost_usd: float = 0.0,
    tokens: dict[str, int] | None = None,
    slots: dict[str, Any] | None = None,
    agent: str | None = None,
    model: str | None = None,
    emotion: dict[str, Any] | None = None,
    project: str | None = None,
    parent_trace: str | None = None,
    when: _dt.datetime | float | None = None,
    trace_id: str | None = None,
) -> Trace:
    """A new trace for a run that just finished: one use, counted as its outcome."""
    if not normalize_goal(goal):
        raise UsageError("the goal is empty (only whitespace or punctuation)")
    stamp = now_iso(when)
    ok = outcome == "success"
    trace = Trace(
        id=trace_id or new_trace_id(),
        goal=goal,
        signature=goal_signature(goal),
        created_at=stamp,
        last_used=stamp,
        mode=mode,
        usage_count=1,
        success_count=1 if ok else 0,
        failure_count=0 if ok else 1,
        cost_usd=round(float(cost_usd), 6),  # money to the micro-dollar, never 0.13024200000000002
        tokens=dict(tokens or {"input": 0, "output": 0}),
        tools_used=tools_in(calls),
        slots=dict(slots or {}),
        agent=agent,
        model=model,
        emotion=dict(emotion or {}),
        project=project,
        parent_trace=parent_trace,
        outcome=outcome,
        error=error,
        summary=summary,
        calls=list(calls),
    )
    validate_trace(trace)
    return trace


def redact_trace(trace: Trace) -> Trace:
    """``trace`` with every secret in its text (goal, summary, error, slots, emotion, the calls'
    inputs and results) replaced by ``[REDACTED:<kind>]`` (``llmos_tui/redact.py``): a copy, or
    ``trace`` itself when there is nothing to redact. Stores call it before writing a trace."""
    from ..redact import redact_obj

    fields = [
        trace.goal,
        trace.summary,
        trace.error,
        trace.slots,
        trace.emotion,
        [[call.input, call.result] for call in trace.calls],
    ]
    clean = redact_obj(fields)
    if clean is fields:
        return trace
    goal, summary, error, slots, emotion, calls = clean
    return records.replace(
        trace,
        goal=goal,
        summary=summary,
        error=error,
        slots=slots,
        emotion=emotion,
        calls=[
            ToolCall(name=call.name, input=inp, result=res, tool_use_id=call.tool_use_id)
            for call, (inp, res) in zip(trace.calls, calls, strict=True)
        ],
    )


# ---- validation ------------------------------------------------------------------------


def _jsonable(value: Any, where: str, source: str) -> Any:
    """Check (and normalise dates in) a YAML/JSON value; reject anything JSON cannot hold."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TraceFormatError(
                f"{where}: expected a finite number, got {value!r}", source=source
            )
        return value
    if isinstance(value, _dt.datetime):
        return _format_dt(value)
    if isinstance(value, _dt.date):
        return value.isoformat()
    if isinstance(value, list):
        return [_jsonable(v, f"{where}[{i}]", source) for i, v in enumerate(value)]
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TraceFormatError(f"{where}: keys must be strings, got {key!r}", source=source)
            out[key] = _jsonable(item, f"{where}.{key}", source)
        return out
    raise TraceFormatError(f"{where}: unsupported value {value!r}", source=source)


def _expect(cond: bool, message: str, source: str, *args: Any) -> None:
    """Raise TraceFormatError(message) unless *cond*. With *args*, *message* is a ``str.format``
    template filled only on failure: a valid trace costs no ``repr`` of its values."""
    if not cond:
        raise TraceFormatError(message.format(*args) if args else message, source=source)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_result(result: dict[str, Any], number: int, source: str) -> None:
    """The checks of tool call *number*'s result (messages say ``tool call N: result...``)."""
    if "is_error" in result:
        _expect(
            isinstance(result["is_error"], bool),
            "tool call {}: result.is_error must be true or false",
            source,
            number,
        )
    if "summary" in result:
        _expect(
            isinstance(result["summary"], str),
            "tool call {}: result.summary must be a string",
            source,
            number,
        )
    if result.get("exit_code") is not None:
        _expect(
            _is_int(result["exit_code"]),
            "tool call {}: result.exit_code must be an integer or null",
            source,
            number,
        )
    if "files_created" in result:
        files = result["files_created"]
        _expect(
            isinstance(files, list) and all(isinstance(f, str) for f in files),
            "tool call {}: result.files_created must be a list of paths",
            source,
            number,
        )


def validate_trace(trace: Trace, source: str = "") -> None:
    """Raise TraceFormatError if the trace cannot be written or read back as it is."""
    _expect(
        isinstance(trace.id, str) and bool(_ID_RE.fullmatch(trace.id)),
        "id: {!r} is not a valid trace id (letters, digits, '_', '.', '-')",
        source,
        trace.id,
    )
    _expect(
        isinstance(trace.goal, str) and bool(trace.goal.strip()),
        "goal: must be a non-empty string",
        source,
    )
    _expect(
        isinstance(trace.signature, str) and bool(trace.signature),
        "signature: must be a non-empty string",
        source,
    )
    _expect(
        isinstance(trace.created_at, str) and bool(trace.created_at),
        "created_at: must be a timestamp",
        source,
    )
    _expect(
        trace.last_used is None or isinstance(trace.last_used, str),
        "last_used: must be a timestamp or null",
        source,
    )
    _expect(trace.mode in MODES, "mode: {!r} is not one of {}", source, trace.mode, _MODES_TEXT)
    for name in ("usage_count", "success_count", "failure_count"):
        value = getattr(trace, name)
        _expect(
            _is_int(value) and value >= 0,
            "{}: expected a non-negative integer, got {!r}",
            source,
            name,
            value,
        )
    _expect(
        isinstance(trace.cost_usd, (int, float))
        and not isinstance(trace.cost_usd, bool)
        and math.isfinite(trace.cost_usd)
        and trace.cost_usd >= 0,
        "cost_usd: expected a non-negative number, got {!r}",
        source,
        trace.cost_usd,
    )
    _expect(
        isinstance(trace.tokens, dict)
        and all(isinstance(k, str) and _is_int(v) and v >= 0 for k, v in trace.tokens.items()),
        "tokens: expected {{input: N, output: N}}, got {!r}",
        source,
        trace.tokens,
    )
    _expect(
        isinstance(trace.tools_used, list) and all(isinstance(t, str) for t in trace.tools_used),
        "tools_used: expected a list of tool names",
        source,
    )
    _expect(isinstance(trace.slots, dict), "slots: expected a mapping", source)
    _expect(isinstance(trace.emotion, dict), "emotion: expected a mapping", source)
    for name in ("agent", "model", "crystallized_tool", "project", "parent_trace", "error"):
        value = getattr(trace, name)
        _expect(
            value is None or isinstance(value, str),
            "{}: expected a string or null, got {!r}",
            source,
            name,
            value,
        )
    _expect(
        trace.outcome in OUTCOMES, "outcome: {!r} is not success or failure", source, trace.outcome
    )
    _expect(isinstance(trace.context, dict), "context: expected a mapping", source)
    _expect(
        not trace.context or isinstance(trace.context.get("replayable"), bool),
        "context: expected replayable: true or false",
        source,
    )
    _expect(isinstance(trace.aliases, list), "aliases: expected a list of phrases", source)
    _expect(len(trace.aliases) <= MAX_ALIASES, f"aliases: at most {MAX_ALIASES} phrases", source)
    seen: set[str] = set()
    for i, alias in enumerate(trace.aliases):
        where = f"aliases[{i}]"
        if isinstance(alias, dict):
            _expect(
                set(alias) == {"phrase", "substitutions"},
                f"{where}: expected a phrase or {{phrase: ..., substitutions: {{old: new}}}}",
                source,
            )
            subs = alias["substitutions"]
            _expect(
                isinstance(subs, dict)
                and bool(subs)
                and all(
                    isinstance(k, str) and isinstance(v, str) and k and k != v
                    for k, v in subs.items()
                ),
                f"{where}.substitutions: expected a non-empty mapping of old value to a different new value",
                source,
            )
        phrase = alias_phrase(alias)
        _expect(
            isinstance(phrase, str)
            and bool(normalize_goal(phrase))
            and "\n" not in phrase
            and len(phrase) <= MAX_ALIAS_CHARS,
            f"{where}: expected a one-line phrase of at most {MAX_ALIAS_CHARS} characters",
            source,
        )
        key = normalize_goal(phrase)
        _expect(key not in seen, "{}: {!r} is listed twice", source, where, phrase)
        seen.add(key)
    _expect(isinstance(trace.summary, str), "summary: expected text", source)
    _expect(isinstance(trace.calls, list), "calls: expected a list", source)
    for number, call in enumerate(trace.calls, 1):
        _expect(isinstance(call, ToolCall), "tool call {}: expected a ToolCall", source, number)
        _expect(
            isinstance(call.name, str) and bool(call.name),
            "tool call {}: name must be a non-empty string",
            source,
            number,
        )
        _expect(
            isinstance(call.input, dict), "tool call {}: input must be an object", source, number
        )
        _expect(
            isinstance(call.result, dict), "tool call {}: result must be an object", source, number
        )
        _expect(
            isinstance(call.tool_use_id, str),
            "tool call {}: tool_use_id must be a string",
            source,
            number,
        )
        _check_result(call.result, number, source)


# ---- YAML emitter: edgekit.frontmatter's (flow style, deterministic, no PyYAML) -----------

_SURROGATE = re.compile("[\ud800-\udfff]")


def _emit(value: Any, flow: bool = False) -> str:
    from edgekit.frontmatter import FrontmatterError, emit

    try:
        return emit(value, flow)
    except FrontmatterError as exc:
        raise TraceFormatError(str(exc)) from None


def _valid_ts(text: str) -> bool:
    if not _TS_RE.fullmatch(text):
        return False
    try:  # a real date and time (the same check as strptime, without importing _strptime)
        year, month, day, hour, minute, second = (
            int(text[a:b]) for a, b in ((0, 4), (5, 7), (8, 10), (11, 13), (14, 16), (17, 19))
        )
        _dt.datetime(year, month, day, hour, minute, second)
    except ValueError:
        return False
    return True


def _calls_json(calls: list[ToolCall]) -> str:
    if not calls:
        return "[]"
    lines = [json.dumps(call.to_dict(), ensure_ascii=False) for call in calls]
    text = "[" + ",\n ".join(lines) + "]"
    if _SURROGATE.search(text):  # unpaired surrogates cannot be written as UTF-8: escape them
        text = "[" + ",\n ".join(json.dumps(call.to_dict()) for call in calls) + "]"
    return text


def dump_trace(trace: Trace) -> str:
    """The markdown text of a trace (the format in the module docstring)."""
    validate_trace(trace)
    lines = ["---"]
    for name, value in trace.frontmatter().items():
        if name in _TIMESTAMP_FIELDS and isinstance(value, str) and _valid_ts(value):
            # Readable and canonical: the parser turns it back into exactly this text.
            lines.append(f"{name}: {value}")
        else:
            lines.append(f"{name}: {_emit(value)}")
    lines.append("---")
    title = " ".join(trace.goal.split())
    body = (
        f"# {title}\n## Summary\n{trace.summary}\n## Tool calls\n```json\n"
        f"{_calls_json(trace.calls)}\n```\n"
    )
    return "\n".join(lines) + "\n" + body


# ---- parser ----------------------------------------------------------------------------

# Lines of the body: "## Summary", "## Tool calls" (any case), a ```json fence and its end.
# Each pattern starts with its literal and then checks that it began a line ("(?<![^\n]##)":
# no character but a newline before it), which matches exactly what "^##" with MULTILINE
# does, but lets the engine jump from one "##" to the next instead of trying every position
# (a tenth of the time over a trace's body; the scan of the tool calls was most of
# _parse_calls).
_SUMMARY_RE = LazyRegex(r"##(?<![^\n]##)[ \t]+(?i:summary)[ \t]*$", re.MULTILINE)
_CALLS_RE = LazyRegex(r"##(?<![^\n]##)[ \t]+(?i:tool calls)[ \t]*$", re.MULTILINE)
_FENCE_OPEN_RE = LazyRegex(r"```(?<![^\n]```)[ \t]*(?:json)?[ \t]*$", re.MULTILINE)
_FENCE_CLOSE_RE = LazyRegex(r"```(?<![^\n]```)[ \t]*$", re.MULTILINE)
#: A trace file larger than this is refused unread (the frontmatter alone may hold 1 MiB of YAML,
#: ``yamlio.MAX_YAML_BYTES``; a bundle member holds at most 16 MiB).
MAX_TRACE_BYTES = 32 * 1024 * 1024


def split_frontmatter(text: str, source: str = "") -> tuple[dict[str, Any], str]:
    """(frontmatter mapping, body) of a markdown file; TraceFormatError when broken
    (``edgekit.frontmatter``: no anchors or aliases, at most 1 MiB of YAML). What ``dump_trace``
    writes is read without PyYAML (``trace_header``); anything else goes to the safe loader."""
    from edgekit.frontmatter import FrontmatterError, read, split

    from .trace_header import load_trace_header

    try:
        header, body = split(text)
    except FrontmatterError as exc:
        raise TraceFormatError(str(exc), source=source) from None
    fast = load_trace_header(header)
    if fast is not None:
        return fast, body
    try:
        return read(text)
    except FrontmatterError as exc:
        raise TraceFormatError(str(exc), source=source) from None


def _ts(value: Any, name: str, source: str, *, optional: bool) -> str | None:
    if value is None:
        if optional:
            return None
        raise TraceFormatError(f"{name}: expected a timestamp, got null", source=source)
    if isinstance(value, _dt.datetime):
        return _format_dt(value)
    if isinstance(value, _dt.date):
        return _format_dt(_dt.datetime(value.year, value.month, value.day, tzinfo=_dt.timezone.utc))
    if isinstance(value, str) and value.strip():
        return value
    raise TraceFormatError(f"{name}: expected a timestamp, got {value!r}", source=source)


def _opt_str(data: dict[str, Any], name: str, source: str) -> str | None:
    value = data.get(name)
    if value is None or isinstance(value, str):
        return value
    raise TraceFormatError(f"{name}: expected a string or null, got {value!r}", source=source)


_CALL_KEYS = frozenset({"name", "input", "result", "tool_use_id"})


def _parse_calls(body: str, source: str) -> tuple[str, list[ToolCall]]:
    heads = list(_CALLS_RE.finditer(body))
    if not heads:
        raise TraceFormatError("missing the '## Tool calls' section", source=source)
    head = heads[-1]
    summary_match = _SUMMARY_RE.search(body, 0, head.start())
    if summary_match:
        summary = body[summary_match.end() + 1 : max(summary_match.end() + 1, head.start() - 1)]
    else:
        summary = ""
    rest = body[head.end() :]
    opening = _FENCE_OPEN_RE.search(rest)
    if opening is None or rest[: opening.start()].strip():
        raise TraceFormatError(
            "the '## Tool calls' section must hold a ```json block", source=source
        )
    closings = list(_FENCE_CLOSE_RE.finditer(rest, opening.end()))
    if not closings:
        raise TraceFormatError("the ```json block of tool calls is not closed", source=source)
    closing = closings[-1]
    if rest[closing.end() :].strip():
        raise TraceFormatError("unexpected text after the tool calls block", source=source)
    raw = rest[opening.end() : closing.start()]
    try:
        data = json.loads(raw) if raw.strip() else []
    except ValueError as exc:
        raise TraceFormatError(
            f"the tool calls block is not valid JSON: {exc}", source=source
        ) from None
    except RecursionError:
        raise TraceFormatError("the tool calls block is nested too deeply", source=source) from None
    if not isinstance(data, list):
        raise TraceFormatError("the tool calls block must be a JSON list", source=source)
    calls = []
    for number, item in enumerate(data, 1):
        if not isinstance(item, dict):
            raise TraceFormatError(f"tool call {number}: expected an object", source=source)
        unknown = item.keys() - _CALL_KEYS
        if unknown:
            raise TraceFormatError(
                f"tool call {number}: unknown key(s) {sorted(unknown)}", source=source
            )
        name = item.get("name")
        _expect(
            isinstance(name, str) and bool(name),
            "tool call {}: 'name' must be a non-empty string",
            source,
            number,
        )
        inp = item.get("input", {})
        _expect(isinstance(inp, dict), "tool call {}: 'input' must be an object", source, number)
        result = item.get("result", {})
        _expect(
            isinstance(result, dict), "tool call {}: 'result' must be an object", source, number
        )
        _check_result(result, number, source)
        tool_use_id = item.get("tool_use_id", "")
        _expect(
            isinstance(tool_use_id, str),
            "tool call {}: 'tool_use_id' must be a string",
            source,
            number,
        )
        calls.append(ToolCall(name=str(name), input=inp, result=result, tool_use_id=tool_use_id))
    return summary, calls


def _aliases(value: Any, source: str) -> list[Any]:
    if value is None:
        return []
    _expect(isinstance(value, list), "aliases: expected a list of phrases, got {!r}", source, value)
    out = []
    for i, item in enumerate(value):
        if (
            isinstance(item, dict)
            and isinstance(item.get("substitutions"), dict)
            and not item["substitutions"]
        ):
            item = item.get("phrase")  # an empty mapping is no substitution: the plain form
        out.append(_jsonable(item, f"aliases[{i}]", source))
    return out


def parse_trace(text: str, source: str = "") -> Trace:
    """Read a trace file's text. Raises TraceFormatError with the reason (and ``source``)."""
    if not isinstance(text, str):
        raise TraceFormatError("expected text", source=source)
    if (
        len(text) > MAX_TRACE_BYTES // 4
        and len(text.encode("utf-8", "surrogatepass")) > MAX_TRACE_BYTES
    ):
        raise TraceFormatError(
            f"the file is over the {MAX_TRACE_BYTES}-byte limit for a trace (refused)",
            source=source,
        )
    data, body = split_frontmatter(text, source)
    missing = [name for name in REQUIRED_FIELDS if name not in data]
    if missing:
        raise TraceFormatError(f"missing required field(s): {', '.join(missing)}", source=source)
    unknown = sorted(str(k) for k in data if k not in _KNOWN_FIELDS)
    if unknown:
        raise TraceFormatError(f"unknown field(s): {', '.join(unknown)}", source=source)
    ident = data["id"]
    _expect(isinstance(ident, str), "id: expected a string, got {!r}", source, ident)
    goal = data["goal"]
    _expect(
        isinstance(goal, str) and bool(goal.strip()),
        "goal: expected a non-empty string, got {!r}",
        source,
        goal,
    )
    signature = data["signature"]
    _expect(isinstance(signature, str), "signature: expected a string, got {!r}", source, signature)
    cost = data.get("cost_usd", 0.0)
    _expect(
        (isinstance(cost, (int, float)) and not isinstance(cost, bool)),
        "cost_usd: expected a number, got {!r}",
        source,
        cost,
    )
    tokens = data.get("tokens", {"input": 0, "output": 0})
    _expect(isinstance(tokens, dict), "tokens: expected a mapping, got {!r}", source, tokens)
    tools = data.get("tools_used", [])
    _expect(isinstance(tools, list), "tools_used: expected a list, got {!r}", source, tools)
    slots = data.get("slots", {}) or {}
    emotion = data.get("emotion", {}) or {}
    _expect(isinstance(slots, dict), "slots: expected a mapping, got {!r}", source, slots)
    _expect(isinstance(emotion, dict), "emotion: expected a mapping, got {!r}", source, emotion)
    summary, calls = _parse_calls(body, source)
    trace = Trace(
        id=ident,
        goal=goal,
        signature=signature,
        created_at=_ts(data["created_at"], "created_at", source, optional=False),  # type: ignore[arg-type]
        last_used=_ts(data.get("last_used"), "last_used", source, optional=True),
        mode=data["mode"],
        usage_count=data["usage_count"],
        success_count=data["success_count"],
        failure_count=data["failure_count"],
        cost_usd=float(cost),
        tokens=tokens,
        tools_used=tools,
        slots=_jsonable(slots, "slots", source),
        agent=_opt_str(data, "agent", source),
        model=_opt_str(data, "model", source),
        crystallized_tool=_opt_str(data, "crystallized_tool", source),
        emotion=_jsonable(emotion, "emotion", source),
        project=_opt_str(data, "project", source),
        parent_trace=_opt_str(data, "parent_trace", source),
        outcome=data.get("outcome", "success"),
        error=_opt_str(data, "error", source),
        summary=summary,
        calls=calls,
        aliases=_aliases(data.get("aliases"), source),
        context=_jsonable(data.get("context") or {}, "context", source),
    )
    validate_trace(trace, source)
    return trace


# ---- paths relative to the working directory -------------------------------------------


def _prefixes(cwd: str | os.PathLike[str]) -> list[str]:
    given = os.path.abspath(os.fspath(cwd))
    real = os.path.realpath(given)
    out = {p.rstrip("/") or "/" for p in (given, real)}
    return sorted((p for p in out if p != "/"), key=len, reverse=True)


def _prefix_re(prefixes: list[str]) -> re.Pattern[str] | None:
    if not prefixes:
        return None
    alternatives = "|".join(re.escape(p) for p in prefixes)
    # The prefix must be a whole path: not glued to a longer name on either side.
    return re.compile(rf"(?<![\w.~/-])(?:{alternatives})(?=$|/|[^\w.-])")


def _map_strings(value: Any, fn: Any) -> Any:
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, list):
        return [_map_strings(v, fn) for v in value]
    if isinstance(value, dict):
        return {k: _map_strings(v, fn) for k, v in value.items()}
    return value  # numbers, booleans, null: immutable


def relativize(calls: Iterable[ToolCall], cwd: str | os.PathLike[str]) -> list[ToolCall]:
    """Copies of ``calls`` with every path inside ``cwd`` written as ``{{cwd}}/...``.

    Both the path as given and its real path (symlinks resolved, e.g. /tmp vs /private/tmp)
    are recognised, whole strings and paths embedded in longer strings (shell commands).
    ``result.files_created`` entries become plain relative paths.
    """
    prefixes = _prefixes(cwd)
    pattern = _prefix_re(prefixes)

    def fix(text: str) -> str:
        return pattern.sub(CWD_TOKEN, text) if pattern is not None else text

    out = []
    for call in calls:
        result = _map_strings(call.result, fix)
        files = result.get("files_created")
        if isinstance(files, list):
            rel = []
            for item in files:
                if isinstance(item, str) and item.startswith(CWD_TOKEN + "/"):
                    item = item[len(CWD_TOKEN) + 1 :]
                rel.append(item)
            result["files_created"] = rel
        out.append(
            ToolCall(
                name=call.name,
                input=_map_strings(call.input, fix),
                result=result,
                tool_use_id=call.tool_use_id,
            )
        )
    return out


def reroot(calls: Iterable[ToolCall], cwd: str | os.PathLike[str]) -> list[ToolCall]:
    """Copies of ``calls`` with ``{{cwd}}`` replaced by the real path of ``cwd``."""
    root = os.path.realpath(os.path.abspath(os.fspath(cwd)))

    def fix(text: str) -> str:
        return text.replace(CWD_TOKEN, root) if CWD_TOKEN in text else text

    return [
        ToolCall(
            name=c.name,
            input=_map_strings(c.input, fix),
            result=_map_strings(c.result, fix),
            tool_use_id=c.tool_use_id,
        )
        for c in calls
    ]
