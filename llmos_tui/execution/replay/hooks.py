"""One hook registry for every execution path.

The SDK path (LEARNER/MIXED) adapts it to claude-agent-sdk's PreToolUse / PostToolUse /
PostToolUseFailure / UserPromptSubmit hooks; our own executors (replay, crystallized tools)
call ``run_pre`` / ``run_post`` directly. Pre-tool hooks fail closed: a hook that raises
counts as a deny, and the strictest answer wins (deny > ask > allow).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Callable
from llmos_tui.records import field, record

if TYPE_CHECKING:
    import logging


def _logger() -> logging.Logger:
    """The module's logger: ``logging`` is imported by the first message, not by every start."""
    import logging

    return logging.getLogger(__name__)


_RANK = {"allow": 0, "ask": 1, "deny": 2}
BUDGET_RULE = "economy.budget"  # the rule of a call denied because the run's budget ran out (not a safety matter)
# Calls refused for a reason that is not a safety matter: the sentience never counts them as a
# safety violation (kernel._after_run). A user's "No" to a confirmation is feedback; an "ask" that
# could not be asked (headless without --yes) is the cautious state's own doing; a call to a tool the
# session did not offer is answered "no such tool" (execution/llm/session.py).
DECLINED_RULE = "user.declined"
UNCONFIRMED_RULE = "ask.unconfirmed"
WITHHELD_RULE = "session.withheld_tool"
NOT_SAFETY_RULES = frozenset({BUDGET_RULE, DECLINED_RULE, UNCONFIRMED_RULE, WITHHELD_RULE})
#: ``decision`` of a recorded call that never ran because it was rejected before any hook or
#: executor (invalid input, unknown tool): not a policy decision, never a safety violation; a
#: replay skips it (it had no effect).
REJECTED = "reject"


@record(frozen=True)
class HookVerdict:
    """A hook's answer about a tool call (allow, ask or deny)."""

    decision: str  # allow | ask | deny
    reason: str = ""
    rule: str = ""


@record
class ToolOutcome:
    """The result of a tool call as hooks see it."""

    is_error: bool
    summary: str
    response: Any = None
    exit_code: int | None = None
    files_created: list[str] = field(default_factory=list)


Confirm = Callable[[str, dict[str, Any], str], bool]
PreHook = Callable[[str, dict[str, Any], str], HookVerdict | None]
PostHook = Callable[[str, dict[str, Any], str, ToolOutcome], None]
PromptHook = Callable[[str], str | None]


class HookRegistry:
    def __init__(self) -> None:
        self.pre_tool: list[PreHook] = []
        self.post_tool: list[PostHook] = []
        self.user_prompt: list[PromptHook] = []
        self._path_scoped: set[int] = set()

    # ---- registration ------------------------------------------------------------
    def add_pre(self, hook: PreHook, *, path_scoped: bool = False) -> PreHook:
        """``path_scoped``: the hook promises that its answer for a file tool (Write, Edit,
        MultiEdit, NotebookEdit, Read, Glob, Grep, LS) depends on the filesystem only through
        where the paths the call names resolve and whether they exist (the policy engine's
        rules; ``replay`` then re-asks less, see ``_verdict_still_valid``)."""
        self.pre_tool.append(hook)
        if path_scoped:
            self._path_scoped.add(id(hook))
        return hook

    @property
    def path_scoped(self) -> bool:
        """True when there are pre-hooks and every one is path-scoped."""
        return bool(self.pre_tool) and all(id(h) in self._path_scoped for h in self.pre_tool)

    def add_post(self, hook: PostHook) -> PostHook:
        self.post_tool.append(hook)
        return hook

    def add_prompt(self, hook: PromptHook) -> PromptHook:
        self.user_prompt.append(hook)
        return hook

    # ---- dispatch ------------------------------------------------------------------
    def run_pre(
        self, tool_name: str, tool_input: dict[str, Any], tool_use_id: str = ""
    ) -> HookVerdict:
        if not self.pre_tool:
            return HookVerdict("deny", "no policy hook is registered (fail closed)", "hooks.none")
        answers: list[HookVerdict] = []
        for hook in self.pre_tool:
            try:
                answer = hook(tool_name, tool_input, tool_use_id)
            except Exception as exc:  # noqa: BLE001 - fail closed
                _logger().debug("pre-tool hook failed", exc_info=True)
                return HookVerdict(
                    "deny", f"policy hook failed: {exc!r} (fail closed)", "hooks.error"
                )
            if answer is None:
                continue
            if answer.decision not in _RANK:
                return HookVerdict(
                    "deny", f"invalid hook decision {answer.decision!r}", "hooks.invalid"
                )
            answers.append(answer)
        if not answers:
            return HookVerdict("allow", "no hook objected")
        return max(answers, key=lambda a: _RANK[a.decision])  # first of the strictest

    def run_post(
        self, tool_name: str, tool_input: dict[str, Any], tool_use_id: str, outcome: ToolOutcome
    ) -> None:
        for hook in self.post_tool:
            try:
                hook(tool_name, tool_input, tool_use_id, outcome)
            except Exception:  # noqa: BLE001 - capture must never break a run
                _logger().exception("post-tool hook failed")

    def run_prompt(self, prompt: str) -> str:
        parts = []
        for hook in self.user_prompt:
            try:
                extra = hook(prompt)
            except Exception:  # noqa: BLE001
                _logger().exception("prompt hook failed")
                continue
            if extra:
                parts.append(extra)
        return "\n\n".join(parts)


def summarize_response(tool_name: str, response: Any, limit: int = 300) -> tuple[str, int | None]:
    """A short, human-readable summary of a tool response, and an exit code if one is known."""
    exit_code: int | None = None
    if isinstance(response, dict):
        if "exitCode" in response or "exit_code" in response:
            raw = response.get("exitCode", response.get("exit_code"))
            exit_code = raw if isinstance(raw, int) else None
        if tool_name == "Bash":
            out = str(response.get("stdout") or "")
            err = str(response.get("stderr") or "")
            text = out if out.strip() else err
            if response.get("interrupted"):
                text = "(interrupted) " + text
        elif "type" in response and "filePath" in response:
            text = f"{response.get('type')} {response.get('filePath')}"
        elif "file" in response and isinstance(response["file"], dict):
            text = f"read {response['file'].get('filePath', '')}"
        else:
            text = json.dumps(response, ensure_ascii=False, default=str)
    elif isinstance(response, list):
        text = " ".join(
            str(item.get("text", "")) if isinstance(item, dict) else str(item) for item in response
        )
    else:
        text = "" if response is None else str(response)
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text, exit_code


def resolve_ask(
    verdict: HookVerdict,
    name: str,
    tool_input: dict[str, Any],
    confirm: "Confirm | None",
    assume_yes: bool,
) -> HookVerdict:
    """Turn an ``ask`` into allow/deny: a confirmation in the TUI, ``--yes`` headless, else deny."""
    if verdict.decision != "ask":
        return verdict
    if assume_yes:
        return HookVerdict("allow", f"confirmed by --yes ({verdict.reason})", verdict.rule)
    why = f"{verdict.reason} [{verdict.rule}]" if verdict.rule else verdict.reason
    if confirm is None:
        return HookVerdict(
            "deny",
            f"needs confirmation and none is possible headless; pass --yes to allow ({why})",
            UNCONFIRMED_RULE,
        )
    try:
        ok = bool(confirm(name, tool_input, verdict.reason))
    except Exception:  # noqa: BLE001 - fail closed
        ok = False
    if ok:
        return HookVerdict("allow", f"confirmed by the user ({verdict.reason})", verdict.rule)
    return HookVerdict("deny", f"declined by the user ({why})", DECLINED_RULE)
