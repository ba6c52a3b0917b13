"""The words of the shell analysis, shared by the analyzer (``shell.py``), the per-program
handlers (``commands.py``), the program table (``programs.py``) and the interpreter checks
(``interpreters.py``): an expanded argument (``Arg``), a simple command (``Cmd``), GNU-style
option parsing, and the variables and git keys with a meaning for the policy."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Iterable

from ...records import field, record
from ...redact import LazyRegex  # module patterns: compiled on first use

if TYPE_CHECKING:  # pragma: no cover
    from .programs import Program

DYN = "\x00"  # text we cannot know (unknown variable, command output)
ITEM = "\x01"  # a file name produced by a listing of the current directory (find ., *.py, ls)
PSUB = "\x02"  # a process substitution: /dev/fd/N fed by a command

# What a command reads on stdin: ("file", path), ("text", text, dynamic) or ("psub",).
Stdin = tuple[Any, ...]


@record(slots=True)
class Arg:
    """One word after expansion. ``mask`` has one letter per character of ``text``:
    u unquoted literal, q quoted literal, v unquoted value of a variable, d unknown,
    c command output, i listing item, p process substitution."""

    text: str
    mask: str
    names: tuple[str, ...] = ()

    @property
    def static(self) -> bool:
        return DYN not in self.text and ITEM not in self.text and PSUB not in self.text

    @property
    def dynamic(self) -> bool:
        return DYN in self.text

    @property
    def item(self) -> bool:
        return ITEM in self.text and DYN not in self.text

    @property
    def psub(self) -> bool:
        return PSUB in self.text

    @property
    def from_command(self) -> bool:
        return "c" in self.mask

    @property
    def glob(self) -> bool:
        for ch, m in zip(self.text, self.mask, strict=True):
            if ch in "*?[" and m in "uv":
                return True
        return False

    def show(self) -> str:
        return self.text.replace(DYN, "$?").replace(ITEM, "<file>").replace(PSUB, "<(…)")


def lit(text: str) -> Arg:
    return Arg(text, "q" * len(text))


# --------------------------------------------------------------------------------------
# Variables and keys with a meaning for the policy (the per-program table is programs.py)
# --------------------------------------------------------------------------------------
ENV_LOADER_VARS = {
    "LD_PRELOAD",
    "LD_LIBRARY_PATH",
    "LD_AUDIT",
    "LD_DEBUG_OUTPUT",
    "LD_PROFILE",
    "LD_ORIGIN_PATH",
    "LD_DYNAMIC_WEAK",
    "DYLD_INSERT_LIBRARIES",
    "DYLD_LIBRARY_PATH",
    "DYLD_FRAMEWORK_PATH",
    "DYLD_FALLBACK_LIBRARY_PATH",
    "GCONV_PATH",
}
# Variables that make a program run extra code (always a start-up hook when set to something).
ENV_STARTUP_VARS = {
    "BASH_ENV",
    "ENV",
    "PERL5OPT",
    "PERL5DB",
    "RUBYOPT",
    "JAVA_TOOL_OPTIONS",
    "_JAVA_OPTIONS",
    "JDK_JAVA_OPTIONS",
    "GIT_CONFIG_PARAMETERS",
    "GIT_CONFIG_COUNT",
    "PYTHONINSPECT",
}
# Variables that point a program at files it loads code or configuration from: a start-up hook
# when they point at a shared temporary folder or outside the working directory.
ENV_PATH_VARS = {
    "ZDOTDIR",
    "PYTHONSTARTUP",
    "PYTHONHOME",
    "GIT_TEMPLATE_DIR",
    "GIT_EXEC_PATH",
    "GIT_CONFIG_GLOBAL",
    "GIT_CONFIG_SYSTEM",
    "LESSKEY",
    "INPUTRC",
    "GCONV_PATH",
    "LOCPATH",
    "NLSPATH",
    "RESOLV_HOST_CONF",
    "HOSTALIASES",
    "OPENSSL_CONF",
    "SSLKEYLOGFILE",
    "MALLOC_TRACE",
}
ENV_EXEC_VARS = {
    "PAGER",
    "GIT_PAGER",
    "MANPAGER",
    "SYSTEMD_PAGER",
    "EDITOR",
    "VISUAL",
    "GIT_EDITOR",
    "GIT_SEQUENCE_EDITOR",
    "GIT_SSH_COMMAND",
    "GIT_SSH",
    "GIT_EXTERNAL_DIFF",
    "GIT_ASKPASS",
    "SSH_ASKPASS",
    "SUDO_ASKPASS",
    "BROWSER",
    "LESSOPEN",
    "LESSCLOSE",
    "PROMPT_COMMAND",
    "GIT_PROXY_COMMAND",
    "RSYNC_RSH",
    "CVS_RSH",
    "FCEDIT",
    "TERMINAL",
    "DIFFTOOL",
    "MERGETOOL",
}
SECRET_ENV = LazyRegex(
    r"(KEY|TOKEN|SECRET|PASSW|PASSWD|CREDENTIAL|AUTH|COOKIE|SESSION|PRIVATE)", re.I
)
DANGEROUS_GIT_KEYS = LazyRegex(
    r"^(core\.(hookspath|fsmonitor|sshcommand|pager|editor|askpass|gitproxy|alternaterefscommand)|"
    r"sequence\.editor|diff\.external|diff\..*\.(textconv|command)|merge\..*\.driver|"
    r"filter\..*\.(clean|smudge|process)|credential(\..*)?\.helper|include\.path|includeif\..*\.path|"
    r"remote\..*\.(receivepack|uploadpack|proxy)|uploadpack\.packobjectshook|gpg(\..*)?\.program|"
    r"interactive\.difffilter|pager\..*|man\..*\.cmd|web\.browser|browser\..*\.cmd|protocol\..*\.allow|"
    r"safe\.directory|ssh\.variant|difftool\..*\.cmd|mergetool\..*\.cmd|sendemail\..*cmd|"
    r"url\..*\.(insteadof|pushinsteadof)|http\..*sslverify|http\.sslverify|core\.worktree|"
    r"receive\.denycurrentbranch|submodule\..*\.update)$",
    re.I,
)


# Option parsing ---------------------------------------------------------------------------
@record
class Opts:
    """A command's arguments split into flags (with their values) and operands."""

    flags: list[tuple[str, Arg | None]]  # ("-r", None), ("--output", Arg), ("-o", Arg)
    operands: list[Arg]

    def has(self, *names: str) -> bool:
        return any(n in names for n, _ in self.flags)

    def values(self, *names: str) -> list[Arg]:
        return [v for n, v in self.flags if n in names and v is not None]

    def short(self, letter: str) -> bool:
        return any(n == "-" + letter for n, _ in self.flags)


def parse_opts(
    args: list[Arg],
    short_val: str = "",
    long_val: Iterable[str] = (),
    stop_at_operand: bool = False,
    long_single_dash: bool = False,
) -> Opts:
    """GNU-style options: ``-abc``, ``-ofile``, ``-o file``, ``--long=v``, ``--long v``, ``--``."""
    long_val = set(long_val)
    flags: list[tuple[str, Arg | None]] = []
    operands: list[Arg] = []
    i, n = 0, len(args)
    while i < n:
        a = args[i]
        t = a.text
        if not a.static or not t.startswith("-") or t == "-" or (operands and stop_at_operand):
            operands.append(a)
            i += 1
            if stop_at_operand:
                operands.extend(args[i:])
                break
            continue
        if t == "--":
            operands.extend(args[i + 1 :])
            break
        if t.startswith("--") or (long_single_dash and len(t) > 2):
            name, eq, val = t.partition("=")
            if eq:
                flags.append((name, Arg(val, a.mask[len(name) + 1 :], a.names)))
            elif name in long_val and i + 1 < n:
                flags.append((name, args[i + 1]))
                i += 1
            else:
                flags.append((name, None))
            i += 1
            continue
        j = 1
        while j < len(t):
            letter = t[j]
            if letter in short_val:
                rest = t[j + 1 :]
                if rest:
                    flags.append(("-" + letter, Arg(rest, a.mask[j + 1 :], a.names)))
                elif i + 1 < n:
                    flags.append(("-" + letter, args[i + 1]))
                    i += 1
                else:
                    flags.append(("-" + letter, None))
                break
            flags.append(("-" + letter, None))
            j += 1
        i += 1
    return Opts(flags, operands)


@record
class Cmd:
    """One simple command about to run, with what flows into it."""

    name: str  # family name (normalized)
    word: str  # the command word as written (after quote removal)
    args: list[Arg]
    env: dict[str, Arg]
    pipe_in: frozenset[str] | None  # kinds of data piped into stdin (None: not piped)
    stdin: Stdin | None
    out: set[str] = field(default_factory=lambda: {"other"})
    read_outside: bool = False
    prog: Program | None = None  # its Program spec (programs.py), set by commands.dispatch
