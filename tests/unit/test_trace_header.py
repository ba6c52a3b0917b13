"""The fast frontmatter reader (``trace_header``) reads exactly what PyYAML reads, or declines."""

from __future__ import annotations

import dataclasses
import datetime as _dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmos_tui.learning.trace_header import load_trace_header
from llmos_tui.learning.traces import ToolCall, dump_trace, make_trace
from llmos_tui.yamlio import safe_load


def _header(text: str) -> str:
    end = text.find("\n---\n", 3)
    return text[4 : end + 1]


def _as_written(data: dict) -> dict:
    """PyYAML's reading with the timestamps as the text parse_trace makes of them."""
    from llmos_tui.learning.traces import _ts

    out = dict(data)
    for key in ("created_at", "last_used"):
        if isinstance(out.get(key), (_dt.datetime, _dt.date)):
            out[key] = _ts(out[key], key, "", optional=False)
    return out


def _same(header: str) -> dict | None:
    """Both readings of *header* when the fast reader accepts it: they must be equal
    (types included: 1 is not 1.0 is not True)."""
    fast = load_trace_header(header)
    if fast is None:
        return None
    slow = _as_written(safe_load(header))
    assert fast == slow
    assert repr(fast) == repr(slow)
    return fast


texts = st.text(
    st.characters(blacklist_categories=("Cs",)), max_size=30
)  # any text, quoted or plain
words = st.sampled_from(
    [
        "yes",
        "No",
        "null",
        "NULL",
        "on",
        "OFF",
        "true",
        "0",
        "-0",
        "07",
        "1_000",
        "1:20",
        "0x1f",
        "2026-01-01",
        "1e5",
        "1.5",
        ".5",
        "-1.25e+10",
        "3d_model",
        "a b",
        "a, b",
        "it's",
        "x#y",
        "0b1",
        "0b9c",
        "017",
        "019",
        "08a",
        "1.5.2",
        "12:30",
        "304cc3f6b9019623",
        "1e5",
        "0x1g",
        "2026-01-01 x",
        "1 x",
        "3b4c",
        "0b",
        "0x",
        "0xg",
        "04206893b0ccd312",
        "9b9e59a574866add",
        "0_7",
        "1__2",
        "x #y",
        "~",
        "",
        " lead",
        "trail ",
        "a: b",
        "@x",
        "!x",
        "-x",
        "?",
    ]
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=False, allow_infinity=False),
    texts,
    words,
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.one_of(texts, words), inner, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    goal=st.one_of(texts, words).filter(lambda g: any(c.isalnum() for c in g)),
    slots=st.dictionaries(st.one_of(texts, words), values, max_size=4),
    error=st.one_of(st.none(), texts, words),
    cost=st.floats(min_value=0, max_value=1e12, allow_nan=False),
    when=st.floats(min_value=0, max_value=4e9),
)
def test_every_header_we_write_reads_the_same_as_with_pyyaml(goal, slots, error, cost, when):
    try:
        trace = make_trace(
            goal,
            [ToolCall("Edit", {"x": 1}, {"is_error": False, "summary": ""})],
            slots=slots,
            error=error,
            cost_usd=cost,
            model=goal,
            when=when,
        )
        text = dump_trace(trace)
    except Exception:  # noqa: BLE001 - a value the format refuses is not this test's concern
        return
    _same(_header(text))


def test_a_typical_header_is_read_without_pyyaml():
    trace = make_trace(
        "Create the Python calculator in calc_2.py",
        [ToolCall("Write", {"file_path": "{{cwd}}/calc_2.py"}, {"is_error": False})],
        slots={"file": "calc_2.py", "n": 3, "ratio": 0.5, "none": None, "q": 'say "hi"\n'},
        tokens={"input": 10, "output": 2},
        emotion={"safety": 0.5, "outcome": "success"},
        when=1_790_000_000.5,
    )
    trace = dataclasses.replace(trace, aliases=["make a calculator"])
    data = _same(_header(dump_trace(trace)))
    assert data is not None  # everything dump_trace wrote was read by the fast path
    assert data["created_at"] == trace.created_at
    assert data["slots"]["q"] == 'say "hi"\n'


@pytest.mark.parametrize(
    "header",
    [
        "id: t_1 # a comment\n",
        "id: t_1\nid: t_2\n",
        "tokens:\n  input: 1\n",
        "slots: {a: 2026-01-01}\n",
        "created_at: 2026-01-01\n",
        "created_at: 2026-01-01T10:00:00.000000Z\n",
        "goal: &a x\n",
        "usage_count: 010\n",
        "usage_count: 1_000\n",
        "usage_count: 1:20\n",
        "usage_count: +1\n",
        'goal: "a\\Nb"\n',
        'goal: "\\ud83d\\ude00"\n',
        'goal: "tab\there"\n',
        "goal: a\u2028b\n",
        "slots: {a: b , c: d}\n",
        "slots: {a: [1, 2}\n",
        "slots: {a:b}\n",
        "goal: 'single'\n",
        "goal: x\n  continued\n",
        "id: t_1",
        "",
    ],
)
def test_what_it_is_not_sure_of_goes_to_pyyaml(header):
    assert load_trace_header(header) is None


@pytest.mark.parametrize(
    "header",
    [
        "goal: Don't stop (now) / later!\n",
        'goal: "\\xE9t\\u00e9 \\"q\\" \\\\ \\/"\n',
        "slots: {}\nemotion: {a: [], b: {}, c: [1, -2, 3.5, -0.25e-07, true, null, Off]}\n",
        'slots: {"a b": "c, d", e: f g}\n',
        "usage_count: 0\nsuccess_count: -0\ncost_usd: 1.0e+20\n",
        "created_at: 2026-01-01T10:00:00Z\nlast_used: 2026-01-01T10:00:00.250000Z\n",
    ],
)
def test_what_it_reads_it_reads_as_pyyaml_does(header):
    assert _same(header) is not None


_flow_words = st.sampled_from(
    [
        "a",
        "b c",
        "x.py",
        "1",
        "-2",
        "0",
        "1.5",
        "-0.25e-07",
        "1e5",
        "1.5.2",
        "0x1f",
        "07",
        "3d",
        "yes",
        "null",
        "Off",
        "~",
        '"q"',
        "é",
        "a#b",
        "-x",
        "a,b",
        "a:b",
        " a",
        "a ",
    ]
)
_flat_texts = st.one_of(
    st.lists(st.tuples(_flow_words, _flow_words), max_size=4).map(
        lambda items: "{" + ", ".join(f"{k}: {v}" for k, v in items) + "}"
    ),
    st.lists(_flow_words, max_size=4).map(lambda items: "[" + ", ".join(items) + "]"),
)


@st.composite
def _flow_values(draw):
    """A flat collection, sometimes with one piece of text put in or taken out."""
    text = draw(_flat_texts)
    pos = draw(st.integers(0, len(text)))
    edit = draw(st.sampled_from(["", "cut", "{", "}", "[", "]", ", ", ": ", " ", ","]))
    if edit == "cut":
        return text[:pos] + text[pos + 1 :]
    return text[:pos] + edit + text[pos:]


@settings(max_examples=3000, deadline=None)
@given(_flow_values())
def test_a_flat_collection_is_read_as_the_flow_reader_reads_it(value):
    from llmos_tui.learning import trace_header

    def read(fn):
        try:
            return fn()
        except trace_header._Unsure:
            return "unsure"

    if not value.startswith(("{", "[")):
        return
    flat = read(lambda: trace_header._flat(value))
    if flat is None:
        return  # not flat: _flow alone reads it
    flow = read(lambda: trace_header._flow(value, 0))
    if flow != "unsure":
        assert flow[1] == len(value), value  # _flow read all of it
        flow = flow[0]
    assert repr(flat) == repr(flow), value
