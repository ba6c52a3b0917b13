"""Agents defined in markdown: ``agents/*.md`` with frontmatter and a prompt body.

Format::

    ---
    name: haiku-poet                  # required; equals the file name without .md
    description: Writes haiku ...     # required
    tools: [Read, Write, Edit, Glob]  # known tool names (or mcp__* tools)
    model: claude-sonnet-4-5          # optional
    version: 1                        # positive integer, raised by each evolution
    constraints:                      # optional list of rules appended to the prompt
      - Keep to 5-7-5 syllables.
    ---
    You are a haiku poet. ...

``AgentRegistry(agents_dir).get(name)`` re-parses a file only when its (mtime, size, inode)
changed, so an edited agent is used on the next run without a restart; when an edit leaves
the file invalid, the last valid version stays in use and the error is reported in
``registry.errors``. ``create_agent`` writes a new agent atomically and checks it parses;
``draft_from_goal`` turns a goal such as "Create a haiku poet agent" into a draft.
Old versions kept by evolution live in ``agents/.versions/<name>.v<N>.md``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..atomic import atomic_write_text, file_lock
from ..errors import LLMOSError

REQUIRED = ("name", "description")
KNOWN_TOOLS = {
    "Read",
    "Write",
    "Edit",
    "MultiEdit",
    "Bash",
    "Glob",
    "Grep",
    "NotebookEdit",
    "WebFetch",
    "WebSearch",
    "TodoWrite",
    "Task",
    "BashOutput",
    "KillShell",
}
FIELD_ORDER = ("name", "description", "tools", "model", "version", "constraints")
VERSIONS_DIR = ".versions"
MAX_PROMPT_CHARS = 100_000
MAX_CONSTRAINTS = 50
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class AgentFormatError(LLMOSError):
    pass


class AgentNotFound(AgentFormatError):
    pass


@dataclass
class AgentSpec:
    name: str
    description: str
    prompt: str
    tools: list[str] = field(default_factory=list)
    model: str | None = None
    version: int = 1
    constraints: list[str] = field(default_factory=list)
    path: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # other frontmatter keys, kept on rewrite

    def system_text(self) -> str:
        lines = [self.prompt.strip()]
        if self.constraints:
            lines.append("Constraints:")
            lines.extend(f"- {c}" for c in self.constraints)
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "tools": list(self.tools),
            "model": self.model,
            "version": self.version,
            "constraints": list(self.constraints),
            "prompt": self.prompt,
            "path": str(self.path) if self.path else None,
        }


def check_name(name: Any) -> str:
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name) or ".." in name:
        raise AgentFormatError(
            f"invalid agent name {name!r}: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def check_tools(tools: Any, source: str = "") -> list[str]:
    where = f"{source}: " if source else ""
    if isinstance(tools, str):
        tools = [t.strip() for t in tools.split(",") if t.strip()]
    if tools is None:
        tools = []
    if not isinstance(tools, list) or not all(isinstance(t, str) for t in tools):
        raise AgentFormatError(f"{where}'tools' must be a list of tool names")
    unknown = [t for t in tools if t not in KNOWN_TOOLS and not t.startswith("mcp__")]
    if unknown:
        raise AgentFormatError(
            f"{where}unknown tool(s) {', '.join(unknown)} (known: {', '.join(sorted(KNOWN_TOOLS))})"
        )
    return list(dict.fromkeys(tools))


def parse_agent(text: str, source: str = "") -> AgentSpec:
    from edgekit.frontmatter import FrontmatterError, read, split

    from ..yamlio import MAX_YAML_BYTES, YAMLLoadError, check_size

    text = text.strip()
    try:
        check_size(text, MAX_YAML_BYTES + MAX_PROMPT_CHARS * 4)
    except YAMLLoadError as exc:
        raise AgentFormatError(f"{source}: broken frontmatter: {exc}") from None
    try:
        split(text)
    except FrontmatterError:
        raise AgentFormatError(
            f"{source}: no frontmatter (a '---' block with name and description)"
        ) from None
    try:
        meta, prompt = read(text)  # no anchors or aliases, 1 MiB of YAML at most
    except FrontmatterError as exc:
        raise AgentFormatError(f"{source}: {exc}") from None
    prompt = prompt.strip()
    if not meta:
        raise AgentFormatError(
            f"{source}: no frontmatter (a '---' block with name and description)"
        )
    for key in REQUIRED:
        if not isinstance(meta.get(key), str) or not meta[key].strip():
            raise AgentFormatError(f"{source}: missing or empty '{key}'")
    try:
        check_name(meta["name"].strip())
    except AgentFormatError as exc:
        raise AgentFormatError(f"{source}: {exc.message}") from None
    tools = check_tools(meta.get("tools", []), source)
    constraints = meta.get("constraints", [])
    if constraints is None:
        constraints = []
    if isinstance(constraints, str):
        constraints = [constraints]
    if not isinstance(constraints, list) or not all(
        isinstance(c, (str, int, float)) for c in constraints
    ):
        raise AgentFormatError(f"{source}: 'constraints' must be a list of sentences")
    version = meta.get("version", 1)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise AgentFormatError(f"{source}: 'version' must be a positive integer")
    model = meta.get("model")
    if model is not None and (not isinstance(model, str) or not model.strip()):
        raise AgentFormatError(f"{source}: 'model' must be a model name")
    if not prompt:
        raise AgentFormatError(f"{source}: the prompt body is empty")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise AgentFormatError(f"{source}: the prompt is longer than {MAX_PROMPT_CHARS} characters")
    extra = {k: v for k, v in meta.items() if k not in FIELD_ORDER}
    return AgentSpec(
        name=meta["name"].strip(),
        description=meta["description"].strip(),
        prompt=prompt,
        tools=tools,
        model=model,
        version=version,
        constraints=[str(c) for c in constraints],
        extra=extra,
    )


def dump_agent(spec: AgentSpec) -> str:
    """The file text for *spec*: tools as a flow list, constraints one per line, then the prompt."""
    from edgekit.frontmatter import dump_yaml, join

    head = dump_yaml({"name": spec.name, "description": spec.description})
    head += "tools: " + dump_yaml(list(spec.tools), flow=True)
    if spec.model:
        head += dump_yaml({"model": spec.model})
    head += f"version: {int(spec.version)}\n"
    if spec.constraints:
        head += dump_yaml({"constraints": list(spec.constraints)})
    extra = {k: v for k, v in spec.extra.items() if k not in FIELD_ORDER}
    if extra:
        head += dump_yaml(extra)
    return join(head, f"{spec.prompt.strip()}\n")


def load_agent(agents_dir: Path, name: str) -> AgentSpec:
    check_name(name)
    path = Path(agents_dir) / f"{name}.md"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AgentNotFound(f"no agent named {name!r} in {agents_dir}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise AgentFormatError(f"{path}: cannot read the file: {exc}") from None
    spec = parse_agent(text, str(path))
    if spec.name != name:
        raise AgentFormatError(
            f"{path}: the name {spec.name!r} does not match the file name {name}.md"
        )
    spec.path = path
    return spec


def write_agent(agents_dir: Path, spec: AgentSpec) -> Path:
    """Write *spec* atomically as ``agents_dir/<name>.md`` after checking it parses back; secrets
    in its description, prompt and constraints are redacted first (``llmos_tui/redact.py``)."""
    check_name(spec.name)
    from ..redact import redact_obj

    description, prompt, constraints = redact_obj(
        [spec.description, spec.prompt, list(spec.constraints)]
    )
    spec.description, spec.prompt, spec.constraints = description, prompt, list(constraints)
    text = dump_agent(spec)
    parse_agent(text, f"{spec.name}.md (new)")
    path = Path(agents_dir) / f"{spec.name}.md"
    atomic_write_text(path, text)
    spec.path = path
    return path


def create_agent(
    agents_dir: Path,
    name: str,
    description: str,
    tools: list[str] | str,
    prompt: str,
    *,
    model: str | None = None,
    constraints: list[str] | None = None,
    overwrite: bool = False,
) -> AgentSpec:
    """Create ``agents/<name>.md``; usable at once (the registry sees the new file)."""
    check_name(name)
    if not isinstance(description, str) or not description.strip():
        raise AgentFormatError("an agent needs a description")
    if not isinstance(prompt, str) or not prompt.strip():
        raise AgentFormatError("an agent needs a prompt")
    spec = AgentSpec(
        name=name,
        description=" ".join(description.split()),
        prompt=prompt.strip() + "\n",
        tools=check_tools(tools),
        model=model or None,
        version=1,
        constraints=[str(c) for c in (constraints or [])],
    )
    agents_dir = Path(agents_dir)
    agents_dir.mkdir(parents=True, exist_ok=True)
    path = agents_dir / f"{name}.md"
    with file_lock(path):
        if path.exists() and not overwrite:
            raise AgentFormatError(
                f"an agent named {name!r} exists already ({path}); choose another name"
            )
        write_agent(agents_dir, spec)
    return spec


# ---- versions ------------------------------------------------------------------------------


def versions_dir(agents_dir: Path) -> Path:
    return Path(agents_dir) / VERSIONS_DIR


def version_path(agents_dir: Path, name: str, version: int) -> Path:
    return versions_dir(agents_dir) / f"{name}.v{version}.md"


def list_versions(agents_dir: Path, name: str) -> list[int]:
    out = []
    for p in versions_dir(agents_dir).glob(f"{name}.v*.md"):
        m = re.fullmatch(re.escape(name) + r"\.v(\d+)\.md", p.name)
        if m:
            out.append(int(m.group(1)))
    return sorted(out)


def replace_agent(agents_dir: Path, old: AgentSpec, new: AgentSpec) -> Path:
    """Keep the current file as ``.versions/<name>.v<old.version>.md`` and write *new* in its place."""
    agents_dir = Path(agents_dir)
    path = agents_dir / f"{old.name}.md"
    with file_lock(path):
        current = path.read_text(encoding="utf-8")
        backup = version_path(agents_dir, old.name, old.version)
        if not backup.exists():
            atomic_write_text(backup, current)
        write_agent(agents_dir, new)
    return backup


# ---- registry with hot reload --------------------------------------------------------------------


class AgentRegistry:
    """Agents of one folder, re-parsed only when a file changes."""

    def __init__(self, agents_dir: Path) -> None:
        self.agents_dir = Path(agents_dir)
        self._cache: dict[str, tuple[tuple[int, int, int], AgentSpec]] = {}
        self.errors: dict[
            str, str
        ] = {}  # name -> why its file is invalid (last good copy still used)
        self.loads = 0  # files parsed (for tests and stats)

    @staticmethod
    def _sig(path: Path) -> tuple[int, int, int]:
        st = os.stat(path)
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def get(self, name: str) -> AgentSpec:
        check_name(name)
        path = self.agents_dir / f"{name}.md"
        try:
            sig = self._sig(path)
        except FileNotFoundError:
            self._cache.pop(name, None)
            self.errors.pop(name, None)
            raise AgentNotFound(f"no agent named {name!r} in {self.agents_dir}") from None
        cached = self._cache.get(name)
        if cached is not None and cached[0] == sig:
            return cached[1]
        try:
            self.loads += 1
            spec = load_agent(self.agents_dir, name)
        except AgentNotFound:
            raise
        except AgentFormatError as exc:
            self.errors[name] = exc.message
            if cached is not None:
                return cached[1]  # keep using the last valid version while the file is broken
            raise
        self.errors.pop(name, None)
        self._cache[name] = (sig, spec)
        return spec

    def names(self) -> list[str]:
        if not self.agents_dir.is_dir():
            return []
        return sorted(p.stem for p in self.agents_dir.glob("*.md") if not p.name.startswith("."))

    def all(self) -> list[AgentSpec]:
        """Every valid agent; invalid files are listed in ``errors``."""
        out = []
        for name in self.names():
            try:
                out.append(self.get(name))
            except AgentFormatError as exc:
                self.errors[name] = exc.message
        return out


class LayeredAgentRegistry(AgentRegistry):
    """Several agent folders, the first winning a name clash (project agents over workspace agents)."""

    def __init__(self, *dirs: Path) -> None:
        super().__init__(Path(dirs[-1]))
        self.layers = [AgentRegistry(Path(d)) for d in dirs]

    def get(self, name: str) -> AgentSpec:
        for layer in self.layers[:-1]:
            if (layer.agents_dir / f"{name}.md").exists():
                return layer.get(name)
        return self.layers[-1].get(name)

    def names(self) -> list[str]:
        return sorted({n for layer in self.layers for n in layer.names()})


# ---- agents from goals ------------------------------------------------------------------------------

_CREATE_RE = re.compile(
    r"^\s*(?:please\s+)?(?:create|make|build|add|define|set\s+up|design|write)\s+(?:me\s+)?"
    r"(?:(?:a|an|the|new|another)\s+)*(?P<role>[\w][\w' -]{0,60}?)\s+agent"
    r"(?P<rest>(?:\s*[,:;-]|\s+(?:that|which|who|to|for|with|called|named|whose)\b).*|\s*[.!]?)\s*$",
    re.IGNORECASE | re.DOTALL,
)
_AGENT_FOR_RE = re.compile(
    r"^\s*(?:please\s+)?(?:create|make|build|add|define|set\s+up|design|write)\s+(?:me\s+)?"
    r"(?:(?:a|an|the|new|another)\s+)*agent\s+(?:that|which|who|to|for)\s+(?P<task>.+?)\s*[.!]?\s*$",
    re.IGNORECASE | re.DOTALL,
)
_NAMED_RE = re.compile(
    r"\b(?:called|named)\s+[\"']?(?P<name>[A-Za-z0-9][A-Za-z0-9_.-]{0,63})", re.IGNORECASE
)
_ROLE_STOP = {
    "for",
    "of",
    "in",
    "on",
    "from",
    "to",
    "with",
    "about",
    "the",
    "a",
    "an",
    "my",
    "this",
    "that",
}
_STOP = _ROLE_STOP | {
    "and",
    "or",
    "is",
    "are",
    "be",
    "it",
    "its",
    "me",
    "you",
    "your",
    "which",
    "who",
    "will",
}

_TOOLSETS = (
    (
        {
            "poet",
            "poem",
            "poems",
            "haiku",
            "writer",
            "author",
            "editor",
            "copywriter",
            "blogger",
            "journalist",
            "translator",
            "summarizer",
            "storyteller",
            "novelist",
            "lyricist",
            "essay",
            "prose",
            "documentation",
        },
        ["Read", "Write", "Edit", "Glob"],
    ),
    (
        {
            "researcher",
            "research",
            "analyst",
            "reviewer",
            "auditor",
            "reader",
            "explainer",
            "investigator",
            "critic",
            "inspector",
        },
        ["Read", "Glob", "Grep"],
    ),
    (
        {
            "developer",
            "coder",
            "programmer",
            "engineer",
            "tester",
            "debugger",
            "devops",
            "scripter",
            "python",
            "javascript",
            "rust",
            "refactorer",
            "builder",
            "automation",
            "sysadmin",
        },
        ["Read", "Write", "Edit", "Bash", "Glob", "Grep"],
    ),
)
_DEFAULT_TOOLS = ["Read", "Write", "Edit", "Glob", "Grep"]
_GENERIC = {
    "new",
    "custom",
    "another",
    "simple",
    "basic",
    "generic",
    "ai",
    "llm",
    "helper",
    "sub",
    "good",
}


@dataclass
class AgentDraft:
    name: str
    description: str
    tools: list[str]
    prompt: str


def _slug(words: list[str]) -> str:
    s = "-".join(w.lower() for w in words if w)
    s = re.sub(r"[^a-z0-9-]+", "", s).strip("-")
    return s[:64].strip("-")


def draft_from_goal(goal: str) -> AgentDraft | None:
    """An agent draft for goals like "Create a haiku poet agent" (None for any other goal)."""
    if not isinstance(goal, str) or len(goal) > 2000:
        return None
    role_words: list[str] = []
    task = ""
    m = _CREATE_RE.match(goal)
    if m:
        role_words = re.findall(r"[A-Za-z0-9']+", m.group("role"))
        if (
            not role_words
            or len(role_words) > 5
            or any(w.lower() in _ROLE_STOP for w in role_words)
        ):
            role_words = []
        else:
            rest = m.group("rest").strip(" ,:;-.!")
            task = re.sub(r"^(?:that|which|who|to|whose)\s+", "", rest, flags=re.IGNORECASE)
            task = re.sub(r"^(?:called|named)\s+\S+\s*", "", task, flags=re.IGNORECASE).strip()
    from_task = not role_words
    if from_task:
        m2 = _AGENT_FOR_RE.match(goal)
        if not m2:
            return None
        task = m2.group("task").strip()
        content = [w for w in re.findall(r"[A-Za-z0-9']+", task) if w.lower() not in _STOP]
        if not content:
            return None
        role_words = content[:3]
    named = _NAMED_RE.search(goal)
    name = named.group("name").lower() if named else _slug(role_words)
    if not name:
        return None
    if all(w.lower() in _GENERIC for w in role_words):
        return None
    role = " ".join(w if w.isupper() else w.lower() for w in role_words)
    lowered = {w.lower() for w in re.findall(r"[A-Za-z]+", goal)}
    tools = next((list(ts) for keys, ts in _TOOLSETS if keys & lowered), list(_DEFAULT_TOOLS))
    article = "an" if role[:1].lower() in "aeiou" else "a"
    task = task.rstrip(".")
    origin = f' (created from the goal "{" ".join(goal.split())[:200]}")'
    if from_task:
        first = f"You are an agent that {task}."
        description = f"Agent that {task}"
    elif task and re.match(r"(?:for|with|in|on|about)\b", task, re.IGNORECASE):
        first = f"You are {article} {role} agent {task}."
        description = f"{role[:1].upper()}{role[1:]} agent {task}"
    else:
        first = f"You are {article} {role} agent." + (f" Your task: {task}." if task else "")
        description = f"{role[:1].upper()}{role[1:]} agent" + (f": {task}" if task else "")
    description += origin
    prompt = (
        f"{first}\n"
        "Do what the user's goal asks in your role, with the tools you are given, in the current working "
        "directory. When the goal asks for a file, write it there; otherwise answer directly.\n"
        "Finish with a short summary of what you produced and where it is.\n"
    )
    return AgentDraft(name=name, description=description, tools=tools, prompt=prompt)


def create_agent_from_goal(agents_dir: Path, goal: str, *, model: str | None = None) -> AgentSpec:
    """Create the agent a goal asks for ("Create a haiku poet agent"); a clear error otherwise."""
    draft = draft_from_goal(goal)
    if draft is None:
        raise AgentFormatError(
            f"the goal does not ask for an agent: {goal[:200]!r} "
            '(say e.g. "Create a haiku poet agent")'
        )
    name = draft.name
    agents_dir = Path(agents_dir)
    n = 2
    while (agents_dir / f"{name}.md").exists():  # never overwrite an existing agent
        name = f"{draft.name}-{n}"
        n += 1
    return create_agent(agents_dir, name, draft.description, draft.tools, draft.prompt, model=model)
