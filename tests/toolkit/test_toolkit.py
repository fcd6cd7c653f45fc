"""The toolkit's Kubernetes rules, each against the behaviour Kubernetes documents."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml

from checks.lint.selectors import matches_map as lint_matches_map
from nonstop.toolkit.intstr import scaled_value
from nonstop.toolkit.quantity import quantity
from nonstop.toolkit.selectors import matches_label_selector, matches_map
from nonstop.toolkit.times import parse_time, rfc3339, rfc3339_micro, rfc3339_milli, to_epoch, try_parse_time
from nonstop.toolkit.yamldocs import documents, error_line, error_problem

LABELS = {"app": "web", "version": "1", "tier": "front"}


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        (None, False),  # a null LabelSelector selects nothing
        ({}, True),  # an empty one selects everything
        ({"matchLabels": {"app": "web"}}, True),
        ({"matchLabels": {"app": "api"}}, False),
        ({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["front", "back"]}]}, True),
        ({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["front"]}]}, False),
        ({"matchExpressions": [{"key": "gone", "operator": "NotIn", "values": ["x"]}]}, True),
        ({"matchExpressions": [{"key": "app", "operator": "Exists"}]}, True),
        ({"matchExpressions": [{"key": "app", "operator": "DoesNotExist"}]}, False),
        # selectors Kubernetes refuses to build (LabelSelectorAsSelector errors) select nothing
        ({"matchExpressions": [{"key": "tier", "operator": "In", "values": []}]}, False),
        ({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": []}]}, False),
        ({"matchExpressions": [{"key": "app", "operator": "Exists", "values": ["web"]}]}, False),
        ({"matchExpressions": [{"key": "app", "operator": "Equals", "values": ["web"]}]}, False),
    ],
)
def test_label_selector_as_kubernetes_builds_it(selector: Any, expected: bool) -> None:
    assert matches_label_selector(selector, LABELS) is expected


def test_label_values_compare_as_exact_strings() -> None:
    """The API server rejects a non-string label value (YAML `version: 1` does not decode into
    map[string]string), so a number never equals the label "1": no `str()` on either side.
    """
    assert matches_map({"version": "1"}, LABELS)
    assert not matches_map({"version": 1}, LABELS)
    assert not matches_map({"version": True}, {"version": "true"})
    assert not matches_label_selector({"matchLabels": {"version": 1}}, LABELS)
    assert not matches_label_selector(
        {"matchExpressions": [{"key": "version", "operator": "In", "values": [1]}]}, LABELS
    )
    assert not matches_map({"app": "Web"}, LABELS)  # case matters


def test_lint_leaves_controller_labels_out_and_uses_the_same_rule() -> None:
    assert lint_matches_map({"app": "web", "pod-template-hash": "abc"}, LABELS)
    assert not lint_matches_map({"version": 1}, LABELS)


@pytest.mark.parametrize(
    ("value", "total", "up", "expected"),
    [(None, 10, True, 0), (3, 10, True, 3), ("25%", 10, True, 3), ("25%", 10, False, 2), (" 50% ", 3, False, 1)],
)
def test_int_or_percent_scales(value: Any, total: int, up: bool, expected: int) -> None:
    assert scaled_value(value, total, round_up=up) == expected


@pytest.mark.parametrize("value", ["3", "25", "%", "1.5%", True, 2.5, [1]])
def test_int_or_percent_rejects_what_the_api_rejects(value: Any) -> None:
    with pytest.raises(ValueError, match="invalid value for IntOrString"):
        scaled_value(value, 10, round_up=True)


@pytest.mark.parametrize(
    ("text", "milli", "expected"),
    [("500m", True, 500), ("1", True, 1000), ("128Mi", False, 128 * 2**20), ("1G", False, 10**9), ("x", False, None)],
)
def test_quantity(text: str, milli: bool, expected: int | None) -> None:
    assert quantity(text, milli=milli) == expected


def test_times_round_trip_in_each_precision() -> None:
    at = datetime(2024, 5, 1, 12, 0, 7, 123456, tzinfo=UTC)
    assert rfc3339(at) == "2024-05-01T12:00:07Z"
    assert rfc3339_micro(at.timestamp()) == "2024-05-01T12:00:07.123456Z"
    assert rfc3339_milli(at) == "2024-05-01T12:00:07.123Z"
    assert parse_time("2024-05-01T12:00:07.123456Z") == at
    assert to_epoch("2024-05-01T12:00:07Z") == at.replace(microsecond=0).timestamp()
    assert parse_time(None) is None
    assert try_parse_time("yesterday") is None
    with pytest.raises(ValueError, match="Invalid isoformat"):
        parse_time("yesterday")


@pytest.mark.parametrize("fast", [True, False])
def test_documents_carry_their_lines(fast: bool) -> None:
    text = "# lead\na: 1\n---\n\n\nb: =\n---\n"
    found = list(documents(text, fast=fast))
    assert [(d.data, d.line) for d in found[:2]] == [({"a": 1}, 2), ({"b": "="}, 6)]


@pytest.mark.parametrize("fast", [True, False])
def test_a_yaml_error_names_its_line(fast: bool) -> None:
    with pytest.raises(yaml.YAMLError) as caught:
        list(documents("a: 1\nb: [1, 2\n", fast=fast))
    assert error_line(caught.value) == 3
    assert "','" in error_problem(caught.value)


def test_a_child_dies_with_the_thread_that_started_it() -> None:
    """The middle process arms the child and exits; the child must then die with SIGTERM, not linger."""
    middle = (
        "import subprocess, sys, functools, os, signal\n"
        "from nonstop.toolkit.children import die_with_parent\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'],"
        " preexec_fn=functools.partial(die_with_parent, os.getpid(), signal.SIGTERM))\n"
        "print(child.pid, flush=True)\n"
    )
    done = subprocess.run([sys.executable, "-c", middle], capture_output=True, text=True, check=True, timeout=60)
    pid = int(done.stdout)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    pytest.fail(f"child {pid} outlived its parent by 10 s")
