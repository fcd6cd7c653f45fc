"""core/v1 Events as Kubernetes components record them, duplicates folded into a `count`."""

from __future__ import annotations

import threading
import uuid
from typing import Literal

from nonstop.sandbox.kinds import by_resource
from nonstop.sandbox.store import Obj, Store, now_rfc3339

__all__ = ["EventRecorder"]

EVENTS = by_resource("", "v1", "events")


class EventRecorder:
    """Records Events on objects, as `source.component` (kubelet, deployment-controller, …)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._recent: dict[tuple[str, str, str, str, str, str], str] = {}  # fold key -> event name

    def record(
        self,
        involved: Obj,
        *,
        reason: str,
        message: str,
        component: str,
        type: Literal["Normal", "Warning"] = "Normal",
        field_path: str | None = None,
    ) -> None:
        """Record (or fold into an existing) Event about `involved`, as a real component would."""
        assert EVENTS is not None
        meta = involved["metadata"]
        namespace = meta.get("namespace") or "default"
        ref = {
            "kind": involved.get("kind"),
            "namespace": namespace,
            "name": meta["name"],
            "uid": meta.get("uid"),
            "apiVersion": involved.get("apiVersion"),
            "resourceVersion": meta.get("resourceVersion"),
        }
        if field_path:
            ref["fieldPath"] = field_path
        fold_key = (namespace, str(meta.get("uid")), reason, message, component, field_path or "")
        now = now_rfc3339()
        with self._lock:
            existing = self._recent.get(fold_key)
            if existing is not None and self._store.find(EVENTS, namespace, existing) is not None:

                def bump(event: Obj) -> None:
                    event["count"] = int(event.get("count", 1)) + 1
                    event["lastTimestamp"] = now

                self._store.mutate(EVENTS, namespace, existing, bump)
                return
            name = f"{meta['name']}.{uuid.uuid4().hex[:16]}"
            self._store.create(
                EVENTS,
                {
                    "metadata": {"name": name, "namespace": namespace},
                    "involvedObject": ref,
                    "reason": reason,
                    "message": message,
                    "type": type,
                    "source": {"component": component},
                    "reportingComponent": component,
                    "reportingInstance": "sandbox",
                    "firstTimestamp": now,
                    "lastTimestamp": now,
                    "eventTime": None,
                    "count": 1,
                },
            )
            self._recent[fold_key] = name
