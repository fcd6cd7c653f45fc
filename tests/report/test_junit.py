"""junit.xml: one testsuite per drill, one testcase per check, valid against the common JUnit schema."""

from __future__ import annotations

from pathlib import Path

import pytest
import xmlschema
from junitparser import Error, Failure, JUnitXml, TestSuite
from report_factory import made_up_report

from checks.verdict import DrillProblem
from nonstop.report.junit import render_junit

SCHEMA = xmlschema.XMLSchema(str(Path(__file__).parents[1] / "data" / "schemas" / "junit-10.xsd"))


def _suite(text: str, tmp_path: Path) -> TestSuite:
    path = tmp_path / "junit.xml"
    path.write_text(text, encoding="utf-8")
    SCHEMA.validate(str(path))
    suites = list(JUnitXml.fromfile(str(path)))
    assert len(suites) == 1
    suite = suites[0]
    assert isinstance(suite, TestSuite)
    return suite


def test_a_passing_drill_is_a_green_suite(tmp_path: Path) -> None:
    """Every check a passing testcase; the suite named after the drill, timed by its window."""
    report = made_up_report()
    suite = _suite(render_junit(report), tmp_path)
    assert suite.name == "web-restart"
    assert (suite.tests, suite.failures, suite.errors) == (3, 0, 0)
    assert [case.name for case in suite] == [check.name for check in report.checks]
    assert all(case.is_passed for case in suite)
    assert all(case.classname == "nonstop.drill.web-restart" for case in suite)
    assert report.window.start is not None
    assert report.window.end is not None
    assert suite.time == pytest.approx((report.window.end - report.window.start).total_seconds(), abs=0.001)
    assert suite.time == pytest.approx(11.7, abs=0.01)


def test_a_failed_check_fails_with_its_summary(tmp_path: Path) -> None:
    """A failed check's testcase carries a failure whose message is the check's one-line summary."""
    report = made_up_report(failures=30, serve_after=0.2)
    suite = _suite(render_junit(report), tmp_path)
    assert (suite.tests, suite.failures, suite.errors) == (3, 2, 0)
    for case, check in zip(suite, report.checks, strict=True):
        if check.passed:
            assert case.is_passed
            continue
        (result,) = case.result
        assert isinstance(result, Failure)
        assert result.message == check.summary
        assert result.type == check.name
    assert "<" in report.checks[1].summary  # "served < 1.0 s": escaped in the XML, read back intact


def test_an_inconclusive_drill_is_never_green(tmp_path: Path) -> None:
    """Interrupted after the rollout started with every check passing: a `verdict` testcase errors with the reason."""
    report = made_up_report(problems=(DrillProblem("interrupted", "SIGINT/SIGTERM after the rollout started"),))
    assert report.verdict == "inconclusive"
    suite = _suite(render_junit(report), tmp_path)
    assert (suite.tests, suite.failures, suite.errors) == (4, 0, 1)
    verdict = next(case for case in suite if case.name == "verdict")
    (result,) = verdict.result
    assert isinstance(result, Error)
    assert "SIGINT/SIGTERM after the rollout started" in (result.message or "")


def test_the_report_directory_gets_a_valid_junit_xml(tmp_path: Path) -> None:
    """write_report puts junit.xml beside report.json, and it validates."""
    from nonstop.report import write_report

    write_report(made_up_report(failures=3, serve_after=0.2), tmp_path)
    SCHEMA.validate(str(tmp_path / "junit.xml"))
    assert (tmp_path / "report.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
