"""The seed's race, end to end: real pods, real traffic through the ClusterIP, in both data-plane modes.

Each test runs a Deployment of the sample app behind a Service, sends traffic through the
ClusterIP with two clients (one opening a new connection per request, one keeping its connection
alive), makes pods terminate, and counts what failed (K8S-SEMANTICS.md §3, §4 "The race"):

- graceful app, no preStop, lag 1 s → requests fail: the pod closes its listener at SIGTERM while
  the data plane still routes to it;
- the same with a 3 s preStop sleep → none fail: routing is updated before the pod stops;
- no readinessProbe and a listener 3 s after start → the pod gets requests it cannot answer;
- one replica, `maxSurge: 0, maxUnavailable: 1`, 10 s preStop → kube-proxy loses nothing
  (its serving-and-terminating fallback) while ingress (no fallback) answers 503.
"""

from __future__ import annotations

import http.client
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Self

import pytest
from dataplane_helpers import sandbox_cluster_ip
from kubernetes import client, config

from nonstop.sandbox.launcher import SandboxProcess

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]

LAG = 1.0
MAX_REQUESTS = 50_000  # per client: the loops are bounded by count as well as by time


@dataclass
class Cluster:
    """One sandbox as the tests reach it: API clients and a namespace of our own."""

    mode: str
    core: client.CoreV1Api
    apps: client.AppsV1Api
    namespace: str


def _cluster(kubeconfig: str, mode: str) -> Iterator[Cluster]:
    api = config.new_client_from_config(config_file=kubeconfig)
    core = client.CoreV1Api(api)
    ns = f"race-{mode}-{uuid.uuid4().hex[:6]}"
    core.create_namespace({"metadata": {"name": ns}})
    try:
        yield Cluster(mode, core, client.AppsV1Api(api), ns)
    finally:
        core.delete_namespace(ns)
        api.close()


@pytest.fixture(scope="module")
def ingress_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    process = SandboxProcess(workdir=tmp_path_factory.mktemp("race-ingress"), proxy_lag=LAG, data_plane="ingress")
    process.start()
    yield process
    process.stop()


@pytest.fixture(params=["kube-proxy", "ingress"])
def cluster(request: pytest.FixtureRequest, sandbox: Any) -> Iterator[Cluster]:
    """The session sandbox is kube-proxy with the default 1 s lag; ingress gets its own sandbox."""
    if request.param == "kube-proxy":
        yield from _cluster(sandbox.kubeconfig, "kube-proxy")
    else:
        ingress: SandboxProcess = request.getfixturevalue("ingress_sandbox")
        yield from _cluster(str(ingress.kubeconfig), "ingress")


# -- objects ---------------------------------------------------------------------------------


def deploy(
    c: Cluster,
    *,
    replicas: int = 2,
    env: dict[str, str] | None = None,
    pre_stop_seconds: int = 0,
    readiness: bool = True,
    strategy: dict[str, Any] | None = None,
) -> str:
    """A Deployment `web` of the sample app and its Service; returns the ClusterIP."""
    container: dict[str, Any] = {
        "name": "web",
        "image": "nonstop/sample-app:v1",
        "ports": [{"name": "http", "containerPort": 8080}],
        "env": [{"name": k, "value": v} for k, v in (env or {}).items()],
    }
    if readiness:
        container["readinessProbe"] = {"httpGet": {"path": "/ready", "port": "http"}, "periodSeconds": 1}
    if pre_stop_seconds:
        container["lifecycle"] = {"preStop": {"sleep": {"seconds": pre_stop_seconds}}}
    spec: dict[str, Any] = {
        "replicas": replicas,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"terminationGracePeriodSeconds": 30, "containers": [container]},
        },
    }
    if strategy:
        spec["strategy"] = strategy
    c.apps.create_namespaced_deployment(c.namespace, {"metadata": {"name": "web"}, "spec": spec})
    svc = c.core.create_namespaced_service(
        c.namespace,
        {
            "metadata": {"name": "web"},
            "spec": {
                "clusterIP": sandbox_cluster_ip(),
                "selector": {"app": "web"},
                "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
            },
        },
    )
    return str(svc.spec.cluster_ip)


def pods(c: Cluster) -> list[Any]:
    return list(c.core.list_namespaced_pod(c.namespace, label_selector="app=web").items)


def wait_serving(c: Cluster, vip: str, replicas: int, timeout: float = 60.0) -> None:
    """Every replica Ready and each answering through the ClusterIP (the data plane caught up)."""
    deadline = time.monotonic() + timeout
    seen: set[str] = set()
    while time.monotonic() < deadline:
        ready = [
            p
            for p in pods(c)
            if p.metadata.deletion_timestamp is None
            and any(cond.type == "Ready" and cond.status == "True" for cond in p.status.conditions or [])
        ]
        outcome = one_request(vip)
        if outcome.startswith("ok:"):
            seen.add(outcome[3:])
        names = {p.metadata.name for p in ready}
        if len(names) == replicas and names <= seen:
            return
        time.sleep(0.02)
    pytest.fail(f"{replicas} replicas never all answered through {vip} (seen {sorted(seen)})")


def one_request(vip: str) -> str:
    """One GET on a fresh connection: `ok:<pod>` or the failure class."""
    conn = http.client.HTTPConnection(vip, 80, timeout=5)
    try:
        conn.request("GET", "/", headers={"Connection": "close"})
        resp = conn.getresponse()
        resp.read()
        return f"ok:{resp.getheader('X-Pod-Name')}" if resp.status < 400 else f"http-{resp.status}"
    except ConnectionRefusedError:
        return "refused"
    except (ConnectionResetError, http.client.RemoteDisconnected, BrokenPipeError):
        return "reset"
    except TimeoutError:
        return "timeout"
    except OSError as exc:
        return f"other:{type(exc).__name__}"
    finally:
        conn.close()


# -- load ------------------------------------------------------------------------------------


@dataclass
class Load:
    """Two clients through the ClusterIP: a new connection per request, and one keep-alive connection."""

    vip: str
    outcomes: Counter[str] = field(default_factory=Counter)
    failures: list[tuple[float, str, str]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _record(self, client_kind: str, outcome: str) -> None:
        with self._lock:
            self.outcomes[outcome.split(":", 1)[0]] += 1
            if not outcome.startswith("ok"):
                self.failures.append((time.monotonic(), client_kind, outcome))

    def _new_connections(self) -> None:
        for _ in range(MAX_REQUESTS):
            if self._stop.is_set():
                return
            self._record("new-connection", one_request(self.vip))
            time.sleep(0.005)

    def _keep_alive(self) -> None:
        conn = http.client.HTTPConnection(self.vip, 80, timeout=5)
        for _ in range(MAX_REQUESTS):
            if self._stop.is_set():
                break
            try:
                conn.request("GET", "/")
                resp = conn.getresponse()
                resp.read()
                outcome = f"ok:{resp.getheader('X-Pod-Name')}" if resp.status < 400 else f"http-{resp.status}"
                if resp.getheader("Connection", "").lower() == "close":
                    conn.close()  # http.client reconnects on the next request
            except ConnectionRefusedError:
                outcome = "refused"
                conn.close()
            except (ConnectionResetError, http.client.RemoteDisconnected, BrokenPipeError):
                outcome = "reset"
                conn.close()
            except (TimeoutError, OSError, http.client.HTTPException) as exc:
                outcome = f"other:{type(exc).__name__}"
                conn.close()
            self._record("keep-alive", outcome)
            time.sleep(0.005)
        conn.close()

    def __enter__(self) -> Self:
        for target in (self._new_connections, self._keep_alive):
            thread = threading.Thread(target=target, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)

    @property
    def total(self) -> int:
        return sum(self.outcomes.values())

    @property
    def failed(self) -> int:
        return len(self.failures)


def wait_gone(c: Cluster, names: set[str], timeout: float = 60.0) -> None:
    """Until none of `names` is left (the kubelet deletes a pod once its container exited)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not names & {p.metadata.name for p in pods(c)}:
            return
        time.sleep(0.05)
    pytest.fail(f"pods {sorted(names)} did not go away within {timeout} s")


def delete_one_pod_under_load(c: Cluster, vip: str) -> Load:
    victim = pods(c)[0].metadata.name
    with Load(vip) as load:
        _run_for(0.5)
        c.core.delete_namespaced_pod(victim, c.namespace)
        wait_gone(c, {victim})
        _run_for(LAG + 1.0)  # whatever was still routed to it has been tried
    return load


def _run_for(seconds: float) -> None:
    """Let the load run: the clients are the thing being observed, not synchronised with."""
    time.sleep(seconds)


def restart_under_load(c: Cluster, vip: str) -> Load:
    old = {p.metadata.name for p in pods(c)}
    with Load(vip) as load:
        _run_for(0.5)
        now = datetime.now(UTC).isoformat()
        patch = {"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": now}}}}}
        c.apps.patch_namespaced_deployment("web", c.namespace, patch)
        wait_gone(c, old)
        _run_for(LAG + 1.0)
    return load


# -- the seed's cases ------------------------------------------------------------------------


def test_graceful_app_without_prestop_loses_requests(cluster: Cluster) -> None:
    """SIGTERM closes the listener at once; for ~lag the data plane still sends new connections there."""
    vip = deploy(cluster, env={"GRACEFUL_SHUTDOWN": "true"})
    wait_serving(cluster, vip, 2)
    load = delete_one_pod_under_load(cluster, vip)
    expected = {"kube-proxy": "reset", "ingress": "http-502"}[cluster.mode]
    assert load.outcomes[expected] > 0, load.outcomes
    assert load.outcomes["ok"] > 0


def test_a_prestop_sleep_longer_than_the_lag_loses_nothing(cluster: Cluster) -> None:
    vip = deploy(cluster, env={"GRACEFUL_SHUTDOWN": "true"}, pre_stop_seconds=3)
    wait_serving(cluster, vip, 2)
    load = delete_one_pod_under_load(cluster, vip)
    assert load.failures == [], load.outcomes
    assert load.total > 100


def test_a_pod_without_readiness_probe_gets_requests_before_it_listens(cluster: Cluster) -> None:
    """EndpointSlices follow Ready, and without a probe a running container is Ready (not listening)."""
    vip = deploy(cluster, replicas=1, readiness=False, env={"STARTUP_DELAY_SECONDS": "3"})
    deadline = time.monotonic() + 60
    outcomes: Counter[str] = Counter()
    for _ in range(MAX_REQUESTS):
        outcome = one_request(vip)
        outcomes[outcome.split(":", 1)[0]] += 1
        if outcome.startswith("ok") or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    assert outcomes["ok"] == 1, outcomes
    # The data plane routed to the pod before it listened: the pod refused, the client saw it.
    expected = {"kube-proxy": "reset", "ingress": "http-502"}[cluster.mode]
    assert outcomes[expected] > 0, outcomes


def test_single_replica_surge_zero_kube_proxy_falls_back_ingress_does_not(cluster: Cluster) -> None:
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}
    vip = deploy(cluster, replicas=1, env={"GRACEFUL_SHUTDOWN": "true"}, pre_stop_seconds=10, strategy=strategy)
    wait_serving(cluster, vip, 1)
    load = restart_under_load(cluster, vip)
    if cluster.mode == "kube-proxy":
        assert load.failures == [], load.outcomes
        assert load.total > 100
    else:
        assert load.outcomes["http-503"] > 0, load.outcomes
