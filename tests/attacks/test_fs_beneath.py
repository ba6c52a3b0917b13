"""edgekit/fs.py (shared by llmos and the edge): operations beneath a root fd; no symlink leads out.

Every test runs twice: with openat2 (when the kernel has it) and with the component walker
forced on (what runs where openat2 is missing); both must give the same answers.
"""

from __future__ import annotations

import errno
import os
import stat
import time
from pathlib import Path
from typing import Iterator

import pytest

from edgekit import fs
from tests.support.fs_race import Swapper

CANARY = "CANARY-7f3a-secret"


def _modes() -> list[str]:
    previous = fs.set_mode("auto")
    try:
        have = fs.use_openat2()
    finally:
        fs.set_mode(previous)
    return (
        ["openat2", "walk"]
        if have
        else [pytest.param("openat2", marks=pytest.mark.skip("no openat2")), "walk"]
    )


@pytest.fixture(params=_modes())
def mode(request: pytest.FixtureRequest) -> Iterator[str]:
    previous = fs.set_mode(request.param)
    try:
        assert fs.use_openat2() == (request.param == "openat2")
        yield request.param
    finally:
        fs.set_mode(previous)


@pytest.fixture
def tree(tmp_path: Path) -> dict[str, Path]:
    """root/ with a file, a folder, in-root links; outside/ with a canary; links leading out."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "b" / "f.txt").write_text("inside\n")
    outside.mkdir()
    (outside / "secret.txt").write_text(CANARY + "\n")
    os.symlink("a/b", root / "in_dir")  # relative, stays inside
    os.symlink("a/b/f.txt", root / "in_file")
    os.symlink("../outside", root / "out_rel")  # relative, leads out through ..
    os.symlink(str(outside), root / "out_abs")  # absolute, leads out
    os.symlink(str(root / "a"), root / "abs_inside")  # absolute, to a place inside: followed
    os.symlink("../../outside/secret.txt", root / "a" / "out_file")
    os.symlink("missing.txt", root / "dangling")
    os.symlink("../outside/new.txt", root / "dangling_out")
    os.symlink("loop2", root / "loop1")
    os.symlink("loop1", root / "loop2")
    return {"root": root, "outside": outside}


def outside_untouched(outside: Path) -> None:
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    assert (outside / "secret.txt").read_text() == CANARY + "\n"


# ---- relative_path ------------------------------------------------------------------------


def test_relative_path_is_lexical(tmp_path: Path) -> None:
    root = tmp_path / "r"
    assert fs.relative_path(root / "x" / "y", root) == "x/y"
    assert fs.relative_path("x/./y//z", root) == "x/y/z"
    assert fs.relative_path("a/../b", root) == "b"
    assert fs.relative_path(str(root) + "/../r/c", root) == "c"
    assert fs.relative_path(root, root) == "." and fs.relative_path(".", root) == "."
    assert fs.relative_path("..", root) is None
    assert fs.relative_path("../r2/x", root) is None  # a sibling sharing the prefix
    assert fs.relative_path(str(root) + "2/x", root) is None
    assert fs.relative_path("/etc/passwd", root) is None
    assert fs.relative_path("sub/f", root, cwd=root / "a") == "a/sub/f"
    assert fs.relative_path("/alias/q", root, aliases=("/alias",)) == "q"
    with pytest.raises(ValueError):
        fs.relative_path("a\x00b", root)


# ---- open_beneath -------------------------------------------------------------------------


def read_fd(fd: int) -> bytes:
    try:
        return os.read(fd, 4096)
    finally:
        os.close(fd)


def test_open_follows_symlinks_that_stay_inside(mode: str, tree: dict[str, Path]) -> None:
    root = tree["root"]
    assert read_fd(fs.open_beneath(root, "a/b/f.txt")) == b"inside\n"
    assert read_fd(fs.open_beneath(root, "in_dir/f.txt")) == b"inside\n"
    assert read_fd(fs.open_beneath(root, "in_file")) == b"inside\n"
    assert read_fd(fs.open_beneath(root, "a/b/../b/./f.txt")) == b"inside\n"
    assert (
        read_fd(fs.open_beneath(root, "in_dir/../b/f.txt")) == b"inside\n"
    )  # '..' from the link's target
    assert (
        read_fd(fs.open_beneath(root, "abs_inside/b/f.txt")) == b"inside\n"
    )  # absolute, naming a place inside
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:  # a bare fd: the root's path is unknown, so no absolute symlink can be judged inside
        with pytest.raises(fs.EscapeError):
            fs.open_beneath(fd, "abs_inside/b/f.txt")
    finally:
        os.close(fd)
    with fs.RootDir(root) as rd:
        fd = fs.open_beneath(rd, ".", os.O_RDONLY | os.O_DIRECTORY)
        assert os.path.samestat(os.fstat(fd), os.stat(root))
        os.close(fd)


@pytest.mark.parametrize(
    "rel,why",
    [
        ("out_rel/secret.txt", "through a symbolic link"),
        ("out_rel", "through a symbolic link"),
        ("out_abs/secret.txt", "through a symbolic link"),
        ("abs_inside/../../outside/secret.txt", "through a symbolic link"),
        ("a/out_file", "through a symbolic link"),
        ("../outside/secret.txt", "'..' goes above"),
        ("a/../../outside/secret.txt", "'..' goes above"),
        ("/etc/passwd", "absolute path"),
    ],
)
def test_open_refuses_every_way_out(mode: str, tree: dict[str, Path], rel: str, why: str) -> None:
    with fs.RootDir(tree["root"], label="the working directory") as rd:
        with pytest.raises(fs.EscapeError) as caught:
            fs.open_beneath(rd, rel)
    assert caught.value.errno in (errno.EXDEV, errno.ELOOP)
    assert why in str(caught.value) and "the working directory" in str(caught.value)
    assert str(caught.value).startswith(rel + ":")


def test_open_dangling_loops_and_magic_links(mode: str, tree: dict[str, Path]) -> None:
    root = tree["root"]
    with pytest.raises(FileNotFoundError) as missing:
        fs.open_beneath(root, "dangling")
    assert missing.value.filename == "dangling"
    with pytest.raises(fs.BeneathError) as loop:
        fs.open_beneath(root, "loop1")
    assert loop.value.errno == errno.ELOOP and "too many symbolic links" in str(loop.value)
    with pytest.raises(fs.BeneathError):  # /proc/self/root is a magic link to /
        fs.open_beneath("/proc/self", "root/etc/hostname")
    with pytest.raises(NotADirectoryError):
        fs.open_beneath(root, "a/b/f.txt/x")


def test_open_no_symlinks(mode: str, tree: dict[str, Path]) -> None:
    root = tree["root"].resolve()
    assert read_fd(fs.open_no_symlinks(root / "a" / "b" / "f.txt")) == b"inside\n"
    for path in (root / "in_file", root / "in_dir" / "f.txt", root / "out_abs" / "secret.txt"):
        with pytest.raises(fs.EscapeError) as caught:
            fs.open_no_symlinks(path)
        assert "symbolic link" in str(caught.value)
    with pytest.raises(ValueError):
        fs.open_no_symlinks("relative/path")


# ---- read ---------------------------------------------------------------------------------


def test_read_file_beneath(mode: str, tree: dict[str, Path]) -> None:
    root = tree["root"]
    assert fs.read_file_beneath(root, "in_file", 100) == b"inside\n"
    data, st = fs.read_file_beneath_stat(root, "a/b/f.txt", 100)
    assert data == b"inside\n" and st.st_size == 7
    with pytest.raises(fs.FileTooLarge) as big:
        fs.read_file_beneath(root, "a/b/f.txt", 3)
    assert (
        big.value.size == 7 and big.value.limit == 3 and "over the 3-byte limit" in str(big.value)
    )
    with pytest.raises(IsADirectoryError):
        fs.read_file_beneath(root, "a", 100)
    with pytest.raises(fs.EscapeError):
        fs.read_file_beneath(root, "out_rel/secret.txt", 100)
    os.mkfifo(root / "fifo")  # no writer: a plain open would hang
    with pytest.raises(fs.BeneathError) as fifo:
        fs.read_file_beneath(root, "fifo", 100)
    assert "not a regular file" in str(fifo.value)


# ---- write --------------------------------------------------------------------------------


def test_write_creates_parents_and_sets_modes(mode: str, tree: dict[str, Path]) -> None:
    root = tree["root"]
    old = os.umask(0o077)  # the file mode is exact, whatever the umask
    try:
        w = fs.write_file_beneath(root, "new/deep/x.txt", b"one")
    finally:
        os.umask(old)
    target = root / "new" / "deep" / "x.txt"
    assert target.read_bytes() == b"one" and w.created and w.relpath == "new/deep/x.txt"
    assert w.path == str(target.resolve())
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    os.chmod(target, 0o750)
    w = fs.write_file_beneath(root, "new/deep/x.txt", b"two")
    assert not w.created and target.read_bytes() == b"two"
    assert stat.S_IMODE(target.stat().st_mode) == 0o750  # kept on overwrite
    fs.write_file_beneath(root, "new/deep/x.txt", b"three", mode=0o600)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600  # unless a mode is given
    assert not [p for p in target.parent.iterdir() if p.name.endswith(".tmp")]


def test_write_through_an_inside_symlink_replaces_its_target(
    mode: str, tree: dict[str, Path]
) -> None:
    root = tree["root"]
    w = fs.write_file_beneath(root, "in_file", b"via link\n")
    assert (root / "in_file").is_symlink() and (
        root / "a" / "b" / "f.txt"
    ).read_bytes() == b"via link\n"
    assert not w.created and w.path == str((root / "a" / "b" / "f.txt").resolve())
    w = fs.write_file_beneath(
        root, "dangling", b"made\n"
    )  # a dangling link inside: its target is created
    assert (
        (root / "dangling").is_symlink()
        and (root / "missing.txt").read_bytes() == b"made\n"
        and w.created
    )
    fs.write_file_beneath(root, "in_dir/g.txt", b"g")
    assert (root / "a" / "b" / "g.txt").read_bytes() == b"g"
    os.symlink(
        str(root / "a" / "b" / "f.txt"), root / "abs_file"
    )  # `ln -s "$PWD/AGENTS.md" CLAUDE.md`
    w = fs.write_file_beneath(root, "abs_file", b"absolute\n")
    assert (root / "abs_file").is_symlink() and (
        root / "a" / "b" / "f.txt"
    ).read_bytes() == b"absolute\n"
    assert w.relpath == "a/b/f.txt"


@pytest.mark.parametrize(
    "rel",
    [
        "out_rel/secret.txt",
        "out_rel/new.txt",
        "out_abs/new.txt",
        "a/out_file",
        "abs_inside/../../outside/new.txt",
        "dangling_out",
        "out_rel/made/deep.txt",
        "../outside/new.txt",
        "/tmp/x.txt",
    ],
)
def test_write_never_lands_outside(mode: str, tree: dict[str, Path], rel: str) -> None:
    with pytest.raises(fs.EscapeError):
        fs.write_file_beneath(tree["root"], rel, b"pwned")
    outside_untouched(tree["outside"])


def test_write_refuses_folders_and_special_files(mode: str, tree: dict[str, Path]) -> None:
    root = tree["root"]
    with pytest.raises(IsADirectoryError):
        fs.write_file_beneath(root, "a", b"x")
    with pytest.raises(fs.BeneathError) as dot:
        fs.write_file_beneath(root, ".", b"x")
    assert dot.value.errno == errno.EISDIR
    os.mkfifo(root / "fifo")
    with pytest.raises(fs.BeneathError):
        fs.write_file_beneath(root, "fifo", b"x")
    assert stat.S_ISFIFO((root / "fifo").lstat().st_mode)
    with pytest.raises(NotADirectoryError):
        fs.write_file_beneath(root, "a/b/f.txt/sub.txt", b"x")
    assert not [p for p in root.rglob("*.tmp")]


# ---- trees --------------------------------------------------------------------------------


def test_walk_and_glob_do_not_leave_the_root(mode: str, tree: dict[str, Path]) -> None:
    root = tree["root"]
    walked = {
        folder: (sorted(dirs), sorted(files)) for folder, dirs, files in fs.walk_beneath(root)
    }
    assert set(walked) == {".", "a", "a/b"}  # symlinked folders are never descended
    assert walked["."][0] == ["a"] and "out_rel" in walked["."][1]
    found = fs.glob_beneath(root, "**/*")
    assert sorted(found) == ["a/b/f.txt", "in_file"]  # in_file stays inside; a/out_file does not
    assert sorted(fs.glob_beneath(root, "*/*.txt")) == [
        "in_dir/f.txt"
    ]  # a wildcard step follows an inside link
    assert (
        fs.glob_beneath(root, "out_*/*") == {} and fs.glob_beneath(root, "out_rel/secret.txt") == {}
    )
    assert sorted(fs.glob_beneath(root, "*.txt", "a/b")) == ["f.txt"]
    assert sorted(fs.glob_beneath(root, "../b/f.txt", "a/b")) == ["../b/f.txt"]
    assert fs.glob_beneath(root, "../../../outside/*", "a/b") == {}


# ---- a real race ----------------------------------------------------------------------------


@pytest.mark.slow
def test_symlink_swap_race_never_leads_outside(mode: str, tmp_path: Path) -> None:
    """A process swaps root/d (a real folder) with a symlink to outside/ as fast as it can."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "d").mkdir(parents=True)
    outside.mkdir()
    (outside / "x").write_text(CANARY)
    os.symlink(str(outside), root / "swap")

    naive_escapes = 0  # the control: a plain path-based write, as the executors did before
    with Swapper(root / "d", root / "swap"):
        for _ in range(200):
            try:
                with open(root / "d" / "naive.txt", "w") as handle:
                    handle.write("naive")
            except OSError:
                pass
            if (outside / "naive.txt").exists():
                naive_escapes += 1
                (outside / "naive.txt").unlink()
    assert naive_escapes > 0, (
        "the swapper never won a race against a path-based write: the test proves nothing"
    )

    # 2,000 writes (a check-then-write version let ~1 in 300 through here), more if needed until
    # both outcomes were seen: the swapper's exchanges wait for our renames inside d (the folder's
    # lock), so most attempts meet the symlink.
    results = {"ok": 0, "refused": 0}
    read_back = set()
    deadline = time.monotonic() + 8
    with Swapper(root / "d", root / "swap") as swapper:
        i = 0
        while i < 2000 or (
            not (results["ok"] and results["refused"]) and time.monotonic() < deadline
        ):
            i += 1
            try:
                fs.write_file_beneath(root, "d/x", f"write {i}".encode(), durable=False)
                results["ok"] += 1
            except fs.BeneathError as exc:  # an EscapeError, or "kept changing" (walker)
                assert "escapes" in str(exc) or "kept changing" in str(exc), exc
                results["refused"] += 1
            if i % 4 == 0:
                try:
                    read_back.add(fs.read_file_beneath(root, "d/x", 100))
                except (fs.BeneathError, FileNotFoundError):
                    pass
    assert swapper.swaps > 0
    assert results["ok"] > 0 and results["refused"] > 0, results  # both sides of the race were hit
    assert (
        sorted(p.name for p in outside.iterdir()) == ["x"] and (outside / "x").read_text() == CANARY
    )
    assert not any(CANARY.encode() in data for data in read_back)
    inside = [
        p
        for p in root.rglob("x")
        if p.is_file() and not p.is_symlink() and outside not in p.parents
    ]
    assert inside and all(p.read_text().startswith("write ") for p in inside)
