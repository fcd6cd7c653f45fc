"""`nonstop demo` — the README's main command — shows the seed's three outcomes and exits 0."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]


def test_demo_shows_the_three_outcomes(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "nonstop", "--log-format", "json", "demo", "--report-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=600, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "every case came out as expected" in done.stdout
    verdicts = {
        case: json.loads((tmp_path / case / "report.json").read_text()) for case in ("before", "graceful-only", "after")
    }
    assert verdicts["before"]["verdict"] == "fail"
    assert verdicts["before"]["requests"]["failed"] > 0
    assert {c["name"]: c["passed"] for c in verdicts["graceful-only"]["checks"]}["endpoint-ordering"] is False
    assert verdicts["after"]["requests"]["failed"] == 0
    assert verdicts["after"]["action"] == "promoted"
