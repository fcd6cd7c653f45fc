"""One drill per target at a time: a `coordination.k8s.io/v1` Lease held for the drill's duration.

The Lease is `nonstop-drill-<kind>-<name>` in the target's namespace. `DrillLease.acquire()`
creates it, or takes it over when its holder stopped renewing (renewTime + leaseDurationSeconds
is past), or raises `LeaseHeld` naming the live holder. A background thread renews it every
third of its duration; `release()` deletes it (only if it is still ours: resourceVersion
precondition). Every write carries a resourceVersion, so two drills racing for the same Lease
cannot both win: the loser gets 409 and reads who won.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from typing import Any

from nonstop.errors import ClusterError, LeaseHeld, NotFoundError
from nonstop.kube.api import Kube
from nonstop.kube.calls import call
from nonstop.logs import get_logger
from nonstop.toolkit.times import rfc3339_micro, to_epoch

__all__ = ["DrillLease", "holder_identity", "lease_name"]

log = get_logger("lease")
DEFAULT_DURATION = 15
"""Seconds a Lease stays valid without renewal; a crashed drill's Lease can be taken over after this."""


def lease_name(kind: str, name: str) -> str:
    """The Lease of one target, e.g. `nonstop-drill-deployment-web` (at most 253 characters)."""
    return f"nonstop-drill-{kind.lower()}-{name}"[:253]


def holder_identity(drill: str) -> str:
    """Who holds the Lease: host, process and drill, e.g. `ci-runner-3/pid-4121/drill-web-restart`."""
    return f"{socket.gethostname()}/pid-{os.getpid()}/drill-{drill}"


def _json(response: Any) -> dict[str, Any]:
    return dict(json.loads(response.data or b"{}"))


def expires_at(lease: dict[str, Any]) -> float:
    """When the holder's claim ends (epoch seconds); 0 for a Lease nobody holds."""
    spec = lease.get("spec") or {}
    if not spec.get("holderIdentity"):
        return 0.0
    renewed = to_epoch(spec.get("renewTime")) or to_epoch(spec.get("acquireTime")) or 0.0
    return renewed + float(spec.get("leaseDurationSeconds") or DEFAULT_DURATION)


class DrillLease:
    """The Lease of one drill on one target; `acquire()`, then `release()` in a finally."""

    def __init__(
        self, kube: Kube, *, namespace: str, kind: str, target: str, drill: str, duration: int = DEFAULT_DURATION
    ) -> None:
        self._kube = kube
        self.namespace = namespace
        self.name = lease_name(kind, target)
        self.identity = holder_identity(drill)
        self.duration = duration
        self._rv: str | None = None
        self._acquired = 0.0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.lost: str | None = None
        """Set when a renewal found the Lease taken by someone else: one sentence naming them."""
        self.renewals = 0

    @property
    def what(self) -> str:
        return f"Lease {self.namespace}/{self.name}"

    # -- API -----------------------------------------------------------------------------------

    def _read(self) -> dict[str, Any] | None:
        api = self._kube.coordination
        try:
            return _json(
                call(api.read_namespaced_lease, self.name, self.namespace, _preload_content=False,
                     what=f"get {self.what}")
            )  # fmt: skip
        except NotFoundError:
            return None

    def _spec(self, now: float, *, acquired: float, transitions: int) -> dict[str, Any]:
        return {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": self.duration,
            "acquireTime": rfc3339_micro(acquired),
            "renewTime": rfc3339_micro(now),
            "leaseTransitions": transitions,
        }

    def _write(self, current: dict[str, Any] | None, spec: dict[str, Any]) -> None:
        api = self._kube.coordination
        body: dict[str, Any] = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": spec,
        }
        if current is None:
            created = call(api.create_namespaced_lease, self.namespace, body, _preload_content=False,
                           what=f"create {self.what}")  # fmt: skip
            self._rv = _json(created)["metadata"]["resourceVersion"]
            return
        body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        replaced = call(api.replace_namespaced_lease, self.name, self.namespace, body, _preload_content=False,
                        what=f"update {self.what}")  # fmt: skip
        self._rv = _json(replaced)["metadata"]["resourceVersion"]

    # -- lifecycle -----------------------------------------------------------------------------

    def acquire(self) -> DrillLease:
        """Take the Lease (create, or take over an expired one) and start renewing; `LeaseHeld` if it is live."""
        for _ in range(3):  # a lost race re-reads: either the winner is named or the Lease is free again
            current = self._read()
            now = time.time()
            spec = (current or {}).get("spec") or {}
            holder = spec.get("holderIdentity")
            if current is not None and holder and holder != self.identity and expires_at(current) > now:
                left = expires_at(current) - now
                raise LeaseHeld(
                    f"another drill holds {self.what} ({holder}); one drill per target at a time — "
                    f"wait for it to finish (or for the Lease to expire in {left:.0f} s if that drill died)"
                )
            transitions = int(spec.get("leaseTransitions") or 0) + (1 if current is not None and holder else 0)
            try:
                self._write(current, self._spec(now, acquired=now, transitions=transitions))
            except ClusterError as exc:
                if exc.status == 409:  # someone else wrote it first (create: AlreadyExists, update: Conflict)
                    continue
                raise
            if current is not None and holder:
                log.warning("took over an expired drill Lease", lease=self.what, previous_holder=holder)
            log.info("drill Lease acquired", lease=self.what, holder=self.identity)
            self._acquired = now
            self._thread = threading.Thread(target=self._renew_loop, name="lease renewal", daemon=True)
            self._thread.start()
            return self
        raise LeaseHeld(f"{self.what} kept changing while nonstop tried to take it; another drill is starting")

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.duration / 3):
            try:
                self.renew()
            except ClusterError as exc:  # a failed renewal is retried at the next tick; expiry is the limit
                log.warning("drill Lease renewal failed", lease=self.what, error=str(exc))
            if self.lost is not None:
                return

    def renew(self) -> None:
        """Push renewTime forward; sets `lost` if another holder has the Lease now."""
        with self._lock:
            if self._stop.is_set():
                return
            current = self._read()
            holder = ((current or {}).get("spec") or {}).get("holderIdentity")
            if current is None or holder != self.identity:
                self.lost = f"{self.what} was taken by {holder or 'nobody (deleted)'} while the drill ran"
                log.error("drill Lease lost", lease=self.what, holder=holder)
                return
            now = time.time()
            transitions = int((current.get("spec") or {}).get("leaseTransitions") or 0)
            self._write(current, self._spec(now, acquired=self._acquired, transitions=transitions))
            self.renewals += 1

    def release(self) -> None:
        """Stop renewing and delete the Lease if it is still ours (never someone else's)."""
        with self._lock:
            self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self.lost is not None:
            return
        try:
            current = self._read()
            if current is None or ((current.get("spec") or {}).get("holderIdentity")) != self.identity:
                return
            call(self._kube.coordination.delete_namespaced_lease, self.name, self.namespace,
                 body={"preconditions": {"resourceVersion": current["metadata"]["resourceVersion"]}},
                 _preload_content=False, what=f"delete {self.what}")  # fmt: skip
            log.info("drill Lease released", lease=self.what)
        except ClusterError as exc:  # it expires by itself; the next drill takes it over
            log.warning("could not release the drill Lease; it expires on its own", lease=self.what, error=str(exc))
