"""Markdown files with a YAML header ("frontmatter"): the one reader and writer llmos and its edge
runtime use for traces, facts, projects, sessions, agents, insights and bundles.

A header is the text between a first line ``---`` and the next line that is exactly ``---``::

    ---
    goal: Create hello.txt
    ---
    # body

:func:`split` gives the header's YAML text and the body (a leading byte-order mark is dropped;
a file whose first line ends in ``\\r\\n`` is read with ``\\n`` line ends; a closing ``---`` at
the very end of the text, without a newline, counts). :func:`read` loads the header with the
safe loader (``edgekit.safeyaml``: no anchors or aliases, 1 MiB at most) and checks that it is
a mapping. Every problem is a :class:`FrontmatterError` (a ``ValueError``) whose message says
what is wrong ("missing frontmatter ...", "unterminated frontmatter ...", "broken frontmatter at
line N: ..."). :func:`read_lenient` never raises: ``({}, body)`` for a header that is broken,
``({}, text)`` for a text with none.

:func:`dump_yaml` is the one YAML writer (block style, keys in the given order, Unicode kept,
no line folding) and :func:`join` puts a header and a body back together; what :func:`join`
writes, :func:`read` reads back unchanged. Standard library + PyYAML only.
"""

from __future__ import annotations

import math
import re
from typing import Any

from .safeyaml import YAMLLoadError, safe_load

#: Lines are never folded: a long value stays on one line (readable, and greppable).
YAML_WIDTH = 10_000


class FrontmatterError(ValueError):
    """A markdown text whose header is missing, unterminated, malformed or not a mapping."""


def split(text: str) -> tuple[str, str]:
    """(the header's YAML text, the body); :class:`FrontmatterError` without a header."""
    text = text.removeprefix("\ufeff")
    if text.startswith("---\r\n"):  # a file saved with Windows line ends
        text = text.replace("\r\n", "\n")
    if not text.startswith("---\n"):
        raise FrontmatterError("missing frontmatter (the file must start with a '---' line)")
    end = text.find("\n---\n", 3)
    if end == -1:
        if not text.endswith("\n---"):
            raise FrontmatterError("unterminated frontmatter (no closing '---' line)")
        end = len(text) - 4
    return text[4 : end + 1], text[end + 5 :]


def read(text: str) -> tuple[dict[str, Any], str]:
    """(the header as a mapping, the body); :class:`FrontmatterError` for any problem."""
    header, body = split(text)
    try:
        data = safe_load(header)
    except YAMLLoadError as exc:
        mark = exc.problem_mark
        where = f" at line {mark.line + 2}" if mark is not None else ""
        raise FrontmatterError(f"broken frontmatter{where}: {exc.problem}") from None
    if not isinstance(data, dict):
        raise FrontmatterError("the frontmatter must be a mapping of keys to values")
    return data, body


def read_lenient(text: str) -> tuple[dict[str, Any], str]:
    """:func:`read`, for files a person may have edited: ``({}, body)`` when the header is broken
    or not a mapping, ``({}, text)`` when there is none. Never raises."""
    try:
        header, body = split(text)
    except FrontmatterError:
        return {}, text
    try:
        data = safe_load(header)
    except (YAMLLoadError, ImportError):
        return {}, body
    return (data if isinstance(data, dict) else {}), body


# ---- the header writer: flow style, deterministic, no PyYAML ------------------------------------------

_PLAIN_BLOCK = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9 _.,/()+'?!=@-]*[A-Za-z0-9_.,/()+'?!=@-])?")
_PLAIN_FLOW = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9 _./()+'!=@-]*[A-Za-z0-9_./()+'!=@-])?")
_SURROGATE = re.compile("[\ud800-\udfff]")
_resolver: Any = None


# PyYAML's implicit resolvers are chosen by the first character; for a first character that is an
# ASCII letter the only ones are bool (y n t f o, either case) and null (n): such a text is a string
# unless it is one of these words (checked against PyYAML's resolver in tests/unit/test_traces.py).
_LETTER_NOT_STR = frozenset(
    "yes Yes YES no No NO true True TRUE false False FALSE on On ON off Off OFF "
    "null Null NULL".split()
)


# For a first character that is a digit they are int, float and timestamp: PyYAML's own patterns
# (yaml/resolver.py), so a summary such as "42" is written without importing PyYAML.
_DIGIT_NOT_STR: Any = None
_DIGIT_NOT_STR_PATTERN = r"""^(?:
      [-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?
    | \.[0-9][0-9_]*(?:[eE][-+][0-9]+)?
    | [-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*
    | [-+]?\.(?:inf|Inf|INF)
    | \.(?:nan|NaN|NAN)
    | [-+]?0b[0-1_]+
    | [-+]?0[0-7_]+
    | [-+]?(?:0|[1-9][0-9_]*)
    | [-+]?0x[0-9a-fA-F_]+
    | [-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+
    | [0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]
    | [0-9][0-9][0-9][0-9] -[0-9][0-9]? -[0-9][0-9]?
      (?:[Tt]|[ \t]+)[0-9][0-9]?
      :[0-9][0-9] :[0-9][0-9] (?:\.[0-9]*)?
      (?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?
    )$"""


def resolves_to_str(text: str) -> bool:
    """YAML (PyYAML's resolver) reads the plain *text* as a string."""
    global _resolver, _DIGIT_NOT_STR
    first = text[:1]
    if first.isascii() and first.isalpha():
        return text not in _LETTER_NOT_STR  # no PyYAML import for the common case
    if first.isascii() and first.isdigit():
        # The patterns' only letters are e/E (exponents), b (0b...), T/t/Z (timestamps) and, after
        # a leading 0x, hex digits: any other letter means a string without compiling them (ids
        # such as 20261207-205855-c22fe3).
        if not text.startswith("0x") and any(c.isalpha() and c not in "eEbTtZ" for c in text):
            return True
        if _DIGIT_NOT_STR is None:
            _DIGIT_NOT_STR = re.compile(_DIGIT_NOT_STR_PATTERN, re.VERBOSE)
        return _DIGIT_NOT_STR.match(text) is None
    if _resolver is None:
        import yaml

        _resolver = (yaml.resolver.Resolver(), yaml.nodes.ScalarNode)
    resolver, node = _resolver
    return resolver.resolve(node, text, (True, False)) == "tag:yaml.org,2002:str"


def _quote(text: str) -> str:
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif 0x20 <= code <= 0x7E:
            out.append(ch)
        elif (
            code < 0xA0
            or code in (0x2028, 0x2029, 0xFEFF)
            or 0xD800 <= code <= 0xDFFF
            or code in (0xFFFE, 0xFFFF)
        ):
            out.append(f"\\x{code:02X}" if code <= 0xFF else f"\\u{code:04X}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _scalar(value: Any, flow: bool) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise FrontmatterError(f"cannot store the number {value!r}")
        text = repr(value)
        if "e" in text or "E" in text:  # YAML 1.1 floats need a dot and a signed exponent
            mantissa, exponent = text.lower().split("e")
            if "." not in mantissa:
                mantissa += ".0"
            if exponent[0] not in "+-":
                exponent = "+" + exponent
            text = f"{mantissa}e{exponent}"
        return text
    if isinstance(value, str):
        if _SURROGATE.search(value):
            raise FrontmatterError(
                f"the text {value!r} contains an unpaired surrogate (invalid Unicode)"
            )
        pattern = _PLAIN_FLOW if flow else _PLAIN_BLOCK
        if pattern.fullmatch(value) and resolves_to_str(value):
            return value
        return _quote(value)
    raise FrontmatterError(f"cannot store the value {value!r} in a trace")


def emit(value: Any, flow: bool = False) -> str:
    """*value* (mappings, lists and scalars) as one line of flow-style YAML, deterministic and
    without PyYAML for everything but a rare ambiguous scalar (``FrontmatterError`` for a value
    YAML cannot hold: a non-finite float, an unpaired surrogate, a non-string key)."""
    if isinstance(value, dict):
        items = []
        for key, item in value.items():
            if not isinstance(key, str):
                raise FrontmatterError(f"mapping keys must be strings, got {key!r}")
            items.append(f"{_scalar(key, True)}: {emit(item, True)}")
        return "{" + ", ".join(items) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(emit(item, True) for item in value) + "]"
    return _scalar(value, flow)


def dump_header(data: dict[str, Any]) -> str:
    """A machine-written header (traces, session logs): one ``key: value`` line per item, each
    value in flow style (:func:`emit`); no PyYAML. What it writes, :func:`read` reads back."""
    return "".join(f"{emit(key, True)}: {emit(value)}\n" for key, value in data.items())


def dump_yaml(data: Any, *, flow: bool = False) -> str:
    """``data`` as YAML text ending in a newline: block style (``flow``: one ``[a, b]`` /
    ``{k: v}`` line), keys in insertion order, Unicode as is, no folding of long lines (for
    files people read and edit; machine-written headers use :func:`dump_header`)."""
    import yaml

    return yaml.safe_dump(
        data, sort_keys=False, allow_unicode=True, width=YAML_WIDTH, default_flow_style=flow
    )


def join(header: dict[str, Any] | str, body: str) -> str:
    """A markdown text with ``header`` (a mapping, or YAML text already written) on top."""
    head = header if isinstance(header, str) else dump_yaml(header)
    if head and not head.endswith("\n"):
        head += "\n"
    return f"---\n{head}---\n{body}"
