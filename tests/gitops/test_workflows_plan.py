"""`nonstop workflows plan` and the package's public names."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

import workflows
from nonstop.errors import InputError
from nonstop.spec import parse_drill
from workflows.plan import DEADLINE_SLACK_SECONDS, PLAN_KEYS, deadline_seconds, plan_values, write_plan


def _drill(**spec: object) -> dict[str, object]:
    return {
        "apiVersion": "nonstop.dev/v1alpha1",
        "kind": "Drill",
        "metadata": {"name": "web-restart"},
        "spec": {"target": {"name": "web", "service": "web-svc"}, **spec},
    }


def test_deadline_covers_every_phase_plus_a_second_window_and_slack() -> None:
    """settle + warm-up + 2 × timeout + cool-down + slack, rounded up: the drill's own deadline always comes first."""
    spec = parse_drill(_drill(), source="t").spec
    assert deadline_seconds(spec) == 60 + 2 + 2 * 600 + 2 + DEADLINE_SLACK_SECONDS
    custom = parse_drill(
        _drill(load={"settleSeconds": 0.5, "warmupSeconds": 1, "cooldownSeconds": 0}, timeoutSeconds=30), source="t"
    ).spec
    assert deadline_seconds(custom) == 62 + DEADLINE_SLACK_SECONDS


def test_plan_values_come_from_the_spec(tmp_path: Path) -> None:
    """One file per key, no trailing newline; a null namespace is an empty value (the pod's own namespace)."""
    values = plan_values(parse_drill(_drill(load={"workers": 3}), source="t"))
    assert list(values) == list(PLAN_KEYS)
    assert values["target-namespace"] == ""
    assert (values["target-kind"], values["target-name"], values["target-service"]) == ("Deployment", "web", "web-svc")
    assert values["workers"] == "3"
    assert values["locustfile"].endswith(".py")
    write_plan(values, tmp_path / "plan")
    assert {p.name: p.read_text(encoding="utf-8") for p in (tmp_path / "plan").iterdir()} == values


def test_analysis_plan_accepts_only_an_observing_rollout_drill() -> None:
    """purpose=analysis: Rollout + external + decisions none passes; anything that would act is refused."""
    observe = _drill(rollout={"strategy": "external"}, decision={"onPass": "none", "onFail": "none"})
    observe["spec"]["target"]["kind"] = "Rollout"  # type: ignore[index]
    assert plan_values(parse_drill(observe, source="t"), purpose="analysis")["strategy"] == "external"
    acting = _drill(rollout={"strategy": "external"})
    acting["spec"]["target"]["kind"] = "Rollout"  # type: ignore[index]
    with pytest.raises(InputError, match=r"decision\.onPass and decision\.onFail to none"):
        plan_values(parse_drill(acting, source="t"), purpose="analysis")
    with pytest.raises(InputError, match=r"target\.kind Rollout"):
        plan_values(parse_drill(_drill(), source="t"), purpose="analysis")


def test_package_all_is_complete_and_importable() -> None:
    """`workflows.__all__` resolves, and re-exports every submodule's builder."""
    for name in workflows.__all__:
        assert hasattr(workflows, name), name
    assert set(workflows._HOME) == set(workflows.__all__)
    with pytest.raises(AttributeError):
        _ = workflows.no_such_name
    for module, names in {
        "workflows.drill_template": ["drill_template"],
        "workflows.cron": ["resilience_cron"],
        "workflows.argocd_hook": ["postsync_hook"],
        "workflows.analysis": ["analysis_template"],
        "workflows.rbac": ["rbac_manifests", "DRILL_RULES", "WORKFLOW_RULES"],
        "workflows.render": ["render_manifests", "write_manifests"],
        "workflows.submit": ["submit_drill", "drill_workflow", "ArgoServer"],
    }.items():
        mod = importlib.import_module(module)
        for name in names:
            assert name in mod.__all__
            assert name in workflows.__all__
