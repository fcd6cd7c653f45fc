"""The one error tree of nonstop.

Every error a user can cause or meet derives from `NonstopError`, so the CLI catches it once,
prints its one-sentence message and exits with its `exit_code`::

    NonstopError                    exit 2 unless stated
    ├── InputError                  a file, flag or spec field is wrong
    │   └── SpecError               the drill spec is invalid (names file and field path)
    ├── ClusterError                talking to the cluster failed (wraps the client's ApiException)
    │   ├── NotFoundError           a named object does not exist
    │   ├── ForbiddenError          401/403, or a SelfSubjectAccessReview said no
    │   └── TransientError          5xx, 429, timeouts, dropped connections: retried before raised
    ├── SafetyError                 nonstop refuses to act (protected namespace, lease held, …)
    └── DrillAborted                the drill could not reach a verdict (`exit_code` says 2 or 3)

Messages carry the value, the object and a next step. Library errors are chained (`raise … from`),
never leaked.
"""

from __future__ import annotations

__all__ = [
    "ClusterError",
    "DrillAborted",
    "ForbiddenError",
    "InputError",
    "NonstopError",
    "NotFoundError",
    "SafetyError",
    "SpecError",
    "TransientError",
]


class NonstopError(Exception):
    """Base of every error nonstop raises on purpose; `str()` is the one sentence users see."""

    exit_code: int = 2


class InputError(NonstopError):
    """A file, flag or field the user wrote is wrong; nothing was changed."""


class SpecError(InputError):
    """The drill spec is invalid; the message names the file and the field path."""


class ClusterError(NonstopError):
    """The Kubernetes API answered with an error, or could not be reached."""

    def __init__(self, message: str, *, status: int | None = None, reason: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class NotFoundError(ClusterError):
    """A named object does not exist."""


class ForbiddenError(ClusterError):
    """The credentials may not do what the drill needs (401, 403 or a denied access review)."""


class TransientError(ClusterError):
    """A failure worth retrying: 5xx, 429, a timeout or a dropped connection."""


class SafetyError(NonstopError):
    """nonstop refuses to act because acting could hurt something outside the drill."""


class DrillAborted(NonstopError):
    """The drill stopped without a verdict; `exit_code` is 2 before the rollout started, 3 after."""

    def __init__(self, message: str, *, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code
