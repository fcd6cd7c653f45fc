"""How long a finished drill Workflow and its pods stay: Argo Workflows `ttlStrategy` and `podGC`.

The same for every Workflow the `nonstop-drill` template runs (the Argo CD hook, the schedule,
`nonstop workflows submit`, `argo submit --from`): Argo merges the template's spec into each
Workflow, and the hook and the CronWorkflow also carry them in their own spec, where a user who
edits the file sees them.

- A Workflow that succeeded is deleted one day after it ended; one that failed after seven days,
  so a failure from the weekend is still there on Monday for `argo get` and `argo logs`. A failed
  PostSync hook therefore does not pile up (Argo CD's `HookSucceeded` deletes only passed hooks).
- `podGC: OnWorkflowSuccess` deletes a passed Workflow's pods as soon as it ends and keeps a failed
  one's (their logs) until the TTL deletes the Workflow, which owns them.
"""

from __future__ import annotations

__all__ = ["POD_GC", "WORKFLOW_TTL"]

WORKFLOW_TTL: dict[str, int] = {"secondsAfterSuccess": 24 * 3600, "secondsAfterFailure": 7 * 24 * 3600}
"""Argo Workflows `ttlStrategy`: seconds a finished Workflow is kept, by outcome."""

POD_GC: dict[str, str] = {"strategy": "OnWorkflowSuccess"}
"""Argo Workflows `podGC`: a passed Workflow's pods go at once; a failed one's stay with it."""
