"""`nonstop lint PATH... [--format text|json|sarif|junit] [--fail-on error|warning|never] [--require-pdb]`."""

from __future__ import annotations

import shutil
import sys
from typing import Annotated

import typer

from nonstop.errors import InputError

__all__ = ["register"]

_FAIL_ON = ("error", "warning", "never")


def register(app: typer.Typer) -> None:
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
        from nonstop.lint import FORMATS, lint_paths, render

        if fmt not in FORMATS:
            raise InputError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
        if fail_on not in _FAIL_ON:
            raise InputError(f"--fail-on must be one of {', '.join(_FAIL_ON)}, not {fail_on!r}")
        report = lint_paths(paths, require_pdb=require_pdb)
        color = fmt == "text" and sys.stdout.isatty()
        width = shutil.get_terminal_size((100, 24)).columns
        sys.stdout.write(render(report, fmt, fail_on=fail_on, color=color, width=width))
        sys.stdout.flush()
        raise typer.Exit(1 if report.failed(fail_on) else 0)
