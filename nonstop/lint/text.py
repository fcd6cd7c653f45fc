"""Text output for people: findings grouped by object, coloured on a terminal (rich), a summary line last."""

from __future__ import annotations

import io
from itertools import groupby

from rich.console import Console
from rich.padding import Padding
from rich.text import Text

from nonstop.lint.run import LintReport, LocatedFinding

__all__ = ["render_text"]

_STYLE = {"error": "bold red", "warning": "yellow"}


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _object_key(located: LocatedFinding) -> tuple[str | None, int | None, str, str, str | None]:
    f = located.finding
    return (located.file, located.line, f.kind, f.name, f.namespace)


def render_text(report: LintReport, *, color: bool = False, width: int = 100) -> str:
    """The findings as text; long messages wrap (indented) only when `color` says a terminal reads them."""
    out = io.StringIO()
    console = Console(
        file=out, force_terminal=color, no_color=not color, highlight=False, width=width if color else 10_000
    )
    for (file, line, kind, name, namespace), group in groupby(report.findings, key=_object_key):
        where = f"{file}:{line}" if file and line else (file or "")
        header = Text()
        if where:
            header.append(where, style="bold")
            header.append("  ")
        header.append(f"{kind}/{name}", style="bold cyan")
        if namespace:
            header.append(f" (namespace {namespace})")
        console.print(header)
        for located in group:
            f = located.finding
            title = Text("  ")
            title.append(f"{f.severity:<8}", style=_STYLE[f.severity])
            title.append(f.rule, style="bold")
            if f.container:
                title.append(f"  container {f.container}", style="dim")
            console.print(title)
            console.print(Padding(Text(f.message), (0, 0, 0, 4), expand=False) if color else Text("    " + f.message))
        console.print()
    errors, warnings = report.count("error"), report.count("warning")
    checked = _plural(len(report.objects), "object")
    sources = _plural(len(report.files), "input")
    if not report.objects:
        console.print(f"no Deployment, StatefulSet, Rollout or Service found in {sources}")
    elif not report.findings:
        console.print(Text(f"no zero-downtime hazards found in {checked} ({sources})", style="green"))
    else:
        flagged = len({(f.file, f.line, f.finding.index) for f in report.findings})
        summary = Text()
        summary.append(_plural(errors, "error"), style=_STYLE["error"] if errors else "")
        summary.append(", ")
        summary.append(_plural(warnings, "warning"), style=_STYLE["warning"] if warnings else "")
        summary.append(f" in {flagged} of {checked} ({sources})")
        console.print(summary)
    return "\n".join(line.rstrip() for line in out.getvalue().rstrip("\n").splitlines()) + "\n"
