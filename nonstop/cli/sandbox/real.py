"""`sandbox up --control-plane real`: the real control plane, our node, the `--with` controllers.

The real control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, built
and cached: nonstop/sandbox/real/) runs on loopback; our node (`SandboxNode`: kubelet, data plane
as `system:kube-proxy`) runs its pods on 198.18.x in a network namespace of its own (root only; the
real apiserver refuses loopback endpoint addresses). Once the node is schedulable the controllers
start, the `--apply` objects are created and the kubeconfig is written, last.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

import typer

from nonstop.cli.sandbox.foreground import stop_on_signals, wait_for_stop
from nonstop.errors import InputError

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from nonstop.sandbox.node import SandboxNode
    from nonstop.sandbox.real.controller import InClusterController
    from nonstop.sandbox.real.controlplane import RealControlPlane

__all__ = ["EXTRAS", "check_extras", "run_real"]

EXTRAS = ("argo-rollouts", "argo-workflows")


def check_extras(names: list[str]) -> list[str]:
    """`--with` values: known, each once, in the order given."""
    out: list[str] = []
    for name in names:
        if name not in EXTRAS:
            raise InputError(f"--with must be one of {', '.join(EXTRAS)}, not {name!r}")
        if name not in out:
            out.append(name)
    return out


def run_real(
    *, apply: list[Path], kubeconfig_out: Path, port: int, data_plane: str, proxy_lag: float, extras: list[str]
) -> None:
    """`sandbox up --control-plane real`: the real control plane, our node, the extras, apply, kubeconfig last, wait.

    `extras` (`--with`): argo-rollouts and argo-workflows are built (cached) before anything starts,
    and started once the node is schedulable (they run in the node's pod network, reaching the API
    through its relay), so that `--apply` may hold Rollouts and WorkflowTemplates. With
    argo-workflows the node runs the built `argoexec` for the executor image.
    """
    from nonstop.logs import get_logger
    from nonstop.sandbox.podnet import PodNetwork
    from nonstop.sandbox.real.build import ensure_built
    from nonstop.sandbox.real.controlplane import RealControlPlane
    from nonstop.sandbox.real.manifests import apply_manifests, read_manifests

    PodNetwork.check_possible()  # before a build or a start: one sentence when not root
    threading.Thread(target=_warm_client_imports, name="warm-imports", daemon=True).start()
    objects = read_manifests(apply)
    kubeconfig_out.unlink(missing_ok=True)
    log = get_logger("sandbox")
    binary = ensure_built(progress=_say)
    binaries = {name: _controller_kinds()[name][1](progress=_say) for name in extras}
    with stop_on_signals() as stop:
        started = time.monotonic()
        plane = RealControlPlane(binary=binary, apiserver_port=port, progress=_say)
        node: SandboxNode | None = None
        controllers: list[InClusterController] = []
        try:
            plane.start()
            node = _node(plane, data_plane=data_plane, proxy_lag=proxy_lag, binaries=binaries)
            node.start()
            _say(f"node {REAL_NODE_NAME} registered ({time.monotonic() - started:.1f} s)")
            _wait_schedulable(node, stop)
            _say(f"node {REAL_NODE_NAME} ready, pods on {node.pod_network.pod_cidr if node.pod_network else '?'} "
                 f"({time.monotonic() - started:.1f} s)")  # fmt: skip
            for name, controller_binary in binaries.items():
                controllers.append(_controller_kinds()[name][0](binary=controller_binary, plane=plane, node=node,
                                                                progress=_say))  # fmt: skip
                controllers[-1].start()
            apply_manifests(plane.admin_kubeconfig, objects)
            _write_kubeconfig(plane, kubeconfig_out)
            log.info("sandbox ready", control_plane="real", url=plane.url, kubeconfig=str(kubeconfig_out))
            typer.echo(f"sandbox ready (real control plane): export KUBECONFIG={kubeconfig_out.resolve()}", err=True)
            wait_for_stop(stop, check=lambda: _check_running(plane, controllers))
        except KeyboardInterrupt:
            pass
        finally:
            kubeconfig_out.unlink(missing_ok=True)
            for controller in controllers:
                controller.stop()
            if node is not None:
                node.stop()
            plane.stop()
            log.info("sandbox stopped", control_plane="real")


def _check_running(plane: RealControlPlane, controllers: list[InClusterController]) -> None:
    """Raise when the control plane or a controller stopped by itself."""
    plane.check_running()
    for controller in controllers:
        controller.check_running()


def _say(line: str) -> None:
    typer.echo(line, err=True)


def _controller_kinds() -> dict[str, tuple[type[InClusterController], Callable[..., Path]]]:
    """Each `--with` name: its controller and the function that builds (or finds cached) its binary."""
    from nonstop.sandbox.real.build import ensure_rollouts_built, ensure_workflows_built
    from nonstop.sandbox.real.rollouts import ArgoRollouts
    from nonstop.sandbox.real.workflows import ArgoWorkflows

    return {"argo-rollouts": (ArgoRollouts, ensure_rollouts_built),
            "argo-workflows": (ArgoWorkflows, ensure_workflows_built)}  # fmt: skip


def _node(plane: RealControlPlane, *, data_plane: str, proxy_lag: float, binaries: dict[str, Path]) -> SandboxNode:
    """Our node (not started) with the node's own credentials; the data plane is `system:kube-proxy`.

    With argo-workflows the node runs its built `argoexec` for the executor image.
    """
    from nonstop.logs import get_logger
    from nonstop.sandbox.node import SandboxNode
    from nonstop.sandbox.real.workflows import ARGOEXEC_IMAGE

    workflows_binary = binaries.get("argo-workflows")
    image_bins = {ARGOEXEC_IMAGE: str(workflows_binary.parent)} if workflows_binary is not None else {}
    creds = plane.node_credentials(REAL_NODE_NAME)
    return SandboxNode(
        kubeconfig=creds.kubeconfig,
        node_name=REAL_NODE_NAME,
        kubelet_port=0,
        client_ca=creds.ca_cert,
        data_plane=data_plane,
        data_plane_kubeconfig=plane.kube_proxy_kubeconfig(),
        proxy_lag=proxy_lag,
        pod_network=True,
        image_bins=image_bins,
        log=get_logger("node"),
    )


def _write_kubeconfig(plane: RealControlPlane, path: Path) -> None:
    """The admin kubeconfig at `path`, atomically (its existence means "ready to use")."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.parent.mkdir(parents=True, exist_ok=True)
    tmp.write_bytes(plane.admin_kubeconfig.read_bytes())
    tmp.chmod(0o600)
    tmp.replace(path)


REAL_NODE_NAME = "sandbox"


def _warm_client_imports() -> None:
    """Import the client's CoreV1Api and dynamic client while the control plane starts.

    The `kubernetes` package imports its API classes lazily, each with hundreds of pydantic
    models: about 1 s on a quiet machine, 8-10 s on a loaded one. Paid on the kubelet's first pod
    list, it delayed the first pod by that much; here it overlaps the wait for the apiserver.
    """
    from kubernetes import client, dynamic

    _ = (client.CoreV1Api, client.AppsV1Api, dynamic.DynamicClient)


def _wait_schedulable(node: SandboxNode, stop: threading.Event, timeout: float = 60.0) -> None:
    """Until the Node is Ready and the controller-manager lifted the `not-ready` taint admission put on it."""
    from nonstop.errors import ControlPlaneStartError
    from nonstop.sandbox.apierrors import ApiError

    deadline = time.monotonic() + timeout
    while not stop.is_set():
        try:
            obj = node.api.request("GET", f"/api/v1/nodes/{node.node_name}", what="read the node")
        except ApiError:
            obj = {}
        ready = any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in (obj.get("status") or {}).get("conditions") or []
        )
        taints = [t.get("key") for t in (obj.get("spec") or {}).get("taints") or []]
        if ready and "node.kubernetes.io/not-ready" not in taints:
            return
        if time.monotonic() > deadline:
            raise ControlPlaneStartError(
                f"node {node.node_name} was not schedulable {timeout:.0f} s after it started (taints: {taints})"
            )
        time.sleep(0.2)
