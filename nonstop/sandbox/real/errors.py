"""Errors of the real control plane, under nonstop's one tree (exit 2)::

NonstopError
└── ControlPlaneError           the real control plane could not be built or started
    ├── GoMissingError          no Go toolchain, or one older than the pinned modules need
    ├── ControlPlaneBuildError  `go build` failed (the message holds the build log's tail)
    └── ControlPlaneStartError  a component exited or did not become ready (its log's tail)
"""

from __future__ import annotations

from nonstop.errors import NonstopError

__all__ = ["ControlPlaneBuildError", "ControlPlaneError", "ControlPlaneStartError", "GoMissingError"]


class ControlPlaneError(NonstopError):
    """The real control plane could not be built or started; nothing outside its work directory changed."""


class GoMissingError(ControlPlaneError):
    """No usable Go toolchain: the message says what to install and that the embedded sandbox needs none."""


class ControlPlaneBuildError(ControlPlaneError):
    """`go build` of controlplane/ failed."""


class ControlPlaneStartError(ControlPlaneError):
    """etcd, kube-apiserver, kube-controller-manager or kube-scheduler exited or was not ready in time."""
