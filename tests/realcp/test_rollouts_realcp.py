"""The real Argo Rollouts controller runs our canary analysis step end to end (`sandbox up --control-plane real
--with argo-rollouts`).

One sandbox for the module: the real control plane, our node, the Rollouts controller built from its
Go module (CRDs and RBAC from its release's manifests). Each test gets a namespace with the RBAC and
AnalysisTemplate `nonstop workflows render` writes (config/deploy/rbac.yaml,
config/deploy/rollouts/analysis-template.yaml) and one of config/rollouts/*.yaml; a new image
starts the canary: at 50 % the analysis step's AnalysisRun makes a Job (the real Job controller),
whose pod runs `nonstop drill` on our kubelet (the nonstop image → the installed command) as the
ServiceAccount nonstop-drill, reaching the API through the `kubernetes` ClusterIP and the Service
through the data plane inside the pod network; its Locust load goes through the Service while it
evicts the stable pods; its exit code is the analysis' result.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config

from nonstop.bundled import config_file
from nonstop.sandbox.real.build import rollouts_binary_path
from tests.realcp.sandbox_up import real_sandbox_with, require_built

pytestmark = [pytest.mark.realcp, pytest.mark.slow]

GROUP, VERSION = "argoproj.io", "v1alpha1"


@dataclass
class Sandbox:
    kubeconfig: Path
    log: Path
    api: client.ApiClient
    started_in: float

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api)

    @property
    def custom(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.api)


@pytest.fixture(scope="module")
def rollouts_sandbox(
    realcp_binary: Path, pod_network_possible: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Sandbox]:
    require_built(rollouts_binary_path(), "the Argo Rollouts controller")
    tmp = tmp_path_factory.mktemp("rollouts")
    started = time.monotonic()
    with real_sandbox_with("argo-rollouts", tmp) as kubeconfig:
        api = config.new_client_from_config(config_file=str(kubeconfig))
        yield Sandbox(kubeconfig, tmp / "up.log", api, time.monotonic() - started)
        api.close()


def _kubectl_apply(sandbox: Sandbox, namespace: str, *files: Path) -> None:
    argv = ["kubectl", "--kubeconfig", str(sandbox.kubeconfig), "-n", namespace, "apply", "--server-side"]
    for file in files:
        argv += ["-f", str(file)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr


@pytest.fixture
def ns(rollouts_sandbox: Sandbox, request: pytest.FixtureRequest) -> Iterator[str]:
    name = f"ro-{uuid.uuid4().hex[:6]}"
    rollouts_sandbox.core.create_namespace({"metadata": {"name": name}})
    _kubectl_apply(
        rollouts_sandbox,
        name,
        config_file("deploy/rbac.yaml"),
        config_file("deploy/rollouts/analysis-template.yaml"),
    )
    yield name
    rollouts_sandbox.core.delete_namespace(name)


def _rollout(sandbox: Sandbox, ns: str) -> dict[str, Any]:
    return dict(sandbox.custom.get_namespaced_custom_object(GROUP, VERSION, ns, "rollouts", "web"))


def _wait(what: str, check: Any, timeout: float, sandbox: Sandbox, ns: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            status = _rollout(sandbox, ns).get("status")
            runs = sandbox.custom.list_namespaced_custom_object(GROUP, VERSION, ns, "analysisruns")["items"]
            pods = [(p.metadata.name, p.status.phase) for p in sandbox.core.list_namespaced_pod(ns).items]
            raise AssertionError(
                f"{what}: not after {timeout:.0f} s; rollout status {json.dumps(status)[:1500]}; "
                f"analysisruns {[r.get('status') for r in runs]}; pods {pods}"
            )
        time.sleep(0.5)


def _healthy_at(sandbox: Sandbox, ns: str) -> str | None:
    status = _rollout(sandbox, ns).get("status") or {}
    if status.get("phase") == "Healthy" and status.get("stableRS") == status.get("currentPodHash"):
        return str(status["stableRS"])
    return None


def _versions_served(sandbox: Sandbox, ns: str, n: int = 20) -> set[str]:
    """GET / through the Service's ClusterIP from the host n times; the versions that answered."""
    ip = sandbox.core.read_namespaced_service("web", ns).spec.cluster_ip
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    seen: set[str] = set()
    for _ in range(n):
        try:
            with opener.open(f"http://{ip}:80/", timeout=5) as response:
                seen.add(str(response.headers["X-Version"]) if response.status == 200 else f"HTTP {response.status}")
        except OSError as exc:  # the data plane opens a listener only after its lag
            seen.add(f"error: {exc}")
    return seen


def _start_canary(sandbox: Sandbox, manifest: str, ns: str) -> tuple[str, float]:
    """Apply the manifest (v1), wait until Healthy, then set image v2: the canary starts. (stable hash, t0)."""
    _kubectl_apply(sandbox, ns, config_file(manifest))
    stable = _wait("v1 Healthy", lambda: _healthy_at(sandbox, ns), 120, sandbox, ns)
    _wait("v1 serving", lambda: _versions_served(sandbox, ns) == {"v1"}, 30, sandbox, ns)
    # a JSON patch (what `kubectl argo rollouts set image` amounts to): a merge patch would replace the list
    patch = [{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "nonstop/sample-app:v2"}]
    sandbox.custom.patch_namespaced_custom_object(
        GROUP, VERSION, ns, "rollouts", "web", patch, _content_type="application/json-patch+json"
    )
    return stable, time.monotonic()


def _analysis_run(sandbox: Sandbox, ns: str) -> dict[str, Any] | None:
    runs = sandbox.custom.list_namespaced_custom_object(GROUP, VERSION, ns, "analysisruns")["items"]
    return dict(runs[0]) if runs else None


def _finished_run(sandbox: Sandbox, ns: str) -> dict[str, Any] | None:
    run = _analysis_run(sandbox, ns)
    phase = ((run or {}).get("status") or {}).get("phase")
    return run if phase in ("Successful", "Failed", "Error", "Inconclusive") else None


def _analysis_pods(sandbox: Sandbox, ns: str) -> list[client.V1Pod]:
    """The pods of the AnalysisRun's Job (the Job controller labels them with the Job's name)."""
    return list(sandbox.core.list_namespaced_pod(ns, label_selector="batch.kubernetes.io/job-name").items)


def _drill_log(sandbox: Sandbox, ns: str) -> str:
    pods = _analysis_pods(sandbox, ns)
    return "\n".join(sandbox.core.read_namespaced_pod_log(p.metadata.name, ns, container="drill") or "" for p in pods)


def test_the_fixed_rollout_passes_the_analysis_and_is_promoted(rollouts_sandbox: Sandbox, ns: str) -> None:
    sandbox = rollouts_sandbox
    stable, t0 = _start_canary(sandbox, "rollouts/after.yaml", ns)
    run = _wait("analysis finished", lambda: _finished_run(sandbox, ns), 300, sandbox, ns)
    analysis_s = time.monotonic() - t0
    assert run["status"]["phase"] == "Successful", (run["status"], _drill_log(sandbox, ns)[-3000:])
    [metric] = run["status"]["metricResults"]
    assert metric["name"] == "nonstop-drill"
    assert metric["measurements"][0]["phase"] == "Successful"
    new = _wait("v2 Healthy", lambda: (h := _healthy_at(sandbox, ns)) != stable and h, 120, sandbox, ns)
    status = _rollout(sandbox, ns)["status"]
    assert status["stableRS"] == new != stable
    assert not status.get("abort")
    _wait("only v2 serving", lambda: _versions_served(sandbox, ns) == {"v2"}, 30, sandbox, ns)
    log = _drill_log(sandbox, ns)
    assert "step 2 of 3 (analysis)" in log, log[-3000:]  # the report names the step it ran under
    # a stable pod was evicted under load and left the endpoints before it stopped serving
    assert re.search(r"endpoint-ordering\s+pass", log), log[-3000:]
    assert re.search(r"error-budget\s+pass\s+0 of \d+ requests failed", log), log[-3000:]
    print(  # bench (-s)
        f"sandbox with argo-rollouts up in {sandbox.started_in:.1f} s; canary start → analysis Successful "
        f"{analysis_s:.1f} s; promoted {time.monotonic() - t0:.1f} s"
    )


def test_the_broken_rollout_fails_the_analysis_is_aborted_and_stable_keeps_serving(
    rollouts_sandbox: Sandbox, ns: str
) -> None:
    sandbox = rollouts_sandbox
    stable, t0 = _start_canary(sandbox, "rollouts/before.yaml", ns)
    run = _wait("analysis finished", lambda: _finished_run(sandbox, ns), 300, sandbox, ns)
    assert run["status"]["phase"] == "Failed", (run["status"], _drill_log(sandbox, ns)[-3000:])
    aborted = _wait("aborted", lambda: (_rollout(sandbox, ns).get("status") or {}).get("abort"), 60, sandbox, ns)
    assert aborted is True
    status = _rollout(sandbox, ns)["status"]
    assert status["stableRS"] == stable  # never promoted
    _wait("only v1 serving", lambda: _versions_served(sandbox, ns) == {"v1"}, 60, sandbox, ns)
    log = _drill_log(sandbox, ns)
    assert re.search(r"verdict\W{0,4}fail", log), log[-3000:]  # the drill failed it, not an error
    assert re.search(r"error-budget\s+FAIL", log), log[-3000:]  # requests were lost to the eviction
    print(f"broken: canary start → aborted {time.monotonic() - t0:.1f} s")  # bench (-s)


def test_an_interrupted_analysis_fails_safe(rollouts_sandbox: Sandbox, ns: str) -> None:
    sandbox = rollouts_sandbox
    stable, t0 = _start_canary(sandbox, "rollouts/after.yaml", ns)

    def drill_pod_running() -> str | None:
        pods = _analysis_pods(sandbox, ns)
        running = [p for p in pods if p.status.phase == "Running"]
        # once the drill has started its load (its log says so), not merely the pod
        if running and "starting the load" in (
            sandbox.core.read_namespaced_pod_log(running[0].metadata.name, ns) or ""
        ):
            return str(running[0].metadata.name)
        return None

    pod = _wait("the drill running in the analysis pod", drill_pod_running, 180, sandbox, ns)
    sandbox.core.delete_namespaced_pod(pod, ns)
    run = _wait("analysis finished", lambda: _finished_run(sandbox, ns), 180, sandbox, ns)
    assert run["status"]["phase"] in ("Failed", "Error"), run["status"]
    _wait("aborted", lambda: (_rollout(sandbox, ns).get("status") or {}).get("abort"), 60, sandbox, ns)
    assert _rollout(sandbox, ns)["status"]["stableRS"] == stable
    _wait("only v1 serving", lambda: _versions_served(sandbox, ns) == {"v1"}, 60, sandbox, ns)
    print(f"interrupted: canary start → aborted {time.monotonic() - t0:.1f} s")  # bench (-s)
