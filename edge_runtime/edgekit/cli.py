"""Command lines of ``run_follower.py`` and ``run_agentic_follower.py``.

stdout carries the result (one JSON object with ``--json``), diagnostics go to stderr, exit codes
are listed in ``edgekit/__init__.py`` (0 ok, 1 goal failed, 2 usage or malformed bundle, or
``--allow-scripts`` where Landlock cannot confine scripts, 3 blocked by the edge policy or a
tampered bundle, 5 no safe replay: the goal needs a model).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

from . import (
    EXIT_GOAL_FAILED,
    EXIT_NO_MATCH,
    EXIT_OK,
    EXIT_POLICY_BLOCKED,
    EXIT_SANDBOX_UNAVAILABLE,
    EXIT_USAGE,
    EdgeError,
    __version__,
)
from .bundle import Bundle, load_bundle
from .executors import EdgeExecutor, Outcome
from .match import FOLLOWER_THRESHOLD, Matcher, decide, prepare
from .policy import EdgePolicy
from .replay import ReplayResult, Step, replay, reroot
from .sandbox import landlock_status

EXAMPLE_CHARS = 6000


def _err(text: str) -> None:
    sys.stderr.write(text.rstrip("\n") + "\n")
    sys.stderr.flush()


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "bundle", help="a bundle directory or .tar.gz written by `llmos traces export`"
    )
    parser.add_argument("goal", help="what you want done, in plain words")
    parser.add_argument("--cwd", default=None, help="working directory (default: the current one)")
    parser.add_argument(
        "--json", action="store_true", help="print exactly one JSON object on stdout"
    )
    parser.add_argument(
        "--threshold",
        type=float,
        default=FOLLOWER_THRESHOLD,
        help=f"confidence needed to replay (default {FOLLOWER_THRESHOLD}; never below 0.5)",
    )
    parser.add_argument(
        "--allow-scripts",
        action="store_true",
        help="let Bash run script files inside the working directory (python3 FILE, sh FILE, ./FILE) "
        "under Landlock; refused (exit 2) where the kernel cannot enforce it",
    )
    parser.add_argument(
        "--allow-network",
        action="store_true",
        help="let sandboxed commands open TCP connections (denied by Landlock otherwise)",
    )
    parser.add_argument(
        "--allow-program",
        action="append",
        default=[],
        metavar="NAME",
        help="add a program to the Bash allow-list (repeatable)",
    )
    parser.add_argument(
        "--expect-sha256",
        default=None,
        metavar="HEX",
        help="refuse the bundle unless its manifest has this sha256 (printed by the export)",
    )
    parser.add_argument(
        "--timeout", type=float, default=120.0, help="seconds per shell command (default 120)"
    )
    parser.add_argument("--version", action="version", version=f"llmos edge runtime {__version__}")


def _setup(args: argparse.Namespace) -> tuple[str, Bundle, EdgeExecutor]:
    if not 0.5 <= args.threshold <= 1.0:
        raise EdgeError("--threshold must be between 0.5 and 1.0")
    if not args.goal.strip():
        raise EdgeError("the goal is empty")
    cwd = os.path.realpath(args.cwd or os.getcwd())
    if not os.path.isdir(cwd):
        raise EdgeError(f"the working directory {cwd} does not exist")
    if args.allow_scripts:
        abi, why = landlock_status()
        if abi < 1:
            raise EdgeError(
                f"--allow-scripts refused: scripts run only under Landlock, and {why}. The edge never "
                "runs a bundle's scripts unsandboxed; run without --allow-scripts (script steps are "
                "then blocked by the policy)",
                EXIT_SANDBOX_UNAVAILABLE,
            )
    try:
        policy = EdgePolicy(allow_scripts=args.allow_scripts, extra_programs=args.allow_program)
    except ValueError as exc:
        raise EdgeError(str(exc)) from None
    bundle = load_bundle(args.bundle, expect_sha256=args.expect_sha256)
    return (
        cwd,
        bundle,
        EdgeExecutor(
            cwd,
            policy,
            timeout_s=args.timeout,
            sandbox="required" if args.allow_scripts else "auto",
            allow_network=args.allow_network,
        ),
    )


def _result(goal: str, mode: str, started: float, **extra: Any) -> dict[str, Any]:
    out = {
        "goal": goal,
        "mode": mode,
        "success": False,
        "trace_id": None,
        "confidence": 0.0,
        "llm_calls": 0,
        "input_tokens": 0,
        "output_tokens": 0,
        "cost_usd": 0.0,
        "duration_ms": 0,
        "output": "",
        "error": None,
        "exit_code": EXIT_OK,
        "decision": {},
        "tool_calls": [],
    }
    out.update(extra)
    out["duration_ms"] = int((time.monotonic() - started) * 1000)
    return out


def _show_step(step: Step) -> None:
    outcome = step.outcome
    label = "ok" if step.matched else "MISMATCH"
    _err(
        f"-> {step.name}({_brief(step.input)}) {label}: {outcome.summary if outcome else step.problem}"
    )


def _brief(data: dict[str, Any]) -> str:
    for key in ("command", "file_path", "pattern", "path"):
        if isinstance(data.get(key), str):
            text = data[key]
            return text if len(text) <= 80 else text[:79] + "…"
    return ""


def _print(result: dict[str, Any], as_json: bool) -> int:
    if as_json:
        sys.stdout.write(json.dumps(result, ensure_ascii=False, default=str) + "\n")
    else:
        if result.get("output"):
            sys.stdout.write(result["output"].rstrip("\n") + "\n")
        status = "ok" if result["success"] else "failed"
        _err(
            f"[{status}] {result['mode']} · {result['llm_calls']} LLM call(s) · {result['duration_ms']} ms"
            + (f" · {result['error']}" if result.get("error") else "")
        )
    sys.stdout.flush()
    return int(result["exit_code"])


def _replay_calls(bundle: Bundle, trace_id: str) -> tuple[str, list[dict[str, Any]], str | None]:
    """(mode, calls, tool id): an active crystallized tool's calls when the bundle has it."""
    trace = bundle.trace(trace_id)
    tool = bundle.tools.get(trace.crystallized_tool or "")
    if tool is not None and tool.source_trace == trace.id:
        return "CRYSTALLIZED", tool.calls, tool.id
    return "FOLLOWER", trace.calls, None


def try_replay(
    goal: str, bundle: Bundle, executor: EdgeExecutor, threshold: float, *, show: bool
) -> tuple[dict[str, Any], ReplayResult | None, list[Any]]:
    """Match and (when safe) replay. Returns (partial result, replay outcome or None, ranked matches)."""
    matches = Matcher(bundle.traces).rank(goal)
    best, why = decide(matches, threshold=threshold)
    decision: dict[str, Any] = {
        "reason": why,
        "candidates": [m.to_dict() for m in matches[:3]],
        "bundle": {"source": bundle.source, "manifest_sha256": bundle.manifest_sha256},
    }
    if best is None:
        return (
            {"decision": decision, "confidence": matches[0].confidence if matches else 0.0},
            None,
            matches,
        )
    mode, calls, tool_id = _replay_calls(bundle, best.trace_id)
    trace = bundle.trace(best.trace_id)
    decision.update(
        matched_goal=best.goal,
        gates=[g.to_dict() for g in best.gates],
        slot_bindings=dict(best.bindings),
        crystallized_tool=tool_id,
    )
    outcome = replay(
        calls,
        executor,
        old_slots=prepare(trace.goal).slots,
        bindings=best.bindings,
        on_step=_show_step if show else None,
    )
    partial = {
        "mode": mode,
        "trace_id": best.trace_id,
        "confidence": round(best.confidence, 4),
        "decision": decision,
        "output": outcome.describe(),
        "tool_calls": [s.to_dict() for s in outcome.steps],
    }
    return partial, outcome, matches


# ---- run_follower.py -----------------------------------------------------------------------------------


def follower_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="run_follower.py",
        description=(
            "Replay a learned trace from an llmos bundle with no LLM: match the goal (precision first), "
            "check every call with the edge policy, run it, compare each result with the recording."
        ),
    )
    _common(parser)
    parser.add_argument(
        "--dry-run", action="store_true", help="match and check the calls, run nothing"
    )
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        cwd, bundle, executor = _setup(args)
        if args.dry_run:
            return _dry_run(args, bundle, executor, started)
        partial, outcome, _matches = try_replay(
            args.goal, bundle, executor, args.threshold, show=not args.json
        )
    except EdgeError as exc:
        _err(f"run_follower: error: {exc.message}")
        return (
            _print(
                _result(args.goal, "FOLLOWER", started, error=exc.message, exit_code=exc.exit_code),
                args.json,
            )
            if args.json
            else exc.exit_code
        )
    if outcome is None:
        why = partial["decision"]["reason"]
        message = (
            f"no safe match in the bundle: {why}. This goal needs a model: "
            "run_agentic_follower.py can adapt the closest trace with a local one"
        )
        if not args.json:
            _err(f"run_follower: {message}")
        return _print(
            _result(args.goal, "NONE", started, error=message, exit_code=EXIT_NO_MATCH, **partial),
            args.json,
        )
    result = _result(args.goal, partial.pop("mode"), started, **partial)
    result["success"] = outcome.success
    result["files_created"] = outcome.files_created
    if not outcome.success:
        result["error"] = outcome.reason
        if outcome.denied:
            result["exit_code"] = EXIT_POLICY_BLOCKED
        elif outcome.refused:
            result["exit_code"] = EXIT_NO_MATCH
            result["error"] = f"{outcome.reason}; this goal needs a model (run_agentic_follower.py)"
        else:
            result["exit_code"] = EXIT_GOAL_FAILED
    return _print(result, args.json)


def _dry_run(
    args: argparse.Namespace, bundle: Bundle, executor: EdgeExecutor, started: float
) -> int:
    from .replay import Refused, preflight, substitute

    matches = Matcher(bundle.traces).rank(args.goal)
    best, why = decide(matches, threshold=args.threshold)
    decision = {"reason": why, "candidates": [m.to_dict() for m in matches[:3]]}
    if best is None:
        return _print(
            _result(
                args.goal,
                "NONE",
                started,
                decision=decision,
                error=f"no safe match: {why}",
                exit_code=EXIT_NO_MATCH,
            ),
            args.json,
        )
    mode, calls, _tool = _replay_calls(bundle, best.trace_id)
    try:
        calls = (
            substitute(calls, prepare(bundle.trace(best.trace_id).goal).slots, best.bindings)
            if best.bindings
            else calls
        )
    except Refused as exc:
        return _print(
            _result(
                args.goal,
                mode,
                started,
                decision=decision,
                trace_id=best.trace_id,
                error=f"parameter substitution refused: {exc.reason}",
                exit_code=EXIT_NO_MATCH,
            ),
            args.json,
        )
    rooted = reroot(calls, str(executor.cwd))
    checked = preflight(rooted, executor)
    lines = [f"{i + 1}. {c['name']}({_brief(c['input'])})" for i, c in enumerate(rooted)]
    result = _result(
        args.goal,
        mode,
        started,
        decision=decision,
        trace_id=best.trace_id,
        confidence=round(best.confidence, 4),
        output="would run:\n" + "\n".join(lines),
        tool_calls=[{"name": c["name"], "input": c["input"]} for c in rooted],
        dry_run=True,
    )
    if checked is not None:
        result["error"] = checked[1]
        result["exit_code"] = EXIT_POLICY_BLOCKED if checked[2] else EXIT_NO_MATCH
    else:
        result["success"] = True
    return _print(result, args.json)


# ---- run_agentic_follower.py ----------------------------------------------------------------------------

SYSTEM_PROMPT = """You are the llmos edge runtime. You complete the user's goal on this device with the tools \
provided, then answer with a short summary of what you did. The working directory is {cwd}; use paths \
inside it (relative paths are resolved there). Every tool call is checked by a strict policy: files outside \
the working directory cannot be read or written; Bash runs only simple commands from an allow-list \
(echo, printf, cat, ls, head, tail, wc, sort, grep, mkdir, touch, cp, mv, rm without -r, ...), with no \
$ expansions, backquotes, subshells, here-documents or backslashes{scripts}. A blocked call returns an error: \
do not retry it unchanged."""


def _examples(trace: Any, calls: list[dict[str, Any]], cwd: str) -> str:
    lines = [
        f"A previous run solved a similar goal ({trace.goal!r}) with the tool calls below. If they fit "
        "this goal, reuse them; adapt them where this goal differs; if they do not fit, say so and solve the "
        "goal your own way."
    ]
    for number, call in enumerate(reroot(calls, cwd), start=1):
        status = "error" if call["result"].get("is_error") else "ok"
        args = json.dumps(call["input"], ensure_ascii=False)
        lines.append(
            f"{number}. {call['name']} {args if len(args) <= 1500 else args[:1500] + '…'} -> {status}"
        )
    text = "\n".join(lines)
    return text if len(text) <= EXAMPLE_CHARS else text[: EXAMPLE_CHARS - 1] + "…"


def agentic_main(argv: list[str] | None = None) -> int:
    from .messages import MessagesClient, ModelConfig, run_loop

    parser = argparse.ArgumentParser(
        prog="run_agentic_follower.py",
        description=(
            "Replay a learned trace when one fits; otherwise ask a model (any server speaking the Anthropic "
            "Messages API, e.g. a local one via ANTHROPIC_BASE_URL) with the closest trace's calls as examples, "
            "and run its tool calls through the same edge policy and executors."
        ),
    )
    _common(parser)
    parser.add_argument(
        "--model", default=None, help="model name (default: $ANTHROPIC_MODEL or claude-sonnet-4-5)"
    )
    parser.add_argument(
        "--base-url", default=None, help="Messages API server (default: $ANTHROPIC_BASE_URL)"
    )
    parser.add_argument(
        "--max-turns", type=int, default=10, help="model requests at most (default 10)"
    )
    parser.add_argument(
        "--max-tokens", type=int, default=4096, help="max_tokens per request (default 4096)"
    )
    parser.add_argument(
        "--always-model", action="store_true", help="use the model even when a replay fits"
    )
    parser.add_argument(
        "--min-example-confidence",
        type=float,
        default=0.5,
        help="closest trace's confidence needed to send it as an example (default 0.5)",
    )
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        if not 1 <= args.max_turns <= 100:
            raise EdgeError("--max-turns must be between 1 and 100")
        cwd, bundle, executor = _setup(args)
        matches = Matcher(bundle.traces).rank(args.goal)
        best, why = decide(matches, threshold=args.threshold)
        fallback_from = None
        if best is not None and not args.always_model:
            partial, outcome, _m = try_replay(
                args.goal, bundle, executor, args.threshold, show=not args.json
            )
            if outcome is not None and outcome.success:
                result = _result(args.goal, partial.pop("mode"), started, **partial)
                result.update(success=True, files_created=outcome.files_created)
                return _print(result, args.json)
            if outcome is not None and outcome.denied:
                result = _result(args.goal, partial.pop("mode"), started, **partial)
                result.update(error=outcome.reason, exit_code=EXIT_POLICY_BLOCKED)
                return _print(result, args.json)
            fallback_from = "FOLLOWER"
            why = outcome.reason if outcome is not None else why
            if not args.json:
                _err(f"run_agentic_follower: replay did not fit ({why}); asking the model")
        guide = None
        for m in matches:
            track = next((g for g in m.gates if g.name == "track_record"), None)
            if m.confidence >= args.min_example_confidence and (track is None or track.passed):
                guide = m
                break
        config = ModelConfig.from_env(
            base_url=args.base_url, model=args.model, timeout_s=max(args.timeout, 30.0)
        )
        client = MessagesClient(config)
        prompt = args.goal
        tools = ["Bash", "Read", "Write", "Edit", "Glob", "Grep"]
        mode = "LEARNER"
        if guide is not None:
            trace = bundle.trace(guide.trace_id)
            _mode, calls, _tool = _replay_calls(bundle, trace.id)
            prompt = f"{args.goal}\n\n{_examples(trace, calls, cwd)}"
            used = {c["name"] for c in calls}
            tools = [t for t in tools if t in used | {"Read"}] or tools
            mode = "MIXED"
        system = SYSTEM_PROMPT.format(
            cwd=cwd,
            scripts="; script files inside the working directory may be run (python3 FILE)"
            if args.allow_scripts
            else "; running scripts is not allowed",
        )

        def on_call(name: str, data: dict[str, Any], outcome: Outcome) -> None:
            if not args.json:
                status = (
                    "blocked"
                    if outcome.status == "denied"
                    else "error"
                    if outcome.is_error
                    else "ok"
                )
                _err(f"-> {name}({_brief(data)}) {status}: {outcome.summary}")

        loop = run_loop(
            client,
            executor,
            system=system,
            prompt=prompt,
            tools=tools,
            max_turns=args.max_turns,
            max_tokens=args.max_tokens,
            on_call=on_call,
        )
    except EdgeError as exc:
        _err(f"run_agentic_follower: error: {exc.message}")
        if args.json:
            return _print(
                _result(args.goal, "MIXED", started, error=exc.message, exit_code=exc.exit_code),
                True,
            )
        return exc.exit_code
    decision: dict[str, Any] = {
        "reason": why,
        "candidates": [m.to_dict() for m in matches[:3]],
        "guide": guide.trace_id if guide is not None else None,
        "model": config.model,
        "bundle": {"source": bundle.source, "manifest_sha256": bundle.manifest_sha256},
    }
    result = _result(
        args.goal,
        mode,
        started,
        success=loop.success,
        trace_id=guide.trace_id if guide else None,
        confidence=round(guide.confidence, 4) if guide else 0.0,
        llm_calls=client.calls,
        input_tokens=client.input_tokens,
        output_tokens=client.output_tokens,
        output=loop.text,
        error=loop.error,
        decision=decision,
        tool_calls=loop.calls,
        fallback_from=fallback_from,
        model=config.model,
        turns=loop.turns,
    )
    if not loop.success:
        result["exit_code"] = EXIT_POLICY_BLOCKED if loop.denied else EXIT_GOAL_FAILED
    return _print(result, args.json)


def run(main: Any, argv: list[str] | None = None) -> int:
    try:
        return main(argv)
    except KeyboardInterrupt:
        _err("interrupted")
        return 130
    except BrokenPipeError:
        return EXIT_GOAL_FAILED
    except SystemExit:
        raise
    except Exception as exc:  # noqa: BLE001 - a clear line, never a traceback
        _err(f"edge runtime: internal error: {type(exc).__name__}: {exc}")
        return EXIT_USAGE
