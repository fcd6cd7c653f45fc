"""What every pod worker of one kubelet shares: its API, the spawner, the IPAM, the work directory."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from nonstop.sandbox.ipam import IpAllocator
from nonstop.sandbox.kubelet.incluster import InCluster
from nonstop.sandbox.kubelet.nodeapi import NODE_NAME, PODS, NodeApi
from nonstop.sandbox.kubelet.nodestatus import HOST_IP
from nonstop.sandbox.kubelet.processes import Spawner

__all__ = ["DEFAULT_GRACE_SECONDS", "HOST_IP", "NODE_NAME", "PODS", "KubeletContext"]

DEFAULT_GRACE_SECONDS = 30


@dataclass
class KubeletContext:
    """What every pod worker shares."""

    api: NodeApi
    log: structlog.typing.FilteringBoundLogger
    spawner: Spawner
    ipam: IpAllocator
    workdir: Path
    backoff_initial: float = 10.0
    backoff_max: float = 300.0
    stopping: threading.Event = field(default_factory=threading.Event)
    in_cluster: InCluster | None = None
    """The `kubernetes` Service env and projected ServiceAccount volumes (the node of the real
    control plane); None: pods get neither (the embedded sandbox)."""
