"""The listeners: one per (ClusterIP, Service port), opened and closed as routes change."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Literal, Protocol

from nonstop.sandbox.dataplane.ingress import Ingress
from nonstop.sandbox.dataplane.kubeproxy import KubeProxy

if TYPE_CHECKING:
    from collections.abc import Mapping

    import structlog

    from nonstop.sandbox.dataplane.table import Route, RouteKey

__all__ = ["MODES", "DataPlane", "Forwarder", "Mode"]

Mode = Literal["kube-proxy", "ingress", "ipvs"]
MODES: tuple[Mode, ...] = ("kube-proxy", "ingress", "ipvs")
_RETRY_SECONDS = 1.0


class Forwarder(Protocol):
    """What a mode provides: when to listen, how to serve a listener, what to do on changes."""

    mode: str

    def wants_listener(self, route: Route) -> bool: ...

    async def listen(self, key: RouteKey) -> asyncio.Server: ...

    def routes_changed(self, routes: Mapping[RouteKey, Route]) -> None: ...

    async def close(self) -> None: ...


def _summary(route: Route) -> tuple[tuple[str | None, str, bool, bool, bool], ...]:
    return tuple((b.pod, f"{b.ip}:{b.port}", b.ready, b.serving, b.terminating) for b in route.backends)


class DataPlane:
    """Holds the current routes and the listening sockets that serve them; runs in one event loop."""

    def __init__(
        self,
        *,
        mode: Mode,
        log: structlog.typing.FilteringBoundLogger,
        retry_stale_connections: bool = True,
        network_delay: float = 0.0,
    ) -> None:
        self.log = log
        self.routes: dict[RouteKey, Route] = {}
        self._servers: dict[RouteKey, asyncio.Server] = {}
        self._failing: set[RouteKey] = set()
        self._retry: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self.forwarder: Forwarder
        if mode == "ingress":
            self.forwarder = Ingress(lambda: self.routes, log=log, retry_stale_connections=retry_stale_connections)
        else:
            self.forwarder = KubeProxy(lambda: self.routes, log=log, ipvs=mode == "ipvs", delay=network_delay)

    @property
    def listening(self) -> frozenset[RouteKey]:
        """Where a listener is open right now."""
        return frozenset(self._servers)

    async def update(self, routes: Mapping[RouteKey, Route]) -> None:
        """Make `routes` the view new connections and requests see; open and close listeners."""
        old = self.routes
        self.routes = dict(routes)
        for key, route in self.routes.items():
            before = old.get(key)
            if before is None or _summary(before) != _summary(route):
                self.log.info(
                    "route",
                    service=f"{route.namespace}/{route.service}",
                    address=f"{key[0]}:{key[1]}",
                    ready=[b.pod or b.ip for b in route.ready],
                    serving_terminating=[b.pod or b.ip for b in route.fallback],
                    endpoints=len(route.backends),
                )
        for key in old.keys() - self.routes.keys():
            self.log.info(
                "route removed", service=f"{old[key].namespace}/{old[key].service}", address=f"{key[0]}:{key[1]}"
            )
        async with self._lock:
            wanted = self._wanted()
            for key in [k for k in self._servers if k not in wanted]:
                self._servers.pop(key).close()
                self.log.info("listener closed", address=f"{key[0]}:{key[1]}")
            await self._open_missing(wanted)
        self.forwarder.routes_changed(self.routes)

    def _wanted(self) -> set[RouteKey]:
        return {key for key, route in self.routes.items() if self.forwarder.wants_listener(route)}

    async def _open_missing(self, wanted: set[RouteKey]) -> None:
        """Open what is wanted and not open; an address in use (another sandbox) is retried every second."""
        for key in sorted(wanted - self._servers.keys()):
            try:
                self._servers[key] = await self.forwarder.listen(key)
            except OSError as exc:
                if key not in self._failing:
                    self.log.error("cannot listen, retrying", address=f"{key[0]}:{key[1]}", error=str(exc))
                self._failing.add(key)
                continue
            self._failing.discard(key)
            self.log.info("listener opened", address=f"{key[0]}:{key[1]}", mode=self.forwarder.mode)
        self._failing &= wanted
        if self._failing and (self._retry is None or self._retry.done()):
            self._retry = asyncio.get_running_loop().create_task(self._retry_later())

    async def _retry_later(self) -> None:
        while self._failing:
            await asyncio.sleep(_RETRY_SECONDS)
            async with self._lock:
                await self._open_missing(self._wanted())

    async def close(self) -> None:
        """Close every listener and cut every connection."""
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        for server in self._servers.values():
            server.close()
        self._servers.clear()
        await self.forwarder.close()
