"""The audit's sandbox escapes, run for real against canaries, on every path, backend and user.

Each test lays out an arena (``tests/support/arena.py``): secrets with unique canary strings in
a temporary HOME and in a folder outside the working directory, canaries in the llmos
process's environment, a victim process, a loopback listener. Then it runs the attacks —
remounting ``/`` read-write, writing through ``/proc/<ancestor>/root``, killing and ptracing the
victim, rewriting the workspace's config, agents and protected state (and checking that a later
run is not affected), reading and exfiltrating secrets, leaving processes behind, filling the disk
— and asserts that none had any effect: nothing outside the working directory changed, the
victim lives, the listener got nothing, no canary appears in a file, a model request or the
output, no attack process survived, ``big.bin`` stayed under the cap.

Paths: LEARNER (the real Claude Code CLI against the scripted model server, one session
performing every attack), FOLLOWER (a planted trace of the attacks, replayed), CRYSTALLIZED (a
planted, active crystallized tool of the attacks) — each through ``llmos --headless run --yes``
as a subprocess, so the environment canaries are real — and the sandbox alone: the same
executor the kernel builds, with an allow-everything policy (``tests/support/attack_driver.py``;
there is no supported way to make the policy permissive in a real ``llmos run``).

A replay stops at its first step the policy denies, so the planted trace puts the attack steps
the policy engine allows first (it is asked beforehand, with the scripts in place); what it
already denies is printed. The LEARNER session's tool calls are named as the request offers
them (``Bash`` or llmos's twin ``mcp__llmos__Bash``).

Each runs with ``execution.sandbox`` = bubblewrap and landlock, as root and as uid 65534
(``tests/support/unprivileged.py``). The workspace lies inside the working directory for
(bubblewrap, root) and (landlock, nobody), beside it for the two others. A control run without
a sandbox shows that the same checks do see the attacks' effects.

The file-size attack writes 64 MiB; with ``execution.limit_file_mb`` set to 5 the file must stay
within 5 MiB. While that key does not exist, the check only requires *some* limit (< 64 MiB).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pytest

from llmos_tui.devtools.scripted_server import ScriptedServer, text_turn, tool_turn
from llmos_tui.execution.sandbox.core import available_backends
from tests.support import unprivileged
from tests.support.arena import (
    Arena,
    attack_calls,
    build_arena,
    config_yaml,
    file_cap_mb,
    limit_file_key_exists,
    missing_ran_markers,
    prepare_workspace,
    wait_for_survivors,
)

pytestmark = pytest.mark.slow

BACKENDS = ("bubblewrap", "landlock")
USERS = ("root", "nobody")
RUN_TIMEOUT = 240


def _combos() -> list[Any]:
    out = []
    for backend in BACKENDS:
        for user in USERS:
            inside = (backend == "bubblewrap") == (user == "root")
            marks = []
            if backend not in available_backends():
                marks.append(pytest.mark.skip(reason=f"the {backend} sandbox does not work here"))
            if user == "nobody" and unprivileged.unavailable():
                marks.append(
                    pytest.mark.skip(
                        reason=f"cannot run as uid 65534: {unprivileged.unavailable()}"
                    )
                )
            if user == "root" and os.geteuid() != 0:
                marks.append(pytest.mark.skip(reason="the root variant needs root"))
            out.append(
                pytest.param(
                    backend,
                    user,
                    inside,
                    marks=marks,
                    id=f"{backend}-{user}-ws_{'inside' if inside else 'outside'}_cwd",
                )
            )
    return out


COMBOS = _combos()


@contextmanager
def arena_for(user: str, ws_inside: bool) -> Iterator[Arena]:
    base = unprivileged.world_dir("llmos-attack-")
    arena = build_arena(base, ws_inside=ws_inside, unprivileged_user=user == "nobody")
    try:
        yield arena
    finally:
        arena.close()
        shutil.rmtree(base, ignore_errors=True)


def python_argv(arena: Arena, args: list[str]) -> list[str]:
    if arena.uid is None:
        return [sys.executable, *args]
    return unprivileged.command(args)


def run_python(
    arena: Arena, args: list[str], env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    if arena.uid is not None:
        env = unprivileged.env(env)
    return subprocess.run(
        python_argv(arena, args),
        capture_output=True,
        text=True,
        env=env,
        cwd="/",
        timeout=RUN_TIMEOUT,
        stdin=subprocess.DEVNULL,
    )


def llmos_run(
    arena: Arena, goal: str, server: ScriptedServer, *extra: str
) -> tuple[subprocess.CompletedProcess[str], dict]:
    # the scripted server accepts any key: ANTHROPIC_API_KEY is one of the canaries
    env = arena.run_env({**os.environ, **server.env()})
    env.pop("LLMOS_WORKSPACE", None)
    proc = run_python(
        arena,
        [
            "-m",
            "llmos_tui",
            "--headless",
            "run",
            goal,
            "--json",
            "--yes",
            "--workspace",
            str(arena.ws),
            "--cwd",
            str(arena.cwd),
            *extra,
        ],
        env,
    )
    try:
        data = json.loads(proc.stdout)
    except ValueError:
        data = {}
    return proc, data


def report(arena: Arena, server: ScriptedServer | None, *outputs: str) -> list[str]:
    wait_for_survivors(arena)
    return arena.violations(
        requests=server.requests if server else (), outputs=outputs, file_cap_mb=file_cap_mb()
    )


def explain(found: list[str], proc: subprocess.CompletedProcess[str] | None = None) -> str:
    text = "the attacks had effects:\n  - " + "\n  - ".join(found)
    if not limit_file_key_exists() and any("big.bin" in f for f in found):
        text += (
            "\n  (execution.limit_file_mb does not exist yet: big.bin is only checked against the "
            "attack's own size)"
        )
    if proc is not None:
        text += f"\nexit {proc.returncode}; stderr tail:\n{proc.stderr[-1500:]}"
    return text


# ---- LEARNER ----------------------------------------------------------------------------------------


def twin_turn(calls: list[tuple[str, dict]]) -> Any:
    """A turn calling each tool by the name the request offers it under: ``Bash`` itself, or
    llmos's twin ``mcp__llmos__Bash`` when only the twin is offered (else the plain name, which
    the CLI then refuses as not offered)."""

    def turn(body: dict[str, Any]) -> Any:
        offered = {t.get("name") for t in body.get("tools") or [] if isinstance(t, dict)}
        text = json.dumps(
            body
        )  # a deferred tool is only named in a system reminder; it can be called

        def name(n: str) -> str:
            twin = f"mcp__llmos__{n}"
            return twin if n not in offered and twin in text else n

        return tool_turn([(name(n), i) for n, i in calls])

    return turn


@pytest.mark.llm
@pytest.mark.parametrize(("backend", "user", "ws_inside"), COMBOS)
def test_learner_attacks_have_no_effect(
    backend: str, user: str, ws_inside: bool, scripted_server: ScriptedServer
) -> None:
    """One LEARNER session performs every attack (scripts, the audit's literal commands, file tools),
    then a second session runs in the same workspace: nothing the first planted may act."""
    server = scripted_server
    with arena_for(user, ws_inside) as arena:
        prepare_workspace(arena, config_yaml(backend))
        calls = attack_calls(arena, literal=True, file_tools=True)
        writes = [
            c
            for c in calls
            if c[0] == "Write"
            and str(arena.cwd) in c[1]["file_path"]
            and not c[1]["file_path"].startswith(str(arena.ws))
        ]
        rest = [c for c in calls if c not in writes]
        bash = [("Bash", {"command": "echo ran > data/ran.txt"})] + [
            c for c in rest if c[0] == "Bash"
        ]
        tools = [c for c in rest if c[0] != "Bash"]
        server.add_turns(
            twin_turn(writes), twin_turn(bash), twin_turn(tools), text_turn("All done.")
        )
        first, data = llmos_run(
            arena, "Create and run the helper scripts in this folder", server, "--mode", "learner"
        )
        assert data.get("mode") == "LEARNER", first.stderr[-2000:]
        assert (arena.cwd / "walk.py").exists(), (
            "the session did not run the attack scripts' Writes: " + first.stderr[:3000]
        )
        assert (arena.cwd / "data" / "ran.txt").exists(), (
            "the session did not run the attack commands"
        )
        server.add_turns(
            twin_turn([("Bash", {"command": "echo second > data/second.txt"})]), text_turn("Hello.")
        )
        second, data2 = llmos_run(arena, "Say hello to the team", server)
        found = report(arena, server, first.stdout, first.stderr, second.stdout, second.stderr)
        if not data2.get("llm_calls"):  # it did not even reach the model: the workspace was broken
            found.append(
                f"the next run in this workspace no longer works: {second.stderr.strip()[-600:]}"
            )
        assert not found, explain(found, first)


# ---- FOLLOWER and CRYSTALLIZED -------------------------------------------------------------------------


def policy_order(
    workspace: Any, arena: Arena, calls: list[tuple[str, dict]]
) -> list[tuple[str, dict]]:
    """The calls with the Bash steps the policy engine allows first: a replay stops at its first
    denied step, so every attack the policy lets through must come before it. (The policy reads
    script files: it is asked with the scripts in place, as the replay will ask it.)"""
    from llmos_tui.config import load_config
    from llmos_tui.execution.policy.engine import default_engine

    engine = default_engine(load_config(workspace.root), workspace)
    writes = [c for c in calls if c[0] == "Write"]
    for _name, tool_input in writes:
        Path(tool_input["file_path"]).write_text(tool_input["content"])
    try:
        verdicts = [
            engine.check(name, tool_input, arena.cwd).decision for name, tool_input in calls
        ]
    finally:
        for _name, tool_input in writes:
            Path(tool_input["file_path"]).unlink()
    allowed = [c for c, v in zip(calls, verdicts, strict=True) if c[0] != "Write" and v != "deny"]
    denied = [c for c, v in zip(calls, verdicts, strict=True) if c[0] != "Write" and v == "deny"]
    print("attacks the policy engine already denies:", [c[1].get("command") for c in denied])
    return writes + allowed + denied


def plant(workspace: Any, arena: Arena, goal: str, *, crystallize: bool) -> str:
    """Store a trace of the (script) attacks for ``goal``; with ``crystallize``, also an active
    crystallized tool made from it. Returns the trace id."""
    from llmos_tui.execution.replay.crystallized import (
        render_module,
        sha256_bytes,
        tool_id,
        tools_dir,
    )
    from llmos_tui.learning.store import TraceStore
    from llmos_tui.learning.traces import ToolCall, make_trace, now_iso, relativize

    calls = []
    for name, tool_input in policy_order(workspace, arena, attack_calls(arena)):
        if name == "Write":
            rel = os.path.relpath(tool_input["file_path"], arena.cwd)
            result = {
                "is_error": False,
                "summary": f"create {tool_input['file_path']}",
                "files_created": [rel],
            }
        else:
            result = {
                "is_error": False,
                "summary": "(no output)",
                "exit_code": 0,
                "files_created": [],
            }
        calls.append(ToolCall(name, tool_input, result, f"toolu_{len(calls)}"))
    trace = make_trace(goal, relativize(calls, arena.cwd), slots={})
    store = TraceStore(workspace)
    store.save(trace, volume="users/local")
    if crystallize:
        name, version = "refresh_helper_scripts_attack", 1
        ident = tool_id(name, version)
        text = render_module(
            name=name,
            version=version,
            source_trace=trace.id,
            goal=goal,
            slots={},
            calls=trace.calls,
        )
        folder = tools_dir(workspace, "users/local")
        folder.mkdir(parents=True, exist_ok=True)
        stamp = now_iso()
        manifest = {
            "format": 1,
            "name": name,
            "version": version,
            "id": ident,
            "module": f"{ident}.py",
            "source_trace": trace.id,
            "source_volume": "users/local",
            "goal": goal,
            "slots": {},
            "tools_used": [c.name for c in trace.calls],
            "created_at": stamp,
            "sha256": sha256_bytes(text.encode("utf-8")),
            "status": "active",
            "status_reason": "planted by the attack test",
            "status_changed_at": stamp,
            "trace_usage_count": 1,
            "trace_success_rate": 1.0,
            "verification": {"success": True},
            "history": [{"status": "active", "at": stamp}],
        }
        (folder / f"{ident}.json").write_text(json.dumps(manifest))
        (folder / f"{ident}.py").write_text(text)
        trace.crystallized_tool = ident
        store.save(trace, volume="users/local")
    return trace.id


@pytest.mark.parametrize("path", ["FOLLOWER", "CRYSTALLIZED"])
@pytest.mark.parametrize(("backend", "user", "ws_inside"), COMBOS)
def test_replayed_attacks_have_no_effect(
    path: str, backend: str, user: str, ws_inside: bool, scripted_server: ScriptedServer
) -> None:
    """A planted trace (FOLLOWER) or crystallized tool (CRYSTALLIZED) of the attack scripts, run by
    its exact goal. The budget is 0, so a fallback cannot reach a model."""
    goal, server = "Refresh the helper scripts of this folder", scripted_server
    with arena_for(user, ws_inside) as arena:
        workspace = prepare_workspace(arena, config_yaml(backend, budget_usd=0.0))
        plant(workspace, arena, goal, crystallize=path == "CRYSTALLIZED")
        if arena.uid is not None:
            unprivileged.give(arena.ws)
        proc, data = llmos_run(arena, goal, server)
        assert path in (data.get("mode"), data.get("fallback_from")), proc.stderr[-2000:]
        assert server.main_request_count == 0, "a replay must not call the model"
        found = report(arena, server, proc.stdout, proc.stderr)
        assert not found, explain(found, proc)


# ---- the sandbox alone (permissive policy) ----------------------------------------------------------------


def drive(
    arena: Arena, calls: list[tuple[str, dict]]
) -> tuple[subprocess.CompletedProcess[str], list[dict]]:
    spec = arena.root / "spec.json"
    spec.write_text(json.dumps({"workspace": str(arena.ws), "cwd": str(arena.cwd), "calls": calls}))
    spec.chmod(0o644)
    env = arena.run_env(dict(os.environ))
    env.pop("LLMOS_WORKSPACE", None)
    proc = run_python(arena, ["-m", "tests.support.attack_driver", str(spec)], env)
    spec.unlink()
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc, [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


@pytest.mark.parametrize(("backend", "user", "ws_inside"), COMBOS)
def test_sandbox_alone_holds_with_a_permissive_policy(
    backend: str, user: str, ws_inside: bool
) -> None:
    """Every shell attack (scripts and the audit's literal commands) through the kernel's executor
    with an allow-everything policy: each runs, and the OS sandbox alone must contain it."""
    with arena_for(user, ws_inside) as arena:
        prepare_workspace(arena, config_yaml(backend))
        calls = attack_calls(arena, literal=True)
        proc, outcomes = drive(arena, calls)
        assert len(outcomes) == len(calls)
        refused = [
            (
                c[0],
                c[1].get("command", c[1].get("file_path", ""))[:60],
                o["status"],
                o["summary"][:100],
            )
            for c, o in zip(calls, outcomes, strict=True)
            if o["status"] not in ("ok", "failed")
        ]
        assert not refused, f"with an allow-all policy every call must run; refused: {refused}"
        missing = missing_ran_markers(arena)
        assert not missing, (
            f"these attack scripts did not start in the sandbox (no interpreter?): {missing}"
        )
        found = report(arena, None, proc.stdout, proc.stderr)
        assert not found, explain(found, proc)


@pytest.mark.parametrize(("backend", "user", "ws_inside"), COMBOS)
def test_file_tools_alone_hold_with_a_permissive_policy(
    backend: str, user: str, ws_inside: bool
) -> None:
    """Read of every secret, Write/Edit outside the working directory, into HOME, over the
    workspace's config, agents and protected state — allowed by the policy — have no effect."""
    with arena_for(user, ws_inside) as arena:
        prepare_workspace(arena, config_yaml(backend))
        calls = attack_calls(arena, scripted=False, file_tools=True)
        proc, outcomes = drive(arena, calls)
        assert len(outcomes) == len(calls)
        found = report(arena, None, proc.stdout, proc.stderr)
        assert not found, explain(found, proc)


# ---- controls --------------------------------------------------------------------------------------------


@pytest.mark.skipif(os.geteuid() != 0, reason="the control runs as root")
def test_control_without_a_sandbox_the_checks_see_every_effect() -> None:
    """The same attacks with ``execution.sandbox: none`` and an allow-all policy do have effects,
    and the checks report each kind: the tests above cannot pass by not looking. (The mount
    attacks are left out: unsandboxed they would remount this machine's root.)"""
    with arena_for("root", ws_inside=True) as arena:
        prepare_workspace(arena, config_yaml("none", file_limit=False))
        calls = [
            c
            for c in attack_calls(arena, literal=True, file_tools=True)
            if "mount" not in c[1].get("command", "")
            and not c[1].get("file_path", "").endswith("mnt.sh")
        ]
        gdb = [c for c in calls if "gdb" in c[1].get("command", "")]
        calls = (
            [c for c in calls if c[0] == "Write"]
            + gdb
            + [c for c in calls if c[0] != "Write" and c not in gdb]
        )
        proc, _ = drive(arena, calls)
        found = "\n".join(report(arena, None, proc.stdout, proc.stderr))
        expected = [
            "files appeared outside the working directory",
            "escaped-walk-",
            "escaped-literal-echo",
            "escaped-gdb",
            "the victim process",
            "the loopback listener got",
            "canary outside/.env found in work/data/e.txt",
            "canary home/.ssh/id_rsa found in work/data/loot.txt",
            "canary outside/.env appeared in the run's output",
            "the workspace file work/ws/config.yaml was changed",
            "the workspace file work/ws/agents/system-agent.md was changed",
            "the attack's injection was written into work/ws/",
            "an attack created work/ws/state/injected.txt",
            "survived the run",
            "-setsid",
            "-daemon",
            "big.bin reached",
        ]
        if shutil.which("gdb") is None:
            expected = [e for e in expected if "gdb" not in e]
        missing = [e for e in expected if e not in found]
        assert not missing, f"the checks missed {missing}; they reported:\n{found}"


def test_unprivileged_helper_runs_this_checkout_as_nobody() -> None:
    reason = unprivileged.unavailable()
    if reason:
        pytest.skip(reason)
    proc = subprocess.run(
        unprivileged.command(
            [
                "-c",
                "import os, sys, llmos_tui, rapidfuzz; "
                "print(os.getuid(), os.getgid(), llmos_tui.__file__)",
            ]
        ),
        capture_output=True,
        text=True,
        env=unprivileged.env(dict(os.environ)),
        cwd="/",
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    uid, gid, module = proc.stdout.split()
    assert (int(uid), int(gid)) == (unprivileged.UID, unprivileged.GID)
    assert module == str(unprivileged.view_checkout() / "llmos_tui" / "__init__.py")
    # the view is private to that process tree: nothing is mounted here
    assert not any(unprivileged.view_checkout().iterdir())
