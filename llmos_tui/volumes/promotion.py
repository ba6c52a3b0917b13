"""Promotion: copying a proven artifact one level up (user → team → system), with provenance.

Criteria (``promotion.*`` in config, defaults in ``PromotionCriteria``):

* user → team: the artifact is used by at least ``user_to_team_min_users`` members of the
  team (2), **or** it has at least ``user_to_team_min_uses`` uses (10) at a success rate of at
  least ``user_to_team_min_success`` (0.9). Traces group by goal signature (the same goal
  learned by several users), tools by name; a trace qualifies only if its best copy's last
  outcome was a success.
* team → system: it is present in at least ``team_to_system_min_teams`` team volumes (2) at a
  success rate of at least ``team_to_system_min_success`` (0.9) where uses are counted.

Agents, insights and suggestions are promoted explicitly (CLI, proposal), not by criteria.

A promotion copies the artifact (the source stays) and writes a provenance sidecar
``<kind>/.provenance/<name>.json`` in the target: origin scope, name, version and content
fingerprint, who promoted it and when, and the chain of earlier promotions. A promoted trace
gets a new id (derived from its goal signature and the target scope) and ``parent_trace``
naming the source trace; it is indexed at once, so inheritance finds it.

Never overwriting a newer artifact: when the target already holds an artifact of that name,

* identical content → ``unchanged``;
* it came from the same origin, is unmodified since (its fingerprint is the one recorded at
  promotion) and the source is newer (higher version, or changed after the promotion when
  there are no versions) → ``updated`` (the old provenance kept in ``history``);
* anything else (modified in the target, from another origin, target version higher, same
  version with different content, source older) is a conflict: ``promotion.on_conflict`` =
  ``refuse`` raises ``PromotionConflict`` with the reason, ``keep_both`` writes the source
  beside it as ``<name>.from-<owner>``. Either way a ``PROMOTION_REFUSED`` event or the new
  artifact's provenance says what happened.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any, Iterable

from ..atomic import atomic_write_json
from ..clock import iso_utc
from ..errors import LLMOSError, UsageError
from ..observability.events import EventType
from ..workspace import Workspace
from .acl import Identity, parse_scope, scope_owner, scope_type, team_members
from .volume import (
    ArtifactInfo,
    ArtifactNotFound,
    Volume,
    check_kind,
    check_name,
    compare_versions,
    fingerprint,
    list_scopes,
    volume_lock,
)

if TYPE_CHECKING:  # pragma: no cover
    from ..config import LLMOSConfig

RANK = {"user": 0, "team": 1, "system": 2}
CONFLICT_POLICIES = ("refuse", "keep_both")


class PromotionConflict(LLMOSError):
    """The target holds an artifact that must not be overwritten (exit 1); says why."""


@dataclass
class PromotionCriteria:
    user_to_team_min_users: int = 2
    user_to_team_min_uses: int = 10
    user_to_team_min_success: float = 0.9
    team_to_system_min_teams: int = 2
    team_to_system_min_success: float = 0.9
    on_conflict: str = "refuse"

    def __post_init__(self) -> None:
        if self.on_conflict not in CONFLICT_POLICIES:
            raise UsageError(f"promotion.on_conflict must be one of {', '.join(CONFLICT_POLICIES)}")

    @classmethod
    def from_config(cls, config: LLMOSConfig | None) -> "PromotionCriteria":
        if config is None:
            return cls()
        section = config.promotion
        return cls(
            **{f.name: getattr(section, f.name) for f in fields(cls) if hasattr(section, f.name)}
        )


@dataclass
class PromotionResult:
    status: str  # promoted | updated | unchanged | kept_both
    kind: str
    name: str  # in the source volume
    target_name: str  # in the target volume
    from_scope: str
    to_scope: str
    message: str
    provenance: dict[str, Any] | None = None
    event_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class PromotionCandidate:
    kind: str
    name: str  # the best source copy
    from_scope: str
    to_scope: str
    rule: str  # users | uses | teams
    reason: str
    owners: list[str] = field(default_factory=list)  # users (user→team) or teams (team→system)
    uses: int = 0
    successes: int = 0
    failures: int = 0
    success_rate: float = 0.0
    already_promoted: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Placement:
    verdict: str  # new | same | update | conflict
    name: str
    files: dict[str, bytes]
    why: str
    status: str


def _manifest(files: dict[str, bytes]) -> dict[str, Any] | None:
    try:
        data = json.loads(files[".json"]) if ".json" in files else None
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def is_crystallized(manifest: dict[str, Any]) -> bool:
    """A manifest written by the crystallizer (``execution/replay/crystallized.py``)."""
    return all(
        k in manifest for k in ("module", "source_trace", "sha256", "status", "name", "version")
    )


def _crystallized_problem(files: dict[str, bytes], manifest: dict[str, Any]) -> str | None:
    from ..execution.replay.crystallized import ToolError, module_data, render_module, sha256_bytes

    if sha256_bytes(files[".py"]) != manifest.get("sha256"):
        return "its module does not match the sha256 in its manifest (modified?)"
    try:
        data = module_data(files[".py"].decode("utf-8"))
        again = render_module(
            name=data["name"],
            version=data["version"],
            source_trace=data["source_trace"],
            goal=data["goal"],
            slots=data["slots"],
            calls=data["calls"],
        )
    except (ToolError, UnicodeDecodeError) as exc:
        return f"its module cannot be read ({getattr(exc, 'message', exc)})"
    if again.encode("utf-8") != files[".py"]:
        return "its module is not what the generator writes from its data (edited?)"
    if data["source_trace"] != manifest.get("source_trace"):
        return "its module and manifest name different source traces"
    return None


def _rehome_tool(
    files: dict[str, bytes],
    manifest: dict[str, Any],
    *,
    new_trace: str,
    src_scope: str,
    dst_scope: str,
    src_name: str,
) -> dict[str, bytes]:
    """The tool re-rendered for its promoted trace (same name, version, calls), with its manifest."""
    from ..execution.replay.crystallized import module_data, render_module, sha256_bytes

    data = module_data(files[".py"].decode("utf-8"))
    text = render_module(
        name=data["name"],
        version=data["version"],
        source_trace=new_trace,
        goal=data["goal"],
        slots=data["slots"],
        calls=data["calls"],
    ).encode("utf-8")
    out = dict(manifest)
    out.update(
        {
            "source_trace": new_trace,
            "source_volume": dst_scope,
            "sha256": sha256_bytes(text),
            "promoted_from": {
                "volume": src_scope,
                "tool": src_name,
                "source_trace": manifest["source_trace"],
            },
        }
    )
    return {
        ".py": text,
        ".json": (json.dumps(out, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode(
            "utf-8"
        ),
    }


def promoted_trace_id(signature: str, to_scope: str, *, salt: str = "") -> str:
    digest = hashlib.sha256(f"{signature}|{to_scope}|{salt}".encode("utf-8")).hexdigest()
    return f"t_{digest[:12]}"


class Promoter:
    def __init__(
        self,
        workspace: Workspace,
        *,
        criteria: PromotionCriteria | None = None,
        config: LLMOSConfig | None = None,
        events: Any = None,
    ) -> None:
        self.workspace = workspace
        self.criteria = criteria or PromotionCriteria.from_config(config)
        self._events = events

    @property
    def events(self) -> Any:
        if self._events is None:
            from ..observability.events import EventLog

            self._events = EventLog(self.workspace.events_file)
        return self._events

    # ---- one promotion ------------------------------------------------------------------
    def promote(
        self,
        kind: str,
        name: str,
        *,
        from_scope: str,
        to_scope: str,
        identity: Identity | None = None,
        reason: str | None = None,
        evidence: dict[str, Any] | None = None,
    ) -> PromotionResult:
        kind = check_kind(kind)
        name = check_name(kind, name)
        src_scope, dst_scope = parse_scope(from_scope), parse_scope(to_scope)
        if RANK[scope_type(dst_scope)] <= RANK[scope_type(src_scope)]:
            raise UsageError(
                f"promotion goes up (user → team → system): {src_scope} → {dst_scope} does not"
            )
        who = identity or Identity.for_writing(dst_scope)
        source = Volume(self.workspace, src_scope, identity=who, events=self.events)
        target = Volume(self.workspace, dst_scope, identity=who, events=self.events)
        src_files = source.read_artifact_bytes(kind, name)  # read-checked
        who.check("write", dst_scope, self.workspace, events=self.events, what=f"{kind}/{name}")
        src_info = source.info_from_files(kind, name, src_files)
        if src_info.problem:
            raise UsageError(
                f"volumes/{src_scope}/{kind}/{name} cannot be promoted: {src_info.problem}"
            )
        manifest = _manifest(src_files) if kind == "tools" else None
        with volume_lock(target.root):
            if manifest is not None and is_crystallized(manifest):
                return self._promote_crystallized(
                    name, src_files, src_info, manifest, source, target, who, reason, evidence
                )
            place = self._place(target, kind, name, src_files, src_info, src_scope)
            if place.verdict == "conflict":
                self._refuse(who, kind, name, src_scope, dst_scope, place.why)
            if place.verdict == "same":
                return PromotionResult(
                    "unchanged",
                    kind,
                    name,
                    place.name,
                    src_scope,
                    dst_scope,
                    f"volumes/{dst_scope}/{kind}/{place.name} already holds this content",
                    provenance=self._finish_provenance(
                        source,
                        target,
                        kind,
                        name,
                        src_info,
                        place.name,
                        place.files,
                        who,
                        reason,
                        evidence,
                    ),
                )
            return self._write(source, target, kind, name, src_info, place, who, reason, evidence)

    def _place(
        self,
        target: Volume,
        kind: str,
        name: str,
        src_files: dict[str, bytes],
        src_info: ArtifactInfo,
        src_scope: str,
        transform: Any = None,
    ) -> "_Placement":
        """Where the source goes in the target and whether it may: the conflict rules, with keep_both."""
        tname, files = self._target_files(kind, name, src_files, target.scope, salt="")
        verdict, why = self._judge(target, kind, tname, files, src_scope, name, src_info)
        status = {"new": "promoted", "update": "updated", "same": "unchanged"}.get(verdict, "")
        if verdict == "conflict" and self.criteria.on_conflict == "keep_both":
            owner = scope_owner(src_scope) or "system"
            alt_name, alt_files = self._target_files(
                kind, name, src_files, target.scope, salt=src_scope, alt=f"{name}.from-{owner}"
            )
            verdict2, why2 = self._judge(
                target, kind, alt_name, alt_files, src_scope, name, src_info
            )
            if verdict2 != "conflict":
                return _Placement(
                    verdict2,
                    alt_name,
                    alt_files,
                    f"{why}; kept both: the promoted copy is {kind}/{alt_name}",
                    "kept_both" if verdict2 != "same" else "unchanged",
                )
            why = f"{why}; and {why2}"
        return _Placement(verdict, tname, files, why, status)

    def _write(
        self,
        source: Volume,
        target: Volume,
        kind: str,
        name: str,
        src_info: ArtifactInfo,
        place: "_Placement",
        who: Identity,
        reason: str | None,
        evidence: dict[str, Any] | None,
        extra: dict[str, Any] | None = None,
    ) -> PromotionResult:
        src_scope, dst_scope = source.scope, target.scope
        provenance = self._provenance(
            kind,
            name,
            src_scope,
            src_info,
            source.read_provenance(kind, name),
            who,
            reason,
            place.files,
            previous=target.read_provenance(kind, place.name)
            if place.verdict == "update"
            else None,
            evidence=evidence,
        )
        result = target.write_artifact(
            kind,
            place.name,
            place.files,
            actor=who,
            reason=reason or f"promoted from {src_scope}",
            event_type=EventType.ARTIFACT_PROMOTED,
            notify_user=True,
            title=f"{kind[:-1]} {place.name} promoted from {src_scope} to {dst_scope}",
            provenance=provenance,
            changelog_action="promoted",
            event_data={
                "from": src_scope,
                "to": dst_scope,
                "source_name": name,
                "status": place.status,
                **(extra or {}),
            },
        )
        message = {
            "promoted": f"promoted {kind}/{name} from {src_scope} to {dst_scope} as {place.name}",
            "updated": f"updated {kind}/{place.name} in {dst_scope} from the newer {src_scope}/{name}",
            "kept_both": f"promoted {kind}/{name} from {src_scope} to {dst_scope} as {place.name} ({place.why})",
        }[place.status or "promoted"]
        return PromotionResult(
            place.status or "promoted",
            kind,
            name,
            place.name,
            src_scope,
            dst_scope,
            message,
            provenance=provenance,
            event_id=result.event_id,
        )

    def _finish_provenance(
        self,
        source: Volume,
        target: Volume,
        kind: str,
        name: str,
        src_info: ArtifactInfo,
        target_name: str,
        files: dict[str, bytes],
        who: Identity,
        reason: str | None,
        evidence: dict[str, Any] | None,
    ) -> dict[str, Any] | None:
        """The target already holds the source's content. A promotion killed between writing the
        artifact and writing its provenance left it without one (or with the previous version's):
        write it now, or the next update from this source is refused as a conflict forever."""
        current = target.read_provenance(kind, target_name)
        sha = fingerprint(kind, files)
        if current is not None and current.get("content_sha256") == sha:
            return current
        origin = (current or {}).get("origin") or {}
        if current is not None and (
            origin.get("scope") != source.scope or origin.get("name") != name
        ):
            return current  # promoted from elsewhere: not ours to rewrite
        provenance = self._provenance(
            kind,
            name,
            source.scope,
            src_info,
            source.read_provenance(kind, name),
            who,
            reason,
            files,
            previous=current,
            evidence=evidence,
        )
        try:
            atomic_write_json(target.provenance_path(kind, target_name), provenance)
        except OSError as exc:
            raise LLMOSError(
                f"cannot write the provenance of volumes/{target.scope}/{kind}/{target_name}: {exc}"
            ) from None
        return provenance

    def _refuse(self, who: Identity, kind: str, name: str, src: str, dst: str, why: str) -> None:
        message = f"not promoting {kind}/{name} from {src} to {dst}: {why}"
        self._record_refusal(who, kind, name, src, dst, message)
        raise PromotionConflict(message)

    def _promote_crystallized(
        self,
        name: str,
        src_files: dict[str, bytes],
        src_info: ArtifactInfo,
        manifest: dict[str, Any],
        source: Volume,
        target: Volume,
        who: Identity,
        reason: str | None,
        evidence: dict[str, Any] | None,
    ) -> PromotionResult:
        """A crystallized tool travels with its source trace: the trace is promoted (new id), the
        module is re-rendered to name that trace (``load_tool`` checks it), and the promoted trace's
        ``crystallized_tool`` names the tool, so inheritance finds both."""
        from ..learning.traces import dump_trace, parse_trace

        src_scope, dst_scope = source.scope, target.scope
        if manifest.get("status") != "active":
            raise UsageError(
                f"tool {name} is {manifest.get('status')}: only active crystallized tools are promoted"
            )
        problem = _crystallized_problem(src_files, manifest)
        if problem:
            raise UsageError(f"tool {name} in {src_scope} cannot be promoted: {problem}")
        trace_id = str(manifest["source_trace"])
        try:
            trace_files = source.read_files_unchecked("traces", trace_id)
        except ArtifactNotFound:
            raise UsageError(
                f"tool {name}'s source trace {trace_id} is not in volumes/{src_scope}; "
                "a crystallized tool is promoted with its trace"
            ) from None
        trace_info = source.info_from_files("traces", trace_id, trace_files)
        if trace_info.problem:
            raise UsageError(f"tool {name}'s source trace cannot be read: {trace_info.problem}")
        tplace = self._place(target, "traces", trace_id, trace_files, trace_info, src_scope)
        if tplace.verdict == "conflict":
            self._refuse(
                who, "tools", name, src_scope, dst_scope, f"its source trace: {tplace.why}"
            )
        tool_files = _rehome_tool(
            src_files,
            manifest,
            new_trace=tplace.name,
            src_scope=src_scope,
            dst_scope=dst_scope,
            src_name=name,
        )
        verdict, why = self._judge(target, "tools", name, tool_files, src_scope, name, src_info)
        if verdict == "conflict":
            self._refuse(who, "tools", name, src_scope, dst_scope, why)
        place = _Placement(
            verdict,
            name,
            tool_files,
            why,
            {"new": "promoted", "update": "updated", "same": "unchanged"}[verdict],
        )
        if verdict == "same":
            result = PromotionResult(
                "unchanged",
                "tools",
                name,
                name,
                src_scope,
                dst_scope,
                f"volumes/{dst_scope}/tools/{name} already holds this tool",
                provenance=self._finish_provenance(
                    source, target, "tools", name, src_info, name, tool_files, who, reason, evidence
                ),
            )
        else:
            result = self._write(
                source,
                target,
                "tools",
                name,
                src_info,
                place,
                who,
                reason,
                evidence,
                extra={"trace": tplace.name},
            )
        # The trace: new or updated copies name the tool; an identical copy is linked to it.
        if tplace.verdict == "same":
            current = parse_trace(
                target.read_files_unchecked("traces", tplace.name)[".md"].decode("utf-8")
            )
            if current.crystallized_tool != name:
                current.crystallized_tool = name
                target.write_artifact(
                    "traces",
                    tplace.name,
                    dump_trace(current),
                    actor=who,
                    reason=f"linked to the promoted tool {name}",
                    changelog_action="linked",
                    event_data={"tool": name},
                )
        else:
            trace = parse_trace(tplace.files[".md"].decode("utf-8"))
            trace.crystallized_tool = name
            tplace.files = {".md": dump_trace(trace).encode("utf-8")}
            self._write(
                source,
                target,
                "traces",
                trace_id,
                trace_info,
                tplace,
                who,
                reason,
                evidence,
                extra={"tool": name},
            )
        result.message += f" (with its trace as {tplace.name})"
        return result

    def _target_files(
        self,
        kind: str,
        name: str,
        files: dict[str, bytes],
        to_scope: str,
        *,
        salt: str,
        alt: str | None = None,
    ) -> tuple[str, dict[str, bytes]]:
        if kind != "traces":
            return (alt or name), dict(files)
        from ..learning.traces import dump_trace, parse_trace

        trace = parse_trace(files[".md"].decode("utf-8"))
        new_id = promoted_trace_id(trace.signature, to_scope, salt=salt)
        source_id = trace.id
        trace.id = new_id
        trace.parent_trace = source_id
        # Its tool (if any) stays behind: a copy naming a tool it cannot see would be demoted.
        trace.crystallized_tool = None
        return new_id, {".md": dump_trace(trace).encode("utf-8")}

    def _judge(
        self,
        target: Volume,
        kind: str,
        target_name: str,
        files: dict[str, bytes],
        src_scope: str,
        src_name: str,
        src_info: ArtifactInfo,
    ) -> tuple[str, str]:
        """("new" | "same" | "update" | "conflict", why)."""
        try:
            existing = target.read_files_unchecked(kind, target_name)
        except ArtifactNotFound:
            return "new", ""
        except LLMOSError as exc:
            return "conflict", f"the target's copy cannot be read ({exc.message})"
        tgt_info = target.info_from_files(kind, target_name, existing)
        new_sha = fingerprint(kind, files)
        if tgt_info.sha256 == new_sha:
            return "same", ""
        where = f"volumes/{target.scope}/{kind}/{target_name}"
        prov = target.read_provenance(kind, target_name)
        origin = (prov or {}).get("origin") or {}
        if prov is None:
            return "conflict", f"{where} exists and was not created by a promotion"
        if origin.get("scope") != src_scope or origin.get("name") != src_name:
            return "conflict", (
                f"{where} was promoted from volumes/{origin.get('scope')}/{kind}/{origin.get('name')}, "
                f"not from {src_scope}"
            )
        if prov.get("content_sha256") != tgt_info.sha256:
            return "conflict", f"{where} was modified in {target.scope} since it was promoted"
        order = compare_versions(src_info.version, tgt_info.version)
        if order is not None:
            if order < 0:
                return (
                    "conflict",
                    f"{where} is version {tgt_info.version}, newer than the source's {src_info.version}",
                )
            if order == 0:
                return (
                    "conflict",
                    f"{where} and the source are both version {src_info.version} but differ",
                )
            return "update", ""
        if origin.get("sha256") == src_info.sha256:
            return "conflict", f"{where} differs from the source although the source did not change"
        if (
            src_info.mtime
            and tgt_info.mtime
            and src_info.mtime < tgt_info.mtime
            and src_info.mtime <= float(origin.get("mtime") or 0.0)
        ):
            return "conflict", f"{where} is newer than the source"
        return "update", ""

    def _provenance(
        self,
        kind: str,
        name: str,
        src_scope: str,
        src_info: ArtifactInfo,
        src_prov: dict | None,
        who: Identity,
        reason: str | None,
        files: dict[str, bytes],
        *,
        previous: dict | None,
        evidence: dict[str, Any] | None,
    ) -> dict[str, Any]:
        origin = {
            "scope": src_scope,
            "kind": kind,
            "name": name,
            "version": src_info.version,
            "sha256": src_info.sha256,
            "mtime": src_info.mtime,
        }
        if kind == "traces":
            origin["trace_id"] = src_info.meta.get("id")
            origin["usage_count"] = src_info.meta.get("usage_count")
            origin["success_count"] = src_info.meta.get("success_count")
        out: dict[str, Any] = {
            "origin": origin,
            "promoted_by": who.label,
            "promoted_at": iso_utc(),
            "reason": reason,
            "content_sha256": fingerprint(kind, files),
            "chain": ([src_prov] + list(src_prov.get("chain") or [])) if src_prov else [],
        }
        if evidence:
            out["evidence"] = evidence
        if previous:
            history = list(previous.get("history") or [])
            history.insert(0, {k: v for k, v in previous.items() if k != "history"})
            out["history"] = history[:20]
        return out

    def _record_refusal(
        self, who: Identity, kind: str, name: str, src: str, dst: str, message: str
    ) -> None:
        try:
            self.events.record(
                EventType.PROMOTION_REFUSED,
                source=who.label,
                kind=kind,
                name=name,
                volume=dst,
                volume_type=scope_type(dst),
                to=dst,
                reason=message,
                **{"from": src},
            )
        except Exception:
            pass

    # ---- criteria -----------------------------------------------------------------------
    def user_to_team_candidates(
        self, team: str, *, include_done: bool = False
    ) -> list[PromotionCandidate]:
        """Artifacts of the team's members that meet the user → team criteria (tools first)."""
        team_scope = parse_scope(f"teams/{team}")
        scopes = [f"users/{m}" for m in team_members(self.workspace, team)]
        c = self.criteria

        def rule_for(owners: list[str], uses: int, rate: float) -> tuple[str, str] | None:
            if len(owners) >= c.user_to_team_min_users:
                return "users", f"used by {len(owners)} members of {team} ({', '.join(owners)})"
            if uses >= c.user_to_team_min_uses and rate >= c.user_to_team_min_success:
                return "uses", f"{uses} uses at {rate:.0%} success"
            return None

        out: list[PromotionCandidate] = []
        covered: set[str] = set()
        for key, copies in self._tool_groups(scopes, Identity.team_cron(team)).items():
            owners = sorted({scope_owner(cp.scope) or "" for cp in copies if cp.uses >= 1})
            uses, ok, bad = (
                sum(cp.uses for cp in copies),
                sum(cp.ok for cp in copies),
                sum(cp.bad for cp in copies),
            )
            rate = ok / (ok + bad) if ok + bad else 0.0
            found = rule_for(owners, uses, rate)
            if found is None:
                continue
            best = max(copies, key=lambda cp: (cp.ok, cp.uses, cp.info.mtime))
            covered.add(key)
            out.append(
                PromotionCandidate(
                    "tools",
                    best.info.name,
                    best.scope,
                    team_scope,
                    found[0],
                    found[1],
                    owners,
                    uses,
                    ok,
                    bad,
                    round(rate, 4),
                )
            )
        for group in self._trace_groups(scopes):
            if group[0].signature in covered:
                continue  # its tool's promotion carries the trace
            owners = sorted({scope_owner(e.volume) or "" for e in group if e.usage_count >= 1})
            uses, ok, bad = _totals(group)
            rate = ok / (ok + bad) if ok + bad else 0.0
            best = _best_trace(group)
            found = rule_for(owners, uses, rate) if best is not None else None
            if found is None:
                continue
            out.append(
                PromotionCandidate(
                    "traces",
                    best.id,
                    best.volume,
                    team_scope,
                    found[0],
                    found[1],
                    owners,
                    uses,
                    ok,
                    bad,
                    round(rate, 4),
                )
            )
        return self._mark_done(out, include_done)

    def team_to_system_candidates(self, *, include_done: bool = False) -> list[PromotionCandidate]:
        """Team artifacts present in enough teams (team → system criteria), tools first."""
        c = self.criteria
        scopes = [s for s in list_scopes(self.workspace) if s.startswith("teams/")]
        out: list[PromotionCandidate] = []
        covered: set[str] = set()

        def accept(teams: list[str], ok: int, bad: int) -> float | None:
            rate = ok / (ok + bad) if ok + bad else 1.0
            if len(teams) < c.team_to_system_min_teams or rate < c.team_to_system_min_success:
                return None
            return rate

        for key, copies in self._tool_groups(scopes, Identity.system_cron()).items():
            teams = sorted({scope_owner(cp.scope) or "" for cp in copies})
            uses, ok, bad = (
                sum(cp.uses for cp in copies),
                sum(cp.ok for cp in copies),
                sum(cp.bad for cp in copies),
            )
            rate = accept(teams, ok, bad)
            if rate is None:
                continue
            best = max(copies, key=lambda cp: (cp.ok, cp.uses, cp.info.mtime))
            covered.add(key)
            out.append(
                PromotionCandidate(
                    "tools",
                    best.info.name,
                    best.scope,
                    "system",
                    "teams",
                    f"present in {len(teams)} teams ({', '.join(teams)}) at {rate:.0%} success",
                    teams,
                    uses,
                    ok,
                    bad,
                    round(rate, 4),
                )
            )
        for group in self._trace_groups(scopes):
            if group[0].signature in covered:
                continue
            teams = sorted({scope_owner(e.volume) or "" for e in group})
            uses, ok, bad = _totals(group)
            best = _best_trace(group)
            rate = accept(teams, ok, bad)
            if best is None or rate is None:
                continue
            out.append(
                PromotionCandidate(
                    "traces",
                    best.id,
                    best.volume,
                    "system",
                    "teams",
                    f"present in {len(teams)} teams ({', '.join(teams)}) at {rate:.0%} success",
                    teams,
                    uses,
                    ok,
                    bad,
                    round(rate, 4),
                )
            )
        return self._mark_done(out, include_done)

    def _mark_done(
        self, candidates: list[PromotionCandidate], include_done: bool
    ) -> list[PromotionCandidate]:
        out = []
        for cand in candidates:
            target = Volume(self.workspace, cand.to_scope)
            source = Volume(self.workspace, cand.from_scope)
            try:
                src_files = source.read_files_unchecked(cand.kind, cand.name)
                src_info = source.info_from_files(cand.kind, cand.name, src_files)
                manifest = _manifest(src_files) if cand.kind == "tools" else None
                if manifest is not None and is_crystallized(manifest):
                    tid = str(manifest["source_trace"])
                    tname, _ = self._target_files(
                        "traces",
                        tid,
                        source.read_files_unchecked("traces", tid),
                        cand.to_scope,
                        salt="",
                    )
                    files = _rehome_tool(
                        src_files,
                        manifest,
                        new_trace=tname,
                        src_scope=cand.from_scope,
                        dst_scope=cand.to_scope,
                        src_name=cand.name,
                    )
                    name = cand.name
                else:
                    name, files = self._target_files(
                        cand.kind, cand.name, src_files, cand.to_scope, salt=""
                    )
                verdict, _why = self._judge(
                    target, cand.kind, name, files, cand.from_scope, cand.name, src_info
                )
            except LLMOSError:
                continue
            cand.already_promoted = verdict == "same"
            if include_done or not cand.already_promoted:
                out.append(cand)
        return out

    def _trace_groups(self, scopes: Iterable[str]) -> list[list[Any]]:
        from ..learning.index import TraceIndex

        wanted = list(scopes)
        if not wanted:
            return []
        by_sig: dict[str, list[Any]] = defaultdict(list)
        for entry in TraceIndex(self.workspace).entries(wanted):
            by_sig[entry.signature].append(entry)
        return [group for _sig, group in sorted(by_sig.items())]

    def _tool_groups(self, scopes: list[str], identity: Identity) -> dict[str, list["_ToolCopy"]]:
        """Usable tools of some volumes grouped by what they do: the goal signature of a
        crystallized tool (two users' tools for one goal), else the name."""
        from ..learning.traces import goal_signature

        usage = self._tool_usage_from_events() if scopes else {}
        groups: dict[str, list[_ToolCopy]] = defaultdict(list)
        for scope in scopes:
            volume = Volume(self.workspace, scope, identity=identity, events=self.events)
            for info, files in volume.iter_artifacts("tools"):
                manifest = _manifest(files) or {}
                if is_crystallized(manifest) and manifest.get("status") != "active":
                    continue
                goal = manifest.get("goal")
                key = (
                    goal_signature(goal)
                    if isinstance(goal, str) and goal.strip()
                    else f"name:{info.name}"
                )
                uses, ok, bad = _tool_counts(
                    info, usage.get((info.name, scope)) or usage.get((info.name, None))
                )
                groups[key].append(_ToolCopy(scope, info, uses, ok, bad))
        return dict(sorted(groups.items()))

    def _tool_usage_from_events(self) -> dict[tuple[str, str | None], tuple[int, int]]:
        """(tool, volume or None) -> (uses, successes) from ``TOOL_USED`` / ``TOOL_RUN`` events."""
        from ..observability.events import EventLog

        out: dict[tuple[str, str | None], tuple[int, int]] = {}
        log = EventLog(self.workspace.events_file)
        if not log.files():
            return out
        for event in log.iter_events():
            if event.type not in (EventType.TOOL_USED, EventType.TOOL_RUN):
                continue
            volume = event.data.get("volume")
            key = (str(event.data.get("tool")), volume if isinstance(volume, str) else None)
            uses, ok = out.get(key, (0, 0))
            out[key] = (uses + 1, ok + (1 if event.data.get("success") else 0))
        return out


@dataclass
class _ToolCopy:
    scope: str
    info: ArtifactInfo
    uses: int
    ok: int
    bad: int


def _totals(group: list[Any]) -> tuple[int, int, int]:
    return (
        sum(e.usage_count for e in group),
        sum(e.success_count for e in group),
        sum(e.failure_count for e in group),
    )


def _best_trace(group: list[Any]) -> Any:
    good = [e for e in group if e.outcome == "success" and e.success_count >= 1]
    if not good:
        return None
    return max(good, key=lambda e: (e.success_rate, e.success_count, e.last_used or "", e.id))


def _int(value: Any) -> int:
    return (
        int(value)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
        else 0
    )


def _tool_counts(info: ArtifactInfo, from_events: tuple[int, int] | None) -> tuple[int, int, int]:
    """(uses, successes, failures) of one tool copy: its manifest counters or its TOOL_USED events."""
    uses, ok, bad = (
        _int(info.meta.get("usage_count")),
        _int(info.meta.get("success_count")),
        _int(info.meta.get("failure_count")),
    )
    if from_events is not None and from_events[0] > uses:
        uses, ok, bad = from_events[0], from_events[1], from_events[0] - from_events[1]
    if uses and not ok and not bad:
        ok = uses  # counters without outcomes: count uses as successes
    return uses, ok, bad
