"""`PodNetwork`: a network namespace of the node's own, where its pods get non-loopback addresses.

Why: a real kube-apiserver refuses loopback addresses in EndpointSlices and Endpoints
(`ValidateEndpointIP`), so pods on 127.10.x never reach their Services. The sandbox node of the
real control plane therefore puts its pods in **198.18.0.0/16** (RFC 2544's benchmarking range,
never routed publicly), inside a namespace it creates, and routes that range from the host into
the namespace only:

    host                                      namespace nonstop-node-<slot>
    127.20.x ClusterIPs (data plane)          lo: up, `local 198.18.<slot>.0/24` (every address bindable)
    route 198.18.<slot>.0/24 via …<4s+2>      pods bind their 198.18.<slot>.x pod IP here
    nsnode<slot>h 198.19.255.<4s+1>/30  ───── nsnode<slot>n 198.19.255.<4s+2>/30  (no default route)
    guard: unreachable 198.18.<slot>.0/24 metric 4242

Each node takes a free *slot* (0–63: pods 198.18.<slot>.0/24, link 198.19.255.<4·slot>/30), held
as an `flock` on /run/nonstop/podnet-<slot>.lock while it lives, so several nodes (parallel test
sessions) never share addresses; whoever takes a slot first removes what a dead holder left behind
(the namespace, the veth pair, the routes). Pod processes enter the namespace with `setns` in the
spawner's pre-exec hook (`netns_fd`); everything else — the kubelet's HTTP/TCP probes and hooks,
the data plane's backend connections, a drill's pod prober — stays on the host and reaches pod IPs
through the route.

Network rule (nothing may leave for the host's real network): the host routes only the node's /24
into the namespace; the namespace has no default route, so a pod can reach nothing but itself and
the host's end of the link, whatever the host's `ip_forward`; and the `unreachable` guard route
(metric 4242, behind the real one) makes the range fail fast instead of falling to the host's
default route should the link disappear while anything still dials a pod. Before touching
anything, `start()` refuses when any route or address of the machine not made by a node already
covers or overlaps 198.18.0.0/16 or 198.19.255.0/24.

Requires root (CAP_NET_ADMIN and CAP_SYS_ADMIN): without it, `PodNetworkError` says so.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import fcntl
import ipaddress
import json
import os
import subprocess
from pathlib import Path
from typing import Any, Self

from nonstop.errors import PodNetworkError

__all__ = [
    "LINK_RANGE",
    "POD_RANGE",
    "PodNetwork",
    "enter_netns",
]

POD_RANGE = ipaddress.IPv4Network("198.18.0.0/16")
LINK_RANGE = ipaddress.IPv4Network("198.19.255.0/24")
SLOTS = 64
GUARD_METRIC = 4242
LOCK_DIR = Path("/run/nonstop")
CLONE_NEWNET = 0x40000000

_libc: Any = None
with contextlib.suppress(OSError):
    _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def enter_netns(fd: int) -> None:
    """Move the calling thread (a freshly forked child, in a pre-exec hook) into the namespace of `fd`."""
    if _libc is None or _libc.setns(fd, CLONE_NEWNET) != 0:
        os._exit(126)  # a pod must never run on the host network by mistake


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False, timeout=30)
    if check and done.returncode != 0:
        raise PodNetworkError(f"`ip {' '.join(args)}` failed: {done.stderr.strip() or done.returncode}")
    return done


class PodNetwork:
    """One node's pod network: call `start()`, then use `pod_cidr` and `netns_fd`; `stop()` removes it all."""

    def __init__(self) -> None:
        self.slot: int | None = None
        self._lock_fd: int | None = None
        self.netns_fd: int | None = None

    # --- the addresses of the slot -------------------------------------------------------------

    def _require_slot(self) -> int:
        if self.slot is None:
            raise RuntimeError("the pod network is not started")
        return self.slot

    @property
    def pod_cidr(self) -> ipaddress.IPv4Network:
        """The pods' /24 (198.18.<slot>.0/24)."""
        return ipaddress.IPv4Network(f"198.18.{self._require_slot()}.0/24")

    @property
    def host_address(self) -> str:
        """The host's end of the link: what pods can reach of the host (e.g. a relay to the API server)."""
        return str(LINK_RANGE.network_address + 4 * self._require_slot() + 1)

    @property
    def namespace_address(self) -> str:
        return str(LINK_RANGE.network_address + 4 * self._require_slot() + 2)

    @property
    def netns(self) -> str:
        return f"nonstop-node-{self._require_slot()}"

    @property
    def host_link(self) -> str:
        return f"nsnode{self._require_slot()}h"

    @property
    def namespace_link(self) -> str:
        return f"nsnode{self._require_slot()}n"

    # --- lifecycle --------------------------------------------------------------------------------

    @staticmethod
    def check_possible() -> None:
        """Raise PodNetworkError (one sentence) unless this process can build a pod network: root, `ip`."""
        if os.geteuid() != 0:
            raise PodNetworkError(
                "the sandbox node's pod network (a network namespace with 198.18.0.0/16) needs root; "
                "run as root, or use the embedded sandbox (--control-plane embedded), whose pods stay on loopback"
            )
        try:
            _ip("-V")
        except FileNotFoundError as exc:
            raise PodNetworkError("the sandbox node's pod network needs the `ip` command (iproute2)") from exc

    def start(self) -> Self:
        """Take a free slot, clean what a dead holder left, check for collisions, build the namespace."""
        self.check_possible()
        self._take_slot()
        try:
            self._remove_leftovers()
            self._check_collisions()
            self._build()
            self.netns_fd = os.open(f"/run/netns/{self.netns}", os.O_RDONLY | os.O_CLOEXEC)
        except BaseException:
            self.stop()
            raise
        return self

    def _take_slot(self) -> None:
        LOCK_DIR.mkdir(parents=True, exist_ok=True)
        for slot in range(SLOTS):
            fd = os.open(LOCK_DIR / f"podnet-{slot}.lock", os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue
            self.slot, self._lock_fd = slot, fd
            return
        raise PodNetworkError(f"all {SLOTS} pod networks of sandbox nodes on this machine are in use")

    def _remove_leftovers(self) -> None:
        """Whatever a node of this slot left when it died (we hold the slot's lock: it is dead)."""
        _ip("link", "del", self.host_link, check=False)  # takes its peer and the route via it along
        _ip("netns", "del", self.netns, check=False)
        _ip("route", "del", "unreachable", str(self.pod_cidr), "metric", str(GUARD_METRIC), check=False)

    def _check_collisions(self) -> None:
        routes = json.loads(_ip("-j", "-4", "route", "show", "table", "all").stdout or "[]")
        for route in routes:
            dst = str(route.get("dst") or "")
            if dst in ("", "default") or str(route.get("dev") or "").startswith("nsnode"):
                continue  # the default route is what more specific routes override; nsnode*: other nodes'
            if route.get("type") == "unreachable" and route.get("metric") == GUARD_METRIC:
                continue  # another node's guard
            try:
                network = ipaddress.IPv4Network(dst, strict=False)
            except ValueError:
                continue
            for ours in (POD_RANGE, LINK_RANGE):
                if network.overlaps(ours):
                    raise PodNetworkError(
                        f"{ours} is already routed on this machine ({dst} dev {route.get('dev', '?')}, table "
                        f"{route.get('table', 'main')}); the sandbox node puts its pods there and will not share it"
                    )

    def _build(self) -> None:
        ns, host_link, ns_link = self.netns, self.host_link, self.namespace_link
        _ip("netns", "add", ns)
        _ip("-n", ns, "link", "set", "lo", "up")
        _ip("-n", ns, "route", "add", "local", str(self.pod_cidr), "dev", "lo")
        _ip("link", "add", host_link, "type", "veth", "peer", "name", ns_link, "netns", ns)
        _ip("addr", "add", f"{self.host_address}/30", "dev", host_link)
        _ip("-n", ns, "addr", "add", f"{self.namespace_address}/30", "dev", ns_link)
        _ip("-n", ns, "link", "set", ns_link, "up")
        _ip("link", "set", host_link, "up")
        _ip("route", "add", "unreachable", str(self.pod_cidr), "metric", str(GUARD_METRIC))
        _ip("route", "add", str(self.pod_cidr), "via", self.namespace_address, "dev", host_link)

    def stop(self) -> None:
        """Remove the link (and the route through it), the namespace and the guard; free the slot."""
        if self.netns_fd is not None:
            os.close(self.netns_fd)
            self.netns_fd = None
        if self.slot is not None and self._lock_fd is not None:
            self._remove_leftovers()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
        self.slot = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
