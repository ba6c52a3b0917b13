"""Resource limits of a sandboxed command, and the options ``run_sandboxed`` takes from config.

Every sandboxed command gets these rlimits, soft = hard (it cannot raise them back: raising a
hard limit needs CAP_SYS_RESOURCE, which the sandbox drops). ``0`` in the config means "leave
the limit as inherited" (usually unlimited).

=========================  =========  =====================================================
config key                 default    why this default
=========================  =========  =====================================================
``execution.limit_cpu_s``  600        CPU seconds *per process* (RLIMIT_CPU). Equal to the
                                      longest Bash time-out Claude Code may ask for (600 000
                                      ms), so the wall-clock time-out normally ends a command
                                      first; it still stops a multi-threaded spinner early.
``limit_file_mb``          1024       largest file one process may write (RLIMIT_FSIZE):
                                      ``cat /dev/zero > big`` stops at 1 GiB (SIGXFSZ), far
                                      above any source file or normal build artefact.
``limit_procs``            512        processes *and threads* (RLIMIT_NPROC, or a cgroup
                                      ``pids.max`` for root): a fork bomb stops there while
                                      ``make -j`` and test runners have ample room.
``limit_memory_mb``        8192       address space per process (RLIMIT_AS). It caps virtual
                                      memory, not RSS: runtimes that reserve large regions up
                                      front (a JVM needs ~4 GiB, V8 and Go reserve GiBs) still
                                      start, and a runaway allocation fails with ENOMEM.
=========================  =========  =====================================================

Core dumps are always off (RLIMIT_CORE = 0): a crashing program cannot drop a large ``core``
file into the working directory.

What holds where (``llmos doctor`` checks it live):

* RLIMIT_NPROC counts the tasks of the *real uid*. The kernel never applies it to the global
  root user (kuid 0), not even inside a user namespace (bubblewrap maps root to root), so for
  root the process cap is a cgroup ``pids.max`` instead: a child cgroup is created next to ours
  in a writable pids hierarchy (cgroup v1 ``pids``, or v2 where ``pids`` is already enabled for
  children of our cgroup: llmos never changes ``cgroup.subtree_control``). When no such cgroup
  can be created, **the process cap does not hold for root** and doctor says so.
* Without a user namespace (the Landlock backend where the kernel refuses unprivileged user
  namespaces) RLIMIT_NPROC counts every process of the user, sandboxed or not: the limit is
  then set to "the user's current task count + limit_procs", i.e. at most ``limit_procs`` new
  tasks (approximately: other programs of the user may start or stop meanwhile).
* RLIMIT_CPU, RLIMIT_FSIZE and RLIMIT_AS are per process and hold for every user; a command can
  split work across processes (each gets the full allowance) up to the process cap.
"""

from __future__ import annotations

import os
import resource
import signal
import time
from typing import Any
from llmos_tui.records import record

DEFAULT_LIMIT_CPU_S = 600
DEFAULT_LIMIT_FILE_MB = 1024
DEFAULT_LIMIT_PROCS = 512
DEFAULT_LIMIT_MEMORY_MB = 8192


@record(frozen=True)
class SandboxOptions:
    """What ``run_sandboxed`` reads from the configuration (``execution.*``)."""

    read_paths: tuple[str, ...] = ()  # execution.sandbox_read_paths (extra read-only paths)
    env_passthrough: tuple[str, ...] = ()  # execution.env_passthrough (extra variable names)
    limit_cpu_s: int = DEFAULT_LIMIT_CPU_S
    limit_file_mb: int = DEFAULT_LIMIT_FILE_MB
    limit_procs: int = DEFAULT_LIMIT_PROCS
    limit_memory_mb: int = DEFAULT_LIMIT_MEMORY_MB

    @classmethod
    def from_config(cls, execution: Any) -> "SandboxOptions":
        """From an ``ExecutionConfig`` (or anything with the same attributes)."""
        home = os.path.expanduser("~")

        def expand(p: str) -> str:
            p = os.path.expandvars(os.path.expanduser(p)) if p.startswith(("~", "$")) else p
            return p if os.path.isabs(p) else os.path.join(home, p)

        return cls(
            read_paths=tuple(expand(p) for p in getattr(execution, "sandbox_read_paths", ()) or ()),
            env_passthrough=tuple(getattr(execution, "env_passthrough", ()) or ()),
            limit_cpu_s=int(getattr(execution, "limit_cpu_s", DEFAULT_LIMIT_CPU_S)),
            limit_file_mb=int(getattr(execution, "limit_file_mb", DEFAULT_LIMIT_FILE_MB)),
            limit_procs=int(getattr(execution, "limit_procs", DEFAULT_LIMIT_PROCS)),
            limit_memory_mb=int(getattr(execution, "limit_memory_mb", DEFAULT_LIMIT_MEMORY_MB)),
        )


# rlimit name -> resource constant
_RES = {
    "cpu": resource.RLIMIT_CPU,
    "fsize": resource.RLIMIT_FSIZE,
    "nproc": resource.RLIMIT_NPROC,
    "as": resource.RLIMIT_AS,
    "core": resource.RLIMIT_CORE,
}


def rlimit_values(options: SandboxOptions) -> dict[str, int]:
    """rlimit name -> value (seconds, bytes or tasks) to set, clamped to the hard limits we have."""
    wanted = {
        "cpu": options.limit_cpu_s,
        "fsize": options.limit_file_mb * 1024 * 1024,
        "nproc": options.limit_procs,
        "as": options.limit_memory_mb * 1024 * 1024,
    }
    out: dict[str, int] = {}
    for name, value in wanted.items():
        if value and value > 0:
            hard = resource.getrlimit(_RES[name])[1]
            out[name] = value if hard == resource.RLIM_INFINITY else min(value, hard)
    out["core"] = 0
    return out


def bash_ulimit(values: dict[str, int]) -> str:
    """The ``ulimit`` command (bash units: KiB for -f and -v) that sets ``values``."""
    flags = {
        "cpu": ("-t", 1),
        "fsize": ("-f", 1024),
        "nproc": ("-u", 1),
        "as": ("-v", 1024),
        "core": ("-c", 1),
    }
    parts = []
    for name, value in values.items():
        flag, unit = flags[name]
        parts += [flag, str(max(0, value // unit) if unit > 1 else value)]
    return "ulimit " + " ".join(parts) if parts else "true"


def uid_is_global_root() -> bool:
    """True when we run as the kernel's root user (kuid 0), whom RLIMIT_NPROC never binds."""
    if os.getuid() != 0:
        return False
    try:
        with open("/proc/self/uid_map", encoding="ascii") as fh:
            for line in fh:
                inside, outside, _count = (int(x) for x in line.split())
                if inside == 0:
                    return outside == 0
    except (OSError, ValueError):
        return True
    return False


# --------------------------------------------------------------------------------------
# cgroup pids (the process cap for root)
# --------------------------------------------------------------------------------------
def _pids_hierarchy() -> tuple[str, str] | None:
    """(our cgroup directory in a hierarchy with the pids controller, "v1"|"v2"), if any."""
    try:
        with open("/proc/self/cgroup", encoding="utf-8") as fh:
            groups = [line.rstrip("\n").split(":", 2) for line in fh if line.count(":") >= 2]
        with open("/proc/self/mountinfo", encoding="utf-8") as fh:
            mounts = [line.split() for line in fh]
    except OSError:
        return None
    v1_path = next((path for _hid, ctrls, path in groups if "pids" in ctrls.split(",")), None)
    v2_path = next((path for hid, ctrls, path in groups if hid == "0" and ctrls == ""), None)
    for fields in mounts:
        try:
            sep = fields.index("-")
        except ValueError:
            continue
        root, mountpoint, fstype = fields[3], fields[4], fields[sep + 1]
        options = fields[sep + 3].split(",") if len(fields) > sep + 3 else []
        version, path = None, None
        if fstype == "cgroup" and "pids" in options and v1_path is not None:
            version, path = "v1", v1_path
        elif fstype == "cgroup2" and v2_path is not None:
            version, path = "v2", v2_path
        if version is None or path is None:
            continue
        if root != "/" and not (path == root or path.startswith(root.rstrip("/") + "/")):
            continue
        rel = path[len(root) :] if root != "/" else path
        directory = os.path.join(mountpoint.replace("\\040", " "), rel.lstrip("/"))
        if version == "v2":
            try:
                with open(os.path.join(directory, "cgroup.controllers"), encoding="ascii") as fh:
                    if "pids" not in fh.read().split():
                        continue
            except OSError:
                continue
        if os.access(directory, os.W_OK):
            return directory.rstrip("/") or "/", version
    return None


_counter = 0


class PidsCgroup:
    """A child cgroup with ``pids.max``; processes are moved in by writing ``procs_file``."""

    def __init__(self, directory: str, version: str) -> None:
        self.directory = directory
        self.version = version
        self.procs_file = os.path.join(directory, "cgroup.procs")

    @classmethod
    def create(cls, limit: int) -> "PidsCgroup | None":
        """A new cgroup capped at ``limit`` tasks, or None when the kernel will not give us one."""
        global _counter
        found = _pids_hierarchy()
        if found is None:
            return None
        base, version = found
        _sweep_stale(base)
        _counter += 1
        directory = os.path.join(
            base, f"llmos-sbx-{os.getpid()}-{_counter}-{time.monotonic_ns() % 10**9}"
        )
        try:
            os.mkdir(directory, 0o755)
        except OSError:
            return None
        group = cls(directory, version)
        try:  # v2: only where pids is already enabled for children (we never change subtree_control)
            with open(os.path.join(directory, "pids.max"), "w", encoding="ascii") as fh:
                fh.write(str(int(limit)))
        except OSError:
            group.remove()
            return None
        return group

    def pids(self) -> list[int]:
        try:
            with open(self.procs_file, encoding="ascii") as fh:
                return [int(x) for x in fh.read().split()]
        except (OSError, ValueError):
            return []

    def kill_all(self) -> None:
        """SIGKILL whatever is still inside (a reaper for root; normally it is empty)."""
        if self.version == "v2" and os.path.exists(os.path.join(self.directory, "cgroup.kill")):
            try:
                with open(os.path.join(self.directory, "cgroup.kill"), "w", encoding="ascii") as fh:
                    fh.write("1")
            except OSError:
                pass
        # Polled from 0.5 ms up to 10 ms: the group is normally empty or empties within a
        # millisecond of the command's end (bubblewrap's namespace init dying with its parent),
        # and a first sleep of 10 ms cost every sandboxed command that much.
        deadline = time.monotonic() + 0.5
        pause = 0.0005
        while True:
            pids = self.pids()
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            if time.monotonic() >= deadline:
                return
            time.sleep(pause)
            pause = min(pause * 2, 0.01)

    def remove(self) -> None:
        deadline = time.monotonic() + 3.0  # killed processes may take a moment to be reaped
        pause = 0.0005
        next_kill = 0.0
        while True:
            try:
                os.rmdir(self.directory)
                return
            except FileNotFoundError:
                return
            except OSError:
                now = time.monotonic()
                if now >= deadline:
                    return
                if now >= next_kill:  # at most every 0.5 s, as before
                    self.kill_all()
                    next_kill = time.monotonic() + 0.5
                time.sleep(pause)
                pause = min(pause * 2, 0.01)


def left_by_a_dead_process(name: str, *, parts: int) -> bool:
    """*name* is ``llmos-sbx-<pid>-…`` (at least *parts* dash-separated parts) and that llmos
    process is gone: what it left (a cgroup, a temporary folder) is nobody's now."""
    fields = name.split("-")
    return (
        name.startswith("llmos-sbx-")
        and len(fields) >= parts
        and fields[2].isdigit()
        and not pid_alive(int(fields[2]))
    )


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


_swept: set[str] = set()


def _sweep_stale(base: str) -> None:
    """Remove cgroups left by llmos processes that died without cleaning up (once per process)."""
    if base in _swept:
        return
    _swept.add(base)
    try:
        names = os.listdir(base)
    except OSError:
        return
    for name in names:
        if left_by_a_dead_process(name, parts=3):
            PidsCgroup(os.path.join(base, name), "").remove()


__all__ = [
    "SandboxOptions",
    "PidsCgroup",
    "pid_alive",
    "rlimit_values",
    "bash_ulimit",
    "uid_is_global_root",
    "DEFAULT_LIMIT_CPU_S",
    "DEFAULT_LIMIT_FILE_MB",
    "DEFAULT_LIMIT_PROCS",
    "DEFAULT_LIMIT_MEMORY_MB",
]
