"""Executors for the tools a trace can hold, standard library only.

Same input shapes as Claude Code's tools (and llmos's executors): ``Write`` (file_path, content),
``Edit`` (file_path, old_string, new_string, replace_all), ``MultiEdit`` (file_path, edits),
``Read`` (file_path, offset, limit), ``Glob`` (pattern, path), ``Grep`` (pattern, path, glob,
output_mode, -i, -n, head_limit) and ``Bash`` (command, timeout in ms). Every call is checked by
the :class:`~edgekit.policy.EdgePolicy` first, then runs; a failure is an outcome, never an
exception. File tools never use a checked path by name again: they open it relative to a directory
fd of the working directory (``edgekit/fs.py``: ``openat2(RESOLVE_BENEATH)``, else a component
walk with ``O_NOFOLLOW``), so a symlink swapped in after the policy's check cannot lead them
outside; Grep and Glob never descend a symlinked folder and read a symlinked file only when its
target is inside. Writes are atomic (temporary file in the same folder fd, fsync, ``renameat``).

Bash runs under Landlock (``edgekit/sandbox.py``) whenever the kernel has it (``sandbox="auto"``)
and only under it with ``sandbox="required"`` (what ``--allow-scripts`` asks for: without
Landlock the call fails and nothing runs). Without Landlock and without ``--allow-scripts`` it
runs as before: a minimal environment (no secrets), stdin closed, its own process group, killed
on time-out; the edge policy is then the only guard.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import signal
import stat
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from . import fs, sandbox as edge_sandbox
from .policy import EdgePolicy

OUTPUT_CAP = 30_000
READ_DEFAULT_LIMIT = 2000
READ_MAX_BYTES = 1024 * 1024
READ_EDIT_MAX_BYTES = 64 * 1024 * 1024  # Edit, and Read with a limit
GREP_MAX_BYTES = 20 * 1024 * 1024
GLOB_LIMIT = 100
GREP_DEFAULT_HEAD = 250
SNAPSHOT_MAX = 20_000
BASH_MAX_TIMEOUT_MS = 600_000
_ENV_KEEP = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "USER", "LOGNAME")


@dataclass
class Outcome:
    is_error: bool
    summary: str
    response: Any = None
    exit_code: int | None = None
    files_created: list[str] = field(default_factory=list)
    status: str = "ok"  # ok | failed | denied | malformed
    decision: str = "allow"
    reason: str = ""
    rule: str = ""

    @property
    def refused(self) -> bool:
        return self.status in ("denied", "malformed")

    def to_dict(self) -> dict[str, Any]:
        return {
            "is_error": self.is_error,
            "summary": self.summary,
            "exit_code": self.exit_code,
            "files_created": list(self.files_created),
            "status": self.status,
            "decision": self.decision,
            "rule": self.rule,
        }


class _ToolError(Exception):
    pass


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _cap(text: str) -> str:
    return (
        text
        if len(text) <= OUTPUT_CAP
        else text[:OUTPUT_CAP] + f"\n… ({len(text) - OUTPUT_CAP} characters cut)"
    )


def safe_env() -> dict[str, str]:
    env = {k: os.environ[k] for k in _ENV_KEEP if k in os.environ}
    parts = [
        p
        for p in env.get("PATH", "/usr/local/bin:/usr/bin:/bin").split(os.pathsep)
        if os.path.isabs(p)
    ]
    env["PATH"] = os.pathsep.join(parts) or "/usr/bin:/bin"
    env.setdefault("LANG", "C.UTF-8")
    return env


def snapshot(root: Path) -> set[str] | None:
    seen: set[str] = set()
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in (".git", "node_modules", "__pycache__", ".venv")]
        for name in files:
            seen.add(os.path.join(folder, name))
            if len(seen) > SNAPSHOT_MAX:
                return None
    return seen


_SCHEMA: dict[str, tuple[dict[str, type | tuple[type, ...]], set[str]]] = {
    "Write": ({"file_path": str, "content": str}, {"file_path", "content"}),
    "Edit": (
        {"file_path": str, "old_string": str, "new_string": str, "replace_all": bool},
        {"file_path", "old_string", "new_string"},
    ),
    "MultiEdit": ({"file_path": str, "edits": list}, {"file_path", "edits"}),
    "Read": ({"file_path": str, "offset": int, "limit": int}, {"file_path"}),
    "Glob": ({"pattern": str, "path": str}, {"pattern"}),
    "Grep": (
        {
            "pattern": str,
            "path": str,
            "glob": str,
            "output_mode": str,
            "-i": bool,
            "-n": bool,
            "head_limit": int,
            "type": str,
            "multiline": bool,
        },
        {"pattern"},
    ),
    "Bash": (
        {"command": str, "timeout": (int, float), "description": str, "run_in_background": bool},
        {"command"},
    ),
}


def check_input(name: str, data: Any) -> str | None:
    """Why a call's input is malformed (None when it is fine)."""
    if name not in _SCHEMA:
        return (
            f"no executor for tool {name!r} on the edge (supported: {', '.join(sorted(_SCHEMA))})"
        )
    if not isinstance(data, dict):
        return "the input must be an object"
    fields, required = _SCHEMA[name]
    missing = sorted(required - set(data))
    if missing:
        return f"missing {', '.join(missing)}"
    for key, value in data.items():
        kind = fields.get(key)
        if kind is None or value is None:
            continue
        if isinstance(value, bool) and kind is not bool:
            return f"{key} must not be true/false"
        if not isinstance(value, kind):
            return f"{key} has the wrong type"
    return None


class EdgeExecutor:
    def __init__(
        self,
        cwd: str | os.PathLike[str],
        policy: EdgePolicy,
        *,
        timeout_s: float = 120.0,
        on_notice: Callable[[str], None] | None = None,
        sandbox: str = "auto",
        allow_network: bool = False,
    ) -> None:
        self.given_cwd = os.path.abspath(os.fspath(cwd))
        self.cwd = Path(os.path.realpath(os.fspath(cwd)))
        if not self.cwd.is_dir():
            raise ValueError(f"the working directory {self.cwd} does not exist")
        if sandbox not in ("auto", "required"):
            raise ValueError(f"unknown sandbox mode {sandbox!r} (auto, required)")
        self.policy = policy
        self.timeout_s = float(timeout_s)
        self.on_notice = on_notice
        self.sandbox = sandbox
        self.allow_network = bool(allow_network)

    def execute(self, name: str, tool_input: Any, *, planned: tuple[str, ...] = ()) -> Outcome:
        problem = check_input(name, tool_input)
        if problem:
            return Outcome(
                True,
                f"malformed input: {problem}",
                {"error": problem},
                status="malformed",
                decision="deny",
                reason=problem,
                rule="input.malformed",
            )
        verdict = self.policy.check(name, tool_input, self.cwd, planned=planned)
        if not verdict.allowed:
            return Outcome(
                True,
                f"blocked by policy: {verdict.reason}",
                {"error": verdict.reason},
                status="denied",
                decision="deny",
                reason=verdict.reason,
                rule=verdict.rule,
            )
        started = time.monotonic()
        try:
            out = getattr(self, "_" + name.lower())(tool_input)
        except _ToolError as exc:
            out = Outcome(
                True, _one_line(str(exc)), {"error": str(exc)}, status="failed", reason=str(exc)
            )
        except OSError as exc:
            text = f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc)
            out = Outcome(True, _one_line(text), {"error": text}, status="failed", reason=text)
        except Exception as exc:  # noqa: BLE001 - an outcome, never a traceback
            text = f"{name} failed: {type(exc).__name__}: {exc}"
            out = Outcome(True, _one_line(text), {"error": text}, status="failed", reason=text)
        if isinstance(out.response, dict):
            out.response.setdefault("durationMs", int((time.monotonic() - started) * 1000))
        out.rule = out.rule or verdict.rule
        return out

    # ---- files -----------------------------------------------------------------------------------
    def _rel(self, raw: str) -> str:
        """``raw`` relative to the working directory, lexically (the kernel resolves symlinks when
        the file is opened beneath it); a path outside is an error."""
        rel = fs.relative_path(raw, str(self.cwd), aliases=(self.given_cwd,))
        if rel is None:
            raise _ToolError(f"{raw} is outside the working directory {self.cwd}")
        return rel

    def _shown(self, rel: str) -> Path:
        return self.cwd if rel == "." else self.cwd / rel

    def _write(self, inp: dict[str, Any]) -> Outcome:
        rel = self._rel(inp["file_path"])
        written = fs.write_file_beneath(str(self.cwd), rel, inp["content"].encode("utf-8"))
        kind = "create" if written.created else "update"
        return Outcome(
            False,
            f"{kind} {written.path}",
            {"type": kind, "filePath": written.path},
            files_created=[written.path] if written.created else [],
        )

    def _read_bytes(self, rel: str, max_bytes: int) -> tuple[bytes, os.stat_result]:
        shown = self._shown(rel)
        try:
            return fs.read_file_beneath_stat(str(self.cwd), rel, max_bytes)
        except FileNotFoundError:
            raise _ToolError(f"File does not exist: {shown}") from None
        except IsADirectoryError:
            raise _ToolError(f"{shown} is a directory, not a file") from None
        except fs.FileTooLarge as exc:
            raise _ToolError(
                f"{shown} is over {exc.limit} bytes; read it with offset/limit"
            ) from None

    def _read_text(self, rel: str, max_bytes: int = READ_EDIT_MAX_BYTES) -> tuple[str, int]:
        data, st = self._read_bytes(rel, max_bytes)
        try:
            return data.decode("utf-8"), st.st_mode & 0o7777
        except UnicodeDecodeError:
            raise _ToolError(f"{self._shown(rel)} is not UTF-8 text") from None

    @staticmethod
    def _apply(text: str, old: str, new: str, replace_all: bool, path: Path) -> tuple[str, int]:
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
                f"Found {count} matches of the string to replace in {path}, but replace_all is false"
            )
        return (text.replace(old, new) if replace_all else text.replace(old, new, 1)), (
            count if replace_all else 1
        )

    def _edit_file(self, raw: str, edits: list[Any]) -> Outcome:
        rel = self._rel(raw)
        path = self._shown(rel)
        try:
            text, mode = self._read_text(rel)
            existed = True
        except _ToolError as exc:
            if not str(exc).startswith("File does not exist"):
                raise
            if not edits or not isinstance(edits[0], dict) or edits[0].get("old_string") != "":
                raise
            text, mode, existed = "", 0o644, False
        total = 0
        for edit in edits:
            if (
                not isinstance(edit, dict)
                or not isinstance(edit.get("old_string"), str)
                or not isinstance(edit.get("new_string"), str)
            ):
                raise _ToolError("each edit needs old_string and new_string")
            text, n = self._apply(
                text, edit["old_string"], edit["new_string"], bool(edit.get("replace_all")), path
            )
            total += n
        written = fs.write_file_beneath(str(self.cwd), rel, text.encode("utf-8"), mode)
        return Outcome(
            False,
            f"edited {written.path} ({total} replacement{'s' if total != 1 else ''})",
            {"filePath": written.path, "replacements": total},
            files_created=[] if existed else [written.path],
        )

    def _edit(self, inp: dict[str, Any]) -> Outcome:
        return self._edit_file(inp["file_path"], [inp])

    def _multiedit(self, inp: dict[str, Any]) -> Outcome:
        return self._edit_file(inp["file_path"], list(inp["edits"]))

    def _read(self, inp: dict[str, Any]) -> Outcome:
        rel = self._rel(inp["file_path"])
        path = self._shown(rel)
        lines = self._read_text(rel, READ_EDIT_MAX_BYTES if inp.get("limit") else READ_MAX_BYTES)[
            0
        ].splitlines()
        offset = inp.get("offset") or 0
        start = max(offset - 1, 0)
        chosen = lines[start : start + (inp.get("limit") or READ_DEFAULT_LIMIT)]
        shown = "\n".join(f"{start + i + 1:>6}\t{line[:2000]}" for i, line in enumerate(chosen))
        summary = (
            f"read {path} ({len(chosen)} of {len(lines)} lines)"
            if lines
            else f"read {path} (empty)"
        )
        return Outcome(
            False,
            summary,
            {
                "type": "text",
                "file": {
                    "filePath": str(path),
                    "content": shown,
                    "numLines": len(chosen),
                    "totalLines": len(lines),
                },
            },
        )

    def _glob(self, inp: dict[str, Any]) -> Outcome:
        base = self._rel(inp["path"]) if inp.get("path") else "."
        root = self._shown(base)
        try:
            if not stat.S_ISDIR(fs.stat_beneath(str(self.cwd), base).st_mode):
                raise _ToolError(f"{root} is not a directory")
        except OSError:
            raise _ToolError(f"{root} is not a directory") from None
        try:
            matches = fs.glob_beneath(
                str(self.cwd), inp["pattern"], base, skip=lambda rel: ".git" in rel.split("/")
            )
        except (ValueError, re.error) as exc:
            raise _ToolError(f"invalid glob pattern {inp['pattern']!r}: {exc}") from None
        found = {
            os.path.normpath(os.path.join(str(root), rel)): st.st_mtime
            for rel, st in matches.items()
            if ".git" not in rel.split("/")
        }
        ordered = sorted(found, key=lambda p: (-found[p], p))
        names = ordered[:GLOB_LIMIT]
        return Outcome(
            False,
            f"{len(ordered)} file{'s' if len(ordered) != 1 else ''} match {inp['pattern']!r}",
            {"filenames": names, "numFiles": len(names), "truncated": len(ordered) > GLOB_LIMIT},
        )

    def _grep(self, inp: dict[str, Any]) -> Outcome:
        base = self._rel(inp["path"]) if inp.get("path") else "."
        root = self._shown(base)
        try:
            is_file = stat.S_ISREG(fs.stat_beneath(str(self.cwd), base).st_mode)
        except FileNotFoundError:
            raise _ToolError(f"Path does not exist: {root}") from None
        flags = re.IGNORECASE if inp.get("-i") else 0
        if inp.get("multiline"):
            flags |= re.DOTALL | re.MULTILINE
        try:
            rx = re.compile(inp["pattern"], flags)
        except re.error as exc:
            raise _ToolError(f"invalid regular expression: {exc}") from None
        mode = inp.get("output_mode") or "files_with_matches"
        if mode not in ("files_with_matches", "content", "count"):
            raise _ToolError(f"unknown output_mode {mode!r}")
        glob = inp.get("glob")
        files: list[str] = []  # relative to the working directory
        if is_file:
            files = [base]
        else:
            # symlinked folders are never descended; a symlinked file is read only when its target
            # is inside the working directory (opened beneath it), like `grep -r`, never `grep -R`
            for folder, dirs, names in fs.walk_beneath(str(self.cwd), base):
                dirs[:] = sorted(
                    d
                    for d in dirs
                    if not d.startswith(".") and d not in ("node_modules", "__pycache__")
                )
                for name in sorted(names):
                    if name.startswith(".") or (glob and not fnmatch.fnmatch(name, glob)):
                        continue
                    files.append(name if folder == "." else f"{folder}/{name}")
        hits: list[str] = []
        counts: dict[str, int] = {}
        for rel in files:
            path = self._shown(rel)
            try:
                data = fs.read_file_beneath(str(self.cwd), rel, GREP_MAX_BYTES)
            except OSError:
                continue
            if b"\x00" in data[:8192]:
                continue
            text = data.decode("utf-8", "replace")
            for number, line in enumerate(text.splitlines(), start=1):
                if rx.search(line):
                    counts[str(path)] = counts.get(str(path), 0) + 1
                    if mode == "content":
                        hits.append(
                            f"{path}:{number}:{line}" if inp.get("-n", True) else f"{path}:{line}"
                        )
        head = inp.get("head_limit")
        head = GREP_DEFAULT_HEAD if head is None else head
        if mode == "files_with_matches":
            items = sorted(counts)
        elif mode == "count":
            items = [f"{p}:{n}" for p, n in sorted(counts.items())]
        else:
            items = hits
        window = items[:head] if head else items
        summary = f"{len(counts)} file{'s' if len(counts) != 1 else ''} match {inp['pattern']!r}"
        response: dict[str, Any] = {"mode": mode, "numFiles": len(counts)}
        response["filenames" if mode == "files_with_matches" else "content"] = (
            window if mode == "files_with_matches" else "\n".join(window)
        )
        return Outcome(False, summary, response)

    # ---- Bash ------------------------------------------------------------------------------------
    def _bash(self, inp: dict[str, Any]) -> Outcome:
        timeout_ms = inp.get("timeout")
        timeout_s = (
            min(float(timeout_ms), BASH_MAX_TIMEOUT_MS) / 1000.0 if timeout_ms else self.timeout_s
        )
        abi, why = edge_sandbox.landlock_status()
        if self.sandbox == "required" and abi < 1:
            reason = f"not run: scripts run only under Landlock, which is unavailable here ({why})"
            return Outcome(
                True,
                reason,
                {"error": reason},
                status="denied",
                decision="deny",
                reason=reason,
                rule="edge.sandbox_unavailable",
            )
        if abi >= 1:
            return self._bash_sandboxed(inp["command"], timeout_s)
        shell = shutil.which("bash") or "/bin/sh"
        before = snapshot(self.cwd)
        proc = subprocess.Popen(
            [shell, "-c", inp["command"]],
            cwd=self.cwd,
            env=safe_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        timed_out = False
        try:
            out, err = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass
            out, err = proc.communicate()
        return self._bash_outcome(before, proc.returncode, out, err, timed_out, timeout_s)

    def _bash_sandboxed(self, command: str, timeout_s: float) -> Outcome:
        before = snapshot(self.cwd)
        run = edge_sandbox.run_sandboxed(
            command, str(self.cwd), timeout_s, allow_network=self.allow_network
        )
        out = self._bash_outcome(
            before, run.exit_code, run.stdout, run.stderr, run.timed_out, timeout_s
        )
        out.response["sandbox"] = f"landlock (ABI {run.abi})"
        return out

    def _bash_outcome(
        self,
        before: set[str] | None,
        code: int | None,
        out: bytes,
        err: bytes,
        timed_out: bool,
        timeout_s: float,
    ) -> Outcome:
        after = snapshot(self.cwd)
        created = sorted(after - before) if before is not None and after is not None else []
        stdout, stderr = out.decode("utf-8", "replace"), err.decode("utf-8", "replace")
        text = stdout if stdout.strip() else stderr
        is_error = timed_out or code != 0
        if timed_out:
            summary = f"timed out after {timeout_s:g} s " + _one_line(text, 200)
        elif code != 0:
            summary = f"Exit code {code} " + _one_line(text, 250)
        else:
            summary = _one_line(text) or "(no output)"
        return Outcome(
            is_error,
            summary.strip(),
            {
                "stdout": _cap(stdout),
                "stderr": _cap(stderr),
                "interrupted": timed_out,
                "exitCode": code,
            },
            exit_code=code,
            files_created=created,
            status="failed" if is_error else "ok",
        )
