"""External workers' settings: Locust workers in other pods (the Argo workflow's) join this runner's master.

The drill pod's environment says whether its workers are external and where the master and the
record sink listen (docs/gitops.md); a bad value is an `InputError` naming the variable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from nonstop.errors import InputError

__all__ = [
    "BIND_HOST_VARIABLE",
    "EXTERNAL_WORKERS_VARIABLE",
    "MASTER_BIND_PORT_VARIABLE",
    "SINK_PORT_VARIABLE",
    "ExternalWorkers",
    "external_workers_from_env",
]

EXTERNAL_WORKERS_VARIABLE = "NONSTOP_LOCUST_EXTERNAL_WORKERS"
MASTER_BIND_PORT_VARIABLE = "NONSTOP_LOCUST_MASTER_BIND_PORT"
SINK_PORT_VARIABLE = "NONSTOP_LOCUST_SINK_PORT"
BIND_HOST_VARIABLE = "NONSTOP_LOCUST_BIND_HOST"
_ALL_INTERFACES = "0.0.0.0"


@dataclass(frozen=True, slots=True)
class ExternalWorkers:
    """Locust workers run elsewhere (other pods) and connect to this runner's master.

    The runner then starts no worker of its own: it binds the master on ``bind_host:master_port``,
    waits up to ``wait_seconds`` for ``load.workers`` workers, and receives their records on
    ``bind_host:sink_port`` (token-checked).
    """

    master_port: int = 5557
    sink_port: int = 5558
    bind_host: str = _ALL_INTERFACES  # remote workers must reach the master and the sink
    wait_seconds: float = 120.0


def external_workers_from_env(env: Mapping[str, str]) -> ExternalWorkers | None:
    """`ExternalWorkers` from the drill pod's environment, or None when the variable is unset/false.

    ``NONSTOP_LOCUST_EXTERNAL_WORKERS`` (true/false), ``NONSTOP_LOCUST_MASTER_BIND_PORT`` (default
    5557), ``NONSTOP_LOCUST_SINK_PORT`` (default: the master port + 1) and
    ``NONSTOP_LOCUST_BIND_HOST`` (default 0.0.0.0; ``::`` for IPv6 pods); InputError on a bad value.
    """
    flag = env.get(EXTERNAL_WORKERS_VARIABLE, "").strip().lower()
    if flag in ("", "0", "false", "no"):
        return None
    if flag not in ("1", "true", "yes"):
        raise InputError(f"{EXTERNAL_WORKERS_VARIABLE}: {flag!r} is not a boolean; give true or false.")
    master_port = _port_from_env(env, MASTER_BIND_PORT_VARIABLE, 5557)
    sink_port = _port_from_env(env, SINK_PORT_VARIABLE, master_port + 1)
    if sink_port == master_port:
        raise InputError(f"{SINK_PORT_VARIABLE}: {sink_port} is the Locust master's port; give another port.")
    bind_host = env.get(BIND_HOST_VARIABLE, "").strip() or _ALL_INTERFACES
    return ExternalWorkers(master_port=master_port, sink_port=sink_port, bind_host=bind_host)


def _port_from_env(env: Mapping[str, str], name: str, default: int) -> int:
    text = env.get(name, "").strip()
    if not text:
        return default
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise InputError(f"{name}: {text!r} is not a TCP port; give a number from 1 to 65535.")
    return int(text)
