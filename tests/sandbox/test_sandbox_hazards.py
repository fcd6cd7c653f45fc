"""The hazard-zoo features end to end, through `nonstop sandbox up` flags and the real API.

One sandbox runs `--data-plane ipvs --add-lag 2.5 --remove-lag 0.3` (a load balancer that
registers slowly and deregisters fast, with IPVS resets); another runs the ingress with
`--no-retry-stale-connections`. A Service without a selector and an EndpointSlice written by the
test (a documented Kubernetes pattern) isolate the data plane from the kubelet; the readiness-gate
test uses real pods.
"""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dataplane_helpers import http_backend, one_answer_per_connection, request_new_connection, sandbox_cluster_ip
from kubernetes import client, config, watch

from nonstop.sandbox.launcher import SandboxProcess

pytestmark = pytest.mark.sandbox

ADD_LAG = 2.5
REMOVE_LAG = 0.3
SLACK = 1.5  # seconds a loaded 2-core machine may add to a lag (watch delivery, event loop, our polling)
READY = {"ready": True, "serving": True, "terminating": False}
GONE = {"ready": False, "serving": False, "terminating": True}


class Cluster:
    def __init__(self, process: SandboxProcess) -> None:
        self.api = config.new_client_from_config(config_file=str(process.kubeconfig))
        self.core = client.CoreV1Api(self.api)
        self.discovery = client.DiscoveryV1Api(self.api)

    def namespace(self) -> str:
        ns = f"hz-{uuid.uuid4().hex[:8]}"
        self.core.create_namespace({"metadata": {"name": ns}})
        return ns

    def service(self, ns: str) -> str:
        body = {
            "metadata": {"name": "web"},
            "spec": {"clusterIP": sandbox_cluster_ip(), "ports": [{"name": "http", "port": 80, "targetPort": 8080}]},
        }
        return str(self.core.create_namespaced_service(ns, body).spec.cluster_ip)

    def slice(self, ns: str, *endpoints: tuple[tuple[str, int], str, dict[str, bool]], create: bool = False) -> None:
        ports = {addr[1] for addr, _, _ in endpoints}
        assert len(ports) == 1, "one backend port per slice"
        body = {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {"name": "web-1", "labels": {"kubernetes.io/service-name": "web"}},
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": ports.pop(), "protocol": "TCP"}],
            "endpoints": [
                {"addresses": [addr[0]], "conditions": cond, "targetRef": {"kind": "Pod", "name": pod}}
                for addr, pod, cond in endpoints
            ],
        }
        if create:
            self.discovery.create_namespaced_endpoint_slice(ns, body)
        else:
            self.discovery.replace_namespaced_endpoint_slice("web-1", ns, body)


@pytest.fixture(scope="module")
def lagged_ipvs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    process = SandboxProcess(
        workdir=tmp_path_factory.mktemp("ipvs"), data_plane="ipvs", add_lag=ADD_LAG, remove_lag=REMOVE_LAG
    )
    process.start()
    cluster = Cluster(process)
    warm_up(cluster)
    yield cluster
    cluster.api.close()
    process.stop()


def warm_up(c: Cluster) -> None:
    """The kubeconfig appears before the data plane has started watching: wait until it forwards."""
    ns = c.namespace()
    with http_backend("warm-up") as backend:
        vip = c.service(ns)
        c.slice(ns, (backend, "warm-up", READY), create=True)
        timeline(vip, "200 warm-up", timeout=60)
    c.core.delete_namespace(ns)


def answer(vip: str) -> str:
    """The pod that answered a new connection, or what went wrong."""
    try:
        status, pod = request_new_connection(vip, 80)
    except ConnectionRefusedError:
        return "refused"
    except OSError as exc:
        return type(exc).__name__
    return f"{status} {pod}"


def until(vip: str, expected: str, timeout: float = 20.0) -> float:
    """Poll new connections until one answers `expected`; when that happened (monotonic)."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        last = answer(vip)
        if last == expected:
            return time.monotonic()
        time.sleep(0.02)
    pytest.fail(f"{vip}:80 never answered {expected!r} within {timeout} s (last: {last!r})")


def timeline(vip: str, final: str, timeout: float = 20.0) -> list[tuple[float, str]]:
    """Each change of what new connections get, (monotonic time, answer), until `final` is answered."""
    changes: list[tuple[float, str]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = answer(vip)
        if not changes or changes[-1][1] != got:
            changes.append((time.monotonic(), got))
        if got == final:
            return changes
        time.sleep(0.02)
    pytest.fail(f"{vip}:80 never answered {final!r} within {timeout} s: {changes!r}")


def test_new_endpoints_get_traffic_add_lag_late_removed_ones_lose_it_remove_lag_late_and_ipvs_resets(
    lagged_ipvs: Cluster,
) -> None:
    c = lagged_ipvs
    ns = c.namespace()
    with http_backend("a") as a, http_backend("b", port=a[1]) as b:
        vip = c.service(ns)
        created = time.monotonic()
        c.slice(ns, (a, "a", READY), create=True)
        first = timeline(vip, "200 a")[-1][0]
        assert ADD_LAG <= first - created <= ADD_LAG + SLACK

        # A rolling update's step: b turns ready, a goes. The "load balancer" drops a at once and
        # registers b slowly: in between nothing is usable, and the ClusterIP refuses.
        changed = time.monotonic()
        c.slice(ns, (a, "a", GONE), (b, "b", READY))
        seen = timeline(vip, "200 b")
        answers = [got for _, got in seen]
        assert answers[0] == "200 a", seen
        assert len(answers) > 2, seen
        # refused; reset when a connection was accepted just as the listener closed
        assert set(answers[1:-1]) <= {"refused", "ConnectionResetError"}, seen
        assert seen[1][0] - changed <= REMOVE_LAG + SLACK
        assert ADD_LAG <= seen[-1][0] - changed <= ADD_LAG + SLACK

        # ipvs: a kept-alive connection to b is reset once b leaves (a comes back, slowly).
        with socket.create_connection((vip, 80), timeout=5) as kept:
            kept.sendall(b"GET / HTTP/1.1\r\nHost: web\r\n\r\n")
            assert b"X-Pod-Name: b" in read_response(kept)
            c.slice(ns, (a, "a", READY), (b, "b", GONE))
            timeline(vip, "refused")  # b's removal took effect; a is not registered yet
            kept.sendall(b"GET / HTTP/1.1\r\nHost: web\r\n\r\n")
            with pytest.raises(ConnectionResetError):
                assert kept.recv(65536) == b"", "the connection was closed, not reset"
    c.core.delete_namespace(ns)


def read_response(s: socket.socket) -> bytes:
    """One whole response with a Content-Length from a raw socket (nothing of it left unread)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        assert chunk, f"closed after {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(
        next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
    )
    while len(body) < length:
        body += s.recv(65536)
    return head + b"\r\n\r\n" + body


def _pod(name: str, gates: list[str]) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "containers": [{"name": "app", "image": "nonstop/sample-app:v1"}],
        "terminationGracePeriodSeconds": 1,
    }
    if gates:
        spec["readinessGates"] = [{"conditionType": g} for g in gates]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"pod": name}}, "spec": spec}


def test_a_gated_pod_becomes_ready_add_lag_after_its_containers_and_gets_traffic_at_once(
    lagged_ipvs: Cluster,
) -> None:
    """The gate stands for the load balancer's registration: an ungated pod is Ready at once and
    gets traffic `addLag` later; a gated one is Ready `addLag` later and gets traffic at once.
    """
    c = lagged_ipvs
    ns = c.namespace()
    gates = ["target-health.elbv2.k8s.aws/web", "cloud.google.com/load-balancer-neg-ready"]
    seen: dict[tuple[str, str], float] = {}  # (pod, condition) → when the test first saw it True
    messages: list[str] = []
    done = threading.Event()

    def watch_pods() -> None:
        w = watch.Watch()
        for event in w.stream(c.core.list_namespaced_pod, ns, timeout_seconds=60, _preload_content=False):
            pod = event["raw_object"]
            for cond in (pod.get("status") or {}).get("conditions") or []:
                if cond.get("status") == "True":
                    seen.setdefault((pod["metadata"]["name"], cond["type"]), time.monotonic())
                elif cond["type"] == "Ready" and cond.get("message"):
                    messages.append(cond["message"])
            if done.is_set():
                w.stop()

    watcher = threading.Thread(target=watch_pods, daemon=True)
    watcher.start()
    try:
        time.sleep(0.2)  # let the watch start (it lists first: a pod created earlier is still seen)
        vips = {}
        for name in ("plain", "gated"):
            body = {
                "metadata": {"name": name},
                "spec": {
                    "clusterIP": sandbox_cluster_ip(),
                    "selector": {"pod": name},
                    "ports": [{"port": 80, "targetPort": 8080}],
                },
            }
            vips[name] = str(c.core.create_namespaced_service(ns, body).spec.cluster_ip)
        c.core.create_namespaced_pod(ns, _pod("plain", []))
        c.core.create_namespaced_pod(ns, _pod("gated", gates))
        served: dict[str, float] = {}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(served) < 2:
            for name, vip in vips.items():
                if name not in served and answer(vip) == f"200 {name}":
                    served[name] = time.monotonic()
            time.sleep(0.02)
        done.set()
        assert served.keys() == {"plain", "gated"}, served
        assert {("plain", "Ready"), ("gated", "Ready")} <= seen.keys(), seen
        assert abs(seen["plain", "Ready"] - seen["plain", "ContainersReady"]) < 0.5
        waited = seen["gated", "Ready"] - seen["gated", "ContainersReady"]
        assert ADD_LAG - 0.3 <= waited <= ADD_LAG + SLACK, waited
        assert all(seen["gated", g] <= seen["gated", "Ready"] for g in gates)
        assert ADD_LAG - 0.3 <= served["plain"] - seen["plain", "Ready"] <= ADD_LAG + SLACK
        assert served["gated"] - seen["gated", "Ready"] <= SLACK
        assert f'corresponding condition of pod readiness gate "{gates[0]}" does not exist.' in " ".join(messages)
        pod = json.loads(c.core.read_namespaced_pod("gated", ns, _preload_content=False).data)
        conds = {cond["type"]: cond for cond in pod["status"]["conditions"]}
        assert [conds[g]["status"] for g in gates] == ["True", "True"]
    finally:
        done.set()
        c.core.delete_namespace(ns)


@pytest.fixture(scope="module")
def ingress_no_retry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    process = SandboxProcess(
        workdir=tmp_path_factory.mktemp("ingress-no-retry"),
        data_plane="ingress",
        proxy_lag=0.2,
        retry_stale_connections=False,
    )
    process.start()
    cluster = Cluster(process)
    yield cluster
    cluster.api.close()
    process.stop()


def test_ingress_without_stale_retries_lets_the_client_see_the_502(ingress_no_retry: Cluster) -> None:
    c = ingress_no_retry
    ns = c.namespace()
    with one_answer_per_connection("stale") as backend:
        vip = c.service(ns)
        c.slice(ns, (backend, "stale", READY), create=True)
        timeline(vip, "200 stale")  # one 200: its upstream connection is pooled, and stale
        conn = http.client.HTTPConnection(vip, 80, timeout=5)
        statuses = []
        for _ in range(3):
            conn.request("GET", "/")
            resp = conn.getresponse()
            resp.read()
            statuses.append(resp.status)
        conn.close()
    assert statuses == [502, 200, 502]  # stale (not retried), fresh, stale again
    c.core.delete_namespace(ns)


@pytest.mark.parametrize(
    ("flags", "needle"),
    [
        (["--add-lag", "-1"], "--add-lag must be ≥ 0 seconds"),
        (["--remove-lag", "-0.5"], "--remove-lag must be ≥ 0 seconds"),
        (["--data-plane", "iptables"], "--data-plane must be kube-proxy, ingress or ipvs"),
    ],
)
def test_bad_sandbox_up_flags_are_one_sentence_and_exit_2(tmp_path: Path, flags: list[str], needle: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "nonstop", "sandbox", "up", "--kubeconfig-out", str(tmp_path / "kc"), *flags],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert needle in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "kc").exists()


def test_the_launcher_passes_the_new_flags(tmp_path: Path) -> None:
    argv = SandboxProcess(
        workdir=tmp_path, data_plane="ipvs", add_lag=4.0, remove_lag=0.0, retry_stale_connections=False
    ).argv
    assert argv[argv.index("--add-lag") + 1] == "4.0"
    assert argv[argv.index("--remove-lag") + 1] == "0.0"
    assert argv[argv.index("--data-plane") + 1] == "ipvs"
    assert "--no-retry-stale-connections" in argv
    assert "--add-lag" not in SandboxProcess(workdir=tmp_path).argv
