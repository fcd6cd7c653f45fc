"""`nonstop drill`: run one drill against a cluster (kubeconfig, context, in-cluster) or the sandbox."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from nonstop.errors import InputError
from nonstop.logs import get_logger

__all__ = ["CONTROL_PLANE_HELP", "check_control_plane", "register", "run_drill_command", "sandbox_connection"]

log = get_logger("cli.drill")


@contextmanager
def interrupt_handler() -> Iterator[threading.Event]:
    """SIGINT/SIGTERM set an event the drill checks at every step (a second signal is not special)."""
    interrupted = threading.Event()

    def handler(signum: int, _frame: FrameType | None) -> None:
        if not interrupted.is_set():
            log.warning("interrupt received; stopping the drill", signal=signal.Signals(signum).name)
        interrupted.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield interrupted
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@contextmanager
def sandbox_connection(
    *,
    apply: list[Path],
    proxy_lag: float,
    data_plane: str,
    target_kind: str,
    target: str,
    namespace: str | None,
    add_lag: float | None = None,
    remove_lag: float | None = None,
    retry_stale_connections: bool = True,
    network_delay_ms: float = 0.0,
    nodes: int = 1,
    control_plane: str = "embedded",
) -> Iterator[str | None]:
    """Start the sandbox with `apply`, wait until the target is available; yields the kubeconfig path.

    `control_plane`: embedded (our Python cluster) or real (kube-apiserver & co. with our node, whose
    pods live in a network namespace: root only; the binary is built first when not cached).
    """
    from nonstop.kube.api import Kube
    from nonstop.kube.connection import connect
    from nonstop.sandbox.launcher import SandboxProcess
    from nonstop.strategies.status import is_complete

    for manifest in apply:
        if not manifest.exists():
            raise InputError(f"{manifest}: no such manifest file (--apply)")
    startup_timeout = 60.0
    if control_plane == "real":
        from nonstop.sandbox.podnet import PodNetwork
        from nonstop.sandbox.real.build import ensure_built

        PodNetwork.check_possible()
        ensure_built(progress=lambda line: typer.echo(line, err=True))  # a cold build: minutes, shown here
        startup_timeout = 180.0
    sandbox = SandboxProcess(
        apply=apply, proxy_lag=proxy_lag, data_plane=data_plane, add_lag=add_lag, remove_lag=remove_lag,
        retry_stale_connections=retry_stale_connections, network_delay_ms=network_delay_ms,
        control_plane=control_plane, nodes=nodes, startup_timeout=startup_timeout,
    )  # fmt: skip
    sandbox.start()
    try:
        kube = Kube(connect(kubeconfig=str(sandbox.kubeconfig)))
        ns = namespace or kube.namespace
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            workload = kube.get_deployment(ns, target) if target_kind == "Deployment" else kube.get_rollout(ns, target)
            if is_complete(workload, target_kind)[0]:
                break
            time.sleep(0.2)  # a bounded poll of the API while the sandbox starts the pods
        else:
            raise InputError(f"{target_kind} {ns}/{target} did not become available in the sandbox within 120 s")
        kube.close()
        yield str(sandbox.kubeconfig)
    finally:
        sandbox.stop()


def run_drill_command(
    drill_file: Path,
    *,
    sandbox: bool,
    apply: list[Path],
    kubeconfig: str | None,
    context: str | None,
    report_dir: Path | None,
    dry_run: bool,
    quiet: bool = False,
    control_plane: str = "embedded",
) -> int:
    """Run one drill end to end; returns the exit code of CONTRACT.md."""
    from nonstop.drill.reporting import write_reports
    from nonstop.drill.run import run_drill
    from nonstop.kube.api import Kube
    from nonstop.kube.connection import connect
    from nonstop.report.progress import progress_display
    from nonstop.report.terminal import print_summary
    from nonstop.spec import load_drill

    drill = load_drill(drill_file)
    spec = drill.spec
    if apply and not sandbox:
        raise InputError("--apply only works with --sandbox (nonstop never applies manifests to a real cluster)")
    check_control_plane(control_plane, sandbox=sandbox)
    out_dir = report_dir or Path("nonstop-report") / drill.metadata.name
    with interrupt_handler() as interrupted:
        if sandbox:
            cm = sandbox_connection(
                apply=apply, proxy_lag=spec.sandbox.proxy_lag_seconds, data_plane=spec.sandbox.data_plane,
                add_lag=spec.sandbox.add_lag_seconds, remove_lag=spec.sandbox.remove_lag_seconds,
                retry_stale_connections=spec.sandbox.ingress.retry_stale_connections, nodes=spec.sandbox.nodes,
                network_delay_ms=spec.sandbox.network_delay_ms,
                target_kind=spec.target.kind, target=spec.target.name, namespace=spec.target.namespace,
                control_plane=control_plane,
            )  # fmt: skip
        else:
            cm = _nothing(kubeconfig)
        with cm as config_path:
            kube = Kube(connect(kubeconfig=config_path, context=None if sandbox else context))
            try:
                namespace = spec.target.namespace or kube.namespace
                with progress_display() as progress:
                    run = run_drill(drill, kube=kube, namespace=namespace, interrupted=interrupted, dry_run=dry_run,
                                    progress=progress)  # fmt: skip
            finally:
                kube.close()
            report = write_reports(run, out_dir)  # before the sandbox stops: the verdict is out ~1 s sooner
    if not quiet:
        print_summary(report, out_dir)
    return run.exit_code


def check_control_plane(control_plane: str, *, sandbox: bool) -> None:
    """`--control-plane` is embedded or real, and only means something with `--sandbox`."""
    if control_plane not in ("embedded", "real"):
        raise InputError(f"--control-plane must be embedded or real, not {control_plane!r}")
    if control_plane != "embedded" and not sandbox:
        raise InputError("--control-plane only works with --sandbox (it chooses the sandbox's control plane)")


CONTROL_PLANE_HELP = (
    "With --sandbox: embedded (our Python cluster, the default) or real (kube-apiserver, etcd, "
    "kube-controller-manager, kube-scheduler built from Go modules, with our node; needs root)."
)


@contextmanager
def _nothing(value: str | None) -> Iterator[str | None]:
    yield value


def register(app: typer.Typer) -> None:
    @app.command(name="drill")
    def drill_command(
        file: Annotated[Path, typer.Option("-f", "--file", help="The drill spec (kind: Drill).")],
        sandbox: Annotated[bool, typer.Option("--sandbox", help="Run on the embedded sandbox cluster.")] = False,
        apply: Annotated[
            list[Path] | None, typer.Option("--apply", help="With --sandbox: manifests to create first (repeatable).")
        ] = None,
        kubeconfig: Annotated[str | None, typer.Option("--kubeconfig", help="Path of the kubeconfig file.")] = None,
        context: Annotated[str | None, typer.Option("--context", help="The kubeconfig context to use.")] = None,
        report_dir: Annotated[
            Path | None, typer.Option("--report-dir", help="Where report.json goes (default ./nonstop-report/<name>).")
        ] = None,
        dry_run: Annotated[
            bool,
            typer.Option(
                "--dry-run", help="Measure and decide, but change nothing in the cluster (and take no Lease)."
            ),
        ] = False,
        control_plane: Annotated[str, typer.Option("--control-plane", help=CONTROL_PLANE_HELP)] = "embedded",
    ) -> None:
        """Run one drill: load through the Service while the target rolls out; judge, decide, report.

        Exit codes: 0 pass, 1 fail, 2 could not run (nothing changed), 3 inconclusive after the rollout started.
        """
        code = run_drill_command(
            file, sandbox=sandbox, apply=apply or [], kubeconfig=kubeconfig, context=context,
            report_dir=report_dir, dry_run=dry_run, control_plane=control_plane,
        )  # fmt: skip
        raise typer.Exit(code)
