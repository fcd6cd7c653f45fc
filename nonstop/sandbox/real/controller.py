"""`InClusterController`: one Argo controller run as the node's pods run, on the real control plane.

What every such controller (Argo Rollouts, `rollouts.py`; Argo Workflows, `workflows.py`) does at
`start()`, in order:

1. **Install** (the subclass's `install()`): its release's own CRDs (waited for until Established)
   and RBAC, read from the pinned module's source in GOMODCACHE, server-side applied as the admin.
2. **Its own identity**: a token of its ServiceAccount from the TokenRequest API (one week), in a
   kubeconfig of its own; its ClusterRoleBinding is what it may do, as in a real install.
3. **Run it as the node's pods run**: inside the node's pod network namespace (the controllers bind
   their healthz and metrics servers to 0.0.0.0, which must not open ports on the host), where it
   reaches the apiserver through the `kubernetes` Service's ClusterIP (the node's `ApiRelay`), with
   `POD_NAMESPACE` set. It gets SIGTERM when its parent dies; its log is `<workdir>/logs/<name>.log`.
4. **Ready** when its log holds the subclass's `ready_line`; an early exit or the deadline is a
   ControlPlaneStartError with the log's tail.
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
from typing import TYPE_CHECKING, Any, ClassVar, Self

import yaml

from nonstop.errors import ControlPlaneStartError
from nonstop.sandbox.podnet import enter_netns
from nonstop.sandbox.real.controlplane import RealControlPlane
from nonstop.toolkit.children import die_with_parent

if TYPE_CHECKING:
    from nonstop.sandbox.node import SandboxNode

__all__ = ["InClusterController"]

TOKEN_SECONDS = 7 * 24 * 3600


class InClusterController:
    """A controller binary run in the node's pod network with a ServiceAccount's token (see the module docstring)."""

    name: ClassVar[str]  # its log's name and its progress lines'
    namespace: ClassVar[str]
    service_account: ClassVar[str]
    ready_line: ClassVar[str]

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
        self.log_path = plane.workdir / "logs" / f"{self.name}.log"
        self.kubeconfig = plane.workdir / f"{self.name}.kubeconfig"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Self:
        started = time.monotonic()
        deadline = started + self.startup_timeout
        self.install()
        self._say(f"{self.name} CRDs and RBAC installed ({time.monotonic() - started:.1f} s)")
        self._write_kubeconfig()
        self._spawn()
        self._wait_ready(deadline)
        self._say(f"{self.name} controller ready ({time.monotonic() - started:.1f} s)")
        return self

    # --- what a subclass says ----------------------------------------------------------------

    def install(self) -> None:
        """CRDs (until Established), namespace, ServiceAccount and RBAC from the release."""
        raise NotImplementedError

    def argv(self) -> list[str]:
        """The controller's command line (`--kubeconfig` is `self.kubeconfig`)."""
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        """Variables of its own, beside PATH, LANG, TZ, HOME and POD_NAMESPACE."""
        return {}

    # --- 1. install helpers -------------------------------------------------------------------

    def wait_established(self, names: list[str], timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        pending = set(names)
        while pending:
            for name in sorted(pending):
                crd = self.admin_call("GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
                conditions = (crd.get("status") or {}).get("conditions") or []
                if any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions):
                    pending.discard(name)
            if pending and time.monotonic() > deadline:
                raise ControlPlaneStartError(f"the CRDs {sorted(pending)} were not Established after {timeout:.0f} s")
            if pending:
                time.sleep(0.2)

    def admin_call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
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
        namespace, account = self.namespace, self.service_account
        answer = self.admin_call(
            "POST",
            f"/api/v1/namespaces/{namespace}/serviceaccounts/{account}/token",
            {
                "apiVersion": "authentication.k8s.io/v1",
                "kind": "TokenRequest",
                "spec": {"expirationSeconds": TOKEN_SECONDS},
            },
        )
        token = str((answer.get("status") or {}).get("token") or "")
        if not token:
            raise ControlPlaneStartError(f"the TokenRequest for {namespace}/{account} returned no token")
        relay = self.node.relay
        server = f"https://{relay.listen[0]}:{relay.listen[1]}" if relay is not None else self.plane.url
        user = f"system:serviceaccount:{namespace}:{account}"
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
            "users": [{"name": user, "user": {"token": token}}],
            "contexts": [
                {"name": self.name, "context": {"cluster": "nonstop-real", "user": user, "namespace": namespace}}
            ],
            "current-context": self.name,
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

        env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "TZ", "HOME")}
        env["POD_NAMESPACE"] = self.namespace
        env.update(self.env())
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as out:
            self.process = subprocess.Popen(
                self.argv(),
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
            if self.ready_line in text:
                return
            code = process.poll()
            if code is not None:
                raise ControlPlaneStartError(
                    f"the {self.name} controller exited with code {code} before it was ready "
                    f"(log: {self.log_path}): {self.tail()}"
                )
            if time.monotonic() > deadline:
                raise ControlPlaneStartError(
                    f"the {self.name} controller was not ready after {self.startup_timeout:.0f} s "
                    f"(log: {self.log_path}): {self.tail()}"
                )
            time.sleep(0.2)

    def check_running(self) -> None:
        """ControlPlaneStartError when the controller has exited."""
        if self.process is not None and (code := self.process.poll()) is not None:
            raise ControlPlaneStartError(
                f"the {self.name} controller exited with code {code} (log: {self.log_path}): {self.tail()}"
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
