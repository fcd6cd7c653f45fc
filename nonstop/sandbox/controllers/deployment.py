"""The Deployment controller (K8S-SEMANTICS.md §1, restated from Kubernetes' `deployment_controller.go`,
`sync.go`, `rolling.go`, `recreate.go` and `progress.go`): what one pass does.

One sync pass per Deployment: claim its ReplicaSets; a paused Deployment or a `replicas` change is
only scaled (proportionally across active RSs); otherwise RollingUpdate scales the new RS up first
(and stops there when it did), then old RSs down within maxUnavailable, unhealthy ones first;
Recreate scales old RSs to 0 and waits until their pods have terminated before the new RS grows.
Every pass ends by writing status and the Progressing/Available conditions. The writes and lookups
every kind of pass shares (the new ReplicaSet, scaling one, status, cleanup) are in `deploymentsync.py`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from nonstop.sandbox.controllers.claims import claim
from nonstop.sandbox.controllers.deploymentsync import (
    DeploymentPass,
    DeploymentSync,
    active_replica_sets,
    desired_annotation,
    is_recreate,
    max_annotation,
)
from nonstop.sandbox.controllers.fenceposts import (
    max_scaled_down,
    max_surge,
    max_unavailable,
    new_rs_new_replicas,
    replica_set_proportion,
)
from nonstop.sandbox.controllers.loop import Key, key_of
from nonstop.sandbox.controllers.objects import (
    DEPLOYMENTS,
    PODS,
    REPLICASETS,
    controller_ref,
    is_terminal,
    owner_keys,
)
from nonstop.sandbox.controllers.progress import (
    PAUSED_REASON,
    RESUMED_REASON,
    TIMED_OUT_REASON,
    deployment_complete,
    get_condition,
    has_progress_deadline,
    new_condition,
    replicas_of,
    set_condition,
    spec_replicas,
    status_int,
)
from nonstop.sandbox.controllers.revisions import by_creation
from nonstop.sandbox.store import Change, Obj

__all__ = ["DeploymentController"]

COMPONENT = "deployment-controller"


class DeploymentController(DeploymentSync):
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
        p = DeploymentPass(d, {rs["metadata"]["name"]: rs for rs in self._claim_replica_sets(d)})
        if d["metadata"].get("deletionTimestamp"):
            self._new_and_old(p, create=False)
            self._sync_deployment_status(p)
            return None
        self._check_paused_conditions(p)
        if (d.get("spec") or {}).get("paused"):
            return self._sync_scale(p)
        if self._is_scaling_event(p):
            return self._sync_scale(p)
        if is_recreate(d):
            return self._rollout_recreate(p)
        return self._rollout_rolling(p)

    # -- ownership --------------------------------------------------------------------------------

    def _claim_replica_sets(self, d: Obj) -> list[Obj]:
        """`getReplicaSetsForDeployment`: owned RSs that match; adopt matching orphans, release the rest."""
        claimed, _ = claim(self.store, REPLICASETS, d, self.store.list(REPLICASETS, d["metadata"]["namespace"])[0])
        return claimed

    # -- paused, scaling --------------------------------------------------------------------------

    def _check_paused_conditions(self, p: DeploymentPass) -> None:
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

    def _is_scaling_event(self, p: DeploymentPass) -> bool:
        """`isScalingEvent`: an active RS's desired-replicas annotation differs from spec.replicas."""
        self._new_and_old(p, create=False)
        replicas = replicas_of(p.d)
        for rs in active_replica_sets(p.all()):
            desired = desired_annotation(rs)
            if desired is not None and desired != replicas:
                return True
        return False

    def _sync_scale(self, p: DeploymentPass) -> float | None:
        """`sync`: scale (proportionally), clean up when paused, write status."""
        self._new_and_old(p, create=False)
        self._scale_proportionally(p)
        if (p.d.get("spec") or {}).get("paused"):
            self._cleanup(p)
        self._sync_deployment_status(p)
        return None

    def _scale_proportionally(self, p: DeploymentPass) -> None:
        """`scale`: one active RS takes all; a saturated new RS empties the old; else spread the difference."""
        d = p.d
        replicas = replicas_of(d)
        new = p.new
        olds_newest_first = sorted(p.olds(), key=by_creation, reverse=True)
        active = active_replica_sets([*olds_newest_first, *([new] if new is not None else [])])
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
            for old in active_replica_sets(p.olds()):
                self._scale(p, old, 0)
            return
        if is_recreate(d):
            return
        all_active = active_replica_sets(p.all())
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
                    annotated_max=max_annotation(rs),
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

    # -- RollingUpdate ----------------------------------------------------------------------------

    def _rollout_rolling(self, p: DeploymentPass) -> float | None:
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

    def _reconcile_new(self, p: DeploymentPass) -> bool:
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

    def _reconcile_old(self, p: DeploymentPass) -> bool:
        new = p.new
        assert new is not None
        olds = active_replica_sets(p.olds())
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
            for rs in sorted(active_replica_sets(p.olds()), key=by_creation):
                if scaled >= total:
                    break
                count = min(spec_replicas(rs), total - scaled)
                self._scale(p, rs, spec_replicas(rs) - count)
                scaled += count
        return cleaned + scaled > 0

    # -- Recreate ---------------------------------------------------------------------------------

    def _rollout_recreate(self, p: DeploymentPass) -> float | None:
        """`rolloutRecreate`: old RSs to 0; once no old pod is left, create and scale the new RS."""
        self._new_and_old(p, create=False)
        scaled_down = False
        for rs in active_replica_sets(p.olds()):
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

    def _old_pods_running(self, p: DeploymentPass) -> bool:
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


def _is_saturated(d: Obj, rs: Obj) -> bool:
    """`IsSaturated`: the RS is at full size, annotated so, and fully available."""
    replicas = replicas_of(d)
    return (
        spec_replicas(rs) == replicas
        and desired_annotation(rs) == replicas
        and status_int(rs, "availableReplicas") == replicas
    )
