"""`nonstop report`: not built yet (see its issue)."""

from __future__ import annotations

import typer

from nonstop.errors import InputError

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    @app.command(name="report", help="Not built yet.")
    def _report_stub() -> None:
        raise InputError("nonstop report is not built yet")
