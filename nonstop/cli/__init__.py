"""The `nonstop` command line: one Typer app, one module per command group.

Errors: every `NonstopError` is caught once in `main()`, printed as one sentence on stderr, and
turned into its exit code (2 unless the error says otherwise); `--debug` shows the traceback.
Heavy imports (hera, the kubernetes client, the sandbox) happen inside the commands that need
them, so `nonstop lint` starts fast.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from nonstop.errors import NonstopError
from nonstop.logs import LogFormat, configure_logging

__all__ = ["app", "main"]

app = typer.Typer(
    name="nonstop",
    help="Prove a Kubernetes rollout is zero-downtime under real load, and stop it when it is not.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

_state = {"debug": False}


@app.callback()
def _global_options(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and debug logs.")] = False,
    log_format: Annotated[
        str, typer.Option("--log-format", help="auto (console on a terminal, else json), console or json.")
    ] = "auto",
) -> None:
    if log_format not in ("auto", "console", "json"):
        raise typer.BadParameter(f"--log-format must be auto, console or json, not {log_format!r}")
    fmt: LogFormat = log_format  # type: ignore[assignment]  # checked just above
    _state["debug"] = debug
    configure_logging(log_format=fmt, debug=debug)


def _register() -> None:
    from nonstop.cli import controlplane, demo, drill, lint, report, sandbox, schema, workflows, zoo

    for module in (lint, drill, demo, zoo, sandbox, controlplane, report, workflows, schema):
        module.register(app)


_register()


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script: run the app, map our errors to one line and an exit code."""
    try:
        # In non-standalone mode click returns a command's `typer.Exit` code instead of raising it.
        code = app(args=argv, standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except NonstopError as exc:
        if _state["debug"]:
            raise
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        print("aborted", file=sys.stderr)
        sys.exit(130)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:  # usage errors arrive here in non-standalone mode
        # typer ≥ 0.2x vendors click (`typer._click`), whose exceptions derive from typer.TyperException.
        usage_errors = tuple(t for t in (getattr(typer, "TyperException", None), _click_exception()) if t)
        show = getattr(exc, "show", None)
        if isinstance(exc, usage_errors) and callable(show):
            show()
            sys.exit(2)
        raise


def _click_exception() -> type[Exception] | None:
    try:
        from click import ClickException
    except ImportError:
        return None
    return ClickException
