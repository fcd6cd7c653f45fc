"""Kubernetes `Status` errors as the sandbox's API server answers them (K8S-SEMANTICS.md §6 "Errors")."""

from __future__ import annotations

from typing import Any

__all__ = ["ApiError", "already_exists", "bad_request", "conflict", "expired", "invalid", "not_found"]


class ApiError(Exception):
    """An error the API answers with a `Status` object: code, reason, message and details."""

    def __init__(self, code: int, reason: str, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details or {}

    def status(self) -> dict[str, Any]:
        """The `Status` object a real API server sends for this error, its fields in metav1.Status's order."""
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
        }
        if self.details:
            body["details"] = {k: v for k, v in self.details.items() if k != "group" or v}
        body["code"] = self.code
        return body


def _qualified(resource: str, group: str) -> str:
    return f"{resource}.{group}" if group else resource


def _details(name: str, group: str, kind: str) -> dict[str, Any]:
    """StatusDetails: `group` is omitempty, so core kinds have none."""
    return {"name": name, **({"group": group} if group else {}), "kind": kind}


def _about(code: int, reason: str, template: str, resource: str, group: str, name: str) -> ApiError:
    """An error about one named object; `{what}` in `template` stands for `<resource>[.<group>] "<name>"`."""
    what = f'{_qualified(resource, group)} "{name}"'
    return ApiError(code, reason, template.format(what=what), details=_details(name, group, resource))


def not_found(resource: str, group: str, name: str) -> ApiError:
    return _about(404, "NotFound", "{what} not found", resource, group, name)


def already_exists(resource: str, group: str, name: str) -> ApiError:
    return _about(409, "AlreadyExists", "{what} already exists", resource, group, name)


def conflict(resource: str, group: str, name: str) -> ApiError:
    template = (
        "Operation cannot be fulfilled on {what}: the object has been modified; "
        "please apply your changes to the latest version and try again"
    )
    return _about(409, "Conflict", template, resource, group, name)


def invalid(kind: str, group: str, name: str, causes: list[tuple[str, str]]) -> ApiError:
    """422 Invalid; `causes` are (field, message) pairs."""
    text = "; ".join(f"{field}: {msg}" for field, msg in causes)
    return ApiError(
        422,
        "Invalid",
        f'{_qualified(kind, group)} "{name}" is invalid: {text}',
        details={
            **_details(name, group, kind),
            "causes": [{"reason": "FieldValueInvalid", "message": msg, "field": field} for field, msg in causes],
        },
    )


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def expired(message: str) -> ApiError:
    return ApiError(410, "Expired", message)
