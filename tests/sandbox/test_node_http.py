"""The kubelet as a node over HTTP: `nonstop sandbox node` against a `sandbox up --no-kubelet`.

Nothing in-process: the embedded API server runs without its kubelet, and the node (a separate
process) reaches it only by its kubeconfig — the same path it takes to a real kube-apiserver.
The kubelet API is checked with certificates made here by `openssl`: one CA the node trusts, one
it does not.
"""

from __future__ import annotations

import json
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubelet_helpers import wait_for
from kubernetes import client, config

from nonstop.sandbox.apierrors import ApiError
from nonstop.sandbox.launcher import SandboxProcess

pytestmark = pytest.mark.sandbox

NODE = "sandbox"


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def _ca(directory: Path, name: str) -> tuple[Path, Path]:
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", f"/CN={name}",
             "-keyout", str(key), "-out", str(cert))  # fmt: skip
    return cert, key


def _client_cert(directory: Path, name: str, ca: tuple[Path, Path]) -> tuple[Path, Path]:
    cert, key, csr = directory / f"{name}.crt", directory / f"{name}.key", directory / f"{name}.csr"
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}/O=system:masters",
             "-keyout", str(key), "-out", str(csr))  # fmt: skip
    _openssl("x509", "-req", "-in", str(csr), "-CA", str(ca[0]), "-CAkey", str(ca[1]), "-CAcreateserial",
             "-days", "1", "-out", str(cert))  # fmt: skip
    return cert, key


class Node:
    """A `nonstop sandbox node` subprocess and what its log says."""

    def __init__(self, kubeconfig: Path, workdir: Path, client_ca: Path) -> None:
        self.log_path = workdir / "node.log"
        argv = [sys.executable, "-m", "nonstop", "--log-format", "json", "sandbox", "node",
                "--kubeconfig", str(kubeconfig), "--node-name", NODE, "--kubelet-port", "0",
                "--data-plane", "none", "--client-ca-file", str(client_ca)]  # fmt: skip
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        started = wait_for(lambda: self.event("node started"), timeout=60, message="the node to start")
        self.kubelet_port = int(started["kubelet_port"])

    def events(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                out.append(json.loads(line))
        return out

    def event(self, name: str) -> dict[str, Any] | None:
        return next((e for e in self.events() if e.get("event") == name), None)

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    directory = tmp_path_factory.mktemp("pki")
    ca = _ca(directory, "cluster-ca")
    rogue = _ca(directory, "rogue-ca")
    return {
        "ca": ca,
        "apiserver": _client_cert(directory, "kube-apiserver-kubelet-client", ca),
        "stranger": _client_cert(directory, "stranger", rogue),
    }


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, pki: dict[str, Any]) -> Iterator[tuple[SandboxProcess, Node]]:
    workdir = tmp_path_factory.mktemp("node")
    api = SandboxProcess(workdir=workdir, extra_args=["--no-kubelet"])
    api.start()
    node = Node(api.kubeconfig, workdir, pki["ca"][0])
    try:
        yield api, node
    finally:
        code = node.stop()
        api.stop()
        assert code == 0, node.log_path.read_text()[-2000:]


@pytest.fixture
def core(cluster: tuple[SandboxProcess, Node]) -> client.CoreV1Api:
    return client.CoreV1Api(config.new_client_from_config(config_file=str(cluster[0].kubeconfig)))


def _pod(name: str, *, node: str | None = NODE, command: list[str] | None = None) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": "app",
        "image": "nonstop/sample-app:v1",
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 1},
    }
    if command:
        container = {"name": "app", "image": "busybox", "command": command}
    spec: dict[str, Any] = {"containers": [container], "terminationGracePeriodSeconds": 5}
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


def _raw(core: client.CoreV1Api, name: str) -> dict[str, Any] | None:
    try:
        return dict(json.loads(core.read_namespaced_pod(name, "default", _preload_content=False).data))
    except client.ApiException as exc:
        if exc.status == 404:
            return None
        raise


def _ready(pod: dict[str, Any] | None) -> bool:
    return any(
        c["type"] == "Ready" and c["status"] == "True" for c in (pod or {}).get("status", {}).get("conditions", [])
    )


def test_pods_of_the_node_run_with_status_written_over_http(cluster, core) -> None:
    since = time.monotonic()
    core.create_namespaced_pod("default", _pod("web-1"))
    core.create_namespaced_pod("default", _pod("elsewhere", node="another-node"))
    pod = wait_for(lambda: (p := _raw(core, "web-1")) and _ready(p) and p, timeout=30, message="web-1 Ready")
    ready_after = time.monotonic() - since
    status = pod["status"]
    assert status["phase"] == "Running"
    assert status["hostIP"] == "127.0.0.1"
    assert status["podIP"].startswith("127.10.")
    assert status["podIPs"] == [{"ip": status["podIP"]}]
    [cs] = status["containerStatuses"]
    assert cs["ready"] is True
    assert "running" in cs["state"]
    assert cs["restartCount"] == 0
    with urllib.request.urlopen(f"http://{status['podIP']}:8080/", timeout=5) as response:
        assert b"web-1" in response.read()
    events = core.list_namespaced_event("default", field_selector="involvedObject.name=web-1", _preload_content=False)
    by_reason = {e["reason"]: e for e in json.loads(events.data)["items"]}
    assert {"Created", "Started"} <= by_reason.keys()
    assert by_reason["Started"]["source"] == {"component": "kubelet", "host": NODE}
    # a pod bound to another node is not ours: never started, never given a status
    assert not (_raw(core, "elsewhere") or {}).get("status", {}).get("containerStatuses")
    assert ready_after < 20, f"first pod Ready after {ready_after:.1f} s"


def test_deletion_completes_through_the_node(cluster, core) -> None:
    core.create_namespaced_pod("default", _pod("doomed"))
    wait_for(lambda: _ready(_raw(core, "doomed")), timeout=30, message="doomed Ready")
    core.delete_namespaced_pod("doomed", "default")
    gone = wait_for(lambda: _raw(core, "doomed") is None, timeout=20, message="doomed removed by the node")
    assert gone
    # the node removed it (grace 0 after the containers exited), and said so
    wait_for(
        lambda: any(
            e.get("event") == "kubelet.pod_removed" and e.get("pod") == "default/doomed" for e in cluster[1].events()
        ),
        timeout=5,
        message="the node's log to say it removed the pod",
    )


def test_a_completed_pod_reports_its_exit_code(cluster, core) -> None:
    once = _pod("once", command=[sys.executable, "-c", "print('done'); raise SystemExit(3)"])
    once["spec"]["restartPolicy"] = "Never"
    core.create_namespaced_pod("default", once)
    pod = wait_for(
        lambda: (p := _raw(core, "once")) and p["status"].get("phase") == "Failed" and p,
        timeout=30,
        message="once Failed",
    )
    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["exitCode"] == 3
    assert terminated["reason"] == "Error"


def test_status_writes_survive_a_stale_copy_and_refuse_a_replaced_pod(cluster, core) -> None:
    from nonstop.kube.connection import connect
    from nonstop.sandbox.kubelet.remote import HttpNodeApi

    core.create_namespaced_pod("default", _pod("stale", node="nobody"))  # no kubelet writes to it
    stale = _raw(core, "stale")
    assert stale is not None
    core.patch_namespaced_pod("stale", "default", {"metadata": {"annotations": {"someone": "else"}}})
    api = HttpNodeApi(connect(kubeconfig=str(cluster[0].kubeconfig)), node_name="nobody")

    def change(pod: dict[str, Any]) -> None:
        pod.setdefault("status", {})["message"] = "written by the node"

    written = api.write_pod_status(stale, change)  # 409 on the stale rv → re-read, re-applied
    assert written["status"]["message"] == "written by the node"
    assert written["metadata"]["annotations"]["someone"] == "else"
    core.delete_namespaced_pod("stale", "default", grace_period_seconds=0)
    wait_for(lambda: _raw(core, "stale") is None, timeout=10)
    core.create_namespaced_pod("default", _pod("stale", node="nobody"))
    with pytest.raises(ApiError) as caught:
        api.write_pod_status(written, change)  # same name, another uid: ours is gone
    assert caught.value.code == 404


def test_the_node_registers_its_node_object_and_lease(cluster, core) -> None:
    """The embedded API serves nodes: without its own kubelet, the node process registers `sandbox` itself."""
    node = cluster[1]
    assert node.event("kubelet.started") is not None
    assert node.event("node.not_registered") is None
    wait_for(lambda: node.event("node.registered"), timeout=10, message="the node to register")
    registered = json.loads(core.read_node(NODE, _preload_content=False).data)
    assert registered["metadata"]["labels"]["kubernetes.io/hostname"] == NODE
    ready = next(c for c in registered["status"]["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "True"
    assert registered["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"] == node.kubelet_port
    coordination = client.CoordinationV1Api(core.api_client)
    lease = wait_for(lambda: _lease(coordination), timeout=15, message="the node's Lease in kube-node-lease")
    assert lease["spec"]["holderIdentity"] == NODE


def _lease(coordination: client.CoordinationV1Api) -> dict[str, Any] | None:
    try:
        return dict(
            json.loads(coordination.read_namespaced_lease(NODE, "kube-node-lease", _preload_content=False).data)
        )
    except client.ApiException as exc:
        if exc.status == 404:
            return None
        raise


def _https(port: int, path: str, cert: tuple[Path, Path] | None) -> tuple[int, bytes]:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the serving cert is self-signed; the API server does not check it either
    if cert is not None:
        context.load_cert_chain(str(cert[0]), str(cert[1]))
    try:
        with urllib.request.urlopen(f"https://127.0.0.1:{port}{path}", context=context, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_container_logs_are_served_to_the_cluster_ca_only(cluster, core, pki) -> None:
    node = cluster[1]
    core.create_namespaced_pod("default", _pod("talker"))
    wait_for(lambda: _ready(_raw(core, "talker")), timeout=30, message="talker Ready")
    status, body = _https(node.kubelet_port, "/containerLogs/default/talker/app", pki["apiserver"])
    assert status == 200
    assert b'"event": "listening"' in body
    assert not body.startswith(b"20")  # no timestamps unless asked
    status, body = _https(
        node.kubelet_port, "/containerLogs/default/talker/app?timestamps=true&tailLines=1", pki["apiserver"]
    )
    assert status == 200
    [line] = body.splitlines()
    stamp = line.split(b" ", 1)[0].decode()
    assert stamp.endswith("Z")
    assert len(stamp) == len("2025-01-01T00:00:00.000000000Z")
    status, _ = _https(node.kubelet_port, "/containerLogs/default/nobody/app", pki["apiserver"])
    assert status == 404
    for stranger in (pki["stranger"], None):  # signed by another CA, or no certificate at all
        with pytest.raises((ssl.SSLError, urllib.error.URLError, ConnectionResetError)):
            _https(node.kubelet_port, "/containerLogs/default/talker/app", stranger)


def test_follow_streams_new_lines_until_the_container_stops(cluster, core, pki) -> None:
    node = cluster[1]
    script = "import time\nfor i in range(40):\n    print('tick', i, flush=True)\n    time.sleep(0.1)\n"
    pod = _pod("ticker", command=[sys.executable, "-c", script])
    pod["spec"]["restartPolicy"] = "Never"
    core.create_namespaced_pod("default", pod)
    wait_for(lambda: (_raw(core, "ticker") or {}).get("status", {}).get("phase") == "Running", timeout=30)
    started = time.monotonic()
    status, body = _https(node.kubelet_port, "/containerLogs/default/ticker/app?follow=true", pki["apiserver"])
    assert status == 200
    lines = body.decode().splitlines()
    assert lines[-1] == "tick 39", lines[-3:]  # the stream ended when the container did, with its last line
    assert time.monotonic() - started < 20


def test_init_containers_and_a_sidecar_run_with_their_status_written_over_http(cluster, core, pki) -> None:
    node = cluster[1]
    pod = _pod("initialized")
    pod["spec"]["initContainers"] = [
        {"name": "prepare", "image": "busybox", "command": [sys.executable, "-c", "print('prepared')"]},
        {"name": "agent", "image": "busybox", "command": [sys.executable, "-c", "import time; time.sleep(600)"],
         "restartPolicy": "Always"},
    ]  # fmt: skip
    core.create_namespaced_pod("default", pod)
    ready = wait_for(
        lambda: (p := _raw(core, "initialized")) and _ready(p) and p, timeout=30, message="initialized Ready"
    )
    prepare, agent = ready["status"]["initContainerStatuses"]
    assert prepare["name"] == "prepare"
    assert prepare["state"]["terminated"]["exitCode"] == 0
    assert prepare["state"]["terminated"]["reason"] == "Completed"
    assert prepare["ready"] is True
    assert agent["name"] == "agent"
    assert "running" in agent["state"]
    assert agent["started"] is True
    assert agent["ready"] is True
    initialized = [c for c in ready["status"]["conditions"] if c["type"] == "Initialized"]
    assert initialized[0]["status"] == "True"
    typed = core.read_namespaced_pod("initialized", "default")
    assert [s.name for s in typed.status.init_container_statuses] == ["prepare", "agent"]
    events = core.list_namespaced_event(
        "default", field_selector="involvedObject.name=initialized", _preload_content=False
    )
    started = {
        e["involvedObject"].get("fieldPath") for e in json.loads(events.data)["items"] if e["reason"] == "Started"
    }
    assert started == {"spec.initContainers{prepare}", "spec.initContainers{agent}", "spec.containers{app}"}
    status, body = _https(node.kubelet_port, "/containerLogs/default/initialized/prepare", pki["apiserver"])
    assert (status, body.strip()) == (200, b"prepared")
    core.delete_namespaced_pod("initialized", "default")
    wait_for(lambda: _raw(core, "initialized") is None, timeout=20, message="initialized removed by the node")
