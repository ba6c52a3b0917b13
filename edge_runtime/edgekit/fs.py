"""Race-free file operations beneath a root directory: no symlink swap can move them outside it.

Standard library + ctypes only. This is the one copy: the edge runtime's file tools and llmos's
(``llmos_tui/execution/replay/executors.py``, ``undo.py``) both import it as ``edgekit.fs``.

Checking ``realpath`` and then opening the path by name is a time-of-check/time-of-use race: a
process that can write inside the root (a background job left by an earlier shell command, a
script run with ``--allow-scripts`` on the edge that left a child behind) can swap a checked
directory for a symlink to ``~/.ssh`` between the check and the write. Everything here resolves
paths *relative to a directory file descriptor of the root* and lets the kernel refuse any step
that leaves it, in the same system call that opens the file.

Contract:

* ``open_beneath(root, relpath, flags, mode)`` opens ``relpath`` beneath ``root`` (a path, an fd or
  a :class:`RootDir`). Symlinks whose target stays beneath the root are followed; a symlink that
  leads outside (absolute, or relative through ``..``), an absolute ``relpath``, a ``..`` above
  the root and ``/proc`` magic links raise :class:`EscapeError` (an ``OSError``, errno EXDEV or
  ELOOP) and open nothing. Linux ``openat2(2)`` with ``RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS``
  does it in one call; where openat2 is missing (ENOSYS: kernel < 5.6, or filtered by seccomp) a
  walker opens one component at a time with ``O_NOFOLLOW`` relative to the previous directory fd,
  reads each symlink itself and resolves it the same way (``..`` pops a stack of directory fds,
  so it never climbs above the root). Both give the same answers, except that RESOLVE_BENEATH
  refuses every absolute symlink: when it does and the root's path is known, the walker decides,
  following an absolute symlink whose target is (lexically) inside the root from the root fd.
* ``write_file_beneath(root, relpath, data, mode=None)`` replaces the file atomically: a temporary
  ``.<name>.<pid>.<random>.tmp`` created with ``O_EXCL`` in the parent directory's fd (opened
  beneath the root), written, ``fchmod``-ed and fsynced, then ``renameat`` onto the name inside
  that same directory fd, then the directory is fsynced. Missing parent folders are created with
  ``mkdirat`` (each one beneath the root). Overwriting keeps the existing file's mode unless
  ``mode`` is given; a new file gets ``mode`` or 0o644. A final symlink that stays beneath the
  root is written through (its target is replaced, the link stays), as editors do.
* ``read_file_beneath(root, relpath, max_bytes)`` reads a regular file (``O_NONBLOCK``: a FIFO
  planted at the path cannot hang us), refusing directories, devices and files over ``max_bytes``
  (:class:`FileTooLarge`, which carries the size).
* ``relative_path(path, root, cwd=…)`` turns a tool's absolute or relative path into a path
  relative to ``root`` after *lexical* normalization (``normpath``: no file system access, no
  symlink resolution), or ``None`` when it lies outside. The kernel does the resolving.
* ``walk_beneath`` / ``glob_beneath`` list a tree beneath the root: directories are opened beneath
  the root, symlinked directories are never descended by a recursive walk, and a symlinked file
  is only reported when its target is beneath the root. Nothing outside the root is read or
  listed through a symlink.
* ``open_no_symlinks(path, flags)``: for an absolute path the caller already resolved with
  ``realpath`` (outside any root): opened with ``RESOLVE_NO_SYMLINKS`` (openat2; the walker
  refuses every symlink likewise), so a symlink swapped in after the resolution fails instead of
  being followed.

Every fd we open is close-on-exec. Errors are ``OSError``s with the path; :class:`BeneathError`
(and its :class:`EscapeError`) say in words why (``str(exc)`` is ``"<path>: <reason>"``).
"""

from __future__ import annotations

import errno
import fnmatch
import os
import re
import stat
import sys
import threading
from collections import deque
from typing import Callable, Iterator, Union

# ---- openat2 ---------------------------------------------------------------------------------

RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10

#: openat2's syscall number: 437 wherever the unified (asm-generic) numbering is used.
_OPENAT2_NR = {
    "x86_64": 437,
    "amd64": 437,
    "i386": 437,
    "i686": 437,
    "aarch64": 437,
    "arm64": 437,
    "armv7l": 437,
    "armv8l": 437,
    "riscv64": 437,
    "ppc64le": 437,
    "ppc64": 437,
    "s390x": 437,
    "loongarch64": 437,
    "alpha": 547,
}
MAX_SYMLINK_HOPS = 40  # like the kernel's limit
_EAGAIN_RETRIES = 64  # openat2 says EAGAIN when a rename raced a '..' lookup
_O_TMPFILE = getattr(os, "O_TMPFILE", 0)
_O_PATH = getattr(os, "O_PATH", 0)
_DIR_FLAGS = (_O_PATH or os.O_RDONLY) | os.O_DIRECTORY | os.O_CLOEXEC


_lock = threading.Lock()
_available: bool | None = None  # None: not probed yet
_mode = "auto"  # auto | openat2 | walk
_call: Callable[[int, bytes, int, int, int], int] | None = (
    None  # (dirfd, path, flags, mode, resolve) -> fd or -errno
)


def _bind_openat2() -> Callable[[int, bytes, int, int, int], int] | None:
    """A caller of the openat2 syscall through libc's ``syscall`` (ctypes is imported only here)."""
    machine = os.uname().machine.lower() if hasattr(os, "uname") else ""
    if not sys.platform.startswith("linux") or machine not in _OPENAT2_NR or not _O_PATH:
        return None
    import ctypes

    class OpenHow(ctypes.Structure):
        _fields_ = [
            ("flags", ctypes.c_uint64),
            ("mode", ctypes.c_uint64),
            ("resolve", ctypes.c_uint64),
        ]

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        syscall = libc.syscall
    except (OSError, AttributeError):
        return None
    syscall.restype = ctypes.c_long
    number = ctypes.c_long(_OPENAT2_NR[machine])
    size = ctypes.c_size_t(ctypes.sizeof(OpenHow))
    get_errno, c_int, c_char_p, byref = (
        ctypes.get_errno,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.byref,
    )

    def call(dirfd: int, path: bytes, flags: int, mode: int, resolve: int) -> int:
        how = OpenHow(flags, mode, resolve)
        res = syscall(number, c_int(dirfd), c_char_p(path), byref(how), size)
        return -get_errno() if res < 0 else int(res)

    return call


def _probe() -> bool:
    """Whether openat2 works here (kernel >= 5.6, not filtered by a seccomp profile)."""
    global _call
    call = _bind_openat2()
    if call is None:
        return False
    try:
        top = os.open("/", _DIR_FLAGS)
    except OSError:
        return False
    try:
        fd = call(top, b".", _DIR_FLAGS, 0, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)
    finally:
        os.close(top)
    if fd < 0:
        return False  # ENOSYS (old kernel), EPERM (seccomp), ...
    os.close(fd)
    _call = call
    return True


def use_openat2() -> bool:
    """Whether the primitives use openat2 (else the component walker)."""
    global _available
    if _mode == "walk":
        return False
    if _available is None:
        with _lock:
            if _available is None:
                _available = _probe()
    if _mode == "openat2" and not _available:
        raise OSError(errno.ENOSYS, "openat2 is not available on this system")
    return bool(_available)


def set_mode(mode: str) -> str:
    """Choose ``auto`` (openat2 when it works, else the walker), ``openat2`` or ``walk``; returns
    the previous mode. Tests force the walker with it; production leaves ``auto``."""
    global _mode
    if mode not in ("auto", "openat2", "walk"):
        raise ValueError(f"unknown mode {mode!r} (auto, openat2, walk)")
    previous, _mode = _mode, mode
    return previous


# ---- errors ----------------------------------------------------------------------------------


class BeneathError(OSError):
    """A path could not be used beneath the root; ``reason`` says why in words."""

    def __init__(self, code: int, path: str, reason: str) -> None:
        super().__init__(code, reason, path)
        self.path = path
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


class EscapeError(BeneathError):
    """The path leads outside the root (absolute, a '..' above it, or a symlink out)."""


class FileTooLarge(BeneathError):
    """A file over the caller's byte limit; ``size`` is what it holds (nothing was read)."""

    def __init__(self, path: str, size: int, limit: int) -> None:
        super().__init__(errno.EFBIG, path, f"is {size} bytes, over the {limit}-byte limit")
        self.size = size
        self.limit = limit


def _escape_reason(relpath: str, root_label: str) -> str:
    """Why ``relpath`` left the root, judged lexically (the kernel only says EXDEV)."""
    if relpath.startswith("/"):
        return f"is an absolute path; only paths inside {root_label} can be used here"
    depth = 0
    for part in relpath.split("/"):
        if part == "..":
            depth -= 1
            if depth < 0:
                return f"its '..' goes above {root_label}"
        elif part not in ("", "."):
            depth += 1
    return f"escapes {root_label} through a symbolic link"


# ---- roots -----------------------------------------------------------------------------------


class RootDir:
    """An open directory fd that paths are resolved beneath (``O_PATH``, close-on-exec).

    ``RootDir(path)`` opens ``path`` (following symlinks in ``path`` itself: the caller trusts its
    root); ``RootDir.adopt(fd, path)`` takes ownership of an fd opened elsewhere. ``label`` names
    the root in error messages ("escapes <label> through a symbolic link"); default: ``path``."""

    def __init__(
        self,
        path: Union[str, os.PathLike[str]],
        *,
        label: str | None = None,
        _fd: int | None = None,
    ) -> None:
        self.path = os.fspath(path)
        self.label = label or self.path
        self.fd = os.open(self.path, _DIR_FLAGS) if _fd is None else _fd

    @classmethod
    def adopt(
        cls, fd: int, path: Union[str, os.PathLike[str]], *, label: str | None = None
    ) -> "RootDir":
        return cls(path, label=label, _fd=fd)

    def close(self) -> None:
        fd, self.fd = self.fd, -1
        if fd >= 0:
            os.close(fd)

    def __enter__(self) -> "RootDir":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    def __repr__(self) -> str:
        return f"RootDir({self.path!r}, fd={self.fd})"


Root = Union[int, str, os.PathLike[str], RootDir]  # no string: typing would compile it


class _RootRef:
    """Borrow (fd, path, label) from a Root; a path is opened here and closed on exit."""

    def __init__(self, root: Root) -> None:
        self.owned: int | None = None
        if isinstance(root, RootDir):
            if root.fd < 0:
                raise ValueError(f"the root directory {root.path} is closed")
            self.fd, self.path, self.label = root.fd, root.path, root.label
        elif isinstance(root, int):
            self.fd, self.path, self.label = root, "", "the root directory"
        else:
            self.path = self.label = os.fspath(root)
            self.owned = self.fd = os.open(self.path, _DIR_FLAGS)

    def __enter__(self) -> "_RootRef":
        return self

    def __exit__(self, *exc: object) -> None:
        if self.owned is not None:
            os.close(self.owned)


# ---- path helpers ----------------------------------------------------------------------------


def _normpath(path: str) -> str:
    path = os.path.normpath(path)
    return "/" + path.lstrip("/") if path.startswith("//") else path


def relative_path(
    path: Union[str, os.PathLike[str]],
    root: Union[str, os.PathLike[str]],
    *,
    cwd: Union[str, os.PathLike[str], None] = None,
    aliases: tuple[Union[str, os.PathLike[str]], ...] = (),
) -> str | None:
    """``path`` relative to ``root`` ("." for the root itself), or None when it lies outside.

    A relative ``path`` is taken from ``cwd`` (default: ``root``). Purely lexical: ``.``, ``..``
    and repeated slashes are normalized, nothing is resolved (``realpath`` would be a check whose
    answer can change before the use). ``aliases``: other spellings of the same root (the path
    it was given as, before ``realpath``)."""
    raw = os.fspath(path)
    if "\x00" in raw:
        raise ValueError("the path contains a NUL byte")
    if not os.path.isabs(raw):
        raw = os.path.join(os.fspath(cwd if cwd is not None else root), raw)
    full = _normpath(raw)
    for base in (root, *aliases):
        base = _normpath(os.fspath(base))
        if full == base:
            return "."
        prefix = base if base.endswith("/") else base + "/"
        if full.startswith(prefix):
            return full[len(prefix) :]
    return None


def _parts(relpath: str, label: str) -> list[str]:
    if "\x00" in relpath:
        raise BeneathError(errno.EINVAL, relpath, "contains a NUL byte")
    if relpath.startswith("/"):
        raise EscapeError(errno.EXDEV, relpath, _escape_reason(relpath, label))
    return [p for p in relpath.split("/") if p not in ("", ".")]


def fd_path(fd: int) -> str | None:
    """Where the kernel says ``fd`` is now (``/proc/self/fd``), or None without /proc."""
    try:
        path = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return None
    return path if path.startswith("/") and not path.endswith(" (deleted)") else None


# ---- open ------------------------------------------------------------------------------------

_NO_SYMLINKS_REASON = (
    "goes through a symbolic link, which a path resolved before cannot contain: "
    "it changed since it was checked"
)


def _openat2(dirfd: int, path: str, flags: int, mode: int, resolve: int, label: str) -> int:
    assert _call is not None
    creates = flags & os.O_CREAT or (
        _O_TMPFILE and flags & _O_TMPFILE == _O_TMPFILE
    )  # O_TMPFILE has O_DIRECTORY's bit
    flags, mode = (
        flags | os.O_CLOEXEC,
        (mode if creates else 0),
    )  # openat2 refuses a mode without O_CREAT
    encoded = os.fsencode(path or ".")
    for _attempt in range(_EAGAIN_RETRIES):
        fd = _call(dirfd, encoded, flags, mode, resolve)
        if fd >= 0:
            return fd
        code = -fd
        if code in (errno.EAGAIN, errno.EINTR):
            continue
        if code == errno.EXDEV and resolve & RESOLVE_BENEATH:
            raise EscapeError(code, path, _escape_reason(path, label))
        if code == errno.ELOOP and resolve & RESOLVE_NO_SYMLINKS:
            raise EscapeError(code, path, _NO_SYMLINKS_REASON)
        if code == errno.ELOOP and not flags & os.O_NOFOLLOW:
            raise BeneathError(
                code, path, "goes through too many symbolic links, or through a /proc magic link"
            )
        raise OSError(code, os.strerror(code), path)
    raise BeneathError(
        errno.EAGAIN, path, "kept changing while being opened (a concurrent rename); try again"
    )


def _readlink_target(
    name: str, dirfd: int, relpath: str, label: str, root_path: str
) -> tuple[list[str], bool]:
    """The components of the symlink ``name``'s target and whether they start from the root (an
    absolute target that names a place inside ``root_path``); an absolute target elsewhere is an
    EscapeError."""
    try:
        target = os.readlink(name, dir_fd=dirfd)
    except OSError as exc:
        if exc.errno == errno.EINVAL:  # no longer a symlink: the tree changed under us
            raise BeneathError(
                errno.EAGAIN, relpath, "changed while being opened (a concurrent rename); try again"
            ) from None
        raise
    if target.startswith("/"):
        inner = relative_path(target, root_path) if root_path.startswith("/") else None
        if inner is None:
            raise EscapeError(
                errno.EXDEV,
                relpath,
                f"escapes {label} through a symbolic link ({name} -> {target})",
            )
        return [p for p in inner.split("/") if p not in ("", ".")], True
    return [p for p in target.split("/") if p not in ("", ".")], False


def _walk_open(
    root_fd: int,
    relpath: str,
    flags: int,
    mode: int,
    label: str,
    root_path: str = "",
    *,
    no_symlinks: bool = False,
) -> int:
    """openat2(RESOLVE_BENEATH) by hand: one component at a time, symlinks read and resolved by us
    (``no_symlinks``: any symlink met is refused, as RESOLVE_NO_SYMLINKS does). Unlike
    RESOLVE_BENEATH, an absolute symlink whose target lies (lexically) inside ``root_path`` is
    followed: resolution restarts at the root fd with the rest of the target."""
    try:
        return _walk_open_inner(root_fd, relpath, flags, mode, label, root_path, no_symlinks)
    except BeneathError:
        raise
    except OSError as exc:  # name the path asked for, as openat2's errors do, not the component
        raise OSError(exc.errno, exc.strerror, relpath) from None


def _walk_open_inner(
    root_fd: int, relpath: str, flags: int, mode: int, label: str, root_path: str, no_symlinks: bool
) -> int:
    return _Walk(root_fd, relpath, flags, mode, label, root_path, no_symlinks).open()


class _Walk:
    """One walk of ``_walk_open``: the components still to resolve (``queue``), the fds of the
    directories entered (``stack``, the root excluded), the symlinks followed (``hops``)."""

    def __init__(
        self,
        root_fd: int,
        relpath: str,
        flags: int,
        mode: int,
        label: str,
        root_path: str,
        no_symlinks: bool,
    ) -> None:
        self.root_fd = root_fd
        self.relpath = relpath
        self.flags = flags
        self.mode = mode
        self.label = label
        self.root_path = root_path
        self.no_symlinks = no_symlinks
        self.queue = deque(_parts(relpath, label))
        self.stack: list[int] = []
        self.hops = self.retries = 0
        self.follow_final = not flags & os.O_NOFOLLOW

    def open(self) -> int:
        try:
            while True:
                cur = self.stack[-1] if self.stack else self.root_fd
                if not self.queue:
                    return os.open(".", self.flags | os.O_CLOEXEC, self.mode, dir_fd=cur)
                name = self.queue.popleft()
                if name == "..":
                    self.up()
                    continue
                if self.queue:  # an intermediate component: a directory (or a symlink to one)
                    if self.enter(name, cur):
                        continue
                else:  # the last component
                    fd, follow = self.open_last(name, cur)
                    if fd is not None:
                        return fd
                    if not follow:  # it changed under us: look again
                        continue
                self.follow(name, cur)
        finally:
            for fd in self.stack:
                os.close(fd)

    def changed(self, name: str) -> None:
        """A component changed type between two of our calls (a concurrent rename): look again."""
        self.retries += 1
        if self.retries > _EAGAIN_RETRIES:
            raise BeneathError(
                errno.EAGAIN,
                self.relpath,
                "kept changing while being opened (a concurrent rename); try again",
            )
        self.queue.appendleft(name)

    def up(self) -> None:
        """``..``: back to the parent directory, never above the root."""
        if not self.stack:
            raise EscapeError(
                errno.EXDEV,
                self.relpath,
                f"its '..' goes above {self.label}"
                if not self.hops
                else f"escapes {self.label} through a symbolic link",
            )
        os.close(self.stack.pop())

    def enter(self, name: str, cur: int) -> bool:
        """Enter the directory *name* (True); False when it is a symlink (to follow)."""
        fd = os.open(name, (_O_PATH or os.O_RDONLY) | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=cur)
        kind = os.fstat(fd).st_mode
        if stat.S_ISDIR(kind):
            self.stack.append(fd)
            return True
        os.close(fd)
        if not stat.S_ISLNK(kind):
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), self.relpath)
        return False

    def open_last(self, name: str, cur: int) -> tuple[int | None, bool]:
        """Open the last component: ``(fd, _)``; ``(None, True)``: a symlink to follow;
        ``(None, False)``: it changed under us (queued again)."""
        flags, follow_final = self.flags, self.follow_final
        try:
            fd = os.open(name, flags | os.O_NOFOLLOW | os.O_CLOEXEC, self.mode, dir_fd=cur)
        except OSError as exc:
            # O_NOFOLLOW on a symlink says ELOOP (ENOTDIR with O_DIRECTORY); O_CREAT|O_EXCL
            # on one says EEXIST, as the kernel does without O_NOFOLLOW.
            if not follow_final or exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                raise
            try:
                kind = os.stat(name, dir_fd=cur, follow_symlinks=False).st_mode
            except OSError:
                raise exc from None
            if stat.S_ISLNK(kind):
                return None, True
            if exc.errno == errno.ELOOP or stat.S_ISDIR(kind):  # a symlink a moment ago
                self.changed(name)
                return None, False
            raise
        if not (follow_final and flags & _O_PATH and stat.S_ISLNK(os.fstat(fd).st_mode)):
            return fd, False
        os.close(fd)
        return None, True

    def follow(self, name: str, cur: int) -> None:
        """*name* is a symlink: queue its target's components (from the root for an absolute
        target inside ``root_path``), unless symlinks are refused or too many were followed."""
        if self.no_symlinks:
            raise EscapeError(errno.ELOOP, self.relpath, _NO_SYMLINKS_REASON)
        self.hops += 1
        if self.hops > MAX_SYMLINK_HOPS:
            raise BeneathError(errno.ELOOP, self.relpath, "goes through too many symbolic links")
        try:
            target, from_root = _readlink_target(
                name, cur, self.relpath, self.label, self.root_path
            )
        except BeneathError as exc:
            if exc.errno != errno.EAGAIN:  # no longer a symlink
                raise
            self.hops -= 1
            self.changed(name)
            return
        if from_root:
            while self.stack:
                os.close(self.stack.pop())
        self.queue.extendleft(reversed(target))


def _open(ref: _RootRef, relpath: str, flags: int, mode: int = 0o666) -> int:
    if use_openat2():
        _parts(relpath, ref.label)  # same refusals (NUL, absolute) and messages as the walker
        try:
            return _openat2(
                ref.fd, relpath, flags, mode, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS, ref.label
            )
        except EscapeError as exc:
            # RESOLVE_BENEATH refuses every absolute symlink, even one naming a place inside
            # the root (`ln -s "$PWD/AGENTS.md" CLAUDE.md`): the walker, as safe and slower,
            # follows those and gives the final answer. Only on this failure path.
            if exc.errno != errno.EXDEV or not ref.path.startswith("/"):
                raise
    return _walk_open(ref.fd, relpath, flags, mode, ref.label, ref.path)


def open_beneath(root: Root, relpath: str, flags: int = os.O_RDONLY, mode: int = 0o666) -> int:
    """An fd for ``relpath`` opened beneath ``root`` (see the module docstring); the caller closes it."""
    with _RootRef(root) as ref:
        return _open(ref, relpath, flags, mode)


def stat_beneath(root: Root, relpath: str) -> os.stat_result:
    """``stat`` of ``relpath`` beneath ``root`` (symlinks inside the root followed)."""
    with _RootRef(root) as ref:
        fd = _open(ref, relpath, _O_PATH or os.O_RDONLY)
        try:
            return os.fstat(fd)
        finally:
            os.close(fd)


def open_no_symlinks(
    path: Union[str, os.PathLike[str]], flags: int = os.O_RDONLY, mode: int = 0o666
) -> int:
    """Open an already-resolved absolute ``path``; any symlink in it now (a swap since it was
    resolved) makes the open fail instead of being followed."""
    raw = os.fspath(path)
    if not os.path.isabs(raw):
        raise ValueError(f"open_no_symlinks needs an absolute path, got {raw!r}")
    if use_openat2():
        return _openat2(-100, raw, flags, mode, RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS, raw)
    top = os.open("/", _DIR_FLAGS)
    try:
        return _walk_open(top, raw.lstrip("/"), flags, mode, raw, "/", no_symlinks=True)
    finally:
        os.close(top)


# ---- read ------------------------------------------------------------------------------------


def _read_fd(fd: int, shown: str, max_bytes: int) -> tuple[bytes, os.stat_result]:
    st = os.fstat(fd)
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), shown)
    if not stat.S_ISREG(st.st_mode):
        raise BeneathError(errno.EINVAL, shown, "is not a regular file (a device, FIFO or socket)")
    if st.st_size > max_bytes:
        raise FileTooLarge(shown, st.st_size, max_bytes)
    chunks, total = [], 0
    while total <= max_bytes:
        chunk = os.read(fd, max(min(max_bytes + 1 - total, 1 << 20), 1))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    if total > max_bytes:  # it grew while we read it
        raise FileTooLarge(shown, total, max_bytes)
    return b"".join(chunks), st


_READ_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC


def read_file_beneath_stat(
    root: Root, relpath: str, max_bytes: int
) -> tuple[bytes, os.stat_result]:
    """The bytes of the regular file ``relpath`` beneath ``root`` and its stat (see ``read_file_beneath``)."""
    with _RootRef(root) as ref:
        fd = _open(ref, relpath, _READ_FLAGS)
    try:
        return _read_fd(fd, relpath, max_bytes)
    finally:
        os.close(fd)


def read_file_beneath(root: Root, relpath: str, max_bytes: int) -> bytes:
    """The bytes of the regular file ``relpath`` beneath ``root``; :class:`FileTooLarge` over
    ``max_bytes``, ``IsADirectoryError`` for a folder, :class:`BeneathError` for a device/FIFO."""
    return read_file_beneath_stat(root, relpath, max_bytes)[0]


def read_file_no_symlinks(
    path: Union[str, os.PathLike[str]], max_bytes: int
) -> tuple[bytes, os.stat_result]:
    """Like ``read_file_beneath`` for an already-resolved absolute path (see ``open_no_symlinks``)."""
    fd = open_no_symlinks(path, _READ_FLAGS)
    try:
        return _read_fd(fd, os.fspath(path), max_bytes)
    finally:
        os.close(fd)


# ---- write -----------------------------------------------------------------------------------


class _Record:
    """Equality and repr over ``__slots__`` (what ``@dataclass`` gave these two; written out so
    that importing this module on a replay does not import ``dataclasses`` and ``inspect``)."""

    __slots__: tuple[str, ...] = ()
    __hash__ = None  # type: ignore[assignment]  # mutable, as a dataclass with eq

    def _values(self) -> tuple[object, ...]:
        return tuple(getattr(self, n) for n in self.__slots__)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()  # type: ignore[attr-defined]

    def __repr__(self) -> str:
        inner = ", ".join(f"{n}={getattr(self, n)!r}" for n in self.__slots__)
        return f"{type(self).__qualname__}({inner})"


class Written(_Record):
    """What ``write_file_beneath`` did: ``relpath`` is the file actually written (after following
    a final symlink), ``path`` its absolute path as the kernel names its folder now."""

    __slots__ = ("relpath", "path", "created")
    __match_args__ = ("relpath", "path", "created")

    def __init__(self, relpath: str, path: str, created: bool) -> None:
        self.relpath = relpath
        self.path = path
        self.created = created


def _split_last(relpath: str, label: str) -> tuple[str, str]:
    parts = _parts(relpath, label)
    if not parts or parts[-1] == "..":
        raise BeneathError(errno.EISDIR, relpath, "names a directory, not a file")
    return "/".join(parts[:-1]) or ".", parts[-1]


def _open_parent(ref: _RootRef, parent: str, create: bool) -> int:
    try:
        return _open(ref, parent, _DIR_FLAGS)
    except FileNotFoundError:
        if not create:
            raise
    parts = _parts(parent, ref.label)
    for i, name in enumerate(parts):
        if name == "..":
            continue
        at = _open(ref, "/".join(parts[:i]) or ".", _DIR_FLAGS)
        try:
            os.mkdir(name, 0o777, dir_fd=at)  # the umask applies, as with mkdir -p
        except FileExistsError:
            pass
        finally:
            os.close(at)
    return _open(ref, parent, _DIR_FLAGS)


def _fsync_dir(dirfd: int) -> None:
    try:
        fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=dirfd)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _replace_in(dirfd: int, name: str, data: bytes, mode: int, durable: bool) -> None:
    tmp = f".{name[:200]}.{os.getpid()}.{os.urandom(4).hex()}.tmp"  # atomic.clean_stale_temporaries' form
    fd = os.open(
        tmp,
        os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
        0o600,
        dir_fd=dirfd,
    )
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fchmod(fd, mode)
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, name, src_dir_fd=dirfd, dst_dir_fd=dirfd)
    except BaseException:
        try:
            os.unlink(tmp, dir_fd=dirfd)
        except OSError:
            pass
        raise
    if durable:
        _fsync_dir(dirfd)


def write_file_beneath(
    root: Root,
    relpath: str,
    data: bytes,
    mode: int | None = None,
    *,
    durable: bool = True,
    make_parents: bool = True,
) -> Written:
    """Atomically replace (or create) the file ``relpath`` beneath ``root`` with ``data``.

    See the module docstring. Raises ``IsADirectoryError`` when the path is a folder,
    :class:`BeneathError` for a device/FIFO/socket, :class:`EscapeError` when the path or a
    symlink on it leads outside the root (nothing is written then)."""
    with _RootRef(root) as ref:
        current = relpath
        for _hop in range(MAX_SYMLINK_HOPS + 1):
            parent, name = _split_last(current, ref.label)
            dirfd = _open_parent(ref, parent, make_parents)
            try:
                try:
                    st: os.stat_result | None = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
                except FileNotFoundError:
                    st = None
                if st is not None and stat.S_ISLNK(st.st_mode):
                    target, from_root = _readlink_target(name, dirfd, relpath, ref.label, ref.path)
                    current = (
                        "/".join(([] if from_root or parent == "." else [parent]) + target) or "."
                    )
                    continue
                if st is not None and stat.S_ISDIR(st.st_mode):
                    raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), relpath)
                if st is not None and not stat.S_ISREG(st.st_mode):
                    raise BeneathError(
                        errno.EINVAL, relpath, "is not a regular file (a device, FIFO or socket)"
                    )
                final_mode = (
                    mode if mode is not None else (st.st_mode & 0o7777 if st is not None else 0o644)
                )
                _replace_in(dirfd, name, data, final_mode, durable)
                where = fd_path(dirfd)
                if where is None:
                    where = (
                        _normpath(os.path.join(ref.path, parent))
                        if ref.path.startswith("/")
                        else parent
                    )
                return Written(
                    relpath=_normpath(os.path.join(parent, name)),
                    path=os.path.join(where, name),
                    created=st is None,
                )
            finally:
                os.close(dirfd)
        raise BeneathError(errno.ELOOP, relpath, "goes through too many symbolic links")


# ---- trees -----------------------------------------------------------------------------------


def _join(a: str, b: str) -> str:
    return b if a in ("", ".") else f"{a}/{b}"


class Entry(_Record):
    """One directory entry as listed (no symlink followed): ``kind`` is dir, file, link or other;
    ``st``: its ``lstat`` when the lister asked for it (regular files only)."""

    __slots__ = ("name", "kind", "st")
    __match_args__ = ("name", "kind", "st")

    def __init__(self, name: str, kind: str, st: os.stat_result | None = None) -> None:
        self.name = name
        self.kind = kind
        self.st = st


def _list(
    ref: _RootRef, relpath: str, stat_files: Callable[[str], bool] | None = None
) -> list[Entry]:
    fd = _open(ref, relpath, os.O_RDONLY | os.O_DIRECTORY | os.O_NONBLOCK)
    try:
        out = []
        with os.scandir(fd) as it:
            for e in it:
                try:
                    kind = (
                        "link"
                        if e.is_symlink()
                        else "dir"
                        if e.is_dir(follow_symlinks=False)
                        else "file"
                        if e.is_file(follow_symlinks=False)
                        else "other"
                    )
                    # fstatat on the listed folder's fd, never following a link: no way out
                    st = (
                        e.stat(follow_symlinks=False)
                        if kind == "file" and stat_files and stat_files(e.name)
                        else None
                    )
                except OSError:
                    continue
                out.append(Entry(e.name, kind, st))
        return out
    finally:
        os.close(fd)


def list_beneath(root: Root, relpath: str = ".") -> list[Entry]:
    """The entries of the directory ``relpath`` beneath ``root``."""
    with _RootRef(root) as ref:
        return _list(ref, relpath)


def walk_beneath(root: Root, relpath: str = ".") -> Iterator[tuple[str, list[str], list[str]]]:
    """``os.walk``, top-down, beneath ``root``: yields (folder relpath, dirnames, filenames).

    ``dirnames`` holds real directories only (prune it in place, as with ``os.walk``); symlinks,
    whatever they point to, are listed in ``filenames`` and never descended: open them with
    ``open_beneath``, which follows them only inside the root. Unreadable folders are skipped."""
    with _RootRef(root) as ref:
        stack = [relpath]
        while stack:
            folder = stack.pop()
            try:
                entries = _list(ref, folder)
            except OSError:
                continue
            dirs = [e.name for e in entries if e.kind == "dir"]
            files = [e.name for e in entries if e.kind != "dir"]
            yield folder, dirs, files
            stack.extend(_join(folder, d) for d in reversed(dirs))


_MAGIC = "*?["  # the wildcard characters of a glob component


def glob_beneath(
    root: Root, pattern: str, relpath: str = ".", skip: Callable[[str], bool] | None = None
) -> dict[str, os.stat_result]:
    """Regular files matching ``pattern`` (relative, ``pathlib.Path.glob`` rules) from the folder
    ``relpath`` beneath ``root``: {path relative to ``relpath``: stat}.

    ``*``, ``?`` and ``[...]`` match within one component (dot-files included, case-sensitive);
    ``**`` matches any number of folders and does not descend symlinked folders. A wildcard or
    literal component follows a symlink only when its target is beneath the root, and a symlinked
    file is reported only then. ``skip(rel)`` prunes folders (rel relative to ``relpath``)."""
    parts = [p for p in pattern.split("/") if p not in ("", ".")]
    if not parts:
        return {}
    with _RootRef(root) as ref:
        search = _Glob(ref, parts, relpath, skip)
        search.select("", 0)
    return search.found


class _Glob:
    """One ``glob_beneath``: the pattern's components matched from ``relpath``, one at a time."""

    def __init__(
        self,
        ref: _RootRef,
        parts: list[str],
        relpath: str,
        skip: Callable[[str], bool] | None,
    ) -> None:
        self.ref = ref
        self.parts = parts
        self.relpath = relpath
        self.skip = skip
        self.found: dict[str, os.stat_result] = {}

    def full(self, rel: str) -> str:
        return _join(self.relpath, rel) if rel else self.relpath

    def skipped(self, rel: str) -> bool:
        return bool(self.skip and self.skip(rel))

    def file_stat(self, rel: str) -> None:
        """Report *rel* if it is a regular file (a symlink is followed only beneath the root)."""
        try:
            fd = _open(self.ref, self.full(rel), _O_PATH or os.O_RDONLY)
        except OSError:  # gone, or a symlink that leads outside the root
            return
        try:
            st = os.fstat(fd)
        except OSError:
            return
        finally:
            os.close(fd)
        if stat.S_ISREG(st.st_mode):
            self.found.setdefault(rel, st)

    def dirs_under(self, rel: str) -> Iterator[str]:
        """*rel* and every real folder under it (no symlink descended, skipped ones pruned)."""
        todo = [rel]
        while todo:
            folder = todo.pop()
            yield folder
            try:
                entries = _list(self.ref, self.full(folder))
            except OSError:
                continue
            for e in entries:
                child = _join(folder, e.name) if folder else e.name
                if e.kind == "dir" and not self.skipped(child):
                    todo.append(child)

    def select(self, rel: str, i: int) -> None:
        """Match component *i* of the pattern in the folder *rel* (and the rest beneath)."""
        part, last = self.parts[i], i == len(self.parts) - 1
        if part == "**":
            if last:  # pathlib: a trailing ** selects folders only
                return
            for folder in list(self.dirs_under(rel)):
                self.select(folder, i + 1)
            return
        if not any(c in part for c in _MAGIC):
            child = _join(rel, part) if rel else part
            if last:
                self.file_stat(child)
            elif part == ".." or not self.skipped(child):
                self.select(child, i + 1)
            return
        self.select_wildcard(rel, i, part, last)

    def select_wildcard(self, rel: str, i: int, part: str, last: bool) -> None:
        rx = re.compile(fnmatch.translate(part))
        try:
            entries = _list(
                self.ref,
                self.full(rel),
                (lambda name: rx.match(name) is not None) if last else None,
            )
        except OSError:
            return
        for e in entries:
            if not rx.match(e.name):
                continue
            child = _join(rel, e.name) if rel else e.name
            if last and e.st is not None:
                if stat.S_ISREG(e.st.st_mode):
                    self.found.setdefault(child, e.st)
            elif last:
                self.file_stat(child)  # a symlink: followed only beneath the root
            elif e.kind in ("dir", "link") and not self.skipped(child):
                self.select(child, i + 1)
