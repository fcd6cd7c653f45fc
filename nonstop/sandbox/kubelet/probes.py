"""Probes as the kubelet's prober runs them (K8S-SEMANTICS.md §5).

Handlers: `httpGet` (200–399 succeed; 3xx is a success with a warning), `tcpSocket`, `exec` (exit 0).
Failure texts follow Kubernetes' (Go's error strings for transport errors), because they end up in
`Unhealthy` events that users read.

`ProbeWorker` is Kubernetes' per-container, per-probe worker: a tick every `periodSeconds`; nothing
before `initialDelaySeconds` (whole seconds since the container started); readiness and liveness
wait for startup to succeed; the stored result flips only after threshold-many identical results in
a row; probe errors are ignored; a liveness or startup failure puts the worker on hold until a new
container ID appears; once the pod is terminating, liveness and startup record Success and stop while
readiness keeps probing until the container exits.
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
from dataclasses import dataclass
from typing import Literal, Protocol

from nonstop.sandbox.kubelet.processes import Spawner
from nonstop.sandbox.store import Obj

__all__ = ["ContainerView", "ProbeResult", "ProbeSpec", "ProbeTarget", "ProbeWorker", "run_handler"]

ProbeType = Literal["Readiness", "Liveness", "Startup"]
Outcome = Literal["success", "warning", "failure", "error"]
USER_AGENT = "kube-probe/1.32"
MAX_BODY = 10 * 1024


@dataclass(frozen=True)
class ProbeSpec:
    """A probe with Kubernetes' defaults filled in."""

    handler: Obj
    initial_delay: int = 0
    period: int = 10
    timeout: int = 1
    success_threshold: int = 1
    failure_threshold: int = 3
    termination_grace: int | None = None

    @classmethod
    def from_obj(cls, probe: Obj) -> ProbeSpec:
        def num(key: str, default: int) -> int:
            value = probe.get(key)
            return default if value is None else int(value)

        tgps = probe.get("terminationGracePeriodSeconds")
        return cls(
            handler=probe,
            initial_delay=num("initialDelaySeconds", 0),
            period=max(1, num("periodSeconds", 10)),
            timeout=max(1, num("timeoutSeconds", 1)),
            success_threshold=max(1, num("successThreshold", 1)),
            failure_threshold=max(1, num("failureThreshold", 3)),
            termination_grace=None if tgps is None else int(tgps),
        )


@dataclass(frozen=True)
class ProbeResult:
    outcome: Outcome
    output: str


def resolve_port(port: object, ports: dict[str, int]) -> int | None:
    """An int port, or a containerPort name; None when the name is unknown."""
    if isinstance(port, int):
        return port
    text = str(port)
    if text.isdigit():
        return int(text)
    return ports.get(text)


def _go_dial_error(host: str, port: int, exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return f"dial tcp {host}:{port}: connect: connection refused"
    if isinstance(exc, TimeoutError | socket.timeout):
        return f"dial tcp {host}:{port}: i/o timeout"
    return f"dial tcp {host}:{port}: {exc}"


def _http_probe(handler: Obj, *, pod_ip: str, ports: dict[str, int], timeout: float) -> ProbeResult:
    host = str(handler.get("host") or pod_ip)
    port = resolve_port(handler.get("port"), ports)
    if port is None:
        return ProbeResult("error", f"unable to find port {handler.get('port')!r}")
    path = str(handler.get("path") or "/")
    if not path.startswith("/"):
        path = "/" + path
    scheme = str(handler.get("scheme") or "HTTP").lower()
    url = f"{scheme}://{host}:{port}{path}"
    headers = {"Host": f"{host}:{port}", "User-Agent": USER_AGENT, "Accept": "*/*", "Connection": "close"}
    for header in handler.get("httpHeaders") or []:
        headers[str(header.get("name"))] = str(header.get("value", ""))
    conn: http.client.HTTPConnection
    if scheme == "https":
        import ssl

        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # the kubelet does not verify probe certificates
        conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=context)
    else:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        try:
            conn.connect()
        except OSError as exc:
            return ProbeResult("failure", f'Get "{url}": {_go_dial_error(host, port, exc)}')
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        body = response.read(MAX_BODY).decode(errors="replace")
        status = response.status
    except TimeoutError:
        return ProbeResult(
            "failure", f'Get "{url}": context deadline exceeded (Client.Timeout exceeded while awaiting headers)'
        )
    except (OSError, http.client.HTTPException) as exc:
        return ProbeResult("failure", f'Get "{url}": {exc}')
    finally:
        conn.close()
    if 200 <= status < 300:
        return ProbeResult("success", body)
    if 300 <= status < 400:
        return ProbeResult("warning", f"Probe terminated redirects, Response body: {body}")
    return ProbeResult("failure", f"HTTP probe failed with statuscode: {status}")


def _tcp_probe(handler: Obj, *, pod_ip: str, ports: dict[str, int], timeout: float) -> ProbeResult:
    host = str(handler.get("host") or pod_ip)
    port = resolve_port(handler.get("port"), ports)
    if port is None:
        return ProbeResult("error", f"unable to find port {handler.get('port')!r}")
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return ProbeResult("success", "")
    except OSError as exc:
        return ProbeResult("failure", _go_dial_error(host, port, exc))


def run_handler(
    handler: Obj, *, pod_ip: str, ports: dict[str, int], env: dict[str, str], spawner: Spawner, timeout: float
) -> ProbeResult:
    """Run one probe (or httpGet/exec hook) handler once."""
    if "httpGet" in handler:
        return _http_probe(handler["httpGet"] or {}, pod_ip=pod_ip, ports=ports, timeout=timeout)
    if "tcpSocket" in handler:
        return _tcp_probe(handler["tcpSocket"] or {}, pod_ip=pod_ip, ports=ports, timeout=timeout)
    if "exec" in handler:
        command = [str(x) for x in (handler["exec"] or {}).get("command") or []]
        if not command:
            return ProbeResult("error", "exec probe has no command")
        result = spawner.run(command, env=env, timeout=timeout)
        if result.timed_out:
            joined = " ".join(command)
            return ProbeResult("failure", f'command "{joined}" timed out')
        if result.exit_code == 0:
            return ProbeResult("success", result.output)
        return ProbeResult("failure", result.output)
    if "grpc" in handler:
        return ProbeResult("error", "grpc probes are not supported by the sandbox")
    return ProbeResult("error", "probe has no handler")


@dataclass(frozen=True)
class ContainerView:
    """What a probe worker needs to know about its container right now."""

    container_id: str | None
    running: bool
    running_since: float  # time.monotonic() of the container's start
    started: bool
    pod_terminating: bool
    pod_done: bool


class ProbeTarget(Protocol):
    """The container a probe worker reports to (implemented by the pod worker)."""

    def view(self) -> ContainerView: ...

    def set_probe_result(self, probe_type: ProbeType, container_id: str, success: bool) -> None: ...

    def probe_event(self, probe_type: ProbeType, outcome: Outcome, output: str) -> None: ...

    def run_probe(self, spec: ProbeSpec) -> ProbeResult: ...


class ProbeWorker:
    """One probe of one container, run on its own thread until the pod is done."""

    def __init__(self, probe_type: ProbeType, spec: ProbeSpec, target: ProbeTarget) -> None:
        self.probe_type = probe_type
        self.spec = spec
        self._target = target
        self._trigger = threading.Event()
        self._stop = threading.Event()
        self._container_id: str | None = None
        self._on_hold = False
        self._last: bool | None = None
        self._run_length = 0
        self._thread = threading.Thread(target=self._run, name=f"probe-{probe_type.lower()}", daemon=True)

    @property
    def initial_success(self) -> bool | None:
        """Kubernetes' starting result: readiness Failure, liveness Success, startup Unknown (None)."""
        return {"Readiness": False, "Liveness": True, "Startup": None}[self.probe_type]

    def start(self) -> None:
        self._thread.start()

    def trigger(self) -> None:
        """Probe now instead of at the next tick (the kubelet does this for unready started containers)."""
        self._trigger.set()

    def stop(self) -> None:
        self._stop.set()
        self._trigger.set()

    def _run(self) -> None:
        next_tick = time.monotonic()
        while not self._stop.is_set():
            if not self._probe_once():
                return
            next_tick += self.spec.period
            now = time.monotonic()
            next_tick = max(next_tick, now)
            self._trigger.wait(next_tick - now)
            self._trigger.clear()

    def _probe_once(self) -> bool:  # noqa: C901, PLR0912 — one tick of Kubernetes' doProbe, case by case
        """One tick of Kubernetes' `doProbe`; False ends the worker."""
        view = self._target.view()
        if view.pod_done:
            return False
        if view.container_id is None:
            return True
        if view.container_id != self._container_id:
            self._container_id = view.container_id
            self._on_hold = False
            self._last = None
            self._run_length = 0
        if self._on_hold:
            return True
        if not view.running:
            if self.probe_type == "Readiness":
                self._target.set_probe_result(self.probe_type, view.container_id, False)
            return True
        if view.pod_terminating and self.probe_type in ("Liveness", "Startup"):
            self._target.set_probe_result(self.probe_type, view.container_id, True)
            return False
        if int(time.monotonic() - view.running_since) < self.spec.initial_delay:
            return True
        if view.started and self.probe_type == "Startup":
            return True
        if not view.started and self.probe_type != "Startup":
            return True
        result = self._target.run_probe(self.spec)
        if self._stop.is_set():
            return False
        if result.outcome == "error":
            return True
        success = result.outcome in ("success", "warning")
        if result.outcome != "success":
            self._target.probe_event(self.probe_type, result.outcome, result.output)
        if self._last == success:
            self._run_length += 1
        else:
            self._last = success
            self._run_length = 1
        threshold = self.spec.success_threshold if success else self.spec.failure_threshold
        if self._run_length < threshold:
            return True
        self._target.set_probe_result(self.probe_type, view.container_id, success)
        if not success and self.probe_type in ("Liveness", "Startup"):
            self._on_hold = True
            self._run_length = 0
        return True
