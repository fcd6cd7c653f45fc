"""Helpers for the kubelet tests: raw pod/event dicts through the official client, waits, process lookups."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from kubernetes import client, watch

T = TypeVar("T")

PY = sys.executable


def core(sandbox: Any) -> client.CoreV1Api:
    return client.CoreV1Api(sandbox.api_client())


def container(name: str = "app", image: str = "nonstop/sample-app:v1", **fields: Any) -> dict[str, Any]:
    return {"name": name, "image": image, **fields}


def pod(name: str, *containers: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"test": name}},
        "spec": {"containers": list(containers) or [container()], **spec},
    }


def sleeper(seconds: int = 600, *, ignore_sigterm: bool = False, pid_file: Path | None = None) -> list[str]:
    """A command that sleeps (optionally ignoring SIGTERM, optionally writing its pid)."""
    code = "import os, signal, sys, time\n"
    if ignore_sigterm:
        code += "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    if pid_file is not None:
        code += f"open({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
    code += f"time.sleep({seconds})\n"
    return [PY, "-c", code]


def wait_for(what: Callable[[], T | None], timeout: float = 20.0, interval: float = 0.05, message: str = "") -> T:
    """Poll `what` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = what()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {message or what}; last: {last!r}")


def raw_pod(api: client.CoreV1Api, namespace: str, name: str) -> dict[str, Any] | None:
    try:
        response = api.read_namespaced_pod(name, namespace, _preload_content=False)
    except client.ApiException as exc:
        if exc.status == 404:
            return None
        raise
    data: dict[str, Any] = json.loads(response.data)
    return data


def condition(obj: dict[str, Any] | None, ctype: str) -> dict[str, Any]:
    for cond in (obj or {}).get("status", {}).get("conditions") or []:
        if cond["type"] == ctype:
            return dict(cond)
    return {}


def container_status(obj: dict[str, Any] | None, name: str = "app") -> dict[str, Any]:
    for cs in (obj or {}).get("status", {}).get("containerStatuses") or []:
        if cs["name"] == name:
            return dict(cs)
    return {}


def wait_ready(api: client.CoreV1Api, namespace: str, name: str, timeout: float = 20.0) -> dict[str, Any]:
    return wait_for(
        lambda: (p := raw_pod(api, namespace, name)) and condition(p, "Ready").get("status") == "True" and p,
        timeout,
        message=f"pod {name} Ready",
    )


def wait_running(api: client.CoreV1Api, namespace: str, name: str, timeout: float = 20.0) -> dict[str, Any]:
    return wait_for(
        lambda: (p := raw_pod(api, namespace, name)) and "running" in container_status(p).get("state", {}) and p,
        timeout,
        message=f"pod {name} running",
    )


def events(api: client.CoreV1Api, namespace: str, name: str | None = None) -> list[dict[str, Any]]:
    response = api.list_namespaced_event(namespace, _preload_content=False)
    items = json.loads(response.data)["items"]
    return [e for e in items if name is None or e["involvedObject"]["name"] == name]


def event_messages(api: client.CoreV1Api, namespace: str, name: str, reason: str) -> list[str]:
    return [e["message"] for e in events(api, namespace, name) if e["reason"] == reason]


def delete_and_watch(
    api: client.CoreV1Api, namespace: str, name: str, *, grace: int | None = None, timeout: float = 60.0
) -> tuple[float, list[tuple[float, str, dict[str, Any]]]]:
    """DELETE the pod, then watch it until DELETED: (time of the DELETE call, [(received, type, object)])."""
    rv = raw_pod(api, namespace, name)
    assert rv is not None
    seen: list[tuple[float, str, dict[str, Any]]] = []
    w = watch.Watch()
    started = time.time()
    if grace is None:
        api.delete_namespaced_pod(name, namespace)
    else:
        api.delete_namespaced_pod(name, namespace, grace_period_seconds=grace)
    for event in w.stream(
        api.list_namespaced_pod,
        namespace,
        field_selector=f"metadata.name={name}",
        resource_version=rv["metadata"]["resourceVersion"],
        timeout_seconds=int(timeout),
    ):
        seen.append((time.time(), event["type"], event["raw_object"]))
        if event["type"] == "DELETED":
            w.stop()
    assert seen
    assert seen[-1][1] == "DELETED", [t for _, t, _ in seen]
    return started, seen


def stamp(obj: dict[str, Any], key: str) -> float:
    """A `sandbox.nonstop.dev/<key>` annotation as a Unix timestamp."""
    value = obj["metadata"]["annotations"][f"sandbox.nonstop.dev/{key}"]
    return datetime.fromisoformat(value).timestamp()


def pids_with_env(entry: str) -> list[int]:
    """Processes whose environment holds `entry` (e.g. "POD_IP=127.10.0.7")."""
    found = []
    needle = entry.encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            environ = (proc / "environ").read_bytes()
        except OSError:
            continue
        if needle in environ.split(b"\0"):
            found.append(int(proc.name))
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"
