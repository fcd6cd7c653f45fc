"""Server-side `meta.k8s.io/v1 Table` for `kubectl get`: the columns a real API server prints.

kubectl asks for `application/json;as=Table;v=v1;g=meta.k8s.io`; columns with priority 1 show
only with `-o wide`. Each row carries the object (as PartialObjectMetadata by default, whole with
`includeObject=Object`, none with `includeObject=None`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from nonstop.sandbox.kinds import Kind
from nonstop.toolkit.objects import Obj

__all__ = ["human_duration", "pod_status_column", "table"]

Column = tuple[str, str, int]  # name, type, priority
Row = list[Any]


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.strptime(text[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return None


def human_duration(seconds: float) -> str:
    """kubectl's `duration.HumanDuration`, e.g. 45s, 5m3s, 3h, 2d4h."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        rest = s % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d{rest}h" if rest else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    years, days = hours // (24 * 365), (hours // 24) % 365
    return f"{years}y{days}d" if years < 8 and days else f"{years}y"


def _age(text: str | None) -> str:
    when = _parse_time(text)
    if when is None:
        return "<unknown>"
    return human_duration((datetime.now(UTC) - when).total_seconds())


def _init_reason(pod: Obj) -> tuple[str | None, int, int]:
    """kubectl's `Init:…` status while initialising (None once done), and the sidecars' ready and restart counts."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    sidecars = {c.get("name") for c in spec.get("initContainers") or [] if c.get("restartPolicy") == "Always"}
    total = len(spec.get("initContainers") or [])
    ready = restarts = 0
    for index, cs in enumerate(status.get("initContainerStatuses") or []):
        state = cs.get("state") or {}
        term = state.get("terminated")
        restarts += int(cs.get("restartCount") or 0) if cs.get("name") in sidecars else 0
        if term is not None and term.get("exitCode") == 0:
            continue
        if cs.get("name") in sidecars and cs.get("started"):
            ready += 1 if cs.get("ready") else 0
            continue
        waiting = (state.get("waiting") or {}).get("reason")
        if term is not None:
            code = f"Signal:{term['signal']}" if term.get("signal") else f"ExitCode:{term.get('exitCode', 0)}"
            return f"Init:{term.get('reason') or code}", ready, restarts
        if waiting and waiting != "PodInitializing":
            return f"Init:{waiting}", ready, restarts
        return f"Init:{index}/{total}", ready, restarts
    return None, ready, restarts


def _initializing(pod: Obj) -> str | None:
    """The `Init:…` status of a pod still initialising (not `Initialized`), else None."""
    status = pod.get("status") or {}
    initialized = any(
        c.get("type") == "Initialized" and c.get("status") == "True" for c in status.get("conditions") or []
    )
    return None if initialized else _init_reason(pod)[0]


def pod_status_column(pod: Obj) -> str:
    """kubectl's STATUS column of a pod (k/k `printPod`)."""
    status = pod.get("status") or {}
    reason = status.get("reason") or status.get("phase") or "Unknown"
    initializing = _initializing(pod)
    if initializing is not None:
        reason = initializing
    else:
        for cs in reversed(status.get("containerStatuses") or []):
            state = cs.get("state") or {}
            if (state.get("waiting") or {}).get("reason"):
                reason = state["waiting"]["reason"]
            elif "terminated" in state:
                term = state["terminated"] or {}
                reason = term.get("reason") or (
                    f"Signal:{term['signal']}" if term.get("signal") else f"ExitCode:{term.get('exitCode', 0)}"
                )
    if pod["metadata"].get("deletionTimestamp"):
        reason = "Terminating"
    return str(reason)


def _pod_row(pod: Obj) -> Row:
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    statuses = status.get("containerStatuses") or []
    sidecars = sum(1 for c in spec.get("initContainers") or [] if c.get("restartPolicy") == "Always")
    total = len(spec.get("containers") or []) + sidecars
    _, sidecars_ready, sidecar_restarts = _init_reason(pod)
    ready = sum(1 for cs in statuses if cs.get("ready")) + sidecars_ready
    restarts = sum(int(cs.get("restartCount") or 0) for cs in statuses) + sidecar_restarts
    if _initializing(pod) is not None:  # kubectl counts every init container's restarts until initialised
        restarts = sum(int(cs.get("restartCount") or 0) for cs in status.get("initContainerStatuses") or [])
    gates = spec.get("readinessGates") or []
    return [
        pod["metadata"]["name"],
        f"{ready}/{total}",
        pod_status_column(pod),
        restarts,
        _age(pod["metadata"].get("creationTimestamp")),
        status.get("podIP") or "<none>",
        spec.get("nodeName") or "<none>",
        status.get("nominatedNodeName") or "<none>",
        f"{len(gates)}" if gates else "<none>",
    ]


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
        _age(obj["metadata"].get("creationTimestamp")),
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
        _age(obj["metadata"].get("creationTimestamp")),
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
        _age(obj["metadata"].get("creationTimestamp")),
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
        _age(obj["metadata"].get("creationTimestamp")),
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
        _age(obj["metadata"].get("creationTimestamp")),
    ]


def _event_row(obj: Obj) -> Row:
    involved = obj.get("involvedObject") or {}
    last = obj.get("lastTimestamp") or obj.get("eventTime") or obj["metadata"].get("creationTimestamp")
    first = obj.get("firstTimestamp") or last
    source = (obj.get("source") or {}).get("component") or obj.get("reportingComponent") or ""
    return [
        _age(last),
        obj.get("type", ""),
        obj.get("reason", ""),
        f"{str(involved.get('kind', '')).lower()}/{involved.get('name', '')}",
        involved.get("fieldPath", ""),
        source,
        obj.get("message", ""),
        _age(first),
        obj.get("count", 1),
        obj["metadata"]["name"],
    ]


def _name_age_row(obj: Obj) -> Row:
    return [obj["metadata"]["name"], _age(obj["metadata"].get("creationTimestamp"))]


def _namespace_row(obj: Obj) -> Row:
    phase = (obj.get("status") or {}).get("phase", "Active")
    return [obj["metadata"]["name"], phase, _age(obj["metadata"].get("creationTimestamp"))]


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
        _age(obj["metadata"].get("creationTimestamp")),
        info.get("kubeletVersion", ""),
        addresses.get("InternalIP") or "<none>",
        addresses.get("ExternalIP") or "<none>",
        info.get("osImage", ""),
        info.get("kernelVersion", ""),
        info.get("containerRuntimeVersion", ""),
    ]


def _configmap_row(obj: Obj) -> Row:
    data = len(obj.get("data") or {}) + len(obj.get("binaryData") or {})
    return [obj["metadata"]["name"], data, _age(obj["metadata"].get("creationTimestamp"))]


def _pdb_row(obj: Obj) -> Row:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    return [
        obj["metadata"]["name"],
        str(spec["minAvailable"]) if spec.get("minAvailable") is not None else "N/A",
        str(spec["maxUnavailable"]) if spec.get("maxUnavailable") is not None else "N/A",
        status.get("disruptionsAllowed", 0),
        _age(obj["metadata"].get("creationTimestamp")),
    ]


def _rollout_row(obj: Obj) -> Row:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    return [
        obj["metadata"]["name"],
        spec.get("replicas", 0),
        status.get("replicas", 0),
        status.get("updatedReplicas", 0),
        status.get("availableReplicas", 0),
        _age(obj["metadata"].get("creationTimestamp")),
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
        _age(obj["metadata"].get("creationTimestamp")),
        ", ".join(users),
        ", ".join(groups),
        ", ".join(accounts),
    ]


_S, _I = "string", "integer"
_CREATED_AT: tuple[list[Column], Callable[[Obj], Row]] = ([("Name", _S, 0), ("Created At", "date", 0)], _created_at_row)
_BINDING: tuple[list[Column], Callable[[Obj], Row]] = (
    [("Name", _S, 0), ("Role", _S, 0), ("Age", _S, 0), ("Users", _S, 1), ("Groups", _S, 1), ("ServiceAccounts", _S, 1)],
    _binding_row,
)
_LAYOUTS: dict[str, tuple[list[Column], Callable[[Obj], Row]]] = {
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
        _pod_row,
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


def _partial(obj: Obj, include: str) -> Obj | None:
    if include == "None":
        return None
    if include == "Object":
        return obj
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj.get("metadata", {})}


def table(kind: Kind, items: list[Obj], *, resource_version: str | None, include: str = "Metadata") -> Obj:
    """A `meta.k8s.io/v1 Table` of `items` with the kind's columns."""
    layout = _LAYOUTS.get(kind.resource) if not (kind.resource == "events" and kind.group) else None
    columns, row = layout or ([("Name", _S, 0), ("Age", _S, 0)], _name_age_row)
    meta: Obj = {"resourceVersion": resource_version} if resource_version is not None else {}
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": meta,
        "columnDefinitions": [
            {
                "name": name,
                "type": typ,
                "format": "name" if name == "Name" else "",
                "description": name,
                "priority": priority,
            }
            for name, typ, priority in columns
        ],
        "rows": [{"cells": row(item), "object": _partial(item, include)} for item in items],
    }
