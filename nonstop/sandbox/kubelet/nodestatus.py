"""What a sandbox node says about itself: the `Node` object's labels and status, as a kubelet reports them.

Shared by the embedded sandbox's nodes (`StoreNodeApi.register_nodes`: `sandbox`, or
`sandbox-1` … `sandbox-N`, all served by the one in-process kubelet) and by `NodeAgent`, the
node of another API server. Capacity and allocatable are this machine's CPUs and memory and 110
pods (every node of one sandbox reports the same machine); addresses are `InternalIP` 127.0.0.1
and `Hostname` (the node's name, or `localhost` for a node of another API server, which dials it).
"""

from __future__ import annotations

import os
import platform
import uuid
from pathlib import Path

from nonstop import __version__
from nonstop.toolkit.objects import Obj

__all__ = ["HOST_IP", "MAX_PODS", "arch", "node_labels", "node_lease", "node_object", "node_status"]

HOST_IP = "127.0.0.1"
"""Every pod's `status.hostIP` and every node's `InternalIP`: the pods run on this machine."""
MAX_PODS = 110


def _memory_kib() -> int:
    try:
        with Path("/proc/meminfo").open() as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 4 * 1024 * 1024


def arch() -> str:
    """The machine's architecture as Kubernetes names it (amd64, arm64, …)."""
    machine = platform.machine().lower()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine or "amd64")


def node_labels(name: str) -> dict[str, str]:
    """The well-known labels a kubelet sets on its Node (`kubernetes.io/hostname` is the topology key)."""
    machine = arch()
    return {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": machine,
        "beta.kubernetes.io/os": "linux",
        "beta.kubernetes.io/arch": machine,
        "node.nonstop.dev/sandbox": "true",
    }


def node_status(
    *,
    now: str,
    ready_since: str,
    boot_id: str,
    kubelet_port: int,
    kubelet_version: str,
    hostname: str = "localhost",
) -> Obj:
    """The status a kubelet posts: capacity, conditions (Ready), addresses, daemon endpoints, node info."""
    resources = {
        "cpu": str(os.cpu_count() or 1),
        "memory": f"{_memory_kib()}Ki",
        "pods": str(MAX_PODS),
        "ephemeral-storage": "10Gi",
    }

    def condition(ctype: str, status: str, reason: str, message: str) -> Obj:
        return {
            "type": ctype,
            "status": status,
            "reason": reason,
            "message": message,
            "lastHeartbeatTime": now,
            "lastTransitionTime": ready_since,
        }

    return {
        "capacity": resources,
        "allocatable": dict(resources),
        "conditions": [
            condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory"),
            condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
            condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
        ],
        "addresses": [{"type": "InternalIP", "address": HOST_IP}, {"type": "Hostname", "address": hostname}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": kubelet_port}},
        "nodeInfo": {
            "machineID": boot_id.replace("-", ""),
            "systemUUID": boot_id,
            "bootID": boot_id,
            "kernelVersion": platform.release(),
            "osImage": f"nonstop sandbox node ({platform.system()})",
            "containerRuntimeVersion": f"nonstop://{__version__}",
            "kubeletVersion": kubelet_version,
            "kubeProxyVersion": kubelet_version,
            "operatingSystem": "linux",
            "architecture": arch(),
        },
    }


def node_object(name: str, *, now: str, kubelet_version: str) -> Obj:
    """A whole Node of the embedded sandbox (Ready, schedulable), as its kubelet registers it."""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": node_labels(name), "annotations": {"node.alpha.kubernetes.io/ttl": "0"}},
        "spec": {},
        "status": node_status(
            now=now,
            ready_since=now,
            boot_id=str(uuid.uuid4()),
            kubelet_port=0,
            kubelet_version=kubelet_version,
            hostname=name,
        ),
    }


def node_lease(node: Obj, *, now: str) -> Obj:
    """The node's Lease in `kube-node-lease` (owned by the Node), renewed `now`, as a kubelet first writes it."""
    name = node["metadata"]["name"]
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {
            "name": name,
            "namespace": "kube-node-lease",
            "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": name, "uid": node["metadata"]["uid"]}],
        },
        "spec": {
            "holderIdentity": name,
            "leaseDurationSeconds": 40,
            "renewTime": now.replace("Z", ".000000Z"),
        },
    }
