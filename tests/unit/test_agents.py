"""Markdown agents: validation, hot reload, creation (also from a goal), versions, CLI."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmos_tui.adaptation.agents import (
    AgentFormatError,
    AgentNotFound,
    AgentRegistry,
    AgentSpec,
    create_agent,
    create_agent_from_goal,
    draft_from_goal,
    dump_agent,
    load_agent,
    parse_agent,
)

REPO = Path(__file__).resolve().parents[2]

GOOD = """---
name: poet
description: Writes poems.
tools: [Read, Write]
version: 2
constraints:
  - Keep it short.
---
You are a poet.
"""


@pytest.fixture
def agents_dir(tmp_path: Path) -> Path:
    d = tmp_path / "agents"
    shutil.copytree(REPO / "workspace" / "agents", d)
    return d


def test_template_agents_load_and_system_text(agents_dir: Path) -> None:
    spec = load_agent(agents_dir, "system-agent")
    assert spec.name == "system-agent" and "Bash" in spec.tools and spec.version == 1
    text = spec.system_text()
    assert (
        text.startswith("You are the system agent")
        and "Constraints:\n- Stay inside the working directory." in text
    )
    assert sorted(s.name for s in AgentRegistry(agents_dir).all()) == [
        "researcher",
        "system-agent",
        "writer",
    ]


@pytest.mark.parametrize(
    "text,message",
    [
        ("no frontmatter at all", "no frontmatter"),
        ("---\nname: [unclosed\n---\nbody", "broken frontmatter"),
        ("---\ndescription: d\n---\nbody", "missing or empty 'name'"),
        ("---\nname: x\n---\nbody", "missing or empty 'description'"),
        ("---\nname: x\ndescription: d\ntools: [Bsh]\n---\nbody", "unknown tool(s) Bsh"),
        ("---\nname: x\ndescription: d\ntools: 3\n---\nbody", "'tools' must be a list"),
        (
            "---\nname: x\ndescription: d\nversion: 0\n---\nbody",
            "'version' must be a positive integer",
        ),
        (
            "---\nname: x\ndescription: d\nconstraints: {a: 1}\n---\nbody",
            "'constraints' must be a list",
        ),
        ("---\nname: x\ndescription: d\nmodel: 5\n---\nbody", "'model' must be a model name"),
        ("---\nname: x\ndescription: d\n---\n   \n", "the prompt body is empty"),
        ("---\nname: ../evil\ndescription: d\n---\nbody", "invalid agent name"),
    ],
)
def test_invalid_agents_give_clear_errors(text: str, message: str) -> None:
    with pytest.raises(AgentFormatError) as info:
        parse_agent(text, "agents/x.md")
    assert message in info.value.message and "agents/x.md" in info.value.message


def test_mcp_tools_and_comma_strings_are_accepted() -> None:
    spec = parse_agent("---\nname: x\ndescription: d\ntools: Read, mcp__llmos__calc\n---\nbody")
    assert spec.tools == ["Read", "mcp__llmos__calc"]


def test_name_must_match_file(agents_dir: Path) -> None:
    (agents_dir / "other.md").write_text(GOOD)
    with pytest.raises(AgentFormatError, match="does not match the file name other.md"):
        load_agent(agents_dir, "other")
    with pytest.raises(AgentNotFound):
        load_agent(agents_dir, "missing")


def test_dump_parse_round_trip() -> None:
    spec = AgentSpec(
        name="x",
        description='Quotes "here": and colons',
        prompt="Line one.\n\nLine two.",
        tools=["Read", "Write"],
        model="claude-haiku-4-5",
        version=3,
        constraints=["a: b", 'it\'s "quoted"'],
        extra={"color": "red"},
    )
    back = parse_agent(dump_agent(spec))
    assert (
        back.name,
        back.description,
        back.tools,
        back.model,
        back.version,
        back.constraints,
        back.extra,
    ) == (
        spec.name,
        spec.description,
        spec.tools,
        spec.model,
        spec.version,
        spec.constraints,
        spec.extra,
    )
    assert back.prompt.strip() == spec.prompt
    assert "tools: [Read, Write]" in dump_agent(spec)


def test_registry_hot_reloads_changed_files_only(agents_dir: Path) -> None:
    (agents_dir / "poet.md").write_text(GOOD)
    reg = AgentRegistry(agents_dir)
    assert reg.get("poet").version == 2
    loads = reg.loads
    assert reg.get("poet").version == 2 and reg.loads == loads  # unchanged: not parsed again
    (agents_dir / "poet.md").write_text(
        GOOD.replace("version: 2", "version: 3").replace("short", "very short")
    )
    st = os.stat(agents_dir / "poet.md")
    os.utime(agents_dir / "poet.md", ns=(st.st_atime_ns, st.st_mtime_ns + 10_000_000))
    spec = reg.get("poet")
    assert spec.version == 3 and spec.constraints == ["Keep it very short."]
    # A broken edit keeps the last valid version in use and reports the error.
    (agents_dir / "poet.md").write_text("---\nname: poet\n---\nbroken")
    assert reg.get("poet").version == 3
    assert "description" in reg.errors["poet"]
    # A fresh registry has no valid copy: the error is raised.
    with pytest.raises(AgentFormatError):
        AgentRegistry(agents_dir).get("poet")
    assert "poet" not in [s.name for s in AgentRegistry(agents_dir).all()]
    (agents_dir / "poet.md").unlink()
    with pytest.raises(AgentNotFound):
        reg.get("poet")


def test_create_agent_is_usable_at_once(agents_dir: Path) -> None:
    reg = AgentRegistry(agents_dir)
    assert "critic" not in reg.names()
    spec = create_agent(
        agents_dir,
        "critic",
        "Reviews prose.",
        "Read,Glob",
        "You are a critic.",
        constraints=["Be kind."],
    )
    assert spec.path == agents_dir / "critic.md"
    got = reg.get("critic")
    assert got.tools == ["Read", "Glob"] and got.constraints == ["Be kind."] and got.version == 1
    assert load_agent(agents_dir, "critic").system_text().startswith("You are a critic.")
    with pytest.raises(AgentFormatError, match="exists already"):
        create_agent(agents_dir, "critic", "x", [], "y")
    with pytest.raises(AgentFormatError, match="invalid agent name"):
        create_agent(agents_dir, "bad/name", "x", [], "y")
    with pytest.raises(AgentFormatError, match="unknown tool"):
        create_agent(agents_dir, "tooly", "x", ["Hammer"], "y")
    assert not (agents_dir / "tooly.md").exists()
    assert not list(agents_dir.glob(".*.tmp"))


@pytest.mark.parametrize(
    "goal,name,tools",
    [
        ("Create a haiku poet agent", "haiku-poet", ["Read", "Write", "Edit", "Glob"]),
        ("Make a Python code reviewer agent called pyrev", "pyrev", ["Read", "Glob", "Grep"]),
        (
            "create an agent that writes haiku about the sea",
            "writes-haiku-sea",
            ["Read", "Write", "Edit", "Glob"],
        ),
        (
            "Build a Rust test runner agent",
            "rust-test-runner",
            ["Read", "Write", "Edit", "Bash", "Glob", "Grep"],
        ),
        (
            "Create a data analyst agent: summarizes CSV files",
            "data-analyst",
            ["Read", "Glob", "Grep"],
        ),
    ],
)
def test_draft_from_goal(goal: str, name: str, tools: list[str]) -> None:
    draft = draft_from_goal(goal)
    assert draft is not None and draft.name == name and draft.tools == tools
    assert draft.prompt.startswith("You are ")


@pytest.mark.parametrize(
    "goal",
    [
        "Create a Python calculator",
        "Write a test for the agent module",
        "Create a new agent",
        "Delete the haiku poet agent",
        "Create a test for the agent",
    ],
)
def test_goals_that_are_not_agent_requests(goal: str) -> None:
    assert draft_from_goal(goal) is None


def test_create_agent_from_goal_never_overwrites(agents_dir: Path) -> None:
    a = create_agent_from_goal(agents_dir, "Create a haiku poet agent")
    b = create_agent_from_goal(agents_dir, "Create a haiku poet agent")
    assert (a.name, b.name) == ("haiku-poet", "haiku-poet-2")
    spec = AgentRegistry(agents_dir).get("haiku-poet")
    assert spec.prompt.startswith("You are a haiku poet agent.")
    assert 'created from the goal "Create a haiku poet agent"' in spec.description
    with pytest.raises(AgentFormatError, match="does not ask for an agent"):
        create_agent_from_goal(agents_dir, "Create a Python calculator")


# ---- CLI ---------------------------------------------------------------------------------------


@pytest.fixture
def cli_ws(tmp_path: Path) -> Path:
    from llmos_tui.workspace import open_workspace

    return open_workspace(tmp_path / "ws").root


def test_cli_list_show_create(cli_ws: Path) -> None:
    from llmos_tui.cli.agents import agents_app

    runner = CliRunner()
    res = runner.invoke(
        agents_app, ["create", "--from-goal", "Create a haiku poet agent", "-w", str(cli_ws)]
    )
    assert res.exit_code == 0, res.output
    assert "Created agent haiku-poet" in res.stdout
    res = runner.invoke(
        agents_app,
        [
            "create",
            "critic",
            "-d",
            "Reviews prose.",
            "--tools",
            "Read",
            "-p",
            "You are a critic.",
            "-w",
            str(cli_ws),
        ],
    )
    assert res.exit_code == 0, res.output
    res = runner.invoke(agents_app, ["list", "--json", "-w", str(cli_ws)])
    names = [a["name"] for a in json.loads(res.stdout)["agents"]]
    assert names == ["critic", "haiku-poet", "researcher", "system-agent", "writer"]
    res = runner.invoke(agents_app, ["show", "critic", "--json", "-w", str(cli_ws)])
    data = json.loads(res.stdout)
    assert data["agent"]["tools"] == ["Read"] and data["metrics"]["executions"] == 0
    res = runner.invoke(agents_app, ["show", "nobody", "-w", str(cli_ws)])
    assert res.exit_code == 1 and "no agent named 'nobody'" in res.stderr
    res = runner.invoke(agents_app, ["create", "critic", "-d", "x", "-p", "y", "-w", str(cli_ws)])
    assert res.exit_code == 2 and "exists already" in res.stderr  # bad input is a usage error (2)
    for bad in (
        ["create", "bad name!", "-d", "x", "-p", "y"],
        ["create", "ok", "-d", "x", "-p", "y", "--tools", "Nope"],
        ["create", "--from-goal", "hello there"],
    ):
        res = runner.invoke(agents_app, [*bad, "-w", str(cli_ws)])
        assert res.exit_code == 2 and "llmos: error:" in res.stderr, (
            bad,
            res.exit_code,
            res.stderr,
        )
    res = runner.invoke(agents_app, ["create", "lonely", "-w", str(cli_ws)])
    assert res.exit_code == 2 and "--description" in res.stderr
    (cli_ws / "agents" / "broken.md").write_text("---\nname: broken\n---\n")
    res = runner.invoke(agents_app, ["list", "-w", str(cli_ws)])
    assert res.exit_code == 0 and "broken.md is invalid" in res.stderr


def test_cli_evolve_and_revert(cli_ws: Path) -> None:
    from llmos_tui.adaptation.manager import DynamicAgentManager
    from llmos_tui.cli.agents import agents_app
    from llmos_tui.config import LLMOSConfig

    m = DynamicAgentManager(cli_ws, LLMOSConfig.testing())
    runner = CliRunner()
    res = runner.invoke(agents_app, ["evolve", "writer", "-w", str(cli_ws)])
    assert res.exit_code == 0 and "not evolved" in res.stdout
    for i in range(5):
        m.record_execution(
            "writer", f"Write report {i}", success=i < 2, error="FileNotFoundError: notes.md"
        )
    res = runner.invoke(agents_app, ["evolve", "writer", "--dry-run", "-w", str(cli_ws)])
    assert "would become v2" in res.stdout and load_agent(cli_ws / "agents", "writer").version == 1
    res = runner.invoke(agents_app, ["evolve", "writer", "--json", "-w", str(cli_ws)])
    out = json.loads(res.stdout)
    assert out["applied"] and out["new_version"] == 2
    assert (cli_ws / "agents" / ".versions" / "writer.v1.md").exists()
    res = runner.invoke(agents_app, ["revert", "writer", "1", "-w", str(cli_ws)])
    assert res.exit_code == 0 and "now v3" in res.stdout
    spec = load_agent(cli_ws / "agents", "writer")
    assert spec.version == 3 and not any("FileNotFoundError" in c for c in spec.constraints)
    assert (cli_ws / "agents" / ".versions" / "writer.v2.md").exists()
