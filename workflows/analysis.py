"""The Argo Rollouts AnalysisTemplate: a `job` metric that runs `nonstop drill` against the canary.

Argo Rollouts metric plugins must be Go binaries, so nonstop plugs in as a Kubernetes Job: the
Job's exit code is the measurement (0 passes; anything else fails the metric, and with
`failureLimit: 0` the AnalysisRun, so the Rollout aborts). The drill uses strategy `external`
(the Rollouts controller rolls out, nonstop observes and evicts stable pods under load) and
decisions `none`: the Rollouts controller owns promotion. The job step refuses any other spec.
"""

from __future__ import annotations

from typing import Any

import yaml

from nonstop.spec import parse_drill
from workflows.examples import analysis_drill_yaml
from workflows.names import ANALYSIS_TEMPLATE, PLAN_DIR, REPORT_DIR, SERVICE_ACCOUNT, WORK_DIR
from workflows.plan import deadline_seconds
from workflows.security import container_security_context, pod_security_context

__all__ = ["ANALYSIS_SCRIPT", "analysis_template"]

ANALYSIS_SCRIPT = f"""set -eu
mkdir -p {REPORT_DIR}
printf '%s' "$NONSTOP_DRILL" > {WORK_DIR}/drill.yaml
nonstop workflows plan -f {WORK_DIR}/drill.yaml --out {PLAN_DIR} --purpose analysis
exec nonstop drill -f {WORK_DIR}/drill.yaml --report-dir {REPORT_DIR}
"""


def _deadline() -> int:
    text = analysis_drill_yaml().replace("{{args.rollout}}", "web").replace("{{args.service}}", "web")
    drill = parse_drill(yaml.safe_load(text.replace("{{args.port}}", "80")), source="the analysis drill")
    return deadline_seconds(drill.spec)


def analysis_template(*, image: str, namespace: str | None = None) -> dict[str, Any]:
    """The AnalysisTemplate as a plain object (Hera models Argo Workflows, not Argo Rollouts)."""
    metadata: dict[str, Any] = {"name": ANALYSIS_TEMPLATE, "labels": {"app.kubernetes.io/name": "nonstop"}}
    if namespace:
        metadata["namespace"] = namespace
    # The Rollout's analysis step sets these; the drill YAML above references them as {{args.*}}.
    args: list[dict[str, Any]] = [{"name": "rollout"}, {"name": "service"}, {"name": "port", "value": "80"}]
    deadline = _deadline()
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AnalysisTemplate",
        "metadata": metadata,
        "spec": {
            "args": args,
            "metrics": [
                {
                    "name": "nonstop-drill",
                    "count": 1,
                    "failureLimit": 0,
                    "provider": {
                        "job": {
                            "metadata": {"labels": {"app.kubernetes.io/name": "nonstop"}},
                            "spec": {
                                "backoffLimit": 0,
                                "activeDeadlineSeconds": deadline,
                                "template": {
                                    "spec": {
                                        "serviceAccountName": SERVICE_ACCOUNT,
                                        "restartPolicy": "Never",
                                        "securityContext": pod_security_context(),
                                        "containers": [
                                            {
                                                "name": "drill",
                                                "image": image,
                                                "command": ["sh", "-c"],
                                                "args": [ANALYSIS_SCRIPT],
                                                "env": [{"name": "NONSTOP_DRILL", "value": analysis_drill_yaml()}],
                                                "resources": {
                                                    "requests": {"cpu": "1", "memory": "1Gi"},
                                                    "limits": {"memory": "1Gi"},
                                                },
                                                "securityContext": container_security_context(),
                                            }
                                        ],
                                    }
                                },
                            },
                        }
                    },
                }
            ],
        },
    }
