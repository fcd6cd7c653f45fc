"""Hera definitions of nonstop's GitOps integration: they build manifests and call the same CLI users call.

- `drill_template` — the `nonstop-drill` WorkflowTemplate (plan, lint, workers, drill, promote | abort)
- `resilience_cron` — the `nonstop-resilience-drill` CronWorkflow
- `postsync_hook` — the Argo CD PostSync hook Workflow
- `analysis_template` — the Argo Rollouts AnalysisTemplate (`job` metric; the exit code is the gate)
- `rbac_manifests`, `DRILL_RULES`, `WORKFLOW_RULES` — least-privilege RBAC, the verbs as data
- `render_manifests`, `write_manifests` — all of it as files with kustomizations
- `plan_values`, `write_plan`, `deadline_seconds` — what the plan step derives from a drill spec
- `drill_workflow`, `submit_drill`, `ArgoServer` — submission through the Argo Server API

Nothing here imports the `kubernetes` client or the sandbox.
"""

from workflows.analysis import analysis_template
from workflows.argocd_hook import HOOK_ANNOTATIONS, postsync_hook
from workflows.cron import DEFAULT_SCHEDULE, resilience_cron
from workflows.drill_template import OUTCOME_KEYS, drill_template
from workflows.names import DEFAULT_IMAGE, SERVICE_ACCOUNT, WORKFLOW_TEMPLATE
from workflows.plan import PLAN_KEYS, deadline_seconds, plan_values, write_plan
from workflows.rbac import DRILL_RULES, WORKFLOW_RULES, Rule, rbac_manifests
from workflows.render import render_manifests, write_manifests
from workflows.submit import ArgoServer, drill_workflow, submit_drill

__all__ = [
    "DEFAULT_IMAGE",
    "DEFAULT_SCHEDULE",
    "DRILL_RULES",
    "HOOK_ANNOTATIONS",
    "OUTCOME_KEYS",
    "PLAN_KEYS",
    "SERVICE_ACCOUNT",
    "WORKFLOW_RULES",
    "WORKFLOW_TEMPLATE",
    "ArgoServer",
    "Rule",
    "analysis_template",
    "deadline_seconds",
    "drill_template",
    "drill_workflow",
    "plan_values",
    "postsync_hook",
    "rbac_manifests",
    "render_manifests",
    "resilience_cron",
    "submit_drill",
    "write_manifests",
    "write_plan",
]
