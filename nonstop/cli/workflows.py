"""`nonstop workflows`: not built yet (see its issue)."""

from __future__ import annotations

import typer

from nonstop.errors import InputError

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    @app.command(name="workflows", help="Not built yet.")
    def _workflows_stub() -> None:
        raise InputError("nonstop workflows is not built yet")
