"""`nonstop sandbox node`: be the node of any API server until Ctrl-C or SIGTERM."""

from __future__ import annotations

from pathlib import Path

import typer

from nonstop.cli.sandbox.foreground import stop_on_signals, wait_for_stop
from nonstop.cli.sandbox.options import (
    ClientCa,
    NodeDataPlane,
    NodeDataPlaneKubeconfig,
    NodeKubeconfig,
    NodeKubeletPort,
    NodeName,
    PodNetwork,
    ProxyLag,
    TlsCert,
    TlsKey,
)
from nonstop.errors import InputError

__all__ = ["node"]


def node(
    kubeconfig: NodeKubeconfig,
    node_name: NodeName = "sandbox",
    kubelet_port: NodeKubeletPort = 10250,
    client_ca: ClientCa = None,
    tls_cert: TlsCert = None,
    tls_key: TlsKey = None,
    data_plane: NodeDataPlane = "kube-proxy",
    data_plane_kubeconfig: NodeDataPlaneKubeconfig = None,
    proxy_lag: ProxyLag = 1.0,
    pod_network: PodNetwork = "loopback",
) -> None:
    """Be the node of any API server: run its pods as local processes, until Ctrl-C or SIGTERM.

    Registers the Node (with its Lease), serves the kubelet API for `kubectl logs`, and runs the
    data plane for the cluster's Services. See docs/sandbox.md "The sandbox as a node".
    """
    from nonstop.logs import get_logger
    from nonstop.sandbox.node import SandboxNode

    _check_options(data_plane=data_plane, proxy_lag=proxy_lag, pod_network=pod_network,
                   files=(("--data-plane-kubeconfig", data_plane_kubeconfig), ("--client-ca-file", client_ca),
                          ("--tls-cert-file", tls_cert), ("--tls-private-key-file", tls_key)))  # fmt: skip
    with stop_on_signals() as stop:
        sandbox_node = SandboxNode(
            kubeconfig=kubeconfig,
            node_name=node_name,
            kubelet_port=kubelet_port,
            client_ca=client_ca,
            tls_cert=tls_cert,
            tls_key=tls_key,
            data_plane=None if data_plane == "none" else data_plane,
            data_plane_kubeconfig=data_plane_kubeconfig,
            proxy_lag=proxy_lag,
            pod_network=pod_network == "netns",
            log=get_logger("node"),
        )
        try:
            sandbox_node.start()
            typer.echo(f"node {node_name} running against {sandbox_node.connection.host}", err=True)
            wait_for_stop(stop)
        except KeyboardInterrupt:
            pass
        finally:
            sandbox_node.stop()


def _check_options(
    *, data_plane: str, proxy_lag: float, pod_network: str, files: tuple[tuple[str, Path | None], ...]
) -> None:
    """One sentence for a bad value or a named file that is not there."""
    if data_plane not in ("kube-proxy", "ingress", "none"):
        raise InputError(f"--data-plane must be kube-proxy, ingress or none, not {data_plane!r}")
    if proxy_lag < 0:
        raise InputError(f"--proxy-lag must be ≥ 0 seconds, not {proxy_lag}")
    if pod_network not in ("loopback", "netns"):
        raise InputError(f"--pod-network must be loopback or netns, not {pod_network!r}")
    for option, path in files:
        if path is not None and not path.is_file():
            raise InputError(f"{option} {path}: no such file")
