"""Blast radius: a `canary` drill with chaos touches only the target's pods, and load goes only to the Service.

Decoys around Deployment web (2 replicas, `app: web`, behind Service web): the same labels in
another namespace; look-alike labels in the same namespace (`app: web-canary`, `app: webx`); and
Deployment web-legacy whose pods carry `app: web` too (plus `release: legacy`), so the Service —
and the target's own selector — match them. The sandbox's request log is the proof: every pod
write (eviction or deletion) names a pod web owned before the drill, in web's namespace.
"""

from __future__ import annotations

import copy
import itertools
import json
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from tests.drill.drill_helpers import apply, drill_spec, manifest, run_drill

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]

POD_WRITES = {"create", "update", "patch", "delete", "deletecollection"}


def decoy(name: str, labels: dict[str, str], replicas: int = 1) -> dict[str, Any]:
    """The `after` example's Deployment under another name, with other pod labels."""
    doc = copy.deepcopy(next(d for d in manifest("after") if d["kind"] == "Deployment"))
    doc["metadata"] = {"name": name, "labels": dict(labels)}
    doc["spec"]["replicas"] = replicas
    doc["spec"]["selector"] = {"matchLabels": dict(labels)}
    doc["spec"]["template"]["metadata"]["labels"] = dict(labels)
    return doc


def pods(sandbox: Any, namespace: str) -> dict[str, dict[str, Any]]:
    """name → pod, as the API has it now."""
    api = client.CoreV1Api(sandbox.api_client())
    items = json.loads(api.list_namespaced_pod(namespace, _preload_content=False).data)["items"]
    return {p["metadata"]["name"]: p for p in items}


def owned_by(pod: dict[str, Any], deployment: str) -> bool:
    """Is the pod's controller the ReplicaSet `<deployment>-<pod-template-hash>`?"""
    meta = pod["metadata"]
    rs = f"{deployment}-{meta['labels'].get('pod-template-hash')}"
    return any(r.get("controller") and r["name"] == rs for r in meta.get("ownerReferences") or [])


@pytest.fixture
def other_namespace(sandbox: Any) -> Iterator[str]:
    name = f"blast-decoys-{uuid.uuid4().hex[:6]}"
    sandbox.create_namespace(name)
    try:
        yield name
    finally:
        sandbox.delete_namespace(name)


def test_canary_chaos_evicts_only_the_targets_pods(
    sandbox: Any, namespace: str, other_namespace: str, tmp_path: Path
) -> None:
    """Decoys with the same, similar or overlapping labels are never evicted or deleted; the load hits the Service."""
    objects = [
        *manifest("after", replicas=2),
        decoy("lookalike", {"app": "web-canary"}),
        decoy("webx", {"app": "webx"}),
        decoy("web-legacy", {"app": "web", "release": "legacy"}),
    ]
    (tmp_path / "target").mkdir()
    (tmp_path / "other").mkdir()
    apply(sandbox, namespace, objects, tmp_path / "target")
    apply(sandbox, other_namespace, manifest("after"), tmp_path / "other")
    before = {ns: pods(sandbox, ns) for ns in (namespace, other_namespace)}
    targets = {name for name, pod in before[namespace].items() if owned_by(pod, "web")}
    decoys = {(ns, name) for ns, found in before.items() for name in found} - {(namespace, n) for n in targets}
    assert len(targets) == 2
    assert len(decoys) == 4
    mark = sandbox.mark()
    spec = drill_spec(namespace, rollout={"strategy": "canary", "image": "nonstop/sample-app:v2"})
    result = run_drill(sandbox, spec, tmp_path)
    assert result.code == 0, result.stderr[-3000:]
    pod_writes = [
        e for e in sandbox.requests(since=mark)
        if e["resource"] == "pods" and e["verb"] in POD_WRITES and e["code"] < 400
    ]  # fmt: skip
    evictions = [e for e in pod_writes if e["subresource"] == "eviction"]
    assert sorted(e["name"] for e in evictions) == sorted(targets)
    for entry in pod_writes:
        assert (entry["namespace"], entry["name"]) not in decoys, entry
        assert entry["namespace"] == namespace, entry
        assert entry["name"] in targets, entry
    for ns, name in decoys:
        pod = pods(sandbox, ns).get(name)
        assert pod is not None, f"decoy {ns}/{name} is gone"
        assert not pod["metadata"].get("deletionTimestamp"), f"decoy {ns}/{name} is being deleted"
    service = client.CoreV1Api(sandbox.api_client()).read_namespaced_service("web", namespace)
    cluster_ip = service.spec.cluster_ip
    starts = [json.loads(line) for line in result.stderr.splitlines() if "starting the load" in line]
    assert [s["url"] for s in starts] == [f"http://{cluster_ip}:80"]


# -- chaos against its rules, in this process: a real Observer and Chaos on the shared sandbox ----------


@pytest.fixture
def three_pods(sandbox: Any, namespace: str, tmp_path: Path) -> Iterator[tuple[Any, Any, list[str]]]:
    """web with 3 replicas, a Kube and a started Observer of it; yields (kube, observer, the 3 pod names)."""
    from nonstop.drill.observe import Observer
    from nonstop.kube.api import Kube
    from nonstop.kube.connection import connect

    apply(sandbox, namespace, manifest("after", replicas=3), tmp_path)
    kube = Kube(connect(kubeconfig=sandbox.kubeconfig))
    observer = Observer(kube, namespace=namespace, pod_selector="app=web", service="web", related_names=("web",),
                        on_terminating=lambda _record: None)  # fmt: skip
    observer.start()
    try:
        poll(lambda: len(observer.ready_endpoints()) == 3, 60, "3 ready endpoints")
        yield kube, observer, sorted(p.name for p in observer.snapshot())
    finally:
        observer.stop()
        kube.close()


def poll(condition: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def log_time(entry: dict[str, Any]) -> float:
    return datetime.fromisoformat(entry["time"]).timestamp()


def settled_others(observer: Any, victim: str, at: float, settle: float) -> list[str]:
    """Pods other than `victim` the observer saw ready for ≥ `settle` s at `at`, not yet deleting."""
    return [
        p.name for p in observer.snapshot()
        if p.name != victim and p.ready_at is not None and p.ready_at <= at - settle
        and (p.deleted_at is None or p.deleted_at > at)
    ]  # fmt: skip


def make_chaos(kube: Any, observer: Any, namespace: str, victims: list[str], **kwargs: Any) -> Any:
    from nonstop.drill.chaos import Chaos

    settings: dict[str, Any] = {"min_ready": 2, "settle_seconds": 1.0, "grace_seconds": None, "stalled_after": 90}
    settings.update(kwargs)
    return Chaos(kube, observer, namespace=namespace, victims=victims, owner="web", interrupted=lambda: False,
                 **settings)  # fmt: skip


def test_chaos_evicts_one_pod_at_a_time_and_never_below_the_settled_ready_count(
    sandbox: Any, namespace: str, three_pods: tuple[Any, Any, list[str]]
) -> None:
    """3 replicas, 2 must stay settled: each eviction waits for the previous pod's exit and 2 settled others."""
    kube, observer, names = three_pods
    settle = 1.0
    mark = sandbox.mark()
    chaos = make_chaos(kube, observer, namespace, names, min_ready=2, settle_seconds=settle)
    chaos.start()
    assert chaos.done.wait(150), "chaos did not finish"
    assert chaos.note is None
    assert chaos.evicted == names
    evictions = [e for e in sandbox.requests(since=mark) if e["subresource"] == "eviction" and e["code"] < 400]
    assert [e["name"] for e in evictions] == names
    records = {p.name: p for p in observer.snapshot()}
    for previous, entry in itertools.pairwise(evictions):
        exited = records[previous["name"]].exited_at
        assert exited is not None
        assert exited <= log_time(entry), f"{entry['name']} evicted before {previous['name']} exited"
    for entry in evictions:
        others = settled_others(observer, entry["name"], log_time(entry), settle)
        assert len(others) >= 2, f"{entry['name']} evicted with only {others} settled and ready"


def test_chaos_honours_a_disruption_budget_and_rechecks_its_gates_after_a_refusal(
    sandbox: Any, namespace: str, three_pods: tuple[Any, Any, list[str]]
) -> None:
    """A PDB refusal (429) is waited out, never bypassed; when it lifts, the settled-ready gate still holds."""
    kube, observer, names = three_pods
    victim, _, bystander = names
    settle = 6.0
    policy = client.PolicyV1Api(sandbox.api_client())
    policy.create_namespaced_pod_disruption_budget(namespace, {
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "web"},
        "spec": {"minAvailable": 3, "selector": {"matchLabels": {"app": "web"}}},
    })  # fmt: skip
    poll(lambda: len(settled_others(observer, victim, time.time(), settle)) >= 2, 30, "2 settled others")
    mark = sandbox.mark()
    chaos = make_chaos(kube, observer, namespace, [victim], min_ready=2, settle_seconds=settle)
    chaos.start()
    refused = lambda: [e for e in sandbox.requests(since=mark) if e["subresource"] == "eviction"]  # noqa: E731
    poll(lambda: any(e["code"] == 429 for e in refused()), 30, "a refused eviction")
    # Someone else deletes a pod: its replacement is not settled yet, so evicting now breaks the gate.
    client.CoreV1Api(sandbox.api_client()).delete_namespaced_pod(bystander, namespace)
    poll(lambda: bystander not in settled_others(observer, victim, time.time(), 0), 30, "the deletion seen")
    policy.delete_namespaced_pod_disruption_budget("web", namespace)
    lifted = time.time()
    assert chaos.done.wait(120), "chaos did not finish"
    assert chaos.evicted == [victim]
    attempts = refused()
    granted = [e for e in attempts if e["code"] < 400]
    assert len(granted) == 1
    assert all(e["code"] == 429 for e in attempts if log_time(e) < lifted), "evicted while the budget forbade it"
    at = log_time(granted[0])
    others = settled_others(observer, victim, at, settle)
    assert len(others) >= 2, f"evicted with only {others} settled and ready"
    deletes = [e for e in sandbox.requests(since=mark) if e["resource"] == "pods" and e["verb"] == "delete"]
    assert [e["name"] for e in deletes] == [bystander]  # the test's own deletion; chaos deletes nothing
