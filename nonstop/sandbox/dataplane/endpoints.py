"""The data plane's late view of Services and EndpointSlices, through the official client.

Two watch threads (Services, EndpointSlices; a third for Pods, only to know which have readiness
gates, when the add lag is not 0) list, then watch from the list's resourceVersion,
resume from the last resourceVersion they saw after a dropped or timed-out stream, and list
again after `410 Gone` (K8S-SEMANTICS.md §6 "Watch", §6a). Each change they see is handed to
the event loop with the time it was seen; `LaggedFeed` folds it in at once and lets it take
effect `add_lag` seconds later when it makes an endpoint start receiving traffic, `remove_lag`
seconds later otherwise (both default to `proxy_lag`; `lag.py`) — the propagation delay of
kube-proxy, Ingress controllers and cloud load balancers (§4 "The race"). Lists are changes
too: the first one, and each after a 410, takes effect as late as any event.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from typing import TYPE_CHECKING, Any

from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from nonstop.sandbox.dataplane.lag import LagSchedule
from nonstop.sandbox.dataplane.table import Change, ChangeKind, EndpointTable

if TYPE_CHECKING:
    from collections.abc import Callable

    import structlog

    from nonstop.sandbox.dataplane.plane import DataPlane

__all__ = ["LaggedFeed", "Watcher", "start_watchers"]

_WATCH_SECONDS = 290
_REQUEST_TIMEOUT = (5.0, 330.0)


class LaggedFeed:
    """Folds each change in when seen, and makes it take effect `add_lag`/`remove_lag` later (`lag.py`).

    `put` must be called from the event loop's thread (watch threads go through
    `loop.call_soon_threadsafe`); `run` is the task that applies.
    """

    def __init__(
        self,
        *,
        lag: float,
        table: EndpointTable,
        plane: DataPlane,
        add_lag: float | None = None,
        remove_lag: float | None = None,
    ) -> None:
        self.add_lag = lag if add_lag is None else add_lag
        self.remove_lag = lag if remove_lag is None else remove_lag
        self.table = table
        self.plane = plane
        self.schedule = LagSchedule(add_lag=self.add_lag, remove_lag=self.remove_lag, gated=table.gated)
        self._wakeup = asyncio.Event()
        self.applied = 0

    def put(self, change: Change, seen_at: float) -> None:
        self.table.apply(change)
        if change.kind != "Pod":  # pods only say which are gated: no route changes
            self.schedule.observe(self.table.routes(), seen_at)
            self._wakeup.set()

    async def run(self) -> None:
        while True:
            self._wakeup.clear()  # before looking: a `put` from here on wakes the wait below
            due = self.schedule.next_due()
            if due is None:
                await self._wakeup.wait()
                continue
            delay = due - time.monotonic()
            if delay > 0:  # a change seen meanwhile may be due sooner (the other direction's lag)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._wakeup.wait()
                continue
            applied = self.schedule.apply_due(time.monotonic())
            if applied:
                self.applied += applied
                await self.plane.update(self.schedule.routes())


class Watcher:
    """List-then-watch of one kind, forever, in a daemon thread; hands each change to `deliver`."""

    def __init__(
        self,
        *,
        kind: ChangeKind,
        list_fn: Callable[..., Any],
        deliver: Callable[[Change], None],
        log: structlog.typing.FilteringBoundLogger,
        watch_seconds: int = _WATCH_SECONDS,
    ) -> None:
        self.kind = kind
        self.watch_seconds = watch_seconds
        self._list = list_fn
        self._deliver = deliver
        self._log = log.bind(kind=kind)
        self._stop = threading.Event()
        self._watch: watch.Watch | None = None
        self.thread = threading.Thread(target=self._run, name=f"watch-{kind}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._watch is not None:
            self._watch.stop()

    def _relist(self) -> str:
        resp = self._list(_preload_content=False, _request_timeout=_REQUEST_TIMEOUT)
        try:
            data = json.loads(resp.data)
        finally:
            resp.release_conn()
        self._deliver(Change(self.kind, "RESYNC", tuple(data.get("items") or ())))
        rv = str(data["metadata"]["resourceVersion"])
        self._log.info("listed", items=len(data.get("items") or ()), resource_version=rv)
        return rv

    def _run(self) -> None:
        rv: str | None = None
        backoff = 0.1
        while not self._stop.is_set():
            try:
                if rv is None:
                    rv = self._relist()
                self._watch = watch.Watch()
                for event in self._watch.stream(
                    self._list,
                    resource_version=rv,
                    allow_watch_bookmarks=True,
                    timeout_seconds=self.watch_seconds,
                    _request_timeout=_REQUEST_TIMEOUT,
                ):
                    obj = event["raw_object"]
                    new_rv = ((obj or {}).get("metadata") or {}).get("resourceVersion")
                    if event["type"] in ("ADDED", "MODIFIED", "DELETED"):
                        self._deliver(Change(self.kind, event["type"], (obj,)))
                    if new_rv:
                        rv = str(new_rv)
                    if self._stop.is_set():
                        break
                backoff = 0.1
            except ApiException as exc:
                if exc.status == 410:
                    self._log.info("watch expired, listing again", resource_version=rv)
                    rv = None
                    continue
                self._log.warning("watch failed", status=exc.status, reason=exc.reason)
                backoff = self._pause(backoff)
            except (HTTPError, OSError, ValueError, KeyError) as exc:
                if self._stop.is_set():
                    return
                self._log.warning("watch interrupted, resuming", error=repr(exc), resource_version=rv)
                backoff = self._pause(backoff)

    def _pause(self, backoff: float) -> float:
        self._stop.wait(backoff)
        return min(backoff * 2, 2.0)


def start_watchers(
    api: client.ApiClient,
    feed: LaggedFeed,
    loop: asyncio.AbstractEventLoop,
    *,
    log: structlog.typing.FilteringBoundLogger,
) -> list[Watcher]:
    """Start the Service and EndpointSlice watch threads feeding `feed` on `loop`."""

    def deliver(change: Change) -> None:
        seen = time.monotonic()
        loop.call_soon_threadsafe(feed.put, change, seen)

    watchers = [
        Watcher(
            kind="Service",
            list_fn=client.CoreV1Api(api).list_service_for_all_namespaces,
            deliver=deliver,
            log=log,
        ),
        Watcher(
            kind="EndpointSlice",
            list_fn=client.DiscoveryV1Api(api).list_endpoint_slice_for_all_namespaces,
            deliver=deliver,
            log=log,
        ),
    ]
    if feed.add_lag > 0:  # which pods have readiness gates: their endpoints skip the add lag (lag.py)
        watchers.append(
            Watcher(
                kind="Pod",
                list_fn=client.CoreV1Api(api).list_pod_for_all_namespaces,
                deliver=deliver,
                log=log,
            )
        )
    for w in watchers:
        w.start()
    return watchers
