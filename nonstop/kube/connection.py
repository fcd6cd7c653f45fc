"""Connecting to a cluster: kubeconfig (file and context) or in-cluster config, and its namespace."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from kubernetes import client, config
from kubernetes.config.config_exception import ConfigException

from nonstop import __version__
from nonstop.errors import InputError

__all__ = ["Connection", "connect"]

IN_CLUSTER_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


@dataclass(frozen=True)
class Connection:
    """An API client and the namespace the kubeconfig context (or the pod) defaults to."""

    api: client.ApiClient
    namespace: str
    host: str

    def close(self) -> None:
        self.api.close()


def connect(*, kubeconfig: str | None = None, context: str | None = None) -> Connection:
    """Load credentials: `kubeconfig`/`context` when given, else $KUBECONFIG/~/.kube/config, else in-cluster."""
    cfg = client.Configuration()
    namespace = "default"
    explicit = kubeconfig or os.environ.get("KUBECONFIG")
    default_file = Path.home() / ".kube" / "config"
    if explicit or default_file.exists() or context:
        path = kubeconfig or explicit or str(default_file)
        if not Path(path.split(os.pathsep)[0]).exists():
            raise InputError(f"{path}: no such kubeconfig file")
        try:
            contexts, active = config.list_kube_config_contexts(config_file=path)
        except ConfigException as exc:
            raise InputError(f"{path}: cannot use this kubeconfig ({exc})") from exc
        chosen = next((c for c in contexts if c["name"] == context), None) if context else active
        if context and chosen is None:
            raise InputError(f"{path}: context {context!r} does not exist (--context)")
        try:
            config.load_kube_config(config_file=path, context=context, client_configuration=cfg)
        except ConfigException as exc:
            raise InputError(f"{path}: cannot use this kubeconfig ({exc})") from exc
        namespace = (chosen or {}).get("context", {}).get("namespace") or "default"
    else:
        try:
            config.load_incluster_config(client_configuration=cfg)
        except ConfigException as exc:
            raise InputError(
                "no kubeconfig found ($KUBECONFIG, ~/.kube/config) and not running in a pod; "
                "pass --kubeconfig or use --sandbox"
            ) from exc
        if IN_CLUSTER_NAMESPACE.exists():
            namespace = IN_CLUSTER_NAMESPACE.read_text().strip() or "default"
    cfg.connection_pool_maxsize = 32  # one connection per watch, plus calls and probes
    cfg.retries = False  # nonstop.kube.calls retries, with backoff and errors that name the object
    api = client.ApiClient(cfg)
    api.user_agent = f"nonstop/{__version__}"  # audit logs (and the sandbox's request log) name the drill
    return Connection(api=api, namespace=namespace, host=str(cfg.host))
