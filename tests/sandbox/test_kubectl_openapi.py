"""OpenAPI v2/v3 and server-side field validation, through the machine's kubectl and the official client.

kubectl finds `fieldValidation` in `/openapi/v3/<gv>`, so it validates nothing itself and sends
`fieldValidation=Strict`: apply, create, replace and edit work without `--validate=false`, and an
unknown field is refused by the server with the real apiserver's words.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException

pytestmark = [pytest.mark.sandbox]

AFTER = Path(__file__).resolve().parents[2] / "config" / "examples" / "after.yaml"


def kubectl(sandbox, tmp_path: Path, *args: str, editor: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")}
    env["KUBECONFIG"] = sandbox.kubeconfig
    env["HOME"] = str(tmp_path)  # kubectl's OpenAPI cache starts empty: each test downloads the documents
    env["TMPDIR"] = str(tmp_path)  # where `kubectl edit` keeps its copies
    if editor:
        env["EDITOR"] = editor
    return subprocess.run(["kubectl", *args], check=False, capture_output=True, text=True, env=env, timeout=60)


def with_unknown_fields(tmp_path: Path) -> Path:
    docs = list(yaml.safe_load_all(AFTER.read_text()))
    deployment = docs[0]
    deployment["spec"]["replicaz"] = 2
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["bogus"] = 1
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(deployment))
    return path


def editor(tmp_path: Path, name: str, sed: str) -> str:
    script = tmp_path / name
    script.write_text(f'#!/bin/sh\nsed -i "{sed}" "$1"\n')
    script.chmod(0o755)
    return str(script)


@pytest.mark.requires("kubectl")
def test_apply_validates_on_the_server_and_refuses_unknown_fields(sandbox, namespace, tmp_path) -> None:
    ok = kubectl(sandbox, tmp_path, "apply", "-n", namespace, "-f", str(AFTER))
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.splitlines()[:2] == ["deployment.apps/web created", "service/web created"]
    again = kubectl(sandbox, tmp_path, "apply", "-n", namespace, "-f", str(AFTER))
    assert again.returncode == 0, again.stderr
    assert "warning" not in again.stderr.lower()  # the patch was computed from /openapi/v3, not guessed

    bad = with_unknown_fields(tmp_path)
    patched = kubectl(sandbox, tmp_path, "apply", "-n", namespace, "-f", str(bad))
    assert patched.returncode == 1
    assert "The request is invalid: patch: Invalid value:" in patched.stderr
    assert 'unknown field "spec.replicaz"' in patched.stderr
    assert 'unknown field "spec.template.spec.containers[0].readinessProbe.bogus"' in patched.stderr

    kubectl(sandbox, tmp_path, "delete", "-n", namespace, "deployment", "web", "--wait=false")
    fresh = kubectl(sandbox, tmp_path, "apply", "-n", namespace, "-f", str(bad))
    assert fresh.returncode == 1
    assert (
        'Error from server (BadRequest): error when creating "' + str(bad) + '": Deployment in version "v1" cannot be '
        'handled as a Deployment: strict decoding error: unknown field "spec.replicaz", unknown field '
        '"spec.template.spec.containers[0].readinessProbe.bogus"'
    ) in fresh.stderr
    apps = client.AppsV1Api(sandbox.api_client())
    with pytest.raises(ApiException) as gone:
        apps.read_namespaced_deployment("web", namespace)
    assert gone.value.status == 404  # refused: nothing was created


@pytest.mark.requires("kubectl")
def test_explain_reads_the_v3_document(sandbox, tmp_path) -> None:
    done = kubectl(sandbox, tmp_path, "explain", "deployment.spec.strategy")
    assert done.returncode == 0, done.stderr
    lines = [line.strip() for line in done.stdout.splitlines()]
    assert lines[:3] == ["GROUP:      apps", "KIND:       Deployment", "VERSION:    v1"]
    assert "FIELD: strategy <DeploymentStrategy>" in lines
    assert "DeploymentStrategy describes how to replace existing pods with new ones." in lines
    assert "rollingUpdate\t<RollingUpdateDeployment>" in lines
    assert "type\t<string>" in lines
    pods = kubectl(sandbox, tmp_path, "explain", "pods.spec.containers.lifecycle.preStop.sleep")
    assert pods.returncode == 0, pods.stderr
    assert "seconds\t<integer> -required-" in [line.strip() for line in pods.stdout.splitlines()]
    missing = kubectl(sandbox, tmp_path, "explain", "deployment.spec.nosuchfield")
    assert missing.returncode == 1
    assert 'field "nosuchfield" does not exist' in missing.stderr


@pytest.mark.requires("kubectl")
def test_edit_and_replace(sandbox, namespace, tmp_path) -> None:
    applied = kubectl(sandbox, tmp_path, "apply", "-n", namespace, "-f", str(AFTER))
    assert applied.returncode == 0, applied.stderr
    apps = client.AppsV1Api(sandbox.api_client())

    two = editor(tmp_path, "two.sh", "s/^  replicas: 1$/  replicas: 2/")
    edited = kubectl(sandbox, tmp_path, "edit", "-n", namespace, "deployment/web", editor=two)
    assert edited.returncode == 0, edited.stderr
    assert edited.stdout.strip() == "deployment.apps/web edited"
    assert apps.read_namespaced_deployment("web", namespace).spec.replicas == 2

    unknown = editor(tmp_path, "unknown.sh", "s/^  replicas: 2$/  replicas: 3\\n  replicaz: 3/")
    refused = kubectl(sandbox, tmp_path, "edit", "-n", namespace, "deployment/web", editor=unknown)
    assert refused.returncode == 1
    assert 'deployments.apps "web" is invalid' in refused.stderr
    assert apps.read_namespaced_deployment("web", namespace).spec.replicas == 2

    current = yaml.safe_load(kubectl(sandbox, tmp_path, "get", "-n", namespace, "deployment/web", "-o", "yaml").stdout)
    current["spec"]["template"]["spec"]["containers"][0]["image"] = "nonstop/sample-app:v2"
    good = tmp_path / "replace.yaml"
    good.write_text(yaml.safe_dump(current))
    replaced = kubectl(sandbox, tmp_path, "replace", "-f", str(good))
    assert replaced.returncode == 0, replaced.stderr
    assert replaced.stdout.strip() == "deployment.apps/web replaced"
    image = apps.read_namespaced_deployment("web", namespace).spec.template.spec.containers[0].image
    assert image == "nonstop/sample-app:v2"

    current["spec"]["template"]["spec"]["containers"][0]["imagePolicy"] = "Always"
    bad = tmp_path / "replace-bad.yaml"
    bad.write_text(yaml.safe_dump(current))
    refused_replace = kubectl(sandbox, tmp_path, "replace", "-f", str(bad))
    assert refused_replace.returncode == 1
    assert 'strict decoding error: unknown field "spec.template.spec.containers[0].imagePolicy"' in (
        refused_replace.stderr
    )


def _call(
    api: client.ApiClient,
    method: str,
    path: str,
    *,
    body: object = None,
    query: list[tuple[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """A raw request through the official client (its typed methods refuse unknown fields before sending)."""
    response = api.call_api(
        *api.param_serialize(method, path, query_params=query, header_params=headers or {}, body=body)
    )
    response.read()
    return response.status, dict(response.getheaders()), response.data


def test_documents_through_the_official_client(sandbox) -> None:
    api = sandbox.api_client()
    status, _, raw = _call(api, "GET", "/openapi/v3")
    assert status == 200
    index = json.loads(raw)["paths"]
    assert {"api/v1", "apis/apps/v1", "apis/policy/v1", "apis/argoproj.io/v1alpha1"} <= set(index)
    url = index["apis/apps/v1"]["serverRelativeURL"]
    assert url.startswith("/openapi/v3/apis/apps/v1?hash=")
    status, headers, raw = _call(api, "GET", url)
    assert status == 200
    assert headers.get("Cache-Control") == "public, immutable"
    doc = json.loads(raw)
    patch = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {"group": "apps", "version": "v1", "kind": "Deployment"}
    assert "fieldValidation" in [p["name"] for p in patch["parameters"]]
    assert "application/strategic-merge-patch+json" in patch["requestBody"]["content"]
    schemas = doc["components"]["schemas"]
    deployment = schemas["io.k8s.api.apps.v1.Deployment"]
    assert deployment["x-kubernetes-group-version-kind"] == [{"group": "apps", "kind": "Deployment", "version": "v1"}]
    containers = schemas["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"]
    assert containers["x-kubernetes-patch-merge-key"] == "name"
    assert containers["x-kubernetes-patch-strategy"] == "merge"
    assert containers["x-kubernetes-list-map-keys"] == ["name"]
    strategy = schemas["io.k8s.api.apps.v1.DeploymentSpec"]["properties"]["strategy"]
    assert strategy["x-kubernetes-patch-strategy"] == "retainKeys"

    rollouts = json.loads(_call(api, "GET", index["apis/argoproj.io/v1alpha1"]["serverRelativeURL"])[2])
    rollout_patch = rollouts["paths"]["/apis/argoproj.io/v1alpha1/namespaces/{namespace}/rollouts/{name}"]["patch"]
    assert "application/strategic-merge-patch+json" not in rollout_patch["requestBody"]["content"]

    status, _, raw = _call(api, "GET", "/openapi/v2", headers={"Accept": "application/json"})
    assert status == 200
    v2 = json.loads(raw)
    assert v2["swagger"] == "2.0"
    assert v2["definitions"]["io.k8s.api.core.v1.Pod"]["x-kubernetes-group-version-kind"] == [
        {"group": "", "kind": "Pod", "version": "v1"}
    ]
    assert "#/components/" not in raw.decode()
    protobuf = {"Accept": "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"}
    assert _call(api, "GET", "/openapi/v2", headers=protobuf)[0] == 406
    assert _call(api, "GET", "/openapi/v3/apis/batch/v1")[0] == 404


def test_field_validation_through_the_official_client(sandbox, namespace) -> None:
    api = sandbox.api_client()
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}, "data": {"a": "1"}, "extra": 1}
    status, _, raw = _call(api, "POST", path, body=body, query=[("fieldValidation", "Strict")])
    assert status == 400
    assert json.loads(raw)["message"] == (
        'ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: unknown field "extra"'
    )
    core = client.CoreV1Api(api)
    assert [c.metadata.name for c in core.list_namespaced_config_map(namespace).items] == [
        "kube-root-ca.crt"
    ]  # refused: nothing created

    status, headers, _ = _call(api, "POST", path, body=body, query=[("fieldValidation", "Warn")])
    assert status == 201
    assert headers["Warning"] == '299 - "unknown field \\"extra\\""'

    clean = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "clean"}, "data": {"a": "1"}}
    assert _call(api, "POST", path, body=clean, query=[("fieldValidation", "Strict")])[0] == 201
    merge = {"Content-Type": "application/merge-patch+json"}
    item = f"{path}/clean"
    status, _, raw = _call(api, "PATCH", item, body={"datta": {"b": "2"}}, query=[("fieldValidation", "Sometimes")])
    assert status == 400
    assert "fieldValidation parameter unsupported: Sometimes" in json.loads(raw)["message"]
    status, _, raw = _call(
        api, "PATCH", item, body={"datta": {"b": "2"}}, query=[("fieldValidation", "Strict")], headers=merge
    )
    assert status == 422
    assert json.loads(raw)["message"].endswith('strict decoding error: unknown field "datta"')
    assert core.read_namespaced_config_map("clean", namespace).data == {"a": "1"}
    good = core.patch_namespaced_config_map("clean", namespace, {"data": {"b": "2"}}, field_validation="Strict")
    assert good.data == {"a": "1", "b": "2"}
