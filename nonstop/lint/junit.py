"""JUnit XML output: one testsuite, one testcase per workload or Service judged.

A testcase fails when it has findings at or above `--fail-on` (one `<failure>` listing them all,
so every JUnit reader shows the whole list); findings below the threshold go to its `<system-out>`.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from checks.lint import SEVERITY_RANK
from nonstop.lint.run import CheckedObject, LintReport, LocatedFinding

__all__ = ["render_junit"]


def _line(located: LocatedFinding) -> str:
    f = located.finding
    where = f" [container {f.container}]" if f.container else ""
    return f"{f.severity}: {f.rule}{where}: {f.message}"


def _failing(located: LocatedFinding, fail_on: str) -> bool:
    return fail_on != "never" and SEVERITY_RANK[located.finding.severity] >= SEVERITY_RANK[fail_on]


def _testcase(suite: ET.Element, obj: CheckedObject, fail_on: str) -> bool:
    case = ET.SubElement(suite, "testcase", name=obj.ref, classname=obj.file or "cluster", time="0")
    if obj.file is not None:
        case.set("file", obj.file)
    if obj.line is not None:
        case.set("line", str(obj.line))
    failing = [f for f in obj.findings if _failing(f, fail_on)]
    passing = [f for f in obj.findings if not _failing(f, fail_on)]
    if failing:
        rules = ", ".join(f.finding.rule for f in failing)
        failure = ET.SubElement(case, "failure", message=f"{len(failing)} finding(s): {rules}", type="nonstop-lint")
        failure.text = "\n".join(_line(f) for f in failing)
    if passing:
        ET.SubElement(case, "system-out").text = "\n".join(_line(f) for f in passing)
    return bool(failing)


def render_junit(report: LintReport, *, fail_on: str = "error") -> str:
    """The report as JUnit XML (the Jenkins/Ant dialect GitLab, GitHub actions and Jenkins read)."""
    root = ET.Element("testsuites", name="nonstop lint")
    suite = ET.SubElement(root, "testsuite", name="nonstop lint")
    failures = sum(_testcase(suite, obj, fail_on) for obj in report.objects)
    for element in (root, suite):
        element.set("tests", str(len(report.objects)))
        element.set("failures", str(failures))
        element.set("errors", "0")
        element.set("time", "0")
    suite.set("skipped", "0")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")
