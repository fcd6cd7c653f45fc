"""Readiness gates: Ready as the kubelet computes it, and the controller that sets the gates late."""

from __future__ import annotations

import time
from typing import Any

import structlog

from nonstop.sandbox.controllers import ControllerManager
from nonstop.sandbox.controllers.objects import NAMESPACES, PODS
from nonstop.sandbox.events import EventRecorder
from nonstop.sandbox.kubelet.status import conditions, ready_needs_update
from nonstop.sandbox.store import Store

GATE = "target-health.elbv2.k8s.aws/web"
READY_CONTAINER = [{"name": "app", "ready": True, "state": {"running": {}}}]


def ready_of(conds: list[dict[str, Any]]) -> dict[str, Any]:
    return next(c for c in conds if c["type"] == "Ready")


def test_ready_waits_for_every_gate_and_says_why_as_the_kubelet_does() -> None:
    gates = [{"conditionType": GATE}, {"conditionType": "other"}]
    missing = conditions([], READY_CONTAINER, phase="Running", sandbox_ready=True, readiness_gates=gates)
    assert ready_of(missing)["status"] == "False"
    assert ready_of(missing)["reason"] == "ReadinessGatesNotReady"
    assert ready_of(missing)["message"] == (
        f'corresponding condition of pod readiness gate "{GATE}" does not exist., '
        'corresponding condition of pod readiness gate "other" does not exist.'
    )
    half = [*missing, {"type": GATE, "status": "True"}, {"type": "other", "status": "False"}]
    not_yet = conditions(half, READY_CONTAINER, phase="Running", sandbox_ready=True, readiness_gates=gates)
    assert ready_of(not_yet)["message"] == 'the status of pod readiness gate "other" is not "True", but False'
    both = [*missing, {"type": GATE, "status": "True"}, {"type": "other", "status": "True"}]
    ready = conditions(both, READY_CONTAINER, phase="Running", sandbox_ready=True, readiness_gates=gates)
    assert ready_of(ready)["status"] == "True"
    assert {c["type"] for c in ready} >= {GATE, "other"}  # the gates' conditions are kept


def test_unready_containers_come_before_the_gates() -> None:
    unready = [{"name": "app", "ready": False, "state": {"running": {}}}]
    conds = conditions([], unready, phase="Running", sandbox_ready=True, readiness_gates=[{"conditionType": GATE}])
    assert ready_of(conds)["reason"] == "ContainersNotReady"


def test_ready_needs_update_only_when_a_gate_change_is_not_reflected() -> None:
    def pod(ready: str, gate: str | None, containers: str = "True") -> dict[str, Any]:
        conds = [{"type": "Ready", "status": ready}, {"type": "ContainersReady", "status": containers}]
        if gate is not None:
            conds.append({"type": GATE, "status": gate})
        return {"spec": {"readinessGates": [{"conditionType": GATE}]}, "status": {"conditions": conds}}

    assert ready_needs_update(pod("False", "True"))
    assert not ready_needs_update(pod("True", "True"))
    assert not ready_needs_update(pod("False", None))
    assert ready_needs_update(pod("True", "False"))
    assert not ready_needs_update(pod("False", "True", containers="False"))
    assert not ready_needs_update({"spec": {}, "status": {"conditions": [{"type": "Ready", "status": "False"}]}})


def test_the_controller_sets_each_gate_true_its_delay_after_containers_ready() -> None:
    store = Store()
    store.create(NAMESPACES, {"metadata": {"name": "ns"}})
    manager = ControllerManager(store, EventRecorder(store), log=structlog.get_logger(), readiness_gate_delay=0.5)
    manager.start()
    try:
        spec = {"containers": [{"name": "app", "image": "x"}], "readinessGates": [{"conditionType": GATE}]}
        store.create(PODS, {"metadata": {"name": "gated", "namespace": "ns"}, "spec": spec})
        store.create(
            PODS, {"metadata": {"name": "plain", "namespace": "ns"}, "spec": {"containers": spec["containers"]}}
        )
        time.sleep(0.7)  # longer than the delay: nothing may be set before the containers are ready
        assert "conditions" not in store.get(PODS, "ns", "gated").get("status", {})

        def containers_ready(pod: dict[str, Any]) -> None:
            pod.setdefault("status", {})["conditions"] = [{"type": "ContainersReady", "status": "True"}]

        ready_at = time.monotonic()
        for name in ("gated", "plain"):
            store.mutate(PODS, "ns", name, containers_ready)
        deadline = ready_at + 5
        while time.monotonic() < deadline:
            conds = {c["type"]: c for c in store.get(PODS, "ns", "gated")["status"]["conditions"]}
            if GATE in conds:
                break
            time.sleep(0.01)
        waited = time.monotonic() - ready_at
        assert conds[GATE]["status"] == "True"
        assert conds[GATE]["reason"] == "TargetRegistered"
        assert 0.5 <= waited < 1.5
        assert [c["type"] for c in store.get(PODS, "ns", "plain")["status"]["conditions"]] == ["ContainersReady"]
    finally:
        manager.stop()
