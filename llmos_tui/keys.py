"""The key names a keymap may use, checked without the TUI: the configuration loader checks
``keymap`` with :func:`key_problem` on the headless path too (``tui/keymap.py`` holds the actions
and their default keys)."""

from __future__ import annotations

import unicodedata

#: Modifiers and named keys Textual delivers (``textual.keys``); any single character is a key too, and
#: so is a character's Unicode name in Textual's spelling (``question_mark``, ``full_stop``).
MODIFIERS = frozenset({"ctrl", "shift", "alt", "meta", "super", "hyper"})
NAMED_KEYS = frozenset(
    {
        "escape",
        "enter",
        "tab",
        "space",
        "backspace",
        "delete",
        "insert",
        "home",
        "end",
        "pageup",
        "pagedown",
        "up",
        "down",
        "left",
        "right",
        "newline",
        "slash",
        "backslash",
        "at",
        "minus",
        "plus",
        "underscore",
        *(f"f{n}" for n in range(1, 25)),
    }
)


def key_problem(keys: str) -> str | None:
    """Why ``keys`` (comma-separated, e.g. ``ctrl+t,f3``) is not something a terminal key press can
    match, or None when every key is valid."""
    if not isinstance(keys, str) or not keys.strip():
        return f"expected a key string such as 'ctrl+t', got {keys!r}"
    for key in keys.split(","):
        key = key.strip()
        if not key:
            return f"{keys!r} has an empty key between commas"
        *mods, name = key.split("+") if len(key) > 1 else [key]
        if not name:
            return f"{key!r} names no key after its modifier(s)"
        bad = [m for m in mods if m not in MODIFIERS]
        if bad:
            return f"{key!r}: unknown modifier {bad[0]!r} (use {', '.join(sorted(MODIFIERS))})"
        if len(name) == 1 or name in NAMED_KEYS:
            continue
        try:
            unicodedata.lookup(name.replace("_", " ").upper())
        except KeyError:
            return (
                f"{key!r}: no key is named {name!r} (use a character, f1-f24, or a name such as enter, "
                "escape, tab, space, up, pageup, question_mark)"
            )
    return None
