"""The kubelet API the API server proxies to: `GET /containerLogs/{namespace}/{pod}/{container}`.

HTTPS on 127.0.0.1 only, with a serving certificate (given, or a self-signed one made with
`openssl` — the API server verifies it only when started with `--kubelet-certificate-authority`).
Every request must present a client certificate signed by the cluster's CA (the API server's
`--kubelet-client-certificate`); anything else is refused in the TLS handshake. That is the whole
authorization: the API server has already authorized the user's `pods/log` request.

Query parameters, as the real kubelet reads them: `follow` (keep streaming until the container
stops), `tailLines`, `timestamps` (each line prefixed with the RFC 3339 time the kubelet read it),
`limitBytes`, `sinceSeconds`. `previous` is answered 400: the sandbox keeps one log per container,
restarts appended.

Log files hold one line per output line, `<RFC 3339 nano time> <line>`; the kubelet writes them
(`ContainerRunner`) when it runs with `timestamped_logs`.
"""

from __future__ import annotations

import json
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

__all__ = ["KubeletServer", "LogLocator", "self_signed_certificate"]

LogLocator = Callable[[str, str, str], tuple[Path | None, Callable[[], bool]]]
"""(namespace, pod, container) -> (its log file or None, "is the container still running?")."""


def self_signed_certificate(directory: Path, *, name: str) -> tuple[Path, Path]:
    """A serving certificate for 127.0.0.1/localhost/`name` (openssl, 1 year); returns (cert, key)."""
    cert, key = directory / "kubelet.crt", directory / "kubelet.key"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "365",
            "-keyout", str(key), "-out", str(cert), "-subj", f"/CN={name}",
            "-addext", f"subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:{name}",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    key.chmod(0o600)
    return cert, key


def _flag(query: dict[str, list[str]], name: str) -> bool:
    return (query.get(name) or ["false"])[-1].lower() in ("true", "1")


def _int(query: dict[str, list[str]], name: str) -> int | None:
    values = query.get(name)
    if not values:
        return None
    value = values[-1]
    number = int(value)
    if number < 0:
        raise ValueError(f"{name} must be ≥ 0")
    return number


def _parse_line(raw: bytes) -> tuple[str, bytes]:
    stamp, _, line = raw.partition(b" ")
    return stamp.decode(errors="replace"), line


def _since_ok(stamp: str, since: datetime | None) -> bool:
    if since is None:
        return True
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")[:26] + "+00:00") >= since
    except ValueError:
        return True


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _error(self, code: int, message: str) -> None:
        body = json.dumps({"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message, "code": code})
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        parts = [unquote(p) for p in url.path.strip("/").split("/")]
        if parts == ["healthz"]:
            data = b"ok"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        if len(parts) != 4 or parts[0] != "containerLogs":
            self._error(404, f"the sandbox kubelet serves /containerLogs/<namespace>/<pod>/<container>, not {url.path}")
            return
        _, namespace, pod, container = parts
        query = parse_qs(url.query)
        try:
            tail = _int(query, "tailLines")
            limit = _int(query, "limitBytes")
            since_seconds = _int(query, "sinceSeconds")
        except ValueError as exc:
            self._error(400, str(exc))
            return
        if _flag(query, "previous"):
            self._error(400, f'previous terminated container "{container}" in pod "{pod}" not found')
            return
        path, running = self.server.locate(namespace, pod, container)
        if path is None:
            self._error(404, f'container "{container}" in pod "{pod}" (namespace {namespace}) is not on this node')
            return
        since = datetime.now(UTC) - timedelta(seconds=since_seconds) if since_seconds is not None else None
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        budget = [limit]

        def send(raw: bytes) -> bool:
            stamp, line = _parse_line(raw)
            if not _since_ok(stamp, since):
                return True
            out = (stamp.encode() + b" " + line) if _flag(query, "timestamps") else line
            if budget[0] is not None:
                out = out[: budget[0]]
                budget[0] -= len(out)
            if out:
                self.wfile.write(f"{len(out):x}\r\n".encode() + out + b"\r\n")
                self.wfile.flush()
            return budget[0] is None or budget[0] > 0

        try:
            for raw in _lines(path, tail=tail, follow=_flag(query, "follow"), running=running):
                if not send(raw):
                    break
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            self.close_connection = True


def _lines(path: Path, *, tail: int | None, follow: bool, running: Callable[[], bool]) -> Iterator[bytes]:
    """Whole lines of the log (the last `tail` of them), then, with `follow`, new ones until it stops."""
    with path.open("rb") as log:
        lines = log.readlines()
        partial = lines.pop() if lines and not lines[-1].endswith(b"\n") else b""
        yield from lines[-tail:] if tail is not None else lines
        if not follow:
            if partial:
                yield partial
            return
        while True:
            chunk = log.readline()
            if chunk:
                partial += chunk
                if partial.endswith(b"\n"):
                    yield partial
                    partial = b""
                continue
            if not running():
                rest = log.read()
                if partial + rest:
                    yield partial + rest
                return
            time.sleep(0.1)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    locate: LogLocator


class KubeletServer:
    """The HTTPS kubelet API on 127.0.0.1:`port` (0: a free port), client certificates required."""

    def __init__(self, *, locate: LogLocator, cert: Path, key: Path, client_ca: Path, port: int = 0) -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(str(cert), str(key))
        context.load_verify_locations(cafile=str(client_ca))
        context.verify_mode = ssl.CERT_REQUIRED
        self._httpd = _Server(("127.0.0.1", port), _Handler)
        self._httpd.locate = locate
        self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
        self.port = int(self._httpd.server_address[1])
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="kubelet-api", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
