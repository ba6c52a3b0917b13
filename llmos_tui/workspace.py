"""The workspace ("Markdown Mind"): where it is, what it holds, how it is created.

Resolution: ``--workspace DIR`` > ``$LLMOS_WORKSPACE`` > ``$XDG_DATA_HOME/llmos`` >
``~/.local/share/llmos``. A workspace that does not exist yet is created from the template
(the repository's ``workspace/`` folder, shipped inside the wheel).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Mapping

from .records import record
from .errors import UsageError, WorkspaceError
from .redact import LazyRegex  # module patterns: compiled on first use

VOLUME_KINDS = ("traces", "tools", "agents", "insights", "suggestions")
# Files and folders that hold runtime state: never copied from the template, never committed.
STATE_DIRS = ("state", "observability", "memories", "volumes", "projects")

# A project's folder name under projects/ (memory keeps a project's facts there too).
PROJECT_NAME_RE = LazyRegex(r"[a-z0-9][a-z0-9_-]{0,63}")


def check_project_name(name: Any) -> str:
    if not isinstance(name, str) or not PROJECT_NAME_RE.fullmatch(name):
        raise UsageError(
            f"invalid project name {name!r}: use 1-64 lowercase letters, digits, '-' or '_', "
            "starting with a letter or a digit"
        )
    return name


def template_dir() -> Path:
    """The template workspace: packaged copy first, then the source checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_workspace_template", here.parent / "workspace"):
        if (candidate / "agents").is_dir():
            return candidate
    raise WorkspaceError("the workspace template is missing from this installation")


def default_workspace_dir(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    xdg = env.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg else Path(env.get("HOME") or Path.home()) / ".local" / "share"
    return base / "llmos"


def resolve_workspace_dir(
    explicit: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
) -> Path:
    env = os.environ if environ is None else environ
    if explicit:
        return Path(explicit).expanduser().resolve()
    if env.get("LLMOS_WORKSPACE"):
        return Path(env["LLMOS_WORKSPACE"]).expanduser().resolve()
    return default_workspace_dir(env).resolve()


@record(frozen=True)
class Workspace:
    """The layout of a workspace folder."""

    root: Path

    # ---- layout ------------------------------------------------------------------
    @property
    def config_file(self) -> Path:
        return self.root / "config.yaml"

    @property
    def agents_dir(self) -> Path:
        return self.root / "agents"

    @property
    def volumes_dir(self) -> Path:
        return self.root / "volumes"

    @property
    def state_dir(self) -> Path:
        return self.root / "state"

    @property
    def index_file(self) -> Path:
        return self.state_dir / "index.json"

    @property
    def sentience_file(self) -> Path:
        return self.state_dir / "sentience.json"

    @property
    def economy_file(self) -> Path:
        return self.state_dir / "economy.json"

    @property
    def claude_config_dir(self) -> Path:
        """CLAUDE_CONFIG_DIR for the bundled CLI: never the user's ~/.claude."""
        return self.state_dir / "claude"

    @property
    def events_file(self) -> Path:
        return self.root / "observability" / "events.jsonl"

    @property
    def sessions_dir(self) -> Path:
        return self.root / "memories" / "sessions"

    @property
    def facts_dir(self) -> Path:
        return self.root / "memories" / "facts"

    @property
    def projects_dir(self) -> Path:
        return self.root / "projects"

    def volume_dir(self, scope: str) -> Path:
        """``system``, ``teams/<team>`` or ``users/<user>``."""
        return self.volumes_dir / scope

    def user_volume(self, user: str) -> Path:
        return self.volume_dir(f"users/{safe_id(user, 'user')}")

    def team_volume(self, team: str) -> Path:
        return self.volume_dir(f"teams/{safe_id(team, 'team')}")

    def system_volume(self) -> Path:
        return self.volume_dir("system")

    def traces_dir(self, user: str) -> Path:
        return self.user_volume(user) / "traces"

    # ---- protected paths (tools may never write here) ------------------------------
    def protected_paths(self) -> list[Path]:
        """Tools may never write here: the whole workspace (its agents reach later system prompts, its
        config decides the sandbox, its volumes are replayed). When a goal's working directory lies
        inside the workspace (a project's output folder), only that folder is writable."""
        return [self.root, self.state_dir, self.root / "observability", self.config_file]

    def hidden_paths(self) -> list[Path]:
        """Tool calls may not even read these (the kernel's and the Claude Code CLI's own state)."""
        return [self.state_dir]

    # ---- creation --------------------------------------------------------------------
    def ensure(
        self,
        *,
        user: str = "local",
        team: str = "default",
        on_create: Callable[["Workspace"], None] | None = None,
    ) -> "Workspace":
        """Create whatever is missing (template files, volume folders); never overwrite.
        ``on_create(workspace)`` runs once the folders of a new workspace (none here, or an empty
        folder) exist: the layers above record there what a new workspace starts with (its trust
        store, ``learning.trust.init_workspace_trust``)."""
        try:
            fresh = not self.root.exists() or not any(self.root.iterdir())
            self.root.mkdir(parents=True, exist_ok=True)
            if fresh or not self.agents_dir.exists():
                _copy_template(template_dir(), self.root)
            for scope in (
                "system",
                f"teams/{safe_id(team, 'team')}",
                f"users/{safe_id(user, 'user')}",
            ):
                for kind in VOLUME_KINDS:
                    (self.volumes_dir / scope / kind).mkdir(parents=True, exist_ok=True)
            for folder in (
                self.state_dir,
                self.events_file.parent,
                self.sessions_dir,
                self.facts_dir,
                self.projects_dir,
            ):
                folder.mkdir(parents=True, exist_ok=True)
            if fresh and on_create is not None:
                on_create(self)
            # One probe per process: several processes may open the workspace at once. Named
            # like an atomic write's temporary so a crash between the two lines is cleaned up.
            probe = self.state_dir / f".write-probe.{os.getpid()}.{os.urandom(4).hex()}.tmp"
            probe.write_text("ok")
            probe.unlink()
        except PermissionError as exc:
            raise WorkspaceError(
                f"the workspace {self.root} is not writable ({exc.strerror}: {exc.filename}). "
                "Choose another with --workspace DIR or LLMOS_WORKSPACE."
            ) from None
        except OSError as exc:
            raise WorkspaceError(f"cannot prepare the workspace {self.root}: {exc}") from None
        return self


def safe_id(value: str, what: str) -> str:
    """User and team ids become folder names: keep them to a safe alphabet."""
    import re

    if not value or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", value) or ".." in value:
        raise WorkspaceError(
            f"invalid {what} id {value!r}: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    return value


def parse_scope(text: str) -> str:
    """``system``, ``teams/<team>`` or ``users/<user>`` (also ``team:eng``, ``user/alice``)."""
    if not isinstance(text, str):
        raise UsageError(f"invalid volume {text!r}")
    value = text.strip().strip("/")
    if value == "system":
        return value
    for sep in ("/", ":"):
        head, found, name = value.partition(sep)
        if found:
            break
    else:
        head, name = value, ""
    try:
        if head in ("users", "user"):
            return f"users/{safe_id(name, 'user')}"
        if head in ("teams", "team"):
            return f"teams/{safe_id(name, 'team')}"
    except WorkspaceError as exc:
        raise UsageError(f"invalid volume {text!r}: {exc.message}") from None
    raise UsageError(f"invalid volume {text!r}: use 'system', 'teams/<team>' or 'users/<user>'")


def _copy_template(src: Path, dst: Path) -> None:
    for item in src.rglob("*"):
        rel = item.relative_to(src)
        if rel.parts and rel.parts[0] in STATE_DIRS or "__pycache__" in rel.parts:
            continue
        target = dst / rel
        if item.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        elif not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            import shutil

            shutil.copy2(item, target)


def is_workspace(root: Path) -> bool:
    """``root`` is an existing llmos workspace (it holds a config, volumes or state)."""
    try:
        return root.is_dir() and any(
            (root / name).exists() for name in ("config.yaml", "volumes", "state")
        )
    except OSError:
        return False


def open_workspace(
    explicit: str | os.PathLike[str] | None = None,
    *,
    user: str = "local",
    team: str = "default",
    environ: Mapping[str, str] | None = None,
    create: bool = True,
    must_exist: bool = False,
    on_create: Callable[[Workspace], None] | None = None,
) -> Workspace:
    """The workspace, created from the template when missing (``create``). ``must_exist``: the
    commands that only read one create nothing: no workspace there is a usage error (exit 2).
    ``on_create``: see ``Workspace.ensure`` (callers pass ``learning.trust.init_workspace_trust``)."""
    root = resolve_workspace_dir(explicit, environ)
    if must_exist and not is_workspace(root):
        what = "is not an llmos workspace" if root.is_dir() else "does not exist"
        raise WorkspaceError(
            f"{root} {what}: this command only reads a workspace and creates none "
            f"(run a goal there first, or create one with `llmos init {root}`)"
        )
    try:
        if root.exists() and not root.is_dir():
            raise WorkspaceError(f"the workspace path {root} exists and is not a directory")
        present = root.is_dir()
    except PermissionError as exc:
        raise WorkspaceError(
            f"the workspace {root} is not writable or readable ({exc.strerror}). "
            "Choose another with --workspace DIR or LLMOS_WORKSPACE."
        ) from None
    ws = Workspace(root)
    if create:
        ws.ensure(user=user, team=team, on_create=on_create)
    elif not present:
        raise WorkspaceError(f"no workspace at {root}; create one with `llmos init {root}`")
    clean_temporaries(ws)
    return ws


# Folders that receive atomic writes (``projects/`` holds user files: not ours to clean).
_ATOMIC_DIRS = ("state", "observability", "volumes", "memories", "agents")


def clean_temporaries(ws: Workspace) -> int:
    """Remove the temporaries of writers that died (a crash between write and rename), in one
    ``os.walk``."""
    from .atomic import clean_stale_temporaries

    return sum(clean_stale_temporaries(ws.root / name) for name in _ATOMIC_DIRS)
