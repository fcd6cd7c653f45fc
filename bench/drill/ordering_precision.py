"""How precisely a drill measures the ordering of a pod's stop, against the sandbox's own record.

    .venv/bin/python bench/drill/ordering_precision.py [--runs 3] [--replicas 4] [--prestop 1,2,3]

Starts the sandbox in this process (API server, controllers, data plane; the kubelet is this
bench's own `Kubelet` instance, so the containers' output files stay reachable), then for each run
creates a namespace with the sample app — graceful shutdown, `SHUTDOWN_DELAY_SECONDS=0` (the listener
closes at SIGTERM, right after the preStop sleep), a readinessProbe, `maxSurge: 1, maxUnavailable: 0`
and a preStop sleep taken in turn from `--prestop` — and runs `nonstop drill` (a `restart`
rollout under load, `cooldownSeconds: 0`) as a subprocess with `--kubeconfig`, exactly as a user
would against a cluster. The truth, per old pod:

- **stopped accepting**: the sample app's own `listener-closed` line (stamped right after
  `listener.close()`), read from the container's output file (`Kubelet.log_path`);
- **left the endpoints**: the moment the EndpointSlice write that marked the pod not ready (or
  removed it) reached the store — a thread of this process blocked in `Store.wait_for_changes`, so
  no HTTP and no watch machinery lies between the write and the stamp (only a thread wake-up);
- **exited**: the kubelet's `sandbox.nonstop.dev/exited-at` annotation (from the pod's DELETED change).

Errors are the drill's figure minus the truth (positive: the drill saw it late). Each run also gives
the time to verdict: the report's decision entry minus the last old pod's `exitedAt`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog
import yaml

from nonstop.sandbox.cluster import Cluster, load_manifests
from nonstop.sandbox.kinds import by_resource
from nonstop.sandbox.kubelet import ANNOTATION_PREFIX, Kubelet
from nonstop.sandbox.store import Obj, Store

PODS = by_resource("", "v1", "pods")
SLICES = by_resource("discovery.k8s.io", "v1", "endpointslices")
REPO = Path(__file__).resolve().parents[2]


def parse_ts(value: str | None) -> float | None:
    """RFC 3339 (`Z` or an offset) as epoch seconds."""
    if not value:
        return None
    return datetime.fromisoformat(value).timestamp()


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


@dataclass
class PodTruth:
    """What the sandbox itself recorded of one pod."""

    log_path: Path | None = None
    annotations: dict[str, str] = field(default_factory=dict)
    unready_at: float | None = None
    """When the store took the EndpointSlice write that stopped listing the pod as ready."""

    def app_event(self, event: str) -> float | None:
        """The `at` of the sample app's first stderr JSON line with this event."""
        if self.log_path is None or not self.log_path.exists():
            return None
        for line in self.log_path.read_text(errors="replace").splitlines():
            if not line.startswith("{"):
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("event") == event:
                return parse_ts(entry.get("at"))
        return None


class Recorder:
    """Follows the store's pod and EndpointSlice changes in this process and keeps the truth per pod."""

    def __init__(self, store: Store, kubelet: Kubelet) -> None:
        self._store = store
        self._kubelet = kubelet
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.pods: dict[tuple[str, str], PodTruth] = {}
        self._slices: dict[tuple[str, str], list[Obj]] = {}  # (namespace, slice name) -> endpoints
        self._ready: dict[tuple[str, str], bool] = {}  # (namespace, pod) -> listed ready
        self._thread = threading.Thread(target=self._run, name="bench-recorder", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def truth(self, namespace: str, pod: str) -> PodTruth:
        with self._lock:
            return self.pods.setdefault((namespace, pod), PodTruth())

    def _run(self) -> None:
        assert PODS is not None
        assert SLICES is not None
        rv = self._store.resource_version
        while not self._stop.is_set():
            changes = self._store.wait_for_changes(rv, 0.5, [PODS, SLICES])
            now = time.time()
            for change in changes:
                rv = change.rv
                if change.kind is SLICES:
                    self._on_slice(change.type, change.obj, now)
                else:
                    self._on_pod(change.type, change.obj)

    def _on_pod(self, change_type: str, pod: Obj) -> None:
        meta = pod.get("metadata") or {}
        namespace, name = meta.get("namespace", ""), meta.get("name", "")
        truth = self.truth(namespace, name)
        if truth.log_path is None and (pod.get("status") or {}).get("podIP"):
            truth.log_path = self._kubelet.log_path(namespace, name, "web")
        annotations = meta.get("annotations") or {}
        truth.annotations.update({k: v for k, v in annotations.items() if k.startswith(ANNOTATION_PREFIX)})

    def _on_slice(self, change_type: str, obj: Obj, now: float) -> None:
        meta = obj.get("metadata") or {}
        namespace = meta.get("namespace", "")
        key = (namespace, meta.get("name", ""))
        if change_type == "DELETED":
            self._slices.pop(key, None)
        else:
            self._slices[key] = list(obj.get("endpoints") or [])
        listed: dict[str, bool] = {}
        for (ns, _), endpoints in self._slices.items():
            if ns != namespace:
                continue
            for endpoint in endpoints:
                ref = endpoint.get("targetRef") or {}
                if ref.get("name"):
                    ready = (endpoint.get("conditions") or {}).get("ready") is not False
                    listed[ref["name"]] = listed.get(ref["name"], False) or ready
        for (ns, pod), was_ready in list(self._ready.items()):
            if ns == namespace and was_ready and not listed.get(pod, False):
                truth = self.truth(ns, pod)
                if truth.unready_at is None:
                    truth.unready_at = now
        for pod, ready in listed.items():
            self._ready[(namespace, pod)] = ready


def manifests(namespace: str, *, replicas: int, prestop: float) -> list[Obj]:
    """The bundled `after` example, with this namespace, replica count, preStop sleep and SHUTDOWN_DELAY 0."""
    docs = [d for d in yaml.safe_load_all((REPO / "config/examples/after.yaml").read_text()) if d]
    for doc in docs:
        doc["metadata"]["namespace"] = namespace
        if doc["kind"] == "Deployment":
            doc["spec"]["replicas"] = replicas
            pod = doc["spec"]["template"]["spec"]
            pod["terminationGracePeriodSeconds"] = int(prestop) + 10
            container = pod["containers"][0]
            container["lifecycle"]["preStop"]["sleep"]["seconds"] = int(prestop)
            env = [e for e in container.get("env", []) if e["name"] != "STARTUP_DELAY_SECONDS"]
            container["env"] = [*env, {"name": "SHUTDOWN_DELAY_SECONDS", "value": "0"},
                                {"name": "STARTUP_DELAY_SECONDS", "value": "1"}]  # fmt: skip
    return [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}, *docs]


def drill_spec(namespace: str, *, users: int, min_serve: float, cooldown: float) -> Obj:
    return {
        "apiVersion": "nonstop.dev/v1alpha1",
        "kind": "Drill",
        "metadata": {"name": f"bench-{namespace}"},
        "spec": {
            "target": {"kind": "Deployment", "name": "web", "namespace": namespace, "service": "web", "port": 80},
            "rollout": {"strategy": "restart"},
            "load": {
                "users": users,
                "userRate": 20,
                "settleSeconds": 30,
                "warmupSeconds": 2,
                "cooldownSeconds": cooldown,
            },
            "budget": {"maxFailureRatio": 0.0, "minRequests": 50},
            "ordering": {"minServeAfterUnreadySeconds": min_serve},
            "decision": {"onPass": "promote", "onFail": "none"},
            "timeoutSeconds": 180,
        },
    }


def wait_available(store: Store, namespace: str, replicas: int, timeout: float = 120) -> None:
    kind = by_resource("apps", "v1", "deployments")
    assert kind is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = (store.find(kind, namespace, "web") or {}).get("status") or {}
        if status.get("availableReplicas") == replicas and status.get("updatedReplicas") == replicas:
            return
        store.wait_for_changes(store.resource_version, 0.5, [kind])
    raise SystemExit(f"Deployment {namespace}/web was not available within {timeout:.0f} s")


@dataclass
class Run:
    namespace: str
    prestop: float
    code: int
    report: dict[str, Any]
    pods: list[dict[str, Any]]
    drill_wall: float
    decided_at: float | None
    process_end: float
    report_json_at: float


def one_run(cluster: Cluster, recorder: Recorder, workdir: Path, index: int, args: argparse.Namespace) -> Run:
    namespace = f"bench-{index}"
    prestop = args.prestop[index % len(args.prestop)]
    path = workdir / f"{namespace}.yaml"
    path.write_text(yaml.safe_dump_all(manifests(namespace, replicas=args.replicas, prestop=prestop)))
    cluster.apply(load_manifests([path]))
    wait_available(cluster.store, namespace, args.replicas)
    spec_path = workdir / f"{namespace}-drill.yaml"
    spec_path.write_text(yaml.safe_dump(drill_spec(namespace, users=args.users, min_serve=0.5, cooldown=args.cooldown)))
    report_dir = workdir / f"{namespace}-report"
    argv = [sys.executable, "-m", "nonstop", "--log-format", "json", "drill", "-f", str(spec_path),
            "--kubeconfig", str(cluster.kubeconfig_path), "--report-dir", str(report_dir)]  # fmt: skip
    started = time.time()
    with (workdir / f"{namespace}-drill.log").open("wb") as out:
        code = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, check=False, timeout=400).returncode
    ended = time.time()
    report = json.loads((report_dir / "report.json").read_text())
    decided = [t for t in report["timeline"] if t["source"] == "action" and t["what"].startswith("decision ")]
    rows = []
    for pod in report["pods"]:
        if pod["role"] != "old":
            continue
        truth = recorder.truth(namespace, pod["name"])
        rows.append({"drill": pod, "listener_closed": truth.app_event("listener-closed"),
                     "sigterm": parse_ts(truth.annotations.get(ANNOTATION_PREFIX + "sigterm-at")),
                     "exited": parse_ts(truth.annotations.get(ANNOTATION_PREFIX + "exited-at")),
                     "unready": truth.unready_at})  # fmt: skip
    return Run(namespace, prestop, code, report, rows, ended - started,
               parse_ts(decided[-1]["at"]) if decided else None, ended,
               (report_dir / "report.json").stat().st_mtime)  # fmt: skip


def errors_ms(runs: list[Run]) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {k: [] for k in ("stopped", "unready", "serve_after", "exited", "sigterm_vs_closed")}
    for run in runs:
        for row in run.pods:
            pod = row["drill"]
            stopped, unready = parse_ts(pod["stoppedAcceptingAt"]), parse_ts(pod["endpointUnreadyAt"])
            exited = parse_ts(pod["exitedAt"])
            if stopped is not None and row["listener_closed"] is not None:
                out["stopped"].append((stopped - row["listener_closed"]) * 1000)
            if unready is not None and row["unready"] is not None:
                out["unready"].append((unready - row["unready"]) * 1000)
            if pod["serveAfterUnreadySeconds"] is not None and None not in (row["listener_closed"], row["unready"]):
                true_serve = row["listener_closed"] - row["unready"]
                out["serve_after"].append((pod["serveAfterUnreadySeconds"] - true_serve) * 1000)
            if exited is not None and row["exited"] is not None:
                out["exited"].append((exited - row["exited"]) * 1000)
            if row["sigterm"] is not None and row["listener_closed"] is not None:
                out["sigterm_vs_closed"].append((row["listener_closed"] - row["sigterm"]) * 1000)
    return out


def summary(values: list[float]) -> str:
    if not values:
        return "no data"
    return (f"n={len(values)}  median {statistics.median(values):+.1f}  p95 {percentile(values, 95):+.1f}  "
            f"max {max(values):+.1f}  min {min(values):+.1f} ms")  # fmt: skip


@contextlib.contextmanager
def output_to(path: Path) -> Iterator[None]:
    """Point file descriptors 1 and 2 at `path` meanwhile (for the subprocesses started then)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with path.open("ab") as out:
        os.dup2(out.fileno(), 1)
        os.dup2(out.fileno(), 2)
    try:
        yield
    finally:
        for fd, copy in enumerate(saved, start=1):
            os.dup2(copy, fd)
            os.close(copy)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--replicas", type=int, default=4)
    parser.add_argument("--prestop", type=lambda s: [float(x) for x in s.split(",")], default=[1.0, 2.0, 3.0],
                        help="preStop sleep seconds, one per run in turn (whole seconds)")  # fmt: skip
    parser.add_argument("--proxy-lag", type=float, default=0.3)
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--cooldown", type=float, default=0.0)
    parser.add_argument("--json", type=Path, help="write every per-pod figure here")
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))  # warnings and up
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="nonstop-bench-ordering-") as tmp:
        workdir = Path(tmp)
        cluster = Cluster(proxy_lag=args.proxy_lag, components=("controllers", "dataplane"),
                          kubeconfig_path=workdir / "kubeconfig")  # fmt: skip
        with output_to(workdir / "dataplane.log"):  # the data-plane subprocess logs every route change
            cluster.start()
        kubelet = Kubelet(cluster.store, cluster.recorder, log=structlog.get_logger(component="bench-kubelet"))
        kubelet.start()
        recorder = Recorder(cluster.store, kubelet)
        recorder.start()
        try:
            for index in range(args.runs):
                run = one_run(cluster, recorder, workdir, index, args)
                runs.append(run)
                old = [r["drill"] for r in run.pods]
                last_exit = max((parse_ts(p["exitedAt"]) or 0.0) for p in old) if old else None
                ttv = None if run.decided_at is None or last_exit is None else run.decided_at - last_exit
                print(f"run {index}: preStop {run.prestop:g} s, exit {run.code}, verdict {run.report['verdict']}, "
                      f"{len(old)} old pods, time to verdict {ttv if ttv is None else round(ttv, 3)} s, "
                      f"decision → report.json {run.report_json_at - (run.decided_at or run.report_json_at):.3f} s "
                      f"→ process end {run.process_end - run.report_json_at:.3f} s",
                      flush=True)  # fmt: skip
        finally:
            recorder.stop()
            cluster.stop()
            kubelet.stop()
    errs = errors_ms(runs)
    print(f"\nload average: {os.getloadavg()[0]:.1f}")
    print(f"stoppedAcceptingAt − app listener-closed:       {summary(errs['stopped'])}")
    print(f"endpointUnreadyAt − EndpointSlice write:        {summary(errs['unready'])}")
    print(f"serveAfterUnreadySeconds − truth:               {summary(errs['serve_after'])}")
    print(f"exitedAt − kubelet exited-at:                   {summary(errs['exited'])}")
    print(f"(app listener-closed − kubelet sigterm-at:      {summary(errs['sigterm_vs_closed'])})")
    ttvs = []
    for run in runs:
        exits = [parse_ts(r["drill"]["exitedAt"]) for r in run.pods]
        if run.decided_at is not None and exits and None not in exits:
            ttvs.append(run.decided_at - max(e for e in exits if e is not None))
    if ttvs:
        print(f"time to verdict (cooldown {args.cooldown:g} s): median {statistics.median(ttvs):.3f} s, "
              f"max {max(ttvs):.3f} s over {len(ttvs)} runs")  # fmt: skip
    if args.json:
        per_run = [
            {"namespace": r.namespace, "prestop": r.prestop, "code": r.code, "pods": r.pods, "decided_at": r.decided_at,
             "report_json_at": r.report_json_at, "process_end": r.process_end}
            for r in runs
        ]  # fmt: skip
        args.json.write_text(json.dumps({"errors_ms": errs, "runs": per_run}, indent=1, default=str))


if __name__ == "__main__":
    main()
