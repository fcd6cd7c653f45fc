"""nonstop.kube.calls: client errors become ours, naming the object; transient ones are retried."""

from __future__ import annotations

import json

import pytest
import urllib3
from kubernetes.client.exceptions import ApiException

from nonstop.errors import ClusterError, ForbiddenError, NotFoundError, TransientError
from nonstop.kube.calls import RetryPolicy, call, translate

FAST = RetryPolicy(base=0.001, cap=0.01, deadline=0.5)


def api_exception(status: int, message: str = "boom", headers: dict[str, str] | None = None) -> ApiException:
    exc = ApiException(status=status, reason="Reason")
    exc.body = json.dumps({"kind": "Status", "message": message, "code": status})
    exc.headers = headers or {}
    return exc


def test_not_found_names_the_object_and_uses_the_status_message() -> None:
    error = translate(api_exception(404, 'deployments.apps "web" not found'), "get Deployment default/web")
    assert isinstance(error, NotFoundError)
    assert str(error) == 'get Deployment default/web: deployments.apps "web" not found'


@pytest.mark.parametrize("status", [401, 403])
def test_auth_errors_are_forbidden_with_a_next_step(status: int) -> None:
    error = translate(api_exception(status), "patch Deployment default/web")
    assert isinstance(error, ForbiddenError)
    assert "RBAC" in str(error)


def test_transient_errors_are_retried_until_success() -> None:
    answers: list[Exception | str] = [api_exception(503), api_exception(429, headers={"Retry-After": "0"}), "ok"]

    def flaky() -> str:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert call(flaky, what="get thing", retry=FAST) == "ok"
    assert answers == []


def test_transport_errors_are_transient_and_give_up_at_the_deadline() -> None:
    attempts = 0

    def down() -> None:
        nonlocal attempts
        attempts += 1
        raise urllib3.exceptions.MaxRetryError(None, "/api", "connection refused")  # type: ignore[arg-type]

    with pytest.raises(TransientError, match="could not be reached"):
        call(down, what="list pods", retry=RetryPolicy(base=0.001, cap=0.005, deadline=0.05))
    assert attempts > 1


def test_permanent_errors_are_not_retried() -> None:
    attempts = 0

    def invalid() -> None:
        nonlocal attempts
        attempts += 1
        raise api_exception(422, "spec.replicas: Invalid value")

    with pytest.raises(ClusterError, match="Invalid value") as info:
        call(invalid, what="update Deployment default/web", retry=FAST)
    assert not isinstance(info.value, TransientError)
    assert attempts == 1
