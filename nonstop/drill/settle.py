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


def _service_answers(url: str, path: str) -> str | None:
    """One request on a new connection; None when it answered below 400, else why not."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port or 80, timeout=2)
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
    observer: Observer, *, target: Target, url: str, path: str, timeout: float, interrupted: threading.Event
) -> float:
    """Wait until the Service is steady; returns the seconds it took, or raises DrillAborted (exit 2)."""
    started = time.monotonic()
    why = "no ready endpoint yet"
    while not interrupted.is_set():
        ready = observer.ready_endpoints()
        why = "" if ready else f"Service {target.namespace}/{target.service['metadata']['name']} has no ready endpoint"
        for pod in ready:
            port = target.pod_port()
            if pod.ip and port:
                failure = probe_once(pod.ip, port, path, connect_timeout=1.0, read_timeout=2.0)
                if failure:
                    why = f"ready endpoint {pod.name} ({pod.ip}:{port}) does not answer: {failure}"
                    break
        if not why:
            for _ in range(IN_A_ROW):
                failure = _service_answers(url, path)
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
