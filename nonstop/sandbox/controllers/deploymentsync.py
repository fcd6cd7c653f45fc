"""What every Deployment pass shares, whatever the strategy (Kubernetes' `sync.go`).

The pass (the Deployment and its ReplicaSets, kept current as it writes), the new ReplicaSet found
or created (its revision, its pod-template-hash name and a hash collision counted), one ReplicaSet
scaled with its replicas annotations and a ScalingReplicaSet event, status written, and the old
ReplicaSets beyond `revisionHistoryLimit` cleaned up. `deployment.py` decides what a pass does.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from nonstop.sandbox.apierrors import ApiError
from nonstop.sandbox.controllers.fenceposts import max_surge, new_rs_new_replicas
from nonstop.sandbox.controllers.loop import Controller, Key
from nonstop.sandbox.controllers.objects import (
    DEPLOYMENTS,
    PODS,
    REPLICASETS,
    controller_ref,
    controller_ref_to,
    is_terminal,
    namespace_open,
)
from nonstop.sandbox.controllers.progress import (
    FAILED_RS_CREATE_REASON,
    FOUND_NEW_RS_REASON,
    NEW_RS_REASON,
    calculate_status,
    get_condition,
    has_progress_deadline,
    new_condition,
    replicas_of,
    rollout_status,
    set_condition,
    spec_replicas,
    status_int,
)
from nonstop.sandbox.controllers.revisions import (
    DESIRED_REPLICAS,
    MAX_REPLICAS,
    POD_TEMPLATE_HASH,
    REVISION,
    by_creation,
    by_revision,
    equal_ignore_hash,
    find_new_replica_set,
    max_revision,
    set_new_rs_annotations,
    template_hash,
)
from nonstop.sandbox.store import Obj

__all__ = [
    "DeploymentPass",
    "DeploymentSync",
    "active_replica_sets",
    "desired_annotation",
    "is_recreate",
    "max_annotation",
    "new_replica_set",
]


@dataclass
class DeploymentPass:
    """One sync pass: the Deployment as this pass knows it and its ReplicaSets by name (kept current)."""

    d: Obj
    rss: dict[str, Obj]
    new_name: str | None = None

    @property
    def new(self) -> Obj | None:
        return self.rss.get(self.new_name) if self.new_name else None

    def olds(self) -> list[Obj]:
        return sorted((rs for name, rs in self.rss.items() if name != self.new_name), key=by_creation)

    def all(self) -> list[Obj]:
        new = self.new
        return [*self.olds(), *([new] if new is not None else [])]


def active_replica_sets(rss: Iterable[Obj]) -> list[Obj]:
    """`FilterActiveReplicaSets`: spec.replicas > 0."""
    return [rs for rs in rss if spec_replicas(rs) > 0]


def _int_annotation(rs: Obj, key: str) -> int | None:
    text = (rs["metadata"].get("annotations") or {}).get(key)
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def desired_annotation(rs: Obj) -> int | None:
    """The `deployment.kubernetes.io/desired-replicas` annotation, None when missing or not a number."""
    return _int_annotation(rs, DESIRED_REPLICAS)


def max_annotation(rs: Obj) -> int | None:
    """The `deployment.kubernetes.io/max-replicas` annotation, None when missing or not a number."""
    return _int_annotation(rs, MAX_REPLICAS)


def is_recreate(d: Obj) -> bool:
    return ((d.get("spec") or {}).get("strategy") or {}).get("type") == "Recreate"


class DeploymentSync(Controller[Key]):
    """The writes and lookups every Deployment pass shares; `DeploymentController` decides which it makes."""

    def _write_status(self, d: Obj) -> None:
        """`UpdateStatus`: status and the revision annotation; spec, labels and generation stay."""
        status = copy.deepcopy(d.get("status") or {})
        revision = (d["metadata"].get("annotations") or {}).get(REVISION)

        def update(obj: Obj) -> None:
            obj["status"] = status
            if revision is not None:
                obj["metadata"].setdefault("annotations", {})[REVISION] = revision

        self.store.mutate(DEPLOYMENTS, d["metadata"]["namespace"], d["metadata"]["name"], update)

    def _scale(self, p: DeploymentPass, rs: Obj, new_scale: int, operation: str | None = None) -> bool:
        """`scaleReplicaSet(AndRecordEvent)`: set spec.replicas and the replicas annotations; event if resized."""
        d = p.d
        old_scale = spec_replicas(rs)
        if operation is None:
            if old_scale == new_scale:
                return False
            operation = "up" if old_scale < new_scale else "down"
        replicas = replicas_of(d)
        desired, maximum = str(replicas), str(replicas + max_surge(d))
        annotations = rs["metadata"].get("annotations") or {}
        size_changes = old_scale != new_scale
        same_annotations = annotations.get(DESIRED_REPLICAS) == desired and annotations.get(MAX_REPLICAS) == maximum
        if not size_changes and same_annotations:
            return False

        def update(obj: Obj) -> None:
            obj.setdefault("spec", {})["replicas"] = new_scale
            ann = obj["metadata"].setdefault("annotations", {})
            ann[DESIRED_REPLICAS] = desired
            ann[MAX_REPLICAS] = maximum

        name = rs["metadata"]["name"]
        namespace = rs["metadata"]["namespace"]
        p.rss[name] = self.store.mutate(REPLICASETS, namespace, name, update, bump_generation=size_changes)
        if size_changes:
            verb = "up" if operation == "up" else "down"
            self.event(d, "ScalingReplicaSet", f"Scaled {verb} replica set {name} from {old_scale} to {new_scale}")
        return size_changes

    # -- new and old ReplicaSets -----------------------------------------------------------------

    def _new_and_old(self, p: DeploymentPass, *, create: bool) -> None:
        """`getAllReplicaSetsAndSyncRevision` / `getNewReplicaSet`: find (or create) the new RS, sync revisions."""
        d = p.d
        rs_list = list(p.rss.values())
        existing = find_new_replica_set(d, rs_list)
        olds = [rs for rs in rs_list if existing is None or rs["metadata"]["uid"] != existing["metadata"]["uid"]]
        new_revision = max_revision(olds) + 1
        replicas = replicas_of(d)
        maximum = replicas + max_surge(d)
        min_ready = int((d.get("spec") or {}).get("minReadySeconds") or 0)
        now = datetime.now(UTC)
        if existing is not None:
            name = existing["metadata"]["name"]
            p.new_name = name
            rs_copy = copy.deepcopy(existing)
            changed = set_new_rs_annotations(d, rs_copy, new_revision, exists=True, desired=replicas, maximum=maximum)
            min_ready_changes = int((rs_copy.get("spec") or {}).get("minReadySeconds") or 0) != min_ready
            if changed or min_ready_changes:
                annotations = rs_copy["metadata"].get("annotations") or {}

                def update(obj: Obj) -> None:
                    obj["metadata"]["annotations"] = annotations
                    obj.setdefault("spec", {})["minReadySeconds"] = min_ready

                p.rss[name] = self.store.mutate(
                    REPLICASETS, d["metadata"]["namespace"], name, update, bump_generation=min_ready_changes
                )
                return  # the Deployment's revision follows on the next pass (the RS write wakes it)
            needs_update = _set_revision(d, (rs_copy["metadata"].get("annotations") or {}).get(REVISION, ""))
            status = d.setdefault("status", {})
            if has_progress_deadline(d) and get_condition(status, "Progressing") is None:
                set_condition(
                    status,
                    new_condition("Progressing", "True", FOUND_NEW_RS_REASON, f'Found new replica set "{name}"', now),
                )
                needs_update = True
            if needs_update:
                self._write_status(d)
            return
        if not create or not namespace_open(self.store, d["metadata"]["namespace"]):
            return  # a terminating namespace takes no new content
        self._create_new_replica_set(p, olds, new_revision, now)

    def _create_new_replica_set(self, p: DeploymentPass, olds: list[Obj], new_revision: int, now: datetime) -> None:
        """`getNewReplicaSet`'s creation: sized by maxSurge (all replicas for Recreate), annotated, then recorded."""
        d = p.d
        namespace = d["metadata"]["namespace"]
        new_rs = new_replica_set(d)
        name = new_rs["metadata"]["name"]
        replicas = replicas_of(d)
        if is_recreate(d):
            count = replicas
        else:
            count = new_rs_new_replicas(
                replicas=replicas,
                surge=max_surge(d),
                total_spec=max(sum(spec_replicas(rs) for rs in olds), self._live_pods(namespace, olds)),
                new_spec=0,
            )
        new_rs["spec"]["replicas"] = count
        set_new_rs_annotations(d, new_rs, new_revision, exists=False, desired=replicas, maximum=replicas + max_surge(d))
        try:
            created, already = self.store.create(REPLICASETS, new_rs), False
        except ApiError as exc:
            found = self._not_created(d, name, exc, now)
            if found is None:
                return
            created, already = found, True
        p.rss[name] = created
        p.new_name = name
        if not already and count > 0:
            self.event(d, "ScalingReplicaSet", f"Scaled up replica set {name} from 0 to {count}")
        needs_update = _set_revision(d, str(new_revision))
        if not already and has_progress_deadline(d):
            set_condition(
                d.setdefault("status", {}),
                new_condition("Progressing", "True", NEW_RS_REASON, f'Created new replica set "{name}"', now),
            )
            needs_update = True
        if needs_update:
            self._write_status(d)

    def _not_created(self, d: Obj, name: str, exc: ApiError, now: datetime) -> Obj | None:
        """The new RS could not be created: ours already (returned), a hash collision (counted), or a failure."""
        status = d.setdefault("status", {})
        if exc.reason == "AlreadyExists":
            found = self.store.find(REPLICASETS, d["metadata"]["namespace"], name)
            ref = controller_ref(found) if found is not None else None
            if (
                found is not None
                and ref is not None
                and ref.get("uid") == d["metadata"]["uid"]
                and equal_ignore_hash((found.get("spec") or {}).get("template"), (d.get("spec") or {}).get("template"))
            ):
                return found
            status["collisionCount"] = int(status.get("collisionCount") or 0) + 1  # the next pass hashes differently
            self._write_status(d)
            return None
        message = f'Failed to create new replica set "{name}": {exc.message}'
        if has_progress_deadline(d):
            set_condition(status, new_condition("Progressing", "False", FAILED_RS_CREATE_REASON, message, now))
            self._write_status(d)
        self.event(d, FAILED_RS_CREATE_REASON, message, warning=True)
        return None

    def _sync_deployment_status(self, p: DeploymentPass) -> None:
        """`syncDeploymentStatus`: write the calculated status when it differs."""
        status = calculate_status(p.all(), p.new, p.d, datetime.now(UTC))
        if status != (p.d.get("status") or {}):
            p.d["status"] = status
            self._write_status(p.d)

    def _cleanup(self, p: DeploymentPass) -> None:
        """`cleanupDeployment`: delete the oldest empty old RSs beyond revisionHistoryLimit."""
        limit = (p.d.get("spec") or {}).get("revisionHistoryLimit")
        if limit is None or int(limit) == 2**31 - 1:
            return
        cleanable = [rs for rs in p.olds() if not rs["metadata"].get("deletionTimestamp")]
        diff = len(cleanable) - int(limit)
        if diff <= 0:
            return
        for rs in sorted(cleanable, key=by_revision)[:diff]:
            if (
                status_int(rs, "replicas") != 0
                or spec_replicas(rs) != 0
                or int(rs["metadata"].get("generation", 1)) > status_int(rs, "observedGeneration")
            ):
                continue
            try:
                self.store.remove(REPLICASETS, rs["metadata"]["namespace"], rs["metadata"]["name"])
            except ApiError as exc:
                if exc.code != 404:
                    raise
            p.rss.pop(rs["metadata"]["name"], None)

    def _sync_rollout_status(self, p: DeploymentPass) -> float | None:
        status, requeue = rollout_status(p.all(), p.new, p.d, datetime.now(UTC))
        if status != (p.d.get("status") or {}):
            p.d["status"] = status
            self._write_status(p.d)
        return requeue

    def _live_pods(self, namespace: str, rss: list[Obj]) -> int:
        """Pods of `rss` not yet terminating (nor terminal).

        Kubernetes bounds only the ReplicaSets' spec total by replicas + maxSurge; an old pod the
        ReplicaSet controller has not yet marked for deletion still runs, so a real cluster can
        overshoot for a moment. The sandbox promises the stricter bound the drill reasons with
        (docs/sandbox.md), so scale-up also waits for those pods to start terminating.
        """
        uids = {rs["metadata"]["uid"] for rs in rss}
        pods, _ = self.store.list(PODS, namespace)
        return sum(
            1
            for pod in pods
            if (ref := controller_ref(pod)) is not None
            and ref.get("uid") in uids
            and not pod["metadata"].get("deletionTimestamp")
            and not is_terminal(pod)
        )


def _set_revision(d: Obj, revision: str) -> bool:
    """`SetDeploymentRevision`."""
    annotations = d["metadata"].setdefault("annotations", {})
    if annotations.get(REVISION) != revision:
        annotations[REVISION] = revision
        return True
    return False


def new_replica_set(d: Obj) -> Obj:
    """The new ReplicaSet of `d` (0 replicas): template and selector carry the pod-template-hash, so does its name."""
    spec = d.get("spec") or {}
    template = copy.deepcopy(spec.get("template") or {})
    pod_hash = template_hash(template, (d.get("status") or {}).get("collisionCount"))
    template.setdefault("metadata", {}).setdefault("labels", {})[POD_TEMPLATE_HASH] = pod_hash
    selector = copy.deepcopy(spec.get("selector") or {})
    selector.setdefault("matchLabels", {})[POD_TEMPLATE_HASH] = pod_hash
    return {
        "metadata": {
            "name": f"{d['metadata']['name']}-{pod_hash}",
            "namespace": d["metadata"]["namespace"],
            "labels": dict(template["metadata"]["labels"]),
            "ownerReferences": [controller_ref_to(d)],
        },
        "spec": {
            "replicas": 0,
            "minReadySeconds": int(spec.get("minReadySeconds") or 0),
            "selector": selector,
            "template": template,
        },
        "status": {"replicas": 0},
    }
