"""One drill per target: the Lease is taken, renewed, released, taken over when expired, refused when live."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from drill_helpers import drill_spec, lease_writes, run_drill, writes
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from nonstop.errors import LeaseHeld
from nonstop.kube.api import Kube
from nonstop.kube.connection import connect
from nonstop.kube.lease import DrillLease, holder_identity, lease_name

pytestmark = [pytest.mark.sandbox]


@pytest.fixture
def kube(sandbox: Any) -> Iterator[Kube]:
    k = Kube(connect(kubeconfig=sandbox.kubeconfig, context=None))
    try:
        yield k
    finally:
        k.close()


def _lease(sandbox: Any, namespace: str, name: str) -> Any:
    try:
        return client.CoordinationV1Api(sandbox.api_client()).read_namespaced_lease(name, namespace)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


def _foreign_lease(sandbox: Any, namespace: str, *, holder: str, duration: int, renewed_ago: float = 0.0) -> None:
    at = datetime.fromtimestamp(time.time() - renewed_ago, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    body = {
        "metadata": {"name": lease_name("Deployment", "web")},
        "spec": {"holderIdentity": holder, "leaseDurationSeconds": duration, "acquireTime": at, "renewTime": at,
                 "leaseTransitions": 0},
    }  # fmt: skip
    client.CoordinationV1Api(sandbox.api_client()).create_namespaced_lease(namespace, body)


def test_acquire_names_the_holder_renews_and_release_deletes(sandbox: Any, namespace: str, kube: Kube) -> None:
    lease = DrillLease(kube, namespace=namespace, kind="Deployment", target="web", drill="d1", duration=3).acquire()
    try:
        live = _lease(sandbox, namespace, "nonstop-drill-deployment-web")
        assert live.spec.holder_identity == holder_identity("d1")
        assert live.spec.holder_identity.endswith(f"/pid-{os.getpid()}/drill-d1")
        first = live.spec.renew_time
        deadline = time.monotonic() + 10
        while lease.renewals == 0:  # renewed every duration/3 = 1 s
            assert time.monotonic() < deadline, "the Lease was never renewed"
            time.sleep(0.1)
        assert _lease(sandbox, namespace, lease.name).spec.renew_time > first
    finally:
        lease.release()
    assert _lease(sandbox, namespace, lease.name) is None


def test_a_live_lease_of_another_drill_is_refused_naming_it(sandbox: Any, namespace: str, kube: Kube) -> None:
    first = DrillLease(kube, namespace=namespace, kind="Deployment", target="web", drill="first").acquire()
    try:
        second = DrillLease(kube, namespace=namespace, kind="Deployment", target="web", drill="second")
        with pytest.raises(LeaseHeld, match=f"another drill holds Lease {namespace}/nonstop-drill-deployment-web "
                           rf"\({holder_identity('first')}\)"):  # fmt: skip
            second.acquire()
        other = DrillLease(kube, namespace=namespace, kind="Deployment", target="api", drill="second").acquire()
        other.release()  # another target is another Lease
    finally:
        first.release()


def test_an_expired_lease_is_taken_over(sandbox: Any, namespace: str, kube: Kube) -> None:
    """A drill that died (no renewal for longer than the duration) does not block the next one."""
    _foreign_lease(sandbox, namespace, holder="dead-host/pid-1/drill-old", duration=5, renewed_ago=6)
    lease = DrillLease(kube, namespace=namespace, kind="Deployment", target="web", drill="new").acquire()
    try:
        live = _lease(sandbox, namespace, lease.name)
        assert live.spec.holder_identity == holder_identity("new")
        assert live.spec.lease_transitions == 1
    finally:
        lease.release()


def test_a_taken_over_lease_is_reported_lost_and_not_deleted(sandbox: Any, namespace: str, kube: Kube) -> None:
    lease = DrillLease(kube, namespace=namespace, kind="Deployment", target="web", drill="mine", duration=60).acquire()
    api = client.CoordinationV1Api(sandbox.api_client())
    api.patch_namespaced_lease(lease.name, namespace, {"spec": {"holderIdentity": "thief/pid-9/drill-x"}})
    lease.renew()
    assert lease.lost is not None
    assert "thief/pid-9/drill-x" in lease.lost
    lease.release()
    assert _lease(sandbox, namespace, lease.name).spec.holder_identity == "thief/pid-9/drill-x"


@pytest.mark.slow
def test_second_drill_on_the_same_target_exits_2_naming_the_holder(
    sandbox: Any, namespace: str, tmp_path: Path
) -> None:
    """No target objects needed beyond preflight's: the Lease check comes before anything changes."""
    from drill_helpers import apply, manifest

    apply(sandbox, namespace, manifest("after"), tmp_path)
    _foreign_lease(sandbox, namespace, holder="ci-7/pid-42/drill-postsync", duration=60)
    mark = sandbox.mark()
    result = run_drill(sandbox, drill_spec(namespace), tmp_path)
    assert result.code == 2, result.stderr[-2000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: another drill holds Lease {namespace}/nonstop-drill-deployment-web")
    assert "(ci-7/pid-42/drill-postsync)" in last
    log = sandbox.requests(since=mark)
    assert writes(log) == []
    assert lease_writes(log) == []  # the holder's Lease is left alone
    assert (
        _lease(sandbox, namespace, "nonstop-drill-deployment-web").spec.holder_identity == "ci-7/pid-42/drill-postsync"
    )
    assert not result.report_dir.exists()


@pytest.mark.slow
def test_dry_run_takes_no_lease(sandbox: Any, namespace: str, tmp_path: Path) -> None:
    """A dry run writes nothing, so it runs even while another drill holds the target's Lease."""
    from drill_helpers import apply, manifest

    apply(sandbox, namespace, manifest("after"), tmp_path)
    _foreign_lease(sandbox, namespace, holder="ci-7/pid-42/drill-postsync", duration=120)
    mark = sandbox.mark()
    spec = drill_spec(namespace, budget={"minRequests": 20})
    result = run_drill(sandbox, spec, tmp_path, "--dry-run")
    assert result.code == 0, result.stderr[-2000:]
    log = sandbox.requests(since=mark)
    assert writes(log) == []
    assert lease_writes(log) == []


@pytest.mark.slow
def test_a_real_drill_takes_and_releases_its_lease(sandbox: Any, namespace: str, tmp_path: Path) -> None:
    from drill_helpers import apply, manifest

    apply(sandbox, namespace, manifest("after"), tmp_path)
    mark = sandbox.mark()
    result = run_drill(sandbox, drill_spec(namespace), tmp_path)
    assert result.code == 0, result.stderr[-2000:]
    verbs = [(e["verb"], e["namespace"]) for e in lease_writes(sandbox.requests(since=mark))]
    assert verbs[0] == ("create", namespace)
    assert verbs[-1] == ("delete", namespace)
    assert _lease(sandbox, namespace, "nonstop-drill-deployment-web") is None


def test_two_drills_racing_for_an_expired_lease_cannot_both_win(sandbox: Any, namespace: str, kube: Kube) -> None:
    """Both read the same resourceVersion; the API takes one update and answers the other 409."""
    import threading

    _foreign_lease(sandbox, namespace, holder="dead-host/pid-1/drill-old", duration=5, renewed_ago=6)
    contenders = [DrillLease(kube, namespace=namespace, kind="Deployment", target="web", drill=f"racer-{i}")
                  for i in range(2)]  # fmt: skip
    outcomes: dict[int, str] = {}
    barrier = threading.Barrier(2)

    def race(i: int) -> None:
        barrier.wait()
        try:
            contenders[i].acquire()
            outcomes[i] = "won"
        except LeaseHeld as exc:
            outcomes[i] = str(exc)

    threads = [threading.Thread(target=race, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    try:
        assert sorted(o == "won" for o in outcomes.values()) == [False, True], outcomes
        winner = next(i for i, o in outcomes.items() if o == "won")
        loser = outcomes[1 - winner]
        assert holder_identity(f"racer-{winner}") in loser
        assert _lease(sandbox, namespace, "nonstop-drill-deployment-web").spec.holder_identity == holder_identity(
            f"racer-{winner}"
        )
    finally:
        for contender in contenders:
            contender.release()
