"""One fail-closed policy engine for every path that runs a tool.

``PolicyEngine.check(tool_name, tool_input, cwd)`` returns allow / ask / deny with a reason and
a short rule id. It is used by the LEARNER PreToolUse hook, the replay executors, crystallized
tools, the orchestrator and the edge runtime alike. It fails closed: malformed input, a shell
parse error, an exception or a time-out is a deny.

* Bash commands are parsed and every command inside them is checked (``shell.py``,
  ``commands.py``, ``interpreters.py``).
* Write/Edit/MultiEdit/NotebookEdit paths are resolved (``~``, ``..``, symlinks) and must stay
  inside the working directory; the workspace's own state files are never writable.
* Read/Glob/Grep may look outside the working directory but never at secrets.
* WebFetch/WebSearch need ``allow_network``; unknown tools are denied.
* What the policy cannot model is ``ask`` in every mode (code it cannot read, a path computed
  at run time, an unknown current directory, programs that run commands it does not follow);
  a headless run without ``--yes`` treats ``ask`` as a deny.
* In the CAUTIOUS and RECOVERY latent modes, risky-but-legal actions (deleting inside the
  working directory, overwriting files, git push, installs, network use) become ``ask``.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Literal

from ...records import record
from .paths import PathContext

if TYPE_CHECKING:  # pragma: no cover
    from ...config import LLMOSConfig
    from ...workspace import Workspace
    from .targets import Finding

Decision = Literal["allow", "ask", "deny"]
CAUTIOUS_MODES = frozenset({"CAUTIOUS", "RECOVERY"})
MAX_COMMAND_CHARS = 100_000
MAX_PATH_CHARS = 4096
MAX_CONTENT_CHARS = 10_000_000
MAX_PATTERN_CHARS = 10_000

# Tools that only touch the agent's own bookkeeping.
HARMLESS_TOOLS = frozenset(
    {
        "TodoWrite",
        "TodoRead",
        "Task",
        "Agent",
        "ExitPlanMode",
        "BashOutput",
        "KillShell",
        "KillBash",
        "ListMcpResourcesTool",
        "ReadMcpResourceTool",
        "AskUserQuestion",
        "EnterPlanMode",
        "ToolSearch",  # the CLI's own deferred-tool loader: it only loads tool schemas
    }
)
OWN_MCP_PREFIX = "mcp__llmos__"
WRITE_TOOLS = {
    "Write": "file_path",
    "Edit": "file_path",
    "MultiEdit": "file_path",
    "NotebookEdit": "notebook_path",
}


@record(frozen=True)
class PolicyDecision:
    """The policy's verdict on one tool call, with the reason and the rule."""

    decision: Decision
    reason: str
    rule: str

    @property
    def allowed(self) -> bool:
        return self.decision == "allow"

    def to_dict(self) -> dict[str, str]:
        return {"decision": self.decision, "reason": self.reason, "rule": self.rule}


class _BadInput(Exception):
    def __init__(self, reason: str, rule: str = "input.malformed") -> None:
        super().__init__(reason)
        self.reason = reason
        self.rule = rule


def _deny(reason: str, rule: str) -> PolicyDecision:
    return PolicyDecision("deny", reason, rule)


_SHELL_READY = False


def _load_shell_analysis() -> None:
    """Load the shell analysis once per process (the bash grammar, the per-program rules, the
    program table) before a check's deadline starts: loading is not analysing a command, and
    on a loaded machine it alone could take more than the 1 s a check may take, so that the
    first Bash call of a process (a replay's) was refused with ``policy.timeout``. A failure
    here is left to the check itself, which fails closed on it."""
    global _SHELL_READY
    if _SHELL_READY:
        return
    try:
        from . import commands, programs, shell  # noqa: F401 - loaded for the checks to come

        shell.load_parser()
        programs.registry()
    except Exception:  # noqa: BLE001 - the check reports it (fail closed)
        return
    _SHELL_READY = True


class PolicyEngine:
    """Decides whether one tool call may run. Thread-safe; cheap to call (BENCHMARKS.md, "Policy")."""

    def __init__(
        self,
        *,
        workspace_root: Path | None = None,
        allow_network: bool = False,
        protected_paths: Iterable[Path] = (),
        timeout_s: float = 1.0,
        extra_allowed_tools: Iterable[str] = (),
    ) -> None:
        self.workspace_root = Path(workspace_root) if workspace_root is not None else None
        self.allow_network = bool(allow_network)
        prot = [Path(p) for p in protected_paths]
        if self.workspace_root is not None:
            root = self.workspace_root
            for p in (root / "state", root / "observability", root / "config.yaml"):
                if p not in prot:
                    prot.append(p)
        self.protected_paths = tuple(prot)
        self.timeout_s = float(timeout_s)
        self.allowed_tools = HARMLESS_TOOLS | frozenset(extra_allowed_tools)

    # ---- public ------------------------------------------------------------------------
    def check(
        self,
        tool_name: str,
        tool_input: Any,
        cwd: str | os.PathLike[str],
        *,
        latent_mode: str | None = None,
    ) -> PolicyDecision:
        """Allow, ask or deny one tool call. Never raises."""
        if tool_name == "Bash":
            _load_shell_analysis()
        start = time.monotonic()
        deadline = start + self.timeout_s
        try:
            decision = self._check(tool_name, tool_input, cwd, latent_mode, deadline)
        except _BadInput as exc:
            return _deny(exc.reason, exc.rule)
        except RecursionError:
            return _deny("the input is nested too deeply to check", "policy.too_complex")
        except MemoryError:
            return _deny("the input is too large to check", "policy.too_complex")
        except Exception as exc:  # noqa: BLE001 - fail closed on anything unexpected
            from .shell import ShellParseError
            from .targets import AnalysisTimeout

            if isinstance(exc, AnalysisTimeout):
                return _deny(
                    f"the policy check took longer than {self.timeout_s:g}s", "policy.timeout"
                )
            if isinstance(exc, ShellParseError):
                return _deny(f"{exc}; it is not run (fail closed)", "shell.parse_error")
            return _deny(
                f"the policy check failed ({type(exc).__name__}: {str(exc)[:200]}); fail closed",
                "policy.error",
            )
        if time.monotonic() > deadline:
            return _deny(f"the policy check took longer than {self.timeout_s:g}s", "policy.timeout")
        return decision

    # ---- dispatch ----------------------------------------------------------------------
    def _check(
        self, tool_name: Any, tool_input: Any, cwd: Any, latent_mode: Any, deadline: float
    ) -> PolicyDecision:
        if (
            not isinstance(tool_name, str)
            or not tool_name
            or len(tool_name) > 200
            or "\x00" in tool_name
        ):
            raise _BadInput("the tool name is missing or not a short string")
        if not isinstance(tool_input, Mapping):
            raise _BadInput(
                f"the input of {tool_name} must be a JSON object, not {type(tool_input).__name__}"
            )
        cautious = isinstance(latent_mode, str) and latent_mode.upper() in CAUTIOUS_MODES
        if tool_name in self.allowed_tools or tool_name.startswith(OWN_MCP_PREFIX):
            return PolicyDecision(
                "allow", f"{tool_name} only changes the agent's own bookkeeping", "tool.harmless"
            )
        if tool_name in ("WebFetch", "WebSearch"):
            return self._web(tool_name, tool_input, cautious)
        if tool_name not in ("Bash", "Read", "Glob", "Grep", "LS") and tool_name not in WRITE_TOOLS:
            return _deny(
                f"unknown tool {tool_name!r}: only known tools are allowed (fail closed)",
                "tool.unknown",
            )
        ctx = self._context(cwd)
        if tool_name == "Bash":
            return self._bash(tool_input, ctx, cautious, deadline)
        if tool_name in WRITE_TOOLS:
            return self._write(tool_name, tool_input, ctx, cautious, deadline)
        return self._read(tool_name, tool_input, ctx, cautious, deadline)

    def _context(self, cwd: Any) -> PathContext:
        if isinstance(cwd, Path):
            cwd = str(cwd)
        if not isinstance(cwd, str) or not cwd or "\x00" in cwd or len(cwd) > MAX_PATH_CHARS:
            raise _BadInput("the working directory is missing or invalid", "input.cwd")
        if not os.path.isabs(cwd):
            cwd = os.path.abspath(cwd)
        return PathContext.build(cwd, self.protected_paths)

    # ---- tools -------------------------------------------------------------------------
    def _bash(
        self, data: Mapping[str, Any], ctx: PathContext, cautious: bool, deadline: float
    ) -> PolicyDecision:
        from .shell import Analyzer

        command = _string(data, "command", limit=MAX_COMMAND_CHARS, what="the Bash command")
        if not command.strip():
            raise _BadInput("the Bash command is empty")
        for key in ("timeout",):
            if (
                key in data
                and data[key] is not None
                and (not isinstance(data[key], (int, float)) or isinstance(data[key], bool))
            ):
                raise _BadInput(f"Bash '{key}' must be a number")
        for key in ("description",):
            if key in data and data[key] is not None and not isinstance(data[key], str):
                raise _BadInput(f"Bash '{key}' must be a string")
        if (
            "run_in_background" in data
            and data["run_in_background"] is not None
            and not isinstance(data["run_in_background"], bool)
        ):
            raise _BadInput("Bash 'run_in_background' must be true or false")
        an = Analyzer(ctx, allow_network=self.allow_network, deadline=deadline)
        an.analyze(command)
        return _verdict(an.findings, cautious, "the command")

    def _write(
        self, tool: str, data: Mapping[str, Any], ctx: PathContext, cautious: bool, deadline: float
    ) -> PolicyDecision:
        from .targets import PathChecks  # not the shell analyzer: a Write runs no command
        from .words import lit

        key = WRITE_TOOLS[tool]
        path = _string(data, key, limit=MAX_PATH_CHARS, what=f"{tool} '{key}'")
        if not path.strip():
            raise _BadInput(f"{tool} '{key}' is empty")
        if tool == "Write":
            _string(
                data, "content", limit=MAX_CONTENT_CHARS, what="Write 'content'", allow_empty=True
            )
        elif tool == "Edit":
            _string(
                data,
                "old_string",
                limit=MAX_CONTENT_CHARS,
                what="Edit 'old_string'",
                allow_empty=True,
            )
            _string(
                data,
                "new_string",
                limit=MAX_CONTENT_CHARS,
                what="Edit 'new_string'",
                allow_empty=True,
            )
            if (
                "replace_all" in data
                and data["replace_all"] is not None
                and not isinstance(data["replace_all"], bool)
            ):
                raise _BadInput("Edit 'replace_all' must be true or false")
        elif tool == "MultiEdit":
            edits = data.get("edits")
            if not isinstance(edits, list) or not edits:
                raise _BadInput("MultiEdit 'edits' must be a non-empty list")
            if len(edits) > 1000:
                raise _BadInput("MultiEdit has too many edits")
            for i, e in enumerate(edits):
                if not isinstance(e, Mapping):
                    raise _BadInput(f"MultiEdit edit {i} must be an object")
                _string(
                    e,
                    "old_string",
                    limit=MAX_CONTENT_CHARS,
                    what=f"MultiEdit edit {i} 'old_string'",
                    allow_empty=True,
                )
                _string(
                    e,
                    "new_string",
                    limit=MAX_CONTENT_CHARS,
                    what=f"MultiEdit edit {i} 'new_string'",
                    allow_empty=True,
                )
        elif tool == "NotebookEdit":
            mode = data.get("edit_mode", "replace")
            if mode is not None and mode not in ("replace", "insert", "delete"):
                raise _BadInput("NotebookEdit 'edit_mode' must be replace, insert or delete")
            if mode != "delete":
                _string(
                    data,
                    "new_source",
                    limit=MAX_CONTENT_CHARS,
                    what="NotebookEdit 'new_source'",
                    allow_empty=True,
                )
        an = PathChecks(ctx, allow_network=self.allow_network, deadline=deadline)
        # "~/x" is treated as the home directory (an executor may expand it), never as "./~/x"
        text = path if path.startswith(("/", "~")) else os.path.join(ctx.root, path)
        an.check_write(lit(text), verb=tool, overwrite_risky=(tool == "Write"))
        return _verdict(an.findings, cautious, f"{tool} {path}")

    def _read(
        self, tool: str, data: Mapping[str, Any], ctx: PathContext, cautious: bool, deadline: float
    ) -> PolicyDecision:
        findings: list[tuple[str, str, str]] = []
        if tool == "Read":
            path = _string(data, "file_path", limit=MAX_PATH_CHARS, what="Read 'file_path'")
            for key in ("offset", "limit"):
                if (
                    key in data
                    and data[key] is not None
                    and (not isinstance(data[key], int) or isinstance(data[key], bool))
                ):
                    raise _BadInput(f"Read '{key}' must be an integer")
            self._read_path(path, ctx, findings, recursive=False)
        elif tool == "LS":
            path = _string(data, "path", limit=MAX_PATH_CHARS, what="LS 'path'")
            self._read_path(path, ctx, findings, recursive=False)
        elif tool == "Glob":
            pattern = _string(data, "pattern", limit=MAX_PATTERN_CHARS, what="Glob 'pattern'")
            base = _optional_string(data, "path", MAX_PATH_CHARS, "Glob 'path'")
            base_text = base or ctx.root
            self._read_path(base_text, ctx, findings, recursive=False, listing=True)
            self._glob_pattern(pattern, base_text, ctx, findings)
        else:  # Grep
            _string(
                data, "pattern", limit=MAX_PATTERN_CHARS, what="Grep 'pattern'", allow_empty=True
            )
            base = _optional_string(data, "path", MAX_PATH_CHARS, "Grep 'path'")
            glob = _optional_string(data, "glob", MAX_PATTERN_CHARS, "Grep 'glob'")
            for key in ("type", "output_mode"):
                _optional_string(data, key, 200, f"Grep '{key}'")
            for key in ("-A", "-B", "-C", "head_limit", "offset"):
                if (
                    key in data
                    and data[key] is not None
                    and (not isinstance(data[key], int) or isinstance(data[key], bool))
                ):
                    raise _BadInput(f"Grep '{key}' must be an integer")
            for key in ("-i", "-n", "multiline"):
                if key in data and data[key] is not None and not isinstance(data[key], bool):
                    raise _BadInput(f"Grep '{key}' must be true or false")
            self._read_path(base or ctx.root, ctx, findings, recursive=True, deadline=deadline)
            if glob:
                self._glob_pattern(glob, base or ctx.root, ctx, findings)
        if time.monotonic() > deadline:
            return _deny("the policy check ran out of time", "policy.timeout")
        denies = [f for f in findings if f[0] == "deny"]
        if denies:
            return PolicyDecision("deny", denies[0][2], denies[0][1])
        asks = [f for f in findings if f[0] == "ask"]
        if asks:
            return PolicyDecision("ask", asks[0][2], asks[0][1])
        risky = [f for f in findings if f[0] == "risky"]
        if risky and cautious:
            return PolicyDecision(
                "ask",
                f"{risky[0][2]} (asked because the system is in a cautious mode)",
                risky[0][1],
            )
        if risky:
            return PolicyDecision("allow", f"allowed; note: {risky[0][2]}", "read.outside_cwd")
        return PolicyDecision("allow", f"{tool} stays within readable locations", "read.ok")

    def _read_path(
        self,
        path: str,
        ctx: PathContext,
        findings: list[tuple[str, str, str]],
        *,
        recursive: bool,
        listing: bool = False,
        deadline: float | None = None,
    ) -> None:
        text = path if path.startswith(("/", "~")) else os.path.join(ctx.root, path)
        real = ctx.resolve(text)
        secret = ctx.secret(real)
        if secret:
            findings.append(("deny", "secrets.read", f"reading {path}: {secret}"))
            return
        if real.startswith(("/dev/tcp/", "/dev/udp/")):
            findings.append(("deny", "network.dev_tcp", f"{path} is a network connection"))
            return
        if recursive and not ctx.inside_root(real) and ctx.holds_secrets(real):
            findings.append(
                ("deny", "secrets.read", f"searching everything under {real} includes credentials")
            )
            return
        if recursive:
            hit, cut = ctx.scan_secrets(real, follow_links=False, deadline=deadline)
            if hit:
                findings.append(
                    (
                        "deny",
                        "secrets.read",
                        f"searching everything under {real} includes a secret: {hit}",
                    )
                )
                return
            if cut and not ctx.inside_root(real):
                findings.append(
                    (
                        "ask",
                        "read.unbounded",
                        f"{real} holds too many files to check them all for secrets",
                    )
                )
        if not ctx.inside_root(real) and not listing:
            findings.append(
                ("risky", "read.outside_cwd", f"{real} is outside the working directory")
            )

    def _glob_pattern(
        self, pattern: str, base: str, ctx: PathContext, findings: list[tuple[str, str, str]]
    ) -> None:
        base_abs = base if base.startswith(("/", "~")) else os.path.join(ctx.root, base)
        base_abs = ctx.expand_user(base_abs) or base_abs
        full = pattern if pattern.startswith(("/", "~")) else os.path.join(base_abs, pattern)
        full = ctx.expand_user(full) or full
        hit = ctx.secret_pattern(os.path.normpath(full))
        if hit:
            findings.append(
                ("deny", "secrets.read", f"the pattern {pattern} reaches a secret location ({hit})")
            )

    def _web(self, tool: str, data: Mapping[str, Any], cautious: bool) -> PolicyDecision:
        if tool == "WebFetch":
            url = _string(data, "url", limit=MAX_PATH_CHARS * 4, what="WebFetch 'url'")
            _optional_string(data, "prompt", MAX_CONTENT_CHARS, "WebFetch 'prompt'")
            if not re.match(r"^https?://", url, re.I):
                return _deny(
                    f"WebFetch only fetches http(s) URLs, not {url[:60]!r}", "network.scheme"
                )
        else:
            _string(data, "query", limit=MAX_PATH_CHARS, what="WebSearch 'query'")
        if not self.allow_network:
            return _deny(
                f"{tool} needs network access, which the configuration does not allow "
                "(execution.allow_network)",
                "network.disabled",
            )
        if cautious:
            return PolicyDecision(
                "ask",
                f"{tool} uses the network (asked because the system is in a cautious mode)",
                "network.web",
            )
        return PolicyDecision(
            "allow", f"{tool} is allowed (network access is enabled)", "network.web"
        )


def _string(
    data: Mapping[str, Any], key: str, *, limit: int, what: str, allow_empty: bool = False
) -> str:
    if key not in data:
        raise _BadInput(f"{what} is missing", "input.missing_key")
    value = data[key]
    if not isinstance(value, str):
        raise _BadInput(f"{what} must be a string, not {type(value).__name__}", "input.wrong_type")
    if len(value) > limit:
        raise _BadInput(
            f"{what} is too long ({len(value)} characters, limit {limit})", "input.too_large"
        )
    if "\x00" in value:
        raise _BadInput(f"{what} contains a NUL byte", "input.nul_byte")
    if not allow_empty and not value:
        raise _BadInput(f"{what} is empty", "input.empty")
    return value


def _optional_string(data: Mapping[str, Any], key: str, limit: int, what: str) -> str | None:
    if key not in data or data[key] is None:
        return None
    return _string(data, key, limit=limit, what=what, allow_empty=True) or None


def _verdict(findings: list[Finding], cautious: bool, subject: str) -> PolicyDecision:
    denies = [f for f in findings if f.level == "deny"]
    if denies:
        first = denies[0]
        extra = (
            f" (and {len(denies) - 1} more problem{'s' if len(denies) > 2 else ''})"
            if len(denies) > 1
            else ""
        )
        return PolicyDecision("deny", first.reason + extra, first.rule)
    asks = [f for f in findings if f.level == "ask"]
    if asks:
        return PolicyDecision(
            "ask", f"{asks[0].reason} (asked: this cannot be checked before it runs)", asks[0].rule
        )
    risky = [f for f in findings if f.level == "risky"]
    if risky and cautious:
        first = risky[0]
        return PolicyDecision(
            "ask", f"{first.reason} (asked because the system is in a cautious mode)", first.rule
        )
    if risky:
        return PolicyDecision("allow", f"allowed; note: {risky[0].reason}", risky[0].rule)
    return PolicyDecision("allow", f"{subject} passed every rule", "policy.ok")


def default_engine(config: "LLMOSConfig", workspace: "Workspace") -> PolicyEngine:
    """The engine for a workspace: its state files protected, network as configured."""
    return PolicyEngine(
        workspace_root=workspace.root,
        allow_network=config.execution.allow_network,
        protected_paths=workspace.protected_paths(),
    )
