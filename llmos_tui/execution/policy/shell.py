"""Static analysis of shell commands: parse with tree-sitter-bash, then check every command.

The command is parsed (never substring-matched) and every simple command is visited wherever
it sits: pipelines, lists, subshells, ``$(…)``, backticks, process substitutions, function
bodies, ``bash -c``/``eval``/``xargs``/``find -exec``/``trap`` operands, wrappers such as
``env``/``timeout``/``nohup``, and interpreter one-liners (see ``interpreters.py``). Words are
expanded the way bash does (quote removal, ``$'…'``, brace expansion, ``~``, known variables,
word splitting of unquoted values), so ``r''m``, ``\\rm`` and ``{rm,-rf,/}`` are all ``rm``.
What cannot be known statically is marked dynamic: a dynamic command name, a dynamic write
target or a dynamic script is denied.

What cannot be modelled fails closed: text executed as code that cannot be read (piped into a
shell or interpreter), programs that run commands this policy does not follow, a file read
whose path is computed at run time, any relative path once the current directory is unknown
(``cd "$(…)"``, ``CDPATH``, ``cdable_vars``) and namerefs are asked; dumps of the environment and
signals or tracing aimed at processes the command did not start are denied.

The result is a list of findings: ``deny`` (never allowed), ``ask`` (needs the user's yes;
headless runs without ``--yes`` deny it) and ``risky`` (allowed, but asked for confirmation in
CAUTIOUS/RECOVERY modes). Parse errors raise ``ShellParseError``; the policy engine turns that
into a deny.
"""

from __future__ import annotations

import fnmatch
import os
import re
import threading
from collections.abc import Container
from typing import TYPE_CHECKING

from .paths import PathContext, glob_fixed_parts
from .targets import (  # noqa: F401 - re-exported: the shared findings and write checks
    AnalysisTimeout,
    Finding,
    PathChecks,
)
from .words import (  # noqa: F401 - the words of the analysis, re-exported
    DYN,
    ITEM,
    PSUB,
    Arg,
    lit,
    ENV_LOADER_VARS,
    ENV_STARTUP_VARS,
    ENV_PATH_VARS,
    ENV_EXEC_VARS,
    SECRET_ENV,
    DANGEROUS_GIT_KEYS,
    Opts,
    parse_opts,
    Cmd,
    Stdin,
)

if TYPE_CHECKING:  # pragma: no cover
    from tree_sitter import Node


MAX_DEPTH = 8  # nested bash -c / eval / interpreter levels
MAX_ALTERNATIVES = 16  # expansions of one command (loop variables, ${x:-y})
MAX_BRACE = 256
# What may follow a here-document's marker on its line (``cat <<EOF | sh``).
_HEREDOC_TAILS = frozenset(
    {
        "command",
        "pipeline",
        "list",
        "redirected_statement",
        "subshell",
        "compound_statement",
        "negated_command",
    }
)


class ShellParseError(Exception):
    """The command is not valid shell (or uses syntax the parser does not support)."""


# --------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------
_LOCAL = threading.local()


def _parser():
    parser = getattr(_LOCAL, "parser", None)
    if parser is None:
        import tree_sitter

        parser = tree_sitter.Parser(tree_sitter.Language(_bash_language()))
        _LOCAL.parser = parser
    return parser


def load_parser() -> None:
    """Load the bash grammar and this thread's parser now (what the first parse would do)."""
    _parser()


def _bash_language() -> object:
    """The bash grammar (``tree_sitter_bash.language()``), from its extension module alone.

    The package's ``__init__`` imports ``importlib.resources`` (and with it tempfile, shutil,
    lzma, bz2, random…) only to read its highlight queries, which the analysis never uses; the
    grammar itself is the ``_binding`` extension next to it, loaded here the way the import
    system would. Any surprise (another layout, a zip install) takes the ordinary import."""
    import sys

    module = sys.modules.get("tree_sitter_bash._binding")
    if module is None:
        try:
            import importlib.util

            package = importlib.util.find_spec("tree_sitter_bash")  # finds, does not run it
            for folder in (package.submodule_search_locations or []) if package else []:
                spec = importlib.machinery.PathFinder.find_spec(
                    "tree_sitter_bash._binding", [folder]
                )
                if spec is not None and isinstance(
                    spec.loader, importlib.machinery.ExtensionFileLoader
                ):
                    module = importlib.util.module_from_spec(spec)
                    spec.loader.exec_module(module)
                    break
        except (ImportError, OSError, AttributeError):
            module = None
    if module is None:
        import tree_sitter_bash

        return tree_sitter_bash.language()
    return module.language()


def join_continuations(src: str) -> str:
    """Remove backslash-newline pairs outside single quotes, as bash does before parsing."""
    if "\\\n" not in src:
        return src
    out: list[str] = []
    i, n, sq, dq = 0, len(src), False, False
    while i < n:
        ch = src[i]
        if sq:
            out.append(ch)
            if ch == "'":
                sq = False
            i += 1
            continue
        if ch == "\\" and i + 1 < n:
            if src[i + 1] == "\n":
                i += 2
                continue
            out.append(src[i : i + 2])
            i += 2
            continue
        if ch == "'" and not dq:
            sq = True
        elif ch == '"':
            dq = not dq
        out.append(ch)
        i += 1
    return "".join(out)


_NON_ASCII = re.compile(rb"[\x80-\xff]")


def parse(src: str):
    """Parse ``src``; raise ShellParseError when the tree has errors.

    tree-sitter-bash 0.25 can crash (SIGSEGV) on ``{`` followed by a 4-byte UTF-8 character
    (upstream issue tree-sitter/tree-sitter-bash#337). The parser is therefore given a copy in
    which every non-ASCII byte is replaced by ``a``: byte offsets are unchanged, bash treats
    non-ASCII characters as ordinary word characters, so the structure is the same, and every
    word's text is still read from the original bytes."""
    data = src.encode("utf-8", "surrogateescape")
    tree = _parser().parse(data if data.isascii() else _NON_ASCII.sub(b"a", data))
    root = tree.root_node
    if root.has_error:
        bad = _first_error(root)
        where = (
            f" near {data[bad.start_byte : bad.start_byte + 20].decode('utf-8', 'replace')!r}"
            if bad is not None
            else ""
        )
        raise ShellParseError(f"the command is not valid shell{where}")
    return data, root


def _first_error(node):
    stack = [node]
    while stack:
        cur = stack.pop()
        if cur.is_error or cur.is_missing:
            return cur
        if cur.has_error:
            stack.extend(reversed(cur.children))
    return None


# --------------------------------------------------------------------------------------
# Words
# --------------------------------------------------------------------------------------
class _Word:
    """A plain word of the source the parser dropped (stands in for a tree-sitter ``word``)."""

    type = "word"
    children: tuple = ()
    named_children: tuple = ()
    is_named = True

    def __init__(self, start: int, end: int) -> None:
        self.start_byte, self.end_byte = start, end
        self.id = -start - 1


def _unescape_word(s: str) -> tuple[str, str]:
    if "\\" not in s:
        return s, "u" * len(s)
    out: list[str] = []
    mask: list[str] = []
    i, n = 0, len(s)
    while i < n:
        ch = s[i]
        if ch == "\\" and i + 1 < n:
            out.append(s[i + 1])
            mask.append("q")
            i += 2
            continue
        out.append(ch)
        mask.append("u")
        i += 1
    return "".join(out), "".join(mask)


def _unescape_dq(s: str) -> str:
    if "\\" not in s:
        return s
    out: list[str] = []
    i, n = 0, len(s)
    while i < n:
        ch = s[i]
        if ch == "\\" and i + 1 < n and s[i + 1] in '$`"\\\n':
            if s[i + 1] != "\n":
                out.append(s[i + 1])
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


_ANSI_SIMPLE = {
    "a": "\a",
    "b": "\b",
    "e": "\x1b",
    "E": "\x1b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    "'": "'",
    '"': '"',
    "?": "?",
}


def decode_ansi_c(s: str) -> str:
    """Decode the body of ``$'…'``."""
    out: list[str] = []
    i, n = 0, len(s)
    while i < n:
        ch = s[i]
        if ch != "\\" or i + 1 >= n:
            out.append(ch)
            i += 1
            continue
        nxt = s[i + 1]
        if nxt in _ANSI_SIMPLE:
            out.append(_ANSI_SIMPLE[nxt])
            i += 2
        elif nxt == "x":
            m = re.match(r"[0-9a-fA-F]{1,2}", s[i + 2 :])
            if m:
                out.append(chr(int(m.group(), 16)))
                i += 2 + len(m.group())
            else:
                out.append("\\x")
                i += 2
        elif nxt in "uU":
            m = re.match(r"[0-9a-fA-F]{1,%d}" % (4 if nxt == "u" else 8), s[i + 2 :])
            if m:
                try:
                    out.append(chr(int(m.group(), 16)))
                except (ValueError, OverflowError):
                    out.append("?")
                i += 2 + len(m.group())
            else:
                out.append("\\" + nxt)
                i += 2
        elif nxt in "01234567":
            digits = re.match(r"[0-7]{1,3}", s[i + 1 :])
            octal = digits.group() if digits else nxt  # always a match: nxt is an octal digit
            out.append(chr(int(octal, 8) & 0xFF))
            i += 1 + len(octal)
        elif nxt == "c" and i + 2 < n:
            out.append(chr(ord(s[i + 2]) & 0x1F))
            i += 3
        else:
            out.append("\\" + nxt)
            i += 2
    return "".join(out)


def _brace_expand(text: str, mask: str, limit: int = MAX_BRACE) -> list[tuple[str, str]]:
    start = 0
    while True:
        i = text.find("{", start)
        if i < 0:
            return [(text, mask)]
        if mask[i] != "u":
            start = i + 1
            continue
        depth, commas, end = 0, [], -1
        for j in range(i, len(text)):
            if mask[j] != "u":
                continue
            ch = text[j]
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    end = j
                    break
            elif ch == "," and depth == 1:
                commas.append(j)
        if end < 0:
            return [(text, mask)]
        pre_t, pre_m, post_t, post_m = text[:i], mask[:i], text[end + 1 :], mask[end + 1 :]
        pieces: list[tuple[str, str]] = []
        if commas:
            bounds = [i] + commas + [end]
            for a, b in zip(bounds, bounds[1:], strict=False):
                pieces.append((text[a + 1 : b], mask[a + 1 : b]))
        else:
            inner = text[i + 1 : end]
            m = (
                re.fullmatch(r"(-?\d+|[A-Za-z])\.\.(-?\d+|[A-Za-z])(?:\.\.(-?\d+))?", inner)
                if "q" not in mask[i + 1 : end]
                else None
            )
            if not m:
                start = i + 1
                continue
            first, last, step = m.group(1), m.group(2), abs(int(m.group(3) or 1)) or 1
            if first.lstrip("-").isdigit() and last.lstrip("-").isdigit():
                lo, hi = int(first), int(last)
                rng = range(lo, hi + (1 if hi >= lo else -1), step if hi >= lo else -step)
                if len(rng) > limit:
                    return [(DYN, "d")]
                pieces = [(str(v), "q" * len(str(v))) for v in rng]
            elif first.isalpha() and last.isalpha():
                lo, hi = ord(first), ord(last)
                rng = range(lo, hi + (1 if hi >= lo else -1), step if hi >= lo else -step)
                pieces = [(chr(v), "q") for v in rng]
            else:
                start = i + 1
                continue
        out: list[tuple[str, str]] = []
        for pt, pm in pieces:
            out.extend(_brace_expand(pre_t + pt + post_t, pre_m + pm + post_m, limit))
            if len(out) > limit:
                return [(DYN, "d")]
        return out


def _split_fields(text: str, mask: str, ifs: str | None = " \t\n") -> list[tuple[str, str]]:
    """Word splitting: unquoted variable values split on $IFS (whitespace by default)."""
    if "v" not in mask:
        return [(text, mask)]
    if ifs is None:
        return [(DYN, "d")]
    out: list[tuple[str, str]] = []
    cur_t: list[str] = []
    cur_m: list[str] = []
    for ch, m in zip(text, mask, strict=True):
        if m == "v" and ch in ifs:
            if cur_t:
                out.append(("".join(cur_t), "".join(cur_m)))
                cur_t, cur_m = [], []
            continue
        cur_t.append(ch)
        cur_m.append(m)
    if cur_t:
        out.append(("".join(cur_t), "".join(cur_m)))
    return out


def _trim(text: str, pattern: str, op: str, kind: str) -> tuple[str, str]:
    """``${x#p}``, ``${x##p}``, ``${x%p}``, ``${x%%p}`` on a known value."""
    n = len(text)
    if op in ("#", "##"):
        cuts = range(n + 1) if op == "#" else range(n, -1, -1)
        for k in cuts:
            if fnmatch.fnmatchcase(text[:k], pattern):
                text = text[k:]
                break
    else:
        cuts = range(n, -1, -1) if op == "%" else range(n + 1)
        for k in cuts:
            if fnmatch.fnmatchcase(text[k:], pattern):
                text = text[:k]
                break
    return text, kind * len(text)


def _product(
    lists: list[list[tuple[str, str]]], limit: int = MAX_ALTERNATIVES
) -> list[tuple[str, str]]:
    acc = [("", "")]
    for options in lists:
        if len(options) == 1:
            t, m = options[0]
            acc = [(a + t, b + m) for a, b in acc]
            continue
        acc = [(a + t, b + m) for a, b in acc for t, m in options]
        if len(acc) > limit:
            return [(DYN, "d")]
    return acc


def normalize_name(word: str) -> str:
    """The command's program name in the table: ``/usr/bin/python3.11`` → ``python``,
    ``mkfs.ext4`` → ``mkfs``, ``egrep`` → ``grep`` (``programs.canonical``: the one lookup)."""
    from .programs import canonical

    return canonical(word)


# --------------------------------------------------------------------------------------
# The analyzer
# --------------------------------------------------------------------------------------
class Analyzer(PathChecks):
    """Walks one parsed script; collects findings. One instance per top-level check."""

    def __init__(
        self,
        ctx: PathContext,
        *,
        allow_network: bool,
        deadline: float,
        findings: list[Finding] | None = None,
        depth: int = 0,
    ) -> None:
        super().__init__(
            ctx, allow_network=allow_network, deadline=deadline, findings=findings, depth=depth
        )
        self.vars: dict[str, list[tuple[str, str]]] = {}
        self.positional: list[list[tuple[str, str]]] | None = None
        self.functions: set[str] = set()
        self.tainted: set[str] = set()  # files written with secrets or outside data
        self.flags: dict[str, bool] = {}  # "downloaded": a network download ran earlier
        self.own_pids: set[str] = set()  # variables holding a pid this script started ($!, $$)
        self.ifs: str | None = " \t\n"
        self.names_seen: list[str] | None = None
        self.src = b""
        self._tails: list = []  # statements after a here-document's marker line
        self._visited: set[int] = set()
        self._root_secret = ctx.secret(ctx.root) is not None

    # ---- entry points --------------------------------------------------------------
    def analyze(
        self,
        script: str,
        *,
        positional: list[Arg] | None = None,
        origin: str = "command",
        pipe_in: frozenset[str] | None = None,
    ) -> None:
        if self.depth > MAX_DEPTH:
            self.deny(
                "shell.too_deep",
                f"commands nested more than {MAX_DEPTH} levels deep cannot be checked",
            )
            return
        if "\x00" in script:
            self.deny("input.nul_byte", "the command contains a NUL byte")
            return
        script = join_continuations(script)
        src, root = parse(script)
        saved_src = self.src
        saved_visited = self._visited
        self.src = src
        self._visited = set()
        saved_pos = self.positional
        if positional is not None:
            self.positional = [
                [(a.text, a.mask.replace("u", "v").replace("q", "v"))] for a in positional
            ]
        try:
            self.stmt(root, pipe_in)
            self._sweep(root)
        finally:
            self.src = saved_src
            self._visited = saved_visited
            self.positional = saved_pos

    def sub_shell(
        self,
        script: str,
        *,
        positional: list[Arg] | None = None,
        origin: str = "",
        pipe_in: frozenset[str] | None = None,
    ) -> None:
        """Analyze a command string run by a nested shell (bash -c, eval, os.system)."""
        child = Analyzer(
            self.ctx,
            allow_network=self.allow_network,
            deadline=self.deadline,
            findings=self.findings,
            depth=self.depth + 1,
        )
        child.cur = self.cur
        child.vars = {k: v for k, v in self.vars.items()}
        child.written = self.written
        child.tainted = self.tainted
        child.flags = self.flags
        child.links = self.links
        child.own_pids = self.own_pids
        child.ifs = self.ifs
        child.functions = set(self.functions)
        try:
            child.analyze(script, positional=positional, origin=origin, pipe_in=pipe_in)
        except ShellParseError as exc:
            self.deny(
                "shell.parse_error", f"{origin or 'a nested command'} cannot be parsed: {exc}"
            )

    def _sweep(self, root) -> None:
        """Safety net: any command the structured walk did not reach is checked now."""
        stack = [root]
        while stack:
            node = stack.pop()
            if (
                node.type in ("command", "command_substitution", "process_substitution")
                and node.id not in self._visited
            ):
                self._visited.add(node.id)
                if node.type == "command":
                    self.command(node, None, [], None)
                else:
                    for child in node.named_children:
                        self.stmt(child, None)
                continue
            stack.extend(node.children)

    # ---- text helpers ----------------------------------------------------------------
    def text(self, node) -> str:
        return self.src[node.start_byte : node.end_byte].decode("utf-8", "surrogateescape")

    # ---- statements ------------------------------------------------------------------
    def stmt(
        self,
        node: Node,
        pipe_in: frozenset[str] | None,
        stdin: Stdin | None = None,
        extra_redirects: list[Node] | None = None,
    ) -> set[str]:
        self.tick()
        if node.type == "command":
            return self.command(node, pipe_in, extra_redirects or [], stdin)
        handler = _STATEMENTS.get(node.type)
        if handler is None:
            # Anything else (arithmetic, stray words): evaluate for the commands it contains.
            self.words_for_effects(node)
            return {"other"}
        result: set[str] = getattr(self, handler)(node, pipe_in, stdin)
        return result

    def _sequence(
        self, node: Node, pipe_in: frozenset[str] | None, stdin: Stdin | None
    ) -> set[str]:
        """A script or block: its statements run one after the other; the first reads the input."""
        out: set[str] = set()
        first = True
        for child in node.named_children:
            if child.type in ("comment",):
                continue
            out = self.stmt(child, pipe_in if first else None, stdin if first else None)
            first = False
        return out or {"other"}

    def _list(self, node: Node, pipe_in: frozenset[str] | None, stdin: Stdin | None) -> set[str]:
        """``a && b || c``: what any of them prints."""
        out: set[str] = set()
        for child in node.named_children:
            out |= self.stmt(child, pipe_in, stdin)
        return out or {"other"}

    def _last(self, node: Node, pipe_in: frozenset[str] | None, stdin: Stdin | None) -> set[str]:
        """``! cmd``: what the last child prints."""
        out: set[str] = set()
        for child in node.named_children:
            out = self.stmt(child, pipe_in, stdin)
        return out or {"other"}

    def _subshell(
        self, node: Node, pipe_in: frozenset[str] | None, stdin: Stdin | None
    ) -> set[str]:
        """``( … )``: a cd or assignment inside does not outlive it."""
        saved = self._save()
        out = self._last(node, pipe_in, stdin)
        self._restore(saved)
        return out

    def _function_stmt(
        self, node: Node, pipe_in: frozenset[str] | None, stdin: Stdin | None
    ) -> set[str]:
        self.function(node)
        return {"other"}

    def _assignment_stmt(
        self, node: Node, pipe_in: frozenset[str] | None, stdin: Stdin | None
    ) -> set[str]:
        self.assignment(node, persist=True)
        return {"other"}

    def _assignments_stmt(
        self, node: Node, pipe_in: frozenset[str] | None, stdin: Stdin | None
    ) -> set[str]:
        for child in node.named_children:
            if child.type == "variable_assignment":
                self.assignment(child, persist=True)
        return {"other"}

    def _declaration_stmt(
        self, node: Node, pipe_in: frozenset[str] | None, stdin: Stdin | None
    ) -> set[str]:
        return {"env"} if self.declaration(node) else {"other"}

    def _unset_stmt(
        self, node: Node, pipe_in: frozenset[str] | None, stdin: Stdin | None
    ) -> set[str]:
        for child in node.named_children:
            if child.type in ("variable_name", "word"):
                self.vars.pop(self.text(child), None)
                self.functions.discard(self.text(child))
        return {"other"}

    def _test_stmt(
        self, node: Node, pipe_in: frozenset[str] | None, stdin: Stdin | None
    ) -> set[str]:
        self.words_for_effects(node)
        return {"other"}

    def _comment_stmt(
        self, node: Node, pipe_in: frozenset[str] | None, stdin: Stdin | None
    ) -> set[str]:
        return set()

    def words_for_effects(self, node) -> None:
        """Run the substitutions inside ``node`` (their commands are checked)."""
        stack = [node]
        while stack:
            cur = stack.pop()
            if cur.type in ("command_substitution", "process_substitution"):
                self.substitution(cur)
                continue
            if cur.type == "command":
                self._visited.add(cur.id)
                self.command(cur, None, [], None)
                continue
            if cur.type in ("simple_expansion", "expansion"):
                names = [self.text(c) for c in cur.named_children if c.type == "variable_name"]
                if "IFS" in names:
                    self.deny("obfuscation.ifs", "$IFS is used to hide spaces in a command")
            stack.extend(cur.children)

    def _save(self):
        return (self.cur, dict(self.vars), set(self.functions))

    def _restore(self, saved) -> None:
        self.cur, self.vars, self.functions = saved[0], saved[1], saved[2]

    def _merge(self, saved) -> None:
        """After a branch or loop: what changed inside is no longer known for sure."""
        cur, vars_, _funcs = saved
        if self.cur != cur:
            self.cur = None
        for name in set(vars_) | set(self.vars):
            if vars_.get(name) != self.vars.get(name):
                self.vars[name] = [(DYN, "d")]

    def branches(self, node, pipe_in, stdin) -> set[str]:
        saved = self._save()
        out: set[str] = set()
        for child in node.named_children:
            if child.type == "case_item":
                for sub in child.named_children:
                    if sub.type in (
                        "word",
                        "concatenation",
                        "string",
                        "raw_string",
                        "extglob_pattern",
                        "simple_expansion",
                        "expansion",
                        "number",
                    ):
                        self.words_for_effects(sub)
                    else:
                        out |= self.stmt(sub, None)
            elif child.type in (
                "word",
                "string",
                "concatenation",
                "simple_expansion",
                "expansion",
                "raw_string",
            ):
                self.words_for_effects(child)
            else:
                out |= self.stmt(child, pipe_in, stdin)
        self._merge(saved)
        return out or {"other"}

    def loop(self, node, pipe_in, stdin) -> set[str]:
        saved = self._save()
        # Variables assigned in the body may hold any value on the next turn.
        for name in self._assigned_names(node):
            self.vars[name] = [(DYN, "d")]
        body = node.child_by_field_name("body")
        if node.type == "for_statement":
            var = node.child_by_field_name("variable")
            values = node.children_by_field_name("value")
            if var is not None:
                name = self.text(var)
                if values:
                    alts: list[tuple[str, str]] = []
                    for v in values:
                        for a in self.eval_word(v):
                            if (
                                a.glob
                                and a.static
                                and not a.text.startswith("/")
                                and ".." not in a.text.split("/")
                            ):
                                alts.append((ITEM, "i"))
                            elif a.glob:
                                alts.append((DYN, "d"))
                            else:
                                alts.append((a.text, "v" * len(a.text) if a.static else a.mask))
                    uniq = list(dict.fromkeys(alts))
                    self.vars[name] = uniq if len(uniq) <= MAX_ALTERNATIVES else [(DYN, "d")]
                else:
                    self.vars[name] = [(DYN, "d")]
        # while/until conditions, c-style parts
        infinite = False
        for child in node.named_children:
            if child is body or child.type == "do_group":
                continue
            if (
                node.type == "for_statement"
                and child.type in ("variable_name",)
                or (node.type == "for_statement" and child in node.children_by_field_name("value"))
            ):
                continue
            if node.type == "while_statement" and child.type == "command":
                cond = self.text(child).strip()
                if cond in ("true", ":", "[ 1 ]", "/bin/true"):
                    infinite = True
            if child.type in (
                "command",
                "list",
                "pipeline",
                "redirected_statement",
                "compound_statement",
                "subshell",
                "test_command",
                "negated_command",
            ):
                self.stmt(child, pipe_in, stdin)
            else:
                self.words_for_effects(child)
        if node.type == "while_statement" and pipe_in is not None:
            # `producer | while read f; do …; done`: f holds the producer's lines.
            listing = pipe_in <= {"cwd_list"}
            for name in self._read_names(node):
                self.vars[name] = [(ITEM, "i")] if listing else [(DYN, "d")]
        out: set[str] = {"other"}
        if body is None:
            body = next((c for c in node.named_children if c.type == "do_group"), None)
        if body is not None:
            if infinite and self._has_background(body):
                self.deny(
                    "system.fork_bomb",
                    "an endless loop that starts background processes exhausts the machine (fork bomb)",
                )
            out = self.stmt(body, None)
        self._merge(saved)
        return out

    def _assigned_names(self, node) -> set[str]:
        names: set[str] = set()
        stack = [node]
        while stack:
            cur = stack.pop()
            if cur.type == "variable_assignment":
                nm = cur.child_by_field_name("name")
                if nm is not None:
                    names.add(self.text(nm).split("[")[0])
            stack.extend(cur.children)
        return names

    def _read_names(self, node) -> list[str]:
        names: list[str] = []
        for child in node.named_children:
            if child.type == "command":
                words = [self.text(c) for c in child.named_children]
                if words and words[0] == "read":
                    names.extend(
                        w
                        for w in words[1:]
                        if not w.startswith("-") and re.fullmatch(r"[A-Za-z_]\w*", w)
                    )
        return names

    def _has_background(self, node) -> bool:
        stack = [node]
        while stack:
            cur = stack.pop()
            for child in cur.children:
                if not child.is_named and self.text(child) == "&":
                    return True
            stack.extend(cur.named_children)
        return False

    def function(self, node) -> None:
        name_node = node.child_by_field_name("name")
        name = self.text(name_node) if name_node is not None else ""
        body = node.child_by_field_name("body")
        # A function that calls itself, in the background or through a pipe: a fork bomb.
        if body is not None and name:
            calls = self._called_names(body)
            if name in calls:
                self.deny(
                    "system.fork_bomb", f"the function {name!r} calls itself (fork bomb pattern)"
                )
        self.functions.add(name)
        if body is not None:
            saved = self._save()
            saved_pos = self.positional
            self.positional = None
            self.stmt(body, None)
            self.positional = saved_pos
            self._restore(saved)
            self.functions.add(name)

    def _called_names(self, node) -> set[str]:
        names: set[str] = set()
        stack = [node]
        while stack:
            cur = stack.pop()
            if cur.type == "command_name":
                names.add(self.text(cur).strip("\\'\""))
            stack.extend(cur.children)
        return names

    def pipeline(self, node, pipe_in, stdin) -> set[str]:
        stages = [c for c in node.named_children if c.type != "comment"]
        kinds: set[str] = set(pipe_in or ())
        out: set[str] = {"other"}
        for i, stage in enumerate(stages):
            saved = self._save()
            out = self.stmt(
                stage,
                (frozenset(kinds) if (i > 0 or pipe_in is not None) else None),
                stdin if i == 0 else None,
            )
            self._restore(saved)
            kinds |= out
        return out

    def redirected(self, node, pipe_in, stdin) -> set[str]:
        body = node.child_by_field_name("body")
        redirects = [c for c in node.named_children if body is None or c.id != body.id]
        if body is None:
            tails, _ = self._redirects(redirects, [], stdin)
            self._run_tails(tails, {"other"})
            return {"other"}
        return self._with_redirects(body, redirects, pipe_in, stdin)

    def _redirects(self, redirects: list, extra_args: list, stdin) -> tuple[list, tuple | None]:
        """Check redirections; return the statements after a here-document and the new stdin."""
        saved_tails, self._tails = self._tails, []
        try:
            for r in redirects:
                res = self.redirect(r, extra_args)
                if res is not None:
                    stdin = res
        finally:
            tails, self._tails = self._tails, saved_tails
        return tails, stdin

    def _with_redirects(self, body, redirects: list, pipe_in, stdin) -> set[str]:
        """Run ``body`` with redirections. tree-sitter-bash hangs ``a && b > f`` and ``a | b > f``
        on the whole list or pipeline; in bash they belong to the last command, which runs after
        the others (after their ``cd``), so that is where they are applied."""
        if body.type == "list":
            kids = [c for c in body.named_children if c.type != "comment"]
            out: set[str] = set()
            for k in kids[:-1]:
                out |= self.stmt(k, pipe_in, stdin)
            return (
                out | self._with_redirects(kids[-1], redirects, pipe_in, stdin)
                if kids
                else {"other"}
            )
        if body.type == "pipeline":
            stages = [c for c in body.named_children if c.type != "comment"]
            kinds: set[str] = set(pipe_in or ())
            for i, stage in enumerate(stages[:-1]):
                saved = self._save()
                kinds |= self.stmt(
                    stage,
                    frozenset(kinds) if (i > 0 or pipe_in is not None) else None,
                    stdin if i == 0 else None,
                )
                self._restore(saved)
            if not stages:
                return {"other"}
            saved = self._save()
            last_in = frozenset(kinds) if (len(stages) > 1 or pipe_in is not None) else None
            out = self._with_redirects(
                stages[-1], redirects, last_in, stdin if len(stages) == 1 else None
            )
            self._restore(saved)
            return out
        extra_args: list = []
        before = set(self.written)
        tails, new_stdin = self._redirects(redirects, extra_args, stdin)
        if body.type == "command":
            self._visited.add(body.id)
            out = self.command(
                body, pipe_in, self._dropped_words(body, redirects) + extra_args, new_stdin
            )
        else:
            for w in extra_args:
                self.words_for_effects(w)
            out = self.stmt(body, pipe_in, new_stdin)
        if out & {"env", "sensitive", "secret_list", "network"}:
            self.tainted.update(self.written - before)
        return self._run_tails(tails, out) or out

    def _dropped_words(self, body, redirects: list) -> list:
        """Words tree-sitter-bash leaves out of the tree (``make -f - <<EOF`` loses the ``-``):
        plain ones are put back; anything else fails closed."""
        if not redirects:
            return []
        start, end = body.end_byte, min(r.start_byte for r in redirects)
        gap = self.src[start:end]
        if not gap.strip():
            return []
        words = []
        for m in re.finditer(rb"\S+", gap):
            if not re.fullmatch(rb"[-\w./:=+@%,]+", m.group()):
                raise ShellParseError(
                    f"the command is not valid shell near {m.group().decode('utf-8', 'replace')!r}"
                )
            words.append(_Word(start + m.start(), start + m.end()))
        return words

    def _run_tails(self, tails: list, out: set[str]) -> set[str] | None:
        """Statements written after a here-document's marker (``cat <<EOF | bash``): a pipeline
        there reads the output of the command the here-document feeds."""
        last = None
        for node in tails:
            if node.type == "pipeline":
                last = self.stmt(node, frozenset(out))
            else:
                last = self.stmt(node, None)
        return last

    def redirect(self, r: Node, extra_args: list[Node]) -> Stdin | None:
        """Check one redirection; return a new stdin description for input redirections."""
        t = r.type
        if t == "file_redirect":
            return self._file_redirect(r, extra_args)
        if t == "heredoc_redirect":
            return self._heredoc(r, extra_args)
        if t == "herestring_redirect":
            text, dynamic = "", False
            for p in r.named_children:
                for a in self.eval_word(p):
                    text = a.text
                    dynamic = dynamic or not a.static
            return ("text", text, dynamic)
        self.words_for_effects(r)
        return None

    def _file_redirect(self, r: Node, extra_args: list[Node]) -> Stdin | None:
        """``> f``, ``>> f``, ``< f``, ``<> f``, ``>&2``: targets written are checked; an input
        file becomes the command's stdin."""
        op = ""
        dests = []
        for child in r.children:
            if not child.is_named:
                op += self.text(child)
            elif child.type != "file_descriptor":
                dests.append(child)
        if not dests:
            return None
        target, extra = dests[0], dests[1:]
        extra_args.extend(extra)
        op = op.strip()
        if op in (">&", "<&", ">&-", "<&-") and target.type == "number":
            return None
        if op in (">&", "<&") and self.text(target) in ("-", "1", "2", "0"):
            return None
        args = self.eval_word(target)
        if op in ("<",):
            return self._input_redirect(args)
        verb = "open for writing" if op == "<>" else "redirect"
        for a in args:
            if op == "<>" or not a.psub:
                self.check_write(a, verb=verb)
        return None

    def _input_redirect(self, args: list[Arg]) -> Stdin:
        """``< FILE``: the stdin it gives the command."""
        for a in args:
            if a.psub:
                return ("psub",)
            if not a.static:
                continue
            if a.text.startswith(("/dev/tcp/", "/dev/udp/")):
                self.deny(
                    "network.dev_tcp",
                    f"reading {a.text} opens a network connection (reverse shell pattern)",
                )
            if self.cur is None and not a.text.startswith(("/", "~")):
                self.ask(
                    "cwd.unknown",
                    f"the current directory is unknown here, so < {a.text} cannot be located",
                )
                return ("text", DYN, True)
            real = self.ctx.resolve(a.text, self.cur)
            self.check_read_path(a.text, real)
            return ("file", real)
        return ("text", DYN, True)

    def _heredoc(self, r: Node, extra_args: list[Node]) -> Stdin:
        """``<<EOF``: the body is the command's stdin; unquoted, its substitutions run."""
        body = next((c for c in r.named_children if c.type == "heredoc_body"), None)
        start = next((c for c in r.named_children if c.type == "heredoc_start"), None)
        end = next((c for c in r.named_children if c.type == "heredoc_end"), None)
        quoted = start is not None and any(q in self.text(start) for q in "'\"\\")
        # The body is taken from the source bytes (line after the marker up to the end
        # marker): tree-sitter-bash mis-parses some bodies (e.g. one starting with a backslash).
        if start is not None and end is not None:
            nl = self.src.find(b"\n", start.end_byte)
            lo = nl + 1 if 0 <= nl < end.start_byte else end.start_byte
            text = self.src[lo : end.start_byte].decode("utf-8", "surrogateescape")
        else:
            text = self.text(body) if body is not None else ""
        dynamic = False if quoted else self._heredoc_substitutions(r, text)
        # a heredoc can be followed by redirections, pipes and lists on its first line:
        # they run after the command (see redirected)
        for child in r.named_children:
            if child.type in ("file_redirect",):
                self.redirect(child, extra_args)
            elif child.type in _HEREDOC_TAILS:
                self._heredoc_tail(child, start)
        return ("text", text, dynamic)

    def _heredoc_substitutions(self, r: Node, text: str) -> bool:
        """Run the substitutions of an unquoted here-document; True when its text is dynamic."""
        found = False
        stack = [c for c in r.named_children if c.type not in ("heredoc_start", "heredoc_end")]
        while stack:
            child = stack.pop()
            if child.type in ("command_substitution", "process_substitution"):
                self.substitution(child)
                found = True
                continue
            if child.type in ("simple_expansion", "expansion"):
                self.expand(child, True)
            stack.extend(child.named_children)
        if not found and ("$(" in text or "`" in text):
            self.deny(
                "shell.parse_error",
                "a here-document runs commands ($(…) or `…`) that could not be parsed reliably",
            )
            return True
        return found

    def _heredoc_tail(self, child: Node, start: Node | None) -> None:
        """A command on the marker's line (``cat <<EOF | sh``): checked after the command."""
        first_line_end = self.src.find(b"\n", start.end_byte) if start is not None else -1
        if 0 <= first_line_end < child.end_byte:
            # tree-sitter-bash took part of the body for the marker line's command
            self.deny(
                "shell.parse_error",
                "the line of a here-document's marker could not be parsed reliably",
            )
        self._tails.append(child)

    # ---- assignments -----------------------------------------------------------------
    def assignment(self, node, *, persist: bool) -> tuple[str, Arg] | None:
        name_node = node.child_by_field_name("name")
        value_node = node.child_by_field_name("value")
        if name_node is None:
            self.words_for_effects(node)
            return None
        if name_node.type == "subscript":
            self.words_for_effects(name_node)
            name = self.text(name_node).split("[", 1)[0]
            if value_node is not None:
                self.words_for_effects(value_node)
            if persist:
                self.vars[name] = [(DYN, "d")]
            return None
        name = self.text(name_node)
        appending = any(not c.is_named and self.text(c) == "+=" for c in node.children)
        if value_node is None:
            alts = [("", "")]
        elif value_node.type == "array":
            self.words_for_effects(value_node)
            alts = [(DYN, "d")]
        else:
            alts = [(a.text, a.mask) for a in self.eval_word(value_node, assignment=True)] or [
                ("", "")
            ]
        if appending:
            old = self.lookup(name, False)
            alts = _product([old, alts])
        value = Arg(alts[0][0], alts[0][1]) if len(alts) == 1 else Arg(DYN, "d")
        self.check_env_var(name, value, exported=False)
        if persist:
            self.vars[name] = alts
            if name == "IFS":
                self.ifs = value.text if value.static else None
            raw = self.text(value_node).strip('"') if value_node is not None else ""
            if raw in ("$!", "${!}", "$$", "${$}", "$BASHPID", "${BASHPID}") or (
                raw.startswith("$") and raw.strip("${}") in self.own_pids
            ):
                self.own_pids.add(name)
            else:
                self.own_pids.discard(name)
        return name, value

    def declaration(self, node) -> bool:
        """export/declare/typeset/local/readonly; True when it only prints variables."""
        from .commands import declaration_policy

        kind = self.text(node.children[0]) if node.children else ""
        flags = [
            self.text(c)
            for c in node.named_children
            if c.type == "word" and self.text(c).startswith(("-", "+")) and len(self.text(c)) > 1
        ]
        names = []
        for child in node.named_children:
            if child.type == "variable_assignment":
                nm = child.child_by_field_name("name")
                names.append(self.text(nm) if nm is not None else "?")
            elif child.type in ("variable_name", "word") and self.text(child) not in flags:
                names.append(self.text(child))
            elif child.type not in ("comment",) and child.type != "word":
                names.append("?")  # a computed name or assignment ($(…), "$x")
        if declaration_policy(self, kind, flags, names):
            return True
        for child in node.named_children:
            if child.type == "variable_assignment":
                res = self.assignment(child, persist=True)
                if res is not None and (kind == "export" or any("x" in f for f in flags)):
                    self.check_env_var(res[0], res[1], exported=True)
            elif child.type in ("variable_name", "word") and kind == "export":
                nm = self.text(child)
                if nm in ENV_LOADER_VARS:
                    self.deny(
                        "loader.ld_preload", f"exporting {nm} injects a library into every program"
                    )
            elif child.type not in ("word", "variable_name"):
                self.words_for_effects(child)
        return False

    def check_env_var(self, name: str, value: Arg, *, exported: bool) -> None:
        """A variable set for a command or exported: the ones that load or run code are checked
        by the first matching entry of ``_ENV_CHECKS``."""
        for names, check in _ENV_CHECKS:
            if name in names:
                getattr(self, check)(name, value)
                return
        if name.startswith("BASH_FUNC_"):
            self.deny("loader.startup_hook", f"{name} defines a function through the environment")

    def _env_loader(self, name: str, value: Arg) -> None:
        self.deny(
            "loader.ld_preload", f"{name}= loads a library into the program (loader injection)"
        )

    def _env_startup(self, name: str, value: Arg) -> None:
        if value.text.strip():
            self.deny("loader.startup_hook", f"{name}= makes programs run extra code at start-up")

    def _env_prompt(self, name: str, value: Arg) -> None:
        if "$(" in value.text or "`" in value.text:
            self.deny("loader.startup_hook", f"{name} runs a command each time the prompt is shown")

    def _env_path_var(self, name: str, value: Arg) -> None:
        if value.static and value.text and value.text != "/dev/null":
            real = self.ctx.resolve(value.text, self.cur)
            if self.ctx.is_tmp(real) and not self.ctx.inside_root(real) or real in self.written:
                self.deny(
                    "loader.startup_hook",
                    f"{name}={value.text} makes programs load code from a shared temporary folder",
                )

    def _env_ignored(self, name: str, value: Arg) -> None:
        """IFS: its uses are checked where it is expanded."""

    def _env_cdpath(self, name: str, value: Arg) -> None:
        if value.text.strip(":"):
            self.ask(
                "shell.cdpath",
                "CDPATH makes cd go to folders found elsewhere; later paths cannot be located",
            )

    def _env_exec(self, name: str, value: Arg) -> None:
        if not value.static:
            self.deny("exec.dynamic_command_name", f"{name} is set to a computed command")
        elif value.text.strip():
            self.sub_shell(value.text, origin=f"the command in {name}")

    def _env_node_options(self, name: str, value: Arg) -> None:
        if re.search(
            r"(--require|-r\b|--import|--loader|--experimental-loader|--inspect)", value.text
        ):
            self.deny(
                "loader.startup_hook", "NODE_OPTIONS loads extra code into every node process"
            )

    def _env_path(self, name: str, value: Arg) -> None:
        for part in value.text.split(":"):
            if not part or part == DYN:
                continue
            real = self.ctx.resolve(part, self.cur) if part.startswith(("/", "~", ".")) else part
            if self.ctx.is_tmp(real) and not self.ctx.inside_root(real):
                self.deny("exec.path_hijack", f"PATH includes {part}, a shared temporary folder")

    def _env_git_dir(self, name: str, value: Arg) -> None:
        if not value.static:
            return
        real = self.ctx.resolve(value.text, self.cur)
        if not self.ctx.inside_root(real):
            self.deny(
                "write.outside_cwd",
                f"{name}={value.text} points git outside the working directory",
            )

    # ---- words -------------------------------------------------------------------------
    def eval_word(self, node, *, assignment: bool = False) -> list[Arg]:
        """Expand one word node into the argument(s) it becomes."""
        alts = self.ev(node, False)
        out: list[Arg] = []
        for text, mask in alts:
            if assignment:
                # no brace expansion or splitting in assignments; ~ after = or : is expanded
                text, mask = self._tilde(text, mask, assignment=True)
                out.append(Arg(text, mask))
                continue
            for bt, bm in _brace_expand(text, mask) if "{" in text else [(text, mask)]:
                bt, bm = self._tilde(bt, bm)
                for st, sm in _split_fields(bt, bm, self.ifs):
                    out.append(Arg(st, sm))
        return out

    def _tilde(self, text: str, mask: str, assignment: bool = False) -> tuple[str, str]:
        if text.startswith("~") and mask[:1] == "u":
            end = text.find("/")
            end = len(text) if end < 0 else end
            if all(m == "u" for m in mask[:end]):
                head = text[:end]
                if head == "~" and "HOME" in self.vars:
                    exp = self.home_value()  # HOME=… earlier in this command moves ~
                elif head == "~+":
                    exp = self.cur  # $PWD
                else:
                    exp = self.ctx.expand_user(head)
                if exp is None:
                    return DYN + text[end:], "d" + mask[end:]
                return exp + text[end:], "q" * len(exp) + mask[end:]
        if assignment and ":~" in text:
            parts = text.split(":")
            if all(p.startswith("~/") or p == "~" or not p.startswith("~") for p in parts):
                new = ":".join(
                    self.ctx.expand_user(p) or p if p.startswith("~") else p for p in parts
                )
                return new, "q" * len(new)
        return text, mask

    def home_value(self) -> str | None:
        """$HOME as this command sees it (None when it was set to something unknown)."""
        if "HOME" not in self.vars:
            return self.ctx.home_raw
        vals = self.vars["HOME"]
        if len(vals) == 1 and DYN not in vals[0][0] and ITEM not in vals[0][0] and vals[0][0]:
            return vals[0][0]
        return None

    def ev(self, node, q: bool) -> list[tuple[str, str]]:
        t = node.type
        if t == "word":
            s = self.text(node)
            if q:
                return [(s, "q" * len(s))]
            return [_unescape_word(s)]
        if t in (
            "number",
            "extglob_pattern",
            "regex",
            "test_operator",
            "variable_name",
            "special_variable_name",
            "file_descriptor",
        ):
            s = self.text(node)
            return [(s, ("q" if q else "u") * len(s))]
        if t == "raw_string":
            s = self.text(node)[1:-1]
            return [(s, "q" * len(s))]
        if t == "ansi_c_string":
            s = decode_ansi_c(self.text(node)[2:-1])
            return [(s, "q" * len(s))]
        if t in ("string", "translated_string"):
            return self._ev_string(node)
        if t == "concatenation":
            return _product([self.ev(c, q) for c in node.children])
        if t in ("simple_expansion", "expansion"):
            return self.expand(node, q)
        if t == "command_substitution":
            value = self.substitution(node)
            return [(value, "c" if value == DYN else ("i" if value == ITEM else "q" * len(value)))]
        if t == "process_substitution":
            self.substitution(node)
            return [(PSUB, "p")]
        if t == "arithmetic_expansion":
            self.words_for_effects(node)
            return [(DYN, "d")]
        if t == "brace_expression":
            s = self.text(node)
            return [(s, "u" * len(s))]
        if t == "comment":
            return [("", "")]
        self.words_for_effects(node)
        return [(DYN, "d")]

    def _ev_string(self, node) -> list[tuple[str, str]]:
        parts: list[list[tuple[str, str]]] = []
        children = node.children
        start = node.start_byte + (2 if node.type == "translated_string" else 1)
        end = node.end_byte - 1
        pos = start
        for child in children:
            if not child.is_named:
                continue
            if child.start_byte > pos:
                gap = _unescape_dq(
                    self.src[pos : child.start_byte].decode("utf-8", "surrogateescape")
                )
                parts.append([(gap, "q" * len(gap))])
            if child.type == "string_content":
                s = _unescape_dq(self.text(child))
                parts.append([(s, "q" * len(s))])
            else:
                parts.append(self.ev(child, True))
            pos = child.end_byte
        if end > pos:
            gap = _unescape_dq(self.src[pos:end].decode("utf-8", "surrogateescape"))
            parts.append([(gap, "q" * len(gap))])
        return _product(parts) if parts else [("", "")]

    def lookup(self, name: str, q: bool, *, record: bool = True) -> list[tuple[str, str]]:
        kind = "q" if q else "v"
        if record and self.names_seen is not None:
            self.names_seen.append(name)
        if name in self.vars:
            vals = self.vars[name]
        elif name.isdigit() or name in ("@", "*"):
            if self.positional is None:
                vals = [(DYN, "d")]
            elif name in ("@", "*"):
                rest = self.positional[1:]
                vals = [("", "")] if not rest else rest[0] if len(rest) == 1 else [(DYN, "d")]
            else:
                idx = int(name)
                vals = self.positional[idx] if idx < len(self.positional) else [("", "")]
        elif name == "HOME":
            vals = [(self.ctx.home_raw, "v" * len(self.ctx.home_raw))]
        elif name == "PWD":
            vals = [(self.cur, "v" * len(self.cur))] if self.cur else [(DYN, "d")]
        elif name in ("USER", "LOGNAME"):
            user = os.environ.get("USER") or os.environ.get("LOGNAME")
            vals = [(user, "v" * len(user))] if user else [(DYN, "d")]
        else:
            vals = [(DYN, "d")]
        out = []
        for text, mask in vals:
            if text == DYN:
                out.append((DYN, "d"))
            elif text == ITEM:
                out.append((ITEM, "i"))
            else:
                out.append(
                    (
                        text,
                        "".join(m if m in "dcip" else kind for m in mask)
                        if len(mask) == len(text)
                        else kind * len(text),
                    )
                )
        return out

    def expand(self, node: Node, q: bool) -> list[tuple[str, str]]:
        named = node.named_children
        if node.type == "simple_expansion":
            name = self.text(named[0]) if named else ""
            if name == "IFS":
                self.deny("obfuscation.ifs", "$IFS is used to hide spaces in a command")
            return self.lookup(name, q)
        # ${…}
        braced = self._braced_name(node)
        if braced is None:
            return [(DYN, "d")]
        name = braced
        rest = named[1:]
        ops = [self.text(c) for c in node.children if not c.is_named][1:-1]
        base = self.lookup(name, q)
        if not ops and not rest:
            return base
        op = ops[0] if ops else ""
        if op in (":+", "+", ":?", "?") and self.names_seen and self.names_seen[-1] == name:
            self.names_seen.pop()  # only tests whether the variable is set
        # evaluate the operand words (their substitutions run)
        operand_alts: list[tuple[str, str]] = [("", "")]
        if rest:
            operand_alts = _product([self.ev(c, True) for c in rest])
        if op in (":-", "-", ":=", "="):
            out = _default_value(base, operand_alts, q)
            if op in (":=", "="):
                self.vars[name] = out
            return out[:MAX_ALTERNATIVES]
        return _expansion_operator(op, base, operand_alts, q)

    def _braced_name(self, node: Node) -> str | None:
        """The variable of ``${…}``, or None when its value cannot be known (``${#x}``,
        ``${!x}``, ``${a[i]}``…; their substitutions are run)."""
        raw = self.text(node)
        named = node.named_children
        if not named:
            return None
        first = named[0]
        if first.type == "subscript":
            self.words_for_effects(first)
            return None
        if first.type not in ("variable_name", "special_variable_name"):
            self._child_effects(node)
            return None
        name = self.text(first)
        if name == "IFS":
            self.deny("obfuscation.ifs", "${IFS} is used to hide spaces in a command")
        if raw.startswith("${!") and not re.fullmatch(r"\$\{![A-Za-z_]\w*(\*|@|\[[@*]\])\}", raw):
            # ${!name}: the value of the variable whose name is in $name — any variable at all
            self.ask(
                "shell.indirect_variable",
                f"{raw} reads a variable chosen at run time (it may be a secret)",
            )
        if raw.startswith(("${#", "${!")):
            self._child_effects(node)
            return None
        return name

    def _child_effects(self, node) -> None:
        for child in node.children:
            self.words_for_effects(child)

    def substitution(self, node) -> str:
        """Check the commands of ``$(…)``/backticks/``<(…)``; return what it prints if known."""
        self._visited.add(node.id)
        inner = [c for c in node.named_children if c.type != "comment"]
        saved = self._save()
        kinds: set[str] = set()
        for child in inner:
            kinds |= self.stmt(child, None)
        self._restore(saved)
        if len(inner) == 1 and inner[0].type == "command":
            words = self.text(inner[0]).split()
            if words in (["pwd"], ["pwd", "-P"], ["pwd", "-L"]) and self.cur:
                return self.cur
        if kinds and kinds <= {"cwd_list"}:
            return ITEM
        return DYN

    # ---- commands ------------------------------------------------------------------------
    def command(self, node, pipe_in, extra_words: list, stdin) -> set[str]:
        self._visited.add(node.id)
        env: dict[str, Arg] = {}
        words: list = []
        saved_tails, self._tails = self._tails, []
        try:
            for child in node.named_children:
                if child.type == "variable_assignment":
                    res = self.assignment(child, persist=False)
                    if res is not None:
                        env[res[0]] = res[1]
                elif child.type in ("file_redirect", "heredoc_redirect", "herestring_redirect"):
                    got = self.redirect(child, extra_words)
                    if got is not None:
                        stdin = got
                elif child.type == "command_name":
                    words.append(child.named_children[0] if child.named_children else child)
                elif child.type == "comment":
                    continue
                else:
                    words.append(child)
        finally:
            tails, self._tails = self._tails, saved_tails
        words.extend(extra_words)
        if not words:
            return self._run_tails(tails, {"other"}) or {"other"}
        # A word with several possible values (a loop variable) gives one command per value.
        out: set[str] = set()
        variants = self._variants(words)
        for argv in variants:
            out |= self.simple(argv, env, pipe_in, stdin)
        out = out or {"other"}
        return self._run_tails(tails, out) or out

    def _variants(self, words) -> list[list[Arg]]:
        """Evaluate words; a word whose value has alternatives yields one command per choice."""
        per_word: list[list[list[Arg]]] = []
        for w in words:
            saved_names = self.names_seen
            self.names_seen = []
            try:
                alts = self.ev(w, False)
                names = tuple(self.names_seen)
            finally:
                self.names_seen = saved_names
            options: list[list[Arg]] = []
            for text, mask in alts:
                args: list[Arg] = []
                for bt, bm in _brace_expand(text, mask) if "{" in text else [(text, mask)]:
                    bt, bm = self._tilde(bt, bm)
                    args.extend(Arg(st, sm, names) for st, sm in _split_fields(bt, bm, self.ifs))
                options.append(args)
            per_word.append(options)
        variants: list[list[Arg]] = [[]]
        for options in per_word:
            if len(options) == 1:
                variants = [v + options[0] for v in variants]
            else:
                variants = [v + o for v in variants for o in options]
            if len(variants) > MAX_ALTERNATIVES:
                variants = [
                    [Arg(DYN, "d")] if not v else v[:1] + [Arg(DYN, "d")] for v in variants[:1]
                ]
        return variants

    def simple(self, argv: list[Arg], env: dict[str, Arg], pipe_in, stdin) -> set[str]:
        from . import commands  # the per-command rules

        self.tick()
        if not argv:
            return {"other"}
        head = argv[0]
        if not head.static or head.glob:
            self.deny(
                "exec.dynamic_command_name",
                f"the command name {head.show()!r} is computed at run time and cannot be checked",
            )
            for a in argv[1:]:
                self.check_arg_read(a)
            return {"other"}
        word = head.text
        if word == "":
            return {"other"}
        if "/" in word:
            if self.cur is None and not word.startswith(("/", "~")):
                self.ask(
                    "cwd.unknown", f"{word} is run from a current directory that is unknown here"
                )
                for a in argv[1:]:
                    self.check_arg_read(a)
                return {"other"}
            real = self.ctx.resolve(word, self.cur)
            if real in self.written:
                self.deny(
                    "exec.write_then_run",
                    f"{word} is written and run by the same command; its content cannot be checked",
                )
                return {"other"}
            if self.ctx.inside_root(real) and not real.startswith(("/usr/", "/bin/", "/sbin/")):
                cmd = Cmd(normalize_name(word), word, argv[1:], env, pipe_in, stdin)
                commands.local_program(self, cmd, real)
                return cmd.out
            if self.ctx.is_tmp(real):
                self.deny("exec.from_tmp", f"{word} runs a program from a shared temporary folder")
                return {"other"}
            secret = self.ctx.secret(real)
            if secret:
                self.deny("secrets.read", f"{word}: {secret}")
                return {"other"}
        name = normalize_name(word)
        if "/" not in word and name in self.functions:
            for a in argv[1:]:
                self.check_arg_read(a)
            return {"other"}
        cmd = Cmd(name, word, argv[1:], env, pipe_in, stdin)
        commands.dispatch(self, cmd)
        return cmd.out

    # ---- path checks ------------------------------------------------------------------
    def check_delete(self, arg: Arg, *, recursive: bool) -> str | None:
        if arg.psub:
            return None
        if arg.item:
            real = self.item_real(arg)
            if real is None:
                self.deny("write.unresolved_target", f"cannot tell what '{arg.show()}' deletes")
            return real
        if not arg.static:
            rule = "shell.recursive_delete_unresolved" if recursive else "write.unresolved_target"
            self.deny(
                rule,
                f"the delete target '{arg.show()}' is computed at run time and cannot be checked",
            )
            return None
        text = arg.text
        if text == "":
            return None
        if arg.glob:
            base = self.ctx.expand_user(text) or text
            pattern = (
                base if base.startswith("/") else os.path.join(self.cur or self.ctx.root, base)
            )
            fixed = glob_fixed_parts(pattern)
            prefix = "/".join(fixed) or "/"
            if self.cur is None and not text.startswith("/"):
                self.deny(
                    "write.unresolved_target",
                    f"the current directory is unknown here, so '{text}' cannot be located",
                )
                return None
            real_prefix = self.ctx.resolve(prefix)
            # deleting everything in a folder is like deleting the folder (for ~ or / that matters)
            v = (
                self.ctx.delete_violation(prefix, real_prefix, recursive=recursive or True)
                if pattern.split("/")[len(fixed) :] in (["*"], ["*", ""], [".*"], ["*", "*"])
                else self.ctx.write_violation(prefix, real_prefix, verb="delete")
            )
            if v is not None and not (
                v.rule == "shell.recursive_delete_outside_cwd"
                and real_prefix == self.ctx.root
                and self.ctx.root not in self.ctx.homes
            ):
                self.violation(v)
                return None
            if ".." in pattern.split("/")[len(fixed) :]:
                self.deny(
                    "write.unresolved_target", f"the delete pattern {text} climbs out with '..'"
                )
                return None
            matches = self._glob(pattern)
            for m in matches:
                real = os.path.join(os.path.realpath(os.path.dirname(m)), os.path.basename(m))
                v = self.ctx.delete_violation(m, real, recursive=recursive)
                if v is not None:
                    self.violation(v)
                    return None
            return real_prefix
        if self.cur is None and not text.startswith(("/", "~")):
            self.deny(
                "write.unresolved_target",
                f"the current directory is unknown here, so '{text}' cannot be located",
            )
            return None
        # rm removes the link itself, not its target: resolve the parent only
        expanded = self.ctx.expand_user(text) or text
        absolute = (
            expanded
            if expanded.startswith("/")
            else os.path.join(self.cur or self.ctx.root, expanded)
        )
        stripped = absolute.rstrip("/") or "/"
        if os.path.islink(stripped) and not absolute.endswith("/"):
            real = os.path.join(
                os.path.realpath(os.path.dirname(stripped)), os.path.basename(stripped)
            )
        else:
            real = self.ctx.resolve(stripped)
            if absolute.endswith("/") or real not in self.links:
                real = self.through_links(real)
        v = self.ctx.delete_violation(text, real, recursive=recursive)
        if v is not None:
            self.violation(v)
            return None
        self.written.add(real)
        return real

    def check_read_path(self, text: str, real: str) -> None:
        real = self.through_links(real)
        secret = self.ctx.secret(real)
        if secret:
            self.deny("secrets.read", f"reading {text}: {secret}")

    def check_arg_read(self, arg: Arg, cmd: Cmd | None = None, *, path: bool = False) -> None:
        """Deny when an argument names a secret location (a file the command may read).

        ``path``: the argument is a file the program reads for sure, so a name computed at run
        time, or a relative name once the current directory is unknown, is asked."""
        if arg.psub or arg.item:
            return
        text = arg.text
        if not arg.static:
            self._check_dynamic_read(arg, cmd.word if cmd is not None else "the command", path)
            return
        if text.startswith("-"):
            name, eq, val = text.partition("=")
            if not eq or not val:
                return
            text = val
        if text.startswith(("/dev/tcp/", "/dev/udp/")):
            self.deny("network.dev_tcp", f"{text} opens a network connection from the shell")
            return
        if (
            "/" not in text
            and not text.startswith("~")
            and self.cur == self.ctx.root
            and not self._root_secret
            and not arg.glob
            and not os.path.islink(os.path.join(self.cur, text))
        ):
            return  # a plain file name in the working directory (not a symlink)
        if self.cur is None and not text.startswith(("/", "~")):
            if path:
                self.ask(
                    "cwd.unknown",
                    f"the current directory is unknown here (a cd to a computed folder), so "
                    f"{text!r} cannot be located",
                )
            return
        if arg.glob:
            self._check_glob_read(text)
            return
        real = self.through_links(self.ctx.resolve(text, self.cur))
        secret = self.ctx.secret(real)
        if secret:
            self.deny("secrets.read", f"reading {text}: {secret}")
            return
        if (
            cmd is not None
            and not self.ctx.inside_root(real)
            and real not in ("/dev/null", "/dev/stdin")
            and (text.startswith(("/", "~", "..")) or self.cur != self.ctx.root)
            and os.path.exists(real)
        ):
            cmd.read_outside = True

    def _check_dynamic_read(self, arg: Arg, who: str, path: bool) -> None:
        """A read whose name is computed at run time: its static tail may still name a secret."""
        text = arg.text
        if "/" in text:
            tail = text.rsplit(DYN, 1)[-1]
            if tail.count("/") >= 1 and len(tail.strip("/")) > 1:
                pattern = text.replace(DYN, "*").replace(ITEM, "*")
                if not pattern.startswith("/"):
                    pattern = "*/" + pattern if pattern.startswith("*") else pattern
                hit = self.ctx.secret_pattern(pattern if pattern.startswith("/") else "/" + pattern)
                if hit:
                    self.deny("secrets.read", f"{arg.show()} may name a secret: {hit}")
                    return
        if path and DYN in text:
            self.ask(
                "read.computed_path",
                f"{who} reads {arg.show()}, a path computed at run time that cannot be checked",
            )

    def _check_glob_read(self, text: str) -> None:
        """A glob read: denied when the pattern or a file it matches is a secret location."""
        base = self.ctx.expand_user(text) or text
        pattern = os.path.normpath(
            base if base.startswith("/") else os.path.join(self.cur or self.ctx.root, base)
        )
        hit = self.ctx.secret_pattern(pattern) or self.ctx.secret_glob(pattern)
        if hit:
            self.deny("secrets.read", f"{text}: {hit}")
            return
        for m in self._glob(pattern):
            secret = self.ctx.secret(self.ctx.resolve(m))
            if secret:
                self.deny("secrets.read", f"{text} matches {m}: {secret}")
                return

    def check_listed(self, arg: Arg) -> None:
        """An operand the program only looks at (ls, stat): located, not read."""
        if (
            arg.static
            and self.cur is None
            and arg.text not in ("", "-")
            and not arg.text.startswith(("/", "~", "-"))
        ):
            self.ask(
                "cwd.unknown",
                f"the current directory is unknown here, so {arg.text!r} cannot be located",
            )

    def check_recursive_read(self, arg: Arg, *, follow: bool = False) -> None:
        """A folder read with everything below it: no secret may be inside (outside the working
        directory every file is looked at; inside it, links leading out when ``follow``)."""
        if not arg.static or arg.glob:
            return
        text = arg.text
        if self.cur is None and not text.startswith(("/", "~")):
            return
        real = self.ctx.resolve(text, self.cur)
        if self.ctx.holds_secrets(real) and not self.ctx.inside_root(real):
            self.deny(
                "secrets.read",
                f"reading everything under {real} includes credentials (e.g. ~/.ssh, /etc/shadow)",
            )
            return
        hit, cut = self.ctx.scan_secrets(real, follow_links=follow, deadline=self.deadline)
        if hit:
            self.deny("secrets.read", f"reading everything under {text} includes a secret: {hit}")
        elif cut and not self.ctx.inside_root(real):
            self.ask("read.unbounded", f"{text} holds too many files to check them all for secrets")


# The statement kinds of tree-sitter-bash and the Analyzer method that checks each ("command"
# is checked by ``stmt`` itself; any other kind is searched for the commands it contains).
_STATEMENTS: dict[str, str] = {  # kind -> the name of the Analyzer method
    "program": "_sequence",
    "compound_statement": "_sequence",
    "do_group": "_sequence",
    "else_clause": "_sequence",
    "elif_clause": "_sequence",
    "list": "_list",
    "pipeline": "pipeline",
    "redirected_statement": "redirected",
    "subshell": "_subshell",
    "if_statement": "branches",
    "case_statement": "branches",
    "while_statement": "loop",
    "for_statement": "loop",
    "c_style_for_statement": "loop",
    "function_definition": "_function_stmt",
    "negated_command": "_last",
    "variable_assignment": "_assignment_stmt",
    "variable_assignments": "_assignments_stmt",
    "declaration_command": "_declaration_stmt",
    "unset_command": "_unset_stmt",
    "test_command": "_test_stmt",
    "comment": "_comment_stmt",
}


# Variables with a meaning for the policy, in the order they are looked up (a name in two sets
# gets the first check); a ``BASH_FUNC_*`` name not in any is a function definition.
_ENV_CHECKS: tuple[tuple[Container[str], str], ...] = (  # names -> Analyzer method
    (ENV_LOADER_VARS, "_env_loader"),
    (ENV_STARTUP_VARS, "_env_startup"),
    (("PS4", "PS0", "PS1"), "_env_prompt"),
    (ENV_PATH_VARS, "_env_path_var"),
    (("IFS",), "_env_ignored"),
    (("CDPATH",), "_env_cdpath"),
    (ENV_EXEC_VARS, "_env_exec"),
    (("NODE_OPTIONS",), "_env_node_options"),
    (("PATH",), "_env_path"),
    (("GIT_DIR", "GIT_WORK_TREE"), "_env_git_dir"),
)


# ---- ${name OP word} -------------------------------------------------------------------
Alts = list[tuple[str, str]]  # the alternatives of a word: (text, mask)


def _as_operand(alts: Alts, q: bool) -> Alts:
    """Operand words in an unquoted expansion: their quoted parts become unquoted values."""
    return [(a[0], a[1] if q else a[1].replace("q", "v")) for a in alts]


def _default_value(base: Alts, operand_alts: Alts, q: bool) -> Alts:
    """``${x:-word}``, ``${x:=word}``: the value, or the word when it may be unset or empty."""
    if base and all(v[0] not in (DYN, "") for v in base):
        return base
    known = [v for v in base if v[0] != DYN]
    unknown: Alts = [(DYN, "d")] if any(v[0] == DYN for v in base) else []
    return known + _as_operand(operand_alts, q) + unknown


def _trimmed(base: Alts, operand_alts: Alts, op: str, q: bool) -> Alts:
    """``${x#pat}``, ``${x%%pat}``…: known when the value and one static pattern are."""
    out: Alts = []
    for text, mask in base:
        if text in (DYN, ITEM):
            out.append((text, mask))
            continue
        pats = [a[0] for a in operand_alts]
        if len(pats) != 1 or DYN in pats[0]:
            out.append((DYN, "d"))
            continue
        out.append(_trim(text, pats[0], op, "q" if q else "v"))
    return out


def _replaced(base: Alts, operand_alts: Alts) -> Alts:
    """``${x/a/b}``: a listed file name stays one if the replacement adds no path."""
    out: Alts = []
    for text, _mask in base:
        if text == ITEM:
            bad = any(".." in a[0] or "/" in a[0] or DYN in a[0] for a in operand_alts)
            out.append((DYN, "d") if bad else (ITEM, "i"))
        else:
            out.append((DYN, "d"))
    return out


def _expansion_operator(op: str, base: Alts, operand_alts: Alts, q: bool) -> Alts:
    """The alternatives of ``${name OP word}`` for every operator but the defaults."""
    if op in (":+", "+"):
        return _as_operand(operand_alts, q) + [("", "")]
    if op in (":?", "?"):
        return base
    if op in ("#", "##", "%", "%%"):
        return _trimmed(base, operand_alts, op, q)
    if op in ("/", "//", "/#", "/%"):
        return _replaced(base, operand_alts)
    if op in ("^", "^^", ",", ",,", ":", "@"):
        return [(ITEM, "i") if text == ITEM else (DYN, "d") for text, _ in base]
    return [(DYN, "d")]
