"""Read and verify an llmos bundle (a directory or a .tar.gz), then load its traces and tools.

The format is written by ``llmos traces export`` (``llmos_tui/edge/bundle.py`` documents it):
``manifest.json`` lists every file with its size and sha256; ``traces/<id>.md`` are trace files;
``tools/<name>_v<N>.py`` + ``.json`` are crystallized tools. Before any trace is used, the bundle
is refused (:class:`BundleRefused`, exit 3) when a file differs from the manifest, a file is not
listed, a member is a link or a device, a path is absolute or leaves the bundle, or the sizes
pass the limits; a bundle that cannot be parsed is a usage error (exit 2), and so is a trace whose
YAML header holds an anchor or alias or passes 1 MiB (``safeyaml.py``: refused in well under a
millisecond, never expanded).

Tool modules are never executed here: their data (``CALLS``, ``SLOTS``) is read with
``ast.literal_eval`` after the sha256 checks, and run through the same replay as a trace.
"""

from __future__ import annotations

import ast
import gzip
import hashlib
import json
import os
import re
import stat
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import EXIT_POLICY_BLOCKED, EXIT_USAGE, EdgeError

FORMAT = "llmos-bundle"
FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
MAX_MEMBERS = 20_000
MAX_FILE_BYTES = 16 * 1024 * 1024
MAX_TOTAL_BYTES = 512 * 1024 * 1024
MAX_MANIFEST_BYTES = 32 * 1024 * 1024

_PART_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]{0,199}")
_TRACE_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_TOOL_ID_RE = re.compile(r"[a-z][a-z0-9_]{0,79}_v[1-9][0-9]{0,8}")
_SHA_RE = re.compile(r"[0-9a-f]{64}")


class BundleMalformed(EdgeError):
    exit_code = EXIT_USAGE


class BundleRefused(EdgeError):
    exit_code = EXIT_POLICY_BLOCKED


@dataclass
class EdgeTrace:
    id: str
    goal: str
    calls: list[dict[str, Any]]
    usage_count: int = 0
    success_count: int = 0
    failure_count: int = 0
    outcome: str = "success"
    crystallized_tool: str | None = None
    tools_used: list[str] = field(default_factory=list)


@dataclass
class EdgeTool:
    id: str
    source_trace: str
    goal: str
    slots: dict[str, str]
    calls: list[dict[str, Any]]


@dataclass
class Bundle:
    source: str
    manifest_sha256: str
    traces: list[EdgeTrace]
    tools: dict[str, EdgeTool]

    def trace(self, trace_id: str) -> EdgeTrace:
        """The bundle's trace ``trace_id`` (KeyError when it has none: ids come from its matches)."""
        for t in self.traces:
            if t.id == trace_id:
                return t
        raise KeyError(trace_id)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---- members -------------------------------------------------------------------------------------


def _check_rel(name: str, where: str) -> str:
    if not isinstance(name, str) or not name or "\x00" in name or "\\" in name:
        raise BundleRefused(f"{where}: unsafe member name {name!r}")
    if name.startswith("/"):
        raise BundleRefused(f"{where}: absolute member path {name!r} (refused)")
    parts = name.split("/")
    while parts and parts[0] == ".":
        parts = parts[1:]
    if parts and parts[-1] == "":
        parts = parts[:-1]
    if not parts:
        raise BundleRefused(f"{where}: empty member path {name!r}")
    for part in parts:
        if part == "..":
            raise BundleRefused(f"{where}: member path {name!r} leaves the bundle ('..')")
        if not _PART_RE.fullmatch(part):
            raise BundleRefused(f"{where}: unsafe member path {name!r} (component {part!r})")
    return "/".join(parts)


def _read_directory(root: Path) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    total = count = 0
    where = str(root)
    for folder, dirnames, filenames in os.walk(root, followlinks=False):
        base = Path(folder)
        for name in dirnames:
            if (base / name).is_symlink():
                raise BundleRefused(
                    f"{where}: {(base / name).relative_to(root)} is a symbolic link (refused)"
                )
        for name in sorted(filenames):
            path = base / name
            rel = _check_rel(path.relative_to(root).as_posix(), where)
            count += 1
            if count > MAX_MEMBERS:
                raise BundleRefused(f"{where}: more than {MAX_MEMBERS} files (refused)")
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                raise BundleRefused(f"{where}: {rel} is a symbolic link (refused)")
            if not stat.S_ISREG(st.st_mode):
                raise BundleRefused(f"{where}: {rel} is not a regular file (refused)")
            limit = MAX_MANIFEST_BYTES if rel == MANIFEST_NAME else MAX_FILE_BYTES
            if st.st_size > limit:
                raise BundleRefused(
                    f"{where}: {rel} is {st.st_size} bytes, over the {limit}-byte limit"
                )
            total += st.st_size
            if total > MAX_TOTAL_BYTES:
                raise BundleRefused(f"{where}: more than {MAX_TOTAL_BYTES} bytes in all (refused)")
            with open(path, "rb") as handle:
                files[rel] = handle.read(limit + 1)
    return files


def _read_archive(path: Path) -> dict[str, bytes]:
    where = str(path)
    files: dict[str, bytes] = {}
    total = count = 0
    errors = (tarfile.TarError, OSError, EOFError, gzip.BadGzipFile, ValueError)
    try:
        archive = tarfile.open(path, mode="r:*")
    except errors as exc:
        raise BundleMalformed(f"{where}: not a readable .tar.gz bundle ({exc})") from None
    try:
        while True:
            try:
                member = archive.next()
            except errors as exc:
                raise BundleMalformed(f"{where}: the archive is corrupt ({exc})") from None
            if member is None:
                break
            count += 1
            if count > MAX_MEMBERS:
                raise BundleRefused(f"{where}: more than {MAX_MEMBERS} members (refused)")
            if member.isdir():
                _check_rel(member.name, where)
                continue
            if member.issym() or member.islnk():
                raise BundleRefused(f"{where}: member {member.name!r} is a link (refused)")
            if not member.isreg():
                raise BundleRefused(
                    f"{where}: member {member.name!r} is not a regular file (refused)"
                )
            rel = _check_rel(member.name, where)
            limit = MAX_MANIFEST_BYTES if rel.endswith(MANIFEST_NAME) else MAX_FILE_BYTES
            if member.size > limit:
                raise BundleRefused(
                    f"{where}: member {rel} is {member.size} bytes, over the {limit}-byte limit"
                )
            total += member.size
            if total > MAX_TOTAL_BYTES:
                raise BundleRefused(f"{where}: more than {MAX_TOTAL_BYTES} bytes in all (refused)")
            if rel in files:
                raise BundleRefused(f"{where}: member {rel} appears twice (refused)")
            try:
                handle = archive.extractfile(member)
                data = handle.read(member.size + 1) if handle is not None else b""
            except errors as exc:
                raise BundleMalformed(f"{where}: member {rel} cannot be read ({exc})") from None
            if len(data) != member.size:
                raise BundleMalformed(f"{where}: member {rel} is truncated")
            files[rel] = data
    finally:
        archive.close()
    if MANIFEST_NAME not in files:
        tops = {rel.split("/", 1)[0] for rel in files}
        if len(tops) == 1 and all("/" in rel for rel in files):
            top = tops.pop()
            files = {rel[len(top) + 1 :]: data for rel, data in files.items()}
    return files


# ---- manifest --------------------------------------------------------------------------------------


def _expect(cond: bool, message: str) -> None:
    if not cond:
        raise BundleMalformed(message)


def _file_entry(value: Any, where: str) -> dict[str, Any]:
    _expect(isinstance(value, dict), f"{where}: expected an object")
    _expect(isinstance(value.get("path"), str), f"{where}: 'path' must be a string")
    _expect(
        isinstance(value.get("sha256"), str) and bool(_SHA_RE.fullmatch(value["sha256"])),
        f"{where}: 'sha256' must be 64 lowercase hex digits",
    )
    size = value.get("size")
    _expect(
        isinstance(size, int) and not isinstance(size, bool) and size >= 0,
        f"{where}: 'size' must be a byte count",
    )
    return value


def _check_manifest(manifest: Any, where: str) -> dict[str, dict[str, Any]]:
    """Validate the manifest; returns every listed file (path -> entry)."""
    _expect(isinstance(manifest, dict), f"{where}: the manifest must be a JSON object")
    _expect(
        manifest.get("format") == FORMAT,
        f"{where}: not an llmos bundle (format {manifest.get('format')!r})",
    )
    version = manifest.get("format_version")
    _expect(
        isinstance(version, int) and not isinstance(version, bool) and version >= 1,
        f"{where}: 'format_version' is missing or bad",
    )
    _expect(
        version <= FORMAT_VERSION,
        f"{where}: bundle format {version} is newer than this runtime "
        f"(it reads format {FORMAT_VERSION})",
    )
    traces, tools = manifest.get("traces"), manifest.get("tools", [])
    _expect(isinstance(traces, list), f"{where}: 'traces' must be a list")
    _expect(isinstance(tools, list), f"{where}: 'tools' must be a list")
    listed: dict[str, dict[str, Any]] = {}
    ids: set[str] = set()
    for i, entry in enumerate(traces):
        at = f"{where}: traces[{i}]"
        _file_entry(entry, at)
        tid = entry.get("id")
        _expect(
            isinstance(tid, str) and bool(_TRACE_ID_RE.fullmatch(tid)),
            f"{at}: bad trace id {tid!r}",
        )
        _expect(entry["path"] == f"traces/{tid}.md", f"{at}: path must be traces/{tid}.md")
        _expect(tid not in ids, f"{at}: trace {tid} is listed twice")
        ids.add(tid)
        listed[entry["path"]] = entry
    seen: set[str] = set()
    for i, entry in enumerate(tools):
        at = f"{where}: tools[{i}]"
        _expect(isinstance(entry, dict), f"{at}: expected an object")
        ident = entry.get("id")
        _expect(
            isinstance(ident, str) and bool(_TOOL_ID_RE.fullmatch(ident)),
            f"{at}: bad tool id {ident!r}",
        )
        _expect(ident not in seen, f"{at}: tool {ident} is listed twice")
        seen.add(ident)
        _expect(entry.get("source_trace") in ids, f"{at}: its source trace is not in the bundle")
        module = _file_entry(entry.get("module"), f"{at}.module")
        meta = _file_entry(entry.get("manifest"), f"{at}.manifest")
        _expect(
            module["path"] == f"tools/{ident}.py", f"{at}: module path must be tools/{ident}.py"
        )
        _expect(
            meta["path"] == f"tools/{ident}.json", f"{at}: manifest path must be tools/{ident}.json"
        )
        listed[module["path"]] = module
        listed[meta["path"]] = meta
    return listed


def _verify(listed: dict[str, dict[str, Any]], files: dict[str, bytes], where: str) -> None:
    present = set(files) - {MANIFEST_NAME}
    missing = sorted(set(listed) - present)
    if missing:
        raise BundleRefused(
            f"{where}: file(s) listed in the manifest are missing: {', '.join(missing[:5])}"
        )
    extra = sorted(present - set(listed))
    if extra:
        raise BundleRefused(f"{where}: file(s) not listed in the manifest: {', '.join(extra[:5])}")
    for rel, entry in sorted(listed.items()):
        data = files[rel]
        if len(data) != entry["size"]:
            raise BundleRefused(
                f"{where}: {rel} was modified: {len(data)} bytes, the manifest records {entry['size']}"
            )
        digest = sha256_hex(data)
        if digest != entry["sha256"]:
            raise BundleRefused(
                f"{where}: {rel} was modified: sha256 {digest[:12]}…, the manifest "
                f"records {entry['sha256'][:12]}…"
            )


# ---- traces and tools -------------------------------------------------------------------------------

_CALLS_HEAD = re.compile(r"^##[ \t]+Tool calls[ \t]*$", re.MULTILINE | re.IGNORECASE)
_FENCE_OPEN = re.compile(r"^```[ \t]*(?:json)?[ \t]*$", re.MULTILINE)
_FENCE_CLOSE = re.compile(r"^```[ \t]*$", re.MULTILINE)


def _count(data: dict[str, Any], key: str, where: str) -> int:
    value = data.get(key, 0)
    _expect(
        isinstance(value, int) and not isinstance(value, bool) and value >= 0,
        f"{where}: {key} must be a non-negative integer",
    )
    return value


def check_calls(calls: Any, where: str) -> list[dict[str, Any]]:
    _expect(isinstance(calls, list), f"{where}: the tool calls must be a list")
    out = []
    for i, call in enumerate(calls):
        at = f"{where}: tool call {i + 1}"
        _expect(isinstance(call, dict), f"{at}: expected an object")
        _expect(
            isinstance(call.get("name"), str) and bool(call["name"]),
            f"{at}: 'name' must be a non-empty string",
        )
        inp = call.get("input", {})
        result = call.get("result", {})
        _expect(isinstance(inp, dict), f"{at}: 'input' must be an object")
        _expect(isinstance(result, dict), f"{at}: 'result' must be an object")
        out.append(
            {
                "name": call["name"],
                "input": inp,
                "result": result,
                "tool_use_id": str(call.get("tool_use_id", "") or ""),
            }
        )
    return out


def parse_trace(text: str, where: str) -> EdgeTrace:
    """A trace file's header and tool calls (the fields the edge needs), checked."""
    from .frontmatter import FrontmatterError, read

    try:
        data, body = read(text)  # no anchors or aliases, at most 1 MiB: a hostile header fails fast
    except ImportError:
        raise EdgeError("PyYAML is needed to read trace files: pip install pyyaml") from None
    except FrontmatterError as exc:
        raise BundleMalformed(f"{where}: {exc}") from None
    heads = list(_CALLS_HEAD.finditer(body))
    _expect(bool(heads), f"{where}: missing the '## Tool calls' section")
    rest = body[heads[-1].end() :]
    opening = _FENCE_OPEN.search(rest)
    if opening is None or rest[: opening.start()].strip():
        raise BundleMalformed(f"{where}: the tool calls must be a ```json block")
    closings = list(_FENCE_CLOSE.finditer(rest, opening.end()))
    _expect(bool(closings), f"{where}: the ```json block is not closed")
    try:
        raw = json.loads(rest[opening.end() : closings[-1].start()] or "[]")
    except (ValueError, RecursionError) as exc:
        raise BundleMalformed(f"{where}: the tool calls are not valid JSON ({exc})") from None
    goal = data.get("goal")
    if not isinstance(goal, str) or not goal.strip():
        raise BundleMalformed(f"{where}: 'goal' must be non-empty text")
    ident = data.get("id")
    if not isinstance(ident, str) or not _TRACE_ID_RE.fullmatch(ident):
        raise BundleMalformed(f"{where}: bad id {ident!r}")
    tool = data.get("crystallized_tool")
    _expect(
        tool is None or isinstance(tool, str), f"{where}: crystallized_tool must be text or null"
    )
    outcome = data.get("outcome", "success")
    _expect(outcome in ("success", "failure"), f"{where}: outcome must be success or failure")
    calls = check_calls(raw, where)
    return EdgeTrace(
        id=ident,
        goal=goal,
        calls=calls,
        usage_count=_count(data, "usage_count", where),
        success_count=_count(data, "success_count", where),
        failure_count=_count(data, "failure_count", where),
        outcome=outcome,
        crystallized_tool=tool,
        tools_used=sorted({c["name"] for c in calls}),
    )


_TOOL_NAMES = {
    "TOOL_NAME": "name",
    "VERSION": "version",
    "SOURCE_TRACE": "source_trace",
    "GOAL": "goal",
    "SLOTS": "slots",
    "CALLS": "calls",
}


def parse_tool(module: bytes, meta: bytes, ident: str, where: str) -> EdgeTool:
    """A crystallized tool's data, read with ``ast`` (nothing is executed)."""
    try:
        data = json.loads(meta.decode("utf-8"))
        tree = ast.parse(module.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, SyntaxError) as exc:
        raise BundleMalformed(f"{where}: tool {ident} cannot be read ({exc})") from None
    _expect(
        isinstance(data, dict) and data.get("status") == "active",
        f"{where}: tool {ident} is not active",
    )
    if data.get("sha256") != sha256_hex(module):
        raise BundleRefused(f"{where}: tool {ident}'s module differs from its manifest's sha256")
    found: dict[str, Any] = {}
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id in _TOOL_NAMES
        ):
            try:
                found[_TOOL_NAMES[node.targets[0].id]] = ast.literal_eval(node.value)
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                raise BundleMalformed(
                    f"{where}: tool {ident}: {node.targets[0].id} is not a plain literal"
                ) from None
    missing = sorted(set(_TOOL_NAMES.values()) - set(found))
    _expect(not missing, f"{where}: tool {ident} lacks {', '.join(missing)}")
    _expect(
        f"{found['name']}_v{found['version']}" == ident,
        f"{where}: tool {ident} holds another tool's data",
    )
    slots = found["slots"]
    _expect(
        isinstance(slots, dict)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in slots.items()),
        f"{where}: tool {ident}: SLOTS must map names to text",
    )
    return EdgeTool(
        id=ident,
        source_trace=str(found["source_trace"]),
        goal=str(found["goal"]),
        slots=dict(slots),
        calls=check_calls(found["calls"], f"{where}: tool {ident}"),
    )


def load_bundle(path: str | os.PathLike[str], *, expect_sha256: str | None = None) -> Bundle:
    """Read, verify and parse a bundle. Raises BundleMalformed (exit 2) or BundleRefused (exit 3)."""
    source = Path(path)
    where = str(source)
    if expect_sha256 is not None:
        expect_sha256 = expect_sha256.strip().lower()
        if not _SHA_RE.fullmatch(expect_sha256):
            raise BundleMalformed(f"--expect-sha256 must be 64 hex digits, not {expect_sha256!r}")
    try:
        if source.is_symlink():
            raise BundleRefused(f"{where}: the bundle path is a symbolic link (refused)")
        if source.is_dir():
            files = _read_directory(source)
        elif source.is_file():
            files = _read_archive(source)
        else:
            raise BundleMalformed(f"{where}: no such bundle (a directory or a .tar.gz file)")
    except PermissionError as exc:
        raise BundleMalformed(f"{where}: cannot read the bundle ({exc.strerror})") from None
    raw = files.get(MANIFEST_NAME)
    if raw is None:
        raise BundleMalformed(f"{where}: no {MANIFEST_NAME} (not an llmos bundle)")
    digest = sha256_hex(raw)
    if expect_sha256 is not None and digest != expect_sha256:
        raise BundleRefused(
            f"{where}: the manifest's sha256 is {digest}, not the expected {expect_sha256}"
        )
    try:
        manifest = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise BundleMalformed(f"{where}: {MANIFEST_NAME} is not valid JSON ({exc})") from None
    listed = _check_manifest(manifest, f"{where}: {MANIFEST_NAME}")
    _verify(listed, files, where)
    traces = []
    for entry in manifest["traces"]:
        try:
            text = files[entry["path"]].decode("utf-8")
        except UnicodeDecodeError:
            raise BundleMalformed(f"{where}: {entry['path']} is not UTF-8 text") from None
        trace = parse_trace(text, f"{where}: {entry['path']}")
        _expect(
            trace.id == entry["id"],
            f"{where}: {entry['path']} holds trace {trace.id}, not {entry['id']}",
        )
        traces.append(trace)
    tools = {}
    for entry in manifest.get("tools", []):
        tool = parse_tool(
            files[entry["module"]["path"]], files[entry["manifest"]["path"]], entry["id"], where
        )
        _expect(
            tool.source_trace == entry["source_trace"],
            f"{where}: tool {entry['id']} names another source trace",
        )
        source_trace = next(t for t in traces if t.id == tool.source_trace)
        if tool.calls != source_trace.calls:
            raise BundleRefused(
                f"{where}: tool {tool.id}'s calls differ from those of its trace {source_trace.id}"
            )
        tools[tool.id] = tool
    return Bundle(source=where, manifest_sha256=digest, traces=traces, tools=tools)
