"""No private name (``_x``) of one of our modules is imported by another module.

Run by ``make check``. Attribute access (``module._x``, ``obj._x``) is ruff's SLF001 and private
modules (``_x.py``) are an import-linter contract; this covers ``from .mod import _x``, which
neither sees. Exit 1 with one line per import.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ROOTS = {"llmos_tui": REPO / "llmos_tui", "edgekit": REPO / "edge_runtime" / "edgekit"}
# Exceptions still to remove (importer, name): each says why.
ALLOWED = {
    # the volume's timestamp helper; the shared clock helper replaces both copies
    ("llmos_tui/volumes/promotion.py", "_now"),
}


def _target(path: Path, node: ast.ImportFrom) -> Path | None:
    """The package folder the import names (None: not one of ours)."""
    if node.level:
        base = path.parent
        for _ in range(node.level - 1):
            base = base.parent
    else:
        head, _, _ = (node.module or "").partition(".")
        if head not in ROOTS:
            return None
        base = ROOTS[head].parent
    for part in (node.module or "").split(".") if node.module else []:
        base = base / part
    return base


def problems() -> list[str]:
    out = []
    for root in ROOTS.values():
        for path in sorted(root.rglob("*.py")):
            rel = path.relative_to(REPO).as_posix()
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), rel)):
                if not isinstance(node, ast.ImportFrom):
                    continue
                target = _target(path, node)
                if target is None:
                    continue
                for alias in node.names:
                    name = alias.name
                    if not name.startswith("_") or name.startswith("__"):
                        continue
                    if (target / f"{name}.py").is_file() or (target / name).is_dir():
                        continue  # a private module: the import-linter contract's business
                    if (rel, name) in ALLOWED:
                        continue
                    out.append(f"{rel}:{node.lineno}: imports the private name {name}")
    return out


if __name__ == "__main__":
    found = problems()
    print("\n".join(found) or "private imports: none across modules")
    sys.exit(1 if found else 0)
