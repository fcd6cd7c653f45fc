"""Builders and observers for the controller tests: plain-dict manifests and a pod watch that checks invariants."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Self

from kubernetes import client, watch

# A pod that listens on its own IP; a tcpSocket probe makes it Ready once it accepts connections.
WEB_COMMAND = ["python3", "-m", "http.server", "--bind", "$(POD_IP)", "8080"]
# A pod that holds SIGTERM for a moment, then exits 0 (a slow graceful shutdown).
SLOW_EXIT_COMMAND = ["sh", "-c", "trap 'sleep 1; exit 0' TERM; while true; do sleep 0.1; done"]
SLEEP_COMMAND = ["sleep", "3600"]


def container(command: list[str] = SLEEP_COMMAND, *, probe: bool = False, **extra: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": "app",
        "image": "local/command",
        "command": command,
        "ports": [{"name": "http", "containerPort": 8080}],
        **extra,
    }
    if probe:
        spec["readinessProbe"] = {"tcpSocket": {"port": 8080}, "periodSeconds": 1}
    return spec


def deployment(
    name: str,
    *,
    replicas: int = 1,
    strategy: dict[str, Any] | None = None,
    pod_spec: dict[str, Any] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "strategy": strategy or {"type": "RollingUpdate"},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": pod_spec or {"terminationGracePeriodSeconds": 5, "containers": [container()]},
            },
            **spec,
        },
    }


def service(name: str, *, target_port: Any = "http", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": target_port}], **spec},
    }


def until(predicate: Callable[[], Any], timeout: float = 30.0, interval: float = 0.05) -> Any:
    """Poll `predicate` until it returns something truthy; fail with the last value after `timeout` s."""
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s (last value: {value!r})")


def rollout_complete(apps: client.AppsV1Api, namespace: str, name: str) -> bool:
    """What `kubectl rollout status` waits for (K8S-SEMANTICS.md §1.7); raises on a passed deadline."""
    d = apps.read_namespaced_deployment(name, namespace)
    status = d.status
    if (status.observed_generation or 0) < d.metadata.generation:
        return False
    for cond in status.conditions or []:
        if cond.type == "Progressing" and cond.reason == "ProgressDeadlineExceeded":
            raise AssertionError(f"deployment {name} exceeded its progress deadline")
    wanted = d.spec.replicas
    updated = status.updated_replicas or 0
    return updated >= wanted and (status.replicas or 0) <= updated and (status.available_replicas or 0) >= updated


def restart(apps: client.AppsV1Api, namespace: str, name: str, stamp: str) -> None:
    """What `kubectl rollout restart` sends: a strategic-merge patch of the template's annotation."""
    body = {"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": stamp}}}}}
    apps.patch_namespaced_deployment(name, namespace, body)


def is_ready(pod: Any) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in (pod.status.conditions or []))


class PodWatch:
    """Follows a namespace's pods through a watch and calls `check(pods)` after every event.

    `pods` maps name → the latest V1Pod; DELETED removes the entry. `events` keeps
    (type, name, template hash, terminating) for ordering assertions.
    """

    def __init__(self, sandbox: Any, namespace: str, check: Callable[[dict[str, Any]], None] | None = None) -> None:
        self._core = client.CoreV1Api(sandbox.api_client())
        self._namespace = namespace
        self._check = check
        self._watch = watch.Watch()
        self.pods: dict[str, Any] = {}
        self.events: list[tuple[str, str, str, bool]] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._primed = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Self:
        pods = self._core.list_namespaced_pod(self._namespace)
        self.pods = {p.metadata.name: p for p in pods.items}
        self._rv = pods.metadata.resource_version
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._watch.stop()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        try:
            self._follow()
        except Exception as exc:  # noqa: BLE001 — the stream ends when the test stops watching; before that, it is a failure
            if not self._stop.is_set():
                self.failures.append(f"pod watch broke: {exc!r}")

    def _follow(self) -> None:
        for event in self._watch.stream(
            self._core.list_namespaced_pod,
            self._namespace,
            resource_version=self._rv,
            allow_watch_bookmarks=True,
            timeout_seconds=300,
        ):
            if self._stop.is_set():
                return
            if event["type"] == "BOOKMARK":
                continue
            pod = event["object"]
            name = pod.metadata.name
            if event["type"] == "DELETED":
                self.pods.pop(name, None)
            else:
                self.pods[name] = pod
            labels = pod.metadata.labels or {}
            self.events.append(
                (event["type"], name, labels.get("pod-template-hash", ""), pod.metadata.deletion_timestamp is not None)
            )
            if self._check is not None:
                try:
                    self._check(self.pods)
                except AssertionError as exc:
                    self.failures.append(f"after {event['type']} {name} (rv {pod.metadata.resource_version}): {exc}")


def live(pods: dict[str, Any]) -> list[Any]:
    """Pods that are neither terminating nor terminal."""
    return [
        p
        for p in pods.values()
        if p.metadata.deletion_timestamp is None and p.status.phase not in ("Succeeded", "Failed")
    ]


def summary(pods: dict[str, Any]) -> list[tuple[str, str, bool, bool]]:
    """(name, phase, terminating, ready) of each pod, for failure messages."""
    return [
        (p.metadata.name, p.status.phase, p.metadata.deletion_timestamp is not None, is_ready(p)) for p in pods.values()
    ]
