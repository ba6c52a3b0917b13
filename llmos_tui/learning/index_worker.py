"""A worker process of ``TraceIndex.rebuild()`` over many files (``index._read_all``).

Reads ``marshal.dumps((root, [(volume, name), ...]))`` from stdin and writes
``marshal.dumps(index.reads_to_rows(index.read_entries(root, files)))`` to stdout: the same
function reads the files here as in the process that asked, only in parallel with it.
Nothing else is written, and nothing but the trace files is touched.
"""

from __future__ import annotations

import gc
import marshal
import sys

from .index import read_entries, reads_to_rows


def main() -> int:
    gc.disable()  # tens of thousands of objects, no cycles (index.gc_paused)
    root, files = marshal.loads(sys.stdin.buffer.read())
    sys.stdout.buffer.write(marshal.dumps(reads_to_rows(read_entries(root, files))))
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
