"""Safe, bounded YAML for the edge runtime (stdlib + PyYAML; a copy of ``llmos_tui/yamlio.py``'s loader).

:func:`safe_load` reads plain data only (PyYAML's safe constructor) and refuses, with
:class:`YAMLRefused` (a ``ValueError`` with ``problem`` and ``problem_mark``):

* a text over ``max_bytes`` (default :data:`MAX_YAML_BYTES`, 1 MiB), before parsing it;
* any anchor or alias (``&a`` / ``*a``): nested aliases ("billion laughs") turn a 1 KiB header into
  9**9 leaves for whoever walks the data; the composer raises on the first such event;
* nesting past libyaml's limit or Python's recursion limit, and any malformed text.

A text without ``&`` or ``*`` cannot hold an anchor or alias and goes to PyYAML's ``CSafeLoader``
(libyaml) directly; any other to the strict loader (libyaml's parser when present).
"""

from __future__ import annotations

from typing import Any

MAX_YAML_BYTES = 1024 * 1024
_strict: Any = None


class YAMLRefused(ValueError):
    """A YAML text not loaded: malformed, too large, with an anchor or alias, or too deep."""

    def __init__(self, problem: str, problem_mark: Any = None) -> None:
        where = (
            f" (line {problem_mark.line + 1}, column {problem_mark.column + 1})"
            if problem_mark is not None
            else ""
        )
        super().__init__(problem + where)
        self.problem = problem
        self.problem_mark = problem_mark


def _strict_loader(yaml: Any) -> Any:
    global _strict
    if _strict is not None:
        return _strict
    from yaml.composer import Composer
    from yaml.constructor import SafeConstructor
    from yaml.events import AliasEvent
    from yaml.resolver import Resolver

    class _NoAliasComposer(Composer):
        def compose_node(self, parent: Any, index: Any) -> Any:
            event = self.peek_event()  # type: ignore[attr-defined]  # a mixin: the loader's Parser has it
            if isinstance(event, AliasEvent):
                raise YAMLRefused(
                    f"YAML aliases are not allowed (found the alias *{event.anchor})",
                    event.start_mark,
                )
            if getattr(event, "anchor", None) is not None:
                raise YAMLRefused(
                    f"YAML anchors are not allowed (found the anchor &{event.anchor})",
                    event.start_mark,
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

    _strict = NoAliasLoader
    return _strict


def safe_load(text: str, *, max_bytes: int = MAX_YAML_BYTES) -> Any:
    """The data of a YAML text; :class:`YAMLRefused` for anything malformed or refused. Raises
    ImportError when PyYAML is not installed."""
    if not isinstance(text, str):
        raise YAMLRefused("expected YAML text")
    if len(text) * 4 > max_bytes:
        size = len(text.encode("utf-8", "surrogatepass"))
        if size > max_bytes:
            raise YAMLRefused(
                f"the YAML text is {size} bytes, over the {max_bytes}-byte limit (refused)"
            )
    import yaml

    loader = (
        _strict_loader(yaml)
        if ("&" in text or "*" in text)
        else getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    )
    try:
        return yaml.load(text, Loader=loader)  # noqa: S506 - safe loaders only
    except YAMLRefused:
        raise
    except yaml.YAMLError as exc:
        problem = (
            getattr(exc, "problem", None) or (str(exc).splitlines() or [type(exc).__name__])[0]
        )
        raise YAMLRefused(problem, getattr(exc, "problem_mark", None)) from None
    except RecursionError:
        raise YAMLRefused("the YAML is nested too deeply") from None
    except MemoryError:
        raise YAMLRefused("the YAML is too large to load") from None
    except Exception as exc:  # noqa: BLE001 - e.g. ValueError for an impossible date
        raise YAMLRefused(f"unreadable YAML value ({type(exc).__name__}: {exc})") from None
