"""Submit a drill as a Workflow from `nonstop-drill` through the Argo Server API (Hera's WorkflowsService).

Where the server and token come from, first match wins: the flags, then the variables the `argo`
CLI reads — `ARGO_SERVER` (`host:port`, no scheme; `ARGO_SECURE=false` means http, default
https), `ARGO_BASE_HREF`, `ARGO_TOKEN` (with or without the `Bearer ` prefix; Hera adds it when
missing), `ARGO_NAMESPACE` and `ARGO_INSECURE_SKIP_VERIFY`. Hera itself reads no environment
variables, so nonstop maps them.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hera.workflows import Parameter, Workflow, WorkflowsService
from hera.workflows.models import WorkflowCreateRequest, WorkflowTemplateRef
from pydantic import PydanticDeprecatedSince20

from nonstop.errors import ClusterError, InputError
from nonstop.spec import Drill
from workflows.names import WORKFLOW_TEMPLATE

__all__ = ["ArgoServer", "drill_workflow", "submit_drill"]


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class ArgoServer:
    """Where and how to reach the Argo Server."""

    url: str
    token: str | None
    namespace: str | None
    verify_ssl: bool

    @classmethod
    def resolve(
        cls, *, server: str | None, token: str | None, namespace: str | None, env: Mapping[str, str]
    ) -> ArgoServer:
        """Flags first, then the `argo` CLI's environment variables."""
        raw = server or env.get("ARGO_SERVER", "")
        if not raw.strip():
            raise InputError("no Argo Server given: pass --argo-server URL or set ARGO_SERVER (host:port)")
        raw = raw.strip()
        if "://" not in raw:
            secure = env.get("ARGO_SECURE")
            scheme = "http" if secure is not None and not _truthy(secure) else "https"
            raw = f"{scheme}://{raw}"
        if not raw.startswith(("http://", "https://")):
            raise InputError(f"--argo-server {raw!r}: use http://host:port or https://host:port")
        base_href = env.get("ARGO_BASE_HREF", "").strip("/") if server is None else ""
        url = raw.rstrip("/") + "/" + (base_href + "/" if base_href else "")
        return cls(
            url=url,
            token=token or env.get("ARGO_TOKEN") or None,
            namespace=namespace or env.get("ARGO_NAMESPACE") or None,
            verify_ssl=not _truthy(env.get("ARGO_INSECURE_SKIP_VERIFY")),
        )


def _label_value(text: str) -> str:
    value = text[:63].rstrip("-_.")
    return value or "drill"


def drill_workflow(drill: Drill, *, drill_yaml: str, namespace: str | None) -> Workflow:
    """The Workflow that runs one drill from the `nonstop-drill` template; `drill_yaml` is passed verbatim."""
    name = drill.metadata.name
    return Workflow(
        generate_name=f"nonstop-{name[:40].rstrip('-.')}-",
        namespace=namespace,
        labels={"app.kubernetes.io/name": "nonstop", "nonstop.dev/drill": _label_value(name)},
        workflow_template_ref=WorkflowTemplateRef(name=WORKFLOW_TEMPLATE),
        arguments=[Parameter(name="drill", value=drill_yaml)],
    )


def submit_drill(drill: Drill, *, drill_yaml: str, server: ArgoServer) -> dict[str, Any]:
    """POST the Workflow to `/api/v1/workflows/{namespace}`; returns the created Workflow as a dict.

    The namespace is the server's (flag or ARGO_NAMESPACE), else the drill target's, else `default`:
    the workflow runs where its Role and the target live.
    """
    namespace = server.namespace or drill.spec.target.namespace or "default"
    workflow = drill_workflow(drill, drill_yaml=drill_yaml, namespace=namespace)
    service = WorkflowsService(host=server.url, token=server.token, namespace=namespace, verify_ssl=server.verify_ssl)
    request = WorkflowCreateRequest(workflow=workflow.build())
    try:
        with warnings.catch_warnings():
            # Hera 7 serialises requests with pydantic's deprecated `.json()`; the warning is Hera's, not the user's.
            warnings.filterwarnings("ignore", category=PydanticDeprecatedSince20)
            created = service.create_workflow(request, namespace=namespace)
    except Exception as exc:  # Hera raises its own exceptions, requests its own; both mean "not submitted"
        raise ClusterError(f"Argo Server {server.url}: submitting drill {drill.metadata.name} failed: {exc}") from exc
    finally:
        service.session.close()
    result: dict[str, Any] = created.model_dump(by_alias=True, exclude_none=True, mode="json")
    return result
