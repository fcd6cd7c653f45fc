"""The sandbox's data plane: each Service's ClusterIP forwarded to its endpoints, `proxyLagSeconds` late.

It runs in its own process (`python -m nonstop.sandbox.dataplane --kubeconfig PATH --mode
kube-proxy|ingress|ipvs --proxy-lag SECONDS [--add-lag S] [--remove-lag S]
[--no-retry-stale-connections]`), so forwarding load never skews the API server's timing.

    endpoints.py   watch threads (official client) and the lagged feed
    table.py       Services + EndpointSlices → routes (pure)
    lag.py         when each observed change takes effect: add/remove lags per endpoint (pure)
    plane.py       listeners per (ClusterIP, port), opened and closed as routes change
    kubeproxy.py   a backend per connection, terminating fallback, resets; ipvs: resets on removal
    ingress.py     HTTP per request to pod IPs, 502/503
    process.py     arguments, signals, parent death
"""

from __future__ import annotations

from nonstop.sandbox.dataplane.plane import MODES, DataPlane, Mode
from nonstop.sandbox.dataplane.table import Backend, Change, EndpointTable, Route, RouteKey

__all__ = ["MODES", "Backend", "Change", "DataPlane", "EndpointTable", "Mode", "Route", "RouteKey", "dataplane_command"]


def dataplane_command(
    *,
    kubeconfig: str,
    mode: Mode = "kube-proxy",
    proxy_lag: float = 1.0,
    add_lag: float | None = None,
    remove_lag: float | None = None,
    retry_stale_connections: bool = True,
    network_delay_ms: float = 0.0,
) -> list[str]:
    """The argument list that starts the data-plane process (prepend nothing: it uses this interpreter)."""
    import os
    import sys

    argv = [
        sys.executable,
        "-m",
        "nonstop.sandbox.dataplane",
        "--kubeconfig",
        kubeconfig,
        "--mode",
        mode,
        "--proxy-lag",
        str(proxy_lag),
        "--parent-pid",
        str(os.getpid()),
    ]
    if add_lag is not None:
        argv += ["--add-lag", str(add_lag)]
    if remove_lag is not None:
        argv += ["--remove-lag", str(remove_lag)]
    if not retry_stale_connections:
        argv.append("--no-retry-stale-connections")
    if network_delay_ms:
        argv += ["--network-delay-ms", str(network_delay_ms)]
    return argv
