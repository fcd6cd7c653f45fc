"""Writes a drill's report into its report directory, and reads a saved report.json back.

`report.json` is always written first, so the machine-readable verdict survives any rendering.
The other renderings (`report.html`, `junit.xml`) are listed in `RENDERINGS`:
each is a file name and a pure function from the `Report` to the file's text; `write_report`
writes them after the JSON, from the report as read back from that JSON (times in ms), so
`nonstop report` renders the very same page again from a saved report.json.
Every file is written atomically (a temporary file renamed over it), so a reader never sees half
a report.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from nonstop.errors import InputError
from nonstop.report.html import render_html
from nonstop.report.junit import render_junit
from nonstop.report.model import Report

__all__ = [
    "JUNIT_XML",
    "RENDERINGS",
    "REPORT_HTML",
    "REPORT_JSON",
    "Rendering",
    "load_report",
    "report_json",
    "write_report",
]

REPORT_JSON = "report.json"


@dataclass(frozen=True, slots=True)
class Rendering:
    """One more file of the report directory, rendered from the report alone."""

    filename: str
    render: Callable[[Report], str]


REPORT_HTML = "report.html"
JUNIT_XML = "junit.xml"

RENDERINGS: tuple[Rendering, ...] = (Rendering(REPORT_HTML, render_html), Rendering(JUNIT_XML, render_junit))
"""The renderings written beside report.json: the HTML timeline and the JUnit suite."""


def report_json(report: Report) -> str:
    """report.json's text: CONTRACT.md's keys, two-space indent, UTF-8 characters kept, final newline."""
    return json.dumps(report.to_json_dict(), indent=2, ensure_ascii=False) + "\n"


def write_report(
    report: Report,
    report_dir: Path,
    *,
    renderings: Sequence[Rendering] = RENDERINGS,
) -> list[Path]:
    """Write report.json, then each rendering, into `report_dir` (created if missing); return the paths written."""
    try:
        report_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(
            f"cannot create the report directory {report_dir}: {exc.strerror or exc}; pass a writable --report-dir"
        ) from exc
    text = report_json(report)
    written = [_write_atomically(report_dir / REPORT_JSON, text)]
    saved = Report.model_validate_json(text)  # render what report.json says (ms times): re-renders match
    written.extend(_write_atomically(report_dir / r.filename, r.render(saved)) for r in renderings)
    return written


def load_report(path: Path) -> Report:
    """Read a saved report.json; a missing, unreadable or invalid file is an `InputError` naming it."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read the report {path}: {exc.strerror or exc}") from exc
    try:
        return Report.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the top level"
        raise InputError(
            f"{path} is not a nonstop report.json: {where}: {first['msg']} ({exc.error_count()} problem(s))"
        ) from exc


def _write_atomically(path: Path, text: str) -> Path:
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(text)
            Path(temporary).chmod(0o644)  # mkstemp makes 0600; a report is for others to read (artifacts, CI)
            Path(temporary).replace(path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or exc}; pass a writable --report-dir") from exc
    return path
