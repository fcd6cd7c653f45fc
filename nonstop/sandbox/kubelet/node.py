"""`NodeAgent`: the sandbox node's `Node` object and its heartbeats, as a real kubelet keeps them.

- Registration: `POST /api/v1/nodes` (an existing Node of that name is taken over: labels merged),
  then its status: capacity and allocatable (this machine's CPUs and memory, 110 pods), addresses
  (`InternalIP` 127.0.0.1 and `Hostname` localhost — both loopback, whichever the API server dials),
  `daemonEndpoints.kubeletEndpoint.Port` (the kubelet API, `nonstop.sandbox.kubelet.server`),
  `nodeInfo` (kubeletVersion = the API server's gitVersion, so no version-skew warning), and the
  conditions MemoryPressure/DiskPressure/PIDPressure False, Ready True.
- Heartbeats: the Lease `kube-node-lease/<node>` renewed every `lease_every` seconds (duration
  40 s, owned by the Node), and the Node status posted again every `status_every` seconds with a
  new `lastHeartbeatTime`. The node lifecycle controller keeps the node Ready on the Lease alone.
- An API server that serves no `nodes` (or no `leases`) gets no registration (or no Lease): said
  once in the log, never retried. The embedded sandbox serves both (`sandbox up --no-kubelet`
  leaves the registration to this agent). Every other failure (the
  `kube-node-lease` namespace not created yet, a restart of the API server) is retried next period.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

from nonstop.sandbox.apierrors import ApiError
from nonstop.sandbox.kubelet.nodestatus import node_labels, node_status
from nonstop.sandbox.kubelet.remote import HttpNodeApi
from nonstop.sandbox.store import Obj, now_rfc3339
from nonstop.toolkit.times import rfc3339_micro

__all__ = ["LEASE_NAMESPACE", "NodeAgent"]

LEASE_NAMESPACE = "kube-node-lease"
LEASE_DURATION_SECONDS = 40


class NodeAgent:
    """Registers the Node, then renews its Lease and posts its status until `stop()`."""

    def __init__(
        self,
        api: HttpNodeApi,
        *,
        kubelet_port: int,
        log: Any,
        lease_every: float = 10.0,
        status_every: float = 60.0,
    ) -> None:
        self.api = api
        self.node = api.node_name
        self.kubelet_port = kubelet_port
        self.log = log
        self.lease_every = lease_every
        self.status_every = status_every
        self.registered = threading.Event()
        self.node_uid: str | None = None
        self.serves_nodes = True
        self.serves_leases = True
        self.kubelet_version = "v0.0.0"
        self._boot_id = str(uuid.uuid4())
        self._ready_since = now_rfc3339()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="node-heartbeat", daemon=True)
        self._warned: set[str] = set()

    def start(self) -> None:
        """Register at once (errors logged, retried by the heartbeat loop), then beat in the background."""
        self._discover()
        self._beat(status=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    # -- what the server serves ------------------------------------------------------------------

    def _discover(self) -> None:
        try:
            version = self.api.request("GET", "/version", what="get the API server's version")
            self.kubelet_version = str(version.get("gitVersion") or self.kubelet_version)
        except ApiError as exc:
            self.log.warning("node.version_unknown", error=exc.message)
        try:
            core = self.api.request("GET", "/api/v1", what="discover /api/v1")
            self.serves_nodes = any(r.get("name") == "nodes" for r in core.get("resources") or [])
        except ApiError:
            self.serves_nodes = True  # try, and learn from the answer
        try:
            coordination = self.api.request("GET", "/apis/coordination.k8s.io/v1", what="discover leases")
            self.serves_leases = any(r.get("name") == "leases" for r in coordination.get("resources") or [])
        except ApiError as exc:
            self.serves_leases = exc.code != 404
        if not self.serves_nodes:
            self.log.warning("node.not_registered", node=self.node, why="the API server serves no nodes")
        if not self.serves_leases:
            self.log.warning("node.no_lease", node=self.node, why="the API server serves no leases")

    # -- the loop --------------------------------------------------------------------------------

    def _run(self) -> None:
        last_status = time.monotonic()
        while not self._stop.wait(self.lease_every):
            due = time.monotonic() - last_status >= self.status_every or not self.registered.is_set()
            self._beat(status=due)
            if due:
                last_status = time.monotonic()

    def _beat(self, *, status: bool) -> None:
        if self.serves_nodes:
            try:
                if not self.registered.is_set():
                    self._register()
                elif status:
                    self._post_status()
            except ApiError as exc:
                self._warn("node", "node.heartbeat_failed", exc)
        if self.serves_leases and self.registered.is_set():
            try:
                self._renew_lease()
            except ApiError as exc:
                self._warn("lease", "node.lease_renewal_failed", exc)

    def _warn(self, what: str, event: str, exc: ApiError) -> None:
        if what not in self._warned:  # once per kind of failure, until it works again
            self._warned.add(what)
            self.log.warning(event, node=self.node, code=exc.code, error=exc.message)

    # -- the Node --------------------------------------------------------------------------------

    def _labels(self) -> dict[str, str]:
        return node_labels(self.node)

    def node_status(self) -> Obj:
        """The status this kubelet reports (a fresh `lastHeartbeatTime`)."""
        return node_status(
            now=now_rfc3339(),
            ready_since=self._ready_since,
            boot_id=self._boot_id,
            kubelet_port=self.kubelet_port,
            kubelet_version=self.kubelet_version,
        )

    def _register(self) -> None:
        body = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": self.node,
                "labels": self._labels(),
                "annotations": {"node.alpha.kubernetes.io/ttl": "0"},
            },
            "spec": {},
        }
        try:
            node = self.api.request("POST", "/api/v1/nodes", body=body, what=f"create Node {self.node}")
            self.log.info("node.registered", node=self.node)
        except ApiError as exc:
            if exc.code == 404:  # the server does not serve nodes after all
                self.serves_nodes = False
                self.log.warning("node.not_registered", node=self.node, why=exc.message)
                return
            if exc.code != 409:
                raise
            node = self.api.request("GET", f"/api/v1/nodes/{self.node}", what=f"get Node {self.node}")
            node["metadata"].setdefault("labels", {}).update(self._labels())
            node = self.api.request("PUT", f"/api/v1/nodes/{self.node}", body=node, what=f"update Node {self.node}")
            self.log.info("node.taken_over", node=self.node)
        self.node_uid = str(node["metadata"].get("uid") or "") or None
        self._post_status(node)
        self.registered.set()
        self._warned.discard("node")

    def _post_status(self, node: Obj | None = None) -> None:
        for attempt in range(3):
            if node is None:
                node = self.api.request("GET", f"/api/v1/nodes/{self.node}", what=f"get Node {self.node}")
            node["status"] = {**(node.get("status") or {}), **self.node_status()}
            try:
                self.api.request(
                    "PUT", f"/api/v1/nodes/{self.node}/status", body=node, what=f"update Node {self.node} status"
                )
            except ApiError as exc:
                if exc.code == 404:  # deleted by someone: register again
                    self.registered.clear()
                    raise
                if exc.code != 409 or attempt == 2:
                    raise
                node = None
            else:
                self._warned.discard("node")
                return

    # -- the Lease -------------------------------------------------------------------------------

    def _renew_lease(self) -> None:
        path = f"/apis/coordination.k8s.io/v1/namespaces/{LEASE_NAMESPACE}/leases/{self.node}"
        what = f"renew Lease {LEASE_NAMESPACE}/{self.node}"
        spec = {
            "holderIdentity": self.node,
            "leaseDurationSeconds": LEASE_DURATION_SECONDS,
            "renewTime": rfc3339_micro(time.time()),
        }
        try:
            lease = self.api.request("GET", path, what=what)
        except ApiError as exc:
            if exc.code != 404:
                raise
            body: Obj = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": self.node, "namespace": LEASE_NAMESPACE},
                "spec": spec,
            }
            if self.node_uid:
                body["metadata"]["ownerReferences"] = [
                    {"apiVersion": "v1", "kind": "Node", "name": self.node, "uid": self.node_uid}
                ]
            self.api.request(
                "POST", f"/apis/coordination.k8s.io/v1/namespaces/{LEASE_NAMESPACE}/leases", body=body, what=what
            )
            self._warned.discard("lease")
            return
        lease["spec"] = {**(lease.get("spec") or {}), **spec}
        self.api.request("PUT", path, body=lease, what=what)
        self._warned.discard("lease")
