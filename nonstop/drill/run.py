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
from nonstop.drill.decide import Decision, apply_decision, choose_decision
from nonstop.drill.drain import Drain
from nonstop.drill.load import LoadRunner, external_workers_from_env
from nonstop.drill.observe import Observer, PodRecord
from nonstop.drill.preflight import Preflight, preflight
from nonstop.drill.prober import Prober
from nonstop.drill.settle import settle
from nonstop.drill.target import is_complete
from nonstop.drill.trust import blind_note, untrusted_orderings
from nonstop.errors import ClusterError, DrillAborted
from nonstop.kube import actions
from nonstop.kube.api import Kube
from nonstop.kube.lease import DrillLease
from nonstop.logs import get_logger
from nonstop.report.progress import LogProgress, ProgressSink, ProgressUpdate
from nonstop.spec import Drill

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
        except Exception as exc:  # a display must never break a drill
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
class _Window:
    start: float | None = None
    end: float | None = None
    problems: list[DrillProblem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    old: set[str] = field(default_factory=set)
    stable_hash: str | None = None
    """For an Argo Rollout in the middle of a canary: `status.stableRS`, the hash of its old pods."""
    drain: Drain | None = None
    """For `drain`: the node's cordon and evictions, finished (node uncordoned) on every way out."""


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

    def on_terminating(record: PodRecord) -> None:
        port = target.pod_port()
        if record.ip and port and record.measurable:
            prober.watch(record.name, record.ip, port, probe_path)

    observer = Observer(
        kube,
        namespace=namespace,
        pod_selector=target.pod_selector,
        service=spec.target.service,
        related_names=(target.name, actions.canary_name(target.name)),
        on_terminating=on_terminating,
    )
    prober = Prober(on_stop=observer.record_stop, read_timeout=spec.load.timeout_seconds)
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
        window = _Window()
        try:
            _rollout_and_watch(drill, kube=kube, observer=observer, pre=pre, namespace=namespace,
                               dry_run=dry_run, interrupted=interrupted, window=window, progress=reporter)  # fmt: skip
        except ClusterError as exc:
            if window.start is None:
                raise
            window.problems.append(DrillProblem("observation-lost", str(exc)))
        finally:
            _finish_drain(window)
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
    if lost := observer.lost():
        window.problems.append(DrillProblem("observation-lost", lost))
    if lease is not None and lease.lost is not None:
        window.problems.append(
            DrillProblem("observation-lost", f"{lease.lost}: another drill may have changed the target")
        )
    if note := blind_note(observer.stats()):
        window.notes.append(note)
    if untrusted := untrusted_orderings(observer.snapshot(), spec.ordering.min_serve_after_unready_seconds):
        window.problems.append(
            DrillProblem(
                "observation-lost",
                "a watch was blind when pods changed, so their ordering cannot be judged: " + "; ".join(untrusted),
            )
        )
    reporter.enter("judging")
    pods = [_with_role(p, drill, window) for p in observer.snapshot()]
    # The budget also charges the cool-down: a data plane still routing to an exited pod fails
    # requests after the window closed, and those failures are the rollout's.
    judged_end = None if window.end is None else window.end + spec.load.cooldown_seconds
    judgement = judge_drill(
        samples.items,
        pods,
        window=DrillWindow(window.start, judged_end),
        max_failure_ratio=spec.budget.max_failure_ratio,
        max_p99_ms=spec.budget.max_p99_ms,
        min_requests=spec.budget.min_requests,
        min_serve_after_unready_seconds=spec.ordering.min_serve_after_unready_seconds,
        expect_terminations=_expects_terminations(drill, dry_run, replicas_before=pre.target.replicas),
        graceful_exit=spec.graceful_exit.enabled,
        count_retries=spec.budget.count_retries,
        problems=window.problems,
    )
    verdict = judgement.verdict.verdict
    decision = apply_decision(kube, spec, namespace=namespace, decision=choose_decision(spec, verdict), dry_run=dry_run,
                              replicas_before=pre.target.replicas)  # fmt: skip
    observer.note("action", f"decision {decision.decision}: {decision.action} ({decision.note})")
    log.info("drill decided", verdict=verdict, decision=decision.decision, action=decision.action, note=decision.note)
    reporter.enter("done")
    return DrillRun(
        drill, namespace, pre, judgement, decision, observer, samples.items, pods, started_at, window.notes,
        window=DrillWindow(window.start, window.end),
    )  # fmt: skip


def _expects_terminations(drill: Drill, dry_run: bool, *, replicas_before: int) -> bool:
    strategy = drill.spec.rollout.strategy
    if dry_run and strategy != "external":
        return False
    if strategy == "scale":
        return (drill.spec.rollout.replicas or 0) < replicas_before
    return strategy in ("restart", "image", "external", "drain") or drill.spec.chaos.terminate_old_pods


def _with_role(record: PodRecord, drill: Drill, window: _Window) -> PodTimeline:
    evidence = record.evidence()
    if drill.spec.rollout.strategy == "canary":
        is_old = record.labels.get(actions.CANARY_TRACK_LABEL) != "canary"
    elif window.stable_hash is not None:  # an Argo Rollout's stable pods, replacements of evicted ones included
        is_old = record.labels.get(ROLLOUT_HASH_LABEL) == window.stable_hash
    else:
        is_old = record.name in window.old
    return dataclasses.replace(evidence, role="old" if is_old else "new")


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


def _start_rollout(drill: Drill, kube: Kube, namespace: str, observer: Observer, window: _Window) -> None:
    spec, name = drill.spec, drill.spec.target.name
    strategy = spec.rollout.strategy
    window.start = time.time()
    if strategy == "restart":
        actions.restart(kube, namespace, name)
    elif strategy == "image":
        actions.set_image(kube, namespace, name, spec.rollout.image or "", spec.rollout.container)
    elif strategy == "scale":
        before = actions.scale(kube, namespace, name, spec.rollout.replicas or 0)
        window.notes.append(f"scaled Deployment {name} from {before} to {spec.rollout.replicas} replicas")
    elif strategy == "drain":
        window.drain = Drain(kube, observer, namespace=namespace, node=spec.rollout.node or "", owner=name,
                             drill=drill.metadata.name, grace_seconds=spec.chaos.grace_period_seconds)  # fmt: skip
        window.drain.start()
    elif strategy == "canary":
        actions.create_canary(kube, namespace, name, image=spec.rollout.image or "", container=spec.rollout.container,
                              replicas=spec.rollout.canary_replicas)  # fmt: skip
    observer.note("action", f"rollout started: {strategy} of {spec.target.kind} {namespace}/{name}", at=window.start)
    log.info("rollout started", strategy=strategy, target=f"{spec.target.kind}/{name}")


def _wait_external(observer: Observer, window: _Window, deadline: float, interrupted: threading.Event) -> bool:
    """external: the window opens when an old pod starts terminating or a new pod appears."""
    while not interrupted.is_set() and time.monotonic() < deadline:
        seen = observer.changes
        for pod in observer.snapshot():
            if (pod.name in window.old and pod.deleted_at is not None) or pod.name not in window.old:
                window.start = min(t for t in (pod.deleted_at, pod.created_at, time.time()) if t is not None)
                observer.note("action", f"external rollout seen ({pod.name})", at=window.start)
                return True
        observer.wait_for_change(0.25, since=seen)
    return False


def _rollout_and_watch(
    drill: Drill,
    *,
    kube: Kube,
    observer: Observer,
    pre: Preflight,
    namespace: str,
    dry_run: bool,
    interrupted: threading.Event,
    window: _Window,
    progress: _Progress,
) -> None:
    spec = drill.spec
    strategy = spec.rollout.strategy
    target = pre.target
    window.old = {p.name for p in observer.snapshot() if p.deleted_at is None}
    progress.old = window.old
    deadline = time.monotonic() + spec.timeout_seconds
    if dry_run and strategy != "external":
        window.end = time.time()  # the window is the baseline: run_drill sets its start
        window.notes.append(f"dry run: the {strategy} rollout was not started; only the baseline was measured")
        return
    progress.enter("rollout", spec.timeout_seconds)
    under = _canary_in_progress(kube, drill, namespace, window) if target.kind == "Rollout" else None
    progress.old = window.old  # the stable pods only, when a canary is in progress
    if strategy == "external" and under:
        window.notes.append(under)
        observer.note("action", f"Argo Rollout canary in progress: {under}", at=window.start)
    elif strategy == "external":
        if not _wait_external(observer, window, deadline, interrupted):
            window.problems.append(
                DrillProblem("interrupted" if interrupted.is_set() else "deadline-passed", "no rollout was seen")
            )
            return
    else:
        _start_rollout(drill, kube, namespace, observer, window)
    chaos: Chaos | None = None
    wants_chaos = strategy in ("canary", "external") and spec.chaos.terminate_old_pods
    if strategy in ("restart", "image") and spec.chaos.terminate_old_pods:
        window.notes.append(f"chaos skipped: a {strategy} rollout already sends SIGTERM to every old pod")
    while True:
        if interrupted.is_set():
            window.problems.append(DrillProblem("interrupted", "SIGINT/SIGTERM after the rollout started"))
            return
        if time.monotonic() > deadline:
            window.problems.append(
                DrillProblem(
                    "deadline-passed",
                    f"the window did not close within spec.timeoutSeconds ({spec.timeout_seconds:g} s)",
                )
            )
            return
        if lost := observer.lost():
            window.problems.append(DrillProblem("observation-lost", lost))
            return
        seen = observer.changes  # a change while this pass runs must not wait out the timeout
        pods = observer.snapshot()
        terminating = [p for p in pods if p.deleted_at is not None and p.exited_at is None]
        if wants_chaos and chaos is None and _canary_ready(kube, drill, namespace):
            victims = sorted(n for n in window.old if not _is_canary(pods, n))
            # A Deployment's canary pods come on top of its replicas; an Argo Rollout's are part of them.
            min_ready = (
                target.replicas if target.kind == "Deployment" else max(1, target.replicas - target.max_unavailable)
            )
            chaos = Chaos(kube, observer, namespace=namespace, victims=victims, owner=target.name,
                          min_ready=min_ready, settle_seconds=spec.ordering.min_serve_after_unready_seconds,
                          grace_seconds=spec.chaos.grace_period_seconds, interrupted=interrupted.is_set)  # fmt: skip
            chaos.start()
        complete, failure = _rollout_complete(kube, drill, namespace, target.kind)
        if failure:
            window.problems.append(DrillProblem("deadline-passed", failure))
            return
        # Looked at again after the API answered: a deletion seen meanwhile must keep the window open.
        pods = observer.snapshot()
        terminating = [p for p in pods if p.deleted_at is not None and p.exited_at is None]
        chaos_done = (chaos is None or chaos.done.is_set()) and (window.drain is None or window.drain.over(pods))
        if strategy in ("restart", "image") or (strategy == "external" and target.kind == "Deployment"):
            # a Deployment reports complete while its old pods still terminate: each must have exited
            old_gone = all(p.exited_at is not None for p in pods if p.name in window.old)
        else:  # scale (and the rest): every pod that was deleted has exited
            deleted = [p for p in pods if p.deleted_at is not None]
            old_gone = all(p.exited_at is not None for p in deleted)
            if strategy == "scale":  # the Deployment is complete before the watch shows whom it removed
                old_gone = old_gone and len(deleted) >= target.replicas - (spec.rollout.replicas or 0)
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


def _finish_drain(window: _Window) -> None:
    """A drain's evictions stop and its node is uncordoned, whatever ended the window."""
    if window.drain is not None:
        window.drain.finish()
        if window.drain.note:
            window.notes.append(window.drain.note)


ROLLOUT_HASH_LABEL = "rollouts-pod-template-hash"


def _canary_in_progress(kube: Kube, drill: Drill, namespace: str, window: _Window) -> str | None:
    """An Argo Rollout already between its stable and its canary version (an analysis step runs the drill
    while the Rollout waits, changing no pod): the window opens now, the stable pods are the old ones.
    Returns which step it ran under, for the report; None when no canary is in progress."""
    rollout = kube.get_rollout(namespace, drill.spec.target.name)
    status = rollout.get("status") or {}
    stable, current = status.get("stableRS"), status.get("currentPodHash")
    if not stable or not current or stable == current:
        return None
    window.start = time.time()
    window.stable_hash = str(stable)
    pods = kube.list_pods(namespace)
    window.old = {
        str(p["metadata"]["name"])
        for p in pods
        if (p["metadata"].get("labels") or {}).get(ROLLOUT_HASH_LABEL) == stable
        and not p["metadata"].get("deletionTimestamp")
    }
    steps = ((rollout.get("spec") or {}).get("strategy") or {}).get("canary", {}).get("steps") or []
    index = status.get("currentStepIndex")
    step = f"step {int(index) + 1} of {len(steps)}" if index is not None and steps else "no step recorded"
    kind = next(iter(steps[int(index)]), "?") if index is not None and int(index) < len(steps) else "?"
    return f"ran under Rollout {drill.spec.target.name} {step} ({kind}), canary {current}, stable {stable}"


def _is_canary(pods: list[PodRecord], name: str) -> bool:
    return any(p.name == name and p.labels.get(actions.CANARY_TRACK_LABEL) == "canary" for p in pods)


def _canary_ready(kube: Kube, drill: Drill, namespace: str) -> bool:
    if drill.spec.rollout.strategy != "canary":
        return True
    done, _ = is_complete(kube.get_deployment(namespace, actions.canary_name(drill.spec.target.name)), "Deployment")
    return done


def _rollout_complete(kube: Kube, drill: Drill, namespace: str, kind: str) -> tuple[bool, str | None]:
    name = drill.spec.target.name
    if kind == "Rollout":
        return is_complete(kube.get_rollout(namespace, name), "Rollout")
    done, failure = is_complete(kube.get_deployment(namespace, name), "Deployment")
    if drill.spec.rollout.strategy == "canary" and done and not failure:
        return _canary_ready(kube, drill, namespace), None
    return done, failure
