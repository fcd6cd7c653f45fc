"""`nonstop-resilience-drill`: the `nonstop-drill` template on a schedule.

A `restart` drill re-proves the termination path of whatever version runs now (config drift,
a new base image, a changed preStop) without shipping anything. `concurrencyPolicy: Forbid`
skips a run while the previous one still runs; the drill's Lease refuses overlap with a
PostSync or manual drill on the same target.
"""

from __future__ import annotations

from hera.workflows import CronWorkflow, Parameter
from hera.workflows.models import PodGC, TTLStrategy, WorkflowTemplateRef

from workflows.examples import resilience_drill, to_yaml
from workflows.lifetime import POD_GC, WORKFLOW_TTL
from workflows.names import CRON_WORKFLOW, WORKFLOW_TEMPLATE

__all__ = ["DEFAULT_SCHEDULE", "resilience_cron"]

DEFAULT_SCHEDULE = "17 3 * * 1-5"
"""03:17 on weekdays (in `timezone`): off-peak, and not on the hour when every other job runs."""


def resilience_cron(*, namespace: str | None = None, schedule: str = DEFAULT_SCHEDULE) -> CronWorkflow:
    """The CronWorkflow; its `drill` argument is the example restart drill of `web` (edit it)."""
    return CronWorkflow(
        name=CRON_WORKFLOW,
        namespace=namespace,
        labels={"app.kubernetes.io/name": "nonstop"},
        schedules=[schedule],
        timezone="UTC",
        concurrency_policy="Forbid",
        starting_deadline_seconds=600,
        successful_jobs_history_limit=3,
        failed_jobs_history_limit=5,
        workflow_template_ref=WorkflowTemplateRef(name=WORKFLOW_TEMPLATE),
        ttl_strategy=TTLStrategy.model_validate(WORKFLOW_TTL),
        pod_gc=PodGC.model_validate(POD_GC),
        arguments=[Parameter(name="drill", value=to_yaml(resilience_drill()))],
    )
