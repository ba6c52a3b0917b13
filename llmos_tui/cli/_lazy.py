"""Command groups loaded on first use.

Typer turns every registered command of every sub-app into a click command (inspecting each
signature) before it parses the first argument; with a dozen sub-apps that cost more than the
whole FOLLOWER replay it precedes. The root group holds the sub-apps as ``"module:attribute"``
references instead and imports one only when its name is invoked (``llmos traces list`` loads
``cli.traces`` and nothing else); ``llmos --help`` and a mistyped command name still see every
name, so help and "Did you mean ...?" suggestions are unchanged.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, MutableMapping
from typing import Any

import typer
import typer.main
from typer.core import TyperGroup

# name -> "module:attribute" (relative to this package); the attribute is a Typer app or a
# plain function registered as a single command.
LAZY_COMMANDS: dict[str, str] = {
    "bench": ".bench:bench_app",
    "traces": ".traces:traces_app",
    "memory": ".memory:memory_app",
    "projects": ".projects:projects_app",
    "policy": ".policy:policy_app",
    "inbox": ".inbox:inbox_app",
    "cron": ".cron:cron_app",
    "sentience": ".sentience:sentience_app",
    "agents": ".agents:agents_app",
    "volumes": ".volumes:volumes_app",
    "activity": ".activity:activity",
    "doctor": ".doctor:doctor",
    "sessions": ".sessions:sessions",
}


def load_command(name: str, ref: str) -> Any:
    """Import ``ref`` and turn it into a click command named ``name``."""
    module_name, _, attribute = ref.partition(":")
    target = getattr(importlib.import_module(module_name, __package__), attribute)
    if isinstance(target, typer.Typer):
        target._add_completion = False  # noqa: SLF001 - typer's flag, as under the root app
        command = typer.main.get_command(target)
    else:
        single = typer.Typer()
        single.command(name)(target)
        command = typer.main.get_command(single)
    command.name = name
    return command


class LazyCommands(MutableMapping):
    """The group's command table: loaded commands plus references loaded on first lookup."""

    def __init__(self, loaded: MutableMapping[str, Any], lazy: dict[str, str]) -> None:
        self._loaded = dict(loaded)
        self._lazy = {name: ref for name, ref in lazy.items() if name not in self._loaded}

    def __getitem__(self, name: str) -> Any:
        if name in self._loaded:
            return self._loaded[name]
        ref = self._lazy.pop(name)  # KeyError for an unknown name, as a dict would raise
        command = self._loaded[name] = load_command(name, ref)
        return command

    def __setitem__(self, name: str, command: Any) -> None:
        self._lazy.pop(name, None)
        self._loaded[name] = command

    def __delitem__(self, name: str) -> None:
        if name in self._lazy:
            del self._lazy[name]
        else:
            del self._loaded[name]

    def __contains__(self, name: object) -> bool:
        return name in self._loaded or name in self._lazy

    def __iter__(self) -> Iterator[str]:
        yield from list(self._loaded)
        yield from list(self._lazy)

    def __len__(self) -> int:
        return len(self._loaded) + len(self._lazy)

    def keys(self):  # names only: never loads anything (used for "Did you mean ...?")
        return list(self)


class LazyGroup(TyperGroup):
    """The root ``llmos`` group: sub-apps in :data:`LAZY_COMMANDS` are imported when invoked."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands = LazyCommands(self.commands, LAZY_COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        return self.commands.get(cmd_name)
