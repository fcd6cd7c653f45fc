"""The output formats of `nonstop lint`: text for people, json (CONTRACT.md), SARIF 2.1.0 and JUnit for CI."""

from __future__ import annotations

from nonstop.lint.run import LintReport

__all__ = ["FORMATS", "render", "render_json"]

FORMATS = ("text", "json", "sarif", "junit")


def render_json(report: LintReport) -> str:
    """`{"findings": [...], "summary": {"error": n, "warning": n}}` (lint.schema.json)."""
    import json  # here, not at the top: text output, the default, does not need it

    body = {
        "findings": [f.as_json() for f in report.findings],
        "summary": {"error": report.count("error"), "warning": report.count("warning")},
    }
    return json.dumps(body, indent=2, ensure_ascii=False)


def render(report: LintReport, fmt: str, *, fail_on: str = "error", color: bool = False, width: int = 100) -> str:
    """The report in one format; `fail_on` decides which findings JUnit marks as failures."""
    if fmt == "json":
        return render_json(report)
    if fmt == "sarif":
        from nonstop.lint.sarif import render_sarif

        return render_sarif(report)
    if fmt == "junit":
        from nonstop.lint.junit import render_junit

        return render_junit(report, fail_on=fail_on)
    from nonstop.lint.text import render_text

    return render_text(report, color=color, width=width)
