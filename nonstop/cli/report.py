"""`nonstop report REPORT.json [--out FILE]`: render report.html again from a saved report.json."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from nonstop.errors import InputError

__all__ = ["register", "render_report_file"]


def render_report_file(report_json: Path, out: Path | None = None) -> Path:
    """Read `report_json`, write its HTML rendering to `out` (default: report.html beside it); returns `out`."""
    from nonstop.report.html import render_html
    from nonstop.report.writer import REPORT_HTML, load_report

    report = load_report(report_json)
    target = out if out is not None else report_json.parent / REPORT_HTML
    text = render_html(report)
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise InputError(f"cannot write {target}: {exc.strerror or exc}; pass a writable --out") from exc
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        Path(temporary).replace(target)
    except OSError as exc:
        Path(temporary).unlink(missing_ok=True)
        raise InputError(f"cannot write {target}: {exc.strerror or exc}; pass a writable --out") from exc
    return target


def register(app: typer.Typer) -> None:
    @app.command(name="report")
    def report_command(
        report_json: Annotated[Path, typer.Argument(help="A report.json that a drill wrote.", show_default=False)],
        out: Annotated[
            Path | None, typer.Option("--out", "-o", help="Where to write the page (default: report.html beside it).")
        ] = None,
    ) -> None:
        """Render report.html again from a saved report.json (e.g. one from a workflow artifact).

        Exit 0 when the page was written, 2 when the report cannot be read or the page cannot be written.
        """
        written = render_report_file(report_json, out)
        typer.echo(str(written))
