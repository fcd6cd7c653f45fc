"""`ArgoWorkflows`: the real Argo Workflows controller on the real control plane (`sandbox up --with argo-workflows`).

    workflows = ArgoWorkflows(binary=ensure_workflows_built(), plane=plane, node=node).start()
    ...
    workflows.stop()

How it is started is `InClusterController`'s (`controller.py`). What is its own:

- **Install from the release's own manifests**, read from the pinned module's source in
  GOMODCACHE (`workflows_module_dir()`; nothing of it is committed), as its `cluster-install`
  kustomization assembles them: the CRDs of `manifests/base/crds/minimal/` (what a release's
  install applies), the `argo` namespace, the ServiceAccount `argo` and the (empty)
  `workflow-controller-configmap` of `manifests/base/workflow-controller/`, and the ClusterRoles,
  Role and bindings of `manifests/cluster-install-no-crds/workflow-controller-rbac/`.
- **Run** `workflow-controller --executor-image quay.io/argoproj/argoexec:<pinned version>` with
  `LEADER_ELECTION_DISABLE=true`, as the ServiceAccount `argo/argo`. Its pods are our kubelet's:
  the node maps that image to the built `argoexec` (`image_bins`, `nonstop.sandbox.kubelet.incluster`).
- **Ready** when its log says `Starting CronWorkflow controller`: its informers synced (it is logged
  after `WaitForCacheSync`), workers running.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nonstop.errors import ControlPlaneStartError
from nonstop.sandbox.real.build import workflows_module_dir, workflows_version
from nonstop.sandbox.real.controller import InClusterController
from nonstop.sandbox.real.manifests import apply_manifests, read_manifests

__all__ = ["ARGOEXEC_IMAGE", "NAMESPACE", "ArgoWorkflows"]

NAMESPACE = "argo"
ARGOEXEC_IMAGE = "quay.io/argoproj/argoexec"
"""The executor image's repository (the tag is the pinned version); the node runs the built `argoexec` for it."""

_RBAC = (
    "workflow-aggregate-roles.yaml",
    "workflow-controller-clusterrole.yaml",
    "workflow-controller-clusterrolebinding.yaml",
    "workflow-controller-role.yaml",
    "workflow-controller-rolebinding.yaml",
)


class ArgoWorkflows(InClusterController):
    """The Argo Workflows controller of one real control plane (see the module docstring)."""

    name = "argo-workflows"
    namespace = NAMESPACE
    service_account = "argo"
    ready_line = "Starting CronWorkflow controller"

    def install(self) -> None:
        """CRDs (until Established), namespace, ServiceAccount, ConfigMap and RBAC from the release."""
        manifests = workflows_module_dir() / "manifests"
        crd_files = sorted((manifests / "base" / "crds" / "minimal").glob("argoproj.io_*.yaml"))
        if not crd_files:
            raise ControlPlaneStartError(f"no CRDs in {manifests / 'base/crds/minimal'} (the argo-workflows module)")
        admin = self.plane.admin_kubeconfig
        crds = read_manifests(crd_files)
        apply_manifests(admin, crds)
        self.wait_established([obj["metadata"]["name"] for _, obj in crds])
        namespace: dict[str, Any] = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
        base = manifests / "base" / "workflow-controller"
        rbac = manifests / "cluster-install-no-crds" / "workflow-controller-rbac"
        objects = read_manifests(
            [base / "workflow-controller-sa.yaml", base / "workflow-controller-configmap.yaml"]
            + [rbac / name for name in _RBAC]
        )
        for _, obj in objects:  # what the kustomization's `namespace: argo` does
            if obj["kind"] in ("ServiceAccount", "ConfigMap", "Role", "RoleBinding"):
                obj["metadata"]["namespace"] = NAMESPACE
            for subject in obj.get("subjects") or []:
                if subject.get("kind") == "ServiceAccount":
                    subject["namespace"] = NAMESPACE
        apply_manifests(admin, [(Path("argo namespace"), namespace), *objects])

    def argv(self) -> list[str]:
        return [
            str(self.binary),
            f"--kubeconfig={self.kubeconfig}",
            f"--executor-image={ARGOEXEC_IMAGE}:{workflows_version()}",
            "--executor-image-pull-policy=IfNotPresent",
            "--loglevel=info",
        ]

    def env(self) -> dict[str, str]:
        return {"LEADER_ELECTION_DISABLE": "true"}
