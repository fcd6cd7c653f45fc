"""What a container runs: its argv and environment, resolved as the kubelet does.

- `env`/`envFrom` with ConfigMaps and Secrets (envFrom first, then env; later wins), `$(VAR)`
  expansion in env values, command and args (`$$` escapes, unknown references stay as written),
  the downward API basics through `fieldRef`.
- The sandbox adds `POD_IP`, `POD_NAME` and `HOSTNAME` (the pod's name); the pod's own env wins.
- `image: nonstop/sample-app:<tag>` runs `python -m nonstop.sandbox.sample_app` with `VERSION`
  defaulting to the tag; an image whose last path element is `nonstop` (`ghcr.io/nonstop-dev/
  nonstop:<tag>`, what `nonstop workflows render` writes) runs its `command` (default: `nonstop`
  with `args`) with the installed `nonstop` first on `PATH` (the folder of this interpreter's
  console scripts); an explicit `command` (or `args`) of any other image runs locally;
  `python`/`python3` as the first word means this interpreter. Any other image cannot be pulled.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import sys
from typing import Any, Protocol

from nonstop.sandbox.apierrors import ApiError
from nonstop.sandbox.kinds import Kind, by_resource
from nonstop.sandbox.store import Obj

__all__ = [
    "SAMPLE_APP_IMAGE",
    "ContainerConfigError",
    "Finder",
    "ImageNotRunnable",
    "container_argv",
    "container_env",
    "expand",
    "image_repository",
]

SAMPLE_APP_IMAGE = "nonstop/sample-app"
_CONFIGMAPS = by_resource("", "v1", "configmaps")
_SECRETS = by_resource("", "v1", "secrets")
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_INHERITED = ("PATH", "LANG", "LC_ALL", "TZ", "PYTHONPATH", "VIRTUAL_ENV", "TMPDIR", "HOME")


class ContainerConfigError(Exception):
    """The container's env cannot be built (waiting reason `CreateContainerConfigError`)."""


class ImageNotRunnable(Exception):
    """The sandbox cannot run this image (waiting reason `ErrImagePull`)."""


def _image_repo_and_tag(image: str) -> tuple[str, str]:
    name, _, _digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        repo, tag = name.rsplit(":", 1)
    else:
        repo, tag = name, "latest"
    for prefix in ("docker.io/", "index.docker.io/"):
        repo = repo.removeprefix(prefix)
    return repo, tag


def image_repository(image: str) -> str:
    """The image's repository without tag or digest (`docker.io/` dropped): `quay.io/argoproj/argoexec`."""
    return _image_repo_and_tag(image)[0]


def is_nonstop_image(image: str) -> bool:
    """Whether `image`'s last path element is `nonstop` (any registry, any tag): the nonstop CLI's image."""
    return _image_repo_and_tag(image)[0].rsplit("/", 1)[-1] == "nonstop"


def scripts_dir() -> str:
    """Where the installed `nonstop` console script is: beside this interpreter (a venv's bin/)."""
    return os.path.dirname(sys.executable)


def is_sample_app(image: str) -> bool:
    """Whether `image` names the sample app (any tag, with or without a docker.io prefix)."""
    return _image_repo_and_tag(image)[0] == SAMPLE_APP_IMAGE


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' `$(VAR)` expansion: `$$` is a literal `$`, an unknown `$(X)` stays as written."""
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch != "$" or i + 1 >= len(text):
            out.append(ch)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "$":
            out.append("$")
            i += 2
        elif nxt == "(":
            end = text.find(")", i + 2)
            if end == -1:
                out.append(text[i:])
                break
            name = text[i + 2 : end]
            out.append(env[name] if name in env else text[i : end + 1])
            i = end + 1
        else:
            out.append("$" + nxt)
            i += 2
    return "".join(out)


def container_argv(container: Obj, env: dict[str, str]) -> list[str]:
    """The argv to run; ImageNotRunnable when the image is neither the sample app nor given a command."""
    command = [str(x) for x in container.get("command") or []]
    args = [str(x) for x in container.get("args") or []]
    if command:
        argv = command + args
    elif is_sample_app(str(container.get("image", ""))):
        argv = ["python", "-m", "nonstop.sandbox.sample_app", *args]
    elif is_nonstop_image(str(container.get("image", ""))):
        argv = [os.path.join(scripts_dir(), "nonstop"), *args]  # the image's entrypoint
    elif args:
        argv = args
    else:
        raise ImageNotRunnable(
            "the sandbox runs only nonstop/sample-app:<tag> and …/nonstop:<tag> images, "
            "or containers with an explicit command"
        )
    argv = [expand(part, env) for part in argv]
    if argv[0] in ("python", "python3"):
        argv[0] = sys.executable
    return argv


class Finder(Protocol):
    """Where a container's ConfigMaps and Secrets are read (the store, or an API server)."""

    def find(self, kind: Kind, namespace: str | None, name: str) -> Obj | None: ...


def _source(store: Finder, kind: Kind | None, what: str, namespace: str, name: str, optional: bool) -> Obj | None:
    assert kind is not None
    try:
        obj = store.find(kind, namespace, name)
    except ApiError as exc:  # the API server could not answer: tried again like a missing object
        raise ContainerConfigError(f'cannot read {what} "{name}": {exc.message}') from exc
    if obj is None and not optional:
        raise ContainerConfigError(f'{what} "{name}" not found')
    return obj


def _data(obj: Obj, secret: bool) -> dict[str, str]:
    data: dict[str, str] = {}
    for key, value in (obj.get("data") or {}).items():
        if secret:
            try:
                data[key] = base64.b64decode(str(value), validate=True).decode(errors="replace")
            except (binascii.Error, ValueError):
                data[key] = str(value)
        else:
            data[key] = str(value)
    if secret:
        data.update({k: str(v) for k, v in (obj.get("stringData") or {}).items()})
    return data


def _field_ref(pod: Obj, path: str, pod_ip: str, host_ip: str) -> str:
    meta = pod.get("metadata", {})
    simple: dict[str, Any] = {
        "metadata.name": meta.get("name"),
        "metadata.namespace": meta.get("namespace"),
        "metadata.uid": meta.get("uid"),
        "spec.nodeName": pod.get("spec", {}).get("nodeName"),
        "spec.serviceAccountName": pod.get("spec", {}).get("serviceAccountName", "default"),
        "status.podIP": pod_ip,
        "status.podIPs": pod_ip,
        "status.hostIP": host_ip,
        "status.hostIPs": host_ip,
    }
    if path in simple:
        return str(simple[path] or "")
    match = re.fullmatch(r"metadata\.(labels|annotations)\['([^']+)'\]", path)
    if match:
        return str((meta.get(match.group(1)) or {}).get(match.group(2), ""))
    raise ContainerConfigError(f'unsupported fieldRef fieldPath "{path}"')


def container_env(store: Finder, pod: Obj, container: Obj, *, pod_ip: str, host_ip: str) -> dict[str, str]:  # noqa: C901, PLR0912 — one branch per env source Kubernetes knows (value, fieldRef, resourceFieldRef, keys, envFrom)
    """The process environment of `container`; ContainerConfigError for a missing ConfigMap/Secret/key."""
    namespace = pod["metadata"].get("namespace") or "default"
    env: dict[str, str] = {"POD_IP": pod_ip, "POD_NAME": pod["metadata"]["name"], "HOSTNAME": pod["metadata"]["name"]}
    if is_sample_app(str(container.get("image", ""))):
        env["VERSION"] = _image_repo_and_tag(str(container["image"]))[1]
    for source in container.get("envFrom") or []:
        prefix = str(source.get("prefix") or "")
        for ref_key, kind, what, secret in (
            ("configMapRef", _CONFIGMAPS, "configmap", False),
            ("secretRef", _SECRETS, "secret", True),
        ):
            ref = source.get(ref_key)
            if not ref:
                continue
            obj = _source(store, kind, what, namespace, ref.get("name", ""), bool(ref.get("optional")))
            if obj is not None:
                for key, value in _data(obj, secret).items():
                    if _ENV_NAME.match(prefix + key):
                        env[prefix + key] = value
    for var in container.get("env") or []:
        name = str(var["name"])
        if "value" in var or "valueFrom" not in var:
            env[name] = expand(str(var.get("value") or ""), env)
            continue
        value_from = var["valueFrom"] or {}
        if "fieldRef" in value_from:
            env[name] = _field_ref(pod, str(value_from["fieldRef"].get("fieldPath", "")), pod_ip, host_ip)
            continue
        if "resourceFieldRef" in value_from:
            env[name] = "0"
            continue
        for ref_key, kind, what, secret in (
            ("configMapKeyRef", _CONFIGMAPS, "configmap", False),
            ("secretKeyRef", _SECRETS, "secret", True),
        ):
            ref = value_from.get(ref_key)
            if not ref:
                continue
            optional = bool(ref.get("optional"))
            obj = _source(store, kind, what, namespace, ref.get("name", ""), optional)
            if obj is None:
                break
            data = _data(obj, secret)
            key = str(ref.get("key", ""))
            if key in data:
                env[name] = data[key]
            elif not optional:
                label = "ConfigMap" if not secret else "Secret"
                raise ContainerConfigError(f"couldn't find key {key} in {label} {namespace}/{ref.get('name')}")
            break
    base = {k: v for k, v in os.environ.items() if k in _INHERITED}
    base.setdefault("PYTHONUNBUFFERED", "1")
    if is_nonstop_image(str(container.get("image", ""))):
        base["PATH"] = os.pathsep.join([scripts_dir(), *filter(None, [base.get("PATH")])])
    return {**base, **env}
