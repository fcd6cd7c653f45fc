"""Protobuf request bodies through the machine's kubectl (the 1.32 its dispatcher picks for the sandbox).

client-go's typed clients send `application/vnd.kubernetes.protobuf`: `kubectl create <kind>`,
`autoscale`, `auth can-i`, `auth whoami`. Each command must succeed and store exactly what the same
object sent as JSON (`--dry-run=client -o json | kubectl create -f -`) stores; the stored objects are
read back with the official client. A corrupt body is a 400 that says what is wrong.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.sandbox, pytest.mark.requires("kubectl")]

PROTOBUF = "Content-Type: application/vnd.kubernetes.protobuf"


def kubectl(sandbox, *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")}
    env["KUBECONFIG"] = sandbox.kubeconfig
    env["HOME"] = str(Path(sandbox.kubeconfig).parent)
    done = subprocess.run(
        ["kubectl", *args], input=stdin, check=False, capture_output=True, text=True, env=env, timeout=60
    )
    if check:
        assert done.returncode == 0, done.stderr
    return done


def sent_as_protobuf(sandbox, *args: str) -> subprocess.CompletedProcess[str]:
    """Run a kubectl command and check that its write really was a protobuf body (`-v=7` shows the headers)."""
    done = kubectl(sandbox, *args, "-v=7")
    assert PROTOBUF in done.stderr, "kubectl sent no protobuf body: the test would prove nothing"
    return done


def sent_as_json(sandbox, namespace: str, *args: str) -> None:
    """The same object the JSON way: kubectl builds it locally, `create -f -` sends it as JSON."""
    built = kubectl(sandbox, *args, "-n", namespace, "--dry-run=client", "-o", "json").stdout
    done = kubectl(sandbox, "create", "-f", "-", "-n", namespace, "-v=7", stdin=built)
    assert PROTOBUF not in done.stderr


def stored(sandbox, path: str) -> dict[str, Any]:
    """The object as the API serves it, read with the official client."""
    api = sandbox.api_client()
    try:
        response = api.call_api(*api.param_serialize("GET", path))
        response.read()
        assert response.status == 200, response.data
        return dict(json.loads(response.data))
    finally:
        api.close()


def comparable(obj: dict[str, Any]) -> dict[str, Any]:
    """Without what differs between two creations: identity, time, namespace and what controllers write."""
    meta = dict(obj["metadata"])
    for key in ("uid", "resourceVersion", "creationTimestamp", "namespace", "managedFields"):
        meta.pop(key, None)
    annotations = {k: v for k, v in (meta.pop("annotations", None) or {}).items() if "revision" not in k}
    if annotations:
        meta["annotations"] = annotations
    out = {**obj, "metadata": meta}
    out.pop("status", None)
    if obj.get("kind") == "Service":
        out["spec"] = {k: v for k, v in obj["spec"].items() if k not in ("clusterIP", "clusterIPs")}
    return out


@pytest.fixture
def two_namespaces(sandbox, request) -> Any:
    """One namespace for the protobuf path, one for the JSON path."""
    names = [f"pb-{uuid.uuid4().hex[:6]}", f"js-{uuid.uuid4().hex[:6]}"]
    for name in names:
        sandbox.create_namespace(name)
    try:
        yield names
    finally:
        for name in names:
            sandbox.delete_namespace(name)


CREATES = {
    "configmap": (
        ["create", "configmap", "settings", "--from-literal=a=b", "--from-literal=empty=", "--from-file=blob=BLOB"],
        "/api/v1/namespaces/NS/configmaps/settings",
    ),
    "deployment": (
        ["create", "deployment", "web", "--image=nonstop/sample-app:v1", "--port=8080", "--replicas=0"],
        "/apis/apps/v1/namespaces/NS/deployments/web",
    ),
    "secret": (
        ["create", "secret", "generic", "token", "--from-literal=user=admin", "--type=Opaque"],
        "/api/v1/namespaces/NS/secrets/token",
    ),
    "service": (
        ["create", "service", "clusterip", "web", "--tcp=80:8080", "--tcp=9090:metrics"],
        "/api/v1/namespaces/NS/services/web",
    ),
    "serviceaccount": (["create", "serviceaccount", "robot"], "/api/v1/namespaces/NS/serviceaccounts/robot"),
    "role": (
        ["create", "role", "reader", "--verb=get,list", "--resource=pods,deployments.apps", "--resource-name=web"],
        "/apis/rbac.authorization.k8s.io/v1/namespaces/NS/roles/reader",
    ),
    "rolebinding": (
        ["create", "rolebinding", "read", "--clusterrole=view", "--user=jane", "--group=devs"],
        "/apis/rbac.authorization.k8s.io/v1/namespaces/NS/rolebindings/read",
    ),
    "poddisruptionbudget": (
        ["create", "poddisruptionbudget", "web", "--selector=app=web", "--min-available=50%"],
        "/apis/policy/v1/namespaces/NS/poddisruptionbudgets/web",
    ),
}


@pytest.mark.parametrize("what", sorted(CREATES))
def test_kubectl_create_stores_what_the_json_path_stores(sandbox, two_namespaces, tmp_path, what) -> None:
    blob = tmp_path / "blob"
    blob.write_bytes(b"\x00\xff binary \x80")  # not UTF-8: kubectl puts it in binaryData (a bytes map value)
    args, path = CREATES[what]
    args = [a.replace("BLOB", str(blob)) for a in args]
    pb_ns, json_ns = two_namespaces

    sent_as_protobuf(sandbox, *args, "-n", pb_ns)
    sent_as_json(sandbox, json_ns, *args)

    from_protobuf = stored(sandbox, path.replace("NS", pb_ns))
    from_json = stored(sandbox, path.replace("NS", json_ns))
    assert comparable(from_protobuf) == comparable(from_json)
    if what == "configmap":
        assert from_protobuf["data"] == {"a": "b", "empty": ""}
        assert from_protobuf["binaryData"] == {"blob": "AP8gYmluYXJ5IIA="}
    if what == "deployment":
        assert from_protobuf["spec"]["replicas"] == 0  # a pointer to zero is present, not dropped
    if what == "rolebinding":
        assert from_protobuf["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": "view",
        }
    if what == "service":
        assert [p["targetPort"] for p in from_protobuf["spec"]["ports"]] == [8080, "metrics"]


def test_kubectl_create_namespace(sandbox) -> None:
    name = f"pb-ns-{uuid.uuid4().hex[:6]}"
    sent_as_protobuf(sandbox, "create", "namespace", name)
    try:
        ns = stored(sandbox, f"/api/v1/namespaces/{name}")
        assert ns["metadata"]["name"] == name
        assert ns["status"] == {"phase": "Active"}
        assert "" not in ns["metadata"].values()  # the empty strings gogo-protobuf writes were dropped
    finally:
        sandbox.delete_namespace(name)


def test_kubectl_autoscale_creates_a_v1_hpa_stored_as_v2(sandbox, two_namespaces) -> None:
    pb_ns, json_ns = two_namespaces
    for ns in two_namespaces:
        kubectl(sandbox, "create", "deployment", "web", "--image=nonstop/sample-app:v1", "--replicas=0", "-n", ns)
    args = ["autoscale", "deployment", "web", "--min=2", "--max=5", "--cpu-percent=60"]
    done = sent_as_protobuf(sandbox, *args, "-n", pb_ns)
    assert "/apis/autoscaling/v1/" in done.stderr  # kubectl 1.32 creates autoscaling/v1
    sent_as_json(sandbox, json_ns, *args)

    path = "/apis/autoscaling/VERSION/namespaces/NS/horizontalpodautoscalers/web"
    v2 = stored(sandbox, path.replace("VERSION", "v2").replace("NS", pb_ns))
    assert v2["apiVersion"] == "autoscaling/v2"
    assert v2["spec"]["metrics"] == [
        {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}}}
    ]
    assert comparable(v2) == comparable(stored(sandbox, path.replace("VERSION", "v2").replace("NS", json_ns)))
    v1 = stored(sandbox, path.replace("VERSION", "v1").replace("NS", pb_ns))
    assert v1["spec"] == {
        "scaleTargetRef": {"kind": "Deployment", "name": "web", "apiVersion": "apps/v1"},
        "minReplicas": 2,
        "maxReplicas": 5,
        "targetCPUUtilizationPercentage": 60,
    }
    listed = kubectl(sandbox, "get", "horizontalpodautoscalers.v1.autoscaling", "-n", pb_ns, "-o", "json").stdout
    assert [item["spec"]["maxReplicas"] for item in json.loads(listed)["items"]] == [5]


def test_kubectl_auth_can_i_and_whoami(sandbox) -> None:
    assert sent_as_protobuf(sandbox, "auth", "can-i", "create", "pods").stdout.strip() == "yes"
    sandbox.deny("create", "pods")
    try:
        denied = kubectl(sandbox, "auth", "can-i", "create", "pods", check=False)
        assert (denied.returncode, denied.stdout.strip()) == (1, "no - the sandbox was told to deny create on pods")
        assert kubectl(sandbox, "auth", "can-i", "delete", "pods").stdout.strip() == "yes"
    finally:
        sandbox.allow_all()
    who = json.loads(sent_as_protobuf(sandbox, "auth", "whoami", "-o", "json").stdout)
    assert who["kind"] == "SelfSubjectReview"
    assert who["status"]["userInfo"] == {"username": "system:anonymous", "groups": ["system:unauthenticated"]}


def post(sandbox, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(sandbox.url + path, data=body, method="POST")
    request.add_header("Content-Type", "application/vnd.kubernetes.protobuf")
    request.add_header("Accept", "application/vnd.kubernetes.protobuf,application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def field(number: int, payload: bytes) -> bytes:
    return bytes([number << 3 | 2, len(payload)]) + payload


def envelope(api_version: str, kind: str, raw: bytes) -> bytes:
    type_meta = field(1, api_version.encode()) + field(2, kind.encode())
    return b"k8s\x00" + field(1, type_meta) + field(2, raw)


def test_corrupt_protobuf_bodies_are_400_with_the_reason(sandbox, namespace) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    good = envelope("v1", "ConfigMap", field(1, field(1, b"made")) + field(2, field(1, b"k") + field(2, b"v")))
    code, created = post(sandbox, path, good)
    assert code == 201, created
    assert created["data"] == {"k": "v"}

    code, status = post(sandbox, path, good[:-3])
    assert code == 400
    assert status["reason"] == "BadRequest"
    assert "claims" in status["message"]
    assert "runtime.Unknown" in status["message"]

    inner = field(1, field(1, b"x")) + bytes([2 << 3 | 2, 40]) + b"short"  # data claims 40 bytes, 5 follow
    code, status = post(sandbox, path, envelope("v1", "ConfigMap", inner))
    assert code == 400
    assert status["message"].startswith("the protobuf request body is not a valid v1 ConfigMap: field 2 claims 40")

    code, status = post(sandbox, path, b"not protobuf at all")
    assert code == 400
    assert "magic" in status["message"]

    code, status = post(sandbox, "/apis/batch/v1/namespaces/x/jobs", envelope("batch/v1", "Job", b""))
    assert code == 415
    assert "batch/v1/Job" in status["message"]
    assert "application/json" in status["message"]
