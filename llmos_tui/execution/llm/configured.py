"""Whether a model can be called at all: the environment names a key, a token or a server.

Its own module so that the TUI (which asks on every message) and the facts/economy helpers can
ask without importing the session module and everything it imports.
"""

from __future__ import annotations

import os

from ...errors import NO_LLM_HINT, NoLLMConfigured


def llm_configured(environ: dict[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    return bool(
        env.get("ANTHROPIC_API_KEY")
        or env.get("ANTHROPIC_BASE_URL")
        or env.get("ANTHROPIC_AUTH_TOKEN")
        or env.get("CLAUDE_CODE_OAUTH_TOKEN")
    )


def require_llm() -> None:
    if not llm_configured():
        raise NoLLMConfigured(NO_LLM_HINT)
