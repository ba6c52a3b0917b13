"""Git-backed shared volumes: two workspaces share a team volume through a local bare remote;
concurrent promotions, merged counters, preserved conflicts, unreachable remotes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from llmos_tui.config import LLMOSConfig, VolumesConfig, load_config
from llmos_tui.learning.index import TraceIndex
from llmos_tui.learning.store import TraceStore
from llmos_tui.learning.traces import ToolCall, make_trace, parse_trace
from llmos_tui.observability.events import EventLog
from llmos_tui.volumes.acl import Identity, add_member
from llmos_tui.evolution.crons import run_cycle
from llmos_tui.volumes.git_sync import (
    CONFLICTS_DIR,
    GitVolume,
    git_remotes,
    redact,
    sync_after_write,
)
from llmos_tui.volumes.promotion import Promoter
from llmos_tui.volumes.volume import Volume
from llmos_tui.workspace import open_workspace

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
}


@pytest.fixture(autouse=True)
def git_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    path = tmp_path / "eng.git"
    subprocess.run(["git", "init", "-q", "--bare", str(path)], check=True)
    return path


def workspace(tmp_path: Path, name: str, users: tuple[str, ...]):
    ws = open_workspace(tmp_path / name, user=users[0], team="eng")
    for user in users:
        ws.ensure(user=user, team="eng")
        add_member(ws, "eng", user)
    return ws


def config_for(ws, url: Path | str):
    config = load_config(ws.root)
    config.volumes = VolumesConfig(
        git={"teams/eng": str(url)}, git_timeout_s=30.0, git_push_retries=8
    )
    return config


def learn(ws, user: str, goal: str, uses: int = 1) -> str:
    trace = make_trace(
        goal,
        [
            ToolCall(
                "Write",
                {"file_path": "{{cwd}}/o.txt", "content": goal},
                {"is_error": False, "summary": "created", "files_created": ["o.txt"]},
            )
        ],
    )
    trace.usage_count = trace.success_count = uses
    TraceStore(ws).save(trace, volume=f"users/{user}")
    return trace.id


def team_goals(ws) -> set[str]:
    return {e.goal for e in TraceIndex(ws).entries(["teams/eng"])}


WORKER = r"""
import json, os, sys, time
from pathlib import Path
from llmos_tui.config import VolumesConfig
from llmos_tui.config import load_config
from llmos_tui.evolution.crons import run_cycle
from llmos_tui.workspace import Workspace
root, url, me, other = sys.argv[1:5]
ws = Workspace(Path(root))
config = load_config(ws.root)
config.volumes = VolumesConfig(git={"teams/eng": url}, git_timeout_s=30.0, git_push_retries=8)
Path(me).write_text("ready")
deadline = time.time() + 30
while not Path(other).exists() and time.time() < deadline:   # start together
    time.sleep(0.005)
report = run_cycle(ws, config, "team", team="eng")
print(json.dumps(report.to_dict()))
"""


@pytest.mark.slow
def test_two_workspaces_promote_at_once_and_both_see_both(tmp_path: Path, remote: Path) -> None:
    a = workspace(tmp_path, "a", ("alice", "bob"))
    b = workspace(tmp_path, "b", ("carol", "dave"))
    for user in ("alice", "bob"):
        learn(a, user, "Format the JSON files")
    for user in ("carol", "dave"):
        learn(b, user, "Compile the thesis")
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = {**os.environ, **GIT_ENV}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                str(script),
                str(ws.root),
                str(remote),
                str(tmp_path / f"{n}.ready"),
                str(tmp_path / f"{o}.ready"),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for ws, n, o in ((a, "a", "b"), (b, "b", "a"))
    ]
    reports = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        reports.append(json.loads(out.strip().splitlines()[-1]))
    for rep in reports:
        assert rep["status"] == "completed", rep["error"]
        assert rep["counts"]["promoted"] == 1
        assert rep["sync"][-1]["ok"] and rep["sync"][-1]["pushed"], rep["sync"]
    # The later push had to merge the earlier one (both really raced for the same branch).
    assert any(rep["sync"][-1]["merged"] for rep in reports), [r["sync"] for r in reports]
    for ws in (a, b):
        pulled = GitVolume(ws, "teams/eng", str(remote)).pull()
        assert pulled.ok, pulled.error
    for ws in (a, b):
        assert team_goals(ws) == {
            "Format the JSON files",
            "Compile the thesis",
        }  # indexed after the pull
        changelog = (ws.team_volume("eng") / "CHANGELOG.jsonl").read_text().splitlines()
        promoted = [json.loads(line)["name"] for line in changelog if '"promoted"' in line]
        assert len(promoted) == 2 and len(set(promoted)) == 2  # union merge kept both
        names = {p.name for p in (ws.team_volume("eng") / "insights").glob("team-patterns-*.md")}
        assert len(names) == 2  # each workspace keeps its own view, no overwrite
        assert not (ws.team_volume("eng") / CONFLICTS_DIR).exists()
    log = subprocess.run(
        ["git", "--git-dir", str(remote), "log", "--oneline", "main"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert log.count("llmos team_cron:eng") >= 2
    attrs = (a.team_volume("eng") / ".gitattributes").read_text()
    assert "CHANGELOG.jsonl merge=union" in attrs
    assert "*.lock" in (a.team_volume("eng") / ".gitignore").read_text()
    tracked = subprocess.run(
        ["git", "-C", str(a.team_volume("eng")), "ls-files"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert ".lock" not in tracked and ".tmp" not in tracked


@pytest.mark.slow
def test_counters_of_one_trace_used_on_both_sides_are_added(tmp_path: Path, remote: Path) -> None:
    a = workspace(tmp_path, "a", ("alice", "bob"))
    b = workspace(tmp_path, "b", ("carol",))
    tid = learn(a, "alice", "Format the JSON files", uses=2)
    res = Promoter(a).promote("traces", tid, from_scope="users/alice", to_scope="teams/eng")
    assert sync_after_write(a, config_for(a, remote), "teams/eng", "promote").pushed
    assert GitVolume(b, "teams/eng", str(remote)).pull().ok
    team_id = res.target_name
    assert TraceStore(b).get(team_id).usage_count == 2
    for _ in range(2):
        TraceStore(a).record_outcome(team_id, True)
    for ok in (True, True, False):
        TraceStore(b).record_outcome(team_id, ok)
    assert GitVolume(a, "teams/eng", str(remote)).sync("a used it").pushed
    merged = GitVolume(b, "teams/eng", str(remote)).sync("b used it")
    assert merged.ok and merged.pushed and merged.conflicts
    assert "counters merged" in merged.conflicts[0]["resolution"]
    assert GitVolume(a, "teams/eng", str(remote)).pull().ok
    for ws in (a, b):
        trace = TraceStore(ws).get(team_id)
        assert (trace.usage_count, trace.success_count, trace.failure_count) == (7, 6, 1)


@pytest.mark.slow
def test_a_hand_edited_file_changed_on_both_sides_keeps_both_versions(
    tmp_path: Path, remote: Path
) -> None:
    a = workspace(tmp_path, "a", ("alice",))
    b = workspace(tmp_path, "b", ("bob",))
    eng = Identity.team_cron("eng")
    Volume(a, "teams/eng", identity=eng).write_artifact(
        "agents", "reviewer", "---\nname: reviewer\n---\nv1\n"
    )
    assert GitVolume(a, "teams/eng", str(remote)).sync().pushed
    assert GitVolume(b, "teams/eng", str(remote)).pull().ok
    Volume(a, "teams/eng", identity=eng).write_artifact(
        "agents", "reviewer", "---\nname: reviewer\n---\nfrom a\n"
    )
    Volume(b, "teams/eng", identity=eng).write_artifact(
        "agents", "reviewer", "---\nname: reviewer\n---\nfrom b\n"
    )
    assert GitVolume(a, "teams/eng", str(remote)).sync().pushed
    result = GitVolume(b, "teams/eng", str(remote)).sync()
    assert result.ok and [c["path"] for c in result.conflicts] == ["agents/reviewer.md"]
    assert GitVolume(a, "teams/eng", str(remote)).pull().ok
    for ws in (a, b):
        agent = ws.team_volume("eng") / "agents" / "reviewer.md"
        assert agent.read_text().endswith("from a\n")  # the first push wins the path
        [saved] = list((ws.team_volume("eng") / CONFLICTS_DIR).rglob("reviewer.md"))
        assert saved.read_text().endswith("from b\n")  # the other is kept, on both sides


@pytest.mark.slow
def test_an_unreachable_remote_leaves_the_volume_usable_and_is_reported(tmp_path: Path) -> None:
    a = workspace(tmp_path, "a", ("alice", "bob"))
    learn(a, "alice", "Format the JSON files")
    learn(a, "bob", "Format the JSON files")
    missing = tmp_path / "not-yet.git"
    config = config_for(a, missing)
    report = run_cycle(a, config, "team", team="eng")
    assert report.status == "completed", report.error
    assert report.counts()["promoted"] == 1 and team_goals(a) == {
        "Format the JSON files"
    }  # local work done
    failures = [s for s in report.sync if not s["ok"]]
    assert failures and all("not-yet.git" in s["error"] for s in failures)
    alerts = [
        e
        for e in EventLog(a.events_file).read(types=["SYSTEM_ALERT"])
        if e.data.get("alert") == "VOLUME_SYNC_FAILED"
    ]
    assert alerts and alerts[0].notify_user and alerts[0].data["volume"] == "teams/eng"
    Volume(a, "teams/eng", identity=Identity.team_cron("eng")).write_artifact(
        "insights", "still-writable", "# ok\n"
    )
    # The remote appears: the next cycle pushes what waited.
    subprocess.run(["git", "init", "-q", "--bare", str(missing)], check=True)
    again = run_cycle(a, config, "team", team="eng")
    assert again.sync[-1]["ok"] and again.sync[-1]["pushed"]
    files = subprocess.run(
        ["git", "--git-dir", str(missing), "ls-tree", "-r", "--name-only", "main"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert "insights/still-writable.md" in files and any(f.startswith("traces/") for f in files)


@pytest.mark.slow
def test_a_fresh_workspace_joins_an_existing_team_volume(tmp_path: Path, remote: Path) -> None:
    a = workspace(tmp_path, "a", ("alice", "bob"))
    tid = learn(a, "alice", "Format the JSON files", uses=3)
    Promoter(a).promote("traces", tid, from_scope="users/alice", to_scope="teams/eng")
    assert GitVolume(a, "teams/eng", str(remote)).sync().pushed
    b = workspace(tmp_path, "b", ("bob",))
    (b.team_volume("eng") / "insights" / "local-note.md").write_text(
        "# kept\n"
    )  # existed before the clone
    result = GitVolume(b, "teams/eng", str(remote)).sync()
    assert result.ok and result.pushed
    assert team_goals(b) == {"Format the JSON files"}
    assert (b.team_volume("eng") / "insights" / "local-note.md").read_text() == "# kept\n"
    assert sorted(p.name for p in (b.team_volume("eng") / "members").iterdir()) == ["alice", "bob"]
    assert GitVolume(a, "teams/eng", str(remote)).pull().ok
    assert (a.team_volume("eng") / "insights" / "local-note.md").is_file()


def test_config_helpers_and_redaction() -> None:
    config = LLMOSConfig.testing()
    config.volumes.git = {"team:eng": "u", "system": "v"}
    assert git_remotes(config) == {"teams/eng": "u", "system": "v"}
    assert git_remotes(LLMOSConfig.testing()) == {}
    from llmos_tui.errors import ConfigError

    with pytest.raises(ConfigError, match="volumes.git"):
        git_remotes({"teams/eng": ""})
    assert (
        redact("https://bob:s3cret@git.example.com/x.git")
        == "https://bob:***@git.example.com/x.git"
    )


def test_merge_trace_adds_counters_from_the_base() -> None:
    from llmos_tui.learning.traces import dump_trace
    from llmos_tui.volumes.git_sync import _merge_trace

    base = make_trace("Format the JSON files", [])
    base.usage_count = base.success_count = 4
    ours, theirs = parse_trace(dump_trace(base)), parse_trace(dump_trace(base))
    ours.usage_count, ours.success_count = 6, 6
    theirs.usage_count, theirs.success_count, theirs.failure_count = 5, 4, 1
    merged = parse_trace(
        _merge_trace(*(dump_trace(t).encode() for t in (base, ours, theirs))).decode()
    )
    assert (merged.usage_count, merged.success_count, merged.failure_count) == (7, 6, 1)
    assert _merge_trace(b"x", b"not a trace", dump_trace(base).encode()) is None
