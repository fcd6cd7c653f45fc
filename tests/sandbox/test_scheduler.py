"""`sandbox up --nodes 3`: Node objects, kubectl's node commands, and the scheduler's placements with real pods."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubelet_helpers import wait_for
from kubernetes import client, config

from nonstop.sandbox.launcher import SandboxProcess

pytestmark = pytest.mark.sandbox

NODES = ("sandbox-1", "sandbox-2", "sandbox-3")


@pytest.fixture(scope="module")
def three(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    process = SandboxProcess(workdir=tmp_path_factory.mktemp("three"), nodes=3, extra_args=["--bookmark-interval", "1"])
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def core(three: SandboxProcess) -> client.CoreV1Api:
    return client.CoreV1Api(config.new_client_from_config(config_file=str(three.kubeconfig)))


@pytest.fixture
def ns(core: client.CoreV1Api) -> Iterator[str]:
    name = f"sched-{uuid.uuid4().hex[:6]}"
    core.create_namespace({"metadata": {"name": name}})
    try:
        yield name
    finally:
        for node in NODES:  # every test leaves the nodes schedulable
            core.patch_node(node, {"spec": {"unschedulable": None}})
        core.delete_namespace(name)


def kubectl(three: SandboxProcess, *args: str) -> str:
    env = {**os.environ, "KUBECONFIG": str(three.kubeconfig)}
    done = subprocess.run(["kubectl", *args], check=False, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def raw(core: client.CoreV1Api, ns: str, name: str) -> dict[str, Any]:
    return dict(json.loads(core.read_namespaced_pod(name, ns, _preload_content=False).data))


def pod(name: str, app: str = "web", **spec: Any) -> dict[str, Any]:
    container = {"name": "app", "image": "busybox", "command": ["sleep", "600"]}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": app}},
        "spec": {"containers": [container], "terminationGracePeriodSeconds": 0, **spec},
    }


def bound(core: client.CoreV1Api, ns: str, name: str) -> str:
    return str(wait_for(lambda: raw(core, ns, name)["spec"].get("nodeName"), timeout=15, message=f"{name} bound"))


def failed_scheduling(core: client.CoreV1Api, ns: str, name: str) -> list[str]:
    events = json.loads(
        core.list_namespaced_event(
            ns, field_selector=f"involvedObject.name={name},reason=FailedScheduling", _preload_content=False
        ).data
    )["items"]
    assert all(e["type"] == "Warning" and e["source"]["component"] == "default-scheduler" for e in events)
    return [e["message"] for e in events]


def pending_with(core: client.CoreV1Api, ns: str, name: str) -> str:
    """The pod stays unbound with PodScheduled False/Unschedulable and a FailedScheduling event; its message."""
    messages = wait_for(lambda: failed_scheduling(core, ns, name), timeout=15, message=f"FailedScheduling for {name}")
    pod = raw(core, ns, name)
    assert not pod["spec"].get("nodeName")
    assert pod["status"]["phase"] == "Pending"
    [condition] = [c for c in pod["status"]["conditions"] if c["type"] == "PodScheduled"]
    assert (condition["status"], condition["reason"]) == ("False", "Unschedulable")
    assert condition["message"] == messages[-1]
    return str(messages[-1])


@pytest.mark.requires("kubectl")
def test_nodes_are_objects_kubectl_lists_cordons_and_describes(
    three: SandboxProcess, core: client.CoreV1Api, ns: str
) -> None:
    nodes = {n["metadata"]["name"]: n for n in json.loads(core.list_node(_preload_content=False).data)["items"]}
    assert sorted(nodes) == list(NODES)
    for name, node in nodes.items():
        assert node["metadata"]["labels"]["kubernetes.io/hostname"] == name
        assert {"type": "Hostname", "address": name} in node["status"]["addresses"]
        assert node["status"]["capacity"]["pods"] == "110"
        assert [c["status"] for c in node["status"]["conditions"] if c["type"] == "Ready"] == ["True"]
    listed = kubctl_rows(kubectl(three, "get", "nodes"))
    assert [(row[0], row[1], row[4]) for row in listed] == [(n, "Ready", "v1.32.0") for n in NODES]
    assert kubectl(three, "cordon", "sandbox-2").strip() == "node/sandbox-2 cordoned"
    assert json.loads(core.read_node("sandbox-2", _preload_content=False).data)["spec"]["unschedulable"] is True
    assert kubctl_rows(kubectl(three, "get", "nodes"))[1][1] == "Ready,SchedulingDisabled"
    described = kubectl(three, "describe", "node", "sandbox-2")
    assert "Unschedulable:      true" in described
    assert "HolderIdentity:  sandbox-2" in described
    assert "kubernetes.io/hostname=sandbox-2" in described
    # a pod created now avoids the cordoned node; `describe node` lists what runs on a node
    core.create_namespaced_pod(ns, pod("p"))
    on = bound(core, ns, "p")
    assert on != "sandbox-2"
    assert f"{ns}  " in kubectl(three, "describe", "node", on).split("Non-terminated Pods:")[1]
    assert kubectl(three, "uncordon", "sandbox-2").strip() == "node/sandbox-2 uncordoned"
    assert not json.loads(core.read_node("sandbox-2", _preload_content=False).data)["spec"].get("unschedulable")


def kubctl_rows(text: str) -> list[list[str]]:
    return [line.split() for line in text.splitlines()[1:]]


def test_a_deployment_spreads_over_the_nodes_by_default(three: SandboxProcess, core: client.CoreV1Api, ns: str) -> None:
    """No rule at all: the system default spreading and LeastAllocated put 3 replicas on 3 nodes."""
    apps = client.AppsV1Api(core.api_client)
    template = pod("x")
    apps.create_namespaced_deployment(
        ns,
        {
            "metadata": {"name": "web"},
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}}, "spec": template["spec"]},
            },
        },
    )
    pods = wait_for(
        lambda: (
            (items := core.list_namespaced_pod(ns).items)
            and len(items) == 3
            and all(p.spec.node_name for p in items)
            and items
        ),
        timeout=20,
        message="3 pods bound",
    )
    assert sorted(p.spec.node_name for p in pods) == list(NODES)
    events = json.loads(core.list_namespaced_event(ns, field_selector="reason=Scheduled", _preload_content=False).data)
    messages = sorted(e["message"] for e in events["items"])
    assert messages == sorted(f"Successfully assigned {ns}/{p.metadata.name} to {p.spec.node_name}" for p in pods)


def test_required_anti_affinity_places_one_per_node_then_waits_for_room(core: client.CoreV1Api, ns: str) -> None:
    term = {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "kubernetes.io/hostname"}
    affinity = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}
    for name in ("a", "b", "c"):
        core.create_namespaced_pod(ns, pod(name, affinity=affinity))
    assert sorted(bound(core, ns, name) for name in ("a", "b", "c")) == list(NODES)
    core.create_namespaced_pod(ns, pod("d", affinity=affinity))
    assert pending_with(core, ns, "d") == (
        "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules. "
        "preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.."
    )
    freed = raw(core, ns, "b")["spec"]["nodeName"]
    core.delete_namespaced_pod("b", ns, grace_period_seconds=0)
    assert bound(core, ns, "d") == freed  # retried when a bound pod went


def test_spread_do_not_schedule_keeps_a_pod_pending_while_a_node_is_cordoned(core: client.CoreV1Api, ns: str) -> None:
    """The cordoned node still counts as an empty domain: maxSkew 1 over 3 nodes cannot place a third pod elsewhere."""
    constraint = {
        "maxSkew": 1,
        "topologyKey": "kubernetes.io/hostname",
        "whenUnsatisfiable": "DoNotSchedule",
        "labelSelector": {"matchLabels": {"app": "web"}},
    }
    core.patch_node("sandbox-3", {"spec": {"unschedulable": True}})
    for name in ("a", "b"):
        core.create_namespaced_pod(ns, pod(name, topologySpreadConstraints=[constraint]))
    assert sorted(bound(core, ns, name) for name in ("a", "b")) == ["sandbox-1", "sandbox-2"]
    core.create_namespaced_pod(ns, pod("c", topologySpreadConstraints=[constraint]))
    assert pending_with(core, ns, "c") == (
        "0/3 nodes are available: 1 node(s) were unschedulable, 2 node(s) didn't match pod topology spread "
        "constraints. preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, "
        "2 No preemption victims found for incoming pod.."
    )
    # ScheduleAnyway only prefers: the same pod lands on a schedulable node at once
    soft = {**constraint, "whenUnsatisfiable": "ScheduleAnyway"}
    core.create_namespaced_pod(ns, pod("s", topologySpreadConstraints=[soft]))
    assert bound(core, ns, "s") in ("sandbox-1", "sandbox-2")
    core.patch_node("sandbox-3", {"spec": {"unschedulable": None}})  # uncordon: retried on the Node change
    assert bound(core, ns, "c") == "sandbox-3"


def test_node_selector_and_preferred_anti_affinity(core: client.CoreV1Api, ns: str) -> None:
    core.create_namespaced_pod(ns, pod("pinned", nodeSelector={"kubernetes.io/hostname": "sandbox-2"}))
    assert bound(core, ns, "pinned") == "sandbox-2"
    core.create_namespaced_pod(ns, pod("nowhere", nodeSelector={"disktype": "ssd"}))
    assert pending_with(core, ns, "nowhere") == (
        "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector. "
        "preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.."
    )
    term = {"labelSelector": {"matchLabels": {"app": "soft"}}, "topologyKey": "kubernetes.io/hostname"}
    affinity = {
        "podAntiAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 100, "podAffinityTerm": term}]
        }
    }
    for name in ("s1", "s2", "s3", "s4"):
        core.create_namespaced_pod(ns, pod(name, app="soft", affinity=affinity))
        bound(core, ns, name)
    nodes = [raw(core, ns, name)["spec"]["nodeName"] for name in ("s1", "s2", "s3", "s4")]
    assert sorted(set(nodes[:3])) == list(NODES)  # one per node while there is room
    assert nodes[3] in NODES  # a preference never keeps a pod Pending


def test_one_node_is_still_called_sandbox(sandbox: Any) -> None:
    """The default sandbox (one node) keeps the name pods have always been bound to."""
    api = client.CoreV1Api(sandbox.api_client())
    assert [n.metadata.name for n in api.list_node().items] == ["sandbox"]


def test_bad_node_count_is_one_sentence(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "nonstop", "sandbox", "up", "--nodes", "0", "--kubeconfig-out", str(tmp_path / "kc")],
        check=False, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == ["error: --nodes must be between 1 and 100, not 0"]
