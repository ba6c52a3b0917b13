"""A real attacker for race tests: a process swapping two names with renameat2(RENAME_EXCHANGE).

``Swapper(a, b)`` starts ``python -c`` in a tight loop exchanging ``a`` (say, a real folder in the
working directory) and ``b`` (a symlink to a folder outside it), as a background job left by an
earlier sandboxed command could. Each exchange is atomic: ``a`` is always either the folder or the
symlink. Used as a context manager; on exit the process is killed and waited for, and
``swaps`` holds how many exchanges it made.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SWAPPER = r"""
import ctypes, os, platform, signal, sys
libc = ctypes.CDLL(None, use_errno=True)
a, b = os.fsencode(sys.argv[1]), os.fsencode(sys.argv[2])
AT_FDCWD, RENAME_EXCHANGE = -100, 2
fn = getattr(libc, "renameat2", None)
if fn is None:   # glibc < 2.28: the raw syscall
    nr = {"x86_64": 316, "aarch64": 276}[platform.machine()]
    def fn(d1, p1, d2, p2, flags):
        return libc.syscall(nr, d1, p1, d2, p2, flags)
count = 0
def stop(*_):
    print(count, flush=True)
    os._exit(0)
signal.signal(signal.SIGTERM, stop)
print("ready", flush=True)
while True:
    if fn(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE) != 0:
        print("error", ctypes.get_errno(), flush=True)
        os._exit(1)
    count += 1
"""


class Swapper:
    def __init__(self, a: Path, b: Path) -> None:
        self.a, self.b = a, b
        self.swaps = 0
        self.proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> "Swapper":
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SWAPPER, str(self.a), str(self.b)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if line != "ready":
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError(f"the swapper did not start: {line!r}")
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.proc is not None
        self.proc.terminate()
        out, _ = self.proc.communicate(timeout=10)
        last = out.strip().splitlines()[-1] if out.strip() else ""
        if last.startswith("error"):
            raise RuntimeError(f"the swapper failed: {last}")
        self.swaps = int(last) if last.isdigit() else 0
