"""Whether an LLM can be called at all (a key, a proxy or a token in the environment).

A module of its own, with no imports, so that the TUI can say so in its first frame without
loading ``session`` (and its tool search, which loads rapidfuzz).
"""

from __future__ import annotations

import os


def llm_configured(environ: dict[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    return bool(
        env.get("ANTHROPIC_API_KEY")
        or env.get("ANTHROPIC_BASE_URL")
        or env.get("ANTHROPIC_AUTH_TOKEN")
        or env.get("CLAUDE_CODE_OAUTH_TOKEN")
    )
