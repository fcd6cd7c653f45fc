"""`nonstop lint`: not built yet (see its issue)."""

from __future__ import annotations

import typer

from nonstop.errors import InputError

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    @app.command(name="lint", help="Not built yet.")
    def _lint_stub() -> None:
        raise InputError("nonstop lint is not built yet")
