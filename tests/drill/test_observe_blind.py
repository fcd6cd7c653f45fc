"""The observer stamps each moment of a pod's timeline with how long its watch had been blind."""

from __future__ import annotations

from typing import Any

from nonstop.drill.observe import Observer, blind_note
from nonstop.kube.api import Kube
from nonstop.kube.connection import connect
from nonstop.kube.watching import Observed, WatchStats


def _pod(*, deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "web-1", "labels": {"app": "web"}}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    ready = {"type": "Ready", "status": "True"}
    return {"metadata": meta, "spec": {}, "status": {"podIP": "127.0.0.9", "conditions": [ready]}}


def _slice(ready: bool) -> dict[str, Any]:
    endpoint = {"targetRef": {"kind": "Pod", "name": "web-1"}, "conditions": {"ready": ready}}
    return {"metadata": {"name": "web-abc"}, "endpoints": [endpoint]}


def test_each_moment_carries_the_uncertainty_it_was_seen_with(sandbox: Any) -> None:
    """Folded straight from watch changes (the watches are never started): the timeline is one immutable model."""
    terminating = []
    observer = Observer(Kube(connect(kubeconfig=sandbox.kubeconfig)), namespace="default", pod_selector="app=web",
                        service="web", related_names=("web",), on_terminating=terminating.append)  # fmt: skip
    observer._on_pod(Observed(10.0, "ADDED", _pod()))
    observer._on_slice(Observed(10.5, "ADDED", _slice(ready=True)))
    before = observer.snapshot()[0]
    assert before.endpoint_ready
    assert before.was_serving
    assert before.endpoint_ready_at == 10.5
    observer._on_pod(Observed(12.0, "MODIFIED", _pod(deleting=True), uncertainty=1.5))
    observer._on_slice(Observed(12.2, "MODIFIED", _slice(ready=False), uncertainty=0.7))
    observer.record_stop("web-1", 14.0, "refused")
    observer._on_pod(Observed(15.0, "DELETED", _pod(deleting=True), uncertainty=0.3))
    after = observer.snapshot()[0]
    assert before.deleted_at is None  # a snapshot is the pod as it was
    assert before.endpoint_ready
    assert [p.ip for p in terminating] == ["127.0.0.9"]
    assert not after.endpoint_ready
    assert (after.deleted_at, after.deleted_uncertainty) == (12.0, 1.5)
    assert (after.endpoint_unready_at, after.endpoint_unready_uncertainty) == (12.2, 0.7)
    assert (after.stopped_accepting_at, after.stopped_accepting_uncertainty) == (14.0, 1.5)  # the prober's start
    assert (after.exited_at, after.exited_uncertainty) == (15.0, 0.3)


def test_blind_note_only_when_a_watch_was_blind() -> None:
    assert blind_note([WatchStats(), WatchStats(reconnects=3)]) is None
    note = blind_note([WatchStats(reconnects=2, late_events=4, max_uncertainty=1.5), WatchStats(relists=1)])
    assert note is not None
    assert "4 change(s) were seen up to 1.50 s late" in note
    assert "re-listed 1 time(s)" in note
