"""A fault's blind spell widens a pod's ordering figure into an interval; straddling the minimum is untrusted.

The interval comes from each moment's uncertainty in the pod's `PodTimeline`; `judge_drill` turns an
untrusted verdict into an inconclusive drill.
"""

from __future__ import annotations

import dataclasses

from checks import DrillWindow, PodTimeline, RequestSample, judge_drill
from checks.ordering import judge_pod_ordering

MINIMUM = 1.0


def pod(**fields: float | bool | None) -> PodTimeline:
    base = PodTimeline(name="web-1", role="old", was_serving=True, deleted_at=100.0, endpoint_unready_at=100.1,
                       stopped_accepting_at=103.1, exited_at=103.5)  # fmt: skip
    return dataclasses.replace(base, **fields)  # type: ignore[arg-type]


def uncertain(timeline: PodTimeline) -> str | None:
    return judge_pod_ordering(timeline, min_serve_after_unready_seconds=MINIMUM).uncertain


def test_live_evidence_is_trusted_either_way() -> None:
    verdict = judge_pod_ordering(pod(), min_serve_after_unready_seconds=MINIMUM)
    assert verdict.serve_after_unready_seconds == 3.0
    assert verdict.ordering_ok is True
    assert verdict.uncertain is None
    assert uncertain(pod(stopped_accepting_at=100.3)) is None  # a clear fail stays a fail


def test_a_late_seen_stop_cannot_carry_a_pass() -> None:
    """The prober started up to 2.5 s late: the pod may have stopped 0.5 s after leaving — below 1 s."""
    late = pod(deleted_uncertainty=2.5, stopped_accepting_uncertainty=2.5)
    verdict = judge_pod_ordering(late, min_serve_after_unready_seconds=MINIMUM)
    assert verdict.ordering_ok is True  # what was measured; the drill, not the check, is made inconclusive
    assert verdict.uncertain == (
        "web-1 served between 0.50 s and 3.00 s after leaving the endpoints (the minimum is 1 s)"
    )


def test_a_late_seen_endpoint_departure_cannot_carry_a_fail() -> None:
    """Leaving seen 2 s late: the measured 0.5 s may really be 2.5 s, so the fail is not proven either."""
    assert uncertain(pod(stopped_accepting_at=100.6, endpoint_unready_uncertainty=2.0)) is not None


def test_a_wide_margin_survives_the_uncertainty() -> None:
    assert uncertain(pod(stopped_accepting_uncertainty=1.5, exited_uncertainty=1.5)) is None


def test_pods_the_check_does_not_time_carry_no_interval() -> None:
    wide = {"endpoint_unready_uncertainty": 5.0, "stopped_accepting_uncertainty": 5.0}
    assert uncertain(pod(was_serving=False, **wide)) is None
    assert uncertain(pod(endpoint_unready_at=None, **wide)) is None
    assert uncertain(pod(measurable=False, **wide)) is None


def test_an_untrusted_ordering_makes_the_drill_inconclusive_with_the_pod_named() -> None:
    samples = [RequestSample(at=100.0 + i * 0.01, latency_ms=2.0, pod="web-2", status=200) for i in range(300)]
    judge = {"window": DrillWindow(99.0, 104.0), "max_failure_ratio": 0.0, "max_p99_ms": None, "min_requests": 10,
             "min_serve_after_unready_seconds": MINIMUM, "expect_terminations": True,
             "graceful_exit": False}  # fmt: skip
    trusted = judge_drill(samples, [pod()], **judge)  # type: ignore[arg-type]
    assert trusted.verdict.verdict == "pass"
    blind = judge_drill(samples, [pod(stopped_accepting_uncertainty=2.5)], **judge)  # type: ignore[arg-type]
    assert blind.verdict.verdict == "inconclusive"
    reason = (
        "observation-lost: a watch was blind when pods changed, so their ordering cannot be judged: web-1 served "
        "between 0.50 s and 3.00 s after leaving the endpoints (the minimum is 1 s)"
    )
    assert blind.verdict.reasons == (reason,)
