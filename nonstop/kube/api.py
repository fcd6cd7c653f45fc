"""`Kube`: the drill's door to a cluster — plain-dict reads and writes through the official client.

Objects travel as the JSON the API server sent (`_preload_content=False`), so nonstop sees
exactly what `kubectl get -o json` would, independent of the client's model classes.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from kubernetes import client

from nonstop.kube.calls import DEFAULT_RETRY, RetryPolicy, call
from nonstop.kube.connection import Connection
from nonstop.toolkit.objects import Obj

__all__ = ["Kube", "PatchType"]

PatchType = Literal["strategic", "merge", "json"]
_CONTENT_TYPES = {
    "strategic": "application/strategic-merge-patch+json",
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
}
ROLLOUTS = ("argoproj.io", "v1alpha1", "rollouts")


def _json(response: Any) -> Obj:
    data = response.data if hasattr(response, "data") else response
    if isinstance(data, bytes | str):
        return dict(json.loads(data or "{}"))
    return dict(data)


class Kube:
    """Typed-by-convention access to the few API calls a drill makes; every call goes through `call()`."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.namespace = connection.namespace
        self.core = client.CoreV1Api(connection.api)
        self.apps = client.AppsV1Api(connection.api)
        self.discovery = client.DiscoveryV1Api(connection.api)
        self.custom = client.CustomObjectsApi(connection.api)
        self.policy = client.PolicyV1Api(connection.api)
        self.coordination = client.CoordinationV1Api(connection.api)
        self.authz = client.AuthorizationV1Api(connection.api)

    def close(self) -> None:
        self.connection.close()

    # -- reads ---------------------------------------------------------------------------------

    def get_deployment(self, namespace: str, name: str) -> Obj:
        return _json(
            call(self.apps.read_namespaced_deployment, name, namespace, _preload_content=False,
                 what=f"get Deployment {namespace}/{name}")
        )  # fmt: skip

    def get_service(self, namespace: str, name: str) -> Obj:
        return _json(
            call(self.core.read_namespaced_service, name, namespace, _preload_content=False,
                 what=f"get Service {namespace}/{name}")
        )  # fmt: skip

    def get_rollout(self, namespace: str, name: str) -> Obj:
        return _json(
            call(self.custom.get_namespaced_custom_object, *ROLLOUTS[:2], namespace, ROLLOUTS[2], name,
                 _preload_content=False, what=f"get Rollout {namespace}/{name}")
        )  # fmt: skip

    def list_pods(self, namespace: str, selector: str | None = None) -> list[Obj]:
        body = _json(
            call(self.core.list_namespaced_pod, namespace, label_selector=selector or "", _preload_content=False,
                 what=f"list pods in {namespace}")
        )  # fmt: skip
        return list(body.get("items") or [])

    def list_replicasets(self, namespace: str, selector: str | None = None) -> list[Obj]:
        body = _json(
            call(self.apps.list_namespaced_replica_set, namespace, label_selector=selector or "",
                 _preload_content=False, what=f"list ReplicaSets in {namespace}")
        )  # fmt: skip
        return list(body.get("items") or [])

    def get_node(self, name: str) -> Obj:
        return _json(call(self.core.read_node, name, _preload_content=False, what=f"get Node {name}"))

    def list_nodes(self) -> list[Obj]:
        body = _json(call(self.core.list_node, _preload_content=False, what="list Nodes"))
        return list(body.get("items") or [])

    def list_objects(self, namespace: str, kind: str) -> list[Obj]:
        """Services, PodDisruptionBudgets or HorizontalPodAutoscalers of a namespace, for lint."""
        if kind == "Service":
            fn: Any = self.core.list_namespaced_service
        elif kind == "PodDisruptionBudget":
            fn = self.policy.list_namespaced_pod_disruption_budget
        else:
            fn = client.AutoscalingV2Api(self.connection.api).list_namespaced_horizontal_pod_autoscaler
        body = _json(call(fn, namespace, _preload_content=False, what=f"list {kind}s in {namespace}"))
        items = list(body.get("items") or [])
        api_version = body.get("apiVersion", "v1").removesuffix("List")
        for item in items:
            item.setdefault("kind", kind)
            item.setdefault("apiVersion", api_version)
        return items

    def can(self, verb: str, *, group: str, resource: str, namespace: str, subresource: str = "") -> bool:
        """A SelfSubjectAccessReview: may these credentials do `verb` on the resource?"""
        attributes = {"verb": verb, "group": group, "resource": resource}
        if namespace:  # "" for a cluster-scoped resource (nodes)
            attributes["namespace"] = namespace
        if subresource:
            attributes["subresource"] = subresource
        body = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": attributes},
        }
        review = _json(
            call(self.authz.create_self_subject_access_review, body, _preload_content=False,
                 what=f"check access to {verb} {resource}")
        )  # fmt: skip
        return bool((review.get("status") or {}).get("allowed"))

    # -- writes --------------------------------------------------------------------------------

    def patch_deployment(self, namespace: str, name: str, body: Any, *, patch: PatchType = "strategic") -> Obj:
        return _json(
            call(self.apps.patch_namespaced_deployment, name, namespace, body,
                 _content_type=_CONTENT_TYPES[patch], _preload_content=False,
                 what=f"patch Deployment {namespace}/{name}")
        )  # fmt: skip

    def set_unschedulable(
        self, name: str, unschedulable: bool, *, annotations: dict[str, str | None] | None = None
    ) -> Obj:
        """Cordon or uncordon a Node with the patch `kubectl cordon`/`uncordon` sends (plus `annotations`, None
        removing one).
        """
        body: Obj = {"spec": {"unschedulable": True if unschedulable else None}}
        if annotations:
            body["metadata"] = {"annotations": annotations}
        verb = "cordon" if unschedulable else "uncordon"
        return _json(
            call(self.core.patch_node, name, body, _content_type=_CONTENT_TYPES["strategic"], _preload_content=False,
                 what=f"{verb} Node {name}")
        )  # fmt: skip

    def scale_deployment(self, namespace: str, name: str, replicas: int) -> Obj:
        """Set spec.replicas through the `/scale` subresource, as `kubectl scale` and an HPA do."""
        return _json(
            call(self.apps.patch_namespaced_deployment_scale, name, namespace, {"spec": {"replicas": replicas}},
                 _content_type=_CONTENT_TYPES["merge"], _preload_content=False,
                 what=f"scale Deployment {namespace}/{name} to {replicas}")
        )  # fmt: skip

    def create_deployment(self, namespace: str, body: Obj) -> Obj:
        name = body["metadata"]["name"]
        return _json(
            call(self.apps.create_namespaced_deployment, namespace, body, _preload_content=False,
                 what=f"create Deployment {namespace}/{name}")
        )  # fmt: skip

    def delete_deployment(self, namespace: str, name: str) -> None:
        call(self.apps.delete_namespaced_deployment, name, namespace, propagation_policy="Background",
             _preload_content=False, what=f"delete Deployment {namespace}/{name}")  # fmt: skip

    def evict_pod(
        self, namespace: str, name: str, *, grace_seconds: int | None = None, retry: RetryPolicy = DEFAULT_RETRY
    ) -> None:
        """Evict through the Eviction API (429 while a PodDisruptionBudget says no); `retry` as in `call`."""
        body: Obj = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name, "namespace": namespace}}
        if grace_seconds is not None:
            body["deleteOptions"] = {"gracePeriodSeconds": grace_seconds}
        call(self.core.create_namespaced_pod_eviction, name, namespace, body, _preload_content=False,
             what=f"evict Pod {namespace}/{name}", retry=retry)  # fmt: skip

    def patch_rollout(self, namespace: str, name: str, body: Obj, *, status: bool = False) -> Obj:
        fn = self.custom.patch_namespaced_custom_object_status if status else self.custom.patch_namespaced_custom_object
        where = "/status" if status else ""
        return _json(
            call(fn, *ROLLOUTS[:2], namespace, ROLLOUTS[2], name, body, _preload_content=False,
                 what=f"patch Rollout {namespace}/{name}{where}")
        )  # fmt: skip
