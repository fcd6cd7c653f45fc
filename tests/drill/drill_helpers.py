"""Helpers for drill tests on the shared sandbox: manifests into a namespace, the CLI as a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from nonstop.bundled import config_file

WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection"}
NOT_WORKLOAD_WRITES = {"selfsubjectaccessreviews", "leases"}


def manifest(name: str, *, replicas: int | None = None, env: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """A bundled example's objects, optionally with another replica count or extra env."""
    docs = [d for d in yaml.safe_load_all(config_file(f"examples/{name}.yaml").read_text()) if d]
    for doc in docs:
        if doc["kind"] == "Deployment":
            if replicas is not None:
                doc["spec"]["replicas"] = replicas
            container = doc["spec"]["template"]["spec"]["containers"][0]
            for key, value in (env or {}).items():
                container.setdefault("env", []).append({"name": key, "value": value})
    return docs


def apply(sandbox: Any, namespace: str, docs: list[dict[str, Any]], tmp_path: Path) -> None:
    """`kubectl apply` the objects into the namespace, then wait until the Deployment is available."""
    path = tmp_path / "objects.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    env = {**os.environ, "KUBECONFIG": sandbox.kubeconfig}
    subprocess.run(
        ["kubectl", "apply", "--validate=false", "-n", namespace, "-f", str(path)],
        check=True,
        env=env,
        capture_output=True,
    )
    for doc in docs:
        if doc["kind"] == "Deployment":
            subprocess.run(
                ["kubectl", "rollout", "status", "-n", namespace, f"deployment/{doc['metadata']['name']}",
                 "--timeout=60s"],
                check=True, env=env, capture_output=True,
            )  # fmt: skip


def drill_spec(namespace: str, **spec: Any) -> dict[str, Any]:
    """A drill of Deployment web behind Service web in `namespace`, fast settings, overridable per section."""
    base: dict[str, Any] = {
        "target": {"kind": "Deployment", "name": "web", "namespace": namespace, "service": "web", "port": 80},
        "rollout": {"strategy": "restart"},
        "load": {"users": 6, "userRate": 20, "settleSeconds": 30, "warmupSeconds": 1.5, "cooldownSeconds": 2},
        "budget": {"maxFailureRatio": 0.0, "minRequests": 100},
        "timeoutSeconds": 90,
    }
    for key, value in spec.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    return {"apiVersion": "nonstop.dev/v1alpha1", "kind": "Drill", "metadata": {"name": "test-drill"}, "spec": base}


@dataclass
class DrillResult:
    code: int
    stdout: str
    stderr: str
    report_dir: Path

    @property
    def report(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.report_dir / "report.json").read_text())
        return data

    def check(self, name: str) -> bool | None:
        return next(c["passed"] for c in self.report["checks"] if c["name"] == name)


def drill_command(sandbox: Any, spec: dict[str, Any], tmp_path: Path, *extra: str) -> tuple[list[str], Path]:
    spec_path = tmp_path / "drill.yaml"
    spec_path.write_text(yaml.safe_dump(spec))
    report_dir = tmp_path / "report"
    argv = [sys.executable, "-m", "nonstop", "--log-format", "json", "drill", "-f", str(spec_path),
            "--kubeconfig", sandbox.kubeconfig, "--report-dir", str(report_dir), *extra]  # fmt: skip
    return argv, report_dir


def run_drill(sandbox: Any, spec: dict[str, Any], tmp_path: Path, *extra: str, timeout: float = 240) -> DrillResult:
    argv, report_dir = drill_command(sandbox, spec, tmp_path, *extra)
    done = subprocess.run(argv, check=False, capture_output=True, text=True, timeout=timeout)
    return DrillResult(done.returncode, done.stdout, done.stderr, report_dir)


def writes(log: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Requests that change the cluster's workloads (SelfSubjectAccessReviews are questions; the drill's
    own Lease is taken and released around every real drill — tests/drill/test_lease.py checks it).
    """
    return [e for e in log if e.get("verb") in WRITE_VERBS and e.get("resource") not in NOT_WORKLOAD_WRITES]


def lease_writes(log: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The drill's requests that change a Lease (create, update, delete); tests' own setup is not counted."""
    return [
        e
        for e in log
        if e.get("verb") in WRITE_VERBS and e.get("resource") == "leases" and e.get("caller", "").startswith("nonstop/")
    ]
