"""Whether a fault degraded the evidence enough to change a pod's ordering verdict.

Every transition the drill stamps carries an uncertainty (`Observed.uncertainty`): 0 when a
watch delivered it live, otherwise how long that watch had been blind (a dropped stream's
reconnect, a stalled API, a re-list after 410). The change really happened somewhere in
[seen − uncertainty, seen]. For the endpoint-ordering check that gives each pod an interval
instead of one figure:

    serve-after ∈ [min(stop − its uncertainty) − left,  min(stop) − (left − left's uncertainty)]

where `left` is when the pod left the endpoints and `stop` its stop (stopped accepting — whose
prober started when the deletion was seen, so it inherits the deletion's uncertainty — or exited).
When the whole interval is on one side of the minimum, the verdict is the one an unfaulted run
would give. When it straddles the minimum the pod's ordering cannot be judged and the drill is
inconclusive: a fault never turns into a `pass` (or a `fail`) the evidence cannot carry.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from nonstop.drill.observe import PodRecord
from nonstop.kube.watching import WatchStats

__all__ = ["OrderingBounds", "blind_note", "ordering_bounds", "untrusted_orderings"]


@dataclass(frozen=True, slots=True)
class OrderingBounds:
    pod: str
    observed: float
    low: float
    high: float


def ordering_bounds(record: PodRecord) -> OrderingBounds | None:
    """The interval the pod's serve-after-unready figure lies in; None when the check does not judge it
    on timings (never served, not terminated, not measurable, or a transition missing altogether).
    """
    if not record.was_serving or not record.measurable or record.endpoint_unready_at is None:
        return None
    stops = [
        (at, uncertainty)
        for at, uncertainty in (
            (record.stopped_accepting_at, record.deleted_uncertainty),
            (record.exited_at, record.exited_uncertainty),
        )
        if at is not None
    ]
    if not stops or (record.deleted_at is None and record.exited_at is None):
        return None
    left = record.endpoint_unready_at
    observed_stop = min(at for at, _ in stops)
    earliest_stop = min(at - uncertainty for at, uncertainty in stops)
    return OrderingBounds(
        pod=record.name,
        observed=observed_stop - left,
        low=earliest_stop - left,
        high=observed_stop - (left - record.unready_uncertainty),
    )


def untrusted_orderings(records: Iterable[PodRecord], minimum: float) -> list[str]:
    """One phrase per pod whose ordering verdict the blind spells could flip (empty: every verdict holds)."""
    phrases = []
    for record in records:
        bounds = ordering_bounds(record)
        if bounds is None or bounds.low >= minimum or bounds.high < minimum:
            continue
        phrases.append(
            f"{bounds.pod} served between {bounds.low:.2f} s and {bounds.high:.2f} s after leaving the endpoints "
            f"(the minimum is {minimum:g} s)"
        )
    return phrases


def blind_note(stats: Iterable[WatchStats]) -> str | None:
    """A sentence for the report's notes when a watch was blind for a while, else None."""
    stats = list(stats)
    late = sum(s.late_events for s in stats)
    relists = sum(s.relists for s in stats)
    worst = max((s.max_uncertainty for s in stats), default=0.0)
    if not relists and not late:
        return None
    parts = [f"{late} change(s) were seen up to {worst:.2f} s late (a watch was reconnecting or stalled)"]
    if relists:
        parts.append(
            f"the watches re-listed {relists} time(s) after 410 Expired, so intermediate states may be missing"
        )
    return "; ".join(parts) + "; every pod's ordering was judged with that uncertainty counted against it"
