"""The drill spec: CONTRACT.md's fields and defaults, and errors that name the file and field."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from nonstop.errors import SpecError
from nonstop.spec import drill_schema, load_drill, parse_drill

MINIMAL = {
    "apiVersion": "nonstop.dev/v1alpha1",
    "kind": "Drill",
    "metadata": {"name": "web-restart"},
    "spec": {"target": {"name": "web", "service": "web"}},
}


def test_minimal_spec_gets_contract_defaults() -> None:
    drill = parse_drill(MINIMAL, source="d.yaml")
    spec = drill.spec
    assert spec.target.kind == "Deployment"
    assert spec.target.port == 80
    assert spec.rollout.strategy == "restart"
    assert spec.load.users == 10
    assert spec.load.settle_seconds == 60
    assert spec.budget.max_failure_ratio == 0.0
    assert spec.budget.min_requests == 100
    assert spec.ordering.min_serve_after_unready_seconds == 1.0
    assert spec.decision.on_fail == "rollback"
    assert spec.safety.protected_namespaces == ["kube-system", "kube-public", "kube-node-lease"]
    assert spec.sandbox.data_plane == "kube-proxy"
    assert spec.timeout_seconds == 600


def test_unknown_field_names_file_and_path() -> None:
    bad = json.loads(json.dumps(MINIMAL))
    bad["spec"]["load"] = {"usres": 3}
    with pytest.raises(SpecError, match=r"^d\.yaml: field spec\.load\.usres: unknown field"):
        parse_drill(bad, source="d.yaml")


def test_wrong_type_names_the_field() -> None:
    bad = json.loads(json.dumps(MINIMAL))
    bad["spec"]["budget"] = {"maxFailureRatio": "lots"}
    with pytest.raises(SpecError, match=r"field spec\.budget\.maxFailureRatio"):
        parse_drill(bad, source="d.yaml")


def test_image_strategy_requires_an_image() -> None:
    bad = json.loads(json.dumps(MINIMAL))
    bad["spec"]["rollout"] = {"strategy": "image"}
    with pytest.raises(SpecError, match=r"rollout\.image is required"):
        parse_drill(bad, source="d.yaml")


def test_invalid_yaml_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("spec:\n  target: [unclosed\n")
    with pytest.raises(SpecError, match=r"broken\.yaml: invalid YAML at line"):
        load_drill(path)


def test_schema_validates_minimal_and_rejects_unknown_field() -> None:
    schema = drill_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    validator.validate(MINIMAL)
    bad = json.loads(json.dumps(MINIMAL))
    bad["spec"]["surprise"] = 1
    assert list(validator.iter_errors(bad))


def test_schema_command_prints_field_docs() -> None:
    out = subprocess.run([sys.executable, "-m", "nonstop", "schema"], check=True, capture_output=True, text=True).stdout
    schema = json.loads(out)
    props = schema["$defs"]["LoadSpec"]["properties"]
    assert "constant throughput" in props["userRate"]["description"]


@pytest.mark.parametrize("path", sorted(Path(__file__).parents[1].joinpath("config", "drills").glob("*.yaml")))
def test_every_bundled_drill_validates_against_the_schema_and_the_models(path: Path) -> None:
    """`nonstop schema` accepts each drill in config/drills/, and so do the models."""
    import yaml

    validator = jsonschema.Draft202012Validator(drill_schema())
    data = yaml.safe_load(path.read_text())
    assert list(validator.iter_errors(data)) == []
    assert load_drill(path).metadata.name == data["metadata"]["name"]
