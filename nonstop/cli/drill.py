"""`nonstop drill`: not built yet (see its issue)."""

from __future__ import annotations

import typer

from nonstop.errors import InputError

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    @app.command(name="drill", help="Not built yet.")
    def _drill_stub() -> None:
        raise InputError("nonstop drill is not built yet")
