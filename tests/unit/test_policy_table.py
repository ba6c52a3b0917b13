"""The per-program table (programs.py) and the classes it must fail closed on (issue #15, items 2-3).

* The table checks itself: a name registered twice is an error, no entry is hidden by another
  lookup stage, every registered program has a case in the corpus.
* Each class of "cannot be modelled" is asked, each class of "never" is denied, in several
  spellings; the neighbouring everyday commands stay allowed.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from llmos_tui.execution.policy import commands, programs
from llmos_tui.execution.policy.engine import PolicyEngine
from llmos_tui.execution.policy.paths import CLOUD_METADATA, PathContext
from llmos_tui.execution.policy.programs import Program, Registry, TableError
from llmos_tui.execution.policy.shell import Analyzer

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "tests" / "data" / "policy-corpus.json"
POLICY_DIR = REPO / "llmos_tui" / "execution" / "policy"


# ---- the registry ---------------------------------------------------------------------------
def test_registering_a_name_twice_is_an_error() -> None:
    reg = Registry()
    reg.add(Program(("less",), "reader", "a pager"))
    with pytest.raises(TableError, match="'less' is registered twice"):
        reg.add(Program(("more", "less"), "reader", "another pager"))
    assert reg.get("more") is None  # nothing of the rejected spec was registered
    reg.family("less.", "less")
    with pytest.raises(TableError, match="registered twice"):
        reg.family("less.", "less")


@pytest.mark.parametrize(
    "spec, needle",
    [
        (Program(("x",), "nonsense", "s"), "unknown kind"),
        (Program(("x",), "reader", "s", operands="sideways"), "unknown operand role"),
        (Program(("x",), "reader", "s", handler="noop"), "handler and operands='custom'"),
        (Program(("x",), "reader", "s", operands="custom"), "handler and operands='custom'"),
        (Program(("x",), "reader", "s", risk=("maybe", "r", "why")), "risk must be"),
        (Program(("x",), "reader", "s", network="sometimes"), "network must be"),
        (Program(("x",), "reader", ""), "summary is required"),
        (Program(("a/b",), "reader", "s"), "bad program names"),
    ],
)
def test_invalid_specs_are_errors(spec: Program, needle: str) -> None:
    with pytest.raises(TableError, match=re.escape(needle)):
        Registry().add(spec)


def test_shadowed_entries_are_reported() -> None:
    reg = Registry()
    reg.add(Program(("python",), "interpreter", "py", handler="noop", operands="custom"))
    reg.add(
        Program(("python3",), "reader", "a second python")
    )  # python3 is python's versioned name
    reg.add(Program(("mkfs",), "disk", "mkfs", handler="noop", operands="custom"))
    reg.add(Program(("mkfs.ext4",), "reader", "hidden by the family"))
    reg.family("mkfs.", "mkfs")
    problems = reg.shadowed()
    assert any("python3" in p for p in problems) and any("mkfs.ext4" in p for p in problems)


def test_the_table_is_consistent() -> None:
    reg = programs.registry()
    assert reg.shadowed() == []
    assert len(reg.programs) > 500
    for name in reg.names():
        assert reg.canonical(name) == reg.get(name).name, name
    # the lookup stages: exact, versioned, family; unknown words stay themselves
    assert reg.canonical("/usr/bin/python3.11") == "python"
    assert reg.canonical("pip-3") == "pip"
    assert reg.canonical("mkfs.vfat") == "mkfs"
    assert (
        reg.canonical("egrep") == "grep"
        and reg.canonical("gawk") == "awk"
        and reg.canonical("ncat") == "nc"
    )
    assert reg.canonical("frobnicate") == "frobnicate" and reg.lookup("frobnicate") is None
    # every handler named in the table exists in commands.py and every kind is documented
    for prog in reg.programs:
        assert prog.kind in programs.KINDS
        if prog.handler is not None:
            assert callable(commands.handler_named(prog.handler))


def _syntax_builtins(text: str) -> set[str]:
    """Builtins the grammar parses as syntax, not as commands (declare, unset, [ and [[)."""
    from llmos_tui.execution.policy.shell import parse

    data, root = parse(text)
    found: set[str] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if node.type in ("declaration_command", "unset_command", "test_command") and node.children:
            found.add(data[node.children[0].start_byte : node.children[0].end_byte].decode())
        stack.extend(node.children)
    return found


def _programs_in_corpus() -> set[str]:
    """Every program name the analyzer dispatches while checking the corpus's Bash commands."""
    from llmos_tui.execution.policy.bench import substitute

    seen: set[str] = set()
    original = commands.dispatch

    def record(an, c) -> None:
        seen.add(c.name)
        original(an, c)

    commands.dispatch = record
    try:
        for case in json.loads(CORPUS.read_text()):
            command = (
                case["input"].get("command")
                if case["tool"] == "Bash" and isinstance(case["input"], dict)
                else None
            )
            if not isinstance(command, str):
                continue
            an = Analyzer(
                PathContext.build("/tmp"),
                allow_network=bool(case.get("network")),
                deadline=time.monotonic() + 5,
            )
            text = substitute(command, "/tmp/cwd", "/root", "/tmp/outside")
            try:
                an.analyze(text)
                seen.update(_syntax_builtins(text))
            except Exception:  # noqa: BLE001 - parse errors are corpus cases too
                pass
    finally:
        commands.dispatch = original
    return seen


@pytest.mark.slow
def test_every_program_of_the_table_has_a_corpus_case() -> None:
    seen = _programs_in_corpus()
    missing = sorted(p.name for p in programs.registry().programs if p.name not in seen)
    assert missing == [], f"programs without a corpus case: {missing}"


# ---- the mistakes the issue listed -------------------------------------------------------
def test_listed_table_mistakes_are_fixed(check) -> None:
    reg = programs.registry()
    # less/more/most/zless: one spec each, the pager code (a +!cmd runs a shell)
    for name in ("less", "more", "most", "zless"):
        assert commands.handler_named(reg.get(name).handler) is commands.pager
        assert check(f"{name} '+!id' notes.txt").decision == "deny"
        assert check(f"{name} notes.txt").decision == "allow"
    # nix-shell reaches its branch: --run is checked as a command
    assert reg.get("nix-shell") is not None
    assert check("nix-shell -p hello --run 'rm -rf ~/x'").decision == "deny"
    assert check("nix-shell --run 'make test'").decision == "allow"
    # echo/printf/read have their own specs (no unreachable generic branches)
    assert reg.get("echo").handler == "trivial" and reg.get("read").handler == "read"
    assert not hasattr(commands, "generic") and not hasattr(commands, "HANDLERS")
    # the names the old shell.py tables held are in the table once, with the code that runs
    assert reg.get("firejail").kind == "wrapper" and reg.get("chattr").handler == "chmod"
    assert check("proxychains curl https://x.invalid").decision == "deny"  # was a plain wrapper


def test_cloud_metadata_has_one_definition(check) -> None:
    holders = [p.name for p in POLICY_DIR.glob("*.py") if "169\\.254" in p.read_text()]
    assert holders == ["paths.py"]
    spellings = [
        "169.254.169.254",
        "2852039166",
        "0xa9fea9fe",
        "0251.0376.0251.0376",
        "[::ffff:a9fe:a9fe]",
        "169.254.170.2",
        "metadata.google.internal",
        "fd00:ec2::254",
        "100.100.100.200",
    ]
    for host in spellings:
        assert CLOUD_METADATA.search(f"http://{host}/latest/meta-data/"), host
        assert check(f"curl http://{host}/", network=True).rule == "secrets.cloud_metadata", host
        code = f"python3 -c 'import urllib.request as u; u.urlopen(\"http://{host}/\")'"
        assert check(code, network=True).rule == "secrets.cloud_metadata", host
        assert (
            check(f"node -e 'fetch(\"http://{host}/\")'", network=True).rule
            == "secrets.cloud_metadata"
        ), host


# ---- item 3: what cannot be modelled is asked ------------------------------------------------
@pytest.mark.parametrize(
    "command",
    [
        # text executed as code
        "cat <<EOF | bash\nid\nEOF",
        "cat <<'X' | sh -s\nls\nX",
        "tee /dev/null <<E | zsh\nid\nE",
        "printf 'id\\n' | bash",
        "echo 'print(1)' | python3",
        "cat s.rb | ruby",
        "echo 'select 1;' | sqlite3 db.sqlite",
        "cat a.sql | psql",
        "cat <<EOF | base64 -d | sh\naWQK\nEOF",
        # -c/-e/--eval of unknown programs
        "mytool -c 'rm x'",
        "frob --eval '(x)'",
        "zzz -e 'code'",
        "qq --exec id",
        "runner --command 'ls'",
        # programs that take a command to run
        "ssh-agent bash -c id",
        "dbus-launch bash -c id",
        "rlwrap sh",
        "gdb -batch -ex run --args ./app",
        "expect -c 'spawn ls'",
        "sqlite3 :memory: '.shell id'",
        "sqlite3 x.db '.system ls'",
        "sqlite3 x.db \"select writefile('a', 'b')\"",
        "sqlite3 -cmd '.shell id' x.db",
        "psql -c '\\! id'",
        "psql -c \"COPY t TO PROGRAM 'id'\"",
        "mysql -e 'system id'",
        "make --eval='all:;id'",
        "make -E 'x:;id' x",
        "make -f /dev/stdin < m.mk",
        "make -f - <<EOF\nall:\n\tid\nEOF",
        "make -f <(echo all:)",
        "git grep --open-files-in-pager=id x",
        "git grep -O foo",
        "git diff --ext-diff",
        "git log -p --ext-diff",
        "git some-alias",
        "lldb ./app",
        "run-parts ./hooks",
        "hyperfine 'sleep 1'",
        "guile -c '(system \"id\")'",
        "sbcl --eval '(run-program \"/bin/id\" nil)'",
        "racket -e '(system \"id\")'",
        "clisp -x '(ext:shell \"id\")'",
        "cmake -E env FOO=1 ./app",
        "mlr -n put 'end{print system(\"id\")}'",
        # paths computed at run time
        "cat $(printf %s ~/.ssh/id_rsa)",
        'cat "$F"',
        "head -n 5 $(ls -d /srv/* | head -1)",
        'cp "$SRC" .',
        'less "$LOG"',
        "grep x $(cat files.txt)",
        "awk '{ while ((getline l < f) > 0) print l }' f=x list",
        # the current directory becomes unknown
        'cd "$(dirname x)" && cat notes.txt',
        "cd $(mktemp -d) && cat a",
        'pushd "$D" && head data.csv',
        "cd - && cat a",
        'cd "$X"; ./run.sh',
        'cd "$(git rev-parse --show-toplevel)" && python3 tool.py',
        "CDPATH=~ cd .ssh && cat id_rsa",
        "export CDPATH=/etc; cd ssl && ls",
        "CDPATH=.:~ cd .aws; cat credentials",
        "shopt -s cdable_vars",
        "declare -n r=HOME",
        "local -n r=PATH",
        "typeset -n v=HOME",
    ],
)
def test_what_cannot_be_modelled_is_asked(check, command: str) -> None:
    d = check(command)
    assert d.decision in ("ask", "deny"), (command, d.reason)
    assert d.decision == "ask" or d.rule.startswith(("secrets.", "exec.")), (command, d.rule)


def test_ask_is_asked_in_every_mode_and_blocked_by_the_bench(check) -> None:
    for mode in (None, "CURIOUS", "CAUTIOUS"):
        d = check("echo id | bash", latent_mode=mode)
        assert (
            d.decision == "ask"
            and d.rule == "exec.pipe_to_shell"
            and "cannot be checked" in d.reason
        )


# ---- item 3: what is never allowed is denied -------------------------------------------------
@pytest.mark.parametrize(
    "command, rule",
    [
        ("env", "secrets.env_dump"),
        ("env | sort", "secrets.env_dump"),
        ("env -0 > e.txt", "secrets.env_dump"),
        ("printenv", "secrets.env_dump"),
        ("printenv | grep -i key", "secrets.env_dump"),
        ("set", "secrets.env_dump"),
        ("set | grep AWS", "secrets.env_dump"),
        ("declare -p", "secrets.env_dump"),
        ("declare -xp", "secrets.env_dump"),
        ("declare", "secrets.env_dump"),
        ("typeset -p", "secrets.env_dump"),
        ("export -p", "secrets.env_dump"),
        ("export", "secrets.env_dump"),
        ("readonly -p", "secrets.env_dump"),
        ("declare -p AWS_SECRET_ACCESS_KEY", "secrets.env"),
        ("cat /proc/self/environ", "secrets.read"),
        ("cat /proc/thread-self/environ", "secrets.read"),
        ("cat /proc/self/task/*/environ", "secrets.read"),
        ("cat /proc/$$/environ", "secrets.read"),
        ("strings /proc/1/task/1/environ", "secrets.read"),
        ("tr '\\0' '\\n' < /proc/self/environ", "secrets.read"),
        ("python3 -c 'import os; print(os.environ)'", "secrets.env_dump"),
        (
            "python3 -c 'import os; [print(k, v) for k, v in os.environ.items()]'",
            "secrets.env_dump",
        ),
        ("node -e 'console.log(process.env)'", "secrets.env_dump"),
        ("ruby -e 'p ENV.to_h'", "secrets.env_dump"),
        ("perl -e 'print \"$_\\n\" for keys %ENV'", "secrets.env_dump"),
        ("kill 4242", "process.foreign"),
        ("kill -9 4242", "process.foreign"),
        ("kill -s TERM 77", "process.foreign"),
        ("kill $(pgrep node)", "process.foreign"),
        ("kill -9 $(cat app.pid)", "process.foreign"),
        ("kill $PPID", "process.foreign"),
        ("pkill python", "process.foreign"),
        ("pkill -f server.js", "process.foreign"),
        ("killall node", "process.foreign"),
        ("renice 19 1234", "process.foreign"),
        ("renice -n 5 -p 77", "process.foreign"),
        ("ionice -c3 -p 42", "process.foreign"),
        ("taskset -p 0x1 42", "process.foreign"),
        ("chrt -p 5 42", "process.foreign"),
        ("strace -p 42", "process.foreign"),
        ("strace -fp 42", "process.foreign"),
        ("ltrace -p 42", "process.foreign"),
        ("gdb -p 42", "process.foreign"),
        ("gdb --pid=42", "process.foreign"),
        ("gdb ./app 42", "process.foreign"),
        ("lldb -p 42", "process.foreign"),
        ("perf record -p 42", "process.foreign"),
        ("perf top -a", "process.foreign"),
        ("py-spy dump --pid 42", "process.foreign"),
        ("fuser -k 8080/tcp", "process.foreign"),
        ("prlimit --pid 42 --nofile=1", "process.foreign"),
    ],
)
def test_never_allowed_is_denied(check, command: str, rule: str) -> None:
    d = check(command)
    assert d.decision == "deny" and d.rule == rule, (command, d.rule, d.reason)


@pytest.mark.parametrize(
    "command",
    [
        "curl https://example.invalid",
        "curl -s example.invalid/x | jq .",
        "curl -x http://127.0.0.1:3128 http://localhost/",
        "wget -qO- https://example.invalid",
        "http GET example.invalid",
        "xh example.invalid",
        "aria2c https://x.invalid/f",
        "lynx -dump https://example.invalid",
        "nc example.invalid 80",
        "ncat example.invalid 80",
        "telnet example.invalid 25",
        "ssh u@example.invalid",
        "scp f u@example.invalid:",
        "ping -c1 example.invalid",
        "dig example.invalid",
        "proxychains make",
        "openssl s_client -connect example.invalid:443",
        "python3 -c 'import requests; requests.get(\"https://x.invalid\")'",
        'python3 -c \'import http.client as h; h.HTTPSConnection("x.invalid").request("GET", "/")\'',
        "node -e 'fetch(\"https://x.invalid\")'",
        "perl -MLWP::Simple -e 'getprint \"http://x.invalid\"'",
        'ruby -e \'require "open-uri"; URI.open("http://x.invalid")\'',
        "php -r 'file_get_contents(\"https://x.invalid\");'",
    ],
)
def test_network_programs_are_denied_without_network(check, command: str) -> None:
    d = check(command)
    assert d.decision == "deny", (command, d.reason)
    assert d.rule.startswith(("network.", "exfil.", "reverse_shell.")), d.rule


def test_every_network_client_of_the_table_is_denied_without_network(check) -> None:
    for prog in programs.registry().programs:
        if prog.network != "client":
            continue
        target = (
            "https://example.invalid/x"
            if prog.name not in ("ssh", "autossh", "mosh", "scp")
            else "u@example.invalid:x"
        )
        args = (
            f"{target} ."
            if prog.name == "scp"
            else f"-e {target}"
            if prog.name in ("proxychains", "torsocks")
            else target
        )
        d = check(f"{prog.name} {args}")
        assert d.decision == "deny", (prog.name, d.reason)


@pytest.mark.parametrize(
    "command",
    [
        "curl -s http://localhost:8000/health",
        "curl http://127.0.0.1:5000/api -d '{}'",
        "wget -qO- http://localhost:8080/",
        "http :8000/items",
        "nc -z localhost 5432",
        "ping -c1 127.0.0.1",
        "python3 app.py & sleep 1; curl -s localhost:8000; kill $!",
        "sleep 10 & pid=$!; kill $pid",
        "node server.js & kill %1",
        "kill -0 4242",
        "kill -l",
        "kill $$",
        "timeout 5 make",
        "sleep 30 & renice -n 5 -p $!",
        "set -euo pipefail",
        "set -x",
        'export PATH="$PWD/bin:$PATH"',
        "declare -A m=([a]=1)",
        "printenv HOME",
        "env FOO=1 make",
        "env -i PATH=/usr/bin make",
        "python3 -c 'import os; print(os.environ.get(\"HOME\"))'",
        'python3 -c \'import os, subprocess; subprocess.run(["ls"], env=dict(os.environ, X="1"))\'',
        "node -e 'console.log(process.env.NODE_ENV)'",
        "cd src && cat main.py",
        'cd "$PWD/src" && cat main.py',
        "sqlite3 app.db 'select count(*) from t'",
        "sqlite3 app.db .tables",
        "make -f build.mk",
        "gdb --version",
        "git diff --stat",
        "git grep -n TODO",
        "git lfs pull",
        "cat ../README.md",
        "grep -r TODO src",
    ],
)
def test_neighbouring_everyday_commands_stay_allowed(check, command: str) -> None:
    d = check(command)
    assert d.decision == "allow", (command, d.rule, d.reason)


def test_network_clients_are_allowed_with_network(check) -> None:
    for command in (
        "curl -fsSL -o data.json https://example.invalid/data.json",
        "wget https://example.invalid/a.zip",
        "ssh u@example.invalid ls",
        "python3 -c 'import requests; requests.get(\"https://x.invalid\")'",
    ):
        assert check(command, network=True).decision == "allow", command


# ---- reads of secret-named files outside the working directory ------------------------------
def test_globs_outside_the_working_directory(check, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.md").write_text("x")
    for command in (
        f"cat {other}/.e*",
        f"cat {other}/*.pem",
        f"head {other}/id_*",
        f"cat {other}/*",
        f"cat {other}/.*",
        f"cat {other}/../*/.env",
        f"less {other}/*.key",
        "cat ../*/.env",
    ):
        d = check(command)
        assert d.decision == "deny" and d.rule == "secrets.read", (command, d.reason)
    assert check(f"cat {other}/*.md").decision == "allow"
    (other / "api_tokens.json").write_text("{}")
    assert check(f"cat {other}/*.json").rule == "secrets.read"  # the file on disk is looked at
    assert check("cat docs/*.md src/.e*").decision == "allow"  # inside cwd, the project's own


def test_recursive_reads_outside_the_working_directory(check, cwd: Path, tmp_path: Path) -> None:
    app = tmp_path / "app"
    (app / "conf").mkdir(parents=True)
    (app / "README.md").write_text("x")
    clean = tmp_path / "clean"
    clean.mkdir()
    (clean / "a.txt").write_text("KEY=1")
    assert check(f"grep -r KEY {app}").decision == "allow"
    (app / "conf" / ".env").write_text("API_KEY=x")
    for command in (
        f"grep -r KEY {app}",
        f"grep -R KEY {app}/",
        f"rg KEY {app}",
        f"cp -r {app} copy",
        f"tar -czf a.tgz {app}",
        f"diff -r {app} {clean}",
        f"zip -r a.zip {app}",
    ):
        d = check(command)
        assert d.decision == "deny" and d.rule == "secrets.read", (command, d.reason)
    assert check(f"grep -r KEY {clean}").decision == "allow"
    engine = PolicyEngine()
    assert engine.check("Grep", {"pattern": "KEY", "path": str(app)}, cwd).decision == "deny"
    assert engine.check("Grep", {"pattern": "KEY", "path": str(clean)}, cwd).decision == "allow"


def test_recursive_reads_that_follow_links_out(check, cwd: Path, tmp_path: Path) -> None:
    (cwd / "notes.md").write_text("x")
    (cwd / "keys").symlink_to(Path.home() / ".ssh")
    assert check("grep -R CANARY .").rule == "secrets.read"
    assert check("rg -L CANARY").rule == "secrets.read"
    assert check("grep -r CANARY .").decision == "allow"  # -r does not follow links it meets
    assert check("rg CANARY").decision == "allow"


def test_a_huge_folder_outside_is_asked(cwd: Path, tmp_path: Path) -> None:
    big = tmp_path / "big"
    big.mkdir()
    for i in range(60):
        (big / f"f{i}.txt").write_text("x")
    ctx = PathContext.build(cwd)
    assert ctx.scan_secrets(str(big), follow_links=False, limit=50) == (None, True)
    assert ctx.scan_secrets(str(big), follow_links=False, limit=500) == (None, False)


# ---- the analyzer's parse fixes ---------------------------------------------------------------
def test_here_document_pipelines_and_lists(check, cwd: Path) -> None:
    assert check("cat <<EOF | bash\nid\nEOF").decision == "ask"
    assert check("cat <<EOF | tr a b | sh\nid\nEOF").decision == "ask"
    assert check("cat <<EOF > notes.md && bash notes.md\nrm -rf ~/x\nEOF").decision == "deny"
    assert check("cat <<EOF > notes.md\nhello\nEOF").decision == "allow"
    # a redirection after a list belongs to its last command, after the list's cd
    assert check("cd ~ && echo x > y").decision == "deny"
    assert check("cd src && echo x > y").decision == "allow"
    assert check("cd /etc || echo x > y").decision == "deny"
    # a word tree-sitter drops before a here-document is put back
    assert check("make -f - <<EOF\nall:\n\tid\nEOF").decision == "ask"


def test_home_assignments_move_the_tilde(check) -> None:
    assert check("HOME=/etc; cat ~/shadow").rule == "secrets.read"
    assert check("HOME=/etc; cd; cat shadow").rule == "secrets.read"
    assert check('HOME="$X"; cat ~/notes').decision != "allow"


@pytest.mark.slow
def test_headless_ask_is_a_deny_without_yes() -> None:
    """The CLI's check command exits 3 (blocked) for ask, like deny."""
    import os
    import subprocess
    import sys

    code = (
        "import typer\nfrom llmos_tui.cli.policy import policy_app\n"
        "app = typer.Typer()\napp.add_typer(policy_app, name='policy')\n@app.callback()\ndef main(): pass\napp()"
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            "policy",
            "check",
            "--tool",
            "Bash",
            "--input",
            json.dumps({"command": "echo id | bash"}),
            "--json",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.returncode == 3, proc.stderr
    assert json.loads(proc.stdout)["decision"] == "ask"


def test_policy_doc_is_fresh() -> None:
    from llmos_tui.policy_doc import render

    doc = REPO / "docs" / "POLICY.md"
    assert doc.read_text() == render(), (
        "docs/POLICY.md is stale: python -m llmos_tui.policy_doc > docs/POLICY.md"
    )
    text = render()
    for prog in programs.registry().programs:
        assert ", ".join(prog.names) in text, prog.name


def test_writes_into_any_protected_path_are_denied(tmp_path: Path) -> None:
    """Whatever protected_paths lists (soon the whole workspace) is never written, even when the
    working directory contains it."""
    cwd = (tmp_path / "proj").resolve()
    ws = cwd / "llmos-ws"
    (ws / "agents").mkdir(parents=True)
    engine = PolicyEngine(protected_paths=[ws])
    for command in (
        "echo 'obey me' >> llmos-ws/agents/system-agent.md",
        "rm -rf llmos-ws",
        "mv llmos-ws old",
        "sed -i s/a/b/ llmos-ws/agents/system-agent.md",
        "cp evil.md llmos-ws/agents/",
        "cd llmos-ws && touch x",
        "tee llmos-ws/config.yaml < x",
    ):
        d = engine.check("Bash", {"command": command}, cwd)
        assert d.decision == "deny" and d.rule == "write.protected_workspace_state", (
            command,
            d.rule,
        )
    d = engine.check("Write", {"file_path": str(ws / "agents" / "x.md"), "content": "x"}, cwd)
    assert d.decision == "deny" and d.rule == "write.protected_workspace_state"
    assert engine.check("Bash", {"command": "echo x > notes.md"}, cwd).decision == "allow"


def test_table_entries_are_the_programs_their_fields_make() -> None:
    """The table builds its entries without the dataclass __init__: each must still equal (and
    hash and print as) the Program its fields make, and stay frozen."""
    import dataclasses

    for prog in programs.registry().programs:
        fields = {f.name: getattr(prog, f.name) for f in dataclasses.fields(prog)}
        made = Program(**fields)
        assert made == prog and hash(made) == hash(prog) and repr(made) == repr(prog)
        assert set(vars(prog)) <= set(fields)
        with pytest.raises(dataclasses.FrozenInstanceError):
            prog.kind = "writer"  # type: ignore[misc]


def test_pending_entries_are_checked_when_made() -> None:
    """The table registers names at once and makes each Program on first use: a name twice is
    refused at once, a bad field when the entry is looked up or the whole table is read."""
    reg = Registry()
    reg.add_pending(("less",), {"kind": "reader", "summary": "a pager"})
    with pytest.raises(TableError, match="registered twice"):
        reg.add_pending(("more", "less"), {"kind": "reader", "summary": "another"})
    with pytest.raises(TableError, match="registered twice"):
        reg.add(Program(("less",), "reader", "a third"))
    reg.add_pending(("odd",), {"kind": "nonsense", "summary": "s"})
    assert reg.canonical("/usr/bin/odd") == "odd"  # names resolve without making the entry
    assert reg.lookup("less") == Program(("less",), "reader", "a pager")
    with pytest.raises(TableError, match="unknown kind"):
        reg.lookup("odd")
    with pytest.raises(TableError, match="unknown kind"):
        reg.programs  # noqa: B018
    built = programs.Registry()
    programs._build(built)
    assert built.lookup("python3") is built.get("python") is not None
    assert built.programs[0].names[0] == ":" and len(built.programs) == len(
        programs.registry().programs
    )
