"""`controlled_by`: which pods chaos may evict — only those a ReplicaSet `<target>-<hash>` controls."""

from __future__ import annotations

from typing import Any

import pytest

from nonstop.strategies.pods import controlled_by


def pod(owner_rs: str | None, *, hash_label: str = "pod-template-hash", template_hash: str = "5b76886cf",
        controller: bool = True, kind: str = "ReplicaSet") -> dict[str, Any]:  # fmt: skip
    refs = [{"kind": kind, "name": owner_rs, "controller": controller}] if owner_rs else []
    return {"metadata": {"name": "p", "labels": {"app": "web", hash_label: template_hash}, "ownerReferences": refs}}


@pytest.mark.parametrize(
    ("candidate", "expected"),
    [
        (pod("web-5b76886cf"), True),
        (pod("web-5b76886cf", hash_label="rollouts-pod-template-hash"), True),  # an Argo Rollout's pod
        (pod("web-canary-5b76886cf"), False),  # the canary nonstop made
        (pod("web-legacy-5b76886cf"), False),  # another Deployment whose pods carry app=web
        (pod("web-5b76886cf", template_hash="abc"), False),  # the name does not match its own hash
        (pod("web-5b76886cf", controller=False), False),  # an owner, not the controller
        (pod("web-5b76886cf", kind="StatefulSet"), False),
        (pod(None), False),  # a bare pod with the target's labels
    ],
    ids=["deployment", "rollout", "canary", "other-deployment", "hash-mismatch", "not-controller", "sts", "bare-pod"],
)
def test_chaos_only_evicts_pods_the_targets_replica_sets_control(candidate: dict[str, Any], expected: bool) -> None:
    assert controlled_by(candidate, "web") is expected
