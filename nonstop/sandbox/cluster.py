"""`Cluster`: the embedded sandbox composed — store, API server, controllers, kubelet, data plane.

    with Cluster() as cluster:
        cluster.url, cluster.kubeconfig_path      # talk to it like any cluster

The API server, controllers and kubelet share one process and one store; the data plane is a
separate process (`python -m nonstop.sandbox.dataplane`) started once the API serves, and
stopped with SIGTERM. A component whose module is not installed is logged as unavailable and
left out (never faked). Stopping the cluster stops every component.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Protocol, Self

import structlog
import yaml

from nonstop.errors import InputError
from nonstop.sandbox.apierrors import ApiError
from nonstop.sandbox.apiserver import ApiServer
from nonstop.sandbox.auth import Auth
from nonstop.sandbox.builtin_objects import SERVICES, publish_kubernetes_service
from nonstop.sandbox.events import EventRecorder
from nonstop.sandbox.kinds import Kind, by_kind
from nonstop.sandbox.real.manifests import read_manifests
from nonstop.sandbox.registry import Registry
from nonstop.sandbox.store import Obj, Store

__all__ = ["Cluster", "DataPlaneMode", "kubeconfig_text", "load_manifests", "write_kubeconfig"]

DataPlaneMode = Literal["kube-proxy", "ingress", "ipvs"]


class _Component(Protocol):
    def start(self) -> None: ...
    def stop(self) -> None: ...


def kubeconfig_text(url: str, *, token: str | None = None, namespace: str = "default") -> str:
    """A kubeconfig with one context, `sandbox`, pointing at `url`."""
    user: dict[str, Any] = {"token": token} if token else {}
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "sandbox", "cluster": {"server": url}}],
        "users": [{"name": "sandbox", "user": user}],
        "contexts": [{"name": "sandbox", "context": {"cluster": "sandbox", "user": "sandbox", "namespace": namespace}}],
        "current-context": "sandbox",
        "preferences": {},
    }
    return yaml.safe_dump(config, sort_keys=False)


def write_kubeconfig(path: Path, url: str, *, token: str | None = None) -> None:
    """Write atomically (temp file + rename): the file's existence means "ready"."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(kubeconfig_text(url, token=token))
    tmp.chmod(0o600)
    tmp.replace(path)


def load_manifests(paths: list[Path]) -> list[tuple[Path, Kind, Obj]]:
    """Read multi-document YAML files (`read_manifests`), Namespaces first; InputError naming the file if unusable."""

    def refuse(obj: Obj) -> str | None:
        served = by_kind(str(obj["apiVersion"]), str(obj["kind"])) is not None
        return None if served else f"the sandbox does not serve {obj['apiVersion']} {obj['kind']}"

    out: list[tuple[Path, Kind, Obj]] = []
    for path, obj in read_manifests(paths, refuse=refuse):
        kind = by_kind(str(obj["apiVersion"]), str(obj["kind"]))
        assert kind is not None  # refused above otherwise
        out.append((path, kind, obj))
    out.sort(key=lambda item: 0 if item[1].resource == "namespaces" else 1)
    return out


class Cluster:
    """The whole sandbox in this process (plus the data-plane subprocess)."""

    def __init__(
        self,
        *,
        port: int = 0,
        kubeconfig_path: Path | None = None,
        proxy_lag: float = 1.0,
        data_plane: DataPlaneMode = "kube-proxy",
        add_lag: float | None = None,
        remove_lag: float | None = None,
        retry_stale_connections: bool = True,
        network_delay_ms: float = 0.0,
        nodes: int = 1,
        components: tuple[str, ...] = ("controllers", "kubelet", "dataplane"),
        bookmark_interval: float = 5.0,
        tokens: dict[str, int] | None = None,
        log: structlog.typing.FilteringBoundLogger | None = None,
    ) -> None:
        self.log = log or structlog.get_logger(component="sandbox")
        self.store = Store()
        self.recorder = EventRecorder(self.store)
        self.registry = Registry(self.store, self.recorder, log=self.log)
        self.auth = Auth(tokens)
        self.api = ApiServer(
            self.registry, port=port, auth=self.auth, bookmark_interval=bookmark_interval, log=self.log
        )
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if kubeconfig_path is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="nonstop-sandbox-")
            kubeconfig_path = Path(self._tmp.name) / "kubeconfig"
        self.kubeconfig_path = kubeconfig_path
        self.proxy_lag = proxy_lag
        self.add_lag = add_lag
        """Seconds until a new endpoint receives traffic, and a readiness gate is set (None: `proxy_lag`)."""
        self.remove_lag = remove_lag
        """Seconds until a removed or unready endpoint stops receiving traffic (None: `proxy_lag`)."""
        self.retry_stale_connections = retry_stale_connections
        self.network_delay_ms = network_delay_ms
        """kube-proxy and ipvs: one-way latency the data plane adds to every connection, in milliseconds."""
        if nodes < 1:
            raise InputError(f"a sandbox needs at least one node, not {nodes}")
        self.nodes = nodes
        """How many Nodes the in-process kubelet registers and serves (`sandbox`, or `sandbox-1` … `sandbox-N`)."""
        self.data_plane: DataPlaneMode = data_plane
        self.components = components
        self._running: list[tuple[str, _Component]] = []
        self._dataplane: subprocess.Popen[bytes] | None = None
        self._started = False

    @property
    def url(self) -> str:
        return self.api.url

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> Self:
        """Serve the API, write the kubeconfig, then start the components."""
        started = time.monotonic()
        self.api.start()
        self.registry.start()
        self._started = True
        publish_kubernetes_service(
            self.store,
            lambda service: self.registry.create(SERVICES, "default", service),
            host="127.0.0.1",
            port=self.api.port,
        )
        write_kubeconfig(self.kubeconfig_path, self.url)
        self.log.info("sandbox api serving", url=self.url, seconds=round(time.monotonic() - started, 3))
        if "controllers" in self.components:
            gate_delay = self.proxy_lag if self.add_lag is None else self.add_lag
            self._start_in_process(
                "controllers", "nonstop.sandbox.controllers", "ControllerManager", readiness_gate_delay=gate_delay
            )
        if "kubelet" in self.components:
            self._start_in_process("kubelet", "nonstop.sandbox.kubelet", "Kubelet", nodes=self.nodes)
        if "dataplane" in self.components:
            self._start_dataplane()
        return self

    def _start_in_process(self, name: str, module: str, cls_name: str, **options: Any) -> None:
        try:
            loaded = importlib.import_module(module)
            factory = getattr(loaded, cls_name)
        except (ImportError, AttributeError) as exc:
            self.log.warning("sandbox component not available", component=name, error=str(exc))
            return
        component: _Component = factory(self.store, self.recorder, log=self.log.bind(sandbox_component=name), **options)
        component.start()
        self._running.append((name, component))
        if name == "kubelet":
            self.api.faults.on_oom_kill = getattr(component, "oom_kill", None)
            self.api.pod_logs = getattr(component, "container_log", None)
        self.log.info("sandbox component started", component=name)

    def _start_dataplane(self) -> None:
        if importlib.util.find_spec("nonstop.sandbox.dataplane") is None:
            self.log.warning("sandbox component not available", component="dataplane")
            return
        from nonstop.sandbox.dataplane import dataplane_command

        argv = dataplane_command(
            kubeconfig=str(self.kubeconfig_path),
            mode=self.data_plane,
            proxy_lag=self.proxy_lag,
            add_lag=self.add_lag,
            remove_lag=self.remove_lag,
            retry_stale_connections=self.retry_stale_connections,
            network_delay_ms=self.network_delay_ms,
        )
        self._dataplane = subprocess.Popen(argv)
        self.log.info("sandbox component started", component="dataplane", pid=self._dataplane.pid)

    def stop(self) -> None:
        """Stop the data plane, the in-process components, then the API server."""
        if self._dataplane is not None:
            if self._dataplane.poll() is None:
                self._dataplane.send_signal(signal.SIGTERM)
                try:
                    self._dataplane.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self._dataplane.kill()
                    self._dataplane.wait(timeout=5)
            self._dataplane = None
        while self._running:
            name, component = self._running.pop()
            try:
                component.stop()
            except Exception:
                self.log.exception("sandbox component failed to stop", component=name)
        if self._started:
            self.registry.stop()
            self.api.stop()
            self._started = False
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- applying manifests ----------------------------------------------------------------------

    def apply(self, objects: list[tuple[Path, Kind, Obj]]) -> None:
        """Create each object (update it if it exists), as `kubectl apply` would; errors name the file."""
        for path, kind, obj in objects:
            namespace = (obj.get("metadata") or {}).get("namespace") or ("default" if kind.namespaced else None)
            name = obj["metadata"]["name"]
            try:
                try:
                    self.registry.create(kind, namespace, obj)
                except ApiError as exc:
                    if exc.reason != "AlreadyExists":
                        raise
                    current = self.store.get(kind, namespace, name)
                    body = dict(obj)
                    body["metadata"] = {**obj["metadata"], "resourceVersion": current["metadata"]["resourceVersion"]}
                    self.registry.update(kind, namespace, name, body)
            except ApiError as exc:
                raise InputError(f"manifest {path}: {kind.kind} {name!r} was refused: {exc.message}") from exc
