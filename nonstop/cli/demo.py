"""`nonstop demo`: not built yet (see its issue)."""

from __future__ import annotations

import typer

from nonstop.errors import InputError

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    @app.command(name="demo", help="Not built yet.")
    def _demo_stub() -> None:
        raise InputError("nonstop demo is not built yet")
