"""The container's PID 1: a shell script that does not `exec` the server may never pass SIGTERM on."""

from __future__ import annotations

import re
from collections.abc import Iterator

from checks.lint.lifecycle import SHELLS, shell_script
from checks.lint.model import Finding
from checks.lint.objects import Context, Workload, as_list

__all__ = ["check_entrypoint", "forwards_sigterm"]

_QUOTED = re.compile(r"'[^']*'|\"(?:\\.|[^\"\\])*\"")
_SEPARATORS = re.compile(r"&&|\|\||[;&|\n]")
_EXEC_OR_TRAP = re.compile(r"(?:^|[\s;&|({])(?:exec|trap)\s")


def forwards_sigterm(script: str) -> bool:
    """Whether a `sh -c` script surely gets SIGTERM to its server: it `exec`s it, traps the signal, or is a
    single command (every common shell then replaces itself with it).
    """
    bare = _QUOTED.sub("''", script)
    if _EXEC_OR_TRAP.search(bare):
        return True
    commands = [part for part in _SEPARATORS.split(bare) if part.strip()]
    return len(commands) <= 1


def check_entrypoint(workload: Workload, ctx: Context) -> Iterator[Finding]:
    """shell-pid1-no-exec: a serving container whose command is `sh -c SCRIPT` with several commands and no
    `exec` or `trap`.

    Only the container's own `command` is read (with `args` after it, the `command: [sh, -c]` plus
    `args: [script]` idiom): without it the image's ENTRYPOINT runs, which the manifest does not show.
    A warning: dash ≥ 0.5.11 and busybox ash replace themselves with the last command of a `-c`
    string, so `cd /app && server` can work there; bash before 5.1 does not, and no shell does when
    the server is not the last command, runs in the background or in a pipeline.
    """
    del ctx
    for container, _sidecar in workload.containers:
        if not workload.is_serving(container):
            continue
        argv = [str(a) for a in as_list(container.get("command"))]
        if not argv:
            continue
        argv += [str(a) for a in as_list(container.get("args"))]
        if argv[0].rsplit("/", 1)[-1] in ("busybox", "env", "tini", "dumb-init") and len(argv) > 1:
            if argv[0].rsplit("/", 1)[-1] in ("tini", "dumb-init"):
                continue  # an init that forwards signals is PID 1
            argv = argv[1:]
        if argv[0].rsplit("/", 1)[-1] not in SHELLS:
            continue
        script = shell_script(argv)
        if script is None or forwards_sigterm(script):
            continue
        name = str(container.get("name", "<unnamed>"))
        shell = argv[0].rsplit("/", 1)[-1]
        yield workload.finding(
            "shell-pid1-no-exec",
            f"container {name} runs `{shell} -c` with a script of several commands and no `exec` or `trap`: the "
            f"shell is PID 1, and PID 1 ignores a signal it has no handler for, so SIGTERM may never reach the "
            "server (bash before 5.1 forks it; no shell execs a server that runs in the background, in a pipeline "
            "or before another command). The server then keeps accepting after the pod left the endpoints and is "
            "SIGKILLed at the end of the grace period, cutting its in-flight requests, and every rollout waits the "
            "whole grace period per pod. Fix: `exec` the server as the script's last command (`... && exec "
            "server`), or run it directly as the command.",
            container=name,
        )
