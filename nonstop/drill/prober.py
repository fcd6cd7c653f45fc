"""Direct probes of terminating pods: when did each one really stop accepting connections?

For each pod handed to `Prober.watch`, a thread opens a **new** connection to podIP:port every
`interval` seconds and sends `GET path`. The pod is called stopped at the first attempt that is
refused or reset, whose connect does not complete within `connect_timeout` (pod IPs on real
clusters time out rather than refuse), or that answers 5xx. A slow answer is not a stop. The time
recorded is the failed attempt's start: the pod stopped at or before it, so ordering is never
judged in the pod's favour.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

__all__ = ["Prober", "probe_once"]


def probe_once(ip: str, port: int, path: str, *, connect_timeout: float, read_timeout: float) -> str | None:
    """One probe; None when the pod answered (any status below 500 or a slow answer), else why it failed."""
    try:
        sock = socket.create_connection((ip, port), timeout=connect_timeout)
    except ConnectionRefusedError:
        return "refused"
    except TimeoutError:
        return "connect timeout"
    except ConnectionResetError:
        return "reset"
    except OSError as exc:
        return f"connect error: {exc.strerror or exc}"
    with sock:
        try:
            sock.settimeout(read_timeout)
            request = (
                f"GET {path} HTTP/1.1\r\nHost: {ip}:{port}\r\nUser-Agent: nonstop-prober\r\nConnection: close\r\n\r\n"
            )
            sock.sendall(request.encode("ascii"))
            head = sock.recv(64)
        except TimeoutError:
            return None  # slow is not stopped
        except ConnectionResetError:
            return "reset"
        except OSError as exc:
            return f"error: {exc.strerror or exc}"
        if not head:
            return "closed without answering"
        parts = head.split(b" ", 2)
        if len(parts) >= 2 and parts[1][:1] == b"5":
            return f"HTTP {parts[1].decode('ascii', 'replace')}"
        return None


class Prober:
    """Probes pods until each stops accepting (reported through `on_stop`) or `forget` is called."""

    def __init__(
        self,
        *,
        on_stop: Callable[[str, float, str], None],
        interval: float = 0.05,
        connect_timeout: float = 0.2,
        read_timeout: float = 2.0,
    ) -> None:
        self._on_stop = on_stop
        self._interval = interval
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._stop = threading.Event()
        self._threads: dict[str, threading.Thread] = {}
        self._done: set[str] = set()
        self._lock = threading.Lock()
        self.attempts = 0

    def watch(self, pod: str, ip: str, port: int, path: str) -> None:
        """Start probing `pod` at ip:port (idempotent)."""
        with self._lock:
            if pod in self._threads or self._stop.is_set():
                return
            thread = threading.Thread(target=self._run, args=(pod, ip, port, path), name=f"probe {pod}", daemon=True)
            self._threads[pod] = thread
        thread.start()

    def forget(self, pod: str) -> None:
        """Stop probing `pod` (it exited)."""
        with self._lock:
            self._done.add(pod)

    def stop(self) -> None:
        self._stop.set()
        for thread in list(self._threads.values()):
            thread.join(timeout=self._read_timeout + 1)

    def _run(self, pod: str, ip: str, port: int, path: str) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            with self._lock:
                if pod in self._done:
                    return
            started = time.time()
            failure = probe_once(ip, port, path, connect_timeout=self._connect_timeout, read_timeout=self._read_timeout)
            self.attempts += 1
            if failure is not None:
                self._on_stop(pod, started, failure)
                return
            next_at += self._interval
            self._stop.wait(max(0.0, next_at - time.monotonic()))
