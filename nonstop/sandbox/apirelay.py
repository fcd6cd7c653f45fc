"""`ApiRelay`: the `kubernetes` Service's ClusterIP inside the node's pod network namespace, relayed to the API server.

A pod reaches its API server at `KUBERNETES_SERVICE_HOST:KUBERNETES_SERVICE_PORT`, the
`default/kubernetes` Service's ClusterIP (127.20.0.1:443 on the real control plane). Inside the
pod network namespace (`nonstop.sandbox.podnet`) that loopback address is the namespace's own and
nothing answers there, and the apiserver (advertising 127.0.0.1) writes no endpoints for its
Service that the data plane could forward to. So the node opens one listening socket *inside* the
namespace — a short-lived thread enters it with `setns`, creates, binds and listens, and leaves;
the socket stays in the namespace it was created in — and serves it from an event loop on the
host: every connection is spliced byte for byte to the apiserver on 127.0.0.1. TLS passes
through untouched: the client verifies the apiserver's own certificate (its SANs include the
first ClusterIP) and authenticates with its own token or certificate.

Only the ClusterIP:443 inside the namespace is opened; nothing listens on the host for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import socket
import threading
from typing import Any

import structlog

from nonstop.errors import ApiRelayError

__all__ = ["ApiRelay", "socket_in_netns"]

CLONE_NEWNET = 0x40000000
_CHUNK = 65536

_libc: Any = None
with contextlib.suppress(OSError):
    _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def socket_in_netns(netns_fd: int, host: str, port: int, *, backlog: int = 128) -> socket.socket:
    """A TCP socket listening on host:port inside the network namespace of `netns_fd`.

    The calling thread is never moved: a helper thread enters the namespace, opens the socket and
    ends (a thread that changed namespace is not reused).
    """
    result: list[socket.socket | BaseException] = []

    def open_inside() -> None:
        try:
            if _libc is None or _libc.setns(netns_fd, CLONE_NEWNET) != 0:
                raise ApiRelayError(f"cannot enter the pod network namespace (errno {ctypes.get_errno()})")  # noqa: TRY301 — the except below hands it to the caller's thread
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind((host, port))
                sock.listen(backlog)
                sock.setblocking(False)
            except OSError:
                sock.close()
                raise
            result.append(sock)
        except BaseException as exc:  # noqa: BLE001 — handed to the caller's thread, which raises it
            result.append(exc)

    thread = threading.Thread(target=open_inside, name="netns-socket", daemon=True)
    thread.start()
    thread.join()
    outcome = result[0]
    if isinstance(outcome, OSError):
        raise ApiRelayError(f"cannot listen on {host}:{port} in the pod network namespace: {outcome}") from outcome
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


class ApiRelay:
    """Serve `listen` (inside the namespace of `netns_fd`) by relaying each connection to `upstream` (host side)."""

    def __init__(
        self,
        *,
        netns_fd: int,
        listen: tuple[str, int],
        upstream: tuple[str, int],
        log: structlog.typing.FilteringBoundLogger,
    ) -> None:
        self.netns_fd = netns_fd
        self.listen = listen
        self.upstream = upstream
        self.log = log
        self.connections = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self) -> ApiRelay:
        sock = socket_in_netns(self.netns_fd, *self.listen)
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)

            async def serve() -> None:
                self._server = await asyncio.start_server(self._handle, sock=sock)
                ready.set()

            loop.run_until_complete(serve())
            loop.run_forever()
            loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=run, name="api-relay", daemon=True)
        self._thread.start()
        ready.wait(timeout=10)
        self.log.info(
            "api relay listening",
            address=f"{self.listen[0]}:{self.listen[1]}",
            upstream=f"{self.upstream[0]}:{self.upstream[1]}",
            where="pod network namespace",
        )
        return self

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        self.connections += 1
        try:
            try:
                up_r, up_w = await asyncio.open_connection(*self.upstream)
            except OSError as exc:
                self.log.warning("api relay: upstream refused", error=str(exc))
                return
            try:
                await asyncio.gather(_pipe(reader, up_w), _pipe(up_r, writer))
            finally:
                up_w.close()
        finally:
            writer.close()
            if task is not None:
                self._tasks.discard(task)

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return

        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            loop.stop()

        asyncio.run_coroutine_threadsafe(shutdown(), loop)
        thread.join(timeout=10)
        self._loop = self._thread = None


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (OSError, asyncio.IncompleteReadError):
        writer.close()
