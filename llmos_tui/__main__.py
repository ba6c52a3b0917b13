"""Console entry point. Keeps `llmos --version` fast by answering it before importing Typer, and
starts a well-formed `llmos --headless run "GOAL" [options]` without Typer (see headless.py)."""

from __future__ import annotations

import sys


def main() -> None:
    argv = sys.argv[1:]
    if argv in (["--version"], ["-V"]):
        from . import __version__

        sys.stdout.write(f"llmos {__version__}\n")
        raise SystemExit(0)
    if argv[:2] == ["--headless", "run"]:
        # Start-up (imports, the index, the matcher) makes ~100k objects that live until exit;
        # the cyclic GC would walk them again and again (about 6 % of a cold replay). The run
        # turns it back on, with them frozen, at its first event (headless._resume_gc).
        import gc

        gc.disable()
        from .headless import main as headless_main

        code = headless_main(argv)
        if code is not None:
            raise SystemExit(code)
        gc.enable()  # not a plain run after all: Typer's turn
    from .cli import run_cli

    run_cli()


if __name__ == "__main__":
    main()
