"""Termination rules: prestop-hook-missing, prestop-exceeds-grace-period, grace-period-too-short."""

from __future__ import annotations

import math
from typing import Any

import pytest
from lint_helpers import container, findings, good, load, pod, rule_ids

from checks.lint import prestop_sleep_seconds


def _with_prestop(prestop: dict[str, Any] | None) -> dict[str, Any]:
    return {"name": "c", "lifecycle": {"preStop": prestop}} if prestop is not None else {"name": "c"}


@pytest.mark.parametrize(
    ("prestop", "seconds"),
    [
        ({"sleep": {"seconds": 5}}, 5),
        ({"exec": {"command": ["sleep", "5"]}}, 5),
        ({"exec": {"command": ["/bin/sleep", "7s"]}}, 7),
        ({"exec": {"command": ["sleep", "0.5"]}}, 0.5),
        ({"exec": {"command": ["busybox", "sleep", "1m"]}}, 60),
        ({"exec": {"command": ["sh", "-c", "sleep 5"]}}, 5),
        ({"exec": {"command": ["/bin/sh", "-c", "sleep 5 && nginx -s quit"]}}, 5),
        ({"exec": {"command": ["/bin/bash", "-ec", "echo bye; sleep 3; kill -TERM 1; sleep 2"]}}, 5),
        ({"exec": {"command": ["sh", "-c", "nginx -s quit; while pgrep nginx; do sleep 1; done"]}}, 1),
        ({"exec": {"command": ["sh", "-c", "sleep $DRAIN_SECONDS"]}}, 0),
        ({"exec": {"command": ["sh", "-c", "/usr/local/bin/drain --wait"]}}, 0),
        ({"exec": {"command": ["nginx", "-s", "quit"]}}, 0),
        ({"httpGet": {"path": "/shutdown", "port": 8080}}, 0),
        (None, None),
    ],
)
def test_prestop_sleep_is_read_from_sleep_action_exec_and_shell(prestop: dict[str, Any] | None, seconds: float) -> None:
    assert prestop_sleep_seconds(_with_prestop(prestop)) == seconds


def test_sleep_infinity_is_forever() -> None:
    assert prestop_sleep_seconds(_with_prestop({"exec": {"command": ["sleep", "infinity"]}})) == math.inf


def test_serving_container_without_prestop_is_a_warning() -> None:
    obj = good()
    del container(obj)["lifecycle"]
    [finding] = findings([obj], "prestop-hook-missing")
    assert finding.severity == "warning"
    assert finding.container == "web"
    assert "SIGTERM" in finding.message
    assert "Fix:" in finding.message


def test_prestop_sleep_as_long_as_the_default_grace_period_is_an_error() -> None:
    obj = good()
    del pod(obj)["terminationGracePeriodSeconds"]
    container(obj)["lifecycle"] = {"preStop": {"exec": {"command": ["/bin/sh", "-c", "sleep 30 && nginx -s quit"]}}}
    [finding] = findings([obj], "prestop-exceeds-grace-period")
    assert finding.severity == "error"
    assert finding.container == "web"
    assert "30 s" in finding.message
    assert "(the default)" in finding.message


def test_prestop_sleep_longer_than_grace_period_fires_both_rules() -> None:
    obj = good()
    pod(obj)["terminationGracePeriodSeconds"] = 20
    container(obj)["lifecycle"] = {"preStop": {"sleep": {"seconds": 25}}}
    assert rule_ids([obj]) == ["prestop-exceeds-grace-period", "grace-period-too-short"]


def test_grace_period_that_covers_sleep_but_not_the_drain_is_a_warning() -> None:
    obj = good()
    pod(obj)["terminationGracePeriodSeconds"] = 12
    container(obj)["lifecycle"] = {"preStop": {"exec": {"command": ["sleep", "10"]}}}
    [finding] = findings([obj])
    assert finding.rule == "grace-period-too-short"
    assert finding.container == "web"
    assert "at least 15" in finding.message


def test_grace_period_with_room_for_sleep_and_drain_is_fine() -> None:
    obj = good()
    pod(obj)["terminationGracePeriodSeconds"] = 15
    container(obj)["lifecycle"] = {"preStop": {"sleep": {"seconds": 10}}}
    assert rule_ids([obj]) == []


def test_grace_period_under_five_seconds_is_a_warning_even_without_prestop() -> None:
    obj = good()
    del container(obj)["lifecycle"]
    pod(obj)["terminationGracePeriodSeconds"] = 3
    [finding] = findings([obj], "grace-period-too-short")
    assert finding.container is None


def test_worker_with_short_grace_period_is_not_judged() -> None:
    [worker] = load(
        """
kind: Deployment
metadata: {name: worker}
spec:
  replicas: 2
  template:
    spec:
      terminationGracePeriodSeconds: 1
      containers: [{name: worker, image: w:1}]
"""
    )
    assert rule_ids([worker]) == []


def test_prestop_command_of_unknown_duration_is_not_compared_with_a_zero_grace_period() -> None:
    """calico-node: preStop `/bin/calico-node -shutdown` with terminationGracePeriodSeconds 0 — no sleep to judge."""
    obj = good()
    container(obj)["lifecycle"] = {"preStop": {"exec": {"command": ["/bin/calico-node", "-shutdown"]}}}
    pod(obj)["terminationGracePeriodSeconds"] = 0
    assert findings([obj], "prestop-exceeds-grace-period") == []
    assert len(findings([obj], "grace-period-too-short")) == 1
