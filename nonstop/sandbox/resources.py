"""The verbs on resource paths (`/api/v1/...`, `/apis/<g>/<v>/...`): each answers through the registry.

get (also `/scale`, pods `/log`), list (as a `Table` for `kubectl get`), watch (a chunked stream,
`watch.py`), create (also pods `/eviction`, selfsubjectreviews), update, patch (server-side apply
for `application/apply-patch+yaml`, `apply.py`), delete and deletecollection. `fieldValidation`
of create, update and patch is `fieldvalidation.py`'s; its warnings go out as `Warning` headers.
"""

from __future__ import annotations

import threading
from typing import Any

from nonstop.sandbox import fieldvalidation
from nonstop.sandbox.apierrors import ApiError, bad_request
from nonstop.sandbox.apiroute import TRUE_VALUES, Request
from nonstop.sandbox.apiwire import Handler, dump
from nonstop.sandbox.apply import is_apply, patch_options, server_side_apply
from nonstop.sandbox.auth import review_self
from nonstop.sandbox.faults import Faults
from nonstop.sandbox.kinds import Kind
from nonstop.sandbox.managedfields import from_user_agent
from nonstop.sandbox.podlogs import LogSource, open_pod_log
from nonstop.sandbox.registry import Registry, list_object
from nonstop.sandbox.selectors import FieldSelector, LabelSelector, parse_field_selector, parse_label_selector
from nonstop.sandbox.store import Obj
from nonstop.sandbox.tables import table
from nonstop.sandbox.watch import parse_watch, stream_watch

__all__ = ["ResourceVerbs"]


def _not_found() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource")


def _not_allowed() -> ApiError:
    return ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")


class _Call:
    """One resource request: where it goes, what it asks, and who writes."""

    def __init__(self, h: Handler, req: Request, query: dict[str, str], body: Any, info: dict[str, Any]) -> None:
        self.h, self.query, self.body, self.info = h, query, body, info
        self.kind = req.kind
        self.ns = req.namespace if req.kind.namespaced else None
        self.name, self.sub = req.name, req.subresource
        self.verb: str = info["verb"]
        self.dry_run = bool(query.get("dryRun"))
        self.manager = query.get("fieldManager") or from_user_agent(h.headers.get("User-Agent") or "")

    @property
    def wants_table(self) -> bool:
        return "as=Table" in (self.h.headers.get("Accept") or "")

    @property
    def include(self) -> str:
        return self.query.get("includeObject") or "Metadata"

    def answer(self, code: int, obj: Any, headers: dict[str, str] | None = None) -> int:
        self.h.send_json(code, obj, headers=headers)
        return code


class ResourceVerbs:
    """Serves resource requests on a `Registry`; `stopping` ends open watches and log streams."""

    def __init__(
        self, registry: Registry, faults: Faults, *, bookmark_interval: float, stopping: threading.Event
    ) -> None:
        self.registry = registry
        self.faults = faults
        self.bookmark_interval = bookmark_interval
        self.pod_logs: LogSource | None = None
        """Where pods/log reads container output: the in-process kubelet's `container_log` (None: no kubelet)."""
        self._stopping = stopping
        self._watches = 0
        self._watches_lock = threading.Lock()

    @property
    def open_watches(self) -> int:
        """Watch streams being served right now."""
        with self._watches_lock:
            return self._watches

    def serve(self, h: Handler, req: Request, *, query: dict[str, str], body: Any, info: dict[str, Any]) -> int:
        """Answer one resource request; the HTTP code."""
        call = _Call(h, req, query, body, info)
        kind, sub = call.kind, call.sub
        if sub and sub not in kind.subresources and not (kind.resource == "namespaces" and sub == "finalize"):
            raise _not_found()
        if sub == "log" and call.verb != "get":
            raise _not_allowed()
        if call.verb in ("list", "watch", "deletecollection"):
            return self._collection(call)
        if kind.namespaced and not call.ns and call.verb != "create":
            raise _not_found()
        verbs = {
            "get": self._get,
            "create": self._create,
            "update": self._update,
            "patch": self._patch,
            "delete": self._delete,
        }
        return verbs[call.verb](call)

    # -- collections -----------------------------------------------------------------------------

    def _collection(self, call: _Call) -> int:
        kind, ns = call.kind, call.ns
        labels = parse_label_selector(call.query.get("labelSelector"))
        fields = parse_field_selector(kind, call.query.get("fieldSelector"))
        if call.verb == "watch":
            return self._watch(call, labels=labels, fields=fields)
        if call.verb == "deletecollection":
            options = delete_options(call.query, call.body)
            return call.answer(200, self.registry.delete_collection(kind, ns, labels, fields, options))
        items, rv = self.registry.list(kind, ns, labels, fields)
        if call.wants_table:
            return call.answer(200, table(kind, items, resource_version=str(rv), include=call.include))
        return call.answer(200, _listing(kind, items, rv))

    def _watch(self, call: _Call, *, labels: LabelSelector, fields: FieldSelector) -> int:
        h, kind, ns, query = call.h, call.kind, call.ns, call.query
        caller = str(call.info.get("caller") or "")
        limit = self.faults.watch_limit(kind.resource, caller)
        req = parse_watch(kind, ns, labels, fields, query, as_table=call.wants_table, limit=limit)
        epoch = self.faults.watch_epoch()
        resumer = (call.info.get("caller"), kind.resource, ns, query.get("labelSelector"), query.get("fieldSelector"))
        expire = req.resource_version is not None and self.faults.take_expired_resume(resumer)
        with self._watches_lock:
            self._watches += 1
        try:
            h.start_chunks("application/json")
            h.close_connection = True
            h.answering(200)  # a watch is logged when its stream opens: it may stay open for an hour
            if expire:  # fault: this resume's position is gone, as after a compaction
                gone = ApiError(410, "Expired", f"too old resource version: {req.resource_version} (injected fault)")
                line = dump({"type": "ERROR", "object": gone.status()}) + b"\n"
                h.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(line), line))
                return 200
            stream_watch(
                req,
                h.wfile,
                registry=self.registry,
                bookmark_interval=self.bookmark_interval,
                should_stop=lambda: self._stopping.is_set() or self.faults.watch_epoch() != epoch or h.gone(),
            )
        finally:
            with self._watches_lock:
                self._watches -= 1
            if not expire and self.faults.expires_resumes(kind.resource, caller):
                self.faults.expire_next_resume(resumer)  # the client's resume from here gets 410
        return 200

    # -- one object ------------------------------------------------------------------------------

    def _get(self, call: _Call) -> int:
        kind, ns, name, sub = call.kind, call.ns, call.name, call.sub
        if sub == "log":
            return self._pod_log(call.h, self.registry.get(kind, ns, name), call.query)
        obj = self.registry.get_scale(kind, ns, name) if sub == "scale" else self.registry.get(kind, ns, name)
        if call.wants_table and not sub:
            obj = table(kind, [obj], resource_version=None, include=call.include)
        return call.answer(200, obj)

    def _pod_log(self, h: Handler, pod: Obj, query: dict[str, str]) -> int:
        """pods/log (`podlogs.py`): the checks answer as errors; then the log, chunked, flushed line by line."""
        stream = open_pod_log(pod, query, self.pod_logs)
        h.start_chunks("text/plain")

        def write(data: bytes) -> None:
            h.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            h.wfile.flush()

        stream.write_to(write, client_gone=lambda: self._stopping.is_set() or h.gone())
        h.wfile.write(b"0\r\n\r\n")
        return 200

    def _create(self, call: _Call) -> int:
        kind, ns, body = call.kind, call.ns, call.body
        if call.name and call.sub == "eviction" and kind.resource == "pods":
            code, answer = self.registry.evict(str(ns), call.name, body or {})
            return call.answer(code, answer)
        if kind.resource == "selfsubjectreviews":
            return call.answer(201, review_self(call.info.get("token")))
        if call.name:
            raise _not_allowed()
        if kind.namespaced and not ns:
            ns = ((body or {}).get("metadata") or {}).get("namespace") or "default"
        unknown = fieldvalidation.check_object(kind, body, fieldvalidation.directive(call.query))
        created = self.registry.create(kind, ns, body, dry_run=call.dry_run, manager=call.manager)
        return call.answer(201, created, fieldvalidation.warning_headers(unknown))

    def _update(self, call: _Call) -> int:
        kind, sub = call.kind, call.sub
        unknown = fieldvalidation.check_object(kind, call.body, fieldvalidation.directive(call.query), sub=sub)
        obj = self.registry.update(
            kind, call.ns, call.name, call.body, subresource=sub, dry_run=call.dry_run, manager=call.manager
        )
        return call.answer(200, obj, fieldvalidation.warning_headers(unknown))

    def _patch(self, call: _Call) -> int:
        kind, ns, name, sub = call.kind, call.ns, call.name, call.sub
        ctype = call.h.headers.get("Content-Type") or ""
        force = patch_options(ctype, call.query)
        if is_apply(ctype):
            code, obj = server_side_apply(
                self.registry,
                kind,
                ns,
                name,
                call.body,
                manager=call.manager,
                force=force,
                subresource=sub,
                dry_run=call.dry_run,
            )
            return call.answer(code, obj)
        unknown = self._check_patch(call, ctype, fieldvalidation.directive(call.query))
        obj = self.registry.patch(
            kind, ns, name, ctype, call.body, subresource=sub, dry_run=call.dry_run, manager=call.manager
        )
        return call.answer(200, obj, fieldvalidation.warning_headers(unknown))

    def _check_patch(self, call: _Call, ctype: str, mode: str) -> list[str]:
        """`fieldValidation` of a patch, judged on what it would produce (fieldvalidation.py)."""
        if mode not in ("Strict", "Warn"):
            return []
        kind, ns, name, sub = call.kind, call.ns, call.name, call.sub
        try:
            current = self.registry.get_scale(kind, ns, name) if sub == "scale" else self.registry.get(kind, ns, name)
        except ApiError:
            return []  # the registry's patch answers it
        patched = fieldvalidation.preview_patch(current, ctype, call.body)
        return fieldvalidation.check_patched(kind, patched, call.body, ctype, mode, sub=sub)

    def _delete(self, call: _Call) -> int:
        code, answer = self.registry.delete(call.kind, call.ns, call.name, delete_options(call.query, call.body))
        return call.answer(code, answer)


def _listing(kind: Kind, items: list[Obj], rv: int) -> Obj:
    """A list answer: custom objects carry their apiVersion and kind, built-in ones leave them to the list."""
    if kind.custom:
        for item in items:
            item.setdefault("apiVersion", kind.api_version)
            item.setdefault("kind", kind.kind)
    else:
        for item in items:
            item.pop("apiVersion", None)
            item.pop("kind", None)
    return list_object(kind, items, rv)


def delete_options(query: dict[str, str], body: Any) -> Obj:
    """A DELETE's options: its body's DeleteOptions with the query's parameters over them."""
    options: Obj = dict(body) if isinstance(body, dict) else {}
    if "gracePeriodSeconds" in query:
        try:
            options["gracePeriodSeconds"] = int(query["gracePeriodSeconds"])
        except ValueError as exc:
            raise bad_request(f"gracePeriodSeconds {query['gracePeriodSeconds']!r} is not an integer") from exc
    if "propagationPolicy" in query:
        options["propagationPolicy"] = query["propagationPolicy"]
    if "orphanDependents" in query:
        options["orphanDependents"] = query["orphanDependents"] in TRUE_VALUES
    if query.get("dryRun"):
        options["dryRun"] = [query["dryRun"]]
    return options
