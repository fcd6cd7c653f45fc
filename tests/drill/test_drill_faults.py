"""The drill under API faults: no transition lost or duplicated, transient errors retried, and never a
`pass` on evidence weaker than an unfaulted run's — a blind spell that matters makes it inconclusive.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from drill_helpers import apply, drill_command, drill_spec, manifest, run_drill
from kubernetes import client
from test_drill_interrupts import RunningDrill

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]

TRANSITIONS = (
    ("createdAt", "created"),
    ("readyAt", "ready"),
    ("deletedAt", "deleting"),
    ("endpointUnreadyAt", "left endpoints"),
    ("stoppedAcceptingAt", "stopped accepting"),
    ("exitedAt", "exited"),
)
OLD_POD = ["created", "ready", "deleting", "left endpoints", "stopped accepting", "exited"]


def transitions(pod: dict[str, Any]) -> list[str]:
    """The pod's observed transitions in the order they happened."""
    seen = [(pod[key], name) for key, name in TRANSITIONS if pod[key] is not None]
    return [name for _, name in sorted(seen)]


def by_role(report: dict[str, Any]) -> Counter[tuple[str, str]]:
    """(role, transition) → how many pods went through it."""
    return Counter((pod["role"], name) for pod in report["pods"] for name in transitions(pod))


def test_watch_drops_410s_and_500s_lose_no_transition_and_keep_the_verdict(
    sandbox: Any, namespace: str, tmp_path: Path, faults: Any
) -> None:
    """The same restart twice: clean, then with the drill's watches cut every second, every resume
    answered 410 (re-list) and a fifth of its reads answered 500 (retried).
    """
    apply(sandbox, namespace, manifest("after", replicas=2), tmp_path)
    (tmp_path / "clean").mkdir()
    (tmp_path / "faulted").mkdir()
    clean = run_drill(sandbox, drill_spec(namespace), tmp_path / "clean")
    assert clean.code == 0, clean.stderr[-2000:]

    faults(dropWatchesEverySeconds=1, expireResumes=True, errorRate=0.2, errorCode=500, verbs=["get", "list", "watch"],
           callers=["nonstop/"])  # fmt: skip
    mark = sandbox.mark()
    faulted = run_drill(sandbox, drill_spec(namespace), tmp_path / "faulted")
    faults()
    log = sandbox.requests(since=mark)
    assert faulted.code in (0, 3), faulted.stderr[-2000:]  # the clean verdict, or inconclusive — never fail
    report = faulted.report
    if faulted.code == 3:
        assert any("blind" in reason for reason in report["verdictReasons"]), report["verdictReasons"]
        assert report["decision"] == "rollback"

    injected = [e for e in log if e["code"] == 500 and e["caller"].startswith("nonstop/")]
    assert len(injected) >= 5, "the fault answered the drill's reads with 500"
    assert any("re-listed" in note for note in report["notes"]), report["notes"]

    assert by_role(report) == by_role(clean.report)  # same pods, same transitions: none lost, none doubled
    for pod in report["pods"]:
        if pod["role"] == "old":
            assert transitions(pod)[:2] == ["created", "ready"]
            assert sorted(transitions(pod)) == sorted(OLD_POD), pod
            assert transitions(pod).index("deleting") < transitions(pod).index("exited")
        else:
            assert transitions(pod) == ["created", "ready"], pod


def test_a_stall_while_old_pods_terminate_makes_the_drill_inconclusive_not_pass(
    sandbox: Any, namespace: str, tmp_path: Path, faults: Any
) -> None:
    """When the rollout starts, the drill's watches are cut and the API stalls its requests for 12 s —
    longer than the old pods' 5 s of serving after leaving the endpoints — so when a pod left and when
    it stopped cannot be told apart from the ordering minimum: exit 3, fail decision, notes say why.
    """
    apply(sandbox, namespace, manifest("after"), tmp_path)
    apps = client.AppsV1Api(sandbox.api_client())
    generation = apps.read_namespaced_deployment("web", namespace).metadata.generation
    argv, report_dir = drill_command(sandbox, drill_spec(namespace), tmp_path)
    drill = RunningDrill(argv)
    try:
        deadline = time.monotonic() + 120
        while apps.read_namespaced_deployment("web", namespace).metadata.generation == generation:
            assert drill.proc.poll() is None, drill.stderr[-3000:]
            assert time.monotonic() < deadline, "the rollout never started"
            time.sleep(0.05)
        faults(dropWatches=True, stallSeconds=12, callers=["nonstop/"])
        code = drill.proc.wait(timeout=180)
    finally:
        faults()
        drill.close()
    assert code == 3, drill.stderr[-3000:]
    report = json.loads((report_dir / "report.json").read_text())
    assert report["verdict"] == "inconclusive"
    assert any("a watch was blind when pods changed" in r for r in report["verdictReasons"]), report["verdictReasons"]
    assert any("seen up to" in note for note in report["notes"]), report["notes"]
    assert report["decision"] == "rollback"
