"""Failure attribution: each failure charged to one pod terminating at that moment (flagged when another
could be to blame), or unattributed; the charged failures plus the unattributed ones add up.
"""

from __future__ import annotations

import math
import random

from checks.attribution import attribute_failures, termination_windows
from checks.evidence import DrillWindow, PodTimeline, RequestSample


def _terminating(name: str, deleted: float, exited: float | None, **kw) -> PodTimeline:
    fields = {"role": "old", "was_serving": True, "deleted_at": deleted, "endpoint_unready_at": deleted + 0.01}
    fields |= {"exited_at": exited} | kw
    return PodTimeline(name=name, **fields)


def _failure(at: float, *, latency_ms: float = 1.0, pod: str | None = None) -> RequestSample:
    return RequestSample(at=at, latency_ms=latency_ms, failure="refused", pod=pod)


def test_failure_inside_one_window_is_charged_to_that_pod() -> None:
    pods = [_terminating("web-a", 100.0, 101.0), _terminating("web-b", 110.0, 111.0)]
    result = attribute_failures([_failure(100.5), _failure(110.2)], pods)
    assert result.failures_for("web-a") == 1
    assert result.failures_for("web-b") == 1
    assert result.ambiguous == 0
    assert result.unattributed == 0


def test_successes_are_never_attributed() -> None:
    pods = [_terminating("web-a", 100.0, 101.0)]
    result = attribute_failures([RequestSample(at=100.5, latency_ms=1.0)], pods)
    assert result.failures == ()
    assert result.failures_for("web-a") == 0


def test_pods_terminating_at_once_make_the_failure_ambiguous_charged_to_the_nearest_event() -> None:
    pods = [_terminating("web-a", 100.0, 103.0), _terminating("web-b", 101.0, 104.0)]
    result = attribute_failures([_failure(102.0)], pods)
    assert result.ambiguous == 1
    assert result.failures[0].ambiguous
    assert set(result.failures[0].candidates) == {"web-a", "web-b"}
    # web-b's deletion (101.0) is the pod event nearest before the failure (web-a's last: 100.01).
    assert result.failures[0].pod == "web-b"
    assert result.failures_for("web-a") == 0
    assert result.failures_for("web-b") == 1
    assert result.ambiguous_by_pod == {"web-b": 1}
    assert result.unattributed == 0


def test_an_exit_is_a_pod_event_too() -> None:
    pods = [_terminating("web-a", 100.0, 102.5), _terminating("web-b", 101.0, 104.0)]
    result = attribute_failures([_failure(103.0)], pods)
    assert result.failures[0].pod == "web-a"


def test_failure_outside_every_window_is_unattributed() -> None:
    pods = [_terminating("web-a", 100.0, 101.0)]
    result = attribute_failures([_failure(50.0), _failure(200.0)], pods, margin_seconds=2.0)
    assert result.unattributed == 2
    assert result.failures_for("web-a") == 0


def test_the_margin_after_exit_is_included_and_ends_there() -> None:
    pods = [_terminating("web-a", 100.0, 101.0)]
    inside = attribute_failures([_failure(102.99)], pods, margin_seconds=2.0)
    outside = attribute_failures([_failure(103.01)], pods, margin_seconds=2.0)
    assert inside.failures_for("web-a") == 1
    assert outside.unattributed == 1


def test_the_lead_before_the_observed_deletion_is_included() -> None:
    pods = [_terminating("web-a", 100.0, 101.0)]
    assert attribute_failures([_failure(99.9)], pods, lead_seconds=0.25).failures_for("web-a") == 1
    assert attribute_failures([_failure(99.7)], pods, lead_seconds=0.25).unattributed == 1


def test_a_request_in_flight_when_termination_began_is_charged() -> None:
    pods = [_terminating("web-a", 100.0, 101.0)]
    timeout = RequestSample(at=96.0, latency_ms=5000.0, failure="timeout")
    assert attribute_failures([timeout], pods, lead_seconds=0.0).failures_for("web-a") == 1


def test_a_pod_that_never_exited_has_an_open_window() -> None:
    pods = [_terminating("web-a", 100.0, None)]
    windows = termination_windows(pods)
    assert windows[0].end == math.inf
    assert attribute_failures([_failure(10_000.0)], pods).failures_for("web-a") == 1


def test_pods_that_never_terminated_have_no_window() -> None:
    pods = [PodTimeline(name="web-new", role="new", was_serving=True, ready_at=100.0)]
    assert termination_windows(pods) == []
    assert attribute_failures([_failure(100.5)], pods).unattributed == 1


def test_the_window_starts_at_the_earliest_sign_of_termination() -> None:
    pod = PodTimeline(name="p", role="old", endpoint_unready_at=99.0, deleted_at=100.0, exited_at=101.0)
    (window,) = termination_windows([pod], lead_seconds=0.0, margin_seconds=1.0)
    assert (window.start, window.end) == (99.0, 102.0)


def test_a_failure_naming_its_pod_is_charged_to_it_alone() -> None:
    pods = [
        _terminating("web-a", 100.0, 103.0),
        _terminating("web-b", 101.0, 104.0),
        PodTimeline(name="web-new", role="new"),
    ]
    result = attribute_failures([_failure(102.0, pod="web-new")], pods)
    assert result.failures[0].pod == "web-new"
    assert result.failures[0].from_response
    assert result.ambiguous == 0
    assert result.failures_for("web-new") == 1
    assert result.failures_for("web-a") == 0


def test_a_failure_naming_a_pod_outside_the_target_is_charged_by_time() -> None:
    pods = [_terminating("web-a", 100.0, 103.0)]
    result = attribute_failures([_failure(102.0, pod="someone-else")], pods)
    assert result.failures[0].pod == "web-a"
    assert not result.failures[0].from_response


def test_retries_are_charged_to_the_pod_whose_connection_failed() -> None:
    pods = [_terminating("web-a", 100.0, 103.0), PodTimeline(name="web-b", role="new")]
    retried = RequestSample(at=101.0, latency_ms=2.0, pod="web-b", status=200, retries=1, retried_pod="web-a")
    unknown = RequestSample(at=102.0, latency_ms=2.0, pod="web-b", status=200, retries=1)
    result = attribute_failures([retried, unknown], pods)
    assert result.retries == 2
    assert result.retries_by_pod == {"web-a": 2}  # the unknown one by time: web-a was terminating
    assert result.failures == ()  # a retried success is a failure only once the budget counts it


def test_a_counted_retry_is_a_retried_failure_of_the_failed_connection_pod() -> None:
    pods = [_terminating("web-a", 100.0, 103.0), PodTimeline(name="web-b", role="new")]
    sample = RequestSample(at=101.0, latency_ms=2.0, pod="web-b", status=200, retries=1, retried_pod="web-a")
    counted = sample.counted(count_retries=True)
    assert (counted.failure, counted.pod) == ("retried", "web-a")
    assert sample.counted(count_retries=False) is sample
    result = attribute_failures([counted], pods)
    assert result.failures_for("web-a") == 1
    assert result.failures_for("web-b") == 0


def test_only_failures_in_the_drill_window_are_attributed_when_given() -> None:
    pods = [_terminating("web-a", 100.0, 101.0)]
    result = attribute_failures([_failure(100.5), _failure(300.0)], pods, window=DrillWindow(99.0, 200.0))
    assert len(result.failures) == 1
    assert result.unattributed == 0


def test_property_charged_plus_unattributed_equals_the_failures() -> None:
    rng = random.Random(5)
    for _ in range(300):
        pods = []
        for i in range(rng.randint(0, 4)):
            deleted = rng.uniform(100, 120)
            pods.append(_terminating(f"p{i}", deleted, rng.choice([None, deleted + rng.uniform(0, 5)])))
        names = [pod.name for pod in pods] + ["not-a-target-pod", None]
        failures = [
            _failure(rng.uniform(90, 140), latency_ms=rng.uniform(0, 3000), pod=rng.choice(names))
            for _ in range(rng.randint(0, 30))
        ]
        result = attribute_failures(failures, pods)
        assert sum(result.attributed.values()) + result.unattributed == len(failures)
        assert result.ambiguous == sum(result.ambiguous_by_pod.values())
        assert all(item.pod is None or item.pod in item.candidates for item in result.failures)
