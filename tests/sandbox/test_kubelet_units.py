"""Small pure parts of the kubelet: $(VAR) expansion, image names, pod IPs across sandboxes, restart back-off,
the phase and conditions with init containers, kubectl's `Init:` status column."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import pytest

from nonstop.sandbox.ipam import AddressRangeExhausted, IpAllocator
from nonstop.sandbox.kubelet.containers import Backoff
from nonstop.sandbox.kubelet.runconfig import ImageNotRunnable, container_argv, expand, is_sample_app
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
