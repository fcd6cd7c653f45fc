"""The per-second series: one bucket per second, empty seconds included."""

from __future__ import annotations

import itertools
import random

import pytest

from checks.evidence import RequestSample
from checks.series import per_second


def test_one_bucket_per_second_with_counts_failures_and_p99() -> None:
    samples = [
        RequestSample(at=100.1, latency_ms=5.0),
        RequestSample(at=100.9, latency_ms=50.0, failure="reset"),
        RequestSample(at=102.0, latency_ms=7.0),
    ]
    series = per_second(samples, start=100.0, end=102.5)
    assert [b.at for b in series] == [100.0, 101.0, 102.0]
    assert [b.requests for b in series] == [2, 0, 1]
    assert [b.failures for b in series] == [1, 0, 0]
    assert [b.p99_ms for b in series] == [50.0, None, 7.0]


def test_buckets_are_whole_seconds_even_when_the_drill_starts_mid_second() -> None:
    series = per_second([RequestSample(at=100.7, latency_ms=1.0)], start=100.6, end=101.2)
    assert [b.at for b in series] == [100.0, 101.0]


def test_bounds_default_to_the_first_and_last_request() -> None:
    series = per_second([RequestSample(at=103.2, latency_ms=1.0), RequestSample(at=100.5, latency_ms=1.0)])
    assert [b.at for b in series] == [100.0, 101.0, 102.0, 103.0]


def test_requests_outside_the_bounds_are_left_out() -> None:
    series = per_second(
        [RequestSample(at=99.0, latency_ms=1.0), RequestSample(at=104.0, latency_ms=1.0)], start=100, end=102
    )
    assert sum(b.requests for b in series) == 0
    assert len(series) == 3


def test_no_requests_and_no_bounds_gives_no_buckets() -> None:
    assert per_second([]) == []


def test_an_absurd_span_is_refused() -> None:
    with pytest.raises(ValueError, match="seconds"):
        per_second([], start=0.0, end=1e9)


def test_property_buckets_add_up_to_the_requests_given() -> None:
    rng = random.Random(9)
    for _ in range(100):
        samples = [
            RequestSample(at=rng.uniform(100, 130), latency_ms=rng.uniform(0, 100), failure=rng.choice([None, "reset"]))
            for _ in range(rng.randint(1, 200))
        ]
        series = per_second(samples)
        assert sum(b.requests for b in series) == len(samples)
        assert sum(b.failures for b in series) == sum(1 for s in samples if s.failure)
        assert all(later.at - earlier.at == 1.0 for earlier, later in itertools.pairwise(series))
