"""The per-program policy table: one declarative spec per program, one lookup, no precedence.

Contract
* ``Program`` is the spec of one program: its names (the canonical name first, then aliases),
  its kind, the options that take a value, the role of its operands (read / write / delete /
  list / none / command / custom), the options whose value is read, written or run, whether it
  talks to other machines and a fixed risk. ``handler`` names (by its name: the table imports no
  code) the function of ``commands.py`` for what the fields cannot say (git, curl, find, xargs,
  tar, interpreters, package managers…); the table's ``risk`` and ``network`` fields are applied
  before it, and the handler does the operand work itself (``operands="custom"``).
* ``Registry.add`` raises ``TableError`` when a name is registered twice or a field is invalid;
  the table is built once, on first use: its entries' names at once (a name registered twice
  raises there), each entry's Program made and checked when it is first looked up (``programs``
  makes and checks them all; the tests read it).
* ``lookup(word)`` is the only way from a command word to a spec: the basename; an exact name;
  else its versioned family (``python3.11`` → ``python``); else its name family (``mkfs.ext4`` →
  ``mkfs``). ``Registry.shadowed()`` lists every entry that one stage would hide from another;
  the tests require none.
* ``program_gate`` and ``check_spec`` apply one spec to one simple command; ``commands.dispatch``
  looks the program up, calls them or its handler, and checks a program that is not in the table
  with ``commands.unknown_program`` (its arguments as possible paths, and options such as
  ``-c``/``-e``/``--eval`` — code it would run — make the call ask).
* ``describe()`` is the table as rows, for ``docs/POLICY.md`` (``policy_doc.py``).
"""

from __future__ import annotations

import re
import threading
from typing import TYPE_CHECKING, Any, Iterable

from ...records import record
from .words import parse_opts

if TYPE_CHECKING:  # pragma: no cover
    from .shell import Analyzer
    from .words import Arg, Cmd, Opts

KINDS: dict[str, str] = {
    "builtin": "shell builtins and keywords without file operands",
    "info": "prints information about the system; no file operands",
    "metadata": "looks at names and attributes of files, not their content",
    "reader": "reads the files named as operands",
    "text": "text processors with their own programs (sed, awk)",
    "writer": "creates, changes or deletes files",
    "archive": "archives and compressors",
    "editor": "editors (their command options can run shell commands)",
    "wrapper": "runs another command, which is checked as a command of its own",
    "runs-command": "runs another command or code in a way this policy does not model: always asked",
    "shell": "POSIX shells: their scripts are parsed and checked",
    "foreign-shell": "shells whose language this policy cannot parse",
    "interpreter": "language interpreters: one-liners are checked, unknown code is asked",
    "database": "database clients: their SQL can run commands or write files",
    "network": "talks to other machines: denied when the network is not allowed",
    "credentials": "reads or stores credentials, or drives a cloud account",
    "vcs": "version control",
    "package": "package managers and build tools",
    "container": "containers",
    "process": "signals, priorities and tracing of processes",
    "scheduler": "schedules commands to run later",
    "system": "changes the machine's configuration",
    "disk": "disks and filesystems",
    "privilege": "changes user or privileges",
    "offensive": "scanning, sniffing and cracking tools",
    "tool": "developer tools (compilers, linters, test runners)",
}
OPERAND_ROLES: dict[str, str] = {
    "read": "files it reads (secret locations denied; a path computed at run time is asked)",
    "write": "files it writes (must stay inside the working directory)",
    "delete": "files it deletes (must stay inside the working directory)",
    "list": "files it only looks at (names, sizes, types)",
    "none": "not files (text, numbers, names)",
    "command": "a command it runs (checked as a command of its own)",
    "custom": "decided by the program's code",
}
LEVELS = ("deny", "ask", "risky")
NETWORK = ("", "client")


class TableError(ValueError):
    """The program table is inconsistent (a name registered twice, an unknown kind…)."""


@record(frozen=True, fast_init=True)
class Program:
    """One program's policy. See the module docstring for the meaning of each field."""

    names: tuple[str, ...]
    kind: str
    summary: str
    handler: str | None = None  # the name of its function in commands.py
    short_values: str = ""  # short options that take a value ("-n 5")
    long_values: frozenset[str] = frozenset()  # long options that take a value ("--lines 5")
    operands: str = "read"  # role of the operands: OPERAND_ROLES
    skip: int = 0  # leading operands that are not files (a pattern, a mode)
    subcommands: frozenset[str] = frozenset()  # a first operand that names a subcommand, not a file
    reads: frozenset[str] = frozenset()  # options whose value is a file read
    writes: frozenset[str] = frozenset()  # options whose value is a file written
    runs: frozenset[str] = frozenset()  # options that run code or a command: asked
    recursive: frozenset[str] = (
        frozenset()
    )  # options that make operand reads recursive ("*": always)
    follows: frozenset[str] = frozenset()  # options that make recursion follow symlinks
    network: str = ""  # "client": talks to other machines
    risk: tuple[str, str, str] | None = None  # (deny|ask|risky, rule, reason with {name})
    out: str = "other"  # what it prints into a pipe
    single_dash_long: bool = False  # "-name value" style long options

    @property
    def name(self) -> str:
        return self.names[0]


class Registry:
    """Name → Program. A name is registered once; ``lookup`` is the one way in."""

    def __init__(self) -> None:
        self._by_name: dict[str, Program | _Pending] = {}
        self._programs: list[Program | _Pending] = []
        self._pending = 0
        self.families: dict[str, str] = {}  # name prefix ("mkfs.") -> canonical name

    @property
    def programs(self) -> list[Program]:
        """Every entry, in table order (each one made and checked)."""
        if self._pending:
            for i, prog in enumerate(self._programs):
                if isinstance(prog, _Pending):
                    self._programs[i] = self._make(prog)
        return self._programs  # type: ignore[return-value]  # none is pending any more

    def add_pending(self, names: tuple[str, ...], fields: dict[str, Any]) -> None:
        """Register an entry's names now; make and check its Program on first use (the table's
        911 entries are registered at the first shell command of a process, which looks up one
        or two of them). A name registered twice raises TableError here, like ``add``."""
        if not names or any(not n or " " in n or "/" in n for n in names):
            raise TableError(f"bad program names {names!r}")
        by_name = self._by_name
        for n in names:
            if n in by_name:
                raise TableError(
                    f"{n!r} is registered twice ({by_name[n].names[0]} and {names[0]})"
                )
        pending = _Pending(names, fields, len(self._programs))
        for n in names:
            by_name[n] = pending
        self._programs.append(pending)
        self._pending += 1

    def _make(self, pending: _Pending) -> Program:
        """The Program of a pending entry, checked as ``add`` checks one (then registered)."""
        # The generated __init__ of a frozen dataclass sets all 19 fields with object.__setattr__;
        # a field left at its default reads the class attribute the dataclass defines, so storing
        # only the given ones makes an equal, equally frozen Program.
        prog = object.__new__(Program)
        prog.__dict__.update(pending.fields, names=pending.names)
        self._check(prog)
        for n in pending.names:
            self._by_name[n] = prog
        self._programs[pending.index] = prog
        self._pending -= 1
        return prog

    def add(self, prog: Program) -> Program:
        if not prog.names or any(not n or " " in n or "/" in n for n in prog.names):
            raise TableError(f"bad program names {prog.names!r}")
        self._check(prog)
        for n in prog.names:
            if n in self._by_name:
                raise TableError(
                    f"{n!r} is registered twice ({self._by_name[n].names[0]} and {prog.name})"
                )
        for n in prog.names:
            self._by_name[n] = prog
        self._programs.append(prog)
        return prog

    @staticmethod
    def _check(prog: Program) -> None:
        if prog.kind not in KINDS:
            raise TableError(f"{prog.name}: unknown kind {prog.kind!r}")
        if prog.operands not in OPERAND_ROLES:
            raise TableError(f"{prog.name}: unknown operand role {prog.operands!r}")
        if (prog.handler is None) == (prog.operands == "custom"):
            raise TableError(f"{prog.name}: a handler and operands='custom' go together")
        if prog.risk is not None and (prog.risk[0] not in LEVELS or len(prog.risk) != 3):
            raise TableError(f"{prog.name}: risk must be (deny|ask|risky, rule, reason)")
        if prog.network not in NETWORK:
            raise TableError(f"{prog.name}: network must be one of {NETWORK}")
        if not prog.summary:
            raise TableError(f"{prog.name}: a summary is required")

    def family(self, prefix: str, canonical: str) -> None:
        if prefix in self.families:
            raise TableError(f"the name family {prefix!r} is registered twice")
        if canonical not in self._by_name:
            raise TableError(
                f"the name family {prefix!r} points at the unknown program {canonical!r}"
            )
        self.families[prefix] = canonical

    def get(self, name: str) -> Program | None:
        prog = self._by_name.get(name)
        if isinstance(prog, _Pending):
            return self._make(prog)
        return prog

    def names(self) -> list[str]:
        return list(self._by_name)

    def canonical(self, word: str) -> str:
        """The family name of a command word; the lookup stages, in order (see the docstring)."""
        base = word.rsplit("/", 1)[-1]
        prog = self._by_name.get(base)
        if prog is not None:
            return prog.names[0]
        m = _VERSIONED.match(base)
        if m and m.group(1) in self._by_name:
            return self._by_name[m.group(1)].names[0]
        for prefix, canonical in self.families.items():
            if base.startswith(prefix) and len(base) > len(prefix):
                return self._by_name[canonical].names[0]
        return base

    def lookup(self, word: str) -> Program | None:
        return self.get(self.canonical(word))

    def shadowed(self) -> list[str]:
        """Entries another lookup stage would hide: each is a table mistake."""
        problems = []
        self.programs  # noqa: B018 - make every pending entry, so entries compare by identity
        for name, prog in self._by_name.items():
            m = _VERSIONED.match(name)
            if (
                m
                and m.group(1) != name
                and m.group(1) in self._by_name
                and self._by_name[m.group(1)] is not prog
            ):
                problems.append(
                    f"{name} ({prog.names[0]}) is also the versioned name of {self._by_name[m.group(1)].names[0]}"
                )
            for prefix, canonical in self.families.items():
                if (
                    name.startswith(prefix)
                    and len(name) > len(prefix)
                    and self._by_name[canonical] is not prog
                ):
                    problems.append(
                        f"{name} ({prog.names[0]}) is also in the name family {prefix}* of {canonical}"
                    )
        return problems


class _Pending:
    """An entry registered by name whose Program is made on first use."""

    __slots__ = ("names", "fields", "index")

    def __init__(self, names: tuple[str, ...], fields: dict[str, Any], index: int) -> None:
        self.names = names
        self.fields = fields
        self.index = index


# Versioned interpreter names: python3.11, pip-3, perl5.36, ruby3.2, node18, php8.2…
_VERSIONED = re.compile(
    r"^(python|pypy|pip|perl|ruby|node|php|lua|luajit|tclsh|wish|gem|irb|bundle|pydoc|idle|easy_install|cpan|"
    r"swipl|guile|julia|ipython|gcc|g\+\+|clang|clang\+\+|java|javac)(\d+(\.\d+)*[a-z]?)?(-\d+(\.\d+)*)?$"
)

_LOCK = threading.Lock()
_REGISTRY: Registry | None = None


def registry() -> Registry:
    """The table, built once."""
    global _REGISTRY
    if _REGISTRY is None:
        with _LOCK:
            if _REGISTRY is None:
                reg = Registry()
                _build(reg)
                _REGISTRY = reg
    return _REGISTRY


def lookup(word: str) -> Program | None:
    return registry().lookup(word)


def canonical(word: str) -> str:
    return registry().canonical(word)


def kind_of(word: str) -> str | None:
    prog = lookup(word)
    return prog.kind if prog is not None else None


def reads_no_content(word: str) -> bool:
    """The program does not read the content of its operands (``ls``, ``echo``, ``stat``…)."""
    prog = lookup(word)
    return prog is not None and (
        prog.kind in ("builtin", "info", "metadata") or prog.operands in ("none", "list")
    )


# --------------------------------------------------------------------------------------
# Applying a spec
# --------------------------------------------------------------------------------------
def _check_options(an: Analyzer, c: Cmd, prog: Program, o: Opts) -> tuple[bool, bool]:
    """Check the options of a table program (code it runs, files it reads or writes); returns
    whether its operands are read recursively and whether that follows symlinks."""
    recursive = "*" in prog.recursive
    follow = "*" in prog.follows
    for n, v in o.flags:
        if n in prog.runs:
            shown = f"{n} {v.show()}" if v is not None else n
            an.ask(
                "exec.runs_code",
                f"{c.word} {shown} runs code or a command this policy cannot check",
            )
        recursive = recursive or n in prog.recursive
        follow = follow or n in prog.follows
        if v is None or (v.static and v.text == "-"):
            continue
        if n in prog.writes:
            an.check_write(v, verb=f"{c.word} {n}", overwrite_risky=False, content=False)
        elif n in prog.reads:
            an.check_arg_read(v, c, path=True)
    return recursive, follow


def _check_operand(an: Analyzer, c: Cmd, role: str, a: Arg, recursive: bool, follow: bool) -> None:
    """One operand in its role (OPERAND_ROLES): read, written, deleted or listed."""
    if role == "read":
        an.check_arg_read(a, c, path=True)
        if recursive:
            an.check_recursive_read(a, follow=follow)
    elif role == "write":
        an.check_write(a, verb=c.word, overwrite_risky=False)
    elif role == "delete":
        an.check_delete(a, recursive=recursive)
    elif role == "list":
        an.check_listed(a)


def _stdin_outside(an: Analyzer, c: Cmd) -> bool:
    """The command reads a file outside the working directory on its stdin."""
    return bool(
        c.stdin
        and c.stdin[0] == "file"
        and not an.ctx.inside_root(c.stdin[1])
        and c.stdin[1] not in ("/dev/null", "/dev/stdin", "/dev/zero", "/dev/urandom")
    )


def program_gate(an: Analyzer, c: Cmd, prog: Program) -> bool:
    """The table's fixed risk and network fields; True when they decide the command (denied)."""
    if prog.risk is not None:
        level, rule, reason = prog.risk
        an.finding(level, rule, reason.format(name=c.word))
        if level == "deny":
            return True
    if prog.network == "client" and prog.handler is None and not an.allow_network:
        an.deny(
            "network.disabled",
            f"{c.word} talks to other machines, and network access is not allowed "
            "(execution.allow_network)",
        )
        return True
    return False


def check_spec(an: Analyzer, c: Cmd, prog: Program) -> list[Arg] | None:
    """Apply the fields of a program without a handler to one simple command (options, operands,
    what it prints). For ``operands="command"`` it returns the operands, the command the program
    runs, for the caller to check (``commands.wrapped``); else None."""
    o = parse_opts(
        c.args,
        short_val=prog.short_values,
        long_val=prog.long_values,
        long_single_dash=prog.single_dash_long,
    )
    recursive, follow = _check_options(an, c, prog, o)
    ops = o.operands
    if ops and prog.subcommands and ops[0].static and ops[0].text in prog.subcommands:
        ops = ops[1:]
    ops = ops[prog.skip :]
    if prog.operands == "command":
        return ops
    for a in ops:
        if not (a.static and a.text == "-"):
            _check_operand(an, c, prog.operands, a, recursive, follow)
    if prog.operands == "read" and _stdin_outside(an, c):
        c.read_outside = True
    c.out = {"sensitive"} if c.read_outside else {prog.out}
    return None


def describe() -> list[dict[str, str]]:
    """The table as rows (for docs/POLICY.md), in table order."""
    rows = []
    for prog in registry().programs:
        opts = []
        if prog.short_values:
            opts.append(" ".join(f"-{ch}" for ch in prog.short_values))
        if prog.long_values:
            opts.append(" ".join(sorted(prog.long_values)))
        rows.append(
            {
                "names": ", ".join(prog.names),
                "kind": prog.kind,
                "summary": prog.summary,
                "operands": prog.operands
                if prog.handler is None
                else "code: " + prog.handler.strip("_"),
                "value_options": " ".join(opts),
                "reads": " ".join(sorted(prog.reads)),
                "writes": " ".join(sorted(prog.writes)),
                "runs": " ".join(sorted(prog.runs)),
                "network": prog.network,
                "risk": f"{prog.risk[0]} ({prog.risk[1]})" if prog.risk else "",
            }
        )
    return rows


# --------------------------------------------------------------------------------------
# The table
# --------------------------------------------------------------------------------------
_FIELDS = frozenset(Program.__dataclass_fields__)


def _fs(items: Iterable[str] | str) -> frozenset[str]:
    return frozenset(items.split()) if isinstance(items, str) else frozenset(items)


def _build(reg: Registry) -> None:
    def P(names: str, kind: str, summary: str, **kw: Any) -> None:
        for key in (
            "long_values",
            "subcommands",
            "reads",
            "writes",
            "runs",
            "recursive",
            "follows",
        ):
            if key in kw and not isinstance(kw[key], frozenset):
                kw[key] = _fs(kw[key])
        if "handler" in kw:
            kw.setdefault("operands", "custom")
        if not kw.keys() <= _FIELDS:
            raise TableError(f"{names}: unknown fields {sorted(kw.keys() - _FIELDS)}")
        kw["kind"] = kind
        kw["summary"] = summary
        reg.add_pending(tuple(names.split()), kw)

    def each(names: str, kind: str, summary: str, **kw: Any) -> None:
        for n in names.split():
            P(n, kind, summary, **kw)

    def deny(rule: str, reason: str) -> tuple[str, str, str]:
        return ("deny", rule, reason)

    def risky(rule: str, reason: str) -> tuple[str, str, str]:
        return ("risky", rule, reason)

    # ---- shell builtins and information -----------------------------------------------------
    each(
        ": true false exit return shift wait jobs fg bg disown break continue let times suspend logout "
        "caller dirs umask ulimit bind complete compopt help",
        "builtin",
        "a shell builtin",
        operands="none",
    )
    P(
        "echo",
        "builtin",
        "prints its arguments (a secret from the environment is denied)",
        handler="trivial",
    )
    P("printf", "builtin", "prints its arguments (-v sets a variable)", handler="trivial")
    each("yes sleep", "builtin", "prints or waits", operands="none")
    P("read", "builtin", "reads a line into variables", handler="read")
    P("mapfile readarray", "builtin", "reads lines into an array", handler="read")
    P("getopts", "builtin", "parses options into a variable", handler="read")
    P(
        "set",
        "builtin",
        "sets shell options; without arguments it dumps every variable (denied)",
        handler="set_",
    )
    P(
        "shopt",
        "builtin",
        "sets shell options; cdable_vars makes cd targets unknowable (asked)",
        handler="shopt",
    )
    P(
        "compgen",
        "builtin",
        "lists completions (names only)",
        operands="none",
        short_values="AGWXFCPS",
    )
    P(
        "printenv",
        "builtin",
        "prints environment variables: all of them (denied) or named ones",
        handler="printenv",
    )
    P(
        "history",
        "builtin",
        "shell history (holds typed secrets); -w/-a write a file",
        handler="history",
    )
    P(
        "popd",
        "builtin",
        "leaves a directory: the current directory becomes unknown",
        handler="popd",
    )
    each(
        "cd pushd chdir",
        "builtin",
        "changes the current directory (a computed one makes later paths unknown)",
        handler="cd",
    )
    P(
        "env",
        "wrapper",
        "runs a command with a changed environment; alone it dumps the environment (denied)",
        handler="env",
    )
    each(
        "export local readonly",
        "builtin",
        "sets variables; alone or with -p it dumps the environment (denied); -n (nameref) is asked",
        handler="export",
    )
    P(
        "declare typeset",
        "builtin",
        "sets variables; alone or with -p it dumps the environment (denied); -n (nameref) is asked",
        handler="export",
    )
    P("unset", "builtin", "removes variables", handler="unset")
    P("alias", "builtin", "defines aliases (their text is checked as a command)", handler="alias")
    P("trap", "builtin", "runs a command on a signal (checked as a command)", handler="trap")
    P(
        "eval",
        "builtin",
        "runs its arguments as a command (checked; computed text is denied)",
        handler="eval_",
    )
    P(
        "source .",
        "builtin",
        "runs a script in this shell (the script is read and checked)",
        handler="source",
    )
    P("exec", "builtin", "replaces the shell with a command (checked)", handler="exec_")
    each(
        "command builtin",
        "builtin",
        "runs a command bypassing functions (checked)",
        handler="command",
    )
    P(
        "hash",
        "builtin",
        "remembers program locations; -p maps a name to another program (denied)",
        handler="hash_",
    )
    P(
        "enable",
        "builtin",
        "turns builtins on or off; -f loads a shared library (denied)",
        handler="enable",
    )
    each("type which whereis whatis apropos info", "info", "describes commands", operands="none")
    each("date", "info", "prints the date; -s sets the clock (denied)", handler="date")
    P(
        "hostname",
        "info",
        "prints the host name; with a name it sets it (denied)",
        handler="hostname",
    )
    each(
        "id whoami uname pwd tty logname groups users uptime free nproc arch getconf locale cal basename "
        "dirname seq expr tput clear reset tabs stty notify-send say espeak logger wall mesg write lsb_release "
        "lscpu lsblk lsusb lspci lsmod df ps top htop btop vmstat iostat mpstat sar w last who dmesg "
        "ss netstat lsof pstree nvidia-smi bc dc factor numfmt sensors",
        "info",
        "prints information; its operands are not files",
        operands="none",
    )
    each(
        "pgrep pidof",
        "process",
        "looks processes up (a later kill of system processes is denied)",
        handler="pgrep",
    )

    # ---- metadata: names and attributes -------------------------------------------------------
    P(
        "ls dir vdir",
        "metadata",
        "lists folders (a listing of the working directory feeds later commands)",
        handler="ls",
    )
    each("tree lsd", "metadata", "lists folders", handler="ls")
    P("eza exa", "metadata", "lists folders", handler="ls")
    P("find gfind", "metadata", "walks folders; -exec/-delete/-fprint are checked", handler="find")
    P("fd fdfind", "metadata", "finds files; -x/-X commands are checked", handler="fd")
    each("test [ [[", "builtin", "tests conditions (existence tests only)", operands="none")
    each(
        "stat file realpath readlink namei lsattr getfacl mountpoint",
        "metadata",
        "looks at files without reading them",
        operands="list",
        short_values="cmfFe",
        long_values="--format --printf --relative-to --relative-base --magic-file --files-from",
    )
    P(
        "du",
        "metadata",
        "sizes of files and folders",
        operands="list",
        short_values="dBtX",
        long_values="--max-depth --block-size --threshold --exclude --exclude-from --files0-from --time-style",
    )
    each(
        "locate mlocate plocate",
        "metadata",
        "searches the file-name database",
        operands="none",
        short_values="dlnr",
        long_values="--database --limit --regex",
    )

    # ---- readers ------------------------------------------------------------------------------
    P("cat", "reader", "prints files")
    P("tac", "reader", "prints files backwards", short_values="s", long_values="--separator")
    P("nl", "reader", "numbers lines", short_values="bdfhilnsvw")
    P("head", "reader", "prints the first lines", short_values="nc", long_values="--lines --bytes")
    P(
        "tail",
        "reader",
        "prints the last lines",
        short_values="ncs",
        long_values="--lines --bytes --sleep-interval --pid --max-unchanged-stats",
    )
    each(
        "less more most zless zmore pg",
        "reader",
        "pagers: +!cmd runs a shell command (denied)",
        handler="pager",
    )
    P("man", "reader", "manual pages: -P/-H run a program (denied)", handler="pager")
    P(
        "bat batcat",
        "reader",
        "prints files with colours; --pager runs a command (asked)",
        short_values="lmHrp",
        long_values="--language --map-syntax --highlight-line --line-range --theme --style --pager --tabs "
        "--wrap --terminal-width --file-name --diff-context --color --italic-text --decorations",
        runs="--pager",
    )
    P(
        "cut",
        "reader",
        "cuts columns",
        short_values="bcdf",
        long_values="--bytes --characters --delimiter --fields --output-delimiter",
    )
    P("paste", "reader", "merges lines", short_values="d", long_values="--delimiters")
    P("join", "reader", "joins files on a field", short_values="aejotv12")
    P("comm", "reader", "compares sorted files", long_values="--output-delimiter")
    P("fold", "reader", "wraps lines", short_values="w", long_values="--width")
    P(
        "fmt",
        "reader",
        "formats paragraphs",
        short_values="wpg",
        long_values="--width --prefix --goal",
    )
    P(
        "pr",
        "reader",
        "paginates",
        short_values="hlwWoN",
        long_values="--header --length --width --page-width",
    )
    P("rev", "reader", "reverses lines")
    P("expand", "reader", "tabs to spaces", short_values="t", long_values="--tabs")
    P("unexpand", "reader", "spaces to tabs", short_values="t", long_values="--tabs")
    P(
        "column",
        "reader",
        "formats columns",
        short_values="scoNRHWEdl",
        long_values="--separator --output-separator --table-columns --table-name --output-width",
    )
    P(
        "iconv",
        "reader",
        "converts encodings; -o writes",
        short_values="fto",
        long_values="--from-code --to-code --output",
        writes="-o --output",
    )
    each(
        "md5sum sha1sum sha224sum sha256sum sha384sum sha512sum b2sum cksum sum",
        "reader",
        "checksums files",
    )
    P(
        "cmp",
        "reader",
        "compares files byte by byte",
        short_values="in",
        long_values="--ignore-initial --bytes",
    )
    P("diff colordiff", "reader", "compares files (-r reads folders recursively)", handler="diff")
    P("diff3", "reader", "compares three files", short_values="L", long_values="--label")
    P(
        "sdiff",
        "reader",
        "side-by-side diff; -o writes",
        short_values="ow",
        long_values="--output --width",
        writes="-o --output",
    )
    P("jq gojq", "reader", "JSON processor (--slurpfile/--rawfile/-f read files)", handler="jq")
    P(
        "yq",
        "reader",
        "YAML processor (its expression is checked like a path: harmless)",
        subcommands="eval e eval-all ea",
        short_values="oIp",
        long_values="--output-format --indent --input-format",
    )
    P("jless", "reader", "JSON viewer")
    P(
        "xmllint",
        "reader",
        "XML checker; --output writes",
        long_values="--output --xpath --schema --relaxng "
        "--dtdvalid --path --encode --maxmem --pattern --stream",
        writes="--output",
        reads="--schema --relaxng --dtdvalid",
    )
    each(
        "csvlook csvcut csvstat csvgrep csvjson csvsort csvformat in2csv",
        "reader",
        "csvkit tools",
        short_values="dqecpzCSyKHnm",
        long_values="--delimiter --quotechar --encoding --columns --escapechar",
    )
    P("mlr", "reader", "Miller: its DSL has system() and exec() (asked)", handler="mlr")
    P("look", "reader", "finds lines starting with a string", skip=1, short_values="t")
    P(
        "shuf",
        "reader",
        "shuffles lines; -o writes",
        short_values="ino",
        long_values="--input-range --head-count --output --random-source",
        writes="-o --output",
        reads="--random-source",
    )
    P("tr", "reader", "translates characters (its operands are character sets)", operands="none")
    P("wc", "reader", "counts lines, words and bytes", long_values="--files0-from")
    each(
        "base64 base32 basenc",
        "reader",
        "encodes or decodes files",
        short_values="w",
        long_values="--wrap",
    )
    P(
        "od",
        "reader",
        "dumps files in octal and other formats",
        short_values="AjNSstw",
        long_values="--address-radix --skip-bytes --read-bytes --strings --format --width --endian",
    )
    P(
        "hexdump hd",
        "reader",
        "dumps files in hex",
        short_values="nsef",
        long_values="--length --skip --format",
    )
    P(
        "strings",
        "reader",
        "prints text found in files",
        short_values="nte",
        long_values="--bytes --radix --encoding --output-separator",
    )
    P("xxd", "reader", "hex dump; a second operand is written", handler="xxd")
    P(
        "grep egrep fgrep rgrep zgrep ggrep",
        "reader",
        "searches files (-r/-R recursive; -R follows links out of the folder)",
        handler="grep",
    )
    P("rg", "reader", "ripgrep: recursive search; --pre runs a command (checked)", handler="grep")
    each("ag ack", "reader", "recursive search", handler="grep")
    P(
        "sort",
        "reader",
        "sorts lines; -o writes; --compress-program runs a program (denied)",
        handler="sort",
    )
    P("uniq", "reader", "filters repeated lines; a second operand is written", handler="uniq")
    each(
        "split csplit",
        "writer",
        "splits a file into pieces (written in the working directory)",
        handler="split",
    )

    # ---- text processors ---------------------------------------------------------------------
    P(
        "sed gsed",
        "text",
        "stream editor: its script is parsed (e, w and r commands checked); -i writes",
        handler="sed",
    )
    P(
        "awk gawk mawk nawk busybox-awk",
        "text",
        "awk: its program is parsed (system(), pipes and redirections checked)",
        handler="awk",
    )
    P("patch", "writer", "applies a patch (the files it names are checked)", handler="patch")

    # ---- writers --------------------------------------------------------------------------------
    each("rm unlink", "writer", "deletes files (inside the working directory only)", handler="rm")
    P("rmdir", "writer", "deletes empty folders", handler="rm")
    each("srm wipe", "writer", "securely deletes files", handler="rm")
    P("trash trash-put", "writer", "moves files to the trash", handler="rm")
    P("gio", "writer", "GNOME file operations (trash/remove checked like rm)", handler="rm")
    each("rimraf del", "writer", "recursive delete (node tools)", handler="rm")
    P("shred", "writer", "overwrites and deletes files", handler="shred")
    P("cp", "writer", "copies files (sources read, destination written)", handler="cp")
    P("install ginstall", "writer", "copies files and sets modes (setuid denied)", handler="cp")
    P("mv", "writer", "moves files (source deleted, destination written)", handler="mv")
    P("ln", "writer", "creates links (to secrets or persistence denied)", handler="ln")
    P("tee", "writer", "copies its input into files", handler="tee")
    P("touch", "writer", "creates files or changes their times", handler="touch")
    P("mkdir", "writer", "creates folders", handler="touch")
    P("mkfifo", "writer", "creates named pipes", handler="touch")
    P("truncate", "writer", "changes file sizes", handler="touch")
    P("fallocate", "writer", "allocates file space", handler="touch")
    P("sponge", "writer", "soaks up its input and writes a file", handler="touch")
    P("mktemp", "writer", "creates a temporary file or folder", handler="touch")
    P("mknod", "writer", "creates special files (device nodes denied)", handler="mknod")
    P("dd", "writer", "copies blocks (of= raw devices denied; if= read)", handler="dd")
    P("chmod", "writer", "changes file modes (setuid denied)", handler="chmod")
    each("chown chgrp", "writer", "changes file owners", handler="chmod")
    P("chattr", "writer", "changes file attributes", handler="chmod")
    each(
        "setfacl setfattr chcon",
        "writer",
        "changes ACLs, extended attributes or SELinux labels",
        handler="chmod",
    )

    # ---- archives ------------------------------------------------------------------------------
    P(
        "tar gtar bsdtar",
        "archive",
        "archives (-x writes, -c reads recursively; command options denied)",
        handler="tar",
    )
    P("zip", "archive", "creates zip archives (-TT runs a command: denied)", handler="zip_")
    P("7z 7za 7zr", "archive", "7-zip archives", handler="zip_")
    P("rar", "archive", "rar archives", handler="zip_")
    P("jar", "archive", "java archives", handler="zip_")
    each("unzip unrar", "archive", "extracts archives (-d checked)", handler="compressors")
    each(
        "gzip gunzip bzip2 bunzip2 xz unxz zstd unzstd lz4 lzma unlzma compress uncompress pigz unpigz brotli",
        "archive",
        "compresses or decompresses files in place (-c prints)",
        handler="compressors",
    )
    each("zcat bzcat xzcat zstdcat", "archive", "prints compressed files", handler="compressors")

    # ---- editors ---------------------------------------------------------------------------------
    P(
        "vim vi view",
        "editor",
        "vim: -c/+ commands running a shell are denied; files written",
        handler="editor",
    )
    each(
        "nvim nano emacs ed ex pico joe micro kak helix hx code subl gedit kate mcedit jed ne",
        "editor",
        "an editor: command options running a shell are denied; files written",
        handler="editor",
    )

    # ---- wrappers (the wrapped command is checked) --------------------------------------------
    P(
        "nice",
        "wrapper",
        "runs a command with another priority",
        handler="wrapper",
        short_values="n",
        long_values="--adjustment",
    )
    P(
        "ionice",
        "wrapper",
        "runs a command with another I/O priority (-p on a process: denied)",
        handler="wrapper",
        short_values="cnpPtu",
        long_values="--class --classdata --pid --pgid --uid",
    )
    P(
        "timeout",
        "wrapper",
        "runs a command with a time limit",
        handler="wrapper",
        short_values="sk",
        long_values="--signal --kill-after",
    )
    P(
        "stdbuf",
        "wrapper",
        "runs a command with other buffering",
        handler="wrapper",
        short_values="ioe",
        long_values="--input --output --error",
    )
    each(
        "setsid chronic catchsegv nocache eatmydata with-contenv tini dumb-init ddtrace-run",
        "wrapper",
        "runs a command",
        handler="wrapper",
    )
    P("unbuffer", "wrapper", "runs a command unbuffered", handler="wrapper", short_values="p")
    P(
        "caffeinate",
        "wrapper",
        "runs a command keeping the machine awake",
        handler="wrapper",
        short_values="t",
    )
    P(
        "xvfb-run",
        "wrapper",
        "runs a command with a virtual display",
        handler="wrapper",
        short_values="nsfe",
        long_values="--server-num --server-args --auth-file --error-file",
    )
    P(
        "dbus-run-session",
        "wrapper",
        "runs a command in a new D-Bus session",
        handler="wrapper",
        long_values="--config-file --dbus-daemon",
    )
    P(
        "numactl",
        "wrapper",
        "runs a command with a NUMA policy",
        handler="wrapper",
        short_values="CNmpil",
        long_values="--cpunodebind --membind --physcpubind --preferred --interleave --localalloc",
    )
    P(
        "prlimit",
        "wrapper",
        "runs a command with limits (--pid on a process: denied)",
        handler="wrapper",
        short_values="p",
        long_values="--pid",
    )
    P(
        "fakeroot",
        "wrapper",
        "runs a command with fake root file ownership",
        handler="wrapper",
        short_values="sil",
    )
    P(
        "strace",
        "wrapper",
        "traces a command it starts (-p on another process: denied)",
        handler="wrapper",
        short_values="eoOpPsSuXbIE",
        long_values="--output --attach",
        writes="-o --output",
    )
    P(
        "ltrace",
        "wrapper",
        "traces library calls of a command it starts (-p: denied)",
        handler="wrapper",
        short_values="eoOpsSuLnAaDF",
        long_values="--output",
        writes="-o --output",
    )
    P("valgrind", "wrapper", "runs a command under valgrind", handler="wrapper")
    P(
        "chrt",
        "wrapper",
        "runs a command with a real-time priority (-p on a process: denied)",
        handler="wrapper",
    )
    P(
        "taskset",
        "wrapper",
        "runs a command on chosen CPUs (-p on a process: denied)",
        handler="wrapper",
    )
    P(
        "cpulimit",
        "wrapper",
        "limits a command's CPU use (-p on a process: denied)",
        handler="wrapper",
        short_values="lpe",
        long_values="--limit --pid --exe",
    )
    P(
        "trickle",
        "wrapper",
        "runs a command with limited bandwidth",
        handler="wrapper",
        short_values="udwtl",
    )
    P(
        "faketime",
        "wrapper",
        "runs a command with a fake clock",
        handler="wrapper",
        short_values="f",
    )
    P("firejail", "wrapper", "runs a command in a firejail sandbox", handler="wrapper")
    P(
        "script",
        "wrapper",
        "records a session (-c command checked; the log is written)",
        handler="wrapper",
        short_values="cEeFfloOTt",
    )
    P("entr", "wrapper", "runs a command when files change", handler="wrapper")
    P(
        "perf",
        "wrapper",
        "profiles a command (-p/-a on other processes: denied)",
        handler="wrapper",
        short_values="eopC",
        long_values="--event --output --pid --cpu",
    )
    P(
        "dotenv",
        "wrapper",
        "runs a command with variables from a .env file",
        handler="wrapper",
        short_values="fec",
    )
    P("time", "wrapper", "times a command", handler="time_")
    P("nohup", "wrapper", "runs a command immune to hangups", handler="nohup")
    P("flock", "wrapper", "runs a command holding a lock", handler="flock")
    P("watch", "wrapper", "runs a command repeatedly (checked as a command)", handler="watch")
    P(
        "parallel sem",
        "wrapper",
        "runs commands in parallel (checked; --sshlogin denied)",
        handler="parallel",
    )
    P("xargs", "wrapper", "runs a command on its input lines (checked)", handler="xargs")
    P("busybox toybox", "wrapper", "multi-call binaries: the applet is checked", handler="busybox")
    each(
        "tmux byobu",
        "wrapper",
        "terminal multiplexer: commands it starts are checked",
        handler="tmux",
    )
    P("screen", "wrapper", "terminal multiplexer: commands it starts are checked", handler="tmux")
    P(
        "proxychains proxychains4",
        "network",
        "routes a command over a proxy",
        handler="net_wrapper",
        network="client",
    )
    P(
        "torsocks torify",
        "network",
        "routes a command over Tor",
        handler="net_wrapper",
        network="client",
    )
    each(
        "pyenv rbenv nodenv asdf",
        "wrapper",
        "version manager (exec runs a command, checked)",
        handler="version_manager",
    )
    P(
        "mise rtx",
        "wrapper",
        "version manager (exec/x runs a command, checked)",
        handler="version_manager",
    )
    P(
        "direnv",
        "wrapper",
        "loads .envrc files (exec runs a command, checked; allow is asked)",
        handler="version_manager",
    )

    # ---- programs that run commands in ways not modelled --------------------------------------
    P(
        "ssh-agent",
        "runs-command",
        "starts an agent; with a command, runs it with the agent's keys (asked)",
        handler="runs_command",
    )
    P(
        "dbus-launch",
        "runs-command",
        "starts a D-Bus session bus (its command is asked)",
        handler="runs_command",
    )
    P("rlwrap", "runs-command", "runs a command with readline (asked)", handler="runs_command")
    P(
        "gdb gdb-multiarch",
        "runs-command",
        "debugger: runs programs and shell commands (asked); -p attaches to "
        "another process (denied)",
        handler="runs_command",
    )
    P("lldb", "runs-command", "debugger (asked; -p/--attach-pid denied)", handler="runs_command")
    P("expect", "runs-command", "Tcl automation: spawns programs (asked)", handler="runs_command")
    P("rr", "runs-command", "record-and-replay debugger (asked)", handler="runs_command")
    P("run-parts", "runs-command", "runs every script in a folder (asked)", handler="runs_command")
    P("hyperfine", "runs-command", "benchmarks shell commands (asked)", handler="runs_command")
    P("nodemon", "runs-command", "reruns a program on changes (asked)", handler="runs_command")
    P("watchexec", "runs-command", "reruns a command on changes (asked)", handler="runs_command")
    P("cgexec", "runs-command", "runs a command in a control group (asked)", handler="runs_command")
    P(
        "flatpak-spawn",
        "runs-command",
        "runs a command outside the flatpak sandbox (denied with --host)",
        handler="runs_command",
    )
    each(
        "distrobox-enter toolbox",
        "runs-command",
        "runs a command in another container (asked)",
        handler="runs_command",
    )

    # ---- shells and interpreters -----------------------------------------------------------------
    each(
        "bash sh dash zsh ksh mksh ash rbash yash posh lksh oksh pdksh",
        "shell",
        "a shell: -c strings, script files and here-documents are parsed and checked; piped input is asked",
        handler="shell",
    )
    each(
        "fish csh tcsh pwsh powershell xonsh nu elvish rc es scsh",
        "foreign-shell",
        "a shell whose language cannot be parsed here: its scripts are denied",
        handler="shell",
    )
    each(
        "python ipython",
        "interpreter",
        "Python: -c and here-documents are parsed (ast); -m modules are known; "
        "scripts in the working directory run",
        handler="interpreter",
    )
    P("pypy", "interpreter", "PyPy (as python)", handler="interpreter")
    P(
        "perl",
        "interpreter",
        "Perl: -e code is scanned for commands, sockets and writes",
        handler="interpreter",
    )
    P("ruby", "interpreter", "Ruby: -e code is scanned", handler="interpreter")
    P("irb", "interpreter", "interactive Ruby", handler="interpreter")
    P("node nodejs", "interpreter", "Node.js: -e/-p code is scanned", handler="interpreter")
    P("deno", "interpreter", "Deno: eval is scanned; remote scripts denied", handler="interpreter")
    P("bun", "interpreter", "Bun: scripts; install/x are risky", handler="interpreter")
    P("php", "interpreter", "PHP: -r code is scanned", handler="interpreter")
    each("lua luajit", "interpreter", "Lua: -e code is scanned", handler="interpreter")
    each("Rscript R", "interpreter", "R: -e code is scanned", handler="interpreter")
    P("julia", "interpreter", "Julia: -e code is scanned", handler="interpreter")
    each("tclsh wish", "interpreter", "Tcl: code is scanned", handler="interpreter")
    P(
        "osascript",
        "interpreter",
        "AppleScript: automates other applications (denied)",
        handler="interpreter",
    )
    each(
        "groovy jshell ghci runghc scala kotlin guile racket sbcl clisp",
        "interpreter",
        "an interpreter without a checker here: inline code is asked",
        handler="interpreter",
    )

    # ---- databases ------------------------------------------------------------------------------
    P(
        "sqlite3 sqlite",
        "database",
        "SQLite: .shell/.system/writefile()/load_extension run commands or write "
        "files (asked); SQL read from a pipe is asked; the database file is checked",
        handler="db_client",
    )
    P(
        "psql",
        "database",
        "PostgreSQL client: \\! and COPY … PROGRAM run commands (asked)",
        handler="db_client",
    )
    P(
        "mysql mariadb",
        "database",
        "MySQL client: system/\\! run commands (asked)",
        handler="db_client",
    )
    P("redis-cli", "database", "Redis client", handler="db_client")

    # ---- network ----------------------------------------------------------------------------------
    P(
        "curl curlie",
        "network",
        "HTTP client: denied without network access except to this machine; uploads "
        "of secrets or outside files denied",
        handler="curl",
        network="client",
    )
    P(
        "wget wget2",
        "network",
        "HTTP downloader: denied without network access except to this machine",
        handler="wget",
        network="client",
    )
    each(
        "http https httpie xh xhs aria2c axel fetch lwp-download lwp-request GET POST HEAD lynx links w3m "
        "elinks",
        "network",
        "downloads or browses: denied without network access",
        handler="downloader",
        network="client",
    )
    P(
        "nc ncat netcat nc.openbsd nc.traditional",
        "network",
        "netcat: denied without network access (except to "
        "this machine); -e/-c hands a shell to a peer (denied)",
        handler="raw_network",
        network="client",
    )
    each(
        "socat telnet cryptcat pwncat nping hping3 ftp tftp lftp sftp smbclient rsh rlogin rcp sshpass "
        "tnftp ncftp ncftpput ncftpget websocat wscat tor",
        "network",
        "opens raw network connections: denied without network access; handing a shell to a peer is denied",
        handler="raw_network",
        network="client",
    )
    each(
        "mail mailx sendmail mutt msmtp swaks",
        "network",
        "sends mail (files from outside denied)",
        handler="raw_network",
        network="client",
    )
    P(
        "ssh-copy-id",
        "network",
        "installs a key for remote login (denied)",
        handler="raw_network",
        network="client",
    )
    each(
        "ngrok cloudflared frpc bore localtunnel lt sshuttle",
        "network",
        "exposes this machine to the internet (denied)",
        handler="raw_network",
        network="client",
    )
    each(
        "ssh autossh",
        "network",
        "remote shell: denied without network access; tunnels and local commands denied",
        handler="ssh",
        network="client",
    )
    P("mosh", "network", "remote shell (as ssh)", handler="ssh", network="client")
    P(
        "scp",
        "network",
        "copies over ssh (local files to a remote: denied)",
        handler="remote_copy",
        network="client",
    )
    P(
        "rsync",
        "network",
        "copies files, locally or over ssh (local files to a remote: denied)",
        handler="remote_copy",
    )
    each(
        "rclone gsutil s3cmd",
        "network",
        "cloud storage copy (local files to remote storage: denied)",
        handler="remote_copy",
    )
    P(
        "openssl",
        "network",
        "crypto toolkit: s_client/s_server need the network; -in/-out checked",
        handler="openssl",
    )
    P(
        "ssh-keygen",
        "credentials",
        "creates or inspects keys (writing into ~/.ssh denied)",
        handler="ssh_keygen",
    )
    P(
        "ssh-keyscan",
        "network",
        "collects host keys (denied without network access)",
        operands="none",
        network="client",
        risk=risky("network.raw_socket", "{name} connects to other machines"),
    )
    each(
        "dig nslookup host drill ping ping6 traceroute tracepath mtr whois arping delv kdig",
        "network",
        "network lookups: denied without network access; command output or secrets in a lookup denied",
        handler="lookup_tools",
        network="client",
    )
    each(
        "xdg-open open sensible-browser x-www-browser",
        "network",
        "opens a file or URL in the desktop's program",
        handler="browser",
    )
    each(
        "firefox chromium google-chrome chromium-browser links2",
        "network",
        "a web browser",
        handler="browser",
    )

    # ---- credentials and cloud ---------------------------------------------------------------------
    each(
        "ssh-add gpg gpg2 pass secret-tool security keyring gopass age vault bw lpass sops npm-token "
        "docker-credential-desktop git-credential pinentry",
        "credentials",
        "reads or stores credentials (secret operations denied)",
        handler="credentials",
    )
    each(
        "gh aws gcloud az kubectl heroku doctl oc helm terraform pulumi flyctl netlify vercel wrangler firebase "
        "eksctl ibmcloud databricks huggingface-cli hf",
        "credentials",
        "cloud command line (token and secret operations denied; changes risky)",
        handler="credentials",
    )
    each(
        "op doppler aws-vault",
        "credentials",
        "injects secrets into a command (denied)",
        risk=deny("secrets.read", "{name} injects secrets into a command"),
        operands="none",
    )

    # ---- version control ----------------------------------------------------------------------------
    P(
        "git",
        "vcs",
        "git: global options, subcommands, config keys that run commands, pushes, pagers and "
        "external diff drivers are checked",
        handler="git",
    )

    # ---- packages and builds ---------------------------------------------------------------------
    each(
        "pip pipx easy_install poetry pipenv conda mamba micromamba pdm hatch rye pixi",
        "package",
        "Python packages: installs risky, --user and global config denied; run/exec checked",
        handler="pip",
    )
    P("uv uvx", "package", "uv: pip/run/tool checked like pip", handler="pip")
    each(
        "npm corepack",
        "package",
        "npm: installs risky, global installs and registry credentials denied",
        handler="npm",
    )
    P("yarn yarnpkg", "package", "yarn (as npm)", handler="npm")
    P("pnpm", "package", "pnpm (as npm)", handler="npm")
    each(
        "npx bunx pnpx",
        "package",
        "runs a package's program (risky; the command is checked when known)",
        handler="npm",
    )
    each(
        "cargo go gem composer mvn gradle gradlew dotnet nuget swift stack cabal opam mix rebar3 lein sbt dune "
        "nimble zig brew nix-env nix guix spack vcpkg conan",
        "package",
        "language toolchains and package managers: installs risky, output folders checked",
        handler="build_tools",
    )
    P(
        "bundle bundler",
        "package",
        "Ruby bundler: exec runs a command (checked)",
        handler="build_tools",
    )
    P(
        "nix-shell",
        "package",
        "Nix shells: --run/--command are checked as commands",
        handler="build_tools",
    )
    P(
        "make gmake",
        "package",
        "make: --eval and makefiles from stdin are asked; -C/-f checked",
        handler="make",
    )
    each(
        "ninja cmake meson bazel bazelisk buck just task scons rake invoke tox nox",
        "package",
        "build tools: folders outside the working directory denied",
        handler="make",
    )
    each(
        "docker podman nerdctl docker-compose",
        "container",
        "containers: host mounts outside the working directory, --privileged and host namespaces denied",
        handler="docker",
    )
    each(
        "apt apt-get aptitude dpkg dnf yum rpm apk pacman zypper snap flatpak emerge port pkg xbps-install "
        "eopkg dpkg-deb alien",
        "package",
        "system packages: queries allowed, changes denied",
        handler="system_packages",
    )

    # ---- developer tools ---------------------------------------------------------------------------
    P(
        "pytest py.test",
        "tool",
        "runs the project's tests",
        short_values="kmcpon",
        long_values="--rootdir --basetemp --junitxml --junit-xml --log-file --confcutdir --cov --cov-report "
        "--maxfail --durations --tb --deselect --ignore --import-mode --override-ini --html",
        writes="--basetemp --junitxml --junit-xml --log-file --html",
        reads="-c",
    )
    P(
        "mypy",
        "tool",
        "type checker (-c is text it checks, not runs)",
        short_values="cmp",
        long_values="--config-file --python-version --cache-dir --exclude --junit-xml",
        writes="--junit-xml --cache-dir",
        reads="--config-file",
    )
    P(
        "ruff",
        "tool",
        "linter and formatter",
        subcommands="check format rule config linter clean version server",
        long_values="--config --select --ignore --extend-select --output-format --target-version --line-length "
        "--exclude --cache-dir --output-file",
        writes="--output-file",
    )
    each(
        "black isort autopep8 yapf",
        "tool",
        "code formatter: rewrites the files it is given",
        operands="write",
        long_values="--config --line-length --target-version --exclude --include --settings-path --profile",
    )
    each(
        "flake8 pylint pycodestyle pyflakes bandit vulture pyright",
        "tool",
        "Python linter",
        long_values="--config --rcfile --max-line-length --exclude --select --ignore --output-file --format",
        writes="--output-file",
    )
    P(
        "coverage",
        "tool",
        "coverage measurement (run executes a program: checked)",
        handler="coverage",
    )
    each(
        "eslint prettier stylelint tsc jest vitest mocha ava tsx ts-node vite webpack rollup esbuild",
        "tool",
        "JavaScript tool: reads the project's files",
        short_values="cop",
        long_values="--config --out-dir --outDir --outfile --project --ext --ignore-path --output-file --format",
        writes="--out-dir --outDir --outfile --output-file -o",
        reads="-c --config --project -p",
    )
    each(
        "gcc g++ cc c++ clang clang++ tcc",
        "tool",
        "C/C++ compiler: sources read, -o written",
        short_values="oIDULlxW",
        writes="-o",
        long_values="--output --include",
    )
    P(
        "rustc",
        "tool",
        "Rust compiler",
        short_values="oLl",
        long_values="--out-dir --crate-name --edition --emit --target --crate-type",
        writes="-o --out-dir",
    )
    P(
        "javac",
        "tool",
        "Java compiler",
        short_values="dsh",
        long_values="-cp -classpath --class-path -sourcepath --release -source -target",
        writes="-d -s -h",
    )
    P(
        "java",
        "tool",
        "runs Java programs (the jar or class is the project's)",
        short_values="",
        long_values="-cp -classpath --class-path -jar --module-path -p -m --module",
        operands="none",
    )
    P(
        "pandoc",
        "tool",
        "converts documents; -o written",
        short_values="oftM",
        long_values="--output --from --to --template --metadata --resource-path --reference-doc --css --filter "
        "--lua-filter",
        writes="-o --output",
        runs="--filter --lua-filter -F -L",
    )
    each(
        "shellcheck yamllint hadolint markdownlint codespell cloc tokei",
        "tool",
        "linter: reads files",
        short_values="fesS",
        long_values="--format --exclude --severity --shell --config-file",
    )
    P("pre-commit", "tool", "runs the project's git hooks", operands="none")

    # ---- processes -----------------------------------------------------------------------------
    P(
        "kill",
        "process",
        "signals processes: only the ones this command started ($!, %job)",
        handler="kill",
    )
    each(
        "pkill killall",
        "process",
        "signals processes by name (denied: they may be anyone's)",
        handler="kill",
    )
    each(
        "skill slay xkill",
        "process",
        "kills processes by user or window (denied)",
        risk=deny("process.foreign", "{name} signals processes this command did not start"),
        operands="none",
    )
    P(
        "renice",
        "process",
        "changes the priority of running processes (denied unless they are this command's own)",
        handler="renice",
    )
    P("fuser", "process", "shows processes using files; -k kills them (denied)", handler="fuser")
    each(
        "py-spy gcore reptyr pstack eu-stack",
        "process",
        "attaches to a running process (denied)",
        risk=deny("process.foreign", "{name} attaches to a process this command did not start"),
        operands="none",
    )

    # ---- scheduling, system, disks, privilege ------------------------------------------------------
    P("crontab", "scheduler", "installs cron jobs (listing allowed)", handler="crontab")
    each(
        "at batch atrm anacron incrontab",
        "scheduler",
        "schedules commands to run later (denied)",
        risk=deny("persistence.cron", "{name} schedules commands to run later (persistence)"),
        operands="none",
    )
    P("atq", "scheduler", "lists scheduled jobs", operands="none")
    each(
        "systemctl service journalctl ip sysctl mount umount hostnamectl timedatectl localectl loginctl nmcli "
        "route arp ifconfig update-alternatives ldconfig init launchctl virsh chkconfig tc",
        "system",
        "system configuration: status queries allowed, changes denied",
        handler="system_control",
    )
    each(
        "shutdown reboot halt poweroff telinit kexec iptables ip6tables iptables-restore ip6tables-restore "
        "iptables-legacy iptables-nft nft ufw firewall-cmd ebtables arptables modprobe insmod rmmod depmod "
        "swapon swapoff setenforce auditctl rtcwake pm-suspend pm-hibernate killall5 sysrq update-rc.d "
        "rc-update tuned-adm cpupower grub-install update-grub grub-mkconfig efibootmgr bootctl dracut "
        "update-initramfs mkinitcpio pivot_root switch_root brctl wpa_cli ifup ifdown hwclock xl "
        "dpkg-reconfigure setsebool semanage aa-disable apparmor_parser",
        "system",
        "changes or stops the system (denied)",
        risk=deny("system.control", "{name} changes or stops the system"),
        operands="none",
    )
    each(
        "mkfs mke2fs mkswap wipefs fdisk sfdisk gdisk sgdisk cfdisk parted blkdiscard badblocks hdparm "
        "cryptsetup lvremove vgremove pvremove lvcreate vgcreate pvcreate lvresize lvextend lvreduce zpool "
        "dmsetup losetup fsck e2fsck tune2fs resize2fs debugfs mdadm flashrom sg_format mkdosfs mkntfs "
        "ntfsfix xfs_repair btrfs partprobe sfill sswap sdmem nvme growpart e4defrag",
        "disk",
        "changes disks or filesystems (read-only queries allowed)",
        handler="disk_tool",
    )
    reg.family("mkfs.", "mkfs")
    reg.family("mkfs_", "mkfs")
    reg.family("fsck.", "fsck")
    reg.family("mke2fs.", "mke2fs")
    each(
        "sudo su doas pkexec runuser sg newgrp setpriv capsh chroot nsenter unshare systemd-run useradd "
        "userdel usermod groupadd groupdel groupmod gpasswd passwd chpasswd chage visudo vipw vigr setcap "
        "adduser deluser addgroup delgroup machinectl ksu calife super bwrap proot sudoedit pwck grpck "
        "newusers chsh chfn gosu su-exec",
        "privilege",
        "changes user or privileges (denied)",
        risk=deny("privilege.escalation", "{name} changes user or privileges"),
        operands="none",
    )
    each(
        "nmap masscan zmap nikto sqlmap hydra medusa john hashcat aircrack-ng msfconsole msfvenom responder "
        "mimikatz crackmapexec impacket-psexec evil-winrm enum4linux gobuster ffuf dirb wfuzz wireshark ettercap "
        "arpspoof bettercap dsniff linpeas linpeas.sh pspy chisel",
        "offensive",
        "scanning, sniffing or cracking tool (denied)",
        operands="none",
        risk=deny("security.offensive_tool", "{name} is a scanning, sniffing or cracking tool"),
    )
    each(
        "tcpdump tshark",
        "offensive",
        "packet capture (denied; reading a capture file with -r is allowed)",
        handler="offensive",
    )
    P(
        "xterm",
        "wrapper",
        "a terminal window (-e command checked; a remote display denied)",
        handler="x11",
    )
    each(
        "xinit startx",
        "runs-command",
        "starts an X session and its start-up programs (asked)",
        handler="x11",
    )
    each(
        "x11vnc vncserver xhost",
        "network",
        "opens this desktop to other machines (denied)",
        risk=deny("network.remote_access", "{name} opens this desktop to other machines"),
        operands="none",
    )
