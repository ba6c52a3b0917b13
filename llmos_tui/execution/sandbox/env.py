"""The environment a sandboxed command gets: an allow-list, never "ours minus a deny-list".

:func:`child_environment` keeps only

* the names in :data:`ENV_ALLOW` (and ``LC_*``), each justified below;
* names listed in ``execution.env_passthrough`` (the ``passthrough`` argument).

A name that looks like a secret (:func:`looks_secret`: ``ANTHROPIC_*``, ``*_TOKEN``, ``*_KEY``,
``*PASSWORD*``, ``AWS_*``, ``SSH_AUTH_SOCK`` ...) is dropped even when the allow-list or a
*pattern* in ``passthrough`` (``MYAPP_*``) would keep it; only its exact name in ``passthrough``
lets it through (the user said so explicitly).

The same filter applies to an ``env=`` mapping a caller hands to ``run_sandboxed``: a caller
cannot widen the environment by passing ``os.environ`` in.
"""

from __future__ import annotations

import fnmatch
import os
import re
from typing import Iterable, Mapping

# name -> why a sandboxed command may see it (README "Security" lists the same names)
ENV_ALLOW: dict[str, str] = {
    "PATH": "where programs are found (entries outside the sandbox's read view simply do not exist inside)",
    "LANG": "locale: decoding of file names and output",
    "LANGUAGE": "message language",
    "TERM": "terminal type: programs choose their output format",
    "TZ": "time zone for timestamps",
    "USER": "the account name (no secret: ids are visible through the file system anyway)",
    "LOGNAME": "the account name, as some programs spell it",
    "SHELL": "the user's shell path",
    "COLUMNS": "terminal width for formatted output",
    "LINES": "terminal height for formatted output",
    "COLORTERM": "whether the terminal shows colours",
    "NO_COLOR": "the user's no-colour preference (no-color.org)",
    "FORCE_COLOR": "the user's colour preference",
    "CLICOLOR": "the user's colour preference (BSD tools)",
    "CLICOLOR_FORCE": "the user's colour preference (BSD tools)",
    "PYTHONIOENCODING": "text encoding of Python's standard streams",
    "PYTHONUTF8": "Python's UTF-8 mode",
    "VIRTUAL_ENV": "the active Python virtual environment's path (pip and tools find the venv)",
    "SOURCE_DATE_EPOCH": "reproducible-build timestamp",
}
# LC_ALL, LC_CTYPE, LC_MESSAGES, ... : locale categories
ENV_ALLOW_PREFIXES: tuple[str, ...] = ("LC_",)

# Names that look like credentials; matched case-insensitively against the whole name.
SECRET_ENV_PATTERNS: tuple[str, ...] = (
    "ANTHROPIC_*",
    "CLAUDE_*",
    "LLMOS_*",
    "OPENAI_*",
    "AWS_*",
    "AZURE_*",
    "GOOGLE_*",
    "GCLOUD_*",
    "GCP_*",
    "GH_*",
    "GITHUB_*",
    "GITLAB_*",
    "BITBUCKET_*",
    "HF_*",
    "HUGGING_FACE_*",
    "HUGGINGFACE_*",
    "VAULT_*",
    "DOCKER_AUTH*",
    "NPM_TOKEN",
    "NPM_CONFIG_*AUTH*",
    "npm_config_*auth*",
    "SSH_AUTH_SOCK",
    "SSH_AGENT_*",
    "GPG_AGENT_INFO",
    "KRB5CCNAME",
    "*_TOKEN",
    "*_TOKEN_*",
    "*TOKEN",
    "*_SECRET*",
    "*SECRET",
    "*_KEY",
    "*_KEY_*",
    "*_API_KEY",
    "*APIKEY*",
    "*PASSWORD*",
    "*PASSWD*",
    "*_PASS",
    "*_PWD",
    "*CREDENTIAL*",
    "*_AUTH",
    "*_AUTH_*",
    "*PRIVATE*",
    "*_DSN",
    "DATABASE_URL",
    "*_DATABASE_URL",
    "*_CONN_STR*",
    "*CONNECTION_STRING*",
    "*_COOKIE*",
    "*SESSION_ID*",
    "KUBECONFIG",
    "*_PAT",
)
_SECRET_RE: re.Pattern[str] | None = None  # compiled on the first non-ASCII name


def _secret_re() -> re.Pattern[str]:
    global _SECRET_RE
    if _SECRET_RE is None:
        _SECRET_RE = re.compile(
            "|".join(fnmatch.translate(p) for p in SECRET_ENV_PATTERNS), re.IGNORECASE
        )
    return _SECRET_RE


def _star_parts(pattern: str) -> tuple[str, ...]:
    if any(c in pattern for c in "?[]"):  # only "*" is handled by _star_match
        raise ValueError(f"secret pattern {pattern!r}: only '*' wildcards are supported")
    return tuple(pattern.upper().split("*"))


def _star_match(name: str, parts: tuple[str, ...]) -> bool:
    """fnmatch of a pattern whose only wildcard is "*" (given as its pieces between stars)."""
    if len(parts) == 1:
        return name == parts[0]
    first, last = parts[0], parts[-1]
    if len(name) < len(first) + len(last) or not name.startswith(first):
        return False
    pos, end = len(first), len(name) - len(last)
    for piece in parts[1:-1]:  # leftmost placement of each middle piece is optimal
        found = name.find(piece, pos, end)
        if found < 0:
            return False
        pos = found + len(piece)
    return name.endswith(last)


# The patterns as upper-case pieces between their stars: an ASCII name is matched against them
# exactly as the case-insensitive regex would match it (compiling that regex costs about 3 ms,
# once per process, on the first sandboxed command); other names go through the regex.
_SECRET_PARTS: tuple[tuple[str, ...], ...] = tuple(_star_parts(p) for p in SECRET_ENV_PATTERNS)

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def looks_secret(name: str) -> bool:
    """True when an environment variable's name looks like it holds a credential."""
    if name.isascii():
        upper = name.upper()
        return any(_star_match(upper, parts) for parts in _SECRET_PARTS)
    return bool(_secret_re().fullmatch(name))


def _is_glob(entry: str) -> bool:
    return any(c in entry for c in "*?[")


def child_environment(
    base: Mapping[str, str] | None = None, passthrough: Iterable[str] = ()
) -> dict[str, str]:
    """The allow-listed part of ``base`` (default: ``os.environ``); see the module docstring.

    ``passthrough``: extra names (``execution.env_passthrough``). An exact name passes even if
    it looks like a secret; a pattern (``MYAPP_*``) never passes a secret-looking name."""
    env = os.environ if base is None else base
    exact = {p for p in passthrough if p and not _is_glob(p)}
    patterns = [p for p in passthrough if p and _is_glob(p)]
    out: dict[str, str] = {}
    for name, value in env.items():
        if (
            not isinstance(name, str)
            or not isinstance(value, str)
            or "=" in name
            or "\x00" in value
        ):
            continue
        if name in exact:
            out[name] = value
            continue
        wanted = (
            name in ENV_ALLOW
            or name.startswith(ENV_ALLOW_PREFIXES)
            or any(fnmatch.fnmatchcase(name, p) for p in patterns)
        )
        if wanted and not looks_secret(name):
            out[name] = value
    return out


def private_environment(env: dict[str, str], tmpdir: str, home: str) -> dict[str, str]:
    """Point HOME, TMPDIR and the usual caches at the command's private, writable folders."""
    env = dict(env)
    env["HOME"] = home
    env["TMPDIR"] = tmpdir
    cache = os.path.join(home, ".cache")
    env["XDG_CACHE_HOME"] = cache
    env["XDG_CONFIG_HOME"] = os.path.join(home, ".config")
    env["XDG_DATA_HOME"] = os.path.join(home, ".local", "share")
    env["XDG_STATE_HOME"] = os.path.join(home, ".local", "state")
    env["npm_config_cache"] = os.path.join(cache, "npm")
    env["GOCACHE"] = os.path.join(cache, "go-build")
    env["PIP_CACHE_DIR"] = os.path.join(cache, "pip")
    env.setdefault("PATH", DEFAULT_PATH)
    return env


__all__ = [
    "ENV_ALLOW",
    "SECRET_ENV_PATTERNS",
    "child_environment",
    "looks_secret",
    "private_environment",
]
