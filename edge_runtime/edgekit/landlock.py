"""Landlock rulesets through raw syscalls (ctypes; standard library only, any Python 3).

The one copy of the ruleset code: the edge's sandbox helper (``edgekit/sandbox.py``) imports it,
and llmos's Landlock helper (``llmos_tui/execution/sandbox/_landlock_helper.py``, run as
``python -I -c TEXT``) is given this file's text ahead of its own. So every name here starts with
``landlock_`` or ``LANDLOCK_`` (nothing the helpers define), and this file imports only the
standard library.

``landlock_restrict(libc, abi, read, write_dirs, write_files, allow_network)`` builds a ruleset
for the ABI version ``abi`` (>= 1) and enforces it on the calling thread: read and execute in
``read`` (folders and files), everything in ``write_dirs`` (each one required), read, write and
execute on ``write_files``; with ABI >= 4 TCP bind and connect are denied unless
``allow_network``; with ABI >= 6 signals and abstract unix sockets are scoped to the sandbox. It
sets ``PR_SET_NO_NEW_PRIVS`` first. It returns "" on success or what failed (the caller must not
run the command then).
"""

import ctypes
import os
import signal
import time

# The syscall numbers are the same on x86_64 and aarch64 (and every architecture).
LANDLOCK_SYS_CREATE_RULESET, LANDLOCK_SYS_ADD_RULE, LANDLOCK_SYS_RESTRICT_SELF = 444, 445, 446
LANDLOCK_CREATE_RULESET_VERSION = 1
LANDLOCK_RULE_PATH_BENEATH = 1
LANDLOCK_PR_SET_NO_NEW_PRIVS = 38


class LandlockPathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


class LandlockRulesetAttr(ctypes.Structure):
    _fields_ = [("fs", ctypes.c_uint64), ("net", ctypes.c_uint64), ("scoped", ctypes.c_uint64)]


def landlock_abi(libc: ctypes.CDLL) -> "tuple[int, int]":
    """(abi, errno) from landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION)."""
    value = libc.syscall(
        ctypes.c_long(LANDLOCK_SYS_CREATE_RULESET),
        None,
        ctypes.c_size_t(0),
        ctypes.c_uint32(LANDLOCK_CREATE_RULESET_VERSION),
    )
    return (int(value), 0) if value > 0 else (0, ctypes.get_errno())


def landlock_rights(abi: int) -> "tuple[int, int, int]":
    """(handled fs rights, file-only rights, read rights for folders) for ABI version ``abi``."""
    execute, write_file, read_file, read_dir = 1, 2, 4, 8
    dir_bits = 0
    # REMOVE_DIR, REMOVE_FILE, MAKE_CHAR, MAKE_DIR, MAKE_REG, MAKE_SOCK, MAKE_FIFO, MAKE_BLOCK,
    # MAKE_SYM
    for bit in range(4, 13):
        dir_bits |= 1 << bit
    refer = 1 << 13 if abi >= 2 else 0
    truncate = 1 << 14 if abi >= 3 else 0
    ioctl_dev = 1 << 15 if abi >= 5 else 0
    file_all = execute | write_file | read_file | truncate | ioctl_dev
    return file_all | read_dir | dir_bits | refer, file_all, execute | read_file | read_dir


def landlock_restrict(
    libc: ctypes.CDLL,
    abi: int,
    read: "list[str]",
    write_dirs: "list[str]",
    write_files: "list[str]",
    allow_network: bool,
) -> str:
    """Build and enforce the ruleset on the calling thread: "" on success, else what failed."""
    handled, file_all, read_rights = landlock_rights(abi)
    net = 0 if allow_network or abi < 4 else 3  # LANDLOCK_ACCESS_NET_BIND_TCP | CONNECT_TCP
    scoped = 3 if abi >= 6 else 0  # LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET | SIGNAL
    attr = LandlockRulesetAttr(handled, net, scoped)
    size = 24 if abi >= 6 else (16 if abi >= 4 else 8)
    fd = libc.syscall(
        ctypes.c_long(LANDLOCK_SYS_CREATE_RULESET),
        ctypes.byref(attr),
        ctypes.c_size_t(size),
        ctypes.c_uint32(0),
    )
    if fd < 0:
        return "landlock_create_ruleset failed (%s)" % os.strerror(ctypes.get_errno())
    try:

        def allow(path: str, rights: int, required: bool) -> str:
            try:
                pfd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError as exc:
                return "cannot open %s: %s" % (path, exc.strerror) if required else ""
            try:
                is_dir = (
                    os.path.isdir("/proc/self/fd/%d" % pfd)
                    if os.path.isdir("/proc/self/fd")
                    else os.path.isdir(path)
                )
                rule = LandlockPathBeneath(rights if is_dir else rights & file_all, pfd)
                if (
                    rule.allowed_access
                    and libc.syscall(
                        ctypes.c_long(LANDLOCK_SYS_ADD_RULE),
                        ctypes.c_int(fd),
                        ctypes.c_int(LANDLOCK_RULE_PATH_BENEATH),
                        ctypes.byref(rule),
                        ctypes.c_uint32(0),
                    )
                    != 0
                    and required
                ):
                    return "landlock_add_rule for %s failed (%s)" % (
                        path,
                        os.strerror(ctypes.get_errno()),
                    )
            finally:
                os.close(pfd)
            return ""

        for path in read:
            allow(path, read_rights, False)
        for path in write_files:
            allow(path, file_all, False)
        for path in write_dirs:
            problem = allow(path, handled, True)
            if problem:
                return problem
        no_new_privs = libc.prctl(
            ctypes.c_int(LANDLOCK_PR_SET_NO_NEW_PRIVS),
            ctypes.c_ulong(1),
            ctypes.c_ulong(0),
            ctypes.c_ulong(0),
            ctypes.c_ulong(0),
        )
        if no_new_privs != 0:
            return "prctl(PR_SET_NO_NEW_PRIVS) failed (%s)" % os.strerror(ctypes.get_errno())
        if (
            libc.syscall(
                ctypes.c_long(LANDLOCK_SYS_RESTRICT_SELF), ctypes.c_int(fd), ctypes.c_uint32(0)
            )
            != 0
        ):
            return "landlock_restrict_self failed (%s)" % os.strerror(ctypes.get_errno())
        return ""
    finally:
        os.close(fd)


# ---- the reaper: nothing the command started outlives it -----------------------------------


def descendants(root: int) -> "list[int]":
    """Every process below *root* (read from /proc)."""
    children: "dict[int, list[int]]" = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name, "rb") as fh:
                data = fh.read()
            ppid = int(data[data.rindex(b")") + 2 :].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(name))
    out, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def reap_descendants(rounds: int = 2000) -> None:
    """Kill every process below us until none is left (orphans come back to us: subreaper)."""
    for _ in range(rounds):
        found = descendants(os.getpid())
        while True:  # collect zombies
            try:
                pid, _status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
        if not found:
            return
        for pid in found:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.005)
