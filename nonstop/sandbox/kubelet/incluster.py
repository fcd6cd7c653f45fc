"""A pod's way to its API server, as a real kubelet gives it: the `kubernetes` Service env and SA volume.

Only on the node of the real control plane (`SandboxNode` with a pod network, root), where
`InCluster` is set up:

- **Env**: every container gets `KUBERNETES_SERVICE_HOST` (the `kubernetes` Service's ClusterIP),
  `KUBERNETES_SERVICE_PORT` (443) and the rest of that Service's docker-link variables, as
  the kubelet writes them for the `default/kubernetes` Service. Inside the pod network
  namespace that address is served by the node's `ApiRelay` (`nonstop.sandbox.apirelay`).
- **Projected volumes**: the ServiceAccount admission plugin adds to every pod (unless
  `automountServiceAccountToken: false`) a `projected` volume `kube-api-access-…` with a
  `serviceAccountToken`, the `kube-root-ca.crt` ConfigMap's `ca.crt` and the downward API's
  namespace, mounted at /var/run/secrets/kubernetes.io/serviceaccount. The kubelet writes each
  projected volume of a pod into `<pod dir>/volumes/<name>/` — the token from the TokenRequest
  API (`serviceaccounts/<sa>/token`, bound to the pod, as the node's own identity may ask for a
  pod bound to it), ConfigMaps and Secrets by their items, downward API fields — and each
  container sees it at its `mountPath` through a bind mount in a mount namespace of its own
  (`Spawner.spawn(mounts=…)`): the standard path, per pod, so any in-cluster client (the
  official `kubernetes` client's `load_incluster_config`) finds token, ca.crt and namespace.
- **/tmp/nonstop**: in that mount namespace each pod also gets its own /tmp/nonstop (`<pod dir>/tmp`,
  mode 1777), the work directory of every step `nonstop workflows render` writes: two analysis pods
  writing /tmp/nonstop/… never meet. Not the whole /tmp, which may hold the installation itself.

- **Volumes**, each in `<pod dir>/volumes/<name>/`, bound at every `mountPath` that names it (a
  `subPath` of an emptyDir is a folder in it): `emptyDir` (one empty folder per pod, mode 1777,
  shared by all its containers and kept across their restarts, gone with the pod; `medium` and
  `sizeLimit` are not enforced), `configMap`, `secret`, `downwardAPI` and `projected` (written
  once, as above). Any other type (hostPath, persistentVolumeClaim, …) is refused: the container
  waits in `CreateContainerConfigError` with a `Failed` event naming the volume, where a real
  kubelet would wait in `ContainerCreating` with `FailedMount`.
- **Images that are commands**: `image_bins` maps an image repository to a folder put first on the
  container's `PATH` (`--with argo-workflows`: `quay.io/argoproj/argoexec` → the folder of the built
  `argoexec`, so the `init` and `wait` containers' `argoexec …` runs it, and `argoexec init` finds
  itself there to copy into the pod's `/var/run/argo` emptyDir).

Not done: the token is written once per container start and not refreshed (a real kubelet renews
it at 80 % of its life; the default life is one hour, longer than any drill).
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nonstop.sandbox.apierrors import ApiError
from nonstop.sandbox.kubelet.runconfig import ContainerConfigError, image_repository
from nonstop.sandbox.store import Obj

POD_WORK_DIR = Path("/tmp/nonstop")  # noqa: S108 - a path inside each pod's own mount namespace
"""Where each pod sees a folder of its own (workflows' WORK_DIR: every rendered step writes there)."""

__all__ = ["POD_WORK_DIR", "InCluster", "Mount"]

Request = Callable[..., Obj]
"""`HttpNodeApi.request`: (method, path, *, what, body=…) → the answer's JSON."""


@dataclass(frozen=True)
class Mount:
    """A host folder a container sees at `target` (a bind mount in its own mount namespace)."""

    source: str
    target: str
    read_only: bool = True


@dataclass(frozen=True)
class InCluster:
    """The `kubernetes` Service's address and the node's API access for TokenRequests and ConfigMaps."""

    service_host: str
    service_port: int
    request: Request
    image_bins: Mapping[str, str] = field(default_factory=dict)
    """Image repository → a folder put first on the container's PATH (the image is that folder's commands)."""

    def image_env(self, image: str, env: dict[str, str]) -> dict[str, str]:
        """`env` with the image's folder first on PATH, when `image_bins` knows the image."""
        folder = self.image_bins.get(image_repository(image))
        if folder is None:
            return env
        return {**env, "PATH": os.pathsep.join([folder, *filter(None, [env.get("PATH")])])}

    def env(self) -> dict[str, str]:
        """The `default/kubernetes` Service's variables, as the kubelet sets them in every container."""
        host, port = self.service_host, self.service_port
        url = f"tcp://{host}:{port}"
        return {
            "KUBERNETES_SERVICE_HOST": host,
            "KUBERNETES_SERVICE_PORT": str(port),
            "KUBERNETES_SERVICE_PORT_HTTPS": str(port),
            "KUBERNETES_PORT": url,
            f"KUBERNETES_PORT_{port}_TCP": url,
            f"KUBERNETES_PORT_{port}_TCP_PROTO": "tcp",
            f"KUBERNETES_PORT_{port}_TCP_PORT": str(port),
            f"KUBERNETES_PORT_{port}_TCP_ADDR": host,
        }

    def mounts(self, pod: Obj, container: Obj, pod_dir: Path) -> list[Mount]:
        """Write the container's projected volumes under `pod_dir`; the bind mounts that show them.

        ContainerConfigError when a source cannot be read (the container waits, as with a missing
        ConfigMap in its env).
        """
        volumes = {str(v.get("name")): v for v in (pod.get("spec") or {}).get("volumes") or []}
        out: list[Mount] = []
        for mount in container.get("volumeMounts") or []:
            volume = volumes.get(str(mount.get("name")))
            target = str(mount.get("mountPath") or "")
            if volume is None or not target.startswith("/"):
                continue  # the API server validates both; nothing to bind
            folder = pod_dir / "volumes" / str(volume["name"])
            sub_path = str(mount.get("subPath") or "")
            if "emptyDir" in volume:
                source = folder / sub_path if sub_path else folder
                if not source.is_dir():
                    source.mkdir(parents=True, exist_ok=True)
                    source.chmod(0o1777)
                out.append(Mount(str(source), target, read_only=bool(mount.get("readOnly"))))
                continue
            projected = _as_projected(volume)
            if not folder.is_dir():
                self._project(pod, projected, folder)
            if not sub_path:
                out.append(Mount(str(folder), target, read_only=mount.get("readOnly", True) is not False))
        # Last, as its source may lie under /tmp itself: the pod's own /tmp/nonstop (the work directory
        # every step we render writes), as a container has its own filesystem. Not all of /tmp: this
        # very installation may live there (a checkout under /tmp), and the pod must still see it.
        tmp = pod_dir / "tmp"
        if not tmp.is_dir():
            tmp.mkdir(parents=True, exist_ok=True)
            tmp.chmod(0o1777)
        POD_WORK_DIR.mkdir(exist_ok=True)  # the mount point on the host: stays empty there
        out.append(Mount(str(tmp), str(POD_WORK_DIR), read_only=False))
        return out

    def _project(self, pod: Obj, projected: Obj, folder: Path) -> None:
        files: dict[str, bytes] = {}
        meta = pod["metadata"]
        namespace = str(meta.get("namespace") or "default")
        for source in projected.get("sources") or []:
            if "serviceAccountToken" in source:
                spec = source["serviceAccountToken"] or {}
                files[str(spec.get("path") or "token")] = self._token(pod, spec).encode()
            for key, secret in (("configMap", False), ("secret", True)):
                if key in source:
                    files.update(self._items(namespace, source[key] or {}, secret=secret))
            if "downwardAPI" in source:
                for item in (source["downwardAPI"] or {}).get("items") or []:
                    path = str((item.get("fieldRef") or {}).get("fieldPath") or "")
                    files[str(item["path"])] = _field(pod, path).encode()
        tmp = folder.with_name(f".{folder.name}.tmp")
        tmp.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            target = tmp / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            target.chmod(0o644)
        tmp.rename(folder)

    def _token(self, pod: Obj, spec: Obj) -> str:
        meta = pod["metadata"]
        namespace = str(meta.get("namespace") or "default")
        account = str((pod.get("spec") or {}).get("serviceAccountName") or "default")
        body: dict[str, Any] = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {
                "audiences": [spec["audience"]] if spec.get("audience") else [],
                "expirationSeconds": int(spec.get("expirationSeconds") or 3607),
                "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": meta["name"], "uid": meta["uid"]},
            },
        }
        try:
            answer = self.request(
                "POST",
                f"/api/v1/namespaces/{namespace}/serviceaccounts/{account}/token",
                what=f"request a token for serviceaccount {namespace}/{account}",
                body=body,
            )
        except ApiError as exc:
            raise ContainerConfigError(f'cannot get a token for serviceaccount "{account}": {exc.message}') from exc
        token = str((answer.get("status") or {}).get("token") or "")
        if not token:
            raise ContainerConfigError(f'the TokenRequest for serviceaccount "{account}" returned no token')
        return token

    def _items(self, namespace: str, ref: Obj, *, secret: bool) -> dict[str, bytes]:
        name = str(ref.get("name") or "")
        kind = "secrets" if secret else "configmaps"
        try:
            obj = self.request("GET", f"/api/v1/namespaces/{namespace}/{kind}/{name}", what=f"read {kind[:-1]} {name}")
        except ApiError as exc:
            if exc.code == 404 and ref.get("optional"):
                return {}
            raise ContainerConfigError(f'cannot read {kind[:-1]} "{name}": {exc.message}') from exc
        data: dict[str, bytes] = {}
        for key, value in (obj.get("data") or {}).items():
            if secret:
                try:
                    data[key] = base64.b64decode(str(value), validate=True)
                except (binascii.Error, ValueError):
                    data[key] = str(value).encode()
            else:
                data[key] = str(value).encode()
        items = ref.get("items")
        if not items:
            return data
        out: dict[str, bytes] = {}
        for item in items:
            key = str(item.get("key"))
            if key not in data:
                if ref.get("optional"):
                    continue
                raise ContainerConfigError(f'{kind[:-1]} "{name}" has no key {key}')
            out[str(item.get("path") or key)] = data[key]
        return out


def _as_projected(volume: Obj) -> Obj:
    """A configMap, secret, downwardAPI or projected volume as the sources of one projected volume."""
    if "projected" in volume:
        return dict(volume["projected"] or {})
    if "configMap" in volume:
        return {"sources": [{"configMap": volume["configMap"] or {}}]}
    if "secret" in volume:
        secret = dict(volume["secret"] or {})
        return {"sources": [{"secret": {**secret, "name": secret.get("secretName") or ""}}]}
    if "downwardAPI" in volume:
        return {"sources": [{"downwardAPI": volume["downwardAPI"] or {}}]}
    kind = next((key for key in volume if key != "name"), "an unknown")
    raise ContainerConfigError(
        f'volume "{volume.get("name")}": {kind} volumes are not supported by the sandbox node '
        "(emptyDir, configMap, secret, downwardAPI and projected are)"
    )


def _field(pod: Obj, path: str) -> str:
    meta = pod["metadata"]
    values = {
        "metadata.name": meta.get("name"),
        "metadata.namespace": meta.get("namespace") or "default",
        "metadata.uid": meta.get("uid"),
        "spec.serviceAccountName": (pod.get("spec") or {}).get("serviceAccountName") or "default",
        "spec.nodeName": (pod.get("spec") or {}).get("nodeName"),
    }
    if path not in values:
        raise ContainerConfigError(f'unsupported downwardAPI fieldPath "{path}" in a projected volume')
    return str(values[path] or "")


def ensure_mount_points(mounts: list[Mount]) -> None:
    """Create each target folder on the host (an empty folder; the bind mount happens in the child's namespace).

    A target under an earlier mount's target (Argo's `wait` container has an emptyDir at /tmp, then
    /tmp/nonstop) is seen inside that mount: its folder is made in the earlier mount's source too.
    """
    for index, mount in enumerate(mounts):
        Path(mount.target).mkdir(parents=True, exist_ok=True)
        for earlier in mounts[:index]:
            inside = os.path.relpath(mount.target, earlier.target)
            if not inside.startswith(".."):
                Path(earlier.source, inside).mkdir(parents=True, exist_ok=True)
