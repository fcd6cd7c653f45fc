"""`nonstop sandbox`: run the sandbox cluster (`up`) or be the node of any API server (`node`), in the
foreground until Ctrl-C or SIGTERM.

Order matters (CONTRACT.md): start the cluster, create the `--apply` objects, then write the
kubeconfig atomically — its existence means "ready to use". On stop, the kubeconfig is removed.

`--control-plane embedded` (the default) is our Python cluster (`up.py`); `--control-plane real`
builds (cached) and runs etcd, kube-apiserver, kube-controller-manager and kube-scheduler on loopback,
then our node, waits until the node is schedulable, applies, writes the kubeconfig (`real.py`).
The options, named and documented once, are in `options.py`; the foreground loop and its signal
handling, which both commands share, in `foreground.py`.
"""

from __future__ import annotations

import typer

from nonstop.cli.sandbox.node import node
from nonstop.cli.sandbox.real import check_extras
from nonstop.cli.sandbox.up import up

__all__ = ["check_extras", "register"]


def register(app: typer.Typer) -> None:
    sandbox_app = typer.Typer(help="The embedded sandbox cluster.", no_args_is_help=True)
    app.add_typer(sandbox_app, name="sandbox")
    sandbox_app.command(name="up")(up)
    sandbox_app.command(name="node")(node)
