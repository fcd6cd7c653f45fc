"""Loopback servers for the load tests, run as a subprocess: `python load_server.py MODE [ARG]`.

Modes: `ok` (200, `X-Pod-Name: $POD_NAME`), `status CODE`, `sleep SECONDS` (answers 200 after
that long), `trickle SECONDS` (a 200 whose 5-byte body arrives one byte per SECONDS), `reset`
(accepts, reads the request, answers with a TCP RST), `stale N` (each connection answers N requests,
then closes without answering the next one — a kept-alive connection gone stale under the client;
`X-Pod-Name` is `$POD_NAME-<connection number>`). Binds 127.0.0.1 on a free port (or `$PORT`)
and prints `listening <port>` once it accepts. `GET /__stats` answers
`{"connections": n, "requests": n}` counted since start (itself excluded).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODE = sys.argv[1]
ARG = sys.argv[2] if len(sys.argv) > 2 else ""
POD_NAME = os.environ.get("POD_NAME", "pod-a")
COUNTS = {"connections": 0, "requests": 0}
LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        with LOCK:
            COUNTS["connections"] += 1
            self.connection_number = COUNTS["connections"]
        self.answered = 0

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.do_GET()

    def do_GET(self) -> None:
        if self.path == "/__stats":
            with LOCK:
                COUNTS["connections"] -= 1
                body = json.dumps(COUNTS).encode()
            self.close_connection = True
            self._answer(200, body)
            return
        with LOCK:
            COUNTS["requests"] += 1
        if MODE == "stale" and self.answered >= int(ARG):
            self.close_connection = True  # no answer: the client sees the connection close first
            return
        self.answered += 1
        if MODE == "sleep":
            time.sleep(float(ARG))
        if MODE == "trickle":
            self._trickle(float(ARG))
            return
        status = int(ARG) if MODE == "status" else 200
        self._answer(status, f"{POD_NAME}\n".encode())

    def _trickle(self, pause: float) -> None:
        self.send_response(200)
        self.send_header("X-Pod-Name", POD_NAME)
        self.send_header("Content-Length", "5")
        self.end_headers()
        self.wfile.flush()
        for byte in b"slow\n":
            time.sleep(pause)
            self.wfile.write(bytes([byte]))
            self.wfile.flush()

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        pod = f"{POD_NAME}-{self.connection_number}" if MODE == "stale" else POD_NAME
        self.send_header("X-Pod-Name", pod)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def serve_resets(port: int) -> None:
    listener = socket.create_server(("127.0.0.1", port), backlog=128)
    print(f"listening {listener.getsockname()[1]}", flush=True)
    while True:
        conn, _ = listener.accept()
        conn.settimeout(2)
        with contextlib.suppress(OSError):
            conn.recv(65536)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()


def main() -> None:
    port = int(os.environ.get("PORT", "0"))
    if MODE == "reset":
        serve_resets(port)
        return
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.request_queue_size = 512
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print(f"listening {server.server_address[1]}", flush=True)
    server.serve_forever(poll_interval=0.05)


if __name__ == "__main__":
    main()
