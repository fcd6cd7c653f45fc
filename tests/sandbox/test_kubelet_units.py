"""Small pure parts of the kubelet: $(VAR) expansion, image names, pod IPs across sandboxes, restart back-off."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from nonstop.sandbox.ipam import AddressRangeExhausted, IpAllocator
from nonstop.sandbox.kubelet.containers import Backoff
from nonstop.sandbox.kubelet.runconfig import ImageNotRunnable, container_argv, expand, is_sample_app


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$(A)", "x"),
        ("pre-$(A)-post", "pre-x-post"),
        ("$$(A)", "$(A)"),
        ("$(MISSING)", "$(MISSING)"),
        ("$(A", "$(A"),
        ("cost $5", "cost $5"),
        ("$", "$"),
        ("$(A)$(B)", "xy"),
    ],
)
def test_expand_follows_kubernetes(text: str, expected: str) -> None:
    assert expand(text, {"A": "x", "B": "y"}) == expected


@pytest.mark.parametrize(
    ("image", "sample"),
    [
        ("nonstop/sample-app:v1", True),
        ("docker.io/nonstop/sample-app:v2", True),
        ("nonstop/sample-app", True),
        ("nginx:1.25", False),
        ("registry:5000/nonstop/sample-app:v1", False),
    ],
)
def test_sample_app_images(image: str, sample: bool) -> None:
    assert is_sample_app(image) is sample


def test_other_image_without_command_cannot_run() -> None:
    with pytest.raises(ImageNotRunnable):
        container_argv({"name": "c", "image": "nginx"}, {})


def test_two_allocators_never_share_an_address(tmp_path: Path) -> None:
    """Two sandboxes on one machine (same lock directory) get disjoint addresses from a tiny range."""
    net = ipaddress.IPv4Network("127.99.0.0/29")
    first, second = IpAllocator(net, lock_dir=tmp_path), IpAllocator(net, lock_dir=tmp_path)
    a = {first.allocate(f"a{i}") for i in range(3)}
    b = {second.allocate(f"b{i}") for i in range(3)}
    assert len(a) == len(b) == 3
    assert not a & b
    with pytest.raises(AddressRangeExhausted):
        second.allocate("one-too-many")
    first.release("a0")
    assert second.allocate("one-too-many") not in b


def test_allocation_is_stable_per_owner_and_round_robin(tmp_path: Path) -> None:
    alloc = IpAllocator(ipaddress.IPv4Network("127.99.1.0/28"), lock_dir=tmp_path)
    ip = alloc.allocate("pod")
    assert alloc.allocate("pod") == ip
    alloc.release("pod")
    assert alloc.allocate("next") != ip


def test_restart_backoff_doubles_up_to_the_maximum() -> None:
    backoff = Backoff(10.0, 40.0)
    waits = []
    now = 1000.0
    for _ in range(5):
        waits.append(backoff.wait_for(now, now))
        backoff.next(now)
        now += 1
    assert waits == [0.0, 10.0, 20.0, 40.0, 40.0]
