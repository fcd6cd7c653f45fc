"""`RealControlPlane`: start etcd, kube-apiserver, kube-controller-manager and kube-scheduler on loopback, stop them.

    with RealControlPlane(binary=ensure_built()) as cp:
        cp.admin_kubeconfig           # written last (atomically): its existence means ready
        cp.ca_cert                    # the cluster CA (PEM) every component trusts
        cp.node_credentials("node-1") # kubeconfig + client cert for system:node:node-1
        cp.kube_proxy_kubeconfig()    # kubeconfig for system:kube-proxy (the node's data plane)

Start order and readiness (deadline polls, no fixed sleeps): PKI → etcd (`/health`) →
kube-apiserver (`/readyz` with the admin cert) → kube-controller-manager and kube-scheduler
(`/healthz` on their own secure ports) → the `default` ServiceAccount exists (pods can be
created) → admin kubeconfig. Each component logs to `<workdir>/logs/<name>.log`; when one exits
early or a deadline passes, ControlPlaneStartError carries the tail of its log.

The children die with their parent: each gets `PR_SET_PDEATHSIG` SIGTERM (so the thread that
starts the control plane must outlive it: start it from the main thread or a long-lived one) and
leads its own process group. `stop()` sends SIGTERM in reverse start order, SIGKILLs what is left
after a deadline, and removes the work directory when it was a temporary one (a failed start
keeps it for its logs).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

from nonstop.errors import ControlPlaneStartError
from nonstop.sandbox.real.components import (
    DEFAULT_SERVICE_CIDR,
    Layout,
    apiserver_args,
    controller_manager_args,
    etcd_args,
    first_cluster_ip,
    scheduler_args,
)
from nonstop.sandbox.real.kubeconfigs import write_kubeconfig
from nonstop.sandbox.real.pki import CertPair, Pki, create_pki, issue_client_cert
from nonstop.toolkit.children import die_with_parent

__all__ = ["NodeCredentials", "RealControlPlane", "free_port"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class NodeCredentials:
    """What a node needs to join: a kubeconfig as `system:node:<name>` (group `system:nodes`) and its cert."""

    node_name: str
    kubeconfig: Path
    client: CertPair
    ca_cert: Path


@dataclass
class _Component:
    name: str
    process: subprocess.Popen[bytes]
    log: Path


class RealControlPlane:
    """One real control plane on loopback (see the module docstring)."""

    def __init__(
        self,
        *,
        binary: Path,
        workdir: Path | None = None,
        service_cidr: str = DEFAULT_SERVICE_CIDR,
        apiserver_port: int = 0,
        startup_timeout: float = 120.0,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.binary = binary
        self._owns_workdir = workdir is None
        self.workdir = workdir if workdir is not None else Path(tempfile.mkdtemp(prefix="nonstop-controlplane-"))
        self.service_cidr = service_cidr
        self.apiserver_port = apiserver_port
        self.startup_timeout = startup_timeout
        self._say = progress or (lambda _line: None)
        self.admin_kubeconfig = self.workdir / "admin.kubeconfig"
        self._components: list[_Component] = []
        self._layout: Layout | None = None

    # --- what other parts of the sandbox use -------------------------------------------------

    @property
    def url(self) -> str:
        """The apiserver's URL, https://127.0.0.1:<port>."""
        return self._started().apiserver_url

    @property
    def pki(self) -> Pki:
        return self._started().pki

    @property
    def ca_cert(self) -> Path:
        """The cluster CA certificate (PEM): trust it to talk to the apiserver."""
        return self._started().pki.ca.cert

    def node_credentials(self, node_name: str) -> NodeCredentials:
        """Mint a client cert for `system:node:<node_name>` (group system:nodes) and a kubeconfig using it."""
        pki = self.pki
        stem = f"node-{node_name}"
        client = issue_client_cert(
            pki.ca,
            CertPair(pki.directory / f"{stem}.crt", pki.directory / f"{stem}.key"),
            user=f"system:node:{node_name}",
            groups=("system:nodes",),
        )
        kubeconfig = write_kubeconfig(
            self.workdir / f"{stem}.kubeconfig",
            server=self.url,
            ca_cert=pki.ca.cert,
            client=client,
            user=f"system:node:{node_name}",
        )
        return NodeCredentials(node_name=node_name, kubeconfig=kubeconfig, client=client, ca_cert=pki.ca.cert)

    def kube_proxy_kubeconfig(self) -> Path:
        """Mint a client cert for `system:kube-proxy` and a kubeconfig using it (for the node's data plane).

        The bootstrap ClusterRoleBinding `system:node-proxier` gives that user what kube-proxy needs:
        list and watch Services, Endpoints, EndpointSlices and Nodes (a node's own identity may not
        list EndpointSlices).
        """
        pki = self.pki
        client = issue_client_cert(
            pki.ca,
            CertPair(pki.directory / "kube-proxy.crt", pki.directory / "kube-proxy.key"),
            user="system:kube-proxy",
        )
        return write_kubeconfig(
            self.workdir / "kube-proxy.kubeconfig",
            server=self.url,
            ca_cert=pki.ca.cert,
            client=client,
            user="system:kube-proxy",
        )

    def _started(self) -> Layout:
        if self._layout is None:
            raise RuntimeError("the control plane is not started")
        return self._layout

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Self:
        """Start every component and return once all are ready and the admin kubeconfig is written."""
        started = time.monotonic()
        deadline = started + self.startup_timeout
        self.admin_kubeconfig.unlink(missing_ok=True)
        (self.workdir / "logs").mkdir(parents=True, exist_ok=True)
        pki = create_pki(self.workdir / "pki", first_cluster_ip=first_cluster_ip(self.service_cidr))
        layout = Layout(
            workdir=self.workdir,
            pki=pki,
            service_cidr=self.service_cidr,
            etcd_client_port=free_port(),
            etcd_peer_port=free_port(),
            apiserver_port=self.apiserver_port or free_port(),
            controller_manager_port=free_port(),
            scheduler_port=free_port(),
            controller_manager_kubeconfig=self.workdir / "controller-manager.kubeconfig",
            scheduler_kubeconfig=self.workdir / "scheduler.kubeconfig",
        )
        self._layout = layout
        server = layout.apiserver_url
        write_kubeconfig(
            layout.controller_manager_kubeconfig,
            server=server,
            ca_cert=pki.ca.cert,
            client=pki.controller_manager,
            user="system:kube-controller-manager",
        )
        write_kubeconfig(
            layout.scheduler_kubeconfig,
            server=server,
            ca_cert=pki.ca.cert,
            client=pki.scheduler,
            user="system:kube-scheduler",
        )
        try:
            etcd = self._spawn("etcd", etcd_args(layout))
            self._wait(etcd, deadline, lambda: _etcd_healthy(layout.etcd_url))
            self._say(f"etcd ready on {layout.etcd_url} ({time.monotonic() - started:.1f} s)")
            apiserver = self._spawn("kube-apiserver", apiserver_args(layout))
            admin_tls = _client_tls(pki.ca.cert, pki.admin)
            self._wait(apiserver, deadline, lambda: _https_ok(f"{server}/readyz", admin_tls))
            self._say(f"kube-apiserver ready on {server} ({time.monotonic() - started:.1f} s)")
            kcm = self._spawn("kube-controller-manager", controller_manager_args(layout))
            scheduler = self._spawn("kube-scheduler", scheduler_args(layout))
            self._wait(kcm, deadline, lambda: _https_ok(f"https://127.0.0.1:{layout.controller_manager_port}/healthz"))
            self._wait(scheduler, deadline, lambda: _https_ok(f"https://127.0.0.1:{layout.scheduler_port}/healthz"))
            # The ServiceAccount controller's first act; without it no pod can be created in `default`.
            self._wait(
                kcm,
                deadline,
                lambda: _https_ok(f"{server}/api/v1/namespaces/default/serviceaccounts/default", admin_tls),
            )
            self._say(f"kube-controller-manager and kube-scheduler ready ({time.monotonic() - started:.1f} s)")
        except BaseException:
            self.stop(keep_workdir=True)
            self._owns_workdir = False  # left for the user: the error names a log in it
            raise
        write_kubeconfig(
            self.admin_kubeconfig, server=server, ca_cert=pki.ca.cert, client=pki.admin, user="nonstop-admin"
        )
        return self

    def _spawn(self, name: str, args: list[str]) -> _Component:
        log = self.workdir / "logs" / f"{name}.log"
        with log.open("ab") as out:
            process = subprocess.Popen(
                [str(self.binary), *args],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                start_new_session=True,
                preexec_fn=functools.partial(die_with_parent, os.getpid(), signal.SIGTERM),  # noqa: PLW1509 - only prctl + getppid; see the module docstring
            )
        component = _Component(name, process, log)
        self._components.append(component)
        return component

    def _wait(self, component: _Component, deadline: float, ready: Callable[[], bool]) -> None:
        while not ready():
            code = component.process.poll()
            if code is not None:
                raise ControlPlaneStartError(
                    f"{component.name} exited with code {code} before it was ready "
                    f"(log: {component.log}): {_tail(component.log)}"
                )
            if time.monotonic() > deadline:
                raise ControlPlaneStartError(
                    f"{component.name} was not ready after {self.startup_timeout:.0f} s "
                    f"(log: {component.log}): {_tail(component.log)}"
                )
            time.sleep(0.1)

    def stop(self, timeout: float = 15.0, *, keep_workdir: bool = False) -> None:
        """SIGTERM each component, last started first, each given until `timeout` before SIGKILL; clean up.

        One at a time, so the scheduler and controller-manager leave while the apiserver still
        answers, and the apiserver while etcd still does. A temporary workdir is removed, unless
        `keep_workdir` (a failed start keeps it: its error names a log there).
        """
        self.admin_kubeconfig.unlink(missing_ok=True)
        deadline = time.monotonic() + timeout
        for component in reversed(self._components):
            process = component.process
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=max(0.5, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)
        self._components.clear()
        if self._owns_workdir and not keep_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def check_running(self) -> None:
        """Raise ControlPlaneStartError naming the first component that has exited, with its log's tail."""
        for component in self._components:
            code = component.process.poll()
            if code is not None:
                raise ControlPlaneStartError(
                    f"{component.name} exited with code {code} (log: {component.log}): {_tail(component.log)}"
                )

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _tail(path: Path, lines: int = 10) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").splitlines()[-lines:]) or "(empty log)"
    except OSError:
        return "(no log)"


def _client_tls(ca: Path, client: CertPair) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca))
    context.load_cert_chain(str(client.cert), str(client.key))
    return context


def _insecure_tls() -> ssl.SSLContext:
    # kube-controller-manager and kube-scheduler serve /healthz with a self-signed cert on 127.0.0.1.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _https_ok(url: str, context: ssl.SSLContext | None = None) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2, context=context or _insecure_tls()) as response:  # noqa: S310 - https to 127.0.0.1 only
            return int(response.status) == 200
    except (OSError, urllib.error.URLError):
        return False


def _etcd_healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:  # noqa: S310 - http to 127.0.0.1 only
            return bool(json.loads(response.read()).get("health") == "true")
    except (OSError, ValueError, urllib.error.URLError):
        return False
