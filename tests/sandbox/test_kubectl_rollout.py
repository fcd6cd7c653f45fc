"""The real kubectl against the sandbox's controllers and kubelet, with `config/examples/after.yaml` applied:
rollout restart / status / history / undo / pause / resume, scale, a graceful `delete pod` and
`get events` — and what kubectl prints is checked against the API's objects (official client).

after.yaml: 1 replica, maxSurge 1 / maxUnavailable 0, the sample app (graceful, 2 s startup delay,
readiness every 2 s), a 5 s preStop sleep and a 15 s grace period.
"""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from controllers_helpers import PodWatch, is_ready, rollout_complete, until
from kubernetes import client, watch

pytestmark = [
    pytest.mark.sandbox,
    pytest.mark.slow,
    pytest.mark.requires("kubectl"),
]

AFTER = Path(__file__).resolve().parents[2] / "config" / "examples" / "after.yaml"
REVISION = "deployment.kubernetes.io/revision"
CHANGE_CAUSE = "kubernetes.io/change-cause"
HASH = "pod-template-hash"
ANNOTATION = "sandbox.nonstop.dev/"
ROLL_TIMEOUT = 90  # seconds: one roll takes ~5 s alone; the 2 cores are shared with other test runs


@dataclass
class Web:
    """after.yaml applied and rolled out in one namespace; `kubectl(...)` runs there with the sandbox's kubeconfig."""

    sandbox: Any
    namespace: str
    apps: client.AppsV1Api
    core: client.CoreV1Api
    env: dict[str, str] = field(default_factory=dict)

    def run(self, *args: str, timeout: float = ROLL_TIMEOUT + 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["kubectl", "-n", self.namespace, *args],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=timeout,
            check=False,
        )

    def kubectl(self, *args: str) -> str:
        done = self.run(*args)
        assert done.returncode == 0, f"kubectl {' '.join(args)}: {done.stderr}"
        return done.stdout

    def deployment(self) -> Any:
        return self.apps.read_namespaced_deployment("web", self.namespace)

    def replica_sets(self) -> dict[str, Any]:
        """revision → ReplicaSet."""
        return {
            rs.metadata.annotations[REVISION]: rs for rs in self.apps.list_namespaced_replica_set(self.namespace).items
        }

    def pods(self) -> list[Any]:
        return list(self.core.list_namespaced_pod(self.namespace).items)

    def live_pods(self) -> list[Any]:
        return [p for p in self.pods() if p.metadata.deletion_timestamp is None]

    def rollout_status(self) -> str:
        out = self.kubectl("rollout", "status", "deployment/web", f"--timeout={ROLL_TIMEOUT}s")
        # kubectl returned: the Deployment must really be complete now (read after the fact; completion
        # cannot be undone here because nothing else changes the Deployment meanwhile)
        assert rollout_complete(self.apps, self.namespace, "web"), self.deployment().status
        # and not only by the counters: the pods themselves are there and Ready (the kubelet's own word)
        d = self.deployment()
        current = self.replica_sets()[d.metadata.annotations[REVISION]].metadata.labels[HASH]
        ready = [p for p in self.live_pods() if p.metadata.labels[HASH] == current and is_ready(p)]
        assert len(ready) >= d.spec.replicas, [(p.metadata.name, is_ready(p)) for p in self.live_pods()]
        assert out.splitlines()[-1] == 'deployment "web" successfully rolled out', out
        return out


@pytest.fixture
def web(sandbox: Any, namespace: str) -> Web:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")}
    env["KUBECONFIG"] = sandbox.kubeconfig
    env["HOME"] = str(Path(sandbox.kubeconfig).parent)  # kubectl's cache beside the sandbox, not in ~
    api = sandbox.api_client()
    w = Web(sandbox, namespace, client.AppsV1Api(api), client.CoreV1Api(api), env)
    applied = w.kubectl("apply", "--validate=false", "-f", str(AFTER))
    assert applied.splitlines() == ["deployment.apps/web created", "service/web created"]
    w.rollout_status()
    return w


def _waited(status_output: str) -> bool:
    """kubectl printed at least one progress line before success: it did not return at once."""
    return any(line.startswith('Waiting for deployment "web" rollout to finish') for line in status_output.splitlines())


def _image(d: Any) -> str:
    return str(d.spec.template.spec.containers[0].image)


def _image_of(pod: Any) -> str:
    return str(pod.spec.containers[0].image)


def _rows(table: str) -> list[list[str]]:
    """A kubectl table's rows split on whitespace, header dropped."""
    return [line.split() for line in table.splitlines()[1:] if line.strip()]


def _stamp(pod: dict[str, Any], key: str) -> float:
    value = pod["metadata"]["annotations"][ANNOTATION + key]
    return datetime.fromisoformat(value).timestamp()


def test_rollout_restart_makes_a_new_replica_set_and_ends_the_old_pod_after_the_new_one_is_ready(web: Web) -> None:
    """`rollout restart` → revision 2 RS; the old pod is deleted only once the new one is Ready; status waits."""
    (old_pod,) = web.live_pods()
    order: list[tuple[str, bool, bool]] = []  # (pod, ready, terminating) as the watch saw each change

    def check(pods: dict[str, Any]) -> None:
        for p in pods.values():
            order.append((p.metadata.name, is_ready(p), p.metadata.deletion_timestamp is not None))
        serving = [p for p in pods.values() if is_ready(p) and p.metadata.deletion_timestamp is None]
        assert serving, "maxUnavailable 0: a Ready, non-terminating pod must exist at every moment"

    with PodWatch(web.sandbox, web.namespace, check) as pods:
        assert web.kubectl("rollout", "restart", "deployment/web").strip() == "deployment.apps/web restarted"
        status = web.rollout_status()
        until(lambda: old_pod.metadata.name not in pods.pods, timeout=60)  # preStop 5 s, then a graceful exit
    assert not pods.failures, pods.failures
    assert _waited(status), status

    d = web.deployment()
    assert d.spec.template.metadata.annotations["kubectl.kubernetes.io/restartedAt"]
    assert d.metadata.annotations[REVISION] == "2"
    rs = web.replica_sets()
    assert sorted(rs) == ["1", "2"]
    assert rs["1"].metadata.name == f"web-{old_pod.metadata.labels[HASH]}"
    assert (rs["1"].spec.replicas, rs["2"].spec.replicas, rs["2"].status.ready_replicas) == (0, 1, 1)
    (new_pod,) = web.live_pods()
    assert new_pod.metadata.owner_references[0].name == rs["2"].metadata.name
    assert new_pod.metadata.labels[HASH] != old_pod.metadata.labels[HASH]

    new, old = new_pod.metadata.name, old_pod.metadata.name
    first_new_ready = next(i for i, (name, ready, _) in enumerate(order) if name == new and ready)
    first_old_terminating = next(i for i, (name, _, terminating) in enumerate(order) if name == old and terminating)
    assert first_new_ready < first_old_terminating


def test_rollout_history_lists_revisions_and_undo_restores_the_template_as_a_new_revision(web: Web) -> None:
    """history prints the RSs' revisions and change-causes; undo brings v1's template back as revision 3."""
    web.kubectl("annotate", "deployment/web", f"{CHANGE_CAUSE}=applied after.yaml")
    until(lambda: (web.replica_sets()["1"].metadata.annotations or {}).get(CHANGE_CAUSE) == "applied after.yaml")
    v2 = (
        '{"metadata":{"annotations":{"kubernetes.io/change-cause":"image v2"}},'
        '"spec":{"template":{"spec":{"containers":[{"name":"web","image":"nonstop/sample-app:v2"}]}}}}'
    )
    assert web.kubectl("patch", "deployment/web", "-p", v2).strip() == "deployment.apps/web patched"
    web.rollout_status()

    history = web.kubectl("rollout", "history", "deployment/web")
    assert history.splitlines()[:2] == ["deployment.apps/web ", "REVISION  CHANGE-CAUSE"]
    printed = [line.split(None, 1) for line in history.splitlines()[2:] if line.strip()]
    assert printed == [["1", "applied after.yaml"], ["2", "image v2"]]
    rs = web.replica_sets()
    assert {rev: r.metadata.annotations[CHANGE_CAUSE] for rev, r in rs.items()} == dict(map(tuple, printed))
    assert "Image:\tnonstop/sample-app:v1" in web.kubectl("rollout", "history", "deployment/web", "--revision=1")
    first_rs = rs["1"].metadata.name

    assert web.kubectl("rollout", "undo", "deployment/web").strip() == "deployment.apps/web rolled back"
    web.rollout_status()
    d = web.deployment()
    assert _image(d) == "nonstop/sample-app:v1"
    assert d.metadata.annotations[REVISION] == "3"
    rs = web.replica_sets()
    assert sorted(rs) == ["2", "3"]
    assert rs["3"].metadata.name == first_rs  # the old RS made current again, renumbered
    assert rs["3"].metadata.annotations["deployment.kubernetes.io/revision-history"] == "1"
    assert [_image_of(p) for p in web.live_pods()] == ["nonstop/sample-app:v1"]
    history = web.kubectl("rollout", "history", "deployment/web")
    printed = [line.split(None, 1) for line in history.splitlines()[2:] if line.strip()]
    assert printed == [["2", "image v2"], ["3", "applied after.yaml"]]


def test_a_paused_deployment_does_not_roll_until_resumed(web: Web) -> None:
    """pause + set image: the controller observes the change but keeps the old RS; resume rolls it."""
    assert web.kubectl("rollout", "pause", "deployment/web").strip() == "deployment.apps/web paused"
    (before,) = web.live_pods()
    out = web.kubectl("set", "image", "deployment/web", "web=nonstop/sample-app:v2")
    assert out.strip() == "deployment.apps/web image updated"

    def observed_paused() -> bool:
        d = web.deployment()
        progressing = {c.type: c for c in d.status.conditions or []}.get("Progressing")
        return d.status.observed_generation == d.metadata.generation and progressing.reason == "DeploymentPaused"

    until(observed_paused, timeout=30)
    # the controller has seen the new template: it must still not roll. kubectl agrees (status times out).
    waiting = web.run("rollout", "status", "deployment/web", "--timeout=3s")
    assert waiting.returncode == 1
    assert 'Waiting for deployment "web" rollout to finish: 0 out of 1 new replicas have been updated' in (
        waiting.stdout
    )
    assert sorted(web.replica_sets()) == ["1"]
    assert [p.metadata.uid for p in web.pods()] == [before.metadata.uid]

    assert web.kubectl("rollout", "resume", "deployment/web").strip() == "deployment.apps/web resumed"
    web.rollout_status()
    assert sorted(web.replica_sets()) == ["1", "2"]
    until(lambda: [_image_of(p) for p in web.live_pods()] == ["nonstop/sample-app:v2"], timeout=10)


def test_scale_to_three_gives_three_ready_pods(web: Web) -> None:
    """`scale --replicas=3`: three Ready pods of the same revision, and `get deploy` / `get pods` say so."""
    assert web.kubectl("scale", "deployment/web", "--replicas=3").strip() == "deployment.apps/web scaled"
    web.rollout_status()
    pods = web.live_pods()
    assert len(pods) == 3
    assert all(is_ready(p) for p in pods)
    assert {p.metadata.labels[HASH] for p in pods} == {web.replica_sets()["1"].metadata.labels[HASH]}
    assert sorted(web.replica_sets()) == ["1"]  # scaling is not a revision
    (row,) = _rows(web.kubectl("get", "deployment", "web"))
    assert row[:4] == ["web", "3/3", "3", "3"]
    listed = {r[0]: r[1:3] for r in _rows(web.kubectl("get", "pods", "-l", "app=web"))}
    assert listed == {p.metadata.name: ["1/1", "Running"] for p in pods}


def _watch_until_deleted(core: client.CoreV1Api, namespace: str, name: str, rv: str) -> Callable[[], dict[str, Any]]:
    """Watch one pod from `rv` on a thread; the returned callable joins it and gives the DELETED object."""
    seen: list[dict[str, Any]] = []
    w = watch.Watch()

    def follow() -> None:
        for event in w.stream(
            core.list_namespaced_pod,
            namespace,
            field_selector=f"metadata.name={name}",
            resource_version=rv,
            timeout_seconds=ROLL_TIMEOUT,
        ):
            if event["type"] == "DELETED":
                seen.append(event["raw_object"])
                w.stop()

    thread = threading.Thread(target=follow, daemon=True)
    thread.start()

    def result() -> dict[str, Any]:
        thread.join(timeout=ROLL_TIMEOUT)
        assert seen, f"no DELETED event for pod {name}"
        return seen[0]

    return result


def test_delete_pod_is_graceful_prestop_first_then_sigterm_the_app_exits_on_its_own(web: Web) -> None:
    """`delete pod`: Killing event, the 5 s preStop sleep, then SIGTERM; the graceful app exits 0, never SIGKILL."""
    (victim,) = web.live_pods()
    name = victim.metadata.name
    deleted = _watch_until_deleted(web.core, web.namespace, name, victim.metadata.resource_version)
    out = web.kubectl("delete", "pod", name)  # waits until the pod is gone
    assert out.strip() == f'pod "{name}" deleted'
    last = deleted()

    notes = last["metadata"]["annotations"]
    assert ANNOTATION + "sigkill-at" not in notes
    observed, prestop = _stamp(last, "deletion-observed-at"), _stamp(last, "prestop-started-at")
    sigterm, exited = _stamp(last, "sigterm-at"), _stamp(last, "exited-at")
    assert observed <= prestop < sigterm <= exited
    assert 4.9 <= sigterm - prestop < 6.5  # the preStop sleep ran its 5 s before SIGTERM
    assert exited - sigterm < 5.0  # no request in flight: the app drains at once (margin for a loaded machine)
    (status,) = last["status"]["containerStatuses"]
    terminated = status["state"]["terminated"]
    # exit 0 is the sample app's own graceful answer to SIGTERM (a SIGKILL would be 137, no handler 143)
    assert (terminated["exitCode"], terminated["reason"]) == (0, "Completed")

    events = web.core.list_namespaced_event(web.namespace, field_selector=f"involvedObject.name={name}").items
    assert ("Killing", "Stopping container web") in {(e.reason, e.message) for e in events}
    assert "FailedPreStopHook" not in {e.reason for e in events}
    # the ReplicaSet replaced it
    until(lambda: len(live := web.live_pods()) == 1 and is_ready(live[0]) and live[0].metadata.name != name, timeout=60)


def test_get_events_prints_the_rollouts_true_story(web: Web) -> None:
    """After a restart: kubectl's events table equals the API's events, and they name the real RSs and pods."""
    (old_pod,) = web.live_pods()
    web.kubectl("rollout", "restart", "deployment/web")
    web.rollout_status()
    until(lambda: len(web.pods()) == 1, timeout=60)  # the old pod has gone through its preStop and exited
    (new_pod,) = web.live_pods()
    rs = web.replica_sets()
    old_rs, new_rs = rs["1"].metadata.name, rs["2"].metadata.name
    old, new = old_pod.metadata.name, new_pod.metadata.name

    table = web.kubectl("get", "events")
    assert table.splitlines()[0].split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    printed = {tuple(line.split(None, 4)[1:]) for line in table.splitlines()[1:] if line.strip()}
    api = {
        (e.type, e.reason, f"{e.involved_object.kind.lower()}/{e.involved_object.name}", e.message)
        for e in web.core.list_namespaced_event(web.namespace).items
    }
    assert printed == api

    expected = {
        ("Normal", "ScalingReplicaSet", "deployment/web", f"Scaled up replica set {old_rs} from 0 to 1"),
        ("Normal", "ScalingReplicaSet", "deployment/web", f"Scaled up replica set {new_rs} from 0 to 1"),
        ("Normal", "ScalingReplicaSet", "deployment/web", f"Scaled down replica set {old_rs} from 1 to 0"),
        ("Normal", "SuccessfulCreate", f"replicaset/{old_rs}", f"Created pod: {old}"),
        ("Normal", "SuccessfulCreate", f"replicaset/{new_rs}", f"Created pod: {new}"),
        ("Normal", "SuccessfulDelete", f"replicaset/{old_rs}", f"Deleted pod: {old}"),
        ("Normal", "Started", f"pod/{old}", "Started container web"),
        ("Normal", "Started", f"pod/{new}", "Started container web"),
        ("Normal", "Killing", f"pod/{old}", "Stopping container web"),
    }
    assert expected <= printed, expected - printed
    # every object the events name is (or was) real: the pods' owners are the RSs the events say
    assert new_pod.metadata.owner_references[0].name == new_rs
    assert old_pod.metadata.owner_references[0].name == old_rs
    assert not {row for row in printed if row[2] == f"pod/{new}" and row[1] == "Killing"}
