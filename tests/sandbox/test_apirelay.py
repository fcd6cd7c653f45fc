"""`ApiRelay`: an address inside the pod network namespace relayed to a server on the host's loopback (root only)."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest
import structlog

from nonstop.errors import ApiRelayError, PodNetworkError
from nonstop.sandbox.apirelay import ApiRelay, socket_in_netns
from nonstop.sandbox.kubelet.processes import Spawner
from nonstop.sandbox.podnet import PodNetwork

ADDRESS = "127.20.255.254"  # a ClusterIP-like loopback address, inside the namespace only


@pytest.fixture
def network() -> Iterator[PodNetwork]:
    try:
        PodNetwork.check_possible()
    except PodNetworkError as exc:
        pytest.skip(str(exc))
    with PodNetwork() as net:
        yield net


@pytest.fixture
def echo_server() -> Iterator[int]:
    """A host-side TCP server on 127.0.0.1 that answers each line with `echo:<line>`."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                data = conn.recv(1024)
                conn.sendall(b"echo:" + data)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    stop.set()
    thread.join(timeout=5)
    server.close()


CLIENT = (
    "import socket,sys\n"
    "s=socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)\n"
    "s.sendall(b'hello'); s.shutdown(socket.SHUT_WR)\n"
    "print(s.recv(100).decode())\n"
)


def test_a_process_in_the_namespace_reaches_the_host_server_through_the_relay(
    network: PodNetwork, echo_server: int
) -> None:
    assert network.netns_fd is not None
    relay = ApiRelay(
        netns_fd=network.netns_fd,
        listen=(ADDRESS, 443),
        upstream=("127.0.0.1", echo_server),
        log=structlog.get_logger(),
    ).start()
    spawner = Spawner(netns_fd=network.netns_fd)
    spawner.start()
    try:
        popen = spawner.spawn([sys.executable, "-c", CLIENT, ADDRESS, "443"], env={}, stdout=subprocess.PIPE)
        out, _ = popen.communicate(timeout=30)
        assert popen.returncode == 0
        assert out.decode().strip() == "echo:hello"
        assert relay.connections == 1
        with pytest.raises(ConnectionRefusedError):  # nothing listens on the host for that address
            socket.create_connection((ADDRESS, 443), timeout=2).close()
    finally:
        spawner.stop()
        relay.stop()


def test_an_address_taken_inside_the_namespace_is_one_error(network: PodNetwork) -> None:
    assert network.netns_fd is not None
    first = socket_in_netns(network.netns_fd, ADDRESS, 8443)
    try:
        with pytest.raises(ApiRelayError, match="in the pod network namespace"):
            socket_in_netns(network.netns_fd, ADDRESS, 8443)
    finally:
        first.close()
