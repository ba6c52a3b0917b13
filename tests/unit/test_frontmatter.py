"""edgekit.frontmatter: the one reader and writer of markdown headers."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from edgekit.frontmatter import dump_yaml, join, read

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.text(max_size=40).filter(str.isprintable),  # the flat writer's domain
)
KEYS = st.from_regex(r"[a-z_][a-z0-9_]{0,12}", fullmatch=True)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(KEYS, SCALARS, min_size=1, max_size=6))
def test_a_flat_header_reads_back_unchanged_by_pyyaml_and_by_read(header: dict) -> None:
    text = dump_yaml(header)
    assert yaml.safe_load(text) == header
    assert read(join(header, "# body\n")) == (header, "# body\n")


@pytest.mark.parametrize(
    "header",
    [
        {"tags": ["a", "b"]},  # a list
        {"when": 1.5},  # a float
        {"title": "line\nbreak"},  # not printable
        {"key with space": "x"},  # not a plain key
    ],
)
def test_other_headers_still_go_through_pyyaml(header: dict) -> None:
    assert yaml.safe_load(dump_yaml(header)) == header


def test_a_flat_header_is_written_without_importing_pyyaml() -> None:
    code = (
        "import sys\n"
        "from edgekit.frontmatter import join\n"
        "join({'id': 's1', 'started_at': '2026-12-07T10:00:00Z', 'user': None}, 'x')\n"
        "print('yaml' in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "False"
