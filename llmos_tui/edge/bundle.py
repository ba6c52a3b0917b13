"""Trace bundles: export a volume's traces and crystallized tools, verify a bundle, import it.

A bundle is a directory or a ``.tar.gz`` / ``.tgz`` archive (whose files may sit under one top
folder) holding::

    manifest.json                 format, version, and every file below with its size and sha256
    traces/<trace id>.md          one trace file each (canonical text, ``learning/traces.py``)
    tools/<name>_v<N>.py          an active crystallized tool's module ...
    tools/<name>_v<N>.json        ... and its manifest

``manifest.json``::

    {"format": "llmos-bundle", "format_version": 1, "created_at": "...", "llmos_version": "...",
     "source": {"volumes": [...], "project": null},
     "traces": [{"id", "path", "sha256", "size", "goal", "signature", "crystallized_tool"}],
     "tools": [{"id", "source_trace", "module": {"path", "sha256", "size"},
                "manifest": {"path", "sha256", "size"}}]}

Reading a bundle (:func:`read_bundle`) refuses, before anything is written anywhere: a missing or
unparsable manifest, a format it does not know, a file listed but missing or with another size or
sha256, a file present but not listed, a symlink, hard link, device or other non-regular member,
an absolute or ``..`` path, a member larger than ``MAX_FILE_BYTES``, more than ``MAX_MEMBERS``
members or ``MAX_TOTAL_BYTES`` in all. :func:`import_bundle` then parses every trace with the
strict trace parser and checks every tool exactly as loading one does (its code must be what the
crystallizer generates from the data it holds), and only then writes.

The sha256 values prove the files are the ones the manifest lists (integrity); the manifest
itself is not signed. Export prints the manifest's own sha256: pass it to import (or to the edge
runtime) as ``expect_sha256`` to pin the whole bundle (authenticity, when the digest travels by
a trusted channel).

Exit codes: a malformed bundle is a usage error (2); a bundle that fails an integrity or safety
check (hash mismatch, unlisted file, unsafe member) is refused with exit 3.

Secrets are never exported: each trace is written with ``redact_trace`` (a trace stored before
redaction existed may still hold one), and a tool is exported only when its calls are those of
its trace as exported (a tool made from an unredacted trace is left out, with the reason).

Imported traces keep their ids (the link between a trace and its crystallized tool is its id).
An id that already exists with the same content is left as it is; with different content the
default is to skip it and say so (``on_conflict="skip"``); ``"rename"`` imports it under a new
id, and its tool with it: re-rendered to name the new id, under the next free version of the tool's
name when that id is taken (``tools_renamed``); ``"fail"`` refuses the whole import. Nothing is ever
overwritten.

Imported content is not trusted (``learning/trust.py``): its traces are listed, searchable and
usable as MIXED examples, but are not replayed, crystallized or run as tools until the user
approves them (``llmos traces approve ID``); the usage and success counts inside the files never
count toward replay confidence or crystallization here.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import shutil
import stat as _stat
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from ..atomic import atomic_write_bytes
from ..clock import iso_utc
from ..errors import LLMOSError
from ..exitcodes import ExitCode
from ..observability.events import EventType

FORMAT = "llmos-bundle"
FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
MAX_MEMBERS = 20_000
MAX_FILE_BYTES = 16 * 1024 * 1024
MAX_TOTAL_BYTES = 512 * 1024 * 1024
MAX_MANIFEST_BYTES = 32 * 1024 * 1024
ON_CONFLICT = ("skip", "rename", "fail")

_PART_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]{0,199}")
_TRACE_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_TOOL_ID_RE = re.compile(r"[a-z][a-z0-9_]{0,79}_v[1-9][0-9]{0,8}")
_SHA_RE = re.compile(r"[0-9a-f]{64}")
_TAR_SUFFIXES = (".tar.gz", ".tgz")


class BundleError(LLMOSError):
    """A bundle that cannot be read: missing, malformed, of an unknown format (exit 2)."""

    exit_code = ExitCode.USAGE


class BundleIntegrityError(BundleError):
    """A bundle that fails an integrity or safety check: tampered, unlisted or unsafe member (exit 3)."""

    exit_code = ExitCode.POLICY_BLOCKED


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def is_archive_path(path: str | os.PathLike[str]) -> bool:
    return str(path).lower().endswith(_TAR_SUFFIXES)


# ---- reading and verifying -----------------------------------------------------------------------


@dataclass
class BundleFiles:
    """A verified bundle, in memory: its manifest and the bytes of every file it lists."""

    source: str
    manifest: dict[str, Any]
    manifest_sha256: str
    files: dict[str, bytes]

    @property
    def traces(self) -> list[dict[str, Any]]:
        return list(self.manifest["traces"])

    @property
    def tools(self) -> list[dict[str, Any]]:
        return list(self.manifest["tools"])


def _check_rel(name: str, where: str) -> str:
    """A member path as POSIX text with safe parts only; integrity error otherwise."""
    if not isinstance(name, str) or not name or "\x00" in name or "\\" in name:
        raise BundleIntegrityError(f"{where}: unsafe member name {name!r}")
    if name.startswith("/"):
        raise BundleIntegrityError(f"{where}: absolute member path {name!r} (refused)")
    parts = name.split("/")
    while parts and parts[0] == ".":
        parts = parts[1:]
    if parts and parts[-1] == "":
        parts = parts[:-1]
    if not parts:
        raise BundleIntegrityError(f"{where}: empty member path {name!r}")
    for part in parts:
        if part == "..":
            raise BundleIntegrityError(f"{where}: member path {name!r} leaves the bundle ('..')")
        if not _PART_RE.fullmatch(part):
            raise BundleIntegrityError(f"{where}: unsafe member path {name!r} (component {part!r})")
    return "/".join(parts)


def _read_directory(root: Path) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    total = 0
    count = 0
    where = str(root)
    for folder, dirnames, filenames in os.walk(root, followlinks=False):
        base = Path(folder)
        for name in sorted(dirnames):
            path = base / name
            if path.is_symlink():
                raise BundleIntegrityError(
                    f"{where}: {path.relative_to(root)} is a symbolic link (refused)"
                )
        for name in sorted(filenames):
            path = base / name
            rel = _check_rel(path.relative_to(root).as_posix(), where)
            count += 1
            if count > MAX_MEMBERS:
                raise BundleIntegrityError(f"{where}: more than {MAX_MEMBERS} files (refused)")
            st = os.lstat(path)
            if _stat.S_ISLNK(st.st_mode):
                raise BundleIntegrityError(f"{where}: {rel} is a symbolic link (refused)")
            if not _stat.S_ISREG(st.st_mode):
                raise BundleIntegrityError(f"{where}: {rel} is not a regular file (refused)")
            if st.st_size > MAX_FILE_BYTES and rel != MANIFEST_NAME:
                raise BundleIntegrityError(
                    f"{where}: {rel} is {st.st_size} bytes, over the "
                    f"{MAX_FILE_BYTES}-byte limit per file"
                )
            total += st.st_size
            if total > MAX_TOTAL_BYTES:
                raise BundleIntegrityError(
                    f"{where}: more than {MAX_TOTAL_BYTES} bytes in all (refused)"
                )
            with open(path, "rb") as handle:
                files[rel] = handle.read(MAX_MANIFEST_BYTES + 1)
    return files


def _read_archive(path: Path) -> dict[str, bytes]:
    where = str(path)
    files: dict[str, bytes] = {}
    total = 0
    count = 0
    try:
        archive = tarfile.open(path, mode="r:*")
    except (tarfile.TarError, OSError, EOFError, gzip.BadGzipFile) as exc:
        raise BundleError(f"{where}: not a readable .tar.gz bundle ({exc})") from None
    try:
        while True:
            try:
                member = archive.next()
            except (tarfile.TarError, OSError, EOFError, gzip.BadGzipFile, ValueError) as exc:
                raise BundleError(f"{where}: the archive is corrupt ({exc})") from None
            if member is None:
                break
            count += 1
            if count > MAX_MEMBERS:
                raise BundleIntegrityError(f"{where}: more than {MAX_MEMBERS} members (refused)")
            if member.isdir():
                _check_rel(member.name, where)
                continue
            if member.issym() or member.islnk():
                raise BundleIntegrityError(f"{where}: member {member.name!r} is a link (refused)")
            if not member.isreg():
                raise BundleIntegrityError(
                    f"{where}: member {member.name!r} is not a regular file (refused)"
                )
            rel = _check_rel(member.name, where)
            limit = MAX_MANIFEST_BYTES if rel.endswith(MANIFEST_NAME) else MAX_FILE_BYTES
            if member.size > limit:
                raise BundleIntegrityError(
                    f"{where}: member {rel} is {member.size} bytes, over the "
                    f"{limit}-byte limit per file"
                )
            total += member.size
            if total > MAX_TOTAL_BYTES:
                raise BundleIntegrityError(
                    f"{where}: more than {MAX_TOTAL_BYTES} bytes in all (refused)"
                )
            if rel in files:
                raise BundleIntegrityError(f"{where}: member {rel} appears twice (refused)")
            try:
                handle = archive.extractfile(member)
                data = handle.read(member.size + 1) if handle is not None else b""
            except (tarfile.TarError, OSError, EOFError, gzip.BadGzipFile, ValueError) as exc:
                raise BundleError(f"{where}: member {rel} cannot be read ({exc})") from None
            if len(data) != member.size:
                raise BundleError(f"{where}: member {rel} is truncated")
            files[rel] = data
    finally:
        archive.close()
    # Files may sit under one top folder (``name/manifest.json``).
    if MANIFEST_NAME not in files:
        tops = {rel.split("/", 1)[0] for rel in files}
        if len(tops) == 1 and all("/" in rel for rel in files):
            top = tops.pop()
            files = {rel[len(top) + 1 :]: data for rel, data in files.items()}
    return files


def _expect(cond: bool, message: str) -> None:
    if not cond:
        raise BundleError(message)


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


def check_manifest(manifest: Any, where: str = MANIFEST_NAME) -> dict[str, Any]:
    """Validate the manifest's shape (not the files); BundleError naming the problem."""
    _expect(isinstance(manifest, dict), f"{where}: the manifest must be a JSON object")
    _expect(
        manifest.get("format") == FORMAT,
        f"{where}: not an llmos bundle (format {manifest.get('format')!r})",
    )
    version = manifest.get("format_version")
    _expect(
        isinstance(version, int) and not isinstance(version, bool),
        f"{where}: 'format_version' is missing",
    )
    _expect(
        version <= FORMAT_VERSION,
        f"{where}: bundle format {version} was made by a newer llmos "
        f"(this one reads format {FORMAT_VERSION})",
    )
    _expect(version >= 1, f"{where}: bad format_version {version!r}")
    traces = manifest.get("traces")
    tools = manifest.get("tools", [])
    _expect(isinstance(traces, list), f"{where}: 'traces' must be a list")
    _expect(isinstance(tools, list), f"{where}: 'tools' must be a list")
    ids: set[str] = set()
    for i, entry in enumerate(traces):
        at = f"{where}: traces[{i}]"
        _file_entry(entry, at)
        tid = entry.get("id")
        _expect(
            isinstance(tid, str) and bool(_TRACE_ID_RE.fullmatch(tid)),
            f"{at}: bad trace id {tid!r}",
        )
        _expect(
            entry["path"] == f"traces/{tid}.md",
            f"{at}: path must be traces/{tid}.md, not {entry['path']!r}",
        )
        _expect(tid not in ids, f"{at}: trace {tid} is listed twice")
        _expect(isinstance(entry.get("goal", ""), str), f"{at}: 'goal' must be text")
        ids.add(tid)
    tool_ids: set[str] = set()
    for i, entry in enumerate(tools):
        at = f"{where}: tools[{i}]"
        _expect(isinstance(entry, dict), f"{at}: expected an object")
        ident = entry.get("id")
        _expect(
            isinstance(ident, str) and bool(_TOOL_ID_RE.fullmatch(ident)),
            f"{at}: bad tool id {ident!r}",
        )
        _expect(ident not in tool_ids, f"{at}: tool {ident} is listed twice")
        tool_ids.add(ident)
        _expect(
            entry.get("source_trace") in ids,
            f"{at}: its source trace {entry.get('source_trace')!r} is not in the bundle",
        )
        module = _file_entry(entry.get("module"), f"{at}.module")
        meta = _file_entry(entry.get("manifest"), f"{at}.manifest")
        _expect(
            module["path"] == f"tools/{ident}.py", f"{at}: module path must be tools/{ident}.py"
        )
        _expect(
            meta["path"] == f"tools/{ident}.json", f"{at}: manifest path must be tools/{ident}.json"
        )
    return manifest


def listed_files(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out = {entry["path"]: entry for entry in manifest["traces"]}
    for tool in manifest.get("tools", []):
        out[tool["module"]["path"]] = tool["module"]
        out[tool["manifest"]["path"]] = tool["manifest"]
    return out


def verify_files(manifest: dict[str, Any], files: dict[str, bytes], where: str) -> None:
    """Every listed file present with its size and sha256; nothing else present."""
    listed = listed_files(manifest)
    present = set(files) - {MANIFEST_NAME}
    missing = sorted(set(listed) - present)
    if missing:
        raise BundleIntegrityError(
            f"{where}: file(s) listed in the manifest are missing: {', '.join(missing[:5])}"
        )
    extra = sorted(present - set(listed))
    if extra:
        raise BundleIntegrityError(
            f"{where}: file(s) not listed in the manifest: {', '.join(extra[:5])} "
            "(a bundle holds exactly what its manifest lists)"
        )
    for rel, entry in sorted(listed.items()):
        data = files[rel]
        if len(data) != entry["size"]:
            raise BundleIntegrityError(
                f"{where}: {rel} was modified: {len(data)} bytes, the manifest "
                f"records {entry['size']}"
            )
        digest = sha256_hex(data)
        if digest != entry["sha256"]:
            raise BundleIntegrityError(
                f"{where}: {rel} was modified: sha256 {digest[:12]}…, the manifest "
                f"records {entry['sha256'][:12]}…"
            )


def read_bundle(path: str | os.PathLike[str], *, expect_sha256: str | None = None) -> BundleFiles:
    """Read and verify a bundle (directory or .tar.gz). Raises BundleError / BundleIntegrityError."""
    source = Path(path)
    where = str(source)
    if expect_sha256 is not None:
        expect_sha256 = expect_sha256.strip().lower()
        if not _SHA_RE.fullmatch(expect_sha256):
            raise BundleError(f"--expect-sha256 must be 64 hex digits, not {expect_sha256!r}")
    try:
        if source.is_symlink():
            raise BundleIntegrityError(f"{where}: the bundle path is a symbolic link (refused)")
        if source.is_dir():
            files = _read_directory(source)
        elif source.is_file():
            files = _read_archive(source)
        else:
            raise BundleError(f"{where}: no such bundle (a directory or a .tar.gz file)")
    except PermissionError as exc:
        raise BundleError(f"{where}: cannot read the bundle ({exc.strerror})") from None
    raw = files.get(MANIFEST_NAME)
    if raw is None:
        raise BundleError(f"{where}: no {MANIFEST_NAME} (not an llmos bundle)")
    if len(raw) > MAX_MANIFEST_BYTES:
        raise BundleIntegrityError(f"{where}: {MANIFEST_NAME} is over {MAX_MANIFEST_BYTES} bytes")
    digest = sha256_hex(raw)
    if expect_sha256 is not None and digest != expect_sha256:
        raise BundleIntegrityError(
            f"{where}: the manifest's sha256 is {digest}, not the expected "
            f"{expect_sha256} (the bundle is not the one you were given)"
        )
    try:
        manifest = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise BundleError(f"{where}: {MANIFEST_NAME} is not valid JSON ({exc})") from None
    check_manifest(manifest, f"{where}: {MANIFEST_NAME}")
    verify_files(manifest, files, where)
    return BundleFiles(source=where, manifest=manifest, manifest_sha256=digest, files=files)


# ---- export --------------------------------------------------------------------------------------


@dataclass
class ExportReport:
    path: str
    traces: list[str] = field(default_factory=list)
    tools: list[str] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    manifest_sha256: str = ""
    bytes: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "traces": list(self.traces),
            "tools": list(self.tools),
            "skipped": list(self.skipped),
            "manifest_sha256": self.manifest_sha256,
            "bytes": self.bytes,
        }


def _tar_bytes(files: dict[str, bytes], top: str, mtime: int) -> bytes:
    """A deterministic .tar.gz of ``files`` under the folder ``top``."""
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=mtime) as gz:
        with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
            dirs = sorted(
                {
                    "/".join(rel.split("/")[:i])
                    for rel in files
                    for i in range(1, rel.count("/") + 1)
                }
            )
            for d in [""] + dirs:
                info = tarfile.TarInfo(f"{top}/{d}".rstrip("/"))
                info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, mtime
                tar.addfile(info)
            for rel in sorted(files):
                data = files[rel]
                info = tarfile.TarInfo(f"{top}/{rel}")
                info.size, info.mode, info.mtime = len(data), 0o644, mtime
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _write_directory(dest: Path, files: dict[str, bytes], *, force: bool) -> None:
    parent = dest.parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=parent))
    try:
        for rel, data in files.items():
            atomic_write_bytes(tmp / rel, data)
        old = None
        if dest.exists():
            if dest.is_dir() and not any(dest.iterdir()):
                dest.rmdir()
            elif force and dest.is_dir() and not dest.is_symlink():
                old = parent / f".{dest.name}.old-{os.getpid()}"
                os.replace(dest, old)
            else:
                raise BundleError(
                    f"{dest} already exists (choose a new name, or --force to replace it)"
                )
        os.replace(tmp, dest)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def export_bundle(
    workspace: Any,
    store: Any,
    dest: str | os.PathLike[str],
    *,
    volumes: Iterable[str],
    trace_ids: Iterable[str] | None = None,
    project: str | None = None,
    include_failed: bool = False,
    force: bool = False,
) -> ExportReport:
    """Write the traces of ``volumes`` (optionally only ``trace_ids`` / one ``project``) and their
    active crystallized tools to ``dest`` (a ``.tar.gz``/``.tgz`` path, else a directory)."""
    from .. import __version__
    from ..execution.replay.crystallized import ToolError, list_tools, sha256_bytes
    from ..learning.traces import dump_trace, now_iso, redact_trace

    dest = Path(dest).expanduser()
    volumes = list(volumes)
    wanted = set(trace_ids) if trace_ids is not None else None
    report = ExportReport(path=str(dest))
    files: dict[str, bytes] = {}
    entries: list[dict[str, Any]] = []
    exported: dict[str, Any] = {}  # id -> the trace as written in the bundle
    for trace in store.iter_traces(volumes):
        if wanted is not None and trace.id not in wanted:
            continue
        if project is not None and trace.project != project:
            continue
        if trace.outcome != "success" and not include_failed:
            report.skipped.append(
                {"id": trace.id, "reason": "its recorded run failed (use --include-failed)"}
            )
            continue
        if not trace.calls:
            report.skipped.append({"id": trace.id, "reason": "it has no tool calls to replay"})
            continue
        trace = redact_trace(trace)  # a bundle travels: never with a secret in it
        data = dump_trace(trace).encode("utf-8")
        rel = f"traces/{trace.id}.md"
        files[rel] = data
        exported[trace.id] = trace
        entries.append(
            {
                "id": trace.id,
                "path": rel,
                "sha256": sha256_hex(data),
                "size": len(data),
                "goal": trace.goal,
                "signature": trace.signature,
                "crystallized_tool": trace.crystallized_tool,
            }
        )
    if wanted is not None:
        for missing in sorted(wanted - set(exported) - {s["id"] for s in report.skipped}):
            report.skipped.append(
                {"id": missing, "reason": "no such trace in the exported volume(s)"}
            )
    tools: list[dict[str, Any]] = []
    for tool in list_tools(workspace, volumes, status="active"):
        if tool.source_trace not in exported:
            continue
        try:
            module = Path(tool.path).read_bytes()
            meta = Path(tool.manifest_path).read_bytes()
        except OSError as exc:
            report.skipped.append({"id": tool.id, "reason": f"cannot be read ({exc})"})
            continue
        if sha256_bytes(module) != tool.sha256:
            report.skipped.append(
                {"id": tool.id, "reason": "its module does not match its manifest's sha256"}
            )
            continue
        try:
            _check_tool(tool.id, tool.source_trace, module, meta, where=tool.id)
            # The same calls as its trace as exported: a tool made before redaction existed may
            # still hold a secret its (redacted) trace no longer does; it stays behind.
            _check_tool_matches_trace(module, exported[tool.source_trace], where=tool.id)
        except (BundleError, ToolError) as exc:
            report.skipped.append({"id": tool.id, "reason": str(exc)})
            continue
        mod_rel, meta_rel = f"tools/{tool.id}.py", f"tools/{tool.id}.json"
        files[mod_rel], files[meta_rel] = module, meta
        tools.append(
            {
                "id": tool.id,
                "source_trace": tool.source_trace,
                "module": {"path": mod_rel, "sha256": sha256_hex(module), "size": len(module)},
                "manifest": {"path": meta_rel, "sha256": sha256_hex(meta), "size": len(meta)},
            }
        )
        report.tools.append(tool.id)
    if not entries:
        raise BundleError(
            "nothing to export: no replayable trace in "
            + ", ".join(volumes)
            + (f" for project {project!r}" if project else "")
        )
    created = now_iso()
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created_at": created,
        "llmos_version": __version__,
        "source": {"volumes": volumes, "project": project},
        "traces": entries,
        "tools": tools,
    }
    raw = (json.dumps(manifest, indent=2, ensure_ascii=False, sort_keys=False) + "\n").encode(
        "utf-8"
    )
    files[MANIFEST_NAME] = raw
    report.manifest_sha256 = sha256_hex(raw)
    report.traces = [e["id"] for e in entries]
    report.bytes = sum(len(v) for v in files.values())
    try:
        if is_archive_path(dest):
            if dest.exists() and not force:
                raise BundleError(
                    f"{dest} already exists (choose a new name, or --force to replace it)"
                )
            name = dest.name
            top = (
                name[: -len(".tar.gz")]
                if name.lower().endswith(".tar.gz")
                else name[: -len(".tgz")]
            )
            data = _tar_bytes(files, top or "bundle", int(time.time()))
            atomic_write_bytes(dest, data)
            report.bytes = len(data)
        else:
            _write_directory(dest, files, force=force)
    except OSError as exc:
        raise BundleError(f"cannot write the bundle {dest}: {exc}") from None
    return report


# ---- import --------------------------------------------------------------------------------------


@dataclass
class ImportReport:
    source: str
    volume: str
    manifest_sha256: str
    imported: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    renamed: dict[str, str] = field(default_factory=dict)
    skipped: list[dict[str, str]] = field(default_factory=list)
    tools_imported: list[str] = field(default_factory=list)
    tools_unchanged: list[str] = field(default_factory=list)
    tools_skipped: list[dict[str, str]] = field(default_factory=list)
    tools_renamed: dict[str, str] = field(default_factory=dict)  # bundle tool id -> id imported as

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "volume": self.volume,
            "manifest_sha256": self.manifest_sha256,
            "imported": list(self.imported),
            "unchanged": list(self.unchanged),
            "renamed": dict(self.renamed),
            "skipped": list(self.skipped),
            "tools_imported": list(self.tools_imported),
            "tools_unchanged": list(self.tools_unchanged),
            "tools_skipped": list(self.tools_skipped),
            "tools_renamed": dict(self.tools_renamed),
        }


def _check_tool(
    ident: str, source_trace: str, module: bytes, meta: bytes, *, where: str
) -> dict[str, Any]:
    """A crystallized tool's files checked as loading it would: the manifest agrees with the module,
    the module is exactly what the crystallizer generates from its data. Returns the manifest."""
    from ..execution.replay.crystallized import (
        GENERATOR_VERSION,
        ToolError,
        module_data,
        render_module,
        tool_id,
    )

    try:
        data = json.loads(meta.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise BundleError(f"{where}: the tool manifest is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise BundleError(f"{where}: the tool manifest is not a JSON object")
    for key, kind in (
        ("name", str),
        ("version", int),
        ("source_trace", str),
        ("sha256", str),
        ("status", str),
        ("module", str),
    ):
        if not isinstance(data.get(key), kind) or isinstance(data.get(key), bool):
            raise BundleError(f"{where}: the tool manifest lacks or has a bad {key!r}")
    if tool_id(data["name"], data["version"]) != ident or data["module"] != f"{ident}.py":
        raise BundleError(
            f"{where}: the tool manifest describes {tool_id(data['name'], data['version'])}, not {ident}"
        )
    if data["source_trace"] != source_trace:
        raise BundleError(
            f"{where}: the tool was made from {data['source_trace']}, the bundle says {source_trace}"
        )
    if data["status"] != "active":
        raise BundleError(
            f"{where}: only active tools travel in bundles (this one is {data['status']})"
        )
    if data["sha256"] != sha256_hex(module):
        raise BundleIntegrityError(f"{where}: the module's sha256 differs from its manifest's")
    try:
        text = module.decode("utf-8")
        found = module_data(text)
        if found["generator"] != GENERATOR_VERSION:
            raise BundleError(
                f"{where}: generated by crystallizer format {found['generator']!r}, "
                f"this llmos reads {GENERATOR_VERSION}"
            )
        expected = render_module(
            name=found["name"],
            version=found["version"],
            source_trace=found["source_trace"],
            goal=found["goal"],
            slots=found["slots"],
            calls=found["calls"],
        )
    except UnicodeDecodeError:
        raise BundleError(f"{where}: the module is not UTF-8 text") from None
    except ToolError as exc:
        raise BundleError(
            f"{where}: the module is not a crystallized tool ({exc.message})"
        ) from None
    if expected != text:
        raise BundleIntegrityError(
            f"{where}: the module's code is not what the crystallizer generates (edited by hand?)"
        )
    if (found["name"], found["version"], found["source_trace"]) != (
        data["name"],
        data["version"],
        data["source_trace"],
    ):
        raise BundleError(f"{where}: the module and its manifest describe different tools")
    return data


def _check_tool_matches_trace(module: bytes, trace: Any, *, where: str) -> None:
    """A tool runs its own copy of the trace's calls: it must be the same calls and slots."""
    from ..execution.replay.crystallized import module_data

    data = module_data(module.decode("utf-8"))
    if (
        data["calls"] != json.loads(json.dumps([c.to_dict() for c in trace.calls]))
        or data["slots"] != trace.slots
    ):
        raise BundleIntegrityError(
            f"{where}: the tool's calls or slots differ from those of its trace {trace.id}"
        )


def _import_renamed_tool(
    folder: Path, entry: dict[str, Any], bundle: Any, manifest: dict[str, Any], new_trace: str
) -> str:
    """Write the tool of a renamed trace: its module re-rendered to name ``new_trace`` (loading a
    tool checks that it names its trace), under its own id or, when that id is taken in ``folder``,
    the next free version of its name. Returns the tool id written."""
    from ..execution.replay.crystallized import module_data, render_module, sha256_bytes, tool_id

    data = module_data(bundle.files[entry["module"]["path"]].decode("utf-8"))
    name = data["name"]
    taken = (
        [
            int(p.stem.rsplit("_v", 1)[1])
            for p in folder.glob(f"{name}_v*.json")
            if p.stem.rsplit("_v", 1)[-1].isdigit()
        ]
        if folder.is_dir()
        else []
    )
    version = (
        data["version"]
        if not (folder / f"{tool_id(name, data['version'])}.json").exists()
        and not (folder / f"{tool_id(name, data['version'])}.py").exists()
        else max([data["version"], *taken]) + 1
    )
    ident = tool_id(name, version)
    text = render_module(
        name=name,
        version=version,
        source_trace=new_trace,
        goal=data["goal"],
        slots=data["slots"],
        calls=data["calls"],
    ).encode("utf-8")
    meta = dict(manifest)
    history = v if isinstance(v := meta.get("history"), list) else []
    stamp = iso_utc()
    meta.update(
        {
            "version": version,
            "module": f"{ident}.py",
            "sha256": sha256_bytes(text),
            "source_trace": new_trace,
            "history": history
            + [
                {
                    "status": "active",
                    "at": stamp,
                    "reason": f"imported from bundle {bundle.manifest_sha256[:12]} with its "
                    f"trace renamed {entry['source_trace']} -> {new_trace}",
                }
            ],
        }
    )
    try:
        atomic_write_bytes(folder / f"{ident}.py", text)
        atomic_write_bytes(
            folder / f"{ident}.json",
            (json.dumps(meta, indent=2, ensure_ascii=False) + "\n").encode("utf-8"),
        )
    except OSError as exc:
        raise BundleError(f"cannot write {ident} into {folder}: {exc}") from None
    return ident


def _checked_contents(bundle: Any) -> tuple[list[Any], dict[str, dict[str, Any]]]:
    """The bundle's traces, parsed, and its tools' metadata, checked (each tool against its
    trace's calls): a ``BundleError`` on the first problem, before anything is written."""
    from ..learning.traces import TraceFormatError, parse_trace

    where = bundle.source
    incoming = []
    for entry in bundle.traces:
        rel = entry["path"]
        try:
            text = bundle.files[rel].decode("utf-8")
            trace = parse_trace(text, source=rel)
        except UnicodeDecodeError:
            raise BundleError(f"{where}: {rel} is not UTF-8 text") from None
        except TraceFormatError as exc:
            raise BundleError(f"{where}: {exc.message}") from None
        if trace.id != entry["id"]:
            raise BundleError(
                f"{where}: {rel} holds trace {trace.id}, the manifest says {entry['id']}"
            )
        incoming.append(trace)
    tool_data: dict[str, dict[str, Any]] = {}
    by_id = {t.id: t for t in incoming}
    for entry in bundle.tools:
        at = f"{where}: {entry['id']}"
        module = bundle.files[entry["module"]["path"]]
        tool_data[entry["id"]] = _check_tool(
            entry["id"],
            entry["source_trace"],
            module,
            bundle.files[entry["manifest"]["path"]],
            where=at,
        )
        _check_tool_matches_trace(module, by_id[entry["source_trace"]], where=at)
    return incoming, tool_data


def _plan_traces(
    store: Any, incoming: list[Any], report: ImportReport, on_conflict: str
) -> list[tuple[Any, str]]:
    """What to do with each incoming trace: ``(trace, "new" | "rename")``; a trace already
    present unchanged is reported unchanged, a different one with its id is skipped, renamed
    or fails the import (``on_conflict``)."""
    from ..learning.traces import dump_trace

    where = report.source
    plan: list[tuple[Any, str]] = []  # (trace, action): new | rename
    conflicts = []
    for trace in incoming:
        existing = store.index.get(trace.id)
        if existing is None:
            plan.append((trace, "new"))
            continue
        try:
            same = dump_trace(store.get(trace.id)) == dump_trace(trace)
        except LLMOSError:
            same = False
        if same:
            report.unchanged.append(trace.id)
        else:
            conflicts.append((trace, existing))
    if conflicts and on_conflict == "fail":
        ids = ", ".join(t.id for t, _e in conflicts[:5])
        raise BundleError(
            f"{where}: {len(conflicts)} trace id(s) already exist with different content ({ids}); "
            "nothing was imported (use --on-conflict skip or rename)"
        )
    for trace, existing in conflicts:
        if on_conflict == "rename":
            plan.append((trace, "rename"))
        else:
            report.skipped.append(
                {
                    "id": trace.id,
                    "reason": f"a different trace with this id exists in "
                    f"volumes/{existing.volume} (kept; use --on-conflict rename)",
                }
            )
    return plan


def _import_tool(
    folder: Path, entry: dict[str, Any], bundle: Any, data: dict[str, Any], report: ImportReport
) -> bool:
    """Write one tool of the bundle into *folder* unless a tool with its id is there already
    (the same: unchanged; a different one: skipped). True when the tool is now present."""
    ident = entry["id"]
    volume = report.volume
    module = bundle.files[entry["module"]["path"]]
    module_path, meta_path = folder / f"{ident}.py", folder / f"{ident}.json"
    if module_path.exists() or meta_path.exists():
        try:
            same = module_path.read_bytes() == module
        except OSError:
            same = False
        if same and meta_path.exists():
            report.tools_unchanged.append(ident)
            return True
        report.tools_skipped.append(
            {"id": ident, "reason": f"a different {ident} exists in volumes/{volume}/tools"}
        )
        return False
    data = dict(data)
    history = v if isinstance(v := data.get("history"), list) else []
    stamp = iso_utc()
    data["history"] = history + [
        {
            "status": "active",
            "at": stamp,
            "reason": f"imported from bundle {bundle.manifest_sha256[:12]}",
        }
    ]
    try:
        atomic_write_bytes(module_path, module)
        atomic_write_bytes(
            meta_path, (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
        )
    except OSError as exc:
        raise BundleError(f"cannot write {ident} into {folder}: {exc}") from None
    report.tools_imported.append(ident)
    return True


def import_bundle(
    workspace: Any,
    store: Any,
    source: str | os.PathLike[str],
    *,
    volume: str,
    on_conflict: str = "skip",
    expect_sha256: str | None = None,
) -> ImportReport:
    """Verify ``source`` completely, then add its traces and tools to ``volume`` (never overwriting)."""
    from ..execution.replay.crystallized import tools_dir
    from ..learning.store import check_volume
    from ..learning.traces import new_trace_id

    if on_conflict not in ON_CONFLICT:
        raise BundleError(
            f"unknown conflict policy {on_conflict!r} (choose from {', '.join(ON_CONFLICT)})"
        )
    volume = check_volume(volume)
    bundle = read_bundle(source, expect_sha256=expect_sha256)
    where = bundle.source
    # 1. Parse and check everything before writing anything.
    incoming, tool_data = _checked_contents(bundle)
    report = ImportReport(source=where, volume=volume, manifest_sha256=bundle.manifest_sha256)
    plan = _plan_traces(store, incoming, report, on_conflict)
    # 2. Tools first (a trace names its tool only once the tool is in place).
    folder = tools_dir(workspace, volume)
    importable = {t.id for t, action in plan if action == "new"} | set(report.unchanged)
    new_ids = {t.id: new_trace_id() for t, action in plan if action == "rename"}
    renamed_tool: dict[str, str] = {}  # renamed trace's new id -> the tool id it gets
    present_tools: set[str] = set()
    for entry in bundle.tools:
        ident = entry["id"]
        if entry["source_trace"] in new_ids:
            new_tool = _import_renamed_tool(
                folder, entry, bundle, tool_data[ident], new_ids[entry["source_trace"]]
            )
            report.tools_imported.append(new_tool)
            if new_tool != ident:
                report.tools_renamed[ident] = new_tool
            renamed_tool[new_ids[entry["source_trace"]]] = new_tool
            continue
        if entry["source_trace"] not in importable:
            report.tools_skipped.append(
                {"id": ident, "reason": f"its trace {entry['source_trace']} was not imported"}
            )
            continue
        if _import_tool(folder, entry, bundle, tool_data[ident], report):
            present_tools.add(ident)
    # 3. Traces.
    for trace, action in plan:
        if action == "rename":
            old = trace.id
            trace.id = new_ids[old]
            trace.crystallized_tool = renamed_tool.get(
                trace.id
            )  # its tool, re-rendered for the new id
            report.renamed[old] = trace.id
        elif (
            trace.crystallized_tool
            and trace.crystallized_tool not in present_tools
            and not (folder / f"{trace.crystallized_tool}.json").exists()
        ):
            trace.crystallized_tool = None  # never point at a tool this workspace does not have
        store.save(
            trace, volume=volume, own=False
        )  # imported: untrusted until approved (learning/trust.py)
        if action == "new":
            report.imported.append(trace.id)
    events = getattr(store, "events", None)
    if events is not None:
        events.record(
            EventType.BUNDLE_IMPORTED,
            source=where,
            volume=volume,
            manifest_sha256=bundle.manifest_sha256,
            imported=len(report.imported),
            renamed=len(report.renamed),
            skipped=len(report.skipped),
            tools=len(report.tools_imported),
        )
    return report
