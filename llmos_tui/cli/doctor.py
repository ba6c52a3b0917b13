"""`llmos doctor`: check, live, that the OS sandbox keeps each promise on this machine.

Every check runs a small probe command through ``run_sandboxed`` with the backend in force
(``execution.sandbox``, or ``--backend``) and compares what the command saw with what the
sandbox promises. Exit 0: every promise holds; 1: at least one does not (or no sandbox works);
2: usage error. Rows marked ``limit`` are documented limits of the backend on this machine (they
are stated, not failures).
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Optional

import typer

from ._common import err, print_json

WorkspaceOpt = typer.Option(
    None,
    "--workspace",
    "-w",
    help="Workspace directory (default: $LLMOS_WORKSPACE or ~/.local/share/llmos).",
)
CANARY = "LLMOS-DOCTOR-CANARY"


class _Loopback:
    """TCP and UDP listeners on 127.0.0.1 that count what reaches them."""

    def __init__(self) -> None:
        self.tcp = socket.socket()
        self.tcp.bind(("127.0.0.1", 0))
        self.tcp.listen(8)
        self.tcp.settimeout(0.05)
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        self.udp.settimeout(0.05)
        self.accepted = self.datagrams = 0
        self._stop = False
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop:
            for sock in (self.tcp, self.udp):
                try:
                    if sock is self.tcp:
                        conn, _ = sock.accept()
                        conn.close()
                        self.accepted += 1
                    else:
                        sock.recv(64)
                        self.datagrams += 1
                except OSError:
                    pass

    def close(self) -> None:
        self._stop = True
        self._thread.join(timeout=2)
        self.tcp.close()
        self.udp.close()


def _alive(marker: str) -> int:
    count = 0
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if marker.encode() in Path(f"/proc/{name}/cmdline").read_bytes():
                    count += 1
            except OSError:
                pass
    return count


def _limits_table(text: str) -> dict[str, str]:
    rows = {}
    for line in text.splitlines()[1:]:
        parts = line[26:].split()
        if parts:
            rows[line[:26].strip()] = parts[0]
    return rows


def run_checks(
    backend: str, *, allow_network: bool, options: Any
) -> tuple[str, list[dict[str, Any]]]:
    """(backend used, rows). Raises SandboxUnavailable when the backend cannot be had."""
    from ..execution.sandbox import core
    from ..execution.sandbox.limits import SandboxOptions, rlimit_values, uid_is_global_root

    for name in core.BACKENDS if backend == "auto" else [b for b in core.BACKENDS if b == backend]:
        core.forget_probe(name)  # doctor probes live (and refreshes the probe cache)
    chosen = core.choose_backend(backend)
    rows: list[dict[str, Any]] = []

    def row(prop: str, expected: str, seen: str, ok: bool | None) -> None:
        status = "ok" if ok else ("limit" if ok is None else "FAIL")
        rows.append({"property": prop, "expected": expected, "seen": seen, "status": status})

    base = Path(tempfile.mkdtemp(prefix="llmos-doctor-"))
    work = base / "work"
    outside = base / "outside"
    work.mkdir()
    outside.mkdir()
    (outside / "keep.txt").write_text(CANARY)
    real_home = os.path.expanduser("~")
    home_canary: Path | None = None
    try:
        home_canary = Path(tempfile.mkdtemp(prefix=".llmos-doctor-", dir=real_home))
        (home_canary / "canary.txt").write_text(CANARY)
    except OSError:
        home_canary = None
    env = dict(
        os.environ,
        ANTHROPIC_API_KEY=CANARY + "-ENV",
        FOO_TOKEN=CANARY + "-ENV",
        AWS_SECRET_ACCESS_KEY=CANARY + "-ENV",
    )
    victim = subprocess.Popen(["sleep", "120"], start_new_session=True, stdin=subprocess.DEVNULL)
    loop = _Loopback()

    def sbx(command: str, *, opts: Any = None, timeout: float = 30):
        return core.run_sandboxed(
            command,
            work,
            timeout_s=timeout,
            backend=chosen,
            env=env,
            allow_network=allow_network,
            options=opts or options,
        )

    try:
        # capabilities and namespaces
        r = sbx(
            "grep -E '^Cap(Eff|Prm|Bnd)' /proc/self/status; for n in pid net ipc uts mnt user; do "
            "echo ns_$n=$(readlink /proc/self/ns/$n); done"
        )
        caps = dict(line.split(":\t") for line in r.stdout.splitlines() if line.startswith("Cap"))
        row(
            "capabilities",
            "CapEff and CapPrm 0",
            f"CapEff {caps.get('CapEff', '?')} CapPrm {caps.get('CapPrm', '?')}",
            caps.get("CapEff") == "0000000000000000" and caps.get("CapPrm") == "0000000000000000",
        )
        seen_ns = dict(
            line.split("=", 1) for line in r.stdout.splitlines() if line.startswith("ns_")
        )
        differ = []
        for n in ("pid", "net", "ipc", "uts", "mnt"):
            try:
                if seen_ns.get(f"ns_{n}") and seen_ns[f"ns_{n}"] != os.readlink(
                    f"/proc/self/ns/{n}"
                ):
                    differ.append(n)
            except OSError:
                pass
        wanted = (
            ["pid", "ipc", "uts"]
            + ([] if allow_network else ["net"])
            + (["mnt"] if chosen == "bubblewrap" else [])
        )
        missing = [n for n in wanted if n not in differ]
        if chosen == "landlock" and missing:
            row(
                "namespaces",
                "pid, net, ipc, uts private (when the kernel allows)",
                "private: " + (", ".join(differ) or "none"),
                None,
            )  # no user namespace for this user: the subreaper and Landlock rules stand in
        else:
            note = (
                ""
                if chosen == "bubblewrap"
                else " (Landlock: no mount namespace; files confined by Landlock rules)"
            )
            row(
                "namespaces",
                ", ".join(sorted(wanted)) + " private" + note,
                "private: " + (", ".join(sorted(differ)) or "none"),
                not missing,
            )
        # home hidden
        # only the way to read paths mounted from inside the home (e.g. ~/.pyenv) may show
        real_home_r = os.path.realpath(real_home)
        passages = {
            os.path.relpath(p, real_home_r).split("/")[0]
            for p in core.python_paths() + list(options.read_paths)
            if os.path.realpath(p).startswith(real_home_r + "/")
        }
        command = f"ls -A {real_home} 2>/dev/null | sed 's/^/entry=/'; echo home=$HOME"
        if home_canary is not None:
            command += f"; cat {home_canary}/canary.txt 2>/dev/null"
        r = sbx(command)
        entries = {line[6:] for line in r.stdout.splitlines() if line.startswith("entry=")}
        extra = sorted(entries - passages)
        leaked = CANARY in r.stdout
        shown = (f"listed: {', '.join(extra)}" if extra else "nothing listed") + (
            f" (besides mounted {', '.join(sorted(entries & passages))})"
            if entries & passages
            else ""
        )
        row(
            "home hidden",
            f"{real_home} not listable, canary unreadable, HOME private",
            f"{shown}; canary {'READ' if leaked else 'unreadable' if home_canary else 'not planted'}; "
            f"{next((x for x in r.stdout.split() if x.startswith('home=')), 'home=?')}",
            not extra and not leaked and f"home={real_home}" not in r.stdout,
        )
        # environment
        r = sbx("env")
        leaked_vars = [line.split("=", 1)[0] for line in r.stdout.splitlines() if CANARY in line]
        row(
            "environment scrubbed",
            "ANTHROPIC_API_KEY, FOO_TOKEN, AWS_SECRET_ACCESS_KEY absent",
            "present: " + ", ".join(leaked_vars) if leaked_vars else "absent",
            not leaked_vars and r.exit_code == 0,
        )
        # network
        r = sbx(
            f"echo x > /dev/tcp/127.0.0.1/{loop.tcp.getsockname()[1]} && echo tcp=open; "
            f"echo x > /dev/udp/127.0.0.1/{loop.udp.getsockname()[1]}; echo done",
            timeout=15,
        )
        time.sleep(0.3)
        if allow_network:
            row(
                "network",
                "allowed (execution.allow_network: true)",
                f"TCP connections accepted {loop.accepted}",
                loop.accepted > 0,
            )
        else:
            row(
                "network denied",
                "no TCP connection or UDP datagram reaches a loopback listener",
                f"TCP accepted {loop.accepted}, UDP received {loop.datagrams}",
                loop.accepted == 0 and loop.datagrams == 0 and "done" in r.stdout,
            )
        # writes outside the working directory
        r = sbx(
            f"echo x > {outside}/new.txt; echo y >> {outside}/keep.txt; rm -f {outside}/keep.txt; "
            f"echo x > /proc/$PPID/root{outside}/walk.txt; echo ok > inside.txt"
        )
        names = sorted(p.name for p in outside.iterdir())
        intact = names == ["keep.txt"] and (outside / "keep.txt").read_text() == CANARY
        row(
            "writes outside cwd fail",
            "outside folder unchanged, cwd writable",
            f"outside: {names}, cwd write {'ok' if (work / 'inside.txt').exists() else 'FAILED'}",
            intact and (work / "inside.txt").exists(),
        )
        # host processes
        r = sbx(f"kill -9 {victim.pid}; echo kill=$?")
        time.sleep(0.1)
        row(
            "host processes unreachable",
            "kill -9 of a process outside fails",
            f"kill exit {r.stdout.strip()[-1:]}, "
            f"victim {'alive' if victim.poll() is None else 'KILLED'}",
            victim.poll() is None and "kill=0" not in r.stdout,
        )
        # rlimits in force
        r = sbx("cat /proc/self/limits")
        seen = _limits_table(r.stdout)
        values = rlimit_values(options)
        expect = {
            "Max cpu time": values.get("cpu"),
            "Max file size": values.get("fsize"),
            "Max processes": values.get("nproc"),
            "Max address space": values.get("as"),
        }
        shown = ", ".join(f"{k.split()[-1]}={seen.get(k, '?')}" for k in expect)
        wanted_s = ", ".join(
            f"{k.split()[-1]}={v if v is not None else 'inherited'}" for k, v in expect.items()
        )
        holds = all(
            v is None
            or seen.get(k) == str(v)
            or (k == "Max processes" and seen.get(k, "").isdigit())
            for k, v in expect.items()
        )
        row("rlimits set", wanted_s, shown, holds)
        # enforcement, live, with small limits
        small = SandboxOptions(
            read_paths=options.read_paths,
            env_passthrough=options.env_passthrough,
            limit_file_mb=1,
            limit_procs=16,
            limit_memory_mb=256,
            limit_cpu_s=1,
        )
        r = sbx("cat /dev/zero > big.bin 2>/dev/null; stat -c %s big.bin", opts=small)
        size = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else "?"
        row(
            "file-size cap enforced",
            "a 1 MiB cap stops cat /dev/zero at 1048576 bytes",
            f"{size} bytes",
            size == "1048576",
        )
        forks = (
            "import os, time\nmade = failed = 0\nfor _ in range(40):\n    try:\n        if os.fork() == 0:\n"
            "            time.sleep(2); os._exit(0)\n        made += 1\n    except OSError:\n        failed += 1\n"
            "print(made, failed)\n"
        )
        (work / "forks.py").write_text(forks)
        r = sbx(f'"{sys.executable}" forks.py', opts=small)
        try:
            made, failed = (int(x) for x in r.stdout.split()[-2:])
        except ValueError:
            made, failed = -1, -1
        if 0 <= made < 16 and failed > 0:
            row(
                "process cap enforced",
                "a 16-task cap stops a fork loop",
                f"{made} forks, {failed} refused",
                True,
            )
        else:
            why = (
                "root is exempt from RLIMIT_NPROC and no writable pids cgroup was found"
                if uid_is_global_root()
                else "the fork loop was not stopped"
            )
            row(
                "process cap enforced",
                "a 16-task cap stops a fork loop",
                f"{made} forks, {failed} refused ({why})",
                None if uid_is_global_root() else False,
            )
        r = sbx(f'"{sys.executable}" -c "b = bytearray(400 * 1024 * 1024)"', opts=small)
        row(
            "memory cap enforced",
            "a 256 MiB address-space cap refuses a 400 MiB allocation",
            "MemoryError" if "MemoryError" in r.stderr else f"exit {r.exit_code}",
            "MemoryError" in r.stderr,
        )
        r = sbx("while :; do :; done", opts=small, timeout=15)
        row(
            "CPU cap enforced",
            "a 1 s CPU cap kills a busy loop",
            "timed out" if r.timed_out else f"exit {r.exit_code}",
            not r.timed_out and r.exit_code in (137, 152),
        )
        # survivors
        marker = f"{random.randint(1000, 9999)}.{random.randint(10, 99)}"
        sbx(
            f"setsid sleep {marker} & nohup sleep {marker} >/dev/null 2>&1 & (sleep {marker} &); echo started"
        )
        deadline = time.monotonic() + 2
        while _alive(f"sleep {marker}") and time.monotonic() < deadline:
            time.sleep(0.05)
        left = _alive(f"sleep {marker}")
        row(
            "no survivors",
            "setsid / nohup / double-fork children gone after the call",
            f"{left} left",
            left == 0,
        )
        # the interpreter
        r = sbx(f'"{sys.executable}" -c pass && echo python-ok')
        row(
            "interpreter usable",
            f"{sys.executable} runs inside",
            "runs"
            if "python-ok" in r.stdout
            else (r.stderr.strip().splitlines() or [f"exit {r.exit_code}"])[-1][:80],
            "python-ok" in r.stdout,
        )
    finally:
        loop.close()
        victim.kill()
        victim.wait()
        shutil.rmtree(base, ignore_errors=True)
        if home_canary is not None:
            shutil.rmtree(home_canary, ignore_errors=True)
    if chosen == "landlock":
        row(
            "Landlock limits",
            "see sandbox/core.py",
            "/tmp and /proc are the host's; new top-level entries cannot be "
            "created in a cwd that holds read-only paths",
            None,
        )
    return chosen, rows


def doctor(
    backend: Optional[str] = typer.Option(
        None, "--backend", help="auto|bubblewrap|landlock|none (default: execution.sandbox)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    workspace: Optional[Path] = WorkspaceOpt,
) -> None:
    """Check live that the OS sandbox keeps its promises here (caps, namespaces, env, network, limits...)."""
    from ..config import load_config
    from ..errors import LLMOSError
    from ..execution.sandbox.core import SandboxUnavailable, sandbox_status
    from ..execution.sandbox.limits import SandboxOptions
    from ..exitcodes import ExitCode
    from ..workspace import resolve_workspace_dir

    if backend is not None and backend not in ("auto", "bubblewrap", "landlock", "none"):
        err(
            f"llmos: error: unknown --backend {backend!r} (choose auto, bubblewrap, landlock or none)"
        )
        raise typer.Exit(int(ExitCode.USAGE))
    root = resolve_workspace_dir(workspace)
    try:
        cfg = load_config(root if root.is_dir() else None)
    except LLMOSError as exc:
        err(f"llmos: error: {exc.message}")
        raise typer.Exit(int(exc.exit_code)) from None
    requested = backend or cfg.execution.sandbox
    options = SandboxOptions.from_config(cfg.execution)
    report: dict[str, Any] = {
        "requested": requested,
        "backend": None,
        "allow_network": cfg.execution.allow_network,
        "uid": os.getuid(),
        "kernel": os.uname().release,
        "checks": [],
        "ok": False,
    }
    if requested == "none":
        report["error"] = (
            "the OS sandbox is turned off (execution.sandbox: none): shell commands run with the "
            "policy engine only; nothing to check"
        )
    else:
        try:
            used, rows = run_checks(
                requested, allow_network=cfg.execution.allow_network, options=options
            )
            report["backend"] = used
            report["checks"] = rows
            report["ok"] = all(r["status"] != "FAIL" for r in rows)
        except SandboxUnavailable as exc:
            report["error"] = exc.message
            report["status"] = sandbox_status(requested)
    if as_json:
        print_json(report)
    else:
        if report.get("error"):
            err(f"llmos doctor: {report['error']}")
        if report["checks"]:
            typer.echo(
                f"sandbox: {report['backend']} (requested {requested}; uid {report['uid']}, kernel {report['kernel']})"
            )
            w1 = max(len(r["property"]) for r in report["checks"])
            w2 = min(60, max(len(r["expected"]) for r in report["checks"]))
            typer.echo(f"{'property':<{w1}}  {'expected':<{w2}}  {'status':<6}  seen")
            for r in report["checks"]:
                typer.echo(
                    f"{r['property']:<{w1}}  {r['expected'][:w2]:<{w2}}  {r['status']:<6}  {r['seen']}"
                )
            failed = [r["property"] for r in report["checks"] if r["status"] == "FAIL"]
            typer.echo("all promises hold" if not failed else "NOT HOLDING: " + ", ".join(failed))
    raise typer.Exit(0 if report["ok"] else int(ExitCode.GOAL_FAILED))


__all__ = ["doctor", "run_checks"]
