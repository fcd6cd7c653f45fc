"""ClusterIPs are unique across sandboxes sharing the machine: each address is held by a flock."""

from __future__ import annotations

from pathlib import Path

from nonstop.sandbox.defaults import ClusterIPAllocator


def test_two_sandboxes_never_get_the_same_cluster_ip(tmp_path: Path) -> None:
    first = ClusterIPAllocator("127.20.250.0/28", lock_dir=tmp_path)
    second = ClusterIPAllocator("127.20.250.0/28", lock_dir=tmp_path)
    taken = [first.allocate() for _ in range(3)] + [second.allocate() for _ in range(3)]
    assert len(set(taken)) == 6


def test_a_released_address_can_be_taken_by_another_sandbox(tmp_path: Path) -> None:
    first = ClusterIPAllocator("127.20.250.0/30", lock_dir=tmp_path)
    second = ClusterIPAllocator("127.20.250.0/30", lock_dir=tmp_path)
    ips = {first.allocate(), first.allocate()}
    for ip in ips:
        first.release(ip)
    assert {second.allocate(), second.allocate()} == ips
