"""Every bad input in `corpus/`: exit 2, one sentence naming the culprit, no traceback, nothing written.

A corpus file is the drill file itself (written to a temporary folder, `$namespace`, `$dir`,
`$file` and `$kubeconfig` substituted), led by comment lines that say what is wrong with it::

    # <why it is bad>
    # culprit: <text the error sentence must contain>     (one or more)
    # argv: drill -f $file --kubeconfig $kubeconfig       (the default)
    # deny: <verb> <resource>                             (SelfSubjectAccessReview says no)
    # world: sandbox | tokens | nowhere                   (default sandbox)
    # token: <token>                                      (world tokens: expired → 401, viewer → 403)

`sandbox`: the shared sandbox, in a namespace holding the `after` example (Deployment and Service
web) and `objects.yaml`. `tokens`: an API server of its own that checks bearer tokens. `nowhere`:
a kubeconfig whose server is a loopback port nothing listens on. Whatever the world, no request
the drill sent may write, and no object's resourceVersion may change.
"""

from __future__ import annotations

import json
import socket
import string
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.drill.drill_helpers import WRITE_VERBS, apply, manifest

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]

HERE = Path(__file__).parent
CORPUS = sorted((HERE / "corpus").glob("*.yaml"))
DEFAULT_ARGV = "drill -f $file --kubeconfig $kubeconfig"
NAMESPACED = [
    ("", "v1", "pods"),
    ("", "v1", "services"),
    ("", "v1", "configmaps"),
    ("apps", "v1", "deployments"),
    ("apps", "v1", "replicasets"),
    ("discovery.k8s.io", "v1", "endpointslices"),
    ("policy", "v1", "poddisruptionbudgets"),
    ("coordination.k8s.io", "v1", "leases"),
]
"""Every kind a drill could change (events are left out: the kubelet writes them on its own)."""


@dataclass
class Case:
    name: str
    why: str
    culprits: list[str]
    argv: str
    deny: list[tuple[str, str]]
    world: str
    token: str | None
    text: str


def writes(log: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every request that changes state, the drill's own Lease included (SelfSubjectAccessReviews only ask)."""
    return [e for e in log if e.get("verb") in WRITE_VERBS and e.get("resource") != "selfsubjectaccessreviews"]


def load_case(path: Path) -> Case:
    header: dict[str, list[str]] = {}
    why = ""
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        key, sep, value = line[1:].strip().partition(": ")
        if sep and key in {"culprit", "argv", "deny", "world", "token"}:
            header.setdefault(key, []).append(value.strip())
        elif not why:
            why = line[1:].strip()
    assert why, f"{path.name}: a corpus file says why it is bad"
    assert header.get("culprit"), f"{path.name}: a corpus file names its culprit"
    return Case(
        name=path.stem,
        why=why,
        culprits=header["culprit"],
        argv=header.get("argv", [DEFAULT_ARGV])[0],
        deny=[(d.split()[0], d.split()[1]) for d in header.get("deny", [])],
        world=header.get("world", ["sandbox"])[0],
        token=header.get("token", [None])[0],
        text=path.read_text(),
    )


class World:
    """Where a case runs: a kubeconfig for the drill, an admin client, the request log, the access rules."""

    def __init__(self, kubeconfig: str, namespace: str, admin: tuple[str, str | None], log: Any) -> None:
        self.kubeconfig = kubeconfig
        self.namespace = namespace
        self.admin = admin
        self._log = log

    def requests(self, since: int) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self._log.requests(since)
        return items

    def mark(self) -> int:
        mark: int = self._log.mark()
        return mark

    def resource_versions(self, namespaces: list[str]) -> dict[str, str]:
        """resource/namespace/name → resourceVersion of every object a drill could change, namespaces included."""
        found: dict[str, str] = {}
        api = self.admin
        for namespace in namespaces:
            for group, version, resource in NAMESPACED:
                prefix = f"/apis/{group}/{version}" if group else f"/api/{version}"
                for item in _get(api, f"{prefix}/namespaces/{namespace}/{resource}").get("items") or []:
                    meta = item["metadata"]
                    found[f"{resource}/{namespace}/{meta['name']}"] = meta["resourceVersion"]
        for item in _get(api, "/api/v1/namespaces")["items"]:
            found[f"namespaces/{item['metadata']['name']}"] = item["metadata"]["resourceVersion"]
        return found


def _get(api: tuple[str, str | None], path: str) -> dict[str, Any]:
    url, token = api
    req = urllib.request.Request(url + path)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=30) as resp:
        data: dict[str, Any] = json.loads(resp.read())
    return data


class _TokenLog:
    def __init__(self, cluster: Any) -> None:
        self._cluster = cluster

    def requests(self, since: int) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self._cluster.api.requests.since(since)
        return items

    def mark(self) -> int:
        mark: int = self._cluster.api.requests.mark()
        return mark


class _SandboxLog:
    def __init__(self, sandbox: Any) -> None:
        self._sandbox = sandbox

    def requests(self, since: int) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self._sandbox.requests(since=since)
        return items

    def mark(self) -> int:
        mark: int = self._sandbox.mark()
        return mark


@pytest.fixture(scope="module")
def sandbox_world(sandbox: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The shared sandbox, one namespace for the whole corpus: web (the `after` example) and objects.yaml."""
    name = f"badinput-{uuid.uuid4().hex[:6]}"
    sandbox.create_namespace(name)
    try:
        docs = manifest("after") + [d for d in yaml.safe_load_all((HERE / "objects.yaml").read_text()) if d]
        apply(sandbox, name, docs, tmp_path_factory.mktemp("badinput-objects"))
        yield World(sandbox.kubeconfig, name, (sandbox.url, None), _SandboxLog(sandbox))
    finally:
        sandbox.allow_all()
        sandbox.delete_namespace(name)


@pytest.fixture(scope="module")
def token_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, World]]:
    """An API server of its own that checks tokens (admin 200, expired 401, viewer 403), web applied in default."""
    from nonstop.bundled import config_file
    from nonstop.sandbox.cluster import Cluster, kubeconfig_text, load_manifests

    folder = tmp_path_factory.mktemp("tokens")
    with Cluster(components=(), tokens={"admin": 200, "expired": 401, "viewer": 403}) as cluster:
        cluster.apply(load_manifests([config_file("examples/after.yaml")]))
        admin = folder / "admin"
        admin.write_text(kubeconfig_text(cluster.url, token="admin"))
        yield cluster, World(str(admin), "default", (cluster.url, "admin"), _TokenLog(cluster))


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # closed again: connecting to it is refused


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_bad_input_exits_2_naming_the_culprit_and_writes_nothing(
    path: Path, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """One corpus file: exit 2, a last stderr line `error: <one sentence naming the culprit>`, no write."""
    case = load_case(path)
    world: World = request.getfixturevalue("sandbox_world")
    kubeconfig = world.kubeconfig
    if case.world == "tokens":
        from nonstop.sandbox.cluster import kubeconfig_text

        cluster, world = request.getfixturevalue("token_world")
        kubeconfig = str(tmp_path / "kubeconfig")
        Path(kubeconfig).write_text(kubeconfig_text(cluster.url, token=case.token))
    elif case.world == "nowhere":
        from nonstop.sandbox.cluster import kubeconfig_text

        kubeconfig = str(tmp_path / "kubeconfig")
        Path(kubeconfig).write_text(kubeconfig_text(f"http://127.0.0.1:{_closed_port()}"))
    drill_file = tmp_path / "drill.yaml"
    values = {"namespace": world.namespace, "dir": str(tmp_path), "file": str(drill_file), "kubeconfig": kubeconfig}
    drill_file.write_text(string.Template(case.text).safe_substitute(values))
    argv = string.Template(case.argv).safe_substitute(values).split()
    culprits = [string.Template(c).safe_substitute(values) for c in case.culprits]
    namespaces = sorted({world.namespace, "kube-system", "default"})
    before = world.resource_versions(namespaces)
    mark = world.mark()
    for verb, resource in case.deny:
        request.getfixturevalue("sandbox").deny(verb, resource)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "nonstop", "--log-format", "json", *argv],
            capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path,
        )  # fmt: skip
    finally:
        if case.deny:
            request.getfixturevalue("sandbox").allow_all()
    assert done.returncode == 2, f"{case.why}: exit {done.returncode}\n{done.stderr[-3000:]}"
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    lines = done.stderr.strip().splitlines()
    error = lines[-1]
    assert error.startswith("error: "), done.stderr[-3000:]
    for line in lines[:-1]:
        assert json.loads(line)["level"] != "error", line  # the rest is log records, none of them the error again
    for culprit in culprits:
        assert culprit in error, f"{case.why}: {culprit!r} not in {error!r}"
    assert done.stdout == ""
    assert writes(world.requests(mark)) == []
    assert world.resource_versions(namespaces) == before
    assert not (tmp_path / "nonstop-report").exists()
