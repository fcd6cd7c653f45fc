"""`endpoint-ordering`: per terminated serving pod, left the endpoints well before it stopped serving."""

from __future__ import annotations

import random

from checks.evidence import PodTimeline
from checks.ordering import ENDPOINT_ORDERING, judge_endpoint_ordering, judge_pod_ordering


def _pod(name: str, *, unready: float | None = 100.0, stop: float | None = None, exit_: float | None = None, **kw):
    """An old pod that served, was deleted at 100.0 and left the endpoints at `unready`."""
    fields = {"role": "old", "was_serving": True, "deleted_at": 100.0, "endpoint_unready_at": unready}
    fields |= {"stopped_accepting_at": stop, "exited_at": exit_} | kw
    return PodTimeline(name=name, **fields)


def _judge(*pods: PodTimeline, minimum: float = 1.0, expect: bool = True):
    return judge_endpoint_ordering(pods, min_serve_after_unready_seconds=minimum, expect_terminations=expect)


def test_all_pods_in_order_pass_with_the_contract_summary() -> None:
    result = _judge(
        _pod("web-a", stop=105.02, exit_=105.5),
        _pod("web-b", stop=106.0, exit_=106.1),
        _pod("web-c", stop=101.0, exit_=101.2),
    )
    assert result.check.name == ENDPOINT_ORDERING
    assert result.check.passed is True
    assert result.check.summary == "3 of 3 terminated pods served ≥ 1.0 s after leaving endpoints"
    figures = result.for_pod("web-a")
    assert figures is not None
    assert figures.serve_after_unready_seconds == 5.02
    assert figures.ordering_ok is True


def test_pods_that_stop_too_soon_fail_and_are_named_with_their_figures() -> None:
    result = _judge(
        _pod("web-abc", stop=100.02, exit_=100.5),
        _pod("web-def", stop=100.0, exit_=100.1),
        _pod("web-ghi", stop=103.0, exit_=103.5),
    )
    assert result.check.passed is False
    assert result.check.summary == (
        "2 of 3 terminated pods served < 1.0 s after leaving endpoints: web-abc 0.02 s, web-def 0.00 s"
    )


def test_exactly_the_minimum_is_in_order() -> None:
    verdict = judge_pod_ordering(_pod("p", unready=100.3, stop=101.3), min_serve_after_unready_seconds=1.0)
    assert verdict.serve_after_unready_seconds == 1.0
    assert verdict.ordering_ok is True


def test_one_millisecond_short_of_the_minimum_is_out_of_order() -> None:
    verdict = judge_pod_ordering(_pod("p", unready=100.3, stop=101.299), min_serve_after_unready_seconds=1.0)
    assert verdict.ordering_ok is False


def test_stopping_before_leaving_the_endpoints_is_a_negative_figure() -> None:
    verdict = judge_pod_ordering(_pod("p", unready=100.5, stop=100.15), min_serve_after_unready_seconds=0.0)
    assert verdict.serve_after_unready_seconds == -0.35
    assert verdict.ordering_ok is False


def test_exit_counts_as_the_stop_when_the_pod_never_stopped_accepting() -> None:
    verdict = judge_pod_ordering(_pod("p", stop=None, exit_=102.5), min_serve_after_unready_seconds=1.0)
    assert verdict.serve_after_unready_seconds == 2.5
    assert "exited" in verdict.reason


def test_exit_before_the_first_refusal_is_the_stop() -> None:
    verdict = judge_pod_ordering(_pod("p", stop=103.0, exit_=100.4), min_serve_after_unready_seconds=1.0)
    assert verdict.serve_after_unready_seconds == 0.4
    assert verdict.ordering_ok is False


def test_missing_endpoint_departure_fails_with_a_reason() -> None:
    result = _judge(_pod("web-x", unready=None, stop=110.0, exit_=111.0))
    assert result.check.passed is False
    assert "web-x (leaving the endpoints not observed)" in result.check.summary
    assert "missing evidence never passes" in result.check.summary
    verdict = result.pods[0]
    assert verdict.judged
    assert verdict.serve_after_unready_seconds is None
    assert verdict.ordering_ok is False


def test_missing_stop_and_exit_fails_with_a_reason() -> None:
    result = _judge(_pod("web-y", stop=None, exit_=None))
    assert result.check.passed is False
    assert "web-y (stop not observed)" in result.check.summary


def test_not_measurable_pod_never_passes_even_with_good_figures() -> None:
    result = _judge(_pod("web-z", stop=150.0, exit_=151.0, measurable=False))
    assert result.check.passed is False
    assert "web-z (not measurable)" in result.check.summary
    assert result.pods[0].serve_after_unready_seconds is None


def test_short_and_missing_pods_are_both_reported_on_one_line() -> None:
    result = _judge(_pod("a", stop=100.1), _pod("b", unready=None, stop=104.0), _pod("c", stop=104.0))
    assert result.check.passed is False
    assert "\n" not in result.check.summary
    assert result.check.summary.startswith("1 of 3 terminated pods served < 1.0 s after leaving endpoints: a 0.10 s; ")
    assert "1 of 3 terminated pods could not be judged" in result.check.summary


def test_a_pod_that_never_served_is_listed_but_not_judged() -> None:
    never = PodTimeline(name="web-new", role="new", created_at=100.0, deleted_at=101.0, exited_at=101.1)
    result = _judge(never, _pod("web-a", stop=103.0))
    assert result.check.passed is True
    assert result.check.summary.startswith("1 of 1 ")
    verdict = result.for_pod("web-new")
    assert verdict is not None
    assert verdict.judged is False
    assert verdict.serve_after_unready_seconds is None
    assert verdict.ordering_ok is None


def test_a_serving_pod_that_did_not_terminate_is_not_judged() -> None:
    staying = PodTimeline(name="web-new", role="new", was_serving=True, ready_at=101.0)
    result = _judge(staying, _pod("web-a", stop=103.0))
    verdict = result.for_pod("web-new")
    assert verdict is not None
    assert verdict.ordering_ok is None
    assert verdict.reason == "did not terminate"


def test_a_pod_seen_exiting_without_a_deletion_is_judged() -> None:
    crashed = PodTimeline(name="p", role="old", was_serving=True, endpoint_unready_at=100.2, exited_at=100.0)
    verdict = judge_pod_ordering(crashed, min_serve_after_unready_seconds=1.0)
    assert verdict.judged
    assert verdict.ordering_ok is False


def test_nothing_to_judge_is_inconclusive_when_terminations_were_expected() -> None:
    result = _judge(PodTimeline(name="web-new", role="new", was_serving=True), expect=True)
    assert result.check.passed is None
    assert "inconclusive" in result.check.summary


def test_nothing_to_judge_passes_when_no_termination_was_expected() -> None:
    result = _judge(PodTimeline(name="web-canary", role="new", was_serving=True), expect=False)
    assert result.check.passed is True
    assert result.check.summary == "no pod terminated after serving: nothing to judge"


def test_no_pods_at_all_with_expected_terminations_does_not_pass() -> None:
    assert _judge(expect=True).check.passed is None


def test_a_long_list_of_pods_stays_one_line() -> None:
    pods = [_pod(f"web-{i}", stop=100.0) for i in range(9)]
    summary = _judge(*pods).check.summary
    assert summary.endswith("web-4 0.00 s and 4 more")


def test_the_minimum_is_written_as_the_user_wrote_it() -> None:
    result = _judge(_pod("p", stop=100.1), minimum=0.25)
    assert "< 0.25 s after leaving endpoints" in result.check.summary


def test_property_the_check_passes_exactly_when_every_measured_pod_meets_the_minimum() -> None:
    rng = random.Random(3)
    for _ in range(300):
        minimum = rng.choice([0.0, 0.5, 1.0, 2.0])
        pods = []
        for i in range(rng.randint(1, 6)):
            unready = 100 + rng.uniform(0, 5)
            pods.append(_pod(f"p{i}", unready=round(unready, 3), stop=round(unready + rng.uniform(-1, 3), 3)))
        result = _judge(*pods, minimum=minimum)
        figures = [verdict.serve_after_unready_seconds for verdict in result.pods]
        assert all(f is not None for f in figures)
        assert result.check.passed is all(f >= minimum for f in figures if f is not None)


def test_property_missing_evidence_never_passes() -> None:
    """Randomly blank out observations: a served-and-terminated pod with a gap never yields a pass."""
    rng = random.Random(17)
    for _ in range(500):
        pods = []
        for i in range(rng.randint(1, 4)):
            pods.append(
                PodTimeline(
                    name=f"p{i}",
                    role=rng.choice(["old", "new"]),
                    was_serving=rng.random() < 0.8,
                    deleted_at=rng.choice([None, 100.0]),
                    endpoint_unready_at=rng.choice([None, 100.01]),
                    stopped_accepting_at=rng.choice([None, 105.0]),
                    exited_at=rng.choice([None, 105.1]),
                    measurable=rng.random() < 0.8,
                )
            )
        result = _judge(*pods, expect=rng.random() < 0.5)
        gaps = [p for p in pods if _served_and_terminated(p) and _has_a_gap(p)]
        if gaps:
            assert result.check.passed is False
            assert all(result.for_pod(p.name).ordering_ok is False for p in gaps)  # type: ignore[union-attr]


def _served_and_terminated(pod: PodTimeline) -> bool:
    return pod.was_serving and (pod.deleted_at is not None or pod.exited_at is not None)


def _has_a_gap(pod: PodTimeline) -> bool:
    no_stop = pod.stopped_accepting_at is None and pod.exited_at is None
    return not pod.measurable or pod.endpoint_unready_at is None or no_stop
