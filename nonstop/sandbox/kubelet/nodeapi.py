"""What the kubelet needs from an API server, and the in-process implementation over the `Store`.

The pod workers never talk to a store or a client directly: they go through a `NodeApi`. Two
implementations run the same workers:

- `StoreNodeApi` (here): the embedded sandbox's path — the kubelet lives in the API server's
  process and reads and writes the shared `Store` under its lock (no HTTP, no conflicts); it is
  every node of the sandbox at once (`sandbox`, or `sandbox-1` … `sandbox-N`: it registers their
  `Node` objects) and runs the pods the sandbox's scheduler bound to any of them;
- `HttpNodeApi` (`nonstop.sandbox.kubelet.remote`): any API server, reached by a kubeconfig, as a
  real kubelet reaches it (pods of its node by field selector, `/status` writes with the
  resourceVersion precondition, deletion with grace 0, core/v1 Events).

Errors are `ApiError`s (their `code` is the HTTP status): 404 means the object is gone.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Literal, Protocol

from nonstop.sandbox.apierrors import ApiError
from nonstop.sandbox.discovery import version
from nonstop.sandbox.events import EventNote, EventRecorder
from nonstop.sandbox.kinds import Kind, by_resource, require
from nonstop.sandbox.kubelet.nodestatus import node_lease, node_object
from nonstop.sandbox.store import Obj, Store, now_rfc3339

__all__ = ["NODE_NAME", "PODS", "NodeApi", "PodChange", "StoreNodeApi", "node_names"]

PODS = by_resource("", "v1", "pods")
NODES = require("", "v1", "nodes")
LEASES = require("coordination.k8s.io", "v1", "leases")
NODE_NAME = "sandbox"


def node_names(count: int) -> tuple[str, ...]:
    """The embedded sandbox's node names: one node is `sandbox` (as always), more are `sandbox-1` … `sandbox-N`."""
    if count < 1:
        raise ValueError(f"a sandbox has at least one node, not {count}")
    return (NODE_NAME,) if count == 1 else tuple(f"{NODE_NAME}-{i}" for i in range(1, count + 1))


PodChange = tuple[Literal["ADDED", "MODIFIED", "DELETED"], Obj]


class NodeApi(Protocol):
    """The API calls of one kubelet."""

    node_name: str
    """The node this kubelet is (the first of `node_names`)."""
    node_names: frozenset[str]
    """Every node whose pods this kubelet runs."""

    def pod_changes(self, stopping: threading.Event) -> Iterator[list[PodChange]]:
        """Batches of pod changes (the first one lists every pod) until `stopping` is set.

        A batch may be empty (nothing changed for a while): the kubelet uses the pause to tidy up.
        After the server lost the history (410), the difference to a fresh list comes as changes,
        DELETED included. Pods bound to other nodes, or to none yet, may be included.
        """
        ...

    def find(self, kind: Kind, namespace: str | None, name: str) -> Obj | None:
        """The object (a ConfigMap or Secret a container references), or None when it does not exist."""
        ...

    def write_pod_status(self, pod: Obj, change: Callable[[Obj], None]) -> Obj:
        """Apply `change` (status and annotations) to the newest `pod` and write it; returns what was written.

        `pod` is the kubelet's latest copy; a stale copy is re-read and `change` applied again.
        """
        ...

    def remove_pod(self, pod: Obj) -> None:
        """Delete the pod for good (grace 0, only this very pod by uid): every container has exited."""
        ...

    def record_event(self, involved: Obj, note: EventNote) -> None:
        """Record an Event about `involved` (failures are the caller's to ignore: ApiError)."""
        ...


class StoreNodeApi:
    """The kubelet inside the embedded sandbox: the shared store, its history as the watch; every node."""

    def __init__(self, store: Store, recorder: EventRecorder, *, nodes: tuple[str, ...] = (NODE_NAME,)) -> None:
        self.store = store
        self.recorder = recorder
        self.node_name = nodes[0]
        self.node_names = frozenset(nodes)
        self._nodes = nodes

    def register_nodes(self) -> None:
        """Create the `Node` (Ready, schedulable) and its `kube-node-lease` Lease of every node this kubelet is.

        A Node that exists is left as it is. The Leases are not renewed: no node lifecycle controller reads them.
        """
        now, kubelet_version = now_rfc3339(), str(version()["gitVersion"])  # the API server's: no skew warning
        for name in self._nodes:
            with contextlib.suppress(ApiError):  # it exists (or was created meanwhile): it stands as it is
                node = self.store.create(
                    NODES, node_object(name, now=now, kubelet_version=kubelet_version), manager="kubelet"
                )
                self.store.create(LEASES, node_lease(node, now=now), manager="kubelet")

    def pod_changes(self, stopping: threading.Event) -> Iterator[list[PodChange]]:
        assert PODS is not None
        known: dict[str, Obj] = {}  # uid -> last pod seen: what a re-list after 410 reports as DELETED

        def noted(change_type: Literal["ADDED", "MODIFIED", "DELETED"], pod: Obj) -> PodChange:
            uid = str(pod["metadata"].get("uid"))
            if change_type == "DELETED":
                known.pop(uid, None)
            else:
                known[uid] = {"metadata": pod["metadata"]}
            return (change_type, pod)

        items, rv = self.store.list(PODS)
        yield [noted("ADDED", pod) for pod in items]
        while not stopping.is_set():
            current = self.store.resource_version
            try:
                changes = self.store.wait_for_changes(rv, 0.5, [PODS])
            except ApiError:  # 410: our place in the history is gone; start over from a list
                items, rv = self.store.list(PODS)
                present = {str(pod["metadata"].get("uid")) for pod in items}
                gone = [noted("DELETED", pod) for uid, pod in list(known.items()) if uid not in present]
                yield gone + [noted("MODIFIED", pod) for pod in items]
                continue
            if not changes:
                rv = max(rv, current)  # no pod changed up to `current`: later waits scan less history
            batch: list[PodChange] = []
            for change in changes:
                rv = change.rv
                batch.append(noted(change.type, change.obj))
            yield batch

    def find(self, kind: Kind, namespace: str | None, name: str) -> Obj | None:
        return self.store.find(kind, namespace, name)

    def write_pod_status(self, pod: Obj, change: Callable[[Obj], None]) -> Obj:
        assert PODS is not None
        meta = pod["metadata"]
        return self.store.mutate(PODS, meta.get("namespace"), meta["name"], change, manager="kubelet")

    def remove_pod(self, pod: Obj) -> None:
        assert PODS is not None
        meta = pod["metadata"]
        self.store.remove(PODS, meta.get("namespace"), meta["name"])

    def record_event(self, involved: Obj, note: EventNote) -> None:
        self.recorder.record(involved, note)
