from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.llm


def test_demo_runs_the_cycle_without_a_key() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}
    proc = subprocess.run(
        [sys.executable, "-m", "llmos_tui", "demo"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "RECORDED, not live" in out
    assert "-> LEARNER: ok; 3 model request(s)" in out
    assert "-> FOLLOWER: ok; 0 model request(s)" in out
    assert out.count("-> CRYSTALLIZED: ok; 0 model request(s)") == 2
    assert "calc.py '6 * 7' -> 42" in out
    assert "Delete the Python calculator" in out and out.rstrip().splitlines()[-1].startswith(
        "  Finished in"
    )
