"""Agents defined in markdown: ``agents/*.md`` with frontmatter and a prompt body."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import LLMOSError

REQUIRED = ("name", "description")
KNOWN_TOOLS = {"Read", "Write", "Edit", "MultiEdit", "Bash", "Glob", "Grep", "NotebookEdit",
               "WebFetch", "WebSearch", "TodoWrite", "Task", "BashOutput", "KillShell"}


class AgentFormatError(LLMOSError):
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

    def system_text(self) -> str:
        lines = [self.prompt.strip()]
        if self.constraints:
            lines.append("Constraints:")
            lines.extend(f"- {c}" for c in self.constraints)
        return "\n".join(lines)


def parse_agent(text: str, source: str = "") -> AgentSpec:
    import frontmatter
    import yaml

    try:
        post = frontmatter.loads(text)
    except (yaml.YAMLError, ValueError) as exc:
        raise AgentFormatError(f"{source}: broken frontmatter: {exc}") from None
    meta: dict[str, Any] = dict(post.metadata)
    for key in REQUIRED:
        if not isinstance(meta.get(key), str) or not meta[key].strip():
            raise AgentFormatError(f"{source}: missing or empty '{key}'")
    tools = meta.get("tools", [])
    if isinstance(tools, str):
        tools = [t.strip() for t in tools.split(",") if t.strip()]
    if not isinstance(tools, list) or not all(isinstance(t, str) for t in tools):
        raise AgentFormatError(f"{source}: 'tools' must be a list of tool names")
    constraints = meta.get("constraints", [])
    if isinstance(constraints, str):
        constraints = [constraints]
    if not isinstance(constraints, list):
        raise AgentFormatError(f"{source}: 'constraints' must be a list")
    version = meta.get("version", 1)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise AgentFormatError(f"{source}: 'version' must be a positive integer")
    model = meta.get("model")
    if model is not None and not isinstance(model, str):
        raise AgentFormatError(f"{source}: 'model' must be a string")
    if not post.content.strip():
        raise AgentFormatError(f"{source}: the prompt body is empty")
    return AgentSpec(name=meta["name"].strip(), description=meta["description"].strip(),
                     prompt=post.content, tools=tools, model=model, version=version,
                     constraints=[str(c) for c in constraints])


def load_agent(agents_dir: Path, name: str) -> AgentSpec:
    path = agents_dir / f"{name}.md"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AgentFormatError(f"no agent named {name!r} in {agents_dir}") from None
    spec = parse_agent(text, str(path))
    spec.path = path
    return spec
