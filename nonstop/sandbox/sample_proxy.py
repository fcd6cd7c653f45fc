"""The sample app's sidecar proxy mode (`PROXY_UPSTREAM_PORT`): forward requests to the pod's app container.

`sample_app.py` serves the downstream side (listener, keep-alive, SIGTERM, draining, `WORKER_THREADS`)
and hands each request to an `Upstream`, one per downstream connection, as an Envoy sidecar keeps a
connection pool to its local app. Standard library only and importing nothing from the app, so the
container image runs both files as they are (config/sample-app/Dockerfile).

- The upstream connection is kept alive between requests. Before it is reused it is checked: if the
  app closed it (or sent bytes nobody asked for) it is replaced first, as Envoy drops a pooled
  connection when it sees the close. A request that then fails is not retried.
- Errors become the proxy's own answers: the app refuses the connection → 503; the connection breaks
  (or `timeout` passes) before a whole response arrived → 502.
- Request headers go upstream except hop-by-hop ones; `Content-Type`, `X-Pod-Name` and `X-Version`
  come back from the app's response.
"""

from __future__ import annotations

import http.client
import select

__all__ = ["Upstream"]

_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "content-length"}
)
_PASSED_BACK = ("Content-Type", "X-Pod-Name", "X-Version")


class Upstream:
    """One downstream connection's keep-alive link to the app at `host:port`."""

    def __init__(self, host: str, port: int, *, timeout: float = 60.0) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self._conn: http.client.HTTPConnection | None = None

    def forward(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, bytes, dict[str, str]]:
        """Send one request to the app; its status, body and passed-back headers, or the proxy's error answer."""
        conn = self._connection()
        if conn.sock is None:
            try:
                conn.connect()
            except OSError as exc:
                self.close()
                return 503, f"upstream connect error: {exc}\n".encode(), {}
        sent = {name: value for name, value in headers.items() if name not in _HOP_BY_HOP}
        try:
            conn.request(method, target, body=body or None, headers=sent)
            response = conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            return 502, f"upstream connection broke before a whole response: {type(exc).__name__}\n".encode(), {}
        passed = {name: value for name in _PASSED_BACK if (value := response.getheader(name)) is not None}
        return response.status, data, passed

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is not None and self._conn.sock is not None:
            poller = select.poll()
            poller.register(self._conn.sock, select.POLLIN)
            if poller.poll(0):  # closed by the app (EOF) or out of step: never reuse it
                self.close()
        if self._conn is None:
            self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        return self._conn

    def close(self) -> None:
        """Close the upstream connection (the next request opens a new one)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
