"""Run this checkout's Python code as an unprivileged user (uid/gid 65534), from a test running as root.

Contract: :func:`command` returns an argv that, started by root, runs
``python <args>`` as uid/gid 65534 with *this* checkout's ``llmos_tui`` and the current
virtual environment's packages importable, even when neither is readable by that user (a
checkout under ``/root``, mode 0700, or a venv whose interpreter lives under ``/root/.pyenv``).
:func:`unavailable` says why it cannot work on this machine (None when it can); tests skip then.

How: the argv is ``unshare --mount --propagation private`` (a private mount namespace, so
nothing is visible outside the one process tree) running ``/bin/sh``, which bind-mounts

* the checkout on ``<view>/src`` and
* the venv's ``site-packages`` on ``<view>/venv/lib/pythonX.Y/site-packages``,

where ``<view>`` is a world-readable folder made once per test session (under ``/home`` when
possible, see :func:`scratch_parent`), holding a minimal virtual environment: ``pyvenv.cfg`` (``home`` = the system
interpreter's folder) and ``bin/python3`` -> ``/usr/bin/pythonX.Y`` (world-readable, same ABI as
the venv: the same X.Y). It then ``exec``\\ s ``setpriv --reuid --regid --clear-groups`` on that
interpreter with ``PYTHONPATH=<view>/src``. Being a real venv (not only ``PYTHONPATH``), the
packages are also found by ``python -I`` children (the Landlock helper runs that way) and by
``sys.executable`` re-launches. Nothing else changes: no ``no_new_privs``, the capability
bounding set is left as setpriv leaves it, so the user is an ordinary unprivileged user.

The bind mounts are undone when the process tree ends (the namespace goes away); the view
folder itself is removed at interpreter exit.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Mapping, Sequence

UID = GID = 65534
CHECKOUT = Path(__file__).resolve().parents[2]
_MINOR = f"{sys.version_info.major}.{sys.version_info.minor}"
SYSTEM_PYTHON = Path(f"/usr/bin/python{_MINOR}")


def site_packages() -> Path:
    """The current environment's ``site-packages`` (where the dependencies are installed)."""
    return Path(sysconfig.get_paths()["purelib"]).resolve()


def scratch_parent() -> Path:
    """Where test folders that any user may enter are made: ``/home`` when root may write there
    (where real users' files live: a sandbox that hides HOME or uses a private ``/tmp`` is
    tested against paths that really exist for it), else the system temp folder."""
    home = Path("/home")
    if home.is_dir() and os.access(home, os.W_OK | os.X_OK):
        return home
    return Path(tempfile.gettempdir())


@lru_cache(maxsize=1)
def _view() -> Path:
    view = Path(tempfile.mkdtemp(prefix="llmos-unpriv-", dir=scratch_parent()))
    atexit.register(shutil.rmtree, view, True)
    view.chmod(0o755)
    (view / "src").mkdir()
    site = view / "venv" / "lib" / f"python{_MINOR}" / "site-packages"
    site.mkdir(parents=True)
    (view / "venv" / "bin").mkdir()
    (view / "venv" / "bin" / "python3").symlink_to(SYSTEM_PYTHON)
    (view / "venv" / "pyvenv.cfg").write_text(
        f"home = {SYSTEM_PYTHON.parent}\ninclude-system-site-packages = false\nversion = {_MINOR}\n"
    )
    for path in [view, *view.rglob("*")]:
        if not path.is_symlink():
            path.chmod(0o755)
    return view


def view_python() -> Path:
    """The interpreter path the unprivileged process runs (inside the private mount namespace)."""
    return _view() / "venv" / "bin" / "python3"


def view_checkout() -> Path:
    """Where the checkout appears to the unprivileged process."""
    return _view() / "src"


@lru_cache(maxsize=1)
def unavailable() -> str | None:
    """Why this helper cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root to drop privileges"
    for tool in ("unshare", "setpriv", "mount"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    if not SYSTEM_PYTHON.is_file() or not os.access(SYSTEM_PYTHON, os.X_OK):
        return f"{SYSTEM_PYTHON} (a world-readable Python {_MINOR}) is not installed"
    try:
        proc = subprocess.run(
            command(["-c", "import os, llmos_tui, claude_agent_sdk; print(os.getuid())"]),
            capture_output=True,
            text=True,
            timeout=60,
            cwd="/",
            env=env({}),
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return f"cannot start the unprivileged interpreter: {exc}"
    if proc.returncode != 0 or proc.stdout.strip() != str(UID):
        return f"the unprivileged interpreter does not work here: {(proc.stderr or proc.stdout).strip()[-300:]}"
    return None


def command(python_args: Sequence[str], *, uid: int = UID, gid: int = GID) -> list[str]:
    """argv running ``python <python_args>`` as ``uid``/``gid`` with this checkout importable.

    Start it with :func:`env` (or an environment that has its ``PYTHONPATH``) and a working
    directory the user may enter (``/`` is safe)."""
    view = _view()
    script = 'mount --bind "$1" "$2" && mount --bind "$3" "$4" || exit 125\nshift 4\nexec "$@"\n'
    return [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "--",
        "/bin/sh",
        "-c",
        script,
        "sh",
        str(CHECKOUT),
        str(view / "src"),
        str(site_packages()),
        str(view / "venv" / "lib" / f"python{_MINOR}" / "site-packages"),
        "setpriv",
        f"--reuid={uid}",
        f"--regid={gid}",
        "--clear-groups",
        "--",
        str(view_python()),
        *python_args,
    ]


def env(base: Mapping[str, str], **extra: str) -> dict[str, str]:
    """``base`` with this checkout (as the unprivileged process sees it) first on ``PYTHONPATH``.

    Variables naming the root-only interpreter (``VIRTUAL_ENV``, ``PYTHONHOME``) are dropped."""
    out = {k: v for k, v in base.items() if k not in ("PYTHONHOME", "VIRTUAL_ENV", "PYTHONPATH")}
    out["PYTHONPATH"] = str(view_checkout())
    out.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    out.update(extra)
    return out


def give(*paths: Path, uid: int = UID, gid: int = GID) -> None:
    """Make ``paths`` (recursively) owned by the unprivileged user."""
    for top in paths:
        for root, dirs, files in os.walk(top):
            os.lchown(root, uid, gid)
            for name in dirs + files:
                os.lchown(os.path.join(root, name), uid, gid)


def world_dir(prefix: str = "llmos-test-") -> Path:
    """A new folder under :func:`scratch_parent` that any user may enter (mode 0755); the
    caller removes it. pytest's own ``tmp_path`` lives under a root-only (0700) folder."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=scratch_parent()))
    path.chmod(0o755)
    return path


__all__ = [
    "UID",
    "GID",
    "CHECKOUT",
    "command",
    "env",
    "give",
    "scratch_parent",
    "site_packages",
    "unavailable",
    "view_checkout",
    "view_python",
    "world_dir",
]
