"""Watch as §6 says: list+watch without loss, selectors, bookmarks, 410 in a 200 stream, the raw wire."""

from __future__ import annotations

import http.client
import json
import threading
import time
from urllib.parse import urlsplit

import pytest
from api_helpers import configmap
from kubernetes import client, watch
from kubernetes.client.rest import ApiException

pytestmark = pytest.mark.sandbox


@pytest.fixture
def core(sandbox):
    return client.CoreV1Api(sandbox.api_client())


class _Raw:
    """One GET on a fresh connection: status, headers and the whole (de-chunked) body."""

    def __init__(self, sandbox, path: str, headers: dict[str, str] | None = None) -> None:
        parts = urlsplit(sandbox.url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        try:
            conn.request("GET", path, headers=headers or {})
            resp = conn.getresponse()
            self.status = resp.status
            self.headers = dict(resp.getheaders())
            self.body = resp.read()
        finally:
            conn.close()

    def getheader(self, name: str) -> str | None:
        return self.headers.get(name)

    def read(self) -> bytes:
        return self.body


def _raw(sandbox, path: str, headers: dict[str, str] | None = None) -> _Raw:
    return _Raw(sandbox, path, headers)


NOT_ROOT_CA = "fieldSelector=metadata.name%21%3Dkube-root-ca.crt"  # every namespace has that ConfigMap too


def test_list_then_watch_from_its_resource_version_loses_nothing(core, namespace) -> None:
    for i in range(5):
        core.create_namespaced_config_map(namespace, configmap(f"before-{i}"))
    listed = core.list_namespaced_config_map(namespace)
    names = [f"during-{i}" for i in range(40)]

    def writer() -> None:
        for name in names:
            core.create_namespaced_config_map(namespace, configmap(name))

    thread = threading.Thread(target=writer)
    thread.start()
    seen: list[str] = []
    rvs: list[int] = []
    w = watch.Watch()
    for event in w.stream(
        core.list_namespaced_config_map,
        namespace,
        resource_version=listed.metadata.resource_version,
        timeout_seconds=20,
    ):
        assert event["type"] == "ADDED"
        seen.append(event["object"].metadata.name)
        rvs.append(int(event["object"].metadata.resource_version))
        if len(seen) == len(names):
            w.stop()
    thread.join()
    assert seen == names
    assert rvs == sorted(rvs)


def test_watch_without_resource_version_starts_with_added_for_existing_objects(core, namespace) -> None:
    core.create_namespaced_config_map(namespace, configmap("a"))
    core.create_namespaced_config_map(namespace, configmap("b"))
    events = list(watch.Watch().stream(core.list_namespaced_config_map, namespace, timeout_seconds=1))
    assert [(e["type"], e["object"].metadata.name) for e in events] == [
        ("ADDED", "a"),
        ("ADDED", "b"),
        ("ADDED", "kube-root-ca.crt"),  # every namespace has it
    ]


def test_objects_entering_and_leaving_a_selector_are_added_and_deleted(core, namespace) -> None:
    core.create_namespaced_config_map(namespace, configmap("c", labels={"app": "db"}))
    rv = core.list_namespaced_config_map(namespace).metadata.resource_version
    core.patch_namespaced_config_map("c", namespace, {"metadata": {"labels": {"app": "web"}}})
    core.patch_namespaced_config_map("c", namespace, {"data": {"k": "v"}})
    left = core.patch_namespaced_config_map("c", namespace, {"metadata": {"labels": {"app": "db"}}})
    core.delete_namespaced_config_map("c", namespace)
    w = watch.Watch()
    events = []
    for event in w.stream(
        core.list_namespaced_config_map, namespace, label_selector="app=web", resource_version=rv, timeout_seconds=2
    ):
        events.append(event)
        if len(events) == 3:
            w.stop()
    assert [e["type"] for e in events] == ["ADDED", "MODIFIED", "DELETED"]
    gone = events[2]["object"]
    assert gone.metadata.labels == {"app": "web"}  # the last state that matched …
    assert gone.metadata.resource_version == left.metadata.resource_version  # … at the leaving write's rv


def test_bookmarks_arrive_when_allowed(core, namespace) -> None:
    rv = core.list_namespaced_config_map(namespace).metadata.resource_version
    w = watch.Watch()
    got = None
    for event in w.stream(
        core.list_namespaced_config_map, namespace, resource_version=rv, allow_watch_bookmarks=True, timeout_seconds=8
    ):
        if event["type"] == "BOOKMARK":
            got = event["object"]
            w.stop()
    assert got is not None
    assert got["kind"] == "ConfigMap"
    assert int(got["metadata"]["resourceVersion"]) >= int(rv)


def test_expired_resource_version_is_an_error_event_and_the_client_raises_410(sandbox, core, namespace) -> None:
    old = core.create_namespaced_config_map(namespace, configmap("a")).metadata.resource_version
    core.create_namespaced_config_map(namespace, configmap("b"))
    sandbox.expire_history()
    mark = sandbox.mark()
    with pytest.raises(ApiException) as err:
        for _ in watch.Watch().stream(core.list_namespaced_config_map, namespace, resource_version=old):
            pass
    assert err.value.status == 410
    assert str(err.value.reason).startswith(f"Expired: too old resource version: {old} (")
    deadline = time.monotonic() + 5  # the retry may still be on its way: poll briefly
    while True:
        watches = [e["code"] for e in sandbox.requests(since=mark) if e["verb"] == "watch"]
        if len(watches) >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert watches == [200, 200]  # the client retried once; both answers were 200 streams


def test_raw_watch_wire_format(sandbox, core, namespace) -> None:
    """watch=true and watch=True, chunked, not gzipped even when asked, kind/apiVersion on objects, 410 inside."""
    core.create_namespaced_config_map(namespace, configmap("a"))
    for flag in ("true", "True"):
        resp = _raw(
            sandbox,
            f"/api/v1/namespaces/{namespace}/configmaps?watch={flag}&timeoutSeconds=1&{NOT_ROOT_CA}",
            {"Accept-Encoding": "gzip"},
        )
        assert resp.status == 200
        assert resp.getheader("Transfer-Encoding") == "chunked"
        assert resp.getheader("Content-Encoding") is None
        lines = [json.loads(line) for line in resp.read().splitlines() if line.strip()]
        assert [(e["type"], e["object"]["kind"], e["object"]["apiVersion"]) for e in lines] == [
            ("ADDED", "ConfigMap", "v1")
        ]
    sandbox.expire_history()
    resp = _raw(sandbox, f"/api/v1/namespaces/{namespace}/configmaps?watch=true&resourceVersion=1")
    assert resp.status == 200
    (line,) = resp.read().splitlines()
    error = json.loads(line)
    assert error["type"] == "ERROR"
    assert {k: error["object"][k] for k in ("kind", "status", "reason", "code")} == {
        "kind": "Status",
        "status": "Failure",
        "reason": "Expired",
        "code": 410,
    }


def test_timeout_seconds_ends_the_stream(sandbox, namespace) -> None:
    rv = client.CoreV1Api(sandbox.api_client()).list_namespaced_pod(namespace).metadata.resource_version
    started = time.monotonic()
    resp = _raw(sandbox, f"/api/v1/namespaces/{namespace}/pods?watch=1&timeoutSeconds=1&resourceVersion={rv}")
    assert resp.read() == b""
    assert 0.9 <= time.monotonic() - started < 5


def test_a_write_reaches_a_watcher_within_milliseconds(core, namespace) -> None:
    rv = core.create_namespaced_config_map(namespace, configmap("c")).metadata.resource_version
    received: dict[str, float] = {}
    arrived = threading.Condition()
    w = watch.Watch()

    def watcher() -> None:
        for event in w.stream(core.list_namespaced_config_map, namespace, resource_version=rv, timeout_seconds=30):
            with arrived:
                received[event["object"].data["i"]] = time.monotonic()
                arrived.notify_all()
            if event["object"].data["i"] == "19":
                w.stop()  # from this thread: stop() from another one shuts the socket under the reader

    thread = threading.Thread(target=watcher, daemon=True)
    thread.start()
    delays = []
    for i in ["ready", *map(str, range(20))]:
        sent = time.monotonic()
        core.patch_namespaced_config_map("c", namespace, {"data": {"i": i}})
        with arrived:
            assert arrived.wait_for(lambda i=i: i in received, timeout=10)
        if i != "ready":
            delays.append(received[i] - sent)
    thread.join(timeout=10)
    assert not thread.is_alive()
    # The median, write included. A watch that polled instead of being woken would deliver after half its
    # period on average (the loops here idle 0.25 s: a median of 0.125 s or more); a woken one takes a few
    # milliseconds, tens on 2 loaded cores. 0.1 s tells the two apart with room for a busy machine.
    assert sorted(delays)[len(delays) // 2] < 0.1, sorted(delays)


def test_send_initial_events_ends_with_an_initial_events_end_bookmark(sandbox, core, namespace) -> None:
    core.create_namespaced_config_map(namespace, configmap("a"))
    resp = _raw(
        sandbox,
        f"/api/v1/namespaces/{namespace}/configmaps?watch=true&sendInitialEvents=true&allowWatchBookmarks=true"
        f"&resourceVersionMatch=NotOlderThan&timeoutSeconds=1&{NOT_ROOT_CA}",
    )
    events = [json.loads(line) for line in resp.read().splitlines() if line.strip()]
    assert [e["type"] for e in events[:2]] == ["ADDED", "BOOKMARK"]
    assert events[1]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


def test_keep_alive_serves_several_requests_on_one_connection(sandbox, namespace) -> None:
    parts = urlsplit(sandbox.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        statuses = []
        for method, path, body in (
            ("GET", f"/api/v1/namespaces/{namespace}/configmaps", None),
            ("GET", f"/api/v1/namespaces/{namespace}/configmaps/missing", None),
            ("POST", f"/api/v1/namespaces/{namespace}/configmaps", json.dumps({"metadata": {"name": "k"}})),
            ("DELETE", f"/api/v1/namespaces/{namespace}/configmaps/k", None),
        ):
            conn.request(method, path, body=body, headers={"Content-Type": "application/json"} if body else {})
            resp = conn.getresponse()
            resp.read()
            statuses.append(resp.status)
            assert not resp.will_close
        assert statuses == [200, 404, 201, 200]
    finally:
        conn.close()
