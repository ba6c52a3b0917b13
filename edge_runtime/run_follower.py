#!/usr/bin/env python3
"""Replay a learned llmos trace on a small device, with no LLM.

    python run_follower.py BUNDLE "GOAL" [--cwd DIR] [--json] [--dry-run] [--allow-scripts]

Standard library only (plus PyYAML to read trace headers); see README.md in this folder.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from edgekit.cli import follower_main, run  # noqa: E402

if __name__ == "__main__":
    sys.exit(run(follower_main))
