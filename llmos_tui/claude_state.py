"""What the Claude Code CLI keeps under its config dir (``<workspace>/state/claude``), and its removal.

The bundled CLI is given ``CLAUDE_CONFIG_DIR=<workspace>/state/claude``. By default it writes a
transcript of every session there (``projects/<cwd>/<session id>.jsonl``: the prompt, every
tool input and output, the model's text) and keeps more session data beside it (large tool
results under ``projects/``, ``file-history/``, ``todos/``, ``shell-snapshots/``,
``session-env/``, ``debug/``, ``paste-cache/``, ``history.jsonl``). llmos records what it needs
itself (traces, redacted) and never resumes a CLI session, so none of it is kept:

* :data:`NO_PERSISTENCE_ARGS` is what ``execution/llm/session.py`` passes as
  ``ClaudeAgentOptions(extra_args=...)``: the CLI's ``--no-session-persistence`` flag ("Don't save
  sessions to disk"; that it works with the SDK is in ``docs/CLAUDE_CLI.md``);
* :func:`purge_transcripts` deletes whatever session data is there anyway (a CLI that ignores the
  flag, a run killed half-way, a workspace used by an older llmos); the kernel calls it after each
  LLM session. The CLI's own settings (``.claude.json``, ``backups/``, ``plugins/``) stay.

Deleting the transcript of a session another process is still running does not disturb it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

#: ``ClaudeAgentOptions(extra_args=NO_PERSISTENCE_ARGS)``: ``claude --no-session-persistence``.
NO_PERSISTENCE_ARGS: dict[str, str | None] = {"no-session-persistence": None}
#: Session data the CLI keeps under its config dir (folders and files), all removed by the purge.
SESSION_DATA = (
    "projects",
    "file-history",
    "todos",
    "shell-snapshots",
    "session-env",
    "debug",
    "paste-cache",
    "history.jsonl",
)


def purge_transcripts(config_dir: str | os.PathLike[str]) -> int:
    """Delete the CLI's session data under ``config_dir``; returns how many files went. Never
    follows a symbolic link out of ``config_dir`` and never raises (a file that cannot be
    removed is left)."""
    root = Path(config_dir)
    removed = 0
    for name in SESSION_DATA:
        path = root / name
        try:
            if path.is_symlink() or path.is_file():
                path.unlink()
                removed += 1
            elif path.is_dir():
                removed += sum(len(files) for _d, _s, files in os.walk(path))
                shutil.rmtree(path, ignore_errors=True)
        except OSError:
            continue
    return removed
