"""`nonstop controlplane build`: build the real control plane's binary from its pinned Go modules.

The binary (etcd, kube-apiserver, kube-controller-manager and kube-scheduler in one) goes to
`~/.cache/nonstop/controlplane/<key>/` and is rebuilt only when controlplane/'s pins change
(nonstop/sandbox/real/build.py). `--with argo-rollouts` also builds the Argo Rollouts controller
(controlplane/argo-rollouts/'s pin) into `~/.cache/nonstop/argo-rollouts/<key>/`, `--with argo-workflows`
workflow-controller and argoexec (controlplane/argo-workflows/'s pin) into
`~/.cache/nonstop/argo-workflows/<key>/`; one path a line (argoexec is beside workflow-controller).
Without Go: one sentence saying what to install, exit 2.
"""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    controlplane_app = typer.Typer(
        help="The real Kubernetes control plane (built from Go modules) behind --control-plane real.",
        no_args_is_help=True,
    )
    app.add_typer(controlplane_app, name="controlplane")

    @controlplane_app.command(name="build")
    def build(
        with_: Annotated[
            list[str] | None,
            typer.Option("--with", help="Also build this controller (argo-rollouts, argo-workflows); repeatable."),
        ] = None,
    ) -> None:
        """Build (or find cached) the real control plane's binary; prints its path on stdout."""
        from nonstop.cli.sandbox import check_extras
        from nonstop.sandbox.real.build import (
            binary_path,
            ensure_built,
            ensure_rollouts_built,
            ensure_workflows_built,
            rollouts_binary_path,
            workflows_binary_path,
        )

        extras = check_extras(with_ or [])

        def say(line: str) -> None:
            typer.echo(line, err=True)

        builds = [(binary_path(), ensure_built)]
        if "argo-rollouts" in extras:
            builds.append((rollouts_binary_path(), ensure_rollouts_built))
        if "argo-workflows" in extras:
            builds.append((workflows_binary_path(), ensure_workflows_built))
        for where, ensure in builds:
            cached = where.exists()
            binary = ensure(progress=say)
            if cached:
                say(f"up to date: {binary}")
            typer.echo(str(binary))
