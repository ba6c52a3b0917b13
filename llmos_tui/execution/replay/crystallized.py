"""CRYSTALLIZED tools: the generated module format, loading it safely, and running it.

A crystallized tool is a trace compiled into a small, deterministic Python module that lives in
the ``tools/`` folder of the trace's volume, next to a JSON manifest::

    volumes/<scope>/tools/<name>_v<N>.py     the module (never overwritten: versions are kept)
    volumes/<scope>/tools/<name>_v<N>.json   its manifest: name, version, source trace, created_at,
                                             sha256 of the module, status, verification result

The module holds the trace's calls as data (``CALLS``, paths as ``{{cwd}}``) and the trace's slot
values (``SLOTS``), and one function ``run(executor, *, <slot>=<recorded value>, ...,
on_event=None, cancel=None)``. It does no file or process I/O itself: ``run`` hands the calls and
the parameters to :func:`run_calls`, which substitutes the parameters with the same safe rules as a
parameterized FOLLOWER replay (``replay.plan_substitution``) and runs the calls with
``replay.replay`` through the given ``ToolExecutor``. So a crystallized tool is untrusted input
that passes the same checks as a replay: every call is validated and allowed by the policy
pre-hooks before the first one runs, paths are confined to the working directory, Bash runs under
the OS sandbox, and each result is compared with the recorded one.

Importing the module imports nothing (``run`` imports this module lazily), so it is importable in
isolation. Loading it here (:func:`load_tool`) is guarded twice before any of its code runs: the
file's sha256 must equal the manifest's, and the file must be exactly what :func:`render_module`
generates from the data it holds (a module whose code was edited is refused even when someone
also rewrote the manifest's hash). The verified bytes themselves are executed (not a second read
of the file), and the module is never put in ``sys.modules``.

Statuses: ``pending`` (written, not verified yet), ``active`` (verified, registered: the trace's
``crystallized_tool`` names it), ``rejected`` (verification failed; kept for inspection),
``demoted`` (failed in use; the trace went back to FOLLOWER), ``superseded`` (a newer verified
version of the same trace replaced it). Only ``active`` tools run.
"""

from __future__ import annotations

import ast

import importlib.abc
import importlib.util
import json
import keyword
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from ...digest import sha256
from ...errors import LLMOSError
from ...learning.trust import UNTRUSTED
from ...observability.events import EventType
from ...runs import CancelToken, EventSink
from .engine import ReplayResult

GENERATOR_VERSION = 1
MANIFEST_FORMAT = 1
STATUSES = ("pending", "active", "rejected", "demoted", "superseded")
#: Keyword parameters of ``run`` that are not slots.
RESERVED_PARAMS = frozenset({"executor", "on_event", "cancel"})
_NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,79}")
_TOOL_ID_RE = re.compile(r"(?P<name>[a-z][a-z0-9_]{0,79})_v(?P<version>[1-9][0-9]{0,8})")
_PARAM_RE = re.compile(r"[a-z_][a-z0-9_]{0,63}")
_VOLUME_RE = re.compile(r"system|(?:users|teams)/[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_INLINE_WIDTH = 88
_MAX_MODULE_BYTES = 8 * 1024 * 1024


class ToolError(LLMOSError):
    """A crystallized tool cannot be found, loaded or generated."""


class ToolNotFound(ToolError):
    """No crystallized tool with this name in the volumes searched."""


class ToolLoadError(ToolError):
    """A crystallized tool exists but must not run: tampered, malformed or not active."""


class ToolFormatError(ToolError):
    """Data that cannot be written into a crystallized module (not plain JSON, bad slot names)."""


# ---- records ------------------------------------------------------------------------------------


def tool_id(name: str, version: int) -> str:
    return f"{name}_v{version}"


def parse_tool_id(text: str) -> tuple[str, int] | None:
    """``("create_calc_3b5d", 2)`` for ``"create_calc_3b5d_v2"``; None if it is not a tool id."""
    m = _TOOL_ID_RE.fullmatch(text) if isinstance(text, str) else None
    return (m.group("name"), int(m.group("version"))) if m else None


@dataclass
class CrystallizedTool:
    name: str
    version: int
    path: Path  # the module
    manifest_path: Path
    source_trace: str
    goal: str
    volume: str
    slots: dict[str, str]
    status: str
    sha256: str
    created_at: str
    verification: dict[str, Any] = field(default_factory=dict)
    manifest: dict[str, Any] = field(default_factory=dict, repr=False)
    module: Any = field(default=None, repr=False, compare=False)

    @property
    def id(self) -> str:
        return tool_id(self.name, self.version)

    @property
    def active(self) -> bool:
        return self.status == "active"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "version": self.version,
            "path": str(self.path),
            "manifest": str(self.manifest_path),
            "source_trace": self.source_trace,
            "goal": self.goal,
            "volume": self.volume,
            "slots": dict(self.slots),
            "status": self.status,
            "sha256": self.sha256,
            "created_at": self.created_at,
            "verification": self.verification,
            "status_reason": self.manifest.get("status_reason", ""),
        }


@dataclass
class ToolRunResult(ReplayResult):
    """A replay's result (same shape, so the kernel treats both alike) plus which tool ran."""

    tool_id: str = ""
    source_trace: str = ""
    parameters: dict[str, str] = field(
        default_factory=dict
    )  # slot values that differed from the defaults

    def describe(self) -> str:
        head = f"crystallized tool {self.tool_id or '?'}"
        if self.source_trace:
            head += f" (from trace {self.source_trace})"
        if self.parameters:
            head += " with " + ", ".join(f"{k}={v!r}" for k, v in self.parameters.items())
        body = super().describe()
        if not self.steps and not self.success:
            body = f"not run: {self.reason}"
        return f"{head}\n{body}" if body else head


# ---- the module format --------------------------------------------------------------------------


def _escape_char(ch: str, quote: str) -> str:
    code = ord(ch)
    if ch == "\\":
        return "\\\\"
    if ch == quote:
        return "\\" + quote
    if ch == "\n":
        return "\\n"
    if ch == "\t":
        return "\\t"
    if ch == "\r":
        return "\\r"
    if 0x20 <= code < 0x7F:
        return ch
    # Everything else escaped: output does not depend on the Unicode tables of the interpreter.
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _str_literal(text: str) -> str:
    return '"' + "".join(_escape_char(ch, '"') for ch in text) + '"'


def _check_data(value: Any, where: str) -> None:
    if value is None or isinstance(value, (bool, str)):
        if isinstance(value, str) and re.search("[\ud800-\udfff]", value):
            raise ToolFormatError(f"{where}: the text contains an unpaired surrogate")
        return
    if isinstance(value, int):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ToolFormatError(f"{where}: {value!r} cannot be written into a tool")
        return
    if isinstance(value, list):
        for i, item in enumerate(value):
            _check_data(item, f"{where}[{i}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ToolFormatError(f"{where}: keys must be strings, got {key!r}")
            _check_data(item, f"{where}.{key}")
        return
    raise ToolFormatError(f"{where}: {type(value).__name__} values cannot be written into a tool")


def _inline(value: Any) -> str:
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return _str_literal(value)
    if isinstance(value, list):
        return "[" + ", ".join(_inline(v) for v in value) + "]"
    return "{" + ", ".join(f"{_str_literal(k)}: {_inline(v)}" for k, v in value.items()) + "}"


def _literal(value: Any, indent: int) -> str:
    """A deterministic, readable Python literal of JSON data (round-trips with literal_eval)."""
    pad = "    " * (indent + 1)
    end = "    " * indent
    flat = _inline(value)
    if isinstance(value, str):
        if "\n" in value.rstrip("\n") and len(flat) + len(pad) > _INLINE_WIDTH:
            lines = value.splitlines(keepends=True)
            return "(\n" + "".join(f"{pad}{_str_literal(line)}\n" for line in lines) + end + ")"
        return flat
    if not isinstance(value, (list, dict)) or not value or len(flat) + len(pad) <= _INLINE_WIDTH:
        return flat
    if isinstance(value, list):
        return "[\n" + "".join(f"{pad}{_literal(v, indent + 1)},\n" for v in value) + end + "]"
    return (
        "{\n"
        + "".join(f"{pad}{_str_literal(k)}: {_literal(v, indent + 1)},\n" for k, v in value.items())
        + end
        + "}"
    )


def _docstring(text: str) -> str:
    body = "".join("\n" if ch == "\n" else _escape_char(ch, '"') for ch in text)
    return '"""' + body + '\n"""'


def check_slots(slots: Any) -> dict[str, str]:
    """The slots as ``run`` parameters: identifiers (not keywords, not reserved) with text values."""
    if not isinstance(slots, Mapping):
        raise ToolFormatError("the slots must be a mapping of slot name to value")
    out: dict[str, str] = {}
    for key, value in slots.items():
        if (
            not isinstance(key, str)
            or not _PARAM_RE.fullmatch(key)
            or keyword.iskeyword(key)
            or key in RESERVED_PARAMS
        ):
            raise ToolFormatError(f"the slot name {key!r} cannot be a parameter name")
        if not isinstance(value, str):
            raise ToolFormatError(f"slot {key}: the recorded value {value!r} is not text")
        _check_data(value, f"slot {key}")
        out[key] = value
    return out


def check_calls(calls: Any) -> list[dict[str, Any]]:
    """The calls as plain data: ``[{"name", "input", "result"[, "tool_use_id"]}, ...]``."""
    if not isinstance(calls, list) or not calls:
        raise ToolFormatError("a tool needs at least one call")
    out = []
    for i, call in enumerate(calls):
        where = f"call {i + 1}"
        if hasattr(call, "to_dict"):
            call = call.to_dict()
        if not isinstance(call, dict):
            raise ToolFormatError(f"{where}: expected an object")
        unknown = sorted(set(call) - {"name", "input", "result", "tool_use_id"})
        if unknown:
            raise ToolFormatError(f"{where}: unknown keys {unknown}")
        if not isinstance(call.get("name"), str) or not call["name"]:
            raise ToolFormatError(f"{where}: the tool name is missing")
        if not isinstance(call.get("input"), dict) or not isinstance(call.get("result", {}), dict):
            raise ToolFormatError(f"{where}: input and result must be objects")
        if not isinstance(call.get("tool_use_id", ""), str):
            raise ToolFormatError(f"{where}: tool_use_id must be text")
        _check_data(call, where)
        out.append(json.loads(json.dumps(call)))
    return out


def render_module(
    *,
    name: str,
    version: int,
    source_trace: str,
    goal: str,
    slots: Mapping[str, str],
    calls: list[Any],
) -> str:
    """The text of a crystallized tool's module. Deterministic: the same inputs, the same bytes."""
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise ToolFormatError(f"invalid tool name {name!r}")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ToolFormatError(f"invalid tool version {version!r}")
    if (
        not isinstance(source_trace, str)
        or not source_trace
        or not isinstance(goal, str)
        or not goal.strip()
    ):
        raise ToolFormatError("a tool needs its source trace id and goal")
    _check_data(source_trace, "source trace")
    _check_data(goal, "goal")
    params = check_slots(slots)
    data = check_calls(calls)
    ident = tool_id(name, version)
    doc = [f"Crystallized tool {ident}.", "", f"Source trace: {source_trace}", f"Goal: {goal}", ""]
    if params:
        doc.append("Parameters (the values recorded in the trace's goal are the defaults):")
        doc.extend(f"    {key} = {value!r}" for key, value in params.items())
    else:
        doc.append("No parameters: the trace's goal had no slot values.")
    doc += [
        "",
        f"run() performs the trace's {len(data)} tool call{'s' if len(data) != 1 else ''} "
        f"({', '.join(c['name'] for c in data)}) through an llmos",
        "ToolExecutor: the policy pre-hooks allow each call, Bash runs under the OS sandbox, and each",
        "result is compared with the recorded one. This module does no file or process I/O itself.",
        "Generated by llmos; do not edit (an edited tool is refused). Re-crystallize the trace instead.",
    ]
    signature = ", ".join(
        ["executor", "*"]
        + [f"{key}={_str_literal(value)}" for key, value in params.items()]
        + ["on_event=None", "cancel=None"]
    )
    values = "{" + ", ".join(f"{_str_literal(key)}: {key}" for key in params) + "}"
    lines = [
        _docstring("\n".join(doc)),
        "",
        f"TOOL_NAME = {_str_literal(name)}",
        f"VERSION = {version}",
        f"SOURCE_TRACE = {_str_literal(source_trace)}",
        f"GOAL = {_str_literal(goal)}",
        f"GENERATOR = {GENERATOR_VERSION}",
        "",
        "#: Slot values recorded in the trace's goal (the defaults of run's parameters).",
        f"SLOTS = {_literal(params, 0)}",
        "",
        "#: The trace's tool calls; paths inside the working directory are written {{cwd}}.",
        f"CALLS = {_literal(data, 0)}",
        "",
        "",
        f"def run({signature}):",
        '    """Run the calls in executor.cwd with these slot values; returns a ReplayResult."""',
        "    from llmos_tui.execution.replay.crystallized import run_calls",
        "",
        f"    return run_calls(CALLS, SLOTS, {values}, executor, on_event=on_event, cancel=cancel)",
        "",
    ]
    text = "\n".join(lines)
    _self_check(
        text,
        name=name,
        version=version,
        source_trace=source_trace,
        goal=goal,
        slots=params,
        calls=data,
    )
    return text


def _self_check(text: str, **expected: Any) -> None:
    try:
        found = module_data(text)
        compile(text, "<crystallized>", "exec")
    except (SyntaxError, ValueError, ToolError) as exc:  # pragma: no cover - a generator bug
        raise ToolFormatError(f"the generated module does not parse back: {exc}") from None
    for key, value in expected.items():
        if found.get(key) != value:  # pragma: no cover - a generator bug
            raise ToolFormatError(f"the generated module does not hold the same {key}")


_DATA_NAMES = {
    "TOOL_NAME": "name",
    "VERSION": "version",
    "SOURCE_TRACE": "source_trace",
    "GOAL": "goal",
    "GENERATOR": "generator",
    "SLOTS": "slots",
    "CALLS": "calls",
}


def module_data(text: str) -> dict[str, Any]:
    """The data a module holds (its literal assignments), read with ``ast``; nothing is executed."""
    try:
        tree = ast.parse(text)
    except SyntaxError as exc:
        raise ToolLoadError(f"the module does not parse: {exc.msg} (line {exc.lineno})") from None
    out: dict[str, Any] = {}
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id in _DATA_NAMES
        ):
            try:
                out[_DATA_NAMES[node.targets[0].id]] = ast.literal_eval(node.value)
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                raise ToolLoadError(f"{node.targets[0].id} is not a plain literal") from None
    missing = sorted(set(_DATA_NAMES.values()) - set(out))
    if missing:
        raise ToolLoadError(f"the module lacks {', '.join(missing)}")
    return out


def sha256_bytes(data: bytes) -> str:
    return sha256(data).hexdigest()


# ---- manifests and locations --------------------------------------------------------------------


def _volume_ok(volume: str) -> bool:
    return isinstance(volume, str) and bool(_VOLUME_RE.fullmatch(volume)) and ".." not in volume


def tools_dir(workspace: Any, volume: str) -> Path:
    if not _volume_ok(volume):
        raise ToolError(
            f"invalid volume {volume!r}: use 'system', 'teams/<team>' or 'users/<user>'"
        )
    return Path(workspace.volumes_dir) / volume / "tools"


def known_volumes(workspace: Any) -> list[str]:
    """Every volume present in the workspace: users first, then teams, then system."""
    root = Path(workspace.volumes_dir)
    found: list[str] = []
    for kind in ("users", "teams"):
        try:
            names = sorted(p.name for p in (root / kind).iterdir() if p.is_dir())
        except OSError:
            continue
        found.extend(f"{kind}/{n}" for n in names if _volume_ok(f"{kind}/{n}"))
    if (root / "system").is_dir():
        found.append("system")
    return found


def read_manifest(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ToolNotFound(f"the tool manifest {path} does not exist") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ToolLoadError(f"the tool manifest {path} cannot be read ({exc})") from None
    if not isinstance(data, dict):
        raise ToolLoadError(f"the tool manifest {path} is not a JSON object")
    problems = []
    for key, kind in (
        ("name", str),
        ("version", int),
        ("source_trace", str),
        ("sha256", str),
        ("status", str),
        ("module", str),
    ):
        if not isinstance(data.get(key), kind) or isinstance(data.get(key), bool):
            problems.append(key)
    if problems:
        raise ToolLoadError(f"the tool manifest {path} lacks or has a bad {', '.join(problems)}")
    if data["status"] not in STATUSES:
        raise ToolLoadError(f"the tool manifest {path} has an unknown status {data['status']!r}")
    if (
        not _NAME_RE.fullmatch(data["name"])
        or data["version"] < 1
        or Path(path).name != f"{tool_id(data['name'], data['version'])}.json"
        or data["module"] != f"{tool_id(data['name'], data['version'])}.py"
    ):
        raise ToolLoadError(f"the tool manifest {path} does not describe {Path(path).stem}")
    return data


def tool_from_manifest(path: Path, data: Mapping[str, Any], volume: str) -> CrystallizedTool:
    slots = v if isinstance(v := data.get("slots"), dict) else {}
    return CrystallizedTool(
        name=data["name"],
        version=data["version"],
        path=Path(path).with_name(data["module"]),
        manifest_path=Path(path),
        source_trace=data["source_trace"],
        goal=str(data.get("goal", "")),
        volume=volume,
        slots={str(k): v for k, v in slots.items()},
        status=data["status"],
        sha256=data["sha256"],
        created_at=str(data.get("created_at", "")),
        verification=v if isinstance(v := data.get("verification"), dict) else {},
        manifest=dict(data),
    )


def list_tools(
    workspace: Any,
    volumes: Iterable[str] | None = None,
    *,
    status: str | None = None,
    source_trace: str | None = None,
) -> list[CrystallizedTool]:
    """Tools described by readable manifests (modules not loaded), by volume then name and version."""
    out = []
    for volume in list(volumes) if volumes is not None else known_volumes(workspace):
        folder = tools_dir(workspace, volume)
        try:
            names = sorted(p.name for p in folder.iterdir() if p.suffix == ".json")
        except OSError:
            continue
        for filename in names:
            stem = filename[:-5]
            if parse_tool_id(stem) is None:
                continue
            try:
                data = read_manifest(folder / filename)
            except ToolError:
                continue
            if status is not None and data["status"] != status:
                continue
            if source_trace is not None and data["source_trace"] != source_trace:
                continue
            out.append(tool_from_manifest(folder / filename, data, volume))
    out.sort(key=lambda t: (t.volume, t.name, t.version))
    return out


# ---- loading --------------------------------------------------------------------------------------


class _VerifiedSource(importlib.abc.SourceLoader):
    """Loads a module from bytes already checked, under its file name; no bytecode cache."""

    def __init__(self, path: Path, data: bytes) -> None:
        self._path = str(path)
        self._data = data

    def get_filename(self, fullname: str) -> str:
        return self._path

    def get_data(self, path: str) -> bytes:
        return self._data


def _record_refusal(workspace: Any, tool: CrystallizedTool, reason: str) -> None:
    try:
        from ...observability.events import EventLog

        EventLog(workspace.events_file).record(
            EventType.TOOL_REFUSED,
            tool=tool.id,
            trace_id=tool.source_trace,
            reason=reason[:500],
            notify_user=True,
        )
    except Exception:  # noqa: BLE001 - reporting must not hide the refusal itself
        pass


def load_module(tool: CrystallizedTool, *, workspace: Any = None) -> Any:
    """Import ``tool``'s module after checking it; sets and returns ``tool.module``.

    Refused (``ToolLoadError``) when the file's sha256 differs from the manifest's, when the
    file is not exactly what the generator makes of the data it holds, or when that data does
    not agree with the manifest. Nothing of the file runs before these checks pass.
    """
    try:
        size = os.stat(tool.path).st_size
        if size > _MAX_MODULE_BYTES:
            raise ToolLoadError(f"the module {tool.path} is too large ({size} bytes)")
        raw = Path(tool.path).read_bytes()
    except FileNotFoundError:
        raise ToolLoadError(f"the module of tool {tool.id} is missing ({tool.path})") from None
    except OSError as exc:
        raise ToolLoadError(f"the module of tool {tool.id} cannot be read: {exc}") from None

    def refuse(reason: str) -> ToolLoadError:
        if workspace is not None:
            _record_refusal(workspace, tool, reason)
        return ToolLoadError(f"tool {tool.id} refused: {reason}")

    digest = sha256_bytes(raw)
    if digest != tool.sha256:
        raise refuse(
            f"its module {tool.path.name} was modified (sha256 {digest[:12]}…, the manifest "
            f"records {tool.sha256[:12]}…)"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise refuse("its module is not UTF-8 text") from None
    try:
        data = module_data(text)
    except ToolLoadError as exc:
        raise refuse(str(exc)) from None
    if data["generator"] != GENERATOR_VERSION:
        raise refuse(
            f"it was generated by crystallizer format {data['generator']!r}, this llmos reads "
            f"{GENERATOR_VERSION}; crystallize the trace again"
        )
    try:
        expected = render_module(
            name=data["name"],
            version=data["version"],
            source_trace=data["source_trace"],
            goal=data["goal"],
            slots=data["slots"],
            calls=data["calls"],
        )
    except ToolError as exc:
        raise refuse(f"its data cannot be a tool: {exc}") from None
    if expected != text:
        raise refuse("its code is not what the crystallizer generates (edited by hand?)")
    if (data["name"], data["version"], data["source_trace"]) != (
        tool.name,
        tool.version,
        tool.source_trace,
    ):
        raise refuse("the module and its manifest describe different tools")
    if data["slots"] != tool.slots:
        raise refuse("the module's slots differ from the manifest's")
    modname = f"llmos_crystallized_{tool.id}_{digest[:8]}"
    loader = _VerifiedSource(tool.path, raw)
    spec = importlib.util.spec_from_file_location(modname, str(tool.path), loader=loader)
    if spec is None:  # pragma: no cover - only for a path importlib cannot handle
        raise refuse("importlib cannot make a module spec for it")
    module = importlib.util.module_from_spec(spec)
    try:
        loader.exec_module(module)  # never inserted into sys.modules
    except Exception as exc:  # noqa: BLE001 - a broken module is a refusal, not a traceback
        raise refuse(f"importing it failed: {type(exc).__name__}: {exc}") from None
    if not callable(getattr(module, "run", None)):  # pragma: no cover - the render check covers it
        raise refuse("it has no run() function")
    tool.module = module
    return module


def _resolve(workspace: Any, name: str, volumes: list[str]) -> list[tuple[Path, str]]:
    """Manifest paths that ``name`` may mean: the exact id first, else every version of the name."""
    exact = parse_tool_id(name)
    if exact is not None:
        hits = [(tools_dir(workspace, v) / f"{name}.json", v) for v in volumes]
        hits = [(p, v) for p, v in hits if p.is_file()]
        if hits:
            return hits[:1]
    if not _NAME_RE.fullmatch(name):
        return []
    found = []
    for volume in volumes:
        folder = tools_dir(workspace, volume)
        try:
            names = [p.name for p in folder.iterdir()]
        except OSError:
            continue
        for filename in names:
            parsed = parse_tool_id(filename[:-5]) if filename.endswith(".json") else None
            if parsed is not None and parsed[0] == name:
                found.append((folder / filename, volume))
    return found


def load_tool(
    workspace: Any, name: str, *, volumes: Iterable[str] | None = None, allow_inactive: bool = False
) -> CrystallizedTool:
    """The tool ``name`` (an id ``<name>_v<N>``, or a bare name: its newest active version), loaded.

    ``volumes`` limits the search (the kernel passes the volumes the user may see).
    Raises ``ToolNotFound`` or ``ToolLoadError`` (tampered, malformed, not active).
    """
    if not isinstance(name, str) or not name or len(name) > 120:
        raise ToolNotFound(f"invalid tool name {name!r}")
    searched = list(volumes) if volumes is not None else known_volumes(workspace)
    for volume in searched:
        tools_dir(workspace, volume)  # validates
    candidates = _resolve(workspace, name, searched)
    if not candidates:
        raise ToolNotFound(f"no crystallized tool named {name!r} (see volumes/*/tools/)")
    tools = []
    for path, volume in candidates:
        data = read_manifest(path)
        tools.append(tool_from_manifest(path, data, volume))
    exact = parse_tool_id(name) is not None and len(tools) == 1 and tools[0].id == name
    if not exact:
        active = [t for t in tools if t.active]
        if not active and not allow_inactive:
            raise ToolLoadError(
                f"tool {name!r} has no active version "
                f"({', '.join(f'{t.id}: {t.status}' for t in tools)})"
            )
        tools = sorted(active or tools, key=lambda t: t.version)
    tool = tools[-1]
    if not tool.active and not allow_inactive:
        why = tool.manifest.get("status_reason") or ""
        raise ToolLoadError(f"tool {tool.id} is {tool.status}" + (f": {why}" if why else ""))
    load_module(tool, workspace=workspace)
    return tool


def find_tool_for_trace(
    workspace: Any, trace_id: str, *, volumes: Iterable[str] | None = None, hint: str | None = None
) -> CrystallizedTool | None:
    """The newest active, loadable tool crystallized from ``trace_id``, or None.

    ``hint`` (the trace's ``crystallized_tool``) is tried first, which avoids listing folders.
    A tampered tool is not returned (and a ``TOOL_REFUSED`` event says why).
    """
    searched = list(volumes) if volumes is not None else known_volumes(workspace)
    if hint:
        try:
            tool = load_tool(workspace, hint, volumes=searched)
            if tool.source_trace == trace_id:
                return tool
        except ToolError:
            pass
    for tool in sorted(
        list_tools(workspace, searched, status="active", source_trace=trace_id),
        key=lambda t: t.version,
        reverse=True,
    ):
        try:
            load_module(tool, workspace=workspace)
            return tool
        except ToolError:
            continue
    return None


# ---- trust ----------------------------------------------------------------------------------------


def tool_problem(tool: Any, trace: Any) -> str | None:
    """Why a crystallized tool may not run as ``trace``'s tool (None when it runs exactly its calls)."""
    if tool.source_trace != trace.id:
        return f"tool {tool.id} was made from {tool.source_trace}, not {trace.id}"
    module = getattr(tool, "module", None)
    if module is not None and hasattr(module, "CALLS") and hasattr(module, "SLOTS"):
        data = {"calls": module.CALLS, "slots": module.SLOTS}  # the verified bytes that will run
    else:
        try:
            data = module_data(Path(tool.path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, LLMOSError, ValueError, SyntaxError) as exc:
            return f"tool {tool.id} cannot be read ({exc})"
    calls = json.loads(json.dumps([c.to_dict() for c in trace.calls], default=str))
    if data.get("calls") != calls or data.get("slots") != trace.slots:
        return f"tool {tool.id} does not run the calls and slots of its trace {trace.id}"
    return None


def tool_trusted(store: Any, tool: Any) -> bool:
    """A crystallized tool may be offered to a session: its trace is trusted and it runs its calls."""
    try:
        trace = store.get(tool.source_trace)
    except LLMOSError:
        return False
    return store.trust.level(trace) != UNTRUSTED and tool_problem(tool, trace) is None


# ---- running ----------------------------------------------------------------------------------------


def run_calls(
    calls: list[Any],
    slots: Mapping[str, str],
    values: Mapping[str, Any],
    executor: Any,
    *,
    on_event: EventSink | None = None,
    cancel: CancelToken | None = None,
) -> ReplayResult:
    """What a crystallized module's ``run`` does: substitute the slot values that changed (the
    rules of ``replay.plan_substitution``; an unsafe value is refused before anything runs) and
    replay the calls in ``executor.cwd`` through ``executor``."""
    from ...learning.traces import ToolCall
    from .engine import Refusal, plan_substitution, replay

    try:
        data = check_calls(calls)
        defaults = check_slots(slots)
    except ToolFormatError as exc:
        return ReplayResult(False, reason=f"the tool's data is not valid: {exc}", refused=True)
    if not isinstance(values, Mapping):
        return ReplayResult(False, reason="the slot values must be a mapping", refused=True)
    changed: dict[str, str] = {}
    for key, value in values.items():
        if key not in defaults:
            return ReplayResult(False, reason=f"the tool has no parameter {key!r}", refused=True)
        if not isinstance(value, str):
            return ReplayResult(
                False, reason=f"parameter {key}: {value!r} is not text", refused=True
            )
        if value != defaults[key]:
            changed[key] = value
    tool_calls = [
        ToolCall(
            name=c["name"],
            input=c["input"],
            result=c.get("result", {}),
            tool_use_id=c.get("tool_use_id", ""),
        )
        for c in data
    ]
    bindings = None
    if changed:
        planned = plan_substitution(defaults, changed, tool_calls)
        if isinstance(planned, Refusal):
            return ReplayResult(
                False, reason=f"parameter substitution refused: {planned.reason}", refused=True
            )
        bindings = planned
    return replay(
        tool_calls, executor.cwd, executor, bindings=bindings, on_event=on_event, cancel=cancel
    )


def _result(
    tool: CrystallizedTool,
    outcome: ReplayResult | None,
    parameters: dict[str, str],
    *,
    reason: str = "",
    refused: bool = False,
) -> ToolRunResult:
    if outcome is None:
        return ToolRunResult(
            False,
            reason=reason,
            refused=refused,
            tool_id=tool.id,
            source_trace=tool.source_trace,
            parameters=parameters,
        )
    return ToolRunResult(
        outcome.success,
        steps=outcome.steps,
        stopped_at=outcome.stopped_at,
        reason=outcome.reason,
        files_created=outcome.files_created,
        refused=outcome.refused,
        cancelled=outcome.cancelled,
        tool_id=tool.id,
        source_trace=tool.source_trace,
        parameters=parameters,
    )


def run_module(
    tool: CrystallizedTool,
    executor: Any,
    parameters: Mapping[str, str],
    *,
    on_event: EventSink | None = None,
    cancel: CancelToken | None = None,
) -> ToolRunResult:
    """Call the loaded module's ``run`` (whatever the tool's status; ``run_tool`` checks it)."""
    params = dict(parameters)
    if tool.module is None:
        return _result(tool, None, params, reason=f"tool {tool.id} is not loaded", refused=True)
    try:
        outcome = tool.module.run(executor, **params, on_event=on_event, cancel=cancel)
    except Exception as exc:  # noqa: BLE001 - a failing tool is an outcome, not a traceback
        return _result(
            tool, None, params, reason=f"tool {tool.id} raised {type(exc).__name__}: {exc}"
        )
    if not isinstance(outcome, ReplayResult):
        return _result(
            tool,
            None,
            params,
            reason=f"tool {tool.id} returned {type(outcome).__name__}, not a result",
        )
    return _result(tool, outcome, params)


def run_tool(
    tool: CrystallizedTool,
    *,
    cwd: str | os.PathLike[str],
    executor: Any,
    slot_values: Mapping[str, Any] | None,
    on_event: EventSink | None = None,
    cancel: CancelToken | None = None,
) -> ToolRunResult:
    """Run an active tool in ``cwd`` with a goal's slot values (e.g. ``extract_slots(goal)``).

    Slot values equal to the recorded ones are ignored; a key the tool has no parameter for, a
    value that is not text, or a value that cannot be substituted safely refuses the run before
    anything runs (``refused``: the kernel then falls back to FOLLOWER / MIXED). A tool demoted
    (by another process) since it was loaded, or whose manifest changed, is refused too.
    """
    params: dict[str, str] = {}
    if not isinstance(slot_values, Mapping) and slot_values is not None:
        return _result(
            tool,
            None,
            params,
            reason="slot values must be a mapping of slot name to value",
            refused=True,
        )
    try:
        current = read_manifest(tool.manifest_path)
    except ToolError as exc:
        return _result(tool, None, params, reason=str(exc), refused=True)
    if current["status"] != "active":
        why = current.get("status_reason") or ""
        reason = f"tool {tool.id} is {current['status']}" + (f": {why}" if why else "")
        return _result(tool, None, params, reason=reason, refused=True)
    if current["sha256"] != tool.sha256:
        return _result(
            tool,
            None,
            params,
            reason=f"the manifest of tool {tool.id} changed since it was loaded",
            refused=True,
        )
    for key, value in (slot_values or {}).items():
        if key not in tool.slots:
            return _result(
                tool,
                None,
                params,
                refused=True,
                reason=f"the goal has a slot {key}={value!r} that tool {tool.id} has no parameter for",
            )
        if not isinstance(value, str):
            return _result(
                tool, None, params, reason=f"slot {key}: {value!r} is not text", refused=True
            )
        if value != tool.slots[key]:
            params[key] = value
    root = Path(os.path.realpath(os.path.abspath(os.fspath(cwd))))
    if getattr(executor, "cwd", None) != root:
        return _result(
            tool,
            None,
            params,
            refused=True,
            reason=f"the executor runs in {getattr(executor, 'cwd', None)}, not in {root}",
        )
    if tool.module is None:
        try:
            load_module(tool)
        except ToolError as exc:
            return _result(tool, None, params, reason=str(exc), refused=True)
    return run_module(tool, executor, params, on_event=on_event, cancel=cancel)
