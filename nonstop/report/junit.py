"""`junit.xml`: a drill as a JUnit test suite, so GitLab, Jenkins and GitHub test views list drills like tests.

One `<testsuite>` per drill (named after it) inside `<testsuites>`, one `<testcase>` per check
(`classname` `nonstop.drill.<drill>`, `name` the check). A failed check carries `<failure>` whose
`message` is the check's one-line summary; an inconclusive check carries `<error type="inconclusive">`.
When the verdict is inconclusive for a reason no check shows (interrupted, observation lost, deadline
passed), one more testcase, `verdict`, carries that reason as an `<error>`, so a CI view never shows
an inconclusive drill green. The suite's properties hold the verdict, decision and action; its
`<system-out>` holds the verdict's reasons and the notes. The shape follows the common JUnit schema
(Jenkins' junit-10.xsd), which the tests validate it against.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC

from nonstop.report.model import Report

__all__ = ["render_junit"]


def render_junit(report: Report) -> str:
    """The whole junit.xml for `report` (UTF-8 text with an XML declaration)."""
    window = report.window
    duration = 0.0
    if window.start is not None and window.end is not None:
        duration = max((window.end - window.start).total_seconds(), 0.0)
    cases: list[tuple[str, str | None, str, str]] = []
    """(name, outcome: None/'failure'/'error', message, type)."""
    for check in report.checks:
        if check.passed is True:
            cases.append((check.name, None, "", ""))
        elif check.passed is False:
            cases.append((check.name, "failure", check.summary, check.name))
        else:
            cases.append((check.name, "error", check.summary, "inconclusive"))
    if report.verdict == "inconclusive" and all(check.passed is True for check in report.checks):
        said = {f"{c.name}: {c.summary}" for c in report.checks}
        reasons = [r for r in report.verdict_reasons if r not in said] or ["the drill was inconclusive"]
        cases.append(("verdict", "error", "; ".join(reasons), "inconclusive"))
    failures = sum(1 for case in cases if case[1] == "failure")
    errors = sum(1 for case in cases if case[1] == "error")
    counts = {"tests": str(len(cases)), "failures": str(failures), "errors": str(errors)}
    root = ET.Element("testsuites", {"name": "nonstop", **counts, "time": f"{duration:.3f}"})
    suite_attributes = {"name": report.drill, **counts, "skipped": "0", "time": f"{duration:.3f}"}
    if window.start is not None:
        suite_attributes["timestamp"] = window.start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    suite = ET.SubElement(root, "testsuite", suite_attributes)
    properties = ET.SubElement(suite, "properties")
    for name, value in (
        ("verdict", report.verdict),
        ("decision", report.decision),
        ("action", report.action),
        ("requests", str(report.requests.total)),
        ("failed-requests", str(report.requests.failed)),
    ):
        ET.SubElement(properties, "property", {"name": name, "value": value})
    for name, outcome, message, kind in cases:
        case = ET.SubElement(
            suite, "testcase", {"name": name, "classname": f"nonstop.drill.{report.drill}", "time": f"{duration:.3f}"}
        )
        if outcome is not None:
            element = ET.SubElement(case, outcome, {"message": message, "type": kind})
            element.text = message
    out = ET.SubElement(suite, "system-out")
    lines = [f"verdict {report.verdict}, decision {report.decision}, action {report.action}"]
    lines += [f"reason: {reason}" for reason in report.verdict_reasons]
    lines += [f"note: {note}" for note in report.notes]
    out.text = "\n".join(lines) + "\n"
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
