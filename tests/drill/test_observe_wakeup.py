"""Observer.wait_for_change(since=…): a change that came while the caller was busy wakes it at once."""

from __future__ import annotations

import time
from typing import Any

from nonstop.drill.observe import Observer
from nonstop.kube.api import Kube
from nonstop.kube.connection import connect


def _pod(name: str) -> dict[str, Any]:
    # bound to another node: the sandbox's kubelet leaves it alone, so it changes only when we change it
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "wake"}},
        "spec": {"nodeName": "elsewhere", "containers": [{"name": "c", "image": "nonstop/sample-app:v1"}]},
    }


def test_a_change_before_the_wait_is_not_lost_and_no_change_waits(sandbox: Any, namespace: str) -> None:
    """With `since`, a change already counted returns at once; without one the wait lasts its timeout."""
    kube = Kube(connect(kubeconfig=sandbox.kubeconfig))
    observer = Observer(kube, namespace=namespace, pod_selector="app=wake", service="wake",
                        related_names=("wake",), on_terminating=lambda _record: None)  # fmt: skip
    observer.start()
    try:
        quiet = observer.changes
        started = time.monotonic()
        observer.wait_for_change(0.3, since=quiet)
        assert time.monotonic() - started >= 0.25  # nothing changed: the wait is a real wait

        seen = observer.changes
        kube.core.create_namespaced_pod(namespace, _pod("wake-1"))
        deadline = time.monotonic() + 15
        while observer.changes == seen:  # the change arrives while nobody waits
            assert time.monotonic() < deadline, "the pod watch never delivered the new pod"
            time.sleep(0.01)
        started = time.monotonic()
        observer.wait_for_change(30.0, since=seen)
        # "At once": a lock and a counter, no I/O. Before the fix this slept until the next change or 30 s; a
        # wait that merely re-checked every second or two would pass a bound of seconds, not this one.
        assert time.monotonic() - started < 0.5
        assert any(p.name == "wake-1" for p in observer.snapshot())
    finally:
        observer.stop()
        kube.close()
