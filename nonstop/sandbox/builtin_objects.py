"""The objects a cluster has without anyone creating them.

- In every namespace, as soon as it exists: the `default` ServiceAccount (kube-controller-manager's
  serviceaccounts-controller) and the `kube-root-ca.crt` ConfigMap whose `ca.crt` is the cluster's
  CA (its root-ca-cert-publisher). A real cluster writes them a moment after the namespace; the
  sandbox writes them with it (`Registry.create`), so a client that waits for them never waits and
  a test's watch never sees them arrive late. They are not re-created when deleted.
- In `default`: the `kubernetes` Service (ClusterIP, `https` 443 → the API server's port; labels
  `component: apiserver`, `provider: kubernetes`, no selector) with its Endpoints (label
  `endpointslice.kubernetes.io/skip-mirror: "true"`) and EndpointSlice naming the API server's
  address, as kube-apiserver's own bootstrap controller writes them (`publish_kubernetes_service`,
  once the API server has its port).

The CA is made once per process (ECDSA P-256) and signs nothing: the embedded API server speaks
plain HTTP. It is there because clients mount or wait for `kube-root-ca.crt` (every pod's projected
ServiceAccount volume does on a real cluster).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable

from nonstop.sandbox.apierrors import ApiError
from nonstop.sandbox.defaults import apply_defaults
from nonstop.sandbox.kinds import by_kind, require
from nonstop.sandbox.store import Obj, Store

__all__ = ["ROOT_CA_CONFIGMAP", "fill_namespace", "publish_kubernetes_service", "root_ca_pem"]

SERVICE_ACCOUNTS = require("", "v1", "serviceaccounts")
CONFIGMAPS = require("", "v1", "configmaps")
SERVICES = require("", "v1", "services")
ENDPOINTS = require("", "v1", "endpoints")
ENDPOINTSLICES = require("discovery.k8s.io", "v1", "endpointslices")
ROOT_CA_CONFIGMAP = "kube-root-ca.crt"
_DESCRIPTION = (
    "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as "
    "the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of "
    "Kubernetes clusters."
)

_ca_lock = threading.Lock()
_ca_pem: list[str] = []


def root_ca_pem() -> str:
    """The cluster CA certificate of this process (PEM), made on first use."""
    with _ca_lock:
        if not _ca_pem:
            from cryptography import x509
            from cryptography.hazmat.primitives import hashes, serialization
            from cryptography.hazmat.primitives.asymmetric import ec
            from cryptography.x509.oid import NameOID

            key = ec.generate_private_key(ec.SECP256R1())
            name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "nonstop-sandbox-ca")])
            now = dt.datetime.now(dt.UTC)
            cert = (
                x509.CertificateBuilder()
                .subject_name(name)
                .issuer_name(name)
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(minutes=5))
                .not_valid_after(now + dt.timedelta(days=365))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(key, hashes.SHA256())
            )
            _ca_pem.append(cert.public_bytes(serialization.Encoding.PEM).decode())
        return _ca_pem[0]


def _create(store: Store, obj: Obj) -> None:
    kind = by_kind(obj["apiVersion"], obj["kind"])
    assert kind is not None
    apply_defaults(kind, obj)
    try:
        store.create(kind, obj)
    except ApiError as exc:
        if exc.reason != "AlreadyExists":
            raise


def fill_namespace(store: Store, namespace: str) -> None:
    """The `default` ServiceAccount and the `kube-root-ca.crt` ConfigMap of a new namespace."""
    _create(
        store,
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": namespace}},
    )
    _create(
        store,
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": ROOT_CA_CONFIGMAP,
                "namespace": namespace,
                "annotations": {"kubernetes.io/description": _DESCRIPTION},
            },
            "data": {"ca.crt": root_ca_pem()},
        },
    )


def kubernetes_service() -> Obj:
    """The `default/kubernetes` Service as `Registry.create` takes it (it allocates the ClusterIP)."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "kubernetes",
            "namespace": "default",
            "labels": {"component": "apiserver", "provider": "kubernetes"},
        },
        "spec": {"type": "ClusterIP", "ports": [{"name": "https", "port": 443, "protocol": "TCP"}]},
    }


def publish_kubernetes_service(store: Store, create_service: Callable[[Obj], object], *, host: str, port: int) -> None:
    """Endpoints and EndpointSlice `kubernetes` naming `host:port` (the Service itself: `create_service`)."""
    if store.find(SERVICES, "default", "kubernetes") is None:
        service = kubernetes_service()
        service["spec"]["ports"][0]["targetPort"] = port
        try:
            create_service(service)
        except ApiError as exc:
            if exc.reason != "AlreadyExists":
                raise
    endpoint_port = {"name": "https", "port": port, "protocol": "TCP"}
    _create(
        store,
        {
            "apiVersion": "v1",
            "kind": "Endpoints",
            "metadata": {
                "name": "kubernetes",
                "namespace": "default",
                "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"},
            },
            "subsets": [{"addresses": [{"ip": host}], "ports": [endpoint_port]}],
        },
    )
    _create(
        store,
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": "kubernetes",
                "namespace": "default",
                "labels": {"kubernetes.io/service-name": "kubernetes"},
            },
            "addressType": "IPv4",
            "endpoints": [{"addresses": [host], "conditions": {"ready": True}}],
            "ports": [endpoint_port],
        },
    )
