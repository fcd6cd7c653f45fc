"""Container logs as the kubelet keeps and serves them (k/k `kubelet_pods.go`, `kuberuntime/logs`).

Each container *instance* (each start, so each restart) has its own file, `<container>.<n>.log`
in the pod's work directory, one line per output line stamped on arrival: `<RFC 3339 nano UTC>
<line>` (the CRI log format without the stream tag). The kubelet keeps the running (or last)
instance and the one before it, as a real kubelet keeps the previous container for `--previous`.

Which instance a request reads follows the kubelet's `validateContainerLogStatus`: `previous`
reads `lastState.terminated`'s container, else the running one, else the terminated one, else
`lastState`'s; a container still waiting has no logs yet (its reason in the message). The
embedded API server (`nonstop.sandbox.podlogs`) and the kubelet API of `sandbox node`
(`kubelet/server.py`) both read through here.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

from nonstop.sandbox.store import Obj

__all__ = ["LogError", "LogInstance", "LogOptionError", "LogOptions", "copy_stamped", "pick_container_id", "stream_log"]


class LogOptionError(ValueError):
    """A query parameter that is not a number or time (`invalid` False), or out of range (`invalid` True)."""

    def __init__(self, message: str, *, invalid: bool) -> None:
        super().__init__(message)
        self.invalid = invalid


class LogError(Exception):
    """A log request the kubelet refuses (`code` 400 or 404), with the kubelet's message."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class LogInstance:
    """The log of one container instance; `copied` is set once its output reached EOF."""

    path: Path
    copied: threading.Event = field(default_factory=threading.Event)


def copy_stamped(source: IO[bytes], instance: LogInstance) -> None:
    """Append each line read from `source` to the instance's file as `<RFC 3339 nano UTC> <line>` until EOF."""
    try:
        with source, instance.path.open("ab", buffering=0) as log:
            for line in iter(source.readline, b""):
                now = datetime.now(UTC)
                stamp = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond * 1000:09d}Z"
                log.write(stamp.encode() + b" " + line)
    finally:
        instance.copied.set()


def pick_container_id(status: Obj, *, container: str, pod: str, previous: bool) -> str:
    """The containerID whose log a request reads, from the container's status (`validateContainerLogStatus`)."""
    state = status.get("state") or {}
    last = (status.get("lastState") or {}).get("terminated") or {}
    if previous:
        if not last.get("containerID"):
            raise LogError(400, f'previous terminated container "{container}" in pod "{pod}" not found')
        return str(last["containerID"])
    if "running" in state and status.get("containerID"):
        return str(status["containerID"])
    if "terminated" in state:
        cid = state["terminated"].get("containerID") or last.get("containerID")
        if not cid:
            raise LogError(400, f'container "{container}" in pod "{pod}" is terminated')
        return str(cid)
    if last:
        if not last.get("containerID"):
            raise LogError(400, f'container "{container}" in pod "{pod}" is terminated')
        return str(last["containerID"])
    reason = (state.get("waiting") or {}).get("reason")
    if reason == "ErrImagePull":
        raise LogError(400, f'container "{container}" in pod "{pod}" is waiting to start: image can\'t be pulled')
    if reason == "ImagePullBackOff":
        raise LogError(
            400, f'container "{container}" in pod "{pod}" is waiting to start: trying and failing to pull image'
        )
    if reason:
        raise LogError(400, f'container "{container}" in pod "{pod}" is waiting to start: {reason}')
    raise LogError(400, f'container "{container}" in pod "{pod}" is waiting to start - no logs yet')


@dataclass(frozen=True)
class LogOptions:
    """PodLogOptions as the kubelet reads them from the query."""

    follow: bool = False
    previous: bool = False
    timestamps: bool = False
    tail_lines: int | None = None
    limit_bytes: int | None = None
    since: datetime | None = None

    @classmethod
    def parse(cls, query: dict[str, str]) -> LogOptions:
        """From query parameters (last value of each); LogOptionError names the bad one."""

        def flag(name: str) -> bool:
            return (query.get(name) or "false").lower() in ("true", "1")

        def number(name: str, minimum: int) -> int | None:
            raw = query.get(name)
            if raw is None or raw == "":
                return None
            try:
                value = int(raw)
            except ValueError:
                raise LogOptionError(f'{name}: invalid value "{raw}": not an integer', invalid=False) from None
            if value < minimum:
                bound = "greater than or equal to 0" if minimum == 0 else "greater than 0"
                raise LogOptionError(f"{name}: Invalid value: {value}: must be {bound}", invalid=True)
            return value

        since_seconds = number("sinceSeconds", 1)
        since: datetime | None = None
        if since_seconds is not None and query.get("sinceTime"):
            raise LogOptionError("at most one of `sinceTime` or `sinceSeconds` may be specified", invalid=True)
        if since_seconds is not None:
            since = datetime.now(UTC) - timedelta(seconds=since_seconds)
        elif raw_since := query.get("sinceTime"):
            try:
                since = datetime.fromisoformat(raw_since)
            except ValueError:
                message = f'sinceTime: invalid value "{raw_since}": not an RFC 3339 time'
                raise LogOptionError(message, invalid=False) from None
        return cls(
            follow=flag("follow"),
            previous=flag("previous"),
            timestamps=flag("timestamps"),
            tail_lines=number("tailLines", 0),
            limit_bytes=number("limitBytes", 1),
            since=since,
        )


def _stamp_of(raw: bytes) -> datetime | None:
    stamp = raw.partition(b" ")[0].decode(errors="replace")
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")[:26] + "+00:00")
    except ValueError:
        return None


def stream_log(
    instance: LogInstance,
    options: LogOptions,
    write: Callable[[bytes], None],
    *,
    still_running: Callable[[], bool],
) -> None:
    """Write the instance's log (the options applied) through `write`; with `follow`, until it stops."""
    budget = options.limit_bytes
    for raw in _lines(instance, tail=options.tail_lines, follow=options.follow, still_running=still_running):
        if options.since is not None:
            stamp = _stamp_of(raw)
            if stamp is not None and stamp < options.since:
                continue
        out = raw if options.timestamps else raw.partition(b" ")[2]
        if budget is not None:
            out = out[:budget]
            budget -= len(out)
        if out:
            write(out)
        if budget is not None and budget <= 0:
            return


def _lines(
    instance: LogInstance, *, tail: int | None, follow: bool, still_running: Callable[[], bool]
) -> Iterator[bytes]:
    """Whole lines of the log (the last `tail` of them), then, with `follow`, new ones until it stops."""
    with instance.path.open("rb") as log:
        lines = log.readlines()
        partial = lines.pop() if lines and not lines[-1].endswith(b"\n") else b""
        yield from (lines[-tail:] if tail else []) if tail is not None else lines
        if not follow:
            if partial:
                yield partial
            return
        while True:
            chunk = log.readline()
            if chunk:
                partial += chunk
                if partial.endswith(b"\n"):
                    yield partial
                    partial = b""
                continue
            if instance.copied.is_set() or not still_running():
                rest = log.read()
                if partial + rest:
                    yield partial + rest
                return
            time.sleep(0.1)
