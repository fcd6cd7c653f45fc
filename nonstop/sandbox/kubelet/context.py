"""What every pod worker of one kubelet shares: the store, the event recorder, the spawner, the IPAM."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from nonstop.sandbox.events import EventRecorder
from nonstop.sandbox.ipam import IpAllocator
from nonstop.sandbox.kinds import by_resource
from nonstop.sandbox.kubelet.processes import Spawner
from nonstop.sandbox.store import Store

__all__ = ["DEFAULT_GRACE_SECONDS", "HOST_IP", "NODE_NAME", "PODS", "KubeletContext"]

PODS = by_resource("", "v1", "pods")
NODE_NAME = "sandbox"
HOST_IP = "127.0.0.1"
DEFAULT_GRACE_SECONDS = 30


@dataclass
class KubeletContext:
    """What every pod worker shares."""

    store: Store
    recorder: EventRecorder
    log: structlog.typing.FilteringBoundLogger
    spawner: Spawner
    ipam: IpAllocator
    workdir: Path
    backoff_initial: float = 10.0
    backoff_max: float = 300.0
    stopping: threading.Event = field(default_factory=threading.Event)
