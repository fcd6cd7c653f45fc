"""The endpoint table: EndpointSlice conditions and ports folded into routes (K8S-SEMANTICS.md §4)."""

from __future__ import annotations

from typing import Any

from nonstop.sandbox.dataplane import Change, EndpointTable


def service(name: str, ip: str, ports: list[dict[str, Any]], ns: str = "default") -> dict[str, Any]:
    return {"metadata": {"namespace": ns, "name": name}, "spec": {"clusterIP": ip, "ports": ports}}


def eps(
    name: str, svc: str, ports: list[dict[str, Any]] | None, endpoints: list[dict[str, Any]] | None
) -> dict[str, Any]:
    return {
        "metadata": {"namespace": "default", "name": name, "labels": {"kubernetes.io/service-name": svc}},
        "addressType": "IPv4",
        "ports": ports,
        "endpoints": endpoints,
    }


def ep(ip: str, pod: str, **conditions: bool | None) -> dict[str, Any]:
    return {"addresses": [ip], "conditions": conditions, "targetRef": {"kind": "Pod", "name": pod}}


def table_with(*changes: Change) -> EndpointTable:
    table = EndpointTable()
    for change in changes:
        table.apply(change)
    return table


def test_nil_conditions_mean_ready_serving_not_terminating() -> None:
    table = table_with(
        Change("Service", "ADDED", (service("web", "127.20.0.5", [{"name": "http", "port": 80, "targetPort": 8080}]),)),
        Change(
            "EndpointSlice", "ADDED", (eps("web-1", "web", [{"name": "http", "port": 8080}], [ep("127.10.0.1", "a")]),)
        ),
    )
    (route,) = table.routes().values()
    (backend,) = route.backends
    assert (backend.ready, backend.serving, backend.terminating) == (True, True, False)
    assert route.key == ("127.20.0.5", 80)
    assert (backend.ip, backend.port, backend.pod) == ("127.10.0.1", 8080, "a")


def test_named_target_port_resolves_through_the_slice_port_of_the_same_name() -> None:
    table = table_with(
        Change(
            "Service", "ADDED", (service("web", "127.20.0.5", [{"name": "web", "port": 80, "targetPort": "http"}]),)
        ),
        Change(
            "EndpointSlice", "ADDED", (eps("web-1", "web", [{"name": "web", "port": 9090}], [ep("127.10.0.1", "a")]),)
        ),
    )
    assert [b.port for b in table.routes()[("127.20.0.5", 80)].backends] == [9090]


def test_numeric_target_port_is_used_when_the_slice_names_no_port() -> None:
    table = table_with(
        Change("Service", "ADDED", (service("web", "127.20.0.5", [{"port": 80, "targetPort": 8080}]),)),
        Change("EndpointSlice", "ADDED", (eps("web-1", "web", None, [ep("127.10.0.1", "a")]),)),
    )
    assert [b.port for b in table.routes()[("127.20.0.5", 80)].backends] == [8080]


def test_terminating_fallback_only_when_no_endpoint_is_ready() -> None:
    slice_ports = [{"name": "", "port": 8080}]
    old = ep("127.10.0.1", "old", ready=False, serving=True, terminating=True)
    gone = ep("127.10.0.2", "gone", ready=False, serving=False, terminating=True)
    new = ep("127.10.0.3", "new", ready=True, serving=True, terminating=False)
    svc = Change("Service", "ADDED", (service("web", "127.20.0.5", [{"port": 80, "targetPort": 8080}]),))
    only_terminating = table_with(svc, Change("EndpointSlice", "ADDED", (eps("s", "web", slice_ports, [old, gone]),)))
    route = only_terminating.routes()[("127.20.0.5", 80)]
    assert route.ready == ()
    assert [b.pod for b in route.kube_proxy_candidates()] == ["old"]
    with_ready = table_with(svc, Change("EndpointSlice", "ADDED", (eps("s", "web", slice_ports, [old, gone, new]),)))
    assert [b.pod for b in with_ready.routes()[("127.20.0.5", 80)].kube_proxy_candidates()] == ["new"]


def test_empty_slice_with_null_endpoints_gives_a_route_without_backends() -> None:
    table = table_with(
        Change("Service", "ADDED", (service("web", "127.20.0.5", [{"port": 80}]),)),
        Change("EndpointSlice", "ADDED", (eps("s", "web", None, None),)),
    )
    assert table.routes()[("127.20.0.5", 80)].backends == ()


def test_headless_services_and_udp_ports_get_no_route() -> None:
    table = table_with(
        Change("Service", "ADDED", (service("headless", "None", [{"port": 80}]),)),
        Change("Service", "ADDED", (service("dns", "127.20.0.9", [{"port": 53, "protocol": "UDP"}]),)),
    )
    assert table.routes() == {}


def test_deleted_and_resync_remove_objects() -> None:
    a = service("a", "127.20.0.1", [{"port": 80}])
    b = service("b", "127.20.0.2", [{"port": 80}])
    table = table_with(Change("Service", "ADDED", (a,)), Change("Service", "ADDED", (b,)))
    table.apply(Change("Service", "DELETED", (a,)))
    assert set(table.routes()) == {("127.20.0.2", 80)}
    table.apply(Change("Service", "RESYNC", (a,)))
    assert set(table.routes()) == {("127.20.0.1", 80)}


def test_the_same_address_in_two_slices_counts_once() -> None:
    ports = [{"name": "", "port": 8080}]
    table = table_with(
        Change("Service", "ADDED", (service("web", "127.20.0.5", [{"port": 80}]),)),
        Change("EndpointSlice", "ADDED", (eps("s1", "web", ports, [ep("127.10.0.1", "a")]),)),
        Change("EndpointSlice", "ADDED", (eps("s2", "web", ports, [ep("127.10.0.1", "a"), ep("127.10.0.2", "b")]),)),
    )
    assert sorted(b.pod or "" for b in table.routes()[("127.20.0.5", 80)].backends) == ["a", "b"]
