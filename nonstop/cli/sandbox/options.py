"""The options of `sandbox up` and `sandbox node`, as the types their commands' parameters carry.

Names, defaults and help text are part of the contract (CONTRACT.md); the defaults stay on the
commands' parameters, where Typer reads them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = [
    "AddLag",
    "Apply",
    "BookmarkInterval",
    "ClientCa",
    "ControlPlane",
    "Faults",
    "KubeconfigOut",
    "NetworkDelay",
    "NoKubelet",
    "NodeDataPlane",
    "NodeDataPlaneKubeconfig",
    "NodeKubeconfig",
    "NodeKubeletPort",
    "NodeName",
    "Nodes",
    "PodNetwork",
    "Port",
    "ProxyLag",
    "RemoveLag",
    "RetryStaleConnections",
    "TlsCert",
    "TlsKey",
    "UpDataPlane",
    "With",
]

ProxyLag = Annotated[float, typer.Option("--proxy-lag", help="Seconds the data plane sees EndpointSlice changes late.")]

# -- sandbox up -------------------------------------------------------------------------------

Apply = Annotated[
    list[Path] | None, typer.Option("--apply", help="A manifest (multi-document YAML) to create; repeatable.")
]
KubeconfigOut = Annotated[
    Path, typer.Option("--kubeconfig-out", help="Where to write the kubeconfig (written last: ready).")
]
AddLag = Annotated[
    float | None,
    typer.Option(
        "--add-lag",
        help="Seconds until a new endpoint gets traffic, and readiness gates are set (default: --proxy-lag).",
    ),
]
RemoveLag = Annotated[
    float | None,
    typer.Option("--remove-lag", help="Seconds until a removed endpoint stops getting traffic (default: --proxy-lag)."),
]
UpDataPlane = Annotated[
    str,
    typer.Option(
        "--data-plane",
        help="kube-proxy (per connection), ingress (per request) or ipvs "
        "(per connection; established ones reset when their endpoint leaves).",
    ),
]
NetworkDelay = Annotated[
    float,
    typer.Option(
        "--network-delay-ms",
        help="kube-proxy, ipvs: one-way latency between client and pod, each way, in milliseconds (default 0).",
    ),
]
RetryStaleConnections = Annotated[
    bool,
    typer.Option(
        "--retry-stale-connections/--no-retry-stale-connections",
        help="ingress: retry a request once when its pooled upstream connection was stale.",
    ),
]
Nodes = Annotated[
    int,
    typer.Option(
        "--nodes", help="How many Nodes (1: `sandbox`; N: `sandbox-1` … `sandbox-N`); pods are scheduled onto them."
    ),
]
Port = Annotated[int, typer.Option("--port", help="API port on 127.0.0.1 (0: a free one).")]
BookmarkInterval = Annotated[
    float, typer.Option("--bookmark-interval", hidden=True, help="Seconds between watch BOOKMARKs.")
]
Faults = Annotated[
    Path | None,
    typer.Option("--faults", help="A fault plan (YAML) applied from the start; see docs/reliability.md."),
]
NoKubelet = Annotated[
    bool,
    typer.Option("--no-kubelet", hidden=True, help="Run no in-process kubelet (a `sandbox node` is the node instead)."),
]
ControlPlane = Annotated[
    str,
    typer.Option(
        "--control-plane",
        help="embedded (our Python cluster, the default) or real (kube-apiserver, etcd, "
        "kube-controller-manager, kube-scheduler built from Go modules; needs Go the first time).",
    ),
]
With = Annotated[
    list[str] | None,
    typer.Option(
        "--with",
        help="With --control-plane real: also run this real controller, its CRDs installed; "
        "repeatable. argo-rollouts, argo-workflows (each built from its Go module the first time).",
    ),
]

# -- sandbox node -----------------------------------------------------------------------------

NodeKubeconfig = Annotated[Path, typer.Option("--kubeconfig", help="The API server to be the node of.")]
NodeName = Annotated[str, typer.Option("--node-name", help="The Node's name.")]
NodeKubeletPort = Annotated[
    int, typer.Option("--kubelet-port", help="The kubelet API's port on 127.0.0.1 (0: a free one).")
]
ClientCa = Annotated[
    Path | None,
    typer.Option(
        "--client-ca-file", help="CA of the API server's kubelet-client certificate (default: the cluster's CA)."
    ),
]
TlsCert = Annotated[
    Path | None, typer.Option("--tls-cert-file", help="The kubelet API's serving certificate (default: self-signed).")
]
TlsKey = Annotated[Path | None, typer.Option("--tls-private-key-file", help="Its private key.")]
NodeDataPlane = Annotated[
    str, typer.Option("--data-plane", help="kube-proxy (per connection), ingress (per request) or none.")
]
NodeDataPlaneKubeconfig = Annotated[
    Path | None,
    typer.Option(
        "--data-plane-kubeconfig",
        help="The data plane's credentials (default: --kubeconfig); a node's may not list EndpointSlices.",
    ),
]
PodNetwork = Annotated[
    str,
    typer.Option(
        "--pod-network",
        help="loopback (pods on 127.10.x, the host's network) or netns (198.18.x in a network namespace "
        "of the node's own, which a real API server accepts in EndpointSlices; needs root).",
    ),
]
