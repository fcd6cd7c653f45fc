"""A terminating pod is published `terminating` even when its deletion and its removal reach the
EndpointSlice controller in one batch of changes (the controllers benchmark's unpaired deletions).
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from nonstop.sandbox.controllers.endpointslice import EndpointSliceController
from nonstop.sandbox.controllers.objects import ENDPOINTSLICES, NAMESPACES, PODS, SERVICES
from nonstop.sandbox.events import EventRecorder
from nonstop.sandbox.store import Obj, Store

NS = "ns"


class BusyController(EndpointSliceController):
    """The real controller, except that syncing the Service `busy` blocks until the test lets it go:
    the controller is busy elsewhere while a pod of `web` goes from deletion to removal.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.busy = threading.Event()
        self.release = threading.Event()

    def sync(self, key: tuple[str, str]) -> float | None:
        if key == (NS, "busy") and not self.release.is_set():
            self.busy.set()
            self.release.wait(30)
        return super().sync(key)


def _service(name: str) -> Obj:
    return {
        "metadata": {"name": name, "namespace": NS},
        "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080}]},
    }


def _web_endpoint(store: Store) -> Obj | None:
    for slice_ in store.list(ENDPOINTSLICES, NS)[0]:
        if slice_["metadata"]["labels"].get("kubernetes.io/service-name") != "web":
            continue
        for endpoint in slice_.get("endpoints") or []:
            if endpoint["targetRef"]["name"] == "p1":
                return endpoint
    return None


def _until(predicate: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError(f"condition not met within {timeout} s")


def _deleting(pod: Obj) -> None:
    pod["metadata"].update(deletionTimestamp="2026-12-02T00:00:30Z", deletionGracePeriodSeconds=30)


def _failed(pod: Obj) -> None:
    pod["status"].update(phase="Failed", conditions=[{"type": "Ready", "status": "False"}])


@pytest.fixture
def running() -> Iterator[tuple[Store, BusyController]]:
    """A store with Services `web` and `busy`, a Ready pod of `web`, and the controller running."""
    store = Store()
    store.create(NAMESPACES, {"metadata": {"name": NS}})
    store.create(SERVICES, _service("web"))
    store.create(SERVICES, _service("busy"))
    ready = [{"type": "Ready", "status": "True"}]
    store.create(
        PODS,
        {
            "metadata": {"name": "p1", "namespace": NS, "labels": {"app": "web"}},
            "spec": {"nodeName": "sandbox", "containers": [{"name": "app", "image": "x"}]},
            "status": {"phase": "Running", "podIP": "10.244.0.7", "conditions": ready},
        },
    )
    controller = BusyController(store, EventRecorder(store), log=structlog.get_logger())
    stopping = threading.Event()
    thread = threading.Thread(target=controller.run, args=(stopping,), daemon=True)
    controller.release.set()  # the first pass over every Service runs freely
    thread.start()
    try:
        _until(lambda: (e := _web_endpoint(store)) and e["conditions"]["ready"])
        yield store, controller
    finally:
        controller.release.set()
        stopping.set()
        thread.join(5)


def _busy(store: Store, controller: BusyController) -> None:
    """Make the controller sync `busy`, and hold it there until `controller.release` is set."""
    controller.release.clear()
    controller.busy.clear()
    store.mutate(SERVICES, NS, "busy", lambda s: s["metadata"].setdefault("labels", {}).update(touched="1"))
    assert controller.busy.wait(10), "the controller never started syncing `busy`"


def _p1_in_slice_writes(store: Store, since: int) -> list[Obj]:
    return [
        ep["conditions"]
        for change in store.changes_after(since, [ENDPOINTSLICES])
        if change.type != "DELETED"
        for ep in change.obj.get("endpoints") or []
        if ep["targetRef"]["name"] == "p1"
    ]


def test_deletion_and_removal_in_one_batch_still_publish_terminating(
    running: tuple[Store, BusyController],
) -> None:
    store, controller = running
    _busy(store, controller)
    since = store.resource_version
    # while it is busy: the pod is deleted, its app exits at SIGTERM, the kubelet writes the
    # terminal phase and removes the pod, as the embedded kubelet does within ~100 ms
    store.mutate(PODS, NS, "p1", _deleting)
    store.mutate(PODS, NS, "p1", _failed)
    store.remove(PODS, NS, "p1")
    controller.release.set()
    _until(lambda: _web_endpoint(store) is None)
    seen = _p1_in_slice_writes(store, since)
    assert {"ready": False, "serving": True, "terminating": True} in seen, seen


def test_a_pod_already_published_terminating_costs_no_extra_sync(running: tuple[Store, BusyController]) -> None:
    """The early sync is only for a pod never published terminating: no slice write between."""
    store, controller = running
    store.mutate(PODS, NS, "p1", _deleting)
    _until(lambda: (e := _web_endpoint(store)) and e["conditions"]["terminating"])
    _busy(store, controller)
    since = store.resource_version
    # a rollout's batch: a new pod of `web` (so `web` waits for a sync), then p1's end
    p2 = copy.deepcopy(store.get(PODS, NS, "p1"))
    p2["metadata"] = {"name": "p2", "namespace": NS, "labels": {"app": "web"}}
    p2["status"] = {"phase": "Running", "podIP": "10.244.0.8", "conditions": [{"type": "Ready", "status": "True"}]}
    store.create(PODS, p2)
    store.mutate(PODS, NS, "p1", _failed)
    store.remove(PODS, NS, "p1")
    controller.release.set()
    _until(lambda: _web_endpoint(store) is None)
    assert _p1_in_slice_writes(store, since) == []  # straight from terminating to gone, one write
