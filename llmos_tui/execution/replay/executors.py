"""Our own executors for Claude Code's tools: what FOLLOWER replays and crystallized tools run.

Same input shapes as the tools the bundled Claude Code CLI offers (as observed in the requests
it sends: ``docs/CLAUDE_CLI.md``): ``Write`` (file_path, content), ``Edit`` (file_path, old_string,
new_string, replace_all), ``MultiEdit`` (file_path, edits[]; no longer offered by the CLI but
kept for old traces), ``Read`` (file_path, offset, limit, allow_large; ``pages`` is refused),
``Bash`` (command, timeout in ms, description; ``run_in_background`` is refused,
``dangerouslyDisableSandbox`` is ignored: we always sandbox), ``Glob`` (pattern, path),
``Grep`` (see ``_grep``) and ``NotebookEdit`` (notebook_path, cell_id, new_source, cell_type,
edit_mode). Any other tool (WebFetch, WebSearch, Task/Agent, TodoWrite, ...) gets an
``unsupported`` outcome, so a replay that meets one falls back to LEARNER.

Every call goes through the same :class:`HookRegistry` as the SDK path: input validated
first (a malformed call is refused with a reason, never an exception), then ``run_pre`` (the
kernel registers the policy there; ``ask`` is turned into allow/deny by ``confirm`` /
``assume_yes``), then the tool runs, then ``run_post``. Bash runs under the OS sandbox
(``sandbox.run_sandboxed``) with secrets removed from its environment.

File tools are confined whatever the hooks say, in two layers. First a check by resolved real
path (rule ``executor.confine``: a write outside the write roots is refused with a clear
message). Then the real guarantee, which no concurrent symlink swap can race: every file
operation is done by ``edgekit.fs`` relative to a directory fd of the root (``openat2`` with
``RESOLVE_BENEATH``), on the path made relative to the root *lexically*. Writes (Write, Edit,
MultiEdit, NotebookEdit) are atomic renames inside the parent folder's fd, beneath a write root.
Reads (Read, the read of an edit) of a path lexically under a root go beneath it too, so a
symlink there that leads outside the root makes the call fail ("escapes the working directory
through a symbolic link": read the target's own path instead, which the policy then judges);
a path outside every root (allowed by the policy) is opened by its resolved real path with no
symlink allowed in it. Glob and Grep walk beneath their search folder: they list and read
nothing through a symlink that leads out of it, and never descend a symlinked folder
recursively. The root fds are opened on first use; :meth:`ToolExecutor.close` closes them.
"""

from __future__ import annotations

import bisect
import contextlib
import errno
import fnmatch
import json
import os
import re
import stat
import time
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping

from ...records import record
from ...errors import UsageError
from ...redact import LazyRegex  # module patterns: compiled on first use
from edgekit import fs
from .hooks import DECLINED_RULE, HookRegistry, HookVerdict, ToolOutcome, resolve_ask


def _logger() -> logging.Logger:
    """The module's logger: ``logging`` is imported by the first message, not by every start."""
    import logging

    return logging.getLogger(__name__)


from .hooks import Confirm  # noqa: E402 - one definition, shared

if TYPE_CHECKING:
    import logging

SUPPORTED_TOOLS = ("Write", "Edit", "MultiEdit", "Read", "Bash", "Glob", "Grep", "NotebookEdit")
WRITE_TOOLS = frozenset({"Write", "Edit", "MultiEdit", "NotebookEdit"})
READ_TOOLS = frozenset({"Read", "Glob", "Grep"})
#: Input fields that hold a path, per tool.
PATH_FIELDS = {
    "Write": ("file_path",),
    "Edit": ("file_path",),
    "MultiEdit": ("file_path",),
    "Read": ("file_path",),
    "NotebookEdit": ("notebook_path",),
    "Glob": ("path",),
    "Grep": ("path",),
}

READ_DEFAULT_LIMIT = 2000  # lines, like Claude Code's Read
READ_MAX_LINE = 2000  # characters per line shown
READ_MAX_BYTES = 256 * 1024  # without allow_large
READ_HARD_MAX_BYTES = 32 * 1024 * 1024
BASH_MAX_TIMEOUT_MS = 600_000
OUTPUT_CAP = 30_000  # characters of stdout/stderr kept, like Claude Code
GLOB_LIMIT = 100
GREP_DEFAULT_HEAD = 250
GREP_MAX_FILE_BYTES = 20 * 1024 * 1024
_GLOB_MAGIC = LazyRegex(r"[*?\[]")
SNAPSHOT_MAX_ENTRIES = 20_000
_SNAPSHOT_SKIP = frozenset(
    {".git", "node_modules", "__pycache__", ".venv", ".mypy_cache", ".pytest_cache"}
)
_SECRET_ENV = LazyRegex(
    r"^(ANTHROPIC_|CLAUDE_|LLMOS_|AWS_|GOOGLE_|AZURE_|OPENAI_|GH_|GITHUB_)"
    r"|(TOKEN|SECRET|PASSWORD|PASSWD|API_KEY|APIKEY|PRIVATE_KEY|CREDENTIAL)",
    re.IGNORECASE,
)

# rg --type names we understand (a subset of ripgrep's list).
GREP_TYPES: dict[str, tuple[str, ...]] = {
    "py": ("*.py", "*.pyi"),
    "python": ("*.py", "*.pyi"),
    "js": ("*.js", "*.mjs", "*.cjs", "*.jsx"),
    "ts": ("*.ts", "*.tsx", "*.mts", "*.cts"),
    "typescript": ("*.ts", "*.tsx"),
    "rust": ("*.rs",),
    "go": ("*.go",),
    "java": ("*.java",),
    "kotlin": ("*.kt", "*.kts"),
    "c": ("*.c", "*.h"),
    "cpp": ("*.cpp", "*.cc", "*.cxx", "*.hpp", "*.hh", "*.hxx", "*.h"),
    "cs": ("*.cs",),
    "rb": ("*.rb",),
    "ruby": ("*.rb",),
    "php": ("*.php",),
    "swift": ("*.swift",),
    "scala": ("*.scala",),
    "lua": ("*.lua",),
    "sh": ("*.sh", "*.bash", "*.zsh"),
    "md": ("*.md", "*.markdown"),
    "markdown": ("*.md", "*.markdown"),
    "json": ("*.json", "*.jsonl"),
    "yaml": ("*.yaml", "*.yml"),
    "toml": ("*.toml",),
    "html": ("*.html", "*.htm"),
    "css": ("*.css", "*.scss", "*.sass", "*.less"),
    "sql": ("*.sql",),
    "txt": ("*.txt",),
    "xml": ("*.xml",),
    "csv": ("*.csv",),
}


# ---- outcomes -----------------------------------------------------------------------------

#: ``ExecOutcome.status`` values: the call ran (ok / failed) or was refused before running.
STATUS_OK, STATUS_FAILED = "ok", "failed"
STATUS_DENIED, STATUS_MALFORMED, STATUS_UNSUPPORTED = "denied", "malformed", "unsupported"
REFUSED = frozenset({STATUS_DENIED, STATUS_MALFORMED, STATUS_UNSUPPORTED})


@record
class ExecOutcome(ToolOutcome):
    """A ToolOutcome (what post-hooks see) plus why a call did or did not run."""

    status: str = STATUS_OK
    decision: str = "allow"  # the pre-hook verdict after ask was resolved
    reason: str = ""
    rule: str = ""
    diff: str = ""  # a file tool's change, as a compact unified diff (undo.compact_diff)

    @property
    def executed(self) -> bool:
        return self.status in (STATUS_OK, STATUS_FAILED)

    @property
    def refused(self) -> bool:
        return self.status in REFUSED


def make_refusal(
    status: str, reason: str, *, decision: str = "deny", rule: str = ""
) -> ExecOutcome:
    prefix = {
        STATUS_DENIED: "blocked by policy",
        STATUS_MALFORMED: "malformed input",
        STATUS_UNSUPPORTED: "unsupported tool",
    }[status]
    if rule == DECLINED_RULE:
        prefix = "not run"  # the user said no: not the policy's doing
    return ExecOutcome(
        is_error=True,
        summary=f"{prefix}: {reason}",
        response={"error": reason},
        status=status,
        decision=decision,
        reason=reason,
        rule=rule,
    )


class _ToolError(Exception):
    """A tool ran and failed in an expected way (missing file, no match...)."""


class _Missing(_ToolError):
    """The file a tool needs does not exist."""


@record
class _Place:
    """Where a tool path lives: beneath ``root`` at ``rel`` (lexical), or outside every root
    (``root`` None: then only ``shown``, its resolved real path, is used)."""

    root: fs.RootDir | None
    rel: str
    shown: Path  # the resolved path, as messages have always named it


# ---- input validation ---------------------------------------------------------------------

_STR, _BOOL, _NUM, _INT, _LIST = "string", "boolean", "number", "integer", "array"
TOOL_SCHEMAS: dict[str, tuple[dict[str, str], set[str]]] = {
    # tool: ({field: type}, required)
    "Write": ({"file_path": _STR, "content": _STR}, {"file_path", "content"}),
    "Edit": (
        {"file_path": _STR, "old_string": _STR, "new_string": _STR, "replace_all": _BOOL},
        {"file_path", "old_string", "new_string"},
    ),
    "MultiEdit": ({"file_path": _STR, "edits": _LIST}, {"file_path", "edits"}),
    "Read": (
        {"file_path": _STR, "offset": _INT, "limit": _INT, "pages": _STR, "allow_large": _BOOL},
        {"file_path"},
    ),
    "Bash": (
        {
            "command": _STR,
            "timeout": _NUM,
            "description": _STR,
            "run_in_background": _BOOL,
            "dangerouslyDisableSandbox": _BOOL,
        },
        {"command"},
    ),
    "Glob": ({"pattern": _STR, "path": _STR}, {"pattern"}),
    "Grep": (
        {
            "pattern": _STR,
            "path": _STR,
            "glob": _STR,
            "output_mode": _STR,
            "-B": _NUM,
            "-A": _NUM,
            "-C": _NUM,
            "context": _NUM,
            "-n": _BOOL,
            "-i": _BOOL,
            "-o": _BOOL,
            "type": _STR,
            "head_limit": _NUM,
            "offset": _NUM,
            "multiline": _BOOL,
        },
        {"pattern"},
    ),
    "NotebookEdit": (
        {
            "notebook_path": _STR,
            "cell_id": _STR,
            "new_source": _STR,
            "cell_type": _STR,
            "edit_mode": _STR,
        },
        {"notebook_path", "new_source"},
    ),
}


def _type_ok(value: Any, kind: str) -> bool:
    if kind == _STR:
        return isinstance(value, str)
    if kind == _BOOL:
        return isinstance(value, bool)
    if kind == _INT:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == _NUM:
        return (
            isinstance(value, (int, float))
            and not isinstance(value, bool)
            and value == value
            and abs(value) != float("inf")
        )
    if kind == _LIST:
        return isinstance(value, list)
    return False


def _hit_lines(
    rx: re.Pattern[str], text: str, lines: list[str], *, multiline: bool
) -> dict[int, list[str]]:
    """Grep's matching lines of a file: {line index: the matched parts on it}. A multiline match
    marks every line it spans (its text is listed on its first line)."""
    hit_lines: dict[int, list[str]] = {}
    if not multiline:
        for n, line in enumerate(lines):
            if rx.search(line):
                hit_lines[n] = [m.group(0) for m in rx.finditer(line) if m.group(0)]
        return hit_lines
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line) + 1)
    for m in rx.finditer(text):
        if m.start() == m.end() and not m.group(0):
            continue
        first = bisect.bisect_right(starts, m.start()) - 1
        last = bisect.bisect_right(starts, max(m.end() - 1, m.start())) - 1
        for n in range(first, min(last, len(lines) - 1) + 1):
            hit_lines.setdefault(n, [])
        hit_lines.setdefault(first, []).append(m.group(0))
    return hit_lines


def _content_lines(
    lines: list[str],
    hit_lines: dict[int, list[str]],
    shown: str,
    *,
    before: int,
    after: int,
    numbers: bool,
    only: bool,
) -> list[str]:
    """Grep's ``content`` output for one file, like rg: ``path:n:line`` for a match,
    ``path-n-line`` for context, ``--`` between separate groups (*shown* "": one file, no path)."""
    keep: set[int] = set()
    for n in hit_lines:
        keep.update(range(max(n - before, 0), min(n + after, len(lines) - 1) + 1))
    out: list[str] = []
    previous = None
    for n in sorted(keep):
        if previous is not None and n != previous + 1 and (before or after):
            out.append("--")
        previous = n
        sep = ":" if n in hit_lines else "-"
        num = f"{n + 1}{sep}" if numbers else ""
        lead = f"{shown}{sep}" if shown else ""
        if only and n in hit_lines:
            out.extend(f"{lead}{num}{part}" for part in hit_lines[n] if part)
        else:
            out.append(f"{lead}{num}{lines[n]}")
    return out


def check_input(name: str, tool_input: Any) -> str | None:
    """Why ``tool_input`` is not a valid call of tool ``name`` (None when it is).

    Unknown tools are not judged here (see ``SUPPORTED_TOOLS``); unknown keys are refused,
    as the CLI's schemas do (``additionalProperties: false``): an option we would silently
    ignore could change what the call means.
    """
    if name not in TOOL_SCHEMAS:
        return None
    if not isinstance(tool_input, dict):
        return f"{name} input must be an object, got {type(tool_input).__name__}"
    problem = _check_fields(name, tool_input) or _check_paths(name, tool_input)
    if problem:
        return problem
    tool_check = _TOOL_CHECKS.get(name)
    return tool_check(tool_input) if tool_check is not None else None


def _check_fields(name: str, tool_input: dict[str, Any]) -> str | None:
    """The schema: every required field, no unknown field, each of the right type."""
    fields, required = TOOL_SCHEMAS[name]
    missing = sorted(required - set(tool_input))
    if missing:
        return f"{name} needs {', '.join(missing)}"
    for key, value in tool_input.items():
        kind = fields.get(key)
        if kind is None:
            return f"{name} has no option {key!r}"
        if value is None and key not in required:
            continue
        if not _type_ok(value, kind):
            return f"{name}.{key} must be a {kind}, got {type(value).__name__}"
    return None


def _check_paths(name: str, tool_input: dict[str, Any]) -> str | None:
    """Path fields: not empty, no NUL byte, not home-relative."""
    for key in PATH_FIELDS.get(name, ()):
        value = tool_input.get(key)
        if not isinstance(value, str):
            continue
        if not value.strip():
            return f"{name}.{key} is empty"
        if "\x00" in value:
            return f"{name}.{key} contains a NUL byte"
        if value.startswith("~"):
            return f"{name}.{key} {value!r}: home-relative paths are not supported"
    return None


def _check_bash(tool_input: dict[str, Any]) -> str | None:
    if not tool_input["command"].strip():
        return "Bash.command is empty"
    if tool_input.get("run_in_background"):
        return "Bash.run_in_background is not supported by our executors"
    timeout = tool_input.get("timeout")
    if timeout is not None and timeout <= 0:
        return "Bash.timeout must be a positive number of milliseconds"
    return None


def _check_read(tool_input: dict[str, Any]) -> str | None:
    if tool_input.get("pages"):
        return "Read.pages (PDF pages) is not supported by our executors"
    if tool_input.get("offset") is not None and tool_input["offset"] < 0:
        return "Read.offset must be >= 0"
    if tool_input.get("limit") is not None and tool_input["limit"] <= 0:
        return "Read.limit must be > 0"
    return None


def _check_multi_edit(tool_input: dict[str, Any]) -> str | None:
    edits = tool_input["edits"]
    if not edits:
        return "MultiEdit.edits is empty"
    for i, edit in enumerate(edits):
        if not isinstance(edit, dict):
            return f"MultiEdit.edits[{i}] must be an object"
        reason = check_input("Edit", {"file_path": "x", **edit})
        if reason:
            return reason.replace("Edit", f"MultiEdit.edits[{i}]", 1)
    return None


def _check_grep(tool_input: dict[str, Any]) -> str | None:
    mode = tool_input.get("output_mode")
    if mode is not None and mode not in ("content", "files_with_matches", "count"):
        return f"Grep.output_mode must be content, files_with_matches or count, got {mode!r}"
    for key in ("-A", "-B", "-C", "context", "head_limit", "offset"):
        value = tool_input.get(key)
        if value is not None and (value < 0 or int(value) != value):
            return f"Grep.{key} must be a non-negative integer"
    kind = tool_input.get("type")
    if kind is not None and kind not in GREP_TYPES:
        return f"Grep.type {kind!r} is not one we know ({', '.join(sorted(GREP_TYPES))})"
    return None


def _check_notebook_edit(tool_input: dict[str, Any]) -> str | None:
    mode = tool_input.get("edit_mode")
    if mode is not None and mode not in ("replace", "insert", "delete"):
        return f"NotebookEdit.edit_mode must be replace, insert or delete, got {mode!r}"
    cell_type = tool_input.get("cell_type")
    if cell_type is not None and cell_type not in ("code", "markdown"):
        return f"NotebookEdit.cell_type must be code or markdown, got {cell_type!r}"
    if mode == "insert" and not cell_type:
        return "NotebookEdit with edit_mode insert needs cell_type"
    return None


#: the checks of one tool beyond its schema (values the schema's types cannot express)
_TOOL_CHECKS: dict[str, Callable[[dict[str, Any]], str | None]] = {
    "Bash": _check_bash,
    "Read": _check_read,
    "MultiEdit": _check_multi_edit,
    "Grep": _check_grep,
    "NotebookEdit": _check_notebook_edit,
}


def resolve_path(raw: str, cwd: Path) -> Path:
    """Absolute path of ``raw`` (relative paths are taken from ``cwd``), symlinks resolved.

    ``os.path.realpath`` raises (EINVAL) when a symlink on the path is replaced by a folder
    while it reads it; that is retried a few times, then the OSError propagates."""
    path = Path(raw)
    if not path.is_absolute():
        path = cwd / path
    for attempt in range(4):
        try:
            return Path(os.path.realpath(path))
        except OSError:
            if attempt == 3:
                raise
    raise AssertionError("unreachable")


def inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def input_paths(name: str, tool_input: Mapping[str, Any], cwd: Path) -> list[tuple[str, Path]]:
    """The (field, resolved path) pairs a call touches through its path fields."""
    out = []
    for key in PATH_FIELDS.get(name, ()):
        value = tool_input.get(key)
        if isinstance(value, str) and value.strip():
            out.append((key, resolve_path(value, cwd)))
    return out


# ---- helpers ------------------------------------------------------------------------------


def _decode(data: bytes, path: Path) -> str:
    if b"\x00" in data[:8192]:
        raise _ToolError(f"{path} is a binary file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _ToolError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def _cap(text: str, limit: int = OUTPUT_CAP) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n... [{len(text) - limit} characters truncated]"


def _plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else (many or word + 's')}"


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def expand_braces(pattern: str) -> list[str]:
    """``*.{ts,tsx}`` -> ``['*.ts', '*.tsx']`` (nested braces handled; unbalanced left as is)."""
    depth, start = 0, -1
    for i, ch in enumerate(pattern):
        if ch == "{":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "}" and depth:
            depth -= 1
            if depth == 0:
                inner, parts, level, last = pattern[start + 1 : i], [], 0, 0
                for j, c in enumerate(inner):
                    if c == "{":
                        level += 1
                    elif c == "}":
                        level -= 1
                    elif c == "," and level == 0:
                        parts.append(inner[last:j])
                        last = j + 1
                parts.append(inner[last:])
                if len(parts) < 2:
                    continue
                out: list[str] = []
                for part in parts:
                    for tail in expand_braces(pattern[i + 1 :]):
                        out.extend(expand_braces(pattern[:start] + part + tail))
                return list(dict.fromkeys(out))
    return [pattern]


def scrubbed_env(
    base: Mapping[str, str] | None = None, passthrough: tuple[str, ...] = ()
) -> dict[str, str]:
    """The environment for a replayed shell command: the sandbox's allow-list (see
    ``sandbox/env.py``: PATH, locale, terminal, ... and ``execution.env_passthrough``)."""
    from ..sandbox.env import child_environment

    return child_environment(base, passthrough)


def snapshot_files(root: Path) -> set[str] | None:
    """Relative paths of the files under ``root`` (None when there are too many to list)."""
    found: set[str] = set()
    stack = [root]
    count = 0
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            count += 1
            if count > SNAPSHOT_MAX_ENTRIES:
                return None
            try:
                if entry.is_dir(follow_symlinks=False):
                    if entry.name not in _SNAPSHOT_SKIP:
                        stack.append(Path(entry.path))
                else:
                    found.add(os.path.relpath(entry.path, root))
            except OSError:
                continue
    return found


# ---- the executor -------------------------------------------------------------------------


class ToolExecutor:
    """Runs Claude Code tool calls in ``cwd`` through ``hooks``.

    ``sandbox_backend`` is passed to ``sandbox.run_sandboxed``: ``auto`` (the best OS sandbox
    that works here; when none does, every Bash call fails with the reason and how to fix it),
    ``landlock`` / ``bubblewrap`` (that one, or the call fails), or ``none`` (configuration says
    explicitly: no sandbox). ``sandbox_options``: ``SandboxOptions.from_config(config.execution)``
    (read paths, environment pass-through, resource limits), or a function without arguments
    that makes them, called on first use (a run that starts no command never loads the sandbox's
    limits module). ``hidden_paths``: paths inside
    ``cwd`` that shell commands may not even read.
    ``write_roots``: folders besides ``cwd`` that the file tools may write into.
    """

    def __init__(
        self,
        cwd: str | os.PathLike[str],
        hooks: HookRegistry,
        *,
        sandbox_backend: str = "auto",
        allow_network: bool = False,
        timeout_s: float = 120.0,
        confirm: Confirm | None = None,
        assume_yes: bool = False,
        write_roots: tuple[str | os.PathLike[str], ...] = (),
        on_notice: Callable[[str, str], None] | None = None,
        read_only_paths: tuple[str | os.PathLike[str], ...] = (),
        sandbox_options: Any = None,
        hidden_paths: tuple[str | os.PathLike[str], ...] = (),
        undo: Any = None,
    ) -> None:
        # undo.UndoJournal (or None): told the pre-image of every file before the file tools write it
        self.undo = undo
        self._diffs = threading.local()
        self.read_only_paths = tuple(read_only_paths)
        # Not even readable by a tool call (llmos's own state): refused here, invisible in the sandbox.
        self.hidden_paths = tuple(Path(os.path.realpath(os.fspath(p))) for p in hidden_paths)
        self._sandbox_options = sandbox_options
        self._view: tuple[list[Path], list[Path]] | None = (
            None  # (read roots, secret masks), on first use
        )
        root = Path(os.path.realpath(os.path.abspath(os.fspath(cwd))))
        if not root.is_dir():
            raise UsageError(f"the working directory {root} does not exist or is not a folder")
        if sandbox_backend not in ("auto", "landlock", "bubblewrap", "none"):
            raise UsageError(
                f"unknown sandbox backend {sandbox_backend!r} (auto, landlock, bubblewrap, none)"
            )
        self.cwd = root
        self.hooks = hooks
        self.sandbox_backend = sandbox_backend
        self.allow_network = allow_network
        self.timeout_s = float(timeout_s)
        self.confirm = confirm
        self.assume_yes = assume_yes
        self.write_roots = [root] + [Path(os.path.realpath(os.fspath(p))) for p in write_roots]
        # Each write root with the other spelling a tool path may use for it (as given, unresolved).
        given = [Path(os.path.abspath(os.fspath(cwd)))] + [
            Path(os.path.abspath(os.fspath(p))) for p in write_roots
        ]
        self._roots = [
            (real, tuple({str(g)} - {str(real)}))
            for real, g in zip(self.write_roots, given, strict=True)
        ]
        self._root_dirs: dict[Path, fs.RootDir] = {}
        self.on_notice = on_notice
        self._answers: dict[str, HookVerdict] = {}  # ask resolutions, so a call is asked once
        self._warned_unsandboxed = False
        self._last_sandbox_warning: str | None = None

    # ---- public ------------------------------------------------------------------------
    def close(self) -> None:
        """Close the root directory fds (opened again if the executor is used afterwards)."""
        dirs, self._root_dirs = self._root_dirs, {}
        for root_dir in dirs.values():
            root_dir.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown, half-built instance
            pass

    def supports(self, name: str) -> bool:
        return name in SUPPORTED_TOOLS

    def validate(self, name: str, tool_input: Any) -> ExecOutcome | None:
        """The refusal a call would get before any hook runs (unsupported/malformed), else None."""
        if name not in SUPPORTED_TOOLS:
            return make_refusal(
                STATUS_UNSUPPORTED,
                f"no executor for tool {name!r} (supported: {', '.join(SUPPORTED_TOOLS)})",
                decision="",
            )
        reason = check_input(name, tool_input)
        if reason:
            return make_refusal(STATUS_MALFORMED, reason, decision="")
        return None

    def decide(self, name: str, tool_input: dict[str, Any], tool_use_id: str = "") -> HookVerdict:
        """The pre-hook verdict with ``ask`` resolved (each distinct call is confirmed once)."""
        verdict = self.hooks.run_pre(name, tool_input, tool_use_id)
        if verdict.decision != "ask":
            return verdict
        key = name + "\x00" + json.dumps(tool_input, sort_keys=True, default=str)
        if key not in self._answers:
            self._answers[key] = resolve_ask(
                verdict, name, tool_input, self.confirm, self.assume_yes
            )
        return self._answers[key]

    def execute(
        self,
        name: str,
        tool_input: Any,
        tool_use_id: str = "",
        *,
        verdict: HookVerdict | None = None,
    ) -> ExecOutcome:
        """Validate, ask the pre-hooks, run, tell the post-hooks. Never raises for bad input.

        ``verdict``: the pre-hooks' answer for exactly this call, obtained by the caller with
        :meth:`decide` when nothing that could change it has happened since (a replay's
        pre-flight, see ``replay.py``); the hooks are then not asked twice. Confinement to the
        write roots is still checked here, at run time."""
        refused = self.validate(name, tool_input)
        if refused is not None:
            return refused
        if verdict is None:
            verdict = self.decide(name, tool_input, tool_use_id)
        if verdict.decision != "allow":
            return make_refusal(STATUS_DENIED, verdict.reason or "denied", rule=verdict.rule)
        try:
            touched = input_paths(name, tool_input, self.cwd) + self._glob_lead(name, tool_input)
        except OSError as exc:  # the path kept changing while it was resolved
            return make_refusal(
                STATUS_DENIED,
                f"{name}: its path could not be resolved ({exc}); it may be changing under us",
                rule="executor.confine",
            )
        for key, path in touched:
            if any(inside(path, hidden) for hidden in self.hidden_paths):
                return make_refusal(
                    STATUS_DENIED,
                    f"{name}.{key} {path} is llmos's own state, which tool calls cannot see",
                    rule="executor.hidden",
                )
            if (
                name in READ_TOOLS
                and self.sandbox_backend != "none"
                and not any(inside(path, root) for root in self.write_roots)
            ):
                problem = self._outside_read_view(path)
                if problem:
                    return make_refusal(
                        STATUS_DENIED, f"{name}.{key} {path} {problem}", rule="executor.read_view"
                    )
            if name in WRITE_TOOLS and any(inside(path, ro) for ro in self._read_only()):
                return make_refusal(
                    STATUS_DENIED,
                    f"{name}.{key} {path} is read-only for tool calls (llmos's "
                    f"workspace or its installation)",
                    rule="executor.read_only",
                )
        if name in WRITE_TOOLS:
            try:
                paths = input_paths(name, tool_input, self.cwd)
            except OSError as exc:  # the path kept changing while it was resolved
                return make_refusal(
                    STATUS_DENIED,
                    f"{name}: its path could not be resolved ({exc}); it may be changing under us",
                    rule="executor.confine",
                )
            for key, path in paths:
                if not any(inside(path, root) for root in self.write_roots):
                    return make_refusal(
                        STATUS_DENIED,
                        f"{name}.{key} {path} is outside the working directory {self.cwd}",
                        rule="executor.confine",
                    )
        started = time.monotonic()
        try:
            outcome = getattr(self, "_" + name.lower())(tool_input)
        except _ToolError as exc:
            outcome = ExecOutcome(
                is_error=True,
                summary=_one_line(str(exc)),
                response={"error": str(exc)},
                status=STATUS_FAILED,
                reason=str(exc),
            )
        except OSError as exc:
            message = f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc)
            outcome = ExecOutcome(
                is_error=True,
                summary=_one_line(message),
                response={"error": message},
                status=STATUS_FAILED,
                reason=message,
            )
        except Exception as exc:  # noqa: BLE001 - a tool failure is an outcome, never a traceback
            _logger().debug("tool %s failed", name, exc_info=True)
            message = f"{name} failed: {type(exc).__name__}: {exc}"
            outcome = ExecOutcome(
                is_error=True,
                summary=_one_line(message),
                response={"error": message},
                status=STATUS_FAILED,
                reason=message,
            )
        if isinstance(outcome.response, dict):
            outcome.response.setdefault("durationMs", int((time.monotonic() - started) * 1000))
        diff, self._diffs.text = getattr(self._diffs, "text", ""), ""
        if not outcome.is_error:
            outcome.diff = diff
        outcome.decision = "allow"
        outcome.reason = outcome.reason or verdict.reason
        outcome.rule = verdict.rule
        self.hooks.run_post(name, tool_input, tool_use_id, outcome)
        return outcome

    # ---- the read view ------------------------------------------------------------------
    def _read_only(self) -> list[Path]:
        """Read-only paths, less those that hold the working directory itself (a project's output
        folder inside the workspace stays writable)."""
        out = []
        for raw in self.read_only_paths:
            real = Path(os.path.realpath(os.fspath(raw)))
            if not inside(self.cwd, real):
                out.append(real)
        return out

    @property
    def sandbox_options(self) -> Any:
        """The ``SandboxOptions`` (None: the defaults), made on first use when given as a function."""
        options = self._sandbox_options
        if callable(options):
            options = self._sandbox_options = options()
        return options

    def _outside_read_view(self, path: Path) -> str | None:
        """Why a path outside the working directory may not be read (None: it may). Our own file
        tools see what a sandboxed command sees: the system folders, the interpreter and the venv,
        ``execution.sandbox_read_paths``; never the home folder, secrets or anything else."""
        if self._view is None:
            from ..sandbox.core import read_roots, secret_paths

            roots = [Path(r) for r in read_roots(self.sandbox_options)]
            self._view = (roots, [Path(p) for p in secret_paths(self.cwd)])
        roots, masks = self._view
        if any(inside(path, m) for m in masks):
            return "holds secrets, which tool calls cannot read"
        if not any(inside(path, r) for r in roots):
            return (
                "is outside what tool calls may read (the working directory, the system folders, the "
                "interpreter and execution.sandbox_read_paths)"
            )
        return None

    def _glob_lead(self, name: str, tool_input: Mapping[str, Any]) -> list[tuple[str, Path]]:
        """The folder an absolute or ``..`` Glob pattern starts from (it reads there)."""
        if name != "Glob" or not isinstance(tool_input.get("pattern"), str):
            return []
        pattern = tool_input["pattern"]
        parts = [p for p in pattern.split("/") if p not in ("", ".")]
        magic = next((i for i, p in enumerate(parts) if _GLOB_MAGIC.search(p)), len(parts))
        if not (pattern.startswith("/") or ".." in parts[:magic]):
            return []
        lead = ("/" if pattern.startswith("/") else "") + "/".join(parts[:magic])
        given = tool_input.get("path")
        base = (
            os.path.join(str(self.cwd), os.path.expanduser(given))
            if isinstance(given, str) and given
            else str(self.cwd)
        )
        return [
            (
                "pattern",
                Path(os.path.realpath(lead if lead.startswith("/") else os.path.join(base, lead))),
            )
        ]

    def _is_hidden(self, path: Path) -> bool:
        return bool(self.hidden_paths) and any(
            inside(Path(os.path.abspath(path)), h) for h in self.hidden_paths
        )

    # ---- notices -----------------------------------------------------------------------
    def _notice(self, level: str, text: str) -> None:
        getattr(_logger(), "warning" if level != "info" else "info")(text)
        if self.on_notice is not None:
            try:
                self.on_notice(level, text)
            except Exception:  # noqa: BLE001 - a display problem must not break execution
                _logger().debug("notice sink failed", exc_info=True)

    # ---- file tools --------------------------------------------------------------------
    def _path(self, raw: str) -> Path:
        return resolve_path(raw, self.cwd)

    def _root_dir(self, real: Path) -> fs.RootDir:
        root_dir = self._root_dirs.get(real)
        if root_dir is None or root_dir.fd < 0:
            what = "the working directory" if real == self.cwd else "the write root"
            root_dir = self._root_dirs[real] = fs.RootDir(real, label=f"{what} {real}")
        return root_dir

    def _place(self, raw: str) -> _Place:
        """Which root ``raw`` is under, by lexical normalization (never by resolving it: the
        kernel resolves it beneath the root, in the call that uses it)."""
        try:
            shown = self._path(raw)
        except OSError:  # a path changing under us: messages name it as spelled
            shown = Path(os.path.normpath(os.path.join(self.cwd, raw)))
        for real, aliases in self._roots:
            rel = fs.relative_path(raw, real, cwd=self.cwd, aliases=aliases)
            if rel is not None:
                return _Place(self._root_dir(real), rel, shown)
        for real, _aliases in self._roots:  # spelled through a link to a root: its resolved form
            if inside(shown, real):
                return _Place(self._root_dir(real), os.path.relpath(shown, real), shown)
        return _Place(None, "", shown)

    @staticmethod
    def _refused(place: _Place, exc: fs.BeneathError, *, reading: bool = False) -> _ToolError:
        """The failure for a path the ``edgekit.fs`` primitives refused, naming it as the tool did."""
        where = (
            os.path.normpath(os.path.join(place.root.path, place.rel))
            if place.root is not None
            else str(place.shown)
        )
        hint = (
            " (to read the target, name its own path)"
            if reading and exc.errno == errno.EXDEV and "symbolic link" in exc.reason
            else ""
        )
        return _ToolError(f"{where}: {exc.reason}{hint}")

    def _read_bytes(self, place: _Place, max_bytes: int) -> bytes:
        """The file's bytes (beneath its root, or by its resolved path with no symlink allowed)."""
        try:
            if place.root is not None:
                return fs.read_file_beneath(place.root, place.rel, max_bytes)
            return fs.read_file_no_symlinks(place.shown, max_bytes)[0]
        except fs.FileTooLarge:
            raise
        except (FileNotFoundError, NotADirectoryError):
            raise _Missing(f"File does not exist: {place.shown}") from None
        except IsADirectoryError:
            raise _ToolError(f"{place.shown} is a directory, not a file") from None
        except fs.BeneathError as exc:
            raise self._refused(place, exc, reading=True) from None

    def _read_text(self, place: _Place) -> str:
        try:
            data = self._read_bytes(place, READ_HARD_MAX_BYTES)
        except fs.FileTooLarge as exc:
            raise _ToolError(f"{place.shown} is {exc.size} bytes, too large to edit") from None
        return _decode(data, place.shown)

    def _write_bytes(self, place: _Place, data: bytes) -> fs.Written:
        """Atomic replace beneath the write root (an existing file's mode is kept)."""
        if place.root is None:  # execute() refuses these before (executor.confine)
            raise _ToolError(f"{place.shown} is outside the working directory {self.cwd}")
        self._before_write(place, place.root, data)
        try:
            return fs.write_file_beneath(place.root, place.rel, data)
        except IsADirectoryError:
            raise _ToolError(f"{place.shown} is a directory") from None
        except fs.BeneathError as exc:
            if exc.errno == errno.EISDIR:
                raise _ToolError(f"{place.shown} is a directory") from None
            raise self._refused(place, exc) from None

    def _before_write(self, place: _Place, root: fs.RootDir, data: bytes) -> None:
        """The pre-image for undo and the diff for the chat, read beneath the root just before writing."""
        from .undo import MAX_DIFF_INPUT, compact_diff

        before: bytes | None = None
        mode: int | None = None
        too_large = False
        try:
            st = fs.stat_beneath(root, place.rel)
            mode = st.st_mode & 0o7777
            limit = max(MAX_DIFF_INPUT, self.undo.max_bytes if self.undo is not None else 0)
            before = self._read_bytes(place, limit)
        except fs.FileTooLarge:
            too_large = True
        except (_Missing, FileNotFoundError, NotADirectoryError):
            before = None
        except (OSError, _ToolError):
            return  # the write itself reports what is wrong
        if self.undo is not None:
            self.undo.capture(place.shown, before, mode, too_large=too_large)
        try:
            label = os.path.relpath(place.shown, self.cwd)
            label = label if not label.startswith("..") else str(place.shown)
            self._diffs.text = "" if too_large else compact_diff(label, before, data)
        except Exception:  # noqa: BLE001 - a diff is a courtesy, never a failure
            self._diffs.text = ""

    def _write(self, inp: dict[str, Any]) -> ExecOutcome:
        data = inp["content"].encode("utf-8")
        written = self._write_bytes(self._place(inp["file_path"]), data)
        path = Path(written.path)
        kind = "create" if written.created else "update"
        return ExecOutcome(
            is_error=False,
            summary=f"{kind} {path}",
            response={"type": kind, "filePath": str(path), "bytes": len(data)},
            files_created=[str(path)] if written.created else [],
        )

    @staticmethod
    def _apply_edit(
        text: str, old: str, new: str, replace_all: bool, path: Path
    ) -> tuple[str, int]:
        if old == new:
            raise _ToolError("No changes to make: old_string and new_string are exactly the same")
        if old == "":
            if text:
                raise _ToolError(f"Cannot create {path}: the file already exists and is not empty")
            return new, 1
        count = text.count(old)
        if count == 0:
            raise _ToolError(f"String to replace not found in {path}")
        if count > 1 and not replace_all:
            raise _ToolError(
                f"Found {count} matches of the string to replace in {path}, but replace_all is "
                f"false; give more context or set replace_all"
            )
        return (text.replace(old, new) if replace_all else text.replace(old, new, 1)), (
            count if replace_all else 1
        )

    def _edit_file(self, raw_path: str, edits: list[dict[str, Any]]) -> ExecOutcome:
        place = self._place(raw_path)
        try:
            text = self._read_text(place)
        except _Missing:
            if edits[0].get("old_string") != "":
                raise
            text = ""
        total = 0
        for edit in edits:
            text, n = self._apply_edit(
                text,
                edit["old_string"],
                edit["new_string"],
                bool(edit.get("replace_all", False)),
                place.shown,
            )
            total += n
        written = self._write_bytes(place, text.encode("utf-8"))
        path = Path(written.path)
        return ExecOutcome(
            is_error=False,
            summary=f"edited {path} ({total} replacement{'s' if total != 1 else ''})",
            response={"filePath": str(path), "replacements": total, "edits": len(edits)},
            files_created=[str(path)] if written.created else [],
        )

    def _edit(self, inp: dict[str, Any]) -> ExecOutcome:
        return self._edit_file(inp["file_path"], [inp])

    def _multiedit(self, inp: dict[str, Any]) -> ExecOutcome:
        return self._edit_file(inp["file_path"], list(inp["edits"]))

    def _read(self, inp: dict[str, Any]) -> ExecOutcome:
        place = self._place(inp["file_path"])
        path = place.shown
        whole = inp.get("offset") is None and inp.get("limit") is None
        cap = READ_HARD_MAX_BYTES if inp.get("allow_large") else READ_MAX_BYTES
        try:
            data = self._read_bytes(place, cap if whole else READ_HARD_MAX_BYTES)
        except fs.FileTooLarge as exc:
            if whole:
                raise _ToolError(
                    f"{path} is {exc.size} bytes, over the {cap}-byte limit; read it with "
                    f"offset/limit"
                ) from None
            raise _ToolError(f"{path} is {exc.size} bytes, too large to read") from None
        text = _decode(data, path)
        lines = text.splitlines()
        offset = inp.get("offset") or 0
        start = max(offset - 1, 0) if offset else 0  # 1-based line number; 0 means the start
        limit = inp.get("limit") or READ_DEFAULT_LIMIT
        chosen = lines[start : start + limit]
        shown = "\n".join(
            f"{start + i + 1:>6}\t{line[:READ_MAX_LINE]}" for i, line in enumerate(chosen)
        )
        summary = (
            f"read {path} ({len(chosen)} of {len(lines)} lines)"
            if lines
            else f"read {path} (empty)"
        )
        return ExecOutcome(
            is_error=False,
            summary=summary,
            response={
                "type": "text",
                "file": {
                    "filePath": str(path),
                    "content": shown,
                    "numLines": len(chosen),
                    "startLine": start + 1,
                    "totalLines": len(lines),
                },
            },
        )

    def _notebookedit(self, inp: dict[str, Any]) -> ExecOutcome:
        place = self._place(inp["notebook_path"])
        path = place.shown
        if path.suffix != ".ipynb":
            raise _ToolError(f"{path} is not a Jupyter notebook (.ipynb)")
        raw = self._read_text(place)
        try:
            nb = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise _ToolError(f"{path} is not valid notebook JSON: {exc}") from None
        cells = nb.get("cells") if isinstance(nb, dict) else None
        if not isinstance(cells, list):
            raise _ToolError(f"{path} has no cell list")
        mode = inp.get("edit_mode") or "replace"
        cell_id = inp.get("cell_id")
        index = None
        if cell_id:
            for i, cell in enumerate(cells):
                if isinstance(cell, dict) and cell.get("id") == cell_id:
                    index = i
                    break
            if index is None:
                m = re.fullmatch(r"cell-(\d+)", cell_id)
                if m and int(m.group(1)) < len(cells):
                    index = int(m.group(1))
            if index is None:
                raise _ToolError(f"cell {cell_id!r} not found in {path}")
        source = inp["new_source"].splitlines(keepends=True)
        if mode == "insert":
            cell_type = inp["cell_type"]
            new_cell: dict[str, Any] = {"cell_type": cell_type, "metadata": {}, "source": source}
            if cell_type == "code":
                new_cell.update(execution_count=None, outputs=[])
            if nb.get("nbformat", 4) >= 4 and nb.get("nbformat_minor", 0) >= 5:
                new_cell["id"] = os.urandom(4).hex()
            at = 0 if index is None else index + 1
            cells.insert(at, new_cell)
            what = f"inserted a {cell_type} cell at {at}"
        else:
            if index is None:
                raise _ToolError(f"NotebookEdit {mode} needs a cell_id")
            if mode == "delete":
                cells.pop(index)
                what = f"deleted cell {index}"
            else:
                cell = cells[index]
                cell["source"] = source
                if inp.get("cell_type") and inp["cell_type"] != cell.get("cell_type"):
                    cell["cell_type"] = inp["cell_type"]
                    if inp["cell_type"] == "code":
                        cell.setdefault("outputs", [])
                        cell.setdefault("execution_count", None)
                    else:
                        cell.pop("outputs", None)
                        cell.pop("execution_count", None)
                if cell.get("cell_type") == "code":
                    cell["outputs"], cell["execution_count"] = [], None
                what = f"replaced cell {index}"
        text = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
        path = Path(self._write_bytes(place, text.encode("utf-8")).path)
        return ExecOutcome(
            is_error=False,
            summary=f"{what} in {path}",
            response={"filePath": str(path), "edit_mode": mode, "cells": len(cells)},
        )

    # ---- search tools ------------------------------------------------------------------
    @contextlib.contextmanager
    def _search_at(
        self, place: _Place, *, missing_ok: bool = False
    ) -> Iterator[tuple[fs.RootDir, str, bool] | None]:
        """(root to walk beneath, path of the search folder or file relative to it, is a folder).

        Under a write root: walked beneath that root. Outside every root (a path the policy
        allowed): its resolved real path is opened with no symlink allowed in it and becomes the
        root walked beneath, closed on exit. A missing path raises ``Path does not exist``, one
        that leads out of its root through a symlink says so (``missing_ok``: both yield None)."""
        own: fs.RootDir | None = None
        try:
            if place.root is not None:
                kind = fs.stat_beneath(place.root, place.rel).st_mode
                found: tuple[fs.RootDir, str, bool] = (place.root, place.rel, stat.S_ISDIR(kind))
            else:
                fd = fs.open_no_symlinks(place.shown, getattr(os, "O_PATH", os.O_RDONLY))
                own = fs.RootDir.adopt(fd, place.shown, label=f"the search folder {place.shown}")
                if stat.S_ISDIR(os.fstat(fd).st_mode):
                    found = (own, ".", True)
                else:  # a file outside: read by its resolved path (see _grep_sources)
                    found = (own, "", False)
        except (FileNotFoundError, NotADirectoryError):
            if own is not None:
                own.close()
            if missing_ok:
                yield None
                return
            raise _Missing(f"Path does not exist: {place.shown}") from None
        except fs.BeneathError as exc:
            if own is not None:
                own.close()
            if missing_ok:
                yield None
                return
            raise self._refused(place, exc, reading=True) from None
        try:
            yield found
        finally:
            if own is not None:
                own.close()

    def _search_place(self, inp: dict[str, Any]) -> _Place:
        return (
            self._place(inp["path"])
            if inp.get("path")
            else _Place(self._root_dir(self.cwd), ".", self.cwd)
        )

    def _glob(self, inp: dict[str, Any]) -> ExecOutcome:
        search = self._search_place(inp)
        with self._search_at(search) as at:
            assert at is not None  # not missing_ok: a missing path raised
            if not at[2]:
                raise _ToolError(f"{search.shown} is not a directory")
        found: dict[str, float] = {}
        for pattern in expand_braces(inp["pattern"]):
            parts = [p for p in pattern.split("/") if p not in ("", ".")]
            if not parts or any("**" in p and p != "**" for p in parts):
                raise _ToolError(
                    f"invalid glob pattern {pattern!r}: '**' can only be an entire path component"
                    if parts
                    else f"invalid glob pattern {pattern!r}"
                )
            place = search
            magic = next((i for i, p in enumerate(parts) if _GLOB_MAGIC.search(p)), len(parts))
            if pattern.startswith("/") or ".." in parts[:magic]:
                # a pattern with a folder of its own (absolute, or up from the search folder)
                lead = min(magic, len(parts) - 1)
                prefix = ("/" if pattern.startswith("/") else "") + "/".join(parts[:lead])
                place = self._place(
                    os.path.join(str(search.shown), prefix) if prefix else str(search.shown)
                )
                parts = parts[lead:]
            with self._search_at(place, missing_ok=True) as at:
                if at is None or not at[2]:
                    continue
                root, rel, _is_dir = at
                matches = fs.glob_beneath(
                    root, "/".join(parts), rel, skip=lambda r: r.rsplit("/", 1)[-1] == ".git"
                )
            for name, st in matches.items():
                match = place.shown / name
                if ".git" not in match.parts and not self._is_hidden(match):
                    found[str(match)] = st.st_mtime
        ordered = sorted(found, key=lambda p: (-found[p], p))
        truncated = len(ordered) > GLOB_LIMIT
        names = ordered[:GLOB_LIMIT]
        summary = f"{len(ordered)} file{'s' if len(ordered) != 1 else ''} match {inp['pattern']!r}"
        return ExecOutcome(
            is_error=False,
            summary=summary,
            response={"filenames": names, "numFiles": len(names), "truncated": truncated},
        )

    def _grep_sources(
        self, search: _Place, at: tuple[fs.RootDir, str, bool], inp: dict[str, Any]
    ) -> Iterator[tuple[Path, bytes, float]]:
        """(path shown, contents, mtime) of each file to search; files over 20 MB, unreadable
        ones and symlinks that lead outside the search's root are skipped."""
        root, rel, is_dir = at
        if not is_dir:
            try:
                if search.root is not None:
                    data, st = fs.read_file_beneath_stat(root, rel, GREP_MAX_FILE_BYTES)
                else:
                    data, st = fs.read_file_no_symlinks(search.shown, GREP_MAX_FILE_BYTES)
            except OSError:
                return
            yield search.shown, data, st.st_mtime
            return
        globs = [g for g in expand_braces(inp["glob"])] if inp.get("glob") else []
        negative = [g[1:] for g in globs if g.startswith("!")]
        positive = [g for g in globs if not g.startswith("!")]
        types = GREP_TYPES.get(inp.get("type") or "", ())

        def wanted(rel: str, base: str) -> bool:
            def hit(g: str) -> bool:
                return fnmatch.fnmatchcase(
                    rel if "/" in g else base, g.lstrip("/") if "/" in g else g
                ) or ("/" in g and g.startswith("**/") and fnmatch.fnmatchcase(rel, g[3:]))

            if negative and any(hit(g) for g in negative):
                return False
            if positive and not any(hit(g) for g in positive):
                return False
            return not types or any(fnmatch.fnmatchcase(base, t) for t in types)

        strip = 0 if rel in ("", ".") else len(rel) + 1
        for folder, dirs, files in fs.walk_beneath(root, rel):
            dirs[:] = sorted(
                d
                for d in dirs
                if not d.startswith(".") and d not in ("node_modules", "__pycache__")
            )
            inner = (
                folder[strip:] if strip else ("" if folder == "." else folder)
            )  # relative to the search folder
            if self.hidden_paths:
                dirs[:] = [d for d in dirs if not self._is_hidden(search.shown / inner / d)]
            for base in sorted(files):
                if base.startswith("."):
                    continue
                name = f"{inner}/{base}" if inner else base
                if not wanted(name, base):
                    continue
                try:  # follows a symlink only when it stays beneath the root
                    data, st = fs.read_file_beneath_stat(
                        root, f"{folder}/{base}" if folder != "." else base, GREP_MAX_FILE_BYTES
                    )
                except OSError:
                    continue
                yield search.shown / name, data, st.st_mtime

    def _grep(self, inp: dict[str, Any]) -> ExecOutcome:
        """ripgrep-like search with Python ``re``.

        Supported: pattern (Python regex syntax), path (file or folder), glob (with braces and
        ``!`` negation; without a ``/`` it matches the base name), type (see GREP_TYPES),
        output_mode (files_with_matches default, content, count), -i, -n (default true),
        -o, -A/-B/-C/context, head_limit (default 250, 0 = all), offset, multiline. Hidden
        files and folders, binary files and files over 20 MB are skipped, like rg's defaults
        (.gitignore is not read).
        """
        search = self._search_place(inp)
        with self._search_at(search) as at:
            assert at is not None  # not missing_ok: a missing path raised
            return self._grep_in(search, at, inp)

    def _grep_in(
        self, search: _Place, at: tuple[fs.RootDir, str, bool], inp: dict[str, Any]
    ) -> ExecOutcome:
        flags = re.IGNORECASE if inp.get("-i") else 0
        multiline = bool(inp.get("multiline"))
        if multiline:
            flags |= re.DOTALL | re.MULTILINE
        try:
            rx = re.compile(inp["pattern"], flags)
        except re.error as exc:
            raise _ToolError(f"invalid regular expression {inp['pattern']!r}: {exc}") from None
        mode = inp.get("output_mode") or "files_with_matches"
        numbers = inp.get("-n", True) is not False
        only = bool(inp.get("-o"))
        ctx = inp.get("context", inp.get("-C"))
        before = int(inp.get("-B", ctx or 0) or 0)
        after = int(inp.get("-A", ctx or 0) or 0)
        single = not at[2]
        entries: list[str] = []  # output lines (content) or paths / "path:count"
        matched_files: list[tuple[float, str]] = []
        total_matches = 0
        for path, data, mtime in self._grep_sources(search, at, inp):
            if b"\x00" in data[:8192]:
                continue
            text = data.decode("utf-8", "replace")
            lines = text.splitlines()
            hit_lines = _hit_lines(rx, text, lines, multiline=multiline)
            if not hit_lines:
                continue
            shown = str(path)
            count = len(hit_lines)  # like rg --count: matching lines
            total_matches += count
            matched_files.append((mtime, shown))
            if mode == "count":
                entries.append(f"{shown}:{count}" if not single else str(count))
            elif mode == "content":
                entries.extend(
                    _content_lines(
                        lines,
                        hit_lines,
                        "" if single else shown,
                        before=before,
                        after=after,
                        numbers=numbers,
                        only=only,
                    )
                )
        if mode == "files_with_matches":
            entries = [p for _, p in sorted(matched_files, key=lambda t: (-t[0], t[1]))]
        offset = int(inp.get("offset") or 0)
        head = inp.get("head_limit")
        head = GREP_DEFAULT_HEAD if head is None else int(head)
        window = entries[offset : offset + head] if head else entries[offset:]
        truncated = len(entries) - offset > len(window)
        nfiles = len(matched_files)
        if mode == "files_with_matches":
            summary = f"Found {nfiles} file{'s' if nfiles != 1 else ''}"
        elif mode == "count":
            summary = f"{_plural(total_matches, 'match', 'matches')} in {_plural(nfiles, 'file')}"
        else:
            summary = f"{_plural(len(window), 'line')} from {_plural(nfiles, 'file')}"
        response = {
            "mode": mode,
            "numFiles": nfiles,
            "numMatches": total_matches,
            "truncated": truncated,
        }
        if mode == "files_with_matches":
            response["filenames"] = window
        else:
            response["content"] = "\n".join(window)
            response["numLines"] = len(window)
        return ExecOutcome(is_error=False, summary=summary, response=response)

    # ---- Bash --------------------------------------------------------------------------
    def _bash(self, inp: dict[str, Any]) -> ExecOutcome:
        command = inp["command"]
        timeout_ms = inp.get("timeout")
        timeout_s = (
            min(float(timeout_ms), BASH_MAX_TIMEOUT_MS) / 1000.0 if timeout_ms else self.timeout_s
        )
        before = snapshot_files(self.cwd)
        try:
            from ..sandbox.core import SandboxUnavailable, run_sandboxed
        except ImportError as exc:  # fail closed: never fall back silently
            raise _ToolError(
                f"the sandbox module cannot be loaded ({exc}); refusing to run the command"
            ) from None
        try:  # the environment is filtered by the sandbox's allow-list (run_sandboxed, env=None)
            result = run_sandboxed(
                command,
                self.cwd,
                timeout_s=timeout_s,
                allow_network=self.allow_network,
                backend=self.sandbox_backend,
                read_only_paths=self.read_only_paths,
                hidden_paths=self.hidden_paths,
                options=self.sandbox_options,
            )
        except SandboxUnavailable as exc:  # fail closed: a failed call that says how to fix it
            raise _ToolError(
                f"refusing to run the command without an OS sandbox: {exc.message}"
            ) from None
        except Exception as exc:  # noqa: BLE001 - a sandbox that cannot start is a failed call, not a crash
            raise _ToolError(
                f"the {self.sandbox_backend} sandbox could not run the command: {exc}"
            ) from None
        if not result.sandboxed and not self._warned_unsandboxed:
            self._warned_unsandboxed = True
            self._notice(
                "info",
                "shell commands run without an OS sandbox (execution.sandbox: none); "
                "the policy engine is the only guard",
            )
        if result.warning and result.warning != self._last_sandbox_warning:
            self._last_sandbox_warning = result.warning
            self._notice("warning", result.warning)
        code, out, err, timed_out, used = (
            result.exit_code,
            result.stdout,
            result.stderr,
            result.timed_out,
            result.backend,
        )
        after = snapshot_files(self.cwd)
        known = before is not None and after is not None
        created = sorted(str(self.cwd / p) for p in (after - before)) if known else []  # type: ignore[operator]
        is_error = timed_out or code != 0
        text = out if out.strip() else err
        if timed_out:
            summary = f"timed out after {timeout_s:g} s " + _one_line(text, 200)
        elif code != 0:
            summary = f"Exit code {code} " + _one_line(text, 250)
        else:
            summary = _one_line(text) or "(no output)"
        return ExecOutcome(
            is_error=is_error,
            summary=summary.strip(),
            exit_code=code,
            status=STATUS_FAILED if is_error else STATUS_OK,
            response={
                "stdout": _cap(out),
                "stderr": _cap(err),
                "interrupted": timed_out,
                "exitCode": code,
                "sandbox": used,
                "filesCreatedKnown": known,
            },
            files_created=created,
        )
