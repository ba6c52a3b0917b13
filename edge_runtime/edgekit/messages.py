"""A minimal Anthropic Messages API client (``urllib``, non-streaming) and the edge's tool loop.

Any server that speaks the Messages API works: Anthropic itself, or a local model server behind
``ANTHROPIC_BASE_URL``. Requests are ``POST {base}/v1/messages`` with ``stream: false``; 429, 500,
502, 503 and 529 answers are retried (``retry-after`` honoured, at most ``MAX_RETRY_WAIT_S``).
"""

from __future__ import annotations

import json
import os
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Callable

from . import EXIT_GOAL_FAILED, EXIT_NO_MATCH, EdgeError
from .executors import EdgeExecutor, Outcome

ANTHROPIC_VERSION = "2023-06-01"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 529})
MAX_RETRY_WAIT_S = 10.0
MAX_RESPONSE_BYTES = 32 * 1024 * 1024
RESULT_CHARS = 20_000

#: JSON schemas of the tools the edge offers the model (Claude Code's input shapes).
TOOL_SCHEMAS: dict[str, dict[str, Any]] = {
    "Write": {
        "description": "Write a file (relative paths are inside the working directory).",
        "input_schema": {
            "type": "object",
            "properties": {"file_path": {"type": "string"}, "content": {"type": "string"}},
            "required": ["file_path", "content"],
        },
    },
    "Edit": {
        "description": "Replace old_string with new_string in a file.",
        "input_schema": {
            "type": "object",
            "properties": {
                "file_path": {"type": "string"},
                "old_string": {"type": "string"},
                "new_string": {"type": "string"},
                "replace_all": {"type": "boolean"},
            },
            "required": ["file_path", "old_string", "new_string"],
        },
    },
    "Read": {
        "description": "Read a text file (numbered lines).",
        "input_schema": {
            "type": "object",
            "properties": {
                "file_path": {"type": "string"},
                "offset": {"type": "integer"},
                "limit": {"type": "integer"},
            },
            "required": ["file_path"],
        },
    },
    "Glob": {
        "description": "List files matching a glob pattern.",
        "input_schema": {
            "type": "object",
            "properties": {"pattern": {"type": "string"}, "path": {"type": "string"}},
            "required": ["pattern"],
        },
    },
    "Grep": {
        "description": "Search file contents with a regular expression.",
        "input_schema": {
            "type": "object",
            "properties": {
                "pattern": {"type": "string"},
                "path": {"type": "string"},
                "glob": {"type": "string"},
                "output_mode": {
                    "type": "string",
                    "enum": ["files_with_matches", "content", "count"],
                },
            },
            "required": ["pattern"],
        },
    },
    "Bash": {
        "description": "Run a simple shell command in the working directory (a restricted allow-list; "
        "no expansions, pipes of simple commands only).",
        "input_schema": {
            "type": "object",
            "properties": {"command": {"type": "string"}, "timeout": {"type": "number"}},
            "required": ["command"],
        },
    },
}
TOOL_ORDER = ("Bash", "Read", "Write", "Edit", "Glob", "Grep")


@dataclass
class ModelConfig:
    base_url: str
    api_key: str
    model: str
    bearer: bool = False
    timeout_s: float = 120.0
    max_retries: int = 2

    @classmethod
    def from_env(
        cls,
        *,
        base_url: str | None = None,
        model: str | None = None,
        timeout_s: float = 120.0,
        environ: dict[str, str] | None = None,
    ) -> "ModelConfig":
        env = os.environ if environ is None else environ
        url = base_url or env.get("ANTHROPIC_BASE_URL")
        key, bearer = env.get("ANTHROPIC_API_KEY"), False
        if not key and env.get("ANTHROPIC_AUTH_TOKEN"):
            key, bearer = env["ANTHROPIC_AUTH_TOKEN"], True
        if not url and not key:
            raise EdgeError(
                "no model is configured: set ANTHROPIC_BASE_URL to a server that speaks the Anthropic "
                "Messages API (e.g. a local model server), or ANTHROPIC_API_KEY for Anthropic",
                EXIT_NO_MATCH,
            )
        url = (url or "https://api.anthropic.com").rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise EdgeError(f"ANTHROPIC_BASE_URL must be an http(s) URL, not {url!r}")
        return cls(
            base_url=url,
            api_key=key or "local",
            model=model or env.get("ANTHROPIC_MODEL") or "claude-sonnet-4-5",
            bearer=bearer,
            timeout_s=timeout_s,
        )


class ModelError(EdgeError):
    exit_code = EXIT_GOAL_FAILED


class MessagesClient:
    def __init__(self, config: ModelConfig, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.config = config
        self.sleep = sleep
        self.calls = 0
        self.input_tokens = 0
        self.output_tokens = 0

    def create(
        self,
        *,
        system: str,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        max_tokens: int = 4096,
    ) -> dict[str, Any]:
        body = {
            "model": self.config.model,
            "max_tokens": max_tokens,
            "system": system,
            "messages": messages,
            "stream": False,
        }
        if tools:
            body["tools"] = tools
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        headers = {
            "content-type": "application/json",
            "anthropic-version": ANTHROPIC_VERSION,
            "user-agent": "llmos-edge/0.1",
        }
        if self.config.bearer:
            headers["authorization"] = f"Bearer {self.config.api_key}"
        else:
            headers["x-api-key"] = self.config.api_key
        url = self.config.base_url + "/v1/messages"
        attempt = 0
        while True:
            request = urllib.request.Request(url, data=data, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.config.timeout_s) as response:
                    raw = response.read(MAX_RESPONSE_BYTES + 1)
                break
            except urllib.error.HTTPError as exc:
                detail = _error_text(exc)
                if exc.code in RETRY_STATUSES and attempt < self.config.max_retries:
                    attempt += 1
                    self.sleep(_retry_wait(exc, attempt))
                    continue
                raise ModelError(f"the model server answered HTTP {exc.code}: {detail}") from None
            except (urllib.error.URLError, socket.timeout, ConnectionError, TimeoutError) as exc:
                reason = getattr(exc, "reason", exc)
                if attempt < self.config.max_retries and not isinstance(
                    exc, (socket.timeout, TimeoutError)
                ):
                    attempt += 1
                    self.sleep(min(MAX_RETRY_WAIT_S, 0.5 * 2**attempt))
                    continue
                raise ModelError(
                    f"cannot reach the model server at {self.config.base_url}: {reason}"
                ) from None
        if len(raw) > MAX_RESPONSE_BYTES:
            raise ModelError("the model server's answer is too large")
        try:
            answer = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise ModelError(f"the model server's answer is not JSON ({exc})") from None
        if not isinstance(answer, dict) or not isinstance(answer.get("content"), list):
            raise ModelError(
                "the model server's answer is not a Messages API message (no content list)"
            )
        self.calls += 1
        usage = v if isinstance(v := answer.get("usage"), dict) else {}
        for key, attr in (("input_tokens", "input_tokens"), ("output_tokens", "output_tokens")):
            value = usage.get(key)
            if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                setattr(self, attr, getattr(self, attr) + value)
        return answer


def _error_text(exc: urllib.error.HTTPError) -> str:
    try:
        payload = json.loads(exc.read(65536).decode("utf-8", "replace"))
        message = payload.get("error", {}).get("message") if isinstance(payload, dict) else None
        return str(message or payload)[:300]
    except Exception:  # noqa: BLE001 - best effort only
        return str(exc.reason)[:300]


def _retry_wait(exc: urllib.error.HTTPError, attempt: int) -> float:
    value = exc.headers.get("retry-after") if exc.headers else None
    try:
        wait = float(value) if value is not None else 0.5 * 2**attempt
    except ValueError:
        wait = 0.5 * 2**attempt
    return max(0.0, min(MAX_RETRY_WAIT_S, wait))


# ---- the tool loop ----------------------------------------------------------------------------------


@dataclass
class LoopResult:
    success: bool
    text: str = ""
    error: str | None = None
    turns: int = 0
    calls: list[dict[str, Any]] = field(default_factory=list)
    denied: int = 0
    finished: bool = False


def result_text(name: str, outcome: Outcome) -> str:
    response = outcome.response if isinstance(outcome.response, dict) else {}
    if outcome.refused:
        text = outcome.summary
    elif name == "Bash":
        parts = [str(response.get("stdout") or "")]
        if response.get("stderr"):
            parts.append("[stderr]\n" + str(response["stderr"]))
        parts.append(f"[exit code {outcome.exit_code}]")
        text = "\n".join(p for p in parts if p)
    elif name == "Read":
        text = str((response.get("file") or {}).get("content", outcome.summary))
    elif name == "Glob":
        text = "\n".join(response.get("filenames") or []) or "no files match"
    elif name == "Grep":
        items = response.get("filenames")
        text = "\n".join(items) if isinstance(items, list) else str(response.get("content") or "")
        text = text or "no matches"
    else:
        text = outcome.summary
    return text if len(text) <= RESULT_CHARS else text[:RESULT_CHARS] + "\n… (cut)"


def run_loop(
    client: MessagesClient,
    executor: EdgeExecutor,
    *,
    system: str,
    prompt: str,
    tools: list[str],
    max_turns: int = 10,
    max_tokens: int = 4096,
    on_call: Callable[[str, dict[str, Any], Outcome], None] | None = None,
) -> LoopResult:
    """Send the goal, run the model's tool_use blocks through the edge policy and executors, repeat
    until the model stops asking for tools (or ``max_turns`` requests were made)."""
    schemas = [dict(TOOL_SCHEMAS[name], name=name) for name in TOOL_ORDER if name in tools]
    messages: list[dict[str, Any]] = [{"role": "user", "content": prompt}]
    out = LoopResult(False)
    for turn in range(1, max_turns + 1):
        answer = client.create(
            system=system, messages=messages, tools=schemas, max_tokens=max_tokens
        )
        out.turns = turn
        blocks = [b for b in answer["content"] if isinstance(b, dict)]
        messages.append({"role": "assistant", "content": blocks})
        uses = [b for b in blocks if b.get("type") == "tool_use"]
        text = "".join(str(b.get("text", "")) for b in blocks if b.get("type") == "text")
        if not uses:
            out.text = text
            out.finished = True
            stop = answer.get("stop_reason")
            if stop not in (None, "end_turn", "stop_sequence"):
                out.error = f"the model stopped with {stop!r}"
            break
        results = []
        for use in uses:
            name, tool_input, use_id = use.get("name"), use.get("input"), str(use.get("id") or "")
            if not isinstance(name, str) or name not in tools:
                outcome = Outcome(
                    True,
                    f"blocked by policy: tool {name!r} is not offered on the edge",
                    {"error": "unknown tool"},
                    status="denied",
                    decision="deny",
                    rule="edge.tool_unknown",
                )
            else:
                outcome = executor.execute(name, tool_input if isinstance(tool_input, dict) else {})
            if outcome.status == "denied":
                out.denied += 1
            out.calls.append(
                {"name": name, "input": tool_input, "tool_use_id": use_id, **outcome.to_dict()}
            )
            if on_call is not None:
                on_call(str(name), tool_input if isinstance(tool_input, dict) else {}, outcome)
            results.append(
                {
                    "type": "tool_result",
                    "tool_use_id": use_id,
                    "content": result_text(str(name), outcome),
                    "is_error": outcome.is_error,
                }
            )
        messages.append({"role": "user", "content": results})
    if not out.finished:
        out.error = f"the model did not finish within {max_turns} turns"
    elif out.denied:
        out.error = f"{out.denied} tool call(s) blocked by the edge policy"
    out.success = out.finished and not out.error
    return out
