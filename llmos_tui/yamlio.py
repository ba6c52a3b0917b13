"""YAML parsing for every YAML text llmos reads (config, trace/agent/fact/session/project
frontmatter, bundles): safe, bounded, and fast.

The loader itself (:func:`safe_load`, :func:`no_alias_loader`, :func:`check_size`,
:class:`YAMLLoadError`: safe, bounded, no anchors or aliases) is ``edgekit/safeyaml.py``, the one
copy llmos and the edge runtime share; its docstring says what it refuses and why. This module
adds what only llmos needs: reading a flat ``config.yaml`` and ``LLMOS_*`` values without
importing PyYAML (about 10 ms of every start).
"""

from __future__ import annotations

import re
from typing import Any

from edgekit.safeyaml import (  # noqa: F401 - the loader's API, re-exported for llmos's modules
    MAX_YAML_BYTES,
    YAMLLoadError,
    check_size,
    no_alias_loader,
    safe_load,
)

# ---- the common case without PyYAML ----------------------------------------------------------
# A workspace's config.yaml is usually comments and one or two "key: word" lines
# ("preset: development"). Importing PyYAML would cost every start (BENCHMARKS.md, "Measurements
# behind choices in the code"); such a file is read here instead, exactly as PyYAML reads it, and
# anything else goes to PyYAML.

_FLAT_LINE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*): +([A-Za-z][A-Za-z0-9_.-]*) *(?: #.*)?")
# Plain words that YAML 1.1 (PyYAML's resolver) reads as something other than a string.
_NOT_STRINGS = frozenset(
    "yes Yes YES no No NO true True TRUE false False FALSE on On ON off Off OFF "
    "null Null NULL".split()
)


def load_flat_mapping(text: str) -> dict[str, str] | None:
    """``text`` as PyYAML's safe loader would read it when it is only comments, blank lines and
    top-level ``key: word`` lines (a word: a letter, then letters, digits, ``_ . -``; not one of
    the words YAML reads as a boolean or null); None for anything else, which the caller gives to
    :func:`safe_load`. An empty or comment-only text gives ``{}`` (PyYAML: None)."""
    out: dict[str, str] = {}
    for line in text.split("\n"):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            if stripped and line[0] in " \t":
                return None  # an indented comment: leave any subtlety to PyYAML
            continue
        m = _FLAT_LINE.fullmatch(line.rstrip("\r"))
        if m is None:
            return None
        key, value = m.group(1), m.group(2)
        if key in _NOT_STRINGS or value in _NOT_STRINGS or key in out:
            return None
        out[key] = value
    return out


_BOOLS = {w: True for w in "yes Yes YES true True TRUE on On ON".split()}
_BOOLS.update({w: False for w in "no No NO false False FALSE off Off OFF".split()})
_INT = re.compile(r"[-+]?(?:0|[1-9][0-9]*)")
_FLOAT = re.compile(r"[-+]?[0-9]+\.[0-9]*(?:[eE][-+][0-9]+)?")
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*")
_UNSET = object()


def load_value(text: str) -> Any:
    """An ``LLMOS_*`` value as PyYAML's safe loader reads it (``false``, ``2``, ``0.95``,
    ``auto``, ``[a, b]``), or ``text`` itself when it is not valid YAML. Plain scalars are
    read here; anything else is given to :func:`safe_load`."""
    value = _simple_scalar(text)
    if value is not _UNSET:
        return value
    try:
        return safe_load(text)
    except YAMLLoadError:
        return text


def _simple_scalar(text: str) -> Any:
    if text in _BOOLS:
        return _BOOLS[text]
    if text in ("null", "Null", "NULL", "~"):
        return None
    if _INT.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text):
        return float(text)
    if _WORD.fullmatch(text):
        return text
    return _UNSET
