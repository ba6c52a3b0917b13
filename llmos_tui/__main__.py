"""Console entry point. Keeps `llmos --version` fast by answering it before importing Typer."""

from __future__ import annotations

import sys


def main() -> None:
    argv = sys.argv[1:]
    if argv in (["--version"], ["-V"]):
        from . import __version__

        sys.stdout.write(f"llmos {__version__}\n")
        raise SystemExit(0)
    from .cli import run_cli

    run_cli()


if __name__ == "__main__":
    main()
