"""`llmos bench match`: how often the matcher would replay the right (or the wrong) trace.

The dataset is JSON ``{"train": [[text, label], ...], "test": [...], "oos_test": [...]}`` (the
CLINC150 layout; other keys are ignored). An item may also be ``[text, label, action]``: the
action is a shell command (the NL2Bash layout), stored as the trace's one ``Bash`` call. Up to
K train texts per label are stored as real traces in a temporary workspace, through the real
:class:`TraceStore` and :class:`TraceIndex`, with ids and dates that follow the file order (so
every figure reproduces exactly from run to run); the matcher is then built from the index entries
(it never sees a label: labels stay in this module, keyed by trace id, and in each trace's
summary for whoever reads the files). Every ``test`` and ``oos_test`` query is decided by the
real :func:`select_mode` in AUTO mode. A replay whose slot values differ is planned like the
kernel plans it (``plan_substitution`` on the stored calls); when that plan is refused the
kernel would not replay, so neither does the bench (the decision counts as MIXED).

Report keys (exactly these):

- ``traces``: traces stored; ``queries``: test + oos_test queries decided;
  ``in_scope``: queries whose label is not ``oos``.
- ``replays``: FOLLOWER (or CRYSTALLIZED) decisions; ``correct_replays``: those whose trace has
  the query's label; ``false_replays``: all other replays (out-of-scope ones included);
  ``oos_false_replays``: replays decided for out-of-scope queries.
- ``precision`` = correct_replays / replays (1.0 when there are none);
  ``coverage`` = correct_replays / in_scope.
- ``mixed_precision`` / ``mixed_coverage``: the same two for MIXED decisions.
- ``p50_ms`` / ``p99_ms``: latency of one decision (``select_mode``), in milliseconds.

When every item has an action, two more keys follow (``ACTION_KEYS``):

- ``wrong_replays``: replays that are not right, where a replay is right when the labels match,
  or when the stored action with the decision's substitutions applied equals the query's action
  compared as shell words (``shlex``), or when the two texts are equal after normalization;
- ``action_precision`` = (replays - wrong_replays) / replays (1.0 when there are none).

``run_bench_match(..., wrong=[])`` also collects every wrong replay (query, matched goal,
both actions, confidence, the decision's accounting), worst first: ``llmos bench match
--explain N`` prints N of them.

With ``semantic=True`` the matcher runs with ``learning.semantic_reranker`` on (the ``[semantic]``
extra must be installed): the stored goals are embedded once before the timed decisions (their
cache lives in the temporary workspace's ``state/``), each query is embedded when its decision
needs it, inside the timed decision.
"""

from __future__ import annotations

import copy
import json
import math
import shlex
import tempfile
import time
from pathlib import Path
from typing import Any

from .config import LLMOSConfig, load_config
from .errors import UsageError
from .execution.replay.engine import Refusal, plan_substitution
from .runs import REPLAY_MODES, Mode
from .learning.accounting import normal_form
from .learning.index import TraceIndex
from .learning.matcher import Matcher
from .learning.modes import select_mode
from .learning.slots import extract_slots
from .learning.store import TraceStore
from .learning.traces import ToolCall, make_trace, normalize_goal
from .learning.trust import init_workspace_trust
from .workspace import Workspace

REPORT_KEYS = (
    "traces",
    "queries",
    "in_scope",
    "replays",
    "correct_replays",
    "false_replays",
    "oos_false_replays",
    "precision",
    "coverage",
    "mixed_precision",
    "mixed_coverage",
    "p50_ms",
    "p99_ms",
)
OOS_LABEL = "oos"
ACTION_KEYS = ("wrong_replays", "action_precision")

Item = tuple[str, str, "str | None"]
#: The bench's traces are dated from here, one second apart in file order (see _store_traces).
BENCH_EPOCH = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def load_dataset(path: str | Path) -> dict[str, list[Item]]:
    """Read and check a dataset file; any problem is a :class:`UsageError` naming it."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"dataset {p}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"dataset {p}: is a directory, expected a JSON file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"dataset {p}: cannot read it ({exc})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"dataset {p}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    if not isinstance(data, dict):
        raise UsageError(f"dataset {p}: expected a JSON object with keys train, test and oos_test")
    out: dict[str, list[Item]] = {}
    for key in ("train", "test", "oos_test"):
        if key not in data:
            if key == "oos_test":
                out[key] = []
                continue
            raise UsageError(
                f"dataset {p}: missing key {key!r} (expected train, test and oos_test)"
            )
        items = data[key]
        if not isinstance(items, list):
            raise UsageError(f"dataset {p}: {key!r} must be a list of [text, label] pairs")
        pairs: list[Item] = []
        for i, item in enumerate(items):
            if (
                not isinstance(item, (list, tuple))
                or len(item) not in (2, 3)
                or not all(isinstance(x, str) for x in item)
            ):
                raise UsageError(
                    f"dataset {p}: {key}[{i}] must be a [text, label] pair of strings "
                    f"(or [text, label, action]), got {json.dumps(item)[:80]}"
                )
            pairs.append((item[0], item[1], item[2] if len(item) == 3 else None))
        out[key] = pairs
    if not out["train"]:
        raise UsageError(f"dataset {p}: 'train' is empty: there is nothing to store as traces")
    return out


def _percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (0.0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(q / 100.0 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def _store_traces(
    store: TraceStore, train: list[Item], per_label: int, volume: str
) -> tuple[dict[str, str], dict[str, Any]]:
    """Store up to *per_label* texts per label (first ones in file order); id -> label, and
    id -> the stored trace (for the actions)."""
    labels: dict[str, str] = {}
    traces: dict[str, Any] = {}
    kept: dict[str, int] = {}
    for n, (text, label, action) in enumerate(train):
        if kept.get(label, 0) >= per_label:
            continue
        calls = (
            []
            if action is None
            else [ToolCall("Bash", {"command": action}, {"is_error": False, "summary": ""})]
        )
        try:
            # ids and timestamps follow the file order, so that ties between equally confident
            # candidates (broken by id, then recency) fall the same way on every run
            trace = make_trace(
                text,
                calls,
                summary=f"bench label: {label}",
                slots=extract_slots(text),
                trace_id=f"t_bench{n:07d}",
                when=BENCH_EPOCH + n,
            )
        except UsageError:
            continue  # a train text without any word cannot be a trace
        store.save(trace, volume=volume)
        labels[trace.id] = label
        traces[trace.id] = trace
        kept[label] = kept.get(label, 0) + 1
    return labels, traces


def shell_words(command: str) -> list[str]:
    """A command as shell words (whitespace-split when it does not parse as shell)."""
    try:
        return shlex.split(command, comments=False, posix=True)
    except ValueError:
        return command.split()


def same_text(a: str, b: str) -> bool:
    """Equal after the matcher's normalization (case, articles, spacing, number words,
    inflection: ``accounting.normal_form``)."""
    return normalize_goal(a) == normalize_goal(b) or normal_form(a) == normal_form(b)


def _planned_action(trace: Any, decision: Any) -> "str | None | Refusal":
    """The stored action with the decision's substitutions in (a Refusal when the kernel
    would refuse them); None when the trace has no action."""
    if not trace.calls:
        return None
    calls = trace.calls
    if decision.slot_bindings:
        planned = plan_substitution(trace.slots, decision.slot_bindings, trace.calls)
        if isinstance(planned, Refusal):
            return planned
        calls = planned.calls
    return str(calls[0].input.get("command", ""))


def run_bench_match(
    dataset_path: str | Path,
    *,
    per_label: int = 10,
    config: LLMOSConfig | None = None,
    semantic: bool = False,
    timings: dict[str, float] | None = None,
    wrong: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Store K train texts per label as traces, decide every query; the report (see module doc).

    *wrong*, when given, receives every wrong replay (worst, i.e. most confident, first).

    *semantic* turns ``learning.semantic_reranker`` on for this run (a :class:`UsageError` when
    the extra is missing). *timings*, when given, receives ``embed_s``: the time to load the
    model and embed the stored goals (0 without the re-ranker).
    """
    if isinstance(per_label, bool) or not isinstance(per_label, int) or per_label < 1:
        raise UsageError(f"--per-label must be a whole number >= 1, got {per_label!r}")
    data = load_dataset(dataset_path)
    cfg = config or load_config(None)
    if semantic:
        from .learning.semantic import require_semantic

        require_semantic()
        cfg = copy.deepcopy(cfg)
        cfg.learning.semantic_reranker = True
    with tempfile.TemporaryDirectory(prefix="llmos-bench-") as tmp:
        workspace = Workspace(Path(tmp) / "ws").ensure(
            user=cfg.user, team=cfg.team, on_create=init_workspace_trust
        )
        index = TraceIndex(workspace)
        store = TraceStore(workspace, index)
        try:
            labels, stored = _store_traces(store, data["train"], per_label, cfg.user_volume())
        except OSError as exc:
            raise UsageError(f"cannot store the bench traces in {tmp}: {exc}") from None
        matcher = Matcher(config=cfg.learning, state_dir=workspace.state_dir)
        matcher.refresh(index.entries(), index.version)
        embed_s = 0.0
        if matcher.semantic_enabled:
            start = time.perf_counter()
            matcher.prepare_semantic()
            embed_s = time.perf_counter() - start
        if timings is not None:
            timings["embed_s"] = round(embed_s, 3)
        queries = data["test"] + data["oos_test"]
        with_actions = bool(queries) and all(a is not None for _t, _l, a in data["train"] + queries)
        latencies: list[float] = []
        in_scope = replays = correct = false = oos_false = mixed = mixed_correct = 0
        wrong_actions = 0
        collected: list[dict[str, Any]] = []
        for text, label, action in queries:
            oos = label == OOS_LABEL
            in_scope += not oos
            start = time.perf_counter()
            try:
                decision = select_mode(text, matcher, cfg)
            except UsageError:
                latencies.append((time.perf_counter() - start) * 1000)
                continue  # a query without words is refused, never replayed
            latencies.append((time.perf_counter() - start) * 1000)
            right = (not oos) and labels.get(decision.trace_id or "") == label
            mode = decision.mode
            planned = None
            if mode in REPLAY_MODES and decision.trace_id in stored:
                planned = _planned_action(stored[decision.trace_id], decision)
                if isinstance(planned, Refusal):
                    mode = (
                        Mode.MIXED
                    )  # the kernel falls back: the substitution is not provably safe
            if mode in REPLAY_MODES:
                replays += 1
                if right:
                    correct += 1
                else:
                    false += 1
                    oos_false += oos
                trace = stored[decision.trace_id or ""]
                ok = (
                    right
                    or same_text(text, trace.goal)
                    or (
                        isinstance(planned, str)
                        and action is not None
                        and shell_words(planned) == shell_words(action)
                    )
                )
                if not ok:
                    wrong_actions += 1
                    if wrong is not None:
                        collected.append(
                            {
                                "query": text,
                                "label": label,
                                "action": action,
                                "matched_goal": trace.goal,
                                "matched_label": labels.get(trace.id),
                                "replayed_action": planned,
                                "confidence": round(decision.confidence, 4),
                                "accounting": getattr(decision, "accounting", None),
                                "reason": decision.reason,
                            }
                        )
            elif mode == Mode.MIXED:
                mixed += 1
                mixed_correct += right
    latencies.sort()
    report = {
        "traces": len(labels),
        "queries": len(queries),
        "in_scope": in_scope,
        "replays": replays,
        "correct_replays": correct,
        "false_replays": false,
        "oos_false_replays": oos_false,
        "precision": round(correct / replays, 4) if replays else 1.0,
        "coverage": round(correct / in_scope, 4) if in_scope else 0.0,
        "mixed_precision": round(mixed_correct / mixed, 4) if mixed else 1.0,
        "mixed_coverage": round(mixed_correct / in_scope, 4) if in_scope else 0.0,
        "p50_ms": round(_percentile(latencies, 50), 3),
        "p99_ms": round(_percentile(latencies, 99), 3),
    }
    if with_actions:
        report["wrong_replays"] = wrong_actions
        report["action_precision"] = (
            round((replays - wrong_actions) / replays, 4) if replays else 1.0
        )
    if wrong is not None:
        collected.sort(key=lambda w: -w["confidence"])
        wrong.extend(collected)
    return report
