# The Landlock backend's helper: run as ``python -I -c <this file's text> SPEC_JSON``.
#
# Self-contained (standard library + raw syscalls through ctypes), so it runs under any Python 3
# interpreter, including one that is not the venv's. Never imported by llmos itself. llmos runs
# it with the text of edgekit/landlock.py ahead of it (``sandbox.core._helper_text``): the
# Landlock ruleset code (``landlock_abi``, ``landlock_restrict``) is that one copy, which the edge
# runtime's sandbox uses too.
#
#   helper (outside every restriction; a reaper)
#     '-- [pid-1 init of a new PID namespace, when the kernel allows one]
#           '-- command: rlimits, capability bounding set emptied, Landlock (files, TCP,
#               signal/abstract-socket scopes), seccomp (socket families) -> exec bash -c CMD
#
# When the command ends, everything it started ends too: the PID namespace's init exits (the
# kernel kills every process left in the namespace), or, without a PID namespace, the helper
# (a child subreaper: orphans are re-parented to it) kills every remaining descendant.
import ctypes
import json
import os
import signal
import struct
import sys

# Annotations are plain names, strings or type comments, so any Python 3 runs this file; the type
# checker reads the typing names below (MYPY is always true for it, never at run time).
MYPY = False
if MYPY:  # pragma: no cover
    from typing import Any, NoReturn  # noqa: F401 - Any is used in type comments

    # Not imported at run time: llmos puts edgekit/landlock.py's text ahead of this file's.
    from edgekit.landlock import landlock_abi, landlock_restrict, reap_descendants

spec = json.loads(sys.argv[1])  # type: dict[str, Any]
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS, PR_CAPBSET_DROP, PR_SET_CHILD_SUBREAPER = 1, 38, 24, 36
PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 47, 4, 22, 2
CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = (
    0x00020000,
    0x04000000,
    0x08000000,
    0x10000000,
    0x20000000,
    0x40000000,
)


def fail(msg: str, code: int = 126) -> "NoReturn":
    try:
        os.write(2, ("llmos sandbox (landlock): " + msg + "\n").encode("utf-8", "replace"))
    finally:
        os._exit(code)


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    return int(
        libc.prctl(
            ctypes.c_int(option),
            ctypes.c_ulong(arg2),
            ctypes.c_ulong(arg3),
            ctypes.c_ulong(arg4),
            ctypes.c_ulong(arg5),
        )
    )


def abi_version() -> int:
    return landlock_abi(libc)[0]  # edgekit/landlock.py's text


def status_code(status: int) -> int:
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status)
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return 1


def write_file(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode("ascii"))
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------------------------
# 1. Die with llmos; join the pids cgroup (the process cap for root).
prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
if spec.get("parent") and os.getppid() != spec["parent"]:
    os._exit(125)  # llmos is gone already
if spec.get("cgroup_procs"):
    try:
        write_file(spec["cgroup_procs"], str(os.getpid()))
    except OSError as exc:
        fail("cannot join the pids cgroup: %s" % exc)


# ---------------------------------------------------------------------------------------------
# 2. Namespaces, when the kernel allows: PID (the reaper), IPC, UTS, and net (no interface but a
#    down loopback) unless the network is allowed. Root can create them directly; other users
#    need a user namespace (mapping only their own uid/gid).
def enter_namespaces() -> str:
    if not spec.get("namespaces", True):
        return ""
    flags = (
        CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | (0 if spec["allow_network"] else CLONE_NEWNET)
    )
    uid, gid = os.getuid(), os.getgid()
    userns = os.geteuid() != 0
    if userns:
        flags |= CLONE_NEWUSER
    if libc.unshare(ctypes.c_int(flags)) != 0:
        if not userns and not spec["allow_network"]:
            libc.unshare(ctypes.c_int(CLONE_NEWNET))  # root: at least the network
        return ""
    if userns:
        try:
            write_file("/proc/self/setgroups", "deny")
            write_file("/proc/self/uid_map", "%d %d 1" % (uid, uid))
            write_file("/proc/self/gid_map", "%d %d 1" % (gid, gid))
        except OSError as exc:
            fail("cannot map the user namespace: %s" % exc)
    return "user+pid" if userns else "pid"


NS_MODE = enter_namespaces()
PIDNS = NS_MODE != ""
PIDNS_USER = NS_MODE == "user+pid"


# ---------------------------------------------------------------------------------------------
# 3. The command's own restrictions (run in the process that execs bash).
def count_user_tasks(uid: int) -> int:
    total = 0
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            real, threads = None, 1
            with open("/proc/%s/status" % name) as fh:
                for line in fh:
                    if line.startswith("Uid:"):
                        real = int(line.split()[1])
                    elif line.startswith("Threads:"):
                        threads = int(line.split()[1])
                        break
            if real == uid:
                total += threads
        except (OSError, ValueError, IndexError):
            pass
    return total


def set_limits() -> None:
    import resource

    names = {
        "cpu": resource.RLIMIT_CPU,
        "fsize": resource.RLIMIT_FSIZE,
        "nproc": resource.RLIMIT_NPROC,
        "as": resource.RLIMIT_AS,
        "core": resource.RLIMIT_CORE,
    }
    for name, value in spec.get("limits", {}).items():
        if name == "nproc" and not PIDNS_USER and os.getuid() != 0:
            value += count_user_tasks(os.getuid())  # no user namespace: the count is the user's
        hard = resource.getrlimit(names[name])[1]
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        try:
            resource.setrlimit(names[name], (value, value))
        except (OSError, ValueError) as exc:
            fail("cannot set the %s limit: %s" % (name, exc))


def drop_capabilities() -> None:
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    for cap in range(64):
        prctl(PR_CAPBSET_DROP, cap)  # EPERM without CAP_SETPCAP: nothing to drop then


def apply_landlock(abi: int) -> None:
    problem = landlock_restrict(  # edgekit/landlock.py's text
        libc, abi, spec["read"], spec["write_dirs"], spec["write_files"], spec["allow_network"]
    )
    if problem:
        fail(problem)


def apply_seccomp() -> bool:
    """Deny socket() for AF_UNIX always (Landlock cannot hide socket files such as
    /run/docker.sock) and for AF_INET/AF_INET6/AF_PACKET when the network is off (Landlock only
    filters TCP: this stops UDP too). socketpair() keeps working."""
    import platform

    machine = platform.machine()
    arches = {
        "x86_64": (0xC000003E, 41, 0x40000003, 359, 102),
        "aarch64": (0xC00000B7, 198, 0x40000028, 281, None),
    }
    if machine not in arches:
        return False
    native, native_socket, compat, compat_socket, compat_socketcall = arches[machine]
    families = [1] + ([] if spec["allow_network"] else [2, 10, 17])
    ALLOW, DENY = 0x7FFF0000, 0x00050000 | 13  # SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO | EACCES
    LD, JEQ, RET, AND = 0x20, 0x15, 0x06, 0x54  # classic BPF: (code, jt, jf, k), relative jumps

    def family_checks() -> "list[tuple[int, int, int, int]]":
        out = [(LD, 0, 0, 16)]  # args[0] (low 32 bits)
        for i, fam in enumerate(families):
            remaining = len(families) - i - 1
            out.append((JEQ, remaining + 1, 0, fam))  # -> DENY (after the ALLOW below)
        out += [(RET, 0, 0, ALLOW), (RET, 0, 0, DENY)]
        return out

    native_block = [(LD, 0, 0, 0)]
    if machine == "x86_64":
        native_block.append((AND, 0, 0, 0xBFFFFFFF))  # x32 syscalls carry bit 30
    checks = family_checks()
    native_block += [(JEQ, 1, 0, native_socket), (RET, 0, 0, ALLOW)] + checks
    compat_block = [(LD, 0, 0, 0)]
    if compat_socketcall is not None:
        compat_block.append((JEQ, 0, 1, compat_socketcall))
        compat_block.append((RET, 0, 0, DENY))
    compat_block += [(JEQ, 1, 0, compat_socket), (RET, 0, 0, ALLOW)] + family_checks()
    # arch == native -> native block; arch == compat -> compat block; any other arch -> deny.
    # Both blocks always return, and a jump over the native block leaves the arch in A.
    head = [(LD, 0, 0, 4), (JEQ, 0, len(native_block), native)]
    middle = [(JEQ, 0, len(compat_block), compat)]
    prog = head + native_block + middle + compat_block + [(RET, 0, 0, DENY)]
    raw = b"".join(struct.pack("=HBBI", *ins) for ins in prog)
    buf = ctypes.create_string_buffer(raw, len(raw))

    class Fprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = Fprog(len(prog), ctypes.cast(buf, ctypes.c_void_p))
    if prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(fprog)) != 0:
        fail("cannot install the socket filter (errno %d)" % ctypes.get_errno())
    return True


def become_command() -> "NoReturn":
    """In the process that becomes bash: never returns."""
    try:
        for sig in (
            signal.SIGTERM,
            signal.SIGINT,
            signal.SIGPIPE,
            signal.SIGXFSZ,
        ):  # as a shell would
            signal.signal(sig, signal.SIG_DFL)
        abi = abi_version()
        if abi < 1:
            fail("Landlock is not enabled in this kernel")
        set_limits()
        drop_capabilities()
        apply_landlock(abi)
        if spec.get("seccomp", True):
            apply_seccomp()
        os.chdir(spec["cwd"])
        argv = spec["argv"]
        os.execv(argv[0], argv)
    except SystemExit:
        raise
    except BaseException as exc:  # noqa: BLE001
        fail("cannot start the command: %r" % (exc,))


# ---------------------------------------------------------------------------------------------
# 4. Start the command under a reaper, wait for it, leave nothing behind.
target = 0


def on_term(signum: int, frame: object) -> None:
    # llmos asks us to stop (time-out): end the command now; the reaping below still runs
    if target > 0:
        try:
            os.kill(target, signal.SIGKILL)
        except OSError:
            pass


signal.signal(signal.SIGTERM, on_term)
signal.signal(signal.SIGINT, on_term)
if PIDNS:
    target = os.fork()
    if target == 0:
        # pid 1 of the new namespace: start the command, reap everything, exit with its status.
        # Signals from inside the namespace never reach it (pid 1 with default dispositions).
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        cmd = os.fork()
        if cmd == 0:
            become_command()
        code = 1
        while True:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                break
            if pid == cmd:
                code = status_code(status)
                break
        os._exit(code)  # the kernel kills whatever is left in the namespace
else:
    prctl(PR_SET_CHILD_SUBREAPER, 1)
    target = os.fork()
    if target == 0:
        become_command()

code = 1
while True:
    try:
        pid, status = os.waitpid(-1, 0)
    except ChildProcessError:
        break
    if pid == target:
        code = status_code(status)
        break
if not PIDNS:
    reap_descendants(1000)
os._exit(code)
