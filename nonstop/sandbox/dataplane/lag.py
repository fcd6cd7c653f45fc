"""Per-direction propagation lag: when each observed route change takes effect (pure, no I/O).

The data plane observes Services and EndpointSlices at once (`table.py` folds them into routes)
but *acts* on each change late, as kube-proxy, an Ingress controller or a cloud load balancer
does. The lag depends on the direction of the change:

- `add_lag`: an endpoint starts receiving traffic (it appears ready, or turns ready), and a
  Service port appears — a load balancer registering a new target;
- `remove_lag`: everything else — an endpoint is removed, turns unready or terminating, stops
  serving, and a Service port goes away — a load balancer deregistering a target.

With both lags equal this is exactly "the whole view, `lag` seconds late".

A pod with readiness gates is the exception for additions: its gates are set (by the load
balancer's controller; in the sandbox `addLagSeconds` after its containers are ready) once its
target is registered, so by the time its endpoint turns ready the registration has happened, and
the endpoint receives traffic as soon as it is seen ready (`gated` says which pods those are). Each route (one
Service port) and each endpoint of it is an *item* with its own queue of observed states, in the
order seen. A newly observed state due no later than states still queued for the same item
supersedes them: an endpoint that turned ready and was removed again before its registration
took effect never receives traffic, and one whose removal is still pending when it turns ready
again never stops receiving it.
"""

from __future__ import annotations

import collections
import heapq
import itertools
from collections.abc import Callable, Mapping
from typing import TypeAlias

from nonstop.sandbox.dataplane.table import Backend, Route, RouteKey

__all__ = ["LagSchedule"]

_Addr: TypeAlias = tuple[str, int]
_Item: TypeAlias = tuple[RouteKey, _Addr | None]  # None: the route itself (the Service port)
_State: TypeAlias = Route | Backend | None  # a route head has no backends; None: absent


def _head(route: Route) -> Route:
    return Route(route.namespace, route.service, route.cluster_ip, route.port, route.port_name)


def _is_add(before: _State, after: _State) -> bool:
    """Does the change make something start receiving traffic?"""
    if isinstance(after, Backend):
        return after.ready and not (isinstance(before, Backend) and before.ready)
    return after is not None and before is None


class LagSchedule:
    """Observed routes in, effective routes out: each change applied `add_lag` or `remove_lag` after it was seen."""

    def __init__(
        self, *, add_lag: float, remove_lag: float, gated: Callable[[str, str | None], bool] | None = None
    ) -> None:
        self.add_lag = add_lag
        self.remove_lag = remove_lag
        self._gated = gated or (lambda _namespace, _pod: False)
        self._observed: dict[RouteKey, Route] = {}
        self._heads: dict[RouteKey, Route] = {}
        self._backends: dict[RouteKey, dict[_Addr, Backend]] = {}
        self._pending: dict[_Item, collections.deque[tuple[float, _State]]] = {}
        self._heap: list[tuple[float, int, _Item]] = []
        self._seq = itertools.count()

    def observe(self, routes: Mapping[RouteKey, Route], seen_at: float) -> None:
        """The routes as the cluster shows them now (seen at `seen_at`, monotonic seconds)."""
        old, self._observed = self._observed, dict(routes)
        for key in old.keys() | self._observed.keys():
            before, after = old.get(key), self._observed.get(key)
            head_before = _head(before) if before is not None else None
            head_after = _head(after) if after is not None else None
            if head_before != head_after:
                self._schedule((key, None), head_after, seen_at)
            b_before = {(b.ip, b.port): b for b in before.backends} if before is not None else {}
            b_after = {(b.ip, b.port): b for b in after.backends} if after is not None else {}
            for addr in b_before.keys() | b_after.keys():
                if b_before.get(addr) != b_after.get(addr):
                    self._schedule((key, addr), b_after.get(addr), seen_at)

    def _effective(self, item: _Item) -> _State:
        key, addr = item
        if addr is None:
            return self._heads.get(key)
        return self._backends.get(key, {}).get(addr)

    def _schedule(self, item: _Item, state: _State, seen_at: float) -> None:
        queue = self._pending.get(item)
        before = queue[-1][1] if queue else self._effective(item)
        if state == before:
            return
        if not _is_add(before, state):
            lag = self.remove_lag
        elif isinstance(state, Backend) and self._gated(self._observed[item[0]].namespace, state.pod):
            lag = 0.0  # registered before its readiness gates let it turn ready
        else:
            lag = self.add_lag
        due = seen_at + lag
        if queue is None:
            queue = self._pending[item] = collections.deque()
        while queue and queue[-1][0] >= due:
            queue.pop()  # superseded before it took effect
        if not queue and state == self._effective(item):
            del self._pending[item]
            return
        queue.append((due, state))
        heapq.heappush(self._heap, (due, next(self._seq), item))

    def next_due(self) -> float | None:
        """When the earliest pending change takes effect (monotonic seconds), or None."""
        return self._heap[0][0] if self._heap else None

    def apply_due(self, now: float) -> int:
        """Apply every change due by `now`; returns how many took effect."""
        applied = 0
        while self._heap and self._heap[0][0] <= now:
            _, _, item = heapq.heappop(self._heap)
            queue = self._pending.get(item)
            while queue and queue[0][0] <= now:
                self._set(item, queue.popleft()[1])
                applied += 1
            if queue is not None and not queue:
                del self._pending[item]
        return applied

    def _set(self, item: _Item, state: _State) -> None:
        key, addr = item
        if addr is None:
            if isinstance(state, Route):
                self._heads[key] = state
            else:
                self._heads.pop(key, None)
            return
        backends = self._backends.setdefault(key, {})
        if isinstance(state, Backend):
            backends[addr] = state
        else:
            backends.pop(addr, None)
            if not backends:
                del self._backends[key]

    def routes(self) -> dict[RouteKey, Route]:
        """The routes in effect: every Service port whose appearance took effect, with its effective endpoints."""
        return {
            key: Route(
                head.namespace,
                head.service,
                head.cluster_ip,
                head.port,
                head.port_name,
                tuple(self._backends.get(key, {}).values()),
            )
            for key, head in self._heads.items()
        }
