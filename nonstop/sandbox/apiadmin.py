"""The sandbox's own admin endpoints under `/sandbox.nonstop.dev/`, for tests and drills.

GET  requests?since=<mark>   the request log after a mark, and the mark now
POST faults                  a fault plan (`faults.py`)
POST access                  deny verb/resource pairs to access reviews, or allow all again
POST expire-history          forget the watch history before a resourceVersion (as a compaction)
"""

from __future__ import annotations

from typing import Any

from nonstop.sandbox.apierrors import ApiError
from nonstop.sandbox.apiwire import Handler
from nonstop.sandbox.faults import FaultPlan, FaultPlanError, Faults
from nonstop.sandbox.registry import Registry
from nonstop.sandbox.requestlog import RequestLog

__all__ = ["ADMIN_PREFIX", "serve_admin"]

ADMIN_PREFIX = "/sandbox.nonstop.dev/"


def serve_admin(
    h: Handler,
    method: str,
    what: str,
    query: dict[str, str],
    body: Any,
    *,
    registry: Registry,
    faults: Faults,
    requests: RequestLog,
) -> int:
    """Answer `<method> /sandbox.nonstop.dev/<what>`; the HTTP code."""
    body = body or {}
    if what == "requests" and method == "GET":
        since = int(query.get("since") or 0)
        h.send_json(200, {"mark": requests.mark(), "items": requests.since(since)})
    elif what == "faults" and method == "POST":
        try:
            plan = FaultPlan.parse(body)
        except FaultPlanError as exc:
            raise ApiError(400, "BadRequest", str(exc)) from exc
        faults.set(plan)
        h.send_json(200, {"ok": True})
    elif what == "access" and method == "POST":
        if body.get("allowAll"):
            registry.access.allow_all()
        for verb, resource in body.get("deny") or []:
            registry.access.deny(str(verb), str(resource))
        h.send_json(200, {"denied": registry.access.snapshot()})
    elif what == "expire-history" and method == "POST":
        rv = int(body.get("resourceVersion") or registry.store.resource_version)
        registry.store.expire_history_before(rv)
        h.send_json(200, {"expiredThrough": rv})
    else:
        raise ApiError(404, "NotFound", f"no sandbox admin endpoint {method} {what}")
    return 200
