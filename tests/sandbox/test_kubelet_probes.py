"""Probes as the kubelet runs them (K8S-SEMANTICS.md §5): handlers, thresholds, delays, Ready flips, restarts."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from kubelet_helpers import (
    condition,
    container,
    container_status,
    core,
    event_messages,
    events,
    pod,
    raw_pod,
    sleeper,
    wait_for,
    wait_ready,
    wait_running,
)

pytestmark = pytest.mark.sandbox


def _ready(api, namespace: str, name: str) -> str | None:
    return condition(raw_pod(api, namespace, name), "Ready").get("status")


def test_container_without_readiness_probe_is_ready_once_running(sandbox, namespace) -> None:
    api = core(sandbox)
    api.create_namespaced_pod(namespace, pod("plain", container(image="busybox", command=sleeper())))
    p = wait_ready(api, namespace, "plain")
    assert container_status(p)["ready"] is True


def test_http_readiness_gates_ready_until_the_app_is_ready(sandbox, namespace) -> None:
    api = core(sandbox)
    spec = container(
        env=[{"name": "READY_DELAY_SECONDS", "value": "4"}],
        readinessProbe={"httpGet": {"path": "/ready", "port": 8080}, "periodSeconds": 1},
    )
    api.create_namespaced_pod(namespace, pod("slow", spec))
    running = wait_running(api, namespace, "slow")
    assert condition(running, "Ready")["status"] == "False"
    assert condition(running, "Ready")["reason"] == "ContainersNotReady"
    assert condition(running, "ContainersReady")["message"] == "containers with unready status: [app]"
    started = time.monotonic()
    wait_ready(api, namespace, "slow")
    assert time.monotonic() - started >= 3.5
    unhealthy = event_messages(api, namespace, "slow", "Unhealthy")
    assert "Readiness probe failed: HTTP probe failed with statuscode: 503" in unhealthy


def test_tcp_readiness_fails_with_go_dial_error_until_listening(sandbox, namespace) -> None:
    api = core(sandbox)
    spec = container(
        env=[{"name": "STARTUP_DELAY_SECONDS", "value": "2"}],
        readinessProbe={"tcpSocket": {"port": "http"}, "periodSeconds": 1},
        ports=[{"name": "http", "containerPort": 8080}],
    )
    api.create_namespaced_pod(namespace, pod("tcp", spec))
    ip = wait_running(api, namespace, "tcp")["status"]["podIP"]
    wait_ready(api, namespace, "tcp")
    unhealthy = event_messages(api, namespace, "tcp", "Unhealthy")
    assert f"Readiness probe failed: dial tcp {ip}:8080: connect: connection refused" in unhealthy


@pytest.mark.slow
def test_exec_readiness_honours_success_and_failure_thresholds(sandbox, namespace, tmp_path: Path) -> None:
    """successThreshold 2, failureThreshold 3, period 1: ready ~1 s after the file appears, unready ~2–3 s later."""
    flag = tmp_path / "ready"
    api = core(sandbox)
    probe = {
        "exec": {"command": ["test", "-f", str(flag)]},
        "periodSeconds": 1,
        "successThreshold": 2,
        "failureThreshold": 3,
    }
    api.create_namespaced_pod(
        namespace, pod("gated", container(image="busybox", command=sleeper(), readinessProbe=probe))
    )
    wait_running(api, namespace, "gated")
    flag.touch()
    t_on = time.monotonic()
    wait_ready(api, namespace, "gated")
    assert 0.8 <= time.monotonic() - t_on <= 3.5
    flag.unlink()
    t_off = time.monotonic()
    wait_for(lambda: _ready(api, namespace, "gated") == "False", message="unready")
    assert 1.8 <= time.monotonic() - t_off <= 4.5
    assert "Readiness probe failed:" in [m.strip() for m in event_messages(api, namespace, "gated", "Unhealthy")]


@pytest.mark.slow
def test_initial_delay_holds_the_first_probe(sandbox, namespace) -> None:
    api = core(sandbox)
    probe = {"httpGet": {"path": "/ready", "port": 8080}, "periodSeconds": 1, "initialDelaySeconds": 3}
    api.create_namespaced_pod(namespace, pod("delayed", container(readinessProbe=probe)))
    wait_running(api, namespace, "delayed")
    started = time.monotonic()
    wait_ready(api, namespace, "delayed")
    assert time.monotonic() - started >= 2.5


@pytest.mark.slow
def test_startup_probe_gates_started_and_readiness(sandbox, namespace, tmp_path: Path) -> None:
    flag = tmp_path / "started"
    api = core(sandbox)
    spec = container(
        image="busybox",
        command=sleeper(),
        startupProbe={"exec": {"command": ["test", "-f", str(flag)]}, "periodSeconds": 1, "failureThreshold": 30},
        livenessProbe={"exec": {"command": ["true"]}, "periodSeconds": 1},
    )
    api.create_namespaced_pod(namespace, pod("boot", spec))
    p = wait_running(api, namespace, "boot")
    cs = container_status(p)
    assert (cs["started"], cs["ready"]) == (False, False)
    flag.touch()
    p = wait_ready(api, namespace, "boot")
    assert container_status(p)["started"] is True
    assert container_status(p)["restartCount"] == 0


@pytest.mark.slow
def test_failed_startup_probe_restarts_the_container(sandbox, namespace) -> None:
    api = core(sandbox)
    spec = container(
        image="busybox",
        command=sleeper(),
        startupProbe={"exec": {"command": ["false"]}, "periodSeconds": 1, "failureThreshold": 2},
    )
    api.create_namespaced_pod(namespace, pod("neverup", spec, terminationGracePeriodSeconds=2))
    wait_for(lambda: container_status(raw_pod(api, namespace, "neverup")).get("restartCount", 0) >= 1, timeout=20)
    killing = event_messages(api, namespace, "neverup", "Killing")
    assert killing == ["Container app failed startup probe, will be restarted"]


@pytest.mark.slow
def test_liveness_failure_kills_and_restarts_with_backoff(sandbox, namespace) -> None:
    """First restart at once; the second waits the 10 s back-off (CrashLoopBackOff meanwhile)."""
    api = core(sandbox)
    spec = container(
        image="busybox",
        command=sleeper(),
        livenessProbe={"exec": {"command": ["false"]}, "periodSeconds": 1, "failureThreshold": 2},
    )
    api.create_namespaced_pod(namespace, pod("dying", spec, terminationGracePeriodSeconds=2))

    def restarts() -> int:
        return int(container_status(raw_pod(api, namespace, "dying")).get("restartCount", 0))

    wait_for(lambda: restarts() >= 1, timeout=20, message="first restart")
    first = time.monotonic()
    cs = container_status(raw_pod(api, namespace, "dying"))
    assert cs["lastState"]["terminated"]["exitCode"] == 143  # the sleeper dies of the SIGTERM
    wait_for(
        lambda: (
            container_status(raw_pod(api, namespace, "dying")).get("state", {}).get("waiting", {}).get("reason")
            == "CrashLoopBackOff"
        ),
        timeout=20,
        message="CrashLoopBackOff",
    )
    wait_for(lambda: restarts() >= 2, timeout=30, message="second restart")
    assert time.monotonic() - first >= 9.0  # ~2 s to fail liveness again, then 10 s back-off
    assert event_messages(api, namespace, "dying", "Killing") == [
        "Container app failed liveness probe, will be restarted"
    ]
    killing = [e for e in events(api, namespace, "dying") if e["reason"] == "Killing"]
    assert killing[0]["count"] >= 2
    assert "Liveness probe failed:" in [m.strip() for m in event_messages(api, namespace, "dying", "Unhealthy")]


@pytest.mark.slow
def test_http_probe_timeout_is_a_failure_with_gos_message(sandbox, namespace) -> None:
    """timeoutSeconds 1 against a 1.5 s answer fails; timeoutSeconds 3 against the same answer succeeds."""
    api = core(sandbox)
    slow_root = [{"name": "RESPONSE_DELAY_MS", "value": "1500"}]
    for name, timeout in (("impatient", 1), ("patient", 3)):
        probe = {"httpGet": {"path": "/", "port": 8080}, "periodSeconds": 1, "timeoutSeconds": timeout}
        api.create_namespaced_pod(namespace, pod(name, container(env=slow_root, readinessProbe=probe)))
    p = wait_ready(api, namespace, "patient")
    ip = p["status"]["podIP"]
    unhealthy = wait_for(
        lambda: [m for m in event_messages(api, namespace, "impatient", "Unhealthy") if "deadline" in m],
        message="a timed-out probe",
    )
    impatient = raw_pod(api, namespace, "impatient")
    assert condition(impatient, "Ready")["status"] == "False"
    assert unhealthy[0].endswith("context deadline exceeded (Client.Timeout exceeded while awaiting headers)")
    assert ip != impatient["status"]["podIP"]


@pytest.mark.slow
def test_liveness_stops_once_the_pod_is_terminating(sandbox, namespace, tmp_path: Path) -> None:
    """A liveness probe that would fail during termination kills nothing: no restart, no liveness Killing."""
    flag = tmp_path / "alive"
    flag.touch()
    api = core(sandbox)
    spec = container(
        image="busybox",
        command=sleeper(),
        livenessProbe={"exec": {"command": ["test", "-f", str(flag)]}, "periodSeconds": 1, "failureThreshold": 1},
        lifecycle={"preStop": {"sleep": {"seconds": 3}}},
    )
    api.create_namespaced_pod(namespace, pod("winding", spec, terminationGracePeriodSeconds=10))
    wait_running(api, namespace, "winding")
    api.delete_namespaced_pod("winding", namespace)
    wait_for(
        lambda: (
            "sandbox.nonstop.dev/deletion-observed-at"
            in ((raw_pod(api, namespace, "winding") or {}).get("metadata", {}).get("annotations") or {})
        ),
        message="the kubelet saw the deletion",
    )
    flag.unlink()
    wait_for(lambda: raw_pod(api, namespace, "winding") is None, timeout=15, message="pod removed")
    assert event_messages(api, namespace, "winding", "Killing") == ["Stopping container app"]
    assert not [m for m in event_messages(api, namespace, "winding", "Unhealthy") if m.startswith("Liveness")]
