"""`nonstop sandbox`: not built yet (see its issue)."""

from __future__ import annotations

import typer

from nonstop.errors import InputError

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    @app.command(name="sandbox", help="Not built yet.")
    def _sandbox_stub() -> None:
        raise InputError("nonstop sandbox is not built yet")
