"""A terminating pod is published `terminating` even when its deletion and its removal reach the
EndpointSlice controller in one batch of changes (the controllers benchmark's unpaired deletions)."""

from __future__ import annotations

import threading
import time
from typing import Any

import structlog

from nonstop.sandbox.controllers.endpointslice import EndpointSliceController
from nonstop.sandbox.controllers.objects import ENDPOINTSLICES, NAMESPACES, PODS, SERVICES
from nonstop.sandbox.events import EventRecorder
from nonstop.sandbox.store import Obj, Store

NS = "ns"


class BusyController(EndpointSliceController):
    """The real controller, except that syncing the Service `busy` blocks until the test lets it go:
    the controller is busy elsewhere while a pod of `web` goes from deletion to removal."""

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


def test_deletion_and_removal_in_one_batch_still_publish_terminating() -> None:
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
        controller.release.clear()
        store.mutate(SERVICES, NS, "busy", lambda s: s["metadata"].setdefault("labels", {}).update(touched="1"))
        assert controller.busy.wait(10), "the controller never started syncing `busy`"
        since = store.resource_version

        # while it is busy: the pod is deleted, its app exits at SIGTERM, the kubelet writes the
        # terminal phase and removes the pod, as the embedded kubelet does within ~100 ms
        def deleting(pod: Obj) -> None:
            pod["metadata"].update(deletionTimestamp="2026-12-02T00:00:30Z", deletionGracePeriodSeconds=30)

        def failed(pod: Obj) -> None:
            pod["status"].update(phase="Failed", conditions=[{"type": "Ready", "status": "False"}])

        store.mutate(PODS, NS, "p1", deleting)
        store.mutate(PODS, NS, "p1", failed)
        store.remove(PODS, NS, "p1")
        controller.release.set()

        _until(lambda: _web_endpoint(store) is None)
        seen = [
            ep["conditions"]
            for change in store.changes_after(since, [ENDPOINTSLICES])
            if change.type != "DELETED"
            for ep in change.obj.get("endpoints") or []
            if ep["targetRef"]["name"] == "p1"
        ]
        assert {"ready": False, "serving": True, "terminating": True} in seen, seen
        assert _web_endpoint(store) is None  # and then it went
    finally:
        controller.release.set()
        stopping.set()
        thread.join(5)
