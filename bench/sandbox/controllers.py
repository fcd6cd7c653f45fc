"""How fast the sandbox's controllers bring up and roll a 50-pod Deployment, and move endpoints.

Against a `nonstop sandbox up` subprocess, through the official client only:
1. create a Deployment of N pods; time until `kubectl rollout status` would return;
2. `rollout restart` it; time until complete again and until every old pod has exited;
3. during the roll, for each old pod: the delay between a watch showing its deletionTimestamp and
   a watch on EndpointSlices showing its endpoint `terminating` (the endpoint controller's
   reaction as a client sees it, both watches on the same connection pool).

    .venv/bin/python bench/sandbox/controllers.py            # --replicas 50 --pods sleep|web --repeat 1
    .venv/bin/python bench/sandbox/controllers.py --control-plane real    # the referee (root, binaries built)
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
import uuid
from typing import Any, Self

from kubernetes import client, config, watch

from nonstop.sandbox.launcher import SandboxProcess

COMMANDS = {
    "sleep": (["sleep", "3600"], None),
    "web": (
        ["python3", "-m", "http.server", "--bind", "$(POD_IP)", "8080"],
        {"tcpSocket": {"port": 8080}, "periodSeconds": 1},
    ),
}


def _deployment(name: str, replicas: int, kind: str) -> dict[str, Any]:
    command, probe = COMMANDS[kind]
    container: dict[str, Any] = {
        "name": "app",
        "image": "local/command",
        "command": command,
        "ports": [{"name": "http", "containerPort": 8080}],
    }
    if probe:
        container["readinessProbe"] = probe
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"terminationGracePeriodSeconds": 5, "containers": [container]},
            },
        },
    }


def _complete(d: Any) -> bool:
    s = d.status
    if s is None or (s.observed_generation or 0) < d.metadata.generation:
        return False
    updated = s.updated_replicas or 0
    return updated >= d.spec.replicas and (s.replicas or 0) <= updated and (s.available_replicas or 0) >= updated


def _wait_complete(apps: client.AppsV1Api, namespace: str, name: str, timeout: float = 600) -> float:
    """Seconds until the Deployment is complete, watched (not polled)."""
    start = time.monotonic()
    w = watch.Watch()
    for event in w.stream(
        apps.list_namespaced_deployment, namespace, field_selector=f"metadata.name={name}", timeout_seconds=int(timeout)
    ):
        if event["type"] != "BOOKMARK" and _complete(event["object"]):
            w.stop()
            return time.monotonic() - start
    raise RuntimeError(f"deployment {name} did not complete within {timeout} s")


class _EndpointLag:
    """Pairs 'pod got deletionTimestamp' with 'its endpoint shows terminating', as two watches see them."""

    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        self.core = client.CoreV1Api(api)
        self.discovery = client.DiscoveryV1Api(api)
        self.namespace = namespace
        self.deleted_at: dict[str, float] = {}
        self.terminating_at: dict[str, float] = {}
        # per pod, what each watch showed, in order: (seconds, resourceVersion, what)
        self.pod_story: dict[str, list[tuple[float, int, str]]] = {}
        self.slice_story: dict[str, list[tuple[float, int, str]]] = {}
        self._watches = [watch.Watch(), watch.Watch()]
        self._threads = [
            threading.Thread(target=self._quietly, args=(self._pods,), daemon=True),
            threading.Thread(target=self._quietly, args=(self._slices,), daemon=True),
        ]

    def __enter__(self) -> Self:
        self._pod_rv = self.core.list_namespaced_pod(self.namespace).metadata.resource_version
        self._slice_rv = self.discovery.list_namespaced_endpoint_slice(self.namespace).metadata.resource_version
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for w in self._watches:
            w.stop()

    @staticmethod
    def _quietly(follow: Any) -> None:
        try:
            follow()
        except Exception:  # noqa: BLE001 — the stream breaks when the sandbox stops; the figures are already taken
            return

    def _pods(self) -> None:
        for event in self._watches[0].stream(
            self.core.list_namespaced_pod, self.namespace, resource_version=self._pod_rv, timeout_seconds=600
        ):
            pod = event["object"]
            now = time.monotonic()
            if event["type"] == "MODIFIED" and pod.metadata.deletion_timestamp is not None:
                self.deleted_at.setdefault(pod.metadata.name, now)
            ready = next((c.status for c in (pod.status.conditions or []) if c.type == "Ready"), "-")
            deleting = pod.metadata.deletion_timestamp is not None
            what = f"{event['type']} deleting={deleting} ready={ready} {pod.status.phase}"
            story = self.pod_story.setdefault(pod.metadata.name, [])
            if not story or story[-1][2] != what:
                story.append((now, int(pod.metadata.resource_version), what))

    def _slices(self) -> None:
        for event in self._watches[1].stream(
            self.discovery.list_namespaced_endpoint_slice,
            self.namespace,
            resource_version=self._slice_rv,
            timeout_seconds=600,
        ):
            now = time.monotonic()
            seen = set()
            for ep in event["object"].endpoints or []:
                seen.add(ep.target_ref.name)
                if ep.conditions.terminating:
                    self.terminating_at.setdefault(ep.target_ref.name, now)
                c = ep.conditions
                what = f"ready={c.ready} serving={c.serving} terminating={c.terminating}"
                story = self.slice_story.setdefault(ep.target_ref.name, [])
                if not story or story[-1][2] != what:
                    story.append((now, int(event["object"].metadata.resource_version), what))
            for name, story in self.slice_story.items():
                if name not in seen and story[-1][2] != "gone":
                    story.append((now, int(event["object"].metadata.resource_version), "gone"))

    def unpaired(self) -> list[str]:
        """Old pods whose deletion no endpoint `terminating` followed."""
        return sorted(name for name in self.deleted_at if name not in self.terminating_at)

    def story(self, name: str) -> str:
        """What both watches showed of one pod, merged in resourceVersion order."""
        t0 = self.deleted_at.get(name, 0.0)
        rows = [(rv, at, "pod  ", what) for at, rv, what in self.pod_story.get(name, [])]
        rows += [(rv, at, "slice", what) for at, rv, what in self.slice_story.get(name, [])]
        return "\n".join(
            f"    rv {rv:>7} {1000 * (at - t0):+8.1f} ms {src} {what}" for rv, at, src, what in sorted(rows)
        )

    def lags_ms(self) -> list[float]:
        return [
            (self.terminating_at[name] - at) * 1000
            for name, at in self.deleted_at.items()
            if name in self.terminating_at
        ]


def run_once(
    apps: client.AppsV1Api, core: client.CoreV1Api, api: client.ApiClient, replicas: int, kind: str
) -> dict[str, Any]:
    namespace = f"bench-{uuid.uuid4().hex[:6]}"
    core.create_namespace({"metadata": {"name": namespace}})
    core.create_namespaced_service(
        namespace,
        {
            "metadata": {"name": "web"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": "http"}]},
        },
    )
    apps.create_namespaced_deployment(namespace, _deployment("web", replicas, kind))
    up = _wait_complete(apps, namespace, "web")
    old = {p.metadata.name for p in core.list_namespaced_pod(namespace).items}
    with _EndpointLag(api, namespace) as lag:
        start = time.monotonic()
        body = {"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "bench"}}}}}
        apps.patch_namespaced_deployment("web", namespace, body)
        rolled = _wait_complete(apps, namespace, "web")
        while old & {p.metadata.name for p in core.list_namespaced_pod(namespace).items}:
            time.sleep(0.05)
        drained = time.monotonic() - start
        time.sleep(0.5)  # let the last slice events arrive
    lags = sorted(lag.lags_ms())
    unpaired = {name: lag.story(name) for name in lag.unpaired()}
    core.delete_namespace(namespace)
    return {"available": up, "rolled": rolled, "drained": drained, "lags": lags, "unpaired": unpaired}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, default=50)
    parser.add_argument("--pods", choices=sorted(COMMANDS), default="sleep")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--control-plane", choices=["embedded", "real"], default="embedded")
    args = parser.parse_args()
    with SandboxProcess(control_plane=args.control_plane, startup_timeout=300) as sandbox:
        api = config.new_client_from_config(config_file=str(sandbox.kubeconfig))
        apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
        for i in range(args.repeat):
            r = run_once(apps, core, api, args.replicas, args.pods)
            lags = r["lags"]
            p95 = lags[max(0, int(len(lags) * 0.95) - 1)] if lags else float("nan")
            print(
                f"run {i + 1}: {args.replicas} {args.pods} pods available in {r['available']:.2f} s; "
                f"rollout restart complete in {r['rolled']:.2f} s, old pods gone after {r['drained']:.2f} s; "
                f"deletionTimestamp → endpoint terminating ({len(lags)} pods): "
                f"median {statistics.median(lags) if lags else float('nan'):.1f} ms, p95 {p95:.1f} ms, "
                f"max {max(lags) if lags else float('nan'):.1f} ms; "
                f"{len(r['unpaired'])} deletions never followed by an endpoint terminating"
            )
            for name, story in r["unpaired"].items():
                print(f"  {name}:\n{story}")


if __name__ == "__main__":
    main()
