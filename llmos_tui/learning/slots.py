"""Slot values found in a goal: the parts a replay may substitute.

A slot is a value the user could change without changing the task: a quoted string, a URL, a
path or file name, a port, a number, a natural language ("... to French"). Programming
languages are extracted too (key ``language``) because traces record them, but they are
*technology*, not a substitutable value: the matcher treats a different language as a different
task (a Python calculator is not a JavaScript calculator).

Numbers written as words ("ten", "twenty-five", "three hundred") are number slots whose value is
the digits ("10", "25", "300"): "the last ten lines" and "the last 10 lines" are the same goal.
"one" is not converted (it is far more often a pronoun: "the one that failed").

Keys are stable and descriptive: the first value of a kind gets the bare key (``file``), later
ones a number (``file2``, ``file3``). Kinds: ``url``, ``quoted``, ``path``, ``file``, ``port``,
``number``, ``language``, ``natural_language``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from llmos_tui.records import record

# ---- vocabularies (generic, not tuned to any data set) ----------------------------------

#: Programming languages and their common spellings -> canonical name.
PROGRAMMING_LANGUAGES: dict[str, str] = {
    "python": "python",
    "python3": "python",
    "py": "python",
    "javascript": "javascript",
    "js": "javascript",
    "node": "javascript",
    "nodejs": "javascript",
    "typescript": "typescript",
    "ts": "typescript",
    "java": "java",
    "kotlin": "kotlin",
    "scala": "scala",
    "groovy": "groovy",
    "rust": "rust",
    "golang": "go",
    "go": "go",
    "c": "c",
    "c++": "c++",
    "cpp": "c++",
    "c#": "c#",
    "csharp": "c#",
    "ruby": "ruby",
    "php": "php",
    "perl": "perl",
    "swift": "swift",
    "objective-c": "objective-c",
    "haskell": "haskell",
    "ocaml": "ocaml",
    "elixir": "elixir",
    "erlang": "erlang",
    "clojure": "clojure",
    "lua": "lua",
    "julia": "julia",
    "dart": "dart",
    "bash": "bash",
    "shell": "shell",
    "zsh": "zsh",
    "powershell": "powershell",
    "sql": "sql",
    "r": "r",
    "matlab": "matlab",
    "fortran": "fortran",
    "cobol": "cobol",
    "zig": "zig",
    "nim": "nim",
    "solidity": "solidity",
    "f#": "f#",
    "fsharp": "f#",
    "assembly": "assembly",
    "wasm": "webassembly",
    "webassembly": "webassembly",
    "html": "html",
    "css": "css",
    "latex": "latex",
}
# Spellings too ambiguous to count as a language in running text unless written in a clear
# "in X" / "X program" position ("go", "r", "c" are ordinary words or letters).
_AMBIGUOUS_LANGS = {"c", "r", "py", "node", "shell", "assembly", "go", "ts", "js"}
_LANG_CONTEXT = {"in", "using", "with", "a", "an", "to", "into", "from"}
_LANG_NEXT = {
    "program",
    "programs",
    "script",
    "scripts",
    "code",
    "file",
    "files",
    "function",
    "functions",
    "class",
    "module",
    "library",
    "app",
    "project",
    "version",
    "compiler",
}

#: Natural languages (a substitutable slot: "translate X to French").
NATURAL_LANGUAGES = frozenset(
    """
english french spanish german italian portuguese dutch russian chinese mandarin cantonese
japanese korean arabic hindi bengali urdu turkish greek hebrew polish swedish norwegian danish
finnish czech hungarian romanian ukrainian vietnamese thai indonesian malay persian farsi
swahili latin irish welsh catalan basque croatian serbian bulgarian slovak slovenian
lithuanian latvian estonian icelandic tagalog filipino mongolian punjabi tamil telugu
""".split()
)

#: File extensions recognised without a path separator ("data.csv", "notes.tar.gz").
FILE_EXTENSIONS = frozenset(
    """
py pyi ipynb js mjs cjs jsx ts tsx java kt rs go c h cc cpp hpp cs rb php pl swift scala lua
sh bash zsh ps1 bat sql r jl dart ex exs erl hs ml clj
md markdown rst txt text log csv tsv json jsonl ndjson yaml yml toml ini cfg conf env xml html
htm css scss sass less svg
pdf doc docx xls xlsx ppt pptx odt ods rtf epub tex bib
png jpg jpeg gif bmp webp ico tif tiff mp3 wav flac ogg mp4 mov avi mkv webm
zip tar gz tgz bz2 xz 7z rar whl deb rpm dmg iso
db sqlite sqlite3 parquet feather pkl pickle npy npz h5 hdf5 lock
""".split()
)

# ---- patterns ------------------------------------------------------------------------------

_URL = re.compile(r"\b(?:https?|ftp|file)://[^\s\"'<>`]+|\bwww\.[^\s\"'<>`]+", re.IGNORECASE)
# Quoted strings: straight or typographic quotes; a single quote must not be an apostrophe.
_QUOTED = re.compile(
    r'"([^"\n]{1,200})"'
    r"|“([^”\n]{1,200})”"
    r"|‘([^’\n]{1,200})’"
    r"|(?<![\w])'([^'\n]{1,200})'(?![\w])"
    r"|`([^`\n]{1,200})`"
)
# A path: something with a slash in it, or starting with ~ or ./ (the slash rules out prose).
_PATH = re.compile(r"(?<![\w@:/.~])(?:~|\.{1,2})?/?[\w.\-]*(?:/[\w.\-]*)+|(?<![\w@])~(?=[\s,;]|$)")
# A file name: word characters then one or more extensions, the last one known.
_FILE = re.compile(r"(?<![\w/@.])(?:[\w\-]+|\.[\w\-]+)(?:\.[A-Za-z0-9]{1,10})+(?![\w])")
_PORT = re.compile(
    r"\bport\s*(?:number\s*)?(?:#|:|=)?\s*(\d{2,5})\b|(?<![\w.])(?:localhost|127\.0\.0\.1|0\.0\.0\.0)?:(\d{2,5})\b",
    re.IGNORECASE,
)
_NUMBER = re.compile(
    r"(?<![\w.])[$€£]?\d+(?:[.,]\d+)*(?:%|k|m|gb|mb|kb|ms|s)?(?![\w])", re.IGNORECASE
)
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9+#\-]*")

#: Number words -> value ("one" is left out on purpose: see the module doc).
_UNITS = {
    w: i
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve "
        "thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split()
    )
}
_TENS = {
    w: 10 * i
    for i, w in enumerate("_ _ twenty thirty forty fifty sixty seventy eighty ninety".split())
    if i >= 2
}
_SCALES = {"hundred": 100, "thousand": 1000}
_NUMWORD = (
    r"(?:"
    + "|".join(sorted(set(_UNITS) - {"zero", "one"} | set(_TENS), key=len, reverse=True))
    + r")(?:[\s-](?:"
    + "|".join(k for k in _UNITS if k not in {"zero", "ten", "eleven", "twelve"} and len(k) <= 5)
    + r"))?"
)
_NUMBER_WORDS = re.compile(
    r"(?<![\w-])" + _NUMWORD + r"(?:\s+(?:hundred|thousand))?(?![\w-])", re.IGNORECASE
)


def number_word_value(text: str) -> str | None:
    """The digits of a number written in words ("twenty-five" -> "25"), None if it is not one."""
    words = re.split(r"[\s-]+", text.lower().strip())
    total = 0
    for w in words:
        if w in _UNITS and w != "one" or w == "one" and total:
            total += _UNITS[w]
        elif w in _TENS:
            total += _TENS[w]
        elif w in _SCALES and total:
            total *= _SCALES[w]
        else:
            return None
    return str(total) if words else None


_ARCHIVE_PREFIXES = frozenset({"tar", "gz", "zip", "7z", "tgz", "bz2", "xz"})


@record(frozen=True, fast_init=True)
class SlotSpan:
    """A slot found in a text: its kind, value and position."""

    kind: str
    value: str
    start: int
    end: int


def is_file_name(token: str) -> bool:
    parts = token.lower().split(".")
    if len(parts) < 2:
        return False
    ext = parts[-1]
    if ext not in FILE_EXTENSIONS:
        return False
    if parts[0] in _ARCHIVE_PREFIXES and all(part in FILE_EXTENSIONS for part in parts):
        return False  # "tar.gz", "tar.bz2": a format, not a file name
    stem = ".".join(parts[:-1])
    # "3.14" or "1.2.py"-like version numbers are not file names; an empty stem (".env") is.
    return not re.fullmatch(r"[\d.]+", stem)


def _language_slots(goal: str) -> Iterator[tuple[str, str, int, int]]:
    """``(kind, value, start, end)`` of each natural or programming language the goal names."""
    words = list(_WORD.finditer(goal))
    for i, m in enumerate(words):
        low = m.group(0).lower()
        if low in NATURAL_LANGUAGES:
            yield "natural_language", low, m.start(), m.end()
            continue
        canon = PROGRAMMING_LANGUAGES.get(low)
        if canon is None:
            continue
        if low in _AMBIGUOUS_LANGS and not _explicit_language(words, i):
            continue
        yield "language", canon, m.start(), m.end()


def _explicit_language(words: list[re.Match[str]], i: int) -> bool:
    """An ambiguous language name ("C", "R", "go") counts only in an explicit position: "in C",
    "a C program" (and never the bare "c" inside a file name or a number, which earlier slots
    already took); a one-letter one only in upper case."""
    m = words[i]
    low = m.group(0).lower()
    prev = words[i - 1].group(0).lower() if i else ""
    nxt = words[i + 1].group(0).lower() if i + 1 < len(words) else ""
    if not (prev in _LANG_CONTEXT and (nxt in _LANG_NEXT or nxt == "" or prev in {"in", "using"})):
        return False
    return not (low in {"c", "r"} and m.group(0) != m.group(0).upper())


def find_slots(goal: str) -> list[SlotSpan]:
    """Every slot in *goal* with its character span, in order of appearance, no overlaps."""
    spans: list[SlotSpan] = []
    taken: list[tuple[int, int]] = []

    def free(a: int, b: int) -> bool:
        return all(b <= s or a >= e for s, e in taken)

    def add(kind: str, value: str, a: int, b: int) -> None:
        if value and free(a, b):
            spans.append(SlotSpan(kind, value, a, b))
            taken.append((a, b))

    for m in _URL.finditer(goal):
        add("url", m.group(0).rstrip(".,;:!?)"), m.start(), m.end())
    for m in _QUOTED.finditer(goal):
        inner = next(g for g in m.groups() if g is not None)
        add("quoted", inner.strip(), m.start(), m.end())
    for m in _PATH.finditer(goal):
        value = m.group(0).rstrip(".,;:!?)")
        # "and/or", "input/output", "n/a": word/word prose is not a path unless it looks like one.
        if re.fullmatch(r"[A-Za-z]+/[A-Za-z]+", value) and not is_file_name(value.split("/")[-1]):
            continue
        add("path", value, m.start(), m.start() + len(value))
    for m in _FILE.finditer(goal):
        value = m.group(0)
        if is_file_name(value):
            add("file", value, m.start(), m.end())
    for m in _PORT.finditer(goal):
        num = m.group(1) or m.group(2)
        a = m.start(1) if m.group(1) else m.start(2)
        if 0 < int(num) < 65536:
            add("port", num, a, a + len(num))
    for m in _NUMBER.finditer(goal):
        add("number", m.group(0), m.start(), m.end())
    for m in _NUMBER_WORDS.finditer(goal):
        number = number_word_value(m.group(0))
        if number is not None:
            add("number", number, m.start(), m.end())
    for kind, value, a, b in _language_slots(goal):
        add(kind, value, a, b)
    spans.sort(key=lambda s: s.start)
    return spans


def number_keys(spans: list[SlotSpan]) -> list[tuple[str, SlotSpan]]:
    """Give each span its stable key: ``file``, ``file2``, ... (duplicate values share a key)."""
    counts: dict[str, int] = {}
    seen: dict[tuple[str, str], str] = {}
    out: list[tuple[str, SlotSpan]] = []
    for span in spans:
        ident = (span.kind, span.value.lower())
        if ident in seen:
            out.append((seen[ident], span))
            continue
        n = counts.get(span.kind, 0) + 1
        counts[span.kind] = n
        key = span.kind if n == 1 else f"{span.kind}{n}"
        seen[ident] = key
        out.append((key, span))
    return out


def extract_slots(goal: str) -> dict[str, str]:
    """The slots of *goal* as ``{key: value}`` (e.g. ``{"file": "calc.py", "port": "8000"}``)."""
    return {key: span.value for key, span in number_keys(find_slots(goal))}
