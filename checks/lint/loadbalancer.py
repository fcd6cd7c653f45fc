"""Cloud load balancers: a preStop sleep must outlast the deregistration delay the manifest declares."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from checks.lint.lifecycle import prestop_sleep_seconds
from checks.lint.model import Finding
from checks.lint.objects import Context, Obj, Workload, as_int, as_list, as_map, object_name, same_namespace

__all__ = ["check_deregistration", "deregistration_delays"]

_ATTRIBUTE_KEYS = (
    "service.beta.kubernetes.io/aws-load-balancer-target-group-attributes",  # NLB through a Service
    "alb.ingress.kubernetes.io/target-group-attributes",  # ALB, on an Ingress or the Service it routes to
)
_DELAY = re.compile(r"deregistration_delay\.timeout_seconds\s*=\s*(\d+)")
_BACKEND_CONFIG_KEYS = ("cloud.google.com/backend-config", "beta.cloud.google.com/backend-config")


def _annotations(obj: Obj) -> Mapping[str, Any]:
    return as_map(as_map(obj.get("metadata")).get("annotations"))


def _aws_delay(obj: Obj) -> int | None:
    for key in _ATTRIBUTE_KEYS:
        match = _DELAY.search(str(_annotations(obj).get(key, "")))
        if match:
            return int(match.group(1))
    return None


def _ingress_services(ingress: Obj) -> set[str]:
    """Names of the Services an Ingress routes to (networking.k8s.io/v1 and the old extensions shape)."""
    spec = as_map(ingress.get("spec"))
    backends = [as_map(spec.get("defaultBackend") or spec.get("backend"))]
    for rule in as_list(spec.get("rules")):
        backends += [
            as_map(as_map(path).get("backend")) for path in as_list(as_map(as_map(rule).get("http")).get("paths"))
        ]
    names = {as_map(b.get("service")).get("name") or b.get("serviceName") for b in backends}
    return {str(n) for n in names if n}


def _backend_config_names(service: Obj) -> set[str]:
    for key in _BACKEND_CONFIG_KEYS:
        raw = _annotations(service).get(key)
        if not isinstance(raw, str):
            continue
        import json  # here: rarely needed, and `nonstop lint`'s text output has no other use for it

        try:
            value = json.loads(raw)
        except ValueError:
            return set()
        value = as_map(value)
        names = {value.get("default")} | set(as_map(value.get("ports")).values())
        return {str(n) for n in names if n}
    return set()


def deregistration_delays(workload: Workload, ctx: Context) -> list[tuple[int, str]]:
    """(seconds, where it is declared) for every deregistration or draining delay in front of the workload's pods."""
    found: list[tuple[int, str]] = []
    for service in workload.services:
        name = object_name(service)
        delay = _aws_delay(service)
        if delay is not None:
            found.append((delay, f"Service/{name}'s target-group attributes"))
        for config_name in _backend_config_names(service):
            for config in ctx.backend_configs:
                namespace = as_map(config.get("metadata")).get("namespace")
                if object_name(config) != config_name or not same_namespace(namespace, workload.namespace):
                    continue
                seconds = as_int(as_map(as_map(config.get("spec")).get("connectionDraining")).get("drainingTimeoutSec"))
                if seconds:
                    found.append((seconds, f"BackendConfig/{config_name}'s connectionDraining"))
        for ingress in ctx.ingresses:
            namespace = as_map(ingress.get("metadata")).get("namespace")
            if not same_namespace(namespace, workload.namespace) or name not in _ingress_services(ingress):
                continue
            delay = _aws_delay(ingress)
            if delay is not None:
                found.append((delay, f"Ingress/{object_name(ingress)}'s target-group attributes"))
    return found


def check_deregistration(workload: Workload, ctx: Context) -> Iterator[Finding]:
    """prestop-shorter-than-deregistration: a serving container's preStop sleep is shorter than the longest
    deregistration delay declared for a load balancer in front of it (AWS target-group attribute
    annotations on the Service or an Ingress routing to it, a GKE BackendConfig's connectionDraining).

    Containers without a preStop hook are left to `prestop-hook-missing`.
    """
    if not workload.services:
        return
    delays = deregistration_delays(workload, ctx)
    if not delays:
        return
    delay, where = max(delays)
    for container, sidecar in workload.containers:
        sleep = prestop_sleep_seconds(container)
        if sidecar or sleep is None or not workload.is_serving(container) or sleep >= delay:
            continue
        name = str(container.get("name", "<unnamed>"))
        yield workload.finding(
            "prestop-shorter-than-deregistration",
            f"container {name}'s preStop sleep ({sleep:g} s) is shorter than the {delay} s deregistration delay "
            f"{where} declare: the load balancer learns of the deregistration late (seconds, up to minutes) and "
            "lets requests already sent to the target run for up to that delay, while this pod stops serving after "
            f"{sleep:g} s plus its shutdown, so those requests fail (502/504 at the load balancer). Fix: a preStop "
            f"sleep of at least {delay} s (and terminationGracePeriodSeconds above it plus the drain), or a shorter "
            "deregistration delay.",
            container=name,
        )
