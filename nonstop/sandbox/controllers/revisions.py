"""ReplicaSet identity and revision bookkeeping of a Deployment (K8S-SEMANTICS.md §1.3 step 1, §1.6).

Restated from Kubernetes' `deployment_util.go`: the new RS is the oldest one whose template equals
the Deployment's ignoring `pod-template-hash`; its name is `<deploy>-<hash>`; revisions are max+1;
a re-used old RS keeps its earlier numbers in `revision-history`; Deployment annotations are copied
to the new RS except the listed ones.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from nonstop.sandbox.store import Obj
from nonstop.toolkit.times import try_parse_time

__all__ = [
    "DESIRED_REPLICAS",
    "MAX_REPLICAS",
    "POD_TEMPLATE_HASH",
    "REVISION",
    "REVISION_HISTORY",
    "by_creation",
    "by_revision",
    "copy_annotations",
    "equal_ignore_hash",
    "find_new_replica_set",
    "max_revision",
    "revision_of",
    "set_new_rs_annotations",
    "set_replicas_annotations",
    "template_hash",
]

POD_TEMPLATE_HASH = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
ROLLBACK_TO = "deprecated.deployment.rollback.to"
_SKIP_COPY = {LAST_APPLIED, REVISION, REVISION_HISTORY, DESIRED_REPLICAS, MAX_REPLICAS, ROLLBACK_TO}
MAX_REVISION_HISTORY_CHARS = 2000
_SAFE_CHARS = "bcdfghjklmnpqrstvwxz2456789"


def template_hash(template: Obj, collision_count: int | None) -> str:
    """`ComputeHash`: FNV-1a 32 of the template (and collisionCount), encoded in the API's safe alphabet.

    Kubernetes hashes Go's printed form of the struct; ours hashes canonical JSON, so the values
    differ from a real cluster's but have the same shape and stability.
    """
    data = json.dumps(_normalized(template), sort_keys=True, separators=(",", ":")).encode()
    if collision_count is not None:
        data += str(collision_count).encode()
    value = 0x811C9DC5
    for byte in data:
        value ^= byte
        value = (value * 0x01000193) & 0xFFFFFFFF
    return "".join(_SAFE_CHARS[ord(char) % len(_SAFE_CHARS)] for char in str(value))


def _normalized(value: Any) -> Any:
    """Drop null and empty values: Go decodes `creationTimestamp: null`, `{}` and `[]` as zero values,
    and Kubernetes' semantic equality treats them as absent (kubectl's undo sends templates with them).
    """
    if isinstance(value, dict):
        out = {k: _normalized(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in (None, {}, [])}
    if isinstance(value, list):
        return [_normalized(v) for v in value]
    return value


def _without_hash(template: Any) -> Any:
    template = copy.deepcopy(template or {})
    labels = (template.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(POD_TEMPLATE_HASH, None)
    return _normalized(template)


def equal_ignore_hash(a: Any, b: Any) -> bool:
    """`EqualIgnoreHash`: pod templates equal once the `pod-template-hash` label is removed."""
    return bool(_without_hash(a) == _without_hash(b))


def by_creation(rs: Obj) -> tuple[float, str]:
    """Sort key of `ReplicaSetsByCreationTimestamp`: creation time, then name."""
    created = try_parse_time(rs["metadata"].get("creationTimestamp"))
    return (created.timestamp() if created else 0.0, rs["metadata"]["name"])


def revision_of(rs: Obj) -> int:
    """The RS's `deployment.kubernetes.io/revision` (0 when missing or not a number)."""
    text = (rs["metadata"].get("annotations") or {}).get(REVISION, "")
    try:
        return int(text)
    except ValueError:
        return 0


def by_revision(rs: Obj) -> tuple[int, float, str]:
    """Sort key of `ReplicaSetsByRevision`: revision, then creation."""
    return (revision_of(rs), *by_creation(rs))


def max_revision(replica_sets: list[Obj]) -> int:
    """`MaxRevision`: the highest revision among the RSs (0 when none)."""
    return max((revision_of(rs) for rs in replica_sets), default=0)


def find_new_replica_set(deployment: Obj, replica_sets: list[Obj]) -> Obj | None:
    """`FindNewReplicaSet`: the oldest RS whose template equals the Deployment's, ignoring the hash."""
    template = (deployment.get("spec") or {}).get("template")
    for rs in sorted(replica_sets, key=by_creation):
        if equal_ignore_hash((rs.get("spec") or {}).get("template"), template):
            return rs
    return None


def copy_annotations(deployment: Obj, rs: Obj) -> bool:
    """`copyDeploymentAnnotationsToReplicaSet`; returns whether the RS changed."""
    annotations = rs["metadata"].setdefault("annotations", {})
    changed = False
    for key, value in (deployment["metadata"].get("annotations") or {}).items():
        if key in _SKIP_COPY or annotations.get(key) == value:
            continue
        annotations[key] = value
        changed = True
    return changed


def set_replicas_annotations(rs: Obj, desired: int, maximum: int) -> bool:
    """`SetReplicasAnnotations`: desired-replicas and max-replicas; returns whether they changed."""
    annotations = rs["metadata"].setdefault("annotations", {})
    changed = False
    for key, value in ((DESIRED_REPLICAS, str(desired)), (MAX_REPLICAS, str(maximum))):
        if annotations.get(key) != value:
            annotations[key] = value
            changed = True
    return changed


def set_new_rs_annotations(
    deployment: Obj, rs: Obj, new_revision: int, *, exists: bool, desired: int, maximum: int
) -> bool:
    """`SetNewReplicaSetAnnotations`: copied annotations, revision max+1 and the revision history."""
    changed = copy_annotations(deployment, rs)
    annotations = rs["metadata"].setdefault("annotations", {})
    old_text = annotations.get(REVISION)
    try:
        old_revision = int(old_text) if old_text is not None else 0
    except ValueError:
        return changed
    if old_revision < new_revision:
        annotations[REVISION] = str(new_revision)
        changed = True
        if old_text is not None:  # a rollback re-uses this RS: keep its earlier numbers
            history = annotations.get(REVISION_HISTORY, "")
            if not history:
                annotations[REVISION_HISTORY] = old_text
            else:
                parts = history.split(",")
                total = len(history) + len(old_text) + 1
                start = 0
                while total > MAX_REVISION_HISTORY_CHARS and start < len(parts):
                    total -= len(parts[start]) + 1
                    start += 1
                if total <= MAX_REVISION_HISTORY_CHARS:
                    annotations[REVISION_HISTORY] = ",".join([*parts[start:], old_text])
    if not exists and set_replicas_annotations(rs, desired, maximum):
        changed = True
    return changed
