"""Token savings: a 100-goal workload through the real CLI and the scripted model server,
LEARNER-only versus AUTO.

    .venv/bin/python bench/bench_savings.py [--limit N] [--json] [--keep DIR]

The workload (``workload()``) has 20 base tasks. Each first occurrence is novel; then come exact
repeats, paraphrases and parameter variants of those tasks (70 in all), and 10 near misses
(goals that look like a learned one but ask for something else: delete instead of create,
another language, another word that changes the result). Every goal carries a label: the task
it really is, with its parameters. The order is fixed (seeded) and each repeat or near miss comes
after the task it resembles was learned.

The scripted model plays a competent model: for each request it reads the goal (the user
message) and the working directory (the CLI's environment block) and answers with that task's
tool calls for *those* parameters, one step per turn, then a short text. So LEARNER and MIXED runs
do the right thing, and a replay does the right thing only if the matcher picked the right trace
and substituted the right values.

Each goal runs as ``llmos --headless run GOAL --json --cwd NEWDIR --budget 1000`` in a fresh
directory holding the task's input files; once with ``--mode learner`` for every goal (the
baseline, its own workspace) and once in AUTO (another workspace). Measured:

* model tokens: input + output tokens the server reported for main requests (its deterministic
  count), per run and in total; saved = 1 - AUTO / LEARNER-only;
* correctness: after each run the task's check runs on the directory (files and contents) and on
  the JSON (the calls made); a *wrong replay* is a FOLLOWER or CRYSTALLIZED run whose result fails
  that check or whose replayed trace was recorded for another task;
* the mode of each run, LLM calls, wall time.

Targets (issue 5): >= 90 % tokens saved on a workload that is 70 % repeats or variants, zero
wrong replays.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from llmos_tui.devtools.scripted_server import ScriptedServer, text_turn, tool_turn  # noqa: E402

LLMOS = str(Path(sys.executable).parent / "llmos")
REPLAY_MODES = ("FOLLOWER", "CRYSTALLIZED")

Step = list[tuple[str, dict[str, Any]]]


@dataclass
class Task:
    label: str
    plan: Callable[[dict[str, str], Path], list[Step]]
    check: Callable[[dict[str, str], Path, dict[str, Any]], bool]
    inputs: Callable[[dict[str, str], Path], None] = lambda p, cwd: None
    # What a competent model does when the run does not offer a tool the plan uses (the agent
    # chosen for the goal has no Bash, say): the same result with the tools it has, if possible.
    alt: Callable[[dict[str, str], Path], list[Step]] | None = None


@dataclass
class Goal:
    text: str
    task: str
    params: dict[str, str]
    kind: str  # novel | repeat | paraphrase | variant | near_miss
    after: str | None = None  # the task that must have been learned before (repeats, near misses)


def _write(cwd: Path, name: str, content: str) -> tuple[str, dict[str, Any]]:
    return ("Write", {"file_path": str(cwd / name), "content": content})


def _bash(command: str) -> tuple[str, dict[str, Any]]:
    return ("Bash", {"command": command})


def _has(cwd: Path, name: str, text: str | None = None) -> bool:
    path = cwd / name
    if not path.exists():
        return False
    return text is None or text in path.read_text(errors="replace")


def _ran(result: dict[str, Any], needle: str) -> bool:
    """A call of the run mentions ``needle`` (the parameter it had to use)."""
    return any(needle in json.dumps(c.get("input", {})) for c in result.get("tool_calls") or [])


CALC = "import sys\n\nprint(eval(sys.argv[1]) if len(sys.argv) > 1 else 'calculator ready')\n"
DATA = "name,age\nada,36\nalan,41\ngrace,85\nlinus,28\nguido,67\nken,80\n"


def tasks() -> dict[str, Task]:
    t: dict[str, Task] = {}

    def add(label: str, plan, check, inputs=None, alt=None) -> None:
        t[label] = Task(label, plan, check, inputs or (lambda p, cwd: None), alt)

    def read(name_key: str):
        return lambda p, cwd: [[("Read", {"file_path": str(cwd / p.get(name_key, name_key))})]]

    add(
        "calc",
        lambda p, cwd: [[_write(cwd, p["file"], CALC)], [_bash(f"python3 {p['file']} 2+3")]],
        lambda p, cwd, r: _has(cwd, p["file"], "eval"),
        alt=lambda p, cwd: [[_write(cwd, p["file"], CALC)]],
    )
    add(
        "calc_rust",
        lambda p, cwd: [[_write(cwd, p["file"], 'fn main() { println!("calculator"); }\n')]],
        lambda p, cwd, r: _has(cwd, p["file"], "fn main"),
    )
    add(
        "calc_delete",
        lambda p, cwd: [[_bash(f"rm {p['file']}")]],
        lambda p, cwd, r: not (cwd / p["file"]).exists(),
        lambda p, cwd: (cwd / p["file"]).write_text(CALC),
    )
    add(
        "greet",
        lambda p, cwd: [[_write(cwd, p["file"], p["text"] + "\n")]],
        lambda p, cwd, r: _has(cwd, p["file"], p["text"]),
    )
    add(
        "count_lines",
        lambda p, cwd: [[_bash(f"wc -l {p['file']}")]],
        lambda p, cwd, r: _ran(r, f"wc -l {p['file']}") or _ran(r, str(cwd / p["file"])),
        lambda p, cwd: (cwd / p["file"]).write_text(DATA),
        alt=read("file"),
    )
    add(
        "count_words",
        lambda p, cwd: [[_bash(f"wc -w {p['file']}")]],
        lambda p, cwd, r: _ran(r, f"wc -w {p['file']}") or _ran(r, str(cwd / p["file"])),
        lambda p, cwd: (cwd / p["file"]).write_text(DATA),
        alt=read("file"),
    )
    add(
        "count_chars",
        lambda p, cwd: [[_bash(f"wc -m {p['file']}")]],
        lambda p, cwd, r: _ran(r, f"wc -m {p['file']}") or _ran(r, str(cwd / p["file"])),
        lambda p, cwd: (cwd / p["file"]).write_text(DATA),
        alt=read("file"),
    )
    add(
        "mkdir",
        lambda p, cwd: [[_bash(f"mkdir -p {p['dir']}")]],
        lambda p, cwd, r: (cwd / p["dir"]).is_dir(),
        alt=lambda p, cwd: [[_write(cwd, p["dir"] + "/.gitkeep", "")]],
    )
    add(
        "rmdir",
        lambda p, cwd: [[_bash(f"rm -r {p['dir']}")]],
        lambda p, cwd, r: not (cwd / p["dir"]).exists(),
        lambda p, cwd: (cwd / p["dir"]).mkdir(),
    )
    add(
        "readme",
        lambda p, cwd: [
            [_write(cwd, "README.md", "# Project\n\nWhat it does and how to run it.\n")]
        ],
        lambda p, cwd, r: _has(cwd, "README.md", "# Project"),
    )
    add("no_readme", lambda p, cwd: [], lambda p, cwd, r: not (cwd / "README.md").exists())
    add(
        "gitignore_py",
        lambda p, cwd: [[_write(cwd, ".gitignore", "__pycache__/\n*.pyc\n.venv/\n")]],
        lambda p, cwd, r: _has(cwd, ".gitignore", "__pycache__"),
    )
    add(
        "gitignore_node",
        lambda p, cwd: [[_write(cwd, ".gitignore", "node_modules/\ndist/\n")]],
        lambda p, cwd, r: _has(cwd, ".gitignore", "node_modules"),
    )
    add(
        "csv_to_json",
        lambda p, cwd: [
            [
                _bash(
                    f"python3 -c \"import csv, json; json.dump(list(csv.DictReader(open('{p['src']}'))), open('{p['dst']}', 'w'))\""
                )
            ]
        ],
        lambda p, cwd, r: _has(cwd, p["dst"], "ada"),
        lambda p, cwd: (cwd / p["src"]).write_text(DATA),
        alt=lambda p, cwd: [
            [("Read", {"file_path": str(cwd / p["src"])})],
            [
                _write(
                    cwd,
                    p["dst"],
                    json.dumps(
                        [
                            dict(zip(["name", "age"], line.split(","), strict=False))
                            for line in DATA.splitlines()[1:]
                        ]
                    ),
                )
            ],
        ],
    )
    add(
        "sort_names",
        lambda p, cwd: [[_bash("sort names.txt > sorted.txt")]],
        lambda p, cwd, r: (
            (cwd / "sorted.txt").exists() and (cwd / "sorted.txt").read_text().startswith("ada")
        ),
        lambda p, cwd: (cwd / "names.txt").write_text("linus\nada\nguido\n"),
        alt=lambda p, cwd: [
            [("Read", {"file_path": str(cwd / "names.txt")})],
            [_write(cwd, "sorted.txt", "ada\nguido\nlinus\n")],
        ],
    )
    add(
        "sort_reverse",
        lambda p, cwd: [[_bash("sort -r names.txt > sorted.txt")]],
        lambda p, cwd, r: (
            (cwd / "sorted.txt").exists() and (cwd / "sorted.txt").read_text().startswith("linus")
        ),
        lambda p, cwd: (cwd / "names.txt").write_text("linus\nada\nguido\n"),
        alt=lambda p, cwd: [
            [("Read", {"file_path": str(cwd / "names.txt")})],
            [_write(cwd, "sorted.txt", "linus\nguido\nada\n")],
        ],
    )
    add(
        "shell_script",
        lambda p, cwd: [
            [_write(cwd, "hello.sh", "#!/bin/sh\necho hello\n")],
            [_bash("chmod +x hello.sh")],
        ],
        lambda p, cwd, r: _has(cwd, "hello.sh", "echo hello"),
        alt=lambda p, cwd: [[_write(cwd, "hello.sh", "#!/bin/sh\necho hello\n")]],
    )
    add(
        "requirements",
        lambda p, cwd: [[_write(cwd, "requirements.txt", "requests\nflask\n")]],
        lambda p, cwd, r: _has(cwd, "requirements.txt", "flask"),
    )
    add(
        "haiku",
        lambda p, cwd: [
            [
                _write(
                    cwd,
                    p["file"],
                    f"{p['season']} leaves are falling\n"
                    "quiet light on the water\nthe year breathes out slow\n",
                )
            ]
        ],
        lambda p, cwd, r: _has(cwd, p["file"], p["season"]),
    )
    add(
        "config_json",
        lambda p, cwd: [[_write(cwd, p["file"], '{"debug": true}\n')]],
        lambda p, cwd, r: _has(cwd, p["file"], '"debug": true'),
    )
    add(
        "html",
        lambda p, cwd: [
            [_write(cwd, p["file"], f"<html><head><title>{p['title']}</title></head></html>\n")]
        ],
        lambda p, cwd, r: _has(cwd, p["file"], f"<title>{p['title']}</title>"),
    )
    add(
        "date_script",
        lambda p, cwd: [
            [_write(cwd, "date.py", "import datetime\nprint(datetime.date.today())\n")],
            [_bash("python3 date.py")],
        ],
        lambda p, cwd, r: _has(cwd, "date.py", "datetime"),
        alt=lambda p, cwd: [
            [_write(cwd, "date.py", "import datetime\nprint(datetime.date.today())\n")]
        ],
    )
    add(
        "makefile",
        lambda p, cwd: [[_write(cwd, "Makefile", f"{p['target']}:\n\t@echo {p['target']}\n")]],
        lambda p, cwd, r: _has(cwd, "Makefile", f"{p['target']}:"),
    )
    add(
        "todo_grep",
        lambda p, cwd: [[("Grep", {"pattern": "TODO", "path": str(cwd / "src")})]],
        lambda p, cwd, r: _ran(r, '"pattern": "TODO"') or _ran(r, str(cwd / "src")),
        lambda p, cwd: (
            (cwd / "src").mkdir(),
            (cwd / "src" / "a.py").write_text("x = 1  # TODO: tests\n"),
        ),
        alt=lambda p, cwd: [
            [("Glob", {"pattern": "src/*.py"})],
            [("Read", {"file_path": str(cwd / "src" / "a.py")})],
        ],
    )
    add(
        "gzip",
        lambda p, cwd: [[_bash("gzip -k logs.txt")]],
        lambda p, cwd, r: (cwd / "logs.txt.gz").exists(),
        lambda p, cwd: (cwd / "logs.txt").write_text("log line\n" * 50),
    )
    add(
        "gunzip",
        lambda p, cwd: [[_bash("gunzip -k logs.txt.gz")]],
        lambda p, cwd, r: (cwd / "logs.txt").exists(),
        lambda p, cwd: subprocess.run(
            ["sh", "-c", "printf 'log line\\n' > logs.txt && gzip logs.txt"], cwd=cwd, check=True
        ),
    )
    # Claude Code refuses an Edit of a file the session has not read: read it first.
    add(
        "replace",
        lambda p, cwd: [
            [("Read", {"file_path": str(cwd / "config.ini")})],
            [
                (
                    "Edit",
                    {
                        "file_path": str(cwd / "config.ini"),
                        "old_string": "foo",
                        "new_string": p["new"],
                    },
                )
            ],
        ],
        lambda p, cwd, r: _has(cwd, "config.ini", f"name = {p['new']}"),
        lambda p, cwd: (cwd / "config.ini").write_text("[app]\nname = foo\n"),
        alt=lambda p, cwd: [[_bash(f"sed -i 's/foo/{p['new']}/' config.ini")]],
    )
    add(
        "head",
        lambda p, cwd: [[_bash(f"head -n {p['n']} data.csv")]],
        lambda p, cwd, r: _ran(r, f"head -n {p['n']} data.csv") or _ran(r, '"limit": ' + p["n"]),
        lambda p, cwd: (cwd / "data.csv").write_text(DATA),
        alt=lambda p, cwd: [[("Read", {"file_path": str(cwd / "data.csv"), "limit": int(p["n"])})]],
    )
    return t


def workload(seed: int = 11) -> list[Goal]:
    """100 goals: 20 novel base tasks, 70 repeats/paraphrases/variants, 10 near misses."""
    G = Goal
    base = [
        G("Create a Python calculator in calc.py", "calc", {"file": "calc.py"}, "novel"),
        G(
            "Create a file named hello.txt containing 'Hello, world'",
            "greet",
            {"file": "hello.txt", "text": "Hello, world"},
            "novel",
        ),
        G("Count the lines in data.csv", "count_lines", {"file": "data.csv"}, "novel"),
        G("Make a directory called build", "mkdir", {"dir": "build"}, "novel"),
        G("Write a README.md for the project", "readme", {}, "novel"),
        G("Create a .gitignore for a Python project", "gitignore_py", {}, "novel"),
        G(
            "Convert data.csv to JSON in data.json",
            "csv_to_json",
            {"src": "data.csv", "dst": "data.json"},
            "novel",
        ),
        G("Sort the names in names.txt alphabetically into sorted.txt", "sort_names", {}, "novel"),
        G("Create a shell script hello.sh that prints hello", "shell_script", {}, "novel"),
        G("Create a requirements.txt listing requests, flask", "requirements", {}, "novel"),
        G(
            "Write a haiku about autumn to haiku.txt",
            "haiku",
            {"file": "haiku.txt", "season": "autumn"},
            "novel",
        ),
        G(
            "Create a JSON config file config.json with debug enabled",
            "config_json",
            {"file": "config.json"},
            "novel",
        ),
        G("Count the words in essay.txt", "count_words", {"file": "essay.txt"}, "novel"),
        G(
            "Create an HTML page index.html titled 'Welcome'",
            "html",
            {"file": "index.html", "title": "Welcome"},
            "novel",
        ),
        G("Write a Python script date.py that prints today's date", "date_script", {}, "novel"),
        G("Create a Makefile with a test target", "makefile", {"target": "test"}, "novel"),
        G("Find all TODO comments in the src folder", "todo_grep", {}, "novel"),
        G("Compress logs.txt into logs.txt.gz", "gzip", {}, "novel"),
        G("Replace foo with bar in config.ini", "replace", {"new": "bar"}, "novel"),
        G("Show the first 5 lines of data.csv", "head", {"n": "5"}, "novel"),
    ]
    others = [
        # paraphrases
        G("Build a calculator in Python in calc.py", "calc", {"file": "calc.py"}, "paraphrase"),
        G(
            "Write a Python calculator program in calc.py",
            "calc",
            {"file": "calc.py"},
            "paraphrase",
        ),
        G("How many lines are in data.csv?", "count_lines", {"file": "data.csv"}, "paraphrase"),
        G("Create a directory called build", "mkdir", {"dir": "build"}, "paraphrase"),
        G("Create a README.md for this project", "readme", {}, "paraphrase"),
        G("Make a .gitignore for a Python project", "gitignore_py", {}, "paraphrase"),
        G("Sort names.txt alphabetically into sorted.txt", "sort_names", {}, "paraphrase"),
        G("Write a shell script hello.sh that prints hello", "shell_script", {}, "paraphrase"),
        G("Write a requirements.txt listing requests, flask", "requirements", {}, "paraphrase"),
        G(
            "Create a JSON config file config.json with debug turned on",
            "config_json",
            {"file": "config.json"},
            "paraphrase",
        ),
        G(
            "Create a Python script date.py that prints today's date",
            "date_script",
            {},
            "paraphrase",
        ),
        G("Write a Makefile with a test target", "makefile", {"target": "test"}, "paraphrase"),
        G("Search the src folder for TODO comments", "todo_grep", {}, "paraphrase"),
        G("Compress the file logs.txt into logs.txt.gz", "gzip", {}, "paraphrase"),
        G("Display the first 5 lines of data.csv", "head", {"n": "5"}, "paraphrase"),
        # parameter variants
        G(
            "Create a Python calculator in calculator.py",
            "calc",
            {"file": "calculator.py"},
            "variant",
        ),
        G("Create a Python calculator in mycalc.py", "calc", {"file": "mycalc.py"}, "variant"),
        G(
            "Create a file named notes.txt containing 'Hello, world'",
            "greet",
            {"file": "notes.txt", "text": "Hello, world"},
            "variant",
        ),
        G(
            "Create a file named todo.txt containing 'Hello, world'",
            "greet",
            {"file": "todo.txt", "text": "Hello, world"},
            "variant",
        ),
        G(
            "Create a file named hello.txt containing 'Good morning'",
            "greet",
            {"file": "hello.txt", "text": "Good morning"},
            "variant",
        ),
        G("Count the lines in other.csv", "count_lines", {"file": "other.csv"}, "variant"),
        G("Count the lines in log.txt", "count_lines", {"file": "log.txt"}, "variant"),
        G("Make a directory called dist", "mkdir", {"dir": "dist"}, "variant"),
        G("Make a directory called out", "mkdir", {"dir": "out"}, "variant"),
        G(
            "Convert users.csv to JSON in users.json",
            "csv_to_json",
            {"src": "users.csv", "dst": "users.json"},
            "variant",
        ),
        G(
            "Write a haiku about autumn to poem.txt",
            "haiku",
            {"file": "poem.txt", "season": "autumn"},
            "variant",
        ),
        G(
            "Create a JSON config file settings.json with debug enabled",
            "config_json",
            {"file": "settings.json"},
            "variant",
        ),
        G("Count the words in data.csv", "count_words", {"file": "data.csv"}, "variant"),
        G(
            "Create an HTML page about.html titled 'About us'",
            "html",
            {"file": "about.html", "title": "About us"},
            "variant",
        ),
        G(
            "Create an HTML page index.html titled 'Home'",
            "html",
            {"file": "index.html", "title": "Home"},
            "variant",
        ),
        G("Show the first 10 lines of data.csv", "head", {"n": "10"}, "variant"),
        G("Replace foo with baz in config.ini", "replace", {"new": "baz"}, "variant"),
    ]
    near = [
        G(
            "Delete the Python calculator in calc.py",
            "calc_delete",
            {"file": "calc.py"},
            "near_miss",
            "calc",
        ),
        G(
            "Create a Rust calculator in calc.rs",
            "calc_rust",
            {"file": "calc.rs"},
            "near_miss",
            "calc",
        ),
        G(
            "Count the characters in data.csv",
            "count_chars",
            {"file": "data.csv"},
            "near_miss",
            "count_lines",
        ),
        G("Remove the directory called build", "rmdir", {"dir": "build"}, "near_miss", "mkdir"),
        G("Do not create a README.md for the project", "no_readme", {}, "near_miss", "readme"),
        G(
            "Create a .gitignore for a Node project",
            "gitignore_node",
            {},
            "near_miss",
            "gitignore_py",
        ),
        G(
            "Sort the names in names.txt in reverse order into sorted.txt",
            "sort_reverse",
            {},
            "near_miss",
            "sort_names",
        ),
        G(
            "Write a haiku about spring to haiku.txt",
            "haiku",
            {"file": "haiku.txt", "season": "spring"},
            "near_miss",
            "haiku",
        ),
        G(
            "Create a Makefile with a build target",
            "makefile",
            {"target": "build"},
            "near_miss",
            "makefile",
        ),
        G("Decompress logs.txt.gz", "gunzip", {}, "near_miss", "gzip"),
    ]
    for g in others:
        g.after = g.task
    repeats_needed = 70 - len(others)
    rnd = random.Random(seed)
    repeats = [
        Goal(b.text, b.task, dict(b.params), "repeat", b.task)
        for b in rnd.choices(base, k=repeats_needed)
    ]
    pool = base + others + repeats + near
    order: list[Goal] = []
    learned: set[str] = set()
    while pool:
        ready = [g for g in pool if g.after is None or g.after in learned]
        pick = rnd.choice(ready)
        pool.remove(pick)
        order.append(pick)
        if pick.kind == "novel":
            learned.add(pick.task)
    return order


# ---- the scripted model ----------------------------------------------------------------------------


class Model:
    """Answers each request with the tool calls of the task the request's goal is."""

    def __init__(self, goals: list[Goal], table: dict[str, Task]) -> None:
        self.by_text = {g.text: g for g in goals}
        self.table = table

    def __call__(self, body: dict[str, Any]) -> Any:
        messages = body.get("messages") or []
        goal_text, cwd = None, None
        for m in messages:
            content = m.get("content")
            blocks = (
                [{"type": "text", "text": content}] if isinstance(content, str) else (content or [])
            )
            for b in blocks:
                text = b.get("text") if isinstance(b, dict) else None
                if not isinstance(text, str):
                    continue
                found = re.search(r"Primary working directory: (\S+)", text)
                if found and cwd is None:
                    cwd = found.group(1)
                if m.get("role") == "user" and goal_text is None and text.strip() in self.by_text:
                    goal_text = text.strip()
        if goal_text is None or cwd is None:
            if os.environ.get("SAVINGS_DEBUG"):
                print("UNMATCHED", json.dumps(messages)[:3000], file=sys.stderr)
            return text_turn("I could not tell what to do.")
        goal = self.by_text[goal_text]
        task = self.table[goal.task]
        offered = {t.get("name") for t in body.get("tools") or [] if isinstance(t, dict)}
        steps = task.plan(goal.params, Path(cwd))
        if any(name not in offered for step in steps for name, _ in step):
            steps = task.alt(goal.params, Path(cwd)) if task.alt else []
            if any(name not in offered for step in steps for name, _ in step):
                steps = []  # it cannot be done with the tools this run has: say so
                if not any(m.get("role") == "assistant" for m in messages):
                    return text_turn(
                        f"I cannot do this with the tools I have ({', '.join(sorted(offered))})."
                    )
        done = sum(1 for m in messages if m.get("role") == "assistant")
        if done < len(steps):
            return tool_turn([(name, inp) for name, inp in steps[done]])
        return text_turn(f"Done: {goal_text}.")


# ---- running ---------------------------------------------------------------------------------------


@dataclass
class Run:
    goal: str
    task: str
    kind: str
    mode: str
    success: bool
    correct: bool
    tokens: int
    llm_calls: int
    wall_s: float
    trace_id: str | None
    replayed_task: str | None = None
    wrong_replay: bool = False
    exit_code: int = 0
    error: str | None = None


def run_workload(
    goals: list[Goal],
    table: dict[str, Task],
    base: Path,
    label: str,
    server: ScriptedServer,
    env: dict[str, str],
    mode: str,
    log: Callable[[str], None],
) -> list[Run]:
    ws = base / f"ws-{label}"
    runs: list[Run] = []
    trace_task: dict[str, str] = {}
    for n, goal in enumerate(goals):
        cwd = (base / f"{label}-{n:03d}").resolve()
        cwd.mkdir()
        table[goal.task].inputs(goal.params, cwd)
        before = server.total_input_tokens + server.total_output_tokens
        argv = [
            LLMOS,
            "--headless",
            "run",
            goal.text,
            "--json",
            "--workspace",
            str(ws),
            "--cwd",
            str(cwd),
            "--budget",
            "1000",
        ]
        if mode != "auto":
            argv += ["--mode", mode]
        start = time.perf_counter()
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300)
        wall = time.perf_counter() - start
        try:
            result = json.loads(proc.stdout)
        except ValueError:
            raise SystemExit(
                f"{goal.text!r}: no JSON on stdout (exit {proc.returncode}): {proc.stderr[-2000:]}"
            ) from None
        tokens = server.total_input_tokens + server.total_output_tokens - before
        correct = bool(result.get("success")) and table[goal.task].check(goal.params, cwd, result)
        run = Run(
            goal.text,
            goal.task,
            goal.kind,
            result["mode"],
            bool(result["success"]),
            correct,
            tokens,
            int(result.get("llm_calls") or 0),
            wall,
            result.get("trace_id"),
            exit_code=proc.returncode,
            error=result.get("error"),
        )
        if run.mode in REPLAY_MODES:
            run.replayed_task = trace_task.get(run.trace_id or "")
            run.wrong_replay = not correct or (
                run.replayed_task is not None and run.replayed_task != goal.task
            )
        elif run.trace_id and run.success:
            trace_task[run.trace_id] = goal.task  # the trace this run recorded
        runs.append(run)
        if not correct and os.environ.get("SAVINGS_DEBUG"):
            log(
                f"DEBUG {goal.text}: exit {proc.returncode} {result.get('error')} calls={result.get('tool_calls')} "
                f"out={str(result.get('output'))[:300]} stderr={proc.stderr[-800:]}"
            )
        log(
            f"[{label} {n + 1:3d}/{len(goals)}] {run.mode:12s} {'ok ' if correct else 'BAD'} {tokens:7d} tok "
            f"{wall:5.1f}s {goal.kind:10s} {goal.text}"
            + ("  <-- WRONG REPLAY" if run.wrong_replay else "")
        )
    return runs


def summarize(runs: list[Run]) -> dict[str, Any]:
    modes: dict[str, int] = {}
    for r in runs:
        modes[r.mode] = modes.get(r.mode, 0) + 1
    kinds: dict[str, dict[str, Any]] = {}
    for r in runs:
        k = kinds.setdefault(r.kind, {"goals": 0, "tokens": 0, "replays": 0, "correct": 0})
        k["goals"] += 1
        k["tokens"] += r.tokens
        k["replays"] += r.mode in REPLAY_MODES
        k["correct"] += r.correct
    return {
        "goals": len(runs),
        "tokens": sum(r.tokens for r in runs),
        "llm_calls": sum(r.llm_calls for r in runs),
        "modes": modes,
        "by_kind": kinds,
        "correct": sum(r.correct for r in runs),
        "replays": sum(r.mode in REPLAY_MODES for r in runs),
        "wrong_replays": sum(r.wrong_replay for r in runs),
        "wall_s": round(sum(r.wall_s for r in runs), 1),
        "p50_wall_s": round(statistics.median(r.wall_s for r in runs), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--limit", type=int, default=0, help="only the first N goals (a quick check)"
    )
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--keep", type=Path, help="write the per-goal rows here (JSON)")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()
    goals = workload()
    if args.limit:
        goals = goals[: args.limit]
    table = tasks()
    log = (lambda _m: None) if args.quiet else (lambda m: print(m, file=sys.stderr, flush=True))
    base = Path(tempfile.mkdtemp(prefix="llmos-savings-"))
    results: dict[str, Any] = {}
    rows: dict[str, list[Run]] = {}
    try:
        for label, mode in (("learner-only", "learner"), ("auto", "auto")):
            server = ScriptedServer([Model(goals, table)] * 5000)
            server.start()
            try:
                env = {
                    k: v
                    for k, v in os.environ.items()
                    if not k.startswith(("ANTHROPIC_", "LLMOS_", "CLAUDE_"))
                }
                env.update(
                    server.env(),
                    HOME=str(base / f"home-{label}"),
                    CLAUDE_CONFIG_DIR=str(base / f"claude-{label}"),
                )
                rows[label] = run_workload(goals, table, base, label, server, env, mode, log)
                results[label] = summarize(rows[label])
                results[label]["server_requests"] = server.main_request_count
            finally:
                server.stop()
    finally:
        shutil.rmtree(base, ignore_errors=True)
    learner, auto = results["learner-only"], results["auto"]
    results["tokens_saved_pct"] = (
        round((1 - auto["tokens"] / learner["tokens"]) * 100, 1) if learner["tokens"] else 0.0
    )
    reuse = ("repeat", "paraphrase", "variant")
    l_reuse = sum(learner["by_kind"].get(k, {}).get("tokens", 0) for k in reuse)
    a_reuse = sum(auto["by_kind"].get(k, {}).get("tokens", 0) for k in reuse)
    # Novel goals and near misses must reach the model in AUTO too: the most AUTO can save overall
    # is the share of LEARNER-only tokens spent on repeats, paraphrases and variants.
    results["ceiling_pct"] = (
        round(l_reuse / learner["tokens"] * 100, 1) if learner["tokens"] else 0.0
    )
    results["tokens_saved_on_reuse_pct"] = (
        round((1 - a_reuse / l_reuse) * 100, 1) if l_reuse else 0.0
    )
    results["workload"] = {
        "goals": len(goals),
        "kinds": {
            k: sum(1 for g in goals if g.kind == k)
            for k in ("novel", "repeat", "paraphrase", "variant", "near_miss")
        },
    }
    if args.keep:
        args.keep.write_text(
            json.dumps({k: [r.__dict__ for r in v] for k, v in rows.items()}, indent=1)
        )
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"workload: {results['workload']}")
    print(
        "| run | model tokens | LLM calls | modes | correct results | replays | wrong replays | wall s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for label in ("learner-only", "auto"):
        r = results[label]
        modes = ", ".join(f"{m} {n}" for m, n in sorted(r["modes"].items()))
        print(
            f"| {label} | {r['tokens']:,} | {r['llm_calls']} | {modes} | {r['correct']}/{r['goals']} | "
            f"{r['replays']} | {r['wrong_replays']} | {r['wall_s']} |"
        )
    print(
        f"\ntokens saved by AUTO: {results['tokens_saved_pct']} % of all model tokens (the ceiling is "
        f"{results['ceiling_pct']} %: novel goals and near misses need the model either way); "
        f"{results['tokens_saved_on_reuse_pct']} % on the repeats, paraphrases and variants (target >= 90 %); "
        f"wrong replays: {auto['wrong_replays']} (target 0)"
    )
    print("\n| kind | goals | AUTO replays | AUTO correct | AUTO tokens | LEARNER-only tokens |")
    print("|---|---|---|---|---|---|")
    for kind, row in auto["by_kind"].items():
        print(
            f"| {kind} | {row['goals']} | {row['replays']} | {row['correct']} | {row['tokens']:,} | "
            f"{learner['by_kind'][kind]['tokens']:,} |"
        )


if __name__ == "__main__":
    main()
