"""`rollout.strategy: scale`: scale down as an HPA would and judge the pods removed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from nonstop.kube.api import Kube
from nonstop.kube.connection import connect
from tests.drill.drill_helpers import apply, drill_spec, manifest, run_drill

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]


def _replicas(sandbox: Any, namespace: str) -> int:
    return int(Kube(connect(kubeconfig=sandbox.kubeconfig)).get_deployment(namespace, "web")["spec"]["replicas"])


def test_scaling_down_a_fixed_app_judges_the_removed_pods_and_passes(
    sandbox: Any, namespace: str, tmp_path: Path
) -> None:
    apply(sandbox, namespace, manifest("after", replicas=3), tmp_path)
    result = run_drill(sandbox, drill_spec(namespace, rollout={"strategy": "scale", "replicas": 1}), tmp_path)
    assert result.code == 0, result.stderr[-3000:]
    removed = [pod for pod in result.report["pods"] if pod["deletedAt"]]
    assert len(removed) == 2
    assert all(pod["orderingOk"] and pod["gracefulExit"] for pod in removed)
    assert any("scaled Deployment web from 3 to 1 replicas" in note for note in result.report["notes"])
    assert _replicas(sandbox, namespace) == 1


def test_scaling_down_an_app_without_prestop_fails_and_rollback_scales_back(
    sandbox: Any, namespace: str, tmp_path: Path
) -> None:
    apply(sandbox, namespace, manifest("graceful-only", replicas=3), tmp_path)
    result = run_drill(sandbox, drill_spec(namespace, rollout={"strategy": "scale", "replicas": 1}), tmp_path)
    assert result.code == 1, result.stderr[-3000:]
    assert result.check("endpoint-ordering") is False
    assert result.report["action"] == "rolled-back"
    assert _replicas(sandbox, namespace) == 3
