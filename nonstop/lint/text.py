"""Text output for people: findings grouped by object, coloured on a terminal, a summary line last.

Plain ANSI escapes and `textwrap`, not rich: this runs on every `nonstop lint`, often as a
pre-commit hook, and rich alone costs more start-up than the whole lint (bench/lint_startup.py).
"""

from __future__ import annotations

from itertools import groupby

from nonstop.lint.run import LintReport, LocatedFinding

__all__ = ["render_text"]

_RESET = "\x1b[0m"
_STYLE = {
    "error": "\x1b[1;31m",
    "warning": "\x1b[33m",
    "bold": "\x1b[1m",
    "object": "\x1b[1;36m",
    "dim": "\x1b[2m",
    "ok": "\x1b[32m",
}


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _object_key(located: LocatedFinding) -> tuple[str | None, int | None, str, str, str | None]:
    f = located.finding
    return (located.file, located.line, f.kind, f.name, f.namespace)


def render_text(report: LintReport, *, color: bool = False, width: int = 100) -> str:
    """The findings as text; long messages wrap (indented) only when `color` says a terminal reads them."""

    def styled(text: str, style: str) -> str:
        return f"{_STYLE[style]}{text}{_RESET}" if color and style and text else text

    lines: list[str] = []
    for (file, line, kind, name, namespace), group in groupby(report.findings, key=_object_key):
        where = f"{file}:{line}" if file and line else (file or "")
        header = f"{styled(where, 'bold')}  " if where else ""
        header += styled(f"{kind}/{name}", "object")
        if namespace:
            header += f" (namespace {namespace})"
        lines.append(header)
        for located in group:
            f = located.finding
            title = "  " + styled(f"{f.severity:<8}", f.severity) + styled(f.rule, "bold")
            if f.container:
                title += styled(f"  container {f.container}", "dim")
            lines.append(title)
            if color:
                import textwrap

                lines.extend(
                    textwrap.wrap(f.message, width=max(width - 1, 40), initial_indent="    ", subsequent_indent="    ")
                )
            else:
                lines.append("    " + f.message)
        lines.append("")
    errors, warnings = report.count("error"), report.count("warning")
    checked = _plural(len(report.objects), "object")
    sources = _plural(len(report.files), "input")
    skipped = f", {_plural(len(report.skipped), 'template')} skipped" if report.skipped else ""
    if not report.objects:
        kinds = "Deployment, StatefulSet, Rollout, DaemonSet, Service or PodDisruptionBudget"
        lines.append(f"no {kinds} found in {sources}")
    elif not report.findings:
        lines.append(styled(f"no zero-downtime hazards found in {checked} ({sources}{skipped})", "ok"))
    else:
        flagged = len({(f.file, f.line, f.finding.index) for f in report.findings})
        error_text = styled(_plural(errors, "error"), "error" if errors else "")
        warning_text = styled(_plural(warnings, "warning"), "warning" if warnings else "")
        lines.append(f"{error_text}, {warning_text} in {flagged} of {checked} ({sources}{skipped})")
    return "\n".join(line.rstrip() for line in lines) + "\n"
