"""The security contexts every rendered pod and container carries: Pod Security `restricted`.

Every pod we render (each WorkflowTemplate step, the Locust worker daemons, the Argo Rollouts
analysis Job) sets:

- pod level: `runAsNonRoot: true`, `runAsUser`/`runAsGroup` 65532 (the step image's user),
  `seccompProfile: RuntimeDefault`;
- container level: `allowPrivilegeEscalation: false`, `capabilities: {drop: [ALL]}`, and the same
  non-root user and seccomp profile again, so a controller default for main containers (Argo's
  `mainContainer` setting) cannot put a step back on another user or profile.

No host namespaces, host ports, hostPath or other volumes, no added capability: the steps bind
only ports above 1024 and write only under `/tmp/nonstop` in their own container.

Argo Workflows adds its own `init` and `wait` containers to each step's pod; they inherit the pod
level, and their container level comes from the controller's `executor` setting, which the
cluster's Argo installation owns (docs/gitops.md shows the lines a `restricted` namespace needs).

The values are plain data (no Hera import): the analysis Job is a plain object too.
"""

from __future__ import annotations

import copy
from typing import Any

from workflows.names import NON_ROOT_UID

__all__ = ["container_security_context", "pod_security_context"]

_SECCOMP = {"type": "RuntimeDefault"}

_POD_SECURITY_CONTEXT: dict[str, Any] = {
    "runAsNonRoot": True,
    "runAsUser": NON_ROOT_UID,
    "runAsGroup": NON_ROOT_UID,
    "seccompProfile": _SECCOMP,
}

_CONTAINER_SECURITY_CONTEXT: dict[str, Any] = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "runAsNonRoot": True,
    "runAsUser": NON_ROOT_UID,
    "runAsGroup": NON_ROOT_UID,
    "seccompProfile": _SECCOMP,
}


def pod_security_context() -> dict[str, Any]:
    """The pod-level `securityContext` (a fresh copy: callers may embed it in their objects)."""
    return copy.deepcopy(_POD_SECURITY_CONTEXT)


def container_security_context() -> dict[str, Any]:
    """The container-level `securityContext` of every container we render (a fresh copy)."""
    return copy.deepcopy(_CONTAINER_SECURITY_CONTEXT)
