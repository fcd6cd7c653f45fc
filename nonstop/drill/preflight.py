"""Preflight: refuse to start, changing nothing, when the drill cannot run safely.

Checks, in order: the namespace is not protected; the target and Service exist and are wired
together; the strategy's own (`Strategy.preflight`: an image's container exists, a drain's node
exists and runs a pod of the target); the load URL is the
Service's own address unless an external one is allowed; the credentials may do every verb the
drill will use (SelfSubjectAccessReview; nodes checked cluster-wide). The live objects are
linted for the report (information only, never the verdict).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from checks.lint import lint_objects
from nonstop.drill.target import Target, resolve_target
from nonstop.errors import DrillAborted, ForbiddenError, InputError, SafetyError
from nonstop.kube.api import Kube
from nonstop.logs import get_logger
from nonstop.permissions import CLUSTER_SCOPED, Permission
from nonstop.spec import DrillSpec
from nonstop.strategies import required_permissions, strategy_for

__all__ = ["Preflight", "preflight"]

log = get_logger("preflight")


@dataclass
class Preflight:
    target: Target
    url: str
    permissions: list[Permission]
    lint: list[dict[str, Any]] = field(default_factory=list)


def _load_url(spec: DrillSpec, target: Target) -> str:
    service_url = f"http://{target.cluster_ip}:{target.service_port}" if target.cluster_ip else None
    url = spec.load.url
    if url is None:
        if service_url is None:
            raise SafetyError(
                f"Service {target.namespace}/{spec.target.service} has no ClusterIP (headless); "
                "set spec.load.url and spec.load.allowExternalUrl to send the load elsewhere"
            )
        return service_url
    host = urlsplit(url).hostname
    if host != target.cluster_ip and not spec.load.allow_external_url:
        raise SafetyError(
            f"spec.load.url {url} is not the Service's address ({service_url}); "
            "set spec.load.allowExternalUrl: true to send the load there"
        )
    return url.rstrip("/")


def _lint(kube: Kube, target: Target) -> list[dict[str, Any]]:
    """Lint the live workload with the Services, PDBs and HPAs of its namespace (findings as dicts)."""
    objects = [target.workload]
    for kind in ("Service", "PodDisruptionBudget", "HorizontalPodAutoscaler"):
        objects.extend(kube.list_objects(target.namespace, kind))
    return [finding.as_dict() for finding in lint_objects(objects)]


def preflight(kube: Kube, spec: DrillSpec, *, namespace: str, interrupted: threading.Event | None = None) -> Preflight:
    """Run every preflight check; raise a NonstopError (exit 2) at the first that fails (or when interrupted)."""

    def check(p: Permission) -> bool:
        if interrupted is not None and interrupted.is_set():
            raise DrillAborted("interrupted before the rollout started; nothing was changed")
        where = "" if p.resource in CLUSTER_SCOPED else namespace
        return kube.can(p.verb, group=p.group, resource=p.resource, subresource=p.subresource, namespace=where)

    protected = spec.safety.protected_namespaces
    if namespace in protected:
        raise SafetyError(
            f"namespace {namespace!r} is protected (spec.safety.protectedNamespaces); nonstop never drills there"
        )
    locustfile = spec.load.locustfile
    if locustfile is not None and not Path(locustfile).expanduser().is_file():
        raise InputError(f"spec.load.locustfile: {locustfile!r} is not a file; give a path to a Locust file or null")
    target = resolve_target(kube, spec, namespace)
    strategy_for(spec).preflight(kube, target)
    url = _load_url(spec, target)
    permissions = required_permissions(
        kind=spec.target.kind,
        strategy=spec.rollout.strategy,
        on_pass=spec.decision.on_pass,
        on_fail=spec.decision.on_fail,
        terminate_old_pods=spec.chaos.terminate_old_pods,
    )
    denied = [p for p in permissions if not check(p)]
    if denied:
        listed = ", ".join(str(p) for p in denied)
        raise ForbiddenError(
            f"the credentials may not {listed} in namespace {namespace}; "
            "grant them (nonstop workflows render writes a Role that does)"
        )
    lint = _lint(kube, target)
    log.info(
        "preflight passed", target=f"{target.kind}/{target.name}", namespace=namespace, url=url, findings=len(lint)
    )
    return Preflight(target=target, url=url, permissions=permissions, lint=lint)
