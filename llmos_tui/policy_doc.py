"""Render docs/POLICY.md from the per-program table (`python -m llmos_tui.policy_doc > docs/POLICY.md`).

The page is the table in ``execution/policy/programs.py`` as text, with the rules that apply to
every program; a test fails when the checked-in file differs from ``render()``.
"""

from __future__ import annotations

from .execution.policy.programs import KINDS, OPERAND_ROLES, describe

_INTRO = """\
# Shell policy: the program table

Generated from `llmos_tui/execution/policy/programs.py` by
`python -m llmos_tui.policy_doc > docs/POLICY.md` (a test fails when this file is stale).

Every Bash command is parsed (tree-sitter-bash) and each simple command in it — in pipelines,
lists, subshells, `$(…)`, here-documents, `bash -c`, `eval`, wrappers and interpreter one-liners —
is looked up in this table by its name (`/usr/bin/python3.11` → `python`, `mkfs.ext4` → `mkfs`) and
checked against its spec. A decision is **allow**, **ask** (the user confirms; a headless run
without `--yes` treats it as a deny) or **deny**; *risky* findings are allowed but asked in the
CAUTIOUS and RECOVERY moods.

## Rules for every program

* **Paths.** Paths are resolved like the kernel would (`~`, `..`, symlinks). Writes and deletes
  stay inside the working directory; the workspace's protected paths, secrets, persistence
  locations (shell rc files, git hooks, cron, systemd…) and devices are never written. Secret
  locations (`~/.ssh`, `~/.aws`, `/etc/shadow`, `/proc/*/environ`, secret-named files such as
  `.env` or `*.pem` outside the working directory…) are never read.
* **Fail closed: ask.** What cannot be modelled is asked: text executed as code that cannot be
  read (piped into a shell, an interpreter or a database client), code handed to a program the
  table does not know (`-c`, `-e`, `--eval`…), programs that run commands in ways not followed
  (kind `runs-command`), a file read whose path is computed at run time (`cat "$(…)"`), any
  relative path once the current directory is unknown (`cd "$(…)"`, `CDPATH`, `cdable_vars`),
  namerefs (`declare -n`), `${!name}`, and folders outside the working directory too large to
  check for secrets.
* **Never: deny.** Dumps of the environment (`env`, `printenv`, `set`, `declare -p`,
  `export -p`, `os.environ` printed); signals, priority changes and tracing aimed at processes
  the command did not start (`kill PID`, `pkill`, `renice`, `strace -p`, `gdb -p`; `$!`, `$$`
  and `%jobs` are its own); network clients when `execution.allow_network` is false (except to
  this machine); globs and recursive reads that reach secret-named files outside the working
  directory (`cat dir/.e*`, `grep -r KEY dir`, the Grep tool on such a folder).
* **Unknown programs** (not in this table): their arguments are checked as possible files; code
  options make the call ask.

## Kinds

| kind | meaning |
|---|---|
"""


def render() -> str:
    lines = [_INTRO.rstrip("\n")]
    for kind, meaning in KINDS.items():
        lines.append(f"| `{kind}` | {meaning} |")
    lines += ["", "## Operand roles", "", "| role | meaning |", "|---|---|"]
    for role, meaning in OPERAND_ROLES.items():
        lines.append(f"| `{role}` | {meaning} |")
    rows = describe()
    lines += [
        "",
        f"## Programs ({len(rows)})",
        "",
        "`code: NAME` means the program's handler in `execution/policy/commands.py` decides about its",
        "operands; *value options* take an argument; *reads*/*writes* name options whose value is a file;",
        "*runs* name options that hand it code (asked).",
    ]
    for kind in KINDS:
        group = [r for r in rows if r["kind"] == kind]
        if not group:
            continue
        lines += [
            "",
            f"### {kind}",
            "",
            "| names | operands | value options | reads / writes / runs | network | risk | summary |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in group:
            files = " / ".join(x or "–" for x in (r["reads"], r["writes"], r["runs"]))
            files = "" if files == "– / – / –" else files
            cells = [
                r["names"],
                r["operands"],
                r["value_options"],
                files,
                r["network"],
                r["risk"],
                r["summary"],
            ]
            lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    text = text.replace("|", "\\|")
    return f"`{text}`" if text and text[0] in "-[" and " " not in text.strip("`") else text


if __name__ == "__main__":
    print(render(), end="")
