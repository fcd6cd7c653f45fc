"""`GET /api/v1/namespaces/{ns}/pods/{name}/log`: what the API server checks, then the kubelet's log.

The API server's half is k/k `pkg/registry/core/pod/strategy.go` `LogLocation`: the pod must
exist; without `container` a pod of one container means that one, otherwise 400 "a container name
must be specified for pod P, choose one of: [a b]" (plus "or one of the init containers: [...]");
a `container` not in the pod is 400 "container C is not valid for pod P"; a pod not bound to a node
answers an empty body. Bad option values are 400 (not a number) or 422 `PodLogOptions` Invalid.

The kubelet's half (which instance, `previous`, "is waiting to start: …") is `kubelet/logs.py`;
its refusals reach the client as the real API server passes them on (400 → BadRequest with the
kubelet's text; 404 → NotFound "( pods/log P)"). The embedded sandbox reads the in-process
kubelet's files directly (`LogSource`); pods of a `sandbox node` attached to it are not reachable
(the embedded API server has no kubelet client certificate): 500, said so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from nonstop.sandbox.apierrors import ApiError, bad_request, invalid
from nonstop.sandbox.kubelet.logs import LogError, LogInstance, LogOptionError, LogOptions, stream_log
from nonstop.sandbox.store import Obj

__all__ = ["LogSource", "LogStream", "open_pod_log"]


class LogSource(Protocol):
    """`Kubelet.container_log`."""

    def __call__(
        self, namespace: str, name: str, container: str, *, previous: bool = False
    ) -> tuple[LogInstance, Callable[[], bool]] | None: ...


def _names(containers: list[Obj]) -> str:
    return " ".join(str(c.get("name")) for c in containers)


def _container(pod: Obj, wanted: str) -> str:
    """The container a request reads (LogLocation's defaulting and check)."""
    name = pod["metadata"]["name"]
    spec = pod.get("spec") or {}
    containers, inits = spec.get("containers") or [], spec.get("initContainers") or []
    if not wanted:
        if len(containers) == 1:
            return str(containers[0]["name"])
        if not containers:
            raise bad_request(f"a container name must be specified for pod {name}")
        message = f"a container name must be specified for pod {name}, choose one of: [{_names(containers)}]"
        if inits:
            message += f" or one of the init containers: [{_names(inits)}]"
        raise bad_request(message)
    if not any(c.get("name") == wanted for c in [*containers, *inits, *(spec.get("ephemeralContainers") or [])]):
        raise bad_request(f"container {wanted} is not valid for pod {name}")
    return wanted


class LogStream:
    """What to stream once the request passed every check (`instance` None: an empty body)."""

    def __init__(
        self, options: LogOptions, instance: LogInstance | None, running: Callable[[], bool] = lambda: False
    ) -> None:
        self.options, self.instance, self.running = options, instance, running

    def write_to(self, write: Callable[[bytes], None], *, client_gone: Callable[[], bool]) -> None:
        if self.instance is not None:
            running = self.running
            stream_log(self.instance, self.options, write, still_running=lambda: running() and not client_gone())


def open_pod_log(pod: Obj, query: dict[str, str], source: LogSource | None) -> LogStream:
    """Check the request against `pod` and find its log; ApiError as the real API server answers."""
    name = pod["metadata"]["name"]
    try:
        options = LogOptions.parse(query)
    except LogOptionError as exc:
        if exc.invalid:
            field, _, detail = str(exc).partition(": ")
            raise invalid("PodLogOptions", "", name, [(field, detail)]) from exc
        raise bad_request(str(exc)) from exc
    container = _container(pod, query.get("container") or "")
    node = (pod.get("spec") or {}).get("nodeName")
    if not node:
        return LogStream(options, None)
    if source is None:
        raise ApiError(
            500,
            "InternalError",
            f"the sandbox's API server reads logs only from its own kubelet; node {node} is not it",
        )
    try:
        found = source(pod["metadata"]["namespace"], name, container, previous=options.previous)
    except LogError as exc:
        if exc.code == 400:
            raise bad_request(exc.message) from exc
        raise ApiError(
            404,
            "NotFound",
            f"the server could not find the requested resource ( pods/log {name})",
            details={
                "name": name,
                "kind": "pods/log",
                "causes": [{"reason": "UnexpectedServerResponse", "message": exc.message}],
            },
        ) from exc
    if found is None:
        return LogStream(options, None)
    return LogStream(options, *found)
