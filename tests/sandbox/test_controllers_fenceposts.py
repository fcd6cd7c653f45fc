"""The rolling-update arithmetic (K8S-SEMANTICS.md §1.2, §1.3) as Kubernetes' deployment_util computes it."""

from __future__ import annotations

from typing import Any

import pytest

from nonstop.sandbox.controllers.fenceposts import (
    Fenceposts,
    max_scaled_down,
    max_surge,
    max_unavailable,
    new_rs_new_replicas,
    replica_set_proportion,
    resolve_fenceposts,
    round_half_away_from_zero,
)
from nonstop.toolkit.intstr import scaled_value


def _deployment(replicas: int | None, surge: Any = "25%", unavailable: Any = "25%", kind: str = "RollingUpdate") -> Any:
    strategy: dict[str, Any] = {"type": kind}
    if kind == "RollingUpdate":
        strategy["rollingUpdate"] = {"maxSurge": surge, "maxUnavailable": unavailable}
    spec: dict[str, Any] = {"strategy": strategy}
    if replicas is not None:
        spec["replicas"] = replicas
    return {"spec": spec}


@pytest.mark.parametrize(
    ("value", "total", "up", "expected"),
    [
        (3, 10, True, 3),
        (3, 10, False, 3),
        ("25%", 10, True, 3),  # 2.5 up
        ("25%", 10, False, 2),  # 2.5 down
        ("25%", 4, True, 1),
        ("25%", 4, False, 1),
        ("25%", 3, True, 1),  # 0.75 up
        ("25%", 3, False, 0),  # 0.75 down
        ("1%", 10, True, 1),
        ("1%", 10, False, 0),
        ("0%", 10, True, 0),
        ("100%", 7, False, 7),
        ("50%", 1, True, 1),
        ("50%", 1, False, 0),
        ("33%", 3, True, 1),  # 0.99 up
        ("34%", 3, True, 2),  # 1.02 up
        ("200%", 3, True, 6),
        (None, 10, True, 0),
    ],
)
def test_scaled_value_rounds_surge_up_and_unavailable_down(value: Any, total: int, up: bool, expected: int) -> None:
    """A percentage scales by the replica count and rounds up (surge) or down (unavailable); nil is 0."""
    assert scaled_value(value, total, round_up=up) == expected


@pytest.mark.parametrize("value", ["25", "abc", "%", "1.5%", True])
def test_scaled_value_rejects_strings_that_are_not_percentages(value: Any) -> None:
    """Only ints and "N%" strings are IntOrString values Kubernetes can scale."""
    with pytest.raises(ValueError, match="IntOrString"):
        scaled_value(value, 10, round_up=True)


@pytest.mark.parametrize(
    ("surge", "unavailable", "desired", "expected"),
    [
        ("25%", "25%", 10, Fenceposts(3, 2)),  # the documented example: at most 13 pods, at least 8 available
        ("25%", "25%", 4, Fenceposts(1, 1)),
        ("25%", "25%", 3, Fenceposts(1, 0)),
        ("25%", "25%", 1, Fenceposts(1, 0)),
        (1, 0, 3, Fenceposts(1, 0)),  # the seed's fix
        (0, "1%", 10, Fenceposts(0, 1)),  # rounds to 0/0: unavailable falls back to 1
        ("0%", "0%", 4, Fenceposts(0, 1)),  # literal zeros (validation rejects them; the maths still falls back)
        (0, 0, 1, Fenceposts(0, 1)),
        (None, None, 5, Fenceposts(0, 1)),  # nil counts as 0, then the fallback
        ("0%", "10%", 9, Fenceposts(0, 1)),  # 0.9 rounds down to 0
        (0, "50%", 10, Fenceposts(0, 5)),
        (2, "100%", 10, Fenceposts(2, 10)),
    ],
)
def test_resolve_fenceposts(surge: Any, unavailable: Any, desired: int, expected: Fenceposts) -> None:
    """`ResolveFenceposts`: surge up, unavailable down, both zero → unavailable 1."""
    assert resolve_fenceposts(surge, unavailable, desired) == expected


def test_max_unavailable_is_capped_at_replicas_and_zero_without_replicas() -> None:
    """`MaxUnavailable` never exceeds replicas and is 0 for 0 replicas (even through the fallback)."""
    assert max_unavailable(_deployment(3, surge=0, unavailable=5)) == 3
    assert max_unavailable(_deployment(0, surge=0, unavailable=0)) == 0
    assert max_unavailable(_deployment(0, surge="25%", unavailable="100%")) == 0
    assert max_unavailable(_deployment(10)) == 2
    assert max_unavailable(_deployment(10, surge=0, unavailable="1%")) == 1


def test_recreate_has_neither_surge_nor_unavailable() -> None:
    """Recreate is not a rolling update: both limits are 0."""
    deployment = _deployment(4, kind="Recreate")
    assert (max_surge(deployment), max_unavailable(deployment)) == (0, 0)


def test_missing_replicas_and_rolling_update_use_the_api_defaults() -> None:
    """replicas defaults to 1 and an absent rollingUpdate to 25%/25%."""
    assert (max_surge({"spec": {}}), max_unavailable({"spec": {}})) == (1, 0)
    assert (max_surge(_deployment(None)), max_unavailable(_deployment(None))) == (1, 0)


@pytest.mark.parametrize(
    ("replicas", "surge", "total", "new", "expected"),
    [
        (10, 3, 10, 0, 3),  # start of a rollout: grow by the surge
        (10, 3, 13, 3, 3),  # at the cap: no growth
        (10, 3, 11, 3, 5),  # two old ones went away: grow by 2
        (3, 1, 3, 0, 1),
        (3, 0, 2, 0, 1),  # maxSurge 0: only room left by scaled-down old pods
        (4, 10, 4, 2, 4),  # never beyond replicas
    ],
)
def test_new_rs_new_replicas(replicas: int, surge: int, total: int, new: int, expected: int) -> None:
    """`NewRSNewReplicas`: min(replicas+surge − Σspec, replicas − new) more, or none at the cap."""
    assert new_rs_new_replicas(replicas=replicas, surge=surge, total_spec=total, new_spec=new) == expected


def test_max_scaled_down_counts_unavailable_new_pods_against_the_budget() -> None:
    """maxScaledDown = Σspec − minAvailable − (new.spec − new.available)."""
    # 10 replicas, defaults: minAvailable 8; 13 pods by spec, the 3 new ones not yet available.
    assert max_scaled_down(total_spec=13, min_available=8, new_spec=3, new_available=0) == 2
    assert max_scaled_down(total_spec=13, min_available=8, new_spec=3, new_available=3) == 5
    assert max_scaled_down(total_spec=4, min_available=3, new_spec=1, new_available=0) == 0


def test_round_half_away_from_zero_is_gos_math_round() -> None:
    """Go rounds halves away from zero; Python's round() would give 2 for 2.5."""
    assert [round_half_away_from_zero(v) for v in (2.5, 3.5, -2.5, 2.4, -2.6)] == [3, 4, -3, 2, -3]


def _share(rs_spec: int, added: int = 0, **overrides: int) -> int:
    """Deployment 10 → 20 (surge 25% → 5): allowed 25; RSs annotated max-replicas 13; 12 to add."""
    args = {
        "annotated_max": 13,
        "deployment_replicas": 20,
        "deployment_surge": 5,
        "deployment_status_replicas": 13,
        "to_add": 12,
        **overrides,
    }
    return replica_set_proportion(rs_spec=rs_spec, added=added, **args)


def test_replica_set_proportion_spreads_a_scale_up_by_size() -> None:
    """A replicas change mid-rollout is shared by the RSs' annotated fractions, within what is left."""
    old_share = _share(8)  # 8·25/13 = 15.4 → 15: +7
    new_share = _share(5, added=old_share)  # 5·25/13 = 9.6 → 10: +5, all that is left
    assert (old_share, new_share) == (7, 5)
    assert _share(0) == 0


def test_replica_set_proportion_to_zero_removes_the_whole_rs() -> None:
    """Scaling a Deployment to 0 takes each RS's whole size (bounded by what is left to remove)."""
    assert _share(4, deployment_replicas=0, deployment_surge=0, to_add=-6) == -4
    assert _share(4, added=-4, deployment_replicas=0, deployment_surge=0, to_add=-6) == -2
