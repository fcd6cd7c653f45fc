"""The real control plane: etcd, kube-apiserver, kube-controller-manager and kube-scheduler, built from Go modules.

Part of the sandbox layer (the engine never imports it; only `nonstop.cli` does). One concept a
module:

    build.py         `go build` of controlplane/ into ~/.cache/nonstop/controlplane/<key>/ (cached by pins)
    pki.py           the CA and every certificate and key the components use; node client certs
    kubeconfigs.py   kubeconfig files with embedded certs, written atomically
    components.py    each component's flags (every listener on 127.0.0.1); the ClusterIP range finding
    controlplane.py  RealControlPlane: start in order, wait for readiness by deadline, stop, node credentials
    manifests.py     `--apply` through server-side apply

The node (kubelet, data plane) is not started here; `RealControlPlane.node_credentials(name)`
gives a node what it needs to join.
"""

from __future__ import annotations

__all__: list[str] = []
