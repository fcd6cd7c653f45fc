"""The machine's real kubectl and server-side apply: `apply --server-side`, conflicts, `--force-conflicts`,
the move from client-side apply, and the managers kubectl's other commands leave in managedFields.
"""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path

import pytest
from test_kubectl_api import MANIFEST, kubectl

pytestmark = [
    pytest.mark.sandbox,
    pytest.mark.requires("kubectl"),
]


def _managers(sandbox, namespace: str, resource: str = "deployment/web") -> dict[tuple[str, str, str], dict]:
    out = kubectl(sandbox, "get", resource, "-n", namespace, "-o", "json", "--show-managed-fields").stdout
    return {
        (e["manager"], e["operation"], e.get("subresource", "")): e["fieldsV1"]
        for e in json.loads(out)["metadata"]["managedFields"]
    }


def test_apply_server_side_then_a_conflict_then_force_conflicts(sandbox, namespace, tmp_path) -> None:
    manifest = tmp_path / "web.yaml"
    manifest.write_text(MANIFEST.replace("REPLICAS", "2"))
    apply = ["apply", "--server-side", "-n", namespace, "-f", str(manifest)]
    out = kubectl(sandbox, *apply).stdout
    assert out.splitlines() == ["deployment.apps/web serverside-applied", "service/web serverside-applied"]
    managers = _managers(sandbox, namespace)
    assert managers[("kubectl", "Apply", "")]["f:spec"]["f:replicas"] == {}

    kubectl(sandbox, "scale", "deployment/web", "--replicas=3", "-n", namespace)
    refused = kubectl(sandbox, *apply, check=False)
    assert refused.returncode == 1
    assert refused.stderr.startswith(
        'error: Apply failed with 1 conflict: conflict with "kubectl" with subresource "scale" using apps/v1: '
        ".spec.replicas\nPlease review the fields above--they currently have other managers."
    )
    assert "service/web serverside-applied" in refused.stdout  # the other object went through

    kubectl(sandbox, *apply, "--force-conflicts")
    replicas = kubectl(sandbox, "get", "deployment/web", "-n", namespace, "-o", "jsonpath={.spec.replicas}").stdout
    assert replicas == "2"
    managers = _managers(sandbox, namespace)
    assert ("kubectl", "Update", "scale") not in managers  # it lost its only field
    assert managers[("kubectl", "Apply", "")]["f:spec"]["f:replicas"] == {}


def test_client_side_apply_moves_to_server_side_and_edit_is_its_own_manager(sandbox, namespace, tmp_path) -> None:
    manifest = tmp_path / "web.yaml"
    manifest.write_text(MANIFEST.replace("REPLICAS", "2"))
    kubectl(sandbox, "apply", "-n", namespace, "-f", str(manifest))
    assert ("kubectl-client-side-apply", "Update", "") in _managers(sandbox, namespace)

    kubectl(sandbox, "apply", "--server-side", "-n", namespace, "-f", str(manifest))
    managers = _managers(sandbox, namespace)
    assert managers[("kubectl", "Apply", "")]["f:spec"]["f:replicas"] == {}
    assert "f:replicas" not in managers.get(("kubectl-client-side-apply", "Update", ""), {}).get("f:spec", {})

    editor = tmp_path / "editor.sh"
    editor.write_text(
        textwrap.dedent("""\
        #!/bin/sh
        sed -i 's/^  replicas: 2$/  replicas: 5/' "$1"
        """)
    )
    editor.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")}
    env |= {"KUBECONFIG": sandbox.kubeconfig, "KUBE_EDITOR": str(editor), "HOME": str(Path(sandbox.kubeconfig).parent)}
    edited = subprocess.run(
        ["kubectl", "edit", "deployment/web", "-n", namespace, "-o", "yaml"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert edited.returncode == 0, edited.stderr
    managers = _managers(sandbox, namespace)
    assert managers[("kubectl-edit", "Update", "")] == {"f:spec": {"f:replicas": {}}}
    assert "f:replicas" not in managers[("kubectl", "Apply", "")]["f:spec"]
