"""From a finished drill to its report directory (report.json first, then the other renderings)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nonstop.drill.run import DrillRun
from nonstop.report.model import ReportWindow, build_report
from nonstop.report.writer import write_report

__all__ = ["write_reports"]


def write_reports(run: DrillRun, report_dir: Path) -> dict[str, Any]:
    """Build the report of `run`, write it into `report_dir`; returns the report as JSON data."""
    notes = list(run.notes)
    notes.append(f"decision: {run.decision.note}")
    report = build_report(
        run.judgement,
        drill=run.drill.metadata.name,
        decision=run.decision.decision,
        action=run.decision.action,
        events=run.observer.events,
        lint=run.preflight.lint,
        timeline=run.observer.timeline,
        notes=notes,
        min_serve_after_unready_seconds=run.drill.spec.ordering.min_serve_after_unready_seconds,
    )
    if run.window is not None:
        report.window = ReportWindow(start=run.window.start, end=run.window.end)
    write_report(report, report_dir)
    return report.to_json_dict()
