"""Per-program code for the shell analyzer: what a program reads, writes, deletes or runs.

The program table (``programs.py``) names which of these handlers a program uses; this module
has no registry of its own. ``dispatch`` is called for every simple command with its expanded
arguments: it looks the program up in the table and applies its spec or calls its handler.
A handler may record findings on the analyzer,
re-dispatch a wrapped command (``nice``, ``env``, ``xargs``, ``find -exec``), analyse nested
shell (``bash -c``, ``eval``, ``watch``) or interpreter code (``python -c``, ``awk``, ``sed``),
and sets ``cmd.out``: what it prints into a pipe (``network``, ``env``, ``sensitive``,
``cwd_list``, ``static``, ``other``), used to catch ``curl … | sh`` and ``env | curl …``.
A program that is not in the table goes to ``unknown_program``.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, cast

from ...records import field, record
from . import interpreters, programs
from ...redact import LazyRegex  # module patterns: compiled on first use
from .paths import CLOUD_METADATA
from .programs import canonical as normalize_name
from .words import (
    DANGEROUS_GIT_KEYS,
    DYN,
    ENV_LOADER_VARS,
    ITEM,
    SECRET_ENV,
    Arg,
    Cmd,
    Opts,
    lit,
    parse_opts,
)

if TYPE_CHECKING:  # pragma: no cover
    from .shell import Analyzer

SENSITIVE = frozenset({"env", "sensitive", "secret_list"})
LOCAL_HOSTS = LazyRegex(r"^(localhost|127(\.\d{1,3}){3}|::1|0\.0\.0\.0|\[::1\])(:\d+)?$")
# Options that hand a program code or a command to run. In a program the table does not know,
# they cannot be checked: the call is asked.
_CODE_OPTIONS = LazyRegex(
    r"^(-c|-e|-ex|--?(eval|exec|execute|command|cmd|run|script|eval-command|init-command|"
    r"interactive-command|expr|expression))(=.*)?$"
)


def dispatch(an: Analyzer, c: Cmd) -> None:
    """Check one simple command against its program's spec, its handler (the function of this
    module the table names), or as an unknown program (the one lookup lives in ``programs``)."""
    prog = programs.registry().get(c.name)
    c.prog = prog
    if prog is None:
        unknown_program(an, c)
        return
    if programs.program_gate(an, c, prog):
        return
    if prog.handler is not None:
        handler_named(prog.handler)(an, c)
        return
    command = programs.check_spec(an, c, prog)
    if command is not None:
        wrapped(an, c, command)


def handler_named(name: str) -> Callable[[Analyzer, Cmd], None]:
    """The handler the program table names (a function of this module)."""
    found = globals().get(name)
    if not callable(found):
        raise programs.TableError(f"the program table names an unknown handler {name!r}")
    return cast("Callable[[Analyzer, Cmd], None]", found)


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------
def reads(an: Analyzer, c: Cmd, args: list[Arg] | None = None, *, path: bool = False) -> None:
    """Check arguments as files the program may read (``path``: they are files for sure, so one
    computed at run time is asked)."""
    for a in c.args if args is None else args:
        an.check_arg_read(a, c, path=path)
    if (
        c.stdin
        and c.stdin[0] == "file"
        and not an.ctx.inside_root(c.stdin[1])
        and c.stdin[1] not in ("/dev/null", "/dev/stdin", "/dev/zero", "/dev/urandom")
    ):
        c.read_outside = True
    if c.read_outside:
        c.out = {"sensitive"}


def output_writes(an: Analyzer, c: Cmd) -> None:
    """Options that name an output file (``-o FILE``, ``--output=FILE``…) in any program."""
    args = c.args
    for i, a in enumerate(args):
        if not a.static or not a.text.startswith("-"):
            continue
        t = a.text
        value: Arg | None = None
        m = re.match(
            r"^--?(o|out|output|outfile|output-file|outdir|out-dir|output-dir|output-directory|"
            r"outputdir|dest|destination|target-dir|prefix|log-file|logfile|distpath|workpath|"
            r"build-dir|install-dir|root|cache-dir|user-data-dir|save|export|dump|write|report)(=(.*))?$",
            t,
        )
        if m:
            if m.group(2):
                value = Arg(m.group(3), a.mask[len(t) - len(m.group(3)) :])
            elif i + 1 < len(args):
                nxt = args[i + 1]
                if m.group(1) == "o" and not (
                    nxt.static and (nxt.text.startswith(("/", "~", "..")) or "/" in nxt.text)
                ):
                    continue
                value = nxt
        elif (
            t.startswith("-o")
            and len(t) > 2
            and t[2] in "/~."
            and c.name not in ("grep", "ssh", "mount", "ls", "ps")
        ):
            value = Arg(t[2:], a.mask[2:])
        if value is None or not value.static:
            continue
        real = an.ctx.resolve(value.text, an.cur) if value.text not in ("-",) else None
        if real is None:
            continue
        v = an.ctx.write_violation(value.text, real)
        if v is not None and v.rule != "write.overwrite":
            an.violation(v)


def unknown_program(an: Analyzer, c: Cmd) -> None:
    """A program the table does not know: its arguments may be files it reads or writes, and
    code it is handed to run cannot be checked (asked)."""
    for a in c.args:
        if not a.static:
            continue
        t = a.text
        if _CODE_OPTIONS.match(t) or re.fullmatch(r"-[a-zA-Z]{1,3}[ce]", t):
            an.ask(
                "exec.unknown_program_code",
                f"{c.word} {t.split('=', 1)[0]} hands code or a command to a program this policy does not know",
            )
            break
    if an.cur is None:
        rel = [
            a.text
            for a in c.args
            if a.static and a.text and not a.text.startswith(("-", "/", "~")) and "=" not in a.text
        ]
        if rel:
            an.ask(
                "cwd.unknown",
                f"{c.word} {rel[0]}: the current directory is unknown here, so its operands cannot "
                "be located",
            )
    for a in c.args:
        an.check_arg_read(a, c, path=not a.static and "/" in a.text)
    if (
        c.stdin
        and c.stdin[0] == "file"
        and not an.ctx.inside_root(c.stdin[1])
        and c.stdin[1] not in ("/dev/null", "/dev/stdin", "/dev/zero", "/dev/urandom")
    ):
        c.read_outside = True
    if c.read_outside:
        c.out = {"sensitive"}
    output_writes(an, c)


def wrapped(an: Analyzer, c: Cmd, rest: list[Arg], env: dict[str, Arg] | None = None) -> None:
    """Run ``rest`` as a command of its own (wrappers: nice, nohup, env, timeout…)."""
    if not rest:
        return
    merged = dict(c.env)
    if env:
        merged.update(env)
    c.out = an.simple(rest, merged, c.pipe_in, c.stdin)


def sub_script(an: Analyzer, arg: Arg, origin: str, positional: list[Arg] | None = None) -> None:
    if not arg.static:
        an.deny("exec.dynamic_script", f"{origin} is computed at run time and cannot be checked")
        return
    an.sub_shell(arg.text, positional=positional, origin=origin)


_AUTH_FLAGS = {
    "-H",
    "--header",
    "-u",
    "--user",
    "--oauth2-bearer",
    "--proxy-user",
    "--aws-sigv4",
    "-E",
    "--cert",
    "--key",
    "--pass",
    "--http-user",
    "--http-password",
    "--password",
    "--user-agent",
    "-A",
}
_NEVER_SENT = LazyRegex(
    r"^(AWS_SECRET_ACCESS_KEY|AWS_SESSION_TOKEN|.*PRIVATE_KEY.*|.*_PASSWORD|PASSWORD)$"
)


def secret_names(arg: Arg) -> list[str]:
    return [n for n in arg.names if SECRET_ENV.search(n) and n not in ("KEYBOARD", "SSH_AUTH_SOCK")]


def check_secret_args(
    an: Analyzer, c: Cmd, flags: list[tuple[str, Arg | None]] | None = None
) -> None:
    """Secrets from the environment may go in an auth header, never in data or URLs."""
    auth_values = set()
    if flags is not None:
        for n, v in flags:
            if v is not None and n in _AUTH_FLAGS:
                auth_values.add(id(v))
                if any(_NEVER_SENT.match(x) for x in secret_names(v)):
                    an.deny(
                        "exfil.secret_env", f"{c.word} sends ${secret_names(v)[0]} over the network"
                    )
                    return
    for a in c.args:
        names = secret_names(a)
        if not names or id(a) in auth_values:
            continue
        if flags is not None and any(v is a and n in _AUTH_FLAGS for n, v in flags):
            continue
        if a.static is False and a.text.startswith(
            ("-H", "--header", "Authorization", "authorization")
        ):
            continue
        an.deny("exfil.secret_env", f"{c.word} sends the secret ${names[0]} over the network")
        return


def network_receiver(an: Analyzer, c: Cmd, *, reads_stdin: bool = True) -> None:
    """A program that sends data out: nothing sensitive may flow into it."""
    an.flags["downloaded"] = True
    if c.pipe_in and c.pipe_in & SENSITIVE:
        what = (
            "the environment" if "env" in c.pipe_in else "files from outside the working directory"
        )
        an.deny(
            "exfil.pipe_to_network",
            f"{c.word} receives {what} through a pipe and sends it over the network",
        )
    if c.stdin and c.stdin[0] == "file" and reads_stdin:
        real = c.stdin[1]
        if an.ctx.secret(real) or not an.ctx.inside_root(real):
            an.deny("exfil.file_to_network", f"{c.word} sends {real} over the network")
    for a in c.args:
        if a.from_command:
            an.deny(
                "exfil.command_output",
                f"{c.word} sends the output of a command over the network ({a.show()})",
            )
            break
        if CLOUD_METADATA.search(a.text):
            an.deny(
                "secrets.cloud_metadata",
                f"{c.word} queries the cloud metadata service, which hands out credentials",
            )
            break


# --------------------------------------------------------------------------------------
# deleting and writing files
# --------------------------------------------------------------------------------------
def rm(an: Analyzer, c: Cmd) -> None:
    args = c.args
    if c.name == "gio":
        if not args or args[0].text not in ("trash", "remove", "rm"):
            unknown_program(an, c)
            return
        args = args[1:]
    o = parse_opts(args)
    recursive = c.name in ("rimraf", "rmdir", "wipe") or any(
        n in ("-r", "-R", "--recursive", "--dir", "-d") for n, _ in o.flags
    )
    if any(n == "--no-preserve-root" for n, _ in o.flags):
        an.deny(
            "shell.recursive_delete_outside_cwd",
            "rm --no-preserve-root is meant to delete the whole filesystem",
        )
    ok = True
    for op in o.operands:
        before = len(an.findings)
        an.check_delete(op, recursive=recursive)
        if any(f.level == "deny" for f in an.findings[before:]):
            ok = False
    if ok and o.operands:
        an.risky("shell.delete_in_cwd", f"{c.word} deletes files in the working directory")


def shred(an: Analyzer, c: Cmd) -> None:
    o = parse_opts(
        c.args, short_val="nsx", long_val={"--iterations", "--size", "--random-source", "--remove"}
    )
    for op in o.operands:
        if op.static and op.text.startswith("/dev/"):
            an.deny("disk.destroy", f"shred overwrites the device {op.text}")
        else:
            an.check_delete(op, recursive=False)
    an.risky("shell.delete_in_cwd", "shred destroys file contents")


def _targets_and_sources(
    o: Opts, target_opts: tuple[str, ...] = ("-t", "--target-directory")
) -> tuple[Arg | None, list[Arg], bool]:
    target = next(iter(o.values(*target_opts)), None)
    if target is not None:
        return target, o.operands, True
    if len(o.operands) >= 2:
        return o.operands[-1], o.operands[:-1], len(o.operands) > 2
    if len(o.operands) == 1:
        return None, o.operands, False
    return None, [], False


def _dest_for(an: Analyzer, dest: Arg, src: Arg, into_dir: bool) -> Arg:
    """cp/mv SRC DIR writes DIR/basename(SRC)."""
    if dest.static and src.static and not src.glob:
        real = an.ctx.resolve(dest.text, an.cur)
        if into_dir or os.path.isdir(real) or dest.text.endswith("/"):
            base = os.path.basename(src.text.rstrip("/")) or src.text
            return lit(os.path.join(dest.text, base))
    return dest


def cp(an: Analyzer, c: Cmd) -> None:
    if c.name in ("install", "ginstall"):
        o = parse_opts(
            c.args,
            short_val="gmoStTC",
            long_val={
                "--group",
                "--mode",
                "--owner",
                "--suffix",
                "--target-directory",
                "--strip-program",
            },
        )
        for mode in o.values("-m", "--mode"):
            _check_mode(an, mode)
        if o.short("d") or o.has("--directory"):
            for op in o.operands:
                an.check_write(op, verb="install -d")
            return
    else:
        o = parse_opts(
            c.args,
            short_val="tS",
            long_val={
                "--target-directory",
                "--suffix",
                "--backup",
                "--sparse",
                "--reflink",
                "--preserve",
            },
        )
    recursive = any(n in ("-r", "-R", "-a", "--recursive", "--archive") for n, _ in o.flags)
    dest, sources, into_dir = _targets_and_sources(o)
    for s in sources:
        an.check_arg_read(s, c, path=True)
        if recursive:
            an.check_recursive_read(s, follow=any(n in ("-L", "--dereference") for n, _ in o.flags))
    if dest is None:
        if sources:
            an.deny("write.unresolved_target", f"{c.word} has no destination")
        return
    if not sources:
        an.check_write(dest, verb=c.name)
        return
    for s in sources:
        real = an.check_write(_dest_for(an, dest, s, into_dir), verb=c.name)
        if real and c.read_outside:
            an.tainted.add(real)


def mv(an: Analyzer, c: Cmd) -> None:
    o = parse_opts(c.args, short_val="tS", long_val={"--target-directory", "--suffix", "--backup"})
    dest, sources, into_dir = _targets_and_sources(o)
    for s in sources:
        an.check_arg_read(s, c, path=True)
        an.check_delete(s, recursive=True)
    if dest is None:
        return
    for s in sources:
        an.check_write(_dest_for(an, dest, s, into_dir), verb="mv")


def ln(an: Analyzer, c: Cmd) -> None:
    o = parse_opts(c.args, short_val="tS", long_val={"--target-directory", "--suffix", "--backup"})
    symbolic = o.short("s") or o.has("--symbolic")
    dest, sources, into_dir = _targets_and_sources(o)
    if dest is None and len(sources) == 1:
        src = sources[0]
        dest = lit(os.path.basename(src.text.rstrip("/"))) if src.static else Arg(DYN, "d")
    for s in sources:
        if not s.static:
            an.deny(
                "write.unresolved_target", f"ln links to a target computed at run time ({s.show()})"
            )
            continue
        if symbolic:
            base = an.cur if an.cur else an.ctx.root
            link_dir = (
                an.ctx.resolve(dest.text, an.cur) if dest is not None and dest.static else base
            )
            if dest is not None and dest.static and not (into_dir or os.path.isdir(link_dir)):
                link_dir = os.path.dirname(link_dir)
            real = an.ctx.resolve(s.text, link_dir)
        else:
            real = an.ctx.resolve(s.text, an.cur)
        secret = an.ctx.secret(real)
        if secret:
            an.deny("secrets.read", f"ln exposes {s.text}: {secret}")
        elif not symbolic and not an.ctx.inside_root(real):
            an.deny(
                "write.hardlink",
                f"a hard link to {real} lets later writes change a file outside the working directory",
            )
        elif symbolic and an.ctx.persistence(real):
            an.deny("persistence.link", f"a link to {real} lets later writes plant persistence")
    if dest is not None:
        for s in sources:
            link = an.check_write(
                _dest_for(an, dest, s, into_dir), verb="ln", overwrite_risky=False, content=False
            )
            if link and s.static:
                base = os.path.dirname(link) if symbolic else (an.cur or an.ctx.root)
                an.links[link] = an.ctx.resolve(s.text, base)


def tee(an: Analyzer, c: Cmd) -> None:
    o = parse_opts(c.args, long_val={"--output-error"})
    for op in o.operands:
        real = an.check_write(op, verb="tee")
        if real and c.pipe_in and c.pipe_in & (SENSITIVE | {"network"}):
            an.tainted.add(real)
    c.out = set(c.pipe_in or {"other"})


def touch(an: Analyzer, c: Cmd) -> None:
    if c.name == "mktemp":
        o = parse_opts(c.args, short_val="p", long_val={"--tmpdir", "--suffix"})
        base = next(iter(o.values("-p", "--tmpdir")), None)
        if base is not None and base.static:
            real = an.ctx.resolve(base.text, an.cur)
            if not an.ctx.is_tmp(real):
                an.check_write(base, verb="mktemp")
        for op in o.operands:
            if op.static and ("/" in op.text or (base is None and o.short("t") is False)):
                if "/" in op.text:
                    an.check_write(
                        lit(os.path.dirname(op.text) or "."), verb="mktemp", overwrite_risky=False
                    )
        c.out = {"other"}
        return
    short_val = {
        "touch": "drt",
        "mkdir": "mZ",
        "mkfifo": "mZ",
        "truncate": "sro",
        "fallocate": "lon",
        "sponge": "",
    }[c.name]
    o = parse_opts(
        c.args,
        short_val=short_val,
        long_val={"--mode", "--size", "--reference", "--date", "--length", "--offset", "--context"},
    )
    for mode in o.values("-m", "--mode"):
        _check_mode(an, mode)
    for ref in o.values("-r", "--reference"):
        an.check_arg_read(ref, c)
    for op in o.operands:
        an.check_write(
            op,
            verb=c.name,
            overwrite_risky=c.name in ("truncate", "fallocate", "sponge"),
            content=c.name in ("sponge",),
        )


def mknod(an: Analyzer, c: Cmd) -> None:
    o = parse_opts(c.args, short_val="mZ", long_val={"--mode", "--context"})
    if any(op.static and op.text in ("b", "c", "u") for op in o.operands[1:2]):
        an.deny("disk.device_node", "mknod creates a device node (raw access to hardware)")
    if o.operands:
        an.check_write(o.operands[0], verb="mknod")


def dd(an: Analyzer, c: Cmd) -> None:
    wrote_output = False
    for a in c.args:
        if not a.static:
            if a.text.startswith("of=") or a.text.startswith("if="):
                an.deny("write.unresolved_target", f"dd {a.show()} is computed at run time")
            continue
        key, eq, val = a.text.partition("=")
        if not eq:
            continue
        if key == "of":
            wrote_output = True
            if val.startswith("/dev/") and val not in ("/dev/null", "/dev/stdout", "/dev/stderr"):
                an.deny("disk.raw_device_write", f"dd writes to the device {val}")
            else:
                an.check_write(Arg(val, a.mask[3:]), verb="dd of=")
        elif key == "if":
            real = an.ctx.resolve(val, an.cur)
            an.check_read_path(val, real)
            if not an.ctx.inside_root(real) and not val.startswith("/dev/"):
                c.read_outside = True
    c.out = {"sensitive"} if c.read_outside and not wrote_output else {"other"}


def _check_mode(an: Analyzer, mode: Arg) -> None:
    if not mode.static:
        an.deny("privilege.setuid", f"the file mode {mode.show()} is computed at run time")
        return
    t = mode.text
    if re.fullmatch(r"0*[0-7]{1,4}", t):
        if (
            len(t.lstrip("0")) == 4
            and t.lstrip("0")[0] in "2467"
            or (len(t) >= 4 and int(t, 8) & 0o6000)
        ):
            an.deny("privilege.setuid", f"mode {t} sets the setuid/setgid bit")
    elif (
        re.search(r"[ugoa]*[+=][rwxXtugo]*s", t)
        or "+s" in t
        or "=s" in t
        or re.search(r"[+=][^,]*s", t)
    ):
        an.deny("privilege.setuid", f"mode {t} sets the setuid/setgid bit")


def chmod(an: Analyzer, c: Cmd) -> None:
    o = parse_opts(
        c.args,
        short_val="mMxXnvh" if c.name in ("setfacl", "setfattr") else "",
        long_val={"--reference", "--from", "--modify", "--set", "--remove"},
    )
    ops = list(o.operands)
    if c.name == "chmod":
        # modes like -x or -w look like options
        modes = [lit(n) for n, v in o.flags if re.fullmatch(r"-[rwxXst]+", n) and v is None]
        if not o.values("--reference") and ops:
            _check_mode(an, ops[0])
            ops = ops[1:]
        for m in modes:
            _check_mode(an, m)
    elif c.name in ("chown", "chgrp", "chcon") and not o.values("--reference") and ops:
        ops = ops[1:]
    elif c.name == "chattr" and ops and ops[0].static and ops[0].text[:1] in "+-=":
        ops = ops[1:]
    recursive = any(n in ("-R", "--recursive") for n, _ in o.flags)
    for op in ops:
        an.check_write(op, verb=c.name, overwrite_risky=False, content=False)
    if recursive:
        an.risky("shell.recursive_permissions", f"{c.name} -R changes every file below")


# --------------------------------------------------------------------------------------
# text tools with write or exec powers
# --------------------------------------------------------------------------------------
def sed(an: Analyzer, c: Cmd) -> None:
    o = parse_opts(c.args, short_val="efl", long_val={"--expression", "--file", "--line-length"})
    in_place = any(
        n in ("-i", "--in-place") or n.startswith("--in-place") for n, _ in o.flags
    ) or any(
        re.fullmatch(r"-[nrEsuz]*i.*", a.text)
        for a in c.args
        if a.static and a.text.startswith("-") and not a.text.startswith("--")
    )
    scripts = o.values("-e", "--expression")
    files = list(o.operands)
    script_files = o.values("-f", "--file")
    if not scripts and not script_files and files:
        scripts = [files.pop(0)]
    for s in scripts:
        if not s.static:
            an.deny("exec.dynamic_script", "the sed script is computed at run time")
            continue
        interpreters.analyze_sed(an, s.text)
    for f in script_files:
        an.check_arg_read(f, c)
        _analyze_file(
            an, f, functools.partial(interpreters.analyze_sed, an, origin=f"sed script {f.text}")
        )
    for f in files:
        if in_place:
            an.check_write(f, verb="sed -i", overwrite_risky=False)
        else:
            an.check_arg_read(f, c, path=True)
    if c.read_outside:
        c.out = {"sensitive"}


def awk(an: Analyzer, c: Cmd) -> None:
    o = parse_opts(
        c.args,
        short_val="fvFWE",
        long_val={
            "--file",
            "--assign",
            "--field-separator",
            "--include",
            "--load",
            "--source",
            "--exec",
        },
        stop_at_operand=True,
    )
    progs = o.values("--source")
    files = list(o.operands)
    prog_files = o.values("-f", "--file", "--include", "-E", "--exec")
    if o.values("--load", "-l"):
        an.deny("exec.native_code", "awk --load loads a native extension")
    if not prog_files and files:
        progs.append(files.pop(0))
    if any(n in ("-i", "--include") for n, _ in o.flags) and any(
        v is not None and v.static and v.text == "inplace" for n, v in o.flags
    ):
        for f in files:
            if not re.match(r"^[A-Za-z_]\w*=", f.text):
                an.check_write(f, verb="awk -i inplace", overwrite_risky=False)
    for p in progs:
        if not p.static:
            an.deny("exec.dynamic_script", "the awk program is computed at run time")
            continue
        interpreters.analyze_awk(an, p.text)
    for f in prog_files:
        an.check_arg_read(f, c)
        _analyze_file(
            an, f, functools.partial(interpreters.analyze_awk, an, origin=f"awk program {f.text}")
        )
    for f in files:
        if not re.match(r"^[A-Za-z_]\w*=", f.text):
            an.check_arg_read(f, c, path=True)
    if c.read_outside:
        c.out = {"sensitive"}


def sort(an: Analyzer, c: Cmd) -> None:
    o = parse_opts(
        c.args,
        short_val="oktST",
        long_val={
            "--output",
            "--key",
            "--field-separator",
            "--temporary-directory",
            "--buffer-size",
            "--files0-from",
            "--compress-program",
            "--parallel",
            "--random-source",
            "--sort",
        },
    )
    for out in o.values("-o", "--output"):
        an.check_write(out, verb="sort -o", overwrite_risky=False)
    if o.values("--compress-program"):
        an.deny("exec.dynamic_command_name", "sort --compress-program runs another program")
    for f in o.values("--files0-from", "-T", "--temporary-directory"):
        if f.static and f.text != "-":
            an.check_arg_read(f, c, path=True)
    reads(an, c, o.operands, path=True)


def uniq(an: Analyzer, c: Cmd) -> None:
    o = parse_opts(
        c.args,
        short_val="fsw",
        long_val={"--skip-fields", "--skip-chars", "--check-chars", "--group", "--all-repeated"},
    )
    if len(o.operands) >= 2:
        an.check_write(o.operands[1], verb="uniq")
    reads(an, c, o.operands[:1], path=True)


def split(an: Analyzer, c: Cmd) -> None:
    o = parse_opts(
        c.args,
        short_val="abClnfn" if c.name == "split" else "fbn",
        long_val={
            "--suffix-length",
            "--bytes",
            "--line-bytes",
            "--lines",
            "--number",
            "--prefix",
            "--suffix-format",
            "--additional-suffix",
            "--filter",
            "--digits",
        },
    )
    if o.values("--filter"):
        for f in o.values("--filter"):
            sub_script(an, f, "split --filter")
    prefix = o.values("-f", "--prefix")
    if c.name == "split" and len(o.operands) >= 2:
        prefix = [o.operands[1]]
    for p in prefix:
        an.check_write(p, verb=c.name, overwrite_risky=False)
    if not prefix and an.cur and not an.ctx.inside_root(an.cur):
        an.deny(
            "write.outside_cwd",
            f"{c.name} writes its pieces in {an.cur}, outside the working directory",
        )
    reads(an, c, o.operands[:1], path=True)


def patch(an: Analyzer, c: Cmd) -> None:
    o = parse_opts(
        c.args,
        short_val="oipdDBrVYzFgx",
        long_val={
            "--output",
            "--input",
            "--directory",
            "--strip",
            "--reject-file",
            "--backup",
            "--prefix",
            "--basename-prefix",
            "--suffix",
            "--fuzz",
            "--get",
            "--debug",
        },
    )
    for out in o.values("-o", "--output", "-r", "--reject-file"):
        an.check_write(out, verb="patch")
    for d in o.values("-d", "--directory"):
        an.check_write(d, verb="patch -d", overwrite_risky=False)
    for op in o.operands[:1]:
        an.check_write(op, verb="patch", overwrite_risky=False)
    for inp in o.values("-i", "--input") + o.operands[1:]:
        an.check_arg_read(inp, c)
    sources = [an.ctx.resolve(v.text, an.cur) for v in o.values("-i", "--input") if v.static]
    if c.stdin and c.stdin[0] == "file":
        sources.append(c.stdin[1])
    strip = next(
        (int(v.text) for v in o.values("-p", "--strip") if v.static and v.text.isdigit()), None
    )
    for src in sources:
        text = _read_small(src, 4 * 1024 * 1024) if os.path.isfile(src) else None
        for m in re.finditer(r"^(?:\+\+\+|---) (\S+)", text or "", re.M):
            name = m.group(1)
            if name == "/dev/null":
                continue
            parts = name.split("/")
            if strip is not None:
                parts = parts[strip:]
            target = "/".join(parts)
            if strip is None and name.startswith("/"):
                target = name
            if target and (target.startswith("/") or ".." in target.split("/")):
                an.check_write(lit(target), verb="patch", overwrite_risky=False)
    an.risky("write.patch", "patch may change several files named inside the patch")


def xxd(an: Analyzer, c: Cmd) -> None:
    o = parse_opts(c.args, short_val="cglnoOs", long_val=())
    if len(o.operands) >= 2:
        an.check_write(o.operands[1], verb="xxd")
    reads(an, c, o.operands[:1], path=True)


def tar(an: Analyzer, c: Cmd) -> None:
    args = list(c.args)
    # old-style first argument without dash: "czf" → "-czf"
    if (
        args
        and args[0].static
        and not args[0].text.startswith("-")
        and re.fullmatch(r"[A-Za-z]+", args[0].text)
    ):
        args[0] = lit("-" + args[0].text)
    o = parse_opts(
        args,
        short_val="fCTXbIHKLNgVF",
        long_val={
            "--file",
            "--directory",
            "--files-from",
            "--exclude-from",
            "--to-command",
            "--use-compress-program",
            "--checkpoint-action",
            "--info-script",
            "--new-volume-script",
            "--rsh-command",
            "--rmt-command",
            "--transform",
            "--xform",
            "--exclude",
            "--owner",
            "--group",
            "--mode",
            "--mtime",
            "--format",
            "--blocking-factor",
            "--newer",
            "--after-date",
            "--label",
            "--index-file",
            "--listed-incremental",
        },
    )
    for n, v in o.flags:
        if n in (
            "--to-command",
            "--checkpoint-action",
            "--info-script",
            "--new-volume-script",
            "--rsh-command",
            "--rmt-command",
            "-F",
        ) or n.startswith("--checkpoint-action"):
            an.deny("exec.tar_command", f"tar {n} runs a command")
        if n in ("-I", "--use-compress-program") and v is not None:
            prog = v.text.split()[0] if v.static and v.text.strip() else ""
            if normalize_name(prog) not in (
                "gzip",
                "pigz",
                "xz",
                "pixz",
                "zstd",
                "bzip2",
                "pbzip2",
                "lz4",
                "lzip",
                "lzma",
                "brotli",
                "zstdmt",
                "plzip",
                "unzstd",
                "gunzip",
            ):
                an.deny("exec.tar_command", f"tar {n} runs the program {v.show()}")
        if n in ("-P", "--absolute-names"):
            an.deny(
                "write.outside_cwd",
                "tar -P keeps absolute member names: extraction can write anywhere",
            )
    create = any(n in ("-c", "--create", "-r", "--append", "-u", "--update") for n, _ in o.flags)
    extract = any(n in ("-x", "--extract", "--get") for n, _ in o.flags)
    archives = o.values("-f", "--file")
    target_dir = next(iter(o.values("-C", "--directory")), None)
    if extract:
        if target_dir is not None:
            an.check_write(target_dir, verb="tar -x -C", overwrite_risky=False)
        elif an.cur is None or not an.ctx.inside_root(an.cur):
            an.deny(
                "write.outside_cwd",
                "tar -x extracts into a directory outside the working directory",
            )
        an.risky("write.extract", "tar -x may overwrite files in the working directory")
        for a in archives:
            an.check_arg_read(a, c)
    elif create:
        for a in archives:
            if a.static and a.text == "-":
                continue
            an.check_write(a, verb="tar -c")
        base = target_dir
        for op in o.operands:
            if base is not None and base.static and op.static and not op.text.startswith("/"):
                op = lit(os.path.join(base.text, op.text))
            an.check_arg_read(op, c)
            an.check_recursive_read(op)
        if not archives or any(a.static and a.text == "-" for a in archives):
            c.out = {"sensitive"} if c.read_outside else {"other"}
    else:
        for a in archives:
            an.check_arg_read(a, c)


def zip_(an: Analyzer, c: Cmd) -> None:
    if c.name == "zip":
        o = parse_opts(
            c.args, short_val="bnxitTOP", long_val={"--unzip-command", "--out", "--password"}
        )
        if any(n in ("-T", "-TT", "--unzip-command") for n, _ in o.flags) and o.values(
            "-T", "--unzip-command"
        ):
            an.deny("exec.tar_command", "zip -TT runs a command")
        if o.operands:
            an.check_write(o.operands[0], verb="zip")
            for op in o.operands[1:]:
                an.check_arg_read(op, c)
                if o.short("r"):
                    an.check_recursive_read(op)
        for out in o.values("-O", "--out"):
            an.check_write(out, verb="zip --out")
        return
    ops = [a for a in c.args if not (a.static and a.text.startswith("-"))]
    outdir = [a for a in c.args if a.static and a.text.startswith("-o") and len(a.text) > 2]
    for d in outdir:
        an.check_write(Arg(d.text[2:], d.mask[2:]), verb=f"{c.name} -o", overwrite_risky=False)
    sub = ops[0].text if ops and ops[0].static else ""
    if sub in ("a", "u", "c") and len(ops) >= 2:
        an.check_write(ops[1], verb=c.name)
        for op in ops[2:]:
            an.check_arg_read(op, c)
    elif sub in ("x", "e") and not outdir and (an.cur is None or not an.ctx.inside_root(an.cur)):
        an.deny("write.outside_cwd", f"{c.name} extracts outside the working directory")
    else:
        reads(an, c, ops[1:])


def compressors(an: Analyzer, c: Cmd) -> None:
    if c.name in ("zcat", "bzcat", "xzcat", "zstdcat"):
        reads(an, c, [a for a in c.args if not (a.static and a.text.startswith("-"))], path=True)
        return
    if c.name in ("unzip", "unrar"):
        o = parse_opts(c.args, short_val="dxP", long_val=())
        dest = o.values("-d")
        for d in dest:
            an.check_write(d, verb="unzip -d", overwrite_risky=False)
        if (
            not dest
            and not o.short("l")
            and not o.short("p")
            and not o.short("t")
            and (an.cur is None or not an.ctx.inside_root(an.cur))
        ):
            an.deny("write.outside_cwd", "unzip extracts outside the working directory")
        reads(an, c, o.operands[:1])
        if not o.short("l") and not o.short("t"):
            an.risky("write.extract", "unzip may overwrite files in the working directory")
        return
    o = parse_opts(
        c.args,
        short_val="SbBLTM" if c.name not in ("zstd", "unzstd") else "oDMTL",
        long_val={"--suffix", "--output", "--memory"},
    )
    to_stdout = any(
        n in ("-c", "--stdout", "--to-stdout", "-t", "--test", "-l", "--list") for n, _ in o.flags
    )
    for out in o.values("-o", "--output"):
        an.check_write(out, verb=c.name)
    for op in o.operands:
        if to_stdout or (op.static and op.text == "-"):
            an.check_arg_read(op, c)
        else:
            an.check_arg_read(op, c)
            an.check_write(op, verb=c.name, overwrite_risky=False)
    if to_stdout and c.read_outside:
        c.out = {"sensitive"}


def grep(an: Analyzer, c: Cmd) -> None:
    """grep/rg/ag/ack: the first operand is the pattern unless -e/-f give it; the rest are files
    (or folders, when recursive). -R and rg -L follow symlinks, which may lead out of the folder."""
    o = parse_opts(
        c.args,
        short_val="efmABCDdgtT" if c.name != "grep" else "efmABCDd",
        long_val={
            "--regexp",
            "--file",
            "--max-count",
            "--after-context",
            "--before-context",
            "--context",
            "--include",
            "--exclude",
            "--exclude-dir",
            "--glob",
            "--type",
            "--type-not",
            "--color",
            "--colour",
            "--label",
            "--binary-files",
            "--devices",
            "--directories",
            "--max-depth",
            "--ignore-file",
            "--pre",
            "--sort",
            "--sortr",
            "--replace",
            "--path-separator",
            "--threads",
            "--encoding",
            "-g",
            "--iglob",
            "--max-filesize",
            "--type-add",
            "--max-columns",
            "--pre-glob",
            "--engine",
        },
    )
    ops = list(o.operands)
    if not o.values("-e", "--regexp", "-f", "--file") and ops:
        ops = ops[1:]
    names = [n for n, _ in o.flags]
    recursive = (
        c.name in ("rg", "ag", "ack")
        or any(n in ("-r", "-R", "--recursive", "--dereference-recursive") for n in names)
        or any(
            v is not None and v.text == "recurse"
            for n, v in o.flags
            if n in ("-d", "--directories")
        )
    )
    follow = (
        any(n in ("-R", "--dereference-recursive") for n in names)
        if c.name == "grep"
        else any(n in ("-L", "--follow", "-f") for n in names)
        if c.name in ("rg", "ag")
        else "--follow" in names
    )
    for p in o.values("--pre"):
        sub_script(an, p, "rg --pre")
    for f in o.values("-f", "--file", "--ignore-file"):
        an.check_arg_read(f, c, path=True)
    if recursive and not ops:
        ops = [lit(".")]
    for op in ops:
        an.check_arg_read(op, c, path=True)
        if recursive:
            an.check_recursive_read(op, follow=follow)
    lister = any(
        n
        in (
            "-l",
            "-L",
            "--files-with-matches",
            "--files-without-match",
            "--files",
            "--count",
            "-c",
            "-o",
            "--only-matching",
            "-q",
        )
        for n in names
    )
    if c.read_outside:
        c.out = {"sensitive"}
    elif lister and all(
        op.static and not op.text.startswith(("/", "~")) and ".." not in op.text.split("/")
        for op in ops
    ):
        c.out = (
            {"cwd_list"}
            if any(
                n in ("-l", "--files-with-matches", "--files-without-match", "--files")
                or (n == "-L" and c.name == "grep")
                for n in names
            )
            else {"other"}
        )
    else:
        c.out = {"other"}


def jq(an: Analyzer, c: Cmd) -> None:
    """jq: the first operand is the filter (unless -f gives a file); --slurpfile/--rawfile read files."""
    files: list[Arg] = []
    operands: list[Arg] = []
    from_file = False
    i, args = 0, c.args
    while i < len(args):
        t = args[i].text if args[i].static else ""
        if t in ("--arg", "--argjson"):
            i += 3
        elif t in ("--slurpfile", "--rawfile"):
            if i + 2 < len(args):
                files.append(args[i + 2])
            i += 3
        elif t in ("-f", "--from-file"):
            from_file = True
            if i + 1 < len(args):
                files.append(args[i + 1])
            i += 2
        elif t in ("--indent", "-L"):
            i += 2
        elif t in ("--args", "--jsonargs"):
            break
        elif t.startswith("-") and t != "-":
            i += 1
        else:
            operands.append(args[i])
            i += 1
    reads(an, c, files + (operands if from_file else operands[1:]), path=True)


def diff(an: Analyzer, c: Cmd) -> None:
    """diff: both operands are read; -r reads folders recursively."""
    o = parse_opts(
        c.args,
        short_val="CUxXIFWLS",
        long_val={
            "--context",
            "--unified",
            "--exclude",
            "--exclude-from",
            "--ignore-matching-lines",
            "--show-function-line",
            "--width",
            "--label",
            "--starting-file",
            "--from-file",
            "--to-file",
            "--line-format",
            "--tabsize",
            "--color",
            "--palette",
            "--horizon-lines",
            "--changed-group-format",
            "--new-group-format",
            "--old-group-format",
            "--unchanged-group-format",
        },
    )
    recursive = any(n in ("-r", "--recursive") for n, _ in o.flags)
    files = o.operands + o.values("--from-file", "--to-file", "-X", "--exclude-from")
    for a in files:
        if a.static and a.text == "-":
            continue
        an.check_arg_read(a, c, path=True)
        if recursive:
            an.check_recursive_read(a)
    reads(an, c, [])


def mlr(an: Analyzer, c: Cmd) -> None:
    """Miller: the verb chain holds a DSL with system() and exec(); files are checked as reads."""
    joined = " ".join(a.text for a in c.args if a.static)
    if re.search(r"\b(system|exec)\s*\(", joined) or any(
        not a.static for a in c.args if not a.item
    ):
        an.ask(
            "exec.runs_code", "mlr runs a DSL with system()/exec() calls, or a computed expression"
        )
    reads(an, c)


# --------------------------------------------------------------------------------------
# directories and the environment
# --------------------------------------------------------------------------------------
def cd(an: Analyzer, c: Cmd) -> None:
    ops = [a for a in c.args if not (a.static and a.text in ("-P", "-L", "-e", "-@", "--"))]
    if not ops:
        home = an.home_value()
        an.cur = (an.ctx.resolve(home) if home else None) if c.name != "pushd" else an.cur
        return
    target = ops[0]
    if target.static and target.text == "-":
        an.cur = None
        return
    cdpath = "CDPATH" in c.env or ("CDPATH" in an.vars and an.vars["CDPATH"] != [("", "")])
    if (
        target.static
        and (cdpath or an.flags.get("cd_unknown"))
        and not target.text.startswith(("/", "~", "./", "../"))
        and target.text not in (".", "..")
    ):
        an.cur = None  # CDPATH or cdable_vars may send cd anywhere
        return
    if target.static:
        an.cur = (
            an.ctx.resolve(target.text, an.cur)
            if (an.cur or target.text.startswith(("/", "~")))
            else None
        )
        return
    an.cur = None  # a computed directory: later relative paths cannot be located


def popd(an: Analyzer, c: Cmd) -> None:
    an.cur = None


def env(an: Analyzer, c: Cmd) -> None:
    args = c.args
    i = 0
    assigns: dict[str, Arg] = {}
    while i < len(args):
        a = args[i]
        t = a.text
        if a.static and t in ("-i", "--ignore-environment", "-0", "--null", "-v", "--debug", "--"):
            i += 1
            continue
        if a.static and t in (
            "-u",
            "--unset",
            "-C",
            "--chdir",
            "-S",
            "--split-string",
            "--block-signal",
            "--default-signal",
            "--ignore-signal",
            "-a",
            "--argv0",
        ):
            if t in ("-C", "--chdir") and i + 1 < len(args):
                an.cur = None
            if t in ("-S", "--split-string") and i + 1 < len(args):
                sub_script(an, args[i + 1], "env -S")
                c.out = {"other"}
                return
            i += 2
            continue
        if a.static and t.startswith(("--unset=", "--chdir=", "--split-string=", "-u")):
            if t.startswith("--split-string="):
                sub_script(an, Arg(t.split("=", 1)[1], a.mask[len("--split-string=") :]), "env -S")
                return
            i += 1
            continue
        if a.static and t.startswith("-S"):
            sub_script(an, Arg(t[2:], a.mask[2:]), "env -S")
            return
        m = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)=", t)
        if m:
            name = m.group(1)
            value = Arg(t[len(name) + 1 :], a.mask[len(name) + 1 :])
            an.check_env_var(name, value, exported=True)
            assigns[name] = value
            i += 1
            continue
        break
    rest = args[i:]
    if not rest:
        cleared = any(a.static and a.text in ("-i", "--ignore-environment") for a in args)
        if not cleared:
            an.deny(
                "secrets.env_dump",
                f"{c.word} without a command prints the whole environment (tokens, keys)",
            )
        c.out = {"env"}
        return
    wrapped(an, c, rest, assigns)


def declaration_policy(an: Analyzer, kind: str, flags: list[str], names: list[str]) -> bool:
    """export/declare/typeset/local/readonly: a dump of every variable is denied, a nameref
    (-n: the variable's value names another variable) is asked. True when the call only prints."""
    letters = "".join(f[1:] for f in flags if f.startswith(("-", "+")))
    if "n" in letters and any(f.startswith("-") for f in flags):
        an.ask(
            "shell.nameref",
            f"{kind} -n makes a variable an alias of another; what it reads or writes "
            "cannot be followed",
        )
    printing = not names or "p" in letters
    if not printing:
        return False
    if not names:
        if "f" in letters or "F" in letters:
            return True  # function definitions or names, not the environment
        shown = " ".join([kind] + flags)
        an.deny(
            "secrets.env_dump", f"{shown} prints every variable of the environment (tokens, keys)"
        )
        return True
    hit = [n for n in names if SECRET_ENV.search(n) and n not in ("SSH_AUTH_SOCK",)]
    if hit:
        an.deny("secrets.env", f"{kind} -p {hit[0]} prints a secret from the environment")
    return True


def export(an: Analyzer, c: Cmd) -> None:
    flags = [
        a.text for a in c.args if a.static and a.text.startswith(("-", "+")) and len(a.text) > 1
    ]
    names = [
        a for a in c.args if not (a.static and a.text.startswith(("-", "+")) and len(a.text) > 1)
    ]
    plain = [a.text.split("=", 1)[0] if a.static else "?" for a in names]
    if declaration_policy(an, c.word, flags, plain):
        c.out = {"env"}
        return
    for a in names:
        m = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)=", a.text)
        if m:
            value = Arg(a.text[len(m.group(1)) + 1 :], a.mask[len(m.group(1)) + 1 :])
            an.check_env_var(m.group(1), value, exported=True)
            an.vars[m.group(1)] = [(value.text, value.mask)]
        elif a.static and a.text in ENV_LOADER_VARS:
            an.deny("loader.ld_preload", f"exporting {a.text} injects a library into every program")


def unset(an: Analyzer, c: Cmd) -> None:
    for a in c.args:
        if a.static:
            an.vars.pop(a.text, None)


def alias(an: Analyzer, c: Cmd) -> None:
    for a in c.args:
        if not a.static:
            an.deny("exec.dynamic_script", "an alias with a computed value cannot be checked")
            continue
        name, eq, value = a.text.partition("=")
        if eq and value.strip():
            an.sub_shell(value, origin=f"the alias {name}")


def trap(an: Analyzer, c: Cmd) -> None:
    ops = [a for a in c.args if not (a.static and a.text in ("-p", "-l", "--"))]
    if len(ops) >= 2 and ops[0].static and ops[0].text not in ("-", ""):
        an.sub_shell(ops[0].text, origin="the trap handler")
    elif len(ops) >= 2 and not ops[0].static:
        an.deny("exec.dynamic_script", "the trap handler is computed at run time")


def eval_(an: Analyzer, c: Cmd) -> None:
    if not c.args:
        return
    if not all(a.static for a in c.args):
        an.deny(
            "exec.dynamic_script",
            "eval runs a string computed at run time, which cannot be checked",
        )
        return
    an.sub_shell(" ".join(a.text for a in c.args), origin="the eval'd command")


def source(an: Analyzer, c: Cmd) -> None:
    if not c.args:
        return
    target = c.args[0]
    if target.psub or not target.static:
        an.deny(
            "exec.dynamic_script",
            f"{c.word} runs a script computed at run time (e.g. from a download)",
        )
        return
    if target.text in ("/dev/stdin", "-", "/proc/self/fd/0", "/dev/fd/0"):
        _stdin_script(an, c, "source")
        return
    _run_script_file(an, c, target, shell_script=True)


def exec_(an: Analyzer, c: Cmd) -> None:
    args = c.args
    while args and args[0].static and args[0].text in ("-c", "-l", "--"):
        args = args[1:]
    if args and args[0].static and args[0].text == "-a":
        args = args[2:]
    if args:
        wrapped(an, c, args)


def command(an: Analyzer, c: Cmd) -> None:
    args = c.args
    if c.name == "command":
        if any(a.static and a.text in ("-v", "-V") for a in args):
            return
        while args and args[0].static and args[0].text in ("-p", "--"):
            args = args[1:]
    wrapped(an, c, args)


def hash_(an: Analyzer, c: Cmd) -> None:
    if any(a.static and a.text.startswith("-p") for a in c.args):
        an.deny("exec.path_hijack", "hash -p maps a command name to another program")


def enable(an: Analyzer, c: Cmd) -> None:
    if any(a.static and a.text.startswith("-f") for a in c.args):
        an.deny("exec.native_code", "enable -f loads a shared library into the shell")


# --------------------------------------------------------------------------------------
# wrappers that run another command
# --------------------------------------------------------------------------------------
# Options with which a wrapper acts on a process it did not start (a pid, a user, every CPU).
_FOREIGN_PROCESS_OPTS = {
    "strace": ("-p", "--attach"),
    "ltrace": ("-p",),
    "ionice": ("-p", "-P", "-u", "--pid", "--pgid", "--uid"),
    "chrt": ("-p", "--pid"),
    "taskset": ("-p", "--pid"),
    "prlimit": ("-p", "--pid"),
    "cpulimit": ("-p", "--pid", "-e", "--exe"),
    "perf": ("-p", "--pid", "-t", "--tid", "-a", "--all-cpus", "-u", "--uid"),
}


def foreign_process_option(c: Cmd) -> str | None:
    """The option with which ``c`` aims at a process it did not start, if any."""
    opts = _FOREIGN_PROCESS_OPTS.get(c.name, ())
    for a in c.args:
        if not a.static:
            continue
        t = a.text
        if t in opts or t.split("=", 1)[0] in opts:
            return t
        if t.startswith("-") and not t.startswith("--") and len(t) > 2 and "=" not in t:
            bundled = re.match(r"-([A-Za-z]*)", t)  # always matches: t starts with "-"
            letters = bundled.group(1) if bundled else ""
            if any("-" + ch in opts for ch in letters if ch in "pPatu"):
                return t
        if t == "--":
            break
    return None


def _skip_options(args: list[Arg]) -> list[Arg]:
    """``args`` without its leading static options."""
    while args and args[0].static and args[0].text.startswith("-"):
        args = args[1:]
    return args


def _wrapper_script(an: Analyzer, c: Cmd, args: list[Arg], short_val: str) -> None:
    """``script [-c CMD] [LOG]``: the command is checked, the log files are written."""
    o = parse_opts(
        args,
        short_val=short_val,
        long_val={
            "--command",
            "--log-out",
            "--log-in",
            "--log-io",
            "--log-timing",
            "--logging-format",
            "--echo",
            "--output-limit",
        },
    )
    for cmd in o.values("-c", "--command"):
        sub_script(an, cmd, "script -c")
    for out in (
        o.values("-O", "--log-out", "-I", "--log-in", "-B", "--log-io", "-T", "--log-timing")
        + o.operands
    ):
        an.check_write(out, verb="script log")
    if not o.operands and not o.values("-O", "--log-out", "-B", "--log-io"):
        an.check_write(lit("typescript"), verb="script log", overwrite_risky=False)


def _wrapper_entr(an: Analyzer, c: Cmd, args: list[Arg], short_val: str) -> None:
    args = _skip_options(args)
    if args and args[0].static and args[0].text == "-s" and len(args) > 1:
        sub_script(an, args[1], "entr -s")
        return
    wrapped(an, c, args)


def _wrapper_priority(an: Analyzer, c: Cmd, args: list[Arg], short_val: str) -> None:
    """``chrt [opts] PRIO CMD``, ``taskset [opts] MASK CMD`` (``-p``: an existing process)."""
    while args and args[0].static and args[0].text.startswith("-"):
        if args[0].text in ("-p", "--pid"):
            return
        args = args[1:]
    wrapped(an, c, args[1:])


def _wrapper_prlimit(an: Analyzer, c: Cmd, args: list[Arg], short_val: str) -> None:
    wrapped(an, c, _skip_options(args))


def _wrapper_valgrind(an: Analyzer, c: Cmd, args: list[Arg], short_val: str) -> None:
    """``valgrind [opts] CMD``: ``--log-file=``/``--xml-file=`` are written."""
    for a in args:
        if not (a.static and a.text.startswith("-")):
            break
        if a.text.startswith(("--log-file=", "--xml-file=")):
            an.check_write(lit(a.text.split("=", 1)[1]), verb="valgrind log", overwrite_risky=False)
    wrapped(an, c, _skip_options(args))


_WRAPPERS: dict[str, Callable[[Analyzer, Cmd, list[Arg], str], None]] = {
    "script": _wrapper_script,
    "entr": _wrapper_entr,
    "chrt": _wrapper_priority,
    "taskset": _wrapper_priority,
    "prlimit": _wrapper_prlimit,
    "valgrind": _wrapper_valgrind,
}


def _wrapped_command(c: Cmd, rest: list[Arg]) -> list[Arg]:
    """The wrapped command among a wrapper's operands (after ``timeout``'s duration, ``nice``'s
    adjustment, ``perf record``…)."""
    if c.name == "timeout" and rest:
        rest = rest[1:]
    if c.name == "nice" and rest and rest[0].static and re.fullmatch(r"-?\d+", rest[0].text):
        rest = rest[1:]
    if c.name == "perf" and rest and rest[0].static:
        rest = _skip_options(rest[1:] if rest[0].text in ("record", "stat", "trace") else [])
    if c.name == "dotenv" and rest and rest[0].static and rest[0].text in ("run", "--"):
        rest = rest[1:]
    return rest


def wrapper(an: Analyzer, c: Cmd) -> None:
    """Programs that run a command given as their operands (nice, timeout, strace…): the
    command is checked as a command of its own. Aimed at another process, they are denied."""
    hit = foreign_process_option(c)
    if hit is not None:
        an.deny("process.foreign", f"{c.word} {hit} acts on a process this command did not start")
        return
    prog = c.prog
    short_val = prog.short_values if prog is not None else ""
    long_val = set(prog.long_values) if prog is not None else set()
    args = list(c.args)
    special = _WRAPPERS.get(c.name)
    if special is not None:
        special(an, c, args, short_val)
        return
    o = parse_opts(args, short_val=short_val, long_val=long_val, stop_at_operand=True)
    if c.name in ("strace", "ltrace", "time", "perf"):
        for out in o.values("-o", "--output"):
            an.check_write(out, verb=f"{c.name} -o", overwrite_risky=False)
    wrapped(an, c, _wrapped_command(c, o.operands))


def flock(an: Analyzer, c: Cmd) -> None:
    o = parse_opts(
        c.args,
        short_val="wEc",
        long_val={"--timeout", "--conflict-exit-code", "--command"},
        stop_at_operand=True,
    )
    for cmd in o.values("-c", "--command"):
        sub_script(an, cmd, "flock -c")
    if o.operands:
        lock = o.operands[0]
        if not (lock.static and lock.text.isdigit()):
            an.check_write(lock, verb="flock", overwrite_risky=False)
        rest = o.operands[1:]
        if rest and rest[0].static and rest[0].text in ("-c", "--command") and len(rest) > 1:
            sub_script(an, rest[1], "flock -c")
            return
        wrapped(an, c, rest)


def watch(an: Analyzer, c: Cmd) -> None:
    o = parse_opts(
        c.args, short_val="nqd", long_val={"--interval", "--differences"}, stop_at_operand=True
    )
    if not o.operands:
        return
    if any(n in ("-x", "--exec") for n, _ in o.flags):
        wrapped(an, c, o.operands)
        return
    if not all(a.static for a in o.operands):
        an.deny("exec.dynamic_script", "watch runs a command computed at run time")
        return
    an.sub_shell(" ".join(a.text for a in o.operands), origin="the command run by watch")


def parallel(an: Analyzer, c: Cmd) -> None:
    args = c.args
    if ":::" in [a.text for a in args]:
        idx = [a.text for a in args].index(":::")
        cmd_args, inputs = args[:idx], args[idx + 1 :]
    else:
        cmd_args, inputs = args, []
    while cmd_args and cmd_args[0].static and cmd_args[0].text.startswith("-"):
        t = cmd_args[0].text
        cmd_args = (
            cmd_args[2:]
            if t
            in (
                "-j",
                "-S",
                "--sshlogin",
                "-a",
                "--arg-file",
                "--jobs",
                "--delay",
                "-I",
                "--timeout",
                "--joblog",
                "--results",
                "--colsep",
                "-d",
            )
            else cmd_args[1:]
        )
    if any(a.static and a.text in ("-S", "--sshlogin") for a in args):
        an.deny("network.remote_shell", "parallel --sshlogin runs commands on other machines")
    if not cmd_args:
        return
    if not all(a.static for a in cmd_args):
        an.deny("exec.dynamic_script", "parallel runs a command computed at run time")
        return
    template = " ".join(a.text for a in cmd_args)
    values = (
        [a.text for a in inputs if a.static] if inputs and all(a.static for a in inputs) else None
    )
    upstream_items = c.pipe_in is not None and c.pipe_in <= {"cwd_list"}
    items: list[str | None] = list(values) if values else [None]
    for value in items[:MAX_FANOUT]:
        if value is None:
            filler = "llmos-item" if upstream_items else '"$LLMOS_UNKNOWN_ARG"'
        else:
            filler = _shquote(value)
        script = (
            re.sub(r"\{[^}]*\}", filler, template) if "{" in template else f"{template} {filler}"
        )
        an.sub_shell(script, origin="the command run by parallel")


MAX_FANOUT = 8


def _shquote(value: str) -> str:
    import shlex

    return shlex.quote(value)


def xargs(an: Analyzer, c: Cmd) -> None:
    o = parse_opts(
        c.args,
        short_val="IiLlnPsdEea",
        long_val={
            "--replace",
            "--max-lines",
            "--max-args",
            "--max-procs",
            "--max-chars",
            "--delimiter",
            "--eof",
            "--arg-file",
            "--process-slot-var",
        },
        stop_at_operand=True,
    )
    replace = next(iter(o.values("-I", "--replace")), None)
    if any(n == "-i" for n, _ in o.flags) and replace is None:
        replace = lit("{}")
    files = o.values("-a", "--arg-file")
    for f in files:
        an.check_arg_read(f, c)
    listing = (c.pipe_in is not None and c.pipe_in <= {"cwd_list"}) or (
        bool(files)
        and all(f.static and an.ctx.inside_root(an.ctx.resolve(f.text, an.cur)) for f in files)
    )
    item = Arg(ITEM, "i") if listing else Arg(DYN, "d")
    rest = o.operands or [lit("echo")]
    if (
        c.pipe_in
        and "secret_list" in c.pipe_in
        and rest
        and not (rest[0].static and programs.reads_no_content(rest[0].text))
    ):
        an.deny("secrets.read", "xargs reads files found under a folder that holds secrets")
    if replace is not None and replace.static and replace.text:
        new = []
        for a in rest:
            if a.static and replace.text in a.text:
                if a.text == replace.text:
                    new.append(item)
                else:
                    head, _, tail = a.text.partition(replace.text)
                    new.append(
                        Arg(head + item.text + tail, "q" * len(head) + item.mask + "q" * len(tail))
                    )
            else:
                new.append(a)
        rest = new
    else:
        rest = rest + [item]
    c.out = an.simple(rest, dict(c.env), None, None)


def find(an: Analyzer, c: Cmd) -> None:
    args = list(c.args)
    while (
        args
        and args[0].static
        and args[0].text in ("-H", "-L", "-P")
        or (args and args[0].static and args[0].text.startswith(("-D", "-O")))
    ):
        args = args[1:]
    roots: list[Arg] = []
    while args and not (
        args[0].static and (args[0].text.startswith("-") or args[0].text in ("(", "!", ")", ","))
    ):
        roots.append(args.pop(0))
    if not roots:
        roots = [lit(".")]
    inside = all(
        r.static and an.cur is not None and an.ctx.inside_root(an.ctx.resolve(r.text, an.cur))
        for r in roots
    ) or all(r.item for r in roots)
    secret_roots = [
        r
        for r in roots
        if r.static
        and (
            an.ctx.holds_secrets(an.ctx.resolve(r.text, an.cur))
            and not an.ctx.inside_root(an.ctx.resolve(r.text, an.cur))
        )
    ]
    for r in roots:
        if r.static:
            real = an.ctx.resolve(r.text, an.cur)
            secret = an.ctx.secret(real)
            if secret:
                an.deny("secrets.read", f"find searches {r.text}: {secret}")
    i = 0
    while i < len(args):
        a = args[i]
        t = a.text if a.static else ""
        if t in ("-exec", "-execdir", "-ok", "-okdir"):
            j = i + 1
            cmd: list[Arg] = []
            while j < len(args) and not (args[j].static and args[j].text in (";", "+")):
                cmd.append(args[j])
                j += 1
            item = Arg(ITEM, "i") if inside else Arg(DYN, "d")
            sub = []
            for x in cmd:
                if x.static and "{}" in x.text:
                    head, _, tail = x.text.partition("{}")
                    sub.append(
                        Arg(head + item.text + tail, "q" * len(head) + item.mask + "q" * len(tail))
                    )
                else:
                    sub.append(x)
            if sub:
                name = normalize_name(sub[0].text) if sub[0].static else ""
                if secret_roots and not programs.reads_no_content(name):
                    an.deny(
                        "secrets.read",
                        f"find {secret_roots[0].text} -exec {name} reads files under a folder that holds secrets",
                    )
                if not inside and name in (
                    "rm",
                    "shred",
                    "unlink",
                    "mv",
                    "chmod",
                    "chown",
                    "truncate",
                    "cp",
                    "tee",
                    "sed",
                    "dd",
                    "ln",
                    "touch",
                    "mkdir",
                    "rmdir",
                ):
                    an.deny(
                        "shell.recursive_delete_outside_cwd"
                        if name in ("rm", "shred", "unlink", "rmdir")
                        else "write.outside_cwd",
                        f"find -exec {name} changes files outside the working directory",
                    )
                else:
                    an.simple(sub, dict(c.env), None, None)
            i = j + 1
            continue
        if t == "-delete":
            if inside:
                an.risky(
                    "shell.delete_in_cwd", "find -delete removes files in the working directory"
                )
            else:
                for r in roots:
                    an.check_delete(r, recursive=True)
            i += 1
            continue
        if t in ("-fprint", "-fprint0", "-fls", "-fprintf") and i + 1 < len(args):
            an.check_write(args[i + 1], verb=f"find {t}")
            i += 3 if t == "-fprintf" else 2
            continue
        if t in ("-files0-from",) and i + 1 < len(args):
            an.check_arg_read(args[i + 1], c)
        i += 1
    c.out = {"cwd_list"} if inside else ({"secret_list"} if secret_roots else {"other"})


def fd(an: Analyzer, c: Cmd) -> None:
    args = list(c.args)
    exec_at = next(
        (
            i
            for i, a in enumerate(args)
            if a.static and a.text in ("-x", "--exec", "-X", "--exec-batch")
        ),
        None,
    )
    head = args if exec_at is None else args[:exec_at]
    o = parse_opts(
        head,
        short_val="etdEcjSoI",
        long_val={
            "--extension",
            "--type",
            "--max-depth",
            "--exclude",
            "--color",
            "--threads",
            "--size",
            "--changed-within",
            "--changed-before",
            "--owner",
            "--base-directory",
            "--search-path",
            "--ignore-file",
            "--max-results",
        },
    )
    paths = o.operands[1:] + o.values("--search-path", "--base-directory")
    inside = (
        all(
            p.static and an.cur and an.ctx.inside_root(an.ctx.resolve(p.text, an.cur))
            for p in paths
        )
        and an.cur is not None
        and an.ctx.inside_root(an.cur)
    )
    for p in paths:
        an.check_arg_read(p, c)
    if exec_at is not None:
        cmd = args[exec_at + 1 :]
        item = Arg(ITEM, "i") if inside else Arg(DYN, "d")
        sub = [
            item if (x.static and x.text in ("{}", "{/}", "{//}", "{.}", "{/.}")) else x
            for x in cmd
        ]
        if not any(x.static and x.text.startswith("{") for x in cmd):
            sub.append(item)
        if sub:
            an.simple(sub, dict(c.env), None, None)
    c.out = {"cwd_list"} if inside else {"other"}


def ls(an: Analyzer, c: Cmd) -> None:
    ops = [a for a in c.args if not (a.static and a.text.startswith("-"))]
    inside = (
        an.cur is not None
        and an.ctx.inside_root(an.cur)
        and all(a.static and an.ctx.inside_root(an.ctx.resolve(a.text, an.cur)) for a in ops)
    )
    c.out = {"cwd_list"} if inside else {"other"}


# --------------------------------------------------------------------------------------
# shells and interpreters
# --------------------------------------------------------------------------------------
def _stdin_script(an: Analyzer, c: Cmd, what: str, lang: str = "sh") -> None:
    """The program reads its script from stdin: a pipe or a here-document."""
    if c.pipe_in is not None:
        if "network" in c.pipe_in:
            an.deny(
                "download_exec.pipe_to_shell", f"downloaded content is piped into {what} and run"
            )
        elif c.pipe_in & SENSITIVE:
            an.deny(
                "exec.pipe_to_shell",
                f"secrets or outside files are piped into {what} and run as code",
            )
        else:
            an.ask(
                "exec.pipe_to_shell",
                f"text piped into {what} is run as code and cannot be checked "
                "(e.g. a here-document or a decoded payload)",
            )
        return
    if c.stdin is None:
        return
    kind = c.stdin[0]
    if kind == "text":
        text, dynamic = c.stdin[1], c.stdin[2]
        if dynamic:
            an.deny(
                "exec.dynamic_script", f"the here-document run by {what} contains command output"
            )
            return
        _run_code(an, lang, text, f"the script fed to {what}")
    elif kind == "file":
        _run_code_file(an, lang, c.stdin[1], what)
    else:
        an.deny("exec.dynamic_script", f"{what} runs a script produced by another command")


def _run_code(an: Analyzer, lang: str, text: str, origin: str) -> None:
    if lang == "sh":
        an.sub_shell(text, origin=origin)
    elif lang == "python":
        interpreters.analyze_python(an, text, origin)
    elif lang == "foreign":
        an.deny("exec.unparsed_shell", f"{origin} is in a shell language this policy cannot parse")
    elif lang == "generic":
        an.ask("exec.unmodelled_code", f"{origin} is code in a language this policy cannot check")
    else:
        interpreters.analyze_code(an, lang, text, origin)


def _read_small(path: str, limit: int = 256 * 1024) -> str | None:
    try:
        with open(path, "rb") as fh:
            data = fh.read(limit + 1)
    except OSError:
        return None
    if len(data) > limit or b"\x00" in data:
        return None
    return data.decode("utf-8", "replace")


def _analyze_file(an: Analyzer, arg: Arg, fn: Callable[[str], object]) -> None:
    if not arg.static:
        an.deny("exec.dynamic_script", f"the script file {arg.show()} is computed at run time")
        return
    real = an.ctx.resolve(arg.text, an.cur)
    if real in an.written:
        an.deny(
            "exec.write_then_run",
            f"{arg.text} is written and run by the same command; its content cannot be checked",
        )
        return
    if not os.path.exists(real):
        return
    text = _read_small(real)
    if text is None:
        an.deny("exec.unreadable_script", f"the script {arg.text} cannot be read for checking")
        return
    fn(text)


def _run_code_file(an: Analyzer, lang: str, real: str, what: str) -> None:
    if real in an.written:
        an.deny(
            "exec.write_then_run",
            f"{real} is written and run by the same command; its content cannot be checked",
        )
        return
    if lang != "sh" or not an.ctx.inside_root(real):
        return  # the project's own scripts are read; installed programs are not
    if not os.path.exists(real):
        return
    text = _read_small(real)
    if text is None:
        an.deny("exec.unreadable_script", f"the script {real} cannot be read for checking")
        return
    _run_code(an, "sh", text, f"the script {real}")


def _run_script_file(
    an: Analyzer, c: Cmd, target: Arg, *, shell_script: bool, lang: str = "sh"
) -> None:
    if target.psub:
        an.deny(
            "exec.dynamic_script",
            f"{c.word} runs a script produced by another command (process substitution)",
        )
        return
    if not target.static:
        an.deny("exec.dynamic_script", f"{c.word} runs a script whose name is computed at run time")
        return
    text = target.text
    if re.match(r"^(https?|ftp)://", text):
        an.deny("download_exec.remote_script", f"{c.word} runs a script straight from {text}")
        return
    if an.cur is None and not text.startswith(("/", "~")):
        an.ask("cwd.unknown", f"{c.word} runs {text} from a current directory that is unknown here")
        return
    real = an.ctx.resolve(text, an.cur)
    secret = an.ctx.secret(real)
    if secret:
        an.deny("secrets.read", f"{c.word} reads {text}: {secret}")
        return
    if real in an.written:
        an.deny(
            "exec.write_then_run",
            f"{text} is written and run by the same command; its content cannot be checked",
        )
        return
    if an.ctx.is_tmp(real) and not an.ctx.inside_root(real):
        an.deny("exec.from_tmp", f"{c.word} runs {text} from a shared temporary folder")
        return
    if an.flags.get("downloaded") and not os.path.exists(real):
        an.deny(
            "download_exec.run_downloaded",
            f"{c.word} runs {text}, which this command downloads first",
        )
        return
    if shell_script:
        _run_code_file(an, "sh", real, c.word)


def shell(an: Analyzer, c: Cmd) -> None:
    """bash/sh/zsh…: ``-c STRING`` (the first operand after the options), a script file, or stdin."""
    foreign = programs.kind_of(c.name) == "foreign-shell"
    args = c.args
    i = 0
    command_mode = False
    read_stdin = False
    while i < len(args):
        a = args[i]
        if not a.static:
            if command_mode:
                break
            an.deny("exec.dynamic_script", f"{c.word} gets an option computed at run time")
            return
        t = a.text
        if t == "--" or t == "-":
            i += 1
            break
        if t.startswith("--"):
            if t in ("--rcfile", "--init-file"):
                an.deny("loader.startup_hook", f"{c.word} {t} runs an extra start-up file")
                i += 2
                continue
            if t in ("--command", "-Command"):
                command_mode = True
            i += 1
            continue
        if not (t.startswith("-") or t.startswith("+")) or len(t) < 2:
            break
        if c.name in ("pwsh", "powershell") and t.lower() in (
            "-command",
            "-c",
            "-encodedcommand",
            "-e",
            "-ec",
        ):
            command_mode = True
            i += 1
            continue
        letters = t[1:]
        takes_value = False
        for letter in letters:
            if letter == "c":
                command_mode = True
            elif letter == "s":
                read_stdin = True
            elif letter in "oO":
                takes_value = True  # -o pipefail, -euxo pipefail, -O extglob
        i += 2 if takes_value else 1
    rest = args[i:]
    if command_mode:
        if foreign:
            an.deny(
                "exec.unparsed_shell", f"{c.word} -c uses a shell language this policy cannot parse"
            )
            return
        if not rest:
            return
        sub_script(an, rest[0], f"the command run by {c.word} -c", positional=rest[1:])
        c.out = {"other"}
        return
    if (
        rest
        and not read_stdin
        and not (rest[0].static and rest[0].text in ("/dev/stdin", "/proc/self/fd/0", "/dev/fd/0"))
    ):
        if foreign:
            an.deny(
                "exec.unparsed_shell",
                f"{c.word} scripts use a shell language this policy cannot parse",
            )
            return
        _run_script_file(an, c, rest[0], shell_script=True)
        return
    _stdin_script(an, c, c.word, "foreign" if foreign else "sh")


def local_program(an: Analyzer, c: Cmd, real: str) -> None:
    """``./script.sh`` or ``bin/tool``: a program inside the working directory."""
    if an.flags.get("downloaded") and not os.path.exists(real):
        an.deny(
            "download_exec.run_downloaded", f"{c.word} runs a program this command downloads first"
        )
        return
    text = _read_small(real, 64 * 1024) if os.path.isfile(real) else None
    if text is not None and text.startswith("#!"):
        first = text.split("\n", 1)[0]
        interp = first[2:].strip().split()
        prog = normalize_name(interp[0]) if interp else ""
        if prog == "env" and len(interp) > 1:
            prog = normalize_name(interp[-1] if not interp[1].startswith("-") else interp[-1])
        if programs.kind_of(prog) == "shell":
            an.sub_shell(text, origin=f"the script {c.word}")
    for a in c.args:
        an.check_arg_read(a, c)
    output_writes(an, c)


_INTERPRETER_LANG: dict[str, str] = {
    "python": "python",
    "ipython": "python",
    "pypy": "python",
    "perl": "perl",
    "ruby": "ruby",
    "irb": "ruby",
    "node": "node",
    "nodejs": "node",
    "deno": "node",
    "bun": "node",
    "php": "php",
    "lua": "lua",
    "luajit": "lua",
    "Rscript": "r",
    "R": "r",
    "julia": "julia",
    "tclsh": "tcl",
    "wish": "tcl",
    "expect": "tcl",
}
# Options that take a value (skipped with it), per language.
_INTERPRETER_VALUE_FLAGS: dict[str, frozenset[str]] = {
    "python": frozenset({"-W", "-X", "-Q"}),
    "perl": frozenset({"-I", "-M", "-m", "-F", "-0", "-x", "-C", "-D"}),
    "ruby": frozenset({"-I", "-r", "-C", "-F", "-E", "-K", "-0", "-x", "-T"}),
    "node": frozenset(
        {
            "-r",
            "--require",
            "--import",
            "--loader",
            "--experimental-loader",
            "--input-type",
            "-C",
            "--conditions",
            "--env-file",
            "--title",
            "--inspect-port",
            "--max-old-space-size",
            "--stack-size",
        }
    ),
    "php": frozenset({"-d", "-c", "-t", "-S", "-z", "-n"}),
    "lua": frozenset({"-l"}),
    "r": frozenset({"--file", "-f"}),
    "julia": frozenset({"-L", "--load", "--project", "-t", "-p"}),
}
# Options whose value is code to run, per language.
_INTERPRETER_CODE_FLAGS: dict[str, frozenset[str]] = {
    "python": frozenset({"-c"}),
    "perl": frozenset({"-e", "-E"}),
    "ruby": frozenset({"-e"}),
    "node": frozenset({"-e", "--eval", "-p", "--print"}),
    "php": frozenset({"-r", "-R", "-B", "-E"}),
    "lua": frozenset({"-e"}),
    "r": frozenset({"-e", "--expr"}),
    "julia": frozenset({"-e", "--eval", "-E", "--print"}),
    "tcl": frozenset({"-c"}),
    "generic": frozenset(
        {
            "-e",
            "-c",
            "-x",
            "-E",
            "--eval",
            "--eval-command",
            "--execute",
            "--expr",
            "--expression",
        }
    ),
}
_DENO_SUBCOMMANDS = frozenset(
    {
        "eval",
        "run",
        "repl",
        "task",
        "test",
        "fmt",
        "lint",
        "compile",
        "install",
        "cache",
        "bench",
        "check",
    }
)
_BUN_SUBCOMMANDS = frozenset({"run", "x", "test", "install", "add", "build", "create"})


def _deno(an: Analyzer, lang: str, sub: str, args: list[Arg]) -> None:
    """``deno SUB …``: eval code is checked; running code from a URL is denied."""
    ops = [a for a in args if not (a.static and a.text.startswith("-"))]
    if sub == "eval":
        if ops:
            _code_arg(an, lang, ops[0], "deno eval")
        return
    if sub not in ("run", "compile", "install"):
        return
    if ops and ops[0].static and re.match(r"^(https?|npm|jsr):", ops[0].text):
        an.deny(
            "download_exec.remote_script",
            f"deno {sub} runs code straight from {ops[0].text}",
        )
        return
    if sub == "install":
        an.risky("package.install", "deno install adds a program")


def _bun(an: Analyzer, sub: str) -> None:
    if sub in ("install", "add", "create"):
        an.risky("package.install", f"bun {sub} installs packages (runs their scripts)")
    if sub == "x":
        an.risky("package.install", "bun x downloads and runs a package")


def _interpreter_subcommand(an: Analyzer, c: Cmd, lang: str, args: list[Arg]) -> bool:
    """deno and bun subcommands; True when the command was one (and is checked)."""
    sub = args[0].text if args and args[0].static else ""
    if c.name == "deno" and sub in _DENO_SUBCOMMANDS:
        _deno(an, lang, sub, args[1:])
        return True
    if c.name == "bun" and sub in _BUN_SUBCOMMANDS:
        _bun(an, sub)
        return True
    return False


def _interpreter_option_risks(an: Analyzer, lang: str, t: str, args: list[Arg], i: int) -> None:
    """Options that load a network library, preload code or start a server."""
    nxt = args[i + 1].text if i + 1 < len(args) else ""
    if lang == "perl" and t.startswith(("-M", "-m")):
        mod = t[2:] or nxt
        if re.search(r"Socket|IO::Socket|Net::|LWP|HTTP", mod):
            an.deny("reverse_shell.socket", f"perl loads {mod} (network)")
    if lang == "ruby" and t.startswith("-r"):
        lib = t[2:] or nxt
        if re.search(r"socket|net/|open-uri|open3|pty", lib):
            an.deny("reverse_shell.socket", f"ruby loads {lib}")
    if lang == "node" and t in ("-r", "--require", "--import", "--loader", "--experimental-loader"):
        an.risky("exec.preload", f"node {t} preloads a module")
    if (
        lang == "php"
        and t == "-d"
        and i + 1 < len(args)
        and re.search(r"auto_(prepend|append)_file|extension", nxt)
    ):
        an.deny("loader.startup_hook", "php -d auto_prepend_file runs extra code")
    if lang == "php" and t == "-S":
        an.risky("network.server", "php -S starts a web server")


_PYTHON_FLAG_RUN = LazyRegex(r"-[bBdEhiIOqsSuvVx]+[cm]")  # -Bc, -uEm: the last letter counts


@record
class _InterpreterOptions:
    """The options of an interpreter's command line: the code it runs (``-c``/``-e``), a module
    (``python -m``), in-place editing (``perl -i``); ``i`` ends at the first operand."""

    an: Analyzer
    lang: str
    args: list[Arg]
    code: list[str] = field(default_factory=list)
    dynamic_code: bool = False
    module: Arg | None = None
    in_place: bool = False
    i: int = 0

    def scan(self) -> None:
        args = self.args
        while self.i < len(args):
            a = args[self.i]
            t = a.text if a.static else ""
            if not a.static or not t.startswith("-") or t == "-":
                return
            if t == "--":
                self.i += 1
                return
            if self.lang == "python" and _PYTHON_FLAG_RUN.fullmatch(t):
                t = "-" + t[-1]
            step = self._code_option(a, t)
            if step == "stop":
                return
            if step == "next":
                continue
            if self._python_module(a, t):
                return
            if (
                self.lang in ("perl", "ruby")
                and re.match(r"^-[a-zA-Z]*i", t)
                and not t.startswith("--")
            ):
                self.in_place = True
            if self._perl_e(t):
                continue
            _interpreter_option_risks(self.an, self.lang, t, args, self.i)
            takes_value = t in _INTERPRETER_VALUE_FLAGS.get(self.lang, frozenset())
            self.i += 2 if takes_value and self.i + 1 < len(args) else 1

    def _attached(self, t: str, flags: frozenset[str]) -> str | None:
        """The code option ``t`` starts with when its value is attached (``-ecode``,
        ``--eval=code``): the prefix to strip."""
        if self.lang in ("perl", "ruby", "python"):
            for f in flags:
                if len(f) == 2 and t.startswith(f) and t != f:
                    return f
        if "=" in t:
            for f in flags:
                if t.startswith(f + "="):
                    return f + "="
        return None

    def _code_option(self, a: Arg, t: str) -> str | None:
        """A code option: "next" (go on), "stop" (python: ``-c`` ends the options) or None."""
        flags = _INTERPRETER_CODE_FLAGS.get(self.lang, frozenset())
        attached = self._attached(t, flags)
        if t not in flags and attached is None:
            return None
        if attached:
            value = Arg(a.text[len(attached) :], a.mask[len(attached) :], a.names)
            self.i += 1
        elif self.i + 1 < len(self.args):
            value = self.args[self.i + 1]
            self.i += 2
        else:
            self.i += 1
            return "next"
        if value.static:
            self.code.append(value.text)
        else:
            self.dynamic_code = True
        return "stop" if self.lang == "python" else "next"

    def _python_module(self, a: Arg, t: str) -> bool:
        """``python -m MODULE`` ends the options; True when ``t`` is it."""
        if self.lang != "python" or not t.startswith("-m"):
            return False
        if t == "-m":
            if self.i + 1 < len(self.args):
                self.module = self.args[self.i + 1]
            self.i += 2
        else:
            self.module = Arg(t[2:], a.mask[2:])
            self.i += 1
        return True

    def _perl_e(self, t: str) -> bool:
        """perl's bundled ``-lne CODE``; True when ``t`` is it (and its code was taken)."""
        if not (
            self.lang == "perl"
            and re.match(r"^-[a-zA-Z]*[nlapsw0]*e$", t)
            and t not in _INTERPRETER_CODE_FLAGS["perl"]
            and self.i + 1 < len(self.args)
        ):
            return False
        nxt = self.args[self.i + 1]
        if nxt.static:
            self.code.append(nxt.text)
        else:
            self.dynamic_code = True
        self.i += 2
        return True


def interpreter(an: Analyzer, c: Cmd) -> None:
    if c.name == "osascript":
        an.deny("exec.interpreter_command", "osascript automates other applications")
        return
    lang = _INTERPRETER_LANG.get(c.name, "generic")
    args = list(c.args)
    if _interpreter_subcommand(an, c, lang, args):
        return
    opts = _InterpreterOptions(an, lang, args)
    opts.scan()
    rest = args[opts.i :]
    if opts.dynamic_code:
        an.deny("exec.dynamic_script", f"the code run by {c.word} is computed at run time")
    elif opts.module is not None:
        _python_module(an, c, opts.module, rest)
    elif opts.code:
        _run_code(an, lang, "\n".join(opts.code), f"{c.word} one-liner")
        for f in rest:
            if opts.in_place:
                an.check_write(f, verb=f"{c.word} -i", overwrite_risky=False)
            else:
                an.check_arg_read(f, c)
        if c.read_outside:
            c.out = {"sensitive"}
    elif rest and not (rest[0].static and rest[0].text == "-"):
        _interpreter_script(an, c, rest)
    else:
        _stdin_script(an, c, c.word, lang)


def _interpreter_script(an: Analyzer, c: Cmd, rest: list[Arg]) -> None:
    """``python script.py ARGS``: the script is checked (a project's own script is confined by
    the OS sandbox); its arguments may be files it reads."""
    script = rest[0]
    if script.psub or not script.static:
        an.deny("exec.dynamic_script", f"{c.word} runs a script produced at run time")
        return
    _run_script_file(an, c, script, shell_script=False)
    for f in rest[1:]:
        an.check_arg_read(f, c)
    output_writes(an, c)


def _code_arg(an: Analyzer, lang: str, arg: Arg, origin: str) -> None:
    if not arg.static:
        an.deny("exec.dynamic_script", f"{origin} runs code computed at run time")
        return
    _run_code(an, lang, arg.text, origin)


def _python_module(an: Analyzer, c: Cmd, module: Arg, rest: list[Arg]) -> None:
    if not module.static:
        an.deny("exec.dynamic_script", "python -m runs a module chosen at run time")
        return
    mod = module.text
    if mod in ("pip", "pip3", "ensurepip"):
        pip(an, Cmd("pip", "pip", rest, c.env, c.pipe_in, c.stdin))
        return
    if mod in ("http.server", "SimpleHTTPServer", "smtpd", "pydoc") and (
        mod != "pydoc" or any(a.text == "-p" for a in rest)
    ):
        an.risky("network.server", f"python -m {mod} serves files over the network")
        return
    if mod in ("venv", "virtualenv"):
        for a in rest:
            if not (a.static and a.text.startswith("-")):
                an.check_write(a, verb="python -m venv", overwrite_risky=False)
        return
    if mod in ("zipfile", "tarfile"):
        if any(a.static and a.text in ("-e", "--extract") for a in rest):
            ops = [a for a in rest if not (a.static and a.text.startswith("-"))]
            if len(ops) >= 2:
                an.check_write(ops[1], verb=f"python -m {mod} -e", overwrite_risky=False)
        if any(a.static and a.text in ("-c", "--create") for a in rest):
            ops = [a for a in rest if not (a.static and a.text.startswith("-"))]
            if ops:
                an.check_write(ops[0], verb=f"python -m {mod} -c")
            for op in ops[1:]:
                an.check_arg_read(op, c)
        return
    if mod in ("pty",):
        an.deny("reverse_shell.socket", "python -m pty spawns a terminal")
        return
    if mod in ("ftplib", "smtplib", "telnetlib", "nntplib", "poplib", "imaplib"):
        if not an.allow_network:
            an.deny("network.raw_socket", f"python -m {mod} connects to another machine")
        return
    if mod in (
        "base64",
        "json.tool",
        "timeit",
        "cProfile",
        "profile",
        "pytest",
        "unittest",
        "doctest",
        "compileall",
        "py_compile",
        "mypy",
        "black",
        "ruff",
        "isort",
        "flake8",
        "pylint",
        "coverage",
        "build",
        "twine",
        "pdb",
        "trace",
        "tokenize",
        "ast",
        "dis",
        "platform",
        "sysconfig",
        "site",
        "calendar",
        "uuid",
        "this",
        "antigravity",
        "webbrowser",
        "tabnanny",
        "pyclbr",
        "pstats",
        "gzip",
        "filecmp",
    ):
        if mod == "twine":
            an.risky("package.publish", "twine uploads a package")
        for a in rest:
            an.check_arg_read(a, c)
        output_writes(an, c)
        return
    for a in rest:
        an.check_arg_read(a, c)
    output_writes(an, c)


# --------------------------------------------------------------------------------------
# network
# --------------------------------------------------------------------------------------
_CURL_VALUE_SHORT = "dFToDcbKHuxXAerEmYyzCPQUwtEh"
_CURL_VALUE_LONG = {
    "--data",
    "--data-ascii",
    "--data-binary",
    "--data-raw",
    "--data-urlencode",
    "--form",
    "--form-string",
    "--upload-file",
    "--json",
    "--output",
    "--output-dir",
    "--dump-header",
    "--cookie-jar",
    "--cookie",
    "--config",
    "--header",
    "--user",
    "--proxy",
    "--request",
    "--user-agent",
    "--referer",
    "--url",
    "--trace",
    "--trace-ascii",
    "--stderr",
    "--write-out",
    "--libcurl",
    "--etag-save",
    "--etag-compare",
    "--hsts",
    "--alt-svc",
    "--cert",
    "--key",
    "--cacert",
    "--capath",
    "--range",
    "--max-time",
    "--connect-timeout",
    "--retry",
    "--retry-delay",
    "--retry-max-time",
    "--speed-limit",
    "--speed-time",
    "--time-cond",
    "--resolve",
    "--connect-to",
    "--continue-at",
    "--limit-rate",
    "--max-filesize",
    "--interface",
    "--local-port",
    "--ftp-port",
    "--quote",
    "--mail-from",
    "--mail-rcpt",
    "--noproxy",
    "--proxy-user",
    "--oauth2-bearer",
    "--unix-socket",
    "--abstract-unix-socket",
    "--variable",
    "--expand-data",
    "--expand-url",
    "--proxy-header",
    "--dns-servers",
    "--max-redirs",
    "--netrc-file",
    "--pubkey",
    "--hostpubmd5",
    "--hostpubsha256",
    "--key-type",
    "--cert-type",
    "--ciphers",
    "--aws-sigv4",
    "--create-file-mode",
    "--parallel-max",
    "--url-query",
    "--rate",
    "--ip-tos",
    "--vlan-priority",
    "-w",
}


def _url_host(text: str) -> str:
    """The host of a URL (``""`` for file: URLs and httpie's ``:8000`` shorthand)."""
    t = text.strip()
    if t.lower().startswith("file:") or t.startswith(":"):
        return ""
    m = re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", t)
    rest = t[m.end() :] if m else t
    host = re.split(r"[/?#]", rest, maxsplit=1)[0].rsplit("@", 1)[-1]
    if host.startswith("["):
        return host[1 : host.find("]")].lower() if "]" in host else host.lower()
    return host.split(":")[0].lower()


def _loopback(host: str) -> bool:
    return (
        host in ("", "localhost", "::1", "0.0.0.0")
        or host.endswith(".localhost")
        or re.fullmatch(r"127(\.\d{1,3}){3}", host) is not None
    )


def local_only(urls: list[Arg]) -> bool:
    """Every URL is static and points at this machine (loopback or a file: URL)."""
    return bool(urls) and all(u.static and _loopback(_url_host(u.text)) for u in urls)


def network_off(an: Analyzer, c: Cmd, urls: list[Arg], *, via_proxy: bool = False) -> bool:
    """Deny a network client when the network is not allowed, unless it only talks to this
    machine. True when denied."""
    if an.allow_network or (local_only(urls) and not via_proxy):
        return False
    where = next((u.show() for u in urls if not (u.static and _loopback(_url_host(u.text)))), None)
    an.deny(
        "network.disabled",
        f"{c.word} talks to {where or 'another machine'}, and network access is not "
        "allowed (execution.allow_network)",
    )
    return True


_CURL_PROXY = (
    "-x",
    "--proxy",
    "--preproxy",
    "--socks4",
    "--socks4a",
    "--socks5",
    "--socks5-hostname",
    "--connect-to",
    "--resolve",
    "--doh-url",
    "-K",
    "--config",
    "--unix-socket",
    "--abstract-unix-socket",
)


_CURL_DATA = ("-d", "--data", "--data-ascii", "--data-binary", "--json")
_CURL_READS = ("-H", "--header", "--proxy-header", "-K", "--config", "--netrc-file")
_CURL_REMOTE_NAME = ("-O", "--remote-name", "--remote-name-all")
_CURL_WRITES = (
    "-o",
    "--output",
    "-D",
    "--dump-header",
    "-c",
    "--cookie-jar",
    "--trace",
    "--trace-ascii",
    "--stderr",
    "--libcurl",
    "--etag-save",
    "--hsts",
    "--alt-svc",
)


def _after_at(v: Arg) -> Arg:
    """The part of ``v`` after its first ``@`` (``name@file``)."""
    t = v.text
    return Arg(t.split("@", 1)[1], v.mask[t.index("@") + 1 :])


def _curl_upload_of(n: str, v: Arg) -> Arg | None:
    """The file an option with a value uploads (``-d @f``, ``-F x=@f``, ``-T f``…), or None."""
    t = v.text
    if n in _CURL_DATA and t.startswith("@"):
        return Arg(t[1:], v.mask[1:])
    if n == "--data-urlencode" and "@" in t and (t.startswith("@") or re.match(r"^[^=]*@", t)):
        return _after_at(v)
    form = re.match(r"^[^=]*=[@<]", t) if n in ("-F", "--form") else None
    if form is not None:
        idx = form.end()
        path = t[idx:].split(";")[0]
        return Arg(path, v.mask[idx : idx + len(path)])
    if n in ("-T", "--upload-file"):
        return v
    return None


def _curl_option(an: Analyzer, c: Cmd, n: str, v: Arg, uploads: list[tuple[str, Arg]]) -> None:
    """One option with a value: a file it uploads (into ``uploads``), reads or writes."""
    t = v.text
    upload = _curl_upload_of(n, v)
    if upload is not None:
        uploads.append((n, upload))
    elif n in _CURL_READS and (t.startswith("@") or n in ("-K", "--config", "--netrc-file")):
        an.check_arg_read(Arg(t[1:], v.mask[1:]) if t.startswith("@") else v, c)
    elif n == "--variable" and "@" in t:
        uploads.append((n, _after_at(v)))
    elif n in ("-b", "--cookie") and "=" not in t:
        an.check_arg_read(v, c)
    if n in ("-w", "--write-out") and "%output{" in t:
        an.deny("write.unresolved_target", "curl --write-out %output{} writes to a file")


def _curl_uploads(an: Analyzer, c: Cmd, uploads: list[tuple[str, Arg]]) -> None:
    for n, path in uploads:
        if not (path.static and path.text in ("-", ".")):
            _upload(an, c, path, f"curl {n}")
        elif c.pipe_in and c.pipe_in & SENSITIVE:
            an.deny(
                "exfil.pipe_to_network",
                "curl uploads data piped from the environment or outside files",
            )
        elif c.stdin and c.stdin[0] == "file" and not an.ctx.inside_root(c.stdin[1]):
            an.deny("exfil.file_to_network", f"curl uploads {c.stdin[1]}")


def _curl_outputs(an: Analyzer, c: Cmd, o: Opts) -> None:
    """Files curl writes: ``-O`` names, ``-o`` and the other output options, ``--output-dir``."""
    outdir = next(iter(o.values("--output-dir")), None)
    if o.has(*_CURL_REMOTE_NAME) and an.cur:
        folder = an.cur
        if outdir is not None and outdir.static:
            folder = an.ctx.resolve(outdir.text, an.cur)
        for u in o.operands:
            name = u.text.split("?")[0].rstrip("/").rsplit("/", 1)[-1] if u.static else ""
            if name:
                an.written.add(os.path.join(folder, name))
    for out in o.values(*_CURL_WRITES):
        if not (out.static and out.text == "-"):
            an.check_write(out, verb="curl output")
    if outdir is not None:
        an.check_write(outdir, verb="curl --output-dir", overwrite_risky=False)
    elif o.has(*_CURL_REMOTE_NAME, "-J") and (an.cur is None or not an.ctx.inside_root(an.cur)):
        an.deny("write.outside_cwd", "curl -O saves into a directory outside the working directory")


def _curl_file_urls(an: Analyzer, c: Cmd, urls: list[Arg]) -> None:
    """``file://`` URLs are reads of local files."""
    for u in urls:
        if u.static and u.text.lower().startswith("file://"):
            path = u.text[7:]
            real = an.ctx.resolve(path or "/", an.cur)
            an.check_read_path(path, real)
            if not an.ctx.inside_root(real):
                c.read_outside = True


def curl(an: Analyzer, c: Cmd) -> None:
    o = parse_opts(c.args, short_val=_CURL_VALUE_SHORT, long_val=_CURL_VALUE_LONG)
    if network_off(
        an, c, o.operands + o.values("--url"), via_proxy=any(n in _CURL_PROXY for n, _ in o.flags)
    ):
        return
    uploads: list[tuple[str, Arg]] = []
    for n, v in o.flags:
        if v is not None:
            _curl_option(an, c, n, v, uploads)
    _curl_uploads(an, c, uploads)
    network_receiver(an, c, reads_stdin=False)
    check_secret_args(an, c, o.flags)
    _curl_outputs(an, c, o)
    _curl_file_urls(an, c, o.operands + o.values("--url"))
    has_output = bool(o.values("-o", "--output")) or o.has(*_CURL_REMOTE_NAME)
    c.out = {"network"} if not has_output else {"other"}
    an.risky("network.download", "curl talks to the network")


def _upload(an: Analyzer, c: Cmd, path: Arg, what: str) -> None:
    if not path.static:
        an.deny("exfil.upload", f"{what} uploads a file whose name is computed at run time")
        return
    real = an.ctx.resolve(path.text, an.cur)
    secret = an.ctx.secret(real)
    if secret:
        an.deny("exfil.upload_secret", f"{what} uploads {path.text}: {secret}")
        return
    if real in an.tainted:
        an.deny(
            "exfil.tainted_upload",
            f"{what} uploads {path.text}, which this command filled with secrets or outside data",
        )
        return
    name = os.path.basename(real)
    if (
        re.match(
            r"^(\.env(\..*)?|.*\.pem|.*\.key|id_(rsa|dsa|ecdsa|ed25519).*|credentials.*|\.netrc|\.npmrc|\.pypirc|"
            r".*\.p12|.*\.pfx|secrets?\..*|.*\.kdbx|\.git-credentials)$",
            name,
        )
        and not name.endswith(".pub")
        and not re.match(r"^\.env\.(example|sample|template)$", name)
    ):
        an.deny("exfil.upload_secret", f"{what} uploads {path.text}, which looks like a secret")
        return
    if not an.ctx.inside_root(real):
        an.deny(
            "exfil.upload_outside_cwd",
            f"{what} uploads {real}, a file outside the working directory",
        )
        return
    an.risky("network.upload", f"{what} uploads {path.text}")


def wget(an: Analyzer, c: Cmd) -> None:
    o = parse_opts(
        c.args,
        short_val="OoaPiBeUtTwQlDAXIRYxHhb",
        long_val={
            "--output-document",
            "--output-file",
            "--append-output",
            "--directory-prefix",
            "--input-file",
            "--base",
            "--execute",
            "--user-agent",
            "--tries",
            "--timeout",
            "--wait",
            "--quota",
            "--level",
            "--domains",
            "--accept",
            "--reject",
            "--include-directories",
            "--exclude-directories",
            "--post-data",
            "--post-file",
            "--body-data",
            "--body-file",
            "--method",
            "--header",
            "--load-cookies",
            "--save-cookies",
            "--config",
            "--user",
            "--password",
            "--http-user",
            "--http-password",
            "--ca-certificate",
            "--certificate",
            "--private-key",
            "--limit-rate",
            "--referer",
            "--warc-file",
            "--rejected-log",
            "--use-askpass",
            "--output-directory",
        },
    )
    if network_off(
        an,
        c,
        o.operands,
        via_proxy=any(
            n in ("-i", "--input-file", "-e", "--execute", "--config", "-B", "--base")
            for n, _ in o.flags
        ),
    ):
        return
    for n, v in o.flags:
        if v is None:
            continue
        if n in ("--post-file", "--body-file"):
            _upload(an, c, v, f"wget {n}")
        elif n in ("-e", "--execute"):
            if not (
                v.static
                and re.fullmatch(
                    r"\s*(robots\s*=\s*(off|on)|use_proxy\s*=\s*\w+|https?_proxy\s*=\s*\S+)\s*",
                    v.text,
                )
            ):
                an.deny("exec.wget_command", f"wget -e {v.show()} runs a wgetrc command")
        elif n in ("--use-askpass",):
            an.deny("exec.dynamic_command_name", "wget --use-askpass runs a program")
        elif n in (
            "-i",
            "--input-file",
            "--load-cookies",
            "--config",
            "--ca-certificate",
            "--certificate",
            "--private-key",
        ):
            an.check_arg_read(v, c)
        elif n in (
            "-o",
            "--output-file",
            "-a",
            "--append-output",
            "--save-cookies",
            "--warc-file",
            "--rejected-log",
        ):
            an.check_write(v, verb=f"wget {n}", overwrite_risky=False)
    docs = o.values("-O", "--output-document")
    to_stdout = any(d.static and d.text == "-" for d in docs)
    for d in docs:
        if not (d.static and d.text == "-"):
            an.check_write(d, verb="wget -O")
    prefix = o.values("-P", "--directory-prefix", "--output-directory")
    for p in prefix:
        an.check_write(p, verb="wget -P", overwrite_risky=False)
    if not docs and not prefix and (an.cur is None or not an.ctx.inside_root(an.cur)):
        an.deny("write.outside_cwd", "wget saves into a directory outside the working directory")
    if not docs and an.cur:
        folder = an.ctx.resolve(prefix[0].text, an.cur) if prefix and prefix[0].static else an.cur
        for u in o.operands:
            if u.static:
                name = u.text.split("?")[0].rstrip("/").rsplit("/", 1)[-1]
                if name:
                    an.written.add(os.path.join(folder, name))
    network_receiver(an, c, reads_stdin=False)
    check_secret_args(an, c, o.flags)
    for u in o.operands:
        if u.static and u.text.lower().startswith("file://"):
            real = an.ctx.resolve(u.text[7:], an.cur)
            an.check_read_path(u.text[7:], real)
    c.out = {"network"} if to_stdout else {"other"}
    an.risky("network.download", "wget talks to the network")


def downloader(an: Analyzer, c: Cmd) -> None:
    """httpie, xh, aria2c, lynx…: downloads; uploads of files are checked."""
    ops = [a for a in c.args if not (a.static and a.text.startswith("-"))]
    if (
        ops
        and ops[0].static
        and ops[0].text in ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
    ):
        ops = ops[1:]
    urls = ops if c.name in ("aria2c", "axel", "fetch", "lwp-download") else ops[:1]
    if network_off(an, c, urls):
        return
    for a in c.args:
        if a.static and "@" in a.text and re.match(r"^[\w.-]*(=|:=)?@", a.text):
            path = a.text.split("@", 1)[1]
            _upload(an, c, Arg(path, a.mask[a.text.index("@") + 1 :]), c.word)
        an.check_arg_read(a, c)
    output_writes(an, c)
    network_receiver(an, c)
    check_secret_args(an, c)
    an.risky("network.download", f"{c.word} talks to the network")
    c.out = {"network"}


def raw_network(an: Analyzer, c: Cmd) -> None:
    name = c.name
    texts = [a.text for a in c.args if a.static]
    if name == "nc":
        if any(
            t in ("-e", "-c", "--exec", "--sh-exec", "--lua-exec")
            or re.match(r"^-[a-zA-Z]*[ec]$", t)
            for t in texts
        ):
            an.deny(
                "reverse_shell.netcat_exec",
                f"{c.word} -e/-c hands a shell to a network peer (reverse shell)",
            )
            return
    if name == "socat":
        for a in c.args:
            if a.static and re.search(r"(^|[,:!])(exec|system)[:=]", a.text, re.I):
                an.deny(
                    "reverse_shell.socat_exec", f"socat {a.text} runs a program for a network peer"
                )
                return
            if a.static and re.match(r"(?i)^(open|create|gopen):", a.text):
                path = a.text.split(":", 1)[1].split(",")[0]
                an.check_write(lit(path), verb="socat")
    if name in ("ssh-copy-id",):
        an.deny("persistence.ssh", "ssh-copy-id installs a key for remote login")
        return
    if name in ("ngrok", "cloudflared", "frpc", "chisel", "bore", "localtunnel", "lt", "sshuttle"):
        an.deny("network.tunnel", f"{c.word} exposes this machine to the internet (tunnel)")
        return
    if name in ("mail", "mailx", "sendmail", "mutt", "msmtp", "swaks"):
        for a in c.args:
            an.check_arg_read(a, c)
        if c.read_outside:
            an.deny(
                "exfil.file_to_network", f"{c.word} mails a file from outside the working directory"
            )
    network_receiver(an, c)
    check_secret_args(an, c)
    if (
        name == "sftp"
        and c.stdin
        and c.stdin[0] == "text"
        and re.search(r"\b(put|mput|reput)\b", c.stdin[1])
    ):
        an.deny("exfil.copy_to_remote", "sftp uploads files to another machine")
        return
    hosts = [
        a.text
        for a in c.args
        if a.static
        and not a.text.startswith("-")
        and not a.text.isdigit()
        and not re.fullmatch(r"\d+(-\d+)?", a.text)
    ]
    local_only = (
        name in ("nc", "telnet")
        and hosts
        and all(LOCAL_HOSTS.match(h) for h in hosts)
        and all(a.static for a in c.args)
    )
    if not an.allow_network and not local_only:
        an.deny(
            "network.raw_socket",
            f"{c.word} opens network connections, and network access is not allowed",
        )
        return
    for a in c.args:
        an.check_arg_read(a, c)
    an.risky("network.raw_socket", f"{c.word} opens network connections")
    c.out = {"network"}


def ssh(an: Analyzer, c: Cmd) -> None:
    o = parse_opts(c.args, short_val="BbcDEeFIiJLlmOoPpQRSWw", long_val=())
    for n, v in o.flags:
        if (
            n == "-o"
            and v is not None
            and re.match(
                r"(?i)\s*(ProxyCommand|LocalCommand|PermitLocalCommand|KnownHostsCommand|"
                r"RemoteCommand|Match\s+exec)",
                v.text,
            )
        ):
            an.deny("exec.ssh_command", f"ssh -o {v.show()} runs a local command")
            return
        if n in ("-R", "-D", "-w", "-L"):
            an.deny("network.tunnel", f"ssh {n} opens a tunnel into or out of this machine")
            return
        if n in ("-F", "-E") and v is not None:
            an.check_arg_read(v, c)
    if not an.allow_network:
        an.deny(
            "network.remote_shell",
            f"{c.word} logs in to another machine, and network access is not allowed",
        )
        return
    network_receiver(an, c)
    an.risky("network.remote_shell", f"{c.word} runs commands on another machine")
    c.out = {"network"}


_REMOTE = LazyRegex(r"^([\w.-]+@)?[\w.-]+:(?!//)|^rsync://|^scp://|^sftp://|^s3://|^gs://")


def _cloud_copy(an: Analyzer, c: Cmd) -> None:
    """gsutil, s3cmd, rclone: a local file copied to remote storage is denied."""
    ops = [a for a in c.args if not (a.static and a.text.startswith("-"))]
    to_remote = len(ops) >= 3 and any(
        a.static and (a.text.startswith(("s3://", "gs://")) or re.match(r"^[\w-]+:", a.text))
        for a in ops[2:] + ops[-1:]
    )
    for src in ops[1:-1] if to_remote else []:
        if (
            src.static
            and not _REMOTE.match(src.text)
            and not src.text.startswith(("s3://", "gs://"))
        ):
            an.deny("exfil.copy_to_remote", f"{c.word} copies {src.text} to remote storage")
            return
    an.risky("network.cloud", f"{c.word} talks to cloud storage")
    for a in ops:
        an.check_arg_read(a, c)


_RSYNC_VALUE_LONG = frozenset(
    {
        "--rsh",
        "--rsync-path",
        "--exclude",
        "--include",
        "--exclude-from",
        "--include-from",
        "--files-from",
        "--filter",
        "--password-file",
        "--log-file",
        "--backup-dir",
        "--temp-dir",
        "--partial-dir",
        "--compare-dest",
        "--copy-dest",
        "--link-dest",
        "--chmod",
        "--chown",
        "--usermap",
        "--groupmap",
        "--max-size",
        "--min-size",
        "--timeout",
        "--port",
        "--bwlimit",
        "--suffix",
        "--out-format",
        "--info",
        "--debug",
        "--iconv",
        "--protocol",
        "--sockopts",
        "--outbuf",
        "--remote-option",
        "--stop-after",
        "--stop-at",
        "--contimeout",
    }
)


def _remote_copy_runs(an: Analyzer, c: Cmd, n: str, v: Arg) -> bool:
    """An option that runs a command (``-e``, ``--rsync-path``, ``-o ProxyCommand``…); True when
    denied."""
    if n in ("-e", "--rsh"):
        prog = v.text.split()[0] if v.static and v.text.strip() else ""
        if normalize_name(prog) not in ("ssh",) or re.search(r"ProxyCommand|LocalCommand", v.text):
            an.deny("exec.ssh_command", f"{c.name} {n} runs {v.show()}")
            return True
    if n in ("--rsync-path", "-S", "-o") and (
        n != "-o" or re.match(r"(?i)\s*(ProxyCommand|LocalCommand)", v.text)
    ):
        an.deny("exec.ssh_command", f"{c.name} {n} runs a command")
        return True
    return False


def _remote_copy_options(an: Analyzer, c: Cmd, o: Opts) -> bool:
    """Check the options; True when one runs a command (denied)."""
    for n, v in o.flags:
        if v is None:
            continue
        if _remote_copy_runs(an, c, n, v):
            return True
        if n == "--log-file":
            an.check_write(v, verb="rsync --log-file", overwrite_risky=False)
    return False


def remote_copy(an: Analyzer, c: Cmd) -> None:
    if c.name in ("gsutil", "s3cmd", "rclone"):
        _cloud_copy(an, c)
        return
    o = parse_opts(
        c.args,
        short_val="FiloPSceJT" if c.name == "scp" else "eTfB",
        long_val=_RSYNC_VALUE_LONG,
    )
    if _remote_copy_options(an, c, o):
        return
    ops = o.operands
    if len(ops) < 2:
        for a in ops:
            an.check_arg_read(a, c)
        return
    dest, sources = ops[-1], ops[:-1]
    dest_remote = dest.static and bool(_REMOTE.match(dest.text))
    local = [s for s in sources if not (s.static and _REMOTE.match(s.text))]
    if dest_remote and local:
        an.deny(
            "exfil.copy_to_remote",
            f"{c.name} copies {local[0].show()} to another machine ({dest.text})",
        )
        return
    recursive = o.has("-r", "-a", "-R", "--recursive", "--archive")
    for s in local:
        an.check_arg_read(s, c)
        if recursive:
            an.check_recursive_read(s)
    if not dest_remote:
        an.check_write(dest, verb=c.name, overwrite_risky=False)
    if any(n.startswith("--delete") or n == "--remove-source-files" for n, _ in o.flags):
        an.risky("shell.delete_in_cwd", f"{c.name} deletes files at the destination")
        if o.has("--remove-source-files"):
            for s in sources:
                an.check_delete(s, recursive=True)
    if len(local) < len(sources) or dest_remote or c.name in ("scp", "sftp"):
        an.flags["downloaded"] = True
        if not an.allow_network:
            an.deny(
                "network.remote_shell", f"{c.name} copies over the network, which is not allowed"
            )
            return
        an.risky("network.download", f"{c.name} copies over the network")


def openssl(an: Analyzer, c: Cmd) -> None:
    sub = c.args[0].text if c.args and c.args[0].static else ""
    if sub in ("s_client", "s_server", "s_time"):
        if not an.allow_network:
            an.deny(
                "network.raw_socket",
                f"openssl {sub} opens network connections, which is not allowed",
            )
            return
        network_receiver(an, c)
        c.out = {"network"}
        an.risky("network.raw_socket", f"openssl {sub} opens network connections")
        return
    args = c.args[1:]
    for i, a in enumerate(args):
        if a.static and a.text in ("-out", "-keyout", "-outform-file") and i + 1 < len(args):
            an.check_write(args[i + 1], verb=f"openssl {a.text}")
        elif (
            a.static
            and a.text in ("-in", "-inkey", "-key", "-signkey", "-passin", "-CAkey")
            and i + 1 < len(args)
        ):
            an.check_arg_read(args[i + 1], c)
            nxt = args[i + 1]
            if a.text == "-passin" and nxt.static and nxt.text.startswith("file:"):
                an.check_arg_read(lit(nxt.text[5:]), c)
    if c.read_outside:
        c.out = {"sensitive"}


def ssh_keygen(an: Analyzer, c: Cmd) -> None:
    o = parse_opts(c.args, short_val="aBbCEeFfGIJjKMmNnOoPRrsSTtVWwYZz", long_val=())
    keyfile = next(iter(o.values("-f")), None)
    reading = any(
        n in ("-l", "-y", "-B", "-e", "-i", "-F", "-R", "-H", "-L", "-Q", "-k", "-s")
        for n, _ in o.flags
    )
    if keyfile is not None:
        if reading:
            an.check_arg_read(keyfile, c)
        else:
            an.check_write(keyfile, verb="ssh-keygen -f")
            an.check_write(
                Arg(keyfile.text + ".pub", keyfile.mask + "qqqq"),
                verb="ssh-keygen -f",
                overwrite_risky=False,
            )
    elif any(n in ("-R", "-H") for n, _ in o.flags):
        an.deny("write.secret_location", "ssh-keygen -R/-H rewrites ~/.ssh/known_hosts")
    elif not reading:
        an.deny("write.secret_location", "ssh-keygen without -f writes a key into ~/.ssh")


def credentials(an: Analyzer, c: Cmd) -> None:
    words = [a.text if a.static else "" for a in c.args]
    joined = " ".join(words)
    name = c.name
    deny_patterns = {
        "ssh-add": r"^(?!-l\b|-L\b).*",
        "gpg": r"--export-secret|--export-ssh-key|--import|--gen-key|--generate-key|--full-gen|--quick-gen|--delete|--edit-key|--passwd|--decrypt|-d\b|--card-edit|--export-ownertrust|--import-ownertrust|--sign-key|--lsign",
        "gpg2": r"--export-secret|--import|--gen-key|--delete|--decrypt|-d\b",
        "pass": r"^(show|cp|mv|edit|insert|generate|rm|git|otp|init)?\b|^[\w/.-]+$",
        "secret-tool": r"lookup|search|store|clear",
        "security": r"find-(generic|internet)-password|dump-keychain|export|unlock-keychain|add-.*-password",
        "keyring": r"get|set|del",
        "gopass": r"",
        "age": r"-d\b|--decrypt|-i\b|--identity",
        "vault": r"\b(read|kv\s+get|token|login|write|kv\s+put)\b",
        "bw": r"\b(get|unlock|login|export|list)\b",
        "lpass": r"",
        "sops": r"-d\b|--decrypt|exec-env|exec-file",
        "gh": r"\bauth\s+(token|status\s+.*(-t|--show-token)|refresh|login|setup-git)\b|\bsecret\s+(list|set)\b|\bapi\b.*(-X|--method)\s*(POST|PUT|PATCH|DELETE)",
        "aws": r"\bconfigure\b|\bsts\s+get-session-token\b|\becr\s+get-login-password\b|\bsecretsmanager\s+get-secret-value\b|\bssm\s+get-parameters?\b.*--with-decryption|\biam\s+create-access-key\b",
        "gcloud": r"\bauth\s+(print-access-token|print-identity-token|application-default\s+print-access-token|login|activate-service-account)\b|\bsecrets\s+versions\s+access\b|\bconfig\s+set\b",
        "az": r"\baccount\s+get-access-token\b|\bkeyvault\s+secret\s+show\b|\blogin\b|\bad\s+sp\s+create-for-rbac\b",
        "kubectl": r"\bconfig\s+view\b.*--raw|\bget\s+secrets?\b.*(-o|--output)|\bcreate\s+token\b|\bconfig\s+set-credentials\b|\bexec\b|\bcp\b|\bdelete\b|\bapply\b|\bport-forward\b",
        "heroku": r"auth:token|config\b(?!:)|config:get",
        "doctl": r"\bauth\b",
        "oc": r"\bwhoami\s+-t\b|\blogin\b|\bget\s+secrets?\b",
        "helm": r"\b(install|upgrade|uninstall|delete|rollback)\b",
        "terraform": r"\b(apply|destroy|import|state\s+(rm|push|mv))\b",
        "pulumi": r"\b(up|destroy|config\s+get\s+--secret|stack\s+output\s+--show-secrets)\b",
        "flyctl": r"\b(auth\s+token|secrets|deploy|ssh)\b",
        "netlify": r"\b(deploy|env:get|env:list)\b",
        "vercel": r"\b(deploy|env\s+pull|--prod)\b",
        "wrangler": r"\b(deploy|publish|secret)\b",
        "firebase": r"\b(deploy|login)\b",
        "eksctl": r"\b(create|delete|utils\s+write-kubeconfig)\b",
        "ibmcloud": r"",
        "databricks": r"\b(configure|secrets|auth\s+token)\b",
        "huggingface-cli": r"\b(login|upload)\b",
        "hf": r"\b(auth\s+login|upload)\b",
        "docker-credential-desktop": r"",
        "git-credential": r"",
        "pinentry": r"",
        "npm-token": r"",
    }
    pattern = deny_patterns.get(name)
    if pattern is not None and re.search(pattern, joined):
        if name in (
            "helm",
            "terraform",
            "pulumi",
            "kubectl",
            "flyctl",
            "netlify",
            "vercel",
            "wrangler",
            "firebase",
            "eksctl",
        ) and not re.search(r"secret|token|raw|credential|login|auth|export|\benv\b", joined):
            an.risky("cloud.change", f"{name} {joined[:60]} changes cloud resources")
            return
        an.deny("secrets.read", f"{name} {joined[:60]} reads or stores credentials")
        return
    if name in (
        "aws",
        "gcloud",
        "az",
        "kubectl",
        "gh",
        "heroku",
        "doctl",
        "oc",
        "helm",
        "terraform",
        "pulumi",
        "flyctl",
        "netlify",
        "vercel",
        "wrangler",
        "firebase",
        "eksctl",
        "databricks",
        "vault",
        "huggingface-cli",
        "hf",
    ):
        an.risky("cloud.cli", f"{name} talks to a cloud service")
        for a in c.args:
            an.check_arg_read(a, c)
        output_writes(an, c)
        return
    for a in c.args:
        an.check_arg_read(a, c)
    output_writes(an, c)


# --------------------------------------------------------------------------------------
# version control
# --------------------------------------------------------------------------------------
_GIT_READONLY = {
    "status",
    "log",
    "diff",
    "show",
    "rev-parse",
    "ls-files",
    "ls-tree",
    "cat-file",
    "blame",
    "grep",
    "describe",
    "shortlog",
    "whatchanged",
    "name-rev",
    "for-each-ref",
    "show-ref",
    "rev-list",
    "merge-base",
    "check-ignore",
    "check-attr",
    "version",
    "help",
    "count-objects",
    "reflog",
    "branch",
    "tag",
    "remote",
    "config",
    "var",
    "annotate",
    "cherry",
    "range-diff",
    "verify-commit",
    "verify-tag",
    "show-branch",
    "diff-tree",
    "diff-files",
    "diff-index",
    "ls-remote",
    "fsck",
    "stripspace",
}


# git's own subcommands (porcelain and plumbing) and common extensions. Anything else may be an
# alias (``alias.x = !cmd``) or an external ``git-x`` program: asked.
_GIT_KNOWN = frozenset(
    """
add am annotate apply archive bisect blame branch bundle cat-file check-attr check-ignore check-mailmap
check-ref-format checkout checkout-index cherry cherry-pick citool clean clone column commit commit-graph
commit-tree config count-objects credential credential-cache credential-store credential-libsecret
credential-osxkeychain daemon describe diagnose diff diff-files diff-index diff-tree difftool fast-export
fast-import fetch fetch-pack filter-branch fmt-merge-msg for-each-ref for-each-repo format-patch fsck fsck-objects
gc get-tar-commit-id grep gui hash-object help hook http-backend imap-send index-pack init init-db instaweb
interpret-trailers log ls-files ls-remote ls-tree mailinfo mailsplit maintenance merge merge-base merge-file
merge-index merge-one-file merge-tree mergetool mktag mktree multi-pack-index mv name-rev notes p4 pack-objects
pack-redundant pack-refs patch-id prune prune-packed pull push range-diff read-tree rebase receive-pack reflog
remote repack replace request-pull rerere reset restore rev-list rev-parse revert rm send-email send-pack
shortlog show show-branch show-index show-ref sparse-checkout stage stash status stripspace submodule
svn switch symbolic-ref tag unpack-file unpack-objects update-index update-ref update-server-info upload-archive
upload-pack var verify-commit verify-pack verify-tag version whatchanged worktree write-tree shell
cvsimport cvsserver cvsexportcommit quiltimport remote-ext remote-fd lfs
""".split()
)


def git(an: Analyzer, c: Cmd) -> None:
    args = list(c.args)
    workdir: Arg | None = None
    i = 0
    while i < len(args):
        a = args[i]
        t = a.text if a.static else ""
        if not t.startswith("-"):
            break
        if (
            t
            in (
                "-C",
                "-c",
                "--git-dir",
                "--work-tree",
                "--namespace",
                "--exec-path",
                "--config-env",
                "--super-prefix",
                "--list-cmds",
                "--attr-source",
            )
            and i + 1 < len(args)
            and "=" not in t
        ):
            val = args[i + 1]
            _git_global(an, t, val)
            if t == "-C":
                workdir = val
            if t in ("--git-dir", "--work-tree"):
                workdir = val
            i += 2
            continue
        if "=" in t:
            name, _, value = t.partition("=")
            _git_global(an, name, Arg(value, a.mask[len(name) + 1 :]))
            if name in ("--git-dir", "--work-tree"):
                workdir = Arg(value, a.mask[len(name) + 1 :])
        i += 1
    rest = args[i:]
    if not rest:
        return
    sub = rest[0].text if rest[0].static else ""
    sargs = rest[1:]
    if not rest[0].static:
        an.deny("exec.dynamic_command_name", "the git subcommand is computed at run time")
        return
    if sub not in _GIT_KNOWN:
        an.ask(
            "git.unknown_subcommand",
            f"git {sub} is not a git command this policy knows; it may be an alias "
            "or an external git-{sub} program that runs anything",
        )
        return
    if sub == "grep" and any(
        a.static
        and (
            a.text in ("-O", "--open-files-in-pager")
            or a.text.startswith(("--open-files-in-pager=", "-O"))
        )
        for a in sargs
    ):
        an.ask(
            "exec.runs_command",
            "git grep -O/--open-files-in-pager runs a program on the matching files",
        )
        return
    if any(a.static and a.text == "--ext-diff" for a in sargs):
        an.ask(
            "exec.runs_command",
            f"git {sub} --ext-diff runs the external diff program configured for the repository",
        )
        return
    saved_cur = an.cur
    if workdir is not None:
        if workdir.static:
            real = an.ctx.resolve(workdir.text, an.cur)
            if not an.ctx.inside_root(real) and sub not in _GIT_READONLY:
                an.deny(
                    "write.outside_cwd",
                    f"git -C {workdir.text} {sub} changes a repository outside the working directory",
                )
                return
            if an.ctx.secret(real):
                an.deny("secrets.read", f"git -C {workdir.text}: {an.ctx.secret(real)}")
                return
        elif sub not in _GIT_READONLY:
            an.deny("write.unresolved_target", "git -C points at a directory computed at run time")
            return
    try:
        _git_sub(an, c, sub, sargs)
    finally:
        an.cur = saved_cur
    texts = [a.text for a in sargs if a.static]
    listing = (
        sub == "ls-files"
        or (
            sub in ("diff", "show", "log")
            and any(t in ("--name-only", "--name-status") for t in texts)
        )
        or (sub == "status" and any(t in ("--porcelain", "-s", "--short") for t in texts))
        or (
            sub == "grep" and any(t in ("-l", "--files-with-matches", "--name-only") for t in texts)
        )
    )
    if listing and workdir is None and an.cur is not None and an.ctx.inside_root(an.cur):
        c.out = {"cwd_list"}


def _git_global(an: Analyzer, name: str, val: Arg) -> None:
    if name in ("-c", "--config-env"):
        key = val.text.split("=", 1)[0] if val.static else ""
        if (
            not val.static
            or DANGEROUS_GIT_KEYS.match(key)
            or (key.lower().startswith("alias.") and "=!" in val.text)
        ):
            an.deny("exec.git_config", f"git -c {val.show()} makes git run a command")
    elif name == "--exec-path":
        an.deny("exec.path_hijack", "git --exec-path runs git programs from another folder")


# One rule per git subcommand: ``_GIT_RULES`` maps a subcommand to the function that checks its
# arguments; a subcommand that is not in the table gets ``_git_default``.
GitRule = Callable[["Analyzer", Cmd, str, list[Arg]], None]

_GIT_FORCE_PUSH = ("-f", "--force", "--force-with-lease", "--force-if-includes", "--mirror")
_GIT_PROTECTED_BRANCH = LazyRegex(
    r"(refs/heads/)?(main|master|trunk|develop|production|prod|release.*|stable)"
)


def _git_push_forced(an: Analyzer, o: Opts) -> bool:
    """Deny a push that force-updates or runs a program on the remote; True when denied."""
    for n, _ in o.flags:
        if n in _GIT_FORCE_PUSH or n.startswith("--force"):
            an.deny("git.force_push", f"git push {n} rewrites history on the remote")
            return True
        if n in ("--receive-pack", "--exec"):
            an.deny("exec.git_config", f"git push {n} runs a program on the remote")
            return True
    for op in o.operands:
        if op.static and op.text.startswith("+"):
            an.deny("git.force_push", f"git push {op.text} force-updates a remote branch")
            return True
        if not op.static:
            an.deny("git.force_push", "git push with a computed refspec may force-push")
            return True
    return False


def _git_push(an: Analyzer, c: Cmd, sub: str, sargs: list[Arg]) -> None:
    o = parse_opts(
        sargs,
        short_val="o",
        long_val={
            "--repo",
            "--receive-pack",
            "--exec",
            "--push-option",
            "--signed",
            "--force-with-lease",
        },
    )
    if _git_push_forced(an, o):
        return
    deleting = o.has("-d", "--delete")
    for op in o.operands:
        ref = op.text[1:] if op.text.startswith(":") else (op.text if deleting else "")
        if _GIT_PROTECTED_BRANCH.fullmatch(ref):
            an.deny("git.delete_remote_branch", f"git push deletes the remote branch {ref}")
            return
    if o.has("-d", "--delete", "--prune") or any(
        op.static and op.text.startswith(":") for op in o.operands
    ):
        an.risky("git.push_delete", "git push deletes a remote branch")
    an.risky("git.push", "git push publishes commits to a remote")


_GIT_CONFIG_GETS = (
    "--get",
    "--get-all",
    "--get-regexp",
    "--get-urlmatch",
    "--list",
    "-l",
    "--show-origin",
    "--name-only",
    "--get-color",
    "--get-colorbool",
)
_GIT_CONFIG_ACTIONS = ("set", "unset", "get", "list", "rename-section", "remove-section", "edit")


def _git_config_gets(o: Opts, ops: list[Arg]) -> bool:
    """Whether ``git config`` only reads; takes a leading action word (``set``…) off ``ops``."""
    getting = (
        o.has(*_GIT_CONFIG_GETS)
        or len(o.operands) <= 1
        or (o.operands[0].static and o.operands[0].text in ("get", "list"))
    )
    if ops and ops[0].static and ops[0].text in _GIT_CONFIG_ACTIONS:
        getting = ops.pop(0).text in ("get", "list")
    return getting


def _git_config(an: Analyzer, c: Cmd, sub: str, sargs: list[Arg]) -> None:
    o = parse_opts(
        sargs,
        short_val="fe",
        long_val={"--file", "--blob", "--type", "--default", "--comment", "--show-scope"},
    )
    ops = list(o.operands)
    if _git_config_gets(o, ops):
        return
    if o.has("--global", "--system"):
        an.deny(
            "write.outside_cwd",
            "git config --global/--system changes configuration outside the working directory",
        )
        return
    for f in o.values("-f", "--file"):
        an.check_write(f, verb="git config --file", overwrite_risky=False)
    key = ops[0].text if ops and ops[0].static else ""
    value = ops[1].text if len(ops) > 1 and ops[1].static else ""
    if (
        not (ops and ops[0].static)
        or DANGEROUS_GIT_KEYS.match(key)
        or (key.lower().startswith("alias.") and value.startswith("!"))
    ):
        an.deny(
            "persistence.git_config",
            f"git config {key or '<computed>'} makes git run a command later",
        )
    if o.has("-e", "--edit"):
        an.risky("write.overwrite", "git config --edit opens an editor")


def _git_template(an: Analyzer, v: Arg, verb: str) -> None:
    """``--template DIR`` installs hooks: the folder must be inside the working directory."""
    real = an.ctx.resolve(v.text, an.cur) if v.static else None
    if real is None or not an.ctx.inside_root(real):
        an.deny("persistence.git_hooks", f"{verb} --template installs hooks from another folder")


def _git_clone_options(an: Analyzer, o: Opts) -> bool:
    """Check the options of ``git clone``; True when it runs a program (denied)."""
    for n, v in o.flags:
        if n in ("-u", "--upload-pack"):
            an.deny("exec.git_config", "git clone --upload-pack runs a program")
            return True
        if v is None:
            continue
        if n in ("-c", "--config"):
            _git_global(an, "-c", v)
        if n == "--template":
            _git_template(an, v, "git clone")
        if n == "--separate-git-dir":
            an.check_write(v, verb="git clone --separate-git-dir")
    return False


_GIT_URL = LazyRegex(r"^(https?|git|ssh|file)://|^[\w.-]+@[\w.-]+:")


def _git_clone(an: Analyzer, c: Cmd, sub: str, sargs: list[Arg]) -> None:
    o = parse_opts(
        sargs,
        short_val="obujc",
        long_val={
            "--origin",
            "--branch",
            "--upload-pack",
            "--template",
            "--reference",
            "--reference-if-able",
            "--separate-git-dir",
            "--depth",
            "--shallow-since",
            "--shallow-exclude",
            "--config",
            "--server-option",
            "--jobs",
            "--filter",
            "--bundle-uri",
            "--recurse-submodules",
        },
    )
    if _git_clone_options(an, o):
        return
    if len(o.operands) >= 2:
        an.check_write(o.operands[1], verb="git clone", overwrite_risky=False)
    elif o.operands:
        url = o.operands[0]
        if an.cur is None or not an.ctx.inside_root(an.cur):
            an.deny("write.outside_cwd", "git clone writes outside the working directory")
        if url.static and re.match(r"^(ext|fd)::", url.text):
            an.deny("exec.git_config", f"git clone {url.text} runs a command as transport")
    for op in o.operands[:1]:
        if op.static and not _GIT_URL.match(op.text):
            an.check_arg_read(op, c)
    an.flags["downloaded"] = True
    an.risky("network.download", "git clone downloads a repository")


def _git_init(an: Analyzer, c: Cmd, sub: str, sargs: list[Arg]) -> None:
    o = parse_opts(
        sargs,
        short_val="b",
        long_val={
            "--template",
            "--separate-git-dir",
            "--initial-branch",
            "--object-format",
            "--shared",
        },
    )
    for v in o.values("--template"):
        _git_template(an, v, "git init")
    for v in o.values("--separate-git-dir") + o.operands:
        an.check_write(v, verb="git init", overwrite_risky=False)


def _git_upload_pack(an: Analyzer, sub: str, sargs: list[Arg]) -> bool:
    """``--upload-pack``/``--exec``/``-u`` run a program: denied; True when denied."""
    if any(
        a.static and (a.text.startswith(("--upload-pack", "--exec")) or a.text == "-u")
        for a in sargs
    ):
        an.deny("exec.git_config", f"git {sub} --upload-pack runs a program")
        return True
    return False


def _git_talks_to_remote(an: Analyzer, c: Cmd, sub: str, sargs: list[Arg]) -> None:
    """fetch, pull, ls-remote, remote: a program option is denied; talking to a remote is risky."""
    if _git_upload_pack(an, sub, sargs):
        return
    if sub != "remote" or (
        sargs and sargs[0].static and sargs[0].text in ("update", "prune", "set-url", "add")
    ):
        an.risky("network.download", f"git {sub} talks to a remote")


def _git_submodule(an: Analyzer, c: Cmd, sub: str, sargs: list[Arg]) -> None:
    if not (sargs and sargs[0].static and sargs[0].text == "foreach"):
        an.risky("network.download", f"git {sub} talks to a remote")
        return
    rest = [a for a in sargs[1:] if not (a.static and a.text in ("--recursive", "-q", "--quiet"))]
    if not rest:
        return
    if all(a.static for a in rest):
        an.sub_shell(" ".join(a.text for a in rest), origin="git submodule foreach")
    else:
        an.deny("exec.dynamic_script", "git submodule foreach runs a computed command")


def _option_values(sargs: list[Arg], names: tuple[str, ...], prefix: str) -> list[Arg]:
    """The values of an option spelled ``NAME VALUE`` (one of ``names``) or ``PREFIXVALUE``."""
    values: list[Arg] = []
    for i, a in enumerate(sargs):
        if not a.static:
            continue
        if a.text in names and i + 1 < len(sargs):
            values.append(sargs[i + 1])
        elif prefix and a.text.startswith(prefix):
            values.append(lit(a.text.split("=", 1)[1]))
    return values


def _git_rebase(an: Analyzer, c: Cmd, sub: str, sargs: list[Arg]) -> None:
    for v in _option_values(sargs, ("-x", "--exec"), "--exec="):
        sub_script(an, v, "git rebase --exec")
    an.risky("git.rewrite_history", "git rebase rewrites history")


def _git_bisect(an: Analyzer, c: Cmd, sub: str, sargs: list[Arg]) -> None:
    if not (sargs and sargs[0].static and sargs[0].text == "run"):
        _git_default(an, c, sub, sargs)
    elif sargs[1:]:
        an.simple(sargs[1:], dict(c.env), None, None)


def _git_filter_branch(an: Analyzer, c: Cmd, sub: str, sargs: list[Arg]) -> None:
    for i, a in enumerate(sargs):
        if a.static and a.text.endswith("-filter") and i + 1 < len(sargs):
            sub_script(an, sargs[i + 1], f"git filter-branch {a.text}")
    an.risky("git.rewrite_history", "git filter-branch rewrites history")


def _git_tool(an: Analyzer, c: Cmd, sub: str, sargs: list[Arg]) -> None:
    """difftool, mergetool: ``--extcmd`` is a command of its own."""
    for v in _option_values(sargs, ("-x", "--extcmd"), "--extcmd="):
        sub_script(an, v, f"git {sub} --extcmd")


def _git_credential(an: Analyzer, c: Cmd, sub: str, sargs: list[Arg]) -> None:
    an.deny("secrets.read", f"git {sub} reads or stores credentials")


def _git_worktree(an: Analyzer, c: Cmd, sub: str, sargs: list[Arg]) -> None:
    if not (sargs and sargs[0].static and sargs[0].text == "add"):
        _git_default(an, c, sub, sargs)
        return
    ops = [a for a in sargs[1:] if not (a.static and a.text.startswith("-"))]
    if ops:
        an.check_write(ops[0], verb="git worktree add", overwrite_risky=False)


def _git_output(an: Analyzer, c: Cmd, sub: str, sargs: list[Arg]) -> None:
    """bundle, format-patch, diff, log, show (and archive): ``-o``/``--output`` files written."""
    for i, a in enumerate(sargs):
        if not a.static:
            continue
        if a.text in ("-o", "--output", "--output-directory") and i + 1 < len(sargs):
            an.check_write(sargs[i + 1], verb=f"git {sub} -o")
        elif a.text.startswith(("--output=", "--output-directory=")):
            an.check_write(lit(a.text.split("=", 1)[1]), verb=f"git {sub} --output")
    if sub == "bundle" and len(sargs) >= 2 and sargs[0].static and sargs[0].text == "create":
        an.check_write(sargs[1], verb="git bundle create")
    if sub == "diff" and any(a.static and a.text == "--no-index" for a in sargs):
        for a in sargs:
            an.check_arg_read(a, c)


def _git_archive(an: Analyzer, c: Cmd, sub: str, sargs: list[Arg]) -> None:
    if not _git_upload_pack(an, sub, sargs):
        _git_output(an, c, sub, sargs)


def _git_pathspecs_outside(an: Analyzer, sub: str, sargs: list[Arg]) -> bool:
    """Pathspecs after the options must stay inside the working directory (``git add`` may read
    from outside); True when one does not (denied)."""
    for a in sargs:
        if not a.static or a.text.startswith("-"):
            continue
        if "/" in a.text or a.text.startswith(("~", "..")):
            real = an.ctx.resolve(a.text, an.cur)
            if not an.ctx.inside_root(real) and sub != "add":
                an.deny(
                    "write.outside_cwd",
                    f"git {sub} {a.text} changes files outside the working directory",
                )
                return True
    return False


def _git_clean(an: Analyzer, c: Cmd, sub: str, sargs: list[Arg]) -> None:
    if not _git_pathspecs_outside(an, sub, sargs):
        an.risky("git.clean", "git clean deletes untracked files")


# The arguments with which a subcommand may discard work ("": any use of it).
_GIT_DISCARDS: dict[str, tuple[str, ...]] = {
    "reset": ("--hard", "--merge", "--keep"),
    "checkout": ("-f", "--force", "--", "."),
    "restore": ("",),
    "stash": ("drop", "clear"),
    "branch": ("-D", "--delete", "-d", "-M"),
    "tag": ("-d", "--delete"),
    "gc": ("--prune", "--aggressive"),
    "reflog": ("expire", "delete"),
    "prune": ("",),
    "switch": ("-f", "--force", "--discard-changes", "-C"),
}


def _git_discard(an: Analyzer, c: Cmd, sub: str, sargs: list[Arg]) -> None:
    """reset, checkout, restore, stash, branch, tag, gc, reflog, prune, switch."""
    if sub in ("checkout", "restore", "reset", "stash") and _git_pathspecs_outside(an, sub, sargs):
        return
    dangerous = _GIT_DISCARDS[sub]
    if "" in dangerous or any(a.text in dangerous for a in sargs if a.static):
        an.risky("git.discard", f"git {sub} may discard work")


def _git_server(an: Analyzer, c: Cmd, sub: str, sargs: list[Arg]) -> None:
    an.deny(
        "exfil.email" if sub == "send-email" else "network.remote_shell",
        f"git {sub} talks to other machines or runs a server",
    )


def _git_index(an: Analyzer, c: Cmd, sub: str, sargs: list[Arg]) -> None:
    """add, rm, mv: their operands are read and (rm, mv) changed inside the working directory."""
    if _git_pathspecs_outside(an, sub, sargs):
        return
    for a in sargs:
        if a.static and not a.text.startswith("-"):
            an.check_arg_read(a, c)
            real = an.ctx.resolve(a.text, an.cur)
            if not an.ctx.inside_root(real) and sub != "add":
                an.deny(
                    "write.outside_cwd",
                    f"git {sub} {a.text} changes files outside the working directory",
                )
    if sub == "rm":
        an.risky("shell.delete_in_cwd", "git rm deletes files")


def _git_apply(an: Analyzer, c: Cmd, sub: str, sargs: list[Arg]) -> None:
    """apply, am."""
    for a in sargs:
        if a.static and a.text.startswith("--directory="):
            an.check_write(
                lit(a.text.split("=", 1)[1]),
                verb="git apply --directory",
                overwrite_risky=False,
            )
    an.risky("write.patch", f"git {sub} changes several files")


def _git_nothing(an: Analyzer, c: Cmd, sub: str, sargs: list[Arg]) -> None:
    """hook: runs the repository's own hooks, which git would run anyway."""


def _git_default(an: Analyzer, c: Cmd, sub: str, sargs: list[Arg]) -> None:
    """commit, merge, cherry-pick, revert, status …: work inside the repository; a message
    file (``-F``, ``--file=``, ``--template=``) is read."""
    for i, a in enumerate(sargs):
        if a.static and a.text in ("-F", "--file") and i + 1 < len(sargs):
            an.check_arg_read(sargs[i + 1], c)
        if a.static and a.text.startswith(("--template=", "--file=")):
            an.check_arg_read(lit(a.text.split("=", 1)[1]), c)


def _git_rules() -> dict[str, GitRule]:
    rules: dict[str, GitRule] = {
        "push": _git_push,
        "config": _git_config,
        "clone": _git_clone,
        "init": _git_init,
        "submodule": _git_submodule,
        "rebase": _git_rebase,
        "bisect": _git_bisect,
        "filter-branch": _git_filter_branch,
        "worktree": _git_worktree,
        "archive": _git_archive,
        "clean": _git_clean,
        "apply": _git_apply,
        "am": _git_apply,
        "hook": _git_nothing,
    }
    groups: list[tuple[GitRule, str]] = [
        (_git_talks_to_remote, "fetch pull ls-remote remote"),
        (_git_tool, "difftool mergetool"),
        (
            _git_credential,
            (
                "credential credential-store credential-cache credential-osxkeychain "
                "credential-libsecret"
            ),
        ),
        (_git_output, "bundle format-patch diff log show"),
        (_git_discard, " ".join(_GIT_DISCARDS)),
        (
            _git_server,
            (
                "send-email request-pull daemon instaweb http-backend upload-pack receive-pack "
                "shell svn p4 cvsimport cvsserver remote-ext remote-fd"
            ),
        ),
        (_git_index, "add rm mv"),
    ]
    for rule, names in groups:
        for name in names.split():
            if name in rules:
                raise ValueError(f"git {name} has two rules")
            rules[name] = rule
    return rules


_GIT_RULES = _git_rules()


def _git_sub(an: Analyzer, c: Cmd, sub: str, sargs: list[Arg]) -> None:
    """Check one git subcommand with its rule (``_GIT_RULES``)."""
    _GIT_RULES.get(sub, _git_default)(an, c, sub, sargs)


# --------------------------------------------------------------------------------------
# package managers, containers, build tools
# --------------------------------------------------------------------------------------
def pip(an: Analyzer, c: Cmd) -> None:
    args = list(c.args)
    name = c.name
    if name in ("uv",) and args and args[0].static and args[0].text == "pip":
        args = args[1:]
        name = "pip"
    ops = [a for a in args if not (a.static and a.text.startswith("-"))]
    sub = ops[0].text if ops and ops[0].static else ""
    if name in (
        "uv",
        "poetry",
        "pipenv",
        "pdm",
        "hatch",
        "rye",
        "conda",
        "mamba",
        "micromamba",
        "pixi",
    ) and sub in ("run", "exec"):
        idx = next(i for i, a in enumerate(args) if a is ops[0])
        rest = args[idx + 1 :]
        # skip the runner's own options
        while rest and rest[0].static and rest[0].text.startswith("-"):
            t = rest[0].text
            rest = (
                rest[2:]
                if t
                in (
                    "-n",
                    "--name",
                    "-p",
                    "--prefix",
                    "--with",
                    "--python",
                    "-e",
                    "--env",
                    "--package",
                    "--directory",
                    "--project",
                    "--env-file",
                    "--extra",
                    "--group",
                    "--from",
                )
                else rest[1:]
            )
        if rest and rest[0].static and rest[0].text == "--":
            rest = rest[1:]
        wrapped(an, c, rest)
        return
    if (
        name == "uv"
        and sub in ("tool",)
        and len(ops) > 1
        and ops[1].static
        and ops[1].text == "run"
        or name == "uvx"
    ):
        an.risky("package.install", "uv tool run downloads and runs a package")
        return
    o = parse_opts(
        args,
        short_val="trcedeiC",
        long_val={
            "--target",
            "--prefix",
            "--root",
            "--src",
            "--dest",
            "--requirement",
            "--constraint",
            "--editable",
            "--index-url",
            "--extra-index-url",
            "--find-links",
            "--cache-dir",
            "--log",
            "--report",
            "--python",
            "--directory",
            "--project",
        },
    )
    if any(n == "--user" for n, _ in o.flags) and sub in ("install", "uninstall"):
        an.deny("write.outside_cwd", f"{name} install --user writes into the home directory")
        return
    for out in o.values(
        "-t",
        "--target",
        "--prefix",
        "--root",
        "--src",
        "-d",
        "--dest",
        "--log",
        "--report",
        "--cache-dir",
    ):
        if out.static and out.text == "-":
            continue
        an.check_write(out, verb=f"{name} {sub}", overwrite_risky=False)
    for req in o.values("-r", "--requirement", "-c", "--constraint"):
        an.check_arg_read(req, c)
    if (
        sub == "config"
        and len(ops) > 1
        and ops[1].static
        and ops[1].text in ("set", "edit", "unset", "add")
    ):
        an.deny(
            "persistence.home_config",
            f"{name} config {ops[1].text} changes the package index configuration",
        )
        return
    if name in ("conda", "mamba", "micromamba") and sub == "config":
        an.deny("persistence.home_config", f"{name} config changes ~/.condarc")
        return
    if sub in (
        "install",
        "add",
        "sync",
        "update",
        "upgrade",
        "download",
        "wheel",
        "lock",
        "uninstall",
        "remove",
        "i",
        "create",
        "inject",
        "reinstall",
        "upgrade-all",
    ):
        if name == "pipx" and sub in (
            "install",
            "inject",
            "reinstall",
            "upgrade-all",
            "upgrade",
            "ensurepath",
        ):
            an.deny(
                "write.outside_cwd", "pipx installs programs into the home directory (~/.local)"
            )
            return
        an.risky("package.install", f"{name} {sub} installs packages (network, runs package code)")
    if sub in ("publish", "upload"):
        an.risky("package.publish", f"{name} {sub} publishes a package")
    for a in ops[1:]:
        an.check_arg_read(a, c)


_NPM_INSTALLS = frozenset(
    {
        "install",
        "i",
        "add",
        "ci",
        "update",
        "up",
        "upgrade",
        "uninstall",
        "remove",
        "rm",
        "link",
        "dedupe",
        "rebuild",
        "prune",
        "audit",
        "create",
        "init",
        "dlx",
    }
)
_NPM_CREDENTIALS = frozenset(
    {"set", "adduser", "login", "add-user", "logout", "token", "owner", "access", "team", "profile"}
)


def _npm_global(an: Analyzer, c: Cmd, args: list[Arg], texts: list[str]) -> bool:
    """A global install writes outside the working directory (denied; True), ``--prefix DIR``
    is checked as a write."""
    if (
        c.name == "yarn"
        and texts[:1] == ["global"]
        and len(texts) > 1
        and texts[1] in ("add", "remove", "upgrade")
    ):
        an.deny("write.outside_cwd", "yarn global installs outside the working directory")
        return True
    prefix = any(t.startswith("--prefix") for t in texts)
    if c.name == "npx" or not (
        prefix or any(t in ("-g", "--global", "--location=global") for t in texts)
    ):
        return False
    installs = ("install", "i", "add", "uninstall", "remove", "rm", "link", "update", "up", "ci")
    if not prefix and any(t in installs for t in texts):
        an.deny(
            "write.outside_cwd", f"{c.name} global install writes outside the working directory"
        )
        return True
    for i, t in enumerate(texts):
        if t == "--prefix" and i + 1 < len(args):
            an.check_write(args[i + 1], verb=f"{c.name} --prefix", overwrite_risky=False)
        elif t.startswith("--prefix="):
            an.check_write(
                lit(t.split("=", 1)[1]), verb=f"{c.name} --prefix", overwrite_risky=False
            )
    return False


def _npx(an: Analyzer, c: Cmd, args: list[Arg], texts: list[str]) -> None:
    """npx, bunx, pnpx: a known program is checked as a command of its own."""
    rest = args
    while rest and rest[0].static and rest[0].text.startswith("-"):
        t = rest[0].text
        rest = rest[2:] if t in ("-p", "--package", "-c", "--call") else rest[1:]
        if t in ("-c", "--call"):
            idx = texts.index(t)
            if idx + 1 < len(args):
                sub_script(an, args[idx + 1], "npx -c")
            return
    an.risky("package.install", f"{c.name} may download and run a package")
    if not rest:
        return
    name = rest[0].text if rest[0].static else ""
    if programs.lookup(name) is not None and normalize_name(name) not in ("npx", "bunx", "pnpx"):
        wrapped(an, c, rest)
        return
    for a in rest[1:]:
        an.check_arg_read(a, c)
    output_writes(an, c)


def _npm_exec(an: Analyzer, c: Cmd, sub: str, args: list[Arg], first: Arg) -> None:
    """``npm exec``, ``pnpm dlx``, ``yarn x``: the command is checked as one of its own."""
    idx = next((i for i, a in enumerate(args) if a is first), 0)
    rest = args[idx + 1 :]
    while rest and rest[0].static and rest[0].text.startswith("-"):
        if rest[0].text in ("-c", "--call") and len(rest) > 1:
            sub_script(an, rest[1], f"{c.name} exec -c")
            return
        rest = rest[1:]
    an.risky("package.install", f"{c.name} {sub} may download and run a package")
    if rest:
        wrapped(an, c, rest)


def _npm_effects(an: Analyzer, c: Cmd, sub: str, args: list[Arg], texts: list[str]) -> None:
    """Installs and publishing are risky; ``npm pack --pack-destination DIR`` writes there."""
    if sub in _NPM_INSTALLS or (c.name == "yarn" and not sub):
        an.risky(
            "package.install",
            f"{c.name} {sub or 'install'} installs packages (network, runs install scripts)",
        )
    if sub in ("publish", "unpublish", "deprecate", "dist-tag"):
        an.risky("package.publish", f"{c.name} {sub} changes a published package")
    if sub == "pack":
        for i, t in enumerate(texts):
            if t == "--pack-destination" and i + 1 < len(args):
                an.check_write(args[i + 1], verb="npm pack", overwrite_risky=False)


def _npm_folder(an: Analyzer, c: Cmd, args: list[Arg], texts: list[str]) -> None:
    """``--prefix``/``-C``/``--cwd``/``--dir DIR``: the folder must be inside the working one."""
    for i, t in enumerate(texts):
        if t in ("--prefix", "-C", "--cwd", "--dir") and i + 1 < len(args):
            real = an.ctx.resolve(args[i + 1].text, an.cur) if args[i + 1].static else None
            if real is None or not an.ctx.inside_root(real):
                an.deny(
                    "write.outside_cwd",
                    f"{c.name} {t} works in a folder outside the working directory",
                )
                return


def npm(an: Analyzer, c: Cmd) -> None:
    args = list(c.args)
    texts = [a.text if a.static else "" for a in args]
    if _npm_global(an, c, args, texts):
        return
    ops = [a for a in args if not (a.static and a.text.startswith("-"))]
    sub = ops[0].text if ops and ops[0].static else ""
    if c.name in ("npx", "bunx", "pnpx"):
        _npx(an, c, args, texts)
        return
    if (
        sub in ("config", "set", "c")
        and len(ops) > 1
        and ops[1].static
        and ops[1].text in ("set", "edit", "delete", "rm")
    ):
        an.deny("persistence.home_config", f"{c.name} config {ops[1].text} changes ~/.npmrc")
        return
    if sub in _NPM_CREDENTIALS:
        an.deny("secrets.read", f"{c.name} {sub} reads or changes registry credentials")
        return
    if sub in ("exec", "x", "dlx") and c.name in ("npm", "pnpm", "yarn"):
        _npm_exec(an, c, sub, args, ops[0])
        return
    _npm_effects(an, c, sub, args, texts)
    if any(t.startswith("--prefix") or t in ("-C", "--cwd", "--dir") for t in texts):
        _npm_folder(an, c, args, texts)


def build_tools(an: Analyzer, c: Cmd) -> None:
    ops = [a for a in c.args if not (a.static and a.text.startswith("-"))]
    sub = ops[0].text if ops and ops[0].static else ""
    texts = [a.text if a.static else "" for a in c.args]
    if (
        c.name
        in ("cargo", "go", "dotnet", "swift", "stack", "cabal", "opam", "bundle", "bundler", "mix")
        and sub in ("run", "exec", "x")
        and c.name in ("bundle", "bundler", "opam", "stack", "cabal")
    ):
        idx = next(i for i, a in enumerate(c.args) if a is ops[0])
        rest = c.args[idx + 1 :]
        if rest and rest[0].static and rest[0].text == "--":
            rest = rest[1:]
        wrapped(an, c, rest)
        return
    if c.name == "go" and sub in ("env",) and any(t == "-w" for t in texts):
        an.deny("persistence.home_config", "go env -w changes the user's Go configuration")
        return
    if (
        c.name in ("nix", "nix-env")
        and any(t in ("-i", "--install", "profile") for t in texts)
        or c.name in ("brew", "guix", "spack")
        and sub in ("install", "reinstall", "upgrade", "tap", "uninstall", "remove")
    ):
        an.risky("package.install", f"{c.name} {sub} installs software for the user")
        return
    if c.name == "nix-shell" or (c.name == "nix" and sub in ("develop", "shell", "run")):
        for i, t in enumerate(texts):
            if t in ("--run", "--command", "-c") and i + 1 < len(c.args):
                sub_script(an, c.args[i + 1], f"{c.name} --run")
        an.risky("package.install", f"{c.name} {sub} builds or downloads packages")
        return
    if sub in (
        "install",
        "get",
        "add",
        "update",
        "upgrade",
        "fetch",
        "require",
        "restore",
        "publish",
        "push",
        "deploy",
    ):
        an.risky("package.install", f"{c.name} {sub} installs or publishes packages")
    for i, t in enumerate(texts):
        if t in (
            "--root",
            "--target-dir",
            "--manifest-path",
            "--install-dir",
            "-i",
            "--bindir",
            "--prefix",
            "--path",
            "-o",
            "--output",
            "--out-dir",
            "--artifact-dir",
            "-C",
        ) and i + 1 < len(c.args):
            an.check_write(c.args[i + 1], verb=f"{c.name} {t}", overwrite_risky=False)
        elif "=" in t and t.split("=", 1)[0] in (
            "--root",
            "--target-dir",
            "--install-dir",
            "--bindir",
            "--prefix",
            "--out-dir",
            "--output",
            "--artifact-dir",
        ):
            an.check_write(
                lit(t.split("=", 1)[1]),
                verb=f"{c.name} {t.split('=', 1)[0]}",
                overwrite_risky=False,
            )
    for a in ops[1:]:
        an.check_arg_read(a, c)


def make(an: Analyzer, c: Cmd) -> None:
    texts = [a.text if a.static else "" for a in c.args]
    for i, t in enumerate(texts):
        if t in (
            "-C",
            "--directory",
            "-B",
            "--build",
            "-S",
            "--workdir",
            "--output_base",
            "--output_user_root",
        ) and i + 1 < len(c.args):
            target = c.args[i + 1]
            if t in ("-S",):
                an.check_arg_read(target, c)
                continue
            if target.static:
                real = an.ctx.resolve(target.text, an.cur)
                if not an.ctx.inside_root(real):
                    an.deny(
                        "write.outside_cwd",
                        f"{c.name} {t} {target.text} builds in a folder outside the working directory",
                    )
            else:
                an.deny(
                    "write.unresolved_target",
                    f"{c.name} {t} points at a folder computed at run time",
                )
        elif (folder := re.match(r"^(-C|--directory=)(.+)$", t)) and c.name in (
            "make",
            "gmake",
            "ninja",
        ):
            val = folder.group(2)
            real = an.ctx.resolve(val, an.cur)
            if not an.ctx.inside_root(real):
                an.deny(
                    "write.outside_cwd",
                    f"{c.name} -C {val} builds in a folder outside the working directory",
                )
        elif t.startswith("-DCMAKE_INSTALL_PREFIX=") or t.startswith("--prefix="):
            an.check_write(lit(t.split("=", 1)[1]), verb="install prefix", overwrite_risky=False)
        elif t in ("--install-prefix", "--prefix") and i + 1 < len(c.args):
            an.check_write(c.args[i + 1], verb="install prefix", overwrite_risky=False)
        elif re.match(r"^(SHELL|MAKESHELL)=", t):
            an.deny("exec.dynamic_command_name", f"{c.name} {t} replaces the shell make uses")
    _build_files(an, c, texts)
    if c.name == "cmake" and "-E" in texts:
        _cmake_command(an, c, c.args[texts.index("-E") + 1 :])
    if c.name in ("make", "gmake") and any(t == "install" for t in texts):
        an.risky("package.install", "make install may write outside the working directory")
    if c.name == "cmake" and "--install" in texts:
        an.risky("package.install", "cmake --install may write outside the working directory")
    if an.cur is None or not an.ctx.inside_root(an.cur):
        if c.name in ("make", "gmake", "ninja") and "-C" not in texts:
            an.deny(
                "write.outside_cwd", f"{c.name} builds in a folder outside the working directory"
            )


# Options naming the build file, per build tool.
_BUILD_FILE_OPTS = {
    "make": ("-f", "--file", "--makefile"),
    "ninja": ("-f",),
    "just": ("-f", "--justfile"),
    "task": ("-t", "--taskfile"),
    "rake": ("-f", "--rakefile"),
    "scons": ("-f", "--file", "--sconstruct"),
    "invoke": ("-c", "--collection", "-r", "--search-root"),
    "tox": ("-c",),
    "nox": ("-f", "--noxfile"),
}
_STDIN_FILES = ("-", "/dev/stdin", "/proc/self/fd/0", "/dev/fd/0")


def _build_files(an: Analyzer, c: Cmd, texts: list[str]) -> None:
    """make --eval and a makefile read from stdin or computed are text executed as code: asked.
    A named build file is read (secret locations denied)."""
    opts = _BUILD_FILE_OPTS.get(c.name, ())
    files: list[Arg] = []
    for i, a in enumerate(c.args):
        t = texts[i]
        if c.name == "make" and (
            t in ("-E", "--eval") or t.startswith("--eval=") or (t.startswith("-E") and len(t) > 2)
        ):
            an.ask(
                "exec.runs_code",
                f"make {t.split('=', 1)[0]} runs makefile text given on the command line",
            )
        if t in opts and i + 1 < len(c.args):
            files.append(c.args[i + 1])
        elif "=" in t and t.split("=", 1)[0] in opts:
            files.append(Arg(t.split("=", 1)[1], a.mask[len(t.split("=", 1)[0]) + 1 :]))
        elif len(t) > 2 and t[:2] in opts and not t.startswith("--"):
            files.append(Arg(t[2:], a.mask[2:]))
    for f in files:
        if f.psub or not f.static or f.text in _STDIN_FILES:
            an.ask(
                "exec.runs_code",
                f"{c.word} reads its build file from {f.show()}: text executed as code that "
                "cannot be checked",
            )
        else:
            an.check_arg_read(f, c, path=True)


def _cmake_command(an: Analyzer, c: Cmd, rest: list[Arg]) -> None:
    """``cmake -E SUB …``: the portable file commands are checked like rm/cp/mkdir."""
    if not rest or not rest[0].static:
        an.ask("exec.runs_code", "cmake -E runs a command computed at run time")
        return
    sub, ops = rest[0].text, [a for a in rest[1:] if not (a.static and a.text.startswith("-"))]
    if sub in ("rm", "remove", "remove_directory"):
        for a in ops:
            an.check_delete(a, recursive=sub != "remove")
    elif sub in (
        "copy",
        "copy_directory",
        "copy_if_different",
        "copy_directory_if_different",
        "rename",
        "create_symlink",
        "create_hardlink",
    ):
        for a in ops[:-1]:
            an.check_arg_read(a, c, path=True)
        if ops:
            an.check_write(ops[-1], verb=f"cmake -E {sub}", overwrite_risky=False)
    elif sub in ("make_directory", "touch", "touch_nocreate"):
        for a in ops:
            an.check_write(a, verb=f"cmake -E {sub}", overwrite_risky=False)
    elif sub in ("env", "chdir", "time", "tar"):
        an.ask(
            "exec.runs_command",
            f"cmake -E {sub} runs or unpacks something this policy does not follow",
        )
    elif sub in (
        "cat",
        "md5sum",
        "sha1sum",
        "sha256sum",
        "sha512sum",
        "compare_files",
        "sha224sum",
        "sha384sum",
    ):
        for a in ops:
            an.check_arg_read(a, c, path=True)


_DOCKER_RUNS = frozenset(
    {"run", "create", "exec", "container", "compose", "service", "stack", "up", "build", "buildx"}
)
_DOCKER_HOST_FLAGS = frozenset(
    {"--privileged", "--pid=host", "--ipc=host", "--userns=host", "--uts=host", "--cgroupns=host"}
)


def _docker_mount_value(t: str, i: int, args: list[Arg]) -> Arg | None:
    """The value of a mount option at ``args[i]`` (``-v SRC:DST``, ``--mount=…``), or None."""
    if t in ("-v", "--volume", "--mount") and i + 1 < len(args):
        return args[i + 1]
    if (
        t.startswith(("--volume=", "--mount=", "-v"))
        and len(t) > 2
        and not t.startswith("--volumes")
    ):
        return lit(t.split("=", 1)[1] if "=" in t and t.startswith("--") else t[2:])
    return None


def _docker_mount(an: Analyzer, t: str, val: Arg) -> None:
    """A host path mounted into the container must be inside the working directory."""
    src = val.text
    if t.startswith("--mount") or "source=" in src or "src=" in src:
        m = re.search(r"(?:source|src)=([^,]+)", src)
        src = m.group(1) if m and "type=volume" not in val.text else ""
    else:
        src = src.split(":")[0]
    if src.startswith(("/", "~", ".")):
        real = an.ctx.resolve(src, an.cur)
        if not an.ctx.inside_root(real):
            an.deny(
                "privilege.container_mount",
                f"docker mounts {real}, outside the working directory (root access to it)",
            )


def _docker_host_option(an: Analyzer, t: str, nxt: str | None) -> None:
    """Options that share the host's processes, devices or network (``nxt``: the next word)."""
    if (
        t in _DOCKER_HOST_FLAGS
        or t.startswith(("--cap-add", "--device", "--security-opt", "--pid=container"))
        or (
            t in ("--pid", "--ipc", "--userns", "--cap-add", "--device", "--security-opt")
            and nxt is not None
        )
    ) and not (t in ("--pid", "--ipc", "--userns") and nxt != "host"):
        an.deny("privilege.container", f"docker {t} gives the container control of the host")
    if t in ("--network=host", "--net=host") or (t in ("--network", "--net") and nxt == "host"):
        an.risky("network.host", "docker --network host shares the host network")


def _docker_run_options(an: Analyzer, args: list[Arg], texts: list[str]) -> None:
    """run, create, exec, compose…: mounts and options that give the container the host."""
    for i, t in enumerate(texts):
        val = _docker_mount_value(t, i, args)
        if val is not None and not val.static:
            an.deny("privilege.container_mount", "docker mounts a host path computed at run time")
            continue
        if val is not None:
            _docker_mount(an, t, val)
        _docker_host_option(an, t, texts[i + 1] if i + 1 < len(texts) else None)


def docker(an: Analyzer, c: Cmd) -> None:
    args = c.args
    texts = [a.text if a.static else "" for a in args]
    ops = [t for t in texts if t and not t.startswith("-")]
    sub = ops[0] if ops else ""
    if sub == "login":
        an.deny("secrets.read", "docker login stores registry credentials in ~/.docker/config.json")
        return
    if sub in _DOCKER_RUNS:
        _docker_run_options(an, args, texts)
    if sub == "cp":
        for a in [x for x in args[1:] if not (x.static and x.text.startswith("-"))]:
            if a.static and ":" not in a.text.split("/")[0]:
                an.check_write(a, verb="docker cp", overwrite_risky=False)
    if sub in ("save", "export", "image") and any(t in ("-o", "--output") for t in texts):
        for i, t in enumerate(texts):
            if t in ("-o", "--output") and i + 1 < len(args):
                an.check_write(args[i + 1], verb=f"docker {sub} -o")
    an.risky("container", f"docker {sub} acts on containers (root-equivalent)")


def own_process(an: Analyzer, arg: Arg) -> bool:
    """``arg`` names a process this command started: a job (%1), $!, $$ or a variable set from them."""
    if arg.static:
        return arg.text.startswith("%")
    if arg.text != DYN or not arg.names:
        return False
    return all(n in ("!", "$", "BASHPID") or n in an.own_pids for n in arg.names)


def kill(an: Analyzer, c: Cmd) -> None:
    """kill: only processes this command started ($!, %job); signal 0 only tests. pkill and
    killall pick processes by name, which may be anyone's: denied."""
    texts = [a.text if a.static else DYN for a in c.args]
    if c.name == "kill":
        if any(t in ("-l", "-L", "--list", "--table") for t in texts):
            return
        pids: list[Arg] = []
        signal = ""
        i = 0
        while i < len(c.args):
            t = texts[i]
            if t in ("-s", "-n", "--signal") and i + 1 < len(texts):
                signal = texts[i + 1]
                i += 2
                continue
            if t == "--":
                pids.extend(c.args[i + 1 :])
                break
            if (
                t.startswith("-")
                and i == 0
                and re.fullmatch(r"-(\d+|[A-Za-z]+[A-Za-z0-9+-]*)", t)
                and len(texts) > 1
            ):
                signal = t[1:]
                i += 1
                continue
            pids.append(c.args[i])
            i += 1
        if not pids and texts == ["-1"]:
            pids = [lit("-1")]
        for p in pids:
            if p.static and p.text in ("-1", "1", "0", "-0"):
                an.deny("system.kill_all", f"kill {p.text} signals every process or init")
                return
            if not p.static and an.flags.get("critical_pids"):
                an.deny("system.kill_all", "kill signals system processes found with pgrep/pidof")
                return
        if signal in ("0", "ZERO"):
            return  # kill -0 only tests whether the process exists
        foreign = [p for p in pids if not own_process(an, p)]
        if foreign:
            an.deny(
                "process.foreign",
                f"kill {foreign[0].show()} signals a process this command did not start "
                "(only $!, $$ and %jobs are allowed)",
            )
            return
        an.risky("system.kill", "kill stops processes")
        return
    ops = [t for t in texts if not t.startswith("-")]
    if (
        any(t in ("-u", "--user", "-U") or t.startswith(("-u", "--user=")) for t in texts)
        and c.name == "pkill"
        or any(
            p
            in (
                ".",
                ".*",
                "^",
                "",
                "init",
                "systemd",
                "sshd",
                "dbus-daemon",
                "containerd",
                "dockerd",
                "kubelet",
                "llmos",
                "Xorg",
                "gdm",
                "login",
                "agetty",
                "journald",
                "systemd-journald",
            )
            for p in ops
        )
        or (c.name == "killall" and any(t in ("-u", "--user") for t in texts))
    ):
        an.deny(
            "system.kill_all", f"{c.name} {' '.join(texts)} kills processes the session depends on"
        )
        return
    if (
        c.name == "pkill"
        and any(t in ("-0", "--signal=0") for t in texts)
        or (c.name == "killall" and any(t in ("-0", "--signal=0", "-l", "--list") for t in texts))
    ):
        return
    an.deny(
        "process.foreign", f"{c.name} picks processes by name; they may not be this command's own"
    )


def renice(an: Analyzer, c: Cmd) -> None:
    """renice changes running processes: only this command's own ($!, $$)."""
    o = parse_opts(c.args, short_val="n", long_val={"--priority", "--relative"})
    if any(n in ("-g", "-u", "--pgrp", "--user") for n, _ in o.flags):
        an.deny(
            "process.foreign",
            "renice -g/-u changes the priority of every process of a group or user",
        )
        return
    targets = list(o.operands)
    if not o.values("-n", "--priority", "--relative") and targets:
        targets = targets[1:]
    foreign = [t for t in targets if not own_process(an, t)]
    if foreign or not targets:
        shown = foreign[0].show() if foreign else "(none)"
        an.deny("process.foreign", f"renice {shown} changes a process this command did not start")


def fuser(an: Analyzer, c: Cmd) -> None:
    """fuser shows which processes use a file; -k kills them (anyone's)."""
    for a in c.args:
        if a.static and (
            a.text in ("-k", "--kill") or re.fullmatch(r"-[a-zA-Z]*k[a-zA-Z]*", a.text)
        ):
            an.deny(
                "process.foreign", "fuser -k kills every process using the file, whoever started it"
            )
            return
    for a in c.args:
        an.check_arg_read(a, c)


def crontab(an: Analyzer, c: Cmd) -> None:
    texts = [a.text if a.static else "" for a in c.args]
    if (
        c.name == "crontab"
        and texts
        and all(t in ("-l", "-u") or not t.startswith("-") and "-u" in texts for t in texts)
        and "-l" in texts
    ):
        return
    if c.name == "atq":
        return
    an.deny("persistence.cron", f"{c.name} schedules commands to run later (persistence)")


def system_control(an: Analyzer, c: Cmd) -> None:
    texts = [a.text if a.static else DYN for a in c.args]
    ops = [t for t in texts if not t.startswith("-")]
    sub = ops[0] if ops else ""
    name = c.name
    if name == "journalctl":
        if any(t.startswith(("--vacuum", "--rotate", "--flush", "--relinquish")) for t in texts):
            an.deny("system.control", "journalctl --vacuum deletes system logs")
        return
    readonly = {
        "systemctl": {
            "status",
            "show",
            "list-units",
            "list-unit-files",
            "list-timers",
            "list-sockets",
            "list-jobs",
            "list-dependencies",
            "is-active",
            "is-enabled",
            "is-failed",
            "is-system-running",
            "cat",
            "help",
            "get-default",
            "show-environment",
            "",
        },
        "service": {"--status-all"},
        "ip": {
            "a",
            "addr",
            "address",
            "r",
            "route",
            "l",
            "link",
            "n",
            "neigh",
            "neighbour",
            "-br",
            "rule",
            "maddr",
            "netns",
            "monitor",
            "-s",
            "",
        },
        "hostnamectl": {"", "status"},
        "timedatectl": {"", "status", "show", "list-timezones", "timesync-status"},
        "localectl": {"", "status", "list-locales", "list-keymaps"},
        "loginctl": {
            "",
            "list-sessions",
            "list-users",
            "show-session",
            "show-user",
            "session-status",
            "user-status",
            "list-seats",
        },
        "nmcli": {
            "",
            "general",
            "g",
            "device",
            "d",
            "dev",
            "connection",
            "con",
            "c",
            "radio",
            "monitor",
        },
        "route": {""},
        "arp": {""},
        "ifconfig": {""},
        "update-alternatives": {"--display", "--list", "--query", "--get-selections"},
        "ldconfig": set(),
        "init": set(),
        "launchctl": {"list", "print", "blame", "dumpstate"},
        "virsh": {"list", "dominfo", "version"},
        "chkconfig": {"--list", ""},
        "tc": {"qdisc"} if "show" in texts else set(),
        "sysctl": set(),
        "mount": {""},
        "umount": set(),
    }.get(name)
    if name == "systemctl" and sub in (
        "status",
        "show",
        "cat",
        "list-units",
        "is-active",
        "is-enabled",
        "is-failed",
        "",
    ):
        return
    if name == "service" and (len(ops) >= 2 and ops[1] == "status" or "--status-all" in texts):
        return
    if name == "ip":
        if any(
            t
            in (
                "add",
                "del",
                "delete",
                "set",
                "flush",
                "change",
                "replace",
                "append",
                "prepend",
                "exec",
            )
            for t in texts
        ):
            an.deny("system.network_config", "ip add/del/set changes the network configuration")
        return
    if name == "sysctl":
        if any(t in ("-w", "--write", "-p", "--load", "--system") or "=" in t for t in texts):
            an.deny("system.control", "sysctl -w changes kernel settings")
        return
    if name == "mount" and not ops and all(t in ("-l", "--show-labels", "-v") for t in texts):
        return
    if name == "ldconfig" and any(t in ("-p", "--print-cache") for t in texts):
        return
    if (
        name in ("ifconfig", "route", "arp")
        and len(ops) <= 1
        and all(t in ("-a", "-n", "-v", "-e") or not t.startswith("-") for t in texts)
    ):
        return
    if name == "nmcli" and (
        not ops
        or ops[0] in ("general", "g")
        or (len(ops) >= 2 and ops[1] in ("status", "show", "list"))
    ):
        return
    if name == "update-alternatives" and any(t in (readonly or ()) for t in texts):
        return
    if (
        readonly is not None
        and sub in readonly
        and name not in ("ip", "nmcli", "update-alternatives")
    ):
        return
    if name == "systemctl" and sub in (
        "enable",
        "link",
        "edit",
        "set-default",
        "preset",
        "add-wants",
        "add-requires",
        "revert",
        "daemon-reload",
        "set-property",
        "set-environment",
        "import-environment",
    ):
        an.deny(
            "persistence.systemd", f"systemctl {sub} installs or changes services that run later"
        )
        return
    an.deny(
        "system.control",
        f"{name} {' '.join(t for t in texts if t != DYN)[:60]} changes or stops the system",
    )


def disk_tool(an: Analyzer, c: Cmd) -> None:
    texts = [a.text if a.static else "" for a in c.args]
    name = c.name
    readonly = {
        "fdisk": ("-l", "--list"),
        "sfdisk": ("-l", "--list", "-d", "--dump", "-s", "--show-size", "-V", "--verify"),
        "parted": ("-l", "--list", "print"),
        "gdisk": ("-l",),
        "sgdisk": ("-p", "--print", "-v", "--verify", "-i"),
        "hdparm": ("-I", "-i", "-g", "-t", "-T", "-C"),
        "losetup": ("-a", "--all", "-l", "--list", "-j"),
        "zpool": ("status", "list", "iostat", "get", "history"),
        "mdadm": ("--detail", "-D", "--examine", "-E", "--query", "-Q"),
        "nvme": ("list", "id-ctrl", "id-ns", "smart-log", "list-subsys"),
        "cryptsetup": ("status", "luksDump", "isLuks"),
        "btrfs": ("show", "list", "df", "usage"),
        "fsck": ("-N",),
        "e2fsck": ("-n",),
        "tune2fs": ("-l",),
        "dmsetup": ("ls", "info", "status", "table"),
        "badblocks": ("-v", "-s", "-b"),
        "debugfs": ("-R",),
        "partprobe": ("-s", "-d"),
        "resize2fs": ("-P",),
    }.get(name, ())
    if name == "badblocks" and any(t in ("-w", "-n") for t in texts):
        an.deny("disk.destroy", "badblocks -w overwrites the whole device")
        return
    if (
        readonly
        and any(t in readonly for t in texts)
        and not any(
            t
            in (
                "-w",
                "--write",
                "mklabel",
                "rm",
                "mkpart",
                "resizepart",
                "format",
                "destroy",
                "create",
                "remove",
                "luksFormat",
                "erase",
                "open",
                "close",
            )
            for t in texts
        )
    ):
        return
    an.deny("disk.destroy", f"{c.word} changes disks or filesystems")


def editor(an: Analyzer, c: Cmd) -> None:
    texts = [a.text if a.static else "" for a in c.args]
    for i, t in enumerate(texts):
        cmd = None
        if t in ("-c", "--cmd", "-S", "--eval", "-l", "--load", "--execute", "-x") and i + 1 < len(
            texts
        ):
            cmd = texts[i + 1]
        elif t.startswith("+") and len(t) > 1:
            cmd = t[1:]
        if cmd is not None and (
            re.search(
                r"!|\bsystem\b|\bshell\b|\bterm|\bpy(thon)?3?\b|\blua\b|\bperl\b|\bruby\b|\bcall\b|\bsource\b|\bso\b|shell-command|call-process|start-process|\bw(rite)?\b\s*/",
                cmd,
            )
            or t in ("--eval", "-l", "--load", "-S", "--execute", "-x")
        ):
            an.deny("exec.editor_command", f"{c.word} {t} runs a command through the editor")
            return
    if c.name in ("ed", "ex") and c.stdin and c.stdin[0] == "text" and "!" in c.stdin[1]:
        an.deny("exec.editor_command", f"{c.word} script runs a shell command")
        return
    for a in c.args:
        if a.static and (a.text.startswith("-") or a.text.startswith("+")):
            continue
        an.check_write(a, verb=f"{c.word} edits", overwrite_risky=False)


def history(an: Analyzer, c: Cmd) -> None:
    c.out = {"sensitive"}
    texts = [a.text if a.static else "" for a in c.args]
    if any(t in ("-w", "-a") for t in texts):
        for t in texts:
            if not t.startswith("-") and t:
                an.check_write(lit(t), verb="history -w")


def tmux(an: Analyzer, c: Cmd) -> None:
    args = c.args
    texts = [a.text if a.static else DYN for a in args]
    if c.name == "screen":
        rest = list(args)
        while rest and rest[0].static and rest[0].text.startswith("-"):
            t = rest[0].text
            rest = (
                rest[2:]
                if t in ("-S", "-c", "-L", "-Logfile", "-t", "-e", "-h", "-p", "-X")
                else rest[1:]
            )
            if t == "-X":
                an.risky("exec.background", "screen -X sends a command to a session")
        if rest:
            wrapped(an, c, rest)
        an.risky("exec.background", "screen starts a detached session that outlives the command")
        return
    subs = {
        "new-session",
        "new",
        "new-window",
        "neww",
        "split-window",
        "splitw",
        "run-shell",
        "run",
        "respawn-pane",
        "respawnp",
        "respawn-window",
        "respawnw",
        "display-popup",
        "popup",
        "send-keys",
        "send",
        "pipe-pane",
        "pipep",
        "if-shell",
        "if",
    }
    if not any(t in subs for t in texts):
        return
    an.risky("exec.background", f"{c.name} runs commands in a session that outlives this one")
    i = next(i for i, t in enumerate(texts) if t in subs)
    sub = texts[i]
    rest = args[i + 1 :]
    words: list[Arg] = []
    j = 0
    while j < len(rest):
        a = rest[j]
        if (
            a.static
            and a.text.startswith("-")
            and len(a.text) == 2
            and a.text[1] in "tscnxyFeEdlpwhMP"
        ):
            j += 2 if a.text[1] in "tscnxyFeElpwh" else 1
            continue
        if a.static and a.text.startswith("-"):
            j += 1
            continue
        words.append(a)
        j += 1
    if sub in ("send-keys", "send"):
        words = [
            w
            for w in words
            if not (
                w.static
                and re.fullmatch(
                    r"(Enter|C-[a-zA-Z]|M-[a-zA-Z]|Escape|Space|Tab|BSpace|Up|Down|Left|Right|KPEnter)",
                    w.text,
                )
            )
        ]
    if not words:
        return
    if not all(w.static for w in words):
        an.deny("exec.dynamic_script", f"{c.name} {sub} runs a command computed at run time")
        return
    an.sub_shell(" ".join(w.text for w in words), origin=f"the command run by {c.name} {sub}")


def busybox(an: Analyzer, c: Cmd) -> None:
    if c.args:
        wrapped(an, c, c.args)


def time_(an: Analyzer, c: Cmd) -> None:
    rest = [a for a in c.args]
    while (
        rest
        and rest[0].static
        and rest[0].text in ("-p", "-v", "--portability", "--verbose", "-a", "--append")
    ):
        rest = rest[1:]
    while rest and rest[0].static and rest[0].text in ("-o", "--output", "-f", "--format"):
        if rest[0].text in ("-o", "--output") and len(rest) > 1:
            an.check_write(rest[1], verb="time -o", overwrite_risky=False)
        rest = rest[2:]
    wrapped(an, c, rest)


def nohup(an: Analyzer, c: Cmd) -> None:
    rest = list(c.args)
    if rest and rest[0].static and rest[0].text == "--":
        rest = rest[1:]
    wrapped(an, c, rest)


def trivial(an: Analyzer, c: Cmd) -> None:
    if c.name == "printf":
        for i, a in enumerate(c.args):
            if a.static and a.text == "-v" and i + 1 < len(c.args) and c.args[i + 1].static:
                an.vars[c.args[i + 1].text] = [(DYN, "d")]
    if c.name in ("echo", "printf"):
        c.out = {"static"} if all(a.static for a in c.args) else {"other"}
        if any(a.from_command for a in c.args):
            c.out = {"other"}
        hidden = [n for a in c.args for n in secret_names(a)]
        if hidden:
            an.deny("secrets.env", f"{c.name} prints the secret ${hidden[0]} from the environment")
            c.out = {"env"}


def read(an: Analyzer, c: Cmd) -> None:
    listing = c.pipe_in is not None and c.pipe_in <= {"cwd_list"}
    for a in c.args:
        if a.static and re.fullmatch(r"[A-Za-z_]\w*", a.text):
            an.vars[a.text] = [(ITEM, "i")] if listing else [(DYN, "d")]
    if c.stdin and c.stdin[0] == "file":
        an.check_read_path(c.stdin[1], c.stdin[1])


def browser(an: Analyzer, c: Cmd) -> None:
    if not an.allow_network:
        an.risky("network.browser", f"{c.word} opens a browser")
    for a in c.args:
        an.check_arg_read(a, c)


def system_packages(an: Analyzer, c: Cmd) -> None:
    texts = [a.text if a.static else "" for a in c.args]
    readonly_words = {
        "list",
        "search",
        "show",
        "info",
        "policy",
        "madison",
        "depends",
        "rdepends",
        "-l",
        "--list",
        "-L",
        "--listfiles",
        "-s",
        "--status",
        "--search",
        "-q",
        "-qa",
        "-qi",
        "-ql",
        "-Q",
        "-Qs",
        "-Ss",
        "-Si",
        "-Sl",
        "-Sg",
        "-Qi",
        "-Ql",
        "-Qe",
        "-Qm",
        "query",
        "--version",
        "-V",
        "provides",
        "whatprovides",
        "changelog",
        "download",
        "--contents",
        "-c",
        "-I",
        "--info",
        "list-installed",
        "check",
        "installed",
        "outdated",
        "contents",
        "deps",
        "variants",
        "list-available",
    }
    if c.name == "dpkg":
        readonly_words = readonly_words | {"-S"}  # dpkg -S searches; pacman -S installs
    if c.name == "dpkg-deb" and any(t in ("-b", "--build") for t in texts):
        ops = [a for a in c.args if not (a.static and a.text.startswith("-"))]
        for a in ops[:1]:
            an.check_arg_read(a, c, path=True)
        for a in ops[1:2]:
            an.check_write(a, verb="dpkg-deb --build", overwrite_risky=False)
        return
    if texts and (
        texts[0] in readonly_words
        or (len(texts) > 1 and texts[0].startswith("-") and texts[1] in readonly_words)
    ):
        if texts[0] == "download":
            an.risky("network.download", f"{c.name} download fetches a package")
        return
    if (
        c.name == "dpkg"
        and any(t in readonly_words for t in texts)
        and not any(
            t
            in (
                "-i",
                "--install",
                "-r",
                "--remove",
                "-P",
                "--purge",
                "--configure",
                "-x",
                "--extract",
            )
            for t in texts
        )
    ):
        return
    an.deny(
        "system.package_manager",
        f"{c.name} {' '.join(texts)[:50]} changes system packages (outside the working directory)",
    )


def offensive(an: Analyzer, c: Cmd) -> None:
    if c.name in ("tcpdump", "tshark") and any(a.static and a.text in ("-r",) for a in c.args):
        for a in c.args:
            an.check_arg_read(a, c)
        return
    an.deny("security.offensive_tool", f"{c.word} is a scanning, sniffing or cracking tool")


def lookup_tools(an: Analyzer, c: Cmd) -> None:
    hosts = [a for a in c.args if not (a.static and (a.text.startswith("-") or a.text.isdigit()))]
    if network_off(an, c, hosts):
        return
    for a in c.args:
        if a.from_command or secret_names(a):
            an.deny(
                "exfil.dns",
                f"{c.word} puts command output or a secret into a network lookup (DNS exfiltration)",
            )
            return
    if c.pipe_in and c.pipe_in & SENSITIVE:
        an.deny("exfil.pipe_to_network", f"{c.word} receives sensitive data through a pipe")
        return
    an.risky("network.lookup", f"{c.word} contacts other machines")


def x11(an: Analyzer, c: Cmd) -> None:
    texts = [a.text if a.static else "" for a in c.args]
    if c.name in ("x11vnc", "vncserver", "xhost"):
        an.deny("network.remote_access", f"{c.word} opens this desktop to other machines")
        return
    if c.name in ("xinit", "startx"):
        an.ask(
            "exec.runs_command",
            f"{c.word} starts an X session and the programs of its start-up files",
        )
        return
    for i, t in enumerate(texts):
        if t in ("-display", "-d") and i + 1 < len(texts) and not texts[i + 1].startswith(":"):
            an.deny(
                "reverse_shell.x11",
                f"{c.word} -display {texts[i + 1]} opens a terminal on another machine",
            )
            return
        if t == "-e" and i + 1 < len(c.args):
            wrapped(an, c, c.args[i + 1 :])
            return


def pager(an: Analyzer, c: Cmd) -> None:
    for a in c.args:
        t = a.text if a.static else ""
        if (t.startswith("+") and re.search(r"[!|]", t)) or (
            c.name == "man" and t in ("-P", "--pager", "-H", "--html")
        ):
            an.deny("exec.editor_command", f"{c.word} {t} runs a shell command")
            return
    if c.name == "man":
        for a in c.args:
            if a.static and not a.text.startswith("-") and "/" in a.text:
                an.check_arg_read(a, c, path=True)
        return
    o = parse_opts(
        c.args,
        short_val="bhjkoOpPtTxyz",
        long_val={
            "--log-file",
            "--LOG-FILE",
            "--tag",
            "--tag-file",
            "--pattern",
            "--prompt",
            "--lesskey-file",
            "--tabs",
            "--shift",
            "--window",
            "--max-back-scroll",
            "--max-forw-scroll",
            "--buffers",
            "--jump-target",
        },
    )
    for v in o.values("-o", "-O", "--log-file", "--LOG-FILE"):
        an.check_write(v, verb=f"{c.word} log", overwrite_risky=False)
    for v in o.values("-k", "--lesskey-file", "-T", "--tag-file"):
        an.check_arg_read(v, c, path=True)
    reads(an, c, [a for a in o.operands if not (a.static and a.text.startswith("+"))], path=True)


_CRITICAL_PROCS = LazyRegex(
    r"^(init|systemd.*|sshd|dbus-daemon|containerd|dockerd|kubelet|journald|Xorg|gdm.*|login|"
    r"agetty|cron|rsyslogd|NetworkManager|polkitd|udevd|llmos)$"
)


def pgrep(an: Analyzer, c: Cmd) -> None:
    """Remember when system processes are looked up: a later ``kill $(pgrep …)`` targets them."""
    names = [a.text for a in c.args if a.static and not a.text.startswith("-")]
    if any(_CRITICAL_PROCS.match(n) for n in names):
        an.flags["critical_pids"] = True


# --------------------------------------------------------------------------------------
# environment dumps and shell state that cannot be followed
# --------------------------------------------------------------------------------------
def set_(an: Analyzer, c: Cmd) -> None:
    """``set`` alone prints every variable (the environment included): denied. Options are fine."""
    if not c.args:
        an.deny("secrets.env_dump", "set without arguments prints every variable (tokens, keys)")
        c.out = {"env"}


def shopt(an: Analyzer, c: Cmd) -> None:
    """``shopt -s cdable_vars`` lets ``cd NAME`` go to the folder a variable names: asked."""
    setting = any(a.static and a.text in ("-s", "-os") for a in c.args)
    if setting and any(a.static and a.text == "cdable_vars" for a in c.args):
        an.ask(
            "shell.cdable_vars",
            "shopt -s cdable_vars makes cd go to folders named by variables; later paths "
            "cannot be located",
        )
        an.flags["cd_unknown"] = True
    elif setting and any(not a.static for a in c.args):
        an.ask("shell.unknown_option", "shopt sets an option computed at run time")


def printenv(an: Analyzer, c: Cmd) -> None:
    """``printenv`` alone dumps the environment (denied); named variables that look secret too."""
    names = [a for a in c.args if not (a.static and a.text.startswith("-"))]
    if not names:
        an.deny(
            "secrets.env_dump",
            f"{c.word} without a name prints the whole environment (tokens, keys)",
        )
        c.out = {"env"}
        return
    hit = [a.text for a in names if a.static and SECRET_ENV.search(a.text)]
    if hit:
        an.deny("secrets.env", f"printenv {hit[0]} prints a secret from the environment")
        c.out = {"env"}
    elif any(not a.static for a in names):
        an.ask("secrets.env", "printenv prints a variable whose name is computed at run time")


def date(an: Analyzer, c: Cmd) -> None:
    o = parse_opts(
        c.args,
        short_val="dfrsI",
        long_val={"--date", "--file", "--reference", "--set", "--iso-8601"},
    )
    if any(n in ("-s", "--set") for n, _ in o.flags):
        an.deny("system.control", "date -s sets the system clock")
        return
    for v in o.values("-f", "--file", "-r", "--reference"):
        an.check_arg_read(v, c, path=True)


def hostname(an: Analyzer, c: Cmd) -> None:
    ops = [a for a in c.args if not (a.static and a.text.startswith("-"))]
    if ops or any(a.static and a.text in ("-F", "--file", "-b", "--boot") for a in c.args):
        an.deny("system.control", "hostname NAME changes the machine's name")


# --------------------------------------------------------------------------------------
# wrappers that need code
# --------------------------------------------------------------------------------------
def net_wrapper(an: Analyzer, c: Cmd) -> None:
    """proxychains/torsocks route a command over the network."""
    if not an.allow_network:
        an.deny(
            "network.disabled",
            f"{c.word} routes a command over the network, and network access is not allowed",
        )
        return
    args = list(c.args)
    while args and args[0].static and args[0].text.startswith("-"):
        args = args[2:] if args[0].text in ("-f", "-a", "-P", "-u", "-p") else args[1:]
    wrapped(an, c, args)


def version_manager(an: Analyzer, c: Cmd) -> None:
    """pyenv/rbenv/nodenv/asdf/mise exec run a command (checked); installs are risky;
    ``direnv allow`` makes a folder's .envrc run on every visit (asked)."""
    ops = [a for a in c.args if not (a.static and a.text.startswith("-"))]
    sub = ops[0].text if ops and ops[0].static else ""
    if c.name == "direnv":
        if sub in ("allow", "permit", "grant"):
            an.ask(
                "persistence.direnv",
                "direnv allow makes the folder's .envrc run each time a shell enters it",
            )
            return
        if sub == "exec" and len(ops) >= 3:
            idx = next(i for i, a in enumerate(c.args) if a is ops[2])
            wrapped(an, c, c.args[idx:])
        return
    if sub in ("exec", "x") and len(ops) >= 2:
        args = list(c.args)
        if any(a.static and a.text == "--" for a in args):
            rest = args[[a.text if a.static else "" for a in args].index("--") + 1 :]
        else:
            idx = next(i for i, a in enumerate(args) if a is ops[0])
            rest = args[idx + 1 :]
            if c.name in ("mise", "rtx"):
                while (
                    rest
                    and rest[0].static
                    and ("@" in rest[0].text or rest[0].text.startswith("-"))
                ):
                    rest = rest[1:]
        wrapped(an, c, rest)
        return
    if sub in ("install", "plugin", "global", "use"):
        an.risky("package.install", f"{c.word} {sub} installs or selects a toolchain")


def coverage(an: Analyzer, c: Cmd) -> None:
    """``coverage run`` executes a Python program (checked as python); the rest reads data."""
    ops = [a for a in c.args if not (a.static and a.text.startswith("-"))]
    if ops and ops[0].static and ops[0].text == "run":
        idx = next(i for i, a in enumerate(c.args) if a is ops[0])
        rest = list(c.args[idx + 1 :])
        while (
            rest and rest[0].static and rest[0].text.startswith("-") and rest[0].text not in ("-m",)
        ):
            rest = rest[1:]
        interpreter(an, Cmd("python", "coverage run", rest, c.env, c.pipe_in, c.stdin))
        return
    output_writes(an, c)


_RUNS_VALUE_OPTS = {
    "ssh-agent": "aEPt",
    "rlwrap": "aAbCfFgHlmNOpPsSwz",
    "cgexec": "g",
    "gdb": "xbcdDeisp",
    "lldb": "ocsSfpnO",
    "rr": "",
    "hyperfine": "wrmMpcsSnuNPDL",
    "nodemon": "wexdVIs",
    "watchexec": "ewpsdE",
    "distrobox-enter": "n",
    "toolbox": "cdr",
    "flatpak-spawn": "",
    "dbus-launch": "",
    "expect": "cdfi",
    "run-parts": "",
    "xterm": "",
    "xinit": "",
    "startx": "",
}


def runs_command(an: Analyzer, c: Cmd) -> None:
    """Programs that run another command or code in a way this policy does not model (an agent
    holding keys, a debugger, an expect script…): always asked. Aimed at a running process
    they are denied; the command they run is still checked for what is denied anyway."""
    name = c.name
    texts = [a.text if a.static else DYN for a in c.args]
    if texts and all(
        t in ("--version", "-version", "-v", "-V", "--help", "-h", "--configuration") for t in texts
    ):
        return  # it only describes itself
    if name in ("gdb", "lldb"):
        attach = ("-p", "--pid", "--attach-pid", "-n", "--attach-name", "--waitfor")
        ex_attach = any(re.match(r"^\s*(attach|at)\b", t) for t in texts)
        ops = [t for t in texts if not t.startswith("-")]
        if (
            any(
                t in attach
                or t.startswith(("--pid=", "--attach-pid=", "--attach-name="))
                or (t.startswith("-p") and t[2:].isdigit())
                for t in texts
            )
            or ex_attach
            or (name == "gdb" and "--args" not in texts and len(ops) >= 2 and ops[1].isdigit())
        ):
            an.deny(
                "process.foreign",
                f"{c.word} attaches a debugger to a process this command did not start",
            )
            return
    if name == "flatpak-spawn" and "--host" in texts:
        an.deny("exec.sandbox_escape", "flatpak-spawn --host runs a command outside the sandbox")
        return
    short = _RUNS_VALUE_OPTS.get(name, "")
    args = list(c.args)
    if name == "gdb" and "--args" in texts:
        rest = args[texts.index("--args") + 1 :]
    else:
        rest = args
        while rest and rest[0].static and rest[0].text.startswith("-"):
            t = rest[0].text
            if t == "--":
                rest = rest[1:]
                break
            takes = len(t) == 2 and t[1] in short
            rest = rest[2:] if takes else rest[1:]
    if name in ("ssh-agent", "dbus-launch") and not rest:
        if name == "ssh-agent":
            an.risky("credentials.agent", "ssh-agent starts an agent that holds SSH keys")
        return
    what = {
        "ssh-agent": "a command with access to the SSH agent's keys",
        "expect": "a Tcl program that spawns programs",
        "gdb": "programs (and shell commands) under a debugger",
        "lldb": "programs under a debugger",
        "dbus-launch": "a command with a new D-Bus session bus",
        "run-parts": "every script in a folder",
    }.get(name, "another command")
    an.ask("exec.runs_command", f"{c.word} runs {what}; this policy cannot check it")
    if name in ("gdb", "lldb", "expect", "hyperfine", "run-parts", "nodemon", "watchexec"):
        if name == "gdb" and "--args" in texts and rest:
            wrapped(an, c, rest)
        return
    if rest:
        wrapped(an, c, rest)


# --------------------------------------------------------------------------------------
# database clients
# --------------------------------------------------------------------------------------
# SQL or client commands that run a program, read or write files anywhere, or load code.
_SQL_UNMODELLED = LazyRegex(
    r"(^|[\n;])\s*\.(shell|system|output|once|import|read|load|open|save|backup|restore|excel|log|cd|trace|clone)\b|"
    r"\b(writefile|readfile|load_extension|edit|fts3_tokenizer)\s*\(|\bATTACH\b|\bVACUUM\s+INTO\b|"
    r"\\[!oOwgTPi]|\\ir\b|\\include|\\copy\b|\\setenv\b|\bCOPY\b[^;]*\b(TO|FROM)\s+PROGRAM\b|"
    r"\bINTO\s+(OUT|DUMP)FILE\b|\bLOAD_FILE\s*\(|\bLOAD\s+DATA\b|\blo_(export|import)\b|\bpg_read_(binary_)?file\b|"
    r"(^|[\n;])\s*(system|tee|pager|source)\s|\bCONFIG\s+SET\b|\bMODULE\s+LOAD\b|\bSLAVEOF\b|\bREPLICAOF\b|"
    r"\bMIGRATE\b|\bEVAL(SHA)?\b|\bCREATE\s+(OR\s+REPLACE\s+)?FUNCTION\b[^;]*\bLANGUAGE\s+(plpython|plperlu|c)\b",
    re.I,
)
_SQL_READONLY = LazyRegex(
    r"^\s*(select|pragma|explain|with|values|\.tables|\.schema|\.indexes|\.headers|\.mode|"
    r"\.dump|\.quit|\.exit|\.help|\.show|\.databases|\.fullschema|\.width|\.nullvalue|"
    r"\.separator|\.timer|\.stats|\.print|\.echo|\.bail|\.changes|\.eqp|\.lint|\.dbinfo)\b",
    re.I,
)


def db_client(an: Analyzer, c: Cmd) -> None:
    """sqlite3/psql/mysql/redis-cli: the SQL they are given is text executed as code. Commands
    that run programs or touch files anywhere (``.shell``, ``writefile()``, ``\\!``, ``COPY …
    PROGRAM``…) are asked; SQL piped in from another command is asked; the database file (sqlite)
    is read and, unless the SQL only reads, written; a server on another machine needs the network."""
    name = c.name
    if name == "sqlite3":
        o = parse_opts(
            c.args,
            long_val={
                "-cmd",
                "-init",
                "-separator",
                "-newline",
                "-nullvalue",
                "-vfs",
                "-maxsize",
                "-mmap",
                "-pagecache",
                "-lookaside",
                "-heap",
                "-escape",
                "--cmd",
                "--init",
                "--separator",
                "--newline",
                "--nullvalue",
                "--vfs",
                "--maxsize",
            },
            long_single_dash=True,
        )
        sql = [v for n, v in o.flags if n in ("-cmd", "--cmd") and v is not None] + o.operands[1:]
        files = [v for n, v in o.flags if n in ("-init", "--init") and v is not None]
        db = o.operands[0] if o.operands else None
        readonly_flag = any(n in ("-readonly", "--readonly") for n, _ in o.flags)
        host_local = True
    else:
        short = {"psql": "cfdhpUoLvPTFR", "mysql": "eDhPuSpoBFt", "redis-cli": "hpanurs"}.get(
            name, ""
        )
        long_ = {
            "--command",
            "--file",
            "--dbname",
            "--host",
            "--port",
            "--username",
            "--output",
            "--log-file",
            "--set",
            "--variable",
            "--execute",
            "--database",
            "--user",
            "--socket",
            "--tee",
            "--pager",
            "--uri",
            "--init-command",
        }
        o = parse_opts(c.args, short_val=short, long_val=long_)
        sql_opts = {
            "psql": ("-c", "--command"),
            "mysql": ("-e", "--execute", "--init-command"),
        }.get(name, ())
        sql = [v for n, v in o.flags if n in sql_opts and v is not None]
        if name == "redis-cli":
            sql = (
                [Arg(" ".join(a.text for a in o.operands), "q")]
                if all(a.static for a in o.operands)
                else [a for a in o.operands if not a.static][:1]
            )
        files = [v for n, v in o.flags if n in ("-f", "--file") and v is not None]
        for v in o.values("-o", "--output", "-L", "--log-file", "--tee"):
            an.check_write(v, verb=f"{c.word} {v.show()}", overwrite_risky=False)
        if o.values("--pager"):
            an.ask("exec.runs_command", f"{c.word} --pager runs a command")
        hosts = o.values("-h", "--host", "-u" if name == "redis-cli" else "--uri", "--uri")
        dbname = o.values("-d", "--dbname")
        urls = [a for a in list(o.operands) + dbname if a.static and "://" in a.text]
        texts = [h.text if h.static else DYN for h in hosts] + [
            re.sub(r"^\w+://([^@/]*@)?", "", u.text).split("/")[0].split(":")[0] for u in urls
        ]
        host_local = all(
            t in ("localhost", "127.0.0.1", "::1", "") or t.startswith("/") for t in texts
        )
        db = None
        readonly_flag = True
    if not host_local and not an.allow_network:
        an.deny(
            "network.disabled",
            f"{c.word} connects to a server on another machine, and network access is not allowed",
        )
        return
    texts = []
    for s in sql:
        if not s.static:
            an.ask("exec.runs_code", f"{c.word} runs SQL computed at run time")
            continue
        texts.append(s.text)
    for f in files:
        an.check_arg_read(f, c, path=True)
        real = an.ctx.resolve(f.text, an.cur) if f.static else None
        if (
            real
            and an.ctx.inside_root(real)
            and real not in an.written
            and not os.path.exists(real)
        ):
            continue  # nothing to run
        body = (
            _read_small(real)
            if real and an.ctx.inside_root(real) and real not in an.written and os.path.isfile(real)
            else None
        )
        if body is None:
            an.ask(
                "exec.runs_code",
                f"{c.word} runs the SQL file {f.show()}, which cannot be read for checking",
            )
        else:
            texts.append(body)
    if c.pipe_in is not None:
        an.ask(
            "exec.pipe_to_interpreter",
            f"SQL piped into {c.word} is run as code and cannot be checked",
        )
    elif c.stdin is not None:
        kind = c.stdin[0]
        if kind == "text" and not c.stdin[2]:
            texts.append(c.stdin[1])
        elif (
            kind == "file"
            and an.ctx.inside_root(c.stdin[1])
            and c.stdin[1] not in an.written
            and not os.path.exists(c.stdin[1])
        ):
            pass  # nothing to run
        elif (
            kind == "file"
            and an.ctx.inside_root(c.stdin[1])
            and c.stdin[1] not in an.written
            and os.path.isfile(c.stdin[1])
            and _read_small(c.stdin[1]) is not None
        ):
            texts.append(_read_small(c.stdin[1]) or "")
        else:
            an.ask("exec.runs_code", f"{c.word} runs SQL from its input, which cannot be checked")
    for t in texts:
        m = _SQL_UNMODELLED.search(t)
        if m:
            an.ask(
                "exec.runs_code",
                f"{c.word} {m.group(0).strip()!r} runs a program, loads code or reads or "
                "writes files anywhere",
            )
            break
    if db is not None and not (db.static and db.text in (":memory:", "")):
        an.check_arg_read(db, c, path=True)
        statements = [
            p for t in texts for p in re.split(r";\s*(?:\n|$)|\n(?=\s*\.)", t) if p.strip()
        ]
        writes = not readonly_flag and (
            bool(c.stdin)
            or c.pipe_in is not None
            or not statements
            or any(not _SQL_READONLY.match(p) for p in statements)
        )
        if writes:
            an.check_write(
                db, verb=f"{c.word} writes the database", overwrite_risky=False, content=False
            )
