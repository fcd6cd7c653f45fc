"""The Argo CD PostSync hook: a Workflow from `nonstop-drill`, created after every sync.

PostSync runs once every synced resource is healthy, so the synced rollout is already over; the
hook therefore runs a `restart` drill of the new version (its termination path under load) with
`onFail: none`. A failed drill fails the Workflow, Argo CD reads a failed Workflow as a failed
hook, and the sync fails; nothing is rolled back behind Argo CD's back, so self-heal is never
fought. `generateName` makes each sync create a new Workflow; `HookSucceeded` deletes it once it
passed and keeps a failed one for inspection.

Not for Argo Rollouts: a Rollout paused at a canary step is `Suspended`, and Argo CD waits with
PostSync hooks until it is not (argo-cd#19422). There the AnalysisTemplate is the trigger.
"""

from __future__ import annotations

from hera.workflows import Parameter, Workflow
from hera.workflows.models import WorkflowTemplateRef

from workflows.examples import hook_drill, to_yaml
from workflows.names import HOOK_GENERATE_NAME, WORKFLOW_TEMPLATE

__all__ = ["HOOK_ANNOTATIONS", "postsync_hook"]

HOOK_ANNOTATIONS = {
    "argocd.argoproj.io/hook": "PostSync",
    "argocd.argoproj.io/hook-delete-policy": "HookSucceeded",
}


def postsync_hook(*, namespace: str | None = None) -> Workflow:
    """The hook Workflow; put it in the application's manifests next to the workload."""
    return Workflow(
        generate_name=HOOK_GENERATE_NAME,
        namespace=namespace,
        annotations=dict(HOOK_ANNOTATIONS),
        labels={"app.kubernetes.io/name": "nonstop"},
        workflow_template_ref=WorkflowTemplateRef(name=WORKFLOW_TEMPLATE),
        arguments=[Parameter(name="drill", value=to_yaml(hook_drill()))],
    )
