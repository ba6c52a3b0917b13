"""Git-backed shared volumes: a team or system volume that is a clone of a git remote.

Configuration (``volumes.git`` in config.yaml)::

    volumes:
      git:
        teams/eng: git@git.example.com:llmos/eng.git
        system: /srv/llmos/system.git

The volume folder itself is the working tree (``volumes/teams/eng/.git``). ``GitVolume``:

``ensure()``
    turns the folder into a repository on first use (``git init``, ``origin`` = the URL, a
    ``.gitattributes`` with ``CHANGELOG.jsonl merge=union`` and a ``.gitignore`` for ``*.lock``
    and the atomic writers' ``.*.tmp``), keeping whatever the folder already held.
``pull()``
    commits local changes, fetches and merges ``origin/<branch>`` (crons pull before reading).
``sync(message)``
    commit, pull, push; a push rejected because the remote moved (another workspace pushed
    first) is fetched, merged and retried (``volumes.git_push_retries``). Promotions call it.

Nothing is lost when two workspaces change the volume at once:

* ``CHANGELOG.jsonl`` merges by union (both sides' lines kept);
* a trace changed on both sides is merged three-way on its counters (usage, successes,
  failures added up from the common base, ``last_used`` the later one), the rest from theirs;
* any other file changed on both sides keeps the remote's version at its path and ours under
  ``.archive/conflicts/<stamp>/<path>`` (committed and pushed, so both sides can recover it);
* a file deleted on one side and changed on the other keeps the changed version.

After a merge the trace index is resynced for the volume, so replays see merged traces at once.

Commits and merges hold the volume's writer lock (``.volume.lock``, the one ``Volume`` writers
take); network commands (fetch, push) hold only ``.git-sync.lock``, which serialises the syncs of
one volume inside a workspace. An unreachable remote never breaks the local volume: the result
says ``ok=False`` with the error, and a ``SYSTEM_ALERT`` (``alert: VOLUME_SYNC_FAILED``) is
recorded; the next sync retries. Git runs with ``GIT_TERMINAL_PROMPT=0`` (never asks for a
password) and a timeout (``volumes.git_timeout_s``).
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from ..atomic import atomic_write_bytes, atomic_write_text, file_lock
from ..config import git_remotes  # noqa: F401 - re-exported (crons, cli)
from ..errors import LLMOSError, UsageError
from ..observability.events import EventType
from ..workspace import Workspace
from .acl import parse_scope, scope_type
from .volume import volume_lock

if TYPE_CHECKING:  # pragma: no cover
    from ..config import LLMOSConfig

DEFAULT_BRANCH = "main"
DEFAULT_TIMEOUT_S = 60.0
DEFAULT_PUSH_RETRIES = 5
GITATTRIBUTES = "CHANGELOG.jsonl merge=union\n*.jsonl merge=union\n"
GITIGNORE = "*.lock\n.*.tmp\n*.tmp\n__pycache__/\n"
CONFLICTS_DIR = ".archive/conflicts"
_REJECTED = (
    "rejected",
    "fetch first",
    "non-fast-forward",
    "failed to update ref",
    "cannot lock ref",
    "remote contains work",
)
_COUNTERS = ("usage_count", "success_count", "failure_count")


class GitSyncError(LLMOSError):
    """A git command failed (the message carries git's own words)."""


@dataclass
class SyncResult:
    scope: str
    remote: str
    action: str  # ensure | pull | push | sync
    ok: bool = True
    error: str | None = None
    fetched: bool = False
    merged: bool = False
    committed: bool = False
    pushed: bool = False
    attempts: int = 0
    changed_files: list[str] = field(default_factory=list)  # brought in by the merge
    conflicts: list[dict[str, str]] = field(default_factory=list)
    head: str | None = None
    duration_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def redact(url: str) -> str:
    """The URL without a password (``https://user:secret@host`` -> ``https://user:***@host``)."""
    return re.sub(r"(//[^/@:]+):[^/@]+@", r"\1:***@", str(url))


def git_volume(
    workspace: Workspace, config: LLMOSConfig, scope: str, *, events: Any = None
) -> "GitVolume | None":
    """The GitVolume of ``scope`` if ``volumes.git`` names a remote for it, else None."""
    scope = parse_scope(scope)
    url = git_remotes(config).get(scope)
    if url is None:
        return None
    return GitVolume(
        workspace,
        scope,
        url,
        events=events,
        branch=config.volumes.git_branch,
        timeout_s=config.volumes.git_timeout_s,
        push_retries=config.volumes.git_push_retries,
    )


def sync_after_write(
    workspace: Workspace, config: LLMOSConfig, scope: str, message: str, *, events: Any = None
) -> SyncResult | None:
    """Commit and push ``scope`` if it is git-backed (None when it is not). Never raises for git
    trouble: the result says what failed. Call it after promoting into a shared volume."""
    gv = git_volume(workspace, config, scope, events=events)
    return gv.sync(message) if gv is not None else None


class GitVolume:
    def __init__(
        self,
        workspace: Workspace,
        scope: str,
        url: str,
        *,
        events: Any = None,
        branch: str = DEFAULT_BRANCH,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        push_retries: int = DEFAULT_PUSH_RETRIES,
    ) -> None:
        self.workspace = workspace
        self.scope = parse_scope(scope)
        self.root = Path(workspace.volumes_dir) / self.scope
        self.url = str(url)
        self.events = events
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,99}", branch) or ".." in branch:
            raise UsageError(f"invalid git branch name {branch!r}")
        self.branch = branch
        self.timeout_s = float(timeout_s)
        self.push_retries = max(1, int(push_retries))

    def __repr__(self) -> str:
        return f"GitVolume({self.scope!r}, {redact(self.url)!r})"

    # ---- running git ------------------------------------------------------------------------
    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {"GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", "LANG": "C", "GIT_MERGE_AUTOEDIT": "no"}
        )
        for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
            env.pop(name, None)
        if "GIT_SSH_COMMAND" not in env and not self._ssh_configured(env):
            # Never let ssh ask for a password or a host key inside a background job.
            env["GIT_SSH_COMMAND"] = "ssh -o BatchMode=yes -o ConnectTimeout=15"
        return env

    def _ssh_configured(self, env: dict[str, str]) -> bool:
        if getattr(self, "_ssh_command", None) is None:
            try:
                probe = subprocess.run(
                    ["git", "config", "--get", "core.sshCommand"],
                    capture_output=True,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    timeout=30,
                    cwd=str(self.root) if self.root.is_dir() else None,
                )
                self._ssh_command = bool(probe.stdout.strip())
            except (OSError, subprocess.SubprocessError):
                self._ssh_command = False
        return bool(self._ssh_command)

    def _git(
        self,
        *args: str,
        check: bool = True,
        network: bool = False,
        input_bytes: bytes | None = None,
    ) -> subprocess.CompletedProcess[bytes]:
        cmd = [
            "git",
            "-C",
            str(self.root),
            "-c",
            "core.quotepath=off",
            "-c",
            "commit.gpgsign=false",
            "-c",
            "merge.renames=true",
            *self._identity_args(args),
            *args,
        ]
        try:
            proc = subprocess.run(
                cmd,
                capture_output=True,
                env=self._env(),
                stdin=subprocess.DEVNULL if input_bytes is None else None,
                input=input_bytes,
                timeout=self.timeout_s if network else max(self.timeout_s, 120.0),
            )
        except FileNotFoundError:
            raise GitSyncError("git is not installed (needed for volumes.git)") from None
        except subprocess.TimeoutExpired:
            raise GitSyncError(
                f"git {args[0]} timed out after {self.timeout_s:g} s (remote {redact(self.url)})"
            ) from None
        if check and proc.returncode != 0:
            raise GitSyncError(self._describe(args, proc))
        return proc

    def _identity_args(self, args: tuple[str, ...]) -> list[str]:
        """A committer identity when git has none (never overriding the user's own)."""
        if not args or args[0] not in ("commit", "merge"):
            return []
        env = os.environ
        if env.get("GIT_AUTHOR_NAME") and env.get("GIT_COMMITTER_NAME"):
            return []
        if getattr(self, "_has_identity", None) is None:
            probe = subprocess.run(
                ["git", "-C", str(self.root), "config", "user.email"],
                capture_output=True,
                env=self._env(),
                stdin=subprocess.DEVNULL,
                timeout=30,
            )
            self._has_identity = probe.returncode == 0 and bool(probe.stdout.strip())
        if self._has_identity:
            return []
        host = re.sub(r"[^A-Za-z0-9.-]", "-", os.uname().nodename or "localhost")
        return ["-c", "user.name=llmos", "-c", f"user.email=llmos@{host}"]

    def _describe(self, args: tuple[str, ...], proc: subprocess.CompletedProcess[bytes]) -> str:
        text = (proc.stderr or proc.stdout or b"").decode("utf-8", "replace").strip()
        lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("hint:")]
        detail = " ".join(lines[-3:])[:600] or f"exit status {proc.returncode}"
        return f"git {args[0]} failed for volumes/{self.scope} (remote {redact(self.url)}): {redact(detail)}"

    @contextlib.contextmanager
    def _sync_lock(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with file_lock(self.root / ".git-sync"):
            yield

    # ---- setup --------------------------------------------------------------------------------
    def is_repo(self) -> bool:
        return (self.root / ".git").is_dir()

    def ensure(self) -> SyncResult:
        """Make the folder a repository with ``origin`` = the URL (no network)."""
        result = SyncResult(self.scope, redact(self.url), "ensure")
        started = time.monotonic()
        try:
            with self._sync_lock():
                self._ensure_locked()
        except (GitSyncError, OSError) as exc:
            self._fail(result, exc)
        result.duration_s = round(time.monotonic() - started, 3)
        return result

    def _ensure_locked(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if not self.is_repo():
            self._git("init", "-q")
            self._git("symbolic-ref", "HEAD", f"refs/heads/{self.branch}")
        self._git("config", "core.autocrlf", "false")
        if (self.root / ".git" / "MERGE_HEAD").exists():
            # A merge interrupted by a crash: our side was committed before it began, so
            # aborting it loses nothing; the next fetch merges again.
            self._git("merge", "--abort", check=False)
        remote = self._git("remote", "get-url", "origin", check=False)
        if remote.returncode != 0:
            self._git("remote", "add", "origin", self.url)
        elif remote.stdout.decode("utf-8", "replace").strip() != self.url:
            self._git("remote", "set-url", "origin", self.url)
        self._ensure_line_file(".gitattributes", GITATTRIBUTES)
        self._ensure_line_file(".gitignore", GITIGNORE)

    def _ensure_line_file(self, name: str, wanted: str) -> None:
        path = self.root / name
        try:
            current = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            current = ""
        except (OSError, UnicodeDecodeError):
            return
        have = set(current.splitlines())
        missing = [line for line in wanted.splitlines() if line not in have]
        if missing:
            text = (
                current
                + ("" if not current or current.endswith("\n") else "\n")
                + "\n".join(missing)
                + "\n"
            )
            atomic_write_text(path, text)

    # ---- the parts ------------------------------------------------------------------------------
    def _head(self) -> str | None:
        proc = self._git("rev-parse", "-q", "--verify", "HEAD", check=False)
        return proc.stdout.decode().strip() or None if proc.returncode == 0 else None

    def _remote_head(self) -> str | None:
        proc = self._git(
            "rev-parse", "-q", "--verify", f"refs/remotes/origin/{self.branch}", check=False
        )
        return proc.stdout.decode().strip() or None if proc.returncode == 0 else None

    def commit(self, message: str) -> bool:
        """Commit every change of the working tree (under the volume lock); True if one was made."""
        with volume_lock(self.root):
            return self._commit_locked(message)

    def _commit_locked(self, message: str) -> bool:
        self._git("add", "-A", ".")
        staged = self._git("diff", "--cached", "--quiet", check=False)
        if staged.returncode == 0:
            return False
        self._git("commit", "-q", "--no-verify", "-m", message[:500] or "llmos volume update")
        return True

    def _fetch(self) -> bool:
        """Fetch origin; True when the remote has our branch."""
        self._git("fetch", "-q", "--prune", "origin", network=True)
        return self._remote_head() is not None

    def _merge(self, message: str, result: SyncResult) -> None:
        """Merge origin/<branch> into the local branch (volume lock held by the caller)."""
        remote = self._remote_head()
        if remote is None:
            return
        before = self._head()
        if before == remote:
            return
        if before is not None:
            base = self._git("merge-base", before, remote, check=False).stdout.decode().strip()
            if base == remote:
                return  # we are ahead: nothing to bring in
        proc = self._git(
            "merge",
            "--no-edit",
            "-q",
            "--allow-unrelated-histories",
            "-m",
            f"llmos: merge {self.scope} from origin",
            f"refs/remotes/origin/{self.branch}",
            check=False,
        )
        if proc.returncode != 0:
            conflicted = self._conflicted()
            if not conflicted:
                self._git("merge", "--abort", check=False)
                raise GitSyncError(self._describe(("merge",), proc))
            try:
                result.conflicts.extend(self._resolve(conflicted))
                self._git("add", "-A", ".")
                self._git(
                    "commit",
                    "-q",
                    "--no-verify",
                    "--no-edit",
                    "-m",
                    f"llmos: merge {self.scope} from origin ({len(conflicted)} conflict(s) resolved)",
                )
            except BaseException:
                self._git("merge", "--abort", check=False)
                raise
        after = self._head()
        result.merged = True
        if after and after != before:
            diff = (
                self._git("diff", "--name-only", before, after, check=False)
                if before
                else self._git("ls-tree", "-r", "--name-only", after, check=False)
            )
            result.changed_files = sorted(
                set(result.changed_files)
                | {ln for ln in diff.stdout.decode("utf-8", "replace").splitlines() if ln.strip()}
            )

    def _conflicted(self) -> list[str]:
        proc = self._git("diff", "--name-only", "--diff-filter=U", "-z", check=False)
        return [p for p in proc.stdout.decode("utf-8", "replace").split("\0") if p]

    def _stage(self, n: int, path: str) -> bytes | None:
        proc = self._git("show", f":{n}:{path}", check=False)
        return proc.stdout if proc.returncode == 0 else None

    def _resolve(self, paths: list[str]) -> list[dict[str, str]]:
        """Resolve each conflicted path so that nothing is lost (see the module docstring)."""
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + f"-{os.getpid()}"
        out = []
        for rel in paths:
            base, ours, theirs = self._stage(1, rel), self._stage(2, rel), self._stage(3, rel)
            target = self.root / rel
            how = ""
            merged = (
                _merge_trace(base, ours, theirs)
                if rel.startswith("traces/") and rel.endswith(".md")
                else None
            )
            if merged is not None:
                atomic_write_bytes(target, merged)
                how = "trace counters merged (usage, successes and failures of both sides kept)"
            elif theirs is not None and _regenerable(rel, ours, theirs):
                atomic_write_bytes(target, theirs)
                how = "generated by a cron on both sides: the remote's version kept (the next cycle regenerates it)"
            elif theirs is not None and ours is not None:
                keep = self.root / CONFLICTS_DIR / stamp / rel
                atomic_write_bytes(keep, ours)
                atomic_write_bytes(target, theirs)
                how = f"the remote's version kept; ours saved as {CONFLICTS_DIR}/{stamp}/{rel}"
            elif ours is not None:
                atomic_write_bytes(target, ours)
                how = "deleted on the remote, changed here: our version kept"
            elif theirs is not None:
                atomic_write_bytes(target, theirs)
                how = "deleted here, changed on the remote: the remote's version kept"
            else:
                with contextlib.suppress(FileNotFoundError):
                    target.unlink()
                how = "deleted on both sides"
            self._git("add", "-A", "--", rel)
            out.append({"path": rel, "resolution": how})
        return out

    def _push(self) -> subprocess.CompletedProcess[bytes]:
        return self._git(
            "push", "-q", "origin", f"HEAD:refs/heads/{self.branch}", check=False, network=True
        )

    # ---- public operations -------------------------------------------------------------------
    def pull(self, message: str = "llmos: local changes before pull") -> SyncResult:
        """Commit local changes, fetch and merge the remote (no push)."""
        return self._run("pull", message, push=False)

    def sync(self, message: str = "llmos: volume update") -> SyncResult:
        """Commit, fetch, merge and push (retrying a rejected push after merging again)."""
        return self._run("sync", message, push=True)

    push = sync

    def _run(self, action: str, message: str, *, push: bool) -> SyncResult:
        result = SyncResult(self.scope, redact(self.url), action)
        started = time.monotonic()
        try:
            with self._sync_lock():
                self._ensure_locked()
                with volume_lock(self.root):
                    result.committed = self._commit_locked(message)
                for attempt in range(1, self.push_retries + 1):
                    result.attempts = attempt
                    has_remote = self._fetch()
                    result.fetched = True
                    if has_remote:
                        with volume_lock(self.root):
                            self._commit_locked(
                                message
                            )  # a writer may have changed files meanwhile
                            self._merge(message, result)
                    if not push or self._head() is None:
                        break
                    if has_remote and self._head() == self._remote_head():
                        break  # nothing of ours to send
                    proc = self._push()
                    if proc.returncode == 0:
                        result.pushed = True
                        break
                    text = (proc.stderr or b"").decode("utf-8", "replace").lower()
                    if (
                        not any(marker in text for marker in _REJECTED)
                        or attempt == self.push_retries
                    ):
                        raise GitSyncError(self._describe(("push",), proc))
                    time.sleep(
                        random.uniform(0.05, 0.3) * attempt
                    )  # the other side is pushing: back off
                result.head = self._head()
        except (GitSyncError, OSError) as exc:
            self._fail(result, exc)
        result.duration_s = round(time.monotonic() - started, 3)
        if result.changed_files or result.conflicts:
            self._reindex()
        if result.ok and (result.pushed or result.merged or result.conflicts):
            self._record(EventType.VOLUME_SYNCED, result)
        return result

    def _reindex(self) -> None:
        try:
            from ..learning.index import TraceIndex

            TraceIndex(self.workspace, events=self.events).resync([self.scope])
        except Exception:  # the index is a cache: the next reader resyncs it
            pass

    def _fail(self, result: SyncResult, exc: BaseException) -> None:
        result.ok = False
        result.error = (
            exc.message if isinstance(exc, LLMOSError) else f"{type(exc).__name__}: {exc}"
        )
        if self.events is not None:
            try:
                self.events.record(
                    EventType.SYSTEM_ALERT,
                    notify_user=True,
                    source=f"git:{self.scope}",
                    title=f"git sync of volumes/{self.scope} failed",
                    message=result.error,
                    severity="warning",
                    alert="VOLUME_SYNC_FAILED",
                    volume=self.scope,
                    volume_type=scope_type(self.scope),
                    remote=result.remote,
                    action=result.action,
                )
            except Exception:
                pass

    def _record(self, type: EventType, result: SyncResult) -> None:
        if self.events is None:
            return
        try:
            self.events.record(
                type,
                source=f"git:{self.scope}",
                volume=self.scope,
                volume_type=scope_type(self.scope),
                remote=result.remote,
                action=result.action,
                pushed=result.pushed,
                merged=result.merged,
                changed=len(result.changed_files),
                conflicts=result.conflicts[:20],
                head=result.head,
            )
        except Exception:
            pass

    # ---- inspection --------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """Repository state without network: head, remote head as last fetched, dirty files."""
        out: dict[str, Any] = {
            "scope": self.scope,
            "remote": redact(self.url),
            "branch": self.branch,
            "repository": self.is_repo(),
            "head": None,
            "remote_head": None,
            "dirty": 0,
        }
        if not self.is_repo():
            return out
        try:
            out["head"] = self._head()
            out["remote_head"] = self._remote_head()
            status = self._git("status", "--porcelain", check=False)
            out["dirty"] = len([ln for ln in status.stdout.splitlines() if ln.strip()])
        except GitSyncError as exc:
            out["error"] = exc.message
        return out


def _regenerable(rel: str, ours: bytes | None, theirs: bytes | None) -> bool:
    """A file nobody wrote by hand: a membership marker, or an insight/suggestion that a cron
    generated on both sides (it is rewritten from the data on the next cycle)."""
    if rel.startswith("members/"):
        return True
    if not (rel.endswith(".md") and rel.split("/", 1)[0] in ("insights", "suggestions")):
        return False
    from .volume import frontmatter_of

    for data in (ours, theirs):
        if data is None:
            return False
        try:
            front = frontmatter_of(data.decode("utf-8"))
        except UnicodeDecodeError:
            return False
        if not re.match(
            r"(user_cron|team_cron|system_cron)\b", str(front.get("generated_by") or "")
        ):
            return False
    return True


# ---- three-way merge of a trace's counters ----------------------------------------------------


def _merge_trace(base: bytes | None, ours: bytes | None, theirs: bytes | None) -> bytes | None:
    """Theirs with the counters of both sides (None when the texts are not all parseable traces)."""
    if ours is None or theirs is None:
        return None
    from ..learning.traces import TraceFormatError, dump_trace, parse_trace

    try:
        mine = parse_trace(ours.decode("utf-8"))
        other = parse_trace(theirs.decode("utf-8"))
        common = parse_trace(base.decode("utf-8")) if base is not None else None
    except (TraceFormatError, UnicodeDecodeError):
        return None
    if mine.id != other.id or (common is not None and common.id != mine.id):
        return None
    for name in _COUNTERS:
        start = getattr(common, name) if common is not None else 0
        setattr(other, name, max(0, getattr(other, name) + max(0, getattr(mine, name) - start)))
    if other.usage_count < other.success_count + other.failure_count:
        other.usage_count = other.success_count + other.failure_count
    if (mine.last_used or "") > (other.last_used or ""):
        other.last_used = mine.last_used
    if not other.crystallized_tool and mine.crystallized_tool:
        other.crystallized_tool = mine.crystallized_tool
    try:
        return dump_trace(other).encode("utf-8")
    except TraceFormatError:
        return None


__all__ = [
    "GitVolume",
    "GitSyncError",
    "SyncResult",
    "git_remotes",
    "git_volume",
    "sync_after_write",
    "redact",
]
