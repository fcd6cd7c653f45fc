"""The machine's real kubectl against the sandbox: apply, get (real columns), describe, label, annotate,
patch (three types), delete, get --watch and get events. KUBECONFIG is always the sandbox's.
"""

from __future__ import annotations

import os
import subprocess
import textwrap
import time
from pathlib import Path

import pytest
import yaml
from api_helpers import pod
from kubernetes import client

pytestmark = [
    pytest.mark.sandbox,
    pytest.mark.requires("kubectl"),
]

MANIFEST = textwrap.dedent(
    """\
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: web
      labels: {app: web}
    spec:
      replicas: REPLICAS
      selector:
        matchLabels: {app: web}
      template:
        metadata:
          labels: {app: web}
        spec:
          containers:
          - name: web
            image: nonstop/sample-app:v1
            ports:
            - containerPort: 8080
            readinessProbe:
              httpGet: {path: /ready, port: 8080}
    ---
    apiVersion: v1
    kind: Service
    metadata:
      name: web
    spec:
      selector: {app: web}
      ports:
      - port: 80
        targetPort: 8080
    """
)


def kubectl(sandbox, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")}
    env["KUBECONFIG"] = sandbox.kubeconfig
    env["HOME"] = str(Path(sandbox.kubeconfig).parent)  # kubectl's cache goes beside the sandbox, not in ~
    done = subprocess.run(["kubectl", *args], check=False, capture_output=True, text=True, env=env, timeout=60)
    if check:
        assert done.returncode == 0, done.stderr
    return done


def header(output: str) -> list[str]:
    return output.splitlines()[0].split()


def test_kubectl_picks_the_version_the_sandbox_serves(sandbox) -> None:
    out = kubectl(sandbox, "version").stdout
    assert "Server Version: v1.32.0" in out


# Over 80 lines on purpose: one kubectl session, each command's output checked before the next.
def test_apply_twice_then_get_describe(sandbox, namespace, tmp_path) -> None:
    first, second = tmp_path / "v1.yaml", tmp_path / "v2.yaml"
    first.write_text(MANIFEST.replace("REPLICAS", "2"))
    second.write_text(MANIFEST.replace("REPLICAS", "3"))
    created = kubectl(sandbox, "apply", "--validate=false", "-n", namespace, "-f", str(first)).stdout
    assert created.split("\n")[:2] == ["deployment.apps/web created", "service/web created"]
    changed = kubectl(sandbox, "apply", "--validate=false", "-n", namespace, "-f", str(second)).stdout
    assert changed.split("\n")[:2] == ["deployment.apps/web configured", "service/web unchanged"]

    core = client.CoreV1Api(sandbox.api_client())
    core.create_namespaced_pod(namespace, pod("solo", labels={"run": "solo"}))
    core.patch_namespaced_pod_status("solo", namespace, {"status": {"phase": "Running", "podIP": "127.1.2.3"}})
    discovery = client.DiscoveryV1Api(sandbox.api_client())
    discovery.create_namespaced_endpoint_slice(
        namespace,
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "addressType": "IPv4",
            "metadata": {"name": "manual", "labels": {"kubernetes.io/service-name": "other"}},
            "ports": [{"port": 8080}],
            "endpoints": [{"addresses": ["127.1.2.3"]}],
        },
    )
    out = kubectl(sandbox, "get", "pods,svc,deploy,endpointslices", "-o", "wide", "-n", namespace).stdout
    blocks = {}
    for block in out.split("\n\n"):
        lines = block.strip().splitlines()
        blocks[lines[1].split()[0].split("/")[0]] = block
    assert header(blocks["pod"].strip()) == [
        "NAME",
        "READY",
        "STATUS",
        "RESTARTS",
        "AGE",
        "IP",
        "NODE",
        "NOMINATED",
        "NODE",
        "READINESS",
        "GATES",
    ]
    solo = next(line for line in blocks["pod"].splitlines() if "pod/solo" in line).split()
    assert solo[1:3] == ["0/1", "Running"]
    assert solo[5:7] == ["127.1.2.3", "elsewhere"]
    assert header(blocks["service"].strip()) == [
        "NAME",
        "TYPE",
        "CLUSTER-IP",
        "EXTERNAL-IP",
        "PORT(S)",
        "AGE",
        "SELECTOR",
    ]
    svc = next(line for line in blocks["service"].splitlines() if "service/web" in line).split()
    assert svc[1].startswith("ClusterIP")
    assert svc[2].startswith("127.20.")
    assert svc[4] == "80/TCP"
    assert header(blocks["deployment.apps"].strip()) == [
        "NAME",
        "READY",
        "UP-TO-DATE",
        "AVAILABLE",
        "AGE",
        "CONTAINERS",
        "IMAGES",
        "SELECTOR",
    ]
    dep = next(line for line in blocks["deployment.apps"].splitlines() if "deployment.apps/web" in line).split()
    assert dep[1].endswith("/3")
    assert dep[5:] == ["web", "nonstop/sample-app:v1", "app=web"]
    assert header(blocks["endpointslice.discovery.k8s.io"].strip()) == [
        "NAME",
        "ADDRESSTYPE",
        "PORTS",
        "ENDPOINTS",
        "AGE",
    ]
    assert "127.1.2.3" in blocks["endpointslice.discovery.k8s.io"]

    rs = kubectl(sandbox, "get", "rs", "-o", "wide", "-n", namespace).stdout
    if rs.strip():  # present once the Deployment controller has made one
        assert header(rs) == ["NAME", "DESIRED", "CURRENT", "READY", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"]

    as_yaml = yaml.safe_load(kubectl(sandbox, "get", "deploy", "web", "-o", "yaml", "-n", namespace).stdout)
    assert as_yaml["spec"]["replicas"] == 3
    assert as_yaml["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": "25%", "maxUnavailable": "25%"}
    assert as_yaml["metadata"]["generation"] == 2

    described = kubectl(sandbox, "describe", "deploy", "web", "-n", namespace).stdout
    assert "Replicas:               3 desired" in described
    assert "RollingUpdateStrategy:  25% max unavailable, 25% max surge" in described
    assert "Readiness:     http-get http://:8080/ready delay=0s timeout=1s period=10s #success=1 #failure=3" in (
        described
    )
    pod_described = kubectl(sandbox, "describe", "pod", "solo", "-n", namespace).stdout
    assert "Node:             elsewhere" in pod_described


def test_label_annotate_patch_and_delete(sandbox, namespace, tmp_path) -> None:
    manifest = tmp_path / "m.yaml"
    manifest.write_text(MANIFEST.replace("REPLICAS", "2"))
    kubectl(sandbox, "apply", "--validate=false", "-n", namespace, "-f", str(manifest))
    ns = ["-n", namespace]
    assert kubectl(sandbox, "label", "deploy", "web", "tier=front", *ns).stdout.strip() == "deployment.apps/web labeled"
    assert kubectl(sandbox, "annotate", "deploy", "web", "team=sre", *ns).stdout.strip() == (
        "deployment.apps/web annotated"
    )
    kubectl(
        sandbox,
        "patch",
        "deploy",
        "web",
        *ns,
        "-p",
        '{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"nonstop/sample-app:v2"}]}}}}',
    )
    kubectl(sandbox, "patch", "deploy", "web", *ns, "--type=merge", "-p", '{"spec":{"minReadySeconds":2}}')
    kubectl(
        sandbox,
        "patch",
        "deploy",
        "web",
        *ns,
        "--type=json",
        "-p",
        '[{"op":"replace","path":"/spec/replicas","value":4}]',
    )
    dep = client.AppsV1Api(sandbox.api_client()).read_namespaced_deployment("web", namespace)
    assert dep.metadata.labels == {"app": "web", "tier": "front"}
    assert dep.metadata.annotations["team"] == "sre"
    container = dep.spec.template.spec.containers[0]
    assert (container.image, container.ports[0].container_port) == ("nonstop/sample-app:v2", 8080)
    assert (dep.spec.min_ready_seconds, dep.spec.replicas) == (2, 4)
    assert kubectl(sandbox, "rollout", "restart", "deploy", "web", *ns).stdout.strip() == (
        "deployment.apps/web restarted"
    )
    deleted = kubectl(sandbox, "delete", "deploy", "web", *ns)
    assert deleted.stdout.strip() == 'deployment.apps "web" deleted'
    missing = kubectl(sandbox, "get", "deploy", "web", *ns, check=False)
    assert missing.returncode == 1
    assert 'deployments.apps "web" not found' in missing.stderr


def test_get_watch_streams_a_change(sandbox, namespace) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")}
    env["KUBECONFIG"] = sandbox.kubeconfig
    env["HOME"] = str(Path(sandbox.kubeconfig).parent)
    mark = sandbox.mark()
    with subprocess.Popen(
        ["kubectl", "get", "configmaps", "--watch", "-n", namespace],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    ) as watcher:
        try:
            deadline = time.monotonic() + 30
            while not any(e["verb"] == "watch" and e["namespace"] == namespace for e in sandbox.requests(since=mark)):
                if time.monotonic() > deadline or watcher.poll() is not None:
                    pytest.fail("kubectl never started its watch")
                time.sleep(0.05)
            client.CoreV1Api(sandbox.api_client()).create_namespaced_config_map(
                namespace, {"metadata": {"name": "streamed"}, "data": {"a": "b"}}
            )
            assert watcher.stdout is not None
            line = ""
            deadline = time.monotonic() + 20
            while "streamed" not in line and time.monotonic() < deadline:
                line = watcher.stdout.readline()
        finally:
            watcher.terminate()
            watcher.wait(timeout=10)
    assert line.split()[:2] == ["streamed", "1"]


def test_get_events_shows_reason_and_message(sandbox, namespace) -> None:
    client.CoreV1Api(sandbox.api_client()).create_namespaced_event(
        namespace,
        {
            "metadata": {"name": "e1"},
            "reason": "Unhealthy",
            "type": "Warning",
            "message": "Readiness probe failed: HTTP probe failed with statuscode: 503",
            "involvedObject": {"kind": "Pod", "name": "web-1", "namespace": namespace},
            "source": {"component": "kubelet"},
            "count": 1,
        },
    )
    out = kubectl(sandbox, "get", "events", "-n", namespace).stdout
    assert header(out) == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    row = out.splitlines()[1]
    assert "Warning   Unhealthy   pod/web-1   Readiness probe failed: HTTP probe failed with statuscode: 503" in row


def test_apply_switching_to_recreate_drops_rolling_update(sandbox, namespace, tmp_path) -> None:
    """kubectl's three-way patch carries `$retainKeys` for the strategy; the server must honour it."""
    rolling, recreate = tmp_path / "rolling.yaml", tmp_path / "recreate.yaml"
    rolling.write_text(MANIFEST.replace("REPLICAS", "1"))
    recreate.write_text(MANIFEST.replace("REPLICAS", "1\n  strategy:\n    type: Recreate"))
    kubectl(sandbox, "apply", "--validate=false", "-n", namespace, "-f", str(rolling))
    kubectl(sandbox, "apply", "--validate=false", "-n", namespace, "-f", str(recreate))
    strategy = client.AppsV1Api(sandbox.api_client()).read_namespaced_deployment("web", namespace).spec.strategy
    assert (strategy.type, strategy.rolling_update) == ("Recreate", None)
