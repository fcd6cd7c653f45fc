"""Small things a client notices: what a DELETE answers, error bodies byte for byte, event names,
`kubectl get endpoints`' column, the field-selector refusal — as the real API server has them
(docs/sandbox.md "API server").
"""

from __future__ import annotations

import json
import re
import time
import urllib.request
from datetime import datetime
from urllib.error import HTTPError

import pytest
from api_helpers import configmap
from kubelet_helpers import container, core, pod, wait_for
from kubernetes import client
from test_kubectl_api import kubectl

pytestmark = [pytest.mark.sandbox, pytest.mark.requires("kubectl")]


def _service(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": {"ports": [{"port": 80}]}}


def test_deleting_a_service_or_service_account_answers_the_object(sandbox, namespace) -> None:
    api = core(sandbox)
    api.create_namespaced_service(namespace, _service("web"))
    deleted = api.delete_namespaced_service("web", namespace)  # v37 raised on a Status here
    assert isinstance(deleted, client.V1Service)
    assert deleted.metadata.name == "web"
    assert deleted.spec.cluster_ip.startswith("127.20.")
    api.create_namespaced_service_account(namespace, {"metadata": {"name": "robot"}})
    assert api.delete_namespaced_service_account("robot", namespace).metadata.name == "robot"
    # kinds without ReturnDeletedObject answer a Success Status; core kinds' details have no group
    api.create_namespaced_config_map(namespace, configmap("c"))
    answer = api.delete_namespaced_config_map("c", namespace)
    assert answer["status"] == "Success"
    assert set(answer["details"]) == {"name", "kind", "uid"}
    assert answer["details"]["kind"] == "configmaps"
    out = kubectl(sandbox, "delete", "-n", namespace, "sa", "default").stdout
    assert out == 'serviceaccount "default" deleted\n'


def test_an_error_body_is_the_real_api_servers_byte_for_byte(sandbox, namespace) -> None:
    url = f"{sandbox.url}/api/v1/namespaces/{namespace}/pods/nope"
    with pytest.raises(HTTPError) as missing:
        urllib.request.urlopen(url, timeout=10)
    assert missing.value.code == 404
    assert missing.value.read() == (
        b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods \\"nope\\" not found",'
        b'"reason":"NotFound","details":{"name":"nope","kind":"pods"},"code":404}\n'
    )
    refused = kubectl(sandbox, "get", "pods", "-n", namespace, "--field-selector", "spec.foo=1", check=False)
    assert refused.stderr.strip().endswith("field label not supported: spec.foo")
    generic = kubectl(sandbox, "get", "cm", "-n", namespace, "--field-selector", "data.x=1", check=False)
    assert generic.stderr.strip().endswith(
        '"data.x" is not a known field selector: only "metadata.name", "metadata.namespace"'
    )


def test_event_names_carry_their_creation_time_and_list_in_order(sandbox, namespace) -> None:
    api = core(sandbox)
    before = time.time_ns()
    api.create_namespaced_pod(namespace, pod("ev", container("app", image="python", command=["python", "-c", "1"])))

    def events() -> list:
        return [e for e in api.list_namespaced_event(namespace).items if e.involved_object.name == "ev"]

    seen = wait_for(lambda: (found := events()) and len(found) >= 4 and found, timeout=30, message="4 events")
    stamps = []
    for event in seen:
        match = re.fullmatch(r"ev\.([0-9a-f]+)", event.metadata.name)
        assert match, event.metadata.name
        stamps.append(int(match.group(1), 16))
    assert before <= stamps[0] <= time.time_ns()
    assert stamps == sorted(stamps)  # the list (name order) is the order they happened
    reasons = [e.reason for e in seen]
    assert reasons.index("Scheduled") < reasons.index("Created") < reasons.index("Started")
    listed = kubectl(sandbox, "get", "events", "-n", namespace, "-o", "custom-columns=NAME:.metadata.name").stdout
    assert [line for line in listed.split()[1:] if line.startswith("ev.")] == [e.metadata.name for e in seen]
    first = datetime.fromisoformat(seen[0].first_timestamp.isoformat())
    assert abs(first.timestamp() - stamps[0] / 1e9) < 2


def test_kubectl_get_endpoints_shows_its_endpoints_column(sandbox, namespace) -> None:
    api = core(sandbox)
    for name in ("manual", "empty"):  # selectorless: the endpoints are the user's to write
        api.create_namespaced_service(namespace, _service(name))
    api.create_namespaced_endpoints(
        namespace,
        {
            "metadata": {"name": "manual"},
            "subsets": [
                {
                    "addresses": [{"ip": f"127.1.2.{i}"} for i in range(1, 4)],
                    "notReadyAddresses": [{"ip": "127.1.2.9"}],
                    "ports": [{"port": 8080}, {"port": 9090}],
                }
            ],
        },
    )
    api.create_namespaced_endpoints(namespace, {"metadata": {"name": "empty"}})
    rows = kubectl(sandbox, "get", "endpoints", "-n", namespace).stdout.splitlines()
    assert rows[0].split() == ["NAME", "ENDPOINTS", "AGE"]
    cells = {row.split()[0]: row.split(None, 1)[1].rsplit(None, 1)[0].strip() for row in rows[1:]}
    assert cells == {
        "empty": "<none>",
        "manual": "127.1.2.1:8080,127.1.2.2:8080,127.1.2.3:8080 + 3 more...",
    }
    raw = json.loads(kubectl(sandbox, "get", "--raw", f"/api/v1/namespaces/{namespace}/endpoints/manual").stdout)
    assert raw["kind"] == "Endpoints"
