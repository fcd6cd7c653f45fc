"""What the workflow needs to know about a drill before it runs it: the plan step's outputs.

Argo cannot read the drill spec, yet the workflow's shape depends on it (how many Locust workers,
how long the drill step may run, which objects the lint step fetches). The first step of
`nonstop-drill` therefore runs `nonstop workflows plan`, which validates the spec with the same
models `nonstop drill` uses and writes each value below to its own file; the later steps take
them as output parameters. The spec stays the single source of the target: no workflow
parameter can disagree with it.
"""

from __future__ import annotations

import math
from pathlib import Path

from nonstop.bundled import locustfile
from nonstop.errors import InputError
from nonstop.spec import Drill, DrillSpec
from nonstop.strategies import STRATEGIES

__all__ = ["DEADLINE_SLACK_SECONDS", "PLAN_KEYS", "STREAM_PLUGIN", "deadline_seconds", "plan_values", "write_plan"]

STREAM_PLUGIN = "nonstop_stream.py"
"""The Locust plugin (in `locustfiles/`) that streams every request of a Locust process to the drill."""

DEADLINE_SLACK_SECONDS = 300
"""Added to the drill's own phases: preflight, starting Locust, applying the decision, the report."""

PLAN_KEYS = (
    "drill-name",
    "target-kind",
    "target-name",
    "target-namespace",
    "target-service",
    "strategy",
    "workers",
    "deadline-seconds",
    "locustfile",
    "stream-plugin",
)
"""The files `write_plan` creates, one value each; the WorkflowTemplate declares an output per key."""


def deadline_seconds(spec: DrillSpec) -> int:
    """The drill step's `activeDeadlineSeconds`: every phase's own limit, plus slack.

    settle + warm-up + the drill window (`timeoutSeconds`) + cool-down, plus `timeoutSeconds` once
    more for a rollback that waits for its own rollout, plus `DEADLINE_SLACK_SECONDS`. The drill's
    own deadline (exit 3, fail decision applied) therefore always comes first; Argo's deadline
    only catches a drill that hangs.
    """
    load = spec.load
    total = load.settle_seconds + load.warmup_seconds + 2 * spec.timeout_seconds + load.cooldown_seconds
    return math.ceil(total) + DEADLINE_SLACK_SECONDS


def plan_values(drill: Drill, *, purpose: str = "workflow") -> dict[str, str]:
    """The plan of one drill as strings, keyed by `PLAN_KEYS`.

    `purpose="analysis"` also refuses a spec that would act: an Argo Rollouts analysis job only
    observes (strategy `external`, decisions `none`); the Rollouts controller owns promotion.
    """
    spec = drill.spec
    if purpose == "analysis":
        if spec.target.kind != "Rollout" or not STRATEGIES[spec.rollout.strategy].observes_only:
            raise InputError(
                f"drill {drill.metadata.name}: an analysis drill needs target.kind Rollout and rollout.strategy "
                f"external, not {spec.target.kind} with {spec.rollout.strategy}"
            )
        if spec.decision.on_pass != "none" or spec.decision.on_fail != "none":
            raise InputError(
                f"drill {drill.metadata.name}: an analysis drill must not act; set decision.onPass and "
                "decision.onFail to none (the exit code is the gate, the Rollouts controller decides)"
            )
    elif purpose != "workflow":
        raise InputError(f"unknown plan purpose {purpose!r}; use workflow or analysis")
    return {
        "drill-name": drill.metadata.name,
        "target-kind": spec.target.kind,
        "target-name": spec.target.name,
        "target-namespace": spec.target.namespace or "",
        "target-service": spec.target.service,
        "strategy": spec.rollout.strategy,
        "workers": str(spec.load.workers),
        "deadline-seconds": str(deadline_seconds(spec)),
        "locustfile": spec.load.locustfile or str(locustfile()),
        "stream-plugin": str(locustfile(STREAM_PLUGIN)),
    }


def write_plan(values: dict[str, str], out_dir: Path) -> None:
    """One file per value, no trailing newline (Argo takes a file's content verbatim)."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for key, value in values.items():
            (out_dir / key).write_text(value, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{out_dir}: cannot write the plan ({exc.strerror or exc})") from exc
