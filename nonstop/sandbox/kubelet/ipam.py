"""Pod IPs: one loopback address per pod from 127.10.0.0/16.

Any address in 127.0.0.0/8 can be bound on Linux without set-up, so every pod listens on its own
IP and the same port, like pods on a real cluster network. Addresses are handed out round-robin, so
a freed address is not reused until the range wraps: a drill never mistakes a new pod for an old one.
"""

from __future__ import annotations

import ipaddress
import threading

__all__ = ["POD_CIDR", "IpAllocator", "PodIpRangeExhausted"]

POD_CIDR = ipaddress.IPv4Network("127.10.0.0/16")


class PodIpRangeExhausted(Exception):
    """Every address of the pod range is in use."""


class IpAllocator:
    """Hands out addresses of `network` (skipping `.0` and `.255` host bytes), round-robin."""

    def __init__(self, network: ipaddress.IPv4Network = POD_CIDR) -> None:
        self._hosts = [ip for ip in network.hosts() if ip.packed[-1] not in (0, 255)]
        self._next = 0
        self._used: dict[str, str] = {}  # ip -> owner (pod uid)
        self._lock = threading.Lock()

    def allocate(self, owner: str) -> str:
        """A free address for `owner` (the same one again if it already holds one)."""
        with self._lock:
            for ip, holder in self._used.items():
                if holder == owner:
                    return ip
            for _ in range(len(self._hosts)):
                ip = str(self._hosts[self._next])
                self._next = (self._next + 1) % len(self._hosts)
                if ip not in self._used:
                    self._used[ip] = owner
                    return ip
            raise PodIpRangeExhausted(f"all {len(self._hosts)} addresses of the pod range are in use")

    def release(self, owner: str) -> None:
        """Free whatever address `owner` holds."""
        with self._lock:
            for ip in [ip for ip, holder in self._used.items() if holder == owner]:
                del self._used[ip]

    def in_use(self) -> dict[str, str]:
        """A copy of the allocation table: ip -> owner."""
        with self._lock:
            return dict(self._used)
