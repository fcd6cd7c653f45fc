"""The kubelet runs pods as local processes: scheduling, pod IPs, status, env, images, restarts."""

from __future__ import annotations

import ipaddress
import json
import urllib.request
from pathlib import Path

import pytest
from kubelet_helpers import (
    PY,
    condition,
    container,
    container_status,
    core,
    event_messages,
    pod,
    raw_pod,
    wait_for,
    wait_ready,
)

pytestmark = pytest.mark.sandbox

READY = {"httpGet": {"path": "/ready", "port": 8080}, "periodSeconds": 1}


def test_pod_is_scheduled_gets_its_own_ip_and_serves_on_it(sandbox, namespace) -> None:
    api = core(sandbox)
    api.create_namespaced_pod(namespace, pod("web", container(ports=[{"containerPort": 8080}], readinessProbe=READY)))
    p = wait_ready(api, namespace, "web")
    assert p["spec"]["nodeName"] == "sandbox"
    ip = p["status"]["podIP"]
    assert ipaddress.IPv4Address(ip) in ipaddress.IPv4Network("127.10.0.0/16")
    assert p["status"]["podIPs"] == [{"ip": ip}]
    assert p["status"]["hostIP"] == "127.0.0.1"
    assert p["status"]["phase"] == "Running"
    assert p["status"]["startTime"].endswith("Z")
    with urllib.request.urlopen(f"http://{ip}:8080/", timeout=5) as response:
        assert response.headers["X-Pod-Name"] == "web"
        assert b"version v1" in response.read()
    cs = container_status(p)
    assert cs["ready"] is True
    assert cs["started"] is True
    assert cs["restartCount"] == 0
    assert cs["imageID"] == ""
    assert cs["containerID"].startswith("sandbox://")
    assert cs["state"]["running"]["startedAt"].endswith("Z")
    for ctype in ("PodScheduled", "Initialized", "PodReadyToStartContainers", "ContainersReady", "Ready"):
        assert condition(p, ctype)["status"] == "True", ctype
    assert event_messages(api, namespace, "web", "Scheduled") == [
        "Successfully assigned " + namespace + "/web to sandbox"
    ]
    assert event_messages(api, namespace, "web", "Created") == ["Created container: app"]
    assert event_messages(api, namespace, "web", "Started") == ["Started container app"]


def test_the_official_client_deserialises_the_status(sandbox, namespace) -> None:
    """v37's pydantic models accept every field the kubelet writes (running and ready)."""
    api = core(sandbox)
    api.create_namespaced_pod(namespace, pod("typed"))
    wait_ready(api, namespace, "typed")
    typed = api.read_namespaced_pod("typed", namespace)
    assert typed.status.container_statuses[0].state.running is not None
    assert typed.status.pod_ip.startswith("127.10.")


def test_two_pods_get_different_ips_and_the_same_port(sandbox, namespace) -> None:
    api = core(sandbox)
    for name in ("a", "b"):
        api.create_namespaced_pod(namespace, pod(name, container(readinessProbe=READY)))
    ips = {wait_ready(api, namespace, name)["status"]["podIP"] for name in ("a", "b")}
    assert len(ips) == 2
    for ip in ips:
        with urllib.request.urlopen(f"http://{ip}:8080/healthz", timeout=5) as response:
            assert response.status == 200


def test_env_envfrom_downward_api_and_command_expansion(sandbox, namespace, tmp_path: Path) -> None:
    api = core(sandbox)
    api.create_namespaced_config_map(
        namespace, {"metadata": {"name": "cfg"}, "data": {"COLOUR": "blue", "SHARED": "from-configmap"}}
    )
    api.create_namespaced_secret(namespace, {"metadata": {"name": "sec"}, "stringData": {"TOKEN": "s3cret"}})
    out = tmp_path / "env.json"
    dump = "import json, os, sys; json.dump({'argv': sys.argv[1:], 'env': dict(os.environ)}, open(sys.argv[1], 'w'))"
    spec = container(
        image="busybox:1.36",
        command=["python", "-c", dump + "; import time; time.sleep(600)"],
        args=[str(out), "$(GREETING)", "$$(GREETING)", "$(UNKNOWN)"],
        envFrom=[{"configMapRef": {"name": "cfg"}}, {"secretRef": {"name": "sec"}, "prefix": "S_"}],
        env=[
            {"name": "SHARED", "value": "from-env"},
            {"name": "GREETING", "value": "hello $(COLOUR)"},
            {"name": "MY_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "MY_NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
            {"name": "MY_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "ONE_KEY", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "COLOUR"}}},
        ],
    )
    api.create_namespaced_pod(namespace, pod("envy", spec))
    p = wait_ready(api, namespace, "envy")
    dumped = wait_for(lambda: out.exists() and out.stat().st_size and json.loads(out.read_text()))
    env = dumped["env"]
    ip = p["status"]["podIP"]
    assert dumped["argv"][1:] == ["hello blue", "$(GREETING)", "$(UNKNOWN)"]
    assert env["POD_IP"] == ip
    assert env["MY_IP"] == ip
    assert env["POD_NAME"] == env["MY_NAME"] == "envy"
    assert env["MY_NS"] == namespace
    assert env["COLOUR"] == "blue"
    assert env["SHARED"] == "from-env"  # env wins over envFrom
    assert env["S_TOKEN"] == "s3cret"
    assert env["ONE_KEY"] == "blue"
    assert env["GREETING"] == "hello blue"


def test_missing_configmap_is_create_container_config_error(sandbox, namespace) -> None:
    api = core(sandbox)
    api.create_namespaced_pod(namespace, pod("nocfg", container(envFrom=[{"configMapRef": {"name": "absent"}}])))

    def config_error() -> dict | None:
        x = raw_pod(api, namespace, "nocfg")
        waiting = container_status(x).get("state", {}).get("waiting", {})
        return x if waiting.get("reason") == "CreateContainerConfigError" else None

    p = wait_for(config_error, message="CreateContainerConfigError")
    assert container_status(p)["state"]["waiting"]["message"] == 'configmap "absent" not found'
    assert p["status"]["phase"] == "Pending"


def test_other_images_fail_to_pull_like_a_real_kubelet(sandbox, namespace) -> None:
    api = core(sandbox)
    api.create_namespaced_pod(namespace, pod("nginx", container(image="nginx:1.25")))

    def reason() -> str | None:
        return container_status(raw_pod(api, namespace, "nginx")).get("state", {}).get("waiting", {}).get("reason")

    wait_for(lambda: reason() == "ErrImagePull", message="ErrImagePull")
    wait_for(lambda: reason() == "ImagePullBackOff", message="ImagePullBackOff")
    p = raw_pod(api, namespace, "nginx")
    assert p is not None
    assert p["status"]["phase"] == "Pending"
    assert condition(p, "Ready") == {
        **condition(p, "Ready"),
        "status": "False",
        "reason": "ContainersNotReady",
        "message": "containers with unready status: [app]",
    }
    assert event_messages(api, namespace, "nginx", "Pulling") == ['Pulling image "nginx:1.25"']
    failed = event_messages(api, namespace, "nginx", "Failed")
    assert any(m.startswith('Failed to pull image "nginx:1.25": ') for m in failed)
    assert "Error: ErrImagePull" in failed
    assert "Error: ImagePullBackOff" in failed
    assert event_messages(api, namespace, "nginx", "BackOff") == ['Back-off pulling image "nginx:1.25"']


def test_container_exiting_restarts_with_crashloop_backoff(sandbox, namespace) -> None:
    """restartPolicy Always: first restart at once, then CrashLoopBackOff with the last exit in lastState."""
    api = core(sandbox)
    api.create_namespaced_pod(namespace, pod("crash", container(image="busybox", command=[PY, "-c", "exit(3)"])))

    def backing_off() -> dict | None:
        cs = container_status(raw_pod(api, namespace, "crash"))
        waiting = cs.get("state", {}).get("waiting", {})
        return cs if waiting.get("reason") == "CrashLoopBackOff" else None

    cs = wait_for(backing_off, message="CrashLoopBackOff")
    assert cs["restartCount"] == 1
    assert cs["lastState"]["terminated"]["exitCode"] == 3
    assert cs["lastState"]["terminated"]["reason"] == "Error"
    assert "back-off 10s restarting failed container=app pod=crash_" in cs["state"]["waiting"]["message"]
    p = raw_pod(api, namespace, "crash")
    assert p is not None
    assert p["status"]["phase"] == "Running"
    backoff = event_messages(api, namespace, "crash", "BackOff")
    assert backoff
    assert backoff[0].startswith("Back-off restarting failed container app in pod crash_")


@pytest.mark.parametrize(("code", "phase", "reason"), [(0, "Succeeded", "Completed"), (4, "Failed", "Error")])
def test_restart_policy_never_ends_in_a_terminal_phase(sandbox, namespace, code: int, phase: str, reason: str) -> None:
    api = core(sandbox)
    spec = container(image="busybox", command=[PY, "-c", f"exit({code})"])
    api.create_namespaced_pod(namespace, pod("once", spec, restartPolicy="Never"))
    p = wait_for(lambda: (x := raw_pod(api, namespace, "once")) and x["status"].get("phase") == phase and x)
    cs = container_status(p)
    assert cs["state"]["terminated"]["exitCode"] == code
    assert cs["state"]["terminated"]["reason"] == reason
    assert cs["restartCount"] == 0
    assert condition(p, "Ready")["reason"] == ("PodCompleted" if code == 0 else "PodFailed")
    typed = api.read_namespaced_pod("once", namespace)
    assert typed.status.container_statuses[0].state.terminated.exit_code == code


def test_pod_for_another_node_is_left_alone(sandbox, namespace) -> None:
    api = core(sandbox)
    api.create_namespaced_pod(namespace, pod("foreign", nodeName="elsewhere"))
    api.create_namespaced_pod(namespace, pod("local"))
    wait_ready(api, namespace, "local")
    p = raw_pod(api, namespace, "foreign")
    assert p is not None
    assert not p.get("status", {}).get("podIP")
