"""The `nonstop` command line: the console script's entry point.

`main()` hands everything to the Typer app (`nonstop.cli.app`, one module per command group),
except a well-formed `nonstop lint ...`: that runs straight away (`nonstop.cli.lint.run_fast`)
without importing Typer, Click, rich, structlog or any other command, because lint runs as a
pre-commit hook on every commit and its start-up is felt (bench/lint_startup.py). Anything the fast
path does not understand (`--help`, a global option, a usage error) goes to the Typer app, so help
and usage errors look the same as every other command's.

`app` is the Typer app, imported on first use.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import typer

__all__ = ["app", "main"]


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script: `nonstop lint` on its fast path, everything else through Typer."""
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["lint"]:
        from nonstop.cli.lint import run_fast

        code = run_fast(args[1:])
        if code is not None:
            sys.exit(code)
    from nonstop.cli.app import main as app_main

    app_main(argv)


def __getattr__(name: str) -> typer.Typer:
    if name == "app":
        from nonstop.cli.app import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
