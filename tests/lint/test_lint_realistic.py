"""Manifests written the way real projects write them: rendered charts, HPAs, workers, nginx sidecars."""

from __future__ import annotations

from lint_helpers import findings, load

from nonstop.lint import lint_loaded, render
from nonstop.lint.inputs import load_text

RENDERED_CHART = """\
---
# Source: shop/templates/pdb.yaml
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: shop-frontend
spec:
  maxUnavailable: 1
  selector:
    matchLabels:
      app.kubernetes.io/name: frontend
      app.kubernetes.io/instance: shop
---
# Source: shop/templates/service.yaml
apiVersion: v1
kind: Service
metadata:
  name: shop-frontend
  labels:
    app.kubernetes.io/name: frontend
spec:
  type: ClusterIP
  ports:
    - port: 80
      targetPort: http
      protocol: TCP
      name: http
  selector:
    app.kubernetes.io/name: frontend
    app.kubernetes.io/instance: shop
---
# Source: shop/templates/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: shop-frontend
spec:
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      app.kubernetes.io/name: frontend
      app.kubernetes.io/instance: shop
  strategy:
    rollingUpdate:
      maxSurge: 50%
      maxUnavailable: 0%
  template:
    metadata:
      annotations:
        checksum/config: 3f1c
      labels:
        app.kubernetes.io/name: frontend
        app.kubernetes.io/instance: shop
    spec:
      terminationGracePeriodSeconds: 45
      containers:
        - name: frontend
          image: "ghcr.io/acme/frontend:2.4.1"
          imagePullPolicy: IfNotPresent
          ports:
            - name: http
              containerPort: 3000
              protocol: TCP
          livenessProbe:
            httpGet:
              path: /api/health
              port: http
          readinessProbe:
            httpGet:
              path: /api/health
              port: 3000
          lifecycle:
            preStop:
              exec:
                command: ["/bin/sh", "-c", "sleep 15"]
        - name: nginx
          image: nginx:1.27
          ports:
            - name: proxy
              containerPort: 8080
          readinessProbe:
            tcpSocket:
              port: proxy
          lifecycle:
            preStop:
              exec:
                command: ["/bin/sh", "-c", "sleep 20 && /usr/sbin/nginx -s quit"]
---
# Source: shop/templates/hpa.yaml
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: shop-frontend
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: shop-frontend
  minReplicas: 3
  maxReplicas: 20
  metrics:
    - type: Resource
      resource:
        name: cpu
        target: {type: Utilization, averageUtilization: 70}
---
# Source: shop/templates/worker.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: shop-worker
spec:
  replicas: 2
  selector:
    matchLabels: {app.kubernetes.io/name: worker}
  template:
    metadata:
      labels: {app.kubernetes.io/name: worker}
    spec:
      terminationGracePeriodSeconds: 120
      containers:
        - name: worker
          image: ghcr.io/acme/worker:2.4.1
          args: ["--queue", "orders"]
"""


def _line_after(comment: str) -> int:
    """The 1-based line of the first key after a `# Source:` comment."""
    return RENDERED_CHART.splitlines().index(f"# Source: {comment}") + 2


def test_rendered_chart_reports_exactly_the_real_hazards() -> None:
    loaded = load_text("<stdin>", RENDERED_CHART)
    report = lint_loaded(loaded, files=["<stdin>"])
    found = [(f.finding.rule, f.finding.name, f.finding.container, f.line) for f in report.findings]
    assert found == [
        # named and numbered port 3000 are the same probe once defaults are filled in
        ("liveness-same-as-readiness", "shop-frontend", "frontend", _line_after("shop/templates/deployment.yaml")),
        # autoscaled from 3 pods and nothing spreads them over nodes
        ("no-anti-affinity", "shop-frontend", None, _line_after("shop/templates/deployment.yaml")),
        # the nginx sidecar's 20 s sleep leaves 25 s of the 45 s grace period: fine; the worker has no
        # ports, so no probe or preStop findings; the HPA (min 3) replaces replicas; the PDB covers
        # the frontend but not the worker, which the input's PDBs make a finding
        ("pod-disruption-budget-missing", "shop-worker", None, _line_after("shop/templates/worker.yaml")),
    ]


def test_long_nginx_sleep_against_the_grace_period() -> None:
    objects = load(RENDERED_CHART)
    frontend = objects[2]
    frontend["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 20
    found = [
        (f.rule, f.container)
        for f in findings([frontend])
        if f.rule not in ("liveness-same-as-readiness", "single-replica")
    ]
    assert found == [("prestop-exceeds-grace-period", "nginx"), ("grace-period-too-short", "nginx")]


def test_coloured_text_wraps_messages_under_their_rule() -> None:
    report = lint_loaded(load_text("chart.yaml", RENDERED_CHART), files=["chart.yaml"])
    text = render(report, "text", color=True, width=60)
    assert "\x1b[" in text
    assert all(len(line) <= 60 for line in text.replace("\x1b", "").splitlines() if "[" not in line)
    assert not any(line.endswith(" ") for line in text.splitlines())


def test_finding_as_dict_is_the_contract_shape_for_api_objects() -> None:
    [finding] = findings(load(RENDERED_CHART)[2:3], "liveness-same-as-readiness")
    assert finding.as_dict() == {
        "rule": "liveness-same-as-readiness",
        "severity": "warning",
        "kind": "Deployment",
        "name": "shop-frontend",
        "namespace": None,
        "container": "frontend",
        "file": None,
        "line": None,
        "message": finding.message,
    }
