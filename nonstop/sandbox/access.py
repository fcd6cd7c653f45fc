"""SelfSubjectAccessReview for tests of preflight: allowed by default, a switch denies verb/resource pairs.

Only the review answers "no"; the requests themselves are not refused (the sandbox has no RBAC).
"""

from __future__ import annotations

import threading

from nonstop.toolkit.objects import Obj

__all__ = ["AccessRules", "review_access"]


class AccessRules:
    """What SelfSubjectAccessReview answers: allowed, unless a (verb, resource) pair was denied."""

    def __init__(self) -> None:
        self._denied: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def deny(self, verb: str, resource: str) -> None:
        """Deny `verb` on `resource` (`pods`, `pods/eviction`, `deployments.apps`, `*` for any)."""
        with self._lock:
            self._denied.add((verb, resource))

    def allow_all(self) -> None:
        with self._lock:
            self._denied.clear()

    def allowed(self, verb: str, resource: str, group: str = "", subresource: str = "") -> bool:
        names = {resource, f"{resource}.{group}" if group else resource, "*"}
        if subresource:
            names |= {f"{resource}/{subresource}", f"{resource}.{group}/{subresource}" if group else ""}
        with self._lock:
            return not any((v in (verb, "*")) and r in names for v, r in self._denied)

    def snapshot(self) -> list[list[str]]:
        with self._lock:
            return sorted([v, r] for v, r in self._denied)


def review_access(rules: AccessRules, body: Obj) -> Obj:
    """Answer a SelfSubjectAccessReview: allowed unless `rules` deny the verb on the resource."""
    spec = (body or {}).get("spec") or {}
    attrs = spec.get("resourceAttributes") or {}
    verb = attrs.get("verb", "")
    allowed = rules.allowed(verb, attrs.get("resource", ""), attrs.get("group", ""), attrs.get("subresource", ""))
    status: Obj = {"allowed": allowed}
    if allowed:
        status["reason"] = "the sandbox allows every request"
    else:
        status["denied"] = True
        status["reason"] = f"the sandbox was told to deny {verb} on {attrs.get('resource', '')}"
    return {
        "kind": "SelfSubjectAccessReview",
        "apiVersion": "authorization.k8s.io/v1",
        "metadata": {"creationTimestamp": None},
        "spec": spec,
        "status": status,
    }
