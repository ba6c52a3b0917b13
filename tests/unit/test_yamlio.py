"""The flat config fast path reads exactly what PyYAML reads, or declines."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from llmos_tui.yamlio import load_flat_mapping, safe_load

REPO = Path(__file__).resolve().parents[2]

WORDS = st.sampled_from(
    [
        "development",
        "production",
        "testing",
        "claude-sonnet-4-5",
        "local",
        "a.b",
        "x_1",
        "yes",
        "No",
        "on",
        "OFF",
        "true",
        "Null",
        "null",
        "y",
        "n",
        "e5",
        "NaN",
        "Infinity",
        "dev#x",
        "1.5",
        "0x1F",
        "-1",
        "~",
        "'q'",
        '"q"',
        "[a]",
        "{a: 1}",
        "a: b",
        "&a",
        "*a",
        "!!str x",
        "",
        "  ",
    ]
)
KEYS = st.sampled_from(
    [
        "preset",
        "model",
        "user",
        "team",
        "budget_usd",
        "yes",
        "on",
        "x",
        "_k",
        "K9",
        "<<",
        "a b",
        "1",
        "~",
    ]
)
LINES = st.one_of(
    st.builds(
        lambda k, v, gap, c: f"{k}:{gap}{v}{c}",
        KEYS,
        WORDS,
        st.sampled_from([" ", "  ", "\t", ""]),
        st.sampled_from(["", " # note", "  #x", "#x", " ", "\t"]),
    ),
    st.sampled_from(
        [
            "",
            "# comment",
            "   # indented comment",
            "---",
            "...",
            "learning:",
            "  follower_threshold: 0.9",
            "\ufeffpreset: development",
            "preset: development\r",
            "- item",
            "%YAML 1.1",
        ]
    ),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(LINES, max_size=6))
@pytest.mark.slow
def test_the_fast_path_agrees_with_pyyaml_or_declines(lines: list[str]) -> None:
    text = "\n".join(lines)
    fast = load_flat_mapping(text)
    if fast is None:
        return
    try:
        expected = yaml.safe_load(text)
    except yaml.YAMLError:
        raise AssertionError(
            f"the fast path accepted text PyYAML rejects: {text!r} -> {fast!r}"
        ) from None
    assert fast == (expected or {}), (text, fast, expected)


def test_the_template_config_takes_the_fast_path() -> None:
    text = (REPO / "workspace" / "config.yaml").read_text()
    assert load_flat_mapping(text) == yaml.safe_load(text) == {"preset": "development"}


def test_what_yaml_reads_differently_goes_to_pyyaml() -> None:
    for text in [
        "preset: yes",
        "on: development",
        "budget_usd: 2",
        "learning:\n  follower_threshold: 0.9",
        "preset: development\npreset: production",
        "model: 'x'",
        "preset: dev#x",
    ]:
        assert load_flat_mapping(text) is None, text
    assert safe_load("budget_usd: 2\nflag: yes") == {"budget_usd": 2, "flag": True}


SCALARS = st.one_of(
    st.sampled_from(
        [
            "false",
            "False",
            "no",
            "on",
            "OFF",
            "y",
            "n",
            "null",
            "~",
            "Null",
            "auto",
            "claude-sonnet-4-5",
            "0",
            "00",
            "007",
            "-1",
            "+3",
            "1_000",
            "0x1F",
            "0o7",
            "1:30",
            "1.5",
            ".5",
            "1.",
            "1e5",
            "1.0e+5",
            "1.0E-3",
            "-0.0",
            ".inf",
            ".NaN",
            "[a, b]",
            "{a: 1}",
            "'x'",
            "a b",
            "a: b",
            "#x",
            "2026-11-21",
            "é",
            "x\ny",
            "- a",
        ]
    ),
    st.from_regex(r"[-+]?[0-9]{1,4}(\.[0-9]{0,3})?([eE][-+]?[0-9]{1,2})?", fullmatch=True),
    st.from_regex(r"[A-Za-z_.~-][A-Za-z0-9_.:-]{0,8}", fullmatch=True),
)


@settings(max_examples=400, deadline=None)
@given(SCALARS)
@pytest.mark.slow
def test_an_environment_value_is_read_as_pyyaml_reads_it(text: str) -> None:
    from llmos_tui.yamlio import load_value

    try:
        expected = yaml.safe_load(text)
    except yaml.YAMLError:
        expected = text
    got = load_value(text)
    if isinstance(expected, float) and expected != expected:  # NaN
        assert isinstance(got, float) and got != got, (text, got)
        return
    assert got == expected and type(got) is type(expected), (text, got, expected)
