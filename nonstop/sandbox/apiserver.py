"""The sandbox's Kubernetes API over HTTP/1.1 (K8S-SEMANTICS.md §6, §6a).

A `ThreadingHTTPServer` on 127.0.0.1 (a random free port by default), one thread per connection,
keep-alive for urllib3 pools, TCP_NODELAY so small answers are not held back. Routes:

    /version /healthz /readyz /livez                       plain answers
    /api  /apis  /api/v1  /apis/<g>  /apis/<g>/<v>         discovery
    /api/v1/... /apis/<g>/<v>/...                          resources (see `_route`); pods/log (`podlogs.py`)
    /sandbox.nonstop.dev/{requests,faults,access,expire-history}   admin, for tests

Watches are chunked newline-delimited JSON, driven by the store's condition variable (no polling):
a write reaches every watcher within milliseconds. Bodies are never compressed.
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import structlog

from nonstop.sandbox import discovery, fieldvalidation, openapi, protobuf
from nonstop.sandbox.apierrors import ApiError, bad_request
from nonstop.sandbox.apply import is_apply, load_yaml, patch_options
from nonstop.sandbox.auth import Auth, review_self
from nonstop.sandbox.faults import FaultPlan, FaultPlanError, Faults
from nonstop.sandbox.kinds import Kind, by_resource
from nonstop.sandbox.managedfields import from_user_agent
from nonstop.sandbox.podlogs import LogSource, open_pod_log
from nonstop.sandbox.registry import Registry
from nonstop.sandbox.requestlog import RequestLog
from nonstop.sandbox.selectors import FieldSelector, LabelSelector, parse_field_selector, parse_label_selector
from nonstop.sandbox.store import Obj
from nonstop.sandbox.tables import table
from nonstop.sandbox.watch import TRUE_VALUES, parse_watch, stream_watch

__all__ = ["ApiServer"]

ADMIN_PREFIX = "/sandbox.nonstop.dev/"
_TRUE = TRUE_VALUES


class _Request:
    """What a path and query resolve to."""

    def __init__(self) -> None:
        self.kind: Kind | None = None
        self.namespace: str | None = None
        self.name: str = ""
        self.subresource: str = ""


def _route(path: str) -> _Request | None:
    """Resolve `/api/v1/...` or `/apis/<g>/<v>/...` to kind, namespace, name and subresource."""
    parts = [p for p in path.split("/") if p]
    if parts[:1] == ["api"] and len(parts) >= 3:
        group, version, rest = "", parts[1], parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 4:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    req = _Request()
    if rest[0] == "namespaces" and len(rest) >= 3:
        ns_kind = by_resource("", "v1", "namespaces")
        if group == "" and ns_kind is not None and rest[2] in (*ns_kind.subresources, "finalize") and len(rest) == 3:
            req.kind, req.name, req.subresource = ns_kind, rest[1], rest[2]
            return req
        req.namespace = rest[1]
        rest = rest[2:]
    kind = by_resource(group, version, rest[0])
    if kind is None:
        return None
    req.kind = kind
    if len(rest) >= 2:
        req.name = rest[1]
    if len(rest) >= 3:
        req.subresource = rest[2]
    if len(rest) > 3:
        return None
    return req


def _gone(sock: socket.socket) -> bool:
    """Whether the client closed its end (an idle watch would otherwise notice only when it writes)."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):
        return True


def _dump(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], api: ApiServer) -> None:
        self.api = api
        self.connections: set[socket.socket] = set()
        self.conn_lock = threading.Lock()
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up mid-request is normal (watch streams, stopped drills): no traceback."""
        if isinstance(sys.exc_info()[1], ConnectionError | BrokenPipeError):
            return
        super().handle_error(request, client_address)

    def process_request(self, request: Any, client_address: Any) -> None:
        with contextlib.suppress(OSError):
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.conn_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.conn_lock:
            self.connections.discard(request)
        super().shutdown_request(request)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    timeout = 600  # an idle keep-alive connection is closed after this long
    log_info: dict[str, Any] | None = None  # the request being answered, for the request log

    def log_message(self, format: str, *args: Any) -> None:
        return  # the request log replaces the stdlib's access log

    def do_GET(self) -> None:
        self.server.api.handle(self, "GET")

    def do_POST(self) -> None:
        self.server.api.handle(self, "POST")

    def do_PUT(self) -> None:
        self.server.api.handle(self, "PUT")

    def do_PATCH(self) -> None:
        self.server.api.handle(self, "PATCH")

    def do_DELETE(self) -> None:
        self.server.api.handle(self, "DELETE")


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
        self.bookmark_interval = bookmark_interval
        self.log = log or structlog.get_logger(component="sandbox-apiserver")
        self._host, self._port = host, port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._watches = 0
        self._watches_lock = threading.Lock()
        self.pod_logs: LogSource | None = None
        """Where pods/log reads container output: the in-process kubelet's `container_log` (None: no kubelet)."""

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        self._server = _Server((self._host, self._port), self)
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
        with self._server.conn_lock:
            open_connections = list(self._server.connections)
        for conn in open_connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None

    @property
    def open_watches(self) -> int:
        """Watch streams being served right now."""
        with self._watches_lock:
            return self._watches

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self._port}"

    # -- one request -----------------------------------------------------------------------------

    def handle(self, h: _Handler, method: str) -> None:
        split = urlsplit(h.path)
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        path = split.path.rstrip("/") or "/"
        caller = h.headers.get("User-Agent", "")
        info: dict[str, Any] = {
            "verb": method.lower(),
            "group": "",
            "resource": "",
            "subresource": "",
            "namespace": "",
            "name": "",
        }
        code = 500
        h.log_info = info  # _send_json logs a resource request before answering it
        try:
            body = self._read_body(h)
            if path.startswith(ADMIN_PREFIX.rstrip("/")):
                code = self._admin(h, method, path[len(ADMIN_PREFIX) :], query, body)
                return
            req = _route(path) if path.startswith(("/api/", "/apis/")) else None
            if req is not None and req.kind is not None:
                info.update(self._describe(method, req, query))
                info["caller"] = caller
                info["dry_run"] = bool(query.get("dryRun"))
            token = self.auth.check(h.headers.get("Authorization"), verb=info["verb"], resource=info["resource"])
            info["token"] = token
            if token:
                caller = info["caller"] = token
            if req is None:
                code = self._non_resource(h, method, path)
                return
            self.faults.before_request(info["verb"], info["resource"], str(info.get("caller") or ""))
            code = self._resource(h, method, req, query=query, body=body, info=info)
        except ApiError as exc:
            code = exc.code
            retry_after = getattr(exc, "retry_after", None)
            headers = {"Retry-After": str(int(retry_after))} if retry_after is not None else None
            self._send_json(h, exc.code, exc.status(), headers=headers)
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
                self._send_json(h, 500, ApiError(500, "InternalError", f"sandbox internal error: {exc}").status())
        finally:
            if not info.get("logged") and (info["resource"] or not path.startswith(ADMIN_PREFIX.rstrip("/"))):
                self.requests.add(
                    caller=caller,
                    verb=info["verb"],
                    group=info["group"],
                    resource=info["resource"] or path,
                    subresource=info["subresource"],
                    namespace=info["namespace"],
                    name=info["name"],
                    code=code,
                    dry_run=bool(query.get("dryRun")),
                )

    def _log(self, info: dict[str, Any], code: int) -> None:
        self.requests.add(
            caller=info.get("caller", ""),
            verb=info["verb"],
            group=info["group"],
            resource=info["resource"],
            subresource=info["subresource"],
            namespace=info["namespace"],
            name=info["name"],
            code=code,
            dry_run=info.get("dry_run", False),
        )

    @staticmethod
    def _describe(method: str, req: _Request, query: dict[str, str]) -> dict[str, Any]:
        assert req.kind is not None
        if method == "GET":
            verb = "get" if req.name else ("watch" if query.get("watch") in _TRUE else "list")
        elif method == "POST":
            verb = "create"
        elif method == "PUT":
            verb = "update"
        elif method == "PATCH":
            verb = "patch"
        else:
            verb = "delete" if req.name else "deletecollection"
        return {
            "verb": verb,
            "group": req.kind.group,
            "resource": req.kind.resource,
            "subresource": req.subresource,
            "namespace": req.namespace or "",
            "name": req.name,
        }

    def _read_body(self, h: _Handler) -> Any:
        if "chunked" in (h.headers.get("Transfer-Encoding") or "").lower():
            raw = self._read_chunked(h)
        else:
            length = int(h.headers.get("Content-Length") or 0)
            if not length:
                return None
            raw = h.rfile.read(length)
        if not raw.strip():
            return None
        ctype = (h.headers.get("Content-Type") or "").split(";")[0].strip()
        if ctype == protobuf.MEDIA_TYPE:
            return protobuf.decode(raw)
        if "protobuf" in ctype or "cbor" in ctype:
            raise ApiError(
                415,
                "UnsupportedMediaType",
                "the body of the request was in an unknown format - accepted media types include:"
                f' "application/json", "{protobuf.MEDIA_TYPE}" (not {ctype})',
            )
        if "yaml" in ctype:
            return load_yaml(raw)
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise bad_request(f"the request body is not valid JSON: {exc}") from exc

    @staticmethod
    def _read_chunked(h: _Handler) -> bytes:
        parts: list[bytes] = []
        while True:
            size = int(h.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while h.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(parts)
            parts.append(h.rfile.read(size))
            h.rfile.readline()

    def _send_json(self, h: _Handler, code: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        info = h.log_info
        if info is not None and info["resource"] and not info.get("logged"):
            # logged before the answer leaves: a client that saw it and then asks for the log's mark
            # must find the request before that mark
            self._log(info, code)
            info["logged"] = True
        data = _dump(obj) + b"\n"  # Go's json.Encoder ends every body with a newline
        h.send_response(code)
        for name, value in (headers or {}).items():
            h.send_header(name.split("#")[0], value)  # "Warning#1": one header line per warning
        h.send_header("Content-Type", "application/json")
        h.send_header("Cache-Control", "no-cache, private")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    # -- non-resource paths ----------------------------------------------------------------------

    def _non_resource(self, h: _Handler, method: str, path: str) -> int:
        answer: Obj | None = None
        if method == "GET":
            parts = [p for p in path.split("/") if p]
            if path == "/version":
                answer = discovery.version()
            elif path in ("/healthz", "/readyz", "/livez"):
                data = b"ok"
                h.send_response(200)
                h.send_header("Content-Type", "text/plain; charset=utf-8")
                h.send_header("Content-Length", str(len(data)))
                h.end_headers()
                h.wfile.write(data)
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
                return self._openapi(h, path)
        if answer is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        self._send_json(h, 200, answer)
        return 200

    def _openapi(self, h: _Handler, path: str) -> int:
        accept = h.headers.get("Accept") or ""
        if path == "/openapi/v3":
            data: bytes | None = _dump(openapi.index_v3())
        elif path == "/openapi/v2":
            data = openapi.document_v2()
        else:
            data = openapi.document_v3(path.removeprefix("/openapi/v3/"))
        if data is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if accept and not any(t in accept for t in ("application/json", "*/*")):
            raise ApiError(406, "NotAcceptable", f"only application/json is served here, not {accept}")
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Cache-Control", "no-cache, private" if "hash=" not in (h.path or "") else "public, immutable")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)
        return 200

    # -- admin -----------------------------------------------------------------------------------

    def _admin(self, h: _Handler, method: str, what: str, query: dict[str, str], body: Any) -> int:
        body = body or {}
        if what == "requests" and method == "GET":
            since = int(query.get("since") or 0)
            self._send_json(h, 200, {"mark": self.requests.mark(), "items": self.requests.since(since)})
        elif what == "faults" and method == "POST":
            try:
                plan = FaultPlan.parse(body)
            except FaultPlanError as exc:
                raise ApiError(400, "BadRequest", str(exc)) from exc
            self.faults.set(plan)
            self._send_json(h, 200, {"ok": True})
        elif what == "access" and method == "POST":
            if body.get("allowAll"):
                self.registry.access.allow_all()
            for verb, resource in body.get("deny") or []:
                self.registry.access.deny(str(verb), str(resource))
            self._send_json(h, 200, {"denied": self.registry.access.snapshot()})
        elif what == "expire-history" and method == "POST":
            rv = int(body.get("resourceVersion") or self.store.resource_version)
            self.store.expire_history_before(rv)
            self._send_json(h, 200, {"expiredThrough": rv})
        else:
            raise ApiError(404, "NotFound", f"no sandbox admin endpoint {method} {what}")
        return 200

    # -- resources -------------------------------------------------------------------------------

    def _resource(  # noqa: C901, PLR0912, PLR0915 — every verb on a resource path, routed as the apiserver's handlers route them
        self, h: _Handler, method: str, req: _Request, *, query: dict[str, str], body: Any, info: dict[str, Any]
    ) -> int:
        kind = req.kind
        assert kind is not None
        ns = req.namespace if kind.namespaced else None
        sub = req.subresource
        if sub and sub not in kind.subresources and not (kind.resource == "namespaces" and sub == "finalize"):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        dry_run = bool(query.get("dryRun"))
        verb = info["verb"]
        if sub == "log" and verb != "get":
            raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
        manager = query.get("fieldManager") or from_user_agent(h.headers.get("User-Agent") or "")
        if verb in ("list", "watch", "deletecollection"):
            labels = parse_label_selector(query.get("labelSelector"))
            fields = parse_field_selector(kind, query.get("fieldSelector"))
            if verb == "watch":
                return self._watch(h, kind, ns=ns, labels=labels, fields=fields, query=query, info=info)
            if verb == "deletecollection":
                options = self._delete_options(query, body)
                self._send_json(h, 200, self.registry.delete_collection(kind, ns, labels, fields, options))
                return 200
            items, rv = self.registry.list(kind, ns, labels, fields)
            if self._wants_table(h):
                self._send_json(h, 200, table(kind, items, resource_version=str(rv), include=self._include(query)))
            else:
                listing = {
                    "kind": kind.list_kind,
                    "apiVersion": kind.api_version,
                    "metadata": {"resourceVersion": str(rv)},
                    "items": items,
                }
                if kind.custom:
                    for item in items:
                        item.setdefault("apiVersion", kind.api_version)
                        item.setdefault("kind", kind.kind)
                else:
                    for item in items:
                        item.pop("apiVersion", None)
                        item.pop("kind", None)
                self._send_json(h, 200, listing)
            return 200
        if kind.namespaced and not ns and verb != "create":
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if verb == "get":
            if sub == "log":
                return self._pod_log(h, self.registry.get(kind, ns, req.name), query)
            if sub == "scale":
                obj = self.registry.get_scale(kind, ns, req.name)
            else:
                obj = self.registry.get(kind, ns, req.name)
            if self._wants_table(h) and not sub:
                obj = table(kind, [obj], resource_version=None, include=self._include(query))
            self._send_json(h, 200, obj)
            return 200
        if verb == "create":
            if req.name and sub == "eviction" and kind.resource == "pods":
                code, answer = self.registry.evict(str(ns), req.name, body or {})
                self._send_json(h, code, answer)
                return code
            if kind.resource == "selfsubjectreviews":
                self._send_json(h, 201, review_self(info.get("token")))
                return 201
            if req.name:
                raise ApiError(
                    405, "MethodNotAllowed", "the server does not allow this method on the requested resource"
                )
            if kind.namespaced and not ns:
                ns = ((body or {}).get("metadata") or {}).get("namespace") or "default"
            unknown = fieldvalidation.check_object(kind, body, fieldvalidation.directive(query))
            created = self.registry.create(kind, ns, body, dry_run=dry_run, manager=manager)
            self._send_json(h, 201, created, headers=fieldvalidation.warning_headers(unknown))
            return 201
        if verb == "update":
            unknown = fieldvalidation.check_object(kind, body, fieldvalidation.directive(query), sub=sub)
            obj = self.registry.update(kind, ns, req.name, body, subresource=sub, dry_run=dry_run, manager=manager)
            self._send_json(h, 200, obj, headers=fieldvalidation.warning_headers(unknown))
            return 200
        if verb == "patch":
            ctype = h.headers.get("Content-Type") or ""
            force = patch_options(ctype, query)
            if is_apply(ctype):
                code, obj = self.registry.apply(
                    kind, ns, req.name, body, manager=manager, force=force, subresource=sub, dry_run=dry_run
                )
                self._send_json(h, code, obj)
                return code
            unknown = self._check_patch(kind, ns, req.name, sub, ctype, body, fieldvalidation.directive(query))
            obj = self.registry.patch(
                kind, ns, req.name, ctype, body, subresource=sub, dry_run=dry_run, manager=manager
            )
            self._send_json(h, 200, obj, headers=fieldvalidation.warning_headers(unknown))
            return 200
        # delete
        code, answer = self.registry.delete(kind, ns, req.name, self._delete_options(query, body))
        self._send_json(h, code, answer)
        return code

    def _check_patch(
        self, kind: Kind, ns: str | None, name: str, sub: str, ctype: str, body: Any, mode: str
    ) -> list[str]:
        """`fieldValidation` of a patch, judged on what it would produce (fieldvalidation.py)."""
        if mode not in ("Strict", "Warn"):
            return []
        try:
            current = self.registry.get_scale(kind, ns, name) if sub == "scale" else self.registry.get(kind, ns, name)
        except ApiError:
            return []  # the registry's patch answers it
        patched = fieldvalidation.preview_patch(current, ctype, body)
        return fieldvalidation.check_patched(kind, patched, body, ctype, mode, sub=sub)

    def _pod_log(self, h: _Handler, pod: Obj, query: dict[str, str]) -> int:
        """pods/log (`podlogs.py`): the checks answer as errors; then the log, chunked, flushed line by line."""
        stream = open_pod_log(pod, query, self.pod_logs)
        h.send_response(200)
        h.send_header("Content-Type", "text/plain")
        h.send_header("Cache-Control", "no-cache, private")
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()

        def write(data: bytes) -> None:
            h.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            h.wfile.flush()

        stream.write_to(write, client_gone=lambda: self._stopping.is_set() or _gone(h.connection))
        h.wfile.write(b"0\r\n\r\n")
        return 200

    @staticmethod
    def _delete_options(query: dict[str, str], body: Any) -> Obj:
        options: Obj = dict(body) if isinstance(body, dict) else {}
        if "gracePeriodSeconds" in query:
            try:
                options["gracePeriodSeconds"] = int(query["gracePeriodSeconds"])
            except ValueError as exc:
                raise bad_request(f"gracePeriodSeconds {query['gracePeriodSeconds']!r} is not an integer") from exc
        if "propagationPolicy" in query:
            options["propagationPolicy"] = query["propagationPolicy"]
        if "orphanDependents" in query:
            options["orphanDependents"] = query["orphanDependents"] in _TRUE
        if query.get("dryRun"):
            options["dryRun"] = [query["dryRun"]]
        return options

    @staticmethod
    def _wants_table(h: _Handler) -> bool:
        accept = h.headers.get("Accept") or ""
        return "as=Table" in accept

    @staticmethod
    def _include(query: dict[str, str]) -> str:
        return query.get("includeObject") or "Metadata"

    # -- watch -----------------------------------------------------------------------------------

    def _watch(
        self,
        h: _Handler,
        kind: Kind,
        *,
        ns: str | None,
        labels: LabelSelector,
        fields: FieldSelector,
        query: dict[str, str],
        info: dict[str, Any],
    ) -> int:
        limit = self.faults.watch_limit(kind.resource, str(info.get("caller") or ""))
        req = parse_watch(kind, ns, labels, fields, query, as_table=self._wants_table(h), limit=limit)
        epoch = self.faults.watch_epoch()
        resumer = (info.get("caller"), kind.resource, ns, query.get("labelSelector"), query.get("fieldSelector"))
        expire = req.resource_version is not None and self.faults.take_expired_resume(resumer)
        with self._watches_lock:
            self._watches += 1
        try:
            h.send_response(200)
            h.send_header("Content-Type", "application/json")
            h.send_header("Cache-Control", "no-cache, private")
            h.send_header("Transfer-Encoding", "chunked")
            h.end_headers()
            h.close_connection = True
            self._log(info, 200)  # a watch is logged when its stream opens: it may stay open for an hour
            info["logged"] = True
            if expire:  # fault: this resume's position is gone, as after a compaction
                gone = ApiError(410, "Expired", f"too old resource version: {req.resource_version} (injected fault)")
                line = _dump({"type": "ERROR", "object": gone.status()}) + b"\n"
                h.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(line), line))
                return 200
            stream_watch(
                req,
                h.wfile,
                registry=self.registry,
                bookmark_interval=self.bookmark_interval,
                should_stop=lambda: (
                    self._stopping.is_set() or self.faults.watch_epoch() != epoch or _gone(h.connection)
                ),
            )
        finally:
            with self._watches_lock:
                self._watches -= 1
            if not expire and self.faults.expires_resumes(kind.resource, str(info.get("caller") or "")):
                self.faults.expire_next_resume(resumer)  # the client's resume from here gets 410
        return 200
