"""`nonstop lint PATH... [--format text|json|sarif|junit] [--fail-on error|warning|never] [--require-pdb]`.

Two ways in, one implementation (`execute`): `run_fast` parses a well-formed command line by hand
and is what the console script calls first (`nonstop.cli.main`), so a lint run imports neither
Typer nor anything else it does not use; `register` adds the same command to the Typer app, which
serves `--help`, global options and usage errors.
"""

import sys
from typing import TYPE_CHECKING, Annotated

from nonstop.errors import InputError, NonstopError

if TYPE_CHECKING:
    import typer

__all__ = ["execute", "register", "run_fast"]

_FAIL_ON = ("error", "warning", "never")
_FORMATS = ("text", "json", "sarif", "junit")
_VALUE_OPTIONS = {"--format": "fmt", "-o": "fmt", "--fail-on": "fail_on"}


def execute(paths: list[str], *, fmt: str = "text", fail_on: str = "error", require_pdb: bool = False) -> int:
    """Lint `paths`, print the report on stdout (skipped templates and invalid files of folders on stderr,
    one line each); the exit code: 2 when a file of a folder was invalid, else 1 or 0 by `fail_on`.

    Raises InputError for a bad flag value or unreadable input (exit 2).
    """
    if fmt not in _FORMATS:
        raise InputError(f"--format must be one of {', '.join(_FORMATS)}, not {fmt!r}")
    if fail_on not in _FAIL_ON:
        raise InputError(f"--fail-on must be one of {', '.join(_FAIL_ON)}, not {fail_on!r}")
    from nonstop.lint import lint_paths, render

    report = lint_paths(paths, require_pdb=require_pdb)
    for skipped in report.skipped:
        sys.stderr.write(f"{skipped}\n")
    for invalid in report.invalid:
        sys.stderr.write(f"error: {invalid}\n")
    if not report.invalid:
        report.check_not_empty()
    color = fmt == "text" and sys.stdout.isatty()
    width = 100
    if color:
        import shutil

        width = shutil.get_terminal_size((100, 24)).columns
    sys.stdout.write(render(report, fmt, fail_on=fail_on, color=color, width=width))
    sys.stdout.flush()
    if report.invalid:
        return 2  # invalid input, though the rest of the folder was linted and reported
    return 1 if report.failed(fail_on) else 0


def _parse(args: list[str]) -> dict[str, object] | None:
    """The options of a well-formed `nonstop lint` command line, or None for anything else."""
    options: dict[str, object] = {"paths": [], "fmt": "text", "fail_on": "error", "require_pdb": False}
    paths: list[str] = []
    position = 0
    while position < len(args):
        arg = args[position]
        position += 1
        if arg == "--":
            paths.extend(args[position:])
            break
        if arg == "--require-pdb":
            options["require_pdb"] = True
        elif arg.split("=", 1)[0] in ("--format", "--fail-on") and "=" in arg:
            name, value = arg.split("=", 1)
            options[_VALUE_OPTIONS[name]] = value
        elif arg in _VALUE_OPTIONS:
            if position >= len(args):
                return None
            options[_VALUE_OPTIONS[arg]] = args[position]
            position += 1
        elif arg.startswith("-") and arg != "-":
            return None  # --help, -h or an unknown option: the Typer app answers
        else:
            paths.append(arg)
    if not paths:
        return None
    options["paths"] = paths
    return options


def run_fast(args: list[str]) -> int | None:
    """Run `nonstop lint ARGS` without the Typer app; None when ARGS need it (help, usage errors)."""
    options = _parse(args)
    if options is None:
        return None
    try:
        return execute(
            list(options["paths"]),  # type: ignore[call-overload]  # built as a list just above
            fmt=str(options["fmt"]),
            fail_on=str(options["fail_on"]),
            require_pdb=bool(options["require_pdb"]),
        )
    except NonstopError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130


def register(app: "typer.Typer") -> None:
    import typer

    # No `from __future__ import annotations` in this module: Typer reads these annotations, and
    # `typer` is a local name here (the fast path never imports it).
    @app.command(name="lint")
    def lint_command(
        paths: Annotated[
            list[str],
            typer.Argument(
                help="YAML files, folders (searched recursively for *.yaml and *.yml) or - for stdin.",
                show_default=False,
            ),
        ],
        fmt: Annotated[
            str, typer.Option("--format", "-o", help="text, json, sarif (2.1.0) or junit.", show_default=True)
        ] = "text",
        fail_on: Annotated[
            str, typer.Option("--fail-on", help="Exit 1 on findings at or above: error, warning or never.")
        ] = "error",
        require_pdb: Annotated[
            bool,
            typer.Option(
                "--require-pdb", help="Report workloads no PodDisruptionBudget covers, even if the input has none."
            ),
        ] = False,
    ) -> None:
        """Check manifests for zero-downtime hazards (probes, preStop, grace period, rollout strategy, Services).

        Exit 0 when nothing is at or above --fail-on, 1 when something is, 2 when the input cannot be read.
        Pipe rendered charts in: `helm template my-release ./chart | nonstop lint -`.
        """
        raise typer.Exit(execute(paths, fmt=fmt, fail_on=fail_on, require_pdb=require_pdb))
