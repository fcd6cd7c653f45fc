"""The model of `report.json`, key for key as CONTRACT.md shows it, and its builder from a `Judgement`.

Keys are camelCase; timestamps are RFC 3339 with milliseconds in UTC (`2026-11-27T13:29:34.123Z`)
on the drill's clock. Inputs may give times as epoch seconds (the evidence's unit), datetimes or
RFC 3339 strings. A few keys beyond CONTRACT.md's, all allowed by `report.schema.json`, carry what
a reader needs to trust the verdict: `verdictReasons`, `notes` (what was skipped or degraded),
`requests.ambiguousFailures` and `requests.retried`, per pod `failuresAmbiguous`, `retries`,
`measurable`, `orderingReason`, `exitReason`, `gracePeriodSeconds`, `gracefulExit` and
`gracefulExitReason`, and for
the HTML timeline `failureBuckets` (failures per time bucket and pod, `failureBucketSeconds` wide)
and `ordering.minServeAfterUnreadySeconds`.
Reading a report back (`Report.model_validate_json`) ignores keys this version does not know.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import fields
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer
from pydantic.alias_generators import to_camel

from checks.evidence import FailureClass, PodRole, PodTimeline
from checks.judge import Judgement
from checks.verdict import Verdict

__all__ = [
    "Action",
    "CheckEntry",
    "Decision",
    "EventEntry",
    "FailureBucket",
    "OrderingSettings",
    "PodEntry",
    "Report",
    "ReportWindow",
    "RequestsBlock",
    "SeriesEntry",
    "TimelineEntry",
    "TimelineSource",
    "Timestamp",
    "build_report",
    "format_timestamp",
    "to_datetime",
]

Decision = Literal["promote", "rollback", "abort", "none"]
Action = Literal["promoted", "rolled-back", "aborted", "paused", "none"]
TimelineSource = Literal["pod", "endpointslice", "event", "load", "action"]


def to_datetime(value: Any) -> Any:
    """Epoch seconds, a datetime (naive means UTC) or an RFC 3339 string, as an aware UTC datetime."""
    if isinstance(value, bool):
        return value  # let pydantic reject it
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value


def format_timestamp(value: datetime) -> str:
    """RFC 3339, milliseconds, UTC, `Z` suffix: `2026-11-27T13:29:34.123Z`."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


Timestamp = Annotated[
    datetime, BeforeValidator(to_datetime), PlainSerializer(format_timestamp, return_type=str, when_used="always")
]
"""A report timestamp: accepts epoch seconds, datetimes and RFC 3339; writes RFC 3339 with ms in UTC."""


class _Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
        use_attribute_docstrings=True,
    )


class ReportWindow(_Model):
    start: Timestamp | None
    """The rollout action (null only if it never happened)."""
    end: Timestamp | None
    """Rollout complete and every old pod exited; null when the window never closed."""


class CheckEntry(_Model):
    name: str
    passed: bool | None
    """null: inconclusive."""
    summary: str


class RequestsBlock(_Model):
    total: int = Field(ge=0)
    failed: int = Field(ge=0)
    failure_ratio: float = Field(ge=0, le=1)
    p50_ms: float | None
    p99_ms: float | None
    failures_by_class: dict[FailureClass, int] = Field(default_factory=dict)
    unattributed_failures: int = Field(default=0, ge=0)
    ambiguous_failures: int = Field(default=0, ge=0)
    """Failures another terminating pod could equally be to blame for (each is charged to one pod)."""
    retried: int = Field(default=0, ge=0)
    """Requests the load's client sent again after their connection failed (class `retried` when the
    budget counts retries)."""


class PodEntry(_Model):
    """One `pods` entry: the pod's `checks.evidence.PodTimeline` (its moments as timestamps, under the
    same names; the uncertainties are not written) and the checks' verdicts on it. It is what a report
    read back from report.json holds, so the HTML renders from it.
    """

    name: str
    role: PodRole
    created_at: Timestamp | None = None
    ready_at: Timestamp | None = None
    was_serving: bool = False
    deleted_at: Timestamp | None = None
    endpoint_unready_at: Timestamp | None = None
    last_routed_at: Timestamp | None = None
    stopped_accepting_at: Timestamp | None = None
    exited_at: Timestamp | None = None
    exit_code: int | None = None
    serve_after_unready_seconds: float | None = None
    failures_attributed: int = Field(default=0, ge=0)
    """Failed requests this pod could be to blame for, sole or shared."""
    ordering_ok: bool | None = None
    failures_ambiguous: int = Field(default=0, ge=0)
    """The part of failuresAttributed another pod terminating at the same time could be to blame for."""
    retries: int = Field(default=0, ge=0)
    """Requests the client retried after a connection to this pod failed before any answer."""
    measurable: bool = True
    ordering_reason: str | None = None
    """Why the pod is in order, out of order, or not judged (one phrase)."""
    exit_reason: str | None = None
    """`state.terminated.reason` of the container that ended worst (`Completed`, `Error`, `OOMKilled`)."""
    grace_period_seconds: float | None = None
    """The grace period the pod was deleted with."""
    graceful_exit: bool | None = None
    """The graceful-exit verdict: true exited by itself, false SIGKILLed/OOMKilled, null not judged."""
    graceful_exit_reason: str | None = None
    """How it exited, and for a failure the cause and the fix (one phrase)."""


class SeriesEntry(_Model):
    at: Timestamp
    requests: int = Field(ge=0)
    failures: int = Field(ge=0)
    p99_ms: float | None = None


class EventEntry(_Model):
    at: Timestamp
    object: str
    """`Kind/name` of the involved object."""
    reason: str
    message: str
    type: str | None = None
    """Normal or Warning."""
    count: int | None = None


class FailureBucket(_Model):
    """The failed requests of one time bucket charged to one pod (or to none), for the HTML timeline."""

    at: Timestamp
    """The start of the bucket (`Report.failureBucketSeconds` wide)."""
    pod: str | None
    """null: unattributed."""
    failures: int = Field(ge=0)
    ambiguous: int = Field(default=0, ge=0)
    """The part of `failures` shared with other pods terminating at the same time."""


class OrderingSettings(_Model):
    min_serve_after_unready_seconds: float | None = None
    """spec.ordering.minServeAfterUnreadySeconds: how long a pod must serve after leaving the endpoints."""


class TimelineEntry(_Model):
    at: Timestamp
    source: TimelineSource
    what: str


class Report(_Model):
    """report.json: every key of CONTRACT.md, plus `verdictReasons` and `notes`."""

    drill: str
    verdict: Verdict
    decision: Decision
    action: Action
    window: ReportWindow
    checks: list[CheckEntry]
    requests: RequestsBlock
    pods: list[PodEntry]
    series: list[SeriesEntry]
    events: list[EventEntry] = Field(default_factory=list)
    lint: list[dict[str, Any]] = Field(default_factory=list)
    """Static findings on the live objects, as `nonstop lint --format json` writes them (information only)."""
    timeline: list[TimelineEntry] = Field(default_factory=list)
    verdict_reasons: list[str] = Field(default_factory=list)
    """Why the verdict is what it is: failed checks' summaries, or what made the drill inconclusive."""
    notes: list[str] = Field(default_factory=list)
    """What was skipped or degraded (chaos skipped, nothing to undo, a watch resumed, …)."""
    failure_buckets: list[FailureBucket] = Field(default_factory=list)
    """Failures per time bucket and per pod they are charged to."""
    failure_bucket_seconds: float = 1.0
    """The width of `failureBuckets` (0.1 s when the failures span at most two minutes, else 1 s)."""
    ordering: OrderingSettings = Field(default_factory=OrderingSettings)

    def to_json_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data with CONTRACT.md's keys."""
        return self.model_dump(mode="json", by_alias=True)


def build_report(
    judgement: Judgement,
    *,
    drill: str,
    decision: Decision,
    action: Action,
    events: Iterable[EventEntry | Mapping[str, Any] | object] = (),
    lint: Iterable[Mapping[str, Any]] = (),
    timeline: Iterable[TimelineEntry | Mapping[str, Any] | object] = (),
    notes: Iterable[str] = (),
    min_serve_after_unready_seconds: float | None = None,
) -> Report:
    """The report of one judged drill.

    `events` and `timeline` items may be models, mappings or objects with the same attributes
    (times as epoch seconds); both are sorted by time. `lint` findings are kept as given.
    Pods come from the judgement, old before new, each in order of creation.
    """
    stats = judgement.budget.stats
    attribution = judgement.attribution
    buckets, bucket_seconds = _failure_buckets(judgement)
    report = Report(
        drill=drill,
        verdict=judgement.verdict.verdict,
        decision=decision,
        action=action,
        window=ReportWindow(start=judgement.window.start, end=judgement.window.end),
        checks=[CheckEntry(name=c.name, passed=c.passed, summary=c.summary) for c in judgement.checks],
        requests=RequestsBlock(
            total=stats.total,
            failed=stats.failed,
            failure_ratio=stats.failure_ratio,
            p50_ms=_ms(stats.p50_ms),
            p99_ms=_ms(stats.p99_ms),
            failures_by_class=dict(stats.failures_by_class),
            unattributed_failures=attribution.unattributed,
            ambiguous_failures=attribution.ambiguous,
            retried=attribution.retries,
        ),
        pods=[_pod_entry(pod, judgement) for pod in sorted(judgement.pods, key=_pod_order)],
        series=[
            SeriesEntry(at=b.at, requests=b.requests, failures=b.failures, p99_ms=_ms(b.p99_ms))
            for b in judgement.series
        ],
        events=sorted((_coerce(EventEntry, item) for item in events), key=lambda e: e.at),
        lint=[dict(finding) for finding in lint],
        timeline=sorted((_coerce(TimelineEntry, item) for item in timeline), key=lambda e: e.at),
        verdict_reasons=list(judgement.verdict.reasons),
        notes=list(notes),
        failure_buckets=buckets,
        failure_bucket_seconds=bucket_seconds,
        ordering=OrderingSettings(min_serve_after_unready_seconds=min_serve_after_unready_seconds),
    )
    charged = sum(pod.failures_attributed for pod in report.pods)
    if charged + report.requests.unattributed_failures != report.requests.failed:
        raise ValueError(
            f"report invariant broken: {charged} failures charged to pods + {report.requests.unattributed_failures} "
            f"unattributed ≠ {report.requests.failed} failed in the window"
        )
    return report


FAILURE_BUCKET_SECONDS = (0.1, 1.0)
"""`failureBuckets` are 0.1 s wide when the failures span at most `_FINE_SPAN_SECONDS`, else 1 s wide."""
_FINE_SPAN_SECONDS = 120.0


def _failure_buckets(judgement: Judgement) -> tuple[list[FailureBucket], float]:
    items = judgement.attribution.failures
    times = [item.sample.at for item in items]
    width = FAILURE_BUCKET_SECONDS[0] if times and max(times) - min(times) <= _FINE_SPAN_SECONDS else 1.0
    failures: Counter[tuple[int, str | None]] = Counter()
    shared: Counter[tuple[int, str | None]] = Counter()
    for item in items:
        slot = math.floor(item.sample.at / width)
        failures[slot, item.pod] += 1
        if item.ambiguous:
            shared[slot, item.pod] += 1
    buckets = [
        FailureBucket(at=round(slot * width, 1), pod=pod, failures=count, ambiguous=shared[slot, pod])
        for (slot, pod), count in sorted(failures.items(), key=lambda kv: (kv[0][0], kv[0][1] or ""))
    ]
    return buckets, width


_M = TypeVar("_M", bound=_Model)


def _coerce(model: type[_M], item: object) -> _M:
    if isinstance(item, model):
        return item
    if isinstance(item, Mapping):
        return model.model_validate(item)
    return model.model_validate(item, from_attributes=True)


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _pod_order(pod: PodTimeline) -> tuple[bool, float, str]:
    created = pod.created_at if pod.created_at is not None else float("inf")
    return (pod.role != "old", created, pod.name)


def _pod_entry(pod: PodTimeline, judgement: Judgement) -> PodEntry:
    ordering = judgement.ordering.for_pod(pod.name)
    exit_verdict = judgement.exits.for_pod(pod.name) if judgement.exits is not None else None
    judged_exit = exit_verdict if exit_verdict is not None and exit_verdict.judged else None
    return PodEntry(
        **{name: getattr(pod, name) for name in _TIMELINE_KEYS},
        serve_after_unready_seconds=ordering.serve_after_unready_seconds if ordering else None,
        failures_attributed=judgement.attribution.failures_for(pod.name),
        ordering_ok=ordering.ordering_ok if ordering else None,
        failures_ambiguous=judgement.attribution.ambiguous_by_pod.get(pod.name, 0),
        retries=judgement.attribution.retries_by_pod.get(pod.name, 0),
        ordering_reason=ordering.reason if ordering else None,
        graceful_exit=judged_exit.graceful if judged_exit else None,
        graceful_exit_reason=judged_exit.reason if judged_exit else None,
    )


_TIMELINE_KEYS = tuple(name for name in PodEntry.model_fields if name in {f.name for f in fields(PodTimeline)})
"""The keys of a `pods` entry that render the pod's `PodTimeline` as they are (the others are verdicts)."""
