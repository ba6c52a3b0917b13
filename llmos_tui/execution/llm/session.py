"""LEARNER backend: one Claude Agent SDK session (the bundled Claude Code CLI) with our hooks.

This is the only module that imports ``claude_agent_sdk``, and only inside ``LearnerSession``,
so paths that never call an LLM never pay for the import.

Tool calls are gated by our HookRegistry twice, failing closed: the PreToolUse hook
(``on_failure="block"``: a hook that raises or times out blocks the call) and the
``can_use_tool`` permission callback, which the CLI consults for any call the hook did not
explicitly allow. Streamed text and tool calls reach ``on_event`` as they happen; tokens and
cost come from the ``ResultMessage``.

A dead or slow model server is visible and bounded: each retry the CLI announces
(``SystemMessage(subtype="api_retry")``) and each 10 s of silence reach ``on_event`` as a
``ServerTrouble`` with the server's URL and the error (the CLI says "unknown" for a failed
connection: llmos then tries the address itself to name it, e.g. "connection refused"). When the
server has not answered for ``SessionRequest.server_timeout_s`` (``execution.llm_server_timeout_s``)
while llmos waits on it -- time spent in tool calls and confirmations does not count -- the
session is interrupted and fails with an error naming the URL.

No call is invisible: a call the CLI answers with an error before any hook of ours saw it (an
unknown tool name, input the CLI's own validation refused) is collected in
``SessionOutcome.rejected`` (rule ``session.cli_rejected``, with the CLI's error) and shown as a
``ToolCallStarted(decision="reject")`` + ``ToolCallFinished(is_error=True)``.
"""

from __future__ import annotations

import asyncio
import functools
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ...errors import NO_LLM_HINT, NoLLMConfigured
from ...runs import (
    CancelToken,
    EventSink,
    Notice,
    ServerTrouble,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
    next_call_seq,
)
from ..replay.hooks import (
    BUDGET_RULE,
    WITHHELD_RULE,
    Confirm,
    HookRegistry,
    HookVerdict,
    ToolOutcome,
    resolve_ask,
    summarize_response,
)

from ...claude_state import NO_PERSISTENCE_ARGS
from .configured import llm_configured
from .tool_search import CLI_DISALLOWED, is_twin


def require_llm() -> None:
    if not llm_configured():
        raise NoLLMConfigured(NO_LLM_HINT)


@dataclass
class SessionRequest:
    prompt: str
    cwd: Path
    model: str
    claude_config_dir: Path
    tools: list[str]
    system_append: str = ""
    max_turns: int = 30
    timeout_s: float = 600.0
    extra_env: dict[str, str] = field(default_factory=dict)
    # Tool Search (execution/llm/tool_search.py SessionTooling) and sub-agents (orchestrator.agent_definitions).
    mcp_servers: dict[str, Any] = field(default_factory=dict)
    allowed_tools: list[str] = field(default_factory=list)
    disallowed_tools: list[str] = field(default_factory=list)
    agents: dict[str, Any] | None = None
    # Called from PostToolUse with (tool name, input, response); a list replaces an MCP tool's output.
    post_tool_output: Callable[[str, dict[str, Any], Any], Any] | None = None
    # Running cost of this session's requests as they stream in (the budget hook reads it).
    meter: "SessionMeter | None" = None
    # Longest wait for the model server (retries included, tools and confirmations excluded).
    server_timeout_s: float = 60.0


SILENCE_REPORT_S = 10.0  # a silent server is reported every this many seconds


def model_server_url(extra_env: dict[str, str] | None = None) -> str:
    """The Messages-API server the CLI talks to."""
    return (
        (extra_env or {}).get("ANTHROPIC_BASE_URL")
        or os.environ.get("ANTHROPIC_BASE_URL")
        or "https://api.anthropic.com"
    ).rstrip("/")


def describe_unreachable(url: str, timeout_s: float = 2.0) -> str:
    """Why a connection to ``url`` fails, found by trying it ("connection refused", "cannot resolve
    the host name", ...); used when the CLI reports a failed request as "unknown"."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return "the request failed or timed out, though the address accepts connections"
    except ConnectionRefusedError:
        return "connection refused"
    except socket.gaierror:
        return f"cannot resolve the host name {host!r}"
    except (socket.timeout, TimeoutError):
        return f"connecting to {host}:{port} timed out"
    except OSError as exc:
        return exc.strerror or str(exc)


def retry_error(data: dict[str, Any]) -> str | None:
    """The error an ``api_retry`` message carries, in words; None when the CLI did not say."""
    status, error = data.get("error_status"), str(data.get("error") or "")
    if status:
        return f"HTTP {status}" + (
            f" {error.replace('_', ' ')}" if error and error != "unknown" else ""
        )
    return error.replace("_", " ") if error and error != "unknown" else None


class SessionMeter:
    """What a session has spent so far, from the usage of each model message as it arrives
    (priced with ``pricing.price``; the exact cost comes with the ``ResultMessage``). One
    API message can reach us as several SDK messages (one per content block): each message id is
    counted once. Sub-agents' messages count too."""

    def __init__(self) -> None:
        self.cost_usd = 0.0
        self.requests = 0
        self._seen: set[str] = set()

    def add(self, message_id: str | None, model: str, usage: dict[str, Any] | None) -> None:
        if not usage or not message_id or message_id in self._seen:
            return
        from .pricing import price

        self._seen.add(message_id)
        tokens_in, tokens_out = _usage_tokens(usage)
        self.cost_usd += price(model or "", tokens_in, tokens_out)
        self.requests += 1


def budget_hook(
    meter: SessionMeter, balance: Callable[[], float]
) -> Callable[..., HookVerdict | None]:
    """A PreToolUse hook that denies every further tool call once this session's running cost
    has used up the economy's balance (``balance()``, read at each call: other processes spend
    too). The session then ends with what it has; its real cost is charged as usual."""

    def hook(name: str, tool_input: dict[str, Any], tool_use_id: str) -> HookVerdict | None:
        before = balance()
        left = before - meter.cost_usd
        if left <= 0:
            over = f"${-left:.4f} over the budget" if left < 0 else "nothing left"
            return HookVerdict(
                "deny",
                f"the budget ran out during this run: it spent about ${meter.cost_usd:.4f} "
                f"and the workspace had ${max(before, 0.0):.4f} left ({over}); "
                "no more tool calls",
                BUDGET_RULE,
            )
        return None

    return hook


@dataclass
class _ServerWatch:
    """What a session knows of its model server: when it last heard from it, the retries the CLI
    reported (and the last error), when silence was last reported, whether it gave up."""

    url: str
    heard: float
    retries: int = 0
    error: str | None = None
    reported: float = 0.0
    gave_up: bool = False


@dataclass
class SessionOutcome:
    success: bool
    text: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    llm_calls: int = 0
    num_turns: int = 0
    error: str | None = None
    cancelled: bool = False
    session_id: str | None = None
    blocked: list[dict[str, Any]] = field(default_factory=list)
    #: calls the CLI answered with an error before any of our hooks saw them (an unknown tool name,
    #: input its own validation refused): {name, input, tool_use_id, reason, rule, seq}; they never ran
    rejected: list[dict[str, Any]] = field(default_factory=list)


#: ``rule`` of a call the CLI rejected before any hook (unknown tool, invalid input)
CLI_REJECTED_RULE = "session.cli_rejected"


def _result_text(content: Any) -> str:
    """A tool_result's text without the CLI's wrappers (``<tool_use_error>``, system reminders)."""
    if isinstance(content, list):
        content = " ".join(str(b.get("text", "")) for b in content if isinstance(b, dict))
    text = str(content or "")
    text = re.sub(r"<system-reminder>.*?</system-reminder>", "", text, flags=re.S)
    text = re.sub(r"</?tool_use_error>", "", text)
    return " ".join(text.split())[:500] or "rejected"


def _usage_tokens(usage: dict[str, Any] | None) -> tuple[int, int]:
    if not usage:
        return 0, 0

    def num(key: str) -> int:
        value = usage.get(key) or 0
        return int(value) if isinstance(value, (int, float)) else 0

    total_in = (
        num("input_tokens") + num("cache_creation_input_tokens") + num("cache_read_input_tokens")
    )
    return total_in, num("output_tokens")


def _keep_tail(tail: list[str], line: str) -> None:
    """The CLI's last 20 stderr lines, for the error message."""
    tail.append(line)
    del tail[:-20]


class LearnerSession:
    """One LEARNER session: the SDK client's hooks and its message handling as methods.

    The state they share (the verdicts given per tool_use id, the calls shown, the model server
    watch, the outcome being built) lives on the instance, so each hook can be called on its own
    (tests call ``decide``, ``pre_tool``, ``post_tool`` ... directly). ``claude_agent_sdk`` is
    imported only by the methods that need its types (``run``, ``can_use_tool``, ``handle``).
    """

    def __init__(
        self,
        req: SessionRequest,
        hooks: HookRegistry,
        *,
        on_event: EventSink | None = None,
        cancel: CancelToken | None = None,
        confirm: Confirm | None = None,
        assume_yes: bool = False,
        clock: Callable[[], float] | None = None,
    ) -> None:
        import time

        self.req = req
        self.hooks = hooks
        self.emit: EventSink = on_event or (lambda _e: None)
        self.cancel = cancel
        self.confirm = confirm
        self.assume_yes = assume_yes
        #: the event loop's clock once ``run`` starts (monotonic before)
        self.clock: Callable[[], float] = clock or time.monotonic
        self.decisions: dict[str, HookVerdict] = {}  # tool_use id -> the verdict it got
        self.started: set[str] = set()  # tool_use ids shown as ToolCallStarted
        self.stderr_tail: list[str] = []
        self.outcome = SessionOutcome(success=False)
        # The model server watch: when it last answered, the tool calls in flight (their time is
        # not the server's), what its last failure was.
        self.server_url = model_server_url(req.extra_env)
        self.heard_at = self.clock()
        self.retries = 0
        self.server_error: str | None = None
        self.reported_at = 0.0
        self.gave_up = False
        self.busy: set[str] = set()
        self.message_ids: set[str] = set()
        # top-level tool_use id -> (name, input, seq)
        self.uses: dict[str, tuple[str, dict[str, Any], int]] = {}
        self.offered = set(req.tools)
        self.final_texts: list[str] = []
        self.streamed = False
        self.timed_out = False

    # ---- the hooks -----------------------------------------------------------------------
    def heard(self) -> None:
        self.heard_at = self.clock()

    def decide(self, name: str, tool_input: dict[str, Any], tool_use_id: str) -> HookVerdict:
        """The verdict on one call (asked once per tool_use id: the PreToolUse hook and the
        permission callback share it); a refused call is collected in ``outcome.blocked``."""
        if tool_use_id and tool_use_id in self.decisions:
            return self.decisions[tool_use_id]
        verdict = self.hooks.run_pre(
            name, tool_input if isinstance(tool_input, dict) else {}, tool_use_id
        )
        verdict = resolve_ask(verdict, name, tool_input, self.confirm, self.assume_yes)
        self.heard()  # a confirmation may have kept the user (not the server) for minutes
        if verdict.decision == "allow":
            self.busy.add(tool_use_id or name)
        if tool_use_id:
            self.decisions[tool_use_id] = verdict
        if verdict.decision != "allow":
            self.outcome.blocked.append(
                {
                    "name": name,
                    "input": dict(tool_input or {}),
                    "tool_use_id": tool_use_id,
                    "decision": verdict.decision,
                    "reason": verdict.reason,
                    "rule": verdict.rule,
                    "seq": next_call_seq(),
                }
            )
        # a twin's real call is shown by the executor
        if tool_use_id not in self.started and not is_twin(name):
            self.started.add(tool_use_id)
            self.emit(
                ToolCallStarted(
                    tool_use_id, name, dict(tool_input or {}), verdict.decision, verdict.reason
                )
            )
        return verdict

    async def pre_tool(
        self, hook_input: dict[str, Any], tool_use_id: str | None, _ctx: Any
    ) -> dict[str, Any]:
        """PreToolUse: the policy's verdict; a hook that raises denies the call (fail closed)."""
        try:
            verdict = self.decide(
                hook_input.get("tool_name", ""),
                hook_input.get("tool_input") or {},
                hook_input.get("tool_use_id") or tool_use_id or "",
            )
        except Exception as exc:  # noqa: BLE001 - fail closed
            verdict = HookVerdict("deny", f"policy failed: {exc!r}", "hooks.error")
        return {
            "hookSpecificOutput": {
                "hookEventName": "PreToolUse",
                "permissionDecision": verdict.decision,
                "permissionDecisionReason": verdict.reason,
            }
        }

    def finished(
        self, hook_input: dict[str, Any], tool_use_id: str | None, *, failed: bool
    ) -> None:
        """A call ran (or failed): the post-hooks record it, the UI hears it."""
        name = hook_input.get("tool_name", "")
        tool_input = hook_input.get("tool_input") or {}
        tid = hook_input.get("tool_use_id") or tool_use_id or ""
        response: Any  # the error text, or the tool's response as the CLI reports it
        if failed:
            response = str(hook_input.get("error") or "tool failed")
            summary, code = _failure_summary(name, response)
        else:
            response = hook_input.get("tool_response")
            summary, code = summarize_response(name, response)
            if name == "Bash" and code is None:
                code = 0  # PostToolUse (not PostToolUseFailure) means the command exited 0
        is_error = failed or (code is not None and code != 0)
        self.busy.discard(tid or name)
        self.heard()
        self.hooks.run_post(
            name,
            tool_input,
            tid,
            ToolOutcome(is_error=is_error, summary=summary, response=response, exit_code=code),
        )
        if not is_twin(name):
            self.emit(ToolCallFinished(tid, name, is_error, summary))

    async def post_tool(
        self, hook_input: dict[str, Any], tool_use_id: str | None, _ctx: Any
    ) -> dict[str, Any]:
        """PostToolUse: record the call; an MCP tool's output may be replaced
        (``SessionRequest.post_tool_output``)."""
        self.finished(hook_input, tool_use_id, failed=False)
        if self.req.post_tool_output is None:
            return {}
        try:
            updated = self.req.post_tool_output(
                hook_input.get("tool_name", ""),
                hook_input.get("tool_input") or {},
                hook_input.get("tool_response"),
            )
        except Exception:  # noqa: BLE001 - the original output stands
            updated = None
        if updated is None:
            return {}
        return {
            "hookSpecificOutput": {
                "hookEventName": "PostToolUse",
                "updatedMCPToolOutput": updated,
            }
        }

    async def post_tool_failure(
        self, hook_input: dict[str, Any], tool_use_id: str | None, _ctx: Any
    ) -> dict[str, Any]:
        self.finished(hook_input, tool_use_id, failed=True)
        return {}

    async def prompt_submit(
        self, hook_input: dict[str, Any], _tid: str | None, _ctx: Any
    ) -> dict[str, Any]:
        """UserPromptSubmit: the prompt hooks' extra context (memory injection)."""
        extra = self.hooks.run_prompt(str(hook_input.get("prompt", "")))
        if not extra:
            return {}
        return {
            "hookSpecificOutput": {"hookEventName": "UserPromptSubmit", "additionalContext": extra}
        }

    async def can_use_tool(self, name: str, tool_input: dict[str, Any], ctx: Any) -> Any:
        """The CLI's permission callback: the same verdict as the PreToolUse hook."""
        from claude_agent_sdk.types import PermissionResultAllow, PermissionResultDeny

        verdict = self.decide(name, tool_input, getattr(ctx, "tool_use_id", None) or "")
        if verdict.decision == "allow":
            return PermissionResultAllow()
        return PermissionResultDeny(message=f"Blocked by llmos policy: {verdict.reason}")

    # ---- the model server watch ------------------------------------------------------------
    async def on_retry(self, data: dict[str, Any]) -> None:
        """The CLI failed a request and will retry: say so, with the URL and the error."""
        error = retry_error(data)
        if error is None:
            error = await asyncio.to_thread(describe_unreachable, self.server_url)
        self.retries += 1
        self.server_error = error
        self.reported_at = self.clock()
        delay = data.get("retry_delay_ms")
        self.emit(
            ServerTrouble(
                self.server_url,
                error,
                self.clock() - self.heard_at,
                self.req.server_timeout_s,
                attempt=int(data.get("attempt") or self.retries),
                max_retries=int(data.get("max_retries") or 0),
                retry_in_s=float(delay) / 1000.0 if isinstance(delay, (int, float)) else 0.0,
            )
        )

    def check_server(self) -> bool:
        """One look at the server watch: False when the server has been silent for
        ``server_timeout_s`` while we wait on it (the session gives up); each
        ``SILENCE_REPORT_S`` of silence that no retry message explained is reported."""
        now = self.clock()
        if self.busy:  # a tool (or a sub-agent) is running: the server is not being waited on
            self.heard()
            return True
        silent = now - self.heard_at
        if silent >= self.req.server_timeout_s:
            self.gave_up = True
            return False
        if (
            silent >= SILENCE_REPORT_S
            and now - max(self.reported_at, self.heard_at) >= SILENCE_REPORT_S
        ):
            self.reported_at = now
            self.emit(
                ServerTrouble(
                    self.server_url,
                    self.server_error or "no answer yet",
                    silent,
                    self.req.server_timeout_s,
                )
            )
        return True

    async def watch_server(self, scope: Any) -> None:
        """Give up on a server that has not answered for ``server_timeout_s`` while we wait."""
        while True:
            await asyncio.sleep(0.25)
            if not self.check_server():
                scope.cancel()
                return

    # ---- the messages ------------------------------------------------------------------------
    def handle(self, message: Any) -> None:
        from claude_agent_sdk import (
            AssistantMessage,
            ResultMessage,
            StreamEvent,
            SystemMessage,
            UserMessage,
        )

        if not isinstance(message, SystemMessage):
            self.heard()  # the server answered (streamed events, messages, tool results, the end)
        if isinstance(message, StreamEvent):
            self.on_stream_event(message)
        elif isinstance(message, AssistantMessage):
            self.on_assistant(message)
        elif (
            isinstance(message, UserMessage)
            and not message.parent_tool_use_id
            and isinstance(message.content, list)
        ):
            self.on_tool_results(message.content)
        elif isinstance(message, ResultMessage):
            self.on_result(message)

    def on_stream_event(self, message: Any) -> None:
        if message.parent_tool_use_id:
            return
        event = message.event
        if event.get("type") == "message_start":
            self.busy.clear()  # the model speaks again: the tool calls before it are over
            mid = (event.get("message") or {}).get("id")
            if mid:
                self.message_ids.add(mid)
        if event.get("type") == "content_block_delta":
            delta = event.get("delta") or {}
            if delta.get("type") == "text_delta" and delta.get("text"):
                self.streamed = True
                self.emit(TextDelta(delta["text"]))

    def on_assistant(self, message: Any) -> None:
        from claude_agent_sdk import TextBlock, ToolUseBlock

        if self.req.meter is not None:
            self.req.meter.add(message.message_id, message.model, message.usage)
        if message.parent_tool_use_id:
            return
        self.message_ids.add(message.message_id or f"m{len(self.message_ids)}")
        for block in message.content:
            if isinstance(block, ToolUseBlock):
                self.on_tool_use(block.id, block.name, dict(block.input or {}))
        texts = [b.text for b in message.content if isinstance(b, TextBlock)]
        if texts:
            self.final_texts.append("".join(texts))

    def on_tool_use(self, tool_use_id: str, name: str, tool_input: dict[str, Any]) -> None:
        """The model asked for a call. One to a tool this session did not offer never reaches a
        hook (the CLI answers "no such tool"): it is still an attempt the system refused."""
        if name in self.offered or name.startswith("mcp__") or tool_use_id in self.started:
            self.uses[tool_use_id] = (name, tool_input, next_call_seq())
            return
        self.started.add(tool_use_id)
        reason = "the tool is withheld in this run (not offered to the model)"
        self.outcome.blocked.append(
            {
                "name": name,
                "input": tool_input,
                "tool_use_id": tool_use_id,
                "decision": "deny",
                "reason": reason,
                "rule": WITHHELD_RULE,
                "seq": next_call_seq(),
            }
        )
        self.emit(ToolCallStarted(tool_use_id, name, dict(tool_input), "deny", reason))

    def on_tool_results(self, content: list[Any]) -> None:
        """An error result for a call no hook of ours saw: the CLI refused it itself."""
        from claude_agent_sdk import ToolResultBlock

        for block in content:
            if not isinstance(block, ToolResultBlock) or not block.is_error:
                continue
            tid = block.tool_use_id
            if tid not in self.uses or tid in self.decisions or tid in self.started:
                continue
            self.reject(tid, _result_text(block.content))

    def reject(self, tool_use_id: str, reason: str) -> None:
        name, tool_input, seq = self.uses.pop(tool_use_id)
        self.started.add(tool_use_id)
        self.outcome.rejected.append(
            {
                "name": name,
                "input": tool_input,
                "tool_use_id": tool_use_id,
                "reason": reason,
                "rule": CLI_REJECTED_RULE,
                "seq": seq,
            }
        )
        self.emit(ToolCallStarted(tool_use_id, name, tool_input, "reject", reason))
        self.emit(ToolCallFinished(tool_use_id, name, True, f"rejected: {reason}"))

    def on_result(self, message: Any) -> None:
        outcome = self.outcome
        outcome.input_tokens, outcome.output_tokens = _usage_tokens(message.usage)
        outcome.cost_usd = float(message.total_cost_usd or 0.0)
        outcome.num_turns = message.num_turns
        outcome.session_id = message.session_id
        outcome.success = not message.is_error and message.subtype == "success"
        outcome.text = message.result if message.result is not None else "\n".join(self.final_texts)
        if not outcome.success:
            detail = "; ".join(message.errors or []) or (message.result or message.subtype)
            status = f" (HTTP {message.api_error_status})" if message.api_error_status else ""
            where = (
                f" (model server {self.server_url})"
                if self.retries or message.api_error_status
                else ""
            )
            outcome.error = f"the LLM session failed{status}: {detail}{where}"

    # ---- the session ---------------------------------------------------------------------------
    def options(self) -> Any:
        """The SDK client's options: our hooks, the offered tools, no settings, no transcripts."""
        from claude_agent_sdk import ClaudeAgentOptions, HookMatcher

        req = self.req
        req.claude_config_dir.mkdir(parents=True, exist_ok=True)
        # The CLI itself is not sandboxed and needs no sandbox: it runs no tool that touches files
        # or starts a process (those are llmos's MCP twins, run by our executors inside the OS
        # sandbox; see tool_search.EXECUTED_BUILTINS). Its own state lives in the workspace, which
        # tool calls cannot see.
        env = {"CLAUDE_CONFIG_DIR": str(req.claude_config_dir), **req.extra_env}
        tail = self.stderr_tail
        return ClaudeAgentOptions(
            cwd=str(req.cwd),
            model=req.model,
            tools=list(req.tools),
            mcp_servers=dict(req.mcp_servers),
            allowed_tools=list(req.allowed_tools),
            disallowed_tools=sorted(set(req.disallowed_tools) | set(CLI_DISALLOWED)),
            agents=req.agents,
            setting_sources=[],
            permission_mode="default",
            can_use_tool=self.can_use_tool,
            include_partial_messages=True,
            max_turns=req.max_turns,
            env=env,
            # No transcript of the conversation is kept on disk (tool output may hold secrets).
            extra_args=dict(NO_PERSISTENCE_ARGS),
            system_prompt={"type": "preset", "preset": "claude_code", "append": req.system_append}
            if req.system_append
            else {"type": "preset", "preset": "claude_code"},
            # Our hooks read their input as a plain dict and answer one; the SDK types both as
            # TypedDict unions (list-item).
            hooks={
                # A confirmation in the TUI runs inside this hook: give the user time to answer.
                "PreToolUse": [
                    HookMatcher(
                        hooks=[self.pre_tool],  # type: ignore[list-item]
                        timeout=3600 if self.confirm else 30,
                        on_failure="block",
                    )
                ],
                "PostToolUse": [HookMatcher(hooks=[self.post_tool])],  # type: ignore[list-item]
                "PostToolUseFailure": [
                    HookMatcher(hooks=[self.post_tool_failure])  # type: ignore[list-item]
                ],
                "UserPromptSubmit": [
                    HookMatcher(hooks=[self.prompt_submit])  # type: ignore[list-item]
                ],
            },
            stderr=functools.partial(_keep_tail, tail),
        )

    async def drive(self, options: Any) -> None:
        import anyio
        from claude_agent_sdk import ClaudeSDKClient, SystemMessage

        async with ClaudeSDKClient(options=options) as client:
            if self.cancel is not None:
                loop = asyncio.get_running_loop()
                self.cancel.on_cancel(
                    lambda: loop.call_soon_threadsafe(
                        lambda: asyncio.ensure_future(client.interrupt())
                    )
                )
            await client.query(self.req.prompt)
            self.heard()
            with anyio.move_on_after(self.req.timeout_s) as deadline:
                async with anyio.create_task_group() as group:
                    group.start_soon(self.watch_server, group.cancel_scope)
                    async for message in client.receive_response():
                        if isinstance(message, SystemMessage) and message.subtype == "api_retry":
                            await self.on_retry(dict(message.data or {}))
                        self.handle(message)
                    group.cancel_scope.cancel()
            if deadline.cancelled_caught or self.gave_up:
                # Out of time: ask the CLI to stop (it aborts its request and ends the turn with a
                # result that still carries the usage so far), then close normally. Cancelling the
                # task instead (asyncio.wait_for) skipped the SDK's terminate/kill escalation, held
                # the run ~5 s longer and printed "Event loop is closed" from a leaked transport.
                self.timed_out = True
                with anyio.move_on_after(10):
                    await client.interrupt()
                    async for message in client.receive_response():
                        self.handle(message)

    async def run(self) -> SessionOutcome:
        require_llm()
        self.clock = asyncio.get_running_loop().time
        self.heard_at = self.clock()
        options = self.options()
        try:
            await self.drive(options)
        except Exception as exc:  # noqa: BLE001 - the SDK raises several error types; report them all
            self.outcome.success = False
            tail = " ".join(line.strip() for line in self.stderr_tail[-3:] if line.strip())
            self.outcome.error = f"the LLM session failed: {exc}" + (f" ({tail})" if tail else "")
        return self.finish()

    def finish(self) -> SessionOutcome:
        """The outcome once the session ended: time-outs, cancellation, the final text."""
        outcome = self.outcome
        if self.gave_up:
            outcome.success = False
            what = (
                f"{self.retries} failed attempt(s), the last: {self.server_error}"
                if self.retries
                else "no answer at all"
            )
            outcome.error = (
                f"the model server at {self.server_url} did not answer for "
                f"{self.req.server_timeout_s:.0f} s ({what}); check that it is running and that "
                "ANTHROPIC_BASE_URL points at it (execution.llm_server_timeout_s sets this limit)"
            )
        elif self.timed_out:
            outcome.success = False
            outcome.error = f"the LLM session timed out after {self.req.timeout_s:.0f} s"
        outcome.llm_calls = len(self.message_ids)
        if not outcome.text:
            outcome.text = "\n".join(self.final_texts)
        if self.cancel is not None and self.cancel.cancelled:
            outcome.cancelled = True
            outcome.success = False
            outcome.error = "cancelled by the user"
            self.emit(Notice("warning", "cancelled"))
        if not self.streamed and outcome.text and outcome.success:
            self.emit(TextDelta(outcome.text))
        return outcome


def _failure_summary(name: str, response: str) -> tuple[str, int | None]:
    """A failed call's summary and exit code (Claude Code reports a failed command as
    "Exit code N\n<output>")."""
    summary, code = " ".join(response.split())[:300], None
    match = re.match(r"Exit code (-?\d+)", response)
    if name == "Bash" and match:
        code = int(match.group(1))
    return summary, code


async def run_session(
    req: SessionRequest,
    hooks: HookRegistry,
    *,
    on_event: EventSink | None = None,
    cancel: CancelToken | None = None,
    confirm: Confirm | None = None,
    assume_yes: bool = False,
) -> SessionOutcome:
    """Run one LEARNER session to its end (``LearnerSession``)."""
    session = LearnerSession(
        req, hooks, on_event=on_event, cancel=cancel, confirm=confirm, assume_yes=assume_yes
    )
    return await session.run()
