"""rbac.authorization.k8s.io/v1 Role, RoleBinding, ClusterRole and ClusterRoleBinding: stored and served, not enforced.

The official client does CRUD, list and watch; the machine's kubectl creates them (its typed
clients send protobuf), applies a Role with server validation on, and prints them as on a real
cluster (`NAME CREATED AT` for roles, `NAME ROLE AGE` for bindings, `-o wide` adding the subjects).
"""

from __future__ import annotations

import json
import re
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, watch
from kubernetes.client.rest import ApiException
from test_kubectl_api import kubectl

pytestmark = [pytest.mark.sandbox]

PROTOBUF = "Content-Type: application/vnd.kubernetes.protobuf"
RBAC = "rbac.authorization.k8s.io"


@pytest.fixture
def rbac(sandbox) -> Iterator[Any]:
    api = sandbox.api_client()
    try:
        yield client.RbacAuthorizationV1Api(api)
    finally:
        api.close()


@pytest.fixture
def cluster_names(rbac) -> Iterator[list[str]]:
    """Names for cluster-scoped objects this test creates; the ClusterRoles and bindings are deleted afterwards."""
    names: list[str] = []
    yield names
    for listed, delete in (
        (rbac.list_cluster_role, rbac.delete_cluster_role),
        (rbac.list_cluster_role_binding, rbac.delete_cluster_role_binding),
    ):
        for name in {item.metadata.name for item in listed().items} & set(names):
            delete(name)


def test_official_client_crud_list_and_watch_a_role_and_binding(rbac, namespace) -> None:
    role = client.V1Role(
        metadata=client.V1ObjectMeta(name="reader"),
        rules=[client.V1PolicyRule(api_groups=[""], resources=["pods"], verbs=["get", "list"])],
    )
    created = rbac.create_namespaced_role(namespace, role)
    assert created.rules[0].verbs == ["get", "list"]
    assert created.metadata.uid
    assert created.metadata.resource_version

    listed = rbac.list_namespaced_role(namespace)
    stream = watch.Watch()
    events: list[tuple[str, Any]] = []
    binding = {
        "apiVersion": f"{RBAC}/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "read-pods"},
        "subjects": [
            {"kind": "User", "name": "jane"},
            {"kind": "ServiceAccount", "name": "robot", "namespace": namespace},
        ],
        "roleRef": {"kind": "Role", "name": "reader"},
    }
    made = rbac.create_namespaced_role_binding(namespace, binding)
    # rbac/v1 defaults: the roleRef's and a User's apiGroup, none for a ServiceAccount
    assert made.role_ref.api_group == RBAC
    assert [(s.kind, s.api_group) for s in made.subjects] == [("User", RBAC), ("ServiceAccount", None)]
    rbac.patch_namespaced_role(
        "reader", namespace, {"rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}
    )
    for event in stream.stream(
        rbac.list_namespaced_role,
        namespace,
        resource_version=listed.metadata.resource_version,
        timeout_seconds=30,
    ):
        events.append((event["type"], event["object"]))
        if event["type"] == "MODIFIED":
            stream.stop()
    assert [(t, o.metadata.name, o.rules[0].verbs) for t, o in events] == [("MODIFIED", "reader", ["get"])]

    with pytest.raises(ApiException) as refused:  # k/k ValidateRoleBindingUpdate
        rbac.patch_namespaced_role_binding("read-pods", namespace, {"roleRef": {"kind": "ClusterRole", "name": "view"}})
    assert refused.value.status == 422
    assert "roleRef: Invalid value: rbac.RoleRef{" in json.loads(refused.value.body)["message"]
    assert "cannot change roleRef" in json.loads(refused.value.body)["message"]

    assert [
        b.metadata.name for b in rbac.list_role_binding_for_all_namespaces().items if b.metadata.namespace == namespace
    ] == ["read-pods"]
    rbac.delete_namespaced_role("reader", namespace)
    with pytest.raises(ApiException) as gone:
        rbac.read_namespaced_role("reader", namespace)
    assert gone.value.status == 404


def test_binding_without_a_role_ref_is_invalid(rbac, cluster_names) -> None:
    name = f"bad-{uuid.uuid4().hex[:6]}"
    cluster_names.append(name)
    body = {"metadata": {"name": name}, "roleRef": {"apiGroup": RBAC, "kind": "Role", "name": ""}}
    with pytest.raises(ApiException) as refused:
        rbac.create_cluster_role_binding(body)
    assert refused.value.status == 422
    message = json.loads(refused.value.body)["message"]
    assert message == (
        f'ClusterRoleBinding.{RBAC} "{name}" is invalid: '
        'roleRef.kind: Unsupported value: "Role": supported values: "ClusterRole"; roleRef.name: Required value'
    )


@pytest.mark.requires("kubectl")
def test_kubectl_create_sends_protobuf_and_get_prints_the_real_columns(sandbox, rbac, namespace, cluster_names) -> None:
    cluster = f"pod-reader-{uuid.uuid4().hex[:6]}"
    cluster_names.append(cluster)
    creates = [
        ["create", "role", "reader", "--verb=get,list", "--resource=pods", "-n", namespace],
        [
            "create",
            "rolebinding",
            "read-pods",
            "--role=reader",
            "--user=jane",
            "--group=devs",
            f"--serviceaccount={namespace}:robot",
            "-n",
            namespace,
        ],
        ["create", "clusterrole", cluster, "--verb=get", "--resource=nodes"],
        ["create", "clusterrolebinding", cluster, f"--clusterrole={cluster}", "--group=ops"],
    ]
    for args in creates:
        done = kubectl(sandbox, *args, "-v=7")
        assert PROTOBUF in done.stderr, f"kubectl {args[1]} sent no protobuf body"

    role = rbac.read_namespaced_role("reader", namespace)
    assert [(r.api_groups, r.resources, r.verbs) for r in role.rules] == [([""], ["pods"], ["get", "list"])]
    binding = rbac.read_namespaced_role_binding("read-pods", namespace)
    assert (binding.role_ref.kind, binding.role_ref.name, binding.role_ref.api_group) == ("Role", "reader", RBAC)
    assert [(s.kind, s.name) for s in binding.subjects] == [
        ("User", "jane"),
        ("Group", "devs"),
        ("ServiceAccount", "robot"),
    ]
    assert rbac.read_cluster_role(cluster).rules[0].resources == ["nodes"]
    assert rbac.read_cluster_role_binding(cluster).subjects[0].name == "ops"

    out = kubectl(sandbox, "get", "roles,rolebindings", "-n", namespace).stdout
    roles, bindings = out.strip().split("\n\n")
    assert roles.splitlines()[0].split() == ["NAME", "CREATED", "AT"]
    name, created = roles.splitlines()[1].split()
    assert name == f"role.{RBAC}/reader"
    assert created == role.metadata.creation_timestamp.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert bindings.splitlines()[0].split() == ["NAME", "ROLE", "AGE"]
    assert re.fullmatch(rf"rolebinding\.{re.escape(RBAC)}/read-pods +Role/reader +\d+s", bindings.splitlines()[1])

    wide = kubectl(sandbox, "get", "rolebinding", "read-pods", "-n", namespace, "-o", "wide").stdout.splitlines()
    assert wide[0].split() == ["NAME", "ROLE", "AGE", "USERS", "GROUPS", "SERVICEACCOUNTS"]
    assert wide[1].split()[3:] == ["jane", "devs", f"{namespace}/robot"]
    cluster_wide = kubectl(sandbox, "get", "clusterrolebinding", cluster, "-o", "wide").stdout.splitlines()
    assert cluster_wide[1].split()[1] == f"ClusterRole/{cluster}"
    assert cluster_wide[1].split()[3:] == ["ops"]  # no users, no service accounts: empty cells


@pytest.mark.requires("kubectl")
def test_kubectl_apply_a_role_with_server_validation(sandbox, rbac, namespace, tmp_path) -> None:
    manifest = tmp_path / "role.yaml"
    role = """\
        apiVersion: rbac.authorization.k8s.io/v1
        kind: Role
        metadata:
          name: deployer
        rules:
        - apiGroups: ["apps"]
          resources: ["deployments"]
          VERBS: ["get", "patch"]
    """
    manifest.write_text(textwrap.dedent(role))
    refused = kubectl(sandbox, "apply", "--validate=true", "-n", namespace, "-f", str(manifest), check=False)
    assert refused.returncode == 1
    assert 'unknown field "rules[0].VERBS"' in refused.stderr
    with pytest.raises(ApiException):
        rbac.read_namespaced_role("deployer", namespace)

    manifest.write_text(textwrap.dedent(role).replace("VERBS", "verbs"))
    done = kubectl(sandbox, "apply", "--validate=true", "-n", namespace, "-f", str(manifest))
    assert done.stdout.strip() == f"role.{RBAC}/deployer created"
    assert rbac.read_namespaced_role("deployer", namespace).rules[0].verbs == ["get", "patch"]

    manifest.write_text(textwrap.dedent(role).replace("VERBS", "verbs").replace('"patch"', '"update"'))
    kubectl(sandbox, "apply", "--server-side", "--force-conflicts", "-n", namespace, "-f", str(manifest))
    stored = rbac.read_namespaced_role("deployer", namespace)
    assert stored.rules[0].verbs == ["get", "update"]
    applied = {m.manager: m.fields_v1 for m in stored.metadata.managed_fields if m.operation == "Apply"}
    assert applied["kubectl"] == {"f:rules": {}}  # +listType=atomic: owned as one field, not item by item


@pytest.mark.requires("kubectl")
def test_kubectl_api_resources_lists_the_rbac_group(sandbox) -> None:
    out = kubectl(sandbox, "api-resources", f"--api-group={RBAC}", "--no-headers").stdout
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()}
    assert rows == {
        "clusterrolebindings": [f"{RBAC}/v1", "false", "ClusterRoleBinding"],
        "clusterroles": [f"{RBAC}/v1", "false", "ClusterRole"],
        "rolebindings": [f"{RBAC}/v1", "true", "RoleBinding"],
        "roles": [f"{RBAC}/v1", "true", "Role"],
    }


@pytest.mark.requires("kubectl")
def test_the_rendered_workflow_rbac_applies(sandbox, rbac, namespace, tmp_path) -> None:
    """`nonstop workflows render`'s rbac.yaml (the golden copy), moved into this test's namespace."""
    golden = Path(__file__).parents[1] / "gitops" / "golden" / "rbac.yaml"
    manifest = tmp_path / "rbac.yaml"
    manifest.write_text(golden.read_text().replace("namespace: drills", f"namespace: {namespace}"))
    done = kubectl(sandbox, "apply", "--validate=true", "-f", str(manifest))
    assert done.stdout.splitlines() == [
        "serviceaccount/nonstop-drill created",
        f"role.{RBAC}/nonstop-drill created",
        f"rolebinding.{RBAC}/nonstop-drill created",
    ]
    binding = rbac.read_namespaced_role_binding("nonstop-drill", namespace)
    assert [(s.kind, s.name, s.namespace) for s in binding.subjects] == [("ServiceAccount", "nonstop-drill", namespace)]
    assert "argoproj.io" in {
        g for rule in rbac.read_namespaced_role("nonstop-drill", namespace).rules for g in rule.api_groups
    }
    again = kubectl(sandbox, "apply", "--validate=true", "-f", str(manifest))
    assert again.stdout.splitlines()[1:] == [
        f"role.{RBAC}/nonstop-drill unchanged",
        f"rolebinding.{RBAC}/nonstop-drill unchanged",
    ]
