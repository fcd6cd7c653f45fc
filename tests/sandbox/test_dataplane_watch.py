"""The data plane against the real sandbox API: it watches Services and EndpointSlices and applies them late.

A Service without a selector and an EndpointSlice written by the test (a documented Kubernetes
pattern: no controller touches them) isolate the data plane from the kubelet and controllers.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest
from dataplane_helpers import http_backend, request_new_connection, sandbox_cluster_ip
from kubernetes import client

from nonstop.sandbox.launcher import SandboxProcess

pytestmark = pytest.mark.sandbox

T = TypeVar("T")
LAG = 1.0  # the sandbox's default proxy lag, which the session fixture keeps


def until(probe: Callable[[], T | None], *, timeout: float = 20.0, what: str = "condition") -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value is not None:
            return value
        time.sleep(0.02)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


def answer(ip: str, port: int = 80) -> tuple[int, str | None] | str:
    """(status, pod) through the ClusterIP, or the kind of connection failure."""
    try:
        return request_new_connection(ip, port)
    except ConnectionRefusedError:
        return "refused"
    except (ConnectionResetError, OSError) as exc:
        return type(exc).__name__


def until_answer(vip: str, expected: tuple[int, str | None] | str, timeout: float = 20.0) -> None:
    last: list[object] = []

    def probe() -> bool | None:
        got = answer(vip)
        last[:] = [got]
        return True if got == expected else None

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if probe():
            return
        time.sleep(0.02)
    pytest.fail(f"{vip}:80 never answered {expected!r} within {timeout} s (last: {last!r})")


def selectorless_service(core: client.CoreV1Api, ns: str, name: str) -> str:
    body = {
        "metadata": {"name": name},
        "spec": {"clusterIP": sandbox_cluster_ip(), "ports": [{"name": "http", "port": 80, "targetPort": 8080}]},
    }
    created = core.create_namespaced_service(ns, body)
    return str(created.spec.cluster_ip)


def endpoint_slice(name: str, service: str, port: int, endpoints: list[tuple[str, str, dict[str, bool]]]) -> Any:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": name, "labels": {"kubernetes.io/service-name": service}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": port, "protocol": "TCP"}],
        "endpoints": [
            {"addresses": [ip], "conditions": cond, "targetRef": {"kind": "Pod", "name": pod}}
            for ip, pod, cond in endpoints
        ],
    }


READY = {"ready": True, "serving": True, "terminating": False}
TERMINATING = {"ready": False, "serving": True, "terminating": True}
GONE = {"ready": False, "serving": False, "terminating": True}


@pytest.fixture
def apis(sandbox: Any) -> Iterator[tuple[client.CoreV1Api, client.DiscoveryV1Api]]:
    api = sandbox.api_client()
    yield client.CoreV1Api(api), client.DiscoveryV1Api(api)
    api.close()


def test_kube_proxy_sees_endpoint_changes_late_then_falls_back_to_terminating(
    apis: tuple[client.CoreV1Api, client.DiscoveryV1Api], namespace: str
) -> None:
    core, discovery = apis
    vip = selectorless_service(core, namespace, "web")
    with http_backend("a") as a:
        created = time.monotonic()
        discovery.create_namespaced_endpoint_slice(
            namespace, endpoint_slice("web-1", "web", a[1], [(a[0], "a", READY)])
        )
        until_answer(vip, (200, "a"))
        assert time.monotonic() - created >= LAG

        # Every endpoint leaves `ready`: kube-proxy keeps routing to the serving, terminating one.
        discovery.replace_namespaced_endpoint_slice(
            "web-1",
            namespace,
            endpoint_slice("web-1", "web", a[1], [(a[0], "a", TERMINATING), ("127.11.0.9", "gone", GONE)]),
        )
        deadline = time.monotonic() + 3 * LAG
        while time.monotonic() < deadline:
            assert answer(vip) == (200, "a")

        # Not serving any more: no usable endpoint, the ClusterIP refuses.
        discovery.replace_namespaced_endpoint_slice(
            "web-1", namespace, endpoint_slice("web-1", "web", a[1], [(a[0], "a", GONE)])
        )
        until_answer(vip, "refused")


@pytest.fixture(scope="module")
def ingress_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    """A second sandbox whose data plane runs in ingress mode (the session one is kube-proxy)."""
    process = SandboxProcess(workdir=tmp_path_factory.mktemp("ingress-sandbox"), proxy_lag=LAG, data_plane="ingress")
    process.start()
    yield process
    process.stop()


def test_ingress_has_no_terminating_fallback_and_answers_503(ingress_sandbox: SandboxProcess) -> None:
    from kubernetes import config

    api = config.new_client_from_config(config_file=str(ingress_sandbox.kubeconfig))
    core, discovery = client.CoreV1Api(api), client.DiscoveryV1Api(api)
    ns = f"dp-ingress-{uuid.uuid4().hex[:6]}"
    core.create_namespace({"metadata": {"name": ns}})
    try:
        vip = selectorless_service(core, ns, "web")
        with http_backend("a") as a:
            discovery.create_namespaced_endpoint_slice(ns, endpoint_slice("web-1", "web", a[1], [(a[0], "a", READY)]))
            until_answer(vip, (200, "a"))
            changed = time.monotonic()
            discovery.replace_namespaced_endpoint_slice(
                "web-1", ns, endpoint_slice("web-1", "web", a[1], [(a[0], "a", TERMINATING)])
            )
            until_answer(vip, (503, None))
            assert time.monotonic() - changed >= LAG
    finally:
        core.delete_namespace(ns)
        api.close()


def test_watcher_resumes_after_each_stream_and_lists_again_after_410(sandbox: Any, namespace: str) -> None:
    """Streams end every second and resume; a resume refused with 410 is followed by a fresh list."""
    import structlog

    from nonstop.sandbox.dataplane.endpoints import Watcher
    from nonstop.sandbox.dataplane.table import Change

    api = sandbox.api_client()
    api.user_agent = caller = f"dataplane-watch-test-{uuid.uuid4().hex[:6]}"  # the sandbox's own data plane watches too
    core = client.CoreV1Api(api)
    changes: list[Change] = []
    watcher = Watcher(
        kind="Service",
        list_fn=core.list_service_for_all_namespaces,
        deliver=changes.append,
        log=structlog.get_logger("test"),
        watch_seconds=1,
    )
    watcher.start()
    try:
        until(lambda: True if changes else None, what="the first list")
        selectorless_service(core, namespace, "before")
        until(lambda: True if any(_names(c) == {"before"} for c in changes) else None, what="ADDED before")
        lists_before = sum(c.type == "RESYNC" for c in changes)

        # Keep the watcher from resuming while "after" is created and the history expires.
        mark = sandbox.mark()
        sandbox.faults(errorRate=1.0, errorCode=500, verbs=["watch"], resources=["services"])
        try:
            until(
                lambda: (
                    True
                    if any(
                        (e.get("caller"), e.get("verb"), e.get("code")) == (caller, "watch", 500)
                        for e in sandbox.requests(since=mark)
                    )
                    else None
                ),
                what="a refused resume",
            )
            selectorless_service(core, namespace, "after")
            sandbox.expire_history()
        finally:
            sandbox.faults()

        def relisted_with_both() -> bool | None:
            resyncs = [c for c in changes if c.type == "RESYNC"]
            return True if len(resyncs) > lists_before and {"before", "after"} <= _names(resyncs[-1]) else None

        until(relisted_with_both, what="a list after 410 holding both Services")
    finally:
        watcher.stop()
        watcher.thread.join(timeout=10)
        api.close()
    assert not watcher.thread.is_alive()


def _names(change: Any) -> set[str]:
    return {o["metadata"]["name"] for o in change.objects}
