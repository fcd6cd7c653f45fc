"""Stopping one container as the kubelet does (K8S-SEMANTICS.md §3 "Kubelet").

1. If there is a `preStop` hook and grace > 0, run it (`exec`, `httpGet`, `sleep`; a `tcpSocket`
   hook is accepted and does nothing, as in Kubernetes). The kubelet waits at most `grace` seconds
   and abandons a hook still running then; a failing hook is reported (`FailedPreStopHook`
   "PreStopHook failed") and never blocks termination. An `httpGet` hook fails only on transport
   errors, not on the status code.
2. The *whole* seconds the hook took are subtracted from grace.
3. A native sidecar then waits for its turn (`wait_turn`: every main container and every later
   sidecar has exited; k/k `terminationOrdering.waitForTurn`) for at most what is left of grace,
   and the whole seconds it waited are subtracted too. The remainder is floored at 2 s.
4. SIGTERM to the container's main process, SIGKILL to its whole process group when the remainder
   runs out, then wait for the exit.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from nonstop.sandbox.kubelet.processes import ContainerProcess
from nonstop.sandbox.store import Obj

__all__ = ["MINIMUM_GRACE_SECONDS", "HookRunner", "StopTimeline", "TurnWaiter", "stop_container"]

MINIMUM_GRACE_SECONDS = 2

# Runs a hook handler with a timeout (seconds); returns an error text, or None on success.
HookRunner = Callable[[Obj, float], str | None]

# Waits at most the given seconds for a sidecar's turn to stop; returns the seconds it waited.
TurnWaiter = Callable[[float], float]


@dataclass
class StopTimeline:
    """Wall-clock moments (time.time()) of one container's stop, for status and measurement."""

    prestop_started_at: float | None = None
    prestop_finished_at: float | None = None
    prestop_error: str | None = None
    prestop_abandoned: bool = False
    sigterm_at: float | None = None
    sigkill_at: float | None = None
    exited_at: float | None = None


def _run_hook(hook: Obj, run_hook: HookRunner, budget: float, timeline: StopTimeline) -> None:
    """Run the hook on its own thread; give up waiting for it after `budget` seconds."""
    done = threading.Event()
    error: list[str | None] = [None]
    sleep_abort = threading.Event()

    def body() -> None:
        try:
            if "sleep" in hook:
                seconds = float((hook["sleep"] or {}).get("seconds") or 0)
                sleep_abort.wait(seconds)
            elif "exec" in hook or "httpGet" in hook:
                error[0] = run_hook(hook, budget)
        except Exception as exc:  # noqa: BLE001 — a hook's failure must never block termination
            error[0] = str(exc)
        finally:
            done.set()

    threading.Thread(target=body, name="prestop", daemon=True).start()
    if not done.wait(budget):
        timeline.prestop_abandoned = True
        sleep_abort.set()
        return
    timeline.prestop_error = error[0]


def stop_container(
    process: ContainerProcess,
    *,
    grace: int,
    t0: float,
    prestop: Obj | None,
    run_hook: HookRunner,
    on_hook_failed: Callable[[], None],
    on_sigterm: Callable[[float], None] | None = None,
    wait_turn: TurnWaiter | None = None,
) -> StopTimeline:
    """Run the stop sequence on `process`; returns once the process has exited.

    `t0` (time.monotonic()) is when the kubelet decided to stop the container (it saw the deletion):
    the grace period counts from there, so the kubelet's own latency does not stretch it.
    """
    timeline = StopTimeline()
    kill_from = t0
    if prestop and grace > 0 and not process.exited.is_set():
        timeline.prestop_started_at = time.time()
        _run_hook(prestop, run_hook, max(0.0, t0 + grace - time.monotonic()), timeline)
        timeline.prestop_finished_at = time.time()
        kill_from = time.monotonic()
        if timeline.prestop_error is not None:
            on_hook_failed()
        grace -= int(kill_from - t0)
    if wait_turn is not None and grace > 0 and not process.exited.is_set():
        grace -= int(wait_turn(max(0.0, kill_from + grace - time.monotonic())))
        kill_from = time.monotonic()
    grace = max(grace, MINIMUM_GRACE_SECONDS)
    if not process.exited.is_set():
        process.send(signal.SIGTERM)
        timeline.sigterm_at = process.sigterm_at
        if on_sigterm is not None and process.sigterm_at is not None:
            on_sigterm(process.sigterm_at)
        if not process.exited.wait(max(0.0, kill_from + grace - time.monotonic())):
            process.send(signal.SIGKILL)
            timeline.sigkill_at = process.sigkill_at
    process.exited.wait()
    timeline.exited_at = process.exited_at
    return timeline
