"""Project folders and their bookkeeping.

::

    projects/<name>/
      project.md          name, description, created_at (frontmatter) + free notes
      components/         project agents (markdown, the same format as agents/*.md)
      memory/             project memory: facts/ (see llmos_tui.memory.facts)
      output/             the default working directory of the project's runs
      state/runs.json     run statistics (runs, successes, by mode, cost, last runs)

Names are 1-64 characters: lowercase letters, digits, ``-`` and ``_``, starting with a letter or
a digit. Every write is atomic; ``runs.json`` is updated under its sidecar lock.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..atomic import atomic_write_json, atomic_write_text, file_lock
from ..clock import iso_utc
from ..errors import UsageError
from ..workspace import PROJECT_NAME_RE as _NAME_RE
from ..workspace import check_project_name as check_name

SUBDIRS = ("components", "memory", "output", "state")
MAX_RECENT = 20


class ProjectNotFound(UsageError):
    """No project with this name (exit 2)."""


@dataclass
class Project:
    name: str
    root: Path
    description: str = ""
    created_at: str = ""
    notes: str = ""

    @property
    def components_dir(self) -> Path:
        return self.root / "components"

    @property
    def memory_dir(self) -> Path:
        return self.root / "memory"

    @property
    def output_dir(self) -> Path:
        return self.root / "output"

    @property
    def state_dir(self) -> Path:
        return self.root / "state"

    @property
    def runs_file(self) -> Path:
        return self.state_dir / "runs.json"

    def agents(self) -> list[str]:
        """Names of the project's agent files (``components/*.md``)."""
        try:
            return sorted(p.stem for p in self.components_dir.glob("*.md") if p.is_file())
        except OSError:
            return []

    def stats(self) -> dict[str, Any]:
        try:
            data = json.loads(self.runs_file.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError, OSError):
            data = {}
        return data if isinstance(data, dict) else {}

    def to_dict(self) -> dict[str, Any]:
        stats = self.stats()
        return {
            "name": self.name,
            "description": self.description,
            "created_at": self.created_at,
            "root": str(self.root),
            "output": str(self.output_dir),
            "components": str(self.components_dir),
            "memory": str(self.memory_dir),
            "state": str(self.state_dir),
            "agents": self.agents(),
            "runs": int(stats.get("runs", 0) or 0),
            "successes": int(stats.get("successes", 0) or 0),
            "last_run": stats.get("last_run"),
        }


def _read_project(root: Path) -> Project:
    meta: dict[str, Any] = {}
    notes = ""
    path = root / "project.md"
    from edgekit.frontmatter import FrontmatterError, read

    try:
        meta, body = read(path.read_text(encoding="utf-8"))
        notes = body.strip()
    except (OSError, UnicodeDecodeError, FrontmatterError):
        pass  # a missing file or a hand-edited header never hides the project
    return Project(
        name=root.name,
        root=root,
        description=str(meta.get("description") or ""),
        created_at=str(meta.get("created_at") or ""),
        notes=notes,
    )


class ProjectManager:
    def __init__(self, workspace: Any) -> None:
        self.workspace = workspace
        self.root = Path(workspace.projects_dir)

    def path(self, name: str) -> Path:
        return self.root / check_name(name)

    def exists(self, name: str) -> bool:
        return self.path(name).is_dir()

    def create(self, name: str, description: str = "", *, exist_ok: bool = False) -> Project:
        folder = self.path(name)
        description = " ".join(str(description or "").split())[:500]
        if folder.exists():
            if exist_ok and folder.is_dir():
                self._ensure_dirs(folder)
                return _read_project(folder)
            raise UsageError(f"project {name!r} already exists at {folder}")
        try:
            self._ensure_dirs(folder)
            from edgekit.frontmatter import join

            head = {"name": name, "description": description, "created_at": iso_utc()}
            atomic_write_text(folder / "project.md", join(head, f"# {name}\n\n{description}\n"))
        except OSError as exc:
            raise UsageError(f"cannot create the project folder {folder}: {exc}") from None
        return _read_project(folder)

    @staticmethod
    def _ensure_dirs(folder: Path) -> None:
        for sub in SUBDIRS:
            (folder / sub).mkdir(parents=True, exist_ok=True)
        (folder / "memory" / "facts").mkdir(parents=True, exist_ok=True)

    def get(self, name: str) -> Project:
        folder = self.path(name)
        if not folder.is_dir():
            known = ", ".join(p.name for p in self.list()) or "none yet"
            raise ProjectNotFound(
                f"no project {name!r} (known: {known}); create it with `llmos projects create {name}`"
            )
        return _read_project(folder)

    def list(self) -> list[Project]:
        try:
            folders = sorted(
                p for p in self.root.iterdir() if p.is_dir() and _NAME_RE.fullmatch(p.name)
            )
        except OSError:
            return []
        return [_read_project(p) for p in folders]

    def record_run(
        self,
        name: str,
        *,
        goal: str,
        mode: str,
        success: bool,
        cost_usd: float = 0.0,
        trace_id: str | None = None,
    ) -> dict[str, Any]:
        """Count one run of a goal in the project (the kernel calls it after each run)."""
        project = self.get(name)
        project.state_dir.mkdir(parents=True, exist_ok=True)
        with file_lock(project.runs_file):
            data = project.stats()
            data["runs"] = int(data.get("runs", 0) or 0) + 1
            data["successes"] = int(data.get("successes", 0) or 0) + (1 if success else 0)
            data["cost_usd"] = round(
                float(data.get("cost_usd", 0.0) or 0.0) + max(0.0, float(cost_usd or 0.0)), 6
            )
            by_mode = v if isinstance(v := data.get("by_mode"), dict) else {}
            by_mode[mode] = int(by_mode.get(mode, 0) or 0) + 1
            data["by_mode"] = by_mode
            data["last_run"] = iso_utc()
            recent = v if isinstance(v := data.get("recent"), list) else []
            from ..redact import redact_text

            data["recent"] = (
                recent
                + [
                    {
                        "goal": redact_text(goal)[:300],
                        "mode": mode,
                        "success": bool(success),
                        "trace_id": trace_id,
                        "at": data["last_run"],
                    }
                ]
            )[-MAX_RECENT:]
            atomic_write_json(project.runs_file, data)
        return data
