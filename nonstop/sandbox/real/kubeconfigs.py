"""Kubeconfig files for the real control plane: a server URL, the CA, and one client certificate.

The files embed the PEM data (`*-data` fields), so a kubeconfig stays usable when copied away
from the work directory, and are written atomically (temp file + rename): for the admin
kubeconfig, its existence means "ready to use".
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

import yaml

from nonstop.sandbox.real.pki import CertPair

__all__ = ["kubeconfig_text", "write_kubeconfig"]


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode("ascii")


def kubeconfig_text(*, server: str, ca_cert: Path, client: CertPair, user: str, context: str = "nonstop-real") -> str:
    """A one-cluster, one-user kubeconfig as YAML text."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": context, "cluster": {"server": server, "certificate-authority-data": _b64(ca_cert)}}],
        "users": [
            {
                "name": user,
                "user": {"client-certificate-data": _b64(client.cert), "client-key-data": _b64(client.key)},
            }
        ],
        "contexts": [{"name": context, "context": {"cluster": context, "user": user, "namespace": "default"}}],
        "current-context": context,
        "preferences": {},
    }
    return yaml.safe_dump(config, sort_keys=False)


def write_kubeconfig(
    path: Path, *, server: str, ca_cert: Path, client: CertPair, user: str, context: str = "nonstop-real"
) -> Path:
    """Write a kubeconfig atomically (mode 0600); returns `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.touch(mode=0o600)
    tmp.write_text(kubeconfig_text(server=server, ca_cert=ca_cert, client=client, user=user, context=context))
    tmp.replace(path)
    return path
