"""The rendered workflow's logic, run for real on this machine by `argo_walker`.

Commands the test controls stand in for the cluster side: a `kubectl` that prints a Deployment
and a Service, and a `nonstop` whose `drill` writes the report.json a drill with the chosen
verdict writes, and exits with that exit code (`lint` is stubbed too: its tests belong to lint).
Everything else is real: `sh`, `python3`, and `nonstop workflows plan`, which validates the spec.
The test that runs the real `nonstop drill` on the sandbox is at the end.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from argo_walker import NotEmulated, evaluate_when, run_analysis_job, walk

from workflows.analysis import analysis_template
from workflows.drill_template import drill_template
from workflows.rbac import DRILL_RULES, WORKFLOW_RULES
from workflows.render import render_manifests

ROOT = Path(__file__).resolve().parents[2]
NONSTOP = Path(sys.executable).with_name("nonstop")

DRILL = """\
apiVersion: nonstop.dev/v1alpha1
kind: Drill
metadata:
  name: web-restart
spec:
  target: {name: web, service: web, namespace: shop}
  load: {workers: WORKERS}
  decision: {onFail: rollback}
"""

KUBECTL_SHIM = """#!/bin/sh
echo "$*" >> "$SHIM_LOG/kubectl.log"
case "$*" in
  *deployments.apps/*)
    printf 'apiVersion: apps/v1\\nkind: Deployment\\nmetadata: {name: web}\\n' ;;
  *service/*) printf 'apiVersion: v1\\nkind: Service\\nmetadata: {name: web}\\n' ;;
  *) echo "kubectl shim: unexpected $*" >&2; exit 1 ;;
esac
"""

NONSTOP_SHIM = """#!/bin/sh
case "$1" in
  lint)
    cp "$2" "$SHIM_LOG/linted.yaml"; echo "lint $*" >> "$SHIM_LOG/nonstop.log"; exit 0 ;;
  drill)
    echo "drill $*" >> "$SHIM_LOG/nonstop.log"
    shift
    while [ $# -gt 0 ]; do
      case "$1" in -f) spec="$2"; shift ;; --report-dir) dir="$2"; shift ;; esac
      shift
    done
    cp "$spec" "$SHIM_LOG/drill.yaml"
    if [ -n "$FAKE_VERDICT" ]; then
      printf '{"verdict": "%s", "action": "%s"}' "$FAKE_VERDICT" "$FAKE_ACTION" > "$dir/report.json"
    fi
    exit "$FAKE_EXIT" ;;
  *) exec REAL_NONSTOP "$@" ;;
esac
"""


@pytest.fixture
def shims(tmp_path: Path) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("kubectl", KUBECTL_SHIM), ("nonstop", NONSTOP_SHIM.replace("REAL_NONSTOP", str(NONSTOP)))):
        path = bin_dir / name
        path.write_text(text, encoding="utf-8")
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    (tmp_path / "log").mkdir()
    return tmp_path


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return yaml.safe_load(drill_template(image="unused").to_yaml())


def _env(shims: Path, **fake: str) -> dict[str, str]:
    return {
        **os.environ,
        "PATH": f"{shims / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "SHIM_LOG": str(shims / "log"),
        "FAKE_VERDICT": "",
        "FAKE_ACTION": "",
        "FAKE_EXIT": "0",
        **fake,
    }


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("'pass' == 'pass'", True),
        ("'fail' == 'pass'", False),
        ("'unknown' != 'pass'", True),
        ("0 > 0", False),
        ("3 > 0", True),
        ("2 >= 2 && !('a' == 'b')", True),
        ("'a' == 'b' || 1 < 0", False),
    ],
)
def test_when_subset_evaluates_like_govaluate(expr: str, expected: bool) -> None:
    """The walker's `when` evaluator: quoted strings, numbers, comparisons, && || ! and parentheses."""
    assert evaluate_when(expr) is expected


def test_when_outside_the_subset_is_not_emulated() -> None:
    """A bare word (a govaluate variable) is refused, not guessed."""
    with pytest.raises(NotEmulated):
        evaluate_when("pass == 'pass'")


def test_a_passing_drill_ends_in_promote(template: dict[str, Any], shims: Path) -> None:
    """plan → lint → drill → promote; workers and abort skipped; the spec reaches the drill verbatim."""
    spec = DRILL.replace("WORKERS", "0")
    result = walk(template, {"drill": spec}, env=_env(shims, FAKE_VERDICT="pass", FAKE_ACTION="promoted"))
    assert result.phase == "Succeeded"
    assert result.ran() == ["plan", "lint", "drill", "promote"]
    assert result.step("locust-workers").phase == "Skipped"
    assert result.step("abort").phase == "Skipped"
    assert result.step("drill").outputs == {"verdict": "pass", "action": "promoted", "exit-code": "0"}
    assert "drill web-restart: verdict pass, exit code 0; the drill applied: promoted" in result.step("promote").stdout
    plan = result.step("plan").outputs
    assert (plan["target-kind"], plan["target-name"], plan["target-namespace"], plan["target-service"]) == (
        "Deployment", "web", "shop", "web",
    )  # fmt: skip
    assert plan["workers"] == "0"
    assert int(plan["deadline-seconds"]) > 600
    log = shims / "log"
    assert (log / "drill.yaml").read_text(encoding="utf-8") == spec
    kubectl = (log / "kubectl.log").read_text(encoding="utf-8").splitlines()
    assert kubectl == [
        "get --namespace=shop deployments.apps/web -o yaml",
        "get --namespace=shop service/web -o yaml",
    ]
    assert [d["kind"] for d in yaml.safe_load_all((log / "linted.yaml").read_text(encoding="utf-8"))] == [
        "Deployment", "Service",
    ]  # fmt: skip
    assert "--fail-on never" in (log / "nonstop.log").read_text(encoding="utf-8")


@pytest.mark.parametrize(("exit_code", "verdict", "action"), [(1, "fail", "rolled-back"), (3, "inconclusive", "none")])
def test_a_failing_or_inconclusive_drill_ends_in_abort(
    template: dict[str, Any], shims: Path, exit_code: int, verdict: str, action: str
) -> None:
    """The drill step succeeds (a verdict was reached), abort runs and fails the workflow with the drill's exit code."""
    env = _env(shims, FAKE_VERDICT=verdict, FAKE_ACTION=action, FAKE_EXIT=str(exit_code))
    result = walk(template, {"drill": DRILL.replace("WORKERS", "0")}, env=env)
    assert result.phase == "Failed"
    assert result.ran() == ["plan", "lint", "drill", "abort"]
    assert result.step("drill").phase == "Succeeded"
    assert result.step("promote").phase == "Skipped"
    abort = result.step("abort")
    assert abort.phase == "Failed"
    assert abort.exit_code == exit_code
    assert f"verdict {verdict}, exit code {exit_code}; the drill applied: {action}" in abort.stderr


def test_a_drill_that_could_not_run_fails_at_the_drill_step(template: dict[str, Any], shims: Path) -> None:
    """Exit 2 (nothing changed, no report): the drill step fails, neither promote nor abort runs."""
    result = walk(template, {"drill": DRILL.replace("WORKERS", "0")}, env=_env(shims, FAKE_EXIT="2"))
    assert result.phase == "Failed"
    assert result.ran() == ["plan", "lint", "drill"]
    drill = result.step("drill")
    assert (drill.phase, drill.exit_code) == ("Failed", 2)
    assert drill.outputs == {"verdict": "unknown", "action": "none", "exit-code": "2"}


def test_a_crashed_drill_without_report_still_aborts(template: dict[str, Any], shims: Path) -> None:
    """Exit 1 without report.json (a crash): verdict unknown, so abort runs and the workflow fails."""
    result = walk(template, {"drill": DRILL.replace("WORKERS", "0")}, env=_env(shims, FAKE_EXIT="1"))
    assert result.ran() == ["plan", "lint", "drill", "abort"]
    assert result.step("abort").exit_code == 1
    assert result.phase == "Failed"


def test_an_invalid_spec_stops_at_plan(template: dict[str, Any], shims: Path) -> None:
    """The real `nonstop workflows plan` refuses a bad spec in one sentence; nothing after it runs."""
    bad = DRILL.replace("WORKERS", "0").replace("service: web", "servise: web")
    result = walk(template, {"drill": bad}, env=_env(shims, FAKE_VERDICT="pass"))
    assert result.phase == "Failed"
    assert result.ran() == ["plan"]
    plan = result.step("plan")
    assert plan.exit_code == 2
    assert "field spec.target.service" in plan.stderr
    assert "Traceback" not in plan.stderr
    assert not (shims / "log" / "nonstop.log").exists()


def test_locust_workers_are_daemons_the_walker_does_not_emulate(template: dict[str, Any], shims: Path) -> None:
    """load.workers > 0 makes the workers step run; the walker says so instead of pretending."""
    with pytest.raises(NotEmulated, match="locust-workers"):
        walk(template, {"drill": DRILL.replace("WORKERS", "2")}, env=_env(shims, FAKE_VERDICT="pass"))


@pytest.fixture(scope="module")
def analysis() -> dict[str, Any]:
    return analysis_template(image="unused")


@pytest.mark.parametrize(("exit_code", "phase"), [(0, "Successful"), (1, "Failed"), (3, "Failed"), (2, "Failed")])
def test_analysis_job_exit_code_is_the_gate(analysis: dict[str, Any], shims: Path, exit_code: int, phase: str) -> None:
    """The job runs plan --purpose analysis, then the drill; its exit code decides the measurement."""
    env = _env(shims, FAKE_VERDICT="pass" if exit_code == 0 else "fail", FAKE_EXIT=str(exit_code))
    run = run_analysis_job(analysis, {"rollout": "checkout", "service": "checkout-svc"}, env=env)
    assert (run.exit_code, run.phase) == (exit_code, phase)
    spec = yaml.safe_load((shims / "log" / "drill.yaml").read_text(encoding="utf-8"))
    assert spec["spec"]["target"] == {"kind": "Rollout", "name": "checkout", "service": "checkout-svc", "port": "80"}
    assert spec["spec"]["rollout"] == {"strategy": "external"}


def test_analysis_job_refuses_a_drill_that_would_act(tmp_path: Path) -> None:
    """`nonstop workflows plan --purpose analysis` exits 2 for a spec that would promote or roll back."""
    spec = tmp_path / "drill.yaml"
    spec.write_text(DRILL.replace("WORKERS", "0"), encoding="utf-8")
    done = subprocess.run(
        [str(NONSTOP), "workflows", "plan", "-f", str(spec), "--out", str(tmp_path / "plan"), "--purpose", "analysis"],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "an analysis drill needs target.kind Rollout" in done.stderr
    assert not (tmp_path / "plan").exists()


# --- the real drill on the sandbox ---------------------------------------------------------------


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[tuple[Path, list[Path]]]:
    """`nonstop sandbox up` with the seed's before and after manifests in two namespaces; yields the kubeconfig."""
    kubeconfig = tmp_path / "kubeconfig"
    manifests = []
    for name in ("before", "after"):
        docs = list(yaml.safe_load_all((ROOT / "config" / "examples" / f"{name}.yaml").read_text(encoding="utf-8")))
        for doc in docs:
            doc["metadata"]["namespace"] = name
        path = tmp_path / f"{name}.yaml"
        namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        path.write_text(yaml.safe_dump_all([namespace, *docs]), encoding="utf-8")
        manifests.append(path)
    argv = [str(NONSTOP), "sandbox", "up", "--kubeconfig-out", str(kubeconfig)]
    for path in manifests:
        argv += ["--apply", str(path)]
    log = tmp_path / "sandbox.log"
    with log.open("w", encoding="utf-8") as sink:
        process = subprocess.Popen(argv, stdout=sink, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while not kubeconfig.exists():
                if process.poll() is not None:
                    pytest.fail(f"nonstop sandbox up exited {process.returncode}: {log.read_text(encoding='utf-8')}")
                if time.monotonic() > deadline:
                    pytest.fail("nonstop sandbox up wrote no kubeconfig within 60 s")
                time.sleep(0.1)
            yield kubeconfig, manifests
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


@pytest.mark.sandbox
@pytest.mark.slow
@pytest.mark.requires("kubectl")
@pytest.mark.parametrize(
    ("namespace", "last_step", "phase"), [("after", "promote", "Succeeded"), ("before", "abort", "Failed")]
)
def test_real_drill_on_the_sandbox_ends_in_promote_or_abort(
    template: dict[str, Any], sandbox: tuple[Path, list[Path]], namespace: str, last_step: str, phase: str
) -> None:
    """Fixed app → promote, the seed's original → abort (real kubectl and drill); the Role covers every request made."""
    kubeconfig, _ = sandbox
    spec = {
        "apiVersion": "nonstop.dev/v1alpha1",
        "kind": "Drill",
        "metadata": {"name": f"walk-{namespace}"},
        "spec": {
            "target": {"name": "web", "service": "web", "namespace": namespace},
            "load": {"settleSeconds": 30},
            "budget": {"minRequests": 20},
            "timeoutSeconds": 120,
        },
    }
    path = f"{NONSTOP.parent}{os.pathsep}{os.environ['PATH']}"
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "PATH": path}
    server = yaml.safe_load(kubeconfig.read_text(encoding="utf-8"))["clusters"][0]["cluster"]["server"]
    mark = _request_log(server)["mark"]
    result = walk(template, {"drill": yaml.safe_dump(spec)}, env=env, timeout=600)
    drill = result.step("drill")
    assert result.ran()[-1] == last_step, (result.ran(), drill.exit_code, drill.stdout[-2000:], drill.stderr[-3000:])
    assert result.phase == phase
    assert drill.outputs["verdict"] == ("pass" if last_step == "promote" else "fail")
    # The Role covers every request the workflow made: the drill's (the Python client) against DRILL_RULES,
    # kubectl's (lint step) against the whole Role. Discovery and /version are non-resource URLs; a
    # SelfSubjectAccessReview needs no grant.
    drill_grants = set().union(*(rule.grants() for rule in DRILL_RULES))
    all_grants = drill_grants | set().union(*(rule.grants() for rule in WORKFLOW_RULES))
    made = [r for r in _request_log(server, since=mark)["items"] if not r["resource"].startswith("/")]
    made = [r for r in made if r["resource"] != "selfsubjectaccessreviews"]
    made = [r for r in made if not r["caller"].startswith("nonstop-sandbox")]  # the sandbox's own data plane
    assert made, "the sandbox logged no request of the workflow"
    for record in made:
        resource = record["resource"] + (f"/{record['subresource']}" if record["subresource"] else "")
        triple = (record["group"], resource, record["verb"])
        grants = all_grants if record["caller"].startswith("kubectl") else drill_grants
        assert triple in grants, f"{record['caller']} made {triple}, which the Role does not grant"


def _request_log(server: str, *, since: int = 0) -> dict[str, Any]:
    """The sandbox's request log (its admin endpoint), from entry `since` on."""
    with urllib.request.urlopen(f"{server}/sandbox.nonstop.dev/requests?since={since}", timeout=30) as answer:
        data: dict[str, Any] = json.load(answer)
    return data


@pytest.mark.parametrize("path", ["argocd-postsync-hook.yaml", "cron-workflow.yaml"])
def test_hook_and_cron_run_the_template_with_their_drill(template: dict[str, Any], shims: Path, path: str) -> None:
    """The rendered hook and CronWorkflow, resolved through workflowTemplateRef, run their restart drill to promote."""
    manifest = yaml.safe_load(render_manifests()[path])
    spec = manifest["spec"].get("workflowSpec", manifest["spec"])
    assert spec["workflowTemplateRef"]["name"] == template["metadata"]["name"]
    parameters = {p["name"]: p["value"] for p in spec["arguments"]["parameters"]}
    result = walk(template, parameters, env=_env(shims, FAKE_VERDICT="pass", FAKE_ACTION="promoted"))
    assert result.ran() == ["plan", "lint", "drill", "promote"]
    drill = yaml.safe_load((shims / "log" / "drill.yaml").read_text(encoding="utf-8"))
    assert drill["spec"]["rollout"]["strategy"] == "restart"
    assert drill["spec"]["decision"]["onFail"] == "none"
    kubectl = (shims / "log" / "kubectl.log").read_text(encoding="utf-8").splitlines()
    assert kubectl == ["get deployments.apps/web -o yaml", "get service/web -o yaml"]
