"""`llmos --headless run` without Typer: the fast parse accepts exactly the Typer command's
options, hands everything else to Typer, and both paths behave the same."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from llmos_tui.headless import DEFAULTS, RUN_OPTIONS, parse_run_argv

PROBE = r"""
import atexit, gc, json, sys
out = sys.argv.pop(1)
atexit.register(lambda: open(out, 'w').write(json.dumps(sorted(
    {m.split('.')[0] for m in sys.modules} & {'typer', 'click', 'textual', 'anthropic', 'yaml'}))))
atexit.register(lambda: open(out + '.gc', 'w').write(json.dumps(
    [gc.isenabled(), gc.get_freeze_count() > 0])))
sys.argv[0] = 'llmos'
from llmos_tui.__main__ import main
main()
"""


def test_fast_options_are_the_typer_commands_options() -> None:
    import typer.main

    from llmos_tui.cli import app

    command = typer.main.get_command(app).commands["run"]  # type: ignore[attr-defined]
    declared = {}
    for param in command.params:
        if param.param_type_name == "option":
            for opt in param.opts + param.secondary_opts:
                declared[opt] = param.name
    assert {opt: name for opt, (name, _kind) in RUN_OPTIONS.items()} == declared
    assert set(DEFAULTS) == {p.name for p in command.params if p.name != "goal"}
    assert all(DEFAULTS[p.name] == p.default for p in command.params if p.name != "goal")


def test_parse_well_formed_command_lines() -> None:
    kw = parse_run_argv(
        ["--headless", "run", "do it", "--json", "-w", "/ws", "--cwd", "/c", "--budget", "0.5"]
    )
    assert kw is not None
    assert kw["goal"] == "do it" and kw["as_json"] is True and kw["budget"] == 0.5
    assert kw["workspace"] == Path("/ws") and kw["cwd"] == Path("/c") and kw["mode"] == "auto"
    kw = parse_run_argv(["--headless", "run", "-y", "-c", "--mode", "follower", "goal"])
    assert kw is not None and kw["yes"] and kw["resume"] and kw["mode"] == "follower"


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "goal"],  # not headless
        ["--headless", "run"],  # no goal
        ["--headless", "run", "a", "b"],  # two goals
        ["--headless", "run", "goal", "--help"],
        ["--headless", "run", "goal", "--json=1"],
        ["--headless", "run", "goal", "--mode"],  # missing value
        ["--headless", "run", "goal", "--cwd", "--json"],
        ["--headless", "run", "goal", "--json", "--json"],
        ["--headless", "run", "goal", "--budget", "-1"],
        ["--headless", "run", "goal", "--budget", "nan"],
        ["--headless", "run", "goal", "--budget", "lots"],
        ["--headless", "run", "goal", "-yc"],
        ["--headless", "run", "--", "-goal"],
        ["--headless", "run", "goal", "--bogus"],
    ],
)
def test_anything_else_goes_to_typer(argv: list[str]) -> None:
    assert parse_run_argv(argv) is None


def _run(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    out = tmp_path / "mods.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "LLMOS_"))}
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, str(out), *args],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    return proc, json.loads(out.read_text())


def test_a_headless_run_imports_no_typer(tmp_path: Path) -> None:
    ws = str(tmp_path / "ws")
    proc, mods = _run(tmp_path, "--headless", "run", "Say hi", "--json", "-w", ws)
    assert proc.returncode == 5, proc.stderr  # no LLM configured
    assert json.loads(proc.stdout)["success"] is False
    assert mods == []


def test_the_gc_paused_for_start_up_is_on_again_for_the_run(tmp_path: Path) -> None:
    """``__main__`` pauses the cyclic GC for a headless run's start-up; the run's first event
    turns it back on with start-up's objects frozen, and Typer's path gets it back at once."""
    ws = str(tmp_path / "ws")
    gc_state = tmp_path / "mods.json.gc"
    proc, _ = _run(tmp_path, "--headless", "run", "Say hi", "--json", "-w", ws)
    assert proc.returncode == 5, proc.stderr
    assert json.loads(gc_state.read_text()) == [True, True]
    proc, _ = _run(tmp_path, "--headless", "run", "Say hi", "--budget", "-1", "-w", ws)
    assert proc.returncode == 2
    assert json.loads(gc_state.read_text()) == [True, False]


def test_typer_still_explains_what_the_fast_parse_refuses(tmp_path: Path) -> None:
    ws = str(tmp_path / "ws")
    proc, mods = _run(tmp_path, "--headless", "run", "Say hi", "--budget", "-1", "-w", ws)
    assert proc.returncode == 2 and "budget" in proc.stderr.lower()
    assert "typer" in mods
    proc, _ = _run(tmp_path, "--headless", "run", "Say hi", "--mode", "bogus", "-w", ws)
    assert proc.returncode == 2 and "unknown --mode 'bogus'" in proc.stderr
    proc, _ = _run(tmp_path, "--headless", "run", "Say hi", "--mode=bogus", "-w", ws)
    assert proc.returncode == 2 and "unknown --mode 'bogus'" in proc.stderr


def test_a_closed_stdout_ends_both_paths_alike(tmp_path: Path) -> None:
    """The reader went away (`llmos --headless run … | head -c0`): exit 1, no traceback."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "LLMOS_"))}
    ws = str(tmp_path / "ws")
    codes = []
    for extra in (["--json"], ["--json", "--mode=auto"]):  # the second goes through Typer
        r, w = os.pipe()
        os.close(r)
        proc = subprocess.run(
            [sys.executable, "-m", "llmos_tui", "--headless", "run", "Say hi", "-w", ws, *extra],
            stdout=w,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
        os.close(w)
        assert "Traceback" not in proc.stderr, proc.stderr
        codes.append(proc.returncode)
    assert codes == [1, 1]
