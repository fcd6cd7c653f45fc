"""The node's pod network (`nonstop.sandbox.podnet.PodNetwork`): a namespace of its own, routed from the host only.

Pods there bind 198.18.<slot>.x and the host reaches them through the route; the namespace has no
way out (no default route); two nodes never share a slot; a node's leftovers after a SIGKILL are
removed by the next one of that slot; a foreign route over the range is refused before anything
is created; `stop()` leaves no namespace, link or route behind. Root only (the tier's fixture).
"""

from __future__ import annotations

import ipaddress
import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nonstop.errors import PodNetworkError
from nonstop.sandbox.kubelet.processes import Spawner
from nonstop.sandbox.podnet import GUARD_METRIC, PodNetwork

pytestmark = [pytest.mark.realcp]

PATH_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}


def _ip(*args: str) -> str:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=True).stdout


def _routes() -> list[dict[str, object]]:
    return list(json.loads(_ip("-j", "-4", "route", "show")))


def _gone(network_name: str, cidr: str) -> bool:
    return network_name not in _ip("netns", "list") and not [r for r in _routes() if r.get("dst") == cidr]


def _listen_inside(spawner: Spawner, address: str) -> subprocess.Popen[bytes]:
    code = (
        "import socket, sys; s = socket.socket(); s.bind((sys.argv[1], 8080)); s.listen();"
        "print('up', flush=True);\nwhile True:\n c, _ = s.accept(); c.sendall(sys.argv[1].encode()); c.close()"
    )
    return spawner.spawn([sys.executable, "-c", code, address], env=PATH_ENV)


def _dial(address: str, deadline: float) -> bytes:
    while True:
        try:
            with socket.create_connection((address, 8080), timeout=2) as sock:
                return sock.recv(64)
        except OSError:
            assert time.monotonic() < deadline, f"nothing answers on {address}:8080"
            time.sleep(0.05)


def test_two_networks_serve_their_own_pods_and_leave_nothing_behind(pod_network_possible: None) -> None:
    spawners: list[Spawner] = []
    listeners: list[subprocess.Popen[bytes]] = []
    first, second = PodNetwork().start(), PodNetwork().start()
    names = [(first.netns, str(first.pod_cidr)), (second.netns, str(second.pod_cidr))]
    try:
        assert first.slot != second.slot
        assert not first.pod_cidr.overlaps(second.pod_cidr)
        for network in (first, second):
            assert network.pod_cidr.subnet_of(ipaddress.IPv4Network("198.18.0.0/16"))
            assert network.netns_fd is not None
            spawner = Spawner(netns_fd=network.netns_fd)
            spawner.start()
            spawners.append(spawner)
            address = str(network.pod_cidr.network_address + 7)
            listeners.append(_listen_inside(spawner, address))
            assert _dial(address, time.monotonic() + 20) == address.encode()  # host → route → namespace
            inside = spawner.run(["ip", "-4", "route", "show", "table", "all"], env=PATH_ENV, timeout=10)
            assert inside.exit_code == 0, inside.output
            assert "default" not in inside.output  # a pod can reach nothing but its namespace and the link
            assert f"local {network.pod_cidr} dev lo" in inside.output
            host_ns = str(Path("/proc/self/ns/net").readlink())
            seen = spawner.run(["readlink", "/proc/self/ns/net"], env=PATH_ENV, timeout=10).output.strip()
            assert seen.startswith("net:")
            assert seen != host_ns
            guard = [r for r in _routes() if r.get("dst") == str(network.pod_cidr) and r.get("type") == "unreachable"]
            assert [r.get("metric") for r in guard] == [GUARD_METRIC]
        # the range is not bindable on the host itself
        with socket.socket() as on_host, pytest.raises(OSError, match="Cannot assign requested address"):
            on_host.bind((str(first.pod_cidr.network_address + 9), 0))
    finally:
        for spawner in spawners:
            spawner.stop()  # SIGKILLs the listeners' groups
        for listener in listeners:
            listener.wait(timeout=10)
        first.stop()
        second.stop()
    for netns, cidr in names:
        assert _gone(netns, cidr), (_ip("netns", "list"), _routes())


def test_the_leftovers_of_a_killed_node_are_removed_by_the_next(pod_network_possible: None) -> None:
    code = "from nonstop.sandbox.podnet import PodNetwork; n = PodNetwork().start(); print(n.slot, flush=True); input()"
    with subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as holder:
        try:
            assert holder.stdout is not None
            slot = int(holder.stdout.readline())
        finally:
            holder.send_signal(signal.SIGKILL)
            holder.wait(timeout=10)
    assert f"nonstop-node-{slot}" in _ip("netns", "list")  # SIGKILL: nothing cleaned up
    network = PodNetwork().start()
    try:
        assert network.slot == slot  # the lowest free slot again: the dead one's
        [route] = [r for r in _routes() if r.get("dst") == str(network.pod_cidr) and r.get("gateway")]
        assert route["dev"] == network.host_link
    finally:
        network.stop()
    assert _gone(f"nonstop-node-{slot}", f"198.18.{slot}.0/24")


def test_a_foreign_route_over_the_range_is_refused_before_anything_is_made(pod_network_possible: None) -> None:
    foreign = "198.18.250.0/24"
    _ip("route", "add", "blackhole", foreign)  # drops: it can send nothing anywhere
    try:
        before = _ip("netns", "list")
        with pytest.raises(PodNetworkError, match=r"198\.18\.0\.0/16 is already routed on this machine"):
            PodNetwork().start()
        assert _ip("netns", "list") == before
    finally:
        _ip("route", "del", "blackhole", foreign)
