#!/usr/bin/env python3
"""Replay a learned llmos trace when one fits; otherwise adapt the closest one with a model.

    ANTHROPIC_BASE_URL=http://127.0.0.1:8080 python run_agentic_follower.py BUNDLE "GOAL" [--cwd DIR] [--json]

The model is any server that speaks the Anthropic Messages API (a local one on the device, or
Anthropic). Standard library only (plus PyYAML to read trace headers); see README.md here.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from edgekit.cli import agentic_main, run  # noqa: E402

if __name__ == "__main__":
    sys.exit(run(agentic_main))
