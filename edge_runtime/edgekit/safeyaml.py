"""Safe, bounded YAML: the one loader for every YAML text llmos and its edge runtime read (config,
trace/agent/fact/session/project frontmatter, bundles). Standard library + PyYAML only: the edge
imports it as ``edgekit.safeyaml``; llmos through ``llmos_tui/yamlio.py``, which adds its
no-PyYAML fast paths for flat config files and ``LLMOS_*`` values.

:func:`safe_load` is *safe*: plain data only, no Python objects (PyYAML's safe constructor), and
it refuses what makes a small text expensive:

* a text over ``max_bytes`` (default :data:`MAX_YAML_BYTES`, 1 MiB: a trace's frontmatter, a
  config file, an agent's header are a few KiB) is refused before it is parsed;
* anchors and aliases (``&a`` / ``*a``, merge keys ``<<: *a``) are refused: nothing llmos writes
  uses them, and nested aliases ("billion laughs": 9 aliases of 9 aliases ... in under 1 KiB)
  make a structure of 9**9 leaves that every later walk (validation, JSON, the index) would
  take hours over. The loader is a subclass whose composer raises on the first alias or anchor
  event, so such a text costs one partial parse (well under a millisecond);
* nesting deeper than the parser's limit (libyaml: 1,000 levels) or Python's recursion limit.

Every refusal and every malformed text raises :class:`YAMLLoadError` (a ``ValueError``) with
``problem`` and ``problem_mark`` (0-based ``line``/``column``, or None) like PyYAML's errors;
callers name the file and skip it. libyaml is used when PyYAML was built with it (several times
faster): a text without ``&`` or ``*`` cannot hold an anchor or alias and goes straight to
``CSafeLoader``; any other goes to the strict subclass (libyaml's parser, PyYAML's composer).
PyYAML is imported only when a text needs it.
"""

from __future__ import annotations

from typing import Any

MAX_YAML_BYTES = 1024 * 1024
_strict_loader: Any = None


class YAMLLoadError(ValueError):
    """A YAML text that was not loaded: malformed, too large, with an anchor or alias, or nested
    too deeply. ``problem``: what; ``problem_mark``: where (``.line``/``.column``, 0-based) or None."""

    def __init__(self, problem: str, problem_mark: Any = None) -> None:
        where = (
            f" (line {problem_mark.line + 1}, column {problem_mark.column + 1})"
            if problem_mark is not None
            else ""
        )
        super().__init__(problem + where)
        self.problem = problem
        self.problem_mark = problem_mark


def no_alias_loader() -> Any:
    """The strict safe Loader class: PyYAML's safe constructor, a composer that raises
    :class:`YAMLLoadError` on the first anchor or alias (libyaml's parser when available).
    Usable wherever PyYAML takes a ``Loader``."""
    global _strict_loader
    if _strict_loader is not None:
        return _strict_loader
    import yaml
    from yaml.composer import Composer
    from yaml.constructor import SafeConstructor
    from yaml.events import AliasEvent
    from yaml.resolver import Resolver

    class _NoAliasComposer(Composer):
        def compose_node(self, parent: Any, index: Any) -> Any:
            event = self.peek_event()  # type: ignore[attr-defined]  # a mixin: the loader's Parser has it
            if isinstance(event, AliasEvent):
                raise YAMLLoadError(
                    f"YAML aliases are not allowed (found the alias *{event.anchor})",
                    event.start_mark,
                )
            anchor = getattr(event, "anchor", None)
            if anchor is not None:
                raise YAMLLoadError(
                    f"YAML anchors are not allowed (found the anchor &{anchor})", event.start_mark
                )
            return super().compose_node(parent, index)

    cparser = (
        getattr(getattr(yaml, "cyaml", None), "CParser", None)
        if getattr(yaml, "__with_libyaml__", False)
        else None
    )
    if cparser is not None:

        class NoAliasLoader(_NoAliasComposer, cparser, SafeConstructor, Resolver):  # type: ignore[misc,valid-type]
            def __init__(self, stream: Any) -> None:
                cparser.__init__(self, stream)  # type: ignore[misc]  # cparser: a class found at run time
                SafeConstructor.__init__(self)
                Resolver.__init__(self)
                Composer.__init__(self)
    else:
        from yaml.parser import Parser
        from yaml.reader import Reader
        from yaml.scanner import Scanner

        class NoAliasLoader(  # type: ignore[no-redef]  # one of two definitions, chosen at run time
            _NoAliasComposer,
            Reader,
            Scanner,
            Parser,
            SafeConstructor,
            Resolver,
        ):
            def __init__(self, stream: Any) -> None:
                Reader.__init__(self, stream)
                Scanner.__init__(self)
                Parser.__init__(self)
                Composer.__init__(self)
                SafeConstructor.__init__(self)
                Resolver.__init__(self)

    _strict_loader = NoAliasLoader
    return _strict_loader


def check_size(text: str, max_bytes: int = MAX_YAML_BYTES) -> None:
    """Raise :class:`YAMLLoadError` when ``text`` is over ``max_bytes`` bytes of UTF-8."""
    if len(text) * 4 > max_bytes:
        size = len(text.encode("utf-8", "surrogatepass"))
        if size > max_bytes:
            raise YAMLLoadError(
                f"the YAML text is {size} bytes, over the {max_bytes}-byte limit (refused)"
            )


def safe_load(text: str, *, max_bytes: int = MAX_YAML_BYTES) -> Any:
    """The data of a YAML text; :class:`YAMLLoadError` for anything malformed or refused."""
    if not isinstance(text, str):
        raise YAMLLoadError("expected YAML text")
    check_size(text, max_bytes)
    import yaml

    if "&" in text or "*" in text:
        loader = no_alias_loader()
    else:
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(text, Loader=loader)  # noqa: S506 - safe loaders only (CSafeLoader, SafeLoader, strict)
    except YAMLLoadError:
        raise
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = (
            getattr(exc, "problem", None) or (str(exc).splitlines() or [type(exc).__name__])[0]
        )
        raise YAMLLoadError(problem, mark) from None
    except RecursionError:
        raise YAMLLoadError("the YAML is nested too deeply") from None
    except MemoryError:
        raise YAMLLoadError("the YAML is too large to load") from None
    except Exception as exc:  # noqa: BLE001 - e.g. a ValueError for an impossible date (2026-13-45)
        raise YAMLLoadError(f"unreadable YAML value ({type(exc).__name__}: {exc})") from None
