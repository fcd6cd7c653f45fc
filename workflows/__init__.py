"""Hera definitions of nonstop's GitOps integration: they build manifests and call the same CLI users call.

- `drill_template` — the `nonstop-drill` WorkflowTemplate (plan, lint, workers, drill, promote | abort)
- `resilience_cron` — the `nonstop-resilience-drill` CronWorkflow
- `postsync_hook` — the Argo CD PostSync hook Workflow
- `analysis_template` — the Argo Rollouts AnalysisTemplate (`job` metric; the exit code is the gate)
- `rbac_manifests`, `DRILL_RULES`, `WORKFLOW_RULES` — least-privilege RBAC, the verbs as data
- `pod_security_context`, `container_security_context` — Pod Security `restricted`, on every pod
- `WORKFLOW_TTL`, `POD_GC` — how long finished Workflows and their pods stay
- `render_manifests`, `write_manifests` — all of it as files with kustomizations
- `plan_values`, `write_plan`, `deadline_seconds` — what the plan step derives from a drill spec
- `drill_workflow`, `submit_drill`, `ArgoServer` — submission through the Argo Server API

Nothing here imports the `kubernetes` client or the sandbox. Names load on first use, so the
plan step (`nonstop workflows plan`) does not pay for importing Hera.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workflows.analysis import analysis_template
    from workflows.argocd_hook import HOOK_ANNOTATIONS, HOOK_HEADER, postsync_hook
    from workflows.cron import DEFAULT_SCHEDULE, resilience_cron
    from workflows.drill_template import OUTCOME_KEYS, drill_template
    from workflows.lifetime import POD_GC, WORKFLOW_TTL
    from workflows.names import DEFAULT_IMAGE, SERVICE_ACCOUNT, WORKFLOW_TEMPLATE
    from workflows.plan import PLAN_KEYS, deadline_seconds, plan_values, write_plan
    from workflows.rbac import DRILL_RULES, WORKFLOW_RULES, Rule, rbac_manifests
    from workflows.render import render_manifests, write_manifests
    from workflows.security import container_security_context, pod_security_context
    from workflows.submit import ArgoServer, drill_workflow, submit_drill

__all__ = [
    "DEFAULT_IMAGE",
    "DEFAULT_SCHEDULE",
    "DRILL_RULES",
    "HOOK_ANNOTATIONS",
    "HOOK_HEADER",
    "OUTCOME_KEYS",
    "PLAN_KEYS",
    "POD_GC",
    "SERVICE_ACCOUNT",
    "WORKFLOW_RULES",
    "WORKFLOW_TEMPLATE",
    "WORKFLOW_TTL",
    "ArgoServer",
    "Rule",
    "analysis_template",
    "container_security_context",
    "deadline_seconds",
    "drill_template",
    "drill_workflow",
    "plan_values",
    "pod_security_context",
    "postsync_hook",
    "rbac_manifests",
    "render_manifests",
    "resilience_cron",
    "submit_drill",
    "write_manifests",
    "write_plan",
]

_HOME = {
    "DEFAULT_IMAGE": "names",
    "SERVICE_ACCOUNT": "names",
    "WORKFLOW_TEMPLATE": "names",
    "DEFAULT_SCHEDULE": "cron",
    "resilience_cron": "cron",
    "DRILL_RULES": "rbac",
    "WORKFLOW_RULES": "rbac",
    "Rule": "rbac",
    "rbac_manifests": "rbac",
    "HOOK_ANNOTATIONS": "argocd_hook",
    "HOOK_HEADER": "argocd_hook",
    "POD_GC": "lifetime",
    "WORKFLOW_TTL": "lifetime",
    "pod_security_context": "security",
    "container_security_context": "security",
    "postsync_hook": "argocd_hook",
    "OUTCOME_KEYS": "drill_template",
    "drill_template": "drill_template",
    "PLAN_KEYS": "plan",
    "deadline_seconds": "plan",
    "plan_values": "plan",
    "write_plan": "plan",
    "analysis_template": "analysis",
    "render_manifests": "render",
    "write_manifests": "render",
    "ArgoServer": "submit",
    "drill_workflow": "submit",
    "submit_drill": "submit",
}


def __getattr__(name: str) -> Any:
    """Import the submodule that defines `name` on first use (PEP 562)."""
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module 'workflows' has no attribute {name!r}")
    return getattr(importlib.import_module(f"workflows.{module}"), name)
