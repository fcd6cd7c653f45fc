"""The `nonstop-drill` WorkflowTemplate: plan, lint the live target, run the drill, then promote or abort.

Steps, in order (each a node in the Argo UI)::

    plan ─► lint ─► locust-workers (daemons, only when load.workers > 0) ─► drill ─► promote | abort

- `plan` validates the spec (`nonstop workflows plan`) and exposes the target, the worker count
  and the drill step's deadline as output parameters. A bad spec stops here, nothing changed.
- `lint` fetches the live workload and Service with kubectl and runs `nonstop lint` on them
  (findings are information; `lint-fail-on` can make them a gate). Retried on Argo errors only
  (a lost pod), never on its own non-zero exit: a gate that failed on purpose stays failed.
- `locust-workers` are daemoned pods running `locust --worker`; each finds the drill pod's IP by
  its label and connects to the Locust master the drill runs there. They need no other setting:
  the master sends them the record sink (its port on the same pod IP), the token and the load's
  settings (nonstop/drill/load/workers.py, `ExternalWorkers`). Once the drill pod has finished
  they idle until Argo stops them (bounded by `WORKER_IDLE_SECONDS`): a daemon that exits first
  is a failed node to Argo, even with exit code 0.
- `drill` runs `nonstop drill`, which applies the spec's own decision exactly once (promote,
  rollback, abort or none), and writes the verdict, the action and the exit code to files that
  become output parameters. Never retried: it rolls out.
- `promote` (verdict `pass`) or `abort` (anything else) makes the decision visible: they record
  what the drill did, and `abort` fails the workflow with the drill's exit code, so an Argo CD
  sync that ran it fails too. They act on nothing.
"""

from __future__ import annotations

from typing import Any

from hera.workflows import Container, Env, Parameter, Resources, RetryStrategy, Step, Steps, WorkflowTemplate
from hera.workflows.models import (
    Backoff,
    ContainerPort,
    PodGC,
    PodSecurityContext,
    SecurityContext,
    Sequence,
    TTLStrategy,
    ValueFrom,
)

from workflows.lifetime import POD_GC, WORKFLOW_TTL
from workflows.names import (
    LOCUST_MASTER_PORT,
    LOCUST_ROLE_LABEL,
    PLAN_DIR,
    REPORT_DIR,
    SERVICE_ACCOUNT,
    WORK_DIR,
    WORKFLOW_TEMPLATE,
)
from workflows.plan import PLAN_KEYS
from workflows.security import container_security_context, pod_security_context

__all__ = ["LOCUST_SINK_PORT", "OUTCOME_KEYS", "drill_template"]

OUTCOME_KEYS = ("verdict", "action", "exit-code")
"""Files the drill step writes under WORK_DIR; each is an output parameter of the step."""

PLAN_SCRIPT = f"""set -eu
mkdir -p {WORK_DIR}
printf '%s' "$NONSTOP_DRILL" > {WORK_DIR}/drill.yaml
exec nonstop workflows plan -f {WORK_DIR}/drill.yaml --out {PLAN_DIR}
"""

LINT_SCRIPT = f"""set -eu
mkdir -p {WORK_DIR}
case "$TARGET_KIND" in
  Rollout) workload=rollouts.argoproj.io ;;
  *) workload=deployments.apps ;;
esac
{{
  kubectl get ${{TARGET_NAMESPACE:+--namespace=$TARGET_NAMESPACE}} "$workload/$TARGET_NAME" -o yaml
  echo ---
  kubectl get ${{TARGET_NAMESPACE:+--namespace=$TARGET_NAMESPACE}} "service/$TARGET_SERVICE" -o yaml
}} > {WORK_DIR}/live.yaml
exec nonstop lint {WORK_DIR}/live.yaml --fail-on "$FAIL_ON"
"""

# The exit code decides the step's colour: 0, 1 and 3 reached a verdict (the report exists and the
# decision was applied), so the step succeeds and the promote/abort step carries the outcome;
# 2 (could not run, nothing changed) or anything else fails the step and the workflow here.
DRILL_SCRIPT = f"""set -u
mkdir -p {REPORT_DIR}
printf '%s' "$NONSTOP_DRILL" > {WORK_DIR}/drill.yaml
nonstop drill -f {WORK_DIR}/drill.yaml --report-dir {REPORT_DIR}
code=$?
printf '%s' "$code" > {WORK_DIR}/exit-code
python3 -c '
import json, sys
try:
    with open(sys.argv[1], encoding="utf-8") as f:
        report = json.load(f)
except (OSError, ValueError):
    report = {{}}
with open(sys.argv[2], "w", encoding="utf-8") as f:
    f.write(str(report.get("verdict") or "unknown"))
with open(sys.argv[3], "w", encoding="utf-8") as f:
    f.write(str(report.get("action") or "none"))
' {REPORT_DIR}/report.json {WORK_DIR}/verdict {WORK_DIR}/action
case "$code" in
  0|1|3) exit 0 ;;
  *) exit "$code" ;;
esac
"""

LOCUST_SINK_PORT = LOCUST_MASTER_PORT + 1
"""Port of the drill's record sink, where workers stream every request (token-checked)."""

WORKER_IDLE_SECONDS = 900
"""How long a worker whose drill has finished waits for Argo to stop it before it exits by itself."""

# Workers wait for the drill pod's IP (the pod carries LOCUST_ROLE_LABEL=master), then run a Locust
# worker against it; a worker that loses its master starts again until the drill pod has finished.
# Then it idles until Argo stops it (SIGTERM, when the steps around it end): a daemon pod that exits
# on its own — even with 0 — makes a failed node, and so a failed workflow (the real controller's
# operator.go, seen on it: the fixed manifest's workflow Failed when a worker left first).
# The worker command is all a worker needs: its master forwards the sink address, token and settings.
WORKER_SCRIPT = f"""set -u
selector="workflows.argoproj.io/workflow=$WORKFLOW_NAME,{LOCUST_ROLE_LABEL}=master"
while :; do
  phase=$(kubectl get pods -l "$selector" -o jsonpath='{{.items[0].status.phase}}' 2>/dev/null || true)
  case "$phase" in Succeeded|Failed)
    trap 'exit 0' TERM
    sleep {WORKER_IDLE_SECONDS} &
    wait $!
    exit 0 ;;
  esac
  ip=$(kubectl get pods -l "$selector" -o jsonpath='{{.items[0].status.podIP}}' 2>/dev/null || true)
  if [ -n "$ip" ]; then
    locust --worker --master-host "$ip" --master-port "$LOCUST_MASTER_PORT" -f "$LOCUSTFILE,$STREAM_PLUGIN" || true
  fi
  sleep 2
done
"""

RECORD_SCRIPT = """set -u
echo "drill $DRILL_NAME: verdict $VERDICT, exit code $EXIT_CODE; the drill applied: $ACTION"
"""

ABORT_SCRIPT = """set -u
echo "drill $DRILL_NAME: verdict $VERDICT, exit code $EXIT_CODE; the drill applied: $ACTION" >&2
case "$EXIT_CODE" in
  ''|0|*[!0-9]*) exit 1 ;;
  *) exit "$EXIT_CODE" ;;
esac
"""


def _shell(
    name: str,
    *,
    image: str,
    script: str,
    inputs: list[str],
    env: dict[str, str],
    cpu: str,
    memory: str,
    **extra: Any,
) -> Container:
    """A container template that runs `script` with `sh -c`; env values may reference the inputs."""
    return Container(
        name=name,
        image=image,
        command=["sh", "-c"],
        args=[script],
        inputs=[Parameter(name=i) for i in inputs],
        env=[Env(name=k, value=v) for k, v in env.items()],
        resources=Resources(cpu_request=cpu, memory_request=memory, memory_limit=memory),
        security_context=SecurityContext.model_validate(container_security_context()),
        **extra,
    )


def _input(name: str) -> str:
    return "{{inputs.parameters." + name + "}}"


def _plan(key: str) -> str:
    return "{{steps.plan.outputs.parameters." + key + "}}"


def _outcome(key: str) -> str:
    return "{{steps.drill.outputs.parameters." + key + "}}"


def drill_template(*, image: str, namespace: str | None = None) -> WorkflowTemplate:
    """The `nonstop-drill` WorkflowTemplate; submit it with the parameter `drill` (the spec as YAML)."""
    with WorkflowTemplate(
        name=WORKFLOW_TEMPLATE,
        namespace=namespace,
        labels={"app.kubernetes.io/name": "nonstop"},
        entrypoint="main",
        service_account_name=SERVICE_ACCOUNT,
        security_context=PodSecurityContext.model_validate(pod_security_context()),
        ttl_strategy=TTLStrategy.model_validate(WORKFLOW_TTL),
        pod_gc=PodGC.model_validate(POD_GC),
        arguments=_arguments(),
    ) as template:
        # Each template joins the WorkflowTemplate as it is made, so this order is the rendered order.
        plan = _plan_template(image)
        lint = _lint_template(image)
        worker = _worker_template(image)
        drill = _drill_step_template(image)
        promote, abort = _record_templates(image)
        _main_steps(plan=plan, lint=lint, worker=worker, drill=drill, promote=promote, abort=abort)
    return template


def _arguments() -> list[Parameter]:
    """The workflow's parameters: the drill spec, and how strict the lint of the live target is."""
    return [
        Parameter(
            name="drill",
            description=(
                "The Drill spec (nonstop.dev/v1alpha1) as YAML: inline as `value`, or from a ConfigMap "
                "with `valueFrom.configMapKeyRef` (label the ConfigMap "
                "workflows.argoproj.io/configmap-type: Parameter)."
            ),
        ),
        Parameter(
            name="lint-fail-on",
            value="never",
            enum=["error", "warning", "never"],
            description="Findings on the live target at or above this severity fail the workflow before the drill.",
        ),
    ]


def _plan_template(image: str) -> Container:
    """`plan`: validate the spec; the target, worker count and deadline become output parameters."""
    return _shell(
        "plan",
        image=image,
        script=PLAN_SCRIPT,
        inputs=["drill"],
        env={"NONSTOP_DRILL": _input("drill")},
        cpu="100m",
        memory="256Mi",
        outputs=[Parameter(name=key, value_from=ValueFrom(path=f"{PLAN_DIR}/{key}")) for key in PLAN_KEYS],
    )


def _lint_template(image: str) -> Container:
    """`lint`: `nonstop lint` on the live workload and Service."""
    lint_inputs = ["target-kind", "target-name", "target-namespace", "target-service", "fail-on"]
    return _shell(
        "lint",
        image=image,
        script=LINT_SCRIPT,
        inputs=lint_inputs,
        env={key.upper().replace("-", "_"): _input(key) for key in lint_inputs},
        cpu="100m",
        memory="256Mi",
        # OnError: retry what Argo calls an error (the pod was lost, its init/wait container failed,
        # a controller error), never a step that ran and exited non-zero: a lint gate that
        # failed on purpose, or kubectl not finding the target, fails at once.
        retry_strategy=RetryStrategy(limit=2, retry_policy="OnError", backoff=Backoff(duration="5s", factor=2)),
    )


def _worker_template(image: str) -> Container:
    """`locust-worker`: a daemoned Locust worker that finds the drill pod and connects to its master."""
    return _shell(
        "locust-worker",
        image=image,
        script=WORKER_SCRIPT,
        inputs=["locustfile", "stream-plugin"],
        env={
            "LOCUSTFILE": _input("locustfile"),
            "STREAM_PLUGIN": _input("stream-plugin"),
            "WORKFLOW_NAME": "{{workflow.name}}",
            "LOCUST_MASTER_PORT": str(LOCUST_MASTER_PORT),
        },
        cpu="1",
        memory="512Mi",
        daemon=True,
    )


def _drill_step_template(image: str) -> Container:
    """`drill`: `nonstop drill` (the Locust master and record sink on this pod); its outcome as outputs."""
    return _shell(
        "drill",
        image=image,
        script=DRILL_SCRIPT,
        inputs=["drill", "deadline-seconds"],
        env={
            "NONSTOP_DRILL": _input("drill"),
            "NONSTOP_LOCUST_EXTERNAL_WORKERS": "true",
            "NONSTOP_LOCUST_MASTER_BIND_PORT": str(LOCUST_MASTER_PORT),
            "NONSTOP_LOCUST_SINK_PORT": str(LOCUST_SINK_PORT),
        },
        cpu="1",
        memory="1Gi",
        labels={LOCUST_ROLE_LABEL: "master"},
        ports=[
            ContainerPort(name="locust-master", container_port=LOCUST_MASTER_PORT),
            ContainerPort(name="nonstop-sink", container_port=LOCUST_SINK_PORT),
        ],
        active_deadline_seconds=_input("deadline-seconds"),
        outputs=[
            Parameter(name="verdict", value_from=ValueFrom(path=f"{WORK_DIR}/verdict", default="unknown")),
            Parameter(name="action", value_from=ValueFrom(path=f"{WORK_DIR}/action", default="none")),
            Parameter(name="exit-code", value_from=ValueFrom(path=f"{WORK_DIR}/exit-code", default="")),
        ],
    )


def _record_templates(image: str) -> tuple[Container, Container]:
    """`promote` and `abort`: record what the drill did; abort fails with the drill's exit code."""
    record_inputs = ["drill-name", "verdict", "action", "exit-code"]
    record_env = {key.upper().replace("-", "_"): _input(key) for key in record_inputs}
    promote = _shell(
        "promote", image=image, script=RECORD_SCRIPT, inputs=record_inputs, env=record_env, cpu="50m", memory="64Mi"
    )
    abort = _shell(
        "abort", image=image, script=ABORT_SCRIPT, inputs=record_inputs, env=record_env, cpu="50m", memory="64Mi"
    )
    return promote, abort


def _main_steps(
    *, plan: Container, lint: Container, worker: Container, drill: Container, promote: Container, abort: Container
) -> None:
    """`main`: plan ─► lint ─► locust-workers (when load.workers > 0) ─► drill ─► promote | abort."""
    record_args = {
        "drill-name": _plan("drill-name"),
        "verdict": _outcome("verdict"),
        "action": _outcome("action"),
        "exit-code": _outcome("exit-code"),
    }
    with Steps(name="main") as steps:
        Step(name="plan", template=plan, arguments={"drill": "{{workflow.parameters.drill}}"})
        Step(
            name="lint",
            template=lint,
            arguments={
                "target-kind": _plan("target-kind"),
                "target-name": _plan("target-name"),
                "target-namespace": _plan("target-namespace"),
                "target-service": _plan("target-service"),
                "fail-on": "{{workflow.parameters.lint-fail-on}}",
            },
        )
        Step(
            name="locust-workers",
            template=worker,
            arguments={"locustfile": _plan("locustfile"), "stream-plugin": _plan("stream-plugin")},
            with_sequence=Sequence(count=_plan("workers")),
            when=f"{_plan('workers')} > 0",
        )
        Step(
            name="drill",
            template=drill,
            arguments={"drill": "{{workflow.parameters.drill}}", "deadline-seconds": _plan("deadline-seconds")},
        )
        with steps.parallel():
            Step(name="promote", template=promote, arguments=record_args, when=f"'{_outcome('verdict')}' == 'pass'")
            Step(name="abort", template=abort, arguments=record_args, when=f"'{_outcome('verdict')}' != 'pass'")
