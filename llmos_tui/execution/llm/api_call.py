"""One direct Messages-API call with the anthropic SDK (planning, synthesis, budgeted calls)."""

from __future__ import annotations

from .pricing import Usage, price
from .configured import require_llm


def call_llm(
    model: str, system: str, user: str, max_tokens: int, timeout_s: float
) -> tuple[str, Usage]:
    """One Messages-API call with the anthropic SDK (base URL and key from the environment)."""
    require_llm()
    import anthropic

    client = anthropic.Anthropic(timeout=timeout_s, max_retries=2)
    message = client.messages.create(
        model=model,
        max_tokens=max_tokens,
        system=system,
        messages=[{"role": "user", "content": user}],
    )
    text = "".join(
        getattr(b, "text", "") for b in message.content if getattr(b, "type", "") == "text"
    )
    usage = getattr(message, "usage", None)
    tokens_in = (
        int(getattr(usage, "input_tokens", 0) or 0)
        + int(getattr(usage, "cache_read_input_tokens", 0) or 0)
        + int(getattr(usage, "cache_creation_input_tokens", 0) or 0)
    )
    tokens_out = int(getattr(usage, "output_tokens", 0) or 0)
    return text, Usage(model, tokens_in, tokens_out, price(model, tokens_in, tokens_out), 1)


def describe_error(exc: Exception) -> str:
    status = getattr(exc, "status_code", None)
    detail = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return f"{type(exc).__name__}" + (f" (HTTP {status})" if status else "") + f": {detail}"[:400]
