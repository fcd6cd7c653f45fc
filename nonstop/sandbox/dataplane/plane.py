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

Mode = Literal["kube-proxy", "ingress"]
MODES: tuple[Mode, ...] = ("kube-proxy", "ingress")


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

    def __init__(self, *, mode: Mode, log: structlog.typing.FilteringBoundLogger) -> None:
        self.log = log
        self.routes: dict[RouteKey, Route] = {}
        self._servers: dict[RouteKey, asyncio.Server] = {}
        self.forwarder: Forwarder
        if mode == "ingress":
            self.forwarder = Ingress(lambda: self.routes, log=log)
        else:
            self.forwarder = KubeProxy(lambda: self.routes, log=log)

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
        wanted = {key for key, route in self.routes.items() if self.forwarder.wants_listener(route)}
        for key in [k for k in self._servers if k not in wanted]:
            self._servers.pop(key).close()
            self.log.info("listener closed", address=f"{key[0]}:{key[1]}")
        for key in sorted(wanted - self._servers.keys()):
            try:
                self._servers[key] = await self.forwarder.listen(key)
            except OSError as exc:
                self.log.error("cannot listen", address=f"{key[0]}:{key[1]}", error=str(exc))
                continue
            self.log.info("listener opened", address=f"{key[0]}:{key[1]}", mode=self.forwarder.mode)
        self.forwarder.routes_changed(self.routes)

    async def close(self) -> None:
        """Close every listener and cut every connection."""
        for server in self._servers.values():
            server.close()
        self._servers.clear()
        await self.forwarder.close()
