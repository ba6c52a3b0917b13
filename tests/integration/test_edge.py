"""Edge runtime: bundles exported from a real workspace, verified, imported, and replayed by
``edge_runtime/run_follower.py`` in a fresh virtual environment that holds PyYAML and nothing else."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from llmos_tui.cli.bundle import bundle_app
from llmos_tui.devtools.scripted_server import ScriptedServer, text_turn, tool_turn
from llmos_tui.edge.bundle import (
    BundleError,
    BundleIntegrityError,
    export_bundle,
    import_bundle,
    read_bundle,
)
from llmos_tui.learning.store import TraceStore
from llmos_tui.learning.traces import ToolCall, make_trace
from llmos_tui.workspace import open_workspace

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
EDGE = REPO / "edge_runtime"
FORBIDDEN = (
    "llmos_tui",
    "textual",
    "anthropic",
    "claude_agent_sdk",
    "rapidfuzz",
    "tree_sitter",
    "tinydb",
    "typer",
    "numpy",
)


# ---- helpers -------------------------------------------------------------------------------------------


def hello_calls() -> list[ToolCall]:
    return [
        ToolCall(
            "Write",
            {"file_path": "{{cwd}}/hello.txt", "content": "Hello from hello.txt\n"},
            {
                "is_error": False,
                "summary": "create {{cwd}}/hello.txt",
                "files_created": ["hello.txt"],
            },
        ),
        ToolCall(
            "Bash",
            {"command": "cat hello.txt"},
            {"is_error": False, "summary": "Hello", "exit_code": 0},
        ),
    ]


def workspace_with(tmp_path: Path, name: str = "ws", traces: list | None = None):
    ws = open_workspace(tmp_path / name)
    store = TraceStore(ws)
    for trace in traces or []:
        store.save(trace, volume="users/local")
    return ws, store


def run_edge(
    script: str,
    *args: str,
    python: str = sys.executable,
    env: dict | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [python, "-I", str(EDGE / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env if env is not None else dict(os.environ),
    )


def cli() -> typer.Typer:
    return bundle_app


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A fresh virtual environment (no pip, no setuptools) with PyYAML installed and nothing else."""
    root = tmp_path_factory.mktemp("bare-venv")
    base = getattr(sys, "_base_executable", None) or sys.executable
    subprocess.run(
        [base, "-m", "venv", "--without-pip", str(root)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    py = str(root / "bin" / "python")
    site = subprocess.check_output(
        [py, "-I", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True
    ).strip()
    mirror = Path("/opt/pypi/simple/pyyaml")
    installed = False
    if mirror.is_dir():  # a real pip install from the local package mirror, offline
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "-q",
                "--no-index",
                "--no-deps",
                "--find-links",
                str(mirror),
                "--target",
                site,
                "pyyaml",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        installed = proc.returncode == 0
    if not installed:  # else copy this interpreter's PyYAML distribution (same Python version)
        import yaml

        src = Path(yaml.__file__).resolve().parent.parent
        for item in src.iterdir():
            if item.name in ("yaml", "_yaml") or (
                item.name.lower().startswith("pyyaml") and item.name.endswith(".dist-info")
            ):
                (shutil.copytree if item.is_dir() else shutil.copy2)(item, Path(site) / item.name)
    names = sorted(p.name for p in Path(site).iterdir() if p.name != "__pycache__")
    assert all(n in ("yaml", "_yaml") or n.lower().startswith("pyyaml") for n in names), names
    return py


# ---- the acceptance path -------------------------------------------------------------------------------


def test_bundle_from_a_real_learner_run_replays_in_a_bare_venv(
    llm_env: ScriptedServer, tmp_path: Path, bare_python: str
) -> None:
    """LEARNER records a trace in workspace A (real SDK, scripted server); `llmos traces export` writes a
    .tar.gz; run_follower.py, in a venv holding only PyYAML, replays another goal with zero requests."""
    from llmos_tui.kernel import LLMOS, RunOptions

    work = tmp_path / "work"
    work.mkdir()
    llm_env.add_turns(
        tool_turn(
            "Write", {"file_path": str(work / "hello.txt"), "content": "Hello from hello.txt\n"}
        ),
        tool_turn("Bash", {"command": "cat hello.txt"}),
        text_turn("Created hello.txt."),
    )
    kernel = LLMOS.boot(tmp_path / "wsA")
    result = kernel.execute("Create a file named hello.txt", options=RunOptions(cwd=work))
    assert result.mode == "LEARNER" and result.success, result.error
    requests_before = llm_env.request_count

    bundle = tmp_path / "team.tar.gz"
    out = CliRunner().invoke(
        cli(), ["export", str(bundle), "--json", "--workspace", str(tmp_path / "wsA")]
    )
    assert out.exit_code == 0, out.output
    report = json.loads(out.stdout)
    assert report["traces"] == [result.trace_id] and len(report["manifest_sha256"]) == 64

    # The bare interpreter really is bare: PyYAML imports, nothing of ours or of the heavy deps does.
    probe = subprocess.run(
        [
            bare_python,
            "-I",
            "-c",
            "import yaml, importlib.util, sys; print(sys.prefix); "
            f"print([m for m in {list(FORBIDDEN)!r} if importlib.util.find_spec(m)])",
        ],
        capture_output=True,
        text=True,
    )
    assert probe.returncode == 0 and probe.stdout.splitlines()[1] == "[]", (
        probe.stdout + probe.stderr
    )

    target = tmp_path / "elsewhere"
    target.mkdir()
    proc = run_edge(
        "run_follower.py",
        str(bundle),
        "Create a file named notes.txt",
        "--cwd",
        str(target),
        "--json",
        "--expect-sha256",
        report["manifest_sha256"],
        python=bare_python,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads(proc.stdout)
    assert data["mode"] == "FOLLOWER" and data["success"] is True and data["llm_calls"] == 0
    assert data["trace_id"] == result.trace_id
    assert (target / "notes.txt").read_text() == "Hello from notes.txt\n"
    assert not (target / "hello.txt").exists()
    assert [c["name"] for c in data["tool_calls"]] == ["Write", "Bash"]
    assert llm_env.request_count == requests_before  # no model was asked

    # Tampering with the archive's trace is refused with exit 3, before anything runs.
    tampered = tmp_path / "tampered.tar.gz"
    _rewrite_archive(
        bundle,
        tampered,
        lambda name, data: (
            data.replace(b"cat hello.txt", b"cat /etc/host")  # same size: only the hash tells
            if name.endswith(".md")
            else data
        ),
    )
    again = tmp_path / "again"
    again.mkdir()
    proc = run_edge(
        "run_follower.py",
        str(tampered),
        "Create a file named notes.txt",
        "--cwd",
        str(again),
        python=bare_python,
    )
    assert proc.returncode == 3, proc.stderr
    assert "was modified" in proc.stderr and "sha256" in proc.stderr
    assert list(again.iterdir()) == []


def test_edge_modules_import_only_the_standard_library_and_yaml(bare_python: str) -> None:
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import edgekit.cli, edgekit.messages, edgekit.bundle; "
        "import yaml; std = sys.stdlib_module_names; "
        "print(sorted({m.split('.')[0] for m in sys.modules} - set(std) - {'edgekit', 'yaml', '_yaml', '__main__'}"
        " - {'cython_runtime'} - {m for m in sys.modules if m.startswith('_cython_')}"  # PyYAML's C extension
        " - {'sitecustomize', 'usercustomize'}))"
    )  # the interpreter's own site hooks (Debian's python3)
    proc = subprocess.run(
        [bare_python, "-I", "-c", code, str(EDGE)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def _rewrite_archive(src: Path, dst: Path, change) -> None:
    with tarfile.open(src, "r:gz") as tin, tarfile.open(dst, "w:gz") as tout:
        for member in tin.getmembers():
            if member.isreg():
                data = change(member.name, tin.extractfile(member).read())
                member.size = len(data)
                tout.addfile(member, io.BytesIO(data))
            else:
                tout.addfile(member)


# ---- bundle format and refusals ------------------------------------------------------------------------


def test_export_directory_and_archive_verify_and_list_every_file(tmp_path: Path) -> None:
    t1 = make_trace("Create a file named hello.txt", hello_calls())
    t2 = make_trace(
        "Say hello",
        [ToolCall("Bash", {"command": "echo hi"}, {"is_error": False, "summary": "hi"})],
        outcome="failure",
        error="x",
    )
    ws, store = workspace_with(tmp_path, traces=[t1, t2])
    report = export_bundle(ws, store, tmp_path / "b", volumes=["users/local"])
    assert report.traces == [t1.id]
    assert report.skipped == [
        {"id": t2.id, "reason": "its recorded run failed (use --include-failed)"}
    ]
    loaded = read_bundle(tmp_path / "b")
    assert sorted(loaded.files) == ["manifest.json", f"traces/{t1.id}.md"]
    assert loaded.manifest_sha256 == report.manifest_sha256
    archive = export_bundle(
        ws, store, tmp_path / "b.tgz", volumes=["users/local"], include_failed=True
    )
    assert sorted(read_bundle(tmp_path / "b.tgz").files) == sorted(
        ["manifest.json", f"traces/{t1.id}.md", f"traces/{t2.id}.md"]
    )
    assert sorted(archive.traces) == sorted([t1.id, t2.id])
    with pytest.raises(BundleError, match="already exists"):
        export_bundle(ws, store, tmp_path / "b", volumes=["users/local"])
    with pytest.raises(BundleError, match="nothing to export"):
        export_bundle(ws, store, tmp_path / "none", volumes=["users/local"], project="nope")


@pytest.mark.parametrize(
    "damage, error, exit_code",
    [
        ("edit_trace", "was modified", 3),
        ("extra_file", "not listed in the manifest", 3),
        ("drop_file", "are missing", 3),
        ("symlink", "symbolic link", 3),
        ("bad_manifest", "not valid JSON", 2),
        ("newer_format", "newer", 2),
        ("no_manifest", "no manifest.json", 2),
    ],
)
def test_damaged_directory_bundles_are_refused_by_import_and_edge(
    tmp_path: Path, damage: str, error: str, exit_code: int
) -> None:
    t1 = make_trace("Create a file named hello.txt", hello_calls())
    ws, store = workspace_with(tmp_path, traces=[t1])
    bundle = tmp_path / "b"
    export_bundle(ws, store, bundle, volumes=["users/local"])
    trace_file = bundle / "traces" / f"{t1.id}.md"
    manifest = bundle / "manifest.json"
    if damage == "edit_trace":
        trace_file.write_text(trace_file.read_text().replace("cat hello.txt", "cat notes.txt"))
    elif damage == "extra_file":
        (bundle / "traces" / "t_evil.md").write_text("x")
    elif damage == "drop_file":
        trace_file.unlink()
    elif damage == "symlink":
        (bundle / "traces" / "link.md").symlink_to("/etc/hostname")
    elif damage == "bad_manifest":
        manifest.write_text("{not json")
    elif damage == "newer_format":
        data = json.loads(manifest.read_text())
        data["format_version"] = 99
        manifest.write_text(json.dumps(data))
    else:
        manifest.unlink()
    ws2, store2 = workspace_with(tmp_path, "ws2")
    with pytest.raises(BundleError, match=error) as info:
        import_bundle(ws2, store2, bundle, volume="users/local")
    assert int(info.value.exit_code) == exit_code
    assert store2.index.entries() == []  # nothing was imported
    out = CliRunner().invoke(cli(), ["import", str(bundle), "--workspace", str(tmp_path / "ws2")])
    assert out.exit_code == exit_code and error in out.output
    work = tmp_path / "work"
    work.mkdir()
    proc = run_edge(
        "run_follower.py", str(bundle), "Create a file named notes.txt", "--cwd", str(work)
    )
    assert proc.returncode == exit_code, proc.stderr
    assert error in proc.stderr
    assert list(work.iterdir()) == []


def _evil_archive(path: Path, kind: str) -> None:
    with tarfile.open(path, "w:gz") as tar:
        manifest = json.dumps(
            {"format": "llmos-bundle", "format_version": 1, "traces": [], "tools": []}
        ).encode()
        info = tarfile.TarInfo("b/manifest.json")
        info.size = len(manifest)
        tar.addfile(info, io.BytesIO(manifest))
        if kind == "traversal":
            info = tarfile.TarInfo("b/../../evil.txt")
            info.size = 4
            tar.addfile(info, io.BytesIO(b"evil"))
        elif kind == "absolute":
            info = tarfile.TarInfo("/tmp/evil.txt")
            info.size = 4
            tar.addfile(info, io.BytesIO(b"evil"))
        elif kind == "symlink":
            info = tarfile.TarInfo("b/traces/x.md")
            info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
            tar.addfile(info)
        elif kind == "hardlink":
            info = tarfile.TarInfo("b/traces/x.md")
            info.type, info.linkname = tarfile.LNKTYPE, "b/manifest.json"
            tar.addfile(info)
        elif kind == "device":
            info = tarfile.TarInfo("b/traces/x.md")
            info.type = tarfile.CHRTYPE
            tar.addfile(info)
        elif kind == "huge":
            size = 17 * 1024 * 1024
            info = tarfile.TarInfo("b/traces/big.md")
            info.size = size
            tar.addfile(info, io.BytesIO(b"\0" * size))


@pytest.mark.parametrize(
    "kind, error",
    [
        ("traversal", "leaves the bundle"),
        ("absolute", "absolute member path"),
        ("symlink", "is a link"),
        ("hardlink", "is a link"),
        ("device", "not a regular file"),
        ("huge", "over the"),
    ],
)
def test_unsafe_archives_are_refused_with_exit_3(tmp_path: Path, kind: str, error: str) -> None:
    archive = tmp_path / "evil.tar.gz"
    _evil_archive(archive, kind)
    with pytest.raises(BundleIntegrityError, match=error):
        read_bundle(archive)
    work = tmp_path / "work"
    work.mkdir()
    proc = run_edge("run_follower.py", str(archive), "anything", "--cwd", str(work))
    assert proc.returncode == 3 and error in proc.stderr, proc.stderr
    assert not (tmp_path.parent / "evil.txt").exists() and not Path("/tmp/evil.txt").exists()


def test_a_corrupt_archive_and_a_wrong_pin_are_refused(tmp_path: Path) -> None:
    ws, store = workspace_with(
        tmp_path, traces=[make_trace("Create a file named hello.txt", hello_calls())]
    )
    bundle = tmp_path / "b.tar.gz"
    report = export_bundle(ws, store, bundle, volumes=["users/local"])
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(bundle.read_bytes()[: len(bundle.read_bytes()) // 2])
    with pytest.raises(BundleError) as info:
        read_bundle(broken)
    assert int(info.value.exit_code) == 2
    with pytest.raises(BundleIntegrityError, match="not the expected"):
        read_bundle(bundle, expect_sha256="0" * 64)
    assert (
        read_bundle(bundle, expect_sha256=report.manifest_sha256.upper()).manifest_sha256
        == report.manifest_sha256
    )
    proc = run_edge(
        "run_follower.py",
        str(bundle),
        "Create a file named a.txt",
        "--cwd",
        str(tmp_path),
        "--expect-sha256",
        "f" * 64,
    )
    assert proc.returncode == 3 and "not the expected" in proc.stderr


# ---- import --------------------------------------------------------------------------------------------


def test_import_keeps_ids_never_overwrites_and_handles_conflicts(tmp_path: Path) -> None:
    t1 = make_trace("Create a file named hello.txt", hello_calls())
    ws, store = workspace_with(tmp_path, traces=[t1])
    bundle = tmp_path / "b"
    export_bundle(ws, store, bundle, volumes=["users/local"])
    ws2, store2 = workspace_with(tmp_path, "ws2")
    first = import_bundle(ws2, store2, bundle, volume="users/bob")
    assert first.imported == [t1.id] and store2.get(t1.id).goal == t1.goal
    assert store2.entry(t1.id).volume == "users/bob"
    second = import_bundle(ws2, store2, bundle, volume="users/bob")
    assert second.imported == [] and second.unchanged == [t1.id]
    # The same id with other content in the receiving workspace: skipped (default), renamed, or fail.
    local = store2.get(t1.id)
    local.summary = "edited here"
    store2.update(local)
    skipped = import_bundle(ws2, store2, bundle, volume="users/bob")
    assert skipped.imported == [] and skipped.skipped[0]["id"] == t1.id
    assert store2.get(t1.id).summary == "edited here"  # not overwritten
    with pytest.raises(BundleError, match="already exist with different content"):
        import_bundle(ws2, store2, bundle, volume="users/bob", on_conflict="fail")
    renamed = import_bundle(ws2, store2, bundle, volume="users/bob", on_conflict="rename")
    new_id = renamed.renamed[t1.id]
    assert (
        new_id != t1.id
        and store2.get(new_id).goal == t1.goal
        and store2.get(t1.id).summary == "edited here"
    )
    out = CliRunner().invoke(
        cli(),
        ["import", str(bundle), "--on-conflict", "bogus", "--workspace", str(tmp_path / "ws2")],
    )
    assert out.exit_code == 2 and "unknown conflict policy" in out.output


def test_crystallized_tools_travel_verified_and_run_with_no_llm(tmp_path: Path) -> None:
    """An active crystallized tool is exported with its trace; the edge runs its calls (CRYSTALLIZED);
    the import puts it in place so the receiving kernel runs it too; an edited tool is refused."""
    from llmos_tui.kernel import LLMOS, RunOptions

    kernel = LLMOS.boot(tmp_path / "wsA")
    from llmos_tui.learning.slots import extract_slots

    goal = "Create a file named hello.txt"
    trace = make_trace(goal, hello_calls(), slots=extract_slots(goal))  # as the kernel records it
    kernel.store.save(trace, volume=kernel.config.user_volume())
    tool = kernel.crystallizer().crystallize(kernel.store.get(trace.id))
    assert tool.status == "active", tool.manifest
    bundle = tmp_path / "b"
    report = export_bundle(
        kernel.workspace, kernel.store, bundle, volumes=[kernel.config.user_volume()]
    )
    assert report.tools == [tool.id]
    work = tmp_path / "edge"
    work.mkdir()
    proc = run_edge(
        "run_follower.py",
        str(bundle),
        "Create a file named notes.txt",
        "--cwd",
        str(work),
        "--json",
    )
    data = json.loads(proc.stdout)
    assert proc.returncode == 0 and data["mode"] == "CRYSTALLIZED", proc.stdout + proc.stderr
    assert (work / "notes.txt").is_file()

    kernel_b = LLMOS.boot(tmp_path / "wsB")
    imported = import_bundle(
        kernel_b.workspace, kernel_b.store, bundle, volume=kernel_b.config.user_volume()
    )
    assert (
        imported.tools_imported == [tool.id]
        and kernel_b.store.get(trace.id).crystallized_tool == tool.id
    )
    work_b = tmp_path / "b-work"
    work_b.mkdir()
    # Imported content is untrusted: not run as a tool (nor replayed) until approved (learning/trust.py).
    refused = kernel_b.execute("Create a file named hello.txt", options=RunOptions(cwd=work_b))
    assert refused.mode == "MIXED" and refused.exit_code == 5 and refused.llm_calls == 0
    assert "not approved" in refused.decision["reason"] and list(work_b.iterdir()) == []
    from llmos_tui.learning.trust import approve_trace

    approve_trace(kernel_b.store, trace.id, by="reviewer")
    result = kernel_b.execute("Create a file named hello.txt", options=RunOptions(cwd=work_b))
    assert result.mode == "CRYSTALLIZED" and result.success and result.llm_calls == 0, result.error

    def forge(text: str) -> None:
        """Rewrite the tool's module and, like a careful forger, every hash that covers it."""
        import hashlib

        module = bundle / "tools" / f"{tool.id}.py"
        module.write_text(text)
        meta_path = bundle / "tools" / f"{tool.id}.json"
        meta = json.loads(meta_path.read_text())
        meta["sha256"] = hashlib.sha256(text.encode()).hexdigest()
        meta_path.write_text(json.dumps(meta))
        manifest = json.loads((bundle / "manifest.json").read_text())
        for entry in manifest["tools"]:
            for key, path in (("module", module), ("manifest", meta_path)):
                entry[key]["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
                entry[key]["size"] = len(path.read_bytes())
        (bundle / "manifest.json").write_text(json.dumps(manifest))

    original = (bundle / "tools" / f"{tool.id}.py").read_text()
    ws_c, store_c = workspace_with(tmp_path, "wsC")
    forge(original + "\nimport os\n")  # code the generator never writes
    with pytest.raises(BundleIntegrityError, match="not what the crystallizer generates"):
        import_bundle(ws_c, store_c, bundle, volume="users/local")
    forge(original.replace("cat hello.txt", "cat hello.txt; id"))  # consistent data, other calls
    with pytest.raises(BundleIntegrityError, match="differ from those of its trace"):
        import_bundle(ws_c, store_c, bundle, volume="users/local")
    proc = run_edge(
        "run_follower.py", str(bundle), "Create a file named notes.txt", "--cwd", str(work)
    )
    assert proc.returncode == 3 and "differ from those of its trace" in proc.stderr
    assert store_c.index.entries() == []


# ---- edge replay behaviour -----------------------------------------------------------------------------


def test_edge_refusals_mismatches_and_scripts(tmp_path: Path) -> None:
    calc = make_trace(
        "Create a Python calculator",
        [
            ToolCall(
                "Write",
                {
                    "file_path": "{{cwd}}/calc.py",
                    "content": "import sys\nprint(eval(sys.argv[1]))\n",
                },
                {"is_error": False, "summary": "create {{cwd}}/calc.py"},
            ),
            ToolCall(
                "Bash",
                {"command": "python3 calc.py 2+3"},
                {"is_error": False, "summary": "5", "exit_code": 0},
            ),
        ],
    )
    check = make_trace(
        "Check that the data folder exists",
        [
            ToolCall(
                "Bash",
                {"command": "ls data"},
                {"is_error": False, "summary": "a.csv", "exit_code": 0},
            )
        ],
    )
    count = make_trace(
        "Count the lines of notes.txt in 3 parts",
        [
            ToolCall(
                "Bash",
                {"command": "wc -l notes.txt"},
                {"is_error": False, "summary": "3 notes.txt", "exit_code": 0},
            )
        ],
    )
    ws, store = workspace_with(tmp_path, traces=[calc, check, count])
    bundle = tmp_path / "b"
    export_bundle(ws, store, bundle, volumes=["users/local"])
    works: list[Path] = []

    def go(goal: str, *extra: str) -> tuple[int, dict]:
        work = tmp_path / f"w{len(works)}"
        work.mkdir()
        works.append(work)
        proc = run_edge("run_follower.py", str(bundle), goal, "--cwd", str(work), "--json", *extra)
        return proc.returncode, json.loads(proc.stdout)

    code, data = go("Build a calculator in Python")
    assert code == 3 and "--allow-scripts" in data["error"] and data["tool_calls"][0]["step"] == 2
    assert list(works[-1].iterdir()) == []  # refused before step 1 ran
    code, data = go("Build a calculator in Python", "--allow-scripts")
    assert code == 0 and data["success"] and "5" in data["output"]
    code, data = go("Delete the Python calculator")
    assert code == 5 and data["mode"] == "NONE" and "opposite actions" in data["error"]
    code, data = go("Check that the data folder exists")  # `ls data` now fails: a mismatch
    assert code == 1 and "does not match the recording" in data["error"]
    code, data = go(
        "Count the lines of notes.txt in 4 parts"
    )  # numbers are not substituted on the edge
    assert code == 5 and "only substitutes file names" in data["error"]
    code, data = go("Build a calculator in Python", "--dry-run", "--allow-scripts")
    assert code == 0 and data["dry_run"] and list(works[-1].iterdir()) == []
    assert "would run" in data["output"] and [c["name"] for c in data["tool_calls"]] == [
        "Write",
        "Bash",
    ]
    proc = run_edge("run_follower.py", str(bundle), "   ", "--cwd", str(tmp_path))
    assert proc.returncode == 2 and "the goal is empty" in proc.stderr
    proc = run_edge("run_follower.py", str(bundle), "x", "--cwd", str(tmp_path / "missing"))
    assert proc.returncode == 2 and "does not exist" in proc.stderr


def test_edge_matcher_makes_no_wrong_replay_on_the_dev_goals(dev_data: Path) -> None:
    sys.path.insert(0, str(EDGE))
    try:
        from edgekit.match import Matcher, decide
    finally:
        sys.path.remove(str(EDGE))

    class T:
        def __init__(self, i: int, goal: str) -> None:
            self.id, self.goal, self.calls = f"t{i}", goal, [{"name": "Write"}]
            self.outcome, self.success_count, self.failure_count = "success", 1, 0

    data = json.loads((dev_data / "goals-dev.json").read_text())
    traces = [T(i, g) for i, (g, _label) in enumerate(data["train"])]
    labels = {t.id: label for t, (_g, label) in zip(traces, data["train"], strict=True)}
    matcher = Matcher(traces)
    correct = wrong = 0
    for goal, label in data["test"] + data["oos_test"]:
        best, _why = decide(matcher.rank(goal))
        if best is not None:
            if labels[best.trace_id] == label:
                correct += 1
            else:
                wrong += 1
    assert wrong == 0  # precision first: no wrong replay at all
    assert correct >= 0.6 * len(data["test"])  # measured: 24 of 30

    # CLINC150, 10 stored phrasings per intent (1500 traces): chat-style goals, far from the vocabulary
    # the gates know; precision must hold (measured: 11 replays of 300 in-scope queries, all right).
    import random

    clinc = json.loads((dev_data / "clinc150-dev.json").read_text())
    per: dict[str, int] = {}
    stored = []
    for goal, label in clinc["train"]:
        if per.get(label, 0) < 10:
            per[label] = per.get(label, 0) + 1
            stored.append((goal, label))
    traces = [T(i, g) for i, (g, _label) in enumerate(stored)]
    labels = {t.id: label for t, (_g, label) in zip(traces, stored, strict=True)}
    matcher = Matcher(traces)
    queries = random.Random(0).sample(clinc["test"], 300) + clinc["oos_test"]
    wrong = [
        g
        for g, label in queries
        if (b := decide(matcher.rank(g))[0]) is not None and labels[b.trace_id] != label
    ]
    assert wrong == []


# The dev goals on which the edge and llmos still decide differently (the edge's tokenizer and
# gates are its own, smaller implementation; the words that decide verb classes are shared):
# goal -> (task the edge replays, task llmos replays), None = no replay.
EDGE_LLMOS_DIVERGENT = {
    "python script that prints all prime numbers under 100": (None, "primes_script"),
    "show git status": (None, "git_status"),
    "run the black formatter on the code": (None, "format_code"),
    "check disk usage of the current folder": ("disk_usage", None),
    "research recent AI trends and write a report about them": ("research_report", None),
    "make a tar.gz archive of the notes directory": ("backup_notes", None),
}


def test_the_edge_and_llmos_share_one_copy_of_the_verb_classes_and_the_stemmer() -> None:
    import edgekit.match as edge_match
    import edgekit.words as words
    from llmos_tui.learning import text

    assert text.VERB_LOOKUP is words.VERB_LOOKUP and text.stem is words.stem
    assert edge_match.VERB_LOOKUP is words.VERB_LOOKUP and edge_match.stem is words.stem
    assert edge_match.OPPOSED is words.OPPOSED
    assert edge_match.IMPLIED_CLASSES is text.IMPLIED_CLASSES is words.IMPLIED_CLASSES
    # the pieces llmos imports from edgekit are the edge's own files, not copies
    assert Path(words.__file__).resolve() == (EDGE / "edgekit" / "words.py").resolve()
    assert not (REPO / "llmos_tui" / "execution" / "sandbox" / "fs.py").exists()
    for goal in ("Delete the notes", "Remove hello.txt", "Start the server", "Stop the server"):
        q = edge_match.prepare(goal)
        assert q.verbs == text.prepare(goal).verbs, goal


def test_edgekit_is_one_package_shipped_in_the_wheel_and_found_in_a_checkout() -> None:
    """llmos imports the shared pieces as ``edgekit``: the wheel ships edge_runtime/edgekit as
    that top-level package, and in a checkout the root ``edgekit`` link points at the same folder
    (so there is nothing to keep in step)."""
    import tomllib

    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    packages = config["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    assert "llmos_tui" in packages and "edge_runtime/edgekit" in packages
    link = REPO / "edgekit"
    assert link.is_symlink() and link.resolve() == (EDGE / "edgekit").resolve()
    import edgekit

    assert Path(edgekit.__file__).resolve().parent == (EDGE / "edgekit").resolve()


def test_the_same_dev_goal_gets_the_same_decision_on_the_edge_and_in_llmos(
    dev_data: Path,
) -> None:
    """Every dev goal (paraphrases and near misses) is decided the same way by the edge and by
    llmos, except the listed ones; a change to either matcher that moves a decision fails here."""
    from edgekit.match import Matcher as EdgeMatcher, decide

    from llmos_tui.learning.matcher import Matcher

    class T:
        def __init__(self, i: int, goal: str) -> None:
            self.id, self.goal, self.calls = f"t{i}", goal, [{"name": "Write"}]
            self.outcome, self.success_count, self.failure_count = "success", 1, 0

    data = json.loads((dev_data / "goals-dev.json").read_text())
    traces = [T(i, g) for i, (g, _label) in enumerate(data["train"])]
    labels = {t.id: label for t, (_g, label) in zip(traces, data["train"], strict=True)}
    edge = EdgeMatcher(traces)
    llmos = Matcher(
        [
            {"id": t.id, "goal": t.goal, "success_count": 1, "failure_count": 0}
            | {"outcome": "success"}
            for t in traces
        ]
    )
    threshold = llmos.config.follower_threshold
    differ = {}
    for goal, _label in data["test"] + data["oos_test"]:
        best, _why = decide(edge.rank(goal))
        on_edge = labels[best.trace_id] if best is not None else None
        d = llmos.decide(goal)
        replays = d.trace_id and d.confidence >= threshold and all(g.passed for g in d.gates)
        in_llmos = labels[d.trace_id] if replays else None
        if on_edge != in_llmos:
            differ[goal] = (on_edge, in_llmos)
    assert differ == EDGE_LLMOS_DIVERGENT


def test_edge_policy_is_stricter_than_llmos(tmp_path: Path) -> None:
    sys.path.insert(0, str(EDGE))
    try:
        from edgekit.policy import EdgePolicy
    finally:
        sys.path.remove(str(EDGE))
    (tmp_path / "etc").symlink_to("/etc")
    (tmp_path / "calc.py").write_text("print(1)\n")
    policy, scripts = EdgePolicy(), EdgePolicy(allow_scripts=True)
    allowed = [
        "echo hi > out.txt",
        "ls -la",
        "mkdir -p src && touch src/a.py",
        "ls 2>&1 | wc -l",
        "cd src && ls",
        "cat < in.txt > out.txt",
        "rm old.txt",
        "echo 'a$b'",
        "grep -r foo .",
        "cat *.txt",
        "ls > /dev/null 2>&1",
        "chmod +x calc.py",
    ]
    denied = [
        "cat /etc/passwd",
        "cat etc/passwd",
        "echo $HOME",
        "echo `id`",
        "rm -rf x",
        "cd .. && ls",
        "curl http://x",
        "cat .*/x",
        "(ls)",
        "ls &",
        "X=1 ls",
        "cat <<EOF",
        "sort --compress-program=sh f",
        "cat ~/x",
        "echo hi\nrm x",
        "chmod u+s calc.py",
        "/bin/ls",
        "python3 calc.py",
        "./calc.py",
        "echo hi > .git/hooks/pre-commit",
        "tee /tmp/x",
        "echo {a,b}",
        "git status",
        "sed -i s/a/b/ f",
        "find . -delete",
        "python3 -c 'print(1)'",
        "echo a\\ b",
        "cd src || cat ../x",
        "cd src | cat ../x",
        "cd src && cd .. && cat ../x",
        "cp * dest/",
        "sort *.txt",
        "touch *",
    ]
    for command in allowed:
        assert policy.check("Bash", {"command": command}, tmp_path).allowed, command
    for command in denied:
        assert not policy.check("Bash", {"command": command}, tmp_path).allowed, command
    assert scripts.check("Bash", {"command": "python3 calc.py"}, tmp_path).allowed
    assert not scripts.check("Bash", {"command": "python3 -c 'import os'"}, tmp_path).allowed
    assert not scripts.check("Bash", {"command": "python3 missing.py"}, tmp_path).allowed
    assert scripts.check(
        "Bash",
        {"command": "python3 later.py"},
        tmp_path,
        planned=[str(tmp_path.resolve() / "later.py")],
    ).allowed
    assert not policy.check(
        "Read", {"file_path": "/etc/hostname"}, tmp_path
    ).allowed  # llmos allows it
    assert not policy.check("Write", {"file_path": "etc/x", "content": ""}, tmp_path).allowed
    assert not policy.check("Glob", {"pattern": "../*"}, tmp_path).allowed
    assert not policy.check("WebFetch", {"url": "https://x"}, tmp_path).allowed
    assert not policy.check("Write", {"file_path": 3}, tmp_path).allowed


# ---- agentic follower ----------------------------------------------------------------------------------


def test_agentic_follower_adapts_the_closest_trace_with_a_model(
    scripted_server: ScriptedServer, tmp_path: Path
) -> None:
    t1 = make_trace("Create a file named hello.txt", hello_calls())
    ws, store = workspace_with(tmp_path, traces=[t1])
    bundle = tmp_path / "b.tar.gz"
    export_bundle(ws, store, bundle, volumes=["users/local"])
    env = dict(os.environ, ANTHROPIC_BASE_URL=scripted_server.url, ANTHROPIC_API_KEY="local")

    # A goal the trace fits exactly: replayed, the server is never asked.
    work = tmp_path / "exact"
    work.mkdir()
    proc = run_edge(
        "run_agentic_follower.py",
        str(bundle),
        "Create a file named hello.txt",
        "--cwd",
        str(work),
        "--json",
        env=env,
    )
    assert proc.returncode == 0 and json.loads(proc.stdout)["mode"] == "FOLLOWER", proc.stderr
    assert scripted_server.request_count == 0

    # A goal it does not fit: the model gets the trace's calls as examples and its tool calls run here.
    scripted_server.add_turns(
        tool_turn("Write", {"file_path": "greeting.txt", "content": "Hello, edge!\n"}),
        tool_turn(
            [
                ("Bash", {"command": "cat greeting.txt"}),
                ("Write", {"file_path": "/etc/evil", "content": "x"}),
            ]
        ),
        text_turn("Wrote greeting.txt."),
    )
    work = tmp_path / "adapt"
    work.mkdir()
    proc = run_edge(
        "run_agentic_follower.py",
        str(bundle),
        "Create a greeting file named greeting.txt",
        "--cwd",
        str(work),
        "--json",
        "--model",
        "local-model",
        env=env,
    )
    data = json.loads(proc.stdout)
    assert (work / "greeting.txt").read_text() == "Hello, edge!\n"
    assert data["mode"] == "MIXED" and data["llm_calls"] == 3 and data["trace_id"] == t1.id
    assert data["input_tokens"] == scripted_server.total_input_tokens > 0
    assert (
        proc.returncode == 3 and data["success"] is False and "blocked" in data["error"]
    )  # /etc/evil
    first, second, third = scripted_server.main_requests
    assert first.model == "local-model" and first.stream is False
    assert "Create a file named hello.txt" in json.dumps(first.messages)  # the example trace
    assert sorted(first.tools) == ["Bash", "Read", "Write"]  # the trace's tools + Read
    results = [
        b
        for m in third.messages
        for b in (m["content"] if isinstance(m["content"], list) else [])
        if isinstance(b, dict) and b.get("type") == "tool_result"
    ]
    assert any("Hello, edge!" in str(r["content"]) for r in results)
    assert any(r["is_error"] and "blocked by policy" in str(r["content"]) for r in results)
    assert not Path("/etc/evil").exists()


def test_agentic_follower_without_a_model_says_so(tmp_path: Path) -> None:
    ws, store = workspace_with(
        tmp_path, traces=[make_trace("Create a file named hello.txt", hello_calls())]
    )
    bundle = tmp_path / "b"
    export_bundle(ws, store, bundle, volumes=["users/local"])
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}
    proc = run_edge(
        "run_agentic_follower.py",
        str(bundle),
        "Write a poem about the sea",
        "--cwd",
        str(tmp_path),
        env=env,
    )
    assert proc.returncode == 5 and "no model is configured" in proc.stderr
    server = ScriptedServer()
    server.start()
    url = server.url
    server.stop()
    env["ANTHROPIC_BASE_URL"] = url
    proc = run_edge(
        "run_agentic_follower.py",
        str(bundle),
        "Write a poem about the sea",
        "--cwd",
        str(tmp_path),
        env=env,
        timeout=60,
    )
    assert proc.returncode == 1 and "cannot reach the model server" in proc.stderr
