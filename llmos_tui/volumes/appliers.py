"""The volume proposal appliers: what accepting a proposal of these kinds does.

The observability hub knows no kind of its own: whoever wires a hub registers these
(``register_appliers(hub)``: the CLI's ``inbox``, the TUI, the evolution engine the crons use),
and a proposal may name this module (``applier_module``) for a process that did not.

``artifact.write``   payload ``{"scope", "kind", "name", "content", "identity", "reason"?}``:
                     create or replace an artifact in a volume, as the proposing identity
                     (``content`` is text, or ``{".py": …, ".json": …}`` for a tool).
``artifact.archive`` payload ``{"scope", "kind", "name", "identity", "reason"?}``: move an
                     artifact to the volume's ``.archive/`` (recoverable).
``artifact.promote`` payload ``{"kind", "name", "from", "to", "reason"?}``: promote it (acting
                     as the target's cron: a TeamCron for a team, the SystemCron for system).

Each returns a one-line message; errors (ACL, conflict, bad payload) propagate and the hub
records the attempt as failed.
"""

from __future__ import annotations

from typing import Any, Callable

from ..errors import UsageError
from ..observability.events import EventType
from .acl import Identity
from .git_sync import sync_after_write
from .promotion import Promoter
from .volume import Volume

#: What a proposal names as its ``applier_module`` to be applied by ``register_appliers``.
APPLIER_MODULE = __name__


def _need(payload: dict[str, Any], *keys: str) -> list[Any]:
    missing = [k for k in keys if payload.get(k) in (None, "")]
    if missing:
        raise UsageError(f"the proposal payload lacks {', '.join(missing)}")
    return [payload[k] for k in keys]


def volume_appliers(hub: Any) -> dict[str, Callable[[dict[str, Any]], str]]:
    """The appliers of the ``artifact.*`` kinds, acting through ``hub`` (its workspace, config
    and events)."""

    def volume_for(payload: dict[str, Any]) -> Any:
        scope, ident = _need(payload, "scope", "identity")
        return Volume(hub.workspace, scope, identity=Identity.from_dict(ident), events=hub)

    def write(payload: dict[str, Any]) -> str:
        kind, name, content = _need(payload, "kind", "name", "content")
        volume = volume_for(payload)
        raw_type = payload.get("event_type")
        result = volume.write_artifact(
            kind,
            name,
            content,
            reason=payload.get("reason"),
            event_type=EventType(raw_type) if raw_type else None,
        )
        return f"{result.action} {result.info.kind}/{result.info.name} in volumes/{volume.scope}"

    def archive(payload: dict[str, Any]) -> str:
        kind, name = _need(payload, "kind", "name")
        volume = volume_for(payload)
        moved = volume.archive_artifact(kind, name, reason=payload.get("reason"))
        return f"archived {kind}/{name} from volumes/{volume.scope} ({', '.join(moved)})"

    def promote(payload: dict[str, Any]) -> str:
        kind, name, src, dst = _need(payload, "kind", "name", "from", "to")
        result = Promoter(hub.workspace, config=hub.config, events=hub).promote(
            kind,
            name,
            from_scope=src,
            to_scope=dst,
            reason=payload.get("reason"),
            evidence=payload.get("evidence"),
        )
        synced = sync_after_write(
            hub.workspace, hub.config, dst, f"promote {kind}/{name} from {src}", events=hub
        )
        if synced is not None and not synced.ok:
            return (
                result.message
                + f"; pushing volumes/{dst} failed (the promotion is local): {synced.error}"
            )
        return result.message

    return {"artifact.write": write, "artifact.archive": archive, "artifact.promote": promote}


def register_appliers(hub: Any) -> None:
    """Register the ``artifact.*`` appliers on ``hub`` (``hub.register_applier``)."""
    for kind, fn in volume_appliers(hub).items():
        hub.register_applier(kind, fn)
