"""Hostile YAML is refused fast, names its file and is skipped: a "billion laughs" trace through
`llmos traces reindex`, a team volume and `llmos traces import` (and the edge runtime); every other
YAML reader (config, agents, facts, sessions, projects) goes through the same loader."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from llmos_tui.learning.store import TraceStore
from llmos_tui.learning.traces import (
    ToolCall,
    TraceFormatError,
    dump_trace,
    make_trace,
    parse_trace,
)
from llmos_tui.workspace import open_workspace
from llmos_tui.yamlio import MAX_YAML_BYTES, YAMLLoadError, no_alias_loader, safe_load

REPO = Path(__file__).resolve().parents[2]
EDGE = REPO / "edge_runtime"
# Every test here feeds inputs that would hang a naive loader: no_hang fails one that does.
pytestmark = pytest.mark.usefixtures("no_hang")

LAUGHS = (
    "{a: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol], "
    + ", ".join(
        f"{n}: &{n} [{','.join(['*' + p] * 9)}]"
        for p, n in zip("abcdefgh", "bcdefghi", strict=True)
    )
    + "}"
)


def bomb_trace(size: int = 885) -> tuple[str, str]:
    """(trace id, text): a well-formed trace whose ``emotion:`` holds 9 levels of 9 aliases
    (9**9 = 387,420,489 leaves once expanded), padded to exactly ``size`` bytes."""
    trace = make_trace(
        "Say hi",
        [
            ToolCall(
                "Bash", {"command": "echo hi"}, {"is_error": False, "summary": "hi", "exit_code": 0}
            )
        ],
        trace_id="t_bomb",
    )
    text = dump_trace(trace).replace("emotion: {}", f"emotion: {LAUGHS}")
    pad = size - len(text.encode())
    assert pad >= 0, len(text.encode())
    text = text.replace("# Say hi\n", "# Say hi" + " " * pad + "\n")
    assert len(text.encode()) == size
    return trace.id, text


def test_the_bomb_really_explodes_with_a_plain_safe_loader() -> None:
    """The test input is what it claims: PyYAML's own safe loader accepts it, as 9**9 leaves."""
    _tid, text = bomb_trace()
    header = text.split("---\n")[1]
    data = yaml.load(header, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    level, leaves = data["emotion"]["i"], 1
    while isinstance(level, list):
        leaves, level = leaves * len(level), level[0]
    assert leaves == 9**9


def test_a_billion_laughs_trace_is_refused_fast_naming_the_line() -> None:
    _tid, text = bomb_trace()
    with pytest.raises(TraceFormatError) as info:
        parse_trace(text, source="volumes/users/local/traces/t_bomb.md")
    assert info.value.message == (
        "volumes/users/local/traces/t_bomb.md: broken frontmatter at line 18: "
        "YAML anchors are not allowed (found the anchor &a)"
    )


def _workspace_with_bomb(tmp_path: Path, volume: str) -> tuple[object, TraceStore, str]:
    ws = open_workspace(tmp_path / "ws", user="local", team="eng")
    store = TraceStore(ws)
    good = make_trace(
        "List the files", [ToolCall("Bash", {"command": "ls"}, {"is_error": False, "exit_code": 0})]
    )
    store.save(good, volume="users/local")
    tid, text = bomb_trace()
    folder = ws.root / "volumes" / volume / "traces"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{tid}.md").write_text(text)
    return ws, store, f"volumes/{volume}/traces/{tid}.md"


@pytest.mark.parametrize("volume", ["users/local", "teams/eng"])
def test_reindex_refuses_the_bomb_names_the_file_and_keeps_the_rest(
    tmp_path: Path, volume: str
) -> None:
    from llmos_tui.cli.traces import traces_app

    ws, _store, rel = _workspace_with_bomb(tmp_path, volume)
    result = CliRunner().invoke(traces_app, ["reindex", "--json", "--workspace", str(ws.root)])
    assert result.exit_code == 0, result.output
    counts = json.loads(result.stdout)
    assert counts["traces"] == 1 and counts["skipped"] == 1
    assert counts["skipped_files"] == [
        {
            "path": rel,
            "reason": "broken frontmatter at line 18: YAML anchors are "
            "not allowed (found the anchor &a)",
        }
    ]
    assert (
        f"skipped trace file {rel}: broken frontmatter at line 18: YAML anchors are not allowed"
        in result.stderr
    )


def test_a_team_volume_reports_the_bomb_as_an_unreadable_artifact(tmp_path: Path) -> None:
    from llmos_tui.volumes.volume import Volume

    ws, _store, rel = _workspace_with_bomb(tmp_path, "teams/eng")
    volume = Volume(ws, "teams/eng")
    assert list(volume.iter_artifacts("traces")) == []
    assert [p["path"] for p in volume.problems] == [rel]
    assert "YAML anchors are not allowed" in volume.problems[0]["reason"]


def _bundle_with_bomb(tmp_path: Path) -> Path:
    from llmos_tui.edge.bundle import export_bundle

    ws = open_workspace(tmp_path / "src")
    store = TraceStore(ws)
    store.save(
        make_trace(
            "Create a file named hello.txt",
            [
                ToolCall(
                    "Write",
                    {"file_path": "{{cwd}}/hello.txt", "content": "hi\n"},
                    {"is_error": False, "summary": "created", "files_created": ["hello.txt"]},
                )
            ],
        ),
        volume="users/local",
    )
    bundle = tmp_path / "bundle"
    export_bundle(ws, store, bundle, volumes=["users/local"])
    tid, text = bomb_trace()
    data = text.encode()
    (bundle / "traces" / f"{tid}.md").write_bytes(data)
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["traces"].append(
        {
            "id": tid,
            "path": f"traces/{tid}.md",
            "sha256": hashlib.sha256(data).hexdigest(),
            "size": len(data),
            "goal": "Say hi",
            "signature": "x",
            "crystallized_tool": None,
        }
    )
    (bundle / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return bundle


@pytest.mark.slow
def test_bundle_import_and_the_edge_runtime_refuse_a_bundle_holding_the_bomb(
    tmp_path: Path,
) -> None:
    from llmos_tui.cli.bundle import bundle_app

    bundle = _bundle_with_bomb(tmp_path)
    dest = tmp_path / "dest"
    result = CliRunner().invoke(bundle_app, ["import", str(bundle), "--workspace", str(dest)])
    assert result.exit_code == 2, result.output
    assert (
        "traces/t_bomb.md: broken frontmatter at line 18: YAML anchors are not allowed"
        in result.output
    )
    assert not list((dest / "volumes").rglob("*.md"))  # nothing imported
    work = tmp_path / "work"
    work.mkdir()
    proc = subprocess.run(
        [
            sys.executable,
            "-I",
            str(EDGE / "run_follower.py"),
            str(bundle),
            "Create a file named hello.txt",
            "--cwd",
            str(work),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ),
    )
    assert proc.returncode == 2, proc.stderr
    assert (
        "traces/t_bomb.md: broken frontmatter at line 18: "
        "YAML anchors are not allowed (found the anchor &a)" in proc.stderr
    )
    assert list(work.iterdir()) == []


# ---- the loader itself ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, problem",
    [
        ("a: &x 1\nb: 2\n", "YAML anchors are not allowed (found the anchor &x)"),
        ("base: {x: 1}\nother: *base\n", "YAML aliases are not allowed (found the alias *base)"),
        ("- &k {x: 1}\n- <<: *k\n  y: 2\n", "YAML anchors are not allowed (found the anchor &k)"),
        ("a: " + "[" * 5000 + "]" * 5000, "exceeded maximum nesting depth"),
        ("when: 2026-13-45\n", "unreadable YAML value (ValueError: month must be in 1..12)"),
        ("a: [1, 2\n", "did not find expected ',' or ']'"),
        (
            "x: 1\n" + "y: " + "z" * MAX_YAML_BYTES,
            f"over the {MAX_YAML_BYTES}-byte limit (refused)",
        ),
    ],
)
def test_refusals_are_yaml_load_errors_with_the_problem(text: str, problem: str) -> None:
    with pytest.raises(YAMLLoadError) as info:
        safe_load(text)
    assert problem in info.value.problem and isinstance(info.value, ValueError)


def test_ampersands_and_stars_in_text_still_load_as_pyyaml_loads_them() -> None:
    texts = [
        "goal: \"Find all *.py files & count them\"\nslots: {glob: '*.py'}\n",
        "cmd: 'a && b || c * d'\nlist: [\"*\", \"&\", '&amp;']\n",
        "text: |\n  a * b & c\n  *not an alias*\n",
        (REPO / "workspace" / "config.yaml").read_text(),
    ]
    for text in texts:
        assert safe_load(text) == yaml.safe_load(text), text
        assert yaml.load(text, Loader=no_alias_loader()) == yaml.safe_load(
            text
        )  # the strict loader itself
    assert safe_load("x: [1, {y: z}]\n", max_bytes=20) == {"x": [1, {"y": "z"}]}
    with pytest.raises(YAMLLoadError, match="over the 10-byte limit"):
        safe_load("x: [1, {y: z}]\n", max_bytes=10)


def test_every_other_yaml_reader_refuses_aliases_and_names_the_file(tmp_path: Path) -> None:
    from llmos_tui.adaptation.agents import AgentFormatError, load_agent
    from llmos_tui.config import ConfigError, load_config
    from llmos_tui.memory.facts import FactStore
    from llmos_tui.memory.sessions import read_session
    from llmos_tui.projects.manager import ProjectManager

    ws = open_workspace(tmp_path / "ws")
    (ws.root / "config.yaml").write_text(f"preset: development\nsentience: {LAUGHS}\n")
    with pytest.raises(ConfigError) as info:
        load_config(ws.root)
    assert (
        "config.yaml" in info.value.message and "YAML anchors are not allowed" in info.value.message
    )
    (ws.root / "config.yaml").write_text("preset: development\n")

    (ws.agents_dir / "bomb.md").write_text(
        f"---\nname: bomb\ndescription: d\nmeta: {LAUGHS}\n---\nYou are a bomb.\n"
    )
    with pytest.raises(AgentFormatError) as info:
        load_agent(ws.agents_dir, "bomb")
    assert "bomb.md" in info.value.message and "YAML anchors are not allowed" in info.value.message

    facts_dir = Path(ws.facts_dir)
    facts_dir.mkdir(parents=True, exist_ok=True)
    (facts_dir / "f_000000000000.md").write_text(
        f"---\nid: f_000000000000\nkind: note\nmeta: {LAUGHS}\n---\nx\n"
    )
    warnings: list[str] = []
    assert FactStore(ws, on_warning=warnings.append).list() == []
    assert "f_000000000000.md" in warnings[0] and "YAML anchors are not allowed" in warnings[0]

    sessions = Path(ws.sessions_dir)
    sessions.mkdir(parents=True, exist_ok=True)
    path = sessions / "20261207-100000-abcdef.md"
    path.write_text(
        f"---\nid: x\ntitle: {LAUGHS}\n---\n### user · 2026-12-07T10:00:00Z\n\nhello\n\n"
    )
    session = read_session(path)
    assert session.meta == {} and [e.text for e in session.entries] == [
        "hello"
    ]  # the log is still read

    ProjectManager(ws).create("demo", "a demo")
    project_md = ws.projects_dir / "demo" / "project.md"
    project_md.write_text(f"---\nname: demo\ndescription: {LAUGHS}\n---\n# demo\n")
    assert ProjectManager(ws).get("demo").description == ""


def test_llmos_and_the_edge_runtime_share_one_loader() -> None:
    import edgekit.safeyaml
    from llmos_tui import yamlio

    assert yamlio.safe_load is edgekit.safeyaml.safe_load
    assert yamlio.YAMLLoadError is edgekit.safeyaml.YAMLLoadError


def test_the_edge_runtime_loads_the_loader_standalone() -> None:
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import edgekit.safeyaml as s\n"
        "try:\n    s.safe_load(sys.argv[2])\nexcept s.YAMLLoadError as e:\n    print(e.problem)\n"
        "print(s.safe_load('goal: \"a * b & c\"')['goal'])\n"
        "print(sorted(m for m in sys.modules if m.startswith('llmos')))"
    )
    proc = subprocess.run(
        [sys.executable, "-I", "-c", code, str(EDGE), f"emotion: {LAUGHS}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "YAML anchors are not allowed (found the anchor &a)",
        "a * b & c",
        "[]",
    ]
