"""`SandboxNode`: the sandbox's kubelet and data plane as the one node of any API server.

    with SandboxNode(kubeconfig=Path("admin.kubeconfig")) as node:
        ...  # the cluster's scheduler binds pods to node "sandbox"; they run here

What runs (`nonstop sandbox node`):

- the kubelet (`nonstop.sandbox.kubelet.Kubelet`) over `HttpNodeApi`: the same pod workers as in
  the embedded sandbox, talking to the API server only over HTTP(S) by the kubeconfig; container
  output is stamped line by line for `kubectl logs --timestamps`;
- the `NodeAgent`: the `Node` object, its status and its Lease in `kube-node-lease`;
- the kubelet API (`KubeletServer`, HTTPS on 127.0.0.1) for `kubectl logs`, when a client CA is
  known (`client_ca`, else the CA of the kubeconfig's cluster): the API server's kubelet-client
  certificate must be signed by it. Without one the API is not served (said in the log);
- the data plane (`python -m nonstop.sandbox.dataplane --kubeconfig …`, its own process), which
  follows the cluster's Services and EndpointSlices and forwards each ClusterIP. It may need
  other credentials than the kubelet (`data_plane_kubeconfig`): a node's identity
  (`system:node:<name>`) may not list EndpointSlices; kube-proxy's (`system:kube-proxy`) may.

Pods get their own address: 127.10.x on the host's loopback by default; with `pod_network=True`
(the node of the real control plane, whose EndpointSlices refuse loopback addresses) 198.18.x in
a network namespace of the node's own (`nonstop.sandbox.podnet`, root only). See docs/sandbox.md
"The sandbox as a node".

With the pod network, pods also reach the API server and Services as pods do:

- the `ApiRelay` (`nonstop.sandbox.apirelay`) serves the `default/kubernetes` Service's
  ClusterIP:443 inside the namespace, relayed to the API server; the kubelet gives every
  container `KUBERNETES_SERVICE_HOST/PORT`, its projected ServiceAccount volume, its emptyDir,
  configMap and secret volumes, and `image_bins`' commands (`nonstop.sandbox.kubelet.incluster`);
- a second data plane process runs *inside* the namespace (same mode and lag, talking to the API
  through that relay), so the ClusterIPs answer there too — one kube-proxy per network
  namespace, as each real node has one; the first stays on the host for clients there (a drill
  run from the host, Locust).
"""

from __future__ import annotations

import base64
import signal
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

import structlog
import yaml

from nonstop.errors import InputError
from nonstop.kube.connection import connect
from nonstop.sandbox.apirelay import ApiRelay
from nonstop.sandbox.kubelet import Kubelet
from nonstop.sandbox.kubelet.incluster import InCluster
from nonstop.sandbox.kubelet.node import NodeAgent
from nonstop.sandbox.kubelet.remote import HttpNodeApi
from nonstop.sandbox.kubelet.server import KubeletServer, self_signed_certificate
from nonstop.sandbox.podnet import PodNetwork, enter_netns

__all__ = ["SandboxNode", "cluster_ca"]


def cluster_ca(kubeconfig: Path, directory: Path) -> Path | None:
    """The CA of the kubeconfig's current cluster, as a file (written to `directory` when inline); None if none."""
    try:
        config = yaml.safe_load(kubeconfig.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(f"cannot read the kubeconfig {kubeconfig}: {exc}") from exc
    contexts = {c.get("name"): c.get("context") or {} for c in config.get("contexts") or []}
    context = contexts.get(config.get("current-context")) or {}
    clusters = {c.get("name"): c.get("cluster") or {} for c in config.get("clusters") or []}
    cluster = clusters.get(context.get("cluster")) or next(iter(clusters.values()), {})
    if cluster.get("certificate-authority-data"):
        path = directory / "cluster-ca.crt"
        path.write_bytes(base64.b64decode(cluster["certificate-authority-data"]))
        return path
    if cluster.get("certificate-authority"):
        path = Path(cluster["certificate-authority"])
        return path if path.is_absolute() else kubeconfig.parent / path
    return None


class SandboxNode:
    """Kubelet + node heartbeats + kubelet API + data plane, against the API server of `kubeconfig`."""

    def __init__(
        self,
        *,
        kubeconfig: Path,
        node_name: str = "sandbox",
        kubelet_port: int = 10250,
        client_ca: Path | None = None,
        tls_cert: Path | None = None,
        tls_key: Path | None = None,
        data_plane: str | None = "kube-proxy",
        data_plane_kubeconfig: Path | None = None,
        proxy_lag: float = 1.0,
        pod_network: bool = False,
        lease_every: float = 10.0,
        image_bins: dict[str, str] | None = None,
        log: structlog.typing.FilteringBoundLogger | None = None,
    ) -> None:
        if not kubeconfig.is_file():
            raise InputError(f"--kubeconfig {kubeconfig}: no such file")
        if (tls_cert is None) != (tls_key is None):
            raise InputError("--tls-cert-file and --tls-private-key-file go together")
        self.kubeconfig = kubeconfig
        self.node_name = node_name
        self.image_bins = dict(image_bins or {})
        self.log: Any = log or structlog.get_logger(component="node")
        self._tmp = tempfile.TemporaryDirectory(prefix="nonstop-node-")
        workdir = Path(self._tmp.name)
        self.connection = connect(kubeconfig=str(kubeconfig))
        self.api = HttpNodeApi(self.connection, node_name=node_name, log=self.log.bind(node_component="kubelet"))
        self.pod_network = PodNetwork() if pod_network else None
        self.kubelet = Kubelet(
            self.api,
            log=self.log.bind(node_component="kubelet"),
            pod_network=self.pod_network,
        )
        self.server: KubeletServer | None = None
        self._server_started = False
        self._stopped = False
        ca = client_ca or cluster_ca(kubeconfig, workdir)
        if ca is not None:
            cert, key = (
                (tls_cert, tls_key) if tls_cert and tls_key else self_signed_certificate(workdir, name=node_name)
            )
            try:
                self.server = KubeletServer(
                    locate=self.kubelet.container_log, cert=cert, key=key, client_ca=ca, port=kubelet_port
                )
            except OSError as exc:
                raise InputError(f"cannot serve the kubelet API on 127.0.0.1:{kubelet_port}: {exc}") from exc
        else:
            self.log.warning("kubelet API not served: no client CA (--client-ca-file) and none in the kubeconfig")
        self.agent = NodeAgent(
            self.api, kubelet_port=self.server.port if self.server else 0, log=self.log, lease_every=lease_every
        )
        self.data_plane = data_plane
        self.data_plane_kubeconfig = data_plane_kubeconfig or kubeconfig
        self.proxy_lag = proxy_lag
        self._dataplane: subprocess.Popen[bytes] | None = None
        self._pod_dataplane: subprocess.Popen[bytes] | None = None
        self.relay: ApiRelay | None = None

    def start(self) -> Self:
        """Start everything (the pod network first); a failure stops what was started and raises."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        if self.pod_network is not None:
            self.pod_network.start()
            self.log.info(
                "pod network ready",
                netns=self.pod_network.netns,
                pod_cidr=str(self.pod_network.pod_cidr),
                host_address=self.pod_network.host_address,
            )
            self._start_relay(self.pod_network)
        if self.server is not None:
            self.server.start()
            self._server_started = True
        self.kubelet.start()
        self.agent.start()
        if self.data_plane is not None:
            from nonstop.sandbox.dataplane import MODES, dataplane_command

            mode = next((m for m in MODES if m == self.data_plane), None)
            if mode is None:
                raise InputError(f"--data-plane must be one of {', '.join(MODES)}, not {self.data_plane!r}")
            argv = dataplane_command(kubeconfig=str(self.data_plane_kubeconfig), mode=mode, proxy_lag=self.proxy_lag)
            self._dataplane = subprocess.Popen(argv)
            if self.relay is not None and self.pod_network is not None:
                fd = self.pod_network.netns_fd
                assert fd is not None
                inside = self._relayed_kubeconfig(self.data_plane_kubeconfig, self.relay.listen)
                argv_in = [*argv[:4], str(inside), *argv[5:]]
                self._pod_dataplane = subprocess.Popen(
                    argv_in,
                    preexec_fn=lambda: enter_netns(fd),  # noqa: PLW1509 - only setns before exec
                )
        self.log.info(
            "node started",
            node=self.node_name,
            server=self.connection.host,
            kubelet_port=self.server.port if self.server else None,
            data_plane=self.data_plane,
        )

    def _start_relay(self, network: PodNetwork) -> None:
        """The `kubernetes` Service's ClusterIP in the namespace → the API server; the kubelet's in-cluster env."""
        service = self.api.request(
            "GET", "/api/v1/namespaces/default/services/kubernetes", what="read the kubernetes Service"
        )
        cluster_ip = str((service.get("spec") or {}).get("clusterIP") or "")
        port = int(((service.get("spec") or {}).get("ports") or [{}])[0].get("port") or 443)
        upstream = urlsplit(self.connection.host)
        assert network.netns_fd is not None
        self.relay = ApiRelay(
            netns_fd=network.netns_fd,
            listen=(cluster_ip, port),
            upstream=(upstream.hostname or "127.0.0.1", upstream.port or 443),
            log=self.log.bind(node_component="api-relay"),
        ).start()
        self.kubelet.in_cluster = InCluster(
            service_host=cluster_ip, service_port=port, request=self.api.request, image_bins=self.image_bins
        )

    def _relayed_kubeconfig(self, kubeconfig: Path, address: tuple[str, int]) -> Path:
        """A copy of `kubeconfig` whose clusters' server is the relay (for a process inside the namespace)."""
        config = yaml.safe_load(kubeconfig.read_text()) or {}
        for cluster in config.get("clusters") or []:
            (cluster.get("cluster") or {})["server"] = f"https://{address[0]}:{address[1]}"
        path = Path(self._tmp.name) / f"podnet-{kubeconfig.name}"
        path.write_text(yaml.safe_dump(config))
        path.chmod(0o600)
        return path

    def stop(self) -> None:
        """Stop the data planes, heartbeats, pods (SIGKILL), kubelet API, relay, then the pod network (once)."""
        if self._stopped:
            return
        self._stopped = True
        for process in (self._dataplane, self._pod_dataplane):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=5)
        self._dataplane = self._pod_dataplane = None
        self.agent.stop()
        self.kubelet.stop()
        if self.server is not None and self._server_started:
            self.server.stop()
            self._server_started = False
        if self.relay is not None:
            self.relay.stop()
            self.relay = None
        if self.pod_network is not None:
            self.pod_network.stop()  # after the pods: nothing dials 198.18.x any more
        self.connection.close()
        self._tmp.cleanup()
        self.log.info("node stopped", node=self.node_name)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
