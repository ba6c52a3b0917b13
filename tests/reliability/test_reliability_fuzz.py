"""Fuzzed input (hypothesis): the trace parser, the config loader, agent files, bundle import, the
policy engine with the executors behind it, and the headless JSON output.

Properties: no input produces an uncaught exception (only the engine's own ``LLMOSError`` family,
which the CLI turns into a message and an exit code), and no input writes outside the working
directory (a sentinel folder beside it and the folder above it are compared before and after).
Each property is bounded (``max_examples``, no deadline) so the whole file stays under a minute.
(``tests/attacks/test_policy_fuzz.py`` already checks that ``PolicyEngine.check`` itself never raises;
here the executors run what it allows.)
"""

from __future__ import annotations

import json
import os
import string
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from llmos_tui.errors import LLMOSError
from llmos_tui.learning.traces import (
    ToolCall,
    TraceFormatError,
    dump_trace,
    make_trace,
    parse_trace,
)

pytestmark = pytest.mark.slow

FUZZ = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.filter_too_much,
    ],
)
FEW = settings(FUZZ, max_examples=40)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(10**12), 10**12)
    | st.floats(allow_nan=True)
    | st.text(max_size=30)
    | st.dates()
    | st.datetimes()
)
yaml_values = st.recursive(
    scalars,
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=10), c, max_size=4),
    max_leaves=10,
)
PATHS = st.sampled_from(
    [
        "x.txt",
        "../escape.txt",
        "../../escape.txt",
        "/tmp/../etc/passwd",
        "~/.bashrc",
        "a/../../escape.txt",
        "link/inside.txt",
        "link",
        "./ok.txt",
        "sub/dir/ok.txt",
        "$HOME/x",
        "`id`.txt",
        "$(touch ../pwned).txt",
        "x;touch ../pwned",
        "x\n../y",
        "OUTSIDE/victim.txt",
        "",
        ".",
        "..",
        "/",
        "x" * 300,
    ]
) | st.text(max_size=40)


def _dumped_trace() -> str:
    calls = [
        ToolCall(
            "Write",
            {"file_path": "{{cwd}}/calc.py", "content": "print(1)\n"},
            {"is_error": False, "summary": "created", "files_created": ["calc.py"]},
        ),
        ToolCall(
            "Bash",
            {"command": "python3 calc.py"},
            {"is_error": False, "summary": "1", "exit_code": 0},
        ),
    ]
    return dump_trace(
        make_trace(
            "Create a Python calculator in calc.py",
            calls,
            slots={"file": "calc.py"},
            tokens={"input": 10, "output": 2},
            cost_usd=0.01,
        )
    )


VALID_TRACE = _dumped_trace()


def snapshot(*roots: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for root in roots:
        for path in [root, *root.rglob("*")] if root.exists() else []:
            try:
                st_ = path.lstat()
            except FileNotFoundError:
                continue
            out[str(path)] = (st_.st_size, st_.st_mtime_ns)
    return out


# ---- trace parser -----------------------------------------------------------------------------


def _check_trace_text(text: str) -> None:
    try:
        trace = parse_trace(text, source="fuzz.md")
    except TraceFormatError as exc:
        assert exc.message
        return
    # Whatever parses is a valid trace: it dumps and reads back the same.
    assert parse_trace(dump_trace(trace)) == trace


@FUZZ
@given(text=st.text(max_size=400))
def test_trace_parser_on_arbitrary_text(text: str) -> None:
    _check_trace_text(text)
    _check_trace_text("---\n" + text)
    _check_trace_text("---\n" + text + "\n---\n# body\n")


@FUZZ
@given(
    meta=st.dictionaries(
        st.sampled_from(
            [
                "id",
                "goal",
                "signature",
                "created_at",
                "last_used",
                "mode",
                "usage_count",
                "success_count",
                "failure_count",
                "cost_usd",
                "tokens",
                "tools_used",
                "slots",
                "agent",
                "model",
                "emotion",
                "crystallized_tool",
                "outcome",
                "parent_trace",
                "project",
            ]
        )
        | st.text(max_size=8),
        yaml_values,
        max_size=12,
    ),
    body=st.text(max_size=200),
    calls=yaml_values,
)
def test_trace_parser_on_random_frontmatter(meta: dict, body: str, calls) -> None:
    try:
        front = yaml.safe_dump(meta, allow_unicode=True)
    except yaml.YAMLError:
        assume(False)
    block = "```json\n" + json.dumps(calls, default=str) + "\n```\n"
    _check_trace_text(f"---\n{front}---\n# Goal\n{body}\n## Tool calls\n{block}")


@FUZZ
@given(data=st.data())
def test_trace_parser_on_mutated_valid_traces(data) -> None:
    text = VALID_TRACE
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(text)))
        j = data.draw(st.integers(i, min(len(text), i + 40)))
        text = (
            text[:i]
            + data.draw(
                st.text(max_size=12)
                | st.sampled_from(
                    [
                        "",
                        "\n",
                        "---",
                        ": [",
                        "{{cwd}}",
                        '"',
                        "- ",
                        "null",
                        "1e309",
                        "-1",
                        "```",
                        "\x00",
                    ]
                )
            )
            + text[j:]
        )
    _check_trace_text(text)


@FEW
@given(
    texts=st.lists(
        st.text(max_size=200) | st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
        min_size=1,
        max_size=8,
    )
)
def test_the_index_skips_malformed_trace_files_and_keeps_the_rest(
    tmp_path_factory, texts: list[str]
) -> None:
    from llmos_tui.learning.index import TraceIndex
    from llmos_tui.workspace import open_workspace

    ws = open_workspace(tmp_path_factory.mktemp("ws"))
    folder = ws.root / "volumes" / "users" / "local" / "traces"
    good = parse_trace(VALID_TRACE)
    (folder / f"{good.id}.md").write_text(VALID_TRACE)
    for n, text in enumerate(texts):
        (folder / f"t_fuzz{n:07d}.md").write_bytes(text.encode("utf-8", "surrogatepass"))
    warnings: list[str] = []
    index = TraceIndex(ws, on_warning=warnings.append)
    ids = {e.id for e in index.entries()}
    assert good.id in ids
    assert len(ids) + len(index.skipped()) == len(texts) + 1  # every file indexed or reported


# ---- config loader ----------------------------------------------------------------------------

CONFIG_KEYS = [
    "preset",
    "budget_usd",
    "model",
    "user",
    "team",
    "learning",
    "execution",
    "sentience",
    "adaptation",
    "crons",
    "observability",
    "promotion",
    "keymap",
    "models",
]
SUBKEYS = [
    "follower_threshold",
    "mixed_threshold",
    "run_timeout_s",
    "sandbox",
    "max_turns",
    "enabled",
    "max_file_mb",
    "keep_files",
    "on_conflict",
    "per_run_estimate_usd",
    "half_life_minutes",
    "x",
]


@FUZZ
@given(text=st.text(max_size=300))
def test_config_loader_on_arbitrary_yaml_text(tmp_path_factory, text: str) -> None:
    from llmos_tui.config import load_config

    root = tmp_path_factory.mktemp("cfg")
    (root / "config.yaml").write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        load_config(root, environ={})
    except LLMOSError as exc:
        assert "config.yaml" in exc.message or "key" in exc.message, exc.message


@FUZZ
@given(
    data=st.dictionaries(
        st.sampled_from(CONFIG_KEYS) | st.text(max_size=8),
        yaml_values
        | st.dictionaries(st.sampled_from(SUBKEYS) | st.text(max_size=6), yaml_values, max_size=5),
        max_size=6,
    ),
    env=st.dictionaries(
        st.sampled_from(
            [
                "LLMOS_BUDGET_USD",
                "LLMOS_LEARNING__FOLLOWER_THRESHOLD",
                "LLMOS_EXECUTION__SANDBOX",
                "LLMOS_PRESET",
                "LLMOS_USER",
                "LLMOS_",
                "LLMOS___X",
                "LLMOS_LEARNING__",
                "LLMOS_KEYMAP",
            ]
        ),
        st.text(max_size=12),
        max_size=3,
    ),
)
def test_config_loader_on_random_structures_and_variables(
    tmp_path_factory, data: dict, env: dict
) -> None:
    from llmos_tui.config import load_config

    root = tmp_path_factory.mktemp("cfg")
    try:
        (root / "config.yaml").write_text(yaml.safe_dump(data, allow_unicode=True))
    except yaml.YAMLError:
        assume(False)
    try:
        cfg = load_config(root, environ=env)
    except LLMOSError as exc:
        assert exc.message
        return
    assert (
        0.0 <= cfg.learning.mixed_threshold <= 1.0 and 0.0 <= cfg.learning.follower_threshold <= 1.0
    )
    assert cfg.budget_usd >= 0


# ---- agent files ------------------------------------------------------------------------------


@FUZZ
@given(
    text=st.text(max_size=300),
    meta=st.dictionaries(
        st.sampled_from(["name", "description", "tools", "model", "version", "constraints"])
        | st.text(max_size=6),
        yaml_values,
        max_size=7,
    ),
)
def test_agent_parser_raises_only_format_errors(text: str, meta: dict) -> None:
    from llmos_tui.adaptation.agents import AgentFormatError, dump_agent, parse_agent

    for candidate in (text, "---\n" + text, f"---\n{_safe_yaml(meta)}---\n{text}"):
        try:
            spec = parse_agent(candidate, source="fuzz.md")
        except AgentFormatError as exc:
            assert exc.message
            continue
        assert parse_agent(dump_agent(spec)).name == spec.name


def _safe_yaml(meta: dict) -> str:
    try:
        return yaml.safe_dump(meta, allow_unicode=True)
    except yaml.YAMLError:
        return ""


GOAL_WORDS = [
    "Create",
    "Make",
    "Build",
    "an",
    "a",
    "agent",
    "named",
    "called",
    "for",
    "that",
    "haiku",
    "poet",
    "../../x",
    "../",
    "/etc/passwd",
    ".md",
    "..",
    "CON",
    "nul",
    "~",
    "$HOME",
    "agents/../x",
]


@FUZZ
@given(
    goal=st.lists(st.sampled_from(GOAL_WORDS) | st.text(max_size=10), min_size=1, max_size=10).map(
        " ".join
    )
)
def test_agent_creation_from_any_goal_stays_in_the_agents_folder(
    tmp_path_factory, goal: str
) -> None:
    from llmos_tui.adaptation.agents import AgentFormatError, create_agent_from_goal, load_agent

    root = tmp_path_factory.mktemp("ag")
    agents, outside = root / "agents", root / "outside"
    agents.mkdir()
    outside.mkdir()
    (outside / "victim.md").write_text("keep")
    before = snapshot(outside)
    try:
        spec = create_agent_from_goal(agents, goal)
    except AgentFormatError as exc:
        assert exc.message
    else:
        assert load_agent(agents, spec.name).name == spec.name
        assert all(p.parent == agents for p in agents.glob("*.md"))
    assert snapshot(outside) == before
    assert sorted(p.name for p in root.iterdir()) == ["agents", "outside"]


# ---- policy + executors: nothing allowed writes outside the working directory ---------------------

BASH_TOKENS = [
    "echo hi >",
    "touch",
    "cp x.txt",
    "mv x.txt",
    "tee",
    "rm -f",
    "mkdir -p",
    "ln -s",
    "cat >",
    "sed -i s/a/b/",
    'python3 -c \'open("../pwned","w")\'',
    "sh -c 'touch ../pwned'",
    "cd .. &&",
    "cd /tmp &&",
    "find .. -name x -delete",
    "dd of=",
    ">",
    ">>",
    ";",
    "&&",
    "|",
    "$(",
    ")",
    "`",
]
OUTSIDE_TARGETS = [
    "../pwned",
    "../outside/victim.txt",
    "../../pwned",
    "link/pwned",
    "OUTSIDE/pwned",
    "~/pwned",
    "/tmp/llmos-fuzz-pwned",
    "x.txt",
    "sub/y.txt",
]


@pytest.fixture
def sandbox_dirs(tmp_path: Path):
    cwd, outside = tmp_path / "cwd", tmp_path / "outside"
    cwd.mkdir()
    outside.mkdir()
    (outside / "victim.txt").write_text("keep")
    (cwd / "x.txt").write_text("inside")
    (cwd / "link").symlink_to(outside, target_is_directory=True)  # a symlink planted inside the cwd
    return tmp_path, cwd, outside


def _executor(cwd: Path):
    from llmos_tui.execution.replay.executors import ToolExecutor
    from llmos_tui.execution.replay.hooks import HookRegistry, HookVerdict
    from llmos_tui.execution.policy.engine import PolicyEngine

    engine = PolicyEngine()
    hooks = HookRegistry()
    hooks.add_pre(lambda name, inp, _tid: HookVerdict(*_as_tuple(engine.check(name, inp, cwd))))
    return ToolExecutor(cwd, hooks, timeout_s=10)


def _as_tuple(d) -> tuple[str, str, str]:
    return d.decision, d.reason, d.rule


def _outside_unchanged(root: Path, cwd: Path, outside: Path, before: dict) -> None:
    assert snapshot(outside) == before, "a tool call changed a file outside the working directory"
    assert sorted(p.name for p in root.iterdir()) == ["cwd", "outside"], sorted(
        p.name for p in root.iterdir()
    )
    home = Path(os.environ.get("HOME", "/nonexistent"))
    assert not (home / "pwned").exists() and not Path("/tmp/llmos-fuzz-pwned").exists()


@FEW
@given(
    tool=st.sampled_from(["Write", "Edit", "MultiEdit", "NotebookEdit"]),
    path=PATHS | st.sampled_from(OUTSIDE_TARGETS),
    content=st.text(max_size=20),
)
def test_file_tools_never_write_outside_the_cwd(
    sandbox_dirs, tool: str, path: str, content: str
) -> None:
    root, cwd, outside = sandbox_dirs
    before = snapshot(outside)
    for candidate in (path, str(cwd / path) if path else path):
        inputs = {
            "Write": {"file_path": candidate, "content": content},
            "Edit": {"file_path": candidate, "old_string": "inside", "new_string": content or "x"},
            "MultiEdit": {
                "file_path": candidate,
                "edits": [{"old_string": "inside", "new_string": content or "x"}],
            },
            "NotebookEdit": {"notebook_path": candidate, "new_source": content},
        }
        outcome = _executor(cwd).execute(tool, inputs[tool])
        assert outcome.status and isinstance(outcome.summary, str)
    _outside_unchanged(root, cwd, outside, before)


@settings(FUZZ, max_examples=25)
@given(
    parts=st.lists(
        st.sampled_from(BASH_TOKENS + OUTSIDE_TARGETS)
        | st.text(alphabet=string.ascii_letters + "./ ", max_size=8),
        min_size=1,
        max_size=6,
    ).map(" ".join)
)
def test_bash_never_writes_outside_the_cwd(sandbox_dirs, parts: str) -> None:
    root, cwd, outside = sandbox_dirs
    before = snapshot(outside)
    outcome = _executor(cwd).execute("Bash", {"command": parts, "timeout": 5000})
    assert outcome.status and isinstance(outcome.summary, str)
    _outside_unchanged(root, cwd, outside, before)


# ---- headless JSON output ------------------------------------------------------------------------

JSON_KEYS = {
    "goal",
    "mode",
    "success",
    "trace_id",
    "confidence",
    "llm_calls",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "duration_ms",
    "output",
}
GOAL_TEMPLATES = (
    ["Create a file named {}"] * 4
    + ["Write {} with a greeting"] * 2
    + ["Count the lines in {}"] * 2
    + ["Delete {}", "Create a haiku poet agent named {}", "{}"]
)
SLOT_VALUES = st.sampled_from(
    [
        "../escape.txt",
        "../../escape.txt",
        "/tmp/llmos-fuzz-pwned",
        "~/pwned",
        "link/pwned",
        "a/../../escape.txt",
        "notes.txt",
        "report.md",
        "sub/dir/ok.txt",
        "'../q.txt'",
        '"../dq.txt"',
        "x.txt;touch ../pwned",
        "$(touch ../pwned).txt",
        "`id`.csv",
        "data.csv",
        "../outside/victim.txt",
        "..",
        "/etc/passwd",
        "C:\\x.txt",
    ]
)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    """A workspace with traces whose goals carry file slots, so random goals hit FOLLOWER with
    substituted values, MIXED, LEARNER (no LLM configured: exit 5) and agent creation."""
    from llmos_tui.kernel import LLMOS

    root = tmp_path_factory.mktemp("headless")
    ws = root / "ws"
    kernel = LLMOS.boot(ws)
    learned = [
        (
            "Create a file named hello.txt",
            [
                ToolCall(
                    "Write",
                    {"file_path": "{{cwd}}/hello.txt", "content": "hi\n"},
                    {"is_error": False, "summary": "created", "files_created": ["hello.txt"]},
                )
            ],
        ),
        (
            "Count the lines in data.csv",
            [
                ToolCall(
                    "Bash",
                    {"command": "wc -l data.csv"},
                    {"is_error": False, "summary": "2 data.csv", "exit_code": 0},
                )
            ],
        ),
        (
            "Write notes.md with a greeting",
            [
                ToolCall(
                    "Write",
                    {"file_path": "{{cwd}}/notes.md", "content": "# Hi\n"},
                    {"is_error": False, "summary": "created", "files_created": ["notes.md"]},
                )
            ],
        ),
    ]
    from llmos_tui.learning.slots import extract_slots

    for goal, calls in learned:
        kernel.store.save(make_trace(goal, calls, slots=extract_slots(goal)), volume="users/local")
    return root, ws


@settings(FUZZ, max_examples=80)
@given(
    template=st.sampled_from(GOAL_TEMPLATES),
    value=SLOT_VALUES | PATHS | st.text(max_size=60),
    mode=st.sampled_from(["auto", "auto", "auto", "follower", "mixed", "crystallized", "bogus"]),
)
def test_headless_json_is_one_object_and_writes_stay_in_the_cwd(
    seeded, tmp_path_factory, template: str, value: str, mode: str
) -> None:
    from typer.testing import CliRunner

    from llmos_tui.cli import app
    from llmos_tui.exitcodes import ExitCode

    import shutil

    root, template_ws = seeded
    case = tmp_path_factory.mktemp("case")
    ws = case.parent / (case.name + "-ws")
    shutil.copytree(template_ws, ws, symlinks=True)
    cwd, outside = case / "cwd", case / "outside"
    cwd.mkdir()
    outside.mkdir()
    (outside / "victim.txt").write_text("keep")
    (cwd / "data.csv").write_text("a\nb\n")
    (cwd / "link").symlink_to(outside, target_is_directory=True)
    before = snapshot(outside)
    goal = template.format(value)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "CLAUDE_CODE_"))}
    result = CliRunner().invoke(
        app,
        [
            "--headless",
            "run",
            goal,
            "--json",
            "--workspace",
            str(ws),
            "--cwd",
            str(cwd),
            "--mode",
            mode,
        ],
        env=env,
        catch_exceptions=True,
    )
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"uncaught {type(result.exception).__name__}: {result.exception!r} for goal {goal!r}"
    )
    assert result.exit_code in {int(c) for c in ExitCode}
    stdout = result.stdout
    if mode == "bogus":
        assert result.exit_code == int(ExitCode.USAGE)
    else:
        out = json.loads(stdout)  # exactly one JSON object, nothing else on stdout
        assert isinstance(out, dict) and JSON_KEYS <= set(out)
        assert out["success"] is (result.exit_code == 0)
        if out["mode"] in ("FOLLOWER", "CRYSTALLIZED"):
            assert (
                out["llm_calls"],
                out["input_tokens"],
                out["output_tokens"],
                out["cost_usd"],
            ) == (0, 0, 0, 0)
    assert snapshot(outside) == before
    assert sorted(p.name for p in case.iterdir()) == ["cwd", "outside"], (
        f"goal {goal!r} wrote beside the cwd"
    )
    assert not Path("/tmp/llmos-fuzz-pwned").exists()


# ---- bundle import ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bundle_source(tmp_path_factory):
    """A workspace with two traces and a valid exported bundle of them (a directory)."""
    from llmos_tui.edge.bundle import export_bundle
    from llmos_tui.kernel import LLMOS

    root = tmp_path_factory.mktemp("bundle-src")
    kernel = LLMOS.boot(root / "ws")
    for goal in ("Create a Python calculator in calc.py", "Count the lines in data.csv"):
        kernel.store.save(
            parse_trace(
                VALID_TRACE.replace("Create a Python calculator in calc.py", goal).replace(
                    parse_trace(VALID_TRACE).id, "t_" + os.urandom(6).hex()
                )
            ),
            volume="users/local",
        )
    export_bundle(kernel.workspace, kernel.store, root / "bundle", volumes=["users/local"])
    files = {
        p.relative_to(root / "bundle").as_posix(): p.read_bytes()
        for p in (root / "bundle").rglob("*")
        if p.is_file()
    }
    return files


def _relist(manifest: dict, files: dict[str, bytes]) -> dict:
    """Recompute sizes and hashes so a hostile bundle passes the integrity check and reaches the parsers."""
    import hashlib

    for entry in manifest.get("traces", []) if isinstance(manifest.get("traces"), list) else []:
        if (
            isinstance(entry, dict)
            and isinstance(entry.get("path"), str)
            and entry["path"] in files
        ):
            entry["sha256"] = hashlib.sha256(files[entry["path"]]).hexdigest()
            entry["size"] = len(files[entry["path"]])
    return manifest


def _import(tmp_root: Path, bundle: Path) -> None:
    from llmos_tui.edge.bundle import import_bundle
    from llmos_tui.kernel import LLMOS

    kernel = LLMOS.boot(tmp_root / "ws")
    outside = tmp_root / "outside"
    before = snapshot(outside)
    listing = sorted(p.name for p in tmp_root.iterdir())
    try:
        report = import_bundle(
            kernel.workspace, kernel.store, bundle, volume="users/local", on_conflict="rename"
        )
    except LLMOSError as exc:
        assert exc.message
    else:
        for tid in report.to_dict().get("imported", []):
            tid = tid["id"] if isinstance(tid, dict) else tid
            path = kernel.workspace.root / "volumes" / "users" / "local" / "traces" / f"{tid}.md"
            assert path.is_file()
            parse_trace(path.read_text())
    assert snapshot(outside) == before, "a bundle import changed a file outside the workspace"
    assert sorted(p.name for p in tmp_root.iterdir()) == listing, (
        "a bundle import wrote beside the workspace"
    )
    for path in (tmp_root / "ws").rglob("*"):
        assert not path.is_symlink(), f"the import created a symlink {path}"


def _case(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("imp")
    (root / "outside").mkdir()
    (root / "outside" / "victim.md").write_text("keep")
    return root


@FEW
@given(data=st.data())
def test_bundle_import_of_a_mutated_manifest(bundle_source, tmp_path_factory, data) -> None:
    root = _case(tmp_path_factory)
    files = dict(bundle_source)
    manifest = json.loads(files["manifest.json"])
    entries = manifest["traces"]
    for _ in range(data.draw(st.integers(1, 3))):
        target = data.draw(st.sampled_from(["manifest", "entry", "file", "extra"]))
        if target == "manifest":
            manifest[data.draw(st.sampled_from(sorted(manifest) + ["x"]))] = data.draw(yaml_values)
        elif target == "entry" and entries:
            entry = entries[data.draw(st.integers(0, len(entries) - 1))]
            key = data.draw(
                st.sampled_from(
                    ["id", "path", "sha256", "size", "goal", "signature", "crystallized_tool"]
                )
            )
            entry[key] = data.draw(
                yaml_values
                | st.sampled_from(
                    [
                        "../../outside/victim.md",
                        "/etc/passwd",
                        "traces/../../x.md",
                        "traces/t_x.md",
                        "../x",
                        "t_../x",
                    ]
                )
            )
        elif target == "file":
            name = data.draw(st.sampled_from(sorted(files)))
            files[name] = (
                data.draw(st.binary(max_size=64)) if data.draw(st.booleans()) else files[name][:-5]
            )
        else:
            files[
                data.draw(st.sampled_from(["traces/t_extra.md", "tools/x_v1.py", "other.txt"]))
            ] = b"extra"
    files["manifest.json"] = json.dumps(
        _relist(manifest, files) if data.draw(st.booleans()) else manifest, default=str
    ).encode()
    bundle = root / "bundle"
    for rel, raw in files.items():
        (bundle / rel).parent.mkdir(parents=True, exist_ok=True)
        (bundle / rel).write_bytes(raw)
    _import(root, bundle)


@FEW
@given(data=st.data())
def test_bundle_import_of_hostile_trace_files_with_correct_hashes(
    bundle_source, tmp_path_factory, data
) -> None:
    """The hashes match (a bundle made by an attacker, not a damaged one): the strict trace parser
    and the id checks are what stand between the bundle and the workspace."""
    root = _case(tmp_path_factory)
    files = dict(bundle_source)
    manifest = json.loads(files["manifest.json"])
    entry = manifest["traces"][0]
    text = files[entry["path"]].decode()
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(text)))
        text = (
            text[:i]
            + data.draw(
                st.sampled_from(
                    [
                        "../",
                        "{{cwd}}/../../outside/victim.md",
                        "\n---\n",
                        "id: ../x\n",
                        "file_path: /etc/passwd",
                        "\x00",
                    ]
                )
                | st.text(max_size=10)
            )
            + text[i + data.draw(st.integers(0, 20)) :]
        )
    files[entry["path"]] = text.encode("utf-8", "surrogatepass")
    files["manifest.json"] = json.dumps(_relist(manifest, files)).encode()
    bundle = root / "bundle"
    for rel, raw in files.items():
        (bundle / rel).parent.mkdir(parents=True, exist_ok=True)
        (bundle / rel).write_bytes(raw)
    _import(root, bundle)


@FEW
@given(
    members=st.lists(
        st.tuples(
            st.sampled_from(
                [
                    "manifest.json",
                    "traces/t_a.md",
                    "../evil.md",
                    "/abs.md",
                    "top/manifest.json",
                    "top/traces/t_a.md",
                    "a/../../b",
                    "traces/",
                    "./manifest.json",
                    "x\\y",
                    "traces/t_a.md",
                ]
            )
            | st.text(max_size=12),
            st.sampled_from(["file", "symlink", "hardlink", "dir", "fifo"]),
            st.binary(max_size=80),
        ),
        max_size=6,
    ),
    garbage=st.booleans(),
)
def test_bundle_import_of_hostile_archives(
    bundle_source, tmp_path_factory, members, garbage: bool
) -> None:
    import io
    import tarfile

    root = _case(tmp_path_factory)
    archive = root / "bundle.tar.gz"
    if garbage:
        archive.write_bytes(b"".join(m[2] for m in members) or b"\x1f\x8b")
    else:
        with tarfile.open(archive, "w:gz") as tar:
            for rel, raw in bundle_source.items():
                if members and rel == "manifest.json" and members[0][0] == "manifest.json":
                    continue  # replaced below
                info = tarfile.TarInfo(rel)
                info.size = len(raw)
                tar.addfile(info, io.BytesIO(raw))
            for name, kind, raw in members:
                info = tarfile.TarInfo(name or "x")
                if kind == "file":
                    info.size = len(raw)
                    tar.addfile(info, io.BytesIO(raw))
                    continue
                info.type = {
                    "symlink": tarfile.SYMTYPE,
                    "hardlink": tarfile.LNKTYPE,
                    "dir": tarfile.DIRTYPE,
                    "fifo": tarfile.FIFOTYPE,
                }[kind]
                info.linkname = "../../outside/victim.md"
                tar.addfile(info)
    _import(root, archive)
