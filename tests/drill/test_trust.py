"""A fault's blind spell widens each pod's ordering figure into an interval; straddling the minimum is untrusted."""

from __future__ import annotations

from nonstop.drill.observe import PodRecord
from nonstop.drill.trust import blind_note, ordering_bounds, untrusted_orderings
from nonstop.kube.watching import WatchStats


def pod(**fields: float) -> PodRecord:
    base = PodRecord(name="web-1", was_serving=True, deleted_at=100.0, endpoint_unready_at=100.1,
                     stopped_accepting_at=103.1, exited_at=103.5)  # fmt: skip
    for key, value in fields.items():
        setattr(base, key, value)
    return base


def test_live_evidence_has_no_interval_and_is_trusted_either_way() -> None:
    bounds = ordering_bounds(pod())
    assert bounds is not None
    assert round(bounds.low, 3) == round(bounds.high, 3) == round(bounds.observed, 3) == 3.0
    assert untrusted_orderings([pod()], 1.0) == []
    assert untrusted_orderings([pod(stopped_accepting_at=100.3)], 1.0) == []  # a clear fail stays a fail


def test_a_late_seen_deletion_cannot_carry_a_pass() -> None:
    """The prober started up to 2.5 s late: the pod may have stopped 0.5 s after leaving — below 1 s."""
    record = pod(deleted_uncertainty=2.5)
    bounds = ordering_bounds(record)
    assert bounds is not None
    assert round(bounds.low, 3) == 0.5
    assert untrusted_orderings([record], 1.0) == [("web-1 served between 0.50 s and 3.00 s after leaving the "
                                                  "endpoints (the minimum is 1 s)")]  # fmt: skip


def test_a_late_seen_endpoint_departure_cannot_carry_a_fail() -> None:
    """Leaving seen 2 s late: the measured 0.5 s may really be 2.5 s, so the fail is not proven either."""
    record = pod(stopped_accepting_at=100.6, unready_uncertainty=2.0)
    assert len(untrusted_orderings([record], 1.0)) == 1


def test_a_wide_margin_survives_the_uncertainty() -> None:
    assert untrusted_orderings([pod(deleted_uncertainty=1.5, exited_uncertainty=1.5)], 1.0) == []


def test_pods_the_check_does_not_time_are_left_to_it() -> None:
    assert ordering_bounds(pod(was_serving=False)) is None
    assert ordering_bounds(pod(endpoint_unready_at=None)) is None  # type: ignore[arg-type]
    assert ordering_bounds(pod(measurable=False)) is None


def test_blind_note_only_when_a_watch_was_blind() -> None:
    assert blind_note([WatchStats(), WatchStats(reconnects=3)]) is None
    note = blind_note([WatchStats(reconnects=2, late_events=4, max_uncertainty=1.5), WatchStats(relists=1)])
    assert note is not None
    assert "4 change(s) were seen up to 1.50 s late" in note
    assert "re-listed 1 time(s)" in note
