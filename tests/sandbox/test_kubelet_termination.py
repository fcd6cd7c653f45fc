"""Pod termination in Kubernetes' order and timing (K8S-SEMANTICS.md §3), measured within 200 ms.

Times come from the kubelet's measurement annotations (`sandbox.nonstop.dev/…`, ms precision) and
are compared with the moment the kubelet saw the deletion and with the test's own DELETE call.
"""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubelet_helpers import (
    PY,
    alive,
    condition,
    container,
    container_status,
    core,
    delete_and_watch,
    event_messages,
    events,
    pids_with_env,
    pod,
    raw_pod,
    sleeper,
    stamp,
    wait_for,
    wait_ready,
    wait_running,
)
from kubernetes import watch

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]

MARGIN = 0.2  # the sandbox's promise: kubelet timing within 200 ms of Kubernetes' schedule
CLIENT_MARGIN = 0.5  # against the test's DELETE call: adds the API round trip and watch delivery


def _final(seen: list[tuple[float, str, dict[str, Any]]]) -> dict[str, Any]:
    return seen[-1][2]


def _run(api: Any, namespace: str, name: str, spec: dict[str, Any], grace: int, **pod_spec: Any) -> dict[str, Any]:
    api.create_namespaced_pod(namespace, pod(name, spec, terminationGracePeriodSeconds=grace, **pod_spec))
    return wait_running(api, namespace, name)


def test_prestop_sleep_then_sigterm_then_graceful_exit(sandbox, namespace) -> None:
    api = core(sandbox)
    spec = container(
        env=[{"name": "GRACEFUL_SHUTDOWN", "value": "true"}],
        readinessProbe={"httpGet": {"path": "/ready", "port": 8080}, "periodSeconds": 1},
        lifecycle={"preStop": {"sleep": {"seconds": 2}}},
    )
    api.create_namespaced_pod(namespace, pod("web", spec, terminationGracePeriodSeconds=10))
    wait_ready(api, namespace, "web")
    deleted_at, seen = delete_and_watch(api, namespace, "web")
    last = _final(seen)
    observed = stamp(last, "deletion-observed-at")
    sigterm = stamp(last, "sigterm-at")
    exited = stamp(last, "exited-at")
    assert observed - deleted_at < CLIENT_MARGIN
    assert abs(sigterm - observed - 2.0) < MARGIN
    assert abs(sigterm - deleted_at - 2.0) < CLIENT_MARGIN
    assert 0 <= exited - sigterm < 1.0  # no connection open: the graceful app exits at once
    assert "sandbox.nonstop.dev/sigkill-at" not in last["metadata"]["annotations"]
    terminated = container_status(last)["state"]["terminated"]
    assert terminated["exitCode"] == 0
    assert terminated["reason"] == "Completed"
    assert terminated["finishedAt"].endswith("Z")
    assert last["status"]["phase"] == "Succeeded"
    assert condition(last, "Ready")["status"] == "False"
    assert condition(last, "Ready")["reason"] == "PodCompleted"
    assert [t for _, t, _ in seen][-1] == "DELETED"
    assert event_messages(api, namespace, "web", "Killing") == ["Stopping container app"]


def _armed(tmp_path: Path) -> tuple[list[str], Path]:
    """A SIGTERM-ignoring sleeper and the file it writes once its handler is installed."""
    pid_file = tmp_path / "armed.pid"
    return sleeper(ignore_sigterm=True, pid_file=pid_file), pid_file


def test_sigkill_at_the_deadline_when_sigterm_is_ignored(sandbox, namespace, tmp_path: Path) -> None:
    api = core(sandbox)
    command, armed = _armed(tmp_path)
    _run(api, namespace, "stubborn", container(image="busybox", command=command), grace=3)
    wait_for(armed.exists, message="SIGTERM handler installed")
    deleted_at, seen = delete_and_watch(api, namespace, "stubborn")
    last = _final(seen)
    observed = stamp(last, "deletion-observed-at")
    assert abs(stamp(last, "sigterm-at") - observed) < MARGIN
    assert abs(stamp(last, "sigkill-at") - observed - 3.0) < MARGIN
    assert abs(stamp(last, "exited-at") - observed - 3.0) < MARGIN
    assert abs(stamp(last, "exited-at") - deleted_at - 3.0) < CLIENT_MARGIN
    terminated = container_status(last)["state"]["terminated"]
    assert (terminated["exitCode"], terminated["reason"]) == (137, "Error")
    assert last["status"]["phase"] == "Failed"
    assert condition(last, "Ready")["reason"] == "PodFailed"


def test_prestop_longer_than_grace_is_abandoned_and_sigterm_gets_the_2s_floor(sandbox, namespace, tmp_path) -> None:
    """grace 3, preStop sleep 30: the hook is cut at 3 s, SIGTERM then, SIGKILL 2 s later (not at 3 s)."""
    api = core(sandbox)
    spec = container(
        image="busybox",
        command=_armed(tmp_path)[0],
        lifecycle={"preStop": {"sleep": {"seconds": 30}}},
    )
    _run(api, namespace, "longhook", spec, grace=3)
    wait_for(_armed(tmp_path)[1].exists, message="SIGTERM handler installed")
    _, seen = delete_and_watch(api, namespace, "longhook")
    last = _final(seen)
    observed = stamp(last, "deletion-observed-at")
    assert abs(stamp(last, "sigterm-at") - observed - 3.0) < MARGIN
    assert abs(stamp(last, "sigkill-at") - observed - 5.0) < MARGIN
    assert container_status(last)["state"]["terminated"]["exitCode"] == 137


def test_exec_prestop_takes_whole_seconds_from_the_grace_period(sandbox, namespace, tmp_path) -> None:
    """grace 4, exec preStop of ~1.5 s: 1 whole second is taken, so SIGKILL comes 3 s after SIGTERM (at ~4.5 s)."""
    api = core(sandbox)
    spec = container(
        image="busybox",
        command=_armed(tmp_path)[0],
        lifecycle={"preStop": {"exec": {"command": ["sleep", "1.5"]}}},
    )
    _run(api, namespace, "exechook", spec, grace=4)
    wait_for(_armed(tmp_path)[1].exists, message="SIGTERM handler installed")
    _, seen = delete_and_watch(api, namespace, "exechook")
    last = _final(seen)
    observed = stamp(last, "deletion-observed-at")
    hook_took = stamp(last, "prestop-finished-at") - observed
    assert 1.5 <= hook_took < 1.9  # the hook's own time: `sleep` started as a process, then 1.5 s
    assert abs(stamp(last, "sigterm-at") - stamp(last, "prestop-finished-at")) < MARGIN
    assert abs(stamp(last, "sigkill-at") - stamp(last, "sigterm-at") - 3.0) < MARGIN
    assert event_messages(api, namespace, "exechook", "FailedPreStopHook") == []


def test_unhandled_sigterm_exits_143(sandbox, namespace) -> None:
    """The sample app without graceful shutdown dies on SIGTERM: exit code 143, phase Failed."""
    api = core(sandbox)
    _run(api, namespace, "naive", container(), grace=10)
    _, seen = delete_and_watch(api, namespace, "naive")
    last = _final(seen)
    assert stamp(last, "exited-at") - stamp(last, "sigterm-at") < 0.5
    terminated = container_status(last)["state"]["terminated"]
    assert (terminated["exitCode"], terminated["reason"]) == (143, "Error")
    assert last["status"]["phase"] == "Failed"


def test_failing_exec_prestop_is_reported_and_does_not_block(sandbox, namespace) -> None:
    api = core(sandbox)
    spec = container(lifecycle={"preStop": {"exec": {"command": ["false"]}}})
    _run(api, namespace, "badhook", spec, grace=10)
    _, seen = delete_and_watch(api, namespace, "badhook")
    last = _final(seen)
    assert stamp(last, "sigterm-at") - stamp(last, "deletion-observed-at") < 0.5
    assert event_messages(api, namespace, "badhook", "FailedPreStopHook") == ["PreStopHook failed"]
    failed = [e for e in events(api, namespace, "badhook") if e["reason"] == "FailedPreStopHook"]
    assert failed[0]["type"] == "Warning"
    assert failed[0]["involvedObject"]["fieldPath"] == "spec.containers{app}"


@pytest.fixture
def hook_server() -> Iterator[tuple[int, list[tuple[float, str]]]]:
    """A local HTTP server that records when each request arrived."""
    hits: list[tuple[float, str]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append((time.time(), self.path))
            self.send_response(500)  # a hook's status code does not matter, only transport errors do
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], hits
    finally:
        server.shutdown()
        server.server_close()


def test_httpget_prestop_runs_before_sigterm(sandbox, namespace, hook_server) -> None:
    port, hits = hook_server
    api = core(sandbox)
    hook = {"httpGet": {"host": "127.0.0.1", "port": port, "path": "/drain"}}
    _run(api, namespace, "httphook", container(lifecycle={"preStop": hook}), grace=10)
    _, seen = delete_and_watch(api, namespace, "httphook")
    last = _final(seen)
    assert [path for _, path in hits] == ["/drain"]
    # The annotations have millisecond resolution (truncated): allow one millisecond on that side.
    assert stamp(last, "deletion-observed-at") - MARGIN <= hits[0][0] <= stamp(last, "sigterm-at") + 0.001
    assert event_messages(api, namespace, "httphook", "FailedPreStopHook") == []


def test_httpget_prestop_transport_error_is_a_failed_hook(sandbox, namespace) -> None:
    api = core(sandbox)
    hook = {"httpGet": {"port": 1, "path": "/nothing-listens"}}
    _run(api, namespace, "refused", container(lifecycle={"preStop": hook}), grace=10)
    delete_and_watch(api, namespace, "refused")
    assert event_messages(api, namespace, "refused", "FailedPreStopHook") == ["PreStopHook failed"]


def test_readiness_keeps_being_probed_while_terminating(sandbox, namespace) -> None:
    """After SIGTERM the app answers /ready 503: the pod turns unready while it still exists and serves."""
    api = core(sandbox)
    spec = container(
        env=[
            {"name": "GRACEFUL_SHUTDOWN", "value": "true"},
            {"name": "SHUTDOWN_DELAY_SECONDS", "value": "4"},
        ],
        readinessProbe={"httpGet": {"path": "/ready", "port": 8080}, "periodSeconds": 1, "failureThreshold": 1},
        livenessProbe={"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 1},
    )
    api.create_namespaced_pod(namespace, pod("drain", spec, terminationGracePeriodSeconds=10))
    wait_ready(api, namespace, "drain")
    _, seen = delete_and_watch(api, namespace, "drain")
    terminating = [obj for _, _, obj in seen if obj["metadata"].get("deletionTimestamp")]
    unready_while_running = [
        obj
        for obj in terminating
        if condition(obj, "Ready").get("status") == "False" and "running" in container_status(obj)["state"]
    ]
    assert unready_while_running, "Ready never turned False before the container exited"
    last = _final(seen)
    assert stamp(last, "exited-at") - stamp(last, "sigterm-at") >= 3.5
    unhealthy = event_messages(api, namespace, "drain", "Unhealthy")
    assert "Readiness probe failed: HTTP probe failed with statuscode: 503" in unhealthy
    assert event_messages(api, namespace, "drain", "Killing") == ["Stopping container app"]


def test_force_delete_stops_the_process(sandbox, namespace, tmp_path: Path) -> None:
    """Grace 0 removes the pod at once; the kubelet still stops its process (SIGTERM, SIGKILL 2 s later)."""
    api = core(sandbox)
    command, armed = _armed(tmp_path)
    p = _run(api, namespace, "forced", container(image="busybox", command=command), grace=30)
    wait_for(armed.exists, message="SIGTERM handler installed")
    ip = p["status"]["podIP"]
    pids = wait_for(lambda: pids_with_env(f"POD_IP={ip}"))
    started = time.monotonic()
    api.delete_namespaced_pod("forced", namespace, grace_period_seconds=0)
    wait_for(lambda: not any(alive(pid) for pid in pids), timeout=10, message="process gone")
    assert time.monotonic() - started < 2.0 + 1.0


def test_container_without_prestop_gets_sigterm_at_once_with_command(sandbox, namespace, tmp_path: Path) -> None:
    """A local command that handles SIGTERM exits with its own code (here 0, reason Completed)."""
    api = core(sandbox)
    armed = tmp_path / "armed"
    code = (
        "import signal, sys, time\nsignal.signal(signal.SIGTERM, lambda *_: sys.exit(0))\n"
        f"open({str(armed)!r}, 'w').close()\ntime.sleep(600)\n"
    )
    _run(api, namespace, "polite", container(image="busybox", command=[PY, "-c", code]), grace=30)
    wait_for(armed.exists, message="SIGTERM handler installed")
    _, seen = delete_and_watch(api, namespace, "polite")
    last = _final(seen)
    assert stamp(last, "sigterm-at") - stamp(last, "deletion-observed-at") < MARGIN
    terminated = container_status(last)["state"]["terminated"]
    assert (terminated["exitCode"], terminated["reason"]) == (0, "Completed")


def test_timing_holds_when_many_pods_terminate_at_once(sandbox, namespace, tmp_path: Path) -> None:
    """Ten pods deleted together (preStop sleep 1, grace 3, SIGTERM ignored): every SIGTERM at 1 s, SIGKILL at 3 s."""
    api = core(sandbox)
    names = [f"many-{i}" for i in range(10)]
    for i, name in enumerate(names):
        spec = container(
            image="busybox",
            command=sleeper(ignore_sigterm=True, pid_file=tmp_path / f"{i}.pid"),
            lifecycle={"preStop": {"sleep": {"seconds": 1}}},
        )
        api.create_namespaced_pod(namespace, pod(name, spec, terminationGracePeriodSeconds=3))
    for i, name in enumerate(names):
        wait_running(api, namespace, name)
        wait_for((tmp_path / f"{i}.pid").exists, message=f"{name} ignores SIGTERM")
    seen: dict[str, dict[str, Any]] = {}
    w = watch.Watch()
    rv = api.list_namespaced_pod(namespace, _preload_content=False)
    start_rv = json.loads(rv.data)["metadata"]["resourceVersion"]
    for name in names:
        api.delete_namespaced_pod(name, namespace)
    for event in w.stream(api.list_namespaced_pod, namespace, resource_version=start_rv, timeout_seconds=30):
        if event["type"] == "DELETED":
            seen[event["raw_object"]["metadata"]["name"]] = event["raw_object"]
            if len(seen) == len(names):
                w.stop()
    assert sorted(seen) == sorted(names)
    for name, last in seen.items():
        observed = stamp(last, "deletion-observed-at")
        assert abs(stamp(last, "sigterm-at") - observed - 1.0) < MARGIN, name
        assert abs(stamp(last, "sigkill-at") - observed - 3.0) < MARGIN, name


def test_pod_whose_container_never_ran_is_removed_at_once(sandbox, namespace) -> None:
    """An ErrImagePull pod has nothing to stop: DELETED follows at once, the container ContainerStatusUnknown."""
    api = core(sandbox)
    api.create_namespaced_pod(
        namespace, pod("unpulled", container(image="nginx:1.25"), terminationGracePeriodSeconds=30)
    )
    wait_for(
        lambda: container_status(raw_pod(api, namespace, "unpulled")).get("state", {}).get("waiting"),
        message="waiting",
    )
    deleted_at, seen = delete_and_watch(api, namespace, "unpulled")
    assert seen[-1][0] - deleted_at < 2.0
    terminated = container_status(_final(seen))["state"]["terminated"]
    assert (terminated["exitCode"], terminated["reason"]) == (137, "ContainerStatusUnknown")
    assert _final(seen)["status"]["phase"] == "Failed"


def test_crash_looping_pod_keeps_its_last_exit_when_deleted(sandbox, namespace) -> None:
    api = core(sandbox)
    spec = container(image="busybox", command=[PY, "-c", "exit(3)"])
    api.create_namespaced_pod(namespace, pod("looping", spec, terminationGracePeriodSeconds=30))
    wait_for(
        lambda: (
            container_status(raw_pod(api, namespace, "looping")).get("state", {}).get("waiting", {}).get("reason")
            == "CrashLoopBackOff"
        ),
        message="CrashLoopBackOff",
    )
    deleted_at, seen = delete_and_watch(api, namespace, "looping")
    assert seen[-1][0] - deleted_at < 2.0
    final = container_status(_final(seen))
    assert final["state"]["terminated"]["exitCode"] == 3
    assert final["restartCount"] == 1
