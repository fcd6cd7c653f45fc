"""One drill, phase by phase: preflight → observe → settle → load + baseline → rollout → window → judge → decide.

`run_drill` owns the order and the exit semantics of CONTRACT.md: anything that goes wrong
before the rollout starts raises `DrillAborted` (exit 2) with nothing changed; once the rollout
started, every path ends in a verdict, a decision and a report (inconclusive: exit 3, with the
fail decision applied).
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from checks.evidence import DrillWindow, PodTimeline, RequestSample
from checks.judge import Judgement, judge_drill
from checks.verdict import DrillProblem
from nonstop.drill.chaos import Chaos
from nonstop.drill.drain import Drain
from nonstop.drill.load import LoadRunner, external_workers_from_env
from nonstop.drill.observe import Observer, blind_note
from nonstop.drill.preflight import Preflight, preflight
from nonstop.drill.prober import Prober
from nonstop.drill.settle import settle
from nonstop.drill.target import Target
from nonstop.errors import ClusterError, DrillAborted
from nonstop.kube import actions
from nonstop.kube.api import Kube
from nonstop.kube.lease import DrillLease
from nonstop.logs import get_logger
from nonstop.report.progress import LogProgress, ProgressSink, ProgressUpdate
from nonstop.spec import Drill
from nonstop.strategies import Decision, Stage, Strategy, strategy_for

__all__ = ["DrillRun", "run_drill"]

log = get_logger("drill")
PROGRESS_EVERY = 1.0
"""Seconds between progress updates while the drill waits (phase changes are reported at once)."""


@dataclass
class DrillRun:
    """Everything one drill produced: the judgement, the decision and the evidence for the report."""

    drill: Drill
    namespace: str
    preflight: Preflight
    judgement: Judgement
    decision: Decision
    observer: Observer
    samples: list[RequestSample]
    pods: list[PodTimeline]
    started_at: float
    notes: list[str] = field(default_factory=list)
    window: DrillWindow | None = None
    """The drill window as CONTRACT.md defines it (the budget also judges the cool-down after it)."""

    @property
    def exit_code(self) -> int:
        return self.judgement.verdict.exit_code


class _Samples:
    """Thread-safe sink for the load's request samples, with live counters for progress and chaos."""

    def __init__(self, observer: Observer) -> None:
        self._lock = threading.Lock()
        self.items: list[RequestSample] = []
        self.failures = 0
        self._observer = observer

    def add(self, batch: Sequence[RequestSample]) -> None:
        with self._lock:
            self.items.extend(batch)
            self.failures += sum(1 for s in batch if s.failure is not None)
        for sample in batch:
            if sample.pod and sample.failure is None:
                self._observer.record_routed(sample.pod, sample.at + sample.latency_ms / 1000)

    def between(self, start: float, end: float) -> list[RequestSample]:
        with self._lock:
            return [s for s in self.items if start <= s.at <= end]

    def counts(self) -> tuple[int, int]:
        with self._lock:
            return len(self.items), self.failures


class _Progress:
    """Feeds the progress sink: each phase change at once, the counters at most every PROGRESS_EVERY seconds."""

    def __init__(
        self, sink: ProgressSink, drill: Drill, samples: _Samples, observer: Observer, started_at: float
    ) -> None:
        spec = drill.spec
        self._sink, self._drill, self._samples, self._observer = sink, drill, samples, observer
        self._started_at = started_at
        self._expected = spec.load.warmup_seconds + spec.timeout_seconds + spec.load.cooldown_seconds
        self._phase, self._phase_at = "preflight", started_at
        self._phase_seconds: float | None = None
        self._last = 0.0
        self._broken = False
        self.old: set[str] = set()
        """The pods present when the rollout started (before that every pod counts as old)."""

    def enter(self, phase: str, seconds: float | None = None) -> None:
        self._phase, self._phase_at, self._phase_seconds = phase, time.time(), seconds
        self._emit()

    def tick(self) -> None:
        if time.monotonic() - self._last >= PROGRESS_EVERY:
            self._emit()

    def _emit(self) -> None:
        self._last = time.monotonic()
        total, failed = self._samples.counts()
        counts = {"old_ready": 0, "old_terminating": 0, "new_ready": 0, "new_terminating": 0}
        for pod in self._observer.snapshot():
            role = "old" if not self.old or pod.name in self.old else "new"
            if pod.deleted_at is not None and pod.exited_at is None:
                counts[f"{role}_terminating"] += 1
            elif pod.endpoint_ready and pod.deleted_at is None:
                counts[f"{role}_ready"] += 1
        update = ProgressUpdate(
            drill=self._drill.metadata.name, phase=self._phase, at=time.time(), started_at=self._started_at,
            phase_started_at=self._phase_at, phase_seconds=self._phase_seconds, expected_seconds=self._expected,
            requests=total, failures=failed, **counts,
        )  # fmt: skip
        try:
            self._sink(update)
        except Exception as exc:  # noqa: BLE001 — a display must never break a drill
            if not self._broken:
                self._broken = True
                log.warning("progress display failed; the drill goes on", error=str(exc))


def _wait(interrupted: threading.Event, seconds: float, tick: Callable[[], None]) -> None:
    """Wait `seconds` or until interrupted, calling `tick` about once a second."""
    deadline = time.monotonic() + seconds
    while not interrupted.is_set():
        left = deadline - time.monotonic()
        if left <= 0:
            return
        interrupted.wait(min(left, PROGRESS_EVERY))
        tick()


@dataclass
class _Window(Stage):
    """The drill window: the strategy's stage, and how the window ended."""

    end: float | None = None
    problems: list[DrillProblem] = field(default_factory=list)


def run_drill(
    drill: Drill,
    *,
    kube: Kube,
    namespace: str,
    interrupted: threading.Event,
    dry_run: bool = False,
    progress: ProgressSink | None = None,
) -> DrillRun:
    """Run one drill against the cluster behind `kube`; see the module docstring for the exit semantics.

    `progress` receives a `ProgressUpdate` at each phase change and about once a second while the
    drill waits (default: `LogProgress`, plain log lines).
    """
    spec = drill.spec
    started_at = time.time()
    sink = progress if progress is not None else LogProgress()
    pre = preflight(kube, spec, namespace=namespace, interrupted=interrupted)
    # One drill per target: the Lease is taken after preflight's read-only checks, before anything
    # changes, and released on every way out. A dry run writes nothing, so it takes no Lease.
    if interrupted.is_set():
        raise DrillAborted("interrupted before the rollout started; nothing was changed")
    lease = None
    if not dry_run:
        lease = DrillLease(kube, namespace=namespace, kind=spec.target.kind, target=spec.target.name,
                           drill=drill.metadata.name).acquire()  # fmt: skip
    try:
        return _run(drill, kube=kube, namespace=namespace, interrupted=interrupted, dry_run=dry_run, sink=sink,
                    pre=pre, started_at=started_at, lease=lease)  # fmt: skip
    finally:
        if lease is not None:
            lease.release()


def _run(
    drill: Drill,
    *,
    kube: Kube,
    namespace: str,
    interrupted: threading.Event,
    dry_run: bool,
    sink: ProgressSink,
    pre: Preflight,
    started_at: float,
    lease: DrillLease | None,
) -> DrillRun:
    spec = drill.spec
    target = pre.target
    # In the Argo workflow the Locust workers are pods of their own (workflows/drill_template.py).
    external_workers = external_workers_from_env(os.environ)

    probe_path = spec.ordering.probe_path or spec.load.path
    observer, prober = _watchers(kube, drill, target, namespace=namespace, probe_path=probe_path)
    strategy = strategy_for(spec)

    def drain(node: str) -> Drain:
        return Drain(kube, observer, namespace=namespace, node=node, owner=target.name, drill=drill.metadata.name,
                     grace_seconds=spec.chaos.grace_period_seconds)  # fmt: skip

    samples = _Samples(observer)
    reporter = _Progress(sink, drill, samples, observer, started_at)
    reporter.enter("preflight")
    load: LoadRunner | None = None
    try:
        observer.start()
        reporter.enter("settle", spec.load.settle_seconds)
        settle(observer, target=target, url=pre.url, path=spec.load.path, probe_path=probe_path,
               read_timeout=spec.load.timeout_seconds, timeout=spec.load.settle_seconds,
               interrupted=interrupted)  # fmt: skip
        log.info("target settled; starting the load", url=pre.url, users=spec.load.users)
        bound = spec.load.warmup_seconds + spec.timeout_seconds + spec.load.cooldown_seconds + 60
        load = LoadRunner(host=pre.url, load=spec.load, on_samples=samples.add, max_seconds=bound,
                          external_workers=external_workers)  # fmt: skip
        load.start()
        load.wait_ready()
        baseline_start = time.time()
        reporter.enter("warm-up", spec.load.warmup_seconds)
        _wait(interrupted, spec.load.warmup_seconds, reporter.tick)
        if interrupted.is_set():
            raise DrillAborted("interrupted before the rollout started; nothing was changed")
        _check_baseline(samples.between(baseline_start, time.time()), drill)
        window = _Window(kube=kube, namespace=namespace, drill=drill.metadata.name, spec=spec, target=target,
                         pods=observer, drain=drain)  # fmt: skip
        try:
            _rollout_and_watch(drill, strategy=strategy, observer=observer, target=target, dry_run=dry_run,
                               interrupted=interrupted, window=window, progress=reporter)  # fmt: skip
        except ClusterError as exc:
            if window.start is None:
                raise
            window.problems.append(DrillProblem("observation-lost", str(exc)))
        finally:
            strategy.finish(window.notes)
        if window.start is None:
            window.start = baseline_start
        if not interrupted.is_set():
            reporter.enter("cool-down", spec.load.cooldown_seconds)
            _wait(interrupted, spec.load.cooldown_seconds, reporter.tick)
            if interrupted.is_set():  # the budget also judges the cool-down: cut short, it is not proven
                window.problems.append(DrillProblem("interrupted", "SIGINT/SIGTERM during the cool-down"))
    finally:
        if load is not None:
            load.stop()
        prober.stop()
        observer.stop()
    _note_weak_evidence(observer, window, lease)
    return _conclude(
        drill, kube=kube, namespace=namespace, dry_run=dry_run, pre=pre, strategy=strategy, observer=observer,
        samples=samples, window=window, start=window.start, reporter=reporter, started_at=started_at,
    )  # fmt: skip


def _watchers(kube: Kube, drill: Drill, target: Target, *, namespace: str, probe_path: str) -> tuple[Observer, Prober]:
    """The observer of the target's pods, EndpointSlices and Events, and the prober it starts per terminating pod."""

    def on_terminating(record: PodTimeline) -> None:
        port = target.pod_port()
        if record.ip and port and record.measurable:
            prober.watch(record.name, record.ip, port, probe_path)

    observer = Observer(
        kube,
        namespace=namespace,
        pod_selector=target.pod_selector,
        service=drill.spec.target.service,
        related_names=(target.name, actions.canary_name(target.name)),
        on_terminating=on_terminating,
    )
    prober = Prober(on_stop=observer.record_stop, read_timeout=drill.spec.load.timeout_seconds)
    return observer, prober


def _note_weak_evidence(observer: Observer, window: _Window, lease: DrillLease | None) -> None:
    """What makes the evidence weaker than it looks: a lost watch or Lease, blind spells of the watches
    (the ordering check weighs each moment's uncertainty itself).
    """
    if lost := observer.lost():
        window.problems.append(DrillProblem("observation-lost", lost))
    if lease is not None and lease.lost is not None:
        window.problems.append(
            DrillProblem("observation-lost", f"{lease.lost}: another drill may have changed the target")
        )
    if note := blind_note(observer.stats()):
        window.notes.append(note)


def _conclude(
    drill: Drill,
    *,
    kube: Kube,
    namespace: str,
    dry_run: bool,
    pre: Preflight,
    strategy: Strategy,
    observer: Observer,
    samples: _Samples,
    window: _Window,
    start: float,
    reporter: _Progress,
    started_at: float,
) -> DrillRun:
    """Judge the evidence, carry out the decision the verdict calls for, and gather the run."""
    spec = drill.spec
    reporter.enter("judging")
    pods = [dataclasses.replace(p, role="old" if strategy.is_old(p, window.old) else "new")
            for p in observer.snapshot()]  # fmt: skip
    # The budget also charges the cool-down: a data plane still routing to an exited pod fails
    # requests after the window closed, and those failures are the rollout's.
    judged_end = None if window.end is None else window.end + spec.load.cooldown_seconds
    judgement = judge_drill(
        samples.items,
        pods,
        window=DrillWindow(start, judged_end),
        max_failure_ratio=spec.budget.max_failure_ratio,
        max_p99_ms=spec.budget.max_p99_ms,
        min_requests=spec.budget.min_requests,
        min_serve_after_unready_seconds=spec.ordering.min_serve_after_unready_seconds,
        expect_terminations=strategy.expects_terminations(dry_run=dry_run, replicas_before=pre.target.replicas),
        graceful_exit=spec.graceful_exit.enabled,
        count_retries=spec.budget.count_retries,
        problems=window.problems,
    )
    verdict = judgement.verdict.verdict
    # onPass for a pass, onFail for a fail or an inconclusive drill
    chosen = spec.decision.on_pass if verdict == "pass" else spec.decision.on_fail
    decision = strategy.decide(kube, namespace=namespace, decision=chosen, dry_run=dry_run,
                               interrupted=lambda: False, replicas_before=pre.target.replicas)  # fmt: skip
    observer.note("action", f"decision {decision.decision}: {decision.action} ({decision.note})")
    log.info("drill decided", verdict=verdict, decision=decision.decision, action=decision.action, note=decision.note)
    reporter.enter("done")
    return DrillRun(
        drill, namespace, pre, judgement, decision, observer, samples.items, pods, started_at, window.notes,
        window=DrillWindow(start, window.end),
    )  # fmt: skip


def _check_baseline(baseline: list[RequestSample], drill: Drill) -> None:
    if not baseline:
        raise DrillAborted(
            "the load sent no request during the warm-up (spec.load.warmupSeconds); check spec.load and the Service"
        )
    failed = sum(1 for s in baseline if s.failure is not None)
    ratio = failed / len(baseline)
    if ratio > drill.spec.budget.max_failure_ratio:
        raise DrillAborted(
            f"the baseline already breaks the budget before any rollout: {failed} of {len(baseline)} requests "
            f"failed ({ratio:.2%}) during the warm-up; nothing was changed"
        )


def _rollout_and_watch(
    drill: Drill,
    *,
    strategy: Strategy,
    observer: Observer,
    target: Target,
    dry_run: bool,
    interrupted: threading.Event,
    window: _Window,
    progress: _Progress,
) -> None:
    spec = drill.spec
    window.old = {p.name for p in observer.snapshot() if p.deleted_at is None}
    progress.old = window.old
    deadline = time.monotonic() + spec.timeout_seconds
    if dry_run and not strategy.observes_only:
        window.end = time.time()  # the window is the baseline: run_drill sets its start
        window.notes.append(f"dry run: the {strategy.name} rollout was not started; only the baseline was measured")
        return
    progress.enter("rollout", spec.timeout_seconds)
    if not strategy.begin(window, deadline=deadline, interrupted=interrupted):
        window.problems.append(
            DrillProblem("interrupted" if interrupted.is_set() else "deadline-passed", "no rollout was seen")
        )
        return
    progress.old = window.old  # the stable pods only, when an Argo canary is in progress
    _watch(drill, strategy=strategy, observer=observer, target=target, deadline=deadline, interrupted=interrupted,
           window=window, progress=progress)  # fmt: skip


def _stopped(drill: Drill, observer: Observer, deadline: float, interrupted: threading.Event) -> DrillProblem | None:
    """Why the window must end before the rollout is through, if it must."""
    if interrupted.is_set():
        return DrillProblem("interrupted", "SIGINT/SIGTERM after the rollout started")
    if time.monotonic() > deadline:
        return DrillProblem(
            "deadline-passed",
            f"the window did not close within spec.timeoutSeconds ({drill.spec.timeout_seconds:g} s)",
        )
    if lost := observer.lost():
        return DrillProblem("observation-lost", lost)
    return None


def _watch(
    drill: Drill,
    *,
    strategy: Strategy,
    observer: Observer,
    target: Target,
    deadline: float,
    interrupted: threading.Event,
    window: _Window,
    progress: _Progress,
) -> None:
    """Until the window closes: the chaos when the strategy takes it, the rollout complete, every old pod exited."""
    spec = drill.spec
    chaos: Chaos | None = None
    wants_chaos = strategy.takes_chaos and spec.chaos.terminate_old_pods
    while True:
        if problem := _stopped(drill, observer, deadline, interrupted):
            window.problems.append(problem)
            return
        seen = observer.changes  # a change while this pass runs must not wait out the timeout
        pods = observer.snapshot()
        if wants_chaos and chaos is None and strategy.ready_for_chaos(window):
            victims = sorted(n for n in window.old if not _is_canary(pods, n))
            # A Deployment's canary pods come on top of its replicas; an Argo Rollout's are part of them.
            min_ready = (
                target.replicas if target.kind == "Deployment" else max(1, target.replicas - target.max_unavailable)
            )
            chaos = Chaos(window.kube, observer, namespace=window.namespace, victims=victims, owner=target.name,
                          min_ready=min_ready, settle_seconds=spec.ordering.min_serve_after_unready_seconds,
                          grace_seconds=spec.chaos.grace_period_seconds, interrupted=interrupted.is_set)  # fmt: skip
            chaos.start()
        complete, failure = strategy.complete(window)
        if failure:
            window.problems.append(DrillProblem("deadline-passed", failure))
            return
        # Looked at again after the API answered: a deletion seen meanwhile must keep the window open.
        pods = observer.snapshot()
        terminating = [p for p in pods if p.deleted_at is not None and p.exited_at is None]
        chaos_done = (chaos is None or chaos.done.is_set()) and strategy.evictions_over(pods)
        old_gone = strategy.old_gone(window, pods)
        if target.kind == "Rollout" and chaos is not None and chaos.done.is_set() and not terminating:
            complete = True  # as an analysis job the Rollout waits for us: the chaos is the rollout we judge
        if complete and chaos_done and old_gone and not terminating and (not wants_chaos or chaos is not None):
            window.end = time.time()
            if chaos is not None and chaos.note:
                window.notes.append(chaos.note)
            observer.note("action", "drill window closed: rollout complete and every old pod exited", at=window.end)
            return
        progress.tick()
        observer.wait_for_change(0.25, since=seen)


def _is_canary(pods: list[PodTimeline], name: str) -> bool:
    return any(p.name == name and actions.is_canary_pod(p.labels) for p in pods)
