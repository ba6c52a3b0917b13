"""Trace files: format, round trip, malformed input, paths relative to the working directory,
and the `llmos traces` commands."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from llmos_tui.errors import UsageError
from llmos_tui.learning.traces import (
    CWD_TOKEN,
    ToolCall,
    Trace,
    TraceFormatError,
    dump_trace,
    goal_signature,
    make_trace,
    new_trace_id,
    normalize_goal,
    parse_trace,
    relativize,
    reroot,
)

DESIGN_EXAMPLE = """---
id: t_3f9c1a7e3b5d          # stable
goal: Create a Python calculator
signature: 8c1e4b...        # sha256 of the normalized goal, first 16 hex
created_at: 2026-11-21T10:00:00Z
last_used: 2026-11-21T12:00:00Z
mode: LEARNER               # mode that produced it
usage_count: 7
success_count: 7
failure_count: 0
cost_usd: 0.41              # of the LEARNER run that recorded it
tokens: {input: 5120, output: 830}
tools_used: [Write, Bash]
slots: {file: calc.py}      # parameters found in the goal and used in the calls
agent: system
model: claude-sonnet-...
crystallized_tool: null     # name of the generated tool once crystallized
emotion: {safety: 0.5, curiosity: 0.1, energy: 0.7, confidence: 0.4, outcome: success, significance: 0.6}
---
# Create a Python calculator
## Summary
...
## Tool calls
```json
[{"name": "Write", "input": {"file_path": "{{cwd}}/calc.py", "content": "..."},
  "result": {"is_error": false, "summary": "created"}}]
```
"""


def sample_trace(**overrides) -> Trace:
    calls = [
        ToolCall(
            "Write",
            {"file_path": "{{cwd}}/calc.py", "content": "def add(a, b):\n    return a + b\n"},
            {"is_error": False, "summary": "created", "files_created": ["calc.py"]},
            "toolu_01",
        ),
        ToolCall(
            "Bash",
            {"command": "python {{cwd}}/calc.py"},
            {"is_error": False, "summary": "", "exit_code": 0},
        ),
    ]
    fields = dict(
        summary="Wrote `calc.py`.\n\nThen ran it.",
        cost_usd=0.41,
        tokens={"input": 5120, "output": 830},
        slots={"file": "calc.py"},
        agent="system",
        model="claude-sonnet-4-5",
        emotion={"safety": 0.5, "outcome": "success"},
        when=1_790_000_000.0,
    )
    fields.update(overrides)
    return make_trace("Create a Python calculator", calls, **fields)


# ---- format -------------------------------------------------------------------------------


def test_dump_has_the_design_shape_and_round_trips_exactly():
    trace = sample_trace()
    text = dump_trace(trace)
    assert text.startswith(
        f"---\nid: {trace.id}\ngoal: Create a Python calculator\nsignature: {trace.signature}\n"
    )
    assert "\ntokens: {input: 5120, output: 830}\n" in text
    assert "\ntools_used: [Write, Bash]\n" in text
    assert "\nslots: {file: calc.py}\n" in text
    assert "\ncreated_at: 2026-09-21T" in text  # plain, readable timestamp
    assert (
        "---\n# Create a Python calculator\n## Summary\nWrote `calc.py`.\n\nThen ran it.\n## Tool calls\n```json\n["
        in text
    )
    assert text.endswith("]\n```\n")
    back = parse_trace(text)
    assert back == trace
    assert dump_trace(back) == text
    assert back.success_rate == 1.0 and back.tools_used == ["Write", "Bash"]


def test_parses_the_hand_written_design_example():
    trace = parse_trace(DESIGN_EXAMPLE)
    assert trace.id == "t_3f9c1a7e3b5d"
    assert trace.created_at == "2026-11-21T10:00:00Z" and trace.last_used == "2026-11-21T12:00:00Z"
    assert trace.tokens == {"input": 5120, "output": 830}
    assert trace.cost_usd == 0.41 and trace.usage_count == 7 and trace.success_rate == 1.0
    assert trace.summary == "..."
    assert trace.calls == [
        ToolCall(
            "Write",
            {"file_path": "{{cwd}}/calc.py", "content": "..."},
            {"is_error": False, "summary": "created"},
        )
    ]
    assert trace.emotion["outcome"] == "success"
    assert parse_trace(dump_trace(trace)) == trace


def test_failure_trace_and_tricky_values_round_trip():
    calls = [
        ToolCall(
            "Bash",
            {"command": "rm -rf 'x y' && echo \"done\" # not a comment"},
            {"is_error": True, "summary": "boom\nline 2", "exit_code": 2},
        )
    ]
    trace = make_trace(
        'Delete "x y": yes, now #1',
        calls,
        outcome="failure",
        error="exit 2:\n  boom",
        summary="## Tool calls\nnot the real section\n\n",
        slots={
            "quoted": "x y",
            "n": "1",
            "flag": "yes",
            "none": "null",
            "date": "2026-01-01",
            "f": 1e-05,
            "big": 1.5e300,
            "neg": -3,
            "t": True,
            "lst": ["a, b", "[c]", "{d}"],
            "uni": "café ☕ 日本 \u2028 \x85 \ufeff 😀",
            "empty": "",
        },
        emotion={},
        model=None,
        project="demo",
        parent_trace="t_000000000000",
    )
    text = dump_trace(trace)
    back = parse_trace(text)
    assert back == trace
    assert dump_trace(back) == text
    assert back.success_count == 0 and back.failure_count == 1 and back.success_rate == 0.0
    assert back.summary.startswith("## Tool calls\nnot the real section")


scalar_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=False, allow_infinity=False),
    scalar_text,
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(scalar_text, inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    goal=scalar_text.filter(lambda g: normalize_goal(g) != ""),
    summary=scalar_text,
    slots=st.dictionaries(scalar_text, json_values, max_size=4),
    error=st.one_of(st.none(), scalar_text),
    tool_input=st.dictionaries(scalar_text, json_values, max_size=3),
    cost=st.floats(min_value=0, max_value=1e6, allow_nan=False),
)
@pytest.mark.slow
def test_round_trip_property(goal, summary, slots, error, tool_input, cost):
    trace = make_trace(
        goal,
        [ToolCall("Edit", tool_input, {"is_error": False, "summary": summary})],
        summary=summary,
        slots=slots,
        error=error,
        cost_usd=cost,
        model=goal,
    )
    text = dump_trace(trace)
    back = parse_trace(text)
    assert back == trace
    assert dump_trace(back) == text


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_random_text_never_escapes_as_another_exception(text):
    try:
        parse_trace("---\n" + text)
    except TraceFormatError:
        pass


@pytest.mark.parametrize(
    "mutate, reason",
    [
        (lambda t: t.replace("---\n", "", 1), "missing frontmatter"),
        (lambda t: t.replace("\n---\n# ", "\n# ", 1), "unterminated frontmatter"),
        (lambda t: t.replace("tokens: {", "tokens: {{", 1), "broken frontmatter"),
        (lambda t: re.sub(r"\ngoal: .*\n", "\n", t, count=1), "missing required field(s): goal"),
        (
            lambda t: re.sub(r"\nusage_count: .*\n", "\nusage_count: many\n", t, count=1),
            "usage_count",
        ),
        (lambda t: re.sub(r"\nmode: .*\n", "\nmode: DREAMING\n", t, count=1), "mode"),
        (
            lambda t: re.sub(r"\ntools_used: .*\n", "\ntools_used: Write\n", t, count=1),
            "tools_used",
        ),
        (lambda t: t.replace("\nagent: system\n", "\nagent: [1, 2]\n", 1), "agent"),
        (lambda t: t.replace("\nagent: system\n", "\nagenda: x\n", 1), "unknown field"),
        (lambda t: t.replace('"name": "Bash"', '"name": Bash', 1), "not valid JSON"),
        (
            lambda t: t.replace("```json\n[", '```json\n{"a": [', 1).replace("]\n```", "]}\n```"),
            "must be a JSON list",
        ),
        (lambda t: t.replace('"is_error": false', '"is_error": "no"', 1), "is_error"),
        (lambda t: t.split("## Tool calls")[0], "missing the '## Tool calls' section"),
        (lambda t: t[: t.rindex("```")], "not closed"),
        (lambda t: "---\n- a\n- b\n---\n", "must be a mapping"),
    ],
)
def test_malformed_files_raise_a_clear_reason(mutate, reason):
    text = mutate(dump_trace(sample_trace()))
    with pytest.raises(TraceFormatError) as info:
        parse_trace(text, source="volumes/users/local/traces/x.md")
    assert reason in str(info.value)
    assert str(info.value).startswith("volumes/users/local/traces/x.md: ")


def test_crlf_and_bom_files_are_read():
    trace = sample_trace(summary="one line")
    text = "\ufeff" + dump_trace(trace).replace("\n", "\r\n")
    assert parse_trace(text) == trace


def test_ids_goals_and_signatures():
    assert re.fullmatch(r"t_[0-9a-f]{12}", new_trace_id())
    assert new_trace_id() != new_trace_id()
    assert normalize_goal("  Create   a PYTHON calculator!!! ") == "create a python calculator"
    assert normalize_goal("¡¿Hola, mundo?!") == "hola, mundo"
    assert goal_signature("Create a Python calculator.") == goal_signature(
        "create a python   calculator"
    )
    assert goal_signature("Create a Python calculator") != goal_signature(
        "Delete a Python calculator"
    )
    assert re.fullmatch(r"[0-9a-f]{16}", goal_signature("x"))
    with pytest.raises(UsageError):
        make_trace(" ?!... ", [])


def test_dump_rejects_an_invalid_trace():
    trace = sample_trace()
    trace.id = "../escape"
    with pytest.raises(TraceFormatError, match="id"):
        dump_trace(trace)
    trace = sample_trace()
    trace.usage_count = -1
    with pytest.raises(TraceFormatError, match="usage_count"):
        dump_trace(trace)


# ---- paths ----------------------------------------------------------------------------------


def test_relativize_and_reroot(tmp_path: Path):
    real = tmp_path / "real" / "proj"
    real.mkdir(parents=True)
    (tmp_path / "proj2").mkdir()
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "real")
    via_link = link / "proj"
    calls = [
        ToolCall(
            "Write",
            {"file_path": f"{via_link}/src/calc.py", "content": f"ROOT = '{real}'\n"},
            {
                "is_error": False,
                "summary": f"created {real}/src/calc.py",
                "files_created": [f"{real}/src/calc.py", "notes.txt"],
            },
        ),
        ToolCall(
            "Bash",
            {
                "command": f"cd {real} && python {via_link}/src/calc.py > {real}2/out; ls {tmp_path}/proj2",
                "cwd": str(real),
                "args": [f"{real}/a", {"nested": f"{via_link}"}],
            },
            {"is_error": False, "summary": "ok", "exit_code": 0},
        ),
    ]
    original = json.dumps([c.to_dict() for c in calls])
    rel = relativize(calls, via_link)
    assert json.dumps([c.to_dict() for c in calls]) == original  # inputs untouched
    assert rel[0].input["file_path"] == f"{CWD_TOKEN}/src/calc.py"
    assert rel[0].input["content"] == f"ROOT = '{CWD_TOKEN}'\n"
    assert rel[0].result["summary"] == f"created {CWD_TOKEN}/src/calc.py"
    assert rel[0].result["files_created"] == ["src/calc.py", "notes.txt"]
    # Sibling folders that share the prefix ("proj2", "<real>2") are not inside cwd.
    assert rel[1].input["command"] == (
        f"cd {CWD_TOKEN} && python {CWD_TOKEN}/src/calc.py > {real}2/out; ls {tmp_path}/proj2"
    )
    assert rel[1].input["cwd"] == CWD_TOKEN
    assert rel[1].input["args"] == [f"{CWD_TOKEN}/a", {"nested": CWD_TOKEN}]
    assert str(real) not in json.dumps(rel[0].to_dict())

    elsewhere = tmp_path / "other"
    elsewhere.mkdir()
    moved = reroot(rel, elsewhere)
    assert moved[0].input["file_path"] == f"{elsewhere.resolve()}/src/calc.py"
    assert (
        moved[1]
        .input["command"]
        .startswith(f"cd {elsewhere.resolve()} && python {elsewhere.resolve()}/src/calc.py")
    )
    assert CWD_TOKEN not in json.dumps([c.to_dict() for c in moved])
    assert relativize(moved, elsewhere) == rel
    # Relative to the root directory nothing is rewritten.
    assert relativize(calls, "/") == calls


# ---- CLI ------------------------------------------------------------------------------------


@pytest.fixture
def cli_workspace(tmp_path: Path):
    from llmos_tui.learning.store import TraceStore
    from llmos_tui.workspace import open_workspace

    ws = open_workspace(tmp_path / "ws")
    store = TraceStore(ws)
    first = sample_trace()
    store.save(first, volume="users/local")
    second = make_trace(
        "Delete the old logs",
        [ToolCall("Bash", {"command": "rm -f {{cwd}}/*.log"}, {"is_error": False, "summary": ""})],
        cost_usd=0.02,
    )
    store.save(second, volume="users/bob")
    return ws, store, first, second


def test_cli_list_show_rm_reindex(cli_workspace):
    from llmos_tui.cli.traces import traces_app

    ws, store, first, second = cli_workspace
    runner = CliRunner()
    w = ["--workspace", str(ws.root)]

    result = runner.invoke(traces_app, ["list", "--json", *w])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {t["id"] for t in data["traces"]} == {first.id, second.id}
    assert data["skipped"] == []
    row = next(t for t in data["traces"] if t["id"] == first.id)
    assert (
        row["volume"] == "users/local"
        and row["path"] == f"volumes/users/local/traces/{first.id}.md"
    )

    result = runner.invoke(traces_app, ["list", "--json", "--user", "bob", *w])
    assert [t["id"] for t in json.loads(result.stdout)["traces"]] == [second.id]

    result = runner.invoke(traces_app, ["list", *w])
    assert (
        result.exit_code == 0
        and first.id in result.stdout
        and "Delete the old logs" in result.stdout
    )

    result = runner.invoke(traces_app, ["show", first.id, *w])
    assert result.exit_code == 0
    assert result.stdout == (ws.root / f"volumes/users/local/traces/{first.id}.md").read_text()

    result = runner.invoke(traces_app, ["show", "t_nope", *w])
    assert result.exit_code == 1 and "no trace with id 't_nope'" in result.stderr

    (ws.root / "volumes/users/bob/traces/broken.md").write_text("---\nid: [unclosed\n---\n")
    result = runner.invoke(traces_app, ["reindex", "--json", *w])
    assert result.exit_code == 0, result.output
    counts = json.loads(result.stdout)
    assert counts["traces"] == 2 and counts["skipped"] == 1
    assert counts["skipped_files"][0]["path"] == "volumes/users/bob/traces/broken.md"
    assert "broken frontmatter" in result.stderr

    result = runner.invoke(traces_app, ["rm", second.id, *w])
    assert result.exit_code == 0 and second.id in result.stdout
    assert not (ws.root / f"volumes/users/bob/traces/{second.id}.md").exists()
    result = runner.invoke(traces_app, ["rm", second.id, *w])
    assert result.exit_code == 1 and "no trace with id" in result.stderr

    result = runner.invoke(traces_app, ["reindex", *w])
    assert result.exit_code == 0 and "indexed 1 trace(s)" in result.stdout


def test_cli_list_recovers_from_a_corrupt_index(cli_workspace):
    from llmos_tui.cli.traces import traces_app

    ws, _store, first, second = cli_workspace
    ws.index_file.write_text("{not json")
    result = CliRunner().invoke(traces_app, ["list", "--json", "--workspace", str(ws.root)])
    assert result.exit_code == 0
    assert {t["id"] for t in json.loads(result.stdout)["traces"]} == {first.id, second.id}
    assert "rebuilt" in result.stderr and "not valid JSON" in result.stderr


def test_cli_search_shows_candidates_gates_and_the_decision(cli_workspace):
    from llmos_tui.cli.traces import traces_app

    ws, _store, first, _second = cli_workspace
    runner = CliRunner()
    w = ["--workspace", str(ws.root)]

    result = runner.invoke(traces_app, ["search", "Create a Python calculator", "--json", *w])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["decision"]["mode"] == "FOLLOWER" and data["decision"]["trace_id"] == first.id
    top = data["candidates"][0]
    assert top["trace_id"] == first.id and top["passed"] is True and top["volume"] == "users/local"
    assert top["gates"] and all(g["reason"] for g in top["gates"])

    result = runner.invoke(traces_app, ["search", "Delete the Python calculator", "--json", *w])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["decision"]["mode"] not in ("FOLLOWER", "CRYSTALLIZED")
    calc = next(c for c in data["candidates"] if c["trace_id"] == first.id)
    assert calc["passed"] is False
    assert any(g["name"] == "verb" and not g["passed"] for g in calc["gates"])

    result = runner.invoke(traces_app, ["search", "Delete the Python calculator", *w])
    assert (
        result.exit_code == 0
        and "AUTO would choose" in result.stdout
        and "FAIL verb" in result.stdout
    )

    result = runner.invoke(traces_app, ["search", " ?! ", *w])
    assert result.exit_code == 2 and "empty" in result.stderr


@settings(max_examples=500, deadline=None)
@given(
    st.one_of(
        st.from_regex(r"[A-Za-z][A-Za-z0-9 _.,/()+'?!=@:-]{0,12}", fullmatch=True),
        st.sampled_from(
            [
                "yes",
                "Yes",
                "YES",
                "yEs",
                "no",
                "NO",
                "n",
                "y",
                "on",
                "ON",
                "oN",
                "off",
                "true",
                "TRUE",
                "tRUE",
                "false",
                "null",
                "Null",
                "NULL",
                "nULL",
                "nan",
                "Nan",
                "inf",
                "e1",
                "E5",
                "f",
                "t",
                "o",
                "x1",
            ]
        ),
    )
)
@pytest.mark.slow
def test_the_string_check_agrees_with_pyyaml_for_letter_words(text: str) -> None:
    import yaml

    from edgekit.frontmatter import resolves_to_str as _resolves_to_str

    expected = (
        yaml.resolver.Resolver().resolve(yaml.nodes.ScalarNode, text, (True, False))
        == "tag:yaml.org,2002:str"
    )
    assert _resolves_to_str(text) == expected, text


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(
        st.from_regex(r"[0-9][0-9a-fA-Fxob_:.eE+\- tTZgqé]{0,24}", fullmatch=True),
        st.sampled_from(
            [
                "42",
                "0",
                "007",
                "0o17",
                "0x1F",
                "0b101",
                "1_000",
                "1:30",
                "190:20:30",
                "1.5",
                "1.",
                "1e5",
                "1.0e+5",
                "2026-12-07",
                "2001-12-14t21:59:43.10-05:00",
                "2001-12-14 21:59:43.10 -5",
                "42 files",
                "6 * 7",
                "1.2.3",
                "3d",
                "20261207-205855-c22fe3",
                "20261207-205855-123456",
                "0x1g",
                "0xbad",
                "1x5",
                "0b1c",
                "1E5c",
                "2001-12-14T21:59:43Z",
                "12é",
            ]
        ),
    )
)
def test_the_string_check_agrees_with_pyyaml_for_digit_words(text: str) -> None:
    import yaml

    from edgekit.frontmatter import resolves_to_str as _resolves_to_str

    expected = (
        yaml.resolver.Resolver().resolve(yaml.nodes.ScalarNode, text, (True, False))
        == "tag:yaml.org,2002:str"
    )
    assert _resolves_to_str(text) == expected, text


def test_timestamp_check_agrees_with_strptime() -> None:
    import datetime as dt
    import itertools

    from llmos_tui.learning.traces import _valid_ts

    def strptime_ok(text: str) -> bool:
        try:
            dt.datetime.strptime(text[:19], "%Y-%m-%dT%H:%M:%S")
        except ValueError:
            return False
        return True

    for y, m, d, h, mi, s in itertools.product(
        ("0000", "0001", "2024", "2023", "9999"),
        ("00", "01", "02", "12", "13"),
        ("00", "28", "29", "30", "31", "32"),
        ("00", "23", "24"),
        ("00", "59", "60"),
        ("00", "59", "60", "61"),
    ):
        text = f"{y}-{m}-{d}T{h}:{mi}:{s}Z"
        assert _valid_ts(text) == strptime_ok(text), text


# The body's line patterns as they were written first ("^" with MULTILINE, IGNORECASE): the
# parser's faster spelling must find exactly the same lines.
_LINE_START_PATTERNS = {
    "_SUMMARY_RE": re.compile(r"^##[ \t]+Summary[ \t]*$", re.MULTILINE | re.IGNORECASE),
    "_CALLS_RE": re.compile(r"^##[ \t]+Tool calls[ \t]*$", re.MULTILINE | re.IGNORECASE),
    "_FENCE_OPEN_RE": re.compile(r"^```[ \t]*(?:json)?[ \t]*$", re.MULTILINE),
    "_FENCE_CLOSE_RE": re.compile(r"^```[ \t]*$", re.MULTILINE),
}
_body_bits = st.sampled_from(
    [
        "#",
        "##",
        "```",
        "json",
        "\n",
        " ",
        "\t",
        "\r",
        "Tool calls",
        "TOOL CALLſ",
        "Summary",
        "ſummary",
        "x",
        "K",
        "\u2028",
    ]
)


@settings(max_examples=2000, deadline=None)
@given(st.lists(_body_bits, max_size=14).map("".join), st.integers(0, 60), st.integers(0, 60))
def test_the_body_patterns_find_the_lines_a_line_start_pattern_finds(text, pos, endpos):
    from llmos_tui.learning import traces

    for name, reference in _LINE_START_PATTERNS.items():
        ours = getattr(traces, name)

        def spans(pattern, *args):
            return [m.span() for m in pattern.finditer(text, *args)]

        assert spans(ours) == spans(reference), (name, text)
        assert spans(ours, pos) == spans(reference, pos), (name, text, pos)
        assert spans(ours, 0, endpos) == spans(reference, 0, endpos), (name, text, endpos)
