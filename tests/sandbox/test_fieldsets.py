"""Field sets and managedFields without a server: the FieldsV1 shapes, merges, prunes and conflicts."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from api_helpers import deployment

from nonstop.sandbox.apierrors import ApiError
from nonstop.sandbox.fieldschema import rules_for
from nonstop.sandbox.fieldsets import compare, field_set, merge, path_string, paths, to_fields_v1
from nonstop.sandbox.kinds import require
from nonstop.sandbox.managedfields import apply_config, from_user_agent, track_update

DEPLOYMENTS = require("apps", "v1", "deployments")
RULES = rules_for(DEPLOYMENTS)


def _entries(obj: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(e["manager"], e["operation"]): e for e in obj["metadata"].get("managedFields", [])}


def test_an_applied_deployment_owns_its_leaves_and_keyed_items_in_fields_v1() -> None:
    config = deployment("web")
    config["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "A", "value": "1"}]
    owned = to_fields_v1(field_set({k: v for k, v in config.items() if k not in ("apiVersion", "kind")}, RULES))
    spec = owned["f:spec"]
    assert spec["f:selector"] == {}  # a label selector is atomic
    container = spec["f:template"]["f:spec"]["f:containers"]['k:{"name":"web"}']
    assert container["."] == {}
    assert container["f:ports"] == {'k:{"containerPort":8080,"protocol":"TCP"}': {".": {}, "f:containerPort": {}}}
    assert container["f:env"] == {'k:{"name":"A"}': {".": {}, "f:name": {}, "f:value": {}}}
    assert owned["f:metadata"] == {"f:labels": {"f:app": {}}, "f:name": {}}


def test_compare_reports_added_subtrees_and_modified_leaves() -> None:
    old = deployment("web")
    new = copy.deepcopy(old)
    new["spec"]["replicas"] = 3
    new["spec"]["template"]["spec"]["containers"].append({"name": "side", "image": "x"})
    added, modified, removed = compare(old, new, RULES)
    assert [path_string(p) for p in paths(modified)] == [".spec.replicas"]
    assert {path_string(p) for p in paths(added)} == {
        '.spec.template.spec.containers[name="side"]',
        '.spec.template.spec.containers[name="side"].image',
        '.spec.template.spec.containers[name="side"].name',
    }
    assert removed == {}


def test_merge_keeps_live_items_the_configuration_does_not_name() -> None:
    live = {"env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}
    config = {"env": [{"name": "C", "value": "3"}, {"name": "A", "value": "9"}]}
    rules = rules_for(require("", "v1", "pods"))
    merged = merge(
        {"spec": {"containers": [{"name": "c", **live}]}}, {"spec": {"containers": [{"name": "c", **config}]}}, rules
    )
    assert merged["spec"]["containers"][0]["env"] == [
        {"name": "C", "value": "3"},
        {"name": "A", "value": "9"},
        {"name": "B", "value": "2"},
    ]


def test_an_update_moves_a_changed_field_to_its_manager() -> None:
    created = deployment("web")
    track_update(DEPLOYMENTS, None, created, "kubectl-create")
    create_entry = _entries(created)[("kubectl-create", "Update")]
    assert "." in create_entry["fieldsV1"]["f:metadata"]["f:labels"]  # a map the create added is owned whole
    assert "." not in create_entry["fieldsV1"]["f:spec"]  # spec exists in the kind's zero value
    scaled = copy.deepcopy(created)
    scaled["spec"]["replicas"] = 5
    track_update(DEPLOYMENTS, created, scaled, "kubectl-scale")
    entries = _entries(scaled)
    assert entries[("kubectl-scale", "Update")]["fieldsV1"] == {"f:spec": {"f:replicas": {}}}
    assert "f:replicas" not in entries[("kubectl-create", "Update")]["fieldsV1"]["f:spec"]


def test_an_apply_conflict_names_each_manager_and_field_as_the_apiserver_does() -> None:
    live = apply_config(DEPLOYMENTS, None, deployment("web", replicas=2), "alice", force=False)
    changed = deployment("web", replicas=3, image="nonstop/sample-app:v2")
    with pytest.raises(ApiError) as err:
        apply_config(DEPLOYMENTS, live, changed, "bob", force=False)
    assert err.value.code == 409
    assert err.value.message == (
        'Apply failed with 2 conflicts: conflicts with "alice":\n'
        "- .spec.replicas\n"
        '- .spec.template.spec.containers[name="web"].image'
    )
    assert err.value.details == {
        "causes": [
            {"reason": "FieldManagerConflict", "message": 'conflict with "alice"', "field": ".spec.replicas"},
            {
                "reason": "FieldManagerConflict",
                "message": 'conflict with "alice"',
                "field": '.spec.template.spec.containers[name="web"].image',
            },
        ]
    }
    forced = apply_config(DEPLOYMENTS, live, changed, "bob", force=True)
    alice = _entries(forced)[("alice", "Apply")]["fieldsV1"]["f:spec"]
    assert "f:replicas" not in alice
    assert forced["spec"]["replicas"] == 3


def test_a_field_the_only_owner_stops_applying_is_removed_a_shared_one_stays() -> None:
    config = deployment("web")
    config["metadata"]["labels"]["team"] = "a"
    live = apply_config(DEPLOYMENTS, None, config, "alice", force=False)
    live = apply_config(DEPLOYMENTS, live, deployment("web"), "bob", force=False)  # co-owns all but `team`
    dropped = deployment("web")
    dropped["spec"].pop("replicas")
    after = apply_config(DEPLOYMENTS, live, dropped, "alice", force=False)
    assert "team" not in after["metadata"]["labels"]
    assert after["spec"]["replicas"] == 1  # bob still applies it


def test_the_manager_of_a_request_without_field_manager_is_its_user_agent_prefix() -> None:
    assert from_user_agent("kubectl/v1.32.4 (linux/amd64) kubernetes/59526cd") == "kubectl"
    assert from_user_agent("OpenAPI-Generator/37.0.2/python") == "OpenAPI-Generator"
