"""The Deployment controller (K8S-SEMANTICS.md §1, restated from Kubernetes' `sync.go`, `rolling.go`,
`recreate.go` and `progress.go`).

One sync pass per Deployment: claim its ReplicaSets; a paused Deployment or a `replicas` change is
only scaled (proportionally across active RSs); otherwise RollingUpdate scales the new RS up first
(and stops there when it did), then old RSs down within maxUnavailable, unhealthy ones first;
Recreate scales old RSs to 0 and waits until their pods have terminated before the new RS grows.
Every pass ends by writing status and the Progressing/Available conditions.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from nonstop.sandbox.apierrors import ApiError
from nonstop.sandbox.controllers.claims import claim
from nonstop.sandbox.controllers.fenceposts import (
    max_scaled_down,
    max_surge,
    max_unavailable,
    new_rs_new_replicas,
    replica_set_proportion,
)
from nonstop.sandbox.controllers.loop import Controller, Key, key_of
from nonstop.sandbox.controllers.objects import (
    DEPLOYMENTS,
    PODS,
    REPLICASETS,
    controller_ref,
    controller_ref_to,
    is_terminal,
    namespace_open,
    owner_keys,
)
from nonstop.sandbox.controllers.progress import (
    FAILED_RS_CREATE_REASON,
    FOUND_NEW_RS_REASON,
    NEW_RS_REASON,
    PAUSED_REASON,
    RESUMED_REASON,
    TIMED_OUT_REASON,
    calculate_status,
    deployment_complete,
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
from nonstop.sandbox.store import Change, Obj

__all__ = ["DeploymentController"]

COMPONENT = "deployment-controller"


@dataclass
class _Pass:
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


def _active(rss: Iterable[Obj]) -> list[Obj]:
    """`FilterActiveReplicaSets`: spec.replicas > 0."""
    return [rs for rs in rss if spec_replicas(rs) > 0]


def _desired_annotation(rs: Obj) -> int | None:
    text = (rs["metadata"].get("annotations") or {}).get(DESIRED_REPLICAS)
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def _max_annotation(rs: Obj) -> int | None:
    text = (rs["metadata"].get("annotations") or {}).get(MAX_REPLICAS)
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def _is_recreate(d: Obj) -> bool:
    return ((d.get("spec") or {}).get("strategy") or {}).get("type") == "Recreate"


class DeploymentController(Controller[Key]):
    """Rolls Deployments out through their ReplicaSets."""

    name = COMPONENT

    def all_keys(self) -> Iterable[Key]:
        return [key_of(d) for d in self.store.list(DEPLOYMENTS)[0]]

    def keys_for(self, change: Change) -> Iterable[Key]:
        obj = change.obj
        namespace = obj["metadata"].get("namespace", "")
        if change.kind is DEPLOYMENTS:
            return [key_of(obj)]
        if change.kind is REPLICASETS:
            return owner_keys(self.store, obj, change.prev, DEPLOYMENTS)
        if change.kind is PODS and (change.type == "DELETED" or (is_terminal(obj) and not _terminal(change.prev))):
            # Recreate waits for old pods to be gone: their end is a reason to look again.
            ref = controller_ref(obj)
            if ref is not None and ref.get("kind") == "ReplicaSet":
                rs = self.store.find(REPLICASETS, namespace, ref["name"])
                owner = controller_ref(rs) if rs is not None else None
                if owner is not None and owner.get("kind") == "Deployment":
                    return [(namespace, owner["name"])]
        return []

    # -- the pass ---------------------------------------------------------------------------------

    def sync(self, key: Key) -> float | None:
        namespace, name = key
        d = self.store.find(DEPLOYMENTS, namespace, name)
        if d is None:
            return None
        selector = (d.get("spec") or {}).get("selector") or {}
        if not selector.get("matchLabels") and not selector.get("matchExpressions"):
            self.event(
                d,
                "SelectingAll",
                "This deployment is selecting all pods. A non-empty selector is required.",
                warning=True,
            )
            if status_int(d, "observedGeneration") < int(d["metadata"].get("generation", 1)):
                d.setdefault("status", {})["observedGeneration"] = d["metadata"].get("generation", 1)
                self._write_status(d)
            return None
        p = _Pass(d, {rs["metadata"]["name"]: rs for rs in self._claim_replica_sets(d)})
        if d["metadata"].get("deletionTimestamp"):
            self._new_and_old(p, create=False)
            self._sync_deployment_status(p)
            return None
        self._check_paused_conditions(p)
        if (d.get("spec") or {}).get("paused"):
            return self._sync_scale(p)
        if self._is_scaling_event(p):
            return self._sync_scale(p)
        if _is_recreate(d):
            return self._rollout_recreate(p)
        return self._rollout_rolling(p)

    # -- ownership --------------------------------------------------------------------------------

    def _claim_replica_sets(self, d: Obj) -> list[Obj]:
        """`getReplicaSetsForDeployment`: owned RSs that match; adopt matching orphans, release the rest."""
        claimed, _ = claim(self.store, REPLICASETS, d, self.store.list(REPLICASETS, d["metadata"]["namespace"])[0])
        return claimed

    # -- writes -----------------------------------------------------------------------------------

    def _write_status(self, d: Obj) -> None:
        """`UpdateStatus`: status and the revision annotation; spec, labels and generation stay."""
        status = copy.deepcopy(d.get("status") or {})
        revision = (d["metadata"].get("annotations") or {}).get(REVISION)

        def update(obj: Obj) -> None:
            obj["status"] = status
            if revision is not None:
                obj["metadata"].setdefault("annotations", {})[REVISION] = revision

        self.store.mutate(DEPLOYMENTS, d["metadata"]["namespace"], d["metadata"]["name"], update)

    def _scale(self, p: _Pass, rs: Obj, new_scale: int, operation: str | None = None) -> bool:
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

    def _new_and_old(self, p: _Pass, *, create: bool) -> None:
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

    def _create_new_replica_set(self, p: _Pass, olds: list[Obj], new_revision: int, now: datetime) -> None:
        d = p.d
        namespace = d["metadata"]["namespace"]
        spec = d.get("spec") or {}
        status = d.setdefault("status", {})
        template = copy.deepcopy(spec.get("template") or {})
        pod_hash = template_hash(template, status.get("collisionCount"))
        template.setdefault("metadata", {}).setdefault("labels", {})[POD_TEMPLATE_HASH] = pod_hash
        selector = copy.deepcopy(spec.get("selector") or {})
        selector.setdefault("matchLabels", {})[POD_TEMPLATE_HASH] = pod_hash
        replicas = replicas_of(d)
        maximum = replicas + max_surge(d)
        name = f"{d['metadata']['name']}-{pod_hash}"
        new_rs: Obj = {
            "metadata": {
                "name": name,
                "namespace": namespace,
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
        if _is_recreate(d):
            count = replicas
        else:
            count = new_rs_new_replicas(
                replicas=replicas,
                surge=max_surge(d),
                total_spec=max(sum(spec_replicas(rs) for rs in olds), self._live_pods(namespace, olds)),
                new_spec=0,
            )
        new_rs["spec"]["replicas"] = count
        set_new_rs_annotations(d, new_rs, new_revision, exists=False, desired=replicas, maximum=maximum)
        already = False
        try:
            created = self.store.create(REPLICASETS, new_rs)
        except ApiError as exc:
            if exc.reason == "AlreadyExists":
                found = self.store.find(REPLICASETS, namespace, name)
                ref = controller_ref(found) if found is not None else None
                if (
                    found is not None
                    and ref is not None
                    and ref.get("uid") == d["metadata"]["uid"]
                    and equal_ignore_hash((found.get("spec") or {}).get("template"), spec.get("template"))
                ):
                    created, already = found, True
                else:  # a hash collision: count it, the next pass hashes differently
                    status["collisionCount"] = int(status.get("collisionCount") or 0) + 1
                    self._write_status(d)
                    return
            else:
                message = f'Failed to create new replica set "{name}": {exc.message}'
                if has_progress_deadline(d):
                    set_condition(status, new_condition("Progressing", "False", FAILED_RS_CREATE_REASON, message, now))
                    self._write_status(d)
                self.event(d, FAILED_RS_CREATE_REASON, message, warning=True)
                return
        p.rss[name] = created
        p.new_name = name
        if not already and count > 0:
            self.event(d, "ScalingReplicaSet", f"Scaled up replica set {name} from 0 to {count}")
        needs_update = _set_revision(d, str(new_revision))
        if not already and has_progress_deadline(d):
            set_condition(
                status, new_condition("Progressing", "True", NEW_RS_REASON, f'Created new replica set "{name}"', now)
            )
            needs_update = True
        if needs_update:
            self._write_status(d)

    # -- paused, scaling --------------------------------------------------------------------------

    def _check_paused_conditions(self, p: _Pass) -> None:
        """`checkPausedConditions`: Progressing Unknown DeploymentPaused / DeploymentResumed."""
        d = p.d
        if not has_progress_deadline(d):
            return
        status = d.setdefault("status", {})
        condition = get_condition(status, "Progressing")
        if condition is not None and condition.get("reason") == TIMED_OUT_REASON:
            return
        paused = bool((d.get("spec") or {}).get("paused"))
        paused_exists = condition is not None and condition.get("reason") == PAUSED_REASON
        now = datetime.now(UTC)
        if paused and not paused_exists:
            set_condition(status, new_condition("Progressing", "Unknown", PAUSED_REASON, "Deployment is paused", now))
        elif not paused and paused_exists:
            set_condition(status, new_condition("Progressing", "Unknown", RESUMED_REASON, "Deployment is resumed", now))
        else:
            return
        self._write_status(d)

    def _is_scaling_event(self, p: _Pass) -> bool:
        """`isScalingEvent`: an active RS's desired-replicas annotation differs from spec.replicas."""
        self._new_and_old(p, create=False)
        replicas = replicas_of(p.d)
        for rs in _active(p.all()):
            desired = _desired_annotation(rs)
            if desired is not None and desired != replicas:
                return True
        return False

    def _sync_scale(self, p: _Pass) -> float | None:
        """`sync`: scale (proportionally), clean up when paused, write status."""
        self._new_and_old(p, create=False)
        self._scale_proportionally(p)
        if (p.d.get("spec") or {}).get("paused"):
            self._cleanup(p)
        self._sync_deployment_status(p)
        return None

    def _scale_proportionally(self, p: _Pass) -> None:
        """`scale`: one active RS takes all; a saturated new RS empties the old; else spread the difference."""
        d = p.d
        replicas = replicas_of(d)
        new = p.new
        olds_newest_first = sorted(p.olds(), key=by_creation, reverse=True)
        active = _active([*olds_newest_first, *([new] if new is not None else [])])
        target: Obj | None = None
        if not active:
            target = new if new is not None else (olds_newest_first[0] if olds_newest_first else None)
        elif len(active) == 1:
            target = active[0]
        if target is not None or not active:
            if target is not None and spec_replicas(target) != replicas:
                self._scale(p, target, replicas)
            return
        if new is not None and _is_saturated(d, new):
            for old in _active(p.olds()):
                self._scale(p, old, 0)
            return
        if _is_recreate(d):
            return
        all_active = _active(p.all())
        total = sum(spec_replicas(rs) for rs in all_active)
        allowed = replicas + max_surge(d) if replicas > 0 else 0
        to_add = allowed - total
        operation = ""
        if to_add > 0:  # `ReplicaSetsBySizeNewer`: larger first, then newer
            all_active.sort(key=by_creation, reverse=True)
            all_active.sort(key=lambda rs: -spec_replicas(rs))
            operation = "up"
        elif to_add < 0:  # `ReplicaSetsBySizeOlder`: larger first, then older
            all_active.sort(key=by_creation)
            all_active.sort(key=lambda rs: -spec_replicas(rs))
            operation = "down"
        added = 0
        sizes: dict[str, int] = {}
        for rs in all_active:
            name = rs["metadata"]["name"]
            if to_add != 0:
                share = replica_set_proportion(
                    rs_spec=spec_replicas(rs),
                    annotated_max=_max_annotation(rs),
                    deployment_replicas=replicas,
                    deployment_surge=max_surge(d),
                    deployment_status_replicas=status_int(d, "replicas"),
                    to_add=to_add,
                    added=added,
                )
                sizes[name] = spec_replicas(rs) + share
                added += share
            else:
                sizes[name] = spec_replicas(rs)
        for i, rs in enumerate(all_active):
            name = rs["metadata"]["name"]
            if i == 0 and to_add != 0:
                sizes[name] = max(0, sizes[name] + to_add - added)
            self._scale(p, p.rss[name], sizes[name], operation or "down")

    def _sync_deployment_status(self, p: _Pass) -> None:
        """`syncDeploymentStatus`: write the calculated status when it differs."""
        status = calculate_status(p.all(), p.new, p.d, datetime.now(UTC))
        if status != (p.d.get("status") or {}):
            p.d["status"] = status
            self._write_status(p.d)

    def _cleanup(self, p: _Pass) -> None:
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

    # -- RollingUpdate ----------------------------------------------------------------------------

    def _rollout_rolling(self, p: _Pass) -> float | None:
        """`rolloutRolling`: scale up first (and stop there), then down; clean up when complete."""
        self._new_and_old(p, create=True)
        if p.new is None:
            return 1.0  # creation failed or collided: try again shortly
        if self._reconcile_new(p):
            return self._sync_rollout_status(p)
        try:
            scaled_down = self._reconcile_old(p)
        except _StaleStatus as exc:
            self.log.debug("sync retry", reason=str(exc))
            return 0.5  # the RS controller's status write wakes this sooner
        if scaled_down:
            return self._sync_rollout_status(p)
        if deployment_complete(p.d, p.d.get("status") or {}):
            self._cleanup(p)
        return self._sync_rollout_status(p)

    def _reconcile_new(self, p: _Pass) -> bool:
        new = p.new
        assert new is not None
        replicas = replicas_of(p.d)
        current = spec_replicas(new)
        if current == replicas:
            return False
        if current > replicas:
            return self._scale(p, new, replicas)
        count = new_rs_new_replicas(
            replicas=replicas,
            surge=max_surge(p.d),
            total_spec=max(
                sum(spec_replicas(rs) for rs in p.all()),
                self._live_pods(p.d["metadata"]["namespace"], p.olds()) + current,
            ),
            new_spec=current,
        )
        return self._scale(p, new, count)

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

    def _reconcile_old(self, p: _Pass) -> bool:
        new = p.new
        assert new is not None
        olds = _active(p.olds())
        if sum(spec_replicas(rs) for rs in olds) == 0:
            return False
        d = p.d
        min_available = replicas_of(d) - max_unavailable(d)
        budget = max_scaled_down(
            total_spec=sum(spec_replicas(rs) for rs in p.all()),
            min_available=min_available,
            new_spec=spec_replicas(new),
            new_available=status_int(new, "availableReplicas"),
        )
        if budget <= 0:
            return False
        cleaned = 0
        for old in sorted(olds, key=by_creation):  # `cleanupUnhealthyReplicas`
            if cleaned >= budget:
                break
            rs = p.rss[old["metadata"]["name"]]
            spec, available = spec_replicas(rs), status_int(rs, "availableReplicas")
            if spec in (0, available):
                continue
            count = min(budget - cleaned, spec - available)
            if count < 0:  # status still counts pods the spec no longer has: Kubernetes refuses, and retries
                raise _StaleStatus(f"cleaning up unhealthy replicas would scale {rs['metadata']['name']} up")
            self._scale(p, rs, spec - count)
            cleaned += count
        scaled = 0
        available_all = sum(status_int(rs, "availableReplicas") for rs in p.all())
        if available_all > min_available:  # `scaleDownOldReplicaSetsForRollingUpdate`
            total = available_all - min_available
            for rs in sorted(_active(p.olds()), key=by_creation):
                if scaled >= total:
                    break
                count = min(spec_replicas(rs), total - scaled)
                self._scale(p, rs, spec_replicas(rs) - count)
                scaled += count
        return cleaned + scaled > 0

    def _sync_rollout_status(self, p: _Pass) -> float | None:
        status, requeue = rollout_status(p.all(), p.new, p.d, datetime.now(UTC))
        if status != (p.d.get("status") or {}):
            p.d["status"] = status
            self._write_status(p.d)
        return requeue

    # -- Recreate ---------------------------------------------------------------------------------

    def _rollout_recreate(self, p: _Pass) -> float | None:
        """`rolloutRecreate`: old RSs to 0; once no old pod is left, create and scale the new RS."""
        self._new_and_old(p, create=False)
        scaled_down = False
        for rs in _active(p.olds()):
            scaled_down = self._scale(p, rs, 0) or scaled_down
        if scaled_down or self._old_pods_running(p):
            return self._sync_rollout_status(p)
        if p.new is None:
            self._new_and_old(p, create=True)
            if p.new is None:
                return 1.0
        self._scale(p, p.new, replicas_of(p.d))
        if deployment_complete(p.d, p.d.get("status") or {}):
            self._cleanup(p)
        return self._sync_rollout_status(p)

    def _old_pods_running(self, p: _Pass) -> bool:
        """`oldPodsRunning`: old RSs report pods, or a pod of an old RS is not yet terminal."""
        olds = p.olds()
        if sum(status_int(rs, "replicas") for rs in olds) > 0:
            return True
        old_uids = {rs["metadata"]["uid"] for rs in olds}
        pods, _ = self.store.list(PODS, p.d["metadata"]["namespace"])
        for pod in pods:
            ref = controller_ref(pod)
            if ref is not None and ref.get("uid") in old_uids and not is_terminal(pod):
                return True
        return False


class _StaleStatus(Exception):
    """A ReplicaSet's status is behind its spec; the pass stops without writing, as Kubernetes' does."""


def _terminal(pod: Obj | None) -> bool:
    return pod is not None and is_terminal(pod)


def _set_revision(d: Obj, revision: str) -> bool:
    """`SetDeploymentRevision`."""
    annotations = d["metadata"].setdefault("annotations", {})
    if annotations.get(REVISION) != revision:
        annotations[REVISION] = revision
        return True
    return False


def _is_saturated(d: Obj, rs: Obj) -> bool:
    """`IsSaturated`: the RS is at full size, annotated so, and fully available."""
    replicas = replicas_of(d)
    return (
        spec_replicas(rs) == replicas
        and _desired_annotation(rs) == replicas
        and status_int(rs, "availableReplicas") == replicas
    )
