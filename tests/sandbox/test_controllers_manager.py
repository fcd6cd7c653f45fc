"""ControllerManager: one thread per controller, stopped and joined promptly, reacting to store writes."""

from __future__ import annotations

import threading
import time

import structlog
import structlog.testing

from nonstop.sandbox.controllers import ControllerManager
from nonstop.sandbox.controllers.loop import Controller
from nonstop.sandbox.controllers.objects import NAMESPACES, PODS, REPLICASETS
from nonstop.sandbox.events import EVENTS, EventRecorder
from nonstop.sandbox.store import Change, Store


def _controller_threads() -> set[str]:
    return {
        t.name
        for t in threading.enumerate()
        if t.name.startswith("sandbox-") and t.name.endswith(("controller", "collector"))
    }


def test_start_runs_one_thread_per_controller_and_stop_joins_them() -> None:
    """start() is idempotent; stop() returns within a second with every controller thread gone."""
    store = Store()
    manager = ControllerManager(store, EventRecorder(store), log=structlog.get_logger())
    manager.start()
    manager.start()
    assert _controller_threads() >= {
        "sandbox-deployment-controller",
        "sandbox-replicaset-controller",
        "sandbox-endpointslice-controller",
        "sandbox-garbage-collector",
    }
    started = time.monotonic()
    manager.stop()
    assert time.monotonic() - started < 1.5
    assert not _controller_threads()


def test_a_replica_set_written_to_the_store_gets_its_pods_at_once() -> None:
    """The loops wait on the store, not a timer: pods exist within milliseconds of the RS."""
    store = Store()
    store.create(NAMESPACES, {"metadata": {"name": "ns"}})
    manager = ControllerManager(store, EventRecorder(store), log=structlog.get_logger())
    manager.start()
    try:
        template = {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "x"}]}}
        rs = {
            "metadata": {"name": "rs", "namespace": "ns"},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"a": "b"}}, "template": template},
        }
        start = time.monotonic()
        store.create(REPLICASETS, rs)
        deadline = start + 5
        while len(store.list(PODS, "ns")[0]) < 3 and time.monotonic() < deadline:
            time.sleep(0.001)
        elapsed = time.monotonic() - start
        pods = store.list(PODS, "ns")[0]
        assert len(pods) == 3
        assert elapsed < 1.0  # generous for a shared 2-core machine; typically a few milliseconds
        assert all(p["metadata"]["name"].startswith("rs-") and len(p["metadata"]["name"]) == 8 for p in pods)
        assert all(p["spec"]["terminationGracePeriodSeconds"] == 30 for p in pods)  # the API's pod defaults
    finally:
        manager.stop()


class _Broken(Controller[tuple[str, str]]):
    """A controller with a bug: its sync raises something that is not an API error."""

    name = "broken-controller"

    def all_keys(self) -> list[tuple[str, str]]:
        return [("ns", "web")]

    def keys_for(self, change: Change) -> list[tuple[str, str]]:
        return []

    def sync(self, key: tuple[str, str]) -> float | None:
        raise KeyError("spec")


def test_a_controller_bug_is_a_warning_event_and_a_logged_sync_failure() -> None:
    """Not a silent retry: `sync failed` with the traceback, and a SyncFailed event about the key's Namespace."""
    store = Store()
    store.create(NAMESPACES, {"metadata": {"name": "ns"}})
    stopping = threading.Event()
    with structlog.testing.capture_logs() as logs:
        thread = threading.Thread(
            target=_Broken(store, EventRecorder(store), log=structlog.get_logger()).run, args=(stopping,)
        )
        thread.start()
        try:
            deadline = time.monotonic() + 10
            while not store.list(EVENTS, "default")[0] and time.monotonic() < deadline:
                time.sleep(0.02)
        finally:
            stopping.set()
            thread.join(5)
    events = store.list(EVENTS, "default")[0]
    assert [(e["type"], e["reason"], e["source"]["component"]) for e in events] == [
        ("Warning", "SyncFailed", "broken-controller")
    ]
    assert events[0]["message"] == "broken-controller could not sync ns/web: KeyError: 'spec'"
    assert events[0]["involvedObject"]["kind"] == "Namespace"
    assert events[0]["involvedObject"]["name"] == "ns"
    failed = [entry for entry in logs if entry["event"] == "sync failed"]
    assert failed
    assert failed[0]["log_level"] == "error"
    assert failed[0]["key"] == ("ns", "web")
