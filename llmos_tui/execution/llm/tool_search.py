"""Tool Search: a LEARNER session starts with a small core tool set plus ``search_tools``.

Every tool llmos knows is in a :class:`ToolRegistry`: Claude Code's built-ins, the active
crystallized tools of the user's, team's and system volumes (``volumes/*/tools/<name>_v<N>.json``
manifests, see ``execution/replay/crystallized.py``) and plugins registered programmatically. Only the
core tools (the agent's own list) are offered up front; the rest is found on demand with
``mcp__llmos__search_tools`` (ranked by :meth:`ToolRegistry.search`: rapidfuzz over name,
description and keywords, deterministic) and is then available for the rest of the session.

How the session gets there (the CLI's deferral of MCP tools behind its ``ToolSearch``, and
``tool_reference`` blocks), as observed with the bundled CLI: ``docs/CLAUDE_CLI.md``.

Execution: every registered tool offered through MCP runs in this process through our own
``ToolExecutor`` (built by the kernel with its policy hooks), so each file or shell effect is
checked by the policy, confined to the working directory and sandboxed, and the kernel's capture
hook records the underlying built-in calls (a crystallized tool's ``Write`` and ``Bash``), which
keeps the trace replayable. The MCP calls themselves (``mcp__llmos__*``) are bookkeeping and must
not be recorded as trace calls (:func:`is_own_tool`).

One execution path (the sandbox is the boundary): the CLI never runs a tool that touches files or
starts a process. Claude Code's built-ins of that kind (:data:`EXECUTED_BUILTINS`: Bash, Write,
Edit, MultiEdit, NotebookEdit, Read, Glob, Grep) are never offered to the CLI and are disallowed
by name (:data:`CLI_DISALLOWED`); the model gets llmos's *twins* instead: ``mcp__llmos__Bash``,
``mcp__llmos__Write``, … with the same meaning and input shape, always loaded (never deferred),
run by our ``ToolExecutor`` — the policy hooks, confinement to the working directory and the OS
sandbox for every command. Only the agent's own tools get twins ("withheld" tools are not offered
in any form). The CLI process therefore needs to write nothing but its own state.

No call is invisible: a call our MCP server refuses before running anything (input that does not
fit the tool's schema, an unknown tool name, a ``call_tool`` of a tool not offered) is collected in
``SessionTooling.rejected`` ({name, input, tool_use_id, reason, rule, seq}; rules
:data:`INVALID_INPUT_RULE` / :data:`UNKNOWN_TOOL_RULE`; a twin's name is its built-in's, ``Write``)
and shown as ``ToolCallStarted(decision="reject")`` + ``ToolCallFinished(is_error=True)``.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Sequence

from rapidfuzz import fuzz, process

if TYPE_CHECKING:  # pragma: no cover
    from claude_agent_sdk.types import McpSdkServerConfig

MCP_SERVER = "llmos"
MCP_PREFIX = f"mcp__{MCP_SERVER}__"
SEARCH_TOOL = "search_tools"
CALL_TOOL = "call_tool"
CLI_TOOL_SEARCH = "ToolSearch"
#: The Messages API limits tool names to 64 characters.
MAX_TOOL_NAME = 64
DEFAULT_RESULTS = 5
MAX_RESULTS = 20
MAX_QUERY_CHARS = 500
#: Hits scoring below this are noise (a word shared by accident).
MIN_SCORE = 0.35
#: A search loads the hits scoring at least this share of the best one, at most this many.
LOAD_RATIO = 0.85
MAX_LOADED_PER_SEARCH = 3
MAX_OUTPUT_CHARS = 30_000
#: Non-core tools at or above which they are deferred behind search_tools (config
#: ``execution.tool_search_threshold``); below it they are offered directly.
DEFAULT_THRESHOLD = 10
#: ``rule`` of a call our MCP server refused before running it
INVALID_INPUT_RULE = "mcp.invalid_input"
UNKNOWN_TOOL_RULE = "mcp.unknown_tool"

_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,79}")
_WORD_RE = re.compile(r"[a-z0-9]+")
_STOP = frozenset(
    {
        "a",
        "an",
        "the",
        "to",
        "of",
        "for",
        "and",
        "or",
        "in",
        "on",
        "with",
        "my",
        "me",
        "i",
        "it",
        "is",
        "be",
        "by",
        "at",
        "as",
        "tool",
        "tools",
        "some",
        "this",
        "that",
        "from",
        "into",
    }
)

# Claude Code's built-in tools: one line each, what search_tools matches and shows.
BUILTIN_DESCRIPTIONS: dict[str, str] = {
    "Read": "Read a text file (with line numbers; offset and limit for large files)",
    "Write": "Create a new file or overwrite a file with the given content",
    "Edit": "Edit a file by replacing an exact string with another",
    "MultiEdit": "Apply several exact-string replacements to one file at once",
    "Bash": "Run a shell command in the working directory (sandboxed; exit code and output)",
    "Glob": "Find files by name with a glob pattern such as **/*.py",
    "Grep": "Search file contents with a regular expression (ripgrep-like options)",
    "NotebookEdit": "Replace, insert or delete a cell of a Jupyter notebook (.ipynb)",
    "WebFetch": "Fetch a web page by URL and read its content (needs network access)",
    "WebSearch": "Search the web and return result links (needs network access)",
    "TodoWrite": "Keep a structured to-do list for the current session",
}
BUILTIN_KEYWORDS: dict[str, str] = {
    "Read": "open view show cat file contents",
    "Write": "create save file new",
    "Edit": "modify change replace",
    "MultiEdit": "modify change replace several",
    "Bash": "shell terminal command execute run script",
    "Glob": "list files find paths directory",
    "Grep": "search text regex pattern find in files",
    "NotebookEdit": "jupyter notebook ipynb cell",
    "WebFetch": "http url download internet",
    "WebSearch": "internet google browse",
    "TodoWrite": "plan tasks checklist",
}
#: Claude Code built-ins that touch files or run commands: never run by the CLI, offered as twins.
EXECUTED_BUILTINS = ("Bash", "Write", "Edit", "MultiEdit", "NotebookEdit", "Read", "Glob", "Grep")
#: Built-ins the CLI must never run, whatever ``tools`` says (a second fence: ``--disallowedTools``).
CLI_DISALLOWED = EXECUTED_BUILTINS + (
    "BashOutput",
    "KillShell",
    "KillBash",
    "LS",
    "Skill",
    "SlashCommand",
)
#: What the model reads about each twin (Claude Code's built-ins, as llmos runs them).
TWIN_DESCRIPTIONS: dict[str, str] = {
    "Bash": (
        "Run a bash command in the working directory and return its exit code, stdout and stderr. Every "
        "command runs in llmos's OS sandbox: only the working directory is writable, the home folder and "
        "secrets are hidden, the network is off unless the user allowed it, and nothing it starts outlives "
        "it. 'timeout' is in milliseconds (at most 600000)."
    ),
    "Write": (
        "Create a file or overwrite it with 'content'. 'file_path' is absolute or relative to the working "
        "directory; writes are confined to the working directory. Missing parent folders are created."
    ),
    "Edit": (
        "Replace an exact string in a file: 'old_string' must occur exactly once unless 'replace_all' is "
        "true. Confined to the working directory."
    ),
    "MultiEdit": "Apply several exact-string edits to one file, in order, all or nothing.",
    "NotebookEdit": "Replace, insert or delete a cell of a Jupyter notebook (.ipynb) in the working directory.",
    "Read": (
        "Read a text file, with line numbers ('offset' and 'limit' for large files). Secrets and llmos's "
        "own state are not readable."
    ),
    "Glob": "Find files by glob pattern (e.g. '**/*.py') under 'path' (default: the working directory).",
    "Grep": (
        "Search file contents with a regular expression under 'path' (ripgrep-like options: glob, type, "
        "-i, output_mode files_with_matches|content|count, -n, -A/-B/-C)."
    ),
}


def twin_name(name: str) -> str:
    """The MCP name under which the model sees llmos's twin of a built-in (``mcp__llmos__Bash``)."""
    return MCP_PREFIX + name


def is_twin(name: str) -> bool:
    """A call to one of llmos's twins of Claude Code's file and shell built-ins."""
    return (
        isinstance(name, str)
        and name.startswith(MCP_PREFIX)
        and name[len(MCP_PREFIX) :] in EXECUTED_BUILTINS
    )


def twins_for(core: Iterable[str]) -> list[str]:
    """The built-ins of an agent's tool list that llmos runs itself (``MultiEdit`` comes with ``Edit``)."""
    names = set(core)
    if "Edit" in names:
        names.add("MultiEdit")
    return [n for n in EXECUTED_BUILTINS if n in names]


# Properties of our executors' input schemas that are refused or ignored (not offered).
_HIDDEN_PROPS = {"Read": {"pages"}, "Bash": {"run_in_background", "dangerouslyDisableSandbox"}}
_JSON_TYPES = {
    "string": "string",
    "boolean": "boolean",
    "number": "number",
    "integer": "integer",
    "array": "array",
}


class ToolRegistryError(ValueError):
    """A tool cannot be registered (bad or duplicate name, bad schema)."""


# ---- records ---------------------------------------------------------------------------------

#: A tool runner: (input, executor) -> ToolResult. Runs in a worker thread.
Runner = Callable[[dict[str, Any], Any], "ToolResult"]


@dataclass
class ToolResult:
    """What running a registered tool produced: text for the model, and policy denials."""

    text: str
    is_error: bool = False
    blocked: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class RegisteredTool:
    name: str
    description: str
    input_schema: dict[str, Any]
    source: str  # builtin | crystallized | plugin
    runner: Runner | None = None  # None: cannot run through MCP (a built-in only the CLI runs)
    keywords: str = ""
    volume: str | None = None  # crystallized tools: the volume it lives in
    examples: list[dict[str, Any]] = field(default_factory=list)
    mcp_local: str = ""  # name inside the llmos MCP server (<= 52 chars)

    @property
    def mcp_name(self) -> str:
        return MCP_PREFIX + self.mcp_local

    @property
    def runnable(self) -> bool:
        return self.runner is not None

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "source": self.source,
            "description": self.description,
            "volume": self.volume,
            "mcp_name": self.mcp_name if self.runnable else None,
        }


@dataclass(frozen=True)
class SearchHit:
    tool: RegisteredTool
    score: float


def _mcp_local_name(name: str) -> str:
    limit = MAX_TOOL_NAME - len(MCP_PREFIX)
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", name)
    if len(safe) <= limit:
        return safe
    digest = hashlib.sha1(name.encode("utf-8")).hexdigest()[:8]
    return f"{safe[: limit - 9]}_{digest}"


def _words(text: str) -> list[str]:
    return _WORD_RE.findall(text.lower().replace("_", " "))


def _stem_match(term: str, token: str) -> bool:
    """``image``/``images``, ``convert``/``converting``: one is the other plus a short ending."""
    short, long_ = (term, token) if len(term) <= len(token) else (token, term)
    return len(short) >= 3 and long_.startswith(short) and len(long_) - len(short) <= 3


def _split_camel(name: str) -> str:
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name)


# ---- the registry ----------------------------------------------------------------------------


class ToolRegistry:
    """Every tool llmos knows, searchable. Thread-safe for reads after it is built."""

    def __init__(self) -> None:
        self._tools: dict[str, RegisteredTool] = {}
        self._by_mcp: dict[str, RegisteredTool] = {}
        self._index: list[tuple[RegisteredTool, str, list[str], str]] | None = None
        self._lock = threading.Lock()

    # ---- building --------------------------------------------------------------------
    def register(self, tool: RegisteredTool, *, replace: bool = False) -> RegisteredTool:
        """Add a tool (plugins use this). Names are unique across sources."""
        if not isinstance(tool.name, str) or not _NAME_RE.fullmatch(tool.name):
            raise ToolRegistryError(
                f"invalid tool name {tool.name!r}: letters, digits, '_' or '-', starting "
                f"with a letter, at most 80 characters"
            )
        if not isinstance(tool.description, str) or not tool.description.strip():
            raise ToolRegistryError(f"tool {tool.name!r} needs a description")
        schema = tool.input_schema
        if not isinstance(schema, Mapping) or schema.get("type") != "object":
            raise ToolRegistryError(
                f"tool {tool.name!r}: input_schema must be a JSON schema of type object"
            )
        if tool.source not in ("builtin", "crystallized", "plugin"):
            raise ToolRegistryError(f"tool {tool.name!r}: unknown source {tool.source!r}")
        with self._lock:
            if tool.name in self._tools and not replace:
                raise ToolRegistryError(
                    f"a tool named {tool.name!r} is already registered "
                    f"({self._tools[tool.name].source})"
                )
            tool.mcp_local = tool.mcp_local or _mcp_local_name(tool.name)
            if tool.mcp_local in (SEARCH_TOOL, CALL_TOOL):
                raise ToolRegistryError(f"the name {tool.name!r} is reserved")
            other = self._by_mcp.get(tool.mcp_local)
            if other is not None and other.name != tool.name:
                raise ToolRegistryError(
                    f"tool {tool.name!r} clashes with {other.name!r} once shortened"
                )
            self._tools[tool.name] = tool
            self._by_mcp[tool.mcp_local] = tool
            self._index = None
        return tool

    def register_plugin(
        self,
        name: str,
        description: str,
        input_schema: Mapping[str, Any],
        run: Callable[[dict[str, Any], Any], Any],
        *,
        keywords: str = "",
    ) -> RegisteredTool:
        """A plugin tool: ``run(input, executor)`` returns text (or a ToolResult). Any file or shell
        effect must go through ``executor.execute(name, input)`` so the policy sees it."""

        def runner(tool_input: dict[str, Any], executor: Any) -> ToolResult:
            value = run(tool_input, executor)
            if isinstance(value, ToolResult):
                return value
            return ToolResult(
                value
                if isinstance(value, str)
                else json.dumps(value, ensure_ascii=False, default=str)
            )

        return self.register(
            RegisteredTool(
                name=name,
                description=description,
                input_schema=dict(input_schema),
                source="plugin",
                runner=runner,
                keywords=keywords,
            )
        )

    def add_builtins(self, names: Iterable[str] | None = None) -> None:
        """Claude Code's built-ins. Those our executors run can also be offered through MCP."""
        from ..replay.executors import SUPPORTED_TOOLS

        for name in list(names) if names is not None else list(BUILTIN_DESCRIPTIONS):
            if name in self._tools:
                continue
            runner = _builtin_runner(name) if name in SUPPORTED_TOOLS else None
            self.register(
                RegisteredTool(
                    name=name,
                    description=BUILTIN_DESCRIPTIONS.get(name, f"Claude Code's {name} tool"),
                    input_schema=builtin_schema(name),
                    source="builtin",
                    runner=runner,
                    keywords=BUILTIN_KEYWORDS.get(name, ""),
                )
            )

    def add_crystallized(
        self, workspace: Any, volumes: Iterable[str], *, allow: Callable[[Any], bool] | None = None
    ) -> list[str]:
        """The active crystallized tools of ``volumes`` (first volume wins a name) that ``allow`` accepts
        (the kernel passes its trust check: a shared or imported tool is offered only once approved).
        Returns problems."""
        from ..replay.crystallized import ToolError, list_tools

        problems: list[str] = []
        for volume in volumes:
            try:
                tools = list_tools(workspace, [volume], status="active")
            except ToolError as exc:
                problems.append(str(exc))
                continue
            newest: dict[str, Any] = {}
            for tool in tools:
                if tool.name not in newest or tool.version > newest[tool.name].version:
                    newest[tool.name] = tool
            for tool in newest.values():
                if tool.name in self._tools:
                    continue
                if allow is not None and not allow(tool):
                    problems.append(
                        f"tool {tool.id} in volumes/{volume} is not trusted here (not offered)"
                    )
                    continue
                try:
                    self.register(crystallized_entry(workspace, tool, allow=allow))
                except ToolRegistryError as exc:
                    problems.append(str(exc))
        return problems

    @classmethod
    def for_workspace(
        cls,
        workspace: Any,
        volumes: Iterable[str],
        *,
        plugins: Iterable[RegisteredTool] = (),
        allow: Callable[[Any], bool] | None = None,
    ) -> "ToolRegistry":
        """Built-ins, the crystallized tools of ``volumes`` (in that order of precedence) that ``allow``
        accepts, plugins."""
        registry = cls()
        registry.add_builtins()
        registry.add_crystallized(workspace, list(volumes), allow=allow)
        for plugin in plugins:
            registry.register(plugin)
        return registry

    # ---- reading ---------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._tools)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def get(self, name: str) -> RegisteredTool | None:
        return self._tools.get(name)

    def by_mcp_name(self, name: str) -> RegisteredTool | None:
        local = name[len(MCP_PREFIX) :] if name.startswith(MCP_PREFIX) else name
        return self._by_mcp.get(local)

    def tools(self) -> list[RegisteredTool]:
        return sorted(self._tools.values(), key=lambda t: t.name)

    def set_examples(self, name: str, examples: list[dict[str, Any]]) -> None:
        tool = self._tools.get(name)
        if tool is not None:
            tool.examples = list(examples)

    # ---- search ----------------------------------------------------------------------
    def _search_index(self) -> list[tuple[RegisteredTool, str, list[str], str]]:
        with self._lock:
            if self._index is None:
                rows = []
                for tool in sorted(self._tools.values(), key=lambda t: t.name):
                    name_words = " ".join(_words(_split_camel(tool.name)))
                    hay = f"{name_words} {tool.description} {tool.keywords}".lower()
                    rows.append((tool, hay, sorted(set(_words(hay))), name_words))
                self._index = rows
            return self._index

    def search(
        self, query: str, k: int = DEFAULT_RESULTS, *, exclude: Iterable[str] = ()
    ) -> list[SearchHit]:
        """The ``k`` best tools for ``query``, best first (ties by name). Deterministic.

        ``select:a,b`` picks tools by exact name (registry or MCP name), like the CLI's ToolSearch.
        The score (0-1) weighs the share of query words found in the tool's words (exactly, by
        prefix, or within a small edit distance), rapidfuzz's token-set ratio against the whole
        text, and a partial ratio against the name.
        """
        if not isinstance(query, str):
            return []
        query = query.strip()[:MAX_QUERY_CHARS]
        k = max(1, min(int(k), MAX_RESULTS))
        skip = set(exclude)
        if query.lower().startswith("select:"):
            hits: list[SearchHit] = []
            for raw in query[7:].split(","):
                tool = self.get(raw.strip()) or self.by_mcp_name(raw.strip())
                if (
                    tool is not None
                    and tool.name not in skip
                    and all(h.tool is not tool for h in hits)
                ):
                    hits.append(SearchHit(tool, 1.0))
            return hits[:k]
        terms = [w for w in _words(query) if w not in _STOP] or _words(query)
        if not terms:
            return []
        text = " ".join(terms)
        scored: list[SearchHit] = []
        for tool, hay, tokens, name_words in self._search_index():
            if tool.name in skip:
                continue
            found = 0.0
            for term in terms:
                if term in tokens:
                    found += 1.0
                    continue
                if len(term) >= 3 and any(_stem_match(term, t) for t in tokens):
                    found += 0.85
                    continue
                if len(term) >= 4:
                    best = process.extractOne(term, tokens, scorer=fuzz.ratio, score_cutoff=80)
                    if best is not None:
                        found += 0.7
            overlap = found / len(terms)
            whole = fuzz.token_set_ratio(text, hay) / 100.0
            named = fuzz.partial_ratio(text, name_words) / 100.0 if name_words else 0.0
            score = 0.6 * overlap + 0.25 * whole + 0.15 * named
            if (overlap == 0.0 and whole < 0.6) or score < MIN_SCORE:
                continue
            scored.append(SearchHit(tool, round(score, 6)))
        scored.sort(key=lambda h: (-h.score, h.tool.name))
        return scored[:k]


# ---- built-ins and crystallized tools ----------------------------------------------------------


def builtin_schema(name: str) -> dict[str, Any]:
    """The input schema our executors accept for a built-in (types and required fields)."""
    from ..replay.executors import TOOL_SCHEMAS

    if name not in TOOL_SCHEMAS:
        return {"type": "object", "properties": {}, "additionalProperties": True}
    fields, required = TOOL_SCHEMAS[name]
    hidden = _HIDDEN_PROPS.get(name, set())
    props: dict[str, Any] = {}
    for key, kind in fields.items():
        if key in hidden:
            continue
        prop: dict[str, Any] = {"type": _JSON_TYPES.get(kind, "string")}
        if kind == "array" and name == "MultiEdit":
            prop["items"] = {
                "type": "object",
                "properties": {
                    "old_string": {"type": "string"},
                    "new_string": {"type": "string"},
                    "replace_all": {"type": "boolean"},
                },
                "required": ["old_string", "new_string"],
            }
        props[key] = prop
    return {
        "type": "object",
        "properties": props,
        "required": sorted(required),
        "additionalProperties": False,
    }


def render_outcome(name: str, outcome: Any) -> str:
    """What the model sees of an executor outcome (like the CLI's own tool results)."""
    response = getattr(outcome, "response", None)
    text = ""
    if isinstance(response, dict):
        if name == "Bash":
            parts = [str(response.get("stdout") or ""), str(response.get("stderr") or "")]
            body = "\n".join(p for p in parts if p.strip())
            code = response.get("exitCode")
            text = (f"Exit code {code}\n" if code not in (0, None) else "") + (
                body or "(no output)"
            )
        elif name == "Read" and isinstance(response.get("file"), dict):
            text = str(response["file"].get("content", ""))
        elif "filenames" in response:
            text = "\n".join(map(str, response["filenames"])) or "No files found"
        elif "content" in response and isinstance(response["content"], str):
            text = response["content"]
    if not text:
        text = getattr(outcome, "summary", "") or (
            "error" if getattr(outcome, "is_error", False) else "done"
        )
    return text if len(text) <= MAX_OUTPUT_CHARS else text[: MAX_OUTPUT_CHARS - 1] + "…"


def _builtin_runner(name: str) -> Runner:
    def run(tool_input: dict[str, Any], executor: Any) -> ToolResult:
        outcome = executor.execute(name, tool_input)
        return ToolResult(render_outcome(name, outcome), is_error=bool(outcome.is_error))

    return run


def crystallized_entry(
    workspace: Any, tool: Any, *, allow: Callable[[Any], bool] | None = None
) -> RegisteredTool:
    """A registry entry for an active crystallized tool (its module is loaded and checked on use, and
    ``allow``, the kernel's trust check, is asked again about the module actually loaded)."""
    slots = dict(tool.slots)
    props = {
        key: {"type": "string", "description": f"default: {value!r}"}
        for key, value in sorted(slots.items())
    }
    schema = {"type": "object", "properties": props, "additionalProperties": False}
    params = ", ".join(f"{k} (default {v!r})" for k, v in sorted(slots.items()))
    description = (
        f"Crystallized tool for: {tool.goal or tool.name}. Replays the verified steps of trace "
        f"{tool.source_trace} in the working directory, without an LLM."
        + (f" Parameters: {params}." if params else " No parameters.")
    )
    ident, volume = tool.id, tool.volume

    def run(tool_input: dict[str, Any], executor: Any) -> ToolResult:
        from ..replay.crystallized import ToolError, load_tool, run_tool

        try:
            loaded = load_tool(workspace, ident, volumes=[volume])
        except ToolError as exc:
            return ToolResult(f"tool {ident} cannot run: {exc}", is_error=True)
        if allow is not None and not allow(loaded):
            return ToolResult(
                f"tool {ident} cannot run: it is not trusted here (changed since it was offered?)",
                is_error=True,
            )
        outcome = run_tool(
            loaded, cwd=executor.cwd, executor=executor, slot_values=dict(tool_input)
        )
        text = outcome.describe() or outcome.reason or ("done" if outcome.success else "failed")
        return ToolResult(text, is_error=not outcome.success)

    # The recorded slot values are inputs the tool was verified with: its first example.
    return RegisteredTool(
        name=tool.name,
        description=description,
        input_schema=schema,
        source="crystallized",
        runner=run,
        keywords=tool.goal,
        volume=tool.volume,
        examples=[{k: v for k, v in sorted(slots.items())}] if slots else [],
    )


def is_own_tool(name: str) -> bool:
    """Tools of the llmos MCP server: bookkeeping for the trace (their effects are recorded as the
    built-in calls our executor ran)."""
    return isinstance(name, str) and name.startswith(MCP_PREFIX)


def deferral_supported(model: str | None) -> bool:
    """Whether the bundled CLI defers MCP tools for ``model`` (it does not for Claude 3.x)."""
    return not (model or "").lower().startswith(("claude-3", "claude-2", "claude-instant"))


# ---- the session -------------------------------------------------------------------------------


@dataclass
class SessionTooling:
    """What the kernel passes into a session: see :func:`session_tooling`.

    ``tools`` -> ``SessionRequest.tools`` (ClaudeAgentOptions.tools); ``mcp_servers`` ->
    ClaudeAgentOptions.mcp_servers; ``allowed_tools``/``disallowed_tools`` -> the options of the
    same name (empty: every call still passes our PreToolUse policy hook); ``system_text`` is
    appended to the system prompt; ``post_tool_output(name, input, response)`` is called from the
    PostToolUse hook and, when it returns a list, the hook answers
    ``{"hookSpecificOutput": {"hookEventName": "PostToolUse", "updatedMCPToolOutput": <list>}}``.
    ``blocked`` collects the calls the policy denied inside our MCP tools (same shape as
    ``SessionOutcome.blocked``). ``offered``: the non-core tools sent up front (``direct``) or
    reachable (``deferred``/``dispatch``); ``loaded``: the tools search_tools made available.
    """

    mode: str  # off | twins | direct | deferred | dispatch
    tools: list[str]
    mcp_servers: dict[str, Any] = field(default_factory=dict)
    allowed_tools: list[str] = field(default_factory=list)
    disallowed_tools: list[str] = field(default_factory=list)
    system_text: str = ""
    offered: list[str] = field(default_factory=list)
    loaded: list[str] = field(default_factory=list)
    blocked: list[dict[str, Any]] = field(default_factory=list)
    searches: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)  # calls refused before running
    post_tool_output: Callable[[str, dict[str, Any], Any], Any] | None = None
    twins: list[str] = field(default_factory=list)  # built-ins offered as mcp__llmos__<name>


def session_tooling(
    registry: ToolRegistry,
    core: Iterable[str],
    *,
    executor_factory: Callable[[], Any] | None,
    model: str | None = None,
    threshold: int = DEFAULT_THRESHOLD,
    enabled: bool = True,
    results: int = DEFAULT_RESULTS,
    on_event: Any = None,
    extras: bool = True,
) -> SessionTooling:
    """The tool set of one LEARNER/MIXED session.

    ``core``: the agent's tools. Its file and shell built-ins (:func:`twins_for`) are offered as
    llmos's MCP twins, always loaded; the rest of ``core`` (TodoWrite, WebFetch, …) stays with the
    CLI. With ``extras``, the other runnable tools of ``registry`` (crystallized tools, plugins) are
    offered through the ``llmos`` MCP server too: directly when there are fewer than ``threshold`` of
    them, else deferred behind ``search_tools`` (``mode="deferred"``; Claude 3.x models:
    ``search_tools`` + ``call_tool``, ``mode="dispatch"``). ``enabled=False``
    (``execution.enable_tool_search: false``) offers them all directly.
    ``executor_factory()`` builds the ``ToolExecutor`` (cwd, the session's hooks, sandbox,
    confirm) that runs them; it is called once, on the first call. ``on_event`` receives
    ``ToolCallStarted``/``ToolCallFinished`` for the built-in calls our tools make.
    """
    core_list = [t for t in dict.fromkeys(core)]
    twins = twins_for(core_list)
    cli_core = [t for t in core_list if t not in EXECUTED_BUILTINS]
    extra = (
        [
            t
            for t in registry.tools()
            if t.runnable and t.source != "builtin" and t.name not in core_list
        ]
        if extras
        else []
    )
    if not extra and not twins:
        return SessionTooling(mode="off", tools=cli_core, disallowed_tools=list(CLI_DISALLOWED))
    if not extra:
        mode = "twins"
    elif not enabled or len(extra) < threshold:
        mode = "direct"
    elif deferral_supported(model):
        mode = "deferred"
    else:
        mode = "dispatch"
    state = _SessionState(
        registry, core_list, extra, executor_factory, on_event, mode, results, twins
    )
    tooling = SessionTooling(
        mode=mode,
        tools=list(cli_core),
        offered=[t.name for t in extra],
        twins=list(twins),
        disallowed_tools=list(CLI_DISALLOWED),
    )
    state.tooling = tooling
    if mode == "deferred":
        tooling.tools.append(CLI_TOOL_SEARCH)
    tooling.mcp_servers = {MCP_SERVER: state.server_config()}
    tooling.system_text = state.system_text()
    if mode == "deferred":
        tooling.post_tool_output = state.post_tool_output
    return tooling


class _SessionState:
    def __init__(
        self,
        registry: ToolRegistry,
        core: list[str],
        extra: list[RegisteredTool],
        executor_factory: Callable[[], Any] | None,
        on_event: Any,
        mode: str,
        results: int,
        twins: Sequence[str] = (),
    ) -> None:
        self.registry = registry
        self.core = core
        self.extra = {t.name: t for t in extra}
        self.twins = {
            name: RegisteredTool(
                name=name,
                description=TWIN_DESCRIPTIONS[name],
                input_schema=builtin_schema(name),
                source="builtin",
                runner=_builtin_runner(name),
                mcp_local=name,
            )
            for name in twins
        }
        self.executor_factory = executor_factory
        self.on_event = on_event
        self.mode = mode
        self.results = results
        self.tooling: SessionTooling | None = None
        self._executor: Any = None
        self._lock = threading.Lock()
        # search input key -> (MCP names to load, lines of the weaker matches)
        self._refs: dict[str, tuple[list[str], list[str]]] = {}
        self._calls = 0

    # ---- definitions -----------------------------------------------------------------
    def _definition(self, tool: RegisteredTool) -> dict[str, Any]:
        from ...learning.tool_examples import with_examples

        # Examples ride in the schema's standard ``examples`` keyword: the CLI sends an MCP tool's
        # inputSchema on unchanged (it has no field for the API's input_examples).
        return {
            "name": tool.mcp_local,
            "description": tool.description,
            "inputSchema": with_examples(tool.input_schema, tool.examples),
        }

    def _wire_tools(self) -> list[dict[str, Any]]:
        search = {
            "name": SEARCH_TOOL,
            "description": (
                "Search every tool llmos has (built-ins, tools crystallized from earlier runs, "
                "plugins) by what you need, e.g. 'convert csv to json'. Found tools become "
                "available for the rest of the session. 'select:name1,name2' picks tools by name."
            ),
            "inputSchema": {
                "type": "object",
                "properties": {
                    "query": {
                        "type": "string",
                        "description": "what the tool should do, or select:<names>",
                    },
                    "max_results": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": MAX_RESULTS,
                        "description": f"how many tools to return (default {self.results})",
                    },
                },
                "required": ["query"],
                "additionalProperties": False,
            },
        }
        call = {
            "name": CALL_TOOL,
            "description": "Run a tool that search_tools found: give its name and its input object.",
            "inputSchema": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "input": {"type": "object"}},
                "required": ["name", "input"],
                "additionalProperties": False,
            },
        }
        twins = [
            dict(self._definition(t), _meta={"anthropic/alwaysLoad": True})
            for t in self.twins.values()
        ]
        if self.mode in ("direct", "twins"):
            return twins + [self._definition(t) for t in self.extra.values()]
        if self.mode == "dispatch":
            return twins + [search, call]
        search["_meta"] = {"anthropic/alwaysLoad": True}
        return twins + [search] + [self._definition(t) for t in self.extra.values()]

    def server_config(self) -> McpSdkServerConfig:
        return build_server(MCP_SERVER, self._wire_tools(), self.handle, on_reject=self.reject)

    def reject(self, local_name: str, arguments: Any, reason: str, rule: str) -> None:
        """Record and show a call refused before anything ran (see the module docstring)."""
        from ...runs import ToolCallFinished, ToolCallStarted, next_call_seq

        name = local_name if local_name in self.twins else MCP_PREFIX + local_name
        tool_input = dict(arguments) if isinstance(arguments, Mapping) else {"input": arguments}
        with self._lock:
            self._calls += 1
            tid = f"llmos_rejected_{self._calls}"
        if self.tooling is not None:
            self.tooling.rejected.append(
                {
                    "name": name,
                    "input": tool_input,
                    "tool_use_id": tid,
                    "reason": reason,
                    "rule": rule,
                    "seq": next_call_seq(),
                }
            )
        if self.on_event is not None:
            try:
                self.on_event(ToolCallStarted(tid, name, tool_input, "reject", reason))
                self.on_event(ToolCallFinished(tid, name, True, f"rejected: {reason}"))
            except Exception:  # noqa: BLE001 - display problems never break a tool
                pass

    def system_text(self) -> str:
        twins = ""
        if self.twins:
            twins = (
                "Your file and shell tools are llmos's: "
                + ", ".join(MCP_PREFIX + n for n in self.twins)
                + ". They work like Claude Code's tools of the same names (same inputs); every command runs "
                "in an OS sandbox confined to the working directory."
            )
        if self.mode in ("direct", "twins"):
            return twins
        names = ", ".join(sorted(self.core))
        how = (
            "call it by its mcp__llmos__ name"
            if self.mode == "deferred"
            else "run it with mcp__llmos__call_tool {name, input}"
        )
        return (
            f"Besides your core tools ({names}), llmos has {len(self.extra)} more tools: tools crystallized "
            f"from earlier successful runs, plugins and other built-ins. Before writing a solution from "
            f"scratch, call mcp__llmos__search_tools with a few words describing what you need; when it "
            f"finds a fitting tool, {how}." + (" " + twins if twins else "")
        )

    # ---- calls -----------------------------------------------------------------------
    async def handle(self, name: str, arguments: dict[str, Any]) -> tuple[str, bool]:
        if name in self.twins:
            return await self._run(self.twins[name], arguments)
        if name == SEARCH_TOOL:
            return self._search(arguments)
        if name == CALL_TOOL and self.mode == "dispatch":
            target = arguments.get("name")
            tool = self.extra.get(str(target)) or self.registry.by_mcp_name(str(target))
            if tool is None or tool.name not in self.extra:
                text = f"no tool named {target!r} is available; use search_tools to find one"
                self.reject(CALL_TOOL, arguments, text, UNKNOWN_TOOL_RULE)
                return text, True
            tool_input = arguments.get("input")
            problem = schema_problem(tool.input_schema, tool_input)
            if problem is None and not isinstance(tool_input, dict):
                problem = "the input must be an object"
            if problem or not isinstance(tool_input, dict):
                text = f"Input validation error for {tool.name}: {problem}"
                self.reject(tool.mcp_local, tool_input, text, INVALID_INPUT_RULE)
                return text, True
            return await self._run(tool, tool_input)
        tool = self.registry.by_mcp_name(name)
        if tool is None or tool.name not in self.extra:
            self.reject(name, arguments, f"unknown tool {name!r}", UNKNOWN_TOOL_RULE)
            return f"unknown tool {name!r}", True
        return await self._run(tool, arguments)

    def _search(self, arguments: Mapping[str, Any]) -> tuple[str, bool]:
        query = arguments.get("query")
        if not isinstance(query, str) or not query.strip():
            return "query must be a non-empty string", True
        k = arguments.get("max_results", self.results)
        if isinstance(k, bool) or not isinstance(k, int):
            k = self.results
        hits = self.registry.search(query, k)
        if self.tooling is not None:
            self.tooling.searches.append({"query": query, "hits": [h.tool.name for h in hits]})
        if not hits:
            return f"No tool matches {query!r}. Solve it with your core tools.", False
        # Load the clear winners only (a weak match costs a definition for the rest of the session);
        # the others are listed so the model can pick one with select:<name>.
        runnable = [h for h in hits if h.tool.name in self.extra]
        best = runnable[0].score if runnable else 0.0
        selected = query.strip().lower().startswith("select:")
        strong = [h for h in runnable if selected or h.score >= LOAD_RATIO * best][
            :MAX_LOADED_PER_SEARCH
        ]
        loaded = self.tooling.loaded if self.tooling is not None else []
        lines, refs, others = [], [], []
        for hit in hits:
            tool = hit.tool
            if tool.name in self.twins:
                lines.append(f"- {tool.mcp_name} (already available): {tool.description}")
            elif tool.name in self.core:
                lines.append(f"- {tool.name} (built-in, already available): {tool.description}")
            elif hit in strong:
                definition: dict[str, Any] = {
                    "name": tool.mcp_name,
                    "description": tool.description,
                    "input_schema": tool.input_schema,
                }
                if tool.examples:
                    definition["input_examples"] = tool.examples
                where = f", {tool.volume}" if tool.volume else ""
                lines.append(
                    f"- {tool.mcp_name} ({tool.source}{where}): {json.dumps(definition, ensure_ascii=False)}"
                )
                refs.append(tool.mcp_name)
                if tool.name not in loaded:
                    loaded.append(tool.name)
            elif tool.name in self.extra:
                line = f"- {tool.mcp_name}: {tool.description} (to use it: search_tools select:{tool.name})"
                lines.append(line)
                others.append(line)
            else:
                lines.append(f"- {tool.name} ({tool.source}): not available in this session")
        head = f"{len(hits)} tool(s) for {query!r}, best first"
        if refs and self.mode == "dispatch":
            head += " (run one with mcp__llmos__call_tool {name, input})"
        with self._lock:
            self._refs[_input_key(arguments)] = (refs, others)
        return head + ":\n" + "\n".join(lines), False

    def post_tool_output(
        self, name: str, tool_input: Any, response: Any
    ) -> list[dict[str, Any]] | None:
        """For search_tools: a short text plus ``tool_reference`` blocks that load the found tools."""
        if name != MCP_PREFIX + SEARCH_TOOL or not isinstance(tool_input, Mapping):
            return None
        with self._lock:
            found = self._refs.pop(_input_key(tool_input), None)
        if not found or not found[0]:
            return None
        refs, others = found
        lines = ["Loaded for the rest of the session (call them directly):"]
        for ref in refs:
            tool = self.registry.by_mcp_name(ref)
            lines.append(f"- {ref}: {tool.description if tool else ''}")
        if others:
            lines.append("Weaker matches, not loaded:")
            lines.extend(others)
        return [{"type": "text", "text": "\n".join(lines)}] + [
            {"type": "tool_reference", "tool_name": r} for r in refs
        ]

    async def _run(self, tool: RegisteredTool, tool_input: dict[str, Any]) -> tuple[str, bool]:
        factory, runner = self.executor_factory, tool.runner
        if factory is None or runner is None:
            return f"tool {tool.name} cannot run in this session", True

        def work() -> ToolResult:
            with self._lock:
                if self._executor is None:
                    self._executor = factory()
                executor = self._executor
                self._calls += 1
                call_id = f"llmos_{self._calls}"
            blocked = self.tooling.blocked if self.tooling is not None else []
            return runner(tool_input, _SessionExecutor(executor, self.on_event, call_id, blocked))

        try:
            result = await asyncio.to_thread(work)
        except Exception as exc:  # noqa: BLE001 - a failing tool is a result the model can read
            return f"tool {tool.name} failed: {type(exc).__name__}: {exc}", True
        if result.blocked and self.tooling is not None:
            self.tooling.blocked.extend(result.blocked)
        return result.text, result.is_error


class _SessionExecutor:
    """The session's ToolExecutor as our tools see it: records every call the policy denied
    (``SessionTooling.blocked``) and emits ToolCallStarted/Finished for the calls that ran."""

    def __init__(self, inner: Any, sink: Any, prefix: str, blocked: list[dict[str, Any]]) -> None:
        self._inner = inner
        self._sink = sink
        self._prefix = prefix
        self._blocked = blocked
        self._n = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def _deny(self, name: str, tool_input: Any, reason: str, rule: str, tid: str) -> None:
        from ...runs import next_call_seq

        entry: dict[str, Any] = {
            "name": name,
            "input": dict(tool_input) if isinstance(tool_input, dict) else {},
            "tool_use_id": tid,
            "decision": "deny",
            "reason": reason or "denied",
            "rule": rule,
            "seq": next_call_seq(),
        }
        key = (name, _input_key(entry["input"]))
        if all((b["name"], _input_key(b["input"])) != key for b in self._blocked):
            self._blocked.append(entry)

    def decide(self, name: str, tool_input: dict[str, Any], tool_use_id: str = "") -> Any:
        verdict = self._inner.decide(name, tool_input, tool_use_id)
        if verdict.decision != "allow":
            self._deny(name, tool_input, verdict.reason, verdict.rule, tool_use_id)
        return verdict

    def execute(
        self, name: str, tool_input: Any, tool_use_id: str = "", *, verdict: Any = None
    ) -> Any:
        from ...runs import ToolCallFinished, ToolCallStarted

        self._n += 1
        tid = tool_use_id or f"{self._prefix}_{self._n}"
        outcome = self._inner.execute(name, tool_input, tid, verdict=verdict)
        if getattr(outcome, "status", "") == "denied":
            self._deny(name, tool_input, outcome.reason, outcome.rule, tid)
        if self._sink is not None:
            try:
                self._sink(
                    ToolCallStarted(
                        tid,
                        name,
                        dict(tool_input) if isinstance(tool_input, dict) else {},
                        outcome.decision or "deny",
                        outcome.reason,
                    )
                )
                self._sink(
                    ToolCallFinished(
                        tid,
                        name,
                        bool(outcome.is_error),
                        outcome.summary,
                        diff=getattr(outcome, "diff", "") or "",
                    )
                )
            except Exception:  # noqa: BLE001 - display problems never break a tool
                pass
        return outcome


def _input_key(arguments: Mapping[str, Any]) -> str:
    return json.dumps(dict(arguments), sort_keys=True, ensure_ascii=False, default=str)


# ---- the in-process MCP server -------------------------------------------------------------------

Handler = Callable[[str, dict[str, Any]], Any]  # async (name, arguments) -> (text, is_error)


def build_server(
    name: str,
    definitions: list[dict[str, Any]],
    handle: Handler,
    *,
    on_reject: Callable[[str, Any, str, str], None] | None = None,
) -> McpSdkServerConfig:
    """An in-process SDK MCP server config (``{"type": "sdk", ...}``) for ClaudeAgentOptions.

    Built on the SDK's own tool server so that tool ``_meta`` (``anthropic/alwaysLoad``) reaches
    the CLI; arguments are validated against each tool's schema first (an invalid call is an
    error result the model can read, and ``on_reject(tool_name, arguments, error, rule)`` is told).
    Should a future SDK move that helper, the public
    ``create_sdk_mcp_server`` is used instead (``_meta`` is then lost: search_tools is deferred
    like the other tools but still callable by name).
    """
    import mcp.types as mt
    from claude_agent_sdk import McpSdkServerConfig

    schemas = {d["name"]: d["inputSchema"] for d in definitions}

    async def run_tool(tool_name: str, arguments: dict[str, Any]) -> Any:
        schema = schemas.get(tool_name)
        problem = None
        if schema is None:
            text, rule = f"Tool {tool_name!r} not found", UNKNOWN_TOOL_RULE
        else:
            problem = schema_problem(schema, arguments)
            text, rule = f"Input validation error: {problem}", INVALID_INPUT_RULE
        if schema is None or problem:
            if on_reject is not None:
                try:
                    on_reject(tool_name, arguments, text, rule)
                except Exception:  # noqa: BLE001 - recording never changes the answer
                    pass
            return _result(mt, text, True)
        try:
            text, is_error = await handle(tool_name, dict(arguments))
        except Exception as exc:  # noqa: BLE001
            text, is_error = f"{tool_name} failed: {type(exc).__name__}: {exc}", True
        return _result(mt, text, is_error)

    try:
        # The SDK's own server builder (exported by the package) keeps the tools' _meta and
        # registers the server as safe to cancel; create_sdk_mcp_server is the fallback for an
        # SDK that does not export it (see the docstring).
        from claude_agent_sdk import build_tool_server
    except ImportError:  # pragma: no cover - depends on the SDK's version
        return _public_server(name, definitions, handle)
    wire = [mt.Tool.model_validate({k: v for k, v in d.items()}) for d in definitions]
    server = build_tool_server(name, "1.0.0", wire, run_tool)
    return McpSdkServerConfig(type="sdk", name=name, instance=server)


def schema_problem(schema: Mapping[str, Any], value: Any) -> str | None:
    """Why ``value`` does not fit a tool's input schema (None when it does)."""
    import jsonschema

    if not isinstance(value, dict):
        return "the input must be an object"
    try:
        jsonschema.validate(
            instance=value, schema={k: v for k, v in schema.items() if k != "examples"}
        )
    except jsonschema.ValidationError as exc:
        return exc.message
    except (
        jsonschema.SchemaError
    ) as exc:  # pragma: no cover - registry schemas are checked on use only
        return f"the tool's schema is invalid ({exc.message})"
    return None


def _result(mt: Any, text: str, is_error: bool) -> Any:
    return mt.CallToolResult(
        content=[mt.TextContent(type="text", text=text)], isError=bool(is_error)
    )


def _public_server(
    name: str, definitions: list[dict[str, Any]], handle: Handler
) -> McpSdkServerConfig:  # pragma: no cover
    from claude_agent_sdk import create_sdk_mcp_server, tool

    made = []
    for d in definitions:

        def factory(tool_name: str) -> Any:
            async def run(arguments: dict[str, Any]) -> dict[str, Any]:
                text, is_error = await handle(tool_name, dict(arguments))
                return {"content": [{"type": "text", "text": text}], "is_error": is_error}

            return run

        made.append(
            tool(d["name"], d["description"], copy.deepcopy(d["inputSchema"]))(factory(d["name"]))
        )
    return create_sdk_mcp_server(name, tools=made)
