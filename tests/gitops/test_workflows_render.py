"""`nonstop workflows render`: golden files, round trips through Hera and the official client, controller fields."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes.client as k8s
import pytest
import yaml
from hera.workflows import CronWorkflow, Workflow, WorkflowTemplate

from nonstop.spec import parse_drill
from workflows import DRILL_RULES, HOOK_HEADER, POD_GC, WORKFLOW_RULES, WORKFLOW_TTL, render_manifests
from workflows.names import DEFAULT_IMAGE, NON_ROOT_UID, PLAN_DIR, SERVICE_ACCOUNT, WORK_DIR, WORKFLOW_TEMPLATE
from workflows.plan import PLAN_KEYS

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).parent / "golden"
DEPLOY = ROOT / "config" / "deploy"
GOLDEN_OPTIONS: dict[str, Any] = {"image": "registry.example.com/nonstop:test", "namespace": "drills"}
REGEN = os.environ.get("NONSTOP_REGEN_GOLDEN") == "1"


def _regen(target: Path, files: dict[str, str]) -> None:
    for relative, text in files.items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def _docs(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc is not None]


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict[str, Any]]]:
    return {path: _docs(text) for path, text in render_manifests(**GOLDEN_OPTIONS).items()}


def _one(rendered: dict[str, list[dict[str, Any]]], path: str) -> dict[str, Any]:
    (doc,) = rendered[path]
    return doc


def test_golden_files_match_the_render() -> None:
    """The committed golden files are what render writes (NONSTOP_REGEN_GOLDEN=1 rewrites them; CI never)."""
    files = render_manifests(**GOLDEN_OPTIONS)
    if REGEN:
        _regen(GOLDEN, files)
    on_disk = sorted(str(p.relative_to(GOLDEN)) for p in GOLDEN.rglob("*.yaml"))
    assert on_disk == sorted(files)
    for relative, text in files.items():
        assert (GOLDEN / relative).read_text(encoding="utf-8") == text, f"{relative} differs from its golden file"


def test_config_deploy_holds_the_default_render() -> None:
    """config/deploy is `nonstop workflows render` with the defaults, so `kubectl apply -k config/deploy` is current."""
    files = render_manifests()
    if REGEN:
        _regen(DEPLOY, files)
    for relative, text in files.items():
        assert (DEPLOY / relative).read_text(encoding="utf-8") == text, f"config/deploy/{relative} is stale"
    assert DEFAULT_IMAGE in (DEPLOY / "workflow-template.yaml").read_text(encoding="utf-8")


def test_cli_render_writes_every_manifest(tmp_path: Path) -> None:
    """`nonstop workflows render --out DIR` writes the same files render_manifests returns."""
    out = tmp_path / "argo"
    done = subprocess.run(
        [sys.executable, "-m", "nonstop", "workflows", "render", "--out", str(out),
         "--image", "x/nonstop:1", "--namespace", "drills"],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    expected = render_manifests(image="x/nonstop:1", namespace="drills")
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*.yaml")) == sorted(expected)
    assert all((out / rel).read_text(encoding="utf-8") == text for rel, text in expected.items())


def test_cli_render_refuses_an_image_with_spaces(tmp_path: Path) -> None:
    """A bad --image is one sentence and exit 2, nothing written."""
    done = subprocess.run(
        [sys.executable, "-m", "nonstop", "workflows", "render", "--out", str(tmp_path / "o"), "--image", "a b"],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.startswith("error: --image 'a b'")
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "o").exists()


def test_argo_objects_round_trip_through_hera(rendered: dict[str, list[dict[str, Any]]]) -> None:
    """WorkflowTemplate, CronWorkflow and the hook Workflow parse back through Hera's models unchanged."""
    for path, cls in (
        ("workflow-template.yaml", WorkflowTemplate),
        ("cron-workflow.yaml", CronWorkflow),
        ("argocd-postsync-hook.yaml", Workflow),
    ):
        doc = _one(rendered, path)
        parsed = cls.from_dict(doc)
        assert yaml.safe_load(parsed.to_yaml()) == doc, path


def test_rbac_and_job_parse_through_the_official_client(rendered: dict[str, list[dict[str, Any]]]) -> None:
    """RBAC objects and the analysis Job spec validate as the kubernetes client's models and dump back unchanged."""
    models = {"ServiceAccount": k8s.V1ServiceAccount, "Role": k8s.V1Role, "RoleBinding": k8s.V1RoleBinding}
    docs = rendered["rbac.yaml"]
    assert [d["kind"] for d in docs] == ["ServiceAccount", "Role", "RoleBinding"]
    for doc in docs:
        model = models[doc["kind"]].model_validate(doc)
        assert model.model_dump(by_alias=True, exclude_none=True) == doc
    analysis = _one(rendered, "rollouts/analysis-template.yaml")
    job = analysis["spec"]["metrics"][0]["provider"]["job"]
    spec = k8s.V1JobSpec.model_validate(job["spec"])
    assert spec.model_dump(by_alias=True, exclude_none=True) == job["spec"]


def test_role_grants_exactly_the_rules_kept_as_data(rendered: dict[str, list[dict[str, Any]]]) -> None:
    """The Role is DRILL_RULES + WORKFLOW_RULES, nothing else; the binding names the templates' ServiceAccount."""
    sa, role, binding = rendered["rbac.yaml"]
    granted = {
        (g, r, v) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"] for v in rule["verbs"]
    }
    expected = set().union(*(rule.grants() for rule in (*DRILL_RULES, *WORKFLOW_RULES)))
    assert granted == expected
    assert ("argoproj.io", "workflowtaskresults", "create") in granted
    assert ("argoproj.io", "workflowtaskresults", "patch") in granted
    assert not any(v in ("*", "escalate", "bind", "impersonate") or r == "*" or r == "secrets" for _, r, v in granted)
    assert not any(rule.api_group == "authorization.k8s.io" for rule in DRILL_RULES), "SSAR needs no grant"
    assert sa["metadata"]["name"] == SERVICE_ACCOUNT
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": "drills"}]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": role["metadata"]["name"],
    }


def _refs(node: Any) -> set[str]:
    if isinstance(node, str):
        return set(re.findall(r"\{\{\s*([^{}]+?)\s*\}\}", node))
    if isinstance(node, dict):
        return set().union(*(_refs(v) for v in node.values())) if node else set()
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node)) if node else set()
    return set()


def test_workflow_template_is_wired_as_argo_reads_it(rendered: dict[str, list[dict[str, Any]]]) -> None:
    """Every reference resolves, the drill step is never retried, deadlines, resources and the SA are set."""
    wt = _one(rendered, "workflow-template.yaml")
    spec = wt["spec"]
    templates = {t["name"]: t for t in spec["templates"]}
    assert wt["metadata"] == {
        "name": WORKFLOW_TEMPLATE,
        "namespace": "drills",
        "labels": {"app.kubernetes.io/name": "nonstop"},
    }
    assert spec["serviceAccountName"] == SERVICE_ACCOUNT
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert "retryStrategy" not in spec
    main = templates[spec["entrypoint"]]
    groups = [[s["name"] for s in group] for group in main["steps"]]
    assert groups == [["plan"], ["lint"], ["locust-workers"], ["drill"], ["promote", "abort"]]
    workflow_params = {p["name"] for p in spec["arguments"]["parameters"]}
    declared_outputs: dict[str, set[str]] = {}
    for group in main["steps"]:
        for step in group:
            template = templates[step["template"]]
            for ref in _refs(step):
                kind, _, rest = ref.partition(".")
                if kind == "workflow":
                    assert rest == "name" or rest.removeprefix("parameters.") in workflow_params, ref
                else:
                    assert kind == "steps", ref
                    name, _, output = rest.partition(".outputs.parameters.")
                    assert output in declared_outputs.get(name, set()), f"{ref} is not an earlier step's output"
            inputs = {p["name"] for p in template.get("inputs", {}).get("parameters", [])}
            assert {a["name"] for a in step.get("arguments", {}).get("parameters", [])} == inputs, step["name"]
            for ref in _refs(template):
                assert ref == "workflow.name" or ref.removeprefix("inputs.parameters.") in inputs, (
                    template["name"],
                    ref,
                )
            resources = template["container"]["resources"]
            assert resources["requests"]["cpu"], template["name"]
            assert resources["requests"]["memory"], template["name"]
            declared_outputs[step["name"]] = {p["name"] for p in template.get("outputs", {}).get("parameters", [])}
    assert declared_outputs["plan"] == set(PLAN_KEYS)
    assert all(p["valueFrom"]["path"] == f"{PLAN_DIR}/{p['name']}" for p in templates["plan"]["outputs"]["parameters"])
    drill = templates["drill"]
    assert "retryStrategy" not in drill, "the rollout step must never be retried"
    assert drill["activeDeadlineSeconds"] == "{{inputs.parameters.deadline-seconds}}"
    assert {p["name"]: p["valueFrom"]["path"] for p in drill["outputs"]["parameters"]} == {
        "verdict": f"{WORK_DIR}/verdict", "action": f"{WORK_DIR}/action", "exit-code": f"{WORK_DIR}/exit-code",
    }  # fmt: skip
    assert templates["lint"]["retryStrategy"]["limit"] == 2
    # Argo: OnError retries errors (lost pod, init/wait failure), never a main container's non-zero exit.
    assert templates["lint"]["retryStrategy"]["retryPolicy"] == "OnError", "a failed lint gate must stay failed"
    assert "expression" not in templates["lint"]["retryStrategy"]
    assert [name for name, t in templates.items() if "retryStrategy" in t] == ["lint"]
    assert templates["locust-worker"]["daemon"] is True
    steps = {s["name"]: s for group in main["steps"] for s in group}
    assert steps["locust-workers"]["withSequence"] == {"count": "{{steps.plan.outputs.parameters.workers}}"}
    assert steps["promote"]["when"] == "'{{steps.drill.outputs.parameters.verdict}}' == 'pass'"
    assert steps["abort"]["when"] == "'{{steps.drill.outputs.parameters.verdict}}' != 'pass'"
    assert all(t["container"]["image"] == GOLDEN_OPTIONS["image"] for t in templates.values() if "container" in t)


def test_every_workflow_is_deleted_after_it_ends(rendered: dict[str, list[dict[str, Any]]]) -> None:
    """ttlStrategy and podGC on the template (every Workflow from it) and on the hook's and schedule's own spec."""
    specs = {
        "workflow-template.yaml": _one(rendered, "workflow-template.yaml")["spec"],
        "argocd-postsync-hook.yaml": _one(rendered, "argocd-postsync-hook.yaml")["spec"],
        "cron-workflow.yaml": _one(rendered, "cron-workflow.yaml")["spec"]["workflowSpec"],
    }
    for path, spec in specs.items():
        ttl = spec["ttlStrategy"]
        assert ttl == WORKFLOW_TTL, path
        assert set(ttl) == {"secondsAfterSuccess", "secondsAfterFailure"}, "Argo's TTLStrategy fields"
        assert all(isinstance(v, int) and v > 0 for v in ttl.values()), path
        # Kept long enough for Argo CD to see a hook finish, and a failure outlives a weekend.
        assert ttl["secondsAfterSuccess"] >= 3600
        assert ttl["secondsAfterFailure"] >= 3 * 24 * 3600
        assert spec["podGC"] == POD_GC, path
        assert spec["podGC"]["strategy"] in {
            "OnPodCompletion",
            "OnPodSuccess",
            "OnWorkflowCompletion",
            "OnWorkflowSuccess",
        }


def test_the_postsync_hook_is_an_opt_in() -> None:
    """No kustomization installs the hook; its file says that adopting it restarts the target on every sync."""
    files = render_manifests(**GOLDEN_OPTIONS)
    for path, text in files.items():
        if path.endswith("kustomization.yaml"):
            assert "argocd-postsync-hook.yaml" not in _docs(text)[0]["resources"], path
    header = files["argocd-postsync-hook.yaml"].split("apiVersion:", 1)[0]
    assert HOOK_HEADER in header
    assert "EVERY sync" in header
    assert "opt-in" in header


def _drill_argument(workflow_spec: dict[str, Any]) -> dict[str, Any]:
    (param,) = workflow_spec["arguments"]["parameters"]
    assert param["name"] == "drill"
    return yaml.safe_load(param["value"])


def test_argocd_hook_has_what_argo_cd_reads(rendered: dict[str, list[dict[str, Any]]]) -> None:
    """PostSync hook: generateName (a Workflow per sync), hook annotations, template ref, restart drill, onFail none."""
    hook = _one(rendered, "argocd-postsync-hook.yaml")
    assert hook["apiVersion"] == "argoproj.io/v1alpha1"
    assert hook["kind"] == "Workflow"
    meta = hook["metadata"]
    assert "name" not in meta
    assert meta["generateName"].endswith("-")
    assert meta["annotations"]["argocd.argoproj.io/hook"] == "PostSync"
    policies = set(meta["annotations"]["argocd.argoproj.io/hook-delete-policy"].split(","))
    assert policies <= {"HookSucceeded", "HookFailed", "BeforeHookCreation"}
    assert policies
    assert hook["spec"]["workflowTemplateRef"] == {"name": WORKFLOW_TEMPLATE}
    drill = parse_drill(_drill_argument(hook["spec"]), source="hook")
    assert drill.spec.rollout.strategy == "restart"
    assert drill.spec.decision.on_fail == "none"


def test_cron_workflow_forbids_overlap(rendered: dict[str, list[dict[str, Any]]]) -> None:
    """The resilience CronWorkflow: named, scheduled, Forbid, from the template, a restart drill."""
    cron = _one(rendered, "cron-workflow.yaml")
    assert cron["kind"] == "CronWorkflow"
    assert cron["metadata"]["name"] == "nonstop-resilience-drill"
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    (schedule,) = cron["spec"]["schedules"]
    assert len(schedule.split()) == 5
    assert cron["spec"]["workflowSpec"]["workflowTemplateRef"] == {"name": WORKFLOW_TEMPLATE}
    drill = parse_drill(_drill_argument(cron["spec"]["workflowSpec"]), source="cron")
    assert drill.spec.rollout.strategy == "restart"


def test_analysis_template_has_what_argo_rollouts_reads(rendered: dict[str, list[dict[str, Any]]]) -> None:
    """Job metric: one run, no tolerated failure, no Job retry; every {{args.x}} declared; the drill only observes."""
    analysis = _one(rendered, "rollouts/analysis-template.yaml")
    assert analysis["apiVersion"] == "argoproj.io/v1alpha1"
    assert analysis["kind"] == "AnalysisTemplate"
    (metric,) = analysis["spec"]["metrics"]
    assert metric["count"] == 1
    assert metric["failureLimit"] == 0
    job = metric["provider"]["job"]
    assert job["spec"]["backoffLimit"] == 0
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["serviceAccountName"] == SERVICE_ACCOUNT
    assert pod["securityContext"]["runAsNonRoot"] is True
    declared = {a["name"] for a in analysis["spec"]["args"]}
    used = {ref.removeprefix("args.") for ref in _refs(analysis["spec"]["metrics"])}
    assert used == declared
    (container,) = pod["containers"]
    (env,) = container["env"]
    text = env["value"]
    for name, value in {"rollout": "web", "service": "web", "port": "80"}.items():
        text = text.replace("{{args." + name + "}}", value)
    drill = parse_drill(yaml.safe_load(text), source="analysis")
    assert (drill.spec.target.kind, drill.spec.rollout.strategy) == ("Rollout", "external")
    assert (drill.spec.decision.on_pass, drill.spec.decision.on_fail) == ("none", "none")
    assert job["spec"]["activeDeadlineSeconds"] > drill.spec.timeout_seconds


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
@pytest.mark.parametrize("folder", ["", "rollouts"])
def test_kubectl_kustomize_builds_config_deploy_offline(folder: str, tmp_path: Path) -> None:
    """`kubectl kustomize config/deploy[/rollouts]` builds with no cluster and yields the rendered objects."""
    env = {**os.environ, "KUBECONFIG": str(tmp_path / "no-such-kubeconfig")}
    done = subprocess.run(
        ["kubectl", "kustomize", str(DEPLOY / folder)], capture_output=True, text=True, check=False, timeout=60, env=env
    )
    assert done.returncode == 0, done.stderr
    built = {(d["kind"], d["metadata"].get("name")) for d in _docs(done.stdout)}
    files = render_manifests()
    listed = _docs(files[f"{folder}/kustomization.yaml".lstrip("/")])[0]["resources"]
    expected = {
        (d["kind"], d["metadata"].get("name")) for rel in listed for d in _docs(files[f"{folder}/{rel}".lstrip("/")])
    }
    assert built == expected
    assert len(built) == (4 if folder == "" else 1)


def test_docs_list_every_rbac_rule() -> None:
    """docs/gitops.md's RBAC table names every rule's group, resources and verbs (no drift from rbac.py)."""
    rows = {
        tuple(cell.strip() for cell in line.strip("|").split("|")[:3])
        for line in (ROOT / "docs" / "gitops.md").read_text(encoding="utf-8").splitlines()
        if line.startswith("| ")
    }
    for rule in (*DRILL_RULES, *WORKFLOW_RULES):
        group = rule.api_group or '""'
        assert (group, ", ".join(rule.resources), ", ".join(rule.verbs)) in rows, rule


def test_step_image_dockerfile_ships_what_the_steps_run() -> None:
    """The Dockerfile copies every package and build file, installs a checksummed kubectl, runs as non-root."""
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    copied = {word for line in text.splitlines() if line.startswith("COPY ") for word in line.split()[1:-1]}
    needed = {"pyproject.toml", "setup.py", "README.md", "nonstop", "checks", "workflows", "locustfiles", "config"}
    assert needed <= copied
    assert "pip install --no-cache-dir --no-deps --no-build-isolation ." in text
    assert "sha256sum -c" in text
    assert "/usr/local/bin/kubectl" in text
    user = [line for line in text.splitlines() if line.startswith("USER ")]
    assert user == [f"USER {NON_ROOT_UID}:{NON_ROOT_UID}"], "the rendered pods' runAsUser is the image's user"


def test_step_image_builds_the_same_from_the_same_commit() -> None:
    """Base pinned by digest, output unbuffered, every Python package installed from the hashed lock file."""
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    (base,) = re.findall(r"^ARG BASE_IMAGE=(\S+)$", text, flags=re.MULTILINE)
    assert re.fullmatch(r"python:3\.11-slim@sha256:[0-9a-f]{64}", base), base
    assert re.findall(r"^FROM (\S+)", text, flags=re.MULTILINE) == ["${BASE_IMAGE}"]
    env = re.search(r"^ENV PYTHONUNBUFFERED=1\b", text, flags=re.MULTILINE)
    assert env, "Python output must reach the pod log as it is written"
    assert "COPY config/deploy/requirements.lock /tmp/requirements.lock" in text
    assert "pip install --no-cache-dir --require-hashes --no-deps -r /tmp/requirements.lock" in text
    assert text.index("--require-hashes") < text.index("--no-build-isolation ."), "the lock installs first"


def _locked() -> dict[str, tuple[str, int]]:
    """Package name → (pinned version, number of hashes) from config/deploy/requirements.lock."""
    locked: dict[str, tuple[str, int]] = {}
    name = ""
    for line in (DEPLOY / "requirements.lock").read_text(encoding="utf-8").splitlines():
        if match := re.match(r"^([A-Za-z0-9._-]+)==(\S+) \\$", line):
            name = re.sub(r"[-_.]+", "-", match[1]).lower()
            locked[name] = (match[2], 0)
        elif line.strip().startswith("--hash=sha256:") and name:
            version, count = locked[name]
            locked[name] = (version, count + 1)
        else:
            assert not line.strip() or line.lstrip().startswith("#"), f"unexpected line in the lock: {line!r}"
    return locked


def test_lock_file_pins_every_runtime_and_build_dependency_with_hashes() -> None:
    """Each dependency and build requirement of pyproject.toml is locked at a version it allows, with hashes."""
    import tomllib

    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    locked = _locked()
    assert all(count > 0 for _, count in locked.values()), "every pin carries at least one hash"
    wanted = [*project["project"]["dependencies"], *project["build-system"]["requires"]]
    for text in wanted:
        requirement = Requirement(text)
        name = re.sub(r"[-_.]+", "-", requirement.name).lower()
        assert name in locked, f"{requirement.name} is not in config/deploy/requirements.lock: regenerate it"
        version, _ = locked[name]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{requirement.name}=={version} in the lock does not satisfy {requirement.specifier}: regenerate it"
        )


def test_drill_rules_are_the_drills_own_permission_list() -> None:
    """DRILL_RULES grant exactly nonstop.permissions over every drill shape, no more."""
    from nonstop.strategies import required_permissions
    from workflows.rbac import drill_permissions

    def triple(p: Any) -> tuple[str, str, str]:
        return (p.group, f"{p.resource}/{p.subresource}" if p.subresource else p.resource, p.verb)

    granted = set().union(*(rule.grants() for rule in DRILL_RULES))
    assert granted == {triple(p) for p in drill_permissions()}
    restart = required_permissions(
        kind="Deployment", strategy="restart", on_pass="promote", on_fail="none", terminate_old_pods=True
    )
    observe_rollout = required_permissions(
        kind="Rollout", strategy="external", on_pass="none", on_fail="none", terminate_old_pods=True
    )
    assert {triple(p) for p in (*restart, *observe_rollout)} <= granted
    assert ("", "pods/eviction", "create") in granted
    assert ("argoproj.io", "rollouts/status", "patch") in granted
