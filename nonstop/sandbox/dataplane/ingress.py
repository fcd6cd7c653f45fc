"""`ingress` mode: an HTTP/1.1 reverse proxy choosing a pod per request, as ingress-nginx does.

What it reproduces (K8S-SEMANTICS.md §4 "Consumers"):

- every request is sent straight to a pod IP, chosen round-robin among the endpoints whose
  `ready` condition is true; terminating endpoints are never used (no fallback);
- the client's connection is kept alive across requests whatever happens to the pods, and
  upstream connections are pooled per pod (nginx's upstream keepalive);
- a pod that refuses, resets or closes without answering → `502 Bad Gateway`; no ready endpoint
  → `503 Service Temporarily Unavailable`; no answer in time → `504 Gateway Timeout`.

Where it differs from ingress-nginx: nginx's `proxy_next_upstream error timeout` retries a failed
request on another pod; this proxy does not (the failure the race causes stays visible). It only
retries once, on a fresh connection to the same pod, when a *pooled* connection turns out to
have been closed by the pod before the request got any answer — what any keep-alive client does.
With `retry_stale_connections=False` (`sandbox.ingress.retryStaleConnections: false`) it does not:
that request gets a 502, as behind a load balancer that does not retry (an upstream keep-alive
timeout shorter than the proxy's is the classic cause).
Request bodies are buffered (limit 1 MiB, as nginx's client_max_body_size); responses stream.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

    import structlog

    from nonstop.sandbox.dataplane.table import Backend, Route, RouteKey

__all__ = ["Ingress"]

_MAX_HEAD = 64 * 1024
_MAX_BODY = 1024 * 1024
_CHUNK = 64 * 1024
_HOP_BY_HOP = frozenset(
    {b"connection", b"keep-alive", b"proxy-connection", b"te", b"trailer", b"upgrade", b"transfer-encoding"}
)
_REASONS = {
    400: "Bad Request",
    413: "Request Entity Too Large",
    431: "Request Header Fields Too Large",
    502: "Bad Gateway",
    503: "Service Temporarily Unavailable",
    504: "Gateway Timeout",
}

_T = TypeVar("_T")
Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class _BadRequest(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class _UpstreamFailed(Exception):
    """The pod did not answer: refused, reset, closed early (502) or too slow (504)."""

    def __init__(self, status: int, reason: str, *, fresh: bool) -> None:
        super().__init__(reason)
        self.status = status
        self.fresh = fresh


@dataclass
class _Head:
    first: bytes
    headers: list[tuple[bytes, bytes]]

    def get(self, name: bytes) -> bytes | None:
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None

    def tokens(self, name: bytes) -> set[bytes]:
        out: set[bytes] = set()
        for k, v in self.headers:
            if k.lower() == name:
                out.update(t.strip().lower() for t in v.split(b","))
        return out


def _parse_head(raw: bytes) -> _Head:
    lines = raw.split(b"\r\n")
    headers = []
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(b":")
        if not sep or not name or name != name.strip():
            raise _BadRequest(400)
        headers.append((name, value.strip()))
    return _Head(lines[0], headers)


def _simple_response(status: int, *, close: bool) -> bytes:
    reason = _REASONS.get(status, "Error")
    body = f"<html><head><title>{status} {reason}</title></head><body><h1>{status} {reason}</h1></body></html>\n"
    return (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/html\r\nContent-Length: {len(body)}\r\n"
        f"Connection: {'close' if close else 'keep-alive'}\r\n\r\n{body}"
    ).encode()


async def _read_chunked(reader: asyncio.StreamReader, limit: int) -> bytes:
    """Decode a chunked body (trailers dropped)."""
    body = bytearray()
    while True:
        line = await reader.readuntil(b"\r\n")
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError as exc:
            raise _BadRequest(400) from exc
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":
                pass
            return bytes(body)
        if len(body) + size > limit:
            raise _BadRequest(413)
        body += await reader.readexactly(size)
        await reader.readexactly(2)


async def _within(seconds: float, awaitable: Awaitable[_T]) -> _T:
    """`wait_for` without its extra task per call (this is the hot path)."""
    async with asyncio.timeout(seconds):
        return await awaitable


def _nodelay(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class Ingress:
    """The ingress forwarder: one listener per route, a pod per request."""

    mode = "ingress"

    def __init__(
        self,
        routes: Callable[[], Mapping[RouteKey, Route]],
        *,
        log: structlog.typing.FilteringBoundLogger,
        connect_timeout: float = 5.0,
        read_timeout: float = 60.0,
        keepalive_timeout: float = 75.0,
        pool_size: int = 64,
        retry_stale_connections: bool = True,
    ) -> None:
        self._routes = routes
        self.log = log
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.keepalive_timeout = keepalive_timeout
        self.pool_size = pool_size
        self.retry_stale_connections = retry_stale_connections
        self._rr: dict[RouteKey, itertools.count[int]] = {}
        self._pools: dict[tuple[str, int], list[Conn]] = {}
        self._clients: set[asyncio.StreamWriter] = set()

    def wants_listener(self, route: Route) -> bool:
        """Always: with no ready endpoint the proxy still answers, with 503."""
        return True

    async def listen(self, key: RouteKey) -> asyncio.Server:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await self._serve_client(key, reader, writer)

        return await asyncio.start_server(
            handle, host=key[0], port=key[1], reuse_address=True, backlog=1024, limit=_MAX_HEAD
        )

    def routes_changed(self, routes: Mapping[RouteKey, Route]) -> None:
        """Drop pooled connections to pods that are no longer in any route."""
        live = {(b.ip, b.port) for r in routes.values() for b in r.backends}
        for addr in [a for a in self._pools if a not in live]:
            for _, writer in self._pools.pop(addr):
                writer.close()

    async def close(self) -> None:
        self.routes_changed({})
        for writer in list(self._clients):
            writer.close()

    # -- choosing ----------------------------------------------------------------------------

    def _pick(self, key: RouteKey) -> Backend | None:
        route = self._routes().get(key)
        if route is None or not route.ready:
            return None
        counter = self._rr.setdefault(key, itertools.count())
        return route.ready[next(counter) % len(route.ready)]

    # -- the client side ---------------------------------------------------------------------

    async def _serve_client(self, key: RouteKey, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._clients.add(writer)
        _nodelay(writer)
        peer = writer.get_extra_info("peername")
        client_ip = peer[0].encode() if isinstance(peer, tuple) else b"127.0.0.1"
        try:
            while True:
                try:
                    raw = await _within(self.keepalive_timeout, reader.readuntil(b"\r\n\r\n"))
                except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
                    return
                except asyncio.LimitOverrunError:
                    writer.write(_simple_response(431, close=True))
                    return
                try:
                    keep = await self._one_request(key, raw, client_ip, reader, writer)
                except _BadRequest as exc:
                    writer.write(_simple_response(exc.status, close=True))
                    await writer.drain()
                    return
                if not keep:
                    return
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            return
        except Exception:  # one broken exchange must not take the proxy's other connections with it
            self.log.exception("ingress connection failed", route=key)
            return
        finally:
            self._clients.discard(writer)
            with suppress(ConnectionError, RuntimeError):
                writer.close()

    async def _one_request(
        self,
        key: RouteKey,
        raw: bytes,
        client_ip: bytes,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> bool:
        """Proxy one request; True when the client connection stays open."""
        head = _parse_head(raw[:-4])
        parts = head.first.split(b" ")
        if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
            raise _BadRequest(400)
        method, version = parts[0], parts[2]
        conn_tokens = head.tokens(b"connection")
        keep = b"keep-alive" in conn_tokens if version == b"HTTP/1.0" else b"close" not in conn_tokens

        if (head.get(b"expect") or b"").lower() == b"100-continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = b""
        if b"chunked" in head.tokens(b"transfer-encoding"):
            body = await _read_chunked(reader, _MAX_BODY)
        else:
            length = head.get(b"content-length")
            if length is not None:
                try:
                    n = int(length)
                except ValueError as exc:
                    raise _BadRequest(400) from exc
                if n > _MAX_BODY:
                    raise _BadRequest(413)
                body = await reader.readexactly(n) if n else b""

        skip = _HOP_BY_HOP | {b"content-length", b"expect", b"x-forwarded-for", b"x-real-ip"}
        lines = [b"%s HTTP/1.1" % b" ".join(parts[:2])]
        lines += [k + b": " + v for k, v in head.headers if k.lower() not in skip]
        forwarded = head.get(b"x-forwarded-for")
        lines.append(b"X-Forwarded-For: " + (forwarded + b", " + client_ip if forwarded else client_ip))
        lines.append(b"X-Real-IP: " + client_ip)
        if body or method in (b"POST", b"PUT", b"PATCH"):
            lines.append(b"Content-Length: %d" % len(body))
        request = b"\r\n".join(lines) + b"\r\n\r\n" + body

        backend = self._pick(key)
        if backend is None:
            writer.write(_simple_response(503, close=not keep))
            await writer.drain()
            return keep
        try:
            return await self._exchange(backend, request, is_head=method == b"HEAD", keep=keep, client=writer)
        except _UpstreamFailed as exc:
            self.log.debug("upstream failed", route=key, backend=f"{backend.ip}:{backend.port}", error=str(exc))
            writer.write(_simple_response(exc.status, close=not keep))
            await writer.drain()
            return keep

    # -- the upstream side -------------------------------------------------------------------

    async def _connect(self, backend: Backend) -> tuple[Conn, bool]:
        """A pooled connection (False) or a new one (True)."""
        pool = self._pools.get((backend.ip, backend.port))
        while pool:
            reader, writer = pool.pop()
            if not reader.at_eof() and not writer.is_closing():
                return (reader, writer), False
            writer.close()
        try:
            conn = await asyncio.wait_for(
                asyncio.open_connection(backend.ip, backend.port, limit=_MAX_HEAD), self.connect_timeout
            )
        except TimeoutError as exc:
            raise _UpstreamFailed(504, "connect timed out", fresh=True) from exc
        except OSError as exc:
            raise _UpstreamFailed(502, f"connect: {exc}", fresh=True) from exc
        _nodelay(conn[1])
        return conn, True

    async def _exchange(
        self, backend: Backend, request: bytes, *, is_head: bool, keep: bool, client: asyncio.StreamWriter
    ) -> bool:
        for _attempt in range(2):
            (up_r, up_w), fresh = await self._connect(backend)
            try:
                up_w.write(request)
                await up_w.drain()
                raw = await self._read_response_head(up_r)
            except TimeoutError as exc:  # before OSError, its base class
                up_w.close()
                raise _UpstreamFailed(504, "response timed out", fresh=fresh) from exc
            except asyncio.LimitOverrunError as exc:
                up_w.close()
                raise _UpstreamFailed(502, "response head too large", fresh=fresh) from exc
            except (ConnectionError, asyncio.IncompleteReadError, OSError) as exc:
                up_w.close()
                if fresh:
                    raise _UpstreamFailed(502, f"no response: {exc!r}", fresh=True) from exc
                if not self.retry_stale_connections:
                    raise _UpstreamFailed(502, f"stale pooled connection: {exc!r}", fresh=False) from exc
                continue  # a pooled connection the pod had closed: once more on a fresh one
            return await self._relay(backend, raw=raw, up_r=up_r, up_w=up_w, is_head=is_head, keep=keep, client=client)
        raise _UpstreamFailed(502, "pooled connections all closed", fresh=False)

    async def _read_response_head(self, reader: asyncio.StreamReader) -> bytes:
        while True:
            raw = await _within(self.read_timeout, reader.readuntil(b"\r\n\r\n"))
            if not raw.startswith(b"HTTP/1.1 1") and not raw.startswith(b"HTTP/1.0 1"):
                return raw
            # 1xx informational: nginx swallows them (but 101 is not supported here).

    async def _relay(
        self,
        backend: Backend,
        *,
        raw: bytes,
        up_r: asyncio.StreamReader,
        up_w: asyncio.StreamWriter,
        is_head: bool,
        keep: bool,
        client: asyncio.StreamWriter,
    ) -> bool:
        head = _parse_head(raw[:-4])
        status_parts = head.first.split(b" ", 2)
        try:
            status = int(status_parts[1])
        except (IndexError, ValueError) as exc:
            up_w.close()
            raise _UpstreamFailed(502, "malformed status line", fresh=False) from exc
        up_version = status_parts[0]
        up_keep = (b"close" not in head.tokens(b"connection")) and up_version == b"HTTP/1.1"
        chunked = b"chunked" in head.tokens(b"transfer-encoding")
        length_raw = head.get(b"content-length")
        no_body = is_head or status in (204, 304)
        length = int(length_raw) if length_raw is not None and length_raw.isdigit() else None
        until_close = not no_body and not chunked and length is None
        if until_close:
            keep = False
            up_keep = False

        reason = status_parts[2] if len(status_parts) > 2 else b""
        lines = [b"HTTP/1.1 %d %s" % (status, reason)]
        lines += [k + b": " + v for k, v in head.headers if k.lower() not in _HOP_BY_HOP]
        if chunked and not no_body:
            lines.append(b"Transfer-Encoding: chunked")
        lines.append(b"Connection: keep-alive" if keep else b"Connection: close")
        client.write(b"\r\n".join(lines) + b"\r\n\r\n")

        # From here the client has a status line: an upstream failure can only cut the connection.
        try:
            if no_body:
                pass
            elif chunked:
                await self._copy_chunked(up_r, client)
            elif length is not None:
                remaining = length
                while remaining:
                    data = await _within(self.read_timeout, up_r.read(min(remaining, _CHUNK)))
                    if not data:
                        raise asyncio.IncompleteReadError(b"", remaining)  # noqa: TRY301 — handled as a short read below
                    client.write(data)
                    remaining -= len(data)
                    await client.drain()
            else:
                while data := await _within(self.read_timeout, up_r.read(_CHUNK)):
                    client.write(data)
                    await client.drain()
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            up_w.close()
            client.transport.abort()
            return False
        await client.drain()
        if up_keep:
            pool = self._pools.setdefault((backend.ip, backend.port), [])
            if len(pool) < self.pool_size:
                pool.append((up_r, up_w))
            else:
                up_w.close()
        else:
            up_w.close()
        return keep

    async def _copy_chunked(self, up_r: asyncio.StreamReader, client: asyncio.StreamWriter) -> None:
        while True:
            line = await _within(self.read_timeout, up_r.readuntil(b"\r\n"))
            client.write(line)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError as exc:
                raise ConnectionError("malformed chunk size from upstream") from exc
            if size == 0:
                while True:
                    trailer = await _within(self.read_timeout, up_r.readuntil(b"\r\n"))
                    client.write(trailer)
                    if trailer == b"\r\n":
                        return
            client.write(await _within(self.read_timeout, up_r.readexactly(size + 2)))
            await client.drain()
