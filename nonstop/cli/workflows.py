"""`nonstop workflows render|submit|plan`: the Argo manifests, submitting a drill, and the plan step."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from nonstop.errors import InputError

__all__ = ["register"]

workflows_app = typer.Typer(
    name="workflows",
    help="Argo manifests (WorkflowTemplate, CronWorkflow, Argo CD hook, AnalysisTemplate, RBAC) and submission.",
    no_args_is_help=True,
)


@workflows_app.command(name="render")
def render_command(
    out: Annotated[Path, typer.Option("--out", help="Directory to write the manifests into (created).")] = Path(
        "build/argo"
    ),
    image: Annotated[
        str | None, typer.Option("--image", help="Image the steps run (built from config/deploy/Dockerfile).")
    ] = None,
    namespace: Annotated[
        str | None, typer.Option("--namespace", help="Namespace of every object; default: the kubectl context's.")
    ] = None,
) -> None:
    """Write the WorkflowTemplate, CronWorkflow, Argo CD hook, AnalysisTemplate, RBAC and kustomizations.

    Install with `kubectl apply -k OUT` (add the AnalysisTemplate with `kubectl apply -k OUT/rollouts`).
    """
    from workflows.names import DEFAULT_IMAGE
    from workflows.render import write_manifests

    for path in write_manifests(out, image=image or DEFAULT_IMAGE, namespace=namespace):
        typer.echo(str(path))


@workflows_app.command(name="submit")
def submit_command(
    file: Annotated[Path, typer.Option("-f", "--file", help="The drill spec (kind: Drill).", show_default=False)],
    argo_server: Annotated[
        str | None,
        typer.Option("--argo-server", help="Argo Server URL (https://host:2746); default: ARGO_SERVER (host:port)."),
    ] = None,
    token: Annotated[
        str | None, typer.Option("--token", help="Bearer token; default: ARGO_TOKEN.", show_default=False)
    ] = None,
    namespace: Annotated[
        str | None,
        typer.Option("--namespace", help="Namespace to run in; default: ARGO_NAMESPACE, else the drill target's."),
    ] = None,
) -> None:
    """Submit a drill as a Workflow from the nonstop-drill WorkflowTemplate through the Argo Server API."""
    from nonstop.spec import load_drill
    from workflows.submit import ArgoServer, submit_drill

    drill = load_drill(file)
    text = file.read_text(encoding="utf-8")
    server = ArgoServer.resolve(server=argo_server, token=token, namespace=namespace, env=os.environ)
    created = submit_drill(drill, drill_yaml=text, server=server)
    meta = created.get("metadata", {})
    typer.echo(
        f"submitted workflow {meta.get('namespace', '?')}/{meta.get('name', '?')} for drill {drill.metadata.name}"
    )


@workflows_app.command(name="plan")
def plan_command(
    file: Annotated[Path, typer.Option("-f", "--file", help="The drill spec (kind: Drill).", show_default=False)],
    out: Annotated[Path, typer.Option("--out", help="Directory for one file per value.", show_default=False)],
    purpose: Annotated[
        str, typer.Option("--purpose", help="workflow, or analysis (refuses a spec that would act).")
    ] = "workflow",
) -> None:
    """The first step of the nonstop-drill workflow: validate the spec and write what the workflow needs.

    Writes target-kind, target-name, target-namespace, target-service, strategy, workers,
    deadline-seconds, locustfile and drill-name into --out, one file each.
    """
    from nonstop.spec import load_drill
    from workflows.plan import plan_values, write_plan

    if purpose not in ("workflow", "analysis"):
        raise InputError(f"--purpose must be workflow or analysis, not {purpose!r}")
    values = plan_values(load_drill(file), purpose=purpose)
    write_plan(values, out)
    for key, value in values.items():
        typer.echo(f"{key}: {value}")


def register(app: typer.Typer) -> None:
    app.add_typer(workflows_app, name="workflows")
