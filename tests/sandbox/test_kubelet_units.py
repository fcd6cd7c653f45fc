"""Small pure parts of the kubelet: $(VAR) expansion, image names, pod IPs across sandboxes, restart back-off,
the phase and conditions with init containers, kubectl's `Init:` status column.
"""

from __future__ import annotations

import ipaddress
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from nonstop.sandbox.apierrors import ApiError
from nonstop.sandbox.ipam import AddressRangeExhausted, IpAllocator
from nonstop.sandbox.kubelet.containers import Backoff
from nonstop.sandbox.kubelet.incluster import InCluster
from nonstop.sandbox.kubelet.processes import ContainerProcess, Spawner
from nonstop.sandbox.kubelet.runconfig import (
    ContainerConfigError,
    ImageNotRunnable,
    container_argv,
    container_env,
    expand,
    is_nonstop_image,
    is_sample_app,
    scripts_dir,
)
from nonstop.sandbox.kubelet.status import conditions, phase_of
from nonstop.sandbox.tables import pod_status_column


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$(A)", "x"),
        ("pre-$(A)-post", "pre-x-post"),
        ("$$(A)", "$(A)"),
        ("$(MISSING)", "$(MISSING)"),
        ("$(A", "$(A"),
        ("cost $5", "cost $5"),
        ("$", "$"),
        ("$(A)$(B)", "xy"),
    ],
)
def test_expand_follows_kubernetes(text: str, expected: str) -> None:
    assert expand(text, {"A": "x", "B": "y"}) == expected


@pytest.mark.parametrize(
    ("image", "sample"),
    [
        ("nonstop/sample-app:v1", True),
        ("docker.io/nonstop/sample-app:v2", True),
        ("nonstop/sample-app", True),
        ("nginx:1.25", False),
        ("registry:5000/nonstop/sample-app:v1", False),
    ],
)
def test_sample_app_images(image: str, sample: bool) -> None:
    assert is_sample_app(image) is sample


def test_other_image_without_command_cannot_run() -> None:
    with pytest.raises(ImageNotRunnable):
        container_argv({"name": "c", "image": "nginx"}, {})


def test_two_allocators_never_share_an_address(tmp_path: Path) -> None:
    """Two sandboxes on one machine (same lock directory) get disjoint addresses from a tiny range."""
    net = ipaddress.IPv4Network("127.99.0.0/29")
    first, second = IpAllocator(net, lock_dir=tmp_path), IpAllocator(net, lock_dir=tmp_path)
    a = {first.allocate(f"a{i}") for i in range(3)}
    b = {second.allocate(f"b{i}") for i in range(3)}
    assert len(a) == len(b) == 3
    assert not a & b
    with pytest.raises(AddressRangeExhausted):
        second.allocate("one-too-many")
    first.release("a0")
    assert second.allocate("one-too-many") not in b


def test_allocation_is_stable_per_owner_and_round_robin(tmp_path: Path) -> None:
    alloc = IpAllocator(ipaddress.IPv4Network("127.99.1.0/28"), lock_dir=tmp_path)
    ip = alloc.allocate("pod")
    assert alloc.allocate("pod") == ip
    alloc.release("pod")
    assert alloc.allocate("next") != ip


def test_restart_backoff_doubles_up_to_the_maximum() -> None:
    backoff = Backoff(10.0, 40.0)
    waits = []
    now = 1000.0
    for _ in range(5):
        waits.append(backoff.wait_for(now, now))
        backoff.next(now)
        now += 1
    assert waits == [0.0, 10.0, 20.0, 40.0, 40.0]


def _cs(name: str, state: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"name": name, "state": state, "ready": False, "restartCount": 0, **fields}


RUNNING: dict[str, Any] = {"running": {}}
WAITING: dict[str, Any] = {"waiting": {"reason": "PodInitializing"}}
DONE: dict[str, Any] = {"terminated": {"exitCode": 0, "reason": "Completed"}}
FAILED: dict[str, Any] = {"terminated": {"exitCode": 1, "reason": "Error"}}
BACKOFF: dict[str, Any] = {"waiting": {"reason": "CrashLoopBackOff"}}


@pytest.mark.parametrize(
    ("init", "main", "policy", "phase"),
    [
        ([_cs("init", RUNNING)], [_cs("app", WAITING)], "Always", "Pending"),
        ([_cs("init", BACKOFF, lastState={"terminated": FAILED["terminated"]})], [_cs("app", WAITING)], "Always",
         "Pending"),
        ([_cs("init", FAILED)], [_cs("app", WAITING)], "Never", "Failed"),
        ([_cs("init", DONE)], [_cs("app", RUNNING)], "Always", "Running"),
        # a sidecar that runs but has not started (its startup probe) keeps the pod initialising
        ([_cs("proxy", RUNNING, started=False)], [_cs("app", WAITING)], "Always", "Pending"),
        ([_cs("proxy", RUNNING, started=True)], [_cs("app", RUNNING)], "Always", "Running"),
        # a Job's main container succeeded while its sidecar still runs: Running until the sidecar is stopped
        ([_cs("proxy", RUNNING, started=True)], [_cs("app", DONE)], "Never", "Running"),
        # ...and a sidecar's own exit code never decides the phase
        ([_cs("proxy", {"terminated": {"exitCode": 143}})], [_cs("app", DONE)], "Never", "Succeeded"),
        # a restarting sidecar does not send an initialised pod back to Pending
        ([_cs("proxy", BACKOFF, lastState=FAILED)], [_cs("app", RUNNING)], "Always", "Running"),
    ],
)  # fmt: skip
def test_phase_follows_the_kubelets_get_phase_with_init_containers(
    init: list[dict[str, Any]], main: list[dict[str, Any]], policy: str, phase: str
) -> None:
    assert phase_of(main, policy, terminal=False, init_statuses=init, sidecars=frozenset({"proxy"})) == phase


def test_initialized_condition_names_the_incomplete_init_containers() -> None:
    init = [_cs("migrate", DONE), _cs("proxy", RUNNING, started=False), _cs("warm", WAITING)]
    conds = conditions(
        [], [_cs("app", WAITING)], phase="Pending", sandbox_ready=True, readiness_gates=[],
        init_statuses=init, sidecars=frozenset({"proxy"}),
    )  # fmt: skip
    initialized = next(c for c in conds if c["type"] == "Initialized")
    assert (initialized["status"], initialized["reason"]) == ("False", "ContainersNotInitialized")
    assert initialized["message"] == "containers with incomplete status: [proxy warm]"
    ready = next(c for c in conds if c["type"] == "ContainersReady")
    assert ready["message"] == "containers with unready status: [proxy app]"  # the sidecar counts, first


@pytest.mark.parametrize(
    ("init", "initialized", "column"),
    [
        ([_cs("a", RUNNING), _cs("b", WAITING)], False, "Init:0/2"),
        ([_cs("a", DONE), _cs("b", BACKOFF)], False, "Init:CrashLoopBackOff"),
        ([_cs("a", FAILED), _cs("b", WAITING)], False, "Init:Error"),
        ([_cs("a", DONE), _cs("b", DONE)], True, "Running"),
    ],
)
def test_kubectl_status_column_while_initialising(init: list[dict[str, Any]], initialized: bool, column: str) -> None:
    pod = {
        "metadata": {"name": "p"},
        "spec": {"initContainers": [{"name": "a"}, {"name": "b"}], "containers": [{"name": "app"}]},
        "status": {
            "phase": "Running" if initialized else "Pending",
            "conditions": [{"type": "Initialized", "status": str(initialized)}],
            "initContainerStatuses": init,
            "containerStatuses": [_cs("app", RUNNING if initialized else WAITING)],
        },
    }
    assert pod_status_column(pod) == column


@pytest.mark.parametrize(
    ("image", "nonstop"),
    [
        ("ghcr.io/nonstop-dev/nonstop:0.1.0", True),
        ("nonstop", True),
        ("registry.local:5000/team/nonstop@sha256:" + "a" * 64, True),
        ("nonstop/sample-app:v1", False),
        ("ghcr.io/nonstop-dev/nonstop-extra:1", False),
    ],
)
def test_nonstop_images_are_known_by_their_last_path_element(image: str, nonstop: bool) -> None:
    assert is_nonstop_image(image) is nonstop


def test_the_nonstop_image_runs_its_command_with_the_installed_nonstop_first_on_path() -> None:
    container = {"name": "drill", "image": "ghcr.io/nonstop-dev/nonstop:0.1.0", "command": ["sh", "-c"], "args": ["x"]}
    env = container_env(_NoObjects(), _POD, container, pod_ip="198.18.0.2", host_ip="127.0.0.1")
    assert env["PATH"].split(os.pathsep)[0] == scripts_dir()
    assert Path(scripts_dir(), "nonstop").exists()  # the console script of this install
    assert container_argv(container, env) == ["sh", "-c", "x"]
    bare = {"name": "drill", "image": "ghcr.io/nonstop-dev/nonstop:0.1.0", "args": ["lint", "f.yaml"]}
    assert container_argv(bare, env) == [str(Path(scripts_dir(), "nonstop")), "lint", "f.yaml"]
    other = {"name": "c", "image": "busybox", "command": ["sh"]}
    assert container_env(_NoObjects(), _POD, other, pod_ip="198.18.0.2", host_ip="127.0.0.1").get("PATH") == (
        os.environ.get("PATH")
    )


_POD = {"metadata": {"name": "p", "namespace": "team", "uid": "u-1"}, "spec": {"serviceAccountName": "drill"}}


class _NoObjects:
    def find(self, kind: object, namespace: str | None, name: str) -> None:
        return None


def test_in_cluster_projects_token_ca_and_namespace_and_mounts_them_at_the_mount_path(tmp_path: Path) -> None:
    calls: list[tuple[str, str, object]] = []

    def request(method: str, path: str, *, what: str, body: object = None) -> dict[str, object]:
        calls.append((method, path, body))
        if path.endswith("/token"):
            return {"status": {"token": "tok-123"}}
        return {"data": {"ca.crt": "CA PEM"}}

    pod = {
        **_POD,
        "spec": {
            "serviceAccountName": "drill",
            "volumes": [
                {
                    "name": "kube-api-access-x1",
                    "projected": {
                        "sources": [
                            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                            {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                            {
                                "downwardAPI": {
                                    "items": [{"path": "namespace", "fieldRef": {"fieldPath": "metadata.namespace"}}]
                                }
                            },
                        ]
                    },
                }
            ],
        },
    }
    container = {
        "name": "c",
        "volumeMounts": [
            {
                "name": "kube-api-access-x1",
                "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                "readOnly": True,
            }
        ],
    }
    in_cluster = InCluster(service_host="127.20.0.1", service_port=443, request=request)
    [mount, own_tmp] = in_cluster.mounts(pod, container, tmp_path)
    assert (own_tmp.source, own_tmp.target, own_tmp.read_only) == (str(tmp_path / "tmp"), "/tmp/nonstop", False)
    assert mount.target == "/var/run/secrets/kubernetes.io/serviceaccount"
    assert mount.read_only
    folder = Path(mount.source)
    assert (folder / "token").read_text() == "tok-123"
    assert (folder / "ca.crt").read_text() == "CA PEM"
    assert (folder / "namespace").read_text() == "team"
    method, path, body = calls[0]
    assert (method, path) == ("POST", "/api/v1/namespaces/team/serviceaccounts/drill/token")
    assert body["spec"]["boundObjectRef"] == {"apiVersion": "v1", "kind": "Pod", "name": "p", "uid": "u-1"}  # type: ignore[index]
    assert in_cluster.mounts(pod, container, tmp_path) == [mount, own_tmp]  # written once per pod
    assert len(calls) == 2
    env = in_cluster.env()
    assert env["KUBERNETES_SERVICE_HOST"] == "127.20.0.1"
    assert env["KUBERNETES_SERVICE_PORT"] == "443"
    assert env["KUBERNETES_PORT_443_TCP_ADDR"] == "127.20.0.1"


def test_a_token_the_api_refuses_is_a_container_config_error(tmp_path: Path) -> None:
    def request(method: str, path: str, *, what: str, body: object = None) -> dict[str, object]:
        raise ApiError(403, "Forbidden", "serviceaccounts/token is forbidden")

    pod = {**_POD, "spec": {"volumes": [{"name": "v", "projected": {"sources": [{"serviceAccountToken": {}}]}}]}}
    container = {"name": "c", "volumeMounts": [{"name": "v", "mountPath": "/var/run/secrets/x"}]}
    with pytest.raises(ContainerConfigError, match="cannot get a token for serviceaccount"):
        InCluster(service_host="127.20.0.1", service_port=443, request=request).mounts(pod, container, tmp_path)


def test_a_container_sees_its_bind_mounts_and_the_host_does_not(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("a mount namespace needs root")
    first, second, target = tmp_path / "first", tmp_path / "second", tmp_path / "target"
    for folder, text in ((first, "one"), (second, "two")):
        folder.mkdir()
        (folder / "token").write_text(text)
    target.mkdir()
    spawner = Spawner()
    spawner.start()
    try:
        outputs = []
        for source in (first, second):
            script = f"cat {target}/token; echo; touch {target}/x 2>/dev/null && echo writable || echo read-only"
            popen = spawner.spawn(
                ["sh", "-c", script], env={}, stdout=subprocess.PIPE, mounts=[(str(source), str(target), True)]
            )
            out, _ = popen.communicate(timeout=30)
            outputs.append(out.decode().split())
    finally:
        spawner.stop()
    assert outputs == [["one", "read-only"], ["two", "read-only"]]  # each its own files, at the same path
    assert list(target.iterdir()) == []  # nothing shows on the host


def _no_api(method: str, path: str, *, what: str, body: object = None) -> dict[str, object]:
    if path == "/api/v1/namespaces/team/configmaps/settings":
        return {"data": {"a.txt": "A"}}
    raise AssertionError(f"unexpected {method} {path}")


def test_an_emptydir_is_one_folder_per_pod_shared_by_its_containers_with_subpaths(tmp_path: Path) -> None:
    pod = {**_POD, "spec": {"volumes": [{"name": "var-run-argo", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}}]}}
    init = {"name": "init", "volumeMounts": [{"name": "var-run-argo", "mountPath": "/var/run/argo"}]}
    wait = {
        "name": "wait",
        "volumeMounts": [
            {"name": "tmp", "mountPath": "/tmp", "subPath": "0"},
            {"name": "var-run-argo", "mountPath": "/var/run/argo", "readOnly": True},
        ],
    }
    in_cluster = InCluster(service_host="127.20.0.1", service_port=443, request=_no_api)
    [argo_init, _] = in_cluster.mounts(pod, init, tmp_path)
    [tmp, argo_wait, own_tmp] = in_cluster.mounts(pod, wait, tmp_path)
    assert argo_init.source == argo_wait.source == str(tmp_path / "volumes" / "var-run-argo")
    assert (argo_init.read_only, argo_wait.read_only) == (False, True)
    assert (tmp.source, tmp.target) == (str(tmp_path / "volumes" / "tmp" / "0"), "/tmp")
    assert Path(tmp.source).is_dir()
    assert Path(argo_init.source).stat().st_mode & 0o7777 == 0o1777  # anyone may write, as a fresh emptyDir
    assert own_tmp.target == "/tmp/nonstop"


def test_configmap_volumes_are_written_and_unknown_volume_types_refused(tmp_path: Path) -> None:
    pod = {
        **_POD,
        "spec": {
            "volumes": [
                {"name": "settings", "configMap": {"name": "settings"}},
                {"name": "host", "hostPath": {"path": "/etc"}},
            ]
        },
    }
    in_cluster = InCluster(service_host="127.20.0.1", service_port=443, request=_no_api)
    reads = {"name": "c", "volumeMounts": [{"name": "settings", "mountPath": "/etc/settings"}]}
    [mount, _] = in_cluster.mounts(pod, reads, tmp_path)
    assert (Path(mount.source) / "a.txt").read_text() == "A"
    assert mount.read_only
    host = {"name": "c", "volumeMounts": [{"name": "host", "mountPath": "/host"}]}
    with pytest.raises(ContainerConfigError, match='volume "host": hostPath volumes are not supported'):
        in_cluster.mounts(pod, host, tmp_path)


def test_an_image_in_image_bins_gets_its_folder_first_on_path() -> None:
    in_cluster = InCluster(
        service_host="127.20.0.1", service_port=443, request=_no_api, image_bins={"quay.io/argoproj/argoexec": "/b"}
    )
    env = {"PATH": "/usr/bin", "X": "1"}
    assert in_cluster.image_env("quay.io/argoproj/argoexec:v3.7.3", env) == {"PATH": "/b:/usr/bin", "X": "1"}
    assert in_cluster.image_env("quay.io/argoproj/other:v1", env) is env


def test_a_mount_point_under_an_earlier_mount_is_made_inside_its_source(tmp_path: Path) -> None:
    from nonstop.sandbox.kubelet.incluster import Mount, ensure_mount_points

    outer, inner = tmp_path / "outer-target", tmp_path / "outer-target" / "nonstop"
    source = tmp_path / "emptydir"
    source.mkdir()
    ensure_mount_points([Mount(str(source), str(outer), False), Mount(str(tmp_path / "x"), str(inner), False)])
    assert inner.is_dir()
    assert (source / "nonstop").is_dir()  # what the second bind finds once the first covers outer-target


GRANDCHILD = """
import os, subprocess, sys, time
child = subprocess.Popen(["sleep", "300"], preexec_fn=os.setpgrp)  # its own group, as argoexec's emissary does
print(child.pid, flush=True)
time.sleep(300)
"""


@pytest.mark.parametrize("how", ["killed", "exited"])
def test_a_grandchild_in_a_process_group_of_its_own_ends_with_its_container(how: str) -> None:
    """A runtime ends everything in a container's cgroup; ours ends everything in the leader's session."""
    spawner = Spawner()
    spawner.start()
    ended = threading.Event()
    try:
        popen = spawner.spawn([sys.executable, "-c", GRANDCHILD], env={}, stdout=subprocess.PIPE)
        assert popen.stdout is not None
        grandchild = int(popen.stdout.readline())
        container = ContainerProcess(spawner, popen, on_exit=lambda _c: ended.set())
        assert os.getpgid(grandchild) == grandchild != os.getpgid(popen.pid)
        if how == "killed":
            container.send(signal.SIGKILL)
        else:
            os.kill(popen.pid, signal.SIGTERM)  # the leader ends by itself; its grandchild would stay
        assert ended.wait(10)
        popen.stdout.close()
        deadline = time.monotonic() + 10
        while Path(f"/proc/{grandchild}").exists() and _state(grandchild) != "Z":
            assert time.monotonic() < deadline, "the grandchild outlived its container"
            time.sleep(0.02)
    finally:
        spawner.stop()


def _state(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "gone"
    return stat[stat.rfind(")") + 2]
