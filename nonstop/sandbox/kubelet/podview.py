"""The pod as its containers see it: what a `ContainerRunner` reads from and reports to its pod worker.

`PodWorker` (pods.py) implements `PodView`; containers.py depends on this interface and not on
pods.py, so the two modules do not import each other (pyproject.toml's import-linter contract
keeps the kubelet's modules acyclic).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Protocol

from nonstop.sandbox.kubelet.context import KubeletContext
from nonstop.sandbox.kubelet.termination import HookRunner, StopTimeline
from nonstop.sandbox.store import Obj

__all__ = ["HookedContainer", "PodView"]


class HookedContainer(Protocol):
    """What a preStop hook's handler needs of its container."""

    ports: dict[str, int]
    env: dict[str, str]


class PodView(Protocol):
    """The pod worker, as seen by each of its containers."""

    ctx: KubeletContext
    uid: str
    namespace: str
    name: str
    key: str
    pod_ip: str
    restart_policy: str
    terminating: threading.Event
    wake: threading.Event
    deletion_seen_mono: float | None
    log_dir: Path

    def snapshot(self) -> Obj: ...

    def grace_seconds(self) -> int: ...

    def event(self, reason: str, message: str, field_path: str | None = None, *, warning: bool = False) -> None: ...

    def note_sigterm(self, container: str, at: float) -> None: ...

    def note_stop(self, container: str, timeline: StopTimeline) -> None: ...

    def publish(self, *, terminal: bool = False) -> None: ...

    def hook_runner(self, runner: HookedContainer) -> HookRunner: ...
