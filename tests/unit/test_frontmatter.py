"""edgekit.frontmatter: the one reader and writer of markdown headers."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from edgekit.frontmatter import FrontmatterError, dump_header, dump_yaml, join, read

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40).filter(lambda t: not any("\ud800" <= c <= "\udfff" for c in t)),
)
KEYS = st.from_regex(r"[a-z_][a-z0-9_]{0,12}", fullmatch=True)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(KEYS, VALUES, min_size=1, max_size=6))
def test_a_machine_header_reads_back_unchanged_by_pyyaml_and_by_read(header: dict) -> None:
    text = dump_header(header)
    assert yaml.safe_load(text) == header
    assert read(join(text, "# body\n")) == (header, "# body\n")


@pytest.mark.parametrize(
    "header",
    [{"_": ["0?"]}, {"aliases": ["what is 6*7?", "why?"]}, {"m": {"q": "a?b"}}, {"q": "how?"}],
)
def test_a_question_mark_inside_a_flow_collection_is_quoted(header: dict) -> None:
    """PyYAML ends a plain scalar at ``?`` inside ``[...]``/``{...}`` (found by the property
    test above): such strings are written quoted there."""
    text = dump_header(header)
    assert yaml.safe_load(text) == header
    assert read(join(text, "# body\n")) == (header, "# body\n")


@pytest.mark.parametrize("value", [float("nan"), "\ud800", {1: "a"}])
def test_what_yaml_cannot_hold_is_refused(value: object) -> None:
    with pytest.raises(FrontmatterError):
        dump_header({"x": value})


def test_a_person_s_file_is_written_in_block_style() -> None:
    header = {"name": "haiku", "tools": ["Read", "Write"]}
    assert dump_yaml(header) == "name: haiku\ntools:\n- Read\n- Write\n"
    assert read(join(header, "body")) == (header, "body")


def test_a_machine_header_is_written_without_importing_pyyaml() -> None:
    code = (
        "import sys\n"
        "from edgekit.frontmatter import dump_header\n"
        "dump_header({'id': 's1', 'started_at': '2026-12-07T10:00:00Z', 'user': None,\n"
        "             'tags': ['a', 'b 2'], 'n': 42, 'cost': 0.25})\n"
        "print('yaml' in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "False"
