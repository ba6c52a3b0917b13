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


def dump_yaml(data: Any, *, flow: bool = False) -> str:
    """``data`` as YAML text ending in a newline: block style (``flow``: one ``[a, b]`` /
    ``{k: v}`` line), keys in insertion order, Unicode as is, no folding of long lines."""
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
