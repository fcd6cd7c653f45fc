"""`nonstop sandbox up`: check the options, then run the embedded cluster (here) or the real one (`real.py`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from nonstop.cli.sandbox.foreground import stop_on_signals, wait_for_stop
from nonstop.cli.sandbox.options import (
    AddLag,
    Apply,
    BookmarkInterval,
    ControlPlane,
    Faults,
    KubeconfigOut,
    NetworkDelay,
    Nodes,
    NoKubelet,
    Port,
    ProxyLag,
    RemoveLag,
    RetryStaleConnections,
    UpDataPlane,
    With,
)
from nonstop.cli.sandbox.real import check_extras, run_real
from nonstop.errors import InputError

if TYPE_CHECKING:
    from nonstop.sandbox.faults import FaultPlan

__all__ = ["up"]


def up(
    apply: Apply = None,
    kubeconfig_out: KubeconfigOut = Path("sandbox.kubeconfig"),
    proxy_lag: ProxyLag = 1.0,
    add_lag: AddLag = None,
    remove_lag: RemoveLag = None,
    data_plane: UpDataPlane = "kube-proxy",
    retry_stale_connections: RetryStaleConnections = True,
    network_delay_ms: NetworkDelay = 0.0,
    nodes: Nodes = 1,
    port: Port = 0,
    bookmark_interval: BookmarkInterval = 5.0,
    faults: Faults = None,
    no_kubelet: NoKubelet = False,
    control_plane: ControlPlane = "embedded",
    with_: With = None,
) -> None:
    """Run the sandbox cluster in the foreground until Ctrl-C or SIGTERM."""
    if data_plane not in ("kube-proxy", "ingress", "ipvs"):
        raise InputError(f"--data-plane must be kube-proxy, ingress or ipvs, not {data_plane!r}")
    for flag, value in (("--proxy-lag", proxy_lag), ("--add-lag", add_lag), ("--remove-lag", remove_lag)):
        if value is not None and value < 0:
            raise InputError(f"{flag} must be ≥ 0 seconds, not {value}")
    if network_delay_ms < 0:
        raise InputError(f"--network-delay-ms must be ≥ 0, not {network_delay_ms}")
    if network_delay_ms and data_plane == "ingress":
        raise InputError("--network-delay-ms works with --data-plane kube-proxy or ipvs, not ingress")
    if not 1 <= nodes <= 100:
        raise InputError(f"--nodes must be between 1 and 100, not {nodes}")
    if control_plane not in ("embedded", "real"):
        raise InputError(f"--control-plane must be embedded or real, not {control_plane!r}")
    if control_plane == "real":
        _check_real_options(
            nodes=nodes, faults=faults, data_plane=data_plane,
            per_direction_lags=add_lag is not None or remove_lag is not None, retry_stale=retry_stale_connections,
            network_delay=bool(network_delay_ms),
        )  # fmt: skip
        run_real(
            apply=list(apply or []), kubeconfig_out=kubeconfig_out, port=port, data_plane=data_plane,
            proxy_lag=proxy_lag, extras=check_extras(with_ or []),
        )  # fmt: skip
        return
    if with_:
        raise InputError(f"--with {with_[0]} needs --control-plane real (it runs the real controller)")
    _run_embedded(
        apply=list(apply or []), kubeconfig_out=kubeconfig_out, port=port, proxy_lag=proxy_lag, add_lag=add_lag,
        remove_lag=remove_lag, data_plane=data_plane, retry_stale_connections=retry_stale_connections, nodes=nodes,
        network_delay_ms=network_delay_ms,
        bookmark_interval=bookmark_interval, plan=_load_fault_plan(faults) if faults is not None else None,
        no_kubelet=no_kubelet,
    )  # fmt: skip


def _check_real_options(
    *,
    nodes: int,
    faults: Path | None,
    data_plane: str,
    per_direction_lags: bool,
    retry_stale: bool,
    network_delay: bool,
) -> None:
    """Refuse what only the embedded sandbox does."""
    if nodes != 1:
        raise InputError("--nodes works only with --control-plane embedded (the real one has a single node)")
    if faults is not None:
        raise InputError("--faults works only with --control-plane embedded (the fault plans act on our API)")
    if data_plane == "ipvs" or per_direction_lags or not retry_stale or network_delay:
        raise InputError(
            "--control-plane real takes --data-plane kube-proxy|ingress and --proxy-lag; ipvs, per-direction "
            "lags, --network-delay-ms and --no-retry-stale-connections are the embedded sandbox's for now"
        )


def _run_embedded(
    *,
    apply: list[Path],
    kubeconfig_out: Path,
    port: int,
    proxy_lag: float,
    add_lag: float | None,
    remove_lag: float | None,
    data_plane: str,
    retry_stale_connections: bool,
    network_delay_ms: float,
    nodes: int,
    bookmark_interval: float,
    plan: FaultPlan | None,
    no_kubelet: bool,
) -> None:
    """The embedded cluster: start it, create the `--apply` objects, write the kubeconfig last, wait."""
    from nonstop.logs import get_logger
    from nonstop.sandbox.cluster import Cluster, load_manifests, write_kubeconfig

    objects = load_manifests(apply)
    kubeconfig_out.unlink(missing_ok=True)
    log = get_logger("sandbox")
    with stop_on_signals() as stop:
        extra_lag = plan.data_plane_lag_seconds if plan is not None else 0.0
        cluster = Cluster(
            port=port,
            proxy_lag=proxy_lag + extra_lag,
            add_lag=None if add_lag is None else add_lag + extra_lag,
            remove_lag=None if remove_lag is None else remove_lag + extra_lag,
            retry_stale_connections=retry_stale_connections,
            network_delay_ms=network_delay_ms,
            nodes=nodes,
            data_plane="ingress" if data_plane == "ingress" else "ipvs" if data_plane == "ipvs" else "kube-proxy",
            bookmark_interval=bookmark_interval,
            components=("controllers", "dataplane") if no_kubelet else ("controllers", "kubelet", "dataplane"),
            log=log,
        )
        try:
            try:
                cluster.start()
            except OSError as exc:
                raise InputError(f"cannot serve the sandbox API on 127.0.0.1:{port}: {exc.strerror or exc}") from exc
            cluster.apply(objects)
            if plan is not None:
                cluster.api.faults.set(plan)
            write_kubeconfig(kubeconfig_out, cluster.url)
            log.info("sandbox ready", url=cluster.url, kubeconfig=str(kubeconfig_out))
            typer.echo(f"sandbox ready: export KUBECONFIG={kubeconfig_out.resolve()}", err=True)
            wait_for_stop(stop)
        except KeyboardInterrupt:
            pass
        finally:
            kubeconfig_out.unlink(missing_ok=True)
            cluster.stop()
            log.info("sandbox stopped")


def _load_fault_plan(path: Path) -> FaultPlan:
    """Read and validate a `--faults` YAML file; any problem is one sentence naming the file."""
    import yaml

    from nonstop.sandbox.faults import FaultPlan, FaultPlanError

    try:
        body = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise InputError(f"cannot read the fault plan {path}: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise InputError(f"the fault plan {path} is not valid YAML ({str(exc).splitlines()[0]})") from exc
    try:
        return FaultPlan.parse(body, source=f"the fault plan {path}")
    except FaultPlanError as exc:
        raise InputError(str(exc)) from exc
