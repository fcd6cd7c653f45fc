"""The real Argo Workflows controller runs the rendered `nonstop-drill` WorkflowTemplate end to end
(`sandbox up --control-plane real --with argo-workflows`).

One sandbox for the module: the real control plane, our node, workflow-controller built from its Go
module (CRDs and RBAC from its release's manifests), its executor image mapped to the built
`argoexec`. Each test gets a namespace with what `nonstop workflows render` writes, applied with
`kubectl apply -k`, and the seed's fixed or original Deployment; then the Workflow `nonstop workflows
submit` would POST to the Argo Server is created through the Kubernetes API (no Argo Server here).
The controller makes the step pods (init + wait + main, `argoexec emissary`), fans out two Locust
workers with `withSequence`, passes output parameters from step to step, and the workflow ends
Succeeded (promote) or Failed (abort) with the drill's verdict among the drill step's outputs.
The rendered CronWorkflow is created too, its schedule set to every minute; its controller-made
Workflow runs the same way.

The one change to the rendered manifests: CPU requests are lowered to 100m. With `workers: 2` the
rendered steps request 3 CPUs at once (two workers and the drill, 1 CPU each); the node reports
this machine's CPUs (2 in CI), so the real scheduler would leave the drill Pending.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, config

from nonstop.bundled import config_file
from nonstop.sandbox.real.build import workflows_binary_path
from nonstop.spec import parse_drill
from tests.realcp.sandbox_up import real_sandbox_with, require_built
from workflows.render import render_manifests, write_manifests
from workflows.submit import drill_workflow

pytestmark = [pytest.mark.realcp, pytest.mark.slow]

GROUP, VERSION = "argoproj.io", "v1alpha1"


@pytest.fixture(scope="module")
def sandbox(realcp_binary: Path, pod_network_possible: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    require_built(workflows_binary_path(), "Argo Workflows")
    tmp = tmp_path_factory.mktemp("workflows")
    with real_sandbox_with("argo-workflows", tmp) as kubeconfig:
        api = config.new_client_from_config(config_file=str(kubeconfig))
        yield (kubeconfig, api, tmp)
        api.close()


def _kubectl(kubeconfig: Path, *args: str) -> str:
    done = subprocess.run(
        ["kubectl", "--kubeconfig", str(kubeconfig), *args], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, f"kubectl {' '.join(args)}: {done.stderr}"
    return done.stdout


def _install(kubeconfig: Path, namespace: str, out: Path) -> None:
    """`nonstop workflows render`, CPU requests lowered to 100m (see the module docstring), `kubectl apply -k`."""
    write_manifests(out, namespace=namespace)
    template_path = out / "workflow-template.yaml"
    template = yaml.safe_load(template_path.read_text())
    for step in template["spec"]["templates"]:
        requests = ((step.get("container") or {}).get("resources") or {}).get("requests") or {}
        if "cpu" in requests:
            requests["cpu"] = "100m"
    template_path.write_text(yaml.safe_dump(template))
    _kubectl(kubeconfig, "apply", "-k", str(out))


def _drill_yaml(drill: str, namespace: str) -> str:
    """A demo drill aimed at the namespace's `web`, with two Locust workers and no sandbox settings."""
    spec = yaml.safe_load(config_file(drill).read_text())
    spec["metadata"]["name"] = f"wf-{spec['metadata']['name']}"
    spec["spec"].pop("sandbox", None)
    spec["spec"]["target"]["namespace"] = namespace
    spec["spec"]["load"]["workers"] = 2
    return str(yaml.safe_dump(spec))


def _submitted(drill: str) -> Callable[[str], dict[str, Any]]:
    """The Workflow `nonstop workflows submit` would POST for the demo drill, in a namespace."""

    def body(namespace: str) -> dict[str, Any]:
        text = _drill_yaml(drill, namespace)
        workflow = drill_workflow(parse_drill(yaml.safe_load(text), source=drill), drill_yaml=text, namespace=namespace)
        return dict(workflow.build().model_dump(by_alias=True, exclude_none=True, mode="json"))

    return body


def _created(workflow_for: Callable[[str], dict[str, Any]]) -> Callable[[Any, str], str]:
    """Starts a run by creating the Workflow `workflow_for` builds; returns its name."""

    def start(custom: Any, namespace: str) -> str:
        body = workflow_for(namespace)
        return str(
            custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "workflows", body)["metadata"]["name"]
        )

    return start


def _run(sandbox: Any, start: Callable[[Any, str], str], manifest: str) -> tuple[dict[str, Any], list[Any], str]:
    """Install, apply the Deployment, `start` the Workflow; (the finished Workflow, its pods, the log tail)."""
    kubeconfig, api, tmp = sandbox
    core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
    namespace = f"wf-{uuid.uuid4().hex[:6]}"
    core.create_namespace({"metadata": {"name": namespace}})
    _install(kubeconfig, namespace, tmp / namespace)
    _kubectl(kubeconfig, "apply", "-n", namespace, "-f", str(config_file(manifest)))
    _kubectl(kubeconfig, "rollout", "status", "deployment/web", "-n", namespace, "--timeout=120s")
    name = start(custom, namespace)
    deadline = time.monotonic() + 420
    while True:
        workflow = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, "workflows", name)
        if (workflow.get("status") or {}).get("phase") in ("Succeeded", "Failed", "Error"):
            break
        assert time.monotonic() < deadline, json.dumps(workflow.get("status"))[:4000]
        time.sleep(1)
    pods = list(core.list_namespaced_pod(namespace, label_selector=f"workflows.argoproj.io/workflow={name}").items)
    logs = []
    for pod in pods:  # the drill's (the Locust master's) log, then each worker's tail
        role = pod.metadata.labels.get("nonstop.dev/locust-role")
        if role == "master" or "locust-worker" in pod.metadata.name:
            try:
                text = core.read_namespaced_pod_log(pod.metadata.name, namespace, container="main") or ""
            except client.ApiException as exc:  # a worker's pod may be deleted by now
                text = f"(no log: {exc.status} {exc.reason})"
            logs.append(f"--- {pod.metadata.name} ---\n{text[-4000 if role == 'master' else -1500 :]}")
    return workflow, pods, "\n".join(logs)


def _nodes(workflow: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The workflow's pod nodes by display name (`locust-workers(0:0)`, `drill`, …)."""
    nodes = workflow["status"]["nodes"].values()
    return {str(n["displayName"]): n for n in nodes if n.get("type") == "Pod"}


def _summary(workflow: dict[str, Any]) -> str:
    """Each node's name, phase and message: what an assertion on the Workflow's phase shows."""
    nodes = (workflow.get("status") or {}).get("nodes") or {}
    return json.dumps({n["displayName"]: [n.get("phase"), n.get("message")] for n in nodes.values()})


def _expect_phase(workflow: dict[str, Any], phase: str, log: str) -> None:
    """Fail with every node's phase and message and the pods' logs, in full (an assert would cut them)."""
    if workflow["status"]["phase"] != phase:
        pytest.fail(f"workflow {workflow['status']['phase']}, not {phase}\n{_summary(workflow)}\npod logs:\n{log}")


def _outputs(node: dict[str, Any]) -> dict[str, str]:
    return {p["name"]: p.get("value", "") for p in (node.get("outputs") or {}).get("parameters") or []}


@pytest.mark.timeout(600)
def test_the_fixed_manifest_succeeds_with_two_workers_and_a_pass_verdict(sandbox: Any) -> None:
    started = time.monotonic()
    workflow, _pods, log = _run(sandbox, _created(_submitted("drills/demo-after.yaml")), "examples/after.yaml")
    nodes = _nodes(workflow)
    _expect_phase(workflow, "Succeeded", log)
    assert _outputs(nodes["drill"]) == {"verdict": "pass", "action": "promoted", "exit-code": "0"}
    assert _outputs(nodes["plan"])["workers"] == "2"
    workers = sorted(n for n in nodes if n.startswith("locust-workers"))
    assert workers == ["locust-workers(0:0)", "locust-workers(1:1)"], sorted(nodes)
    assert nodes["promote"]["phase"] == "Succeeded"
    assert "abort" not in nodes
    print(f"fixed: workflow Succeeded {time.monotonic() - started:.1f} s after the namespace was made")  # bench (-s)


@pytest.mark.timeout(600)
def test_the_broken_manifest_fails_at_abort_with_a_fail_verdict(sandbox: Any) -> None:
    started = time.monotonic()
    workflow, _pods, log = _run(sandbox, _created(_submitted("drills/demo-before.yaml")), "examples/before.yaml")
    nodes = _nodes(workflow)
    _expect_phase(workflow, "Failed", log)
    outputs = _outputs(nodes["drill"])
    assert outputs["verdict"] == "fail", (outputs, log)
    assert outputs["exit-code"] == "1"
    assert nodes["drill"]["phase"] == "Succeeded"  # the drill reached a verdict; abort carries the outcome
    assert nodes["abort"]["phase"] == "Failed"
    assert "promote" not in nodes
    print(f"broken: workflow Failed {time.monotonic() - started:.1f} s after the namespace was made")  # bench (-s)


@pytest.mark.timeout(600)
def test_the_postsync_hook_workflow_as_argo_cd_creates_it_promotes_the_fixed_manifest(sandbox: Any) -> None:
    """The rendered hook, created as it is (Argo CD applies the object; Argo CD itself does not run here)."""
    hook = yaml.safe_load(render_manifests()["argocd-postsync-hook.yaml"])
    workflow, _pods, log = _run(
        sandbox,
        _created(lambda namespace: {**hook, "metadata": {**hook["metadata"], "namespace": namespace}}),
        "examples/after.yaml",
    )
    nodes = _nodes(workflow)
    _expect_phase(workflow, "Succeeded", log)
    assert _outputs(nodes["drill"]) == {"verdict": "pass", "action": "promoted", "exit-code": "0"}
    assert _outputs(nodes["plan"])["target-namespace"] == ""  # the drill found its namespace in-cluster
    assert not any(n.startswith("locust-workers") for n in nodes)  # no workers asked: the when skipped them


@pytest.mark.timeout(600)
def test_the_rendered_cron_workflow_fires_and_its_workflow_promotes_the_fixed_manifest(sandbox: Any) -> None:
    """The rendered CronWorkflow, its schedule set to `* * * * *` (the one change; the drill it carries
    names no namespace, so it drills `web` where the Workflow runs), created beside the fixed manifest.
    Once its Workflow exists the CronWorkflow is suspended so no second run starts behind the test.
    """
    _, _, tmp = sandbox
    seen: dict[str, Any] = {}

    def from_cron(custom: Any, namespace: str) -> str:
        cron = yaml.safe_load((tmp / namespace / "cron-workflow.yaml").read_text())
        cron["spec"]["schedules"] = ["* * * * *"]
        created = custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "cronworkflows", cron)
        name, started = created["metadata"]["name"], time.monotonic()
        selector = f"workflows.argoproj.io/cron-workflow={name}"
        deadline = started + 150
        while not (
            items := custom.list_namespaced_custom_object(
                GROUP, VERSION, namespace, "workflows", label_selector=selector
            )["items"]
        ):
            assert time.monotonic() < deadline, json.dumps(
                custom.get_namespaced_custom_object(GROUP, VERSION, namespace, "cronworkflows", name).get("status")
            )
            time.sleep(1)
        custom.patch_namespaced_custom_object(
            GROUP, VERSION, namespace, "cronworkflows", name, {"spec": {"suspend": True}}
        )
        seen.update(namespace=namespace, cron=created, workflows=items, waited=time.monotonic() - started)
        return str(items[0]["metadata"]["name"])

    workflow, _pods, log = _run(sandbox, from_cron, "examples/after.yaml")
    nodes = _nodes(workflow)
    assert len(seen["workflows"]) == 1, [w["metadata"]["name"] for w in seen["workflows"]]
    _expect_phase(workflow, "Succeeded", log)
    assert _outputs(nodes["drill"]) == {"verdict": "pass", "action": "promoted", "exit-code": "0"}
    assert _outputs(nodes["plan"])["drill-name"] == "web-resilience"
    custom = client.CustomObjectsApi(sandbox[1])
    cron = custom.get_namespaced_custom_object(
        GROUP, VERSION, seen["namespace"], "cronworkflows", seen["cron"]["metadata"]["name"]
    )
    scheduled = workflow["metadata"]["annotations"]["workflows.argoproj.io/scheduled-time"]
    assert (cron.get("status") or {}).get("lastScheduledTime") == scheduled, (cron.get("status"), scheduled)
    print(  # bench (-s)
        f"cron: Workflow {workflow['metadata']['name']} seen {seen['waited']:.1f} s after the CronWorkflow was created"
        f" ({seen['cron']['metadata']['creationTimestamp']} → {workflow['metadata']['creationTimestamp']},"
        f" scheduled {scheduled}), Succeeded at {workflow['status'].get('finishedAt')}"
    )
