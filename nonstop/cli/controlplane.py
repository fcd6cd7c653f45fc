"""`nonstop controlplane build`: build the real control plane's binary from its pinned Go modules.

The binary (etcd, kube-apiserver, kube-controller-manager and kube-scheduler in one) goes to
`~/.cache/nonstop/controlplane/<key>/` and is rebuilt only when controlplane/'s pins change
(nonstop/sandbox/real/build.py). Without Go: one sentence saying what to install, exit 2.
"""

from __future__ import annotations

import typer

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    controlplane_app = typer.Typer(
        help="The real Kubernetes control plane (built from Go modules) behind --control-plane real.",
        no_args_is_help=True,
    )
    app.add_typer(controlplane_app, name="controlplane")

    @controlplane_app.command(name="build")
    def build() -> None:
        """Build (or find cached) the real control plane's binary; prints its path on stdout."""
        from nonstop.sandbox.real.build import binary_path, ensure_built

        cached = binary_path().exists()
        binary = ensure_built(progress=lambda line: typer.echo(line, err=True))
        if cached:
            typer.echo(f"up to date: {binary}", err=True)
        typer.echo(str(binary))
