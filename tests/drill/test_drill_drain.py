"""`rollout.strategy: drain`: cordon a node, evict the target's pods on it (PDBs respected), judge them, uncordon.

Three replicas spread one per node over a 3-node sandbox; the drill drains one node.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from kubernetes import client, config

from nonstop.sandbox.launcher import SandboxProcess
from tests.drill.drill_helpers import DrillResult, apply, drill_command, drill_spec, manifest, run_drill, writes

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]

NODES = ("sandbox-1", "sandbox-2", "sandbox-3")
SPREAD = [
    {
        "maxSkew": 1,
        "topologyKey": "kubernetes.io/hostname",
        "whenUnsatisfiable": "ScheduleAnyway",
        "labelSelector": {"matchLabels": {"app": "web"}},
    }
]


def spread_manifest(name: str) -> list[dict[str, Any]]:
    docs = manifest(name, replicas=3)
    for doc in docs:
        if doc["kind"] == "Deployment":
            doc["spec"]["template"]["spec"]["topologySpreadConstraints"] = SPREAD
    return docs


@pytest.fixture(scope="module")
def three(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    process = SandboxProcess(workdir=tmp_path_factory.mktemp("drain"), nodes=3, extra_args=["--bookmark-interval", "1"])
    process.start()
    try:
        yield SimpleNamespace(kubeconfig=str(process.kubeconfig), url=process.url, process=process)
    finally:
        process.stop()


@pytest.fixture
def core(three: Any) -> client.CoreV1Api:
    return client.CoreV1Api(config.new_client_from_config(config_file=three.kubeconfig))


@pytest.fixture
def ns(core: client.CoreV1Api) -> Iterator[str]:
    name = f"drain-{uuid.uuid4().hex[:6]}"
    core.create_namespace({"metadata": {"name": name}})
    try:
        yield name
    finally:
        core.delete_namespace(name)


def placement(core: client.CoreV1Api, namespace: str) -> dict[str, str]:
    """Live pods of the namespace → their node."""
    pods = json.loads(core.list_namespaced_pod(namespace, _preload_content=False).data)["items"]
    return {p["metadata"]["name"]: p["spec"]["nodeName"] for p in pods if not p["metadata"].get("deletionTimestamp")}


def node(core: client.CoreV1Api, name: str) -> dict[str, Any]:
    return dict(json.loads(core.read_node(name, _preload_content=False).data))


def assert_uncordoned(core: client.CoreV1Api) -> None:
    for name in NODES:
        got = node(core, name)
        assert not got["spec"].get("unschedulable"), name
        assert "nonstop.dev/cordoned-by" not in (got["metadata"].get("annotations") or {}), name


def test_draining_a_node_of_a_fixed_app_passes_and_the_replacement_lands_elsewhere(tmp_path: Path) -> None:
    """End to end through `drill --sandbox` with `sandbox.nodes: 3` (the spec's key plumbed to `sandbox up --nodes`)."""
    objects = tmp_path / "objects.yaml"
    objects.write_text(yaml.safe_dump_all(spread_manifest("after")))
    spec = drill_spec("default", rollout={"strategy": "drain", "node": "sandbox-2"}, sandbox={"nodes": 3})
    spec["spec"]["target"]["namespace"] = None
    spec_path, report_dir = tmp_path / "drill.yaml", tmp_path / "report"
    spec_path.write_text(yaml.safe_dump(spec))
    argv = [sys.executable, "-m", "nonstop", "--log-format", "json", "drill", "-f", str(spec_path), "--sandbox",
            "--apply", str(objects), "--report-dir", str(report_dir)]  # fmt: skip
    done = subprocess.run(argv, check=False, capture_output=True, text=True, timeout=240)
    result = DrillResult(done.returncode, done.stdout, done.stderr, report_dir)
    assert result.code == 0, result.stderr[-3000:]
    report = result.report
    [evicted] = [pod for pod in report["pods"] if pod["deletedAt"]]
    assert evicted["orderingOk"]
    assert evicted["gracefulExit"]
    assert result.check("endpoint-ordering") is True
    assert result.check("graceful-exit") is True
    assert len(report["pods"]) == 4  # three old pods, one replacement
    text = json.dumps(report)  # the timeline's actions
    assert f"evicted {evicted['name']} (drain of node sandbox-2)" in text
    assert "cordoned node sandbox-2" in text
    assert "uncordoned node sandbox-2" in text
    assert report["action"] == "promoted"


def test_drain_evicts_only_the_drained_nodes_pod_and_a_no_prestop_app_fails_ordering(
    three: Any, core: client.CoreV1Api, ns: str, tmp_path: Path
) -> None:
    apply(three, ns, spread_manifest("graceful-only"), tmp_path)
    before = placement(core, ns)
    assert sorted(before.values()) == list(NODES)  # one per node
    # another workload's pod on the drained node, in the target's namespace: never evicted
    stranger = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "stranger", "labels": {"app": "other"}},
                "spec": {"nodeName": "sandbox-1", "terminationGracePeriodSeconds": 0,
                         "containers": [{"name": "c", "image": "busybox", "command": ["sleep", "600"]}]}}  # fmt: skip
    core.create_namespaced_pod(ns, stranger)
    victim = next(name for name, on in before.items() if on == "sandbox-1")
    result = run_drill(three, drill_spec(ns, rollout={"strategy": "drain", "node": "sandbox-1"}), tmp_path)
    assert result.code == 1, result.stderr[-3000:]
    assert result.check("endpoint-ordering") is False
    assert [pod["name"] for pod in result.report["pods"] if pod["deletedAt"]] == [victim]
    after = placement(core, ns)
    assert victim not in after
    assert after["stranger"] == "sandbox-1"
    [replacement] = set(after) - set(before) - {"stranger"}
    assert after[replacement] != "sandbox-1"
    assert any("left 1 other pod(s) on node sandbox-1 running" in note for note in result.report["notes"])
    assert result.report["action"] == "none"  # nothing to undo: the template never changed
    assert_uncordoned(core)


def test_a_pdb_that_allows_no_disruption_makes_the_drain_wait_until_the_deadline(
    three: Any, core: client.CoreV1Api, ns: str, tmp_path: Path
) -> None:
    pdb = {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "web"},
           "spec": {"minAvailable": 3, "selector": {"matchLabels": {"app": "web"}}}}  # fmt: skip
    apply(three, ns, [*spread_manifest("after"), pdb], tmp_path)
    before = placement(core, ns)
    mark = len(requests(three))
    spec = drill_spec(ns, rollout={"strategy": "drain", "node": "sandbox-3"}, timeoutSeconds=12)
    result = run_drill(three, spec, tmp_path)
    assert result.code == 3, result.stderr[-3000:]
    assert result.report["verdict"] == "inconclusive"
    assert placement(core, ns) == before  # nothing was evicted
    evictions = [e for e in requests(three)[mark:] if e.get("subresource") == "eviction"]
    assert 2 <= len(evictions) <= 4, evictions  # refused, retried every 5 s for 12 s
    assert {e["code"] for e in evictions} == {429}
    assert any("evictions still refused" in note for note in result.report["notes"])
    assert_uncordoned(core)


def requests(three: Any) -> list[dict[str, Any]]:
    import urllib.request

    with urllib.request.urlopen(f"{three.url}/sandbox.nonstop.dev/requests?since=0", timeout=30) as response:
        return list(json.loads(response.read())["items"])


def test_an_unknown_node_is_refused_before_anything_changes(
    three: Any, core: client.CoreV1Api, ns: str, tmp_path: Path
) -> None:
    apply(three, ns, spread_manifest("after"), tmp_path)
    mark = len(requests(three))
    result = run_drill(three, drill_spec(ns, rollout={"strategy": "drain", "node": "sandbox-9"}), tmp_path)
    assert result.code == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "error: spec.rollout.node 'sandbox-9': no such Node in the cluster (it has sandbox-1, sandbox-2, sandbox-3)"
    )
    assert writes(requests(three)[mark:]) == []
    assert_uncordoned(core)


@pytest.mark.parametrize(
    ("rollout", "target_kind", "message"),
    [
        ({"strategy": "drain"}, "Deployment", "rollout.node (the Node to drain) is required by strategy 'drain'"),
        ({"strategy": "drain", "node": "n"}, "Rollout", "strategy 'drain' is not supported for an Argo Rollout"),
    ],
)
def test_a_drain_spec_without_node_or_on_a_rollout_is_exit_2(
    tmp_path: Path, rollout: dict[str, Any], target_kind: str, message: str
) -> None:
    spec = drill_spec("default", rollout=rollout)
    spec["spec"]["target"]["kind"] = target_kind
    result = run_drill(SimpleNamespace(kubeconfig=str(tmp_path / "none")), spec, tmp_path)
    assert result.code == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: ")
    assert message in line
    assert "field spec" in line


def test_an_interrupted_drain_uncordons_the_node_and_is_inconclusive(
    three: Any, core: client.CoreV1Api, ns: str, tmp_path: Path
) -> None:
    """SIGINT while evictions are refused: exit 3, evictions stop, the node is schedulable again."""
    pdb = {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "web"},
           "spec": {"minAvailable": 3, "selector": {"matchLabels": {"app": "web"}}}}  # fmt: skip
    apply(three, ns, [*spread_manifest("after"), pdb], tmp_path)
    argv, report_dir = drill_command(
        three, drill_spec(ns, rollout={"strategy": "drain", "node": "sandbox-2"}, timeoutSeconds=120), tmp_path
    )
    with subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stderr is not None
            for line in proc.stderr:  # bounded by the drill's own deadline
                if '"event": "drain started"' in line:
                    break
            assert node(core, "sandbox-2")["spec"].get("unschedulable") is True
            assert node(core, "sandbox-2")["metadata"]["annotations"]["nonstop.dev/cordoned-by"] == f"{ns}/test-drill"
            proc.send_signal(signal.SIGINT)
            proc.stderr.read()
            assert proc.wait(timeout=240) == 3
        finally:
            if proc.poll() is None:
                proc.kill()
    report = DrillResult(3, "", "", report_dir).report
    assert report["verdict"] == "inconclusive"
    assert "SIGINT/SIGTERM after the rollout started" in json.dumps(report)
    assert_uncordoned(core)


def test_credentials_that_may_not_cordon_are_refused_before_anything_changes(
    three: Any, core: client.CoreV1Api, ns: str, tmp_path: Path
) -> None:
    import urllib.request

    def access(body: dict[str, Any]) -> None:
        request = urllib.request.Request(f"{three.url}/sandbox.nonstop.dev/access", data=json.dumps(body).encode(),
                                         method="POST", headers={"Content-Type": "application/json"})  # fmt: skip
        urllib.request.urlopen(request, timeout=30).close()

    apply(three, ns, spread_manifest("after"), tmp_path)
    access({"deny": [["patch", "nodes"]]})
    try:
        mark = len(requests(three))
        result = run_drill(three, drill_spec(ns, rollout={"strategy": "drain", "node": "sandbox-1"}), tmp_path)
    finally:
        access({"allowAll": True})
    assert result.code == 2
    assert "may not patch nodes" in result.stderr.strip().splitlines()[-1]
    reviews = [e for e in requests(three)[mark:] if e.get("resource") == "selfsubjectaccessreviews"]
    assert reviews
    assert writes(requests(three)[mark:]) == []
    assert_uncordoned(core)
