"""Secret redaction: what llmos writes to disk never holds a value that looks like a secret.

Every store that keeps text which came from a tool, a model or the user (trace files and the
trace index, the event log and the inbox, session logs and facts, agent metrics, the TUI's goal
history, bundles) passes it through :func:`redact_text` / :func:`redact_obj` first. A secret is
replaced by ``[REDACTED:<kind>]`` (see :data:`MARK`); everything else is left exactly as it was,
and redacting a redacted text changes nothing.

What counts as a secret, most reliable first:

1. the exact value of every secret-looking variable of this process's environment (a name ending
   in ``KEY``, ``KEY_ID``, ``TOKEN``, ``SECRET``, ``PASSWORD``, ``PASSWD``, ``PASSPHRASE``,
   ``CREDENTIAL(S)``, ``_PASS`` or ``_PWD``; a value of 8 characters or more that is not a path
   or a plain number): the running ``ANTHROPIC_API_KEY`` is found whatever its shape, as
   ``[REDACTED:env:ANTHROPIC_API_KEY]``;
2. values of a known shape: Anthropic (``sk-ant-…``), OpenAI (``sk-…``, ``sk-proj-…``; with a
   digit), AWS access key ids (``AKIA``/``ASIA``/``ABIA``/``ACCA`` + 16), GitHub (``ghp_ gho_
   ghu_ ghs_ ghr_`` + 30 or more, ``github_pat_``), GitLab (``glpat-``), Slack (``xox[abprs]-``,
   webhook URLs), Stripe (``sk_live_``…), Google (``AIza`` + 35) keys, JWTs (``eyJ….eyJ….…``),
   PEM/OpenSSH/PGP private-key blocks (``-----BEGIN … PRIVATE KEY-----`` to its ``END`` line,
   or to the last base64 line of a block cut short), ``Bearer``/``Basic`` credentials and the
   password of a ``scheme://user:password@host`` URL;
3. assignments ``NAME=value`` / ``NAME: value`` (shell, ``.env``, YAML, JSON, Python; the name
   quoted or not, the value quoted or not) whose name ends in a secret word (``password``,
   ``passwd``, ``passphrase``, ``_pass``, ``_pwd``, ``secret``, ``token``, ``api_key``,
   ``access_key``, ``private_key``, ``credential(s)``, ``<word>_key``) — only the value is
   replaced, and only when it looks like a secret: for passwords 6 characters or more; for keys
   and tokens 12 or more, two character classes and at least 3 bits of entropy per character;
   never a reference (``$VAR``, ``${…}``, ``%(x)s``, ``<your-key>``), a path, a placeholder
   (``changeme``, ``xxxxxxxx``) or code (a dotted name, an unquoted identifier without digits).
   In a mapping (:func:`redact_obj`), a key with such a name is the name and its string value
   the value.

Known gaps: a secret of no known shape outside an assignment (a password passed as
``-p hunter2``) is not found; a value of 5 characters or fewer is never redacted.

Stdlib only; the patterns are compiled once, on first need (not at import: every start would pay
for it). A text holding none of the substrings every known shape starts with, nor a secret word,
costs only substring tests; others one or two regex scans. The environment is checked at each
top-level call (a snapshot compared with the last one; its secrets are found again only when it
changed), so a key set after import is still found. Costs: BENCHMARKS.md, "Measurements behind
choices in the code".
"""

from __future__ import annotations

import math
import os
import re
from typing import Any, Iterable

MARK = "[REDACTED:"


class LazyRegex:
    """A pattern compiled on first use: compiling them all would cost a few ms of every start,
    and most texts are ruled out by substring tests before any of them is needed."""

    __slots__ = ("_args", "_compiled")

    def __init__(self, pattern: str | bytes, flags: int = 0) -> None:
        self._args = (pattern, flags)
        self._compiled: re.Pattern[Any] | None = None

    def __getattr__(self, name: str) -> Any:
        compiled = self._compiled
        if compiled is None:
            compiled = self._compiled = re.compile(*self._args)
        return getattr(compiled, name)


_MIN_ENV_VALUE = 8
_ENV_WORDS = r"(?:KEY|KEY_ID|TOKEN|SECRET|PASSWORD|PASSWD|PASSPHRASE|CREDENTIALS?|_PASS|_PWD)\Z"
_ENV_NAME = LazyRegex(_ENV_WORDS, re.IGNORECASE)
_ENV_NAME_B = LazyRegex(_ENV_WORDS.encode(), re.IGNORECASE)

# ---- the patterns ------------------------------------------------------------------------------
# Every branch of _SHAPES starts with a literal character (the boundary checks come after it, as
# look-behinds over the literal): the regex engine then skips, in C, every position whose
# character cannot start a secret, which makes a scan of ordinary text cheap.

_PEM_LABEL = r"-----(?:BEGIN|END) (?:[A-Z0-9]+ ){0,3}PRIVATE KEY(?: BLOCK)?-----"
_NB = r"[A-Za-z0-9_-]"  # a character a token cannot follow or be followed by
_SHAPE_BRANCHES = [
    # PEM / OpenSSH / PGP private keys: to the END line, or to the last base64 line of a cut block
    r"-----BEGIN (?:[A-Z0-9]+ ){0,3}PRIVATE KEY(?: BLOCK)?-----"
    rf"(?:[\s\S]{{0,65536}}?{_PEM_LABEL}|(?:[ \t]*\r?\n(?:[ \t]*[A-Za-z0-9+/=]{{8,}}|[A-Za-z-]{{2,30}}: [^\r\n]*))*)",
    rf"sk-ant-(?<!{_NB}sk-ant-)[A-Za-z0-9_-]{{20,}}",
    rf"sk-(?<!{_NB}sk-)(?:proj-|svcacct-|admin-)?(?=[A-Za-z0-9_-]*[0-9])[A-Za-z0-9_-]{{20,}}",
    rf"sk_(?<!{_NB}sk_)(?:live|test)_[A-Za-z0-9]{{16,}}(?!{_NB})",
    rf"rk_(?<!{_NB}rk_)(?:live|test)_[A-Za-z0-9]{{16,}}(?!{_NB})",
    r"A(?:KIA|SIA|BIA|CCA)(?<![A-Za-z0-9]....)[A-Z0-9]{16}(?![A-Za-z0-9])",
    rf"AIza(?<!{_NB}AIza)[0-9A-Za-z_-]{{35}}(?!{_NB})",
    rf"gh(?<!{_NB}gh)[pousr]_[A-Za-z0-9]{{30,}}(?!{_NB})",
    rf"github_pat_(?<!{_NB}github_pat_)[A-Za-z0-9_]{{40,}}(?!{_NB})",
    rf"glpat-(?<!{_NB}glpat-)[A-Za-z0-9_-]{{20,}}",
    rf"xox(?<!{_NB}xox)[abprs]-[A-Za-z0-9-]{{10,}}",
    r"https://hooks\.slack\.com/services/[A-Za-z0-9/_-]{20,}",
    rf"eyJ(?<!{_NB}eyJ)[A-Za-z0-9_-]{{10,}}\.eyJ[A-Za-z0-9_-]{{10,}}\.[A-Za-z0-9_-]*",
    *(
        rf"{word}(?<![A-Za-z0-9_]{word})(?P<bearer_head_{i}>[ \t]+)(?P<bearer_value_{i}>[A-Za-z0-9._~+/-]{{16,}}=*)"
        r"(?![A-Za-z0-9._~+/=-])"
        for i, word in enumerate(("Bearer", "bearer", "BEARER", "Basic", "basic", "BASIC"))
    ),
    r"://(?P<url_user>[^/\s:@'\"]{1,128}):(?P<url_secret>[^/\s@'\"]{1,256})@",
]
_SHAPES = LazyRegex("|".join(_SHAPE_BRANCHES))
# Every secret of a known shape holds one of these (as specific as its branch allows: "gh" alone
# is in "high", "sk_" in "task_success"): a text holding none is not scanned at all.
_TRIGGERS = (
    "-----BEGIN",
    "sk-",
    "sk_live_",
    "sk_test_",
    "rk_live_",
    "rk_test_",
    "AKIA",
    "ASIA",
    "ABIA",
    "ACCA",
    "AIza",
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "glpat-",
    "xox",
    "eyJ",
    "Bearer",
    "bearer",
    "BEARER",
    "Basic",
    "basic",
    "BASIC",
    "://",
)
_SHAPE_KINDS = (
    ("-----", "private_key"),
    ("sk-ant-", "anthropic_key"),
    ("sk-", "openai_key"),
    ("sk_", "stripe_key"),
    ("rk_", "stripe_key"),
    ("AIza", "google_api_key"),
    ("A", "aws_access_key_id"),
    ("github_pat_", "github_token"),
    ("gh", "github_token"),
    ("glpat-", "gitlab_token"),
    ("xox", "slack_token"),
    ("https://hooks", "slack_webhook"),
    ("eyJ", "jwt"),
)

# Assignments are found from their secret word (the end of the name), then the name is read
# backwards; a text without any of these words (case-insensitive) is not scanned for them.
_PASSWORD_WORDS = (
    r"passw(?:or)?d|passphrase|(?<![A-Za-z0-9])pass|[_.-]pass|(?<![A-Za-z0-9])pwd|[_.-]pwd"
)
_KEY_WORDS = (
    r"secret|token|api[_-]?key|apikey|access[_-]?key(?:[_-]?id)?|private[_-]?key|credentials?"
    r"|[A-Za-z0-9][_-]key"
)
_NAME = rf"(?:{_PASSWORD_WORDS}|{_KEY_WORDS})"
_HINTS = ("pass", "pwd", "secret", "token", "key", "credential")
_HINT_WORDS = [v for w in _HINTS for v in (w, w.capitalize(), w.upper())]  # literals: a fast scan
_ASSIGN = LazyRegex(
    "(?:" + "|".join(_HINT_WORDS) + ")"
    r"[A-Za-z_]{0,6}?(?P<a_q>[\"']?)(?P<a_op>[ \t]*(?::=|=(?!=)|:(?![:=]))[ \t]*)"
    r"(?P<a_value>\"(?:[^\"\\\r\n]|\\.){1,512}\"|'[^'\r\n]{1,512}'|[^\s\"'`,;&|<>(){}\[\]\\]{1,512})"
)
_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")
_NAME_FULL = LazyRegex(rf"[A-Za-z0-9_.-]{{0,64}}?(?i:{_NAME})")
_PASSWORD_NAME = LazyRegex(rf"(?i:{_PASSWORD_WORDS})\Z")
_AWS_SECRET_NAME = LazyRegex(r"(?i)aws[_-]?secret[_-]?access[_-]?key\Z")
_IDENT = LazyRegex(r"[A-Za-z_][A-Za-z0-9_]*")
_DOTTED = LazyRegex(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+")
_PLACEHOLDERS = frozenset(
    """password passwd secret changeme change_me changeit example redacted hidden none null
    undefined placeholder notset not_set unset required optional default empty dummy sample test testing""".split()
)
_NOT_A_VALUE_START = (
    "[REDACTED",
    "$",
    "%",
    "{",
    "<",
    "/",
    "~",
    "./",
    "../",
    "!",
    "&",
    "*",
    "#",
    "@",
    "(",
)


def _mark(kind: str) -> str:
    return f"{MARK}{kind.replace('_', '-')}]"


def _entropy(text: str) -> float:
    counts: dict[str, int] = {}
    for ch in text:
        counts[ch] = counts.get(ch, 0) + 1
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def looks_secret(value: str, *, password: bool, quoted: bool = True) -> bool:
    """Does ``value``, given to a name that says secret (``password``: a password-like name), look
    like one rather than like code, a reference or a placeholder?"""
    v = value.strip()
    if not v or v.startswith(_NOT_A_VALUE_START) or v.lower() in _PLACEHOLDERS or len(set(v)) <= 2:
        return False
    if _DOTTED.fullmatch(v) or v.isdigit() and not password:
        return False
    if not quoted and _IDENT.fullmatch(v) and not any(ch.isdigit() for ch in v):
        return False  # code: ``password = password_input``, ``token = Token``
    if password:
        return len(v) >= 6
    if len(v) < 12:
        return False
    classes = (
        any(c.islower() for c in v)
        + any(c.isupper() for c in v)
        + any(c.isdigit() for c in v)
        + any(not c.isalnum() and c not in "_.-" for c in v)
    )
    return classes >= 2 and _entropy(v) >= 3.0


# ---- the environment ------------------------------------------------------------------------------


def _secret_env_value(value: str) -> bool:
    return (
        len(value) >= _MIN_ENV_VALUE
        and not value.startswith(("/", "~", "./"))
        and not value.isdigit()
        and value.strip().lower() not in _PLACEHOLDERS
    )


_env_cache: tuple[Any, tuple[tuple[str, str], ...]] = (None, ())


def env_secrets(environ: Any = None) -> tuple[tuple[str, str], ...]:
    """(value, variable name) of the secret-looking variables of ``environ`` (default: this
    process's, re-read whenever it changed), longest value first."""
    global _env_cache
    data = getattr(os.environ, "_data", None) if environ is None else None
    if isinstance(data, dict):  # CPython on POSIX: test the names as bytes, decode only the few
        snapshot = tuple(data.items())
        cached = _env_cache
        if cached[0] == snapshot:
            return cached[1]
        out = []
        for raw_name, raw_value in snapshot:
            if (
                len(raw_value) >= _MIN_ENV_VALUE
                and isinstance(raw_name, bytes)
                and _ENV_NAME_B.search(raw_name)
            ):
                value = os.fsdecode(raw_value)
                if _secret_env_value(value):
                    out.append((value, os.fsdecode(raw_name)))
        found = tuple(sorted(out, key=lambda item: -len(item[0])))
        _env_cache = (snapshot, found)
        return found
    out = []
    for name, value in (os.environ if environ is None else environ).items():
        if (
            isinstance(name, str)
            and isinstance(value, str)
            and _ENV_NAME.search(name)
            and _secret_env_value(value)
        ):
            out.append((value, name))
    return tuple(sorted(out, key=lambda item: -len(item[0])))


# ---- redacting -----------------------------------------------------------------------------------


def _shape(m: re.Match[str]) -> str:
    text = m.group(0)
    if text.startswith("://"):
        value = m.group("url_secret")
        if (
            value.startswith(_NOT_A_VALUE_START)
            or set(value) <= {"*"}
            or value.lower() in _PLACEHOLDERS
        ):
            return text
        return f"://{m.group('url_user')}:{_mark('url_password')}@"
    if text[0] in "Bb":
        i = int((m.lastgroup or "bearer_value_0").rsplit("_", 1)[1])
        if looks_secret(m.group(f"bearer_value_{i}"), password=False):
            return text[: m.end(f"bearer_head_{i}") - m.start()] + _mark("bearer_token")
        return text
    for prefix, kind in _SHAPE_KINDS:
        if text.startswith(prefix):
            return _mark(kind)
    return _mark("secret")


def _assignments(text: str) -> str:
    out: list[str] = []
    done = 0
    for m in _ASSIGN.finditer(text):
        end = m.start("a_q")
        start = m.start()
        while start > 0 and end - start < 80 and text[start - 1] in _NAME_CHARS:
            start -= 1
        if start < done or (start > 0 and text[start - 1] == "$"):
            continue
        name = text[start:end]
        if not _NAME_FULL.fullmatch(name):
            continue
        value = m.group("a_value")
        quote = value[0] if value[0] in "\"'" and len(value) >= 2 and value[-1] == value[0] else ""
        inner = value[1:-1] if quote else value
        password = bool(_PASSWORD_NAME.search(name))
        if not looks_secret(inner, password=password, quoted=bool(quote)):
            continue
        kind = (
            "password"
            if password
            else "aws_secret_key"
            if _AWS_SECRET_NAME.search(name)
            else "secret"
        )
        vstart = m.start("a_value") + (1 if quote else 0)
        out.append(text[done:vstart])
        out.append(_mark(kind))
        done = vstart + len(inner)
    if not out:
        return text
    out.append(text[done:])
    return "".join(out)


_SHORTEST = min(
    _MIN_ENV_VALUE, 10
)  # no secret fits in fewer characters (a password assignment: 10)


def _redact(text: str, secrets: Iterable[tuple[str, str]]) -> str:
    if len(text) < _SHORTEST:
        return text
    for value, name in secrets:
        if value in text:
            text = text.replace(value, f"{MARK}env:{name}]")
    if any(trigger in text for trigger in _TRIGGERS) and _SHAPES.search(text) is not None:
        text = _SHAPES.sub(_shape, text)
    lower = text.lower()
    # an assignment needs its operator (=, :=, :): "passed every rule" is not scanned
    if ("=" in text or ":" in text) and any(word in lower for word in _HINTS):
        text = _assignments(text)
    return text


def redact_text(text: str, *, environ: Any = None) -> str:
    """``text`` with every secret replaced by ``[REDACTED:<kind>]`` (the same object when there
    is none). ``environ``: the variables whose secret values to find (default ``os.environ``)."""
    if not isinstance(text, str) or not text:
        return text
    out = _redact(text, env_secrets(environ))
    return text if out == text else out


def _obj(value: Any, secrets: Iterable[tuple[str, str]]) -> Any:
    if isinstance(value, str):
        if not value:
            return value
        out = _redact(value, secrets)
        return value if out == value else out
    if isinstance(value, dict):
        changed = False
        items = []
        for key, item in value.items():
            new_key = _obj(key, secrets) if isinstance(key, str) else key
            new_item = _obj(item, secrets)
            if (
                new_item is item
                and isinstance(item, str)
                and isinstance(key, str)
                and item
                and any(word in key.lower() for word in _HINTS)
                and _NAME_FULL.fullmatch(key)
                and looks_secret(item, password=bool(_PASSWORD_NAME.search(key)))
            ):
                new_item = _mark("password" if _PASSWORD_NAME.search(key) else "secret")
            changed = changed or new_key is not key or new_item is not item
            items.append((new_key, new_item))
        return dict(items) if changed else value
    if isinstance(value, (list, tuple)):
        new = [_obj(item, secrets) for item in value]
        if all(a is b for a, b in zip(new, value, strict=True)):
            return value
        return new if isinstance(value, list) else tuple(new)
    return value


def redact_obj(value: Any, *, environ: Any = None) -> Any:
    """A copy of a JSON-like value (dicts, lists, tuples, strings, numbers) with every string
    redacted, and the string value of a key named like a secret replaced when it looks like one.
    Returns ``value`` itself (not a copy) when nothing was redacted."""
    return _obj(value, env_secrets(environ))


def has_redactions(value: Any) -> bool:
    """Does a JSON-like value hold a ``[REDACTED:…]`` mark anywhere?"""
    if isinstance(value, str):
        return MARK in value
    if isinstance(value, dict):
        return any(has_redactions(k) or has_redactions(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(has_redactions(v) for v in value)
    return False
