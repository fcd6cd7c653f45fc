"""The strategy registry: every name the spec accepts has its class, and nothing else does."""

from __future__ import annotations

import typing

from nonstop.spec import RolloutSpec
from nonstop.strategies import STRATEGIES


def test_every_strategy_the_spec_accepts_has_a_class_and_no_class_is_unreachable() -> None:
    accepted = set(typing.get_args(RolloutSpec.model_fields["strategy"].annotation))
    assert accepted == set(STRATEGIES)
    assert all(cls.name == name for name, cls in STRATEGIES.items())


def test_only_external_runs_on_an_argo_rollout_and_only_it_observes() -> None:
    assert {name for name, cls in STRATEGIES.items() if cls.on_rollout} == {"external"}
    assert {name for name, cls in STRATEGIES.items() if cls.observes_only} == {"external"}
