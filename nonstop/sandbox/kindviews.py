"""Kinds served as a view of another stored kind (K8S-SEMANTICS.md §6).

events.k8s.io/v1 Events are a read-only view of the stored core/v1 Events, autoscaling/v1
HorizontalPodAutoscalers a view of the stored autoscaling/v2 ones (`hpa.py`). Reads, lists and
watches of a view read the stored kind and show each object as the view's.
"""

from __future__ import annotations

from nonstop.sandbox import hpa
from nonstop.sandbox.kinds import Kind, require
from nonstop.sandbox.store import Obj

__all__ = ["CORE_EVENTS", "HPA_V1", "HPA_V2", "NEW_EVENTS", "as_viewed", "stored", "to_new_event"]

CORE_EVENTS = require("", "v1", "events")
NEW_EVENTS = require("events.k8s.io", "v1", "events")
HPA_V1 = require("autoscaling", "v1", "horizontalpodautoscalers")
HPA_V2 = require("autoscaling", "v2", "horizontalpodautoscalers")


def stored(kind: Kind) -> Kind:
    """The kind whose stored objects `kind` shows (itself unless it is a view)."""
    return CORE_EVENTS if kind is NEW_EVENTS else HPA_V2 if kind is HPA_V1 else kind


def as_viewed(kind: Kind, obj: Obj) -> Obj:
    """A stored object of `stored(kind)` as `kind` shows it."""
    if kind is NEW_EVENTS:
        return to_new_event(obj)
    if kind is HPA_V1:
        return hpa.to_v1(obj)
    return obj


def to_new_event(event: Obj) -> Obj:
    """A core/v1 Event as events.k8s.io/v1 shows it."""
    meta = event["metadata"]
    involved = event.get("involvedObject") or {}
    return {
        "kind": "Event",
        "apiVersion": "events.k8s.io/v1",
        "metadata": meta,
        "eventTime": event.get("eventTime") or event.get("firstTimestamp") or meta.get("creationTimestamp"),
        "reportingController": event.get("reportingComponent") or (event.get("source") or {}).get("component", ""),
        "reportingInstance": event.get("reportingInstance", ""),
        "action": event.get("action", event.get("reason", "")),
        "reason": event.get("reason", ""),
        "regarding": involved,
        "note": event.get("message", ""),
        "type": event.get("type", "Normal"),
        "deprecatedSource": event.get("source") or {},
        "deprecatedFirstTimestamp": event.get("firstTimestamp"),
        "deprecatedLastTimestamp": event.get("lastTimestamp"),
        "deprecatedCount": event.get("count", 1),
    }
