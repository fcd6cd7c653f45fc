"""The Argo CD PostSync hook: a Workflow from `nonstop-drill`, created after every sync.

Restarting on every sync is the user's explicit choice, never a default: nothing installs this
Workflow (no kustomization lists it; `nonstop workflows render` writes it as an example). Copying
it into an application's manifests is the opt-in, and from then on every sync operation of that
application, auto-sync and self-heal included, even one that changed nothing in the workload,
restarts every pod of the target under load. Removing the file is the opt-out.

PostSync runs once every synced resource is healthy, so the synced rollout is already over; the
hook therefore runs a `restart` drill of the new version (its termination path under load) with
`onFail: none`. A failed drill fails the Workflow, Argo CD reads a failed Workflow as a failed
hook, and the sync fails; nothing is rolled back behind Argo CD's back, so self-heal is never
fought. `generateName` makes each sync create a new Workflow; `HookSucceeded` deletes it once it
passed; a failed one is kept for inspection until its `ttlStrategy` (workflows/lifetime.py)
deletes it, so failed hooks do not pile up.

Not for Argo Rollouts: a Rollout paused at a canary step is `Suspended`, and Argo CD waits with
PostSync hooks until it is not (argo-cd#19422). There the AnalysisTemplate is the trigger.
"""

from __future__ import annotations

from hera.workflows import Parameter, Workflow
from hera.workflows.models import PodGC, TTLStrategy, WorkflowTemplateRef

from workflows.examples import hook_drill, to_yaml
from workflows.lifetime import POD_GC, WORKFLOW_TTL
from workflows.names import HOOK_GENERATE_NAME, WORKFLOW_TEMPLATE

__all__ = ["HOOK_ANNOTATIONS", "HOOK_HEADER", "postsync_hook"]

HOOK_HEADER = (
    "# Example, installed by nothing (no kustomization lists it). Copying it into an Argo CD application's\n"
    "# manifests is the opt-in: from then on EVERY sync of that application (auto-sync and self-heal\n"
    "# included, even one that changed nothing in the workload) restarts every pod of the target under\n"
    "# load. Edit the drill (target web/web) first; delete the file to stop.\n"
)
"""The comment `nonstop workflows render` writes above the hook: what adopting it means."""

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
        ttl_strategy=TTLStrategy.model_validate(WORKFLOW_TTL),
        pod_gc=PodGC.model_validate(POD_GC),
        arguments=[Parameter(name="drill", value=to_yaml(hook_drill()))],
    )
