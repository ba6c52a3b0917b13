"""Deterministic replay of a trace's tool calls on the edge, checked like llmos's FOLLOWER replay.

1. Paths stored as ``{{cwd}}`` are re-rooted into the working directory.
2. Slot substitution (a goal that differs only in a file name): only file names are substituted
   on the edge, and only when every use of the old name is a whole path component, a whole shell
   word, or a whole word of file content, the new name is a plain file name with the same
   extension, and no form of the old name is left afterwards. Anything else is refused (the goal
   needs an LLM: llmos's own replay also substitutes numbers, ports and quoted strings).
3. Every call is checked before the first one runs: an executor exists, the input is well formed,
   the call was not blocked when it was recorded, and the edge policy allows it.
4. The calls run in order; each result is compared with the recorded one (error flag, exit status,
   files the call created). The first mismatch stops the replay and says which step and why.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from .executors import EdgeExecutor, Outcome, check_input

CWD_TOKEN = "{{cwd}}"
_EXIT_CODE = re.compile(r"^\s*Exit code (\d+)\b")
_SAFE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]{0,199}")
PATH_KEYS = ("file_path", "path", "notebook_path")
CONTENT_KEYS = ("content", "old_string", "new_string")


@dataclass
class Step:
    index: int
    name: str
    input: dict[str, Any]
    outcome: Outcome | None
    matched: bool
    problem: str = ""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "step": self.index + 1,
            "name": self.name,
            "input": self.input,
            "matched": self.matched,
            "problem": self.problem,
        }
        if self.outcome is not None:
            out.update(self.outcome.to_dict())
        return out


@dataclass
class ReplayResult:
    success: bool
    steps: list[Step] = field(default_factory=list)
    reason: str = ""
    refused: bool = False
    denied: bool = False  # refused by the policy (exit 3), not for another reason
    stopped_at: int | None = None
    files_created: list[str] = field(default_factory=list)

    def describe(self) -> str:
        lines = []
        for s in self.steps:
            mark = (
                "ok"
                if s.matched
                else "MISMATCH"
                if s.outcome is not None and not s.outcome.refused
                else "refused"
            )
            summary = s.outcome.summary if s.outcome is not None else s.problem
            lines.append(f"{s.index + 1}. {s.name}: {mark}: {summary}")
        if not self.success:
            lines.append(self.reason)
        return "\n".join(lines)


class Refused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _map_strings(value: Any, fn: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, list):
        return [_map_strings(v, fn) for v in value]
    if isinstance(value, dict):
        return {k: _map_strings(v, fn) for k, v in value.items()}
    return value


def reroot(calls: list[dict[str, Any]], root: str) -> list[dict[str, Any]]:
    def fix(text: str) -> str:
        return text.replace(CWD_TOKEN, root) if CWD_TOKEN in text else text

    return [
        dict(c, input=_map_strings(c["input"], fix), result=_map_strings(c["result"], fix))
        for c in calls
    ]


# ---- substitution -----------------------------------------------------------------------------------


def _positions(text: str, old: str) -> list[int]:
    out: list[int] = []
    start = 0
    while True:
        i = text.find(old, start)
        if i < 0:
            return out
        out.append(i)
        start = i + 1


def _replace_checked(text: str, old: str, new: str, kind: str, where: str) -> tuple[str, int]:
    """Replace every occurrence of ``old`` in ``text`` if each is in a safe position."""
    hits = _positions(text, old)
    if not hits:
        return text, 0
    for i in hits:
        before = text[i - 1] if i > 0 else ""
        after = text[i + len(old)] if i + len(old) < len(text) else ""
        if kind == "path":
            ok = (before in ("", "/")) and after == ""
        elif kind == "shell":
            ok = before in ("", " ", "\t", "/", "'", '"', "=", ">", "<") and after in (
                "",
                " ",
                "\t",
                "'",
                '"',
                ";",
                "|",
                "&",
                ">",
                "<",
            )
        else:  # content: a whole word, not a piece of a longer name
            ok = not (before and (before.isalnum() or before in "_.-/")) and not (
                after
                and (
                    after.isalnum()
                    or after in "_-/"
                    or (after == "." and text[i + len(old) + 1 : i + len(old) + 2].isalnum())
                )
            )
        if not ok:
            raise Refused(
                f"{where}: {old!r} appears inside a longer word or path; substitution is not safe"
            )
    return text.replace(old, new), len(hits)


def substitute(
    calls: list[dict[str, Any]], old_slots: dict[str, str], bindings: dict[str, str]
) -> list[dict[str, Any]]:
    """The calls with new file names put in place of the recorded ones; Refused when not safe."""
    out = [dict(c, input=dict(c["input"]), result=dict(c["result"])) for c in calls]
    for key, new in sorted(bindings.items()):
        kind = re.sub(r"\d+$", "", key)
        old = old_slots.get(key)
        if kind != "file" or old is None:
            raise Refused(
                f"the goal changes the {kind} {old!r} -> {new!r}; the edge only substitutes file names"
            )
        if not _SAFE_NAME.fullmatch(new) or ".." in new:
            raise Refused(f"the new file name {new!r} is not a plain file name")
        if os.path.splitext(old)[1].lower() != os.path.splitext(new)[1].lower():
            raise Refused(f"{old!r} -> {new!r} changes the file type; that is another task")
        used = 0
        for n, call in enumerate(out):
            where = f"step {n + 1} ({call['name']})"
            for field_name, value in list(call["input"].items()):
                if isinstance(value, str):
                    kind_of = (
                        "path"
                        if field_name in PATH_KEYS
                        else "shell"
                        if call["name"] == "Bash" and field_name == "command"
                        else "content"
                    )
                    call["input"][field_name], k = _replace_checked(value, old, new, kind_of, where)
                    used += k
                elif (
                    call["name"] == "MultiEdit"
                    and field_name == "edits"
                    and isinstance(value, list)
                ):
                    edits = []
                    for e in value:
                        e = dict(e) if isinstance(e, dict) else e
                        if isinstance(e, dict):
                            for k2 in ("old_string", "new_string"):
                                if isinstance(e.get(k2), str):
                                    e[k2], k = _replace_checked(e[k2], old, new, "content", where)
                                    used += k
                        edits.append(e)
                    call["input"]["edits"] = edits
            files = call["result"].get("files_created")
            if isinstance(files, list):
                call["result"]["files_created"] = [
                    _replace_checked(f, old, new, "path", where)[0] if isinstance(f, str) else f
                    for f in files
                ]
            summary = call["result"].get("summary")
            if isinstance(summary, str) and summary.startswith("create "):
                call["result"]["summary"] = summary.replace(old, new)
        if not used:
            raise Refused(
                f"the recorded calls never use {old!r}; replaying them would ignore {new!r}"
            )
        for n, call in enumerate(out):
            blob = repr(call["input"]).lower()
            if old.lower() in blob:
                raise Refused(
                    f"step {n + 1} ({call['name']}) still holds a form of {old!r} after substitution"
                )
    return out


# ---- checks ------------------------------------------------------------------------------------------


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def preflight(calls: list[dict[str, Any]], executor: EdgeExecutor) -> tuple[int, str, bool] | None:
    """(step, reason, denied_by_policy) of the first call that must not run; None when all may run."""
    root = str(executor.cwd)
    planned: list[str] = []
    for i, call in enumerate(calls):
        where = f"step {i + 1} ({call['name']})"
        problem = check_input(call["name"], call["input"])
        if problem:
            return i, f"{where}: {problem}; this trace cannot be replayed on the edge", False
        if CWD_TOKEN in repr(call["input"]):
            return i, f"{where}: input still holds {CWD_TOKEN} after re-rooting", False
        result = call["result"]
        if result.get("decision") == "deny":
            return i, f"{where}: this call was blocked by the policy when it was recorded", True
        files = result.get("files_created") or []
        if not isinstance(files, list):
            return i, f"{where}: recorded files_created is not a list", False
        verdict = executor.policy.check(call["name"], call["input"], root, planned=tuple(planned))
        if not verdict.allowed:
            return (
                i,
                f"{where}: not allowed by the edge policy: {verdict.reason} [{verdict.rule}]",
                True,
            )
        for rel in files:
            full = os.path.realpath(os.path.join(root, rel)) if isinstance(rel, str) else ""
            if not full or not _inside(full, root):
                return i, f"{where}: recorded file {rel!r} is outside the working directory", False
            planned.append(full)
        if call["name"] in ("Write", "Edit", "MultiEdit"):
            planned.append(os.path.realpath(os.path.join(root, call["input"]["file_path"])))
    return None


def compare(recorded: dict[str, Any], outcome: Outcome, root: str) -> str | None:
    """Why the outcome differs from the recording (None when it matches)."""
    result = recorded["result"]
    if outcome.refused:
        return outcome.summary
    was_error = bool(result.get("is_error", False))
    if was_error != outcome.is_error:
        if was_error:
            return f"recorded as failed ({str(result.get('summary', ''))[:120]}) but now succeeded"
        return f"recorded as succeeded but now failed: {outcome.summary}"
    code = result.get("exit_code")
    if code is None and recorded["name"] == "Bash":
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
    if recorded["name"] == "Write" and str(result.get("summary") or "").startswith("create "):
        expected.append(recorded["input"]["file_path"])
    for rel in expected:
        if not os.path.exists(os.path.join(root, rel)):
            return f"the recorded call created {rel}, which does not exist after the replayed call"
    return None


def replay(
    calls: list[dict[str, Any]],
    executor: EdgeExecutor,
    *,
    old_slots: dict[str, str] | None = None,
    bindings: dict[str, str] | None = None,
    on_step: Callable[[Step], None] | None = None,
) -> ReplayResult:
    root = str(executor.cwd)
    if not calls:
        return ReplayResult(False, reason="the trace has no tool calls to replay", refused=True)
    try:
        if bindings:
            calls = substitute(calls, old_slots or {}, bindings)
    except Refused as exc:
        return ReplayResult(
            False, reason=f"parameter substitution refused: {exc.reason}", refused=True
        )
    rooted = reroot(calls, root)
    checked = preflight(rooted, executor)
    if checked is not None:
        index, reason, denied = checked
        step = Step(index, rooted[index]["name"], rooted[index]["input"], None, False, reason)
        return ReplayResult(
            False, steps=[step], reason=reason, refused=True, denied=denied, stopped_at=index
        )
    out = ReplayResult(True)
    for i, call in enumerate(rooted):
        outcome = executor.execute(call["name"], call["input"])
        for path in outcome.files_created:
            rel = os.path.relpath(path, root)
            if rel not in out.files_created:
                out.files_created.append(rel)
        problem = compare(call, outcome, root)
        step = Step(i, call["name"], call["input"], outcome, problem is None, problem or "")
        out.steps.append(step)
        if on_step is not None:
            on_step(step)
        if problem is not None:
            out.success, out.stopped_at = False, i
            out.denied = outcome.status == "denied"
            out.reason = f"step {i + 1} ({call['name']}) does not match the recording: {problem}"
            break
    if out.success:
        out.reason = f"replayed {len(rooted)} call{'s' if len(rooted) != 1 else ''}, all matched the recording"
    return out
