"""atomic.py makes its own temporaries (no tempfile import): named ``.<name>.<pid>.<random>.tmp``,
created exclusively with mode 0600, renamed over the target or removed."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from llmos_tui import atomic


def test_a_temporary_is_new_private_and_names_its_writer(tmp_path: Path) -> None:
    fd, name = atomic._create_temporary(tmp_path, f".x.json.{os.getpid()}.")
    os.close(fd)
    path = Path(name)
    assert path.parent == tmp_path and path.name.startswith(f".x.json.{os.getpid()}.")
    assert path.name.endswith(atomic.TMP_SUFFIX)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert atomic._writer_pid(path.name) == os.getpid()
    fd2, other = atomic._create_temporary(tmp_path, f".x.json.{os.getpid()}.")
    os.close(fd2)
    assert other != name


def test_a_taken_name_is_never_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    draws = iter([b"\x00" * 6, b"\x00" * 6, b"\x01" * 6])
    monkeypatch.setattr(atomic.os, "urandom", lambda n: next(draws))
    fd, first = atomic._create_temporary(tmp_path, ".a.")
    os.close(fd)
    fd, second = atomic._create_temporary(tmp_path, ".a.")  # the first draw collides
    os.close(fd)
    assert first != second and second.endswith("010101010101.tmp")


def test_a_write_leaves_only_the_target(tmp_path: Path) -> None:
    target = tmp_path / "d" / "f.txt"
    atomic.atomic_write_bytes(target, b"one", mode=0o640)
    atomic.atomic_write_bytes(target, b"two", mode=0o640)
    assert target.read_bytes() == b"two"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert sorted(p.name for p in target.parent.iterdir()) == ["f.txt"]
