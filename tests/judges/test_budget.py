"""`error-budget`: ratio, p99 and minRequests against plain request samples."""

from __future__ import annotations

import random

import pytest

from checks.budget import ERROR_BUDGET, judge_error_budget, request_stats, samples_in_window
from checks.evidence import DrillWindow, FailureClass, RequestSample
from checks.result import format_percent, percentile

WINDOW = DrillWindow(start=1000.0, end=1100.0)


def _samples(ok: int, failed: dict[FailureClass, int] | None = None, *, at: float = 1010.0) -> list[RequestSample]:
    samples = [RequestSample(at=at + i * 0.001, latency_ms=10.0) for i in range(ok)]
    for failure, count in (failed or {}).items():
        samples += [RequestSample(at=at + 0.5, latency_ms=1.0, failure=failure) for _ in range(count)]
    return samples


def _judge(samples: list[RequestSample], *, ratio: float = 0.0, p99: float | None = None, minimum: int = 100):
    return judge_error_budget(samples, window=WINDOW, max_failure_ratio=ratio, max_p99_ms=p99, min_requests=minimum)


def test_no_failure_passes_with_the_contract_summary() -> None:
    result = _judge(_samples(4210))
    assert result.check.name == ERROR_BUDGET
    assert result.check.passed is True
    assert result.check.summary == "0 of 4210 requests failed (0.00 %), budget 0.00 %"
    assert result.stats.failures_by_class == {}


def test_one_failure_breaks_a_zero_budget_and_the_summary_names_the_classes() -> None:
    result = _judge(_samples(4000, {"refused": 30, "reset": 7}))
    assert result.check.passed is False
    assert result.check.summary == "37 of 4037 requests failed (0.92 %), over the budget of 0.00 %: 30 refused, 7 reset"
    assert dict(result.stats.failures_by_class) == {"refused": 30, "reset": 7}


def test_failure_ratio_exactly_at_the_budget_passes() -> None:
    result = _judge(_samples(990, {"http-5xx": 10}), ratio=0.01)
    assert result.stats.failure_ratio == 0.01
    assert result.check.passed is True


def test_failure_ratio_just_over_the_budget_fails() -> None:
    assert _judge(_samples(989, {"timeout": 11}), ratio=0.01).check.passed is False


def test_too_few_requests_is_inconclusive_not_pass() -> None:
    result = _judge(_samples(99))
    assert result.check.passed is None
    assert result.too_few_requests
    assert "fewer than minRequests 100" in result.check.summary


def test_too_few_requests_with_failures_is_inconclusive_not_fail() -> None:
    result = _judge(_samples(10, {"refused": 5}))
    assert result.check.passed is None
    assert "5 failed: 5 refused" in result.check.summary


def test_exactly_min_requests_is_judged() -> None:
    assert _judge(_samples(100)).check.passed is True


def test_zero_requests_is_inconclusive() -> None:
    result = _judge([])
    assert result.check.passed is None
    assert result.stats.total == 0
    assert result.stats.failure_ratio == 0.0
    assert result.stats.p50_ms is None
    assert result.stats.p99_ms is None
    assert result.check.summary.startswith("no requests in the drill window")


def test_requests_outside_the_window_do_not_count() -> None:
    inside = _samples(100)
    before = [RequestSample(at=999.999, latency_ms=1.0, failure="refused")]
    after = [RequestSample(at=1100.001, latency_ms=1.0, failure="reset")]
    result = _judge(before + inside + after)
    assert result.stats.total == 100
    assert result.check.passed is True


def test_window_ends_are_included_and_an_open_window_has_no_end() -> None:
    edges = [RequestSample(at=1000.0, latency_ms=1.0), RequestSample(at=1100.0, latency_ms=1.0)]
    assert len(samples_in_window(edges, WINDOW)) == 2
    late = [RequestSample(at=5000.0, latency_ms=1.0)]
    assert len(samples_in_window(late, DrillWindow(start=1000.0))) == 1


def test_p99_over_the_limit_fails_and_is_named_first() -> None:
    samples = _samples(98) + [RequestSample(at=1020.0, latency_ms=900.0) for _ in range(2)]
    result = _judge(samples, p99=500.0)
    assert result.stats.p99_ms == 900.0
    assert result.check.passed is False
    assert result.check.summary.startswith("p99 900.0 ms over maxP99Ms 500 ms")


def test_p99_exactly_at_the_limit_passes() -> None:
    samples = _samples(98) + [RequestSample(at=1020.0, latency_ms=500.0) for _ in range(2)]
    result = _judge(samples, p99=500.0)
    assert result.check.passed is True
    assert "p99 500.0 ms ≤ maxP99Ms 500 ms" in result.check.summary


def test_p99_is_not_judged_without_a_limit() -> None:
    samples = _samples(98) + [RequestSample(at=1020.0, latency_ms=60_000.0) for _ in range(2)]
    result = _judge(samples)
    assert result.check.passed is True
    assert "p99" not in result.check.summary


def test_latency_percentiles_include_failed_requests() -> None:
    samples = _samples(90) + [RequestSample(at=1020.0, latency_ms=5000.0, failure="timeout") for _ in range(10)]
    stats = request_stats(samples)
    assert stats.p50_ms == 10.0
    assert stats.p99_ms == 5000.0


def test_failures_by_class_follow_the_contract_order_and_skip_zero_classes() -> None:
    stats = request_stats(_samples(1, {"other": 1, "http-4xx": 2, "refused": 3}))
    assert list(stats.failures_by_class) == ["refused", "http-4xx", "other"]


@pytest.mark.parametrize(("values", "q", "expected"), [([1.0], 99, 1.0), ([3.0, 1.0, 2.0], 50, 2.0), ([], 50, None)])
def test_percentile_is_nearest_rank(values: list[float], q: float, expected: float | None) -> None:
    assert percentile(values, q) == expected


def test_percentile_returns_a_measured_value_bounded_by_min_and_max() -> None:
    rng = random.Random(7)
    for _ in range(200):
        values = [rng.uniform(0, 1000) for _ in range(rng.randint(1, 50))]
        q = rng.uniform(0, 100)
        result = percentile(values, q)
        assert result in values
        at_or_below = sum(1 for v in values if v <= result)
        assert at_or_below >= q / 100 * len(values)


def test_percentile_rejects_q_outside_0_to_100() -> None:
    with pytest.raises(ValueError, match="within"):
        percentile([1.0], 101)


def test_tiny_ratio_is_not_printed_as_zero() -> None:
    assert format_percent(0.00001) == "0.001 %"
    assert format_percent(0.0) == "0.00 %"


def test_property_passed_matches_ratio_and_count_rules() -> None:
    """For random loads, the verdict is exactly: inconclusive below minRequests, else ratio ≤ budget."""
    rng = random.Random(11)
    for _ in range(300):
        ok = rng.randint(0, 300)
        failed = rng.randint(0, 30)
        ratio = rng.choice([0.0, 0.01, 0.05, 0.1])
        minimum = rng.randint(1, 200)
        result = _judge(_samples(ok, {"reset": failed}), ratio=ratio, minimum=minimum)
        total = ok + failed
        if total < minimum:
            assert result.check.passed is None
        else:
            assert result.check.passed is (failed / total <= ratio)
