"""`kube-proxy` and `ipvs` modes: a backend per connection, bytes spliced both ways.

What it reproduces (K8S-SEMANTICS.md §4 "Consumers"):

- each new client connection gets one backend, chosen at random among the ready endpoints (as
  the iptables proxier's probability rules do); when none is ready, among the endpoints that are
  serving and terminating (ProxyTerminatingEndpoints);
- the connection keeps its backend for its whole life (conntrack), whatever the table says later;
- a Service with no usable endpoint rejects connections: its listener is closed, so clients are
  refused, as iptables' REJECT rule makes them;
- a backend that refuses, or resets, resets the client's connection (SO_LINGER 0), which is
  what a client of a real ClusterIP sees when the pod behind its DNAT is gone.

`ipvs` mode is the same, except for established connections (kubernetes#123116): once an
endpoint leaves the (lagged) set a connection may be given — it is removed, turns unready, or
stops being a terminating fallback — IPVS deletes its real server and, with
`net.ipv4.vs.expire_nodest_conn=1` as kube-proxy sets it, expires the connections to it on
their next packet. Here: the next bytes the client sends on such a connection reset it (and the
connection to the pod); a connection nobody writes on again is left alone. In `kube-proxy` mode
the connection keeps its pod (conntrack) whatever the table says later.
"""

from __future__ import annotations

import asyncio
import random
import socket
import struct
from collections import deque
from contextlib import suppress
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    import structlog

    from nonstop.sandbox.dataplane.table import Backend, Route, RouteKey

__all__ = ["KubeProxy", "reset"]

_LINGER_ZERO = struct.pack("ii", 1, 0)


def reset(transport: asyncio.BaseTransport) -> None:
    """Close a connection with RST instead of FIN (SO_LINGER 0), dropping anything unsent."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_ZERO)
    if isinstance(transport, asyncio.Transport):
        transport.abort()
    else:
        transport.close()


class _Half(asyncio.Protocol):
    """One side of a spliced connection; what it reads goes to its peer, EOF included.

    With a `delay` (seconds), everything it passes on (bytes, EOF, close, reset) reaches the peer that
    much later, in order: one direction of a network path with that one-way latency.
    """

    def __init__(self, open_halves: set[_Half], delay: float = 0.0) -> None:
        self._open_halves = open_halves
        self.transport: asyncio.Transport | None = None
        self.peer: _Half | None = None
        self.eof_in = False
        self.closed = False
        self.delay = delay
        self._wire: deque[tuple[float, Callable[[], None]]] = deque()
        self._wire_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self._open_halves.add(self)
        with suppress(OSError):
            sock = transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _send(self, action: Callable[[], None]) -> None:
        """Run `action` (which acts on the peer) now, or `delay` later after what was sent before it."""
        if not self.delay:
            action()
            return
        loop = asyncio.get_running_loop()
        self._wire.append((loop.time() + self.delay, action))
        if self._wire_timer is None:
            self._wire_timer = loop.call_at(self._wire[0][0], self._arrive)

    def _arrive(self) -> None:
        loop = asyncio.get_running_loop()
        self._wire_timer = None
        while self._wire and self._wire[0][0] <= loop.time():
            self._wire.popleft()[1]()
        if self._wire:
            self._wire_timer = loop.call_at(self._wire[0][0], self._arrive)

    def _peer_transport(self) -> asyncio.Transport | None:
        """The peer's transport while it is open, else None."""
        peer = self.peer
        return peer.transport if peer is not None and not peer.closed else None

    def data_received(self, data: bytes) -> None:
        self._send(lambda: self._write(data))

    def _write(self, data: bytes) -> None:
        transport = self._peer_transport()
        if transport is not None:
            transport.write(data)

    def eof_received(self) -> bool:
        self.eof_in = True
        if not self.delay:
            return self._pass_eof()
        self._send(self._pass_eof_late)
        return True

    def _pass_eof(self) -> bool:
        """Pass our EOF on; False when our own end must close too."""
        transport = self._peer_transport()
        if transport is None:
            return False
        if self.peer is not None and self.peer.eof_in:
            # Both directions are done: close both ends, flushing what is buffered.
            transport.close()
            return False
        if transport.can_write_eof():
            transport.write_eof()
        return True

    def _pass_eof_late(self) -> None:
        if not self._pass_eof() and self.transport is not None and not self.closed:
            self.transport.close()

    def pause_writing(self) -> None:
        # Our outgoing buffer is full: stop reading from the side that fills it.
        transport = self._peer_transport()
        if transport is not None:
            transport.pause_reading()

    def resume_writing(self) -> None:
        transport = self._peer_transport()
        if transport is not None:
            transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._open_halves.discard(self)
        self._send(lambda: self._pass_close(reset_peer=exc is not None))

    def _pass_close(self, *, reset_peer: bool) -> None:
        transport = self._peer_transport()
        if transport is None:
            return
        if reset_peer:
            reset(transport)
        else:
            transport.close()


class _Client(_Half):
    """The accepted side: picks a backend, connects, then splices."""

    def __init__(self, proxy: KubeProxy, key: RouteKey) -> None:
        super().__init__(proxy.open_halves, proxy.delay)
        self._proxy = proxy
        self._key = key
        self.backend: Backend | None = None
        self.expired = False  # ipvs: the backend left the endpoint set; the next client packet resets

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        assert self.transport is not None
        backend = self._proxy.pick(self._key)
        if backend is None:
            reset(self.transport)
            return
        self.backend = backend
        self._proxy.track(self)
        self.transport.pause_reading()
        task = asyncio.get_running_loop().create_task(self._connect(backend))
        self._proxy.tasks.add(task)
        task.add_done_callback(self._proxy.tasks.discard)

    async def _connect(self, backend: Backend) -> None:
        assert self.transport is not None
        loop = asyncio.get_running_loop()
        upstream = _Half(self._proxy.open_halves, self._proxy.delay)
        try:
            async with asyncio.timeout(self._proxy.connect_timeout):
                await loop.create_connection(lambda: upstream, backend.ip, backend.port)
        except (OSError, TimeoutError) as exc:
            self._proxy.log.debug(
                "backend refused", route=self._key, backend=f"{backend.ip}:{backend.port}", error=str(exc)
            )
            if not self.closed:
                reset(self.transport)
            return
        if self.closed:
            # The client went away while we were connecting.
            if upstream.transport is not None:
                reset(upstream.transport)
            return
        upstream.peer = self
        self.peer = upstream
        if self.eof_in and upstream.transport is not None:
            upstream.transport.write_eof()
        self.transport.resume_reading()

    @property
    def key(self) -> RouteKey:
        return self._key

    def _expire(self) -> None:
        """IPVS dropped the connection's real server: reset both sides now."""
        self._proxy.log.debug("connection expired", route=self._key, backend=self.backend)
        peer = self.peer
        if peer is not None and peer.transport is not None and not peer.closed:
            reset(peer.transport)
        if self.transport is not None and not self.closed:
            reset(self.transport)

    def data_received(self, data: bytes) -> None:
        if self.expired:
            self._expire()
            return
        super().data_received(data)

    def eof_received(self) -> bool:
        if self.expired:
            self._expire()
            return False
        return super().eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._proxy.untrack(self)
        super().connection_lost(exc)


class KubeProxy:
    """The kube-proxy forwarder: listens where a route has a usable endpoint (`ipvs=True`: IPVS mode)."""

    def __init__(
        self,
        routes: Callable[[], Mapping[RouteKey, Route]],
        *,
        log: structlog.typing.FilteringBoundLogger,
        connect_timeout: float = 5.0,
        rng: random.Random | None = None,
        ipvs: bool = False,
        delay: float = 0.0,
    ) -> None:
        self._routes = routes
        self.log = log
        self.connect_timeout = connect_timeout
        self._rng = rng or random.Random()
        self.ipvs = ipvs
        self.mode = "ipvs" if ipvs else "kube-proxy"
        self.delay = delay
        """One-way latency added to every connection, each way, in seconds."""
        self.tasks: set[asyncio.Task[None]] = set()
        self.open_halves: set[_Half] = set()
        """Every connected end of every spliced connection, so that closing drops them all."""
        self._connections: dict[RouteKey, set[_Client]] = {}
        self.expired = 0
        """ipvs: connections marked to reset because their backend left (for tests and logs)."""

    def track(self, conn: _Client) -> None:
        if self.ipvs:
            self._connections.setdefault(conn.key, set()).add(conn)

    def untrack(self, conn: _Client) -> None:
        conns = self._connections.get(conn.key)
        if conns is not None:
            conns.discard(conn)
            if not conns:
                del self._connections[conn.key]

    def wants_listener(self, route: Route) -> bool:
        """No usable endpoint: no listener, so clients are refused (iptables REJECT)."""
        return bool(route.kube_proxy_candidates())

    def pick(self, key: RouteKey) -> Backend | None:
        route = self._routes().get(key)
        if route is None:
            return None
        candidates = route.kube_proxy_candidates()
        return self._rng.choice(candidates) if candidates else None

    async def listen(self, key: RouteKey) -> asyncio.Server:
        loop = asyncio.get_running_loop()
        return await loop.create_server(
            lambda: _Client(self, key), host=key[0], port=key[1], reuse_address=True, backlog=1024
        )

    def routes_changed(self, routes: Mapping[RouteKey, Route]) -> None:
        """kube-proxy: established connections keep their backend (conntrack). ipvs: those whose
        backend is no longer a candidate of its route are marked to reset.
        """
        if not self.ipvs:
            return
        for key, conns in self._connections.items():
            route = routes.get(key)
            usable = {(b.ip, b.port) for b in route.kube_proxy_candidates()} if route is not None else set()
            for conn in conns:
                backend = conn.backend
                if not conn.expired and backend is not None and (backend.ip, backend.port) not in usable:
                    conn.expired = True
                    self.expired += 1

    async def close(self) -> None:
        """Stop connecting and drop every open connection (what is still on a delayed wire is lost)."""
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for half in list(self.open_halves):
            if half.transport is not None:
                half.transport.abort()
