"""The one error tree of nonstop.

Every error a user can cause or meet derives from `NonstopError`, so the CLI catches it once,
prints its one-sentence message and exits with its `exit_code`::

    NonstopError                    exit 2 unless stated
    ├── InputError                  a file, flag or spec field is wrong
    │   ├── SpecError               the drill spec is invalid (names file and field path)
    │   └── TemplateError           a lint input is a template ({{ }}); skipped in a folder
    ├── ClusterError                talking to the cluster failed (wraps the client's ApiException)
    │   ├── NotFoundError           a named object does not exist
    │   ├── ForbiddenError          401/403, or a SelfSubjectAccessReview said no
    │   └── TransientError          5xx, 429, timeouts, dropped connections: retried before raised
    ├── SafetyError                 nonstop refuses to act (protected namespace, load URL, …)
    │   └── LeaseHeld               another live drill holds the target's Lease
    ├── DrillAborted                the drill could not reach a verdict (`exit_code` says 2 or 3)
    ├── LoadFailed                  Locust could not start, or stopped on its own with an error
    ├── SandboxStartError           the `nonstop sandbox up` subprocess did not become ready
    ├── PodNetworkError             the sandbox's pod network namespace could not be set up
    ├── ApiRelayError               the API relay's socket could not be opened in that namespace
    └── ControlPlaneError           the real control plane could not be built or started
        ├── GoMissingError          no Go toolchain, or one older than the pinned modules need
        ├── ControlPlaneBuildError  `go build` failed (the message holds the build log's tail)
        └── ControlPlaneStartError  a component exited or did not become ready (its log's tail)

Messages carry the value, the object and a next step. Library errors are chained (`raise … from`),
never leaked. The sandbox's own internal exceptions (an API status to answer with, a patch that
does not apply) never reach a user and stay beside the code that raises them.
"""

from __future__ import annotations

__all__ = [
    "ApiRelayError",
    "ClusterError",
    "ControlPlaneBuildError",
    "ControlPlaneError",
    "ControlPlaneStartError",
    "DrillAborted",
    "ForbiddenError",
    "GoMissingError",
    "InputError",
    "LeaseHeld",
    "LoadFailed",
    "NonstopError",
    "NotFoundError",
    "PodNetworkError",
    "SafetyError",
    "SandboxStartError",
    "SpecError",
    "TemplateError",
    "TransientError",
]


class NonstopError(Exception):
    """Base of every error nonstop raises on purpose; `str()` is the one sentence users see."""

    exit_code: int = 2


class InputError(NonstopError):
    """A file, flag or field the user wrote is wrong; nothing was changed."""


class SpecError(InputError):
    """The drill spec is invalid; the message names the file and the field path."""


class TemplateError(InputError):
    """The file is a template (it fails to parse and holds `{{ }}`); in a folder it is skipped, not fatal."""

    def __init__(self, message: str, *, skipped: str) -> None:
        super().__init__(message)
        self.skipped = skipped
        """The one line printed when the file is skipped."""


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


class LeaseHeld(SafetyError):
    """Another live drill holds the target's Lease (exit 2, nothing changed)."""


class DrillAborted(NonstopError):
    """The drill stopped without a verdict; `exit_code` is 2 before the rollout started, 3 after."""

    def __init__(self, message: str, *, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class LoadFailed(NonstopError):
    """Locust could not start, or stopped on its own with an error; the message ends with its log."""


class SandboxStartError(NonstopError):
    """The sandbox subprocess exited or did not become ready in time (the message holds its log tail)."""


class PodNetworkError(NonstopError):
    """The pod network namespace could not be set up (not root, no `ip`, or its range is taken)."""


class ApiRelayError(NonstopError):
    """The relay's socket could not be opened inside the pod network namespace."""


class ControlPlaneError(NonstopError):
    """The real control plane could not be built or started; nothing outside its work directory changed."""


class GoMissingError(ControlPlaneError):
    """No usable Go toolchain: the message says what to install and that the embedded sandbox needs none."""


class ControlPlaneBuildError(ControlPlaneError):
    """`go build` of controlplane/ failed."""


class ControlPlaneStartError(ControlPlaneError):
    """etcd, kube-apiserver, kube-controller-manager or kube-scheduler exited or was not ready in time."""
