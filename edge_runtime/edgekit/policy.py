"""The edge policy: a standard-library subset of llmos's policy rules, stricter everywhere.

llmos's policy engine (``llmos_tui/execution/policy/engine.py``) parses shell with tree-sitter-bash and
runs Bash under an OS sandbox (Landlock or bubblewrap). Neither is available on a small device,
so this policy allows less, and fails closed (a parse error or an exception is a deny):

* Tools: Write, Edit, MultiEdit, Read, Glob, Grep and Bash. Everything else is denied (llmos also
  knows NotebookEdit, WebFetch/WebSearch and its own harmless bookkeeping tools).
* Files: every path, for reads as well as writes, must resolve (``os.path.realpath``: ``..`` and
  symlinks followed) inside the working directory (llmos lets Read/Glob/Grep look outside it,
  secrets excepted). ``~`` is refused; nothing is written under a ``.git`` folder.
* Bash: the command is split with ``shlex`` and allowed only when it is a list of simple commands
  joined by ``&&``, ``||``, ``;`` or ``|``, with redirections ``<``, ``>``, ``>>`` and ``N>&M``
  only, where each command's program is in a small allow-list (``ALLOWED_PROGRAMS``) and every
  argument that names a path, and every redirection target, resolves inside the working
  directory (``/dev/null`` excepted). Refused outright: ``$`` and backquotes outside single
  quotes (any expansion or substitution), backslashes, unquoted newlines, ``#``, ``~``, ``{``,
  ``}``, subshells and groups, background ``&``, here-documents, process substitution,
  variable assignments, recursive ``rm``, and the options of allowed programs that run other
  programs (``sort --compress-program``). Wildcards only for programs whose options cannot write
  or run anything (``GLOB_PROGRAMS``: a file named ``--target-directory=..`` matched by ``cp *``
  would be an option), only in a path's last component, never in one that starts with a dot
  (which may match ``..``).
* Scripts: ``python3 FILE``, ``python FILE``, ``node FILE``, ``sh FILE``, ``bash FILE`` and
  ``./FILE`` run code the policy cannot see into; they are refused unless ``allow_scripts`` is on
  (the CLI allows it only where Landlock works: the executor then runs every Bash call under it,
  ``edgekit/sandbox.py``), and then only for a regular file inside the working directory (never
  ``-c``, ``-m`` or code on stdin).
* Symbolic links: options that follow links met while recursing are denied (``grep -R``,
  ``ls -L``, ``du -L``, ``cp -L``, ``chmod -L``, ``diff -r``), and so are ``--files0-from`` (file
  names read from a file the policy does not check) and any abbreviation of a denied long option.
* Network: no allowed program opens connections (no curl, wget, git, ssh, pip, npm...).
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

MAX_COMMAND_CHARS = 10_000
MAX_PATH_CHARS = 4096
MAX_CONTENT_CHARS = 10_000_000

FILE_TOOLS = {
    "Write": "file_path",
    "Edit": "file_path",
    "MultiEdit": "file_path",
    "Read": "file_path",
}
WRITE_TOOLS = frozenset({"Write", "Edit", "MultiEdit"})
KNOWN_TOOLS = frozenset({"Write", "Edit", "MultiEdit", "Read", "Glob", "Grep", "Bash"})

#: Programs that only print, compare or count (arguments naming files are still confined).
READ_PROGRAMS = frozenset(
    """
echo printf cat ls pwd head tail wc sort uniq cut tr diff cmp basename dirname true false test [ date
grep seq nl rev paste comm fold expr stat du md5sum sha1sum sha256sum sleep
""".split()
)
#: Programs that change files (every path argument confined to the working directory).
WRITE_PROGRAMS = frozenset("mkdir touch cp mv rm tee chmod".split())
#: Programs that run a script file (only with allow_scripts).
SCRIPT_PROGRAMS = frozenset("python python3 node sh bash".split())
ALLOWED_PROGRAMS = READ_PROGRAMS | WRITE_PROGRAMS | {"cd"}
#: Programs whose options cannot write files or run programs: the only ones that take wildcards
#: (a file named "--target-directory=.." matched by "cp *" would be an option, not a file).
GLOB_PROGRAMS = frozenset(
    "cat ls head tail wc grep stat md5sum sha1sum sha256sum du nl diff cmp".split()
)
#: Arguments of these programs are text, not paths.
TEXT_PROGRAMS = frozenset({"echo", "printf", "expr", "seq", "sleep", "true", "false"})
#: Options that make an allowed program run another one, or change the system.
DANGEROUS_OPTIONS = {
    "sort": ("--compress-program", "--files0-from"),
    "date": ("-s", "--set"),
    "rm": ("--no-preserve-root",),
    "cp": ("-L", "--dereference"),
    "tail": ("--pid",),
    "wc": ("--files0-from",),
    "du": ("--files0-from",),
}
#: Options that make a program follow symbolic links met while recursing (out of the working
#: directory: a link to ~/.ssh inside it), as (short letter, long options). ``grep -r``, ``ls -R``,
#: ``du``, ``cp -r`` and ``chmod -R`` do not follow them by default; ``diff -r`` does.
FOLLOW_OPTIONS = {
    "grep": ("R", ("--dereference-recursive",)),
    "ls": ("L", ("--dereference",)),
    "du": ("L", ("--dereference",)),
    "cp": ("L", ("--dereference",)),
    "chmod": ("L", ()),
    "diff": ("r", ("--recursive",)),
}
SEPARATORS = frozenset({"&&", "||", ";", "|"})
REDIRECTS = frozenset({">", ">>", "<", ">&"})
_GLOB_CHARS = frozenset("*?[")
_OPTION_RE = re.compile(r"-[A-Za-z0-9]")


@dataclass(frozen=True)
class Decision:
    decision: str  # allow | deny
    reason: str
    rule: str

    @property
    def allowed(self) -> bool:
        return self.decision == "allow"

    def to_dict(self) -> dict[str, str]:
        return {"decision": self.decision, "reason": self.reason, "rule": self.rule}


class _Deny(Exception):
    def __init__(self, reason: str, rule: str) -> None:
        super().__init__(reason)
        self.reason, self.rule = reason, rule


def _names_option(word: str, option: str) -> bool:
    """Whether ``word`` is ``option`` (``-x``, ``--long``, ``--long=V``), or a long option's
    abbreviation (getopt_long takes any unambiguous prefix: ``--compress-prog=sh``)."""
    if not option.startswith("--"):
        return word == option or (
            len(option) == 2 and word.startswith(option) and not word.startswith("--")
        )
    name = word.split("=", 1)[0]
    return word.startswith("--") and len(name) > 2 and option.startswith(name)


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


class EdgePolicy:
    def __init__(self, *, allow_scripts: bool = False, extra_programs: Iterable[str] = ()) -> None:
        self.allow_scripts = bool(allow_scripts)
        extra = frozenset(extra_programs)
        bad = sorted(
            p for p in extra if not re.fullmatch(r"[A-Za-z0-9_.+-]{1,64}", p) or p in {"cd"}
        )
        if bad:
            raise ValueError(f"invalid program name(s) for the allow-list: {', '.join(bad)}")
        self.extra_programs = extra

    # ---- public ------------------------------------------------------------------------------
    def check(
        self,
        tool: str,
        tool_input: Any,
        cwd: str | os.PathLike[str],
        *,
        planned: Iterable[str] = (),
    ) -> Decision:
        """Allow or deny one tool call. Never raises. ``planned``: real paths of files that earlier
        calls of the same replay will create (a script written by step 1 and run by step 2)."""
        self._planned = frozenset(planned)
        try:
            root = os.path.realpath(os.fspath(cwd))
            if not isinstance(tool, str) or tool not in KNOWN_TOOLS:
                raise _Deny(
                    f"tool {tool!r} is not available on the edge (only {', '.join(sorted(KNOWN_TOOLS))})",
                    "edge.tool_unknown",
                )
            if not isinstance(tool_input, Mapping):
                raise _Deny(f"the input of {tool} must be an object", "input.malformed")
            if tool == "Bash":
                return self._bash(tool_input, root)
            if tool in ("Glob", "Grep"):
                return self._search(tool, tool_input, root)
            return self._file(tool, tool_input, root)
        except _Deny as exc:
            return Decision("deny", exc.reason, exc.rule)
        except Exception as exc:  # noqa: BLE001 - fail closed
            return Decision(
                "deny",
                f"the policy check failed ({type(exc).__name__}: {exc}); fail closed",
                "policy.error",
            )

    # ---- paths ---------------------------------------------------------------------------------
    @staticmethod
    def _string(
        data: Mapping, key: str, what: str, *, limit: int = MAX_PATH_CHARS, empty: bool = False
    ) -> str:
        value = data.get(key)
        if not isinstance(value, str):
            raise _Deny(f"{what} must be a string", "input.malformed")
        if "\x00" in value:
            raise _Deny(f"{what} contains a NUL byte", "input.malformed")
        if len(value) > limit:
            raise _Deny(f"{what} is too long ({len(value)} characters)", "input.too_large")
        if not value and not empty:
            raise _Deny(f"{what} is empty", "input.malformed")
        return value

    @staticmethod
    def resolve(path: str, base: str, root: str, what: str) -> str:
        """The real path of ``path`` (relative to ``base``); denied unless inside ``root``."""
        if path.startswith("~"):
            raise _Deny(f"{what} {path!r} names the home directory", "path.home")
        full = os.path.realpath(os.path.join(base, path))
        if not _inside(full, root):
            raise _Deny(
                f"{what} {path!r} resolves to {full}, outside the working directory {root}",
                "path.outside_cwd",
            )
        return full

    @staticmethod
    def _no_git(full: str, root: str, what: str) -> None:
        rel = os.path.relpath(full, root)
        if ".git" in rel.split(os.sep):
            raise _Deny(f"{what} writes inside a .git folder (hooks there run code)", "path.git")

    def _file(self, tool: str, data: Mapping, root: str) -> Decision:
        path = self._string(data, FILE_TOOLS[tool], f"{tool} '{FILE_TOOLS[tool]}'")
        full = self.resolve(path, root, root, f"{tool} path")
        if tool in WRITE_TOOLS:
            if full == root:
                raise _Deny(f"{tool} cannot write the working directory itself", "path.cwd")
            self._no_git(full, root, f"{tool} {path}")
            if os.path.lexists(full) and not os.path.isfile(full):
                raise _Deny(
                    f"{tool} target {path} exists and is not a regular file", "path.not_file"
                )
            if tool == "Write":
                self._string(
                    data, "content", "Write 'content'", limit=MAX_CONTENT_CHARS, empty=True
                )
            elif tool == "Edit":
                self._string(
                    data, "old_string", "Edit 'old_string'", limit=MAX_CONTENT_CHARS, empty=True
                )
                self._string(
                    data, "new_string", "Edit 'new_string'", limit=MAX_CONTENT_CHARS, empty=True
                )
            else:
                edits = data.get("edits")
                if not isinstance(edits, list) or not edits or len(edits) > 1000:
                    raise _Deny("MultiEdit 'edits' must be a non-empty list", "input.malformed")
                for i, e in enumerate(edits):
                    if not isinstance(e, Mapping):
                        raise _Deny(f"MultiEdit edit {i + 1} must be an object", "input.malformed")
                    self._string(
                        e,
                        "old_string",
                        f"MultiEdit edit {i + 1} 'old_string'",
                        limit=MAX_CONTENT_CHARS,
                        empty=True,
                    )
                    self._string(
                        e,
                        "new_string",
                        f"MultiEdit edit {i + 1} 'new_string'",
                        limit=MAX_CONTENT_CHARS,
                        empty=True,
                    )
            return Decision(
                "allow", f"{tool} {path} stays inside the working directory", "edge.file_ok"
            )
        return Decision("allow", f"Read {path} stays inside the working directory", "edge.read_ok")

    def _search(self, tool: str, data: Mapping, root: str) -> Decision:
        pattern = self._string(data, "pattern", f"{tool} 'pattern'", empty=(tool == "Grep"))
        base = data.get("path")
        if base is not None:
            base = self._string(data, "path", f"{tool} 'path'")
            self.resolve(base, root, root, f"{tool} path")
        globs = [pattern] if tool == "Glob" else []
        if tool == "Grep" and data.get("glob") is not None:
            globs.append(self._string(data, "glob", "Grep 'glob'"))
        for g in globs:
            if g.startswith(("/", "~")) or ".." in re.split(r"[/{},]", g):
                raise _Deny(
                    f"{tool} pattern {g!r} reaches outside the working directory",
                    "path.outside_cwd",
                )
        return Decision("allow", f"{tool} stays inside the working directory", "edge.search_ok")

    # ---- Bash ------------------------------------------------------------------------------------
    @staticmethod
    def _scan(command: str) -> None:
        """Refuse what shlex and bash might read differently, and every kind of expansion."""
        quote = None
        for ch in command:
            if quote == "'":
                if ch == "'":
                    quote = None
                continue
            if ch in "$`":
                raise _Deny(
                    f"the command uses {ch!r} (expansion or substitution is not allowed on the edge)",
                    "shell.expansion",
                )
            if ch == "\\":
                raise _Deny("the command uses a backslash escape", "shell.escape")
            if quote == '"':
                if ch == '"':
                    quote = None
                continue
            if ch in "'\"":
                quote = ch
            elif ch in "\n\r":
                raise _Deny("the command spans several lines", "shell.multiline")
            elif ch in "#~{}!":
                raise _Deny(f"the command uses an unquoted {ch!r}", "shell.special")
        if quote is not None:
            raise _Deny("the command has an unterminated quote", "shell.parse_error")

    def _bash(self, data: Mapping, root: str) -> Decision:
        command = self._string(data, "command", "the Bash command", limit=MAX_COMMAND_CHARS)
        if not command.strip():
            raise _Deny("the Bash command is empty", "input.malformed")
        if data.get("run_in_background"):
            raise _Deny("background commands are not allowed on the edge", "shell.background")
        timeout = data.get("timeout")
        if timeout is not None and (
            not isinstance(timeout, (int, float)) or isinstance(timeout, bool)
        ):
            raise _Deny("Bash 'timeout' must be a number", "input.malformed")
        self._scan(command)
        try:
            lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
            lexer.whitespace_split = True
            lexer.commenters = ""
            tokens = list(lexer)
        except ValueError as exc:
            raise _Deny(f"the command cannot be parsed ({exc})", "shell.parse_error") from None
        commands: list[list[str]] = [[]]
        for tok in tokens:
            if tok in SEPARATORS:
                if not commands[-1]:
                    raise _Deny(
                        f"the command has an empty part before {tok!r}", "shell.parse_error"
                    )
                commands.append([])
            elif tok and set(tok) <= set("();<>|&") and tok not in REDIRECTS:
                raise _Deny(
                    f"the shell operator {tok!r} is not allowed on the edge", "shell.operator"
                )
            else:
                commands[-1].append(tok)
        if not commands[-1]:
            raise _Deny("the command ends with an operator", "shell.parse_error")
        # A cd may fail, or run in a pipeline's subshell: every directory it could leave the shell in
        # stays possible, and each later path must be inside the working directory from all of them.
        dirs = {root}
        programs = []
        for words in commands:
            dirs |= {self._simple(words, d, root) for d in sorted(dirs)}
            programs.append(words[0])
        return Decision(
            "allow",
            f"simple commands ({', '.join(programs)}) confined to the working directory",
            "edge.bash_ok",
        )

    def _simple(self, words: list[str], cwd: str, root: str) -> str:  # noqa: C901 - baseline, see README "Checks"
        """Check one simple command; returns the directory the next command runs in."""
        args: list[str] = []
        i = 0
        while i < len(words):
            word = words[i]
            if word in REDIRECTS:
                if i + 1 >= len(words):
                    raise _Deny(f"the redirection {word!r} has no target", "shell.parse_error")
                target = words[i + 1]
                if word == ">&":
                    if not target.isdigit():
                        raise _Deny(
                            f"'>&{target}' is only allowed between file descriptors",
                            "shell.redirect",
                        )
                elif target != "/dev/null":
                    if target in REDIRECTS or any(c in target for c in _GLOB_CHARS):
                        raise _Deny(
                            f"the redirection target {target!r} is not a plain path",
                            "shell.redirect",
                        )
                    full = self.resolve(target, cwd, root, "the redirection target")
                    if word in (">", ">>"):
                        self._no_git(full, root, f"the redirection to {target}")
                i += 2
                continue
            args.append(word)
            i += 1
        if not args:
            raise _Deny("a command has no program", "shell.parse_error")
        program, rest = args[0], args[1:]
        if "=" in program and not program.startswith("="):
            raise _Deny(
                f"variable assignments ({program.split('=')[0]}=...) are not allowed on the edge",
                "shell.assignment",
            )
        if "/" in program:
            if not self.allow_scripts:
                raise _Deny(
                    f"running {program} (a program by path) needs --allow-scripts on the edge",
                    "edge.scripts",
                )
            self._script_file(program, cwd, root)
            self._paths(rest, cwd, root, program)
            return cwd
        if program in SCRIPT_PROGRAMS:
            if not self.allow_scripts:
                raise _Deny(
                    f"{program} runs code, which needs --allow-scripts on the edge (no OS sandbox here)",
                    "edge.scripts",
                )
            options = []
            while rest and rest[0].startswith("-"):
                options.append(rest.pop(0))
            bad = [o for o in options if o not in ("-u", "-B", "-O", "-E", "-s", "-I")]
            if bad or not rest:
                raise _Deny(
                    f"{program} may only run a script file inside the working directory "
                    f"(not {' '.join(bad) or 'code from stdin'})",
                    "edge.scripts",
                )
            self._script_file(rest[0], cwd, root)
            self._paths(rest[1:], cwd, root, program)
            return cwd
        if program not in ALLOWED_PROGRAMS and program not in self.extra_programs:
            raise _Deny(f"{program!r} is not in the edge allow-list", "edge.program")
        if program == "cd":
            if len(rest) != 1 or rest[0].startswith("-"):
                raise _Deny("cd needs exactly one folder inside the working directory", "shell.cd")
            full = self.resolve(rest[0], cwd, root, "cd")
            return full
        for opt in DANGEROUS_OPTIONS.get(program, ()):
            if any(_names_option(a, opt) for a in rest):
                raise _Deny(f"{program} {opt} is not allowed on the edge", "edge.option")
        if program in FOLLOW_OPTIONS:
            letter, longs = FOLLOW_OPTIONS[program]
            for a in rest:
                if any(_names_option(a, opt) for opt in longs) or (
                    a.startswith("-") and not a.startswith("--") and letter in a[1:]
                ):
                    raise _Deny(
                        f"{program} {a} follows symbolic links while recursing, which could lead outside "
                        "the working directory; not allowed on the edge",
                        "edge.follow_links",
                    )
        if program == "rm":
            for a in rest:
                if a in ("--recursive", "-d", "--dir") or (
                    _OPTION_RE.match(a) and not a.startswith("--") and set(a[1:]) & set("rR")
                ):
                    raise _Deny("recursive rm is not allowed on the edge", "edge.rm_recursive")
                if any(c in a for c in _GLOB_CHARS):
                    raise _Deny("rm with a wildcard is not allowed on the edge", "edge.rm_glob")
        if program == "chmod":
            modes = [a for a in rest if not a.startswith("-")][:1]
            if any(
                re.fullmatch(r"[ugoa]*[+=-][rwxXst]*[st][rwxXst]*", m)
                or re.fullmatch(r"[1-7][0-7]{3}", m)
                for m in modes
            ):
                raise _Deny(
                    "chmod may not set setuid, setgid or sticky bits on the edge", "edge.chmod"
                )
        if program not in TEXT_PROGRAMS:
            self._paths(rest, cwd, root, program)
        return cwd

    def _script_file(self, word: str, cwd: str, root: str) -> None:
        if any(c in word for c in _GLOB_CHARS):
            raise _Deny(f"the script {word!r} is not a plain path", "edge.scripts")
        full = self.resolve(word, cwd, root, "the script")
        if not os.path.isfile(full) and full not in getattr(self, "_planned", frozenset()):
            raise _Deny(
                f"the script {word} is not a file inside the working directory", "edge.scripts"
            )

    def _paths(self, words: list[str], cwd: str, root: str, program: str) -> None:
        """Every argument that could name a path must resolve inside the working directory."""
        for word in words:
            value = word
            if word.startswith("--"):
                if "=" not in word:
                    continue
                value = word.split("=", 1)[1]
            elif word.startswith("-") and len(word) > 1:
                if "/" in word or ".." in word:
                    raise _Deny(
                        f"{program} option {word!r} carries a path; write it as a separate argument",
                        "path.option",
                    )
                continue
            if not value:
                continue
            parts = value.split("/")
            globbed = [j for j, part in enumerate(parts) if any(c in part for c in _GLOB_CHARS)]
            if globbed:
                if program not in GLOB_PROGRAMS:
                    raise _Deny(
                        f"{program} with a wildcard ({word!r}) is not allowed on the edge: a matched file "
                        "name could be read as an option",
                        "shell.glob",
                    )
                if globbed != [len(parts) - 1]:
                    raise _Deny(
                        f"{program} argument {word!r} has wildcards before its last component",
                        "shell.glob",
                    )
                if parts[-1].startswith("."):
                    raise _Deny(
                        f"{program} argument {word!r}: a wildcard after a dot may match '..'",
                        "shell.glob",
                    )
                value = "/".join(parts[:-1]) or "."
            self.resolve(value, cwd, root, f"{program} argument")
            if program in WRITE_PROGRAMS:
                self._no_git(os.path.realpath(os.path.join(cwd, value)), root, f"{program} {word}")
