"""Claiming dependents, as `ControllerRefManager.ClaimObject` does: keep matching owned ones, adopt
matching orphans, release the rest. The Deployment controller claims its ReplicaSets and the
ReplicaSet controller its pods this one way.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable

from nonstop.sandbox.controllers.objects import controller_ref, controller_ref_to, selects
from nonstop.sandbox.kinds import Kind
from nonstop.sandbox.store import Obj, Store

__all__ = ["claim"]


def claim(
    store: Store,
    kind: Kind,
    owner: Obj,
    candidates: Iterable[Obj],
    *,
    adoptable: Callable[[Obj], bool] = lambda _obj: True,
) -> tuple[list[Obj], list[Obj]]:
    """The `candidates` (of `kind`, in the owner's namespace) that `owner` keeps, and every object written.

    Owned ones the owner's selector no longer matches are released (their ownerReference dropped);
    orphans it matches are adopted, unless the owner is being deleted or `adoptable(orphan)` says no.
    """
    uid = owner["metadata"]["uid"]
    namespace = owner["metadata"]["namespace"]
    selector = (owner.get("spec") or {}).get("selector")
    claimed: list[Obj] = []
    written: list[Obj] = []
    for obj in candidates:
        ref = controller_ref(obj)
        matches = selects(selector, obj["metadata"].get("labels"))
        name = obj["metadata"]["name"]
        if ref is not None and ref.get("uid") == uid:
            if matches:
                claimed.append(obj)
            else:
                written.append(store.mutate(kind, namespace, name, functools.partial(_release, uid)))
        elif ref is None and matches and not owner["metadata"].get("deletionTimestamp") and adoptable(obj):
            adopted = store.mutate(kind, namespace, name, functools.partial(_adopt, controller_ref_to(owner)))
            written.append(adopted)
            claimed.append(adopted)
    return claimed, written


def _adopt(ref: Obj, obj: Obj) -> None:
    obj["metadata"].setdefault("ownerReferences", []).append(ref)


def _release(uid: str, obj: Obj) -> None:
    refs = [r for r in obj["metadata"].get("ownerReferences") or [] if r.get("uid") != uid]
    if refs:
        obj["metadata"]["ownerReferences"] = refs
    else:
        obj["metadata"].pop("ownerReferences", None)
