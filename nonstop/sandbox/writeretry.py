"""A read-modify-write retried when another writer wins the race, as the apiserver's GuaranteedUpdate.

PATCH and server-side apply re-read the object and try again when their write meets a 409 Conflict,
unless the request named a `metadata.resourceVersion` (then the Conflict is the answer); 20 lost
races answer 409.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from nonstop.sandbox.apierrors import ApiError
from nonstop.sandbox.kinds import Kind

__all__ = ["retry_races", "unless_raced"]

T = TypeVar("T")
_ATTEMPTS = 20


def retry_races(kind: Kind, name: str, attempt: Callable[[], T | None]) -> T:
    """Run `attempt` (read, change, write) until it answers; None means it lost a race."""
    for _ in range(_ATTEMPTS):
        answer = attempt()
        if answer is not None:
            return answer
    raise ApiError(409, "Conflict", f"too many concurrent writers on {kind.resource} {name!r}")


def unless_raced(precondition: str | None, write: Callable[[], T]) -> T | None:
    """`write()`, or None when another writer won the race and the request named no resourceVersion."""
    try:
        return write()
    except ApiError as exc:
        if exc.reason == "Conflict" and not precondition:
            return None  # re-read and try again, as the server does
        raise
