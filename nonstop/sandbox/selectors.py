"""Label and field selectors as the API server parses them (K8S-SEMANTICS.md §6 "List").

Label selectors: `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`; commas AND them.
Field selectors: `=`, `==`, `!=` on the fields each kind supports; any other field answers 400 with
Kubernetes' own message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from nonstop.sandbox.apierrors import bad_request
from nonstop.sandbox.kinds import Kind
from nonstop.toolkit.objects import Obj

__all__ = [
    "FieldSelector",
    "LabelSelector",
    "field_value",
    "parse_field_selector",
    "parse_label_selector",
]


_SET_RE = re.compile(r"^\s*(!?)\s*([A-Za-z0-9._/-]+)\s*(?:(notin|in)\s*\(([^)]*)\))?\s*$")
_EQ_RE = re.compile(r"^\s*([A-Za-z0-9._/-]+)\s*(==|!=|=)\s*([A-Za-z0-9._-]*)\s*$")


@dataclass(frozen=True)
class _Requirement:
    key: str
    op: str  # "in" | "notin" | "exists" | "!exists"
    values: frozenset[str]

    def matches(self, labels: dict[str, str]) -> bool:
        if self.op == "exists":
            return self.key in labels
        if self.op == "!exists":
            return self.key not in labels
        if self.op == "in":
            return self.key in labels and labels[self.key] in self.values
        return self.key not in labels or labels[self.key] not in self.values


@dataclass(frozen=True)
class LabelSelector:
    """A parsed label selector; the empty one matches everything."""

    requirements: tuple[_Requirement, ...] = ()

    def matches(self, labels: dict[str, str] | None) -> bool:
        labels = labels or {}
        return all(req.matches(labels) for req in self.requirements)

    @property
    def empty(self) -> bool:
        return not self.requirements


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    parts: list[str] = []
    depth = 0
    current = ""
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [p for p in parts if p.strip()]


def parse_label_selector(text: str | None) -> LabelSelector:
    """Parse `labelSelector`; a malformed one answers 400 like the API server."""
    if not text or not text.strip():
        return LabelSelector()
    reqs: list[_Requirement] = []
    for part in _split_top_level(text):
        eq = _EQ_RE.match(part)
        if eq:
            key, op, value = eq.groups()
            reqs.append(_Requirement(key, "notin" if op == "!=" else "in", frozenset({value})))
            continue
        found = _SET_RE.match(part)
        if not found:
            raise bad_request(f"unable to parse requirement: found '{part.strip()}', expected: in, notin, =, ==, !=")
        bang, key, op, values = found.groups()
        if op:
            if bang:
                raise bad_request(f"unable to parse requirement: found '{part.strip()}'")
            vals = frozenset(v.strip() for v in values.split(",") if v.strip())
            reqs.append(_Requirement(key, op, vals))
        else:
            reqs.append(_Requirement(key, "!exists" if bang else "exists", frozenset()))
    return LabelSelector(tuple(reqs))


# -- field selectors ---------------------------------------------------------------------------

_COMMON = ("metadata.name", "metadata.namespace")
_EVENT_FIELDS = (
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
)
_EXTRA_FIELDS: dict[tuple[str, str], tuple[str, ...]] = {
    ("", "pods"): (
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "spec.hostNetwork",
        "status.phase",
        "status.podIP",
        "status.nominatedNodeName",
    ),
    ("", "events"): _EVENT_FIELDS,
    ("events.k8s.io", "events"): _EVENT_FIELDS,
    ("", "namespaces"): ("status.phase",),
    ("", "nodes"): ("spec.unschedulable",),
    ("", "secrets"): ("type",),
    ("apps", "replicasets"): ("status.replicas",),
}


def field_value(obj: Obj, path: str) -> str:
    """The string value a field selector compares (missing fields compare as "")."""
    if path == "source":
        source = obj.get("source") or {}
        return str(source.get("component") or obj.get("reportingComponent") or "")
    current: Any = obj
    for part in path.split("."):
        if not isinstance(current, dict):
            return ""
        current = current.get(part)
    if current is None:
        return ""
    if isinstance(current, bool):
        return "true" if current else "false"
    return str(current)


@dataclass(frozen=True)
class FieldSelector:
    """A parsed field selector: (path, equal?, value) terms, all of which must hold."""

    terms: tuple[tuple[str, bool, str], ...] = ()

    def matches(self, obj: Obj) -> bool:
        return all((field_value(obj, path) == value) == equal for path, equal, value in self.terms)

    @property
    def empty(self) -> bool:
        return not self.terms


def parse_field_selector(kind: Kind, text: str | None) -> FieldSelector:
    """Parse `fieldSelector` for `kind`; unknown fields answer 400 with Kubernetes' message."""
    if not text or not text.strip():
        return FieldSelector()
    allowed = _COMMON + _EXTRA_FIELDS.get((kind.group, kind.resource), ())
    terms: list[tuple[str, bool, str]] = []
    for part in text.split(","):
        if not part.strip():
            continue
        for op in ("!=", "==", "="):
            if op in part:
                path, value = part.split(op, 1)
                break
        else:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{part}'")
        path = path.strip()
        if path not in allowed and (kind.group, kind.resource) in _EXTRA_FIELDS:
            raise bad_request(f"field label not supported: {path}")  # the kind's own field label conversion
        if path not in allowed and not kind.custom:
            known = ", ".join(f'"{name}"' for name in _COMMON)
            raise bad_request(f'"{path}" is not a known field selector: only {known}')
        if kind.custom and path not in _COMMON:
            raise bad_request(f'"{path}" is not a known field selector: only "metadata.name", "metadata.namespace"')
        terms.append((path, op != "!=", value.strip()))
    return FieldSelector(tuple(terms))
