"""Reports of made-up drills for the rendering tests, built the way a drill builds them (judge, then report)."""

from __future__ import annotations

from checks import DrillWindow, PodTimeline, RequestSample, judge_drill
from checks.verdict import DrillProblem
from nonstop.report import EventEntry, Report, TimelineEntry, build_report

T0 = 1_800_000_000.0
"""The rollout action of every made-up drill (epoch seconds)."""


# Over 80 lines on purpose: one made-up drill, from its pods and requests to its report, in a drill's order.
def made_up_report(
    *,
    failures: int = 0,
    serve_after: float = 5.0,
    old_pods: int = 2,
    unattributed: int = 0,
    problems: tuple[DrillProblem, ...] = (),
    drill: str = "web-restart",
) -> Report:
    """A restart of `old_pods` pods over 20 s of load at 200 req/s; `failures` spread over old pod 0's termination."""
    old = [
        PodTimeline(
            name=f"web-old-{i}",
            role="old",
            created_at=T0 - 3600,
            ready_at=T0 - 3590,
            was_serving=True,
            deleted_at=T0 + 2 + 4 * i,
            endpoint_unready_at=T0 + 2.01 + 4 * i,
            last_routed_at=T0 + 2.5 + 4 * i,
            stopped_accepting_at=T0 + 2.01 + 4 * i + serve_after,
            exited_at=T0 + 2.2 + 4 * i + serve_after,
            exit_code=0,
        )
        for i in range(old_pods)
    ]
    new = [
        PodTimeline(
            name=f"web-new-{i}",
            role="new",
            created_at=T0 + 0.5 + 4 * i,
            ready_at=T0 + 1.8 + 4 * i,
            was_serving=True,
            last_routed_at=T0 + 20,
        )
        for i in range(old_pods)
    ]
    samples = [RequestSample(at=T0 - 5 + i / 200, latency_ms=3.0 + (i % 50) / 10, pod="web-new-0") for i in range(5000)]
    # failures answered by the terminating pod itself (X-Pod-Name): charged to it alone
    samples += [
        RequestSample(
            at=T0 + 2.1 + 2 * i / max(failures, 1), latency_ms=1.0, failure="http-5xx", pod="web-old-0", status=503
        )
        for i in range(failures)
    ]
    # failures with no answering pod before any termination began: nobody to charge them to
    samples += [RequestSample(at=T0 + 0.5 + i / 1000, latency_ms=1.0, failure="refused") for i in range(unattributed)]
    window_end = max((p.exited_at or T0) for p in old) + 0.5
    judgement = judge_drill(
        samples,
        [*old, *new],
        window=DrillWindow(T0, window_end),
        max_failure_ratio=0.0,
        max_p99_ms=None,
        min_requests=100,
        min_serve_after_unready_seconds=1.0,
        expect_terminations=True,
        problems=problems,
    )
    events = [
        EventEntry(
            at=T0 + 0.1,
            object="Deployment/web",
            reason="ScalingReplicaSet",
            message="Scaled up replica set web-new from 0 to 1",
            type="Normal",
        ),
        EventEntry(
            at=T0 + 2.05, object="Pod/web-old-0", reason="Killing", message="Stopping container web", type="Normal"
        ),
        EventEntry(
            at=T0 + 2.3,
            object="Pod/web-old-0",
            reason="Unhealthy",
            message="Readiness probe failed: connection refused",
            type="Warning",
        ),
    ]
    timeline = [
        TimelineEntry(at=T0, source="action", what="rollout started: restart of Deployment default/web"),
        TimelineEntry(at=window_end, source="action", what="drill window closed: rollout complete"),
    ]
    return build_report(
        judgement,
        drill=drill,
        decision="promote" if judgement.verdict.verdict == "pass" else "rollback",
        action="promoted" if judgement.verdict.verdict == "pass" else "rolled-back",
        events=events,
        timeline=timeline,
        notes=["decision: revision 2 annotated nonstop.dev/verified-revision"],
        min_serve_after_unready_seconds=1.0,
    )
