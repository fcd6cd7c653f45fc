"""The resources the sandbox serves: group, version, plural, kind, scope and subresources."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["KINDS", "Kind", "by_kind", "by_resource", "require"]


@dataclass(frozen=True)
class Kind:
    """One served resource type (K8S-SEMANTICS.md §6 "Paths")."""

    group: str
    version: str
    resource: str
    kind: str
    namespaced: bool = True
    short_names: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
    custom: bool = False
    categories: tuple[str, ...] = field(default=())
    returns_deleted: bool = False
    """A DELETE answers with the object, not a `Status` (the registry's `ReturnDeletedObject`)."""

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def prefix(self) -> str:
        """URL prefix of the group version: `/api/v1` or `/apis/<group>/<version>`."""
        return f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"


KINDS: tuple[Kind, ...] = (
    Kind(
        "",
        "v1",
        "namespaces",
        "Namespace",
        namespaced=False,
        short_names=("ns",),
        subresources=("status",),
        returns_deleted=True,
    ),
    Kind("", "v1", "nodes", "Node", namespaced=False, short_names=("no",), subresources=("status",)),
    Kind(
        "",
        "v1",
        "pods",
        "Pod",
        short_names=("po",),
        subresources=("status", "eviction", "log"),
        categories=("all",),
        returns_deleted=True,
    ),
    Kind(
        "",
        "v1",
        "services",
        "Service",
        short_names=("svc",),
        subresources=("status",),
        categories=("all",),
        returns_deleted=True,
    ),
    Kind("", "v1", "endpoints", "Endpoints", short_names=("ep",)),
    Kind("", "v1", "events", "Event", short_names=("ev",)),
    Kind("", "v1", "configmaps", "ConfigMap", short_names=("cm",)),
    Kind("", "v1", "secrets", "Secret"),
    Kind("", "v1", "serviceaccounts", "ServiceAccount", short_names=("sa",), returns_deleted=True),
    Kind(
        "apps",
        "v1",
        "deployments",
        "Deployment",
        short_names=("deploy",),
        subresources=("status", "scale"),
        categories=("all",),
    ),
    Kind(
        "apps",
        "v1",
        "replicasets",
        "ReplicaSet",
        short_names=("rs",),
        subresources=("status", "scale"),
        categories=("all",),
    ),
    Kind("apps", "v1", "statefulsets", "StatefulSet", short_names=("sts",), subresources=("status", "scale")),
    Kind("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice"),
    Kind("events.k8s.io", "v1", "events", "Event", short_names=("ev",)),
    Kind("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", short_names=("pdb",), subresources=("status",)),
    Kind(
        "autoscaling",
        "v2",
        "horizontalpodautoscalers",
        "HorizontalPodAutoscaler",
        short_names=("hpa",),
        subresources=("status",),
    ),
    Kind(  # a view of the v2 objects (hpa.py)
        "autoscaling",
        "v1",
        "horizontalpodautoscalers",
        "HorizontalPodAutoscaler",
        short_names=("hpa",),
        verbs=("create", "delete", "get", "list", "watch"),
    ),
    Kind("coordination.k8s.io", "v1", "leases", "Lease"),
    Kind(
        "authorization.k8s.io",
        "v1",
        "selfsubjectaccessreviews",
        "SelfSubjectAccessReview",
        namespaced=False,
        verbs=("create",),
    ),
    Kind(
        "authentication.k8s.io",
        "v1",
        "selfsubjectreviews",
        "SelfSubjectReview",
        namespaced=False,
        verbs=("create",),
    ),
    # RBAC objects are stored and served, never enforced: the sandbox authorizes through its review switch only.
    Kind("rbac.authorization.k8s.io", "v1", "roles", "Role"),
    Kind("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding"),
    Kind("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", namespaced=False),
    Kind("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", namespaced=False),
    Kind(
        "argoproj.io",
        "v1alpha1",
        "rollouts",
        "Rollout",
        short_names=("ro",),
        subresources=("status", "scale"),
        custom=True,
    ),
)


def by_resource(group: str, version: str, resource: str) -> Kind | None:
    """The Kind served at `group/version/resource`, or None."""
    for kind in KINDS:
        if (kind.group, kind.version, kind.resource) == (group, version, resource):
            return kind
    return None


def by_kind(api_version: str, kind_name: str) -> Kind | None:
    """The Kind of an object's `apiVersion` and `kind`, or None."""
    for kind in KINDS:
        if kind.api_version == api_version and kind.kind == kind_name:
            return kind
    return None


def require(group: str, version: str, resource: str) -> Kind:
    """The Kind served at `group/version/resource`; LookupError if the sandbox does not serve it."""
    kind = by_resource(group, version, resource)
    if kind is None:
        raise LookupError(f"the sandbox does not serve {group}/{version}/{resource}")
    return kind
