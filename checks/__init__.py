"""Judges of a drill's evidence: pure functions over plain data, no I/O, no clock.

The drill collects `RequestSample`s and `PodTimeline`s (`checks.evidence`) and hands them here:
`judge_drill` runs `error-budget` (`checks.budget`), `endpoint-ordering` (`checks.ordering`) and
`graceful-exit` (`checks.exits`),
charges each failure to a pod (`checks.attribution`), buckets the load per second
(`checks.series`) and combines everything into the verdict (`checks.verdict`).

The names below are imported on first use (PEP 562), so `import checks.lint` — the whole of
`nonstop lint` — does not pay for the drill's judges.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from checks.attribution import (
        DEFAULT_LEAD_SECONDS,
        DEFAULT_MARGIN_SECONDS,
        AttributionResult,
        FailureAttribution,
        TerminationWindow,
        attribute_failures,
        termination_windows,
    )
    from checks.budget import (
        ERROR_BUDGET,
        BudgetResult,
        RequestStats,
        judge_error_budget,
        request_stats,
        samples_in_window,
    )
    from checks.evidence import FAILURE_CLASSES, DrillWindow, FailureClass, PodRole, PodTimeline, RequestSample
    from checks.exits import GRACEFUL_EXIT, ExitResult, PodExit, judge_graceful_exit, judge_pod_exit
    from checks.judge import Judgement, judge_drill
    from checks.ordering import (
        ENDPOINT_ORDERING,
        OrderingResult,
        PodOrdering,
        judge_endpoint_ordering,
        judge_pod_ordering,
    )
    from checks.result import CheckResult, percentile
    from checks.series import MAX_BUCKETS, SeriesBucket, per_second
    from checks.verdict import (
        DRILL_LEVEL_REASONS,
        EXIT_CODES,
        DrillProblem,
        InconclusiveReason,
        Verdict,
        VerdictResult,
        decide_verdict,
    )

__all__ = [
    "DEFAULT_LEAD_SECONDS",
    "DEFAULT_MARGIN_SECONDS",
    "DRILL_LEVEL_REASONS",
    "ENDPOINT_ORDERING",
    "ERROR_BUDGET",
    "EXIT_CODES",
    "FAILURE_CLASSES",
    "GRACEFUL_EXIT",
    "MAX_BUCKETS",
    "AttributionResult",
    "BudgetResult",
    "CheckResult",
    "DrillProblem",
    "DrillWindow",
    "ExitResult",
    "FailureAttribution",
    "FailureClass",
    "InconclusiveReason",
    "Judgement",
    "OrderingResult",
    "PodExit",
    "PodOrdering",
    "PodRole",
    "PodTimeline",
    "RequestSample",
    "RequestStats",
    "SeriesBucket",
    "TerminationWindow",
    "Verdict",
    "VerdictResult",
    "attribute_failures",
    "decide_verdict",
    "judge_drill",
    "judge_endpoint_ordering",
    "judge_error_budget",
    "judge_graceful_exit",
    "judge_pod_exit",
    "judge_pod_ordering",
    "per_second",
    "percentile",
    "request_stats",
    "samples_in_window",
    "termination_windows",
]

_MODULES = (
    "checks.attribution",
    "checks.budget",
    "checks.evidence",
    "checks.exits",
    "checks.judge",
    "checks.ordering",
    "checks.result",
    "checks.series",
    "checks.verdict",
)


def __getattr__(name: str) -> Any:
    if name in __all__:
        for module_name in _MODULES:
            module = importlib.import_module(module_name)
            if hasattr(module, name):
                value = getattr(module, name)
                globals()[name] = value
                return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
