"""Interpreter one-liners (``python -c``, ``perl -e``, ``node -e``, ``awk``, ``sed``…).

Python code is parsed with ``ast``: imports and aliases are tracked, constant paths are folded
(``os.path.expanduser('~/.ssh/id_rsa')``, ``Path.home() / '.bashrc'``), and every sink is
checked: shell commands (``os.system``, ``subprocess``) are analysed as shell, file writes must
stay inside the working directory, secret reads are denied, sockets are denied, dynamic code
(``eval`` of a computed string, ``getattr`` tricks) is denied. Other languages have no parser
here: their code is scanned for the calls that run commands, open sockets or write files, and
when unsure the one-liner is denied.
"""

from __future__ import annotations

import ast
import os
import re
import shlex
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ...records import record
from .paths import CLOUD_METADATA
from .words import Arg, lit
from ...redact import LazyRegex  # module patterns: compiled on first use

if TYPE_CHECKING:  # pragma: no cover
    from .shell import Analyzer


def _lit(text: str) -> Arg:
    return lit(text)


# --------------------------------------------------------------------------------------
# Python
# --------------------------------------------------------------------------------------
_SHELL_SINKS = {
    "os.system",
    "os.popen",
    "os.popen2",
    "os.popen3",
    "os.popen4",
    "subprocess.getoutput",
    "subprocess.getstatusoutput",
    "commands.getoutput",
    "commands.getstatusoutput",
    "platform.popen",
    "asyncio.create_subprocess_shell",
    "pty.spawn",
}
_ARGV_SINKS = {
    "subprocess.run",
    "subprocess.call",
    "subprocess.check_call",
    "subprocess.check_output",
    "subprocess.Popen",
    "asyncio.create_subprocess_exec",
    "os.posix_spawn",
    "os.posix_spawnp",
}
_EXEC_FAMILY = LazyRegex(r"^os\.(exec|spawn)[lv]p?e?$")
_CODE_SINKS = {
    "builtins.eval",
    "builtins.exec",
    "builtins.compile",
    "builtins.execfile",
    "code.interact",
    "runpy.run_code",
    "builtins.__import__",
    "importlib.import_module",
    "importlib.__import__",
    "runpy.run_module",
    "runpy.run_path",
    "pickle.loads",
    "marshal.loads",
    "pickle.load",
    "dill.loads",
}
_DYNAMIC = {
    "builtins.getattr",
    "builtins.setattr",
    "builtins.delattr",
    "builtins.globals",
    "builtins.locals",
    "builtins.vars",
    "sys.modules",
    "builtins.__builtins__",
    "operator.attrgetter",
    "operator.methodcaller",
    "types.FunctionType",
    "types.CodeType",
    "sys.settrace",
    "sys.setprofile",
}
_DYNAMIC_ATTRS = {
    "__globals__",
    "__builtins__",
    "__subclasses__",
    "__code__",
    "__class__",
    "__bases__",
    "__mro__",
    "__dict__",
    "__getattribute__",
    "__loader__",
    "__spec__",
    "f_globals",
    "f_locals",
    "gi_frame",
    "tb_frame",
    "f_back",
    "__reduce__",
    "__reduce_ex__",
}
_RAW_NET = (
    "socket",
    "_socket",
    "telnetlib",
    "asyncio.open_connection",
    "asyncio.start_server",
    "ssl.wrap_socket",
    "socketserver",
    "paramiko",
    "websocket",
    "websockets",
    "pexpect",
    "ptyprocess",
)
_NET_MODULES = (
    "urllib",
    "urllib2",
    "urllib3",
    "http.client",
    "httplib",
    "requests",
    "httpx",
    "aiohttp",
    "ftplib",
    "smtplib",
    "poplib",
    "imaplib",
    "xmlrpc",
    "webbrowser",
    "http.server",
    "pycurl",
    "wget",
    "boto3",
    "botocore",
    "google.cloud",
    "azure",
    "dns",
    "nntplib",
)
_DENY_MODULES = (
    "ctypes",
    "cffi",
    "_ctypes",
    "mmap",
    "ptrace",
    "pty",
    "fcntl.ioctl",
    "resource.setrlimit",
)
_PRIV = LazyRegex(
    r"^os\.(setuid|setgid|seteuid|setegid|setreuid|setregid|setresuid|setresgid|setgroups|initgroups|chroot)$"
)
_WRITE_ARG0 = {
    "os.mkdir": "write",
    "os.makedirs": "write",
    "os.chown": "write",
    "os.lchown": "write",
    "os.truncate": "write",
    "os.utime": "write",
    "os.mkfifo": "write",
    "os.mknod": "write",
    "os.remove": "delete",
    "os.unlink": "delete",
    "os.rmdir": "delete",
    "os.removedirs": "delete",
    "shutil.rmtree": "rdelete",
    "shutil.chown": "write",
    "os.chmod": "write",
    "os.lchmod": "write",
    "shutil.make_archive": "write",
    "os.chflags": "write",
    "os.setxattr": "write",
    "os.removexattr": "write",
}
_MOVE_LIKE = {
    "os.rename": ("delete", "write"),
    "os.renames": ("delete", "write"),
    "os.replace": ("delete", "write"),
    "shutil.move": ("delete", "write"),
    "shutil.copy": ("read", "write"),
    "shutil.copy2": ("read", "write"),
    "shutil.copyfile": ("read", "write"),
    "shutil.copytree": ("rread", "write"),
    "shutil.copymode": ("read", "write"),
    "shutil.copystat": ("read", "write"),
    "shutil.copyfileobj": ("skip", "skip"),
    "os.link": ("hardlink", "write"),
    "os.symlink": ("link", "write"),
    "shutil.unpack_archive": ("read", "write"),
}
_PATH_WRITE_METHODS = {
    "write_text": "write",
    "write_bytes": "write",
    "touch": "write",
    "mkdir": "write",
    "unlink": "delete",
    "rmdir": "delete",
    "symlink_to": "write",
    "hardlink_to": "write",
    "link_to": "write",
    "chmod": "write",
    "lchmod": "write",
    "rename": "move",
    "replace": "move",
    "rmtree": "rdelete",
    "copy": "copy",
    "move": "move",
}
_DISTINCT_PATH_METHODS = {
    "write_text",
    "write_bytes",
    "symlink_to",
    "hardlink_to",
    "link_to",
    "unlink",
    "rmtree",
}
_SAVE_METHODS = LazyRegex(
    r"^(to_(csv|json|parquet|excel|pickle|feather|hdf|html|latex|markdown|sql|stata|xml|file|netcdf)|"
    r"savefig|save|savez|savez_compressed|savetxt|dump|write|writelines|export|save_pretrained|"
    r"to_filename|imwrite|imsave|write_file)$"
)


@record
class _CallSite:
    """One call of a known function: its qualified name, arguments and keywords."""

    node: ast.Call
    q: str
    args: list[ast.expr]
    kw: dict[str, ast.expr]
    first: ast.expr | None


_OPENERS = frozenset(
    {
        "builtins.open",
        "io.open",
        "codecs.open",
        "io.FileIO",
        "os.fdopen",
        "gzip.open",
        "bz2.open",
        "lzma.open",
        "tarfile.open",
        "zipfile.ZipFile",
        "shelve.open",
        "dbm.open",
        "sqlite3.connect",
    }
)


class _Fold:
    """Constant folding of the expressions that build paths and commands."""

    def __init__(self, scan: "_PyScan") -> None:
        self.s = scan

    def __call__(self, node: ast.AST | None) -> Any:
        if node is None:
            return None
        try:
            return self._fold(node, 0)
        except (RecursionError, ValueError, TypeError, KeyError, IndexError, OverflowError):
            return None

    def _fold(self, node: ast.AST, depth: int) -> Any:
        if depth > 40:
            return None
        folder = _FOLDERS.get(type(node))
        return getattr(self, folder)(node, depth + 1) if folder is not None else None

    # ---- one folder per node type; ``d`` is the depth of the node's children ---------------
    def _constant(self, node: ast.Constant, d: int) -> Any:
        v = node.value
        if isinstance(v, str):
            return v
        if isinstance(v, bytes):
            return v.decode("latin-1")
        if isinstance(v, (int, float, bool)) or v is None:
            return v
        return None

    def _joined_str(self, node: ast.JoinedStr, d: int) -> Any:
        out = []
        for part in node.values:
            if isinstance(part, ast.Constant):
                out.append(str(part.value))
            elif isinstance(part, ast.FormattedValue):
                v = self._fold(part.value, d)
                if v is None or isinstance(v, list):
                    return None
                out.append(str(v))
            else:
                return None
        return "".join(out)

    def _bin_op(self, node: ast.BinOp, d: int) -> Any:
        left, right = self._fold(node.left, d), self._fold(node.right, d)
        if left is None or right is None:
            return None
        op = node.op
        if (
            isinstance(op, ast.Add)
            and type(left) is type(right)
            and isinstance(left, (str, list, int))
        ):
            return left + right
        if isinstance(op, ast.Div) and isinstance(left, str) and isinstance(right, str):
            return os.path.join(left, right)
        if isinstance(op, ast.Mod) and isinstance(left, str):
            return left % (tuple(right) if isinstance(right, list) else right)
        if isinstance(op, ast.BitOr) and isinstance(left, int) and isinstance(right, int):
            return left | right
        return None

    def _name(self, node: ast.Name, d: int) -> Any:
        return self.s.consts.get(node.id)

    def _sequence(self, node: ast.List | ast.Tuple, d: int) -> Any:
        items = [self._fold(e, d) for e in node.elts]
        if any(i is None for i in items):
            return None
        return items

    def _subscript(self, node: ast.Subscript, d: int) -> Any:
        qual = self.s.qual(node.value)
        key = self._fold(node.slice, d)
        if qual == "os.environ" and isinstance(key, str):
            return self.s.env_value(key)
        return None

    def _attribute(self, node: ast.Attribute, d: int) -> Any:
        qual = self.s.qual(node)
        if qual and qual.startswith("os.O_"):
            return getattr(os, qual[3:], None)
        if qual == "os.sep":
            return "/"
        if node.attr in ("parent",):
            v = self._fold(node.value, d)
            return os.path.dirname(v) if isinstance(v, str) else None
        return None

    def _call(self, node: ast.Call, d: int) -> Any:
        return self._fold_call(node, lambda n: self._fold(n, d))

    def _fold_call(self, node: ast.Call, f: Callable[[ast.AST], Any]) -> Any:
        args = [f(a) for a in node.args]
        qual = self.s.qual(node.func)
        function = _FOLD_FUNCTIONS.get(qual) if qual is not None else None
        if function is not None:
            return function(self.s, node, args)
        if isinstance(node.func, ast.Attribute):
            recv = f(node.func.value)
            if isinstance(recv, str):
                return _fold_str_method(self.s, recv, node.func.attr, args, node)
        return None


# node type -> the name of the _Fold method that folds it
_FOLDERS: dict[type, str] = {
    ast.Constant: "_constant",
    ast.JoinedStr: "_joined_str",
    ast.BinOp: "_bin_op",
    ast.Name: "_name",
    ast.List: "_sequence",
    ast.Tuple: "_sequence",
    ast.Subscript: "_subscript",
    ast.Attribute: "_attribute",
    ast.Call: "_call",
}


# ---- folding calls of known functions and of str/Path methods ----------------------------
_FoldFunction = Callable[["_PyScan", ast.Call, list[Any]], Any]


def _str_arg(args: list[Any]) -> str | None:
    """The first argument when it folded to a string."""
    return args[0] if args and isinstance(args[0], str) else None


def _fold_join(s: _PyScan, node: ast.Call, args: list[Any]) -> Any:
    if args and all(isinstance(a, str) for a in args):
        return os.path.join(*args)
    return None


def _fold_expanduser(s: _PyScan, node: ast.Call, args: list[Any]) -> Any:
    text = _str_arg(args)
    return s.expanduser(text) if text is not None else None


def _fold_expandvars(s: _PyScan, node: ast.Call, args: list[Any]) -> Any:
    text = _str_arg(args)
    return os.path.expandvars(text.replace("$HOME", s.home)) if text is not None else None


def _fold_same(s: _PyScan, node: ast.Call, args: list[Any]) -> Any:
    return _str_arg(args)


def _fold_dirname(s: _PyScan, node: ast.Call, args: list[Any]) -> Any:
    text = _str_arg(args)
    return os.path.dirname(text) if text is not None else None


def _fold_basename(s: _PyScan, node: ast.Call, args: list[Any]) -> Any:
    text = _str_arg(args)
    return os.path.basename(text) if text is not None else None


def _fold_cwd(s: _PyScan, node: ast.Call, args: list[Any]) -> Any:
    return s.cwd


def _fold_home(s: _PyScan, node: ast.Call, args: list[Any]) -> Any:
    return s.home


def _fold_getenv(s: _PyScan, node: ast.Call, args: list[Any]) -> Any:
    key = _str_arg(args)
    return s.env_value(key) if key is not None else None


def _fold_path(s: _PyScan, node: ast.Call, args: list[Any]) -> Any:
    if not node.args:
        return "."
    if all(isinstance(a, str) for a in args):
        return os.path.join(*args)
    return None


def _fold_functions() -> dict[str, _FoldFunction]:
    """Qualified function name -> its folder."""
    table: dict[str, _FoldFunction] = {}
    for function, names in (
        (_fold_join, "os.path.join posixpath.join"),
        (_fold_expanduser, "os.path.expanduser posixpath.expanduser"),
        (_fold_expandvars, "os.path.expandvars"),
        (
            _fold_same,
            (
                "os.path.abspath os.path.normpath os.path.realpath str builtins.str os.fspath "
                "os.fsencode os.fsdecode builtins.bytes"
            ),
        ),
        (_fold_dirname, "os.path.dirname"),
        (_fold_basename, "os.path.basename"),
        (_fold_cwd, "os.getcwd pathlib.Path.cwd os.getcwdb"),
        (_fold_home, "pathlib.Path.home"),
        (_fold_getenv, "os.getenv os.environ.get"),
        (_fold_path, "pathlib.Path pathlib.PurePath pathlib.PosixPath pathlib.PurePosixPath"),
    ):
        for name in names.split():
            table[name] = function
    return table


_FOLD_FUNCTIONS = _fold_functions()


def _fold_str_method(s: _PyScan, recv: str, meth: str, args: list[Any], node: ast.Call) -> Any:
    """``recv.meth(*args)`` for the str and Path methods that keep a path known."""
    if meth in ("expanduser",):
        return s.expanduser(recv)
    if meth in ("resolve", "absolute", "as_posix", "__str__"):
        return recv
    if meth in ("strip", "rstrip", "lstrip"):
        return recv if not args else None
    if meth == "joinpath" and all(isinstance(a, str) for a in args):
        return os.path.join(recv, *args)
    if meth == "format" and all(isinstance(a, (str, int)) for a in args) and not node.keywords:
        return recv.format(*args)
    if meth == "join" and args and isinstance(args[0], list):
        return recv.join(args[0]) if all(isinstance(a, str) for a in args[0]) else None
    first = _str_arg(args)
    if meth in ("with_suffix",) and first is not None:
        return os.path.splitext(recv)[0] + first
    if meth in ("with_name",) and first is not None:
        return os.path.join(os.path.dirname(recv), first)
    if meth in ("encode", "decode", "lower", "upper"):
        return getattr(recv, meth)() if not args else None
    return None


class _PyScan(ast.NodeVisitor):
    def __init__(self, an: "Analyzer", origin: str) -> None:
        self.an = an
        self.origin = origin
        self.aliases: dict[str, str] = {}
        self.consts: dict[str, Any] = {}
        self.func_alias: dict[str, str] = {}
        self.path_names: set[str] = set()
        self.imports: set[str] = set()
        self.exec_sink = False
        self.env_dump = False  # the whole environment is printed or passed on
        self.env_copy = False  # a copy of it is made (e.g. for a child process)
        self.reads_outside = False
        self.fold = _Fold(self)
        self.cwd = an.cur or an.ctx.root
        self.home = an.ctx.home_raw
        self.handled_calls: set[int] = set()

    # ---- helpers -------------------------------------------------------------------
    def deny(self, rule: str, reason: str) -> None:
        self.an.deny(rule, f"{self.origin}: {reason}")

    def expanduser(self, text: str) -> str:
        if text.startswith("~"):
            return self.an.ctx.expand_user(text) or text
        return text

    def env_value(self, key: str) -> str | None:
        if key == "HOME":
            return self.home
        if key == "PWD":
            return self.cwd
        if key in ("USER", "LOGNAME"):
            return os.environ.get(key)
        return None

    def qual(self, node: ast.AST) -> str | None:
        if isinstance(node, ast.Name):
            if node.id in self.aliases:
                return self.aliases[node.id]
            if node.id in self.func_alias:
                return self.func_alias[node.id]
            if node.id in (
                "open",
                "eval",
                "exec",
                "compile",
                "__import__",
                "getattr",
                "setattr",
                "delattr",
                "globals",
                "locals",
                "vars",
                "execfile",
                "str",
                "bytes",
                "input",
                "print",
                "breakpoint",
                "__builtins__",
            ):
                return f"builtins.{node.id}"
            if node.id in ("Path", "PurePath", "PosixPath") and node.id not in self.consts:
                return f"pathlib.{node.id}"
            return None
        if isinstance(node, ast.Attribute):
            base = self.qual(node.value)
            if base is None:
                return None
            if base.endswith("()"):
                return None
            return f"{base}.{node.attr}"
        if isinstance(node, ast.Call):
            q = self.qual(node.func)
            if q in ("builtins.__import__", "importlib.import_module") and node.args:
                if not isinstance(node.args[0], ast.Constant):
                    self.deny("exec.dynamic_code", "imports a module whose name is computed")
                    return None
                mod = self.fold(node.args[0])
                if isinstance(mod, str):
                    self.imports.add(mod)
                    return mod
            if q == "builtins.getattr" and len(node.args) >= 2:
                base = self.qual(node.args[0])
                name = self.fold(node.args[1])
                if base and isinstance(name, str):
                    return f"{base}.{name}"
            return None
        return None

    def path_arg(self, node: ast.AST | None) -> str | None:
        value = self.fold(node)
        if isinstance(value, str):
            return value
        return None

    def _abs(self, path: str) -> str:
        return path if path.startswith("/") else os.path.join(self.cwd, path)

    def write(self, node: ast.AST | None, verb: str) -> None:
        if node is None:
            return
        path = self.path_arg(node)
        if path is None:
            self.deny(
                "write.unresolved_target",
                f"{verb} to a path computed at run time cannot be checked",
            )
            return
        self.an.check_write(_lit(self._abs(path)), verb=verb, overwrite_risky=False)

    def delete(self, node: ast.AST | None, recursive: bool) -> None:
        if node is None:
            return
        path = self.path_arg(node)
        if path is None:
            self.deny(
                "write.unresolved_target",
                "a delete of a path computed at run time cannot be checked",
            )
            return
        self.an.check_delete(_lit(self._abs(path)), recursive=recursive)

    def read(self, node: ast.AST | None, recursive: bool = False) -> None:
        if node is None:
            return
        path = self.path_arg(node)
        if path is None:
            return
        arg = _lit(self._abs(path))
        real = self.an.ctx.resolve(arg.text, self.cwd)
        self.an.check_read_path(path, real)
        if recursive:
            self.an.check_recursive_read(arg)
        if not self.an.ctx.inside_root(real):
            self.reads_outside = True

    def shell(self, node: ast.AST | None, *, argv: bool) -> None:
        value = self.fold(node)
        if isinstance(value, str) and not argv:
            self.an.sub_shell(value, origin=f"the command run by {self.origin}")
            return
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            self.an.sub_shell(shlex.join(value), origin=f"the command run by {self.origin}")
            return
        if isinstance(value, str) and argv:
            self.an.sub_shell(
                shlex.quote(value) if " " in value and "/" in value.split()[0] else value,
                origin=f"the command run by {self.origin}",
            )
            return
        self.deny(
            "exec.dynamic_command_name", "runs a command built at run time, which cannot be checked"
        )

    # ---- visitors ------------------------------------------------------------------
    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.imports.add(alias.name)
            if alias.asname:
                self.aliases[alias.asname] = alias.name
            else:
                top = alias.name.split(".")[0]
                self.aliases[top] = top

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        mod = node.module or ""
        self.imports.add(mod)
        for alias in node.names:
            if alias.name == "*":
                if mod.split(".")[0] in (
                    "os",
                    "subprocess",
                    "pty",
                    "socket",
                    "shutil",
                    "ctypes",
                    "builtins",
                    "importlib",
                    "posix",
                    "pathlib",
                ):
                    self.deny(
                        "exec.dynamic_code",
                        f"'from {mod} import *' hides which functions are called",
                    )
                continue
            self.aliases[alias.asname or alias.name] = f"{mod}.{alias.name}"
            self.imports.add(f"{mod}.{alias.name}")

    def visit_Assign(self, node: ast.Assign) -> None:
        value = self.fold(node.value)
        q = (
            self.qual(node.value)
            if isinstance(node.value, (ast.Name, ast.Attribute, ast.Call))
            else None
        )
        pathy = self.is_pathy(node.value)
        for target in node.targets:
            if isinstance(target, ast.Name):
                if target.id in self.consts and self.consts[target.id] != value:
                    self.consts[target.id] = None
                elif value is not None:
                    self.consts[target.id] = value
                if q and not isinstance(node.value, ast.Call):
                    self.func_alias[target.id] = q
                elif (
                    q
                    and isinstance(node.value, ast.Call)
                    and q.count(".") == 0
                    and q in self.imports
                ):
                    self.aliases[target.id] = q
                if pathy:
                    self.path_names.add(target.id)
        self.generic_visit(node)

    def is_pathy(self, node: ast.AST) -> bool:
        if isinstance(node, ast.Call):
            q = self.qual(node.func)
            if q and q.startswith("pathlib."):
                return True
            if isinstance(node.func, ast.Attribute) and node.func.attr in (
                "expanduser",
                "resolve",
                "absolute",
                "joinpath",
                "with_name",
                "with_suffix",
            ):
                return self.is_pathy(node.func.value)
            return False
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            return self.is_pathy(node.left)
        if isinstance(node, ast.Name):
            return node.id in self.path_names
        if isinstance(node, ast.Attribute) and node.attr == "parent":
            return self.is_pathy(node.value)
        return False

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr in _DYNAMIC_ATTRS:
            self.deny("exec.dynamic_code", f"uses {node.attr}, a way around static checks")
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if not isinstance(node.ctx, ast.Load):
            return
        q = self.qual(node)
        if q in _DYNAMIC or q in ("builtins.__builtins__",):
            self.deny("exec.dynamic_code", f"uses {node.id}, a way around static checks")
        if (
            q in _SHELL_SINKS
            or q in _ARGV_SINKS
            or q in _CODE_SINKS
            or (q and _EXEC_FAMILY.match(q))
        ):
            if id(node) not in self.handled_calls:
                self.deny("exec.dynamic_code", f"passes {q} around instead of calling it directly")

    def visit_Call(self, node: ast.Call) -> None:
        self.handled_calls.add(id(node.func))
        q = self.qual(node.func)
        if isinstance(node.func, ast.Attribute):
            self._maybe_handled_attr(node.func)
        self.call(node, q)
        for arg in node.args:
            self.visit(arg)
        for kw in node.keywords:
            self.visit(kw.value)
        if isinstance(node.func, ast.Attribute):
            self.visit(node.func.value)
        elif not isinstance(node.func, ast.Name):
            self.visit(node.func)

    def _maybe_handled_attr(self, attr: ast.Attribute) -> None:
        if attr.attr in _DYNAMIC_ATTRS:
            self.deny("exec.dynamic_code", f"uses {attr.attr}, a way around static checks")

    def call(self, node: ast.Call, q: str | None) -> None:
        if q is None:
            self.method_call(node)
            return
        site = _CallSite(
            node,
            q,
            node.args,
            {k.arg: k.value for k in node.keywords if k.arg},
            node.args[0] if node.args else None,
        )
        for rule in _CALL_RULES:
            if getattr(self, rule)(site):
                return
        if (
            q in ("os.environ.copy", "builtins.dict")
            and site.first is not None
            and self.qual(site.first) == "os.environ"
        ):
            self.env_copy = True
        self.method_call(node)

    # ---- the rules of ``call``, in order: each returns True when it decided the call -------
    def _shell_sink(self, c: _CallSite) -> bool:
        if c.q not in _SHELL_SINKS:
            return False
        self.exec_sink = True
        self.shell(c.first or c.kw.get("cmd") or c.kw.get("command"), argv=False)
        return True

    def _argv_sink(self, c: _CallSite) -> bool:
        """subprocess.run & co.: the command (a shell string with shell=True) is checked."""
        if c.q not in _ARGV_SINKS:
            return False
        self.exec_sink = True
        shell_kw = c.kw.get("shell")
        is_shell = isinstance(shell_kw, ast.Constant) and bool(shell_kw.value)
        target = c.first if c.first is not None else c.kw.get("args")
        if c.q in ("os.posix_spawn", "os.posix_spawnp"):
            target = c.args[1] if len(c.args) > 1 else None
        if shell_kw is not None and not isinstance(shell_kw, ast.Constant):
            self.deny("exec.dynamic_command_name", "decides at run time whether to use a shell")
            return True
        value = self.fold(target)
        if is_shell or isinstance(value, str):
            self.shell(target, argv=not is_shell)
        else:
            self.shell(target, argv=True)
        if "executable" in c.kw:
            self.deny("exec.dynamic_command_name", "overrides the program to run with executable=")
        env = c.kw.get("env")
        if isinstance(env, ast.Dict):
            self._child_env(env)
        return True

    def _child_env(self, env: ast.Dict) -> None:
        """``env={...}`` of a child process: loader variables are denied."""
        for k in env.keys:
            key = self.fold(k) if k is not None else None
            if isinstance(key, str) and key.startswith(("LD_", "DYLD_")):
                self.deny("loader.ld_preload", f"sets {key} for a child process (loader injection)")

    def _exec_family(self, c: _CallSite) -> bool:
        """os.execv & co.: the program and its arguments must be known."""
        q = c.q
        if not _EXEC_FAMILY.match(q):
            return False
        self.exec_sink = True
        rest = c.args[1:]
        if q.endswith(("v", "ve", "vp", "vpe")):
            value = self.fold(rest[0]) if rest else None
        else:
            value = [self.fold(a) for a in rest if not (q.endswith("e") and a is rest[-1])]
        if isinstance(value, list) and all(isinstance(v, str) for v in value) and value:
            self.an.sub_shell(shlex.join(value), origin=f"the program run by {self.origin}")
        else:
            self.deny("exec.dynamic_command_name", f"{q} runs a program built at run time")
        return True

    def _code_sink(self, c: _CallSite) -> bool:
        """eval, exec, __import__, runpy: code that can be read is checked, other code denied."""
        q = c.q
        if q not in _CODE_SINKS:
            return False
        code = self.fold(c.first)
        if isinstance(code, str):
            if q in ("builtins.eval", "builtins.exec", "builtins.compile"):
                analyze_python(self.an, code, origin=f"code evaluated by {self.origin}")
                return True
            if q in (
                "builtins.__import__",
                "importlib.import_module",
                "importlib.__import__",
            ) and isinstance(c.first, ast.Constant):
                self.imports.add(code)
                return True
            if q == "runpy.run_path":
                return True
            if q == "runpy.run_module":
                self.imports.add(code)
                return True
        self.exec_sink = True
        self.deny(
            "exec.dynamic_code",
            f"{q.replace('builtins.', '')}() runs code that cannot be read here",
        )
        return True

    def _dynamic(self, c: _CallSite) -> bool:
        """getattr & co. hide which function is called (``getattr(x, "name")`` does not)."""
        if c.q not in _DYNAMIC:
            return False
        args = c.args
        if not (
            c.q == "builtins.getattr"
            and len(args) >= 2
            and isinstance(args[1], ast.Constant)
            and isinstance(args[1].value, str)
            and not args[1].value.startswith("_")
        ):
            self.deny(
                "exec.dynamic_code",
                f"{c.q.replace('builtins.', '')}() hides which function is called",
            )
        return True

    def _forbidden(self, c: _CallSite) -> bool:
        """Raw sockets, native code, privilege changes and fork: denied."""
        q = c.q
        top = q.split(".")[0]
        if q.startswith(_RAW_NET) or top in ("socket", "_socket"):
            self.deny("reverse_shell.socket", f"opens a raw network socket ({q})")
        elif q.startswith(_DENY_MODULES) or top in ("ctypes", "cffi", "_ctypes"):
            self.deny(
                "exec.native_code", f"{q} can do anything a program can, beyond static checks"
            )
        elif _PRIV.match(q):
            self.deny("privilege.change", f"{q} changes the process's privileges")
        elif q in ("os.fork", "os.forkpty"):
            self.deny(
                "system.fork_bomb", f"{q} forks the interpreter (fork bomb pattern in a one-liner)"
            )
        else:
            return False
        return True

    def _kill(self, c: _CallSite) -> bool:
        if c.q not in ("os.kill", "os.killpg"):
            return False
        pid = self.fold(c.first)
        if c.q == "os.killpg" or not isinstance(pid, int) or pid in (-1, 0, 1):
            self.deny("system.kill_all", f"{c.q} may signal every process or init")
        return True

    def _open(self, c: _CallSite) -> bool:
        """open() and its relatives: the mode says whether the file is read or written."""
        q = c.q
        if q not in _OPENERS:
            return False
        if q == "os.fdopen":
            return True
        mode = c.args[1] if len(c.args) > 1 else c.kw.get("mode")
        mode_v = self.fold(mode) if mode is not None else ("r" if q != "sqlite3.connect" else "w")
        target = (
            c.first
            if c.first is not None
            else c.kw.get("file") or c.kw.get("filename") or c.kw.get("name")
        )
        if mode is not None and not isinstance(mode_v, str):
            self.write(target, "open")
        elif isinstance(mode_v, str) and any(ch in mode_v for ch in "wax+"):
            self.write(target, "open for writing")
        else:
            self.read(target)
        return True

    def _os_open(self, c: _CallSite) -> bool:
        if c.q != "os.open":
            return False
        flags = self.fold(c.args[1]) if len(c.args) > 1 else None
        wr = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
        if not isinstance(flags, int) or flags & wr:
            self.write(c.first, "open for writing")
        else:
            self.read(c.first)
        return True

    def _write_arg0(self, c: _CallSite) -> bool:
        """Functions that write or delete the path in their first argument."""
        q = c.q
        if q not in _WRITE_ARG0:
            return False
        kind = _WRITE_ARG0[q]
        target = (
            c.first
            if c.first is not None
            else c.kw.get("path") or c.kw.get("name") or c.kw.get("base_name")
        )
        if kind != "write":
            self.delete(target, recursive=(kind == "rdelete"))
            return True
        self.write(target, q)
        if q in ("os.chmod", "os.lchmod") and len(c.args) > 1:
            mode = self.fold(c.args[1])
            if not isinstance(mode, int) or mode & 0o6000:
                self.deny("privilege.setuid", f"{q} sets a setuid/setgid bit or a computed mode")
        return True

    def _move_like(self, c: _CallSite) -> bool:
        """copy, move, link, unpack: the source by its kind, the destination written."""
        q = c.q
        if q not in _MOVE_LIKE:
            return False
        src_kind, dst_kind = _MOVE_LIKE[q]
        src = c.first if c.first is not None else c.kw.get("src")
        dst = c.args[1] if len(c.args) > 1 else c.kw.get("dst") or c.kw.get("extract_dir")
        self._move_source(src_kind, src)
        if dst_kind == "write" and not (dst is None and q == "shutil.unpack_archive"):
            self.write(dst, q)
        return True

    def _move_source(self, src_kind: str, src: ast.expr | None) -> None:
        if src_kind == "delete":
            self.delete(src, recursive=True)
        elif src_kind in ("read", "rread"):
            self.read(src, recursive=(src_kind == "rread"))
        elif src_kind == "hardlink":
            path = self.path_arg(src)
            real = self.an.ctx.resolve(self._abs(path)) if path else None
            if real is None or not self.an.ctx.inside_root(real):
                self.deny(
                    "write.hardlink",
                    "creates a hard link to a file outside the working directory",
                )
        elif src_kind == "link":
            path = self.path_arg(src)
            if path and self.an.ctx.secret(self.an.ctx.resolve(self._abs(path))):
                self.deny("secrets.read", f"links to the secret location {path}")

    def _chdir(self, c: _CallSite) -> bool:
        if c.q != "os.chdir":
            return False
        path = self.path_arg(c.first)
        self.cwd = self._abs(path) if path else "\x00"
        if path is None:
            self.an.cur = None
        return True

    def _putenv(self, c: _CallSite) -> bool:
        if c.q not in ("os.putenv", "os.environ.update", "os.environ.setdefault"):
            return False
        key = self.fold(c.first)
        if not isinstance(key, str) or key.startswith(("LD_", "DYLD_")):
            self.deny("loader.ld_preload", "sets the loader environment (LD_*) for child processes")
        return True

    def _browser(self, c: _CallSite) -> bool:
        return c.q in ("webbrowser.open", "webbrowser.open_new", "webbrowser.open_new_tab")

    def method_call(self, node: ast.Call) -> None:
        func = node.func
        if not isinstance(func, ast.Attribute):
            return
        meth = func.attr
        recv = func.value
        args = node.args
        pathy = self.is_pathy(recv)
        if meth in _PATH_WRITE_METHODS and (pathy or meth in _DISTINCT_PATH_METHODS):
            self._path_write_method(meth, recv, args)
            return
        if meth in ("read_text", "read_bytes", "open", "iterdir", "glob", "rglob") and pathy:
            if meth == "open":
                mode = self.fold(args[0]) if args else "r"
                if not isinstance(mode, str) or any(ch in mode for ch in "wax+"):
                    self.write(recv, "Path.open for writing")
                    return
            self.read(recv, recursive=(meth == "rglob"))
            return
        if meth in ("extractall", "extract"):
            dest = next((k.value for k in node.keywords if k.arg == "path"), None)
            if dest is None and meth == "extractall" and args:
                dest = args[0]
            if dest is not None:
                self.write(dest, f"{meth}")
            return
        if _SAVE_METHODS.match(meth) and args:
            path = self.fold(args[0])
            if isinstance(path, str) and ("/" in path or "." in path):
                self.an.check_write(_lit(self._abs(path)), verb=meth, overwrite_risky=False)

    def _path_write_method(self, meth: str, recv: ast.expr, args: list[ast.expr]) -> None:
        """``Path.write_text``, ``.unlink``, ``.rename``, ``.copy``…"""
        kind = _PATH_WRITE_METHODS[meth]
        if kind == "write":
            self.write(recv, f"Path.{meth}")
            if meth in ("chmod", "lchmod") and args:
                mode = self.fold(args[0])
                if not isinstance(mode, int) or mode & 0o6000:
                    self.deny("privilege.setuid", "sets a setuid/setgid bit or a computed mode")
            if meth in ("symlink_to", "hardlink_to") and args:
                self._link_target(meth, args[0])
        elif kind in ("delete", "rdelete"):
            self.delete(recv, recursive=kind == "rdelete")
        elif kind == "move":
            self.delete(recv, recursive=True)
            if args:
                self.write(args[0], f"Path.{meth}")
        elif kind == "copy":
            self.read(recv)
            if args:
                self.write(args[0], f"Path.{meth}")

    def _link_target(self, meth: str, target_node: ast.expr) -> None:
        """The target of ``symlink_to``/``hardlink_to``: no secret, a hard link stays inside."""
        target = self.path_arg(target_node)
        real = self.an.ctx.resolve(self._abs(target)) if target else None
        if (
            real is None
            or (meth == "hardlink_to" and not self.an.ctx.inside_root(real))
            or self.an.ctx.secret(real)
        ):
            self.deny("write.hardlink", "links to a file outside the working directory")

    def finish(self) -> None:
        net = sorted(
            m
            for m in self.imports
            if m.startswith(_NET_MODULES)
            or m.split(".")[0] in {x.split(".")[0] for x in _NET_MODULES if "." not in x}
        )
        raw = sorted(
            m
            for m in self.imports
            if m.split(".")[0]
            in (
                "socket",
                "_socket",
                "telnetlib",
                "paramiko",
                "pexpect",
                "pty",
                "websocket",
                "websockets",
            )
        )
        if raw:
            self.deny(
                "reverse_shell.socket", f"imports {', '.join(raw)} (raw sockets or terminals)"
            )
        if any(m.split(".")[0] in ("ctypes", "cffi", "_ctypes") for m in self.imports):
            self.deny(
                "exec.native_code",
                "imports ctypes/cffi, which can do anything beyond static checks",
            )
        if net:
            if self.exec_sink:
                self.deny(
                    "download_exec.interpreter",
                    f"fetches from the network ({', '.join(net)}) and runs commands",
                )
            elif self.env_dump or self.env_copy:
                self.deny("exfil.env", "sends the environment over the network")
            elif self.reads_outside:
                self.deny(
                    "exfil.files", "reads files outside the working directory and uses the network"
                )
            elif not self.an.allow_network:
                self.deny(
                    "network.disabled",
                    f"uses the network ({', '.join(net)}), and network access is not "
                    "allowed (execution.allow_network)",
                )
            else:
                self.an.risky(
                    "network.interpreter", f"{self.origin} uses the network ({', '.join(net)})"
                )
        elif self.env_dump:
            self.deny("secrets.env_dump", "prints or copies the whole environment (tokens, keys)")


# The rules ``_PyScan.call`` applies to a call of a known function, in order; the first that
# recognises the function decides. A call no rule takes is checked as a method call.
_CALL_RULES: tuple[str, ...] = (  # names of _PyScan methods
    "_shell_sink",
    "_argv_sink",
    "_exec_family",
    "_code_sink",
    "_dynamic",
    "_forbidden",
    "_kill",
    "_open",
    "_os_open",
    "_write_arg0",
    "_move_like",
    "_chdir",
    "_putenv",
    "_browser",
)


def analyze_python(an: "Analyzer", code: str, origin: str = "python code") -> None:
    """Check Python source (a ``-c`` one-liner, a heredoc, an ``exec`` string)."""
    if an.depth > 8:
        an.deny("shell.too_deep", "code nested too deeply to check")
        return
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        an.deny(
            "interpreter.parse_error",
            f"{origin} cannot be parsed ({type(exc).__name__}); it is not run",
        )
        return
    if CLOUD_METADATA.search(code):
        an.deny(
            "secrets.cloud_metadata",
            f"{origin} queries the cloud metadata service, which hands out credentials",
        )
    scan = _PyScan(an, origin)
    an.depth += 1
    try:
        # imports first, so aliases are known wherever they are used
        for node in ast.walk(tree):
            an.tick()
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                scan.visit(node)
        for node in tree.body:
            scan.visit(node)
        if any(
            isinstance(n, ast.Attribute) and scan.qual(n) in ("os.environ",) for n in ast.walk(tree)
        ):

            def is_env(e: ast.AST) -> bool:
                """os.environ itself, or a copy of it (dict(os.environ), os.environ.copy())."""
                if isinstance(e, ast.Attribute) and scan.qual(e) == "os.environ":
                    return True
                if isinstance(e, ast.Call):
                    if scan.qual(e.func) == "os.environ.copy":
                        return True
                    if (
                        isinstance(e.func, ast.Name)
                        and e.func.id == "dict"
                        and e.args
                        and is_env(e.args[0])
                    ):
                        return True
                return False

            for n in ast.walk(tree):
                if isinstance(n, ast.Call) and is_env(n):
                    scan.env_copy = True
                    continue
                if isinstance(n, ast.Call) and any(
                    is_env(a)
                    for a in list(n.args) + [k.value for k in n.keywords if k.arg != "env"]
                ):
                    scan.env_dump = True
                if (
                    isinstance(n, ast.Call)
                    and isinstance(n.func, ast.Attribute)
                    and n.func.attr in ("items", "keys", "values")
                    and is_env(n.func.value)
                ):
                    scan.env_dump = True
                if isinstance(n, (ast.For, ast.comprehension)) and is_env(n.iter):
                    scan.env_dump = True
        scan.finish()
    except RecursionError:
        an.deny("interpreter.parse_error", f"{origin} is nested too deeply to check")
    finally:
        an.depth -= 1


# --------------------------------------------------------------------------------------
# Other languages: no parser, so scan for the calls that matter; unsure means deny.
# --------------------------------------------------------------------------------------
_LANG_EXEC = {
    "perl": r"\bsystem\b|\bexec\b|`|\bqx\b|\bopen\s*\(?[^;]*(\|\s*['\"]|['\"]\s*\||['\"]-\||['\"]\|-)|\bpipe\s*\(|\bfork\b|\beval\s*[\"'$]|\beval\s*\{?\s*\$|\bdo\s+['\"$]|\brequire\s+\$|\bsyscall\b|\bIPC::|\bProc::",
    "ruby": r"\bsystem\b|\bexec\b|`|%x|\bspawn\b|IO\.popen|\bOpen3\b|\bPTY\b|\bfork\b|\beval\b|instance_eval|class_eval|module_eval|\bsend\s*\(|__send__|public_send|const_get|\bKernel\.|\bProcess\.|\bsyscall\b|\bFiddle\b|\bload\s*\(",
    "node": r"child_process|\bexecSync\b|\bexecFile|\bspawn(Sync)?\b|\bexec\s*\(|\bfork\s*\(|\beval\b|\bFunction\b|\bvm\b|process\.binding|process\.dlopen|\bimport\s*\(|require\s*\(\s*[^'\"`\s]|worker_threads|\bDeno\.(run|Command)|Bun\.(spawn|\$)",
    "php": r"\bsystem\s*\(|\bexec\s*\(|shell_exec|passthru|\bpopen|proc_open|pcntl_|`|\beval\s*\(|\bassert\s*\(|create_function|preg_replace\s*\([^)]*/e|\binclude\b|\brequire\b|\bmail\s*\(|\bputenv\b|\bdl\s*\(|\bFFI\b",
    "lua": r"os\.execute|io\.popen|\bloadstring\b|\bload\s*\(|\bdofile\b|\brequire\s*\(?\s*[^'\"\s]|package\.loadlib",
    "r": r"\bsystem2?\s*\(|\bshell\s*\(|\beval\s*\(|\bparse\s*\(|\bsource\s*\(|pipe\s*\(|\bRcpp\b|dyn\.load",
    "julia": r"\brun\s*\(|`|\beval\s*\(|\bMeta\.parse|\bccall\b|\bread\s*\(\s*`|\bpipeline\s*\(|\bspawn\b|\binclude\s*\(",
    "tcl": r"\bexec\b|\bopen\s+\"?\||\beval\b|\bsource\b|\bload\b|\binterp\b|\bsubst\b",
    "generic": r"\bsystem\b|\bexec\b|\beval\b|\bspawn\b|\bpopen\b|`|\bfork\b|\bprocess\b|\bshell\b|\bRuntime\b|ProcessBuilder",
}
_LANG_NET = {
    "perl": r"\bSocket\b|IO::Socket|\bsocket\s*\(|LWP|HTTP::Tiny|Net::|\bconnect\s*\(|Mojo::UserAgent|WWW::",
    "ruby": r"\bSocket\b|TCPSocket|UDPSocket|TCPServer|UNIXSocket|Net::|open-uri|URI\.open|\bHTTParty\b|Faraday|RestClient",
    "node": r"require\s*\(\s*['\"`](node:)?(net|dgram|tls|http2?|https)['\"`]\s*\)|\bnet\.|\bdgram\b|\bfetch\s*\(|XMLHttpRequest|WebSocket|\baxios\b",
    "php": r"fsockopen|socket_create|stream_socket_client|stream_socket_server|curl_exec|file_get_contents\s*\(\s*['\"](https?|ftp)|fopen\s*\(\s*['\"](https?|ftp)",
    "lua": r"socket|http\.request",
    "r": r"socketConnection|url\s*\(|download\.file|httr|curl|RCurl|make\.socket",
    "julia": r"Sockets|HTTP\.|download\s*\(|connect\s*\(",
    "tcl": r"\bsocket\b|http::",
    "generic": r"[Ss]ocket|http|connect",
}
_LANG_RAW_SOCKET = {
    "perl": r"\bSocket\b|IO::Socket|\bsocket\s*\(",
    "ruby": r"\bSocket\b|TCPSocket|UDPSocket|TCPServer|UNIXSocket",
    "node": r"['\"`](node:)?(net|dgram|tls)['\"`]|\bnet\.(connect|createConnection|Socket|createServer)",
    "php": r"fsockopen|socket_create|stream_socket_client|stream_socket_server",
    "lua": r"socket",
    "r": r"socketConnection|make\.socket",
    "julia": r"Sockets",
    "tcl": r"\bsocket\b",
    "generic": r"[Ss]ocket",
}
# Functions that change files, per language: each call must name a literal path that the
# write rules accept; a call whose path is computed is denied.
_LANG_WRITE_FUNCS = {
    "perl": r"\b(unlink|rmdir|rename|mkdir|symlink|link|chmod|chown|truncate|utime|rmtree|remove_tree|make_path|"
    r"mkpath|copy|move|write_file|spurt)\b",
    "ruby": r"\b(File\.(?:write|delete|unlink|rename|chmod|chown|symlink|link|truncate)|FileUtils\.\w+|"
    r"Dir\.(?:mkdir|rmdir|delete|unlink)|IO\.write)",
    "node": r"\b(writeFile|writeFileSync|appendFile|appendFileSync|createWriteStream|mkdir|mkdirSync|rm|rmSync|"
    r"rmdir|rmdirSync|unlink|unlinkSync|rename|renameSync|copyFile|copyFileSync|cp|cpSync|symlink|"
    r"symlinkSync|link|linkSync|chmod|chmodSync|chown|chownSync|truncate|truncateSync|utimes|utimesSync|"
    r"outputFile|outputFileSync|writeJson|writeJsonSync|remove|removeSync|emptyDir|emptyDirSync|"
    r"ensureDir|ensureDirSync|ensureFile|ensureFileSync|move|moveSync)\b",
    "php": r"\b(file_put_contents|unlink|rmdir|mkdir|rename|copy|touch|chmod|chown|symlink|link|tempnam)\b",
    "lua": r"\b(os\.remove|os\.rename)\b",
    "r": r"\b(writeLines|write\.csv|write\.table|saveRDS|save|sink|file\.create|file\.remove|unlink|file\.rename|"
    r"file\.copy|dir\.create|writeBin|writeChar)\b",
    "julia": r"\b(write|rm|mv|cp|mkdir|mkpath|touch|symlink|chmod)\b",
    "tcl": r"\bfile\s+(delete|rename|copy|mkdir|link)\b",
    "generic": r"\b(write_?file|delete|remove|unlink|rename|mkdir)\b",
}
# Opening a file for writing with a literal path, per language (named groups a/b hold the path).
_LANG_OPEN_WRITE = {
    "perl": r"\bopen\s*\(?\s*(?:my\s+)?[\$\w]+\s*,\s*(?:['\"](?:\+?>>?|\+<)['\"]\s*,\s*(['\"])(?P<a>[^'\"]*)\1|"
    r"(['\"])\s*\+?>>?\s*(?P<b>[^'\"]*)\3)",
    "ruby": r"\b(?:File|IO)\.(?:open|new)\s*\(?\s*(['\"])(?P<a>[^'\"]*)\1\s*,\s*['\"](?:w|a|r\+|w\+|a\+)",
    "php": r"\bfopen\s*\(\s*(['\"])(?P<a>[^'\"]*)\1\s*,\s*['\"][waxc]",
    "lua": r"\bio\.open\s*\(\s*(['\"])(?P<a>[^'\"]*)\1\s*,\s*['\"][wa]",
    "julia": r"\bopen\s*\(\s*\"(?P<a>[^\"]*)\"\s*,\s*\"[wa]",
}
# Opening for writing at all (literal path or not): more of these than literal opens means a
# computed path, which is denied.
_LANG_OPEN_WRITE_ANY = {
    "perl": r"\bopen\s*\(?[^;]*['\"]\s*\+?>",
    "ruby": r"\b(?:File|IO)\.(?:open|new)\s*\([^)]*['\"](?:w|a|r\+|w\+|a\+)['\"]",
    "php": r"\bfopen\s*\([^)]*['\"][waxc]",
    "lua": r"\bio\.open\s*\([^)]*['\"][wa]",
    "julia": r"\bopen\s*\([^)]*\"[wa]",
}
_LANG_ENV = {
    "perl": r"%ENV|\bkeys\s+%ENV|\$ENV\b(?!\{)",
    "ruby": r"\bENV\.(to_h|to_a|to_hash|each|each_pair|map|inspect|keys|values|select|filter|sort|dup|clone)\b|"
    r"\b(p|pp|puts|print)\s*\(?\s*ENV\b(?!\s*[\[.])",
    "node": r"process\.env\b(?!\.)|JSON\.stringify\(\s*process\.env",
    "php": r"\$_ENV\b(?!\[)|getenv\s*\(\s*\)|\$_SERVER\b(?!\[)",
    "lua": r"(?!)",
    "r": r"Sys\.getenv\s*\(\s*\)",
    "julia": r"\bENV\b(?!\[)",
    "tcl": r"\benv\b",
    "generic": r"\benv\b|environ",
}
_LANG_KILL = r"\bkill\s*\(?\s*['\"]?(-?\d+|\w+)['\"]?\s*,\s*(-1|0|1)\b|\bkill\s*\(?\s*-?9\s*,\s*-1\b|process\.kill\s*\(\s*(-1|1|0)\b|Process\.kill\s*\([^,]+,\s*(-1|1|0)\b|posix_kill\s*\(\s*(-1|1|0)\b"


# Calls whose target is computed at run time (string concatenation, variables holding functions,
# computed member access): the scan cannot see what they call, so they are denied.
_LANG_DYNAMIC_CALL = {
    "perl": r"&\s*\$\w+|&\s*\{|->\s*\(|\*\{\s*['\"$]|\bCORE::|\bsymbol\b|\bcan\s*\(",
    "ruby": r"\bmethod\s*\(|\.call\b|\binstance_variable_get\b|\bdefine_method\b|\bObject\.const_get\b",
    "node": r"\[[^\]]*\]\s*\(|\brequire\s*\(\s*['\"`][^'\"`]*['\"`]\s*\+|\bglobalThis\s*\[|\bglobal\s*\[|"
    r"\bprocess\s*\[|\bReflect\.|\bconstructor\b",
    "php": r"\$\w+\s*\(|\bcall_user_func|\bReflectionFunction\b|\$\{|\bcreate_function\b",
    "lua": r"_G\s*\[|_ENV\s*\[|\bgetfenv\b|\bsetfenv\b|\bdebug\.",
    "r": r"\bdo\.call\b|\bget\s*\(|\bmatch\.fun\b",
    "julia": r"\bgetfield\b|\bgetproperty\b|\binvoke\b",
    "tcl": r"\[\s*\$|\buplevel\b",
    "generic": r"(?!)",
}


def analyze_code(an: "Analyzer", lang: str, code: str, origin: str) -> None:
    """Scan one-liner code of a language without a parser here."""
    lang = lang if lang in _LANG_EXEC else "generic"
    if re.search(_LANG_DYNAMIC_CALL.get(lang, r"(?!)"), code):
        an.deny(
            "exec.dynamic_code",
            f"{origin} calls a function chosen at run time, which cannot be checked",
        )
    if CLOUD_METADATA.search(code):
        an.deny(
            "secrets.cloud_metadata",
            f"{origin} queries the cloud metadata service, which hands out credentials",
        )
    if re.search(_LANG_EXEC[lang], code):
        an.deny(
            "exec.interpreter_command",
            f"{origin} runs commands or evaluates code that cannot be checked",
        )
    if re.search(_LANG_RAW_SOCKET.get(lang, r"(?!)"), code):
        an.deny("reverse_shell.socket", f"{origin} opens a raw network socket")
    net = re.search(_LANG_NET.get(lang, r"(?!)"), code) is not None
    if re.search(_LANG_KILL, code):
        an.deny("system.kill_all", f"{origin} signals every process or init")
    if re.search(r"\bfork\b", code) and lang in ("perl", "ruby", "php", "generic"):
        an.deny("system.fork_bomb", f"{origin} forks processes (fork bomb pattern)")
    if re.search(
        r"\b(setuid|setgid|seteuid|POSIX::setuid|Process::Sys\.set|posix_setuid)\b|\$<\s*=|\$>\s*=",
        code,
    ):
        an.deny("privilege.change", f"{origin} changes the process's privileges")
    # secret paths named in the code
    for m in re.finditer(r"['\"`]([^'\"`\n]{2,300})['\"`]", code):
        text = m.group(1)
        if text.startswith(("~", "/")) or "/." in text:
            expanded = an.ctx.expand_user(text) or text
            if "$" in expanded or "{" in expanded:
                continue
            real = an.ctx.resolve(expanded, an.cur)
            if an.ctx.secret(real):
                an.deny("secrets.read", f"{origin} names {text}: {an.ctx.secret(real)}")
    for m in re.finditer(_LANG_OPEN_WRITE.get(lang, r"(?!)"), code):
        _literal_write(an, m.group("a") or (m.groupdict().get("b") or ""), origin)
    opens_literal = len(re.findall(_LANG_OPEN_WRITE.get(lang, r"(?!)"), code))
    if len(re.findall(_LANG_OPEN_WRITE_ANY.get(lang, r"(?!)"), code)) > opens_literal:
        an.deny(
            "write.unresolved_target", f"{origin} opens a file for writing whose name is computed"
        )
    for m in re.finditer(_LANG_WRITE_FUNCS.get(lang, r"(?!)") + r"\s*\(?\s*", code):
        lit_m = re.match(r"(['\"`])([^'\"`]*)\1", code[m.end() :])
        if lit_m is None:
            an.deny(
                "write.unresolved_target",
                f"{origin} calls {m.group(1)} on a path computed at run time",
            )
            break
        _literal_write(an, lit_m.group(2), origin)
    env_dump = re.search(_LANG_ENV.get(lang, r"(?!)"), code) is not None
    if net:
        if env_dump:
            an.deny("exfil.env", f"{origin} sends the environment over the network")
        elif not an.allow_network:
            an.deny(
                "network.disabled",
                f"{origin} uses the network, and network access is not allowed "
                "(execution.allow_network)",
            )
        else:
            an.risky("network.interpreter", f"{origin} uses the network")
    elif env_dump and lang not in ("tcl", "generic"):
        an.deny(
            "secrets.env_dump", f"{origin} prints or copies the whole environment (tokens, keys)"
        )


def _literal_write(an: "Analyzer", path: str, origin: str) -> None:
    if "$" in path or "#{" in path or "${" in path:
        an.deny("write.unresolved_target", f"{origin} writes to a path computed at run time")
        return
    if path:
        an.check_write(_lit(path), verb=f"{origin} write", overwrite_risky=False)


# --------------------------------------------------------------------------------------
# awk and sed programs
# --------------------------------------------------------------------------------------
_AWK_STRING = LazyRegex(r'"(?:[^"\\\n]|\\.)*"')


def analyze_awk(an: "Analyzer", program: str, origin: str = "the awk program") -> None:
    strings: list[str] = []

    def keep(m: re.Match[str]) -> str:
        strings.append(m.group(0)[1:-1].replace('\\"', '"').replace("\\\\", "\\"))
        return f"\x03{len(strings) - 1}\x03"

    body = _AWK_STRING.sub(keep, program)
    # system("…") and pipes to or from commands
    for m in re.finditer(r"\bsystem\s*\(\s*(\x03(\d+)\x03)?", body):
        if m.group(1) and re.match(r"\s*\)", body[m.end() :]):
            an.sub_shell(strings[int(m.group(2))], origin=f"the command in {origin}")
        else:
            an.deny("exec.dynamic_command_name", f"{origin} runs a computed command with system()")
    for m in re.finditer(r"\|\s*&?\s*(\x03(\d+)\x03|[^\s;}]+)?", body):
        prev = body[: m.start()].rstrip()
        if re.match(r"\s*getline", body[m.start() + 1 :]) or re.match(
            r"\s*&\s*getline", body[m.start() + 1 :]
        ):
            # "cmd" | getline
            sm = re.search(r"\x03(\d+)\x03\s*$", prev)
            if sm:
                an.sub_shell(strings[int(sm.group(1))], origin=f"the command in {origin}")
            else:
                an.deny("exec.dynamic_command_name", f"{origin} reads from a computed command")
            continue
        if re.search(r"\bprintf?\b[^;{}]*$", prev) or prev.endswith(("print", "printf")):
            if m.group(2) is not None:
                an.sub_shell(
                    strings[int(m.group(2))],
                    origin=f"the command in {origin}",
                    pipe_in=frozenset({"other"}),
                )
            else:
                an.deny("exec.dynamic_command_name", f"{origin} pipes output to a computed command")
    for m in re.finditer(r"\bprintf?\b[^;{}]*?(>>?)\s*(\x03(\d+)\x03|[^\s;}]+)", body):
        if m.group(3) is not None:
            path = strings[int(m.group(3))]
            if path not in ("/dev/stderr", "/dev/stdout"):
                an.check_write(_lit(path), verb=f"{origin} print >", overwrite_risky=False)
        else:
            an.deny("write.unresolved_target", f"{origin} prints into a computed file name")
    for m in re.finditer(
        r"\bgetline\b(\s+[A-Za-z_]\w*(\[[^\]]*\])?)?\s*<\s*(\x03(\d+)\x03|[^\s;)}]+)", body
    ):
        if m.group(4) is None:
            an.ask(
                "read.computed_path",
                f"{origin} reads with getline from a file whose name is computed",
            )
            continue
        path = strings[int(m.group(4))]
        if an.cur is None and not path.startswith(("/", "~")):
            an.ask(
                "cwd.unknown",
                f"{origin} reads {path} from a current directory that is unknown here",
            )
            continue
        real = an.ctx.resolve(path, an.cur)
        an.check_read_path(path, real)
    if re.search(r"\bENVIRON\b", body) and re.search(r"\|", body):
        an.deny("exfil.env", f"{origin} pipes the environment to a command")


def _sed_commands(script: str) -> list[tuple[str, str]]:
    """Split a sed script into (command letter, rest) pairs, skipping addresses."""
    out: list[tuple[str, str]] = []
    i, n = 0, len(script)
    while i < n:
        ch = script[i]
        if ch in " \t\n;{}!":
            i += 1
            continue
        if ch == "#":
            j = script.find("\n", i)
            i = n if j < 0 else j + 1
            continue
        # address: numbers, $, /regex/, \cregexc, ranges, steps
        while i < n and (script[i].isdigit() or script[i] in "$,~+ \t" or script[i] in "/\\"):
            if script[i] == "/" or script[i] == "\\":
                delim = script[i] if script[i] == "/" else (script[i + 1] if i + 1 < n else "/")
                i += 1 if script[i] == "/" else 2
                while i < n and script[i] != delim:
                    i += 2 if script[i] == "\\" else 1
                i += 1
                while i < n and script[i] in "IM":
                    i += 1
            else:
                i += 1
        if i >= n:
            break
        cmd = script[i]
        i += 1
        if cmd in "!{} \t;":
            continue
        if cmd in "sy":
            if i >= n:
                break
            delim = script[i]
            i += 1
            parts = []
            for _ in range(2):
                start = i
                while i < n and script[i] != delim:
                    if script[i] == "\\":
                        i += 1
                    i += 1
                parts.append(script[start:i])
                i += 1
            start = i
            while i < n and script[i] not in ";\n}":
                if cmd == "s" and script[i] in "wW":
                    j = script.find("\n", i)
                    j = n if j < 0 else j
                    out.append(("s-flags", script[start:j]))
                    i = j
                    break
                i += 1
            else:
                out.append(("s-flags", script[start:i]))
            continue
        if cmd in "aic":
            j = script.find("\n", i)
            i = n if j < 0 else j + 1
            continue
        if cmd in "rRwWe:bTtv":
            j = script.find("\n", i)
            rest_end = n if j < 0 else j
            rest = script[i:rest_end]
            if cmd in "bTt:v" and ";" in rest:
                rest_end = i + rest.index(";")
                rest = script[i:rest_end]
            out.append((cmd, rest.strip()))
            i = rest_end
            continue
        out.append((cmd, ""))
    return out


def analyze_sed(an: "Analyzer", script: str, origin: str = "the sed script") -> None:
    for cmd, rest in _sed_commands(script):
        if cmd == "e":
            an.deny("exec.interpreter_command", f"{origin} runs a shell command (e)")
        elif cmd in "wW":
            if rest not in ("/dev/stdout", "/dev/stderr"):
                an.check_write(_lit(rest), verb=f"{origin} w", overwrite_risky=False)
        elif cmd in "rR":
            if rest:
                real = an.ctx.resolve(rest, an.cur)
                an.check_read_path(rest, real)
        elif cmd == "s-flags":
            flags = rest
            m = re.search(r"[wW]\s*(.*)$", flags)
            if "e" in (flags[: m.start()] if m else flags):
                an.deny(
                    "exec.interpreter_command",
                    f"{origin} runs the result of a substitution as a command (s///e)",
                )
            if m:
                path = m.group(1).strip()
                if path not in ("/dev/stdout", "/dev/stderr"):
                    an.check_write(_lit(path), verb=f"{origin} s///w", overwrite_risky=False)
