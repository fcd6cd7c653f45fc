"""Per-direction lag (`lag.py`): additions take effect `add_lag` late, removals `remove_lag` late, per endpoint."""

from __future__ import annotations

from nonstop.sandbox.dataplane import Backend, Route, RouteKey
from nonstop.sandbox.dataplane.lag import LagSchedule

VIP = "127.21.0.1"
KEY: RouteKey = (VIP, 80)
A = ("127.11.0.1", 8080)
B = ("127.11.0.2", 8080)


def ready(addr: tuple[str, int], pod: str) -> Backend:
    return Backend(addr[0], addr[1], pod)


def terminating(addr: tuple[str, int], pod: str) -> Backend:
    return Backend(addr[0], addr[1], pod, ready=False, serving=True, terminating=True)


def routes(*backends: Backend) -> dict[RouteKey, Route]:
    return {KEY: Route("default", "web", VIP, 80, "http", backends)}


def effective(schedule: LagSchedule, now: float) -> dict[str | None, tuple[bool, bool]] | None:
    """Apply what is due by `now`; the route's endpoints as pod → (ready, terminating), None without a route."""
    schedule.apply_due(now)
    route = schedule.routes().get(KEY)
    return None if route is None else {b.pod: (b.ready, b.terminating) for b in route.backends}


def test_equal_lags_apply_the_whole_view_late() -> None:
    s = LagSchedule(add_lag=1.0, remove_lag=1.0)
    s.observe(routes(ready(A, "a")), 10.0)
    assert effective(s, 10.99) is None
    assert effective(s, 11.0) == {"a": (True, False)}
    s.observe(routes(terminating(A, "a"), ready(B, "b")), 20.0)
    assert effective(s, 20.99) == {"a": (True, False)}
    assert effective(s, 21.0) == {"a": (False, True), "b": (True, False)}
    s.observe({}, 30.0)
    assert effective(s, 30.99) == {"a": (False, True), "b": (True, False)}
    assert effective(s, 31.0) is None


def test_one_change_adding_and_removing_takes_effect_per_direction() -> None:
    """A rolling update's slice change: the new pod turns ready, the old one terminating."""
    s = LagSchedule(add_lag=5.0, remove_lag=0.5)
    s.observe(routes(ready(A, "a")), 0.0)
    assert s.next_due() == 5.0  # the Service port and the endpoint both appear: additions
    assert effective(s, 5.0) == {"a": (True, False)}
    s.observe(routes(terminating(A, "a"), Backend(B[0], B[1], "b", ready=False)), 10.0)
    s.observe(routes(terminating(A, "a"), ready(B, "b")), 11.0)
    assert effective(s, 10.49) == {"a": (True, False)}
    assert effective(s, 10.5) == {"a": (False, True), "b": (False, False)}  # deregistered fast
    assert effective(s, 15.99) == {"a": (False, True), "b": (False, False)}
    assert effective(s, 16.0) == {"a": (False, True), "b": (True, False)}  # registered slowly


def test_a_removal_seen_before_a_pending_addition_took_effect_cancels_it() -> None:
    s = LagSchedule(add_lag=5.0, remove_lag=0.5)
    s.observe(routes(ready(A, "a")), 0.0)
    effective(s, 5.0)
    s.observe(routes(ready(A, "a"), ready(B, "b")), 10.0)
    s.observe(routes(ready(A, "a")), 11.0)
    for now in (11.5, 15.0, 16.0, 30.0):
        assert effective(s, now) == {"a": (True, False)}, now


def test_an_endpoint_ready_again_before_its_removal_took_effect_never_leaves() -> None:
    s = LagSchedule(add_lag=0.5, remove_lag=5.0)
    s.observe(routes(ready(A, "a")), 0.0)
    effective(s, 0.5)
    s.observe(routes(Backend(A[0], A[1], "a", ready=False)), 10.0)
    s.observe(routes(ready(A, "a")), 11.0)
    for now in (11.5, 15.0, 16.0, 30.0):
        assert effective(s, now) == {"a": (True, False)}, now


def test_a_removal_after_a_slow_addition_follows_it() -> None:
    """Removal lag longer than the time left: the endpoint is registered, then deregistered in order."""
    s = LagSchedule(add_lag=2.0, remove_lag=5.0)
    s.observe(routes(ready(A, "a")), 0.0)
    s.observe(routes(), 1.0)
    assert effective(s, 1.99) is None
    assert effective(s, 2.0) == {"a": (True, False)}
    assert effective(s, 5.99) == {"a": (True, False)}
    assert effective(s, 6.0) == {}


def test_a_gated_pod_is_registered_before_it_turns_ready_so_it_gets_traffic_at_once() -> None:
    """Its readiness gates were set once its target was registered: no second add lag."""
    s = LagSchedule(add_lag=5.0, remove_lag=0.5, gated=lambda namespace, pod: (namespace, pod) == ("default", "g"))
    s.observe(routes(ready(A, "a")), 0.0)
    effective(s, 5.0)
    s.observe(routes(ready(A, "a"), ready(B, "g")), 10.0)
    assert effective(s, 10.0) == {"a": (True, False), "g": (True, False)}
    s.observe(routes(ready(A, "a")), 20.0)
    assert effective(s, 20.49) == {"a": (True, False), "g": (True, False)}  # removal: the remove lag as usual
    assert effective(s, 20.5) == {"a": (True, False)}
