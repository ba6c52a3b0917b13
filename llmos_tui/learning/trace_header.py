"""A trace's frontmatter as our own emitter writes it, read without PyYAML.

``dump_trace`` writes every frontmatter field on one line, in flow style, with a small set of
scalar forms (``traces._scalar``): plain words that YAML reads as strings, ``null``, ``true``,
``false``, decimal integers, ``repr`` floats, canonical UTC timestamps (the two timestamp fields)
and double-quoted strings with JSON-compatible escapes (plus ``\\xHH``). Rebuilding the index
of 100k traces spent most of its time in PyYAML's constructor on exactly these lines.

:func:`load_trace_header` reads such a header to the same data PyYAML's safe loader gives,
except that a canonical timestamp stays the string it was written as (``parse_trace`` turns a
datetime back into exactly that text). Anything it is not sure of (a comment, a block
collection, an anchor, a duplicate key, an escape YAML and JSON read differently, a digit-led
word that YAML might read as a date or a sexagesimal number, a control character, ...) makes
it return None, and the caller gives the header to ``yamlio.safe_load`` as before: a hand-edited
file is read exactly as it always was. ``tests/test_trace_header.py`` compares both readers.
"""

from __future__ import annotations

import json
import re
from typing import Any

#: Keys written as timestamps; a canonical value stays text (see the module doc).
TIMESTAMP_KEYS = frozenset({"created_at", "last_used"})

#: Longer headers go to PyYAML, which applies its own size limit (yamlio.MAX_YAML_BYTES).
MAX_HEADER_CHARS = 64 * 1024
_LINE = re.compile(r"([a-z_]+): ([^\n]*)\n")
_TS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.(?!0{6})\d{6})?Z")
_PLAIN_BLOCK = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9 _.,/()+'?!=@-]*[A-Za-z0-9_.,/()+'?!=@-])?")
_PLAIN_FLOW = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9 _./()+'?!=@-]*[A-Za-z0-9_./()+'?!=@-])?")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+(?:e[-+][0-9]+)?)?")
# Every digit-led plain scalar YAML 1.1 reads as an int, a float or a timestamp matches this
# (PyYAML's resolvers: 0x or 0b, or digits and underscores then ".", ":" or "-").
_MAYBE_NOT_STR = re.compile(r"[-+]?(?:0[xb].*|[0-9][0-9_]*(?:[.:-].*)?)")
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')
# A flat flow collection of unquoted scalars (``{input: 10, output: 2}``, ``[Write, Bash]``):
# each scalar is what _flow_scalar would take at its place (a number after "-", else the
# longest plain run), and none holds ", " or ": ", so splitting on them gives the same items
# _flow reads one by one, in a fraction of the time. Anything else goes through _flow.
_FLOW_WORD = _NUMBER.pattern + "|" + _PLAIN_FLOW.pattern
_FLAT_MAP = re.compile(
    rf"\{{(?:(?:{_FLOW_WORD}): (?:{_FLOW_WORD})(?:, (?:{_FLOW_WORD}): (?:{_FLOW_WORD}))*)?\}}"
)
_FLAT_SEQ = re.compile(rf"\[(?:(?:{_FLOW_WORD})(?:, (?:{_FLOW_WORD}))*)?\]")
# Escapes both YAML and JSON read the same way (\x is turned into \u00 first); a \u of a
# surrogate is joined into one character by JSON and not by YAML, so it is left to PyYAML.
_ESCAPE = re.compile(r'\\(?:(["\\/bfnrt]|u(?![dD][89a-fA-F])[0-9a-fA-F]{4}|x[0-9a-fA-F]{2})|.)')
# Characters YAML reads as line breaks or refuses, and anything JSON refuses raw in a string.
_ODD_CHARS = "\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\ufeff\ud800-\udfff\ufffe\uffff"
# The whole header: "key: value" lines without any of those characters (one pass for both).
_LINES = re.compile(f"(?:[a-z_]+: [^\n{_ODD_CHARS}]*\n)+")
_NOT_STR = {
    **{w: True for w in ["yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"]},
    **{w: False for w in ["no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"]},
    **{w: None for w in ["null", "Null", "NULL"]},
}


class _Unsure(Exception):
    """Not a form this reader is sure of: PyYAML decides."""


def _word(text: str) -> Any:
    """A plain scalar (already known to match the emitter's plain pattern)."""
    first = text[0]
    if first.isalpha():
        return _NOT_STR.get(text, text)
    m = _NUMBER.fullmatch(text)
    if m is not None:
        return float(text) if m.group(1) else int(text)
    if _MAYBE_NOT_STR.fullmatch(text):
        raise _Unsure  # a date, 1:20, 0x1f, 0b1, 017, 1_000, 1.5.2 ... are YAML's to read
    return text  # digits, then a letter ("3d_model", a hex signature; not 0x or 0b)


def _quoted(text: str) -> str:
    if "\\" in text and any(m.group(1) is None for m in _ESCAPE.finditer(text)):
        raise _Unsure
    if "\\x" in text:
        text = re.sub(r"\\x([0-9a-fA-F]{2})", r"\\u00\1", text)
    try:
        return json.loads(text)
    except ValueError:
        raise _Unsure from None


def _flow(line: str, pos: int) -> tuple[Any, int]:
    """The flow value starting at *pos*, and the position after it."""
    ch = line[pos : pos + 1]
    if ch == "{":
        out: dict[str, Any] = {}
        pos += 1
        if line.startswith("}", pos):
            return out, pos + 1
        while True:
            key, pos = _flow_scalar(line, pos)
            if not isinstance(key, str) or key in out or not line.startswith(": ", pos):
                raise _Unsure
            out[key], pos = _flow(line, pos + 2)
            if line.startswith(", ", pos):
                pos += 2
            elif line.startswith("}", pos):
                return out, pos + 1
            else:
                raise _Unsure
    if ch == "[":
        items: list[Any] = []
        pos += 1
        if line.startswith("]", pos):
            return items, pos + 1
        while True:
            item, pos = _flow(line, pos)
            items.append(item)
            if line.startswith(", ", pos):
                pos += 2
            elif line.startswith("]", pos):
                return items, pos + 1
            else:
                raise _Unsure
    return _flow_scalar(line, pos)


def _flat(value: str) -> Any:
    """The flat collection *value* as _flow reads it, or None when it is not one (above)."""
    if _FLAT_MAP.fullmatch(value):
        out: dict[str, Any] = {}
        if len(value) > 2:
            for item in value[1:-1].split(", "):
                word, data = item.split(": ")
                key = _word(word)
                if not isinstance(key, str) or key in out:
                    raise _Unsure
                out[key] = _word(data)
        return out
    if _FLAT_SEQ.fullmatch(value):
        return [_word(word) for word in value[1:-1].split(", ")] if len(value) > 2 else []
    return None


def _flow_scalar(line: str, pos: int) -> tuple[Any, int]:
    if line.startswith('"', pos):
        m = _QUOTED.match(line, pos)
        if m is None:
            raise _Unsure
        return _quoted(m.group()), m.end()
    m = _NUMBER.match(line, pos) if line[pos : pos + 1] == "-" else _PLAIN_FLOW.match(line, pos)
    if m is None:
        raise _Unsure
    return _word(m.group()), m.end()


def load_trace_header(header: str) -> dict[str, Any] | None:
    """The frontmatter mapping of *header* (the text between the ``---`` lines, with its final
    newline), or None when PyYAML must read it (see the module doc)."""
    if len(header) > MAX_HEADER_CHARS or _LINES.fullmatch(header) is None:
        return None
    out: dict[str, Any] = {}
    try:
        for key, value in _LINE.findall(header):
            if key in out:
                return None
            first = value[:1]
            if first.isalpha() and _PLAIN_BLOCK.fullmatch(value):
                data = _NOT_STR.get(value, value)
            elif value.isdigit() and value.isascii() and (first != "0" or len(value) == 1):
                data = int(value)  # what _word makes of it (a count, most often)
            elif first in ("{", "["):
                data = _flat(value)
                if data is None:
                    data, end = _flow(value, 0)
                    if end != len(value):
                        return None
            elif first == '"':
                if _QUOTED.fullmatch(value) is None:
                    return None
                data = _quoted(value)
            elif key in TIMESTAMP_KEYS and _TS.fullmatch(value):
                data = value
            elif (first == "-" and _NUMBER.fullmatch(value)) or _PLAIN_BLOCK.fullmatch(value):
                data = _word(value)
            else:
                return None
            out[key] = data
    except (_Unsure, IndexError):
        return None
    return out
