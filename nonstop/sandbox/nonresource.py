"""The API server's non-resource paths: version, health, discovery and OpenAPI.

    /version /healthz /readyz /livez                       plain answers
    /api  /apis  /api/v1  /apis/<g>  /apis/<g>/<v>         discovery (`discovery.py`)
    /openapi/v2  /openapi/v3  /openapi/v3/<path>           OpenAPI documents (`openapi/`)

Any other path, or a method other than GET, answers 404.
"""

from __future__ import annotations

from nonstop.sandbox import discovery, openapi
from nonstop.sandbox.apierrors import ApiError
from nonstop.sandbox.apiwire import Handler, dump
from nonstop.sandbox.store import Obj

__all__ = ["serve_non_resource"]


def _not_found() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource")


def serve_non_resource(h: Handler, method: str, path: str) -> int:
    """Answer a non-resource request; the HTTP code."""
    answer: Obj | None = None
    if method == "GET":
        parts = [p for p in path.split("/") if p]
        if path == "/version":
            answer = discovery.version()
        elif path in ("/healthz", "/readyz", "/livez"):
            h.send_bytes(200, b"ok", [("Content-Type", "text/plain; charset=utf-8")])
            return 200
        elif path == "/api":
            answer = discovery.api_versions()
        elif path == "/apis":
            answer = discovery.api_group_list()
        elif parts[:1] == ["api"] and len(parts) == 2:
            answer = discovery.resource_list("", parts[1])
        elif parts[:1] == ["apis"] and len(parts) == 2:
            answer = discovery.api_group(parts[1])
        elif parts[:1] == ["apis"] and len(parts) == 3:
            answer = discovery.resource_list(parts[1], parts[2])
        elif parts[:1] == ["openapi"]:
            return _openapi(h, path)
    if answer is None:
        raise _not_found()
    h.send_json(200, answer)
    return 200


def _openapi(h: Handler, path: str) -> int:
    accept = h.headers.get("Accept") or ""
    if path == "/openapi/v3":
        data: bytes | None = dump(openapi.index_v3())
    elif path == "/openapi/v2":
        data = openapi.document_v2()
    else:
        data = openapi.document_v3(path.removeprefix("/openapi/v3/"))
    if data is None:
        raise _not_found()
    if accept and not any(t in accept for t in ("application/json", "*/*")):
        raise ApiError(406, "NotAcceptable", f"only application/json is served here, not {accept}")
    cache = "no-cache, private" if "hash=" not in (h.path or "") else "public, immutable"
    h.send_bytes(200, data, [("Content-Type", "application/json"), ("Cache-Control", cache)])
    return 200
