"""The drills the rendered CronWorkflow, Argo CD hook and AnalysisTemplate carry.

They are copy-and-edit starting points: `web` and its Service `web` stand for the user's workload.
Each is validated by `nonstop.spec` when rendered, so an example can never drift from the spec.
"""

from __future__ import annotations

from typing import Any

import yaml

from nonstop.spec import parse_drill

__all__ = ["analysis_drill_yaml", "hook_drill", "resilience_drill", "to_yaml"]


def _drill(name: str, target: dict[str, Any], rollout: dict[str, Any], decision: dict[str, Any]) -> dict[str, Any]:
    data = {
        "apiVersion": "nonstop.dev/v1alpha1",
        "kind": "Drill",
        "metadata": {"name": name},
        "spec": {"target": target, "rollout": rollout, "decision": decision},
    }
    parse_drill(data, source=f"example drill {name}")
    return data


def resilience_drill() -> dict[str, Any]:
    """The scheduled drill: restart `web` under load; pass annotates the verified revision."""
    return _drill(
        "web-resilience",
        {"kind": "Deployment", "name": "web", "service": "web", "port": 80},
        {"strategy": "restart"},
        {"onPass": "promote", "onFail": "none"},
    )


def hook_drill() -> dict[str, Any]:
    """The PostSync drill: restart the version Argo CD just synced; a failure only fails the sync."""
    return _drill(
        "web-postsync",
        {"kind": "Deployment", "name": "web", "service": "web", "port": 80},
        {"strategy": "restart"},
        {"onPass": "promote", "onFail": "none"},
    )


def analysis_drill_yaml() -> str:
    """The analysis drill with Argo Rollouts `{{args.*}}` placeholders: observe only, decide nothing."""
    data = _drill(
        "analysis",
        {"kind": "Rollout", "name": "web", "service": "web", "port": 80},
        {"strategy": "external"},
        {"onPass": "none", "onFail": "none"},
    )
    data["metadata"]["name"] = "{{args.rollout}}-analysis"
    data["spec"]["target"].update(name="{{args.rollout}}", service="{{args.service}}", port="{{args.port}}")
    return to_yaml(data)


def to_yaml(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False)
