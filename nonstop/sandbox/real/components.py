"""The command line of each real control-plane component: etcd, kube-apiserver, kube-controller-manager, kube-scheduler.

Pure functions from a `Layout` (ports, files, ranges) to an argv for `nonstop-controlplane <program>`;
the process handling is in controlplane.py. Every listener is on 127.0.0.1; nothing binds a
wildcard address.

Service ClusterIPs: kube-apiserver accepts a loopback `--service-cluster-ip-range` (its flag
validation only bounds the size, and the ServiceCIDR/IPAddress objects of the
MultiCIDRServiceAllocator, GA in 1.33, check only that it is a valid CIDR), so the default range
is 127.20.0.0/16 and every ClusterIP is a loopback address. EndpointSlice and Endpoints addresses
are another matter: their validation (`ValidateEndpointIP`) refuses 127.0.0.0/8, so pods whose
IPs should appear in EndpointSlices need non-loopback IPs, inside a network namespace of ours.
For the same reason the apiserver's own `kubernetes` Service gets no endpoints written
(`--endpoint-reconciler-type=none`: its advertise address is 127.0.0.1).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

from nonstop.sandbox.real.pki import Pki

__all__ = [
    "DEFAULT_SERVICE_CIDR",
    "Layout",
    "apiserver_args",
    "controller_manager_args",
    "etcd_args",
    "first_cluster_ip",
    "scheduler_args",
]

DEFAULT_SERVICE_CIDR = "127.20.0.0/16"
HOST = "127.0.0.1"


def first_cluster_ip(service_cidr: str) -> str:
    """The ClusterIP of the `kubernetes` Service: the first address of the range."""
    network = ipaddress.ip_network(service_cidr, strict=True)
    return str(network.network_address + 1)


@dataclass(frozen=True)
class Layout:
    """Everything the components' flags refer to."""

    workdir: Path
    pki: Pki
    service_cidr: str
    etcd_client_port: int
    etcd_peer_port: int
    apiserver_port: int
    controller_manager_port: int
    scheduler_port: int
    controller_manager_kubeconfig: Path
    scheduler_kubeconfig: Path

    @property
    def etcd_url(self) -> str:
        return f"http://{HOST}:{self.etcd_client_port}"

    @property
    def apiserver_url(self) -> str:
        return f"https://{HOST}:{self.apiserver_port}"


def etcd_args(layout: Layout) -> list[str]:
    peer = f"http://{HOST}:{layout.etcd_peer_port}"
    return [
        "etcd",
        "--name=nonstop",
        f"--data-dir={layout.workdir / 'etcd'}",
        f"--listen-client-urls={layout.etcd_url}",
        f"--advertise-client-urls={layout.etcd_url}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=nonstop={peer}",
        "--initial-cluster-state=new",
        # The data dir is temporary and dies with the control plane: fsync buys nothing here and
        # costs seconds on a busy disk.
        "--unsafe-no-fsync",
        "--log-level=warn",
    ]


def apiserver_args(layout: Layout) -> list[str]:
    pki = layout.pki
    return [
        "kube-apiserver",
        f"--etcd-servers={layout.etcd_url}",
        f"--bind-address={HOST}",
        f"--advertise-address={HOST}",
        f"--secure-port={layout.apiserver_port}",
        f"--cert-dir={layout.workdir / 'apiserver-certs'}",
        f"--tls-cert-file={pki.apiserver.cert}",
        f"--tls-private-key-file={pki.apiserver.key}",
        f"--client-ca-file={pki.ca.cert}",
        f"--kubelet-client-certificate={pki.kubelet_client.cert}",
        f"--kubelet-client-key={pki.kubelet_client.key}",
        f"--service-account-key-file={pki.service_account_pub}",
        f"--service-account-signing-key-file={pki.service_account_key}",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-cluster-ip-range={layout.service_cidr}",
        "--authorization-mode=Node,RBAC",
        # The defaults stay on; NodeRestriction is added as kubeadm and local-up-cluster do, so a
        # node's credentials may only touch its own Node, Lease and pods.
        "--enable-admission-plugins=NodeRestriction",
        # TaintNodesByCondition puts `node.kubernetes.io/not-ready:NoSchedule` on every new Node,
        # which the controller-manager's node lifecycle controller lifts only ~10 s later on this
        # machine: our node registers Ready at once, so the first pod would wait for nothing. Were
        # the node ever NotReady, that controller still taints it.
        "--disable-admission-plugins=TaintNodesByCondition",
        "--endpoint-reconciler-type=none",  # 127.0.0.1 may not be an Endpoints address (module docstring)
        "--allow-privileged=true",
        "--profiling=false",
    ]


def _component_common(layout: Layout, kubeconfig: Path, port: int, name: str) -> list[str]:
    return [
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        f"--bind-address={HOST}",
        f"--secure-port={port}",
        f"--cert-dir={layout.workdir / name}",
        "--leader-elect=false",
        "--profiling=false",
    ]


def controller_manager_args(layout: Layout) -> list[str]:
    pki = layout.pki
    return [
        "kube-controller-manager",
        *_component_common(
            layout, layout.controller_manager_kubeconfig, layout.controller_manager_port, "controller-manager"
        ),
        "--controllers=*",
        "--use-service-account-credentials=true",
        f"--root-ca-file={pki.ca.cert}",
        f"--service-account-private-key-file={pki.service_account_key}",
        # CertificateSigningRequests (a kubelet's client or serving cert) are signed with the cluster CA.
        f"--cluster-signing-cert-file={pki.ca.cert}",
        f"--cluster-signing-key-file={pki.ca.key}",
        f"--service-cluster-ip-range={layout.service_cidr}",
        "--cluster-name=nonstop",
    ]


def scheduler_args(layout: Layout) -> list[str]:
    return [
        "kube-scheduler",
        *_component_common(layout, layout.scheduler_kubeconfig, layout.scheduler_port, "scheduler"),
    ]
