"""The bundled hazard zoo, whole: every case's broken and fixed variant comes out as its README says."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nonstop.cli.zoo import load_cases
from tests.zoo.test_zoo_cli import nonstop

MIN_CASES = 12


def test_the_zoo_has_enough_cases_each_with_a_public_source_and_a_failing_check() -> None:
    cases = load_cases()
    assert len(cases) >= MIN_CASES, [case.name for case in cases]
    for case in cases:
        assert all(source.startswith("https://") for source in case.sources), case.name
        assert case.expect["broken"].verdict == "fail", case.name
        assert case.expect["broken"].failing_check is not None, case.name
        assert case.expect["fixed"].verdict == "pass", case.name
        assert case.manifest("broken").read_text() != case.manifest("fixed").read_text(), case.name


@pytest.mark.sandbox
@pytest.mark.slow
@pytest.mark.timeout(2400)
def test_zoo_run_every_case_comes_out_as_its_readme_says(tmp_path: Path) -> None:
    out = tmp_path / "zoo"
    done = nonstop("zoo", "run", "--report-dir", str(out), cwd=tmp_path, timeout=2300)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    cases = load_cases()
    assert f"all {2 * len(cases)} runs came out as their READMEs say" in done.stdout
    for case in cases:
        for variant in ("broken", "fixed"):
            report = json.loads((out / case.name / variant / "report.json").read_text())
            assert case.expect[variant].met_by(report), (case.name, variant, report["verdictReasons"])
            charged = sum(pod["failuresAttributed"] for pod in report["pods"])
            assert charged + report["requests"]["unattributedFailures"] == report["requests"]["failed"]
