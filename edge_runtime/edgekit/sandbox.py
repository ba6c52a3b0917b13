"""The edge's OS sandbox: Landlock through raw syscalls (ctypes), standard library only.

Contract:

* ``landlock_status()`` -> ``(abi, reason)``: the Landlock ABI version this kernel enforces (>= 1)
  and ``""``, or ``0`` and why it cannot be used (ENOSYS: no Landlock in the kernel; EOPNOTSUPP:
  built but disabled; EPERM: filtered, e.g. by a container's seccomp profile; a trial
  ``landlock_restrict_self`` in a forked child that failed). Memoized. The environment variable
  ``LLMOS_EDGE_NO_LANDLOCK=1`` is a **test hook** that makes it report "unavailable" (it can only
  make the edge stricter: ``--allow-scripts`` is then refused).
* ``run_sandboxed(command, cwd, timeout_s, allow_network=False)`` -> ``SandboxRun``: runs
  ``bash -c COMMAND`` under an intermediate *helper* process (this file, run as
  ``python -I -S sandbox.py SPEC``, the spec marshalled), in its own session and process group:

    helper: PR_SET_PDEATHSIG, PR_SET_CHILD_SUBREAPER (orphans -- ``setsid`` survivors included --
    |       are re-parented to it)
    '-- command: rlimits (CPU, file size, address space, no core), PR_SET_NO_NEW_PRIVS, Landlock
        (read+execute: /usr /bin /sbin /lib* /etc /opt, the interpreter's prefixes, a few /dev
        nodes; read+write: the working directory and a private temporary directory; with ABI >= 4
        TCP bind/connect denied unless ``allow_network``; with ABI >= 6 signals and abstract unix
        sockets scoped to the sandbox) -> exec bash -c COMMAND

  When the command exits, the helper kills every process left below it (found through /proc)
  and exits with the command's status. On time-out the caller sends SIGTERM to the helper (which
  kills the command and reaps the rest), then SIGKILL to the whole process group after a grace
  period. The environment is an allow-list (PATH restricted to readable folders, with the edge's
  own interpreter first; LANG, LC_*, TERM, TZ; HOME and TMPDIR set to the private temporary
  directory): no ``*_KEY``, ``*_TOKEN``, ``ANTHROPIC_*``, ``AWS_*``, ...
* Never falls back to running unsandboxed: when Landlock cannot be applied in the child, the
  helper exits 126 with a message on stderr and the command does not run.

Not enforced (Landlock's limits): metadata (``stat``, path lookup, ``chdir``) outside the allowed
folders; UDP and connections to unix sockets named in the file system; with ABI < 4 TCP; with
ABI < 6 signals to other processes of the same user and abstract unix sockets; the number of
processes (a fork bomb is bounded by the time-out and the reaping only).
"""

from __future__ import annotations

# Only what the helper needs is imported here (it starts for every command: keep it lean);
# the caller's modules (subprocess, tempfile, ...) are imported inside its functions.
import errno
import marshal
import os
import signal
import sys

try:  # a Python built without libffi has no ctypes: Landlock is then unavailable, never bypassed
    import ctypes
except ImportError:  # pragma: no cover
    ctypes = None  # type: ignore[assignment]

if ctypes is not None:  # the ruleset code: edgekit/landlock.py, shared with llmos's helper
    if __name__ != "__main__":
        from .landlock import landlock_abi, landlock_restrict, reap_descendants
    else:  # run as the helper (python -I -S sandbox.py SPEC): the module beside this file
        import importlib.util

        _spec = importlib.util.spec_from_file_location(
            "edgekit_landlock",
            os.path.join(os.path.dirname(os.path.abspath(__file__)), "landlock.py"),
        )
        if _spec is None or _spec.loader is None:  # pragma: no cover - it ships beside this file
            raise ImportError("edgekit/landlock.py is not beside sandbox.py")
        _landlock = importlib.util.module_from_spec(_spec)
        _spec.loader.exec_module(_landlock)
        landlock_abi, landlock_restrict = _landlock.landlock_abi, _landlock.landlock_restrict
        reap_descendants = _landlock.reap_descendants

NO_LANDLOCK_ENV = "LLMOS_EDGE_NO_LANDLOCK"
HELPER_EXIT = 126  # the helper could not sandbox the command (it did not run)
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS, PR_SET_CHILD_SUBREAPER = 1, 38, 36
SUPPORTED_MACHINES = ("x86_64", "amd64", "aarch64", "arm64")
READ_ROOTS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt")
DEV_READ = ("/dev/urandom", "/dev/random", "/dev/zero")
DEV_WRITE = ("/dev/null",)
ENV_KEEP = (
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "LC_MESSAGES",
    "LC_COLLATE",
    "LC_NUMERIC",
    "LC_TIME",
    "LC_MONETARY",
    "TERM",
    "TZ",
)
LIMIT_FSIZE = 1 << 30  # 1 GiB per file written
LIMIT_AS = 8 << 30  # 8 GiB of address space (node and the JVM reserve a lot)
KILL_GRACE_S = 5.0


def _libc():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc


def _prctl(libc, option, arg2=0, arg3=0, arg4=0, arg5=0):
    return libc.prctl(
        ctypes.c_int(option),
        ctypes.c_ulong(arg2),
        ctypes.c_ulong(arg3),
        ctypes.c_ulong(arg4),
        ctypes.c_ulong(arg5),
    )


_status = None


def landlock_status():
    """(abi, "") when Landlock can confine a child here, else (0, why not). See the module docstring."""
    global _status
    if os.environ.get(NO_LANDLOCK_ENV, "") not in ("", "0"):
        return 0, "Landlock is disabled by %s (a test hook)" % NO_LANDLOCK_ENV
    if _status is not None:
        return _status
    machine = os.uname().machine.lower()
    if not sys.platform.startswith("linux"):
        _status = (0, "Landlock is a Linux feature (this is %s)" % sys.platform)
    elif ctypes is None:
        _status = (0, "this Python has no ctypes module, needed to call Landlock")
    elif machine not in SUPPORTED_MACHINES:
        _status = (
            0,
            "the edge calls Landlock by syscall number on x86_64 and aarch64 only (this is %s)"
            % machine,
        )
    else:
        try:
            libc = _libc()
        except OSError as exc:
            _status = (0, "cannot load the C library: %s" % exc)
        else:
            abi, code = landlock_abi(libc)
            if abi < 1:
                why = {
                    errno.ENOSYS: "this kernel has no Landlock (ENOSYS; Linux >= 5.13 with CONFIG_SECURITY_LANDLOCK)",
                    errno.EOPNOTSUPP: "Landlock is built into this kernel but disabled (add landlock to the lsm= "
                    "boot parameter)",
                    errno.EPERM: "Landlock system calls are not permitted here (EPERM: a seccomp filter?)",
                }
                _status = (
                    0,
                    why.get(
                        code, "Landlock is unavailable (%s)" % os.strerror(code or errno.ENOSYS)
                    ),
                )
            else:
                _status = _trial(libc, abi)
    return _status


def _trial(libc, abi):
    """Enforce a ruleset in a forked child (nothing else runs there): proves restrict_self works."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        try:
            os.close(read)
            problem = landlock_restrict(libc, abi, [], ["/"], [], False)
            os.write(write, problem.encode("utf-8", "replace")[:500])
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as handle:
        problem = handle.read().decode("utf-8", "replace")
    os.waitpid(pid, 0)
    return (0, "Landlock cannot be enforced here: " + problem) if problem else (abi, "")


class SandboxRun:
    """What a sandboxed command did: exit_code (128+N for a signal), stdout, stderr, timed_out, abi."""

    def __init__(self, exit_code, stdout, stderr, timed_out, abi):
        self.exit_code, self.stdout, self.stderr, self.timed_out, self.abi = (
            exit_code,
            stdout,
            stderr,
            timed_out,
            abi,
        )


def interpreter_prefixes():
    """Folders the edge's own interpreter needs (its venv and its installation), never ``/``, home or above."""
    home = os.path.realpath(os.path.expanduser("~"))
    out = []
    for path in (
        sys.prefix,
        sys.exec_prefix,
        getattr(sys, "base_prefix", ""),
        getattr(sys, "base_exec_prefix", ""),
        os.path.dirname(os.path.dirname(os.path.realpath(sys.executable))),
    ):
        if not path:
            continue
        real = os.path.realpath(path)
        if real == "/" or (home + "/").startswith(real.rstrip("/") + "/"):
            continue
        if real not in out:
            out.append(real)
    return out


def _inside_any(path, roots):
    real = os.path.realpath(path)
    return any(real == r or real.startswith(r.rstrip("/") + "/") for r in roots)


def sandbox_env(tmp, read_roots):
    """The command's environment: an allow-list, PATH limited to folders the sandbox can read."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k in ENV_KEEP or (k.startswith("LC_") and k.isupper())
    }
    env.setdefault("LANG", "C.UTF-8")
    parts = [os.path.dirname(os.path.abspath(sys.executable))]  # python3 is the edge's interpreter
    for part in os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin").split(os.pathsep):
        if os.path.isabs(part) and part not in parts and _inside_any(part, read_roots):
            parts.append(part)
    for part in ("/usr/local/bin", "/usr/bin", "/bin"):
        if part not in parts:
            parts.append(part)
    env["PATH"] = os.pathsep.join(parts)
    env["HOME"] = env["TMPDIR"] = tmp
    return env


def run_sandboxed(command, cwd, timeout_s, allow_network=False):
    """Run ``bash -c command`` in ``cwd`` under Landlock (see the module docstring)."""
    import shutil
    import subprocess
    import tempfile

    abi, why = landlock_status()
    if abi < 1:
        raise OSError(errno.ENOSYS, why)
    cwd = os.path.realpath(cwd)
    tmp = tempfile.mkdtemp(prefix="llmos-edge-")
    try:
        read_roots = [p for p in READ_ROOTS if os.path.exists(p)] + interpreter_prefixes()
        shell = shutil.which("bash", path="/usr/bin:/bin") or "/bin/sh"
        cpu = int(max(timeout_s, 1)) + 5
        spec = {
            "argv": [shell, "-c", command],
            "cwd": cwd,
            "env": sandbox_env(tmp, read_roots),
            "abi": abi,
            "read": read_roots + list(DEV_READ),
            "write_dirs": [cwd, tmp],
            "write_files": list(DEV_WRITE),
            "allow_network": bool(allow_network),
            "parent": os.getpid(),
            "limits": {"cpu": cpu, "fsize": LIMIT_FSIZE, "as": LIMIT_AS, "core": 0},
        }
        proc = subprocess.Popen(
            [sys.executable, "-I", "-S", os.path.abspath(__file__), marshal.dumps(spec).hex()],
            cwd=cwd,
            env={"PATH": "/usr/bin:/bin"},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        timed_out = False
        try:
            out, err = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            try:
                proc.send_signal(signal.SIGTERM)  # the helper kills the command and reaps the rest
                out, err = proc.communicate(timeout=KILL_GRACE_S)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except OSError:
                    pass
                out, err = proc.communicate()
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # anything left in the group (never the caller's)
        except OSError:
            pass
        return SandboxRun(proc.returncode, out, err, timed_out, abi)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ---- the helper (run as a script; standard library only, imports nothing of edgekit) -------------------


def _fail(message, code=HELPER_EXIT):
    try:
        os.write(2, ("edge sandbox (landlock): " + message + "\n").encode("utf-8", "replace"))
    finally:
        os._exit(code)


def _status_code(status):
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status)
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return 1


def _become_command(libc, spec):
    """In the child that becomes bash: never returns."""
    import resource

    try:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGPIPE, signal.SIGXFSZ):
            signal.signal(sig, signal.SIG_DFL)
        _prctl(libc, PR_SET_PDEATHSIG, signal.SIGKILL)
        names = {
            "cpu": resource.RLIMIT_CPU,
            "fsize": resource.RLIMIT_FSIZE,
            "as": resource.RLIMIT_AS,
            "core": resource.RLIMIT_CORE,
        }
        for name, value in spec["limits"].items():
            hard = resource.getrlimit(names[name])[1]
            if hard != resource.RLIM_INFINITY:
                value = min(value, hard)
            resource.setrlimit(names[name], (value, value))
        abi, code = landlock_abi(libc)
        if abi < 1:
            _fail(
                "Landlock is unavailable in this kernel (%s); the command was not run"
                % os.strerror(code or errno.ENOSYS)
            )
        problem = landlock_restrict(
            libc, abi, spec["read"], spec["write_dirs"], spec["write_files"], spec["allow_network"]
        )
        if problem:
            _fail(problem + "; the command was not run")
        os.chdir(spec["cwd"])
        argv = spec["argv"]
        os.execve(argv[0], argv, spec["env"])
    except BaseException as exc:  # noqa: BLE001
        _fail("cannot start the command: %r" % (exc,))


def _helper_main(argv):
    spec = marshal.loads(bytes.fromhex(argv[1]))
    libc = _libc()
    _prctl(libc, PR_SET_PDEATHSIG, signal.SIGKILL)
    if spec.get("parent") and os.getppid() != spec["parent"]:
        os._exit(125)  # the edge is gone already
    if _prctl(libc, PR_SET_CHILD_SUBREAPER, 1) != 0:
        _fail("prctl(PR_SET_CHILD_SUBREAPER) failed; the command was not run")
    target = os.fork()
    if target == 0:
        _become_command(libc, spec)

    def on_term(signum, frame):
        try:
            os.kill(target, signal.SIGKILL)
        except OSError:
            pass

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    code = 1
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        if pid == target:
            code = _status_code(status)
            break
    reap_descendants()
    os._exit(code)


if __name__ == "__main__":
    _helper_main(sys.argv)
