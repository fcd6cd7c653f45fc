"""Fault plans: validated (one sentence, exit 2), and each fault does what docs/reliability.md says."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from nonstop.kube.watching import Observed, ResilientWatch
from nonstop.sandbox.faults import FaultPlan, FaultPlanError

BAD_PLANS = [
    ({"errorRate": 1.5}, "errorRate is a share of requests between 0 and 1"),
    ({"errorCode": 404}, "errorCode must be one of"),
    ({"latencyMs": -1}, "latencyMs must be ≥ 0"),
    ({"stallSeconds": "long"}, "stallSeconds must be a number"),
    ({"dropWatchesEverySeconds": 0}, "dropWatchesEverySeconds must be > 0"),
    ({"dropWatchesEvery": 2}, "unknown field 'dropWatchesEvery'"),
    ({"verbs": "get"}, "verbs must be a list of names"),
    ({"expireResumes": "yes"}, "expireResumes must be true or false"),
    ({"oomKill": ["web-1"]}, "each oomKill entry is"),
    (["errorRate"], "must be a mapping"),
]


@pytest.mark.parametrize(("body", "message"), BAD_PLANS)
def test_bad_plan_is_refused_with_one_sentence_naming_the_field(body: Any, message: str) -> None:
    with pytest.raises(FaultPlanError, match=message) as caught:
        FaultPlan.parse(body, source="plan.yaml")
    assert str(caught.value).startswith("plan.yaml")
    assert "\n" not in str(caught.value)


def test_window_limits_when_the_plan_applies() -> None:
    plan = FaultPlan.parse({"errorRate": 1, "startAfterSeconds": 10, "forSeconds": 5})
    assert not plan.active(plan.set_at + 9.9)
    assert plan.active(plan.set_at + 10.1)
    assert not plan.active(plan.set_at + 15.1)


def test_sandbox_up_refuses_a_bad_fault_file_with_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "faults.yaml"
    path.write_text("errorRate: 3\n")
    done = subprocess.run(
        [sys.executable, "-m", "nonstop", "sandbox", "up", "--faults", str(path), "--kubeconfig-out",
         str(tmp_path / "kc")], capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"error: the fault plan {path}: errorRate is a share of requests between 0 and 1, not 3"
    ]


@pytest.mark.sandbox
def test_admin_endpoint_refuses_a_bad_plan_with_400(sandbox: Any) -> None:
    req = urllib.request.Request(
        sandbox.url + "/sandbox.nonstop.dev/faults", data=b'{"errorCode": 418}', method="POST",
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(req, timeout=10)
    assert caught.value.code == 400
    with caught.value:
        assert b"errorCode must be one of" in caught.value.read()


@pytest.mark.sandbox
def test_429_carries_retry_after(sandbox: Any, namespace: str, faults: Any) -> None:
    faults(errorRate=1.0, errorCode=429, retryAfterSeconds=1, verbs=["list"], resources=["configmaps"])
    api = client.CoreV1Api(sandbox.api_client())
    with pytest.raises(ApiException) as caught:
        api.list_namespaced_config_map(namespace)
    assert caught.value.status == 429
    assert caught.value.headers["Retry-After"] == "1"


@pytest.mark.sandbox
def test_error_window_ends_on_time(sandbox: Any, namespace: str, faults: Any) -> None:
    faults(errorRate=1.0, errorCode=503, forSeconds=1.0, verbs=["list"], resources=["configmaps"])
    api = client.CoreV1Api(sandbox.api_client())
    with pytest.raises(ApiException):
        api.list_namespaced_config_map(namespace)
    deadline = time.monotonic() + 10
    statuses: list[int] = []
    while True:
        try:
            api.list_namespaced_config_map(namespace)
            break
        except ApiException as exc:
            statuses.append(exc.status)
        assert time.monotonic() < deadline, "the window never closed"
        time.sleep(0.1)
    assert set(statuses) <= {503}


@pytest.mark.sandbox
def test_stall_holds_requests_then_serves_them(sandbox: Any, namespace: str, faults: Any) -> None:
    api = client.CoreV1Api(sandbox.api_client())
    faults(stallSeconds=1.5, resources=["configmaps"])
    started = time.monotonic()
    api.list_namespaced_config_map(namespace)
    assert time.monotonic() - started >= 1.2


@pytest.mark.sandbox
def test_dropped_watches_resume_and_expired_resumes_relist_without_losing_a_change(
    sandbox: Any, namespace: str, faults: Any
) -> None:
    """Streams end every 0.5 s, reconnect slowly and get 410: every ConfigMap still arrives exactly once."""
    api, watch, seen, lock = _configmap_watch(sandbox, namespace)
    # each reconnect takes 0.3 s, so writes land while the watch is blind and only the re-list shows them
    faults(dropWatchesEverySeconds=0.5, expireResumes=True, latencyMs=300, verbs=["watch"], resources=["configmaps"])
    watch.start()
    try:
        assert watch.synced.wait(10)
        for i in range(20):
            api.create_namespaced_config_map(namespace, {"metadata": {"name": f"cm-{i}"}, "data": {"i": str(i)}})
            time.sleep(0.1)  # spread the writes across several dropped streams
        deadline = time.monotonic() + 15
        while True:
            with lock:
                added = [e.obj["metadata"]["name"] for e in seen if e.type == "ADDED"]
                names = [name for name in added if name != "kube-root-ca.crt"]  # every namespace has that one
            if len(set(names)) == 20 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    finally:
        watch.stop()
    assert sorted(names) == sorted(f"cm-{i}" for i in range(20))  # each exactly once
    relisted = [e for e in seen if e.synthetic]
    assert relisted, "a re-list after 410 delivers what the expired stream missed"
    assert all(e.uncertainty > 0 for e in relisted)
    assert watch.stats.reconnects >= 2
    assert watch.stats.relists >= 1
    assert watch.failed is None


@pytest.mark.sandbox
def test_oom_kill_records_137_oomkilled_and_restarts_per_policy(sandbox: Any, namespace: str, faults: Any) -> None:
    api = client.CoreV1Api(sandbox.api_client())
    container = {"name": "app", "image": "nonstop/sample-app:v1"}
    pod = {"metadata": {"name": "victim"}, "spec": {"restartPolicy": "Always", "containers": [container]}}
    api.create_namespaced_pod(namespace, pod)
    deadline = time.monotonic() + 30
    while not (api.read_namespaced_pod("victim", namespace).status.container_statuses or [None])[0] or not (
        api.read_namespaced_pod("victim", namespace).status.container_statuses[0].state.running
    ):
        assert time.monotonic() < deadline, "the pod never ran"
        time.sleep(0.1)
    faults(oomKill=[{"namespace": namespace, "pod": "victim"}])
    deadline = time.monotonic() + 30
    while True:
        status = api.read_namespaced_pod("victim", namespace).status.container_statuses[0]
        last = status.last_state.terminated if status.last_state else None
        if last is not None:
            break
        assert time.monotonic() < deadline, "the kill was never recorded"
        time.sleep(0.1)
    assert (last.exit_code, last.reason) == (137, "OOMKilled")
    assert status.restart_count == 1


@pytest.mark.sandbox
def test_oom_kill_of_an_unknown_pod_is_404(sandbox: Any, namespace: str, faults: Any) -> None:
    with pytest.raises(urllib.error.HTTPError) as caught:
        faults(oomKill=[{"namespace": namespace, "pod": "nope"}])
    caught.value.close()
    assert caught.value.code == 404


def _configmap_watch(sandbox: Any, namespace: str) -> tuple[Any, ResilientWatch, list[Observed], threading.Lock]:
    """A client, a (not yet started) ResilientWatch of the namespace's ConfigMaps, and what it saw."""
    api = client.CoreV1Api(sandbox.api_client())
    seen: list[Observed] = []
    lock = threading.Lock()

    def on_event(event: Observed) -> None:
        with lock:
            seen.append(event)

    watch = ResilientWatch(api.list_namespaced_config_map, what="configmaps", namespace=namespace, on_event=on_event)
    return api, watch, seen, lock


def _wait_for(seen: list[Observed], lock: threading.Lock, name: str, timeout: float = 15) -> Observed:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with lock:
            found = [e for e in seen if e.obj["metadata"]["name"] == name]
        if found:
            return found[0]
        time.sleep(0.05)
    raise AssertionError(f"{name} never arrived")


@pytest.mark.sandbox
def test_a_change_made_while_the_watch_was_blind_carries_its_uncertainty(
    sandbox: Any, namespace: str, faults: Any
) -> None:
    """Dropped stream + stalled reconnect: the change is replayed late and says how late it may be."""
    api, watch, seen, lock = _configmap_watch(sandbox, namespace)
    watch.start()
    try:
        assert watch.synced.wait(10)
        api.create_namespaced_config_map(namespace, {"metadata": {"name": "live-before"}})
        assert _wait_for(seen, lock, "live-before").uncertainty < 0.5  # at most the list-to-stream handover
        dropped_at = time.time()
        reconnects = watch.stats.reconnects
        faults(dropWatches=True, stallSeconds=1.5, verbs=["watch", "list"], resources=["configmaps"])
        deadline = time.monotonic() + 5
        while watch.stats.reconnects == reconnects:  # the stream ended; its reconnect is now stalled
            assert time.monotonic() < deadline, "the stream was not dropped"
            time.sleep(0.02)
        created_at = time.time()
        api.create_namespaced_config_map(namespace, {"metadata": {"name": "blind"}})
        blind = _wait_for(seen, lock, "blind")
        assert blind.at - dropped_at >= 1.2  # the reconnect was stalled
        # The promise: the change happened somewhere in [at − uncertainty, at], however late it was seen.
        # (A fixed lower bound would race the stall's window, which starts when the plan is set.)
        assert blind.at - blind.uncertainty <= created_at
        assert blind.uncertainty <= blind.at - dropped_at + 0.5
        api.create_namespaced_config_map(namespace, {"metadata": {"name": "live-after"}})
        assert _wait_for(seen, lock, "live-after").uncertainty < 0.5
    finally:
        watch.stop()
    assert watch.stats.late_events >= 1
    assert watch.stats.max_uncertainty >= blind.at - created_at


def _dataplane_lag(sandbox_pid: int) -> str | None:
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if int(stat[1]) == sandbox_pid and b"nonstop.sandbox.dataplane" in argv:
            return argv[argv.index(b"--proxy-lag") + 1].decode()
    return None


@pytest.mark.sandbox
def test_sandbox_up_applies_a_fault_file_from_the_start(tmp_path: Path) -> None:
    """The plan answers from the first request; dataPlaneLagSeconds slows the data plane's view further."""
    from nonstop.sandbox.launcher import SandboxProcess

    path = tmp_path / "faults.yaml"
    path.write_text("errorRate: 1\nerrorCode: 503\nverbs: [list]\nresources: [configmaps]\ndataPlaneLagSeconds: 2\n")
    process = SandboxProcess(workdir=tmp_path, proxy_lag=0.5, extra_args=["--faults", str(path)]).start()
    try:
        from kubernetes import config

        api = client.CoreV1Api(config.new_client_from_config(config_file=str(process.kubeconfig)))
        with pytest.raises(ApiException) as caught:
            api.list_namespaced_config_map("default", _request_timeout=5)
        assert caught.value.status == 503
        assert process.process is not None
        deadline = time.monotonic() + 10
        while (lag := _dataplane_lag(process.process.pid)) is None:
            assert time.monotonic() < deadline, "no data plane process"
            time.sleep(0.1)
        assert float(lag) == 2.5
    finally:
        process.stop()
