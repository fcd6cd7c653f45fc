"""API semantics on top of the store: what the real API server does between the wire and etcd.

Defaults and validation on every write (`defaults.py`), generation bumps on spec or annotation
changes, `/status` writes that keep spec and labels, main-resource writes that keep status,
graceful pod deletion, finalizers, cascading deletion through ownerReferences
(background/foreground/orphan), `/scale` as autoscaling/v1 Scale, pods/eviction with
PodDisruptionBudgets (429 when a budget would be broken), SelfSubjectAccessReview (allowed unless
a verb/resource pair was denied), and the events.k8s.io/v1 view of core events.
"""

from __future__ import annotations

import copy
import random
import threading
from typing import Any

import structlog

from nonstop.sandbox import clusterips, hpa
from nonstop.sandbox.access import AccessRules, review_access
from nonstop.sandbox.apierrors import ApiError, bad_request, not_found
from nonstop.sandbox.builtin_objects import fill_namespace
from nonstop.sandbox.cascade import Cascade
from nonstop.sandbox.defaults import ClusterIPAllocator, apply_defaults, default_status, validate
from nonstop.sandbox.deleteoptions import check_preconditions, mark_deleting, propagation_policy, success
from nonstop.sandbox.deletion import delete_pod_gracefully
from nonstop.sandbox.disruption import check_eviction, pdb_status
from nonstop.sandbox.events import EventRecorder
from nonstop.sandbox.kinds import Kind, by_kind, require
from nonstop.sandbox.kindviews import HPA_V1, HPA_V2, NEW_EVENTS, as_viewed, stored
from nonstop.sandbox.managedfields import track_update
from nonstop.sandbox.patch import PatchError, patcher
from nonstop.sandbox.scale import replicas_of, scale_of
from nonstop.sandbox.selectors import FieldSelector, LabelSelector
from nonstop.sandbox.store import Obj, Store
from nonstop.sandbox.writeretry import retry_races, unless_raced

__all__ = ["AccessRules", "Registry", "list_object"]

_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"

NAMESPACES = require("", "v1", "namespaces")
PODS = require("", "v1", "pods")
PDBS = require("policy", "v1", "poddisruptionbudgets")
SERVICES = require("", "v1", "services")
NODES = require("", "v1", "nodes")


def _spec_like(obj: Obj) -> dict[str, Any]:
    """Everything but metadata and status: what a generation bump compares (plus annotations)."""
    body = {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}
    body["__annotations"] = (obj.get("metadata") or {}).get("annotations") or {}
    return body


def _keep_all_but_status(current: Obj, new: Obj) -> None:
    """A `/status` write changes the status only: everything else, labels too, stays as in `current`."""
    for key in list(new):
        if key not in ("metadata", "status", "apiVersion", "kind"):
            del new[key]
    for key, value in current.items():
        if key not in ("metadata", "status", "apiVersion", "kind"):
            new[key] = copy.deepcopy(value)
    new_meta, cur_meta = new["metadata"], current["metadata"]
    if "labels" in cur_meta:
        new_meta["labels"] = copy.deepcopy(cur_meta["labels"])
    else:
        new_meta.pop("labels", None)


class Registry:
    """The API server's object semantics; the HTTP layer calls one method per verb."""

    def __init__(
        self,
        store: Store,
        recorder: EventRecorder | None = None,
        *,
        log: structlog.typing.FilteringBoundLogger | None = None,
        cluster_ip_range: str = "127.20.0.0/16",
    ) -> None:
        self.store = store
        self.recorder = recorder or EventRecorder(store)
        self.log = log or structlog.get_logger(component="sandbox-registry")
        self.access = AccessRules()
        self.ips = ClusterIPAllocator(cluster_ip_range)
        self._evict_lock = threading.Lock()
        self.cascade = Cascade(store, self.delete, log=self.log)
        if self.store.find(NAMESPACES, None, "default") is None:
            for ns in ("default", "kube-system", "kube-public", "kube-node-lease"):
                self.create(NAMESPACES, None, {"metadata": {"name": ns}}, manager="kube-apiserver")

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the finalizer loop (foreground deletion, namespace termination)."""
        self.cascade.start()

    def stop(self) -> None:
        self.cascade.stop()

    # -- reading ---------------------------------------------------------------------------------

    def get(self, kind: Kind, namespace: str | None, name: str) -> Obj:
        return self.present(kind, as_viewed(kind, self.store.get(stored(kind), namespace, name)))

    def list(
        self,
        kind: Kind,
        namespace: str | None,
        labels: LabelSelector | None = None,
        fields: FieldSelector | None = None,
    ) -> tuple[list[Obj], int]:
        items, rv = self.store.list(stored(kind), namespace)
        out = [
            self.present(kind, item)
            for item in (as_viewed(kind, item) for item in items)
            if (labels is None or labels.matches(item["metadata"].get("labels")))
            and (fields is None or fields.matches(item))
        ]
        return out, rv

    def present(self, kind: Kind, obj: Obj) -> Obj:
        """The object as the wire shows it (fields computed on read; `endpoints: null` when empty)."""
        if kind.resource == "endpointslices" and not obj.get("endpoints"):
            obj["endpoints"] = None
        elif kind is PDBS:
            obj["status"] = {**(obj.get("status") or {}), **pdb_status(self.store, obj)}
        return obj

    # -- create ----------------------------------------------------------------------------------

    def create(self, kind: Kind, namespace: str | None, body: Obj, *, dry_run: bool = False, manager: str = "") -> Obj:
        """Create an object; `manager` is the field manager of this Update (none: managedFields as sent)."""
        if kind.resource == "selfsubjectaccessreviews":
            return self.review_access(body)
        if kind is HPA_V1:
            if not isinstance(body, dict):
                raise bad_request("the request body must be a JSON object")
            self._check_kind(kind, body)
            return hpa.to_v1(self.create(HPA_V2, namespace, hpa.to_v2(body), dry_run=dry_run))
        if kind is NEW_EVENTS:
            raise ApiError(
                405, "MethodNotAllowed", "the sandbox serves events.k8s.io/v1 read-only; write core/v1 events"
            )
        if not isinstance(body, dict):
            raise bad_request("the request body must be a JSON object")
        obj = copy.deepcopy(body)
        meta = obj.setdefault("metadata", {})
        self._check_kind(kind, obj)
        if kind.namespaced:
            self._place_in_namespace(meta, namespace)
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + "".join(random.choice(_NAME_CHARS) for _ in range(5))
        for server_set in ("uid", "resourceVersion", "creationTimestamp", "deletionTimestamp", "generation"):
            meta.pop(server_set, None)
        if "status" in kind.subresources and kind not in (NAMESPACES, NODES):
            obj.pop("status", None)  # status is the controllers' to write, as on a real server (a Node's is its own)
        apply_defaults(kind, obj)
        validate(kind, obj)
        if manager:
            track_update(kind, None, obj, manager)
        allocated = None
        if kind is SERVICES:
            allocated = clusterips.allocate(self.ips, obj)
        if dry_run:
            return self.present(kind, obj)
        created = self._store_new(kind, obj, allocated)
        if kind is NAMESPACES:
            fill_namespace(self.store, created["metadata"]["name"])
        return self.present(kind, created)

    def _store_new(self, kind: Kind, obj: Obj, allocated_ip: str | None) -> Obj:
        """Store a new object; a Service's ClusterIP goes back to the pool when that fails."""
        try:
            return self.store.create(kind, obj, manager="")
        except ApiError:
            if allocated_ip:
                self.ips.release(allocated_ip)
            raise

    def _check_kind(self, kind: Kind, obj: Obj) -> None:
        api_version, kind_name = obj.get("apiVersion"), obj.get("kind")
        if (api_version and api_version != kind.api_version) or (kind_name and kind_name != kind.kind):
            found = by_kind(str(api_version), str(kind_name))
            if found is None or found != kind:
                raise bad_request(
                    f"the API version in the data ({api_version}) does not match the expected API version "
                    f"({kind.api_version})"
                )

    def _place_in_namespace(self, meta: Obj, namespace: str | None) -> None:
        """Set a new object's namespace: the URL's or its own (they must agree), else "default"; it must be open."""
        body_ns = meta.get("namespace")
        if body_ns and namespace and body_ns != namespace:
            raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
        namespace = namespace or body_ns or "default"
        meta["namespace"] = namespace
        self._check_namespace_open(namespace)

    def _check_namespace_open(self, namespace: str) -> None:
        ns = self.store.find(NAMESPACES, None, namespace)
        if ns is None:
            raise not_found("namespaces", "", namespace)
        if ns["metadata"].get("deletionTimestamp"):
            raise ApiError(
                403,
                "Forbidden",
                f"unable to create new content in namespace {namespace} because it is being terminated",
                details={"name": namespace, "kind": "namespaces", "causes": [{"reason": "NamespaceTerminating"}]},
            )

    # -- update and patch ------------------------------------------------------------------------

    def update(
        self,
        kind: Kind,
        namespace: str | None,
        name: str,
        body: Obj,
        *,
        subresource: str = "",
        dry_run: bool = False,
        manager: str = "",
    ) -> Obj:
        if not isinstance(body, dict):
            raise bad_request("the request body must be a JSON object")
        if subresource == "scale":
            return self._write_scale(kind, namespace, name, body, dry_run=dry_run, manager=manager)
        self._check_kind(kind, body)
        meta = body.setdefault("metadata", {})
        if meta.get("name") and meta["name"] != name:
            raise bad_request(f"the name of the object ({meta['name']}) does not match the name on the URL ({name})")
        meta["name"] = name
        if kind.namespaced:
            meta["namespace"] = namespace
        expect_rv = meta.get("resourceVersion") or None
        current = self.store.get(kind, namespace, name)
        return self.write(
            kind, current, body, subresource=subresource, expect_rv=expect_rv, dry_run=dry_run, manager=manager
        )

    def write(
        self,
        kind: Kind,
        current: Obj,
        new: Obj,
        *,
        subresource: str,
        expect_rv: str | None,
        dry_run: bool = False,
        manager: str = "",
    ) -> Obj:
        """Write `new` over `current` (`subresource` "status", "scale" or ""); `manager` tracks it as an Update."""
        new = copy.deepcopy(new)
        new_meta = new.setdefault("metadata", {})
        cur_meta = current["metadata"]
        for server_set in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds"):
            if server_set in cur_meta:
                new_meta[server_set] = cur_meta[server_set]
            else:
                new_meta.pop(server_set, None)
        if kind.resource == "namespaces":
            new_meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = cur_meta["name"]
        has_status = "status" in kind.subresources
        if subresource == "status":
            _keep_all_but_status(current, new)
            default_status(kind, new)
            bump = False
        else:
            if has_status:
                if "status" in current:
                    new["status"] = copy.deepcopy(current["status"])
                else:
                    new.pop("status", None)
            apply_defaults(kind, new)
            validate(kind, new, current)
            bump = _spec_like(new) != _spec_like(current)
        if kind is SERVICES and subresource != "status":
            clusterips.keep(current, new)
        if manager:
            track_update(kind, current, new, manager, subresource=subresource)
        if dry_run:
            return self.present(kind, new)
        if new_meta.get("deletionTimestamp") and not new_meta.get("finalizers") and kind is not PODS:
            self.store.replace(kind, new, expect_rv=expect_rv, bump_generation=bump, manager="")
            return self.present(kind, self.store.remove(kind, new_meta.get("namespace"), new_meta["name"]))
        written = self.store.replace(kind, new, expect_rv=expect_rv, bump_generation=bump, manager="")
        return self.present(kind, written)

    def patch(
        self,
        kind: Kind,
        namespace: str | None,
        name: str,
        content_type: str,
        patch_body: Any,
        *,
        subresource: str = "",
        dry_run: bool = False,
        manager: str = "",
    ) -> Obj:
        patch = patcher(content_type, custom=kind.custom)
        precondition = None
        if isinstance(patch_body, dict):
            precondition = (patch_body.get("metadata") or {}).get("resourceVersion")

        def attempt() -> Obj | None:
            """One read-patch-write; None when another writer came first."""
            current = self.store.get(kind, namespace, name)
            original = scale_of(kind, current) if subresource == "scale" else current
            try:
                patched = patch(original, patch_body)
            except PatchError as exc:
                raise ApiError(
                    422, "Invalid", f"the server rejected our request due to an error in our request: {exc}"
                ) from exc
            if not isinstance(patched, dict):
                raise bad_request("the patch did not produce an object")
            pmeta = patched.setdefault("metadata", {})
            pmeta["name"], pmeta["namespace"] = name, namespace
            if not kind.namespaced:
                pmeta.pop("namespace", None)
            expect_rv = precondition or current["metadata"]["resourceVersion"]

            def write() -> Obj:
                if subresource == "scale":
                    return self._write_scale(kind, namespace, name, patched, dry_run=dry_run, manager=manager)
                return self.write(
                    kind,
                    current,
                    patched,
                    subresource=subresource,
                    expect_rv=expect_rv,
                    dry_run=dry_run,
                    manager=manager,
                )

            return unless_raced(precondition, write)

        return retry_races(kind, name, attempt)

    # -- scale -----------------------------------------------------------------------------------

    def get_scale(self, kind: Kind, namespace: str | None, name: str) -> Obj:
        return scale_of(kind, self.store.get(kind, namespace, name))

    def _write_scale(
        self, kind: Kind, namespace: str | None, name: str, scale: Obj, *, dry_run: bool, manager: str = ""
    ) -> Obj:
        replicas = replicas_of(scale, name)
        expect_rv = (scale.get("metadata") or {}).get("resourceVersion") or None
        current = self.store.get(kind, namespace, name)
        new = copy.deepcopy(current)
        new.setdefault("spec", {})["replicas"] = replicas
        if dry_run:
            return scale_of(kind, new)
        written = self.write(kind, current, new, subresource="scale", expect_rv=expect_rv, manager=manager)
        return scale_of(kind, written)

    # -- delete ----------------------------------------------------------------------------------

    def delete(self, kind: Kind, namespace: str | None, name: str, options: Obj) -> tuple[int, Obj]:
        """DELETE one object; returns (HTTP code, body) as the real server answers."""
        if kind is HPA_V1:
            code, answer = self.delete(HPA_V2, namespace, name, options)
            return code, hpa.to_v1(answer) if answer.get("kind") == HPA_V2.kind else answer
        current = self.store.get(kind, namespace, name)
        check_preconditions(options, current)
        if options.get("dryRun"):
            return 200, self._deleted(kind, current)
        policy = propagation_policy(options)
        grace = options.get("gracePeriodSeconds")
        uid = current["metadata"]["uid"]
        if kind is PODS:
            if policy == "Orphan":  # before the pod can go, or the collector takes its dependents
                self.cascade.orphan_dependents(uid, namespace)
            pod = delete_pod_gracefully(self.store, str(namespace), name, grace_seconds=grace)
            if self.store.find(PODS, namespace, name) is None:
                self.cascade.cascade(current, policy)
            return 200, self.present(kind, pod)
        if kind is NAMESPACES:
            return 200, self.cascade.terminate_namespace(current)
        # Orphan goes through the `orphan` finalizer, as in Kubernetes: the dependents lose the
        # reference while the owner still exists, so the collector never sees them dangling.
        if current["metadata"].get("finalizers") or policy in ("Foreground", "Orphan"):
            marked = self.store.mutate(kind, namespace, name, lambda obj: mark_deleting(obj, policy))
            if policy == "Foreground":
                self.cascade.hold_for_dependents(kind, namespace, name)
                self.cascade.cascade(current, "Background")
            elif policy == "Orphan":
                self.cascade.orphan_dependents(uid, namespace)
                remaining = self.cascade.drop_finalizer(kind, marked, "orphan")
                return 200, self.present(kind, remaining) if remaining else self._deleted(kind, current)
            return 200, self.present(kind, marked)
        removed = self.store.remove(kind, namespace, name)
        if kind is SERVICES:
            clusterips.release(self.ips, removed)
        self.cascade.cascade(removed, policy)
        return 200, self._deleted(kind, removed)

    def _deleted(self, kind: Kind, obj: Obj) -> Obj:
        """What a DELETE that removed `obj` answers: the object (pods, services, …) or a Success `Status`."""
        return self.present(kind, obj) if kind.returns_deleted else success(kind, obj)

    def delete_collection(
        self,
        kind: Kind,
        namespace: str | None,
        labels: LabelSelector,
        fields: FieldSelector,
        options: Obj,
    ) -> Obj:
        items, rv = self.list(kind, namespace, labels, fields)
        for item in items:
            try:
                self.delete(kind, item["metadata"].get("namespace"), item["metadata"]["name"], options)
            except ApiError as exc:
                if exc.code != 404:
                    raise
        return list_object(kind, items, rv)

    # -- eviction and disruption budgets ---------------------------------------------------------

    def evict(self, namespace: str, name: str, body: Obj) -> tuple[int, Obj]:
        """pods/eviction: 429 when a PodDisruptionBudget would be broken, else a graceful delete (201)."""
        options = (body or {}).get("deleteOptions") or {}
        with self._evict_lock:  # check and delete as one step: two evictions cannot both pass
            check_eviction(self.store, self.store.get(PODS, namespace, name))
            if not options.get("dryRun"):
                delete_pod_gracefully(self.store, namespace, name, grace_seconds=options.get("gracePeriodSeconds"))
        return 201, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}

    # -- access reviews --------------------------------------------------------------------------

    def review_access(self, body: Obj) -> Obj:
        return review_access(self.access, body)


def list_object(kind: Kind, items: list[Obj], rv: int) -> Obj:
    """A `<Kind>List` of `items` at resourceVersion `rv`."""
    return {
        "kind": kind.list_kind,
        "apiVersion": kind.api_version,
        "metadata": {"resourceVersion": str(rv)},
        "items": items,
    }
