"""A scripted model server: a real HTTP server on loopback that speaks the Anthropic Messages API.

It answers each main-conversation request with the next turn of a script (text, tool_use blocks,
an HTTP error, a broken stream, or a callable that builds the answer from the request), counts
tokens deterministically and records every request. The real Claude Code CLI (bundled with
`claude-agent-sdk`) and the `anthropic` Python SDK run against it unchanged::

    with ScriptedServer([tool_turn("Write", {"file_path": "/tmp/x/a.txt", "content": "hi"}),
                         text_turn("done")]) as server:
        env = server.env()   # ANTHROPIC_BASE_URL, ANTHROPIC_API_KEY, CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC
        ...

Standard library only: it ships inside the package (``llmos demo`` uses it).

What the bundled CLI sends (headers, body, probes, auxiliary requests, usage and cost, retries), as
observed against this server: ``docs/CLAUDE_CLI.md``.

Auxiliary requests (classified by `classify_auxiliary`: only requests from the CLI, without tools,
whose system prompt carries a known auxiliary marker, that ask for structured output, or that ask
for ``max_tokens: 1``) get a harmless canned answer (a schema-conforming JSON object, e.g.
``{"title": "Scripted session"}``), are recorded with ``auxiliary=True`` and counted apart; they
never consume a script turn. Probes (``/api/hello``), ``count_tokens`` and unknown paths are also
recorded as auxiliary.

Token accounting (deterministic)
--------------------------------
``input_tokens = ceil(len(canonical_json({system, messages, tools})) / 4)`` and
``output_tokens = ceil(len(canonical_json(content_blocks)) / 4)`` (both at least 1), where
canonical JSON is ``json.dumps(sort_keys=True, ensure_ascii=False, separators=(",", ":"))``.
They are reported in ``message_start`` (input, output 1) and ``message_delta`` (input and final
output) as the real API does, and in the JSON body for non-streaming calls; cache fields are 0.
A request's tokens count in the totals only once its answer was written completely (error
answers, broken streams and dropped connections count 0).

Script JSON shape (``--script FILE.json``)
------------------------------------------
A list of turns; each turn is one of::

    "plain text"                                   same as {"text": "plain text"}
    {"text": "..."}
    {"tool_use": [{"name": "Write", "input": {...}, "id": "toolu_1"}], "text": "optional preface"}
    {"error": 500}                                 optional "body", "retry_after" (s), "headers"
    {"malformed": true}                            or "bad_json" / "truncated"

Any turn may add ``"delay": seconds`` and ``"stop_reason": "..."``.

A scripted call names a tool the way a model would think of it. When the request does not offer
that name but offers exactly one MCP tool ``mcp__<server>__<name>``, the call is addressed to that
tool: llmos offers its own executors' twins of Claude Code's file and shell tools that way
(``mcp__llmos__Bash`` for ``Bash``), and a script written with plain names drives either. A name
offered in neither form is sent as written (the CLI then answers "no such tool").
"""

from __future__ import annotations

import argparse
import json
import math
import signal
import socket
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence, Union
from urllib.parse import urlsplit

DEFAULT_MODEL = "claude-scripted"
DEFAULT_FALLBACK_TEXT = "(script exhausted)"
MALFORMED_MODES = ("bad_json", "truncated")

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}

# (marker found in the system prompt, auxiliary kind). The first is what Claude Code 2.1.329 sends;
# the others are the prompts of earlier CLIs' side requests, kept so those never eat a turn.
_AUX_MARKERS = (
    ("naming a coding session", "title"),
    ("new conversation topic", "topic"),
    ("Summarize this coding conversation", "summary"),
    ("<policy_spec>", "bash_prefix"),
)
_AUX_TEXT = {"topic": '{"isNewTopic": false, "title": null}', "bash_prefix": "none"}
_REDACTED_HEADERS = {"x-api-key", "authorization", "cookie"}


class ScriptError(ValueError):
    """A script (or one turn of it) has the wrong shape."""


# --------------------------------------------------------------------------------------------
# Turns
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Turn:
    """One scripted answer. Build it with the helpers (`text_turn`, `tool_turn`, ...)."""

    blocks: tuple[dict[str, Any], ...] = ()
    stop_reason: str | None = None
    error_status: int | None = None
    error_body: Any = None
    headers: tuple[tuple[str, str], ...] = ()
    malformed: str | None = None
    delay: float = 0.0

    @property
    def kind(self) -> str:
        if self.error_status is not None:
            return "error"
        if self.malformed is not None:
            return "malformed"
        if any(b.get("type") == "tool_use" for b in self.blocks):
            return "tool_use"
        return "text"

    def resolved_stop_reason(self) -> str:
        if self.stop_reason:
            return self.stop_reason
        return "tool_use" if self.kind == "tool_use" else "end_turn"


TurnFunction = Callable[[dict[str, Any]], Any]
TurnLike = Union[Turn, str, Mapping[str, Any], TurnFunction]


def _check_delay(delay: float) -> float:
    if (
        isinstance(delay, bool)
        or not isinstance(delay, (int, float))
        or delay < 0
        or math.isnan(delay)
    ):
        raise ScriptError(f"delay must be a number of seconds >= 0, got {delay!r}")
    return float(delay)


def text_turn(text: str, *, delay: float = 0.0, stop_reason: str | None = None) -> Turn:
    """A plain text answer (``stop_reason: end_turn`` unless given)."""
    if not isinstance(text, str):
        raise ScriptError(f"text must be a string, got {type(text).__name__}")
    return Turn(
        blocks=({"type": "text", "text": text},), stop_reason=stop_reason, delay=_check_delay(delay)
    )


def tool_turn(
    name: str | Sequence[tuple[Any, ...]],
    input: Mapping[str, Any] | None = None,  # noqa: A002 - mirrors the API field name
    *,
    text: str | None = None,
    id: str | None = None,  # noqa: A002
    delay: float = 0.0,
    stop_reason: str | None = None,
) -> Turn:
    """An answer with one or more ``tool_use`` blocks (``stop_reason: tool_use``).

    ``tool_turn("Write", {...})`` makes one call; ``tool_turn([("Read", {...}), ("Bash", {...})])``
    makes several (an entry may be ``(name, input, id)``). ``text`` comes first as a text block.
    Blocks without an id get ``toolu_scripted_<request>_<n>`` when served.
    """
    calls: list[tuple[Any, ...]]
    if isinstance(name, str):
        calls = [(name, {} if input is None else input, id)]
    else:
        if input is not None or id is not None:
            raise ScriptError(
                "with a list of calls, give input and id inside each (name, input[, id]) entry"
            )
        calls = [tuple(c) for c in name]
        if not calls:
            raise ScriptError("tool_turn needs at least one call")
    blocks: list[dict[str, Any]] = []
    if text:
        blocks.append({"type": "text", "text": text})
    for n, call in enumerate(calls):
        if len(call) not in (2, 3):
            raise ScriptError(
                f"tool call #{n} must be (name, input) or (name, input, id), got {call!r}"
            )
        call_name, call_input = call[0], call[1]
        call_id = call[2] if len(call) == 3 else None
        if not isinstance(call_name, str) or not call_name:
            raise ScriptError(f"tool call #{n}: name must be a non-empty string, got {call_name!r}")
        if not isinstance(call_input, Mapping):
            raise ScriptError(
                f"tool call #{n} ({call_name}): input must be an object, got {call_input!r}"
            )
        if call_id is not None and not isinstance(call_id, str):
            raise ScriptError(f"tool call #{n} ({call_name}): id must be a string")
        block: dict[str, Any] = {"type": "tool_use", "name": call_name, "input": dict(call_input)}
        if call_id:
            block["id"] = call_id
        blocks.append(block)
    return Turn(blocks=tuple(blocks), stop_reason=stop_reason, delay=_check_delay(delay))


def error_turn(
    status: int,
    body: Any = None,
    *,
    retry_after: float | None = None,
    headers: Mapping[str, str] | None = None,
    delay: float = 0.0,
) -> Turn:
    """An HTTP error answer. ``body`` defaults to the API's error shape for ``status``.

    ``retry_after`` (seconds) sets both ``retry-after`` and ``retry-after-ms``.
    """
    if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
        raise ScriptError(f"error status must be an integer in 400..599, got {status!r}")
    extra: dict[str, str] = {str(k): str(v) for k, v in (headers or {}).items()}
    if retry_after is not None:
        seconds = _check_delay(retry_after)
        extra.setdefault("retry-after", f"{seconds:g}")
        extra.setdefault("retry-after-ms", str(int(round(seconds * 1000))))
    return Turn(
        error_status=status,
        error_body=body,
        headers=tuple(extra.items()),
        delay=_check_delay(delay),
    )


def malformed_turn(mode: str = "bad_json", *, delay: float = 0.0) -> Turn:
    """A broken answer: ``bad_json`` (unparseable first event / body) or ``truncated`` (a stream
    that starts well and is cut off before ``message_stop``)."""
    if mode not in MALFORMED_MODES:
        raise ScriptError(
            f"malformed mode must be one of {', '.join(MALFORMED_MODES)}, got {mode!r}"
        )
    return Turn(malformed=mode, delay=_check_delay(delay))


_TURN_KEYS = {
    "text",
    "tool_use",
    "error",
    "body",
    "retry_after",
    "headers",
    "malformed",
    "delay",
    "stop_reason",
}


def turn_from_json(obj: Any, *, where: str = "turn") -> Turn:
    """Build a Turn from its JSON shape (see the module docstring); raise ScriptError if wrong."""
    if isinstance(obj, str):
        return text_turn(obj)
    if not isinstance(obj, Mapping):
        raise ScriptError(f"{where}: expected an object or a string, got {type(obj).__name__}")
    unknown = set(obj) - _TURN_KEYS
    if unknown:
        raise ScriptError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    try:
        delay = obj.get("delay", 0.0)
        stop_reason = obj.get("stop_reason")
        if stop_reason is not None and not isinstance(stop_reason, str):
            raise ScriptError("stop_reason must be a string")
        if "error" in obj:
            headers = obj.get("headers")
            if headers is not None and not isinstance(headers, Mapping):
                raise ScriptError("headers must be an object")
            return error_turn(
                obj["error"],
                obj.get("body"),
                retry_after=obj.get("retry_after"),
                headers=headers,
                delay=delay,
            )
        if "malformed" in obj:
            mode = obj["malformed"]
            if mode is True:
                mode = "bad_json"
            return malformed_turn(mode, delay=delay)
        if "tool_use" in obj:
            calls = obj["tool_use"]
            if isinstance(calls, Mapping):
                calls = [calls]
            if not isinstance(calls, list) or not calls:
                raise ScriptError(
                    "tool_use must be a non-empty list of {name, input[, id]} objects"
                )
            entries = []
            for n, call in enumerate(calls):
                if not isinstance(call, Mapping) or "name" not in call:
                    raise ScriptError(f"tool_use[{n}] must be an object with a name")
                extra = set(call) - {"name", "input", "id"}
                if extra:
                    raise ScriptError(f"tool_use[{n}]: unknown key(s) {', '.join(sorted(extra))}")
                entries.append((call["name"], call.get("input", {}), call.get("id")))
            text = obj.get("text")
            if text is not None and not isinstance(text, str):
                raise ScriptError("text must be a string")
            return tool_turn(entries, text=text, delay=delay, stop_reason=stop_reason)
        if "text" in obj:
            return text_turn(obj["text"], delay=delay, stop_reason=stop_reason)
    except ScriptError as exc:
        raise ScriptError(f"{where}: {exc}") from None
    raise ScriptError(f"{where}: needs one of text, tool_use, error, malformed")


def load_script(path: str | Path) -> list[Turn]:
    """Read a JSON script file (a list of turns); raise ScriptError with the reason if bad."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScriptError(f"cannot read script {path}: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise ScriptError(f"script {path} is not valid JSON: {exc}") from None
    if not isinstance(data, list):
        raise ScriptError(
            f"script {path}: expected a JSON list of turns, got {type(data).__name__}"
        )
    return [turn_from_json(t, where=f"{path}: turn {i}") for i, t in enumerate(data)]


def _coerce_turn(turn: Any, *, where: str = "turn") -> Turn | TurnFunction:
    if isinstance(turn, Turn):
        return turn
    if isinstance(turn, (str, Mapping)):
        return turn_from_json(turn, where=where)
    if callable(turn):
        return turn
    raise ScriptError(
        f"{where}: expected a Turn, a string, a JSON-shaped dict or a callable, got {turn!r}"
    )


# --------------------------------------------------------------------------------------------
# Token estimates and request helpers
# --------------------------------------------------------------------------------------------


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def estimate_input_tokens(body: Mapping[str, Any]) -> int:
    """Deterministic input estimate: a quarter of the canonical JSON of system+messages+tools."""
    payload = {k: body[k] for k in ("system", "messages", "tools") if body.get(k) is not None}
    return max(1, math.ceil(len(canonical_json(payload)) / 4))


def estimate_output_tokens(blocks: Sequence[Mapping[str, Any]]) -> int:
    """Deterministic output estimate: a quarter of the canonical JSON of the content blocks."""
    return max(1, math.ceil(len(canonical_json(list(blocks))) / 4))


def system_text(body: Mapping[str, Any]) -> str:
    """The system prompt as text (string form or the text of a list of blocks)."""
    system = body.get("system")
    if isinstance(system, str):
        return system
    if isinstance(system, list):
        return "\n".join(
            b.get("text", "")
            for b in system
            if isinstance(b, Mapping) and isinstance(b.get("text"), str)
        )
    return ""


def tool_names(body: Mapping[str, Any]) -> list[str]:
    tools = body.get("tools")
    if not isinstance(tools, list):
        return []
    return [t["name"] for t in tools if isinstance(t, Mapping) and isinstance(t.get("name"), str)]


def offered_name(name: str, offered: Sequence[str]) -> str:
    """``name`` as the request offers it: itself, else the one ``mcp__<server>__<name>`` offered."""
    if name in offered:
        return name
    twins = [
        t
        for t in offered
        if t.startswith("mcp__") and t.endswith("__" + name) and t.count("__") == 2
    ]
    return twins[0] if len(twins) == 1 else name


def _schema_instance(schema: Any, depth: int = 0) -> Any:
    """A small value that satisfies a simple JSON schema (for structured-output side requests)."""
    if not isinstance(schema, Mapping) or depth > 8:
        return None
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if isinstance(schema.get(key), list) and schema[key]:
            return _schema_instance(schema[key][0], depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), kind[0] if kind else None)
    if kind == "object" or "properties" in schema:
        props = schema.get("properties") or {}
        required = schema.get("required") or list(props)
        return {
            k: _schema_instance(props.get(k, {}), depth + 1) for k in required if isinstance(k, str)
        }
    if kind == "array":
        return []
    if kind == "string":
        return "Scripted session"
    if kind in ("integer", "number"):
        return 0
    if kind == "boolean":
        return False
    return None


def classify_auxiliary(body: Mapping[str, Any], headers: Mapping[str, str]) -> str | None:
    """Return the kind of a Claude Code side request ("title", "structured", ...) or None for a
    main-conversation request. Only requests from the CLI and without tools can be auxiliary."""
    agent = headers.get("user-agent", "")
    if headers.get("x-app") != "cli" and not agent.startswith("claude-cli/"):
        return None
    if body.get("tools"):
        return None
    text = system_text(body)
    for marker, kind in _AUX_MARKERS:
        if marker in text:
            return kind
    output_config = body.get("output_config")
    if isinstance(output_config, Mapping) and isinstance(output_config.get("format"), Mapping):
        return "structured"
    if body.get("max_tokens") == 1:
        return "quota"
    return None


def _auxiliary_turn(kind: str, body: Mapping[str, Any]) -> Turn:
    output_config = body.get("output_config")
    fmt = output_config.get("format") if isinstance(output_config, Mapping) else None
    if isinstance(fmt, Mapping) and isinstance(fmt.get("schema"), Mapping):
        return text_turn(json.dumps(_schema_instance(fmt["schema"])))
    if kind == "title":
        return text_turn(json.dumps({"title": "Scripted session"}))
    return text_turn(_AUX_TEXT.get(kind, "OK"))


# --------------------------------------------------------------------------------------------
# Request log
# --------------------------------------------------------------------------------------------


@dataclass
class RecordedRequest:
    """One HTTP request the server received and what it answered."""

    path: str
    model: str | None
    stream: bool
    tools: list[str]
    system: str
    messages: list[Any]
    max_tokens: int | None
    auxiliary: bool
    input_tokens: int = 0
    output_tokens: int = 0
    raw: dict[str, Any] = field(default_factory=dict)
    seq: int = 0
    method: str = "POST"
    kind: str = "main"  # main | title | structured | ... | count_tokens | probe | models | unknown | invalid
    outcome: str = "pending"  # text | tool_use | error | malformed | exhausted | auxiliary | ... | disconnected
    status: int = 0
    stop_reason: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    received_at: float = 0.0
    duration_s: float = 0.0
    error: str | None = None

    def to_dict(self, *, include_raw: bool = True) -> dict[str, Any]:
        data = asdict(self)
        if not include_raw:
            data.pop("raw")
        return data


# --------------------------------------------------------------------------------------------
# HTTP handler
# --------------------------------------------------------------------------------------------


class _ClientGone(Exception):
    pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "llmos-scripted/1"
    sys_version = ""
    server: "_HTTPServer"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence stderr
        return

    # -- dispatch ------------------------------------------------------------------------------

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch()

    def do_GET(self) -> None:  # noqa: N802
        self._dispatch()

    def do_HEAD(self) -> None:  # noqa: N802
        self._dispatch()

    def do_PUT(self) -> None:  # noqa: N802
        self._dispatch()

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch()

    def do_OPTIONS(self) -> None:  # noqa: N802
        self._dispatch()

    def _dispatch(self) -> None:
        owner = self.server.owner
        try:
            owner._handle(self)  # noqa: SLF001 - same module
        except (_ClientGone, OSError):
            self.close_connection = True
        except Exception as exc:  # a server bug: answer 500 rather than drop the connection
            self.close_connection = True
            try:
                self.send_json(
                    500, _error_payload(500, f"scripted server error: {type(exc).__name__}: {exc}")
                )
            except Exception:
                pass
            print(
                f"scripted_server: internal error on {self.command} {self.path}: {exc!r}",
                file=sys.stderr,
            )

    # -- low-level writing ---------------------------------------------------------------------

    def read_body(self) -> bytes:
        length = self.headers.get("content-length")
        if length is None:
            if "chunked" in (self.headers.get("transfer-encoding") or "").lower():
                return self._read_chunked()
            return b""
        try:
            n = int(length)
        except ValueError:
            return b""
        return self.rfile.read(n) if n > 0 else b""

    def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        while True:
            line = self.rfile.readline(65537).strip()
            size = int(line.split(b";")[0] or b"0", 16)
            if size == 0:
                self.rfile.readline()
                return b"".join(parts)
            parts.append(self.rfile.read(size))
            self.rfile.readline()

    def send_json(
        self,
        status: int,
        payload: Any,
        headers: Iterable[tuple[str, str]] = (),
        *,
        raw: bytes | None = None,
    ) -> None:
        data = raw if raw is not None else json.dumps(payload).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.send_header("request-id", f"req_scripted_{self._seq:06d}")
            for k, v in headers:
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
            self.wfile.flush()
        except OSError as exc:
            raise _ClientGone(str(exc)) from exc

    def start_stream(self) -> None:
        try:
            self.send_response(200)
            self.send_header("content-type", "text/event-stream; charset=utf-8")
            self.send_header("cache-control", "no-cache")
            self.send_header("transfer-encoding", "chunked")
            self.send_header("request-id", f"req_scripted_{self._seq:06d}")
            self.end_headers()
            self.wfile.flush()
        except OSError as exc:
            raise _ClientGone(str(exc)) from exc

    def write_chunk(self, data: bytes) -> None:
        if not data:
            return
        try:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()
        except OSError as exc:
            raise _ClientGone(str(exc)) from exc

    def write_event(self, event: str, payload: Mapping[str, Any]) -> None:
        self.write_chunk(f"event: {event}\ndata: {json.dumps(payload)}\n\n".encode("utf-8"))

    def end_stream(self) -> None:
        try:
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError as exc:
            raise _ClientGone(str(exc)) from exc

    _seq = 0


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: "ScriptedServer"

    def __init__(self, address: tuple[str, int], owner: "ScriptedServer") -> None:
        self.owner = owner
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self._conn_lock = threading.Condition()
        self._connections: set[socket.socket] = set()
        super().__init__(address, _Handler)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        with self._conn_lock:
            self._connections.add(request)
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._conn_lock:
                self._connections.discard(request)
                self._conn_lock.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until every handler thread has finished (its request logged); False on time-out."""
        with self._conn_lock:
            return self._conn_lock.wait_for(lambda: not self._connections, timeout)

    def close_connections(self) -> None:
        with self._conn_lock:
            conns = list(self._connections)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


# --------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------


class ScriptedServer:
    """A Messages-API server on loopback that answers main-conversation requests from a script.

    Thread-safe: turns can be added and counters read while clients are being served.
    """

    def __init__(
        self,
        script: Iterable[TurnLike] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        fallback_text: str = DEFAULT_FALLBACK_TEXT,
        classify: Callable[[Mapping[str, Any], Mapping[str, str]], str | None] = classify_auxiliary,
        on_request: Callable[[RecordedRequest], None] | None = None,
        stream_chunk_chars: int = 24,
    ) -> None:
        self.host = host
        self.port = port
        self.fallback_text = fallback_text
        self._classify = classify
        self._on_request = on_request
        self._chunk = max(1, int(stream_chunk_chars))
        self._lock = threading.RLock()
        self._turns: list[Turn | TurnFunction] = []
        self._requests: list[RecordedRequest] = []
        self._consumed = 0
        self._exhausted = 0
        self._totals = {"main_in": 0, "main_out": 0, "aux_in": 0, "aux_out": 0}
        self._counted: set[int] = set()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._changed = threading.Condition(self._lock)
        if script is not None:
            self.add_turns(list(script))

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> "ScriptedServer":
        with self._lock:
            if self._httpd is not None:
                return self
            self._stopping.clear()
            self._httpd = _HTTPServer((self.host, self.port), self)
            self.port = self._httpd.server_address[1]
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"scripted-server-{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        with self._lock:
            httpd, thread = self._httpd, self._thread
            self._httpd = None
            self._thread = None
        if httpd is None:
            return
        self._stopping.set()
        httpd.shutdown()
        httpd.close_connections()
        # Handler threads are daemons: let the ones still finishing a request (writing its log
        # record, calling on_request) end before the process may exit.
        httpd.wait_idle(5.0)
        httpd.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> "ScriptedServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._httpd is not None

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("the scripted server is not running; call start() first")
        host = self.host if ":" not in self.host else f"[{self.host}]"
        return f"http://{host}:{self.port}"

    def env(self) -> dict[str, str]:
        """The variables that point Claude Code and the anthropic SDK at this server."""
        return {
            "ANTHROPIC_BASE_URL": self.url,
            "ANTHROPIC_API_KEY": "scripted-test-key",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        }

    # -- script --------------------------------------------------------------------------------

    def add_turns(self, *turns: TurnLike | Iterable[TurnLike]) -> None:
        """Append turns: ``add_turns(t1, t2)`` or ``add_turns([t1, t2])``."""
        flat: list[Any] = []
        for t in turns:
            if isinstance(t, (list, tuple)):
                flat.extend(t)
            else:
                flat.append(t)
        coerced = [_coerce_turn(t, where=f"turn {i}") for i, t in enumerate(flat)]
        with self._lock:
            self._turns.extend(coerced)

    @property
    def remaining_turns(self) -> int:
        with self._lock:
            return len(self._turns) - self._consumed

    @property
    def consumed_turns(self) -> int:
        with self._lock:
            return self._consumed

    @property
    def exhausted_requests(self) -> int:
        with self._lock:
            return self._exhausted

    # -- log and counters ----------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def main_requests(self) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self._requests if not r.auxiliary]

    @property
    def auxiliary_requests(self) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self._requests if r.auxiliary]

    @property
    def request_count(self) -> int:
        """Every HTTP request received (main and auxiliary)."""
        with self._lock:
            return len(self._requests)

    @property
    def main_request_count(self) -> int:
        return len(self.main_requests)

    @property
    def total_input_tokens(self) -> int:
        with self._lock:
            return self._totals["main_in"]

    @property
    def total_output_tokens(self) -> int:
        with self._lock:
            return self._totals["main_out"]

    @property
    def auxiliary_input_tokens(self) -> int:
        with self._lock:
            return self._totals["aux_in"]

    @property
    def auxiliary_output_tokens(self) -> int:
        with self._lock:
            return self._totals["aux_out"]

    def wait_for_requests(
        self, count: int, *, timeout: float = 10.0, main_only: bool = True
    ) -> bool:
        """Block until ``count`` (main) requests have completed; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                done = [
                    r
                    for r in self._requests
                    if r.outcome != "pending" and (not main_only or not r.auxiliary)
                ]
                if len(done) >= count:
                    return True
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)

    # -- request handling (runs on handler threads) ----------------------------------------------

    def _record(
        self, handler: _Handler, body: Mapping[str, Any], *, kind: str, auxiliary: bool
    ) -> RecordedRequest:
        headers = {
            k.lower(): ("<redacted>" if k.lower() in _REDACTED_HEADERS else v)
            for k, v in handler.headers.items()
        }
        messages = body.get("messages")
        max_tokens = body.get("max_tokens")
        rec = RecordedRequest(
            path=handler.path,
            model=body.get("model") if isinstance(body.get("model"), str) else None,
            stream=body.get("stream") is True,
            tools=tool_names(body),
            system=system_text(body),
            messages=messages if isinstance(messages, list) else [],
            max_tokens=max_tokens if isinstance(max_tokens, int) else None,
            auxiliary=auxiliary,
            raw=dict(body),
            method=handler.command,
            kind=kind,
            headers=headers,
            received_at=time.time(),
        )
        with self._lock:
            rec.seq = len(self._requests) + 1
            self._requests.append(rec)
        handler._seq = rec.seq  # noqa: SLF001 - same module
        return rec

    def _commit(self, rec: RecordedRequest, outcome: str) -> None:
        """Add a successful answer's tokens to the totals. Called just before the answer's last
        bytes are written, so a client that has read its answer always sees final counters."""
        with self._changed:
            key = "aux" if rec.auxiliary else "main"
            self._totals[f"{key}_in"] += rec.input_tokens
            self._totals[f"{key}_out"] += rec.output_tokens
            rec.outcome = outcome
            self._counted.add(rec.seq)
            self._changed.notify_all()

    def _rollback(self, rec: RecordedRequest, error: str) -> None:
        """The client went away: take back what `_commit` counted and zero the record's tokens."""
        with self._changed:
            if rec.seq in self._counted:
                key = "aux" if rec.auxiliary else "main"
                self._totals[f"{key}_in"] -= rec.input_tokens
                self._totals[f"{key}_out"] -= rec.output_tokens
                self._counted.discard(rec.seq)
            rec.input_tokens = rec.output_tokens = 0
            rec.outcome, rec.error = "disconnected", error

    def _finish(self, rec: RecordedRequest) -> None:
        """Close the record (its outcome is set) and hand it to ``on_request``."""
        with self._changed:
            rec.duration_s = round(time.time() - rec.received_at, 6)
            if rec.outcome == "pending":
                rec.outcome = "unknown"
            self._changed.notify_all()
        if self._on_request is not None:
            try:
                self._on_request(rec)
            except Exception as exc:  # a logging callback must never break the server
                print(f"scripted_server: on_request failed: {exc}", file=sys.stderr)

    def _next_turn(self) -> Turn | TurnFunction | None:
        with self._lock:
            if self._consumed < len(self._turns):
                turn = self._turns[self._consumed]
                self._consumed += 1
                return turn
            self._exhausted += 1
            return None

    def _handle(self, handler: _Handler) -> None:
        path = urlsplit(handler.path).path.rstrip("/") or "/"
        raw_body = handler.read_body() if handler.command in ("POST", "PUT") else b""
        if handler.command == "POST" and path in ("/v1/messages", "/v1/messages/count_tokens"):
            try:
                body = json.loads(raw_body.decode("utf-8")) if raw_body else None
            except (UnicodeDecodeError, json.JSONDecodeError):
                body = None
            if not isinstance(body, dict):
                rec = self._record(handler, {}, kind="invalid", auxiliary=True)
                rec.outcome, rec.status, rec.error = (
                    "invalid",
                    400,
                    "request body is not a JSON object",
                )
                handler.send_json(400, _error_payload(400, "request body must be a JSON object"))
                self._finish(rec)
                return
            if path.endswith("/count_tokens"):
                self._count_tokens(handler, body)
            else:
                self._messages(handler, body)
            return
        if path in ("/", "/api/hello") and handler.command in ("GET", "HEAD"):
            rec = self._record(handler, {}, kind="probe", auxiliary=True)
            rec.outcome, rec.status = "probe", 200
            handler.send_json(200, {"ok": True})
            self._finish(rec)
            return
        if path == "/v1/models" and handler.command in ("GET", "HEAD"):
            rec = self._record(handler, {}, kind="models", auxiliary=True)
            rec.outcome, rec.status = "models", 200
            model = {
                "type": "model",
                "id": DEFAULT_MODEL,
                "display_name": "Scripted model",
                "created_at": "2025-01-01T00:00:00Z",
            }
            handler.send_json(
                200,
                {
                    "data": [model],
                    "has_more": False,
                    "first_id": DEFAULT_MODEL,
                    "last_id": DEFAULT_MODEL,
                },
            )
            self._finish(rec)
            return
        rec = self._record(handler, {}, kind="unknown", auxiliary=True)
        rec.outcome, rec.status = "not_found", 404
        handler.send_json(404, _error_payload(404, f"no route for {handler.command} {path}"))
        self._finish(rec)

    def _count_tokens(self, handler: _Handler, body: Mapping[str, Any]) -> None:
        rec = self._record(handler, body, kind="count_tokens", auxiliary=True)
        rec.input_tokens = estimate_input_tokens(body)
        rec.outcome, rec.status = "count_tokens", 200
        handler.send_json(200, {"input_tokens": rec.input_tokens})
        self._finish(rec)  # reported, but count_tokens calls are not billed

    def _messages(self, handler: _Handler, body: Mapping[str, Any]) -> None:
        try:
            aux_kind = self._classify(body, {k.lower(): v for k, v in handler.headers.items()})
        except Exception:  # a faulty classifier means "main request", never a crash
            aux_kind = None
        rec = self._record(handler, body, kind=aux_kind or "main", auxiliary=aux_kind is not None)
        outcome: str
        if aux_kind is not None:
            turn: Turn = _auxiliary_turn(aux_kind, body)
            outcome = "auxiliary"
        else:
            picked = self._next_turn()
            if picked is None:
                turn, outcome = text_turn(self.fallback_text), "exhausted"
            elif isinstance(picked, Turn):
                turn, outcome = picked, picked.kind
            else:
                try:
                    produced = picked(dict(body))
                    if produced is None:
                        raise ScriptError("the turn function returned None")
                    coerced = _coerce_turn(produced, where="turn function result")
                    if not isinstance(coerced, Turn):
                        raise ScriptError("the turn function returned another callable")
                    turn, outcome = coerced, coerced.kind
                except Exception as exc:
                    rec.outcome, rec.status, rec.error = (
                        "turn_error",
                        500,
                        f"{type(exc).__name__}: {exc}",
                    )
                    handler.send_json(
                        500,
                        _error_payload(500, f"scripted turn failed: {rec.error}"),
                        [("x-should-retry", "false")],
                    )
                    self._finish(rec)
                    return
        if turn.delay and self._stopping.wait(turn.delay):
            self._rollback(rec, "server stopped during delay")
            handler.close_connection = True
            self._finish(rec)
            return
        try:
            self._respond(handler, rec, body, turn, outcome)
        except _ClientGone as exc:
            self._rollback(rec, str(exc))
            self._finish(rec)
            raise
        self._finish(rec)

    def _respond(
        self,
        handler: _Handler,
        rec: RecordedRequest,
        body: Mapping[str, Any],
        turn: Turn,
        outcome: str,
    ) -> None:
        """Write the answer. Only a complete successful message counts its tokens (`_commit`)."""
        if turn.error_status is not None:
            status = turn.error_status
            payload = turn.error_body if turn.error_body is not None else _error_payload(status)
            rec.status, rec.outcome = status, outcome
            if isinstance(payload, (bytes, str)):
                raw = payload.encode("utf-8") if isinstance(payload, str) else payload
                handler.send_json(status, None, turn.headers, raw=raw)
            else:
                handler.send_json(status, payload, turn.headers)
            return

        model = rec.model or DEFAULT_MODEL
        msg_id = f"msg_scripted_{rec.seq:06d}"
        blocks = []
        n_tool = 0
        offered = tool_names(body)
        for block in turn.blocks:
            block = dict(block)
            if block["type"] == "tool_use":
                n_tool += 1
                block.setdefault("id", f"toolu_scripted_{rec.seq:04d}_{n_tool}")
                block = {
                    "type": "tool_use",
                    "id": block["id"],
                    "name": offered_name(block["name"], offered),
                    "input": block["input"],
                }
            blocks.append(block)
        input_tokens = estimate_input_tokens(body)
        usage_in = {
            "input_tokens": input_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        }
        rec.status = 200
        if turn.malformed is not None:
            rec.outcome = outcome  # nothing complete was delivered: its tokens stay 0
            self._respond_malformed(handler, rec, turn.malformed, model, msg_id, usage_in)
            return

        rec.input_tokens = input_tokens
        rec.output_tokens = estimate_output_tokens(blocks)
        rec.stop_reason = turn.resolved_stop_reason()
        if not rec.stream:
            payload = {
                "id": msg_id,
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": blocks,
                "stop_reason": rec.stop_reason,
                "stop_sequence": None,
                "usage": {**usage_in, "output_tokens": rec.output_tokens},
            }
            self._commit(rec, outcome)
            handler.send_json(200, payload)
            return

        handler.start_stream()
        handler.write_event(
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": msg_id,
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {**usage_in, "output_tokens": 1},
                },
            },
        )
        handler.write_event("ping", {"type": "ping"})
        for index, block in enumerate(blocks):
            if block["type"] == "text":
                handler.write_event(
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": index,
                        "content_block": {"type": "text", "text": ""},
                    },
                )
                for piece in _pieces(block["text"], self._chunk):
                    handler.write_event(
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": index,
                            "delta": {"type": "text_delta", "text": piece},
                        },
                    )
            else:
                handler.write_event(
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": index,
                        "content_block": {
                            "type": "tool_use",
                            "id": block["id"],
                            "name": block["name"],
                            "input": {},
                        },
                    },
                )
                for piece in _pieces(json.dumps(block["input"]), self._chunk):
                    handler.write_event(
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": index,
                            "delta": {"type": "input_json_delta", "partial_json": piece},
                        },
                    )
            handler.write_event(
                "content_block_stop", {"type": "content_block_stop", "index": index}
            )
        handler.write_event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": rec.stop_reason, "stop_sequence": None},
                "usage": {**usage_in, "output_tokens": rec.output_tokens},
            },
        )
        self._commit(rec, outcome)
        handler.write_event("message_stop", {"type": "message_stop"})
        handler.end_stream()

    def _respond_malformed(
        self,
        handler: _Handler,
        rec: RecordedRequest,
        mode: str,
        model: str,
        msg_id: str,
        usage_in: Mapping[str, int],
    ) -> None:
        start: dict[str, Any] = {
            "type": "message_start",
            "message": {
                "id": msg_id,
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {**usage_in, "output_tokens": 1},
            },
        }
        if not rec.stream:
            text = json.dumps(
                {**start["message"], "content": [{"type": "text", "text": "cut off"}]}
            )
            if mode == "bad_json":
                handler.send_json(200, None, raw=text[: len(text) // 2].encode("utf-8"))
            else:  # announce the full length, send half, drop the connection
                data = text.encode("utf-8")
                try:
                    handler.send_response(200)
                    handler.send_header("content-type", "application/json")
                    handler.send_header("content-length", str(len(data)))
                    handler.end_headers()
                    handler.wfile.write(data[: len(data) // 2])
                    handler.wfile.flush()
                except OSError as exc:
                    raise _ClientGone(str(exc)) from exc
                handler.close_connection = True
            return
        handler.start_stream()
        if mode == "bad_json":
            handler.write_chunk(
                b'event: message_start\ndata: {"type": "message_start", "message": {"id": \n\n'
            )
            handler.end_stream()
            return
        handler.write_event("message_start", start)
        handler.write_event(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        )
        handler.write_event(
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": "cut o"},
            },
        )
        handler.close_connection = True  # no terminating chunk: the body is incomplete


def _pieces(text: str, size: int) -> list[str]:
    if not text:
        return [""]
    return [text[i : i + size] for i in range(0, len(text), size)]


def _error_payload(status: int, message: str | None = None) -> dict[str, Any]:
    kind = _ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    return {
        "type": "error",
        "error": {"type": kind, "message": message or f"scripted error {status}"},
    }


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m llmos_tui.devtools.scripted_server",
        description="Serve the Anthropic Messages API from a script of turns (see the module docstring "
        "for the JSON shape). Prints 'READY <url>' once listening.",
    )
    parser.add_argument("--script", required=True, help="JSON file: a list of turns")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    parser.add_argument("--log", help="append each request to this file as a JSON line")
    parser.add_argument(
        "--fallback-text", default=DEFAULT_FALLBACK_TEXT, help="answer once the script is exhausted"
    )
    args = parser.parse_args(argv)

    try:
        script = load_script(args.script)
    except ScriptError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not 0 <= args.port <= 65535:
        print(f"error: --port must be in 0..65535, got {args.port}", file=sys.stderr)
        return 2

    on_request: Callable[[RecordedRequest], None] | None = None
    if args.log:
        from llmos_tui.atomic import append_line

        log_path = Path(args.log)

        def _log(rec: RecordedRequest) -> None:
            append_line(log_path, json.dumps(rec.to_dict(), ensure_ascii=False))

        on_request = _log

    server = ScriptedServer(
        script,
        host=args.host,
        port=args.port,
        fallback_text=args.fallback_text,
        on_request=on_request,
    )
    try:
        server.start()
    except OSError as exc:
        print(
            f"error: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return 2

    done = threading.Event()

    def _on_signal(signum: int, frame: Any) -> None:
        done.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    print(f"READY {server.url}", flush=True)
    try:
        while not done.wait(0.5):
            pass
    finally:
        server.stop()
    print(
        f"stopped: {server.main_request_count} main request(s), {len(server.auxiliary_requests)} auxiliary, "
        f"{server.exhausted_requests} after the script ran out; tokens in/out "
        f"{server.total_input_tokens}/{server.total_output_tokens}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
