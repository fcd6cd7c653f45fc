"""Every call to the Kubernetes API goes through `call()`: one error tree, retries with backoff.

`ApiException`s and transport errors of the official client become `nonstop.errors` types that
name the object (`what`); transient ones (5xx, 429, timeouts, dropped connections) are retried
with exponential backoff and full jitter, honouring `Retry-After`, until `deadline` seconds
have passed.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

import urllib3
from kubernetes.client.exceptions import ApiException

from nonstop.errors import ClusterError, ForbiddenError, NotFoundError, TransientError
from nonstop.logs import get_logger

__all__ = ["RetryPolicy", "call", "translate"]

T = TypeVar("T")
log = get_logger("kube")

TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})


class RetryPolicy:
    """Backoff for transient errors: `base` doubling up to `cap` seconds, full jitter, within `deadline`."""

    def __init__(self, *, base: float = 0.1, cap: float = 2.0, deadline: float = 30.0) -> None:
        self.base = base
        self.cap = cap
        self.deadline = deadline

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.cap * 2)
        return random.uniform(0, min(self.cap, self.base * 2**attempt))


DEFAULT_RETRY = RetryPolicy()


def _message(exc: ApiException) -> str:
    body = getattr(exc, "body", None)
    if body:
        try:
            status = json.loads(body)
            if isinstance(status, dict) and status.get("message"):
                return str(status["message"])
        except (ValueError, TypeError):
            pass
    return str(exc.reason or "").strip() or f"HTTP {exc.status}"


def _retry_after(exc: ApiException) -> float | None:
    headers = getattr(exc, "headers", None) or {}
    value = headers.get("Retry-After") if hasattr(headers, "get") else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def translate(exc: Exception, what: str) -> ClusterError:
    """Our error for a client exception met while doing `what` (e.g. 'get Deployment default/web')."""
    if isinstance(exc, ApiException):
        status = exc.status or 0
        message = _message(exc)
        if status == 404:
            return NotFoundError(f"{what}: {message}", status=status, reason="NotFound")
        if status in (401, 403):
            return ForbiddenError(
                f"{what}: {message} (check the credentials and RBAC of the ServiceAccount/kubeconfig)",
                status=status,
                reason="Forbidden",
            )
        if status in TRANSIENT_STATUSES or status == 0:
            return TransientError(f"{what}: the API answered {status or 'nothing'} ({message})", status=status)
        return ClusterError(f"{what}: {message}", status=status, reason=str(exc.reason))
    if isinstance(exc, urllib3.exceptions.HTTPError | OSError | TimeoutError):
        return TransientError(f"{what}: the API server could not be reached ({exc.__class__.__name__}: {exc})")
    return ClusterError(f"{what}: unexpected client error ({exc.__class__.__name__}: {exc})")


def call(fn: Callable[..., T], *args: Any, what: str, retry: RetryPolicy = DEFAULT_RETRY, **kwargs: Any) -> T:
    """Call a client method; retry transient failures with backoff and jitter; raise our errors."""
    started = time.monotonic()
    attempt = 0
    while True:
        try:
            return fn(*args, **kwargs)
        except (ApiException, urllib3.exceptions.HTTPError, OSError) as exc:
            error = translate(exc, what)
            elapsed = time.monotonic() - started
            if not isinstance(error, TransientError) or elapsed >= retry.deadline:
                raise error from exc
            pause = retry.delay(attempt, _retry_after(exc) if isinstance(exc, ApiException) else None)
            pause = min(pause, max(0.0, retry.deadline - elapsed))
            log.debug("retrying after a transient API error", what=what, attempt=attempt + 1, pause=round(pause, 3))
            time.sleep(pause)
            attempt += 1
