"""The kubelet API the API server proxies to: `GET /containerLogs/{namespace}/{pod}/{container}`.

HTTPS on 127.0.0.1 only, with a serving certificate (given, or a self-signed one made with
`openssl` — the API server verifies it only when started with `--kubelet-certificate-authority`).
Every request must present a client certificate signed by the cluster's CA (the API server's
`--kubelet-client-certificate`); anything else is refused in the TLS handshake. That is the whole
authorization: the API server has already authorized the user's `pods/log` request.

Query parameters, as the real kubelet reads them: `follow` (keep streaming until the container
stops), `tailLines`, `timestamps` (each line prefixed with the RFC 3339 time the kubelet read it),
`limitBytes`, `sinceSeconds`, `sinceTime`, `previous` (the instance before the last restart).
Which instance is read, and the refusals, are `kubelet/logs.py`'s — the same the embedded API
server serves.
"""

from __future__ import annotations

import ssl
import subprocess
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from nonstop.sandbox.kubelet.logs import LogError, LogInstance, LogOptions, stream_log

__all__ = ["KubeletServer", "LogLocator", "self_signed_certificate"]

LogLocator = Callable[..., tuple[LogInstance, Callable[[], bool]] | None]
"""(namespace, pod, container, previous=) -> (its log, "does that instance still run?"), or None
(no log); LogError when refused. `Kubelet.container_log`."""


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


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _error(self, code: int, message: str) -> None:
        """Plain text, as the real kubelet answers (the API server makes it the Status message)."""
        data = message.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
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
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        try:
            options = LogOptions.parse(query)
            found = self.server.locate(namespace, pod, container, previous=options.previous)
        except ValueError as exc:
            self._error(400, str(exc))
            return
        except LogError as exc:
            self._error(exc.code, exc.message)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def write(out: bytes) -> None:
            self.wfile.write(f"{len(out):x}\r\n".encode() + out + b"\r\n")
            self.wfile.flush()

        try:
            if found is not None:
                instance, running = found
                stream_log(instance, options, write, still_running=running)
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            self.close_connection = True


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
