"""Small builders shared by the API tests (plain dicts, as a user would write them)."""

from __future__ import annotations

from typing import Any

# Pods bound to a node no sandbox kubelet runs: the API's own semantics stay observable.
FOREIGN_NODE = "elsewhere"


def deployment(name: str, *, replicas: int = 1, image: str = "nonstop/sample-app:v1", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [
                        {
                            "name": "web",
                            "image": image,
                            "ports": [{"containerPort": 8080}],
                            "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}},
                        }
                    ]
                },
            },
            **spec,
        },
    }


def pod(name: str, *, labels: dict[str, str] | None = None, node: str | None = FOREIGN_NODE) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "app", "image": "nonstop/sample-app:v1"}]}
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels or {}}, "spec": spec}


def configmap(name: str, data: dict[str, str] | None = None, **meta: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, **meta}, "data": data or {}}


def rollout(name: str, replicas: int = 2) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "a", "image": "x"}]}},
            "strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {}}]}},
        },
    }
