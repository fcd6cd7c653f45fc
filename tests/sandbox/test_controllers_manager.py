"""ControllerManager: one thread per controller, stopped and joined promptly, reacting to store writes."""

from __future__ import annotations

import threading
import time

import structlog

from nonstop.sandbox.controllers import ControllerManager
from nonstop.sandbox.controllers.objects import NAMESPACES, PODS, REPLICASETS
from nonstop.sandbox.events import EventRecorder
from nonstop.sandbox.store import Store


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
