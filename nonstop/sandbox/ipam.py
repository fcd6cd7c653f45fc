"""Loopback addresses for pods (127.10.0.0/16, the kubelet) and Services (127.20.0.0/16, the API).

Any address in 127.0.0.0/8 can be bound on Linux without set-up, so every pod listens on its own
IP and the same port, like pods on a real cluster network. (The node of the real control plane
hands out its pod network's 198.18.<slot>.0/24 instead: `IpAllocator(PodNetwork.pod_cidr)`, see
`nonstop.sandbox.podnet`.) Addresses are handed out round-robin
from a random starting point, so a freed address is not reused until the range wraps: a drill never
mistakes a new pod for an old one.

Several sandboxes may run on one machine (parallel test sessions, a user's `sandbox up` next to
CI), and they share the loopback network. Each allocated address is therefore also held as an
exclusive `flock` on `<tmp>/nonstop-pod-ips/<ip>`; the kernel drops the lock when the holder exits,
however it exits, so no address is ever given to two live sandboxes.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import os
import random
import tempfile
import threading
from pathlib import Path

__all__ = ["POD_CIDR", "AddressRangeExhausted", "IpAllocator"]

POD_CIDR = ipaddress.IPv4Network("127.10.0.0/16")


class AddressRangeExhausted(Exception):
    """Every address of the range is in use."""


class IpAllocator:
    """Hands out addresses of `network` (skipping `.0` and `.255` host bytes), round-robin."""

    def __init__(
        self, network: ipaddress.IPv4Network = POD_CIDR, *, lock_dir: Path | None = None, what: str = "pod"
    ) -> None:
        self._hosts = [ip for ip in network.hosts() if ip.packed[-1] not in (0, 255)]
        self._next = random.randrange(len(self._hosts))
        self._used: dict[str, tuple[str, int | None]] = {}  # ip -> (owner, lock fd)
        self._lock = threading.Lock()
        self._what = what
        self._lock_dir = lock_dir or Path(tempfile.gettempdir()) / f"nonstop-{what.lower()}-ips"
        self._lock_dir.mkdir(parents=True, exist_ok=True)

    def _claim(self, ip: str) -> int | None:
        fd = os.open(self._lock_dir / ip, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return None
        return fd

    def claim(self, ip: str, owner: str) -> None:
        """Give `owner` this very address (a Service asking for its ClusterIP); locked when no one else holds it."""
        with self._lock:
            if ip not in self._used:
                self._used[ip] = (owner, self._claim(ip))

    def allocate(self, owner: str | None = None) -> str:
        """A free address for `owner` (the same one again if it already holds one).

        Without an owner the address owns itself: `release(ip)` frees it.
        """
        with self._lock:
            for ip, (holder, _fd) in self._used.items():
                if owner is not None and holder == owner:
                    return ip
            for _ in range(len(self._hosts)):
                ip = str(self._hosts[self._next])
                self._next = (self._next + 1) % len(self._hosts)
                if ip in self._used:
                    continue
                fd = self._claim(ip)
                if fd is not None:
                    self._used[ip] = (owner or ip, fd)
                    return ip
            raise AddressRangeExhausted(f"all {len(self._hosts)} addresses of the {self._what} range are in use")

    def release(self, owner: str) -> None:
        """Free whatever address `owner` holds."""
        with self._lock:
            for ip in [ip for ip, (holder, _) in self._used.items() if holder == owner]:
                _, fd = self._used.pop(ip)
                if fd is not None:
                    with contextlib.suppress(OSError):
                        os.close(fd)

    def release_all(self) -> None:
        with self._lock:
            for _, fd in self._used.values():
                if fd is not None:
                    with contextlib.suppress(OSError):
                        os.close(fd)
            self._used.clear()

    def in_use(self) -> dict[str, str]:
        """A copy of the allocation table: ip -> owner."""
        with self._lock:
            return {ip: holder for ip, (holder, _) in self._used.items()}
