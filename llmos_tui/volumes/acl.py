"""Who may read and write which volume.

Scopes are ``system``, ``teams/<team>`` and ``users/<user>``. The identity doing the work
decides (ARCHITECTURE.md, "Crons, sentience, evolution"):

==============  =====================================  =======================================
identity        writes                                 reads
==============  =====================================  =======================================
user            its user volume                        its user volume, its team's, the system's
user_cron       its user volume                        its user volume, its team's, the system's
team_cron       its team volume                        its team's, its members' user volumes,
                                                       the system's
system_cron     every volume                           every volume
==============  =====================================  =======================================

A person acting by hand (``llmos volumes promote``, the TUI's promote key) gets the rights of the
least identity that may write the target (``Identity.by_hand``) but is logged as
``operator:<user>``, never as a cron. ("user" is the kernel acting for a person; the system volume
is readable by all because
artifacts resolve user → team → system.) Team membership is recorded as marker files
``volumes/teams/<team>/members/<user>`` (one file per member: no merge conflict when a team
volume is shared through git). A refused access raises ``VolumeAccessError``.
"""

from __future__ import annotations

import os
from typing import Any

from ..records import record
from ..atomic import atomic_write_text
from ..errors import LLMOSError, UsageError, WorkspaceError
from ..exitcodes import ExitCode
from ..observability.events import EventType
from ..workspace import Workspace, parse_scope, safe_id  # noqa: F401 - parse_scope re-exported

IDENTITY_KINDS = ("user", "user_cron", "team_cron", "system_cron")


class VolumeAccessError(LLMOSError):
    """An identity tried to read or write a volume it may not (exit 3, like a policy block)."""

    exit_code = ExitCode.POLICY_BLOCKED


def scope_type(scope: str) -> str:
    return "system" if scope == "system" else "team" if scope.startswith("teams/") else "user"


def scope_owner(scope: str) -> str | None:
    return None if scope == "system" else scope.split("/", 1)[1]


@record(frozen=True)
class Identity:
    """Who acts on a volume: a user or a cron (user, team or system), maybe by hand (operator)."""

    kind: str
    user: str | None = None
    team: str | None = None
    operator: str | None = None  # a person acting by hand with this identity's rights (see by_hand)

    def __post_init__(self) -> None:
        if self.kind not in IDENTITY_KINDS:
            raise UsageError(
                f"unknown identity kind {self.kind!r} (choose from {', '.join(IDENTITY_KINDS)})"
            )
        try:
            if self.user is not None:
                safe_id(self.user, "user")
            if self.team is not None:
                safe_id(self.team, "team")
            if self.operator is not None:
                safe_id(self.operator, "user")
        except WorkspaceError as exc:
            raise UsageError(exc.message) from None
        if self.kind in ("user", "user_cron") and not self.user:
            raise UsageError(f"a {self.kind} identity needs a user id")
        if self.kind == "team_cron" and not self.team:
            raise UsageError("a team_cron identity needs a team id")

    # ---- constructors -------------------------------------------------------------------
    @classmethod
    def for_user(cls, user: str, team: str | None = None) -> "Identity":
        return cls("user", user=user, team=team)

    @classmethod
    def user_cron(cls, user: str, team: str | None = None) -> "Identity":
        return cls("user_cron", user=user, team=team)

    @classmethod
    def team_cron(cls, team: str) -> "Identity":
        return cls("team_cron", team=team)

    @classmethod
    def system_cron(cls) -> "Identity":
        return cls("system_cron")

    @classmethod
    def for_writing(cls, scope: str) -> "Identity":
        """The least identity that may write ``scope`` (what a promotion into it acts as)."""
        scope = parse_scope(scope)
        if scope == "system":
            return cls.system_cron()
        if scope.startswith("teams/"):
            return cls.team_cron(scope_owner(scope) or "")
        return cls.user_cron(scope_owner(scope) or "")

    @classmethod
    def by_hand(cls, scope: str, person: str) -> "Identity":
        """A person promoting by hand into ``scope``: the rights of ``for_writing(scope)`` (the same
        access rules as a cron's promotion), logged as ``operator:<person>``."""
        import dataclasses

        return dataclasses.replace(cls.for_writing(scope), operator=person)

    @classmethod
    def from_dict(cls, data: Any) -> "Identity":
        if not isinstance(data, dict):
            raise UsageError(f"an identity must be a mapping with kind/user/team, not {data!r}")
        return cls(
            str(data.get("kind")),
            user=data.get("user"),
            team=data.get("team"),
            operator=data.get("operator"),
        )

    def to_dict(self) -> dict[str, Any]:
        out = {"kind": self.kind, "user": self.user, "team": self.team}
        if self.operator is not None:
            out["operator"] = self.operator
        return out

    @property
    def label(self) -> str:
        """``user:alice``, ``user_cron:alice``, ``team_cron:eng``, ``system_cron`` (event source);
        ``operator:alice`` for a person acting by hand."""
        if self.operator is not None:
            return f"operator:{self.operator}"
        if self.kind == "system_cron":
            return "system_cron"
        if self.kind == "team_cron":
            return f"team_cron:{self.team}"
        return f"{self.kind}:{self.user}"

    # ---- rules --------------------------------------------------------------------------
    def can_write(self, scope: str) -> bool:
        if self.kind == "system_cron":
            return True
        if self.kind == "team_cron":
            return scope == f"teams/{self.team}"
        return scope == f"users/{self.user}"

    def can_read(self, scope: str, workspace: Workspace | None = None) -> bool:
        if self.kind == "system_cron" or scope == "system":
            return True
        if self.kind == "team_cron":
            if scope == f"teams/{self.team}":
                return True
            if scope.startswith("users/") and workspace is not None:
                return scope_owner(scope) in team_members(workspace, self.team or "")
            return False
        return scope == f"users/{self.user}" or (
            self.team is not None and scope == f"teams/{self.team}"
        )

    def check(
        self,
        access: str,
        scope: str,
        workspace: Workspace | None = None,
        *,
        events: Any = None,
        what: str = "",
    ) -> None:
        """Raise ``VolumeAccessError`` (and record ``VOLUME_ACCESS_DENIED``) unless allowed."""
        allowed = self.can_write(scope) if access == "write" else self.can_read(scope, workspace)
        if allowed:
            return
        rule = {
            "user": "a user writes only its own user volume and reads its team's and the system's",
            "user_cron": "a UserCron writes only its user volume and reads its team's and the system's",
            "team_cron": "a TeamCron writes only its team volume and reads its members' and the system's",
        }.get(self.kind, "")
        if self.kind == "team_cron" and access == "read" and scope.startswith("users/"):
            rule += f" ({scope_owner(scope)} is not a member of team {self.team}: `llmos volumes members {self.team} --add {scope_owner(scope)}`)"
        target = f"volumes/{scope}" + (f"/{what}" if what else "")
        message = f"{self.label} may not {access} {target}: {rule}"
        if events is not None:
            try:
                events.record(
                    EventType.VOLUME_ACCESS_DENIED,
                    source=self.label,
                    access=access,
                    volume=scope,
                    target=what or None,
                    identity=self.to_dict(),
                    message=message,
                )
            except Exception:  # recording must not hide the refusal
                pass
        raise VolumeAccessError(message)


# ---- team membership ---------------------------------------------------------------------


def _members_dir(workspace: Workspace, team: str) -> Any:
    return workspace.team_volume(team) / "members"


def team_members(workspace: Workspace, team: str) -> list[str]:
    """Users recorded as members of ``team`` (marker files), sorted."""
    try:
        folder = _members_dir(workspace, team)
        names = os.listdir(folder)
    except (OSError, WorkspaceError):
        return []
    out = []
    for name in names:
        if name.startswith(".") or not os.path.isfile(os.path.join(folder, name)):
            continue
        try:
            out.append(safe_id(name, "user"))
        except WorkspaceError:
            continue
    return sorted(out)


def add_member(workspace: Workspace, team: str, user: str) -> bool:
    """Record ``user`` as a member of ``team``; False when it already was."""
    safe_id(user, "user")
    marker = _members_dir(workspace, team) / user
    if marker.is_file():
        return False
    from ..observability.events import now_iso

    atomic_write_text(marker, f"joined_at: {now_iso()}\n")
    return True


def remove_member(workspace: Workspace, team: str, user: str) -> bool:
    safe_id(user, "user")
    marker = _members_dir(workspace, team) / user
    try:
        marker.unlink()
        return True
    except FileNotFoundError:
        return False


def teams_of(workspace: Workspace, user: str) -> list[str]:
    base = workspace.volumes_dir / "teams"
    try:
        teams = sorted(os.listdir(base))
    except OSError:
        return []
    return [t for t in teams if os.path.isfile(base / t / "members" / user)]
