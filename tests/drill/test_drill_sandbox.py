"""`nonstop drill` end to end on the shared sandbox: each exit code, each strategy, each decision row."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from drill_helpers import apply, drill_command, drill_spec, manifest, run_drill, writes
from kubernetes import client

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]
SCHEMA = json.loads((Path(__file__).parents[1] / "data" / "schemas" / "report.schema.json").read_text())


def deployment(sandbox: Any, namespace: str, name: str = "web") -> dict[str, Any]:
    api = client.AppsV1Api(sandbox.api_client())
    return dict(api.read_namespaced_deployment(name, namespace, _preload_content=False).json())


def test_passing_restart_is_promoted_and_its_report_validates(sandbox: Any, namespace: str, tmp_path: Path) -> None:
    """The seed's fix passes: exit 0, every old pod in order, the revision annotated verified."""
    apply(sandbox, namespace, manifest("after"), tmp_path)
    mark = sandbox.mark()
    result = run_drill(sandbox, drill_spec(namespace), tmp_path)
    assert result.code == 0, result.stderr[-2000:]
    report = result.report
    jsonschema.validate(report, SCHEMA)
    assert (report["verdict"], report["decision"], report["action"]) == ("pass", "promote", "promoted")
    assert report["requests"]["failed"] == 0
    assert report["requests"]["total"] >= 100
    old = [p for p in report["pods"] if p["role"] == "old"]
    new = [p for p in report["pods"] if p["role"] == "new"]
    assert len(old) == 1
    assert len(new) == 1
    assert old[0]["orderingOk"] is True
    assert old[0]["serveAfterUnreadySeconds"] >= 1.0
    assert old[0]["lastRoutedAt"] is not None
    assert old[0]["exitCode"] == 0
    assert any(e["reason"] == "Killing" for e in report["events"])
    annotations = deployment(sandbox, namespace)["metadata"]["annotations"]
    assert annotations["nonstop.dev/verified-revision"] == annotations["deployment.kubernetes.io/revision"]
    touched = writes(sandbox.requests(since=mark))
    assert touched, "a restart and a promotion are writes"
    assert all(e["namespace"] == namespace and e["resource"] == "deployments" for e in touched)


def test_image_rollout_that_loses_requests_is_rolled_back(sandbox: Any, namespace: str, tmp_path: Path) -> None:
    """Deployment · image · rollback: exit 1, then what `kubectl rollout undo` does."""
    apply(sandbox, namespace, manifest("graceful-only"), tmp_path)
    spec = drill_spec(namespace, rollout={"strategy": "image", "image": "nonstop/sample-app:v2"})
    result = run_drill(sandbox, spec, tmp_path)
    assert result.code == 1, result.stderr[-2000:]
    assert result.check("endpoint-ordering") is False
    assert result.report["action"] == "rolled-back"
    live = deployment(sandbox, namespace)
    assert live["spec"]["template"]["spec"]["containers"][0]["image"] == "nonstop/sample-app:v1"


def test_image_rollout_with_abort_pauses_for_a_human(sandbox: Any, namespace: str, tmp_path: Path) -> None:
    """Deployment · image · abort: the Deployment is paused, the new image left in place."""
    apply(sandbox, namespace, manifest("graceful-only"), tmp_path)
    spec = drill_spec(
        namespace, rollout={"strategy": "image", "image": "nonstop/sample-app:v2"}, decision={"onFail": "abort"}
    )
    result = run_drill(sandbox, spec, tmp_path)
    assert result.code == 1, result.stderr[-2000:]
    assert result.report["action"] == "paused"
    assert deployment(sandbox, namespace)["spec"]["paused"] is True


def test_canary_that_passes_is_promoted_into_the_stable_deployment(
    sandbox: Any, namespace: str, tmp_path: Path
) -> None:
    """Deployment · canary · promote: stable pods evicted one at a time, then the stable template takes the image."""
    apply(sandbox, namespace, manifest("after", replicas=2), tmp_path)
    mark = sandbox.mark()
    spec = drill_spec(namespace, rollout={"strategy": "canary", "image": "nonstop/sample-app:v2"})
    result = run_drill(sandbox, spec, tmp_path)
    assert result.code == 0, result.stderr[-2000:]
    report = result.report
    assert report["action"] == "promoted"
    assert {p["role"] for p in report["pods"]} == {"old", "new"}
    evictions = [e for e in sandbox.requests(since=mark) if e.get("subresource") == "eviction"]
    assert len(evictions) == 2
    assert all(e["namespace"] == namespace for e in evictions)
    live = deployment(sandbox, namespace)
    assert live["spec"]["template"]["spec"]["containers"][0]["image"] == "nonstop/sample-app:v2"
    api = client.AppsV1Api(sandbox.api_client())
    names = [d.metadata.name for d in api.list_namespaced_deployment(namespace).items]
    assert names == ["web"]


def test_canary_that_fails_is_deleted(sandbox: Any, namespace: str, tmp_path: Path) -> None:
    """Deployment · canary · rollback: the evictions lose requests, the canary is deleted, stable untouched."""
    apply(sandbox, namespace, manifest("graceful-only", replicas=1), tmp_path)
    spec = drill_spec(namespace, rollout={"strategy": "canary", "image": "nonstop/sample-app:v2"})
    result = run_drill(sandbox, spec, tmp_path)
    assert result.code == 1, result.stderr[-2000:]
    assert result.report["action"] == "rolled-back"
    live = deployment(sandbox, namespace)
    assert live["spec"]["template"]["spec"]["containers"][0]["image"] == "nonstop/sample-app:v1"
    api = client.AppsV1Api(sandbox.api_client())
    assert [d.metadata.name for d in api.list_namespaced_deployment(namespace).items] == ["web"]


def test_missing_target_exits_2_naming_it_and_writes_nothing(sandbox: Any, namespace: str, tmp_path: Path) -> None:
    mark = sandbox.mark()
    spec = drill_spec(namespace, target={"name": "nope"})
    result = run_drill(sandbox, spec, tmp_path)
    assert result.code == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: Deployment {namespace}/nope not found (spec.target.name); check the name, namespace and context"
    )
    assert "Traceback" not in result.stderr
    assert writes(sandbox.requests(since=mark)) == []
    assert not result.report_dir.exists()


def test_protected_namespace_is_refused_before_any_request(sandbox: Any, tmp_path: Path) -> None:
    mark = sandbox.mark()
    result = run_drill(sandbox, drill_spec("kube-system"), tmp_path)
    assert result.code == 2
    assert "namespace 'kube-system' is protected" in result.stderr
    assert [e for e in sandbox.requests(since=mark) if e.get("namespace") == "kube-system"] == []


def test_missing_permission_exits_2_naming_the_verb(sandbox: Any, namespace: str, tmp_path: Path) -> None:
    apply(sandbox, namespace, manifest("after"), tmp_path)
    sandbox.deny("patch", "deployments")
    mark = sandbox.mark()
    result = run_drill(sandbox, drill_spec(namespace), tmp_path)
    assert result.code == 2
    assert "may not patch deployments.apps" in result.stderr
    assert writes(sandbox.requests(since=mark)) == []


def test_dry_run_measures_but_writes_nothing(sandbox: Any, namespace: str, tmp_path: Path) -> None:
    apply(sandbox, namespace, manifest("after"), tmp_path)
    mark = sandbox.mark()
    result = run_drill(sandbox, drill_spec(namespace, budget={"minRequests": 20}), tmp_path, "--dry-run")
    assert result.code == 0, result.stderr[-2000:]
    assert result.report["action"] == "none"
    assert writes(sandbox.requests(since=mark)) == []


def test_too_few_requests_is_inconclusive_and_applies_the_fail_decision(
    sandbox: Any, namespace: str, tmp_path: Path
) -> None:
    apply(sandbox, namespace, manifest("after"), tmp_path)
    result = run_drill(sandbox, drill_spec(namespace, budget={"minRequests": 10_000_000}), tmp_path)
    assert result.code == 3, result.stderr[-2000:]
    assert result.report["verdict"] == "inconclusive"
    assert result.report["decision"] == "rollback"


def test_deadline_passed_is_inconclusive(sandbox: Any, namespace: str, tmp_path: Path) -> None:
    apply(sandbox, namespace, manifest("after"), tmp_path)
    result = run_drill(sandbox, drill_spec(namespace, timeoutSeconds=1), tmp_path)
    assert result.code == 3, result.stderr[-2000:]
    assert any("deadline" in r for r in result.report["verdictReasons"])


def test_broken_baseline_exits_2_before_any_rollout(sandbox: Any, namespace: str, tmp_path: Path) -> None:
    """Every request is slower than the load's timeout: the drill stops before it changes anything."""
    apply(sandbox, namespace, manifest("after", env={"RESPONSE_DELAY_MS": "400"}), tmp_path)
    mark = sandbox.mark()
    result = run_drill(sandbox, drill_spec(namespace, load={"timeoutSeconds": 0.1}), tmp_path)
    assert result.code == 2, result.stderr[-2000:]
    assert "baseline already breaks the budget" in result.stderr
    assert writes(sandbox.requests(since=mark)) == []


def _session_processes(sid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid:  # field 6 of stat: session id
            found.append(int(entry.name))
    return found


def test_interrupt_after_the_rollout_started_exits_3_with_a_report(
    sandbox: Any, namespace: str, tmp_path: Path
) -> None:
    """SIGINT mid-window: load stopped, fail decision applied, report written, exit 3, no child left."""
    apply(sandbox, namespace, manifest("after"), tmp_path)
    argv, report_dir = drill_command(sandbox, drill_spec(namespace), tmp_path)
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    generation = deployment(sandbox, namespace)["metadata"]["generation"]
    deadline = time.monotonic() + 120
    while deployment(sandbox, namespace)["metadata"]["generation"] == generation:
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        assert time.monotonic() < deadline, "the rollout never started"
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 3, stderr[-2000:]
    report = json.loads((report_dir / "report.json").read_text())
    assert report["verdict"] == "inconclusive"
    assert any("interrupted" in r for r in report["verdictReasons"])
    assert _session_processes(proc.pid) == []


def test_interrupt_before_the_rollout_exits_2_and_changes_nothing(sandbox: Any, namespace: str, tmp_path: Path) -> None:
    """SIGTERM while settling (the target never gets a ready endpoint): exit 2, nothing written."""
    apply(sandbox, namespace, manifest("after"), tmp_path)
    api = client.AppsV1Api(sandbox.api_client())
    api.patch_namespaced_deployment("web", namespace, {"spec": {"replicas": 0}})
    mark = sandbox.mark()
    argv, report_dir = drill_command(sandbox, drill_spec(namespace), tmp_path)
    env = {**os.environ}
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 60
    while not any(e.get("verb") == "watch" and e.get("namespace") == namespace for e in sandbox.requests(since=mark)):
        assert time.monotonic() < deadline
        assert proc.poll() is None
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 2, stderr[-2000:]
    assert "interrupted before the rollout started" in stderr
    assert writes(sandbox.requests(since=mark)) == []
    assert not report_dir.exists()


def test_external_rollout_is_observed_judged_and_promoted(sandbox: Any, namespace: str, tmp_path: Path) -> None:
    """Deployment · external: someone else runs `kubectl rollout restart`; nonstop watches it and judges it."""
    apply(sandbox, namespace, manifest("after"), tmp_path)
    spec = drill_spec(namespace, rollout={"strategy": "external"}, chaos={"terminateOldPods": False})
    argv, report_dir = drill_command(sandbox, spec, tmp_path)
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    for line in proc.stderr:  # JSON log lines; the drill waits for a rollout once it reaches this phase
        if '"drill phase"' in line and '"rollout"' in line:
            break
    else:
        pytest.fail(f"the drill never reached its rollout phase: exit {proc.wait()}")
    env = {**os.environ, "KUBECONFIG": sandbox.kubeconfig}
    subprocess.run(["kubectl", "rollout", "restart", "-n", namespace, "deployment/web"], check=True, env=env,
                   capture_output=True)  # fmt: skip
    _, rest = proc.communicate(timeout=180)
    assert proc.returncode == 0, rest[-2000:]
    report = json.loads((report_dir / "report.json").read_text())
    assert report["action"] == "promoted"
    old = [p for p in report["pods"] if p["role"] == "old"]
    assert len(old) == 1
    assert old[0]["orderingOk"] is True
    assert report["requests"]["failed"] == 0


def test_an_app_answering_in_3_s_settles_and_is_drilled_with_a_fast_probe_path(
    sandbox: Any, namespace: str, tmp_path: Path
) -> None:
    """Settling waits as long as load.timeoutSeconds allows (it used to give up after 2 s); the prober asks
    ordering.probePath, so the slow `/` does not blur when each old pod stopped accepting.
    """
    apply(sandbox, namespace, manifest("after", env={"RESPONSE_DELAY_MS": "3000"}), tmp_path)
    spec = drill_spec(
        namespace,
        load={"users": 30, "spawnRate": 30, "userRate": 1, "timeoutSeconds": 5, "settleSeconds": 90}
        | {"warmupSeconds": 8},
        budget={"minRequests": 30},
        ordering={"probePath": "/healthz"},
    )
    result = run_drill(sandbox, spec, tmp_path)
    assert result.code == 0, result.stderr[-2000:]
    assert result.report["requests"]["p50Ms"] >= 3000
    old = [pod for pod in result.report["pods"] if pod["role"] == "old"]
    assert old
    assert all(pod["orderingOk"] for pod in old)
    assert all(pod["gracefulExit"] for pod in old)


def test_a_pid1_that_ignores_sigterm_fails_on_graceful_exit_whatever_the_budget_saw(
    sandbox: Any, namespace: str, tmp_path: Path
) -> None:
    """Issue 15's false pass (retries not counted, as before): the SIGKILL at the grace period's end is judged."""
    docs = manifest("after", env={"IGNORE_SIGTERM": "true"})
    for doc in docs:
        if doc["kind"] == "Deployment":
            doc["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 8
    apply(sandbox, namespace, docs, tmp_path)
    result = run_drill(sandbox, drill_spec(namespace, budget={"countRetries": False}), tmp_path)
    assert result.code == 1, result.stderr[-2000:]
    report = result.report
    checks = {check["name"]: check for check in report["checks"]}
    assert checks["graceful-exit"]["passed"] is False
    assert "ignores SIGTERM" in checks["graceful-exit"]["summary"]
    (old,) = [pod for pod in report["pods"] if pod["role"] == "old"]
    assert old["exitCode"] == 137
    assert old["gracefulExit"] is False
    assert old["gracePeriodSeconds"] == 8
    assert report["decision"] == "rollback"


def test_graceful_exit_can_be_turned_off(sandbox: Any, namespace: str, tmp_path: Path) -> None:
    apply(sandbox, namespace, manifest("after"), tmp_path)
    result = run_drill(sandbox, drill_spec(namespace, gracefulExit={"enabled": False}), tmp_path)
    assert result.code == 0, result.stderr[-2000:]
    assert [check["name"] for check in result.report["checks"]] == ["error-budget", "endpoint-ordering"]
