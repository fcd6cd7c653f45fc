"""The referee: the same rollouts on the embedded sandbox and on the real control plane, compared.

For each scenario (replicas × rolling-update settings × restart or image change) on each control
plane, through the official client only: create a Deployment of the sample app (readiness probe,
1 s preStop) behind a Service, wait until it is complete, change it, and record what a drill sees
until the rollout is complete and every old pod is gone:

- the order of the Deployment controller's ReplicaSet scalings (`ScalingReplicaSet` events, as new↑N
  and old↓N steps, in the order the watch delivered them);
- the maximum surge (pods counted beyond `replicas`: not terminating) and unavailability (`replicas`
  minus Ready pods that are not terminating) reached;
- per old pod, deletion → its endpoint `terminating` → its endpoint gone, as watches see them;
- the event reasons seen.

    .venv/bin/python bench/fidelity.py                     # every scenario, both control planes
    .venv/bin/python bench/fidelity.py --replicas 3 --planes embedded --markdown out.md

`--control-plane real` needs the binaries (`make controlplane`) and root (the node's pod network).
"""

from __future__ import annotations

import argparse
import re
import statistics
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client, config, watch

from nonstop.sandbox.launcher import SandboxProcess

STRATEGIES: dict[str, dict[str, Any]] = {
    "25%/25%": {"type": "RollingUpdate"},
    "surge1/unavail0": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
    "unavail100%": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": "100%"}},
    "Recreate": {"type": "Recreate"},
}
SCALED = re.compile(r"Scaled (up|down) replica set (\S+) (?:from \d+ )?to (\d+)")


@dataclass
class Observed:
    scalings: list[str] = field(default_factory=list)
    reasons: set[str] = field(default_factory=set)
    max_surge: int = 0
    max_unavailable: int = 0
    combined: int = 0
    """ScalingReplicaSet events the event recorder folded into a "(combined from similar events)" one."""
    delete_to_terminating: list[float] = field(default_factory=list)
    terminating_to_gone: list[float] = field(default_factory=list)
    seconds: float = 0.0


def _deployment(name: str, replicas: int, strategy: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {
            "replicas": replicas, "strategy": strategy, "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "terminationGracePeriodSeconds": 10,
                    "containers": [{
                        "name": "web", "image": "nonstop/sample-app:v1",
                        "ports": [{"name": "http", "containerPort": 8080}],
                        "env": [{"name": "GRACEFUL_SHUTDOWN", "value": "true"}],
                        "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}, "periodSeconds": 1},
                        "lifecycle": {"preStop": {"sleep": {"seconds": 1}}},
                    }],
                },
            },
        },
    }  # fmt: skip


def _service(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
        "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": "http"}]},
    }  # fmt: skip


def _complete(d: Any) -> bool:
    s = d.status
    if s is None or (s.observed_generation or 0) < d.metadata.generation:
        return False
    updated = s.updated_replicas or 0
    return updated >= d.spec.replicas and (s.replicas or 0) <= updated and (s.available_replicas or 0) >= updated


def _watch(fn: Any, namespace: str, stop: threading.Event, on_event: Any) -> threading.Thread:
    def run() -> None:
        w = watch.Watch()
        while not stop.is_set():
            for event in w.stream(fn, namespace, timeout_seconds=2):
                on_event(event["type"], event["object"], time.time())
                if stop.is_set():
                    w.stop()
                    break

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _ready(pod: Any) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in (pod.status.conditions or []))


def run_scenario(api: client.ApiClient, replicas: int, strategy: str, change: str, timeout: float = 180) -> Observed:  # noqa: C901, PLR0915 — one scenario's watchers and figures read top to bottom over shared locals
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    discovery = client.DiscoveryV1Api(api)
    namespace = f"fid-{uuid.uuid4().hex[:6]}"
    core.create_namespace({"metadata": {"name": namespace}})
    try:
        apps.create_namespaced_deployment(namespace, _deployment("fid", replicas, STRATEGIES[strategy]))
        core.create_namespaced_service(namespace, _service("fid"))
        _wait(lambda: _complete(apps.read_namespaced_deployment("fid", namespace)), timeout, "initial rollout")
        old = {p.metadata.name for p in core.list_namespaced_pod(namespace).items}
        seen = Observed()
        lock = threading.Lock()
        pods: dict[str, Any] = {}
        deleted_at: dict[str, float] = {}
        terminating_at: dict[str, float] = {}
        gone_at: dict[str, float] = {}
        new_rs: list[str] = []
        stop = threading.Event()

        def on_pod(kind: str, pod: Any, at: float) -> None:
            with lock:
                name = pod.metadata.name
                if kind == "DELETED":
                    pods.pop(name, None)
                else:
                    pods[name] = pod
                if pod.metadata.deletion_timestamp and name not in deleted_at:
                    deleted_at[name] = at
                counted = [p for p in pods.values() if not p.metadata.deletion_timestamp]
                ready = [p for p in counted if _ready(p)]
                seen.max_surge = max(seen.max_surge, len(counted) - replicas)
                seen.max_unavailable = max(seen.max_unavailable, replicas - len(ready))

        def on_slice(_kind: str, eps: Any, at: float) -> None:
            with lock:
                listed = set()
                for endpoint in eps.endpoints or []:
                    ref = endpoint.target_ref
                    if ref is None:
                        continue
                    listed.add(ref.name)
                    if endpoint.conditions and endpoint.conditions.terminating and ref.name not in terminating_at:
                        terminating_at[ref.name] = at
                for name in old - listed:
                    if name in deleted_at and name not in gone_at:
                        gone_at[name] = at

        event_messages: dict[str, str] = {}

        def on_event(_kind: str, event: Any, _at: float) -> None:
            with lock:
                # A new event, or one the API server's aggregation rewrote: after 10 similar events on one
                # object, kube's event recorder folds the rest into one "(combined from similar events)".
                if event_messages.get(event.metadata.uid) == event.message:
                    return  # a re-list's replay, or a repeat counted in `count`
                event_messages[event.metadata.uid] = event.message
                seen.reasons.add(event.reason)
                match = SCALED.search(event.message or "") if event.reason == "ScalingReplicaSet" else None
                if match:
                    direction, rs, to = match.groups()
                    if direction == "up" and not new_rs:
                        new_rs.append(rs)
                    role = "new" if rs in new_rs else "old"
                    seen.scalings.append(f"{role}{'↑' if direction == 'up' else '↓'}{to}")
                    if "combined from similar events" in (event.message or ""):
                        seen.combined += 1

        threads = [
            _watch(core.list_namespaced_pod, namespace, stop, on_pod),
            _watch(discovery.list_namespaced_endpoint_slice, namespace, stop, on_slice),
            _watch(core.list_namespaced_event, namespace, stop, on_event),
        ]
        time.sleep(1.0)  # the watches' first lists
        with lock:  # what happened before the change is not the rollout's
            event_messages.update({e.metadata.uid: e.message for e in core.list_namespaced_event(namespace).items})
            seen.scalings.clear()
            new_rs.clear()
            seen.reasons.clear()
            seen.max_surge = seen.max_unavailable = 0
        started = time.monotonic()
        if change == "restart":
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ")
            body: Any = {
                "spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": stamp}}}}
            }
        else:
            body = {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nonstop/sample-app:v2"}]}}}}
        apps.patch_namespaced_deployment("fid", namespace, body)

        def done() -> bool:
            with lock:
                gone = all(name in gone_at or (name not in pods and name in deleted_at) for name in old)
            return gone and _complete(apps.read_namespaced_deployment("fid", namespace))

        _wait(done, timeout, f"{strategy} {change} of {replicas}")
        seen.seconds = time.monotonic() - started
        time.sleep(0.5)  # the last events
        stop.set()
        for thread in threads:
            thread.join(timeout=5)
        with lock:
            for name in old:
                if name in deleted_at and name in terminating_at:
                    seen.delete_to_terminating.append(terminating_at[name] - deleted_at[name])
                if name in terminating_at and name in gone_at:
                    seen.terminating_to_gone.append(gone_at[name] - terminating_at[name])
        return seen
    finally:
        core.delete_namespace(namespace)


def _wait(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)  # a benchmark's bounded poll of a condition the watches feed
    raise TimeoutError(f"{what} did not finish within {timeout:.0f} s")


@contextmanager
def control_plane(plane: str) -> Iterator[client.ApiClient]:
    extra = ["--control-plane", "real"] if plane == "real" else []
    with SandboxProcess(extra_args=extra, startup_timeout=180) as sandbox:
        yield config.new_client_from_config(config_file=str(sandbox.kubeconfig))


def _median(values: list[float]) -> str:
    return "–" if not values else f"{statistics.median(values):.2f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--planes", nargs="+", default=["embedded", "real"], choices=["embedded", "real"])
    parser.add_argument("--replicas", nargs="+", type=int, default=[1, 3, 10])
    parser.add_argument("--strategies", nargs="+", default=list(STRATEGIES), choices=list(STRATEGIES))
    parser.add_argument("--changes", nargs="+", default=["restart", "image"], choices=["restart", "image"])
    parser.add_argument("--markdown", help="also write the table to this file")
    args = parser.parse_args()
    results: dict[tuple[int, str, str, str], Observed] = {}
    for plane in args.planes:
        with control_plane(plane) as api:
            for replicas in args.replicas:
                for strategy in args.strategies:
                    for change in args.changes:
                        observed = run_scenario(api, replicas, strategy, change)
                        results[replicas, strategy, change, plane] = observed
                        print(
                            f"{plane:8} {replicas:>2} {strategy:16} {change:7} {' '.join(observed.scalings)}",
                            flush=True,
                        )
    lines = [
        (
            "| replicas | strategy | change | plane | ReplicaSet scalings | max surge | max unavailable "
            "| deletion → terminating | terminating → gone | combined events | event reasons | same scalings |"
        ),
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (replicas, strategy, change, plane), o in results.items():
        other = results.get((replicas, strategy, change, "real" if plane == "embedded" else "embedded"))
        same = "–" if other is None else ("yes" if other.scalings == o.scalings else "**no**")
        lines.append(
            f"| {replicas} | {strategy} | {change} | {plane} | {' '.join(o.scalings)} | {o.max_surge} | "
            f"{o.max_unavailable} | {_median(o.delete_to_terminating)} | {_median(o.terminating_to_gone)} | "
            f"{o.combined} | {', '.join(sorted(o.reasons))} | {same} |"
        )
    table = "\n".join(lines)
    print(table)
    if args.markdown:
        with Path(args.markdown).open("w", encoding="utf-8") as out:
            out.write(table + "\n")


if __name__ == "__main__":
    main()
