"""The sandbox node (`nonstop sandbox node`) as the one node of the real control plane.

It joins with the credentials a real kubelet has (`system:node:sandbox`, group `system:nodes`:
the Node authorizer and NodeRestriction apply), registers its Node and Lease, runs what the real
scheduler binds to it, serves `kubectl logs` through the API server's kubelet-client certificate.
Its pods live on 198.18.x in a network namespace of its own (`--pod-network netns`, root), so the
real EndpointSlice controller publishes them and the data plane (as `system:kube-proxy`) serves
their Services' loopback ClusterIPs.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("nonstop.sandbox.real", reason="the real control plane's launcher is not in this checkout")

from nonstop.bundled import config_file

pytestmark = [pytest.mark.realcp, pytest.mark.slow]

NODE = "sandbox"
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback only, whatever $http_proxy says


def _until(what: str, probe: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} within {timeout:.0f} s")
        time.sleep(0.25)


def _json(kubectl: Any, *args: str) -> dict[str, Any]:
    return dict(json.loads(kubectl(*args, "-o", "json").stdout))


@pytest.fixture(scope="module")
def node(
    realcp: Any, kubectl: Any, pod_network_possible: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """The node process, started once; yields its facts (log path, seconds until the Node was Ready)."""
    creds = realcp.node_credentials(NODE)
    log_path = Path(tmp_path_factory.mktemp("node")) / "node.log"
    argv = [sys.executable, "-m", "nonstop", "--log-format", "json", "sandbox", "node",
            "--kubeconfig", str(creds.kubeconfig), "--node-name", NODE, "--kubelet-port", "0",
            "--client-ca-file", str(creds.ca_cert), "--pod-network", "netns",
            # a node may not list EndpointSlices; kube-proxy's identity may
            "--data-plane-kubeconfig", str(realcp.kube_proxy_kubeconfig())]  # fmt: skip
    started = time.monotonic()
    with log_path.open("ab") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    try:

        def ready() -> bool:
            done = kubectl("get", "node", NODE, "-o", "json", check=False)
            if done.returncode != 0:
                return False
            conditions = json.loads(done.stdout)["status"].get("conditions") or []
            return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

        _until("Ready node", ready)
        yield {"log": log_path, "ready_after": time.monotonic() - started, "process": process}
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=30)
        assert code == 0, log_path.read_text()[-3000:]


def test_the_node_registers_with_its_lease_and_version(node, kubectl) -> None:
    obj = _json(kubectl, "get", "node", NODE)
    version = json.loads(kubectl("version", "-o", "json").stdout)["serverVersion"]["gitVersion"]
    assert obj["status"]["nodeInfo"]["kubeletVersion"] == version
    assert {"type": "InternalIP", "address": "127.0.0.1"} in obj["status"]["addresses"]
    assert obj["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"] > 0
    assert int(obj["status"]["allocatable"]["pods"]) > 0
    lease = _json(kubectl, "get", "lease", NODE, "-n", "kube-node-lease")
    assert lease["spec"]["holderIdentity"] == NODE
    assert "not-ready" not in json.dumps(obj["spec"].get("taints") or [])
    assert node["ready_after"] < 30


def test_after_yaml_runs_on_the_node_and_logs_and_restart_work(node, kubectl, namespace) -> None:
    started = time.monotonic()
    kubectl("apply", "-n", namespace, "-f", str(config_file("examples/after.yaml")))
    kubectl("rollout", "status", "deployment/web", "-n", namespace, "--timeout=90s")
    first_ready = time.monotonic() - started
    [pod] = _json(kubectl, "get", "pods", "-n", namespace, "-l", "app=web")["items"]
    assert pod["spec"]["nodeName"] == NODE  # bound by the real scheduler
    assert pod["status"]["podIP"].startswith("198.18.")  # the node's pod network, not loopback
    assert pod["status"]["hostIP"] == "127.0.0.1"
    logs = kubectl("logs", "-n", namespace, pod["metadata"]["name"], "--timestamps", "--tail=5")
    assert '"event": "listening"' in logs.stdout
    kubectl("rollout", "restart", "deployment/web", "-n", namespace)
    kubectl("rollout", "status", "deployment/web", "-n", namespace, "--timeout=120s")
    after = _until(
        "old pod gone after the restart",
        lambda: (
            (items := _json(kubectl, "get", "pods", "-n", namespace, "-l", "app=web")["items"])
            and all(p["metadata"]["name"] != pod["metadata"]["name"] for p in items)
            and items
        ),
        timeout=60,
    )
    assert len(after) == 1
    print(f"first pod Ready {first_ready:.1f} s after apply")  # the figure for bench/README.md (-s)


def test_endpointslices_list_the_pods_and_the_cluster_ip_answers(node, kubectl, namespace) -> None:
    kubectl("apply", "-n", namespace, "-f", str(config_file("examples/after.yaml")))
    kubectl("rollout", "status", "deployment/web", "-n", namespace, "--timeout=90s")
    [pod] = _json(kubectl, "get", "pods", "-n", namespace, "-l", "app=web")["items"]
    pod_ip = pod["status"]["podIP"]

    def published() -> list[dict[str, Any]]:
        slices = _json(kubectl, "get", "endpointslices", "-n", namespace, "-l", "kubernetes.io/service-name=web")
        return [
            e
            for s in slices["items"]
            for e in s.get("endpoints") or []
            if pod_ip in e["addresses"] and (e.get("conditions") or {}).get("ready")
        ]

    [endpoint] = _until("EndpointSlice with the ready pod", published, timeout=30)
    assert endpoint["targetRef"]["name"] == pod["metadata"]["name"]
    assert endpoint["nodeName"] == NODE
    service = _json(kubectl, "get", "service", "web", "-n", namespace)
    cluster_ip, port = service["spec"]["clusterIP"], service["spec"]["ports"][0]["port"]
    assert cluster_ip.startswith("127.20.")

    def answer() -> tuple[int, str] | None:  # the data plane applies the endpoint after its lag
        try:
            with NO_PROXY.open(f"http://{cluster_ip}:{port}/", timeout=2) as response:
                return int(response.status), str(response.headers["X-Pod-Name"])
        except OSError:
            return None

    status, pod_name = _until("an answer through the ClusterIP", answer, timeout=30)
    assert (status, pod_name) == (200, pod["metadata"]["name"])


def _pod(name: str, volume: dict[str, Any], init: str, main: str) -> str:
    """A pod whose init container and main container run `sh -c` with `volume` at /var/run/shared."""
    mount = [{"name": "shared", "mountPath": "/var/run/shared"}]
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name},
            "spec": {
                "restartPolicy": "Never",
                "volumes": [{"name": "shared", **volume}],
                "initContainers": [{"name": "init", "image": "busybox", "command": ["sh", "-c", init],
                                    "volumeMounts": mount}],
                "containers": [{"name": "main", "image": "busybox", "command": ["sh", "-c", main],
                                "volumeMounts": mount}],
            },
        }
    )  # fmt: skip


def _phase(kubectl: Any, namespace: str, name: str) -> str | None:
    phase = _json(kubectl, "get", "pod", name, "-n", namespace)["status"].get("phase")
    return str(phase) if phase in ("Succeeded", "Failed") else None


def test_an_emptydir_is_shared_by_the_pods_containers_and_private_to_the_pod(node, kubectl, namespace) -> None:
    """What an Argo Workflows pod needs: its init container writes /var/run/…, its main container reads it."""
    for name in ("one", "two"):
        init = f"test ! -e /var/run/shared/who && echo {name} > /var/run/shared/who && echo seen > /var/run/shared/init"
        main = f'test "$(cat /var/run/shared/who)" = {name} && test -f /var/run/shared/init'
        pod = _pod(name, {"emptyDir": {}}, init, main)
        done = kubectl("apply", "-n", namespace, "-f", "-", check=False, stdin=pod)
        assert done.returncode == 0, done.stderr
    # each pod saw an empty folder (`test ! -e`) and its own file at the same path, both at once
    for name in ("one", "two"):
        assert _until(f"pod {name} finished", lambda n=name: _phase(kubectl, namespace, n), 90) == "Succeeded"
    assert not Path("/var/run/shared/who").exists()  # nothing reached the host's own path


def test_a_volume_type_the_node_cannot_mount_is_refused_with_an_event(node, kubectl, namespace) -> None:
    pod = _pod("hostpath", {"hostPath": {"path": "/etc"}}, "true", "true")
    done = kubectl("apply", "-n", namespace, "-f", "-", check=False, stdin=pod)
    assert done.returncode == 0, done.stderr

    def waiting() -> str | None:
        statuses = _json(kubectl, "get", "pod", "hostpath", "-n", namespace)["status"].get("initContainerStatuses")
        reason = (((statuses or [{}])[0].get("state") or {}).get("waiting") or {}).get("reason")
        return str(reason) if reason else None

    assert _until("the init container waiting", waiting, 60) == "CreateContainerConfigError"
    events = kubectl("get", "events", "-n", namespace, "--field-selector", "involvedObject.name=hostpath").stdout
    assert "hostPath volumes are not supported" in events, events


def test_each_container_is_pid_1_of_its_own_namespace(node, kubectl, namespace) -> None:
    """As under a real runtime: `kill -TERM -1` in a container reaches its own processes, not the host's.

    The guard (the shell's pid is 1) keeps the shell from ever signalling -1 outside a namespace of its own.
    """
    canary = subprocess.Popen(["sleep", "600"])  # on the host; SIGTERM would end it
    try:
        main = (
            # `$$$$` is the shell's `$$` once the kubelet has expanded `$(VAR)` references (`$$` escapes `$`);
            # the glob runs in the shell itself (no child), so /proc lists what is left in the namespace
            'test $$$$ = 1 || exit 3; sleep 300 & kill -TERM -1; wait; set -- /proc/[0-9]*; echo "pid1 procs=$*"'
        )
        done = kubectl(
            "apply", "-n", namespace, "-f", "-", check=False, stdin=_pod("pid1", {"emptyDir": {}}, "true", main)
        )
        assert done.returncode == 0, done.stderr
        assert _until("pod pid1 finished", lambda: _phase(kubectl, namespace, "pid1"), 90) == "Succeeded"
        log = kubectl("logs", "-n", namespace, "pid1", "-c", "main").stdout
        assert log.strip() == "pid1 procs=/proc/1", log  # the sleep was signalled; the shell alone is left
        assert canary.poll() is None
    finally:
        canary.kill()
        canary.wait()
