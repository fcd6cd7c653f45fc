"""Termination rules: a preStop pause so routing catches up, inside a grace period that leaves time to drain."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from typing import Any

from checks.lint.model import Finding
from checks.lint.objects import Context, Workload, as_int, as_list, as_map, is_map

__all__ = [
    "DEFAULT_GRACE_SECONDS",
    "DRAIN_SECONDS",
    "SHELLS",
    "check_lifecycle",
    "prestop_sleep_seconds",
    "shell_script",
]

DEFAULT_GRACE_SECONDS = 30
"""terminationGracePeriodSeconds when unset."""

DRAIN_SECONDS = 5
"""Time the app needs after the preStop sleep to finish in-flight requests (the seed's shutdown timeout)."""

SHELLS = frozenset({"sh", "bash", "ash", "dash", "zsh", "ksh"})
_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)([smhd]?)|(inf|infinity)", re.IGNORECASE)
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
# `sleep ARG...` as a shell command: at the start, or after ; & | ( { ! or `exec`/`then`/`do`.
_SHELL_SLEEP = re.compile(r"(?:^|[;&|({!\n]|\bexec|\bthen|\bdo)\s*(?:\S*/)?sleep((?:\s+[\w.]+)+)")


def _duration(arg: str) -> float | None:
    """One argument of GNU/busybox `sleep` in seconds (`5`, `0.5`, `2s`, `1m`, `infinity`), or None."""
    match = _DURATION.fullmatch(arg.strip())
    if match is None:
        return None
    if match.group(3):
        return math.inf
    return float(match.group(1)) * _UNITS[match.group(2).lower()]


def _sleep_args(args: list[str]) -> float:
    """`sleep` adds up its arguments; anything it cannot parse (e.g. `$DELAY`) counts as 0."""
    return sum(d for d in (_duration(a) for a in args) if d is not None)


def shell_script(command: list[str]) -> str | None:
    """The script of `sh -c SCRIPT` (also `-ec`, `-xc`, `bash -lc`), or None when it is not one."""
    for position, arg in enumerate(command[1:], start=1):
        if arg.startswith("-") and "c" in arg and position + 1 < len(command):
            return command[position + 1]
        if not arg.startswith("-"):
            return None
    return None


def _exec_sleep(command: list[str]) -> float:
    if command and command[0].rsplit("/", 1)[-1] == "busybox":
        command = command[1:]
    if not command:
        return 0.0
    program = command[0].rsplit("/", 1)[-1]
    if program == "sleep":
        return _sleep_args(command[1:])
    if program in SHELLS:
        script = shell_script(command)
        if script is not None:
            return sum(_sleep_args(m.group(1).split()) for m in _SHELL_SLEEP.finditer(script))
    return 0.0


def prestop_sleep_seconds(container: Mapping[str, Any]) -> float | None:
    """How long the container's preStop hook holds it: the `sleep` action, or `sleep N` in an exec command
    (also shell-wrapped, e.g. `sh -c "sleep 5 && nginx -s quit"`). None when there is no preStop hook; 0 when
    the hook does something whose duration cannot be read (an httpGet, another command).
    """
    prestop = as_map(container.get("lifecycle")).get("preStop")
    if not is_map(prestop):
        return None
    if "sleep" in prestop:
        seconds = as_int(as_map(prestop["sleep"]).get("seconds"))
        return float(seconds or 0)
    if "exec" in prestop:
        command = [str(arg) for arg in as_list(as_map(prestop["exec"]).get("command"))]
        return _exec_sleep(command)
    return 0.0


def _seconds(value: float) -> str:
    return "forever" if math.isinf(value) else f"{value:g} s"


def check_lifecycle(workload: Workload, ctx: Context) -> Iterator[Finding]:
    """prestop-hook-missing, prestop-exceeds-grace-period, grace-period-too-short."""
    del ctx
    grace_value = as_int(workload.pod.get("terminationGracePeriodSeconds"))
    grace = DEFAULT_GRACE_SECONDS if grace_value is None else grace_value
    grace_text = f"terminationGracePeriodSeconds {grace}" + (" (the default)" if grace_value is None else "")
    longest: tuple[float, str | None] = (0.0, None)
    serving = False
    for container, sidecar in workload.containers:
        name = str(container.get("name", "<unnamed>"))
        sleep = prestop_sleep_seconds(container)
        serving = serving or workload.is_serving(container)
        if sleep is None:
            if workload.is_serving(container) and not sidecar:
                yield workload.finding(
                    "prestop-hook-missing",
                    f"container {name} has no preStop hook: the kubelet sends SIGTERM at the moment the pod "
                    "leaves the endpoints, but kube-proxy and Ingress controllers stop routing to it only a "
                    "second or more later, so requests routed in that window reach an app that has stopped "
                    "accepting them (graceful shutdown alone does not close this gap). Fix: add "
                    "`lifecycle.preStop.sleep.seconds: 5` (Kubernetes ≥ 1.30) or an exec `sleep 5`, and a "
                    "terminationGracePeriodSeconds that covers it plus the drain.",
                    container=name,
                )
            continue
        if sleep > longest[0]:
            longest = (sleep, name)
        if sleep > 0 and sleep >= grace:  # 0: a hook whose duration cannot be read (a command, an httpGet)
            yield workload.finding(
                "prestop-exceeds-grace-period",
                f"container {name}'s preStop hook sleeps {_seconds(sleep)} but {grace_text} counts from the "
                "start of the preStop hook: the kubelet cuts the hook off when the grace period runs out, "
                "then sends SIGTERM with only a 2 s floor before SIGKILL, so the app cannot drain and its "
                "in-flight requests are cut. Fix: raise "
                f"terminationGracePeriodSeconds to at least the sleep plus {DRAIN_SECONDS} s, or shorten the sleep.",
                container=name,
            )
    sleep, sleeper = longest
    if not serving and sleeper is None:
        return
    needed = sleep + DRAIN_SECONDS
    if grace < needed:
        after = f"the {_seconds(sleep)} preStop sleep of container {sleeper} plus " if sleeper else ""
        yield workload.finding(
            "grace-period-too-short",
            f"{grace_text} is shorter than {after}{DRAIN_SECONDS} s for the app to finish in-flight requests: "
            "preStop and the app's shutdown share the grace period, and when it runs out the kubelet sends "
            "SIGKILL and the open requests fail. Fix: set terminationGracePeriodSeconds to at least "
            f"{math.ceil(needed) if not math.isinf(needed) else 'the sleep plus the drain'}.",
            container=sleeper,
        )
