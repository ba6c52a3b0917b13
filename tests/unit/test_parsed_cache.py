"""The parsed-trace cache: a replay reads its trace without parsing it, and never a stale one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from llmos_tui.learning import parsed_cache
from llmos_tui.learning.slots import extract_slots
from llmos_tui.learning.store import TraceStore
from llmos_tui.learning.traces import ToolCall, make_trace
from llmos_tui.workspace import open_workspace

GOAL = "Create the greeting file hello.txt"

# Whether the run parsed a trace file: parse_trace reads the frontmatter through
# split_frontmatter (a module global, looked up on every call). Since the frontmatter that
# dump_trace writes is read without PyYAML (trace_header.py), "yaml in sys.modules" no longer
# tells a parse from a cache hit.
PROBE = r"""
import json, sys
out = sys.argv.pop(1)
sys.argv[0] = 'llmos'
from llmos_tui.learning import traces
parsed = []
split = traces.split_frontmatter
def counting(text, source=""):
    parsed.append(source)
    return split(text, source)
traces.split_frontmatter = counting
from llmos_tui.__main__ import main
try:
    main()
finally:
    with open(out, 'w') as f:
        json.dump({'parsed': bool(parsed)}, f)
"""


def hello_trace(content: str = "Hello!\n"):
    return make_trace(
        GOAL,
        [
            ToolCall(
                "Write",
                {"file_path": "{{cwd}}/hello.txt", "content": content},
                {"is_error": False, "summary": "created", "files_created": ["hello.txt"]},
            )
        ],
        slots=extract_slots(GOAL),
    )


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMOS_")}
    env["LLMOS_LEARNING__AUTO_CRYSTALLIZATION"] = (
        "false"  # stay FOLLOWER (a plain scalar: no PyYAML)
    )
    return env


def follow(ws: Path, cwd: Path, tmp_path: Path) -> tuple[dict, bool]:
    cwd.mkdir()
    out = tmp_path / "probe.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            PROBE,
            str(out),
            "--headless",
            "run",
            GOAL,
            "--json",
            "--workspace",
            str(ws),
            "--cwd",
            str(cwd),
        ],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout), json.loads(out.read_text())["parsed"]


@pytest.mark.slow
def test_a_replay_after_a_replay_reads_its_trace_without_parsing_it(tmp_path: Path) -> None:
    ws = open_workspace(tmp_path / "ws")
    trace = hello_trace()
    uses = trace.usage_count
    TraceStore(ws).save(trace, volume="users/local")
    first, parsed_first = follow(ws.root, tmp_path / "a", tmp_path)
    assert first["mode"] == "FOLLOWER" and first["success"]
    assert parsed_first, "the first replay parses the file written by another run (the premise)"
    second, parsed_second = follow(ws.root, tmp_path / "b", tmp_path)
    assert second["mode"] == "FOLLOWER" and second["success"]
    assert not parsed_second, (
        "the second replay should have read the trace from the cache",
        second,
    )
    assert (tmp_path / "b" / "hello.txt").read_text() == "Hello!\n"
    stored = TraceStore(ws).get(trace.id)
    assert stored.usage_count == uses + 2, (
        "both replays were counted (the second from the cached trace)"
    )


@pytest.mark.slow
def test_a_trace_edited_by_hand_is_read_from_its_file(tmp_path: Path) -> None:
    ws = open_workspace(tmp_path / "ws")
    trace = hello_trace()
    TraceStore(ws).save(trace, volume="users/local")
    follow(ws.root, tmp_path / "a", tmp_path)  # the cache now holds the trace
    path = ws.root / "volumes" / "users" / "local" / "traces" / f"{trace.id}.md"
    path.write_text(path.read_text().replace("Hello!\\n", "Edited!\\n"))
    # Edited content is untrusted until approved (learning/trust.py); approving it here parses it
    # in this process only, so the replay below still has to read the file.
    from llmos_tui.learning.trust import approve_trace

    approve_trace(TraceStore(ws), trace.id, by="local")
    result, parsed = follow(ws.root, tmp_path / "b", tmp_path)
    assert result["mode"] == "FOLLOWER" and parsed
    assert (tmp_path / "b" / "hello.txt").read_text() == "Edited!\n"


def test_the_cache_returns_fresh_objects_and_ignores_untrusted_or_foreign_files(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    cache = parsed_cache.ParsedTraceCache(state)
    trace = hello_trace()
    uses = trace.usage_count
    cache.put("text", trace)
    trace.usage_count = 99  # put took a snapshot
    got = cache.get("text")
    assert got is not trace and got.id == trace.id and got.usage_count == uses
    got.usage_count = 7
    assert cache.get("text").usage_count == uses  # every get is a fresh object
    assert cache.get("other text") is None
    cache.flush()
    path = state / parsed_cache.NAME
    assert path.stat().st_mode & 0o777 == 0o600
    assert parsed_cache.ParsedTraceCache(state).get("text").id == trace.id
    os.chmod(path, 0o666)  # writable by others: never loaded
    assert parsed_cache.ParsedTraceCache(state).get("text") is None
    os.chmod(path, 0o600)
    path.write_bytes(b"not a pickle")
    assert parsed_cache.ParsedTraceCache(state).get("text") is None


def test_a_cache_written_by_another_trace_model_is_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = parsed_cache.ParsedTraceCache(tmp_path)
    cache.put("text", hello_trace())
    cache.flush()
    monkeypatch.setattr(parsed_cache, "code_stamp", lambda: "another version")
    assert parsed_cache.ParsedTraceCache(tmp_path).get("text") is None


def test_the_stamp_follows_the_trace_model_source_not_its_mtime(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same sources installed elsewhere share the cache; an edit to the trace model or to
    its header reader is noticed. The sources are read next to parsed_cache.py (trace_header is
    not imported for it); the modules' own files when they are not there."""
    import sys

    from llmos_tui.learning import trace_header, traces

    stamp = parsed_cache.code_stamp()
    install = tmp_path / "elsewhere"
    install.mkdir()
    sources = {}
    for module in (traces, trace_header):
        name = Path(str(module.__file__)).name
        sources[name] = Path(str(module.__file__)).read_bytes()
        (install / name).write_bytes(sources[name])
        os.utime(install / name, ns=(1, 10**18))  # another install: another mtime, the same code
    monkeypatch.setattr(parsed_cache, "__file__", str(install / "parsed_cache.py"))
    assert parsed_cache.code_stamp() == stamp
    for name, source in sources.items():
        (install / name).write_bytes(source + b"\n# edited\n")
        assert parsed_cache.code_stamp() != stamp, name
        (install / name).write_bytes(source)
        assert parsed_cache.code_stamp() == stamp
    # not next to it (another layout): the modules' files, found by importing them
    monkeypatch.setattr(parsed_cache, "__file__", str(tmp_path / "nowhere" / "parsed_cache.py"))
    for module in (traces, trace_header):
        copy = tmp_path / Path(str(module.__file__)).name
        copy.write_bytes(Path(str(module.__file__)).read_bytes())
        monkeypatch.setattr(module, "__file__", str(copy))
        assert parsed_cache.code_stamp() == stamp
        copy.write_bytes(copy.read_bytes() + b"\n# edited\n")
        assert parsed_cache.code_stamp() != stamp, module.__name__
        monkeypatch.setattr(module, "__file__", sys.modules[module.__name__].__spec__.origin)
    monkeypatch.undo()
    assert parsed_cache.code_stamp() == stamp


def test_the_cache_keeps_the_most_recent_traces(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(parsed_cache, "KEEP", 3)
    cache = parsed_cache.ParsedTraceCache(tmp_path)
    for n in range(5):
        cache.put(f"text {n}", hello_trace(f"{n}\n"))
    cache.flush()
    again = parsed_cache.ParsedTraceCache(tmp_path)
    assert [again.get(f"text {n}") is not None for n in range(5)] == [
        False,
        False,
        True,
        True,
        True,
    ]


def test_a_trace_rewritten_after_every_replay_keeps_one_entry(tmp_path: Path) -> None:
    import pickle

    cache = parsed_cache.ParsedTraceCache(tmp_path)
    trace = hello_trace()
    for uses in range(10):
        trace.usage_count = uses
        cache.put(f"version {uses}", trace)
    cache.flush()
    again = parsed_cache.ParsedTraceCache(tmp_path)
    assert again.get("version 9").usage_count == 9
    assert all(again.get(f"version {n}") is None for n in range(9))
    with open(tmp_path / parsed_cache.NAME, "rb") as handle:
        assert list(pickle.load(handle)["traces"]) == [trace.id]
