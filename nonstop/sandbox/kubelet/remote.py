"""`HttpNodeApi`: the kubelet's `NodeApi` over HTTP(S), for any API server reached by a kubeconfig.

What a real kubelet does, with the official client (raw JSON, through `nonstop.kube`):

- its pods: list + watch `/api/v1/pods?fieldSelector=spec.nodeName=<node>` (`ResilientWatch`:
  resumes from the last resourceVersion, re-lists after 410 and reports what vanished meanwhile);
  it never schedules — the cluster's scheduler binds pods to the node;
- status: `PUT …/pods/<name>/status` of the kubelet's newest copy (its resourceVersion is the
  precondition); on 409 Conflict it reads the pod again and re-applies the change (a pod recreated
  under the same name, another uid, counts as gone);
- removal once every container exited: `DELETE` with `gracePeriodSeconds: 0` and the uid as
  precondition;
- Events: `POST` core/v1 events (`source.host` = the node); a repeated one is folded into its
  `count` with a merge patch, as client-go's recorder does;
- ConfigMaps and Secrets a container references: `GET`, 404 meaning "does not exist".

Transient failures (5xx, 429, connection errors) are retried with backoff by `nonstop.kube.calls`;
every failure reaches the workers as an `ApiError` with the HTTP status as `code`.
"""

from __future__ import annotations

import copy
import json
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from nonstop.errors import ClusterError
from nonstop.kube.calls import RetryPolicy, call
from nonstop.kube.connection import Connection
from nonstop.kube.watching import Observed, ResilientWatch
from nonstop.sandbox.apierrors import ApiError
from nonstop.sandbox.events import EventNote, FoldKey, event_body, fold_key_of
from nonstop.sandbox.kinds import Kind
from nonstop.sandbox.kubelet.nodeapi import NODE_NAME, PodChange
from nonstop.sandbox.store import Obj, now_rfc3339

__all__ = ["HttpNodeApi"]

_CONFLICT_RETRIES = 5
_RETRY = RetryPolicy(deadline=20.0)
_TIMEOUT = (5.0, 30.0)


class HttpNodeApi:
    """One node's API calls to a real (or embedded) API server over HTTP(S)."""

    def __init__(self, connection: Connection, *, node_name: str = NODE_NAME, log: Any = None) -> None:
        self.connection = connection
        self.api = connection.api
        self.node_name = node_name
        self.node_names = frozenset({node_name})
        self._log = log
        self._events_lock = threading.Lock()
        self._recent: dict[FoldKey, tuple[str, int]] = {}  # fold key -> (event name, count)

    # -- raw requests ----------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        what: str,
        query: list[tuple[str, str]] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> Obj:
        """One API call by path; the answer's JSON. Errors become `ApiError`s (code = HTTP status)."""

        def send() -> Obj:
            headers = {"Accept": "application/json"}
            if body is not None:
                headers["Content-Type"] = content_type
            method_, url, headers, data, _ = self.api.param_serialize(
                method=method,
                resource_path=path,
                query_params=query or [],
                header_params=headers,
                body=body,
                auth_settings=["BearerToken"],
            )
            response = self.api.call_api(method_, url, header_params=headers, body=data, _request_timeout=_TIMEOUT)
            response.read()
            if not 200 <= response.status < 300:
                raise ApiException(http_resp=response)
            return dict(json.loads(response.data or b"{}"))

        try:
            return call(send, what=what, retry=_RETRY)
        except ClusterError as exc:
            raise ApiError(exc.status or 503, exc.reason or "ServiceUnavailable", str(exc)) from exc

    @staticmethod
    def _path(kind: Kind, namespace: str | None, name: str = "", subresource: str = "") -> str:
        path = kind.prefix
        if kind.namespaced:
            path += f"/namespaces/{namespace or 'default'}"
        path += f"/{kind.resource}"
        if name:
            path += f"/{name}"
        if subresource:
            path += f"/{subresource}"
        return path

    @staticmethod
    def _pod_path(pod: Obj, subresource: str = "") -> str:
        meta = pod["metadata"]
        path = f"/api/v1/namespaces/{meta.get('namespace') or 'default'}/pods/{meta['name']}"
        return f"{path}/{subresource}" if subresource else path

    @staticmethod
    def _pod_what(verb: str, pod: Obj) -> str:
        meta = pod["metadata"]
        return f"{verb} Pod {meta.get('namespace') or 'default'}/{meta['name']}"

    # -- NodeApi ---------------------------------------------------------------------------------

    def pod_changes(self, stopping: threading.Event) -> Iterator[list[PodChange]]:
        changes: queue.Queue[Observed] = queue.Queue()
        list_fn = client.CoreV1Api(self.api).list_pod_for_all_namespaces
        watch: ResilientWatch | None = None
        try:
            while not stopping.is_set():
                if watch is None or watch.failed is not None:
                    if watch is not None:  # it gave up (e.g. 403): say so, and start over after a pause
                        if self._log is not None:
                            self._log.error("kubelet.pod_watch_lost", error=str(watch.failed))
                        if stopping.wait(2.0):
                            return
                    watch = ResilientWatch(
                        list_fn,
                        what=f"pods of node {self.node_name}",
                        on_event=changes.put,
                        field_selector=f"spec.nodeName={self.node_name}",
                        server_timeout=290,
                        give_up_after=float("inf"),
                    )
                    watch.start()
                batch: list[PodChange] = []
                try:
                    seen = changes.get(timeout=0.5)
                    batch.append((seen.type, seen.obj))
                    while True:
                        seen = changes.get_nowait()
                        batch.append((seen.type, seen.obj))
                except queue.Empty:
                    pass
                yield batch
        finally:
            if watch is not None:
                watch.stop()

    def find(self, kind: Kind, namespace: str | None, name: str) -> Obj | None:
        try:
            return self.request("GET", self._path(kind, namespace, name), what=f"get {kind.kind} {namespace}/{name}")
        except ApiError as exc:
            if exc.code == 404:
                return None
            raise

    def write_pod_status(self, pod: Obj, change: Callable[[Obj], None]) -> Obj:
        current = pod
        uid = pod["metadata"].get("uid")
        for attempt in range(_CONFLICT_RETRIES):
            body = copy.deepcopy(current)
            body.update(apiVersion="v1", kind="Pod")  # a list's items come without them
            change(body)
            try:
                return self.request("PUT", self._pod_path(pod, "status"), body=body, what=self._pod_what("update", pod))
            except ApiError as exc:
                if exc.code != 409 or attempt == _CONFLICT_RETRIES - 1:
                    raise
            current = self.request("GET", self._pod_path(pod), what=self._pod_what("get", pod))
            if current["metadata"].get("uid") != uid:  # another pod of the same name: ours is gone
                raise ApiError(404, "NotFound", f"{self._pod_what('update', pod)}: the pod was replaced")
        raise AssertionError("unreachable")

    def remove_pod(self, pod: Obj) -> None:
        options = {
            "apiVersion": "v1",
            "kind": "DeleteOptions",
            "gracePeriodSeconds": 0,
            "preconditions": {"uid": pod["metadata"].get("uid")},
        }
        try:
            self.request("DELETE", self._pod_path(pod), body=options, what=self._pod_what("delete", pod))
        except ApiError as exc:
            if exc.code not in (404, 409):  # gone already, or another pod of that name now
                raise

    def record_event(self, involved: Obj, note: EventNote) -> None:
        key = fold_key_of(involved, note)
        namespace = key[0]
        now = now_rfc3339()
        with self._events_lock:
            known = self._recent.get(key)
        if known is not None:
            name, count = known
            try:
                self.request(
                    "PATCH",
                    f"/api/v1/namespaces/{namespace}/events/{name}",
                    body={"count": count + 1, "lastTimestamp": now},
                    content_type="application/merge-patch+json",
                    what=f"patch Event {namespace}/{name}",
                )
            except ApiError as exc:
                if exc.code != 404:
                    raise
            else:
                with self._events_lock:
                    self._recent[key] = (name, count + 1)
                return
        body = event_body(involved, note, now=now, instance=self.node_name, host=self.node_name)
        created = self.request(
            "POST", f"/api/v1/namespaces/{namespace}/events", body=body, what=f"create Event {namespace}"
        )
        with self._events_lock:
            if len(self._recent) > 4096:  # a long-lived node: forget the oldest folds
                self._recent.pop(next(iter(self._recent)))
            self._recent[key] = (str(created["metadata"]["name"]), 1)
