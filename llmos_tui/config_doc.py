"""Render docs/CONFIG.md from the config dataclasses (`python -m llmos_tui.config_doc > docs/CONFIG.md`)."""

from __future__ import annotations

import json

from .config import describe_keys


def render() -> str:
    lines = [
        "# Configuration keys",
        "",
        "Generated from `llmos_tui/config.py` by `python -m llmos_tui.config_doc > docs/CONFIG.md`",
        "(a test fails when this file is stale). Set keys in the workspace's `config.yaml`, or with",
        "`LLMOS_<KEY>` / `LLMOS_<SECTION>__<KEY>` environment variables. Defaults shown are the",
        "`development` preset's.",
        "",
        "| key | default | meaning |",
        "|---|---|---|",
    ]
    for key, help_text, default in describe_keys():
        shown = (
            json.dumps(default, sort_keys=True)
            if isinstance(default, (dict, list))
            else repr(default)
        )
        if len(shown) > 60:
            shown = shown[:57] + "..."
        lines.append(f"| `{key}` | `{shown}` | {help_text.replace('|', '/')} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render(), end="")
