"""Writing report.json (and renderings) into a report directory, and reading it back."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from checks import DrillWindow, PodTimeline, RequestSample, judge_drill
from nonstop.errors import InputError
from nonstop.report import REPORT_JSON, Rendering, Report, build_report, load_report, report_json, write_report


def _report() -> Report:
    samples = [RequestSample(at=1000.0 + i * 0.01, latency_ms=2.0, pod="web-a") for i in range(200)]
    pods = [
        PodTimeline(
            name="web-a",
            role="old",
            was_serving=True,
            deleted_at=1000.5,
            endpoint_unready_at=1000.5,
            stopped_accepting_at=1001.6,
            exited_at=1001.7,
            exit_code=0,
        )
    ]
    judgement = judge_drill(
        samples,
        pods,
        window=DrillWindow(1000.0, 1002.0),
        max_failure_ratio=0.0,
        max_p99_ms=None,
        min_requests=100,
        min_serve_after_unready_seconds=1.0,
        expect_terminations=True,
    )
    return build_report(judgement, drill="web-restart", decision="promote", action="promoted")


def test_write_report_creates_the_directory_and_writes_valid_json(tmp_path: Path) -> None:
    target = tmp_path / "nested" / "reports"
    written = write_report(_report(), target)
    assert written == [target / REPORT_JSON, target / "report.html", target / "junit.xml"]
    document = json.loads((target / REPORT_JSON).read_text(encoding="utf-8"))
    assert document["verdict"] == "pass"
    assert "≥" in (target / REPORT_JSON).read_text(encoding="utf-8")  # UTF-8 kept, not \u-escaped
    assert sorted(p.name for p in target.iterdir()) == ["junit.xml", "report.html", REPORT_JSON]  # no temporary file


def test_renderings_are_written_after_the_json(tmp_path: Path) -> None:
    def render(report: Report) -> str:
        assert (tmp_path / REPORT_JSON).exists()
        return f"<h1>{report.drill}: {report.verdict}</h1>"

    written = write_report(_report(), tmp_path, renderings=[Rendering("report.html", render)])
    assert [p.name for p in written] == [REPORT_JSON, "report.html"]
    assert (tmp_path / "report.html").read_text() == "<h1>web-restart: pass</h1>"


def test_load_report_reads_back_what_was_written(tmp_path: Path) -> None:
    report = _report()
    write_report(report, tmp_path)
    assert report_json(load_report(tmp_path / REPORT_JSON)) == report_json(report)


def test_load_report_names_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"cannot read the report .*missing\.json"):
        load_report(tmp_path / "missing.json")


def test_load_report_names_the_file_and_field_of_an_invalid_report(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    document = _report().to_json_dict()
    document["verdict"] = "maybe"
    path.write_text(json.dumps(document))
    with pytest.raises(InputError, match=r"report\.json is not a nonstop report\.json: verdict"):
        load_report(path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_an_unwritable_report_dir_is_an_input_error(tmp_path: Path) -> None:
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(InputError, match="--report-dir"):
            write_report(_report(), tmp_path / "reports")
    finally:
        tmp_path.chmod(0o700)


def test_a_report_dir_that_is_a_file_is_an_input_error(tmp_path: Path) -> None:
    blocker = tmp_path / "reports"
    blocker.write_text("not a directory")
    with pytest.raises(InputError, match="--report-dir"):
        write_report(_report(), blocker)


def test_report_files_are_readable_by_others(tmp_path: Path) -> None:
    """Argo artifacts and CI collect the report as another user: 0644, not mkstemp's 0600."""
    from nonstop.report.writer import _write_atomically

    path = _write_atomically(tmp_path / "report.json", "{}\n")
    assert path.stat().st_mode & 0o777 == 0o644
