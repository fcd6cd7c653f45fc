"""The columns `kubectl get` shows for each kind, and each object's row (k/k pkg/printers/internalversion).

A layout is the column definitions (name, type, priority: 1 shows only with `-o wide`) and the
function that makes an object's cells. Kinds without one show Name and Age.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nonstop.sandbox.ages import age
from nonstop.sandbox.podcolumns import pod_row
from nonstop.toolkit.objects import Obj

__all__ = ["DEFAULT_LAYOUT", "LAYOUTS", "Column", "Layout"]

Column = tuple[str, str, int]  # name, type, priority
Row = list[Any]
Layout = tuple[list[Column], Callable[[Obj], Row]]


def _containers(obj: Obj) -> tuple[str, str]:
    containers = ((obj.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers") or []
    return ",".join(c.get("name", "") for c in containers), ",".join(c.get("image", "") for c in containers)


def _selector(obj: Obj) -> str:
    match = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    return ",".join(f"{k}={v}" for k, v in sorted(match.items())) or "<none>"


def _deployment_row(obj: Obj) -> Row:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    names, images = _containers(obj)
    return [
        obj["metadata"]["name"],
        f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 0)}",
        status.get("updatedReplicas", 0),
        status.get("availableReplicas", 0),
        age(obj["metadata"].get("creationTimestamp")),
        names,
        images,
        _selector(obj),
    ]


def _replicaset_row(obj: Obj) -> Row:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    names, images = _containers(obj)
    return [
        obj["metadata"]["name"],
        spec.get("replicas", 0),
        status.get("replicas", 0),
        status.get("readyReplicas", 0),
        age(obj["metadata"].get("creationTimestamp")),
        names,
        images,
        _selector(obj),
    ]


def _service_row(obj: Obj) -> Row:
    spec = obj.get("spec") or {}
    ports = []
    for port in spec.get("ports") or []:
        text = f"{port.get('port')}"
        if port.get("nodePort"):
            text += f":{port['nodePort']}"
        ports.append(f"{text}/{port.get('protocol', 'TCP')}")
    selector = spec.get("selector") or {}
    external = ",".join(spec.get("externalIPs") or []) or "<none>"
    return [
        obj["metadata"]["name"],
        spec.get("type", "ClusterIP"),
        spec.get("clusterIP") or "<none>",
        external,
        ",".join(ports) or "<none>",
        age(obj["metadata"].get("creationTimestamp")),
        ",".join(f"{k}={v}" for k, v in sorted(selector.items())) or "<none>",
    ]


def _endpointslice_row(obj: Obj) -> Row:
    ports = ",".join(str(p.get("port")) for p in obj.get("ports") or []) or "<unset>"
    addresses = [a for ep in obj.get("endpoints") or [] for a in ep.get("addresses") or []]
    shown = ",".join(addresses[:3]) + (f" + {len(addresses) - 3} more..." if len(addresses) > 3 else "")
    return [
        obj["metadata"]["name"],
        obj.get("addressType", ""),
        ports,
        shown or "<unset>",
        age(obj["metadata"].get("creationTimestamp")),
    ]


def _endpoints_row(obj: Obj) -> Row:
    """k/k printers `formatEndpoints`: ready addresses as ip:port (ip alone without ports), 3 shown."""
    shown: list[str] = []
    count = 0
    for subset in obj.get("subsets") or []:
        ips = [str(a.get("ip")) for a in subset.get("addresses") or []]
        pairs = (
            [f"{ip}:{p.get('port')}" for p in subset.get("ports") or [] for ip in ips] if subset.get("ports") else ips
        )
        count += len(pairs)
        shown += pairs[: max(0, 3 - len(shown))]
    text = ",".join(shown) + (f" + {count - 3} more..." if count > 3 else "")
    return [
        obj["metadata"]["name"],
        text if obj.get("subsets") else "<none>",
        age(obj["metadata"].get("creationTimestamp")),
    ]


def _event_row(obj: Obj) -> Row:
    involved = obj.get("involvedObject") or {}
    last = obj.get("lastTimestamp") or obj.get("eventTime") or obj["metadata"].get("creationTimestamp")
    first = obj.get("firstTimestamp") or last
    source = (obj.get("source") or {}).get("component") or obj.get("reportingComponent") or ""
    return [
        age(last),
        obj.get("type", ""),
        obj.get("reason", ""),
        f"{str(involved.get('kind', '')).lower()}/{involved.get('name', '')}",
        involved.get("fieldPath", ""),
        source,
        obj.get("message", ""),
        age(first),
        obj.get("count", 1),
        obj["metadata"]["name"],
    ]


def _name_age_row(obj: Obj) -> Row:
    return [obj["metadata"]["name"], age(obj["metadata"].get("creationTimestamp"))]


def _namespace_row(obj: Obj) -> Row:
    phase = (obj.get("status") or {}).get("phase", "Active")
    return [obj["metadata"]["name"], phase, age(obj["metadata"].get("creationTimestamp"))]


def _node_row(obj: Obj) -> Row:
    spec, status, labels = obj.get("spec") or {}, obj.get("status") or {}, obj["metadata"].get("labels") or {}
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    state = "Unknown" if ready is None else {"True": "Ready", "False": "NotReady"}.get(ready.get("status"), "Unknown")
    if spec.get("unschedulable"):
        state += ",SchedulingDisabled"
    roles = sorted(k.split("/", 1)[1] for k in labels if k.startswith("node-role.kubernetes.io/") and "/" in k)
    addresses = {a.get("type"): a.get("address") for a in status.get("addresses") or []}
    info = status.get("nodeInfo") or {}
    return [
        obj["metadata"]["name"],
        state,
        ",".join(roles) or "<none>",
        age(obj["metadata"].get("creationTimestamp")),
        info.get("kubeletVersion", ""),
        addresses.get("InternalIP") or "<none>",
        addresses.get("ExternalIP") or "<none>",
        info.get("osImage", ""),
        info.get("kernelVersion", ""),
        info.get("containerRuntimeVersion", ""),
    ]


def _configmap_row(obj: Obj) -> Row:
    data = len(obj.get("data") or {}) + len(obj.get("binaryData") or {})
    return [obj["metadata"]["name"], data, age(obj["metadata"].get("creationTimestamp"))]


def _pdb_row(obj: Obj) -> Row:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    return [
        obj["metadata"]["name"],
        str(spec["minAvailable"]) if spec.get("minAvailable") is not None else "N/A",
        str(spec["maxUnavailable"]) if spec.get("maxUnavailable") is not None else "N/A",
        status.get("disruptionsAllowed", 0),
        age(obj["metadata"].get("creationTimestamp")),
    ]


def _rollout_row(obj: Obj) -> Row:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    return [
        obj["metadata"]["name"],
        spec.get("replicas", 0),
        status.get("replicas", 0),
        status.get("updatedReplicas", 0),
        status.get("availableReplicas", 0),
        age(obj["metadata"].get("creationTimestamp")),
    ]


def _created_at_row(obj: Obj) -> Row:
    """apiserver `rest.NewDefaultTableConvertor` (roles, clusterroles): the name and RFC 3339 creation time."""
    return [obj["metadata"]["name"], obj["metadata"].get("creationTimestamp") or "0001-01-01T00:00:00Z"]


def _binding_row(obj: Obj) -> Row:
    """k/k printers `printRoleBinding` with `Wide` (as the server prints): subjects split by `rbac.SubjectsStrings`."""
    ref = obj.get("roleRef") or {}
    users: list[str] = []
    groups: list[str] = []
    accounts: list[str] = []
    for subject in obj.get("subjects") or []:
        kind, name = subject.get("kind"), subject.get("name", "")
        if kind == "ServiceAccount":
            accounts.append(f"{subject.get('namespace', '')}/{name}")
        elif kind == "User":
            users.append(name)
        elif kind == "Group":
            groups.append(name)
    return [
        obj["metadata"]["name"],
        f"{ref.get('kind', '')}/{ref.get('name', '')}",
        age(obj["metadata"].get("creationTimestamp")),
        ", ".join(users),
        ", ".join(groups),
        ", ".join(accounts),
    ]


_S, _I = "string", "integer"
_CREATED_AT: Layout = ([("Name", _S, 0), ("Created At", "date", 0)], _created_at_row)
_BINDING: Layout = (
    [("Name", _S, 0), ("Role", _S, 0), ("Age", _S, 0), ("Users", _S, 1), ("Groups", _S, 1), ("ServiceAccounts", _S, 1)],
    _binding_row,
)
LAYOUTS: dict[str, Layout] = {
    "pods": (
        [
            ("Name", _S, 0),
            ("Ready", _S, 0),
            ("Status", _S, 0),
            ("Restarts", _S, 0),
            ("Age", _S, 0),
            ("IP", _S, 1),
            ("Node", _S, 1),
            ("Nominated Node", _S, 1),
            ("Readiness Gates", _S, 1),
        ],
        pod_row,
    ),
    "deployments": (
        [
            ("Name", _S, 0),
            ("Ready", _S, 0),
            ("Up-to-date", _I, 0),
            ("Available", _I, 0),
            ("Age", _S, 0),
            ("Containers", _S, 1),
            ("Images", _S, 1),
            ("Selector", _S, 1),
        ],
        _deployment_row,
    ),
    "replicasets": (
        [
            ("Name", _S, 0),
            ("Desired", _I, 0),
            ("Current", _I, 0),
            ("Ready", _I, 0),
            ("Age", _S, 0),
            ("Containers", _S, 1),
            ("Images", _S, 1),
            ("Selector", _S, 1),
        ],
        _replicaset_row,
    ),
    "services": (
        [
            ("Name", _S, 0),
            ("Type", _S, 0),
            ("Cluster-IP", _S, 0),
            ("External-IP", _S, 0),
            ("Port(s)", _S, 0),
            ("Age", _S, 0),
            ("Selector", _S, 1),
        ],
        _service_row,
    ),
    "endpointslices": (
        [("Name", _S, 0), ("AddressType", _S, 0), ("Ports", _S, 0), ("Endpoints", _S, 0), ("Age", _S, 0)],
        _endpointslice_row,
    ),
    "endpoints": ([("Name", _S, 0), ("Endpoints", _S, 0), ("Age", _S, 0)], _endpoints_row),
    "events": (
        [
            ("Last Seen", _S, 0),
            ("Type", _S, 0),
            ("Reason", _S, 0),
            ("Object", _S, 0),
            ("Subobject", _S, 1),
            ("Source", _S, 1),
            ("Message", _S, 0),
            ("First Seen", _S, 1),
            ("Count", _S, 1),
            ("Name", _S, 1),
        ],
        _event_row,
    ),
    "namespaces": ([("Name", _S, 0), ("Status", _S, 0), ("Age", _S, 0)], _namespace_row),
    "configmaps": ([("Name", _S, 0), ("Data", _I, 0), ("Age", _S, 0)], _configmap_row),
    "nodes": (
        [
            ("Name", _S, 0),
            ("Status", _S, 0),
            ("Roles", _S, 0),
            ("Age", _S, 0),
            ("Version", _S, 0),
            ("Internal-IP", _S, 1),
            ("External-IP", _S, 1),
            ("OS-Image", _S, 1),
            ("Kernel-Version", _S, 1),
            ("Container-Runtime", _S, 1),
        ],
        _node_row,
    ),
    "poddisruptionbudgets": (
        [
            ("Name", _S, 0),
            ("Min Available", _S, 0),
            ("Max Unavailable", _S, 0),
            ("Allowed Disruptions", _I, 0),
            ("Age", _S, 0),
        ],
        _pdb_row,
    ),
    "roles": _CREATED_AT,
    "clusterroles": _CREATED_AT,
    "rolebindings": _BINDING,
    "clusterrolebindings": _BINDING,
    "rollouts": (
        [
            ("Name", _S, 0),
            ("Desired", _I, 0),
            ("Current", _I, 0),
            ("Up-to-date", _I, 0),
            ("Available", _I, 0),
            ("Age", _S, 0),
        ],
        _rollout_row,
    ),
}
DEFAULT_LAYOUT: Layout = ([("Name", _S, 0), ("Age", _S, 0)], _name_age_row)
