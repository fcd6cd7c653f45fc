"""The verdict: drill problems first, then failed checks, then inconclusive checks, else pass."""

from __future__ import annotations

import random

import pytest

from checks.result import CheckResult
from checks.verdict import DrillProblem, decide_verdict

PASSED = CheckResult("error-budget", True, "0 of 4210 requests failed (0.00 %), budget 0.00 %")
ORDER_OK = CheckResult("endpoint-ordering", True, "3 of 3 terminated pods served ≥ 1.0 s after leaving endpoints")
ORDER_BAD = CheckResult(
    "endpoint-ordering", False, "1 of 3 terminated pods served < 1.0 s after leaving endpoints: a 0.02 s"
)
TOO_FEW = CheckResult(
    "error-budget", None, "only 42 requests in the drill window, fewer than minRequests 100: inconclusive"
)


def test_all_checks_passed_is_pass_with_exit_0() -> None:
    result = decide_verdict([PASSED, ORDER_OK])
    assert result.verdict == "pass"
    assert result.exit_code == 0


def test_a_failed_check_is_fail_with_exit_1_and_names_the_check() -> None:
    result = decide_verdict([PASSED, ORDER_BAD])
    assert result.verdict == "fail"
    assert result.exit_code == 1
    assert result.failed_checks == ("endpoint-ordering",)
    assert result.summary.startswith("fail: endpoint-ordering: 1 of 3")


def test_too_few_requests_alone_is_inconclusive_with_exit_3() -> None:
    result = decide_verdict([TOO_FEW, ORDER_OK])
    assert result.verdict == "inconclusive"
    assert result.exit_code == 3
    assert result.inconclusive_checks == ("error-budget",)
    assert "fewer than minRequests" in result.reasons[0]


def test_a_measured_failure_outweighs_too_few_requests() -> None:
    assert decide_verdict([TOO_FEW, ORDER_BAD]).verdict == "fail"


@pytest.mark.parametrize("reason", ["interrupted", "observation-lost", "deadline-passed"])
def test_drill_problems_make_it_inconclusive_even_over_a_failed_check(reason: str) -> None:
    result = decide_verdict([PASSED, ORDER_BAD], problems=[DrillProblem(reason, "details here")])  # type: ignore[arg-type]
    assert result.verdict == "inconclusive"
    assert result.exit_code == 3
    assert result.reasons == (f"{reason}: details here",)
    assert result.failed_checks == ("endpoint-ordering",)


def test_too_few_requests_as_a_problem_does_not_outweigh_a_failure() -> None:
    problem = DrillProblem("too-few-requests", "42 < 100")
    assert decide_verdict([PASSED, ORDER_BAD], problems=[problem]).verdict == "fail"
    assert decide_verdict([PASSED, ORDER_OK], problems=[problem]).verdict == "inconclusive"


def test_no_checks_at_all_never_passes() -> None:
    assert decide_verdict([]).verdict == "inconclusive"


def test_property_pass_only_when_every_check_passed_and_nothing_went_wrong() -> None:
    rng = random.Random(23)
    reasons = ["interrupted", "observation-lost", "deadline-passed", "too-few-requests"]
    for _ in range(500):
        checks = [CheckResult(f"c{i}", rng.choice([True, False, None]), "s") for i in range(rng.randint(0, 3))]
        problems = [DrillProblem(rng.choice(reasons)) for _ in range(rng.choice([0, 0, 1, 2]))]  # type: ignore[arg-type]
        result = decide_verdict(checks, problems=problems)
        clean = bool(checks) and all(c.passed is True for c in checks) and not problems
        assert (result.verdict == "pass") is clean
        assert result.exit_code == {"pass": 0, "fail": 1, "inconclusive": 3}[result.verdict]
