"""Optional bearer-token authentication (off by default).

With tokens configured, a request must present `Authorization: Bearer <token>` of a known token;
each token maps to the code it gets: 200 (allowed), 401 (Unauthorized: a bad credential) or 403
(Forbidden: a valid user without permission). Without tokens every request is allowed, as a
kubeconfig without credentials would be on a local cluster. A SelfSubjectReview (`kubectl auth
whoami`) names the caller: `sandbox:<token>`, or `system:anonymous` without a token.
"""

from __future__ import annotations

import threading
from typing import Any

from nonstop.sandbox.apierrors import ApiError

__all__ = ["Auth", "review_self"]


class Auth:
    """Token → answer table; `check` returns the caller name or raises 401/403."""

    def __init__(self, tokens: dict[str, int] | None = None) -> None:
        self._tokens: dict[str, int] = dict(tokens or {})
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        with self._lock:
            return bool(self._tokens)

    def check(self, authorization: str | None, *, verb: str, resource: str) -> str | None:
        """The token presented (None without one); raises ApiError 401/403 when auth says no."""
        token = None
        if authorization and authorization.lower().startswith("bearer "):
            token = authorization[7:].strip()
        with self._lock:
            if not self._tokens:
                return token
            code = self._tokens.get(token or "", 401)
        if code == 401:
            raise ApiError(401, "Unauthorized", "Unauthorized")
        if code == 403:
            target = resource or "the requested resource"
            raise ApiError(
                403,
                "Forbidden",
                f'{target} is forbidden: User "sandbox:{token}" cannot {verb} resource "{resource}"',
                details={"kind": resource},
            )
        return token


def review_self(token: str | None) -> dict[str, Any]:
    """The answer to a SelfSubjectReview: the user a request with this bearer token is (`kubectl auth whoami`)."""
    if token:
        user = {"username": f"sandbox:{token}", "groups": ["system:authenticated"]}
    else:
        user = {"username": "system:anonymous", "groups": ["system:unauthenticated"]}
    return {
        "kind": "SelfSubjectReview",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"creationTimestamp": None},
        "status": {"userInfo": user},
    }
