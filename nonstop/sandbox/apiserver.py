"""The sandbox's Kubernetes API over HTTP/1.1 (K8S-SEMANTICS.md §6, §6a).

A `ThreadingHTTPServer` on 127.0.0.1 (a random free port by default; `apiwire.py`). Each request
is authenticated (`auth.py`), passed through the fault plan (`faults.py`), served by what its path
names, and recorded in the request log (`requestlog.py`) before its answer leaves:

    /version /healthz /readyz /livez /api /apis /openapi/...     `nonresource.py`
    /api/v1/... /apis/<g>/<v>/...     resources, routed by `apiroute.py`, served by `resources.py`
    /sandbox.nonstop.dev/{requests,faults,access,expire-history}  admin, for tests (`apiadmin.py`)

Watches are chunked newline-delimited JSON, driven by the store's condition variable (no polling):
a write reaches every watcher within milliseconds. Errors answer as Kubernetes `Status` objects.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any
from urllib.parse import parse_qs, urlsplit

import structlog

from nonstop.sandbox.apiadmin import ADMIN_PREFIX, serve_admin
from nonstop.sandbox.apierrors import ApiError
from nonstop.sandbox.apiroute import describe, route
from nonstop.sandbox.apiwire import Handler, Server
from nonstop.sandbox.auth import Auth
from nonstop.sandbox.faults import Faults
from nonstop.sandbox.nonresource import serve_non_resource
from nonstop.sandbox.podlogs import LogSource
from nonstop.sandbox.registry import Registry
from nonstop.sandbox.requestlog import RequestLog
from nonstop.sandbox.resources import ResourceVerbs

__all__ = ["ApiServer"]


class ApiServer:
    """The HTTP front of a `Registry`; `start()` binds and serves in a background thread."""

    def __init__(
        self,
        registry: Registry,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        auth: Auth | None = None,
        faults: Faults | None = None,
        request_log: RequestLog | None = None,
        bookmark_interval: float = 60.0,
        log: structlog.typing.FilteringBoundLogger | None = None,
    ) -> None:
        self.registry = registry
        self.store = registry.store
        self.auth = auth or Auth()
        self.faults = faults or Faults()
        self.requests = request_log or RequestLog()
        self.log = log or structlog.get_logger(component="sandbox-apiserver")
        self._host, self._port = host, port
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self.resources = ResourceVerbs(
            registry, self.faults, bookmark_interval=bookmark_interval, stopping=self._stopping
        )

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        self._server = Server((self._host, self._port), self.handle)
        self._port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.2}, name="sandbox-apiserver", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._server is None:
            return
        self._server.shutdown()
        self._server.drop_connections()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None

    @property
    def pod_logs(self) -> LogSource | None:
        """Where pods/log reads container output: the in-process kubelet's `container_log` (None: no kubelet)."""
        return self.resources.pod_logs

    @pod_logs.setter
    def pod_logs(self, source: LogSource | None) -> None:
        self.resources.pod_logs = source

    @property
    def open_watches(self) -> int:
        """Watch streams being served right now."""
        return self.resources.open_watches

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self._port}"

    # -- one request -----------------------------------------------------------------------------

    def handle(self, h: Handler, method: str) -> None:
        """Serve one request: authenticate, route, answer (errors as `Status`), record it."""
        split = urlsplit(h.path)
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        path = split.path.rstrip("/") or "/"
        info: dict[str, Any] = {
            "verb": method.lower(),
            "group": "",
            "resource": "",
            "subresource": "",
            "namespace": "",
            "name": "",
            "caller": h.headers.get("User-Agent", ""),
        }
        code = 500
        h.before_answer = lambda answer_code: self._log_once(info, answer_code)
        try:
            code = self._serve(h, method, path, query, info)
        except ApiError as exc:
            code = exc.code
            retry_after = getattr(exc, "retry_after", None)
            headers = {"Retry-After": str(int(retry_after))} if retry_after is not None else None
            h.send_json(exc.code, exc.status(), headers=headers)
        except (BrokenPipeError, ConnectionResetError):
            code = 499
            h.close_connection = True
        except Exception as exc:
            self.log.exception("request failed", path=h.path, method=method)
            code = 500
            if info.get("logged"):  # a watch stream already started: no status line to send, just close
                h.close_connection = True
                return
            with contextlib.suppress(OSError):
                h.send_json(500, ApiError(500, "InternalError", f"sandbox internal error: {exc}").status())
        finally:
            if not info.get("logged") and (info["resource"] or not path.startswith(ADMIN_PREFIX.rstrip("/"))):
                self._log(info, code, resource=info["resource"] or path, dry_run=bool(query.get("dryRun")))

    def _serve(self, h: Handler, method: str, path: str, query: dict[str, str], info: dict[str, Any]) -> int:
        body = h.read_body()
        if path.startswith(ADMIN_PREFIX.rstrip("/")):
            what = path[len(ADMIN_PREFIX) :]
            return serve_admin(
                h, method, what, query, body, registry=self.registry, faults=self.faults, requests=self.requests
            )
        req = route(path) if path.startswith(("/api/", "/apis/")) else None
        if req is not None:
            info.update(describe(method, req, query))
            info["dry_run"] = bool(query.get("dryRun"))
        token = self.auth.check(h.headers.get("Authorization"), verb=info["verb"], resource=info["resource"])
        info["token"] = token
        if token:
            info["caller"] = token
        if req is None:
            return serve_non_resource(h, method, path)
        self.faults.before_request(info["verb"], info["resource"], str(info.get("caller") or ""))
        return self.resources.serve(h, req, query=query, body=body, info=info)

    def _log_once(self, info: dict[str, Any], code: int) -> None:
        """Record a resource request as its answer is about to leave.

        A client that saw the answer and then asks for the log's mark must find the request before that mark.
        """
        if info["resource"] and not info.get("logged"):
            self._log(info, code, resource=info["resource"], dry_run=info.get("dry_run", False))
            info["logged"] = True

    def _log(self, info: dict[str, Any], code: int, *, resource: str, dry_run: bool) -> None:
        self.requests.add(
            caller=info["caller"],
            verb=info["verb"],
            group=info["group"],
            resource=resource,
            subresource=info["subresource"],
            namespace=info["namespace"],
            name=info["name"],
            code=code,
            dry_run=dry_run,
        )
