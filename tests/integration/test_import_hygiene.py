"""The headless path never imports textual; paths that call no LLM import no LLM library.

Each case runs the real entry point in a fresh interpreter and inspects ``sys.modules`` at exit.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.import_probe import heavy_modules, probe


@pytest.mark.parametrize(
    "args", [["--help"], ["--version"], ["run", "--help"], ["config", "show"], ["config", "keys"]]
)
@pytest.mark.slow
def test_cli_paths_import_no_heavy_library(tmp_path: Path, args: list[str]) -> None:
    mods, code = heavy_modules(tmp_path, *args)
    assert code == 0
    assert mods == set(), f"{args} imported {mods}"


@pytest.mark.slow
def test_headless_run_without_llm_imports_nothing_heavy(tmp_path: Path) -> None:
    mods, code = heavy_modules(
        tmp_path,
        "--headless",
        "run",
        "Say hi",
        "--json",
        "--workspace",
        str(tmp_path / "ws"),
        "--cwd",
        str(tmp_path),
    )
    assert code == 5
    assert mods == set()


@pytest.mark.slow
def test_a_run_loads_no_other_command_group(tmp_path: Path) -> None:
    """Sub-apps (traces, bench, memory, ...) are imported only when invoked: a run pays for none."""
    found, code = probe(
        tmp_path,
        "--headless",
        "run",
        "Say hi",
        "--json",
        "--workspace",
        str(tmp_path / "ws"),
        "--cwd",
        str(tmp_path),
    )
    assert code == 5
    loaded = {m.rsplit(".", 1)[1] for m in found["cli"]}
    assert not loaded & {
        "traces",
        "bench",
        "memory",
        "projects",
        "policy",
        "inbox",
        "cron",
        "sentience",
        "agents",
        "volumes",
        "activity",
        "bundle",
        "doctor",
    }, loaded
    found, code = probe(tmp_path, "traces", "list", "--workspace", str(tmp_path / "ws"))
    assert code == 0
    loaded = {m.rsplit(".", 1)[1] for m in found["cli"]}
    assert {"traces", "bundle"} <= loaded and not loaded & {"bench", "memory", "inbox", "cron"}, (
        loaded
    )


@pytest.mark.slow
def test_headless_bad_usage_imports_nothing_heavy(tmp_path: Path) -> None:
    mods, code = heavy_modules(
        tmp_path, "--headless", "run", "   ", "--workspace", str(tmp_path / "ws")
    )
    assert code == 2
    assert mods == set()
