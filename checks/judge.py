"""All the judging of one drill in one call: the checks, the attribution, the series and the verdict."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from checks.attribution import DEFAULT_LEAD_SECONDS, DEFAULT_MARGIN_SECONDS, AttributionResult, attribute_failures
from checks.budget import BudgetResult, judge_error_budget
from checks.evidence import DrillWindow, PodTimeline, RequestSample
from checks.exits import ExitResult, judge_graceful_exit
from checks.ordering import OrderingResult, judge_endpoint_ordering
from checks.result import CheckResult
from checks.series import SeriesBucket, per_second
from checks.verdict import DrillProblem, VerdictResult, decide_verdict

__all__ = ["Judgement", "judge_drill"]


@dataclass(frozen=True, slots=True)
class Judgement:
    """Everything the checks concluded about one drill; `nonstop.report` turns it into report.json."""

    window: DrillWindow
    budget: BudgetResult
    ordering: OrderingResult
    exits: ExitResult | None
    """The `graceful-exit` check; None when the spec turned it off (`gracefulExit.enabled: false`)."""
    attribution: AttributionResult
    series: tuple[SeriesBucket, ...]
    verdict: VerdictResult
    pods: tuple[PodTimeline, ...]
    problems: tuple[DrillProblem, ...] = ()

    @property
    def checks(self) -> tuple[CheckResult, ...]:
        """The judged checks in the verdict table's order."""
        return _judged_checks(self.budget, self.ordering, self.exits)


def _judged_checks(budget: BudgetResult, ordering: OrderingResult, exits: ExitResult | None) -> tuple[CheckResult, ...]:
    checks = (budget.check, ordering.check)
    return checks if exits is None else (*checks, exits.check)


def judge_drill(
    samples: Iterable[RequestSample],
    pods: Iterable[PodTimeline],
    *,
    window: DrillWindow,
    max_failure_ratio: float,
    max_p99_ms: float | None,
    min_requests: int,
    min_serve_after_unready_seconds: float,
    expect_terminations: bool,
    graceful_exit: bool = True,
    count_retries: bool = True,
    problems: Iterable[DrillProblem] = (),
    series_start: float | None = None,
    series_end: float | None = None,
    lead_seconds: float = DEFAULT_LEAD_SECONDS,
    margin_seconds: float = DEFAULT_MARGIN_SECONDS,
) -> Judgement:
    """Judge the evidence of one drill.

    The budget and the attribution cover the drill window; the series covers `series_start` to
    `series_end` (default: every request given, so baseline and cool-down show around the window).
    `expect_terminations`: the strategy replaces serving pods (see `judge_endpoint_ordering`).
    `graceful_exit`: judge the `graceful-exit` check. `count_retries`: a request answered only after
    the client retried it counts as a `retried` failure (`RequestSample.counted`).
    """
    all_samples = [sample.counted(count_retries=count_retries) for sample in samples]
    all_pods = tuple(pods)
    budget = judge_error_budget(
        all_samples,
        window=window,
        max_failure_ratio=max_failure_ratio,
        max_p99_ms=max_p99_ms,
        min_requests=min_requests,
    )
    ordering = judge_endpoint_ordering(
        all_pods,
        min_serve_after_unready_seconds=min_serve_after_unready_seconds,
        expect_terminations=expect_terminations,
    )
    exits = judge_graceful_exit(all_pods, expect_terminations=expect_terminations) if graceful_exit else None
    attribution = attribute_failures(
        all_samples, all_pods, window=window, lead_seconds=lead_seconds, margin_seconds=margin_seconds
    )
    series = tuple(per_second(all_samples, start=series_start, end=series_end))
    all_problems = tuple(problems)
    if ordering.uncertain:
        blind = "a watch was blind when pods changed, so their ordering cannot be judged: "
        all_problems += (DrillProblem("observation-lost", blind + "; ".join(ordering.uncertain)),)
    verdict = decide_verdict(_judged_checks(budget, ordering, exits), problems=all_problems)
    return Judgement(window, budget, ordering, exits, attribution, series, verdict, all_pods, all_problems)
