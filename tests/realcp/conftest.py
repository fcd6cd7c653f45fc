"""The real control plane tier (`-m realcp`): ONE control plane for the whole session.

`realcp_binary` (session): the built binary. `realcp` (session): a started `RealControlPlane`
(etcd, kube-apiserver, kube-controller-manager, kube-scheduler built from Go modules; no node).
`kubectl(*args)` runs the machine's kubectl (the version dispatcher) against it.
`namespace`: a fresh namespace per test. `pod_network_possible`: the node's pod network can be
built here (root, `ip`): its pods live in a network namespace of their own.

The binary is built beforehand, by `nonstop controlplane build` (`.ci/run` does it): a cold build
takes tens of minutes, longer than a test's timeout. Without the binary, Go or kubectl the tier
is skipped with the reason, except under `CI=true`, where each is a failure; so are the node's
tests without root.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from nonstop.errors import GoMissingError, PodNetworkError
from nonstop.sandbox.podnet import PodNetwork
from nonstop.sandbox.real.build import binary_path, find_go
from nonstop.sandbox.real.controlplane import RealControlPlane

KUBECTL = "/usr/bin/kubectl"

Kubectl = Callable[..., subprocess.CompletedProcess[str]]


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def realcp_binary() -> Path:
    binary = binary_path()
    if not binary.exists():
        try:
            find_go()
        except GoMissingError as exc:
            _unavailable(str(exc))
        _unavailable(f"the real control plane is not built ({binary}): run `nonstop controlplane build` first")
    return binary


@pytest.fixture(scope="session")
def pod_network_possible() -> None:
    try:
        PodNetwork.check_possible()
    except PodNetworkError as exc:
        _unavailable(str(exc))


@pytest.fixture(scope="session")
def realcp(realcp_binary: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealControlPlane]:
    plane = RealControlPlane(binary=realcp_binary, workdir=tmp_path_factory.mktemp("realcp"), startup_timeout=180)
    plane.start()
    try:
        yield plane
    finally:
        plane.stop()


@pytest.fixture(scope="session")
def kubectl(realcp: RealControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    """`kubectl(*args, check=True, kubeconfig=None, stdin=None)` → CompletedProcess (admin kubeconfig by default)."""
    path = KUBECTL if Path(KUBECTL).exists() else shutil.which("kubectl")
    if path is None:
        _unavailable("kubectl is not on this machine")
    home = tmp_path_factory.mktemp("kubectl-home")  # kubectl's caches go here, not in ~

    def run(
        *args: str, check: bool = True, kubeconfig: Path | None = None, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")}
        env["KUBECONFIG"] = str(kubeconfig or realcp.admin_kubeconfig)
        env["HOME"] = str(home)
        done = subprocess.run(
            [str(path), *args], check=False, capture_output=True, text=True, env=env, timeout=120, input=stdin
        )
        if check:
            assert done.returncode == 0, f"kubectl {' '.join(args)}: {done.stderr}"
        return done

    return run


@pytest.fixture
def namespace(kubectl: Kubectl, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace for this test, deleted afterwards (without waiting for it to go)."""
    base = "".join(c if c.isalnum() else "-" for c in request.node.name.lower())[:40].strip("-")
    name = f"{base}-{uuid.uuid4().hex[:6]}"
    kubectl("create", "namespace", name)
    try:
        yield name
    finally:
        kubectl("delete", "namespace", name, "--wait=false", check=False)
