"""`judge_drill` on whole drills built from plain data: the seed's three demo cases and their verdicts."""

from __future__ import annotations

import dataclasses

from checks import DrillProblem, DrillWindow, PodTimeline, RequestSample, judge_drill

WINDOW = DrillWindow(start=1000.0, end=1020.0)


def _load(start: float, end: float, *, failing: tuple[float, float] | None = None, pods=("web-a", "web-b")):
    """50 requests/s from `start` to `end`; requests that start inside `failing` are refused."""
    samples = []
    t = start
    i = 0
    while t < end:
        if failing and failing[0] <= t <= failing[1]:
            samples.append(RequestSample(at=t, latency_ms=0.5, failure="refused"))
        else:
            samples.append(RequestSample(at=t, latency_ms=4.0, pod=pods[i % len(pods)], status=200))
        t = round(t + 0.02, 3)
        i += 1
    return samples


def _old(name: str, deleted: float, *, stop: float, exit_: float) -> PodTimeline:
    return PodTimeline(
        name=name,
        role="old",
        created_at=900.0,
        ready_at=901.0,
        was_serving=True,
        deleted_at=deleted,
        endpoint_unready_at=deleted + 0.005,
        last_routed_at=deleted + 0.9,
        stopped_accepting_at=stop,
        exited_at=exit_,
        exit_code=0,
    )


def _judge(samples, pods, **kw):
    settings = {
        "window": WINDOW,
        "max_failure_ratio": 0.0,
        "max_p99_ms": None,
        "min_requests": 100,
        "min_serve_after_unready_seconds": 1.0,
        "expect_terminations": True,
    } | kw
    return judge_drill(samples, pods, **settings)


def test_the_fixed_rollout_passes_with_every_old_pod_in_order() -> None:
    pods = [_old("web-old-a", 1002.0, stop=1007.0, exit_=1007.1), _old("web-old-b", 1008.0, stop=1013.0, exit_=1013.1)]
    judgement = _judge(_load(995.0, 1025.0), pods)
    assert judgement.verdict.verdict == "pass"
    assert [check.passed for check in judgement.checks] == [True, True, True]
    assert judgement.attribution.unattributed == 0
    assert len(judgement.series) == 30


def test_graceful_shutdown_without_prestop_fails_on_ordering_even_without_lost_requests() -> None:
    pods = [_old("web-old-a", 1002.0, stop=1002.05, exit_=1002.1)]
    judgement = _judge(_load(995.0, 1025.0), pods)
    assert judgement.verdict.verdict == "fail"
    assert judgement.budget.check.passed is True
    assert judgement.ordering.check.passed is False
    assert judgement.verdict.failed_checks == ("endpoint-ordering",)


def test_the_seeds_before_case_fails_both_checks_and_charges_the_old_pod() -> None:
    pods = [_old("web-old-a", 1002.0, stop=1002.0, exit_=1002.01)]
    judgement = _judge(_load(995.0, 1025.0, failing=(1002.0, 1004.0)), pods)
    assert judgement.verdict.verdict == "fail"
    assert set(judgement.verdict.failed_checks) == {"error-budget", "endpoint-ordering"}
    assert judgement.attribution.failures_for("web-old-a") == judgement.budget.stats.failed > 0
    assert judgement.attribution.unattributed == 0


def test_an_interrupted_drill_is_inconclusive() -> None:
    judgement = _judge(
        _load(995.0, 1010.0),
        [_old("web-old-a", 1002.0, stop=1007.0, exit_=1007.1)],
        window=DrillWindow(start=1000.0, end=None),
        problems=[DrillProblem("interrupted", "SIGINT after the rollout started")],
    )
    assert judgement.verdict.verdict == "inconclusive"
    assert judgement.verdict.exit_code == 3


def test_a_pid1_that_ignores_sigterm_fails_though_no_request_failed() -> None:
    """The false pass of issue 15: 0 failed requests, the old pods SIGKILLed at the grace period's end."""
    pods = [
        dataclasses.replace(
            _old(name, deleted, stop=deleted + 30.0, exit_=deleted + 30.05),
            exit_code=137,
            exit_reason="Error",
            grace_period_seconds=30.0,
        )
        for name, deleted in (("web-old-a", 1002.0), ("web-old-b", 1003.0))
    ]
    judgement = _judge(_load(995.0, 1040.0), pods, window=DrillWindow(1000.0, 1034.0))
    assert judgement.budget.check.passed is True
    assert judgement.verdict.verdict == "fail"
    assert judgement.verdict.failed_checks == ("graceful-exit",)
    assert "ignores SIGTERM" in judgement.verdict.reasons[0]
    off = _judge(_load(995.0, 1040.0), pods, window=DrillWindow(1000.0, 1034.0), graceful_exit=False)
    assert [check.name for check in off.checks] == ["error-budget", "endpoint-ordering"]
    assert off.verdict.verdict == "pass"


def test_a_retried_request_breaks_a_zero_budget_unless_retries_are_not_counted() -> None:
    pods = [_old("web-old-a", 1002.0, stop=1007.0, exit_=1007.1)]
    samples = _load(995.0, 1025.0)
    samples.append(
        RequestSample(at=1003.0, latency_ms=3.0, pod="web-a", status=200, retries=1, retried_pod="web-old-a")
    )
    counted = _judge(samples, pods)
    assert counted.verdict.verdict == "fail"
    assert counted.budget.stats.failures_by_class == {"retried": 1}
    assert counted.attribution.failures_for("web-old-a") == 1
    ignored = _judge(samples, pods, count_retries=False)
    assert ignored.verdict.verdict == "pass"
    assert ignored.attribution.retries_by_pod == {"web-old-a": 1}
