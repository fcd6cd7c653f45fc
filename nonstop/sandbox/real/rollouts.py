"""`ArgoRollouts`: the real Argo Rollouts controller on the real control plane (`sandbox up --with argo-rollouts`).

    rollouts = ArgoRollouts(binary=ensure_rollouts_built(), plane=plane, node=node).start()
    ...
    rollouts.stop()

What `start()` does, in order:

1. **Install from the release's own manifests**, read from the pinned module's source in
   GOMODCACHE (`rollouts_module_dir()`; nothing of it is committed): the CRDs of
   `manifests/crds/` (waited for until Established), the `argo-rollouts` namespace, the
   ServiceAccount of `manifests/base/argo-rollouts-sa.yaml`, the ClusterRoles of
   `manifests/role/` and `manifests/base/argo-rollouts-aggregate-roles.yaml` and the
   ClusterRoleBinding of `manifests/cluster-install/` — all server-side applied as the admin.
2. **Its own identity**: a token of the ServiceAccount `argo-rollouts/argo-rollouts` from the
   TokenRequest API (one week), in a kubeconfig of its own; the ClusterRoleBinding above is what
   it may do, as in a real install.
3. **Run it as the node's pods run**: inside the node's pod network namespace (the controller
   binds its healthz and metrics servers to 0.0.0.0, which must not open ports on the host), where
   it reaches the apiserver through the `kubernetes` Service's ClusterIP (the node's `ApiRelay`),
   with `POD_NAMESPACE=argo-rollouts`, `--leader-elect=false`, free ports for healthz and
   metrics. It gets SIGTERM when its parent dies; its log is `<workdir>/logs/argo-rollouts.log`.
4. **Ready** when its log says `Started controller` (its informers synced, workers running);
   an early exit or the deadline is a ControlPlaneStartError with the log's tail.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from nonstop.errors import ControlPlaneStartError
from nonstop.sandbox.podnet import enter_netns
from nonstop.sandbox.real.build import rollouts_module_dir
from nonstop.sandbox.real.controlplane import RealControlPlane, free_port
from nonstop.sandbox.real.manifests import apply_manifests, read_manifests
from nonstop.toolkit.children import die_with_parent

if TYPE_CHECKING:
    from nonstop.sandbox.node import SandboxNode

__all__ = ["NAMESPACE", "ArgoRollouts"]

NAMESPACE = "argo-rollouts"
SERVICE_ACCOUNT = "argo-rollouts"
TOKEN_SECONDS = 7 * 24 * 3600
READY_LINE = "Started controller"


class ArgoRollouts:
    """The Argo Rollouts controller of one real control plane (see the module docstring)."""

    def __init__(
        self,
        *,
        binary: Path,
        plane: RealControlPlane,
        node: SandboxNode,
        startup_timeout: float = 120.0,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.binary = binary
        self.plane = plane
        self.node = node
        self.startup_timeout = startup_timeout
        self._say = progress or (lambda _line: None)
        self.log_path = plane.workdir / "logs" / "argo-rollouts.log"
        self.kubeconfig = plane.workdir / "argo-rollouts.kubeconfig"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> ArgoRollouts:
        started = time.monotonic()
        deadline = started + self.startup_timeout
        self.install()
        self._say(f"argo-rollouts CRDs and RBAC installed ({time.monotonic() - started:.1f} s)")
        self._write_kubeconfig()
        self._spawn()
        self._wait_ready(deadline)
        self._say(f"argo-rollouts controller ready ({time.monotonic() - started:.1f} s)")
        return self

    # --- 1. install ---------------------------------------------------------------------------

    def install(self) -> None:
        """CRDs (until Established), namespace, ServiceAccount, ClusterRoles and binding from the release."""
        module = rollouts_module_dir()
        manifests = module / "manifests"
        crd_files = sorted((manifests / "crds").glob("*-crd.yaml"))
        if not crd_files:
            raise ControlPlaneStartError(f"no CRDs in {manifests / 'crds'} (the argo-rollouts module source)")
        admin = self.plane.admin_kubeconfig
        crds = read_manifests(crd_files)
        apply_manifests(admin, crds)
        self._wait_established([obj["metadata"]["name"] for _, obj in crds])
        namespace: dict[str, Any] = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
        rbac = read_manifests(
            [
                manifests / "base" / "argo-rollouts-sa.yaml",
                manifests / "role" / "argo-rollouts-clusterrole.yaml",
                manifests / "base" / "argo-rollouts-aggregate-roles.yaml",
                manifests / "cluster-install" / "argo-rollouts-clusterrolebinding.yaml",
            ]
        )
        for _, obj in rbac:
            if obj["kind"] == "ServiceAccount":
                obj["metadata"]["namespace"] = NAMESPACE
        apply_manifests(admin, [(Path("argo-rollouts namespace"), namespace), *rbac])

    def _wait_established(self, names: list[str], timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        pending = set(names)
        while pending:
            for name in sorted(pending):
                crd = self._admin_get(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
                conditions = (crd.get("status") or {}).get("conditions") or []
                if any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions):
                    pending.discard(name)
            if pending and time.monotonic() > deadline:
                raise ControlPlaneStartError(f"the CRDs {sorted(pending)} were not Established after {timeout:.0f} s")
            if pending:
                time.sleep(0.2)

    def _admin_get(self, path: str) -> dict[str, Any]:
        return self._admin_call("GET", path)

    def _admin_call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """One REST call as the admin through the official client; the answer's JSON (errors raise)."""
        from kubernetes import config

        api = config.new_client_from_config(config_file=str(self.plane.admin_kubeconfig))
        headers = {"Accept": "application/json", "Content-Type": "application/json"}
        try:
            response = api.rest_client.request(
                method, api.configuration.host + path, headers=headers, body=body, _request_timeout=10
            )
            response.read()
            if not 200 <= response.status < 300:
                raise ControlPlaneStartError(f"{method} {path} as the admin: HTTP {response.status} {response.data!r}")
            return dict(json.loads(response.data or b"{}"))
        finally:
            api.close()

    # --- 2. identity --------------------------------------------------------------------------

    def _write_kubeconfig(self) -> None:
        answer = self._admin_call(
            "POST",
            f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts/{SERVICE_ACCOUNT}/token",
            {
                "apiVersion": "authentication.k8s.io/v1",
                "kind": "TokenRequest",
                "spec": {"expirationSeconds": TOKEN_SECONDS},
            },
        )
        token = str((answer.get("status") or {}).get("token") or "")
        if not token:
            raise ControlPlaneStartError(f"the TokenRequest for {NAMESPACE}/{SERVICE_ACCOUNT} returned no token")
        relay = self.node.relay
        server = f"https://{relay.listen[0]}:{relay.listen[1]}" if relay is not None else self.plane.url
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "nonstop-real",
                    "cluster": {
                        "server": server,
                        "certificate-authority-data": base64.b64encode(self.plane.ca_cert.read_bytes()).decode(),
                    },
                }
            ],
            "users": [{"name": f"system:serviceaccount:{NAMESPACE}:{SERVICE_ACCOUNT}", "user": {"token": token}}],
            "contexts": [
                {
                    "name": "argo-rollouts",
                    "context": {
                        "cluster": "nonstop-real",
                        "user": f"system:serviceaccount:{NAMESPACE}:{SERVICE_ACCOUNT}",
                        "namespace": NAMESPACE,
                    },
                }
            ],
            "current-context": "argo-rollouts",
        }
        self.kubeconfig.write_text(yaml.safe_dump(config))
        self.kubeconfig.chmod(0o600)

    # --- 3. run -------------------------------------------------------------------------------

    def _spawn(self) -> None:
        network = self.node.pod_network
        netns_fd = network.netns_fd if network is not None else None

        parent = os.getpid()

        def setup() -> None:
            die_with_parent(parent, signal.SIGTERM)
            if netns_fd is not None:
                enter_netns(netns_fd)

        argv = [
            str(self.binary),
            f"--kubeconfig={self.kubeconfig}",
            "--leader-elect=false",
            f"--healthzPort={free_port()}",
            f"--metricsport={free_port()}",
            "--loglevel=info",
        ]
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "TZ", "HOME")}
        env["POD_NAMESPACE"] = NAMESPACE
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as out:
            self.process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.plane.workdir,
                start_new_session=True,
                preexec_fn=setup,  # noqa: PLW1509 - prctl and setns only, before exec
            )

    def _wait_ready(self, deadline: float) -> None:
        process = self.process
        assert process is not None
        while True:
            text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
            if READY_LINE in text:
                return
            code = process.poll()
            if code is not None:
                raise ControlPlaneStartError(
                    f"the argo-rollouts controller exited with code {code} before it was ready "
                    f"(log: {self.log_path}): {self.tail()}"
                )
            if time.monotonic() > deadline:
                raise ControlPlaneStartError(
                    f"the argo-rollouts controller was not ready after {self.startup_timeout:.0f} s "
                    f"(log: {self.log_path}): {self.tail()}"
                )
            time.sleep(0.2)

    def check_running(self) -> None:
        """ControlPlaneStartError when the controller has exited."""
        if self.process is not None and (code := self.process.poll()) is not None:
            raise ControlPlaneStartError(
                f"the argo-rollouts controller exited with code {code} (log: {self.log_path}): {self.tail()}"
            )

    def tail(self, lines: int = 8) -> str:
        try:
            return " | ".join(self.log_path.read_text(errors="replace").splitlines()[-lines:]) or "(empty log)"
        except OSError:
            return "(no log)"

    def stop(self, timeout: float = 10.0) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
