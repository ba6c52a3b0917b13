"""Every case of the policy corpus keeps its verdict: (decision, rule) with and without network.

``tests/data/policy-golden.json`` records, for each case of ``tests/data/policy-corpus.json``
(by index), the decision and rule of the engine without network access and, when they differ,
with it. A refactoring of the policy code must leave the file unchanged; a deliberate change of
a verdict rewrites it with ``python -m tests.unit.test_policy_golden --write`` and the diff shows
every case that moved.

A command that walks /tmp itself (``find /tmp …``) meets whatever other programs left there, so
for those cases only the decision is compared, not which rule fired first.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

from llmos_tui.execution.policy import commands
from llmos_tui.execution.policy.bench import _scratch, load_corpus, substitute
from llmos_tui.execution.policy.engine import PolicyEngine

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "tests" / "data" / "policy-corpus.json"
GOLDEN = REPO / "tests" / "data" / "policy-golden.json"

Row = list[Any]
_WALKS_TMP = re.compile(r"(^|\s)/tmp/?(\s|$)")


def _same(old: Row, new: Row, tool_input: Any) -> bool:
    if _WALKS_TMP.search(json.dumps(tool_input)):
        return old[1::2] == new[1::2]  # the decisions only
    return old == new


def verdicts() -> list[Row]:
    """One row per corpus case: [index, decision, rule] (+ [decision, rule] with network)."""
    closed = PolicyEngine()
    opened = PolicyEngine(
        workspace_root=closed.workspace_root,
        allow_network=True,
        protected_paths=closed.protected_paths,
    )
    home = os.path.expanduser("~")
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="llmos-policy-golden-") as tmp:
        base = os.path.realpath(tmp)
        shared = _scratch(os.path.join(base, "shared"), {}, home)
        for i, case in enumerate(load_corpus(CORPUS)):
            if case.get("files"):
                cwd, outside = _scratch(os.path.join(base, f"case{i}"), case["files"], home)
            else:
                cwd, outside = shared
            tool_input = substitute(case["input"], cwd, home, outside)
            c = closed.check(case["tool"], tool_input, cwd)
            o = opened.check(case["tool"], tool_input, cwd)
            row: Row = [i, c.decision, c.rule]
            if (o.decision, o.rule) != (c.decision, c.rule):
                row += [o.decision, o.rule]
            rows.append(row)
    return rows


def _dump(rows: list[Row]) -> str:
    return "[\n" + ",\n".join(json.dumps(r) for r in rows) + "\n]\n"


def test_every_corpus_case_keeps_its_verdict() -> None:
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    now = verdicts()
    cases = load_corpus(CORPUS)
    moved = [
        f"case {new[0]} {cases[new[0]]['input']!r}: was {old[1:]}, now {new[1:]}"
        for old, new in zip(golden, now, strict=False)
        if not _same(old, new, cases[new[0]]["input"])
    ]
    assert len(golden) == len(now), "the corpus changed: rewrite the golden file (--write)"
    assert not moved, f"{len(moved)} verdicts moved:\n" + "\n".join(moved[:20])


def test_every_git_rule_is_reachable() -> None:
    """A rule for a subcommand git's lookup does not know would never run: the rule table
    (``_GIT_RULES``) names only known subcommands, and every one that may discard work has a
    rule that says with which arguments."""
    assert set(commands._GIT_RULES) <= commands._GIT_KNOWN
    assert {n for n, rule in commands._GIT_RULES.items() if rule is commands._git_discard} == set(
        commands._GIT_DISCARDS
    )
    closed = PolicyEngine()
    with tempfile.TemporaryDirectory() as tmp:
        cwd = os.path.realpath(tmp)
        for sub, dangerous in commands._GIT_DISCARDS.items():
            command = " ".join(["git", sub, *(a for a in dangerous if a)])
            d = closed.check("Bash", {"command": command}, cwd)
            assert d.rule == "git.discard", (command, d.rule)
            if "" not in dangerous:  # without a discarding argument it is allowed quietly
                assert closed.check("Bash", {"command": f"git {sub}"}, cwd).rule == "policy.ok"


if __name__ == "__main__":  # pragma: no cover
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python -m tests.unit.test_policy_golden --write")
    text = _dump(verdicts())
    tmp = GOLDEN.with_suffix(".json.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, GOLDEN)
    print(f"wrote {GOLDEN.relative_to(REPO)}")
