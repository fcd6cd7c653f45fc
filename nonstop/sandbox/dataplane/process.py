"""The data-plane process: arguments, parent-death signal, SIGTERM/SIGINT, the event loop.

    python -m nonstop.sandbox.dataplane --kubeconfig PATH [--mode kube-proxy|ingress|ipvs] [--proxy-lag SECONDS]
        [--add-lag SECONDS] [--remove-lag SECONDS] [--no-retry-stale-connections]

`--add-lag` / `--remove-lag` default to `--proxy-lag` (see `lag.py`).

It exits 0 on SIGTERM or SIGINT, and gets SIGTERM when its parent dies (prctl PDEATHSIG), so a
crashed sandbox never leaves it behind.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from nonstop.logs import configure_logging, get_logger
from nonstop.sandbox.dataplane.plane import MODES, DataPlane, Mode
from nonstop.sandbox.dataplane.table import EndpointTable

if TYPE_CHECKING:
    from collections.abc import Sequence

    import structlog

__all__ = ["main", "serve"]


async def serve(
    *,
    kubeconfig: Path,
    mode: Mode,
    proxy_lag: float,
    log: structlog.typing.FilteringBoundLogger,
    stop: asyncio.Event,
    add_lag: float | None = None,
    remove_lag: float | None = None,
    retry_stale_connections: bool = True,
    network_delay_ms: float = 0.0,
) -> None:
    """Watch the cluster behind `kubeconfig` and forward for its Services until `stop` is set."""
    from kubernetes import config

    from nonstop.sandbox.dataplane.endpoints import LaggedFeed, start_watchers

    api = config.new_client_from_config(config_file=str(kubeconfig))
    api.user_agent = "nonstop-sandbox-dataplane"  # the request log tells its watches from the drill's
    plane = DataPlane(
        mode=mode, log=log, retry_stale_connections=retry_stale_connections, network_delay=network_delay_ms / 1000
    )
    feed = LaggedFeed(lag=proxy_lag, add_lag=add_lag, remove_lag=remove_lag, table=EndpointTable(), plane=plane)
    applier = asyncio.get_running_loop().create_task(feed.run())
    watchers = start_watchers(api, feed, asyncio.get_running_loop(), log=log)
    log.info(
        "data plane started",
        mode=mode,
        add_lag_seconds=feed.add_lag,
        remove_lag_seconds=feed.remove_lag,
        retry_stale_connections=retry_stale_connections,
        network_delay_ms=network_delay_ms,
        pid=os.getpid(),
    )
    try:
        await stop.wait()
    finally:
        for w in watchers:
            w.stop()
        for w in watchers:
            await asyncio.to_thread(w.thread.join, 2.0)
        applier.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await applier
        await plane.close()
        log.info("data plane stopped")


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m nonstop.sandbox.dataplane",
        description="The sandbox's data plane: forwards each Service's ClusterIP to its endpoints, late.",
    )
    parser.add_argument("--kubeconfig", type=Path, required=True, help="kubeconfig of the sandbox API server")
    parser.add_argument("--mode", choices=MODES, default="kube-proxy", help="kube-proxy (default), ingress or ipvs")
    parser.add_argument(
        "--proxy-lag", type=float, default=1.0, help="seconds between seeing an endpoint change and applying it"
    )
    parser.add_argument(
        "--add-lag", type=float, default=None, help="seconds until a new/ready endpoint gets traffic (--proxy-lag)"
    )
    parser.add_argument(
        "--remove-lag", type=float, default=None, help="seconds until a removed/unready endpoint loses it (--proxy-lag)"
    )
    parser.add_argument(
        "--no-retry-stale-connections",
        dest="retry_stale_connections",
        action="store_false",
        help="ingress: answer 502 instead of retrying a request once on a stale pooled connection",
    )
    parser.add_argument(
        "--network-delay-ms",
        type=float,
        default=0.0,
        help="kube-proxy, ipvs: one-way latency added to every forwarded connection, each way",
    )
    parser.add_argument(
        "--parent-pid", type=int, default=None, help="the process that started this one: gone already, exit at once"
    )
    parser.add_argument("--log-format", choices=("auto", "console", "json"), default="auto")
    parser.add_argument("--debug", action="store_true", help="log every failed backend connection")
    args = parser.parse_args(argv)
    for flag, value in (
        ("--proxy-lag", args.proxy_lag),
        ("--add-lag", args.add_lag),
        ("--remove-lag", args.remove_lag),
        ("--network-delay-ms", args.network_delay_ms),
    ):
        if value is not None and value < 0:
            parser.error(f"{flag} must be ≥ 0, got {value}")
    if not args.kubeconfig.is_file():
        parser.error(f"--kubeconfig {args.kubeconfig}: no such file")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the data plane in the foreground; 0 on a clean stop."""
    args = _parse(argv)
    configure_logging(log_format=args.log_format, debug=args.debug)
    log = get_logger("dataplane")

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve(
            kubeconfig=args.kubeconfig,
            mode=args.mode,
            proxy_lag=args.proxy_lag,
            add_lag=args.add_lag,
            remove_lag=args.remove_lag,
            retry_stale_connections=args.retry_stale_connections,
            network_delay_ms=args.network_delay_ms,
            log=log,
            stop=stop,
        )

    asyncio.run(run())
    # A watch thread stuck in a connect must not hold the exit (or write to stderr during
    # interpreter shutdown): leave at once, with everything flushed.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
