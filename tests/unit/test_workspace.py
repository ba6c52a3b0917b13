from __future__ import annotations

import os
from pathlib import Path

import pytest

from llmos_tui.errors import WorkspaceError
from llmos_tui.workspace import VOLUME_KINDS, open_workspace, resolve_workspace_dir


def test_resolution_order(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path / "h"), "XDG_DATA_HOME": str(tmp_path / "xdg")}
    assert resolve_workspace_dir(None, env) == (tmp_path / "xdg" / "llmos").resolve()
    env2 = {"HOME": str(tmp_path / "h")}
    assert (
        resolve_workspace_dir(None, env2)
        == (tmp_path / "h" / ".local" / "share" / "llmos").resolve()
    )
    env3 = dict(env, LLMOS_WORKSPACE=str(tmp_path / "w"))
    assert resolve_workspace_dir(None, env3) == (tmp_path / "w").resolve()
    assert resolve_workspace_dir(tmp_path / "x", env3) == (tmp_path / "x").resolve()


def test_created_from_template_with_layout(tmp_path: Path) -> None:
    ws = open_workspace(tmp_path / "ws", user="alice", team="eng")
    for name in ("system-agent", "researcher", "writer"):
        assert (ws.agents_dir / f"{name}.md").read_text().startswith("---\nname: " + name)
    assert ws.config_file.exists()
    for scope in ("system", "teams/eng", "users/alice"):
        for kind in VOLUME_KINDS:
            assert (ws.volumes_dir / scope / kind).is_dir()
    for folder in (
        ws.state_dir,
        ws.sessions_dir,
        ws.facts_dir,
        ws.events_file.parent,
        ws.projects_dir,
    ):
        assert folder.is_dir()


def test_existing_files_are_never_overwritten(tmp_path: Path) -> None:
    ws = open_workspace(tmp_path / "ws")
    ws.config_file.write_text("budget_usd: 3\n")
    (ws.agents_dir / "writer.md").write_text("mine")
    open_workspace(tmp_path / "ws")
    assert ws.config_file.read_text() == "budget_usd: 3\n"
    assert (ws.agents_dir / "writer.md").read_text() == "mine"


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_workspace_is_a_clear_error(
    tmp_path: Path,
) -> None:  # pragma: no cover - root here
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    with pytest.raises(WorkspaceError, match="not writable"):
        open_workspace(locked / "ws")


def test_path_that_is_a_file_is_a_clear_error(tmp_path: Path) -> None:
    target = tmp_path / "afile"
    target.write_text("x")
    with pytest.raises(WorkspaceError, match="not a directory"):
        open_workspace(target)


@pytest.mark.parametrize("bad", ["../etc", "a/b", "", ".hidden", "x" * 65])
def test_bad_user_ids_are_rejected(tmp_path: Path, bad: str) -> None:
    with pytest.raises(WorkspaceError, match="invalid user id"):
        open_workspace(tmp_path / "ws", user=bad)


@pytest.mark.slow
def test_many_processes_open_one_workspace_at_once(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = (
        "import sys\nfrom llmos_tui.workspace import open_workspace\n"
        "for _ in range(100): open_workspace(sys.argv[1])\n"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(tmp_path / "ws")], stderr=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    results = [(p.wait(timeout=60), p.stderr.read()) for p in procs]
    assert all(rc == 0 for rc, _ in results), results


def test_atomic_writes_fsync_the_file_always_and_the_folder_unless_told(
    tmp_path, monkeypatch
) -> None:
    from llmos_tui import atomic

    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append("dir" if os.path.isdir(os.readlink(f"/proc/self/fd/{fd}")) else "file")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    target = tmp_path / "state" / "x.json"
    atomic.atomic_write_json(target, {"a": 1})
    assert synced == ["file", "dir"]
    synced.clear()
    atomic.atomic_write_json(target, {"a": 2}, sync_dir=False)
    assert synced == ["file"]  # the rename is atomic either way; only its durability differs
    synced.clear()
    atomic.atomic_write_bytes(target, b"{}", durable=False)
    assert synced == []
    assert target.read_bytes() == b"{}" and [p.name for p in target.parent.iterdir()] == ["x.json"]
