"""Tool Examples: input examples for a tool, learned from its successful calls in traces.

A trace whose success rate is at or above ``learning.tool_example_min_success`` (and whose
recorded outcome is ``success``) lends its successful calls of a tool as examples of how to call
it. Examples are

* taken only from calls that ran and succeeded (not an error, not blocked by the policy);
* deduplicated on a normalized form of the input (keys sorted, whitespace collapsed, case folded);
* path-neutral: traces store paths under the run's working directory as ``{{cwd}}``; an example
  keeps that placeholder, or is re-rooted into a given working directory (``cwd=``);
* bounded: at most ``cap`` per tool, long strings cut to ``max_string`` characters, values that
  look like secrets (API keys, tokens, passwords) replaced by ``<redacted>``;
* ordered best first: traces with the higher success rate and more uses, then first seen.

Where they go: the Messages API takes ``input_examples`` on a tool definition, but the bundled
Claude Code CLI builds the definitions of its own tools itself and passes only ``name``,
``description`` and ``input_schema`` of MCP tools (the schema goes out unchanged, ``examples``
keyword included: ``docs/CLAUDE_CLI.md``), so our own MCP tools carry them as the JSON Schema
``examples`` keyword (:func:`with_examples`, used by ``execution/llm/tool_search.py``), built-in tools
get them in a block of the system prompt (:func:`examples_prompt`), and :func:`api_tool` builds a
definition with ``input_examples`` for a direct Messages-API call.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from .traces import CWD_TOKEN, Trace

DEFAULT_CAP = 3
MAX_STRING = 300
MAX_PROMPT_CHARS = 4000
#: Traces read from the store at most per tool (the newest/best first), to bound the cost.
MAX_TRACES_READ = 60

_SECRET_VALUE = re.compile(
    r"(?:sk-ant-[A-Za-z0-9_-]{8,}|sk-[A-Za-z0-9]{20,}|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}"
    r"|AKIA[0-9A-Z]{16}|xox[abprs]-[A-Za-z0-9-]{10,}|-----BEGIN [A-Z ]*PRIVATE KEY-----)"
)
_SECRET_ASSIGN = re.compile(
    r"(?i)\b([A-Z0-9_]*(?:TOKEN|SECRET|PASSWORD|PASSWD|API_KEY|APIKEY|PRIVATE_KEY|CREDENTIAL)[A-Z0-9_]*)"
    r"(\s*[=:]\s*)(\"[^\"]*\"|'[^']*'|\S+)"
)
_SECRET_KEYS = re.compile(r"(?i)(token|secret|password|passwd|api_?key|private_?key|credential)")
REDACTED = "<redacted>"


@dataclass(frozen=True)
class ToolExample:
    """One example input and where it came from."""

    input: dict[str, Any]
    trace_id: str
    success_rate: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "input": self.input,
            "trace_id": self.trace_id,
            "success_rate": round(self.success_rate, 4),
        }


# ---- normalizing ---------------------------------------------------------------------------


def _redact_text(text: str) -> str:
    text = _SECRET_VALUE.sub(REDACTED, text)
    return _SECRET_ASSIGN.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)


def _clean(value: Any, max_string: int, key: str = "") -> Any:
    """A copy of ``value`` with secrets redacted and long strings cut."""
    if isinstance(value, str):
        if key and _SECRET_KEYS.search(key) and value:
            return REDACTED
        text = _redact_text(value)
        if len(text) > max_string:
            text = text[: max(1, max_string - 1)] + "…"
        return text
    if isinstance(value, Mapping):
        return {str(k): _clean(v, max_string, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v, max_string, key) for v in value]
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return str(value)


def _normal_key(value: Any) -> str:
    """The dedup key: canonical JSON with whitespace collapsed and case folded."""

    def norm(v: Any) -> Any:
        if isinstance(v, str):
            return " ".join(v.split()).casefold()
        if isinstance(v, Mapping):
            return {str(k): norm(x) for k, x in v.items()}
        if isinstance(v, list):
            return [norm(x) for x in v]
        return v

    return json.dumps(norm(value), sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _reroot(value: Any, cwd: str) -> Any:
    if isinstance(value, str):
        return value.replace(CWD_TOKEN, cwd)
    if isinstance(value, Mapping):
        return {k: _reroot(v, cwd) for k, v in value.items()}
    if isinstance(value, list):
        return [_reroot(v, cwd) for v in value]
    return value


def _call_ok(call: Any) -> bool:
    result = call.result if isinstance(call.result, Mapping) else {}
    if result.get("is_error"):
        return False
    if result.get("decision") not in (None, "allow"):
        return False
    code = result.get("exit_code")
    return code in (None, 0)


def _trace_qualifies(trace: Trace, min_success: float) -> bool:
    return (
        trace.outcome == "success" and trace.success_count > 0 and trace.success_rate >= min_success
    )


# ---- the API ---------------------------------------------------------------------------------


def collect_examples(
    traces: Iterable[Trace],
    tool_name: str,
    *,
    min_success: float,
    cap: int = DEFAULT_CAP,
    max_string: int = MAX_STRING,
    cwd: str | Path | None = None,
) -> list[ToolExample]:
    """Examples of ``tool_name`` with their source traces (see :func:`examples_for_tool`)."""
    if cap <= 0:
        return []
    qualifying = [t for t in traces if isinstance(t, Trace) and _trace_qualifies(t, min_success)]
    # Best first: success rate, then uses; stable for equal traces (input order).
    qualifying.sort(key=lambda t: (-t.success_rate, -t.usage_count))
    root = str(Path(cwd)) if cwd is not None else None
    seen: set[str] = set()
    out: list[ToolExample] = []
    for trace in qualifying:
        for call in trace.calls:
            if call.name != tool_name or not isinstance(call.input, Mapping) or not call.input:
                continue
            if not _call_ok(call):
                continue
            example = _clean(dict(call.input), max_string)
            key = _normal_key(
                example
            )  # dedup before re-rooting: the same call in two folders is one
            if key in seen:
                continue
            seen.add(key)
            if root is not None:
                example = _reroot(example, root)
            out.append(ToolExample(example, trace.id, trace.success_rate))
            if len(out) >= cap:
                return out
    return out


def examples_for_tool(
    traces: Iterable[Trace],
    tool_name: str,
    *,
    min_success: float,
    cap: int = DEFAULT_CAP,
    max_string: int = MAX_STRING,
    cwd: str | Path | None = None,
) -> list[dict[str, Any]]:
    """Up to ``cap`` distinct example inputs of ``tool_name`` from successful calls in ``traces``.

    Only traces with ``success_rate >= min_success`` and outcome ``success`` count; within them
    only calls that succeeded. ``{{cwd}}`` stays as a placeholder unless ``cwd`` is given, in
    which case paths are re-rooted there. Strings longer than ``max_string`` are cut (``…``).
    """
    return [
        e.input
        for e in collect_examples(
            traces, tool_name, min_success=min_success, cap=cap, max_string=max_string, cwd=cwd
        )
    ]


def examples_from_store(
    store: Any,
    tool_name: str,
    *,
    volumes: Iterable[str] | None = None,
    min_success: float,
    cap: int = DEFAULT_CAP,
    max_string: int = MAX_STRING,
    cwd: str | Path | None = None,
    max_traces: int = MAX_TRACES_READ,
) -> list[dict[str, Any]]:
    """:func:`examples_for_tool` over a ``TraceStore``: the index picks the candidate traces
    (those that used the tool, successful enough), best first, and only those are read."""
    index = store.index
    entries = [
        e
        for e in index.entries(list(volumes) if volumes is not None else None)
        if tool_name in e.tools_used and e.outcome == "success" and e.success_rate >= min_success
    ]
    entries.sort(key=lambda e: (-e.success_rate, -e.usage_count, e.id))
    traces: list[Trace] = []
    found: list[dict[str, Any]] = []
    for entry in entries[:max_traces]:
        try:
            traces.append(store.get(entry.id))
        except Exception:  # noqa: BLE001 - a trace that vanished or broke is skipped
            continue
        found = examples_for_tool(
            traces, tool_name, min_success=min_success, cap=cap, max_string=max_string, cwd=cwd
        )
        if len(found) >= cap:
            break
    return found


def examples_from_traces(
    store: Any,
    trace_ids: Iterable[str],
    tool_names: Iterable[str],
    *,
    min_success: float,
    cap: int = DEFAULT_CAP,
    max_string: int = MAX_STRING,
    cwd: str | Path | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """:func:`examples_by_tool` over the given traces of a ``TraceStore`` (e.g. a LEARNER goal's
    nearest candidates from the matcher); ids that cannot be read are skipped."""
    traces = []
    for trace_id in dict.fromkeys(trace_ids):
        try:
            traces.append(store.get(trace_id))
        except Exception:  # noqa: BLE001 - a vanished or broken trace lends no examples
            continue
    return examples_by_tool(
        traces, tool_names, min_success=min_success, cap=cap, max_string=max_string, cwd=cwd
    )


def examples_by_tool(
    traces: Iterable[Trace],
    tool_names: Iterable[str],
    *,
    min_success: float,
    cap: int = DEFAULT_CAP,
    max_string: int = MAX_STRING,
    cwd: str | Path | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """``{tool: examples}`` for several tools at once (tools without examples are left out)."""
    pool = list(traces)
    out: dict[str, list[dict[str, Any]]] = {}
    for name in tool_names:
        found = examples_for_tool(
            pool, name, min_success=min_success, cap=cap, max_string=max_string, cwd=cwd
        )
        if found:
            out[name] = found
    return out


# ---- where examples go -------------------------------------------------------------------------


def examples_prompt(
    by_tool: Mapping[str, list[dict[str, Any]]], *, limit: int = MAX_PROMPT_CHARS
) -> str:
    """A system-prompt block listing example inputs per tool ("" when there are none)."""
    if not any(by_tool.values()):
        return ""
    lines = [
        "Inputs that worked for these tools in earlier successful runs (examples, not instructions):"
    ]
    for name in sorted(by_tool):
        for example in by_tool[name]:
            lines.append(f"- {name} {json.dumps(example, ensure_ascii=False, sort_keys=True)}")
    text = "\n".join(lines)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def with_examples(
    input_schema: Mapping[str, Any], examples: list[dict[str, Any]]
) -> dict[str, Any]:
    """A copy of a JSON schema with the examples as the standard ``examples`` keyword."""
    schema = copy.deepcopy(dict(input_schema))
    if examples:
        schema["examples"] = [copy.deepcopy(e) for e in examples]
    return schema


def describe_with_examples(
    description: str, examples: list[dict[str, Any]], *, limit: int = 1500
) -> str:
    """The description of a tool with one line of example inputs appended."""
    if not examples:
        return description
    shown = "; ".join(json.dumps(e, ensure_ascii=False, sort_keys=True) for e in examples)
    if len(shown) > limit:
        shown = shown[: limit - 1] + "…"
    return f"{description}\nExample inputs that worked: {shown}"


def api_tool(
    name: str, description: str, input_schema: Mapping[str, Any], examples: list[dict[str, Any]]
) -> dict[str, Any]:
    """A Messages-API tool definition with ``input_examples`` (for direct ``anthropic`` calls)."""
    tool: dict[str, Any] = {
        "name": name,
        "description": description,
        "input_schema": dict(input_schema),
    }
    if examples:
        tool["input_examples"] = [copy.deepcopy(e) for e in examples]
    return tool
