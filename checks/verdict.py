"""The drill's verdict from its check results and from what went wrong while observing.

Precedence, first match wins:

1. the drill itself could not finish observing — interrupted, observation lost, deadline
   passed — → `inconclusive` (exit 3): missing evidence is then the drill's fault, not the
   rollout's, and no check result can be trusted to be complete;
2. any check failed → `fail` (exit 1): a failure measured on the evidence there is stands even when
   another check had too little to go on (an out-of-order pod is out of order however few
   requests the load sent);
3. any check inconclusive (too few requests, nothing to judge) → `inconclusive` (exit 3);
4. otherwise → `pass` (exit 0).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from checks.result import CheckResult

__all__ = [
    "DRILL_LEVEL_REASONS",
    "EXIT_CODES",
    "DrillProblem",
    "InconclusiveReason",
    "Verdict",
    "VerdictResult",
    "decide_verdict",
]

Verdict = Literal["pass", "fail", "inconclusive"]
InconclusiveReason = Literal["interrupted", "observation-lost", "deadline-passed", "too-few-requests"]
DRILL_LEVEL_REASONS: frozenset[InconclusiveReason] = frozenset({"interrupted", "observation-lost", "deadline-passed"})
"""Reasons that make the drill inconclusive whatever the checks say (precedence rule 1)."""
EXIT_CODES: dict[Verdict, int] = {"pass": 0, "fail": 1, "inconclusive": 3}
"""CONTRACT.md's `nonstop drill` exit code of each verdict."""


@dataclass(frozen=True, slots=True)
class DrillProblem:
    """Something that kept the drill from observing the whole rollout."""

    reason: InconclusiveReason
    detail: str = ""
    """One sentence for the report, e.g. "SIGINT after the rollout started"."""

    def describe(self) -> str:
        return f"{self.reason}: {self.detail}" if self.detail else self.reason


@dataclass(frozen=True, slots=True)
class VerdictResult:
    """The verdict, why, and the exit code CONTRACT.md gives it."""

    verdict: Verdict
    reasons: tuple[str, ...]
    """One line each: the drill problems, or the failed checks' summaries, or the inconclusive ones'."""
    failed_checks: tuple[str, ...] = ()
    inconclusive_checks: tuple[str, ...] = ()

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]

    @property
    def summary(self) -> str:
        """One line for the terminal: the verdict and its first reason."""
        return f"{self.verdict}: {self.reasons[0]}" if self.reasons else self.verdict


def decide_verdict(checks: Iterable[CheckResult], *, problems: Iterable[DrillProblem] = ()) -> VerdictResult:
    """Combine check results and drill problems into the verdict (see the module docstring for the precedence)."""
    results = list(checks)
    all_problems = list(problems)
    failed = tuple(check.name for check in results if check.passed is False)
    undecided = tuple(check.name for check in results if check.passed is None)
    drill_level = [problem for problem in all_problems if problem.reason in DRILL_LEVEL_REASONS]
    if drill_level:
        return VerdictResult("inconclusive", tuple(p.describe() for p in drill_level), failed, undecided)
    if failed:
        reasons = tuple(f"{check.name}: {check.summary}" for check in results if check.passed is False)
        return VerdictResult("fail", reasons, failed, undecided)
    if undecided or all_problems:
        reasons = tuple(
            [f"{check.name}: {check.summary}" for check in results if check.passed is None]
            + [problem.describe() for problem in all_problems]
        )
        return VerdictResult("inconclusive", reasons, failed, undecided)
    if not results:
        return VerdictResult("inconclusive", ("no check was run",), failed, undecided)
    return VerdictResult("pass", tuple(f"{check.name}: {check.summary}" for check in results), failed, undecided)
