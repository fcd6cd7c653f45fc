"""graceful-exit: a pod the rollout terminated must exit by itself, not by the kubelet's SIGKILL."""

from __future__ import annotations

from checks.evidence import PodTimeline
from checks.exits import judge_graceful_exit, judge_pod_exit


def _old(**kw: object) -> PodTimeline:
    fields: dict[str, object] = {"role": "old", "was_serving": True, "deleted_at": 100.0, "grace_period_seconds": 30.0}
    fields |= kw
    return PodTimeline(name=str(fields.pop("name", "web-old")), **fields)  # type: ignore[arg-type]


def test_an_exit_code_of_its_own_passes() -> None:
    verdict = judge_pod_exit(_old(exited_at=105.0, exit_code=0, exit_reason="Completed"))
    assert (verdict.judged, verdict.graceful) == (True, True)
    assert "code 0" in verdict.reason


def test_exit_143_is_still_the_process_s_own_exit() -> None:
    """Dying of the SIGTERM itself is abrupt (endpoint-ordering judges that), but it is not a SIGKILL."""
    assert judge_pod_exit(_old(exited_at=100.2, exit_code=143)).graceful is True


def test_sigkill_at_the_end_of_the_grace_period_fails_and_blames_an_ignored_sigterm() -> None:
    """The PID 1 that ignores SIGTERM kept accepting until the kill: the cause and the fix are named."""
    pod = _old(exited_at=130.1, exit_code=137, exit_reason="Error", stopped_accepting_at=130.05)
    verdict = judge_pod_exit(pod)
    assert verdict.graceful is False
    assert "SIGKILLed (exit 137) 30.10 s after deletion" in verdict.reason
    assert "ignores SIGTERM" in verdict.reason
    assert "shell-form ENTRYPOINT" in verdict.reason


def test_a_pod_that_drained_but_ran_out_of_grace_is_told_apart() -> None:
    pod = _old(exited_at=130.1, exit_code=137, stopped_accepting_at=105.0)
    verdict = judge_pod_exit(pod)
    assert verdict.graceful is False
    assert "draining outlasted terminationGracePeriodSeconds" in verdict.reason


def test_oom_killed_fails_with_its_own_cause() -> None:
    verdict = judge_pod_exit(_old(exited_at=101.0, exit_code=137, exit_reason="OOMKilled"))
    assert verdict.graceful is False
    assert verdict.reason.startswith("OOMKilled")
    assert "memory limit" in verdict.reason


def test_no_exit_code_but_gone_well_before_the_grace_period_ended_passes() -> None:
    verdict = judge_pod_exit(_old(exited_at=110.0))
    assert verdict.graceful is True
    assert "before its 30 s grace period ended" in verdict.reason


def test_no_exit_code_and_gone_at_the_grace_period_s_end_fails() -> None:
    """Missing evidence never passes: an exit at the very end of the grace period is the SIGKILL's moment."""
    verdict = judge_pod_exit(_old(exited_at=129.5))
    assert verdict.graceful is False
    assert "most likely SIGKILLed" in verdict.reason


def test_no_exit_code_and_no_grace_period_known_fails() -> None:
    verdict = judge_pod_exit(_old(exited_at=101.0, grace_period_seconds=None))
    assert verdict.graceful is False


def test_pods_not_deleted_or_not_seen_exiting_are_not_judged() -> None:
    assert judge_pod_exit(PodTimeline(name="new", role="new", exited_at=5.0, exit_code=137)).judged is False
    assert judge_pod_exit(_old()).judged is False


def test_the_check_fails_naming_each_killed_pod_and_passes_when_none_was() -> None:
    clean = [_old(name=f"ok-{i}", exited_at=105.0, exit_code=0) for i in range(2)]
    killed = _old(name="stuck", exited_at=130.0, exit_code=137)
    failed = judge_graceful_exit([*clean, killed])
    assert failed.check.passed is False
    assert failed.check.summary.startswith("1 of 3 terminated pods did not exit by themselves: stuck SIGKILLed")
    passed = judge_graceful_exit(clean)
    assert passed.check.passed is True
    assert passed.check.summary == "2 of 2 terminated pods exited by themselves within their grace period"


def test_nothing_to_judge_is_inconclusive_only_when_terminations_were_expected() -> None:
    assert judge_graceful_exit([], expect_terminations=True).check.passed is None
    assert judge_graceful_exit([], expect_terminations=False).check.passed is True
