"""`nonstop sandbox up`: run the sandbox cluster in the foreground until Ctrl-C or SIGTERM.

Order matters (CONTRACT.md): start the cluster, create the `--apply` objects, then write the
kubeconfig atomically — its existence means "ready to use". On stop, the kubeconfig is removed.

`--control-plane embedded` (the default) is our Python cluster; `--control-plane real` builds
(cached) and runs etcd, kube-apiserver, kube-controller-manager and kube-scheduler on loopback
(nonstop/sandbox/real/), then our node (`SandboxNode`: kubelet, data plane as `system:kube-proxy`)
with its pods on 198.18.x in a network namespace of its own (root only; the real apiserver refuses
loopback endpoint addresses), waits until the node is schedulable, applies, writes the kubeconfig.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer

from nonstop.errors import InputError

if TYPE_CHECKING:
    from nonstop.sandbox.faults import FaultPlan
    from nonstop.sandbox.node import SandboxNode

__all__ = ["check_extras", "register"]


def register(app: typer.Typer) -> None:  # noqa: C901, PLR0915 — the sandbox commands are defined inside it; their bodies count as its own
    sandbox_app = typer.Typer(help="The embedded sandbox cluster.", no_args_is_help=True)
    app.add_typer(sandbox_app, name="sandbox")

    @sandbox_app.command(name="up")
    def up(  # noqa: C901 — one check per option of `sandbox up`, each with its exit-2 sentence
        apply: Annotated[
            list[Path] | None, typer.Option("--apply", help="A manifest (multi-document YAML) to create; repeatable.")
        ] = None,
        kubeconfig_out: Annotated[
            Path, typer.Option("--kubeconfig-out", help="Where to write the kubeconfig (written last: ready).")
        ] = Path("sandbox.kubeconfig"),
        proxy_lag: Annotated[
            float, typer.Option("--proxy-lag", help="Seconds the data plane sees EndpointSlice changes late.")
        ] = 1.0,
        add_lag: Annotated[
            float | None,
            typer.Option(
                "--add-lag",
                help="Seconds until a new endpoint gets traffic, and readiness gates are set (default: --proxy-lag).",
            ),
        ] = None,
        remove_lag: Annotated[
            float | None,
            typer.Option(
                "--remove-lag", help="Seconds until a removed endpoint stops getting traffic (default: --proxy-lag)."
            ),
        ] = None,
        data_plane: Annotated[
            str,
            typer.Option(
                "--data-plane",
                help="kube-proxy (per connection), ingress (per request) or ipvs "
                "(per connection; established ones reset when their endpoint leaves).",
            ),
        ] = "kube-proxy",
        retry_stale_connections: Annotated[
            bool,
            typer.Option(
                "--retry-stale-connections/--no-retry-stale-connections",
                help="ingress: retry a request once when its pooled upstream connection was stale.",
            ),
        ] = True,
        nodes: Annotated[
            int,
            typer.Option(
                "--nodes",
                help="How many Nodes (1: `sandbox`; N: `sandbox-1` … `sandbox-N`); pods are scheduled onto them.",
            ),
        ] = 1,
        port: Annotated[int, typer.Option("--port", help="API port on 127.0.0.1 (0: a free one).")] = 0,
        bookmark_interval: Annotated[
            float, typer.Option("--bookmark-interval", hidden=True, help="Seconds between watch BOOKMARKs.")
        ] = 5.0,
        faults: Annotated[
            Path | None,
            typer.Option("--faults", help="A fault plan (YAML) applied from the start; see docs/reliability.md."),
        ] = None,
        no_kubelet: Annotated[
            bool,
            typer.Option(
                "--no-kubelet", hidden=True, help="Run no in-process kubelet (a `sandbox node` is the node instead)."
            ),
        ] = False,
        control_plane: Annotated[
            str,
            typer.Option(
                "--control-plane",
                help="embedded (our Python cluster, the default) or real (kube-apiserver, etcd, "
                "kube-controller-manager, kube-scheduler built from Go modules; needs Go the first time).",
            ),
        ] = "embedded",
        with_: Annotated[
            list[str] | None,
            typer.Option(
                "--with",
                help="With --control-plane real: also run this real controller, its CRDs installed; "
                "repeatable. argo-rollouts, argo-workflows (each built from its Go module the first time).",
            ),
        ] = None,
    ) -> None:
        """Run the sandbox cluster in the foreground until Ctrl-C or SIGTERM."""
        from nonstop.logs import get_logger
        from nonstop.sandbox.cluster import Cluster, load_manifests, write_kubeconfig

        if data_plane not in ("kube-proxy", "ingress", "ipvs"):
            raise InputError(f"--data-plane must be kube-proxy, ingress or ipvs, not {data_plane!r}")
        for flag, value in (("--proxy-lag", proxy_lag), ("--add-lag", add_lag), ("--remove-lag", remove_lag)):
            if value is not None and value < 0:
                raise InputError(f"{flag} must be ≥ 0 seconds, not {value}")
        if not 1 <= nodes <= 100:
            raise InputError(f"--nodes must be between 1 and 100, not {nodes}")
        if control_plane not in ("embedded", "real"):
            raise InputError(f"--control-plane must be embedded or real, not {control_plane!r}")
        if control_plane == "real":
            if nodes != 1:
                raise InputError("--nodes works only with --control-plane embedded (the real one has a single node)")
            if faults is not None:
                raise InputError("--faults works only with --control-plane embedded (the fault plans act on our API)")
            if data_plane == "ipvs" or add_lag is not None or remove_lag is not None or not retry_stale_connections:
                raise InputError(
                    "--control-plane real takes --data-plane kube-proxy|ingress and --proxy-lag; ipvs, per-direction "
                    "lags and --no-retry-stale-connections are the embedded sandbox's for now"
                )
            _run_real(
                apply=list(apply or []), kubeconfig_out=kubeconfig_out, port=port, data_plane=data_plane,
                proxy_lag=proxy_lag, extras=check_extras(with_ or []),
            )  # fmt: skip
            return
        if with_:
            raise InputError(f"--with {with_[0]} needs --control-plane real (it runs the real controller)")
        plan = _load_fault_plan(faults) if faults is not None else None
        objects = load_manifests(list(apply or []))
        kubeconfig_out.unlink(missing_ok=True)
        log = get_logger("sandbox")
        stop = threading.Event()

        def on_signal(_signum: int, _frame: FrameType | None) -> None:
            stop.set()

        previous = signal.signal(signal.SIGTERM, on_signal)
        previous_int = signal.signal(
            signal.SIGINT, on_signal
        )  # Ctrl-C: the same clean stop, never a KeyboardInterrupt mid-start
        extra_lag = plan.data_plane_lag_seconds if plan is not None else 0.0
        cluster = Cluster(
            port=port,
            proxy_lag=proxy_lag + extra_lag,
            add_lag=None if add_lag is None else add_lag + extra_lag,
            remove_lag=None if remove_lag is None else remove_lag + extra_lag,
            retry_stale_connections=retry_stale_connections,
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
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            kubeconfig_out.unlink(missing_ok=True)
            cluster.stop()
            signal.signal(signal.SIGTERM, previous)
            signal.signal(signal.SIGINT, previous_int)
            log.info("sandbox stopped")

    @sandbox_app.command(name="node")
    def node(
        kubeconfig: Annotated[Path, typer.Option("--kubeconfig", help="The API server to be the node of.")],
        node_name: Annotated[str, typer.Option("--node-name", help="The Node's name.")] = "sandbox",
        kubelet_port: Annotated[
            int, typer.Option("--kubelet-port", help="The kubelet API's port on 127.0.0.1 (0: a free one).")
        ] = 10250,
        client_ca: Annotated[
            Path | None,
            typer.Option(
                "--client-ca-file",
                help="CA of the API server's kubelet-client certificate (default: the cluster's CA).",
            ),
        ] = None,
        tls_cert: Annotated[
            Path | None,
            typer.Option("--tls-cert-file", help="The kubelet API's serving certificate (default: self-signed)."),
        ] = None,
        tls_key: Annotated[Path | None, typer.Option("--tls-private-key-file", help="Its private key.")] = None,
        data_plane: Annotated[
            str, typer.Option("--data-plane", help="kube-proxy (per connection), ingress (per request) or none.")
        ] = "kube-proxy",
        data_plane_kubeconfig: Annotated[
            Path | None,
            typer.Option(
                "--data-plane-kubeconfig",
                help="The data plane's credentials (default: --kubeconfig); a node's may not list EndpointSlices.",
            ),
        ] = None,
        proxy_lag: Annotated[
            float, typer.Option("--proxy-lag", help="Seconds the data plane sees EndpointSlice changes late.")
        ] = 1.0,
        pod_network: Annotated[
            str,
            typer.Option(
                "--pod-network",
                help="loopback (pods on 127.10.x, the host's network) or netns (198.18.x in a network namespace "
                "of the node's own, which a real API server accepts in EndpointSlices; needs root).",
            ),
        ] = "loopback",
    ) -> None:
        """Be the node of any API server: run its pods as local processes, until Ctrl-C or SIGTERM.

        Registers the Node (with its Lease), serves the kubelet API for `kubectl logs`, and runs the
        data plane for the cluster's Services. See docs/sandbox.md "The sandbox as a node".
        """
        from nonstop.logs import get_logger
        from nonstop.sandbox.node import SandboxNode

        if data_plane not in ("kube-proxy", "ingress", "none"):
            raise InputError(f"--data-plane must be kube-proxy, ingress or none, not {data_plane!r}")
        if proxy_lag < 0:
            raise InputError(f"--proxy-lag must be ≥ 0 seconds, not {proxy_lag}")
        if pod_network not in ("loopback", "netns"):
            raise InputError(f"--pod-network must be loopback or netns, not {pod_network!r}")
        for option, path in (
            ("--data-plane-kubeconfig", data_plane_kubeconfig),
            ("--client-ca-file", client_ca),
            ("--tls-cert-file", tls_cert),
            ("--tls-private-key-file", tls_key),
        ):
            if path is not None and not path.is_file():
                raise InputError(f"{option} {path}: no such file")
        stop = threading.Event()

        def on_signal(_signum: int, _frame: FrameType | None) -> None:
            stop.set()

        previous = signal.signal(signal.SIGTERM, on_signal)
        previous_int = signal.signal(
            signal.SIGINT, on_signal
        )  # Ctrl-C: the same clean stop, never a KeyboardInterrupt mid-start
        sandbox_node = SandboxNode(
            kubeconfig=kubeconfig,
            node_name=node_name,
            kubelet_port=kubelet_port,
            client_ca=client_ca,
            tls_cert=tls_cert,
            tls_key=tls_key,
            data_plane=None if data_plane == "none" else data_plane,
            data_plane_kubeconfig=data_plane_kubeconfig,
            proxy_lag=proxy_lag,
            pod_network=pod_network == "netns",
            log=get_logger("node"),
        )
        try:
            sandbox_node.start()
            typer.echo(f"node {node_name} running against {sandbox_node.connection.host}", err=True)
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            sandbox_node.stop()
            signal.signal(signal.SIGTERM, previous)
            signal.signal(signal.SIGINT, previous_int)


EXTRAS = ("argo-rollouts", "argo-workflows")
ARGO_WORKFLOWS_HOST_PID = "NONSTOP_ARGO_WORKFLOWS_SHARE_HOST_PIDS"
"""Set to 1 to run Argo Workflows on the node anyway: its pods share the host's PID namespace, and a
workflow pod was seen to signal every process of the machine (docs/gitops.md)."""


def check_extras(names: list[str]) -> list[str]:
    """`--with` values: known, each once, in the order given."""
    out: list[str] = []
    for name in names:
        if name not in EXTRAS:
            raise InputError(f"--with must be one of {', '.join(EXTRAS)}, not {name!r}")
        if name not in out:
            out.append(name)
    return out


def _run_real(  # noqa: PLR0915 — the real control plane's start sequence, one statement per step in order
    *, apply: list[Path], kubeconfig_out: Path, port: int, data_plane: str, proxy_lag: float, extras: list[str]
) -> None:
    """`sandbox up --control-plane real`: the real control plane, our node, the extras, apply, kubeconfig last, wait.

    `extras` (`--with`): argo-rollouts and argo-workflows are built (cached) before anything starts,
    and started once the node is schedulable (they run in the node's pod network, reaching the API
    through its relay), so that `--apply` may hold Rollouts and WorkflowTemplates. With
    argo-workflows the node runs the built `argoexec` for the executor image.
    """
    from nonstop.logs import get_logger
    from nonstop.sandbox.node import SandboxNode
    from nonstop.sandbox.podnet import PodNetwork
    from nonstop.sandbox.real.build import ensure_built, ensure_rollouts_built, ensure_workflows_built
    from nonstop.sandbox.real.controller import InClusterController
    from nonstop.sandbox.real.controlplane import RealControlPlane
    from nonstop.sandbox.real.manifests import apply_manifests, read_manifests
    from nonstop.sandbox.real.rollouts import ArgoRollouts
    from nonstop.sandbox.real.workflows import ARGOEXEC_IMAGE, ArgoWorkflows

    if "argo-workflows" in extras and os.environ.get(ARGO_WORKFLOWS_HOST_PID) != "1":
        raise InputError(
            "--with argo-workflows is held back: a workflow pod's Argo executor sent SIGTERM to every "
            "process on the machine (kill(-1)), since the node's pods share the host's PID namespace; "
            f"set {ARGO_WORKFLOWS_HOST_PID}=1 only on a machine you can lose every process of"
        )
    PodNetwork.check_possible()  # before a build or a start: one sentence when not root
    threading.Thread(target=_warm_client_imports, name="warm-imports", daemon=True).start()
    objects = read_manifests(apply)
    kubeconfig_out.unlink(missing_ok=True)
    log = get_logger("sandbox")

    def say(line: str) -> None:
        typer.echo(line, err=True)

    binary = ensure_built(progress=say)
    kinds: dict[str, tuple[type[InClusterController], Callable[..., Path]]] = {
        "argo-rollouts": (ArgoRollouts, ensure_rollouts_built),
        "argo-workflows": (ArgoWorkflows, ensure_workflows_built),
    }
    binaries = {name: kinds[name][1](progress=say) for name in extras}
    workflows_binary = binaries.get("argo-workflows")
    image_bins = {ARGOEXEC_IMAGE: str(workflows_binary.parent)} if workflows_binary is not None else {}
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, on_signal)
    previous_int = signal.signal(
        signal.SIGINT, on_signal
    )  # Ctrl-C: the same clean stop, never a KeyboardInterrupt mid-start
    started = time.monotonic()
    plane = RealControlPlane(binary=binary, apiserver_port=port, progress=say)
    node: SandboxNode | None = None
    controllers: list[InClusterController] = []
    try:
        plane.start()
        creds = plane.node_credentials(REAL_NODE_NAME)
        node = SandboxNode(
            kubeconfig=creds.kubeconfig,
            node_name=REAL_NODE_NAME,
            kubelet_port=0,
            client_ca=creds.ca_cert,
            data_plane=data_plane,
            data_plane_kubeconfig=plane.kube_proxy_kubeconfig(),
            proxy_lag=proxy_lag,
            pod_network=True,
            image_bins=image_bins,
            log=get_logger("node"),
        )
        node.start()
        say(f"node {REAL_NODE_NAME} registered ({time.monotonic() - started:.1f} s)")
        _wait_schedulable(node, stop)
        say(f"node {REAL_NODE_NAME} ready, pods on {node.pod_network.pod_cidr if node.pod_network else '?'} "
            f"({time.monotonic() - started:.1f} s)")  # fmt: skip
        for name, controller_binary in binaries.items():
            controllers.append(kinds[name][0](binary=controller_binary, plane=plane, node=node, progress=say))
            controllers[-1].start()
        apply_manifests(plane.admin_kubeconfig, objects)
        tmp = kubeconfig_out.with_name(f".{kubeconfig_out.name}.tmp")
        tmp.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(plane.admin_kubeconfig.read_bytes())
        tmp.chmod(0o600)
        tmp.replace(kubeconfig_out)
        log.info("sandbox ready", control_plane="real", url=plane.url, kubeconfig=str(kubeconfig_out))
        typer.echo(f"sandbox ready (real control plane): export KUBECONFIG={kubeconfig_out.resolve()}", err=True)
        while not stop.wait(0.5):
            plane.check_running()
            for controller in controllers:
                controller.check_running()
    except KeyboardInterrupt:
        pass
    finally:
        kubeconfig_out.unlink(missing_ok=True)
        for controller in controllers:
            controller.stop()
        if node is not None:
            node.stop()
        plane.stop()
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)
        log.info("sandbox stopped", control_plane="real")


REAL_NODE_NAME = "sandbox"


def _warm_client_imports() -> None:
    """Import the client's CoreV1Api and dynamic client while the control plane starts.

    The `kubernetes` package imports its API classes lazily, each with hundreds of pydantic
    models: about 1 s on a quiet machine, 8-10 s on a loaded one. Paid on the kubelet's first pod
    list, it delayed the first pod by that much; here it overlaps the wait for the apiserver.
    """
    from kubernetes import client, dynamic

    _ = (client.CoreV1Api, client.AppsV1Api, dynamic.DynamicClient)


def _wait_schedulable(node: SandboxNode, stop: threading.Event, timeout: float = 60.0) -> None:
    """Until the Node is Ready and the controller-manager lifted the `not-ready` taint admission put on it."""
    from nonstop.errors import ControlPlaneStartError
    from nonstop.sandbox.apierrors import ApiError

    deadline = time.monotonic() + timeout
    while not stop.is_set():
        try:
            obj = node.api.request("GET", f"/api/v1/nodes/{node.node_name}", what="read the node")
        except ApiError:
            obj = {}
        ready = any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in (obj.get("status") or {}).get("conditions") or []
        )
        taints = [t.get("key") for t in (obj.get("spec") or {}).get("taints") or []]
        if ready and "node.kubernetes.io/not-ready" not in taints:
            return
        if time.monotonic() > deadline:
            raise ControlPlaneStartError(
                f"node {node.node_name} was not schedulable {timeout:.0f} s after it started (taints: {taints})"
            )
        time.sleep(0.2)


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
