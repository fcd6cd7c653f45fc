"""Settle: before the baseline, every ready endpoint answers and the Service answers a run of requests.

An app that reports Ready before it listens would otherwise break the baseline and be blamed on
the rollout. Settling gives it `settleSeconds` to come good; past that the drill stops (exit 2).
"""

from __future__ import annotations

import http.client
import threading
import time
from urllib.parse import urlsplit

from nonstop.drill.observe import Observer
from nonstop.drill.prober import probe_once
from nonstop.drill.target import Target
from nonstop.errors import DrillAborted

__all__ = ["settle"]

IN_A_ROW = 10
MIN_READ_TIMEOUT = 2.0
"""Settling asks whether the app answers at all; a load timeout shorter than this is the baseline's to judge."""


def _service_answers(url: str, path: str, read_timeout: float) -> str | None:
    """One request on a new connection; None when it answered below 400, else why not."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port or 80, timeout=read_timeout)
    try:
        conn.request("GET", path, headers={"User-Agent": "nonstop-settle", "Connection": "close"})
        status = conn.getresponse().status
    except OSError as exc:
        return f"{exc.__class__.__name__}: {exc}"
    except http.client.HTTPException as exc:
        return f"{exc.__class__.__name__}"
    finally:
        conn.close()
    return None if status < 400 else f"HTTP {status}"


def settle(
    observer: Observer,
    *,
    target: Target,
    url: str,
    path: str,
    probe_path: str,
    read_timeout: float,
    timeout: float,
    interrupted: threading.Event,
) -> float:
    """Wait until the Service is steady; returns the seconds it took, or raises DrillAborted (exit 2).

    Each ready endpoint is asked `probe_path` directly, the Service `path`; an answer may take up to
    `read_timeout` seconds (`load.timeoutSeconds`: what the load itself accepts), and at least
    `MIN_READ_TIMEOUT` — a slow but answering app is settled, and the baseline then says it is too slow.
    """
    read_timeout = max(read_timeout, MIN_READ_TIMEOUT)
    started = time.monotonic()
    why = "no ready endpoint yet"
    while not interrupted.is_set():
        ready = observer.ready_endpoints()
        why = "" if ready else f"Service {target.namespace}/{target.service['metadata']['name']} has no ready endpoint"
        for pod in ready:
            port = target.pod_port()
            if pod.ip and port:
                failure = probe_once(pod.ip, port, probe_path, connect_timeout=1.0, read_timeout=read_timeout)
                if failure:
                    why = f"ready endpoint {pod.name} ({pod.ip}:{port}) does not answer: {failure}"
                    break
        if not why:
            for _ in range(IN_A_ROW):
                failure = _service_answers(url, path, read_timeout)
                if failure:
                    why = f"the Service at {url} failed a request: {failure}"
                    break
        if not why:
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise DrillAborted(
                f"the target did not settle within spec.load.settleSeconds ({timeout:g} s): {why}; nothing was changed"
            )
        observer.wait_for_change(0.2)
    raise DrillAborted("interrupted before the rollout started; nothing was changed")
