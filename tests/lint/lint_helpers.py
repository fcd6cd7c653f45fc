"""Small inline manifests for the lint tests: a Deployment with no hazards, and helpers to break it."""

from __future__ import annotations

import copy
from typing import Any

import yaml

from checks.lint import Finding, lint_objects

GOOD_DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  replicas: 3
  strategy:
    type: RollingUpdate
    rollingUpdate: {maxSurge: 1, maxUnavailable: 0}
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web, tier: frontend}
    spec:
      terminationGracePeriodSeconds: 30
      topologySpreadConstraints:
        - {maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: ScheduleAnyway,
           labelSelector: {matchLabels: {app: web}}}
      containers:
        - name: web
          image: registry.example/web:1.2.3
          ports:
            - {name: http, containerPort: 8080}
          readinessProbe:
            httpGet: {path: /ready, port: http}
          livenessProbe:
            httpGet: {path: /healthz, port: http}
          lifecycle:
            preStop:
              sleep: {seconds: 5}
"""


def load(text: str) -> list[dict[str, Any]]:
    """Every non-empty document of a YAML text."""
    return [doc for doc in yaml.safe_load_all(text) if doc]


def good() -> dict[str, Any]:
    """A fresh copy of a Deployment that breaks no rule."""
    return copy.deepcopy(load(GOOD_DEPLOYMENT)[0])


def pod(obj: dict[str, Any]) -> dict[str, Any]:
    """The pod spec of a workload."""
    spec: dict[str, Any] = obj["spec"]["template"]["spec"]
    return spec


def container(obj: dict[str, Any], index: int = 0) -> dict[str, Any]:
    """One container of a workload."""
    found: dict[str, Any] = pod(obj)["containers"][index]
    return found


def findings(objects: list[dict[str, Any]], rule: str | None = None, **kwargs: Any) -> list[Finding]:
    """The findings on `objects`, only those of `rule` when given."""
    found = lint_objects(objects, **kwargs)
    return [f for f in found if rule is None or f.rule == rule]


def rule_ids(objects: list[dict[str, Any]], **kwargs: Any) -> list[str]:
    """The rule ids found, in order."""
    return [f.rule for f in lint_objects(objects, **kwargs)]
