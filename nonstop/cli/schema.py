"""`nonstop schema`: print the JSON Schema of the drill spec."""

from __future__ import annotations

import json

import typer

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    @app.command(name="schema")
    def schema_command() -> None:
        """Print the JSON Schema (2020-12) of the drill spec (`kind: Drill`)."""
        from nonstop.spec import drill_schema

        typer.echo(json.dumps(drill_schema(), indent=2))
