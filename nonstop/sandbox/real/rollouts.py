"""`ArgoRollouts`: the real Argo Rollouts controller on the real control plane (`sandbox up --with argo-rollouts`).

    rollouts = ArgoRollouts(binary=ensure_rollouts_built(), plane=plane, node=node).start()
    ...
    rollouts.stop()

How it is started is `InClusterController`'s (`controller.py`): install, a token of its own, run in
the node's pod network, ready on a log line. What is its own:

- **Install from the release's own manifests**, read from the pinned module's source in
  GOMODCACHE (`rollouts_module_dir()`; nothing of it is committed): the CRDs of
  `manifests/crds/`, the `argo-rollouts` namespace, the ServiceAccount of
  `manifests/base/argo-rollouts-sa.yaml`, the ClusterRoles of `manifests/role/` and
  `manifests/base/argo-rollouts-aggregate-roles.yaml` and the ClusterRoleBinding of
  `manifests/cluster-install/` — all server-side applied as the admin.
- **Run** with `POD_NAMESPACE=argo-rollouts`, `--leader-elect=false`, free ports for healthz and
  metrics; the token is the ServiceAccount `argo-rollouts/argo-rollouts`'s.
- **Ready** when its log says `Started controller` (its informers synced, workers running).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nonstop.errors import ControlPlaneStartError
from nonstop.sandbox.real.build import rollouts_module_dir
from nonstop.sandbox.real.controller import InClusterController
from nonstop.sandbox.real.controlplane import free_port
from nonstop.sandbox.real.manifests import apply_manifests, read_manifests

__all__ = ["NAMESPACE", "ArgoRollouts"]

NAMESPACE = "argo-rollouts"


class ArgoRollouts(InClusterController):
    """The Argo Rollouts controller of one real control plane (see the module docstring)."""

    name = "argo-rollouts"
    namespace = NAMESPACE
    service_account = "argo-rollouts"
    ready_line = "Started controller"

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
        self.wait_established([obj["metadata"]["name"] for _, obj in crds])
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

    def argv(self) -> list[str]:
        return [
            str(self.binary),
            f"--kubeconfig={self.kubeconfig}",
            "--leader-elect=false",
            f"--healthzPort={free_port()}",
            f"--metricsport={free_port()}",
            "--loglevel=info",
        ]
