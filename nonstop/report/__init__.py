"""The drill's report: the model of report.json and the files written to the report directory."""

from nonstop.report.model import (
    Action,
    CheckEntry,
    Decision,
    EventEntry,
    PodEntry,
    Report,
    ReportWindow,
    RequestsBlock,
    SeriesEntry,
    TimelineEntry,
    TimelineSource,
    build_report,
    format_timestamp,
)
from nonstop.report.writer import RENDERINGS, REPORT_JSON, Rendering, load_report, report_json, write_report

__all__ = [
    "RENDERINGS",
    "REPORT_JSON",
    "Action",
    "CheckEntry",
    "Decision",
    "EventEntry",
    "PodEntry",
    "Rendering",
    "Report",
    "ReportWindow",
    "RequestsBlock",
    "SeriesEntry",
    "TimelineEntry",
    "TimelineSource",
    "build_report",
    "format_timestamp",
    "load_report",
    "report_json",
    "write_report",
]
