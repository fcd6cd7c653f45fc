"""kube-scheduler's default filter and score rules as `placement.place` restates them (pure, no cluster)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from nonstop.sandbox.controllers.placement import ClusterView, failure_message, place
from nonstop.toolkit.quantity import quantity

Obj = dict[str, Any]


def node(name: str, *, cordoned: bool = False, **labels: str) -> Obj:
    return {
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **labels}},
        "spec": {"unschedulable": True} if cordoned else {},
        "status": {"allocatable": {"cpu": "2", "memory": "8Gi"}},
    }


def pod(name: str, on: str | None = None, *, labels: dict[str, str] | None = None, **spec: Any) -> Obj:
    body: Obj = {"containers": [{"name": "app"}], **spec}
    if on:
        body["nodeName"] = on
    return {"metadata": {"name": name, "namespace": "ns", "labels": labels or {"app": "web"}}, "spec": body}


def spread(max_skew: int = 1, when: str = "DoNotSchedule", **extra: Any) -> list[Obj]:
    return [
        {
            "maxSkew": max_skew,
            "topologyKey": "kubernetes.io/hostname",
            "whenUnsatisfiable": when,
            "labelSelector": {"matchLabels": {"app": "web"}},
            **extra,
        }
    ]


def anti_affinity(kind: str = "required") -> Obj:
    term = {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "kubernetes.io/hostname"}
    if kind == "required":
        return {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}
    return {
        "podAntiAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 100, "podAffinityTerm": term}]
        }
    }


NODES = [node("n1"), node("n2"), node("n3")]


def test_a_cordoned_node_takes_no_pod_unless_the_pod_tolerates_the_cordon() -> None:
    nodes = [node("n1", cordoned=True)]
    placed = place(pod("p"), ClusterView(nodes, []))
    assert placed.node is None
    assert failure_message(placed, 1) == (
        "0/1 nodes are available: 1 node(s) were unschedulable. "
        "preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.."
    )
    tolerant = pod(
        "t", tolerations=[{"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"}]
    )
    assert place(tolerant, ClusterView(nodes, [])).node == "n1"


def test_no_nodes_at_all() -> None:
    placed = place(pod("p"), ClusterView([], []))
    assert placed.node is None
    assert failure_message(placed, 0) == "no nodes available to schedule pods"


def test_node_selector_and_required_node_affinity() -> None:
    nodes = [node("n1", disk="hdd"), node("n2", disk="ssd"), node("n3")]
    assert place(pod("p", nodeSelector={"disk": "ssd"}), ClusterView(nodes, [])).node == "n2"
    affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "disk", "operator": "NotIn", "values": ["ssd"]},
                              {"key": "disk", "operator": "Exists"}]},
    ]}}}  # fmt: skip
    assert place(pod("p", affinity=affinity), ClusterView(nodes, [])).node == "n1"
    placed = place(pod("p", nodeSelector={"disk": "nvme"}), ClusterView(nodes, []))
    assert failure_message(placed, 3) == (
        "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector. "
        "preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.."
    )


def test_required_anti_affinity_one_per_node_then_pending() -> None:
    existing = [pod("a", "n1", affinity=anti_affinity()), pod("b", "n2", affinity=anti_affinity())]
    assert place(pod("c", affinity=anti_affinity()), ClusterView(NODES, existing)).node == "n3"
    full = [*existing, pod("c", "n3", affinity=anti_affinity())]
    placed = place(pod("d", affinity=anti_affinity()), ClusterView(NODES, full))
    assert placed.node is None
    assert failure_message(placed, 3) == (
        "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules. "
        "preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.."
    )
    # an existing pod's anti-affinity keeps a pod without any rule off its node
    placed = place(pod("e"), ClusterView(NODES[:1], existing[:1]))
    assert placed.reasons == {"n1": "node(s) didn't satisfy existing pods anti-affinity rules"}


def test_terminating_pods_still_count_for_anti_affinity_but_not_for_spread() -> None:
    terminating = pod("old", "n1", affinity=anti_affinity())
    terminating["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert place(pod("new", affinity=anti_affinity()), ClusterView(NODES[:1], [terminating])).node is None
    del terminating["spec"]["affinity"]
    # n1 holds only a terminating pod, n2 a live one: spread counts n1 as empty, so only n1 fits
    view = ClusterView(NODES[:2], [terminating, pod("live", "n2"), pod("live2", "n2")])
    assert place(pod("new", topologySpreadConstraints=spread()), view).node == "n1"


def test_spread_do_not_schedule_counts_a_cordoned_node_as_an_empty_domain() -> None:
    """3 nodes, one pod each, n1 cordoned and its pod gone: with maxSkew 1 nowhere fits (the drain hazard)."""
    nodes = [node("n1", cordoned=True), node("n2"), node("n3")]
    existing = [pod("b", "n2"), pod("c", "n3")]
    placed = place(pod("d", topologySpreadConstraints=spread()), ClusterView(nodes, existing))
    assert placed.node is None
    assert failure_message(placed, 3) == (
        "0/3 nodes are available: 1 node(s) were unschedulable, 2 node(s) didn't match pod topology spread "
        "constraints. preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, "
        "2 No preemption victims found for incoming pod.."
    )
    # nodeTaintsPolicy Honor leaves the cordoned node out of the count: the pod lands on n2 or n3
    honor = pod("d", topologySpreadConstraints=spread(nodeTaintsPolicy="Honor"))
    assert place(honor, ClusterView(nodes, existing)).node in ("n2", "n3")
    # maxSkew 2 tolerates it as well
    assert place(pod("d", topologySpreadConstraints=spread(2)), ClusterView(nodes, existing)).node in ("n2", "n3")


def test_spread_min_domains_and_match_label_keys() -> None:
    existing = [pod("a", "n1"), pod("b", "n2")]
    # two domains but minDomains 3: the global minimum is 0, so a second pod on n1 (skew 2) is refused
    placed = place(pod("c", topologySpreadConstraints=spread(1, minDomains=3)), ClusterView(NODES[:2], existing))
    assert placed.node is None
    # matchLabelKeys narrows the count to pods with the same value: other versions do not count
    old = [pod("a", "n1", labels={"app": "web", "v": "1"}), pod("b", "n1", labels={"app": "web", "v": "1"})]
    new = pod("c", labels={"app": "web", "v": "2"}, topologySpreadConstraints=spread(1, matchLabelKeys=["v"]))
    assert place(new, ClusterView(NODES[:1], old)).node == "n1"
    assert place(pod("c", topologySpreadConstraints=spread(1)), ClusterView(NODES, old)).node in ("n2", "n3")


def test_soft_rules_prefer_the_emptiest_node_but_never_block() -> None:
    rng = random.Random(7)
    for soft in ({"affinity": anti_affinity("preferred")}, {"topologySpreadConstraints": spread(1, "ScheduleAnyway")}):
        existing = [pod("a", "n1"), pod("b", "n2")]
        assert place(pod("c", **soft), ClusterView(NODES, existing), rng=rng).node == "n3"
        full = [*existing, pod("c", "n3"), pod("d", "n3")]
        assert place(pod("e", **soft), ClusterView(NODES, full), rng=rng).node in ("n1", "n2")


def test_system_default_spreading_and_least_allocated_spread_a_replicaset() -> None:
    selector = {"matchLabels": {"app": "web"}, "matchExpressions": []}
    existing = [pod("a", "n1"), pod("b", "n2")]
    for seed in range(5):
        view = ClusterView(NODES, existing, default_selector=selector)
        assert place(pod("c"), view, rng=random.Random(seed)).node == "n3"


@pytest.mark.parametrize(
    ("text", "milli", "value"),
    [("100m", True, 100), ("2", True, 2000), ("1.5", True, 1500), ("128Mi", False, 134217728), ("1G", False, 10**9)],
)
def test_quantities(text: str, milli: bool, value: int) -> None:
    assert quantity(text, milli=milli) == value
