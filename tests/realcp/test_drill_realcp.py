"""`nonstop drill --sandbox --control-plane real`: the seed's experiment refereed by the real control plane.

The real kube-controller-manager (Deployment, ReplicaSet and EndpointSlice controllers) and
kube-scheduler drive the rollout; our node runs the pods in its network namespace and our data
plane forwards the ClusterIP. The fixed configuration must lose nothing, the seed's original must
lose requests: the same verdicts as on the embedded sandbox.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from nonstop.bundled import config_file

pytestmark = [pytest.mark.realcp, pytest.mark.slow]


def _drill(drill: str, manifest: str, out: Path) -> tuple[int, dict[str, Any], str]:
    argv = [sys.executable, "-m", "nonstop", "--log-format", "json", "drill", "--sandbox", "--control-plane", "real"]
    argv += ["-f", str(config_file(drill)), "--apply", str(config_file(manifest)), "--report-dir", str(out)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=280, check=False)
    report = json.loads((out / "report.json").read_text()) if (out / "report.json").exists() else {}
    return done.returncode, report, done.stderr[-3000:]


@pytest.mark.timeout(300)
def test_demo_after_passes_with_no_failed_request(realcp_binary: Path, pod_network_possible: None, tmp_path: Path):
    code, report, log = _drill("drills/demo-after.yaml", "examples/after.yaml", tmp_path / "after")
    assert code == 0, log
    assert report["verdict"] == "pass"
    assert report["requests"]["failed"] == 0
    assert report["requests"]["total"] >= 100
    old = [p for p in report["pods"] if p["role"] == "old"]
    assert old
    assert all(p["orderingOk"] for p in old)
    assert report["action"] == "promoted"


@pytest.mark.timeout(300)
def test_demo_before_loses_requests(realcp_binary: Path, pod_network_possible: None, tmp_path: Path):
    code, report, log = _drill("drills/demo-before.yaml", "examples/before.yaml", tmp_path / "before")
    assert code == 1, log
    assert report["verdict"] == "fail"
    assert report["requests"]["failed"] > 0
    assert {c["name"]: c["passed"] for c in report["checks"]}["error-budget"] is False
