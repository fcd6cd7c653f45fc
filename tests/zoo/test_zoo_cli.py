"""`nonstop zoo` and `nonstop zoo run`: cases read from their READMEs, run broken and fixed, judged as said."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from nonstop.bundled import config_file
from nonstop.cli.zoo import Expectation

README = """---
title: PID 1 ignores SIGTERM
sources: [https://example.invalid/report]
broken: {{verdict: fail, failingCheck: graceful-exit}}
fixed: {{verdict: {fixed}}}
---
# PID 1 ignores SIGTERM
"""


def nonstop(*args: str, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "nonstop", "--log-format", "json", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False, cwd=cwd)


def make_case(root: Path, name: str = "pid1", *, fixed: str = "pass") -> Path:
    """A case from the seed's `after` manifest: broken = its app ignores SIGTERM (grace period 4 s)."""
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "README.md").write_text(README.format(fixed=fixed))
    docs = [d for d in yaml.safe_load_all(config_file("examples/after.yaml").read_text()) if d]
    for variant, ignore in (("broken", "true"), ("fixed", "false")):
        for doc in docs:
            if doc["kind"] == "Deployment":
                pod = doc["spec"]["template"]["spec"]
                pod["terminationGracePeriodSeconds"] = 4
                pod["containers"][0]["lifecycle"]["preStop"] = {"sleep": {"seconds": 2}}
                env = [e for e in pod["containers"][0]["env"] if e["name"] != "IGNORE_SIGTERM"]
                pod["containers"][0]["env"] = [*env, {"name": "IGNORE_SIGTERM", "value": ignore}]
        (folder / f"{variant}.yaml").write_text(yaml.safe_dump_all(docs))
    drill = yaml.safe_load(config_file("drills/demo-after.yaml").read_text())
    drill["metadata"]["name"] = f"zoo-{name}"
    drill["spec"]["budget"]["countRetries"] = False  # the case is about the exit, not the resets it causes
    (folder / "drill.yaml").write_text(yaml.safe_dump(drill))
    return folder


def test_expectations_name_the_verdict_and_the_failing_check() -> None:
    report = {"verdict": "fail", "checks": [{"name": "graceful-exit", "passed": False}]}
    assert Expectation.model_validate({"verdict": "fail", "failingCheck": "graceful-exit"}).met_by(report)
    assert not Expectation.model_validate({"verdict": "fail", "failingCheck": "error-budget"}).met_by(report)
    assert not Expectation.model_validate({"verdict": "pass"}).met_by(report)


def test_the_listing_names_each_case_and_what_it_must_come_out_as(tmp_path: Path) -> None:
    make_case(tmp_path / "zoo")
    done = nonstop("zoo", "--zoo-dir", str(tmp_path / "zoo"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "pid1" in done.stdout
    assert "fail on graceful-exit" in done.stdout


@pytest.mark.parametrize(
    ("readme", "culprit"),
    [
        ("no front matter\n", "must start with YAML front matter"),
        ("---\ntitle: x\nsources: [y]\nbroken: {verdict: fail}\n---\n", "front matter field fixed"),
        ("---\ntitle: x\nsources: [y]\nbroken: {verdict: maybe}\nfixed: {verdict: pass}\n---\n", "broken.verdict"),
    ],
)
def test_a_bad_case_is_one_sentence_naming_its_readme_and_exit_2(tmp_path: Path, readme: str, culprit: str) -> None:
    folder = make_case(tmp_path / "zoo")
    (folder / "README.md").write_text(readme)
    done = nonstop("zoo", "--zoo-dir", str(tmp_path / "zoo"), cwd=tmp_path)
    assert done.returncode == 2
    assert culprit in done.stderr
    assert str(folder / "README.md") in done.stderr
    assert "Traceback" not in done.stderr


def test_an_unknown_case_is_exit_2_naming_the_known_ones(tmp_path: Path) -> None:
    make_case(tmp_path / "zoo")
    done = nonstop("zoo", "--zoo-dir", str(tmp_path / "zoo"), "run", "nope", cwd=tmp_path)
    assert done.returncode == 2
    assert "no zoo case named nope" in done.stderr
    assert "pid1" in done.stderr


@pytest.mark.sandbox
@pytest.mark.slow
def test_run_drills_both_variants_and_exits_0_when_they_come_out_as_said(tmp_path: Path) -> None:
    make_case(tmp_path / "zoo")
    out = tmp_path / "reports"
    done = nonstop("zoo", "--zoo-dir", str(tmp_path / "zoo"), "run", "--report-dir", str(out), cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "all 2 runs came out as their READMEs say" in done.stdout
    broken = json.loads((out / "pid1" / "broken" / "report.json").read_text())
    fixed = json.loads((out / "pid1" / "fixed" / "report.json").read_text())
    assert {c["name"]: c["passed"] for c in broken["checks"]}["graceful-exit"] is False
    assert fixed["verdict"] == "pass"
