"""Lint throughput against the ceiling: parsing the same corpus with PyYAML's C loader and nothing else.

    .venv/bin/python bench/lint.py [--workloads 10000] [--repeat 3]

Generates a corpus of realistic workloads (a Deployment of about 40 lines with probes, lifecycle
and env, plus its Service; one in ten has a hazard, so the finding path is exercised), writes it
as one multi-document file, then times (CPU time) in the same process, alternating, best of `--repeat`:

  parse   yaml.load_all(text, Loader=CSafeLoader), nothing else (the ceiling)
  lint    nonstop.lint.lint_paths([file]) and rendering the JSON report (everything `nonstop lint
          --format json FILE` does after start-up)

Target (issue 2): lint ≥ 70 % of the parse-only rate.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from nonstop.lint import lint_paths, render

WORKLOAD = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: svc-{i}
  namespace: team-{team}
  labels:
    app: svc-{i}
    team: team-{team}
spec:
  replicas: {replicas}
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 25%
      maxUnavailable: 0
  selector:
    matchLabels:
      app: svc-{i}
  template:
    metadata:
      labels:
        app: svc-{i}
        team: team-{team}
    spec:
      terminationGracePeriodSeconds: 30
      containers:
        - name: app
          image: registry.example.com/team-{team}/svc-{i}:1.{i}.0
          ports:
            - name: http
              containerPort: 8080
          env:
            - name: LOG_LEVEL
              value: info
            - name: DB_HOST
              value: db.team-{team}.svc
          resources:
            requests: {{cpu: 100m, memory: 128Mi}}
          readinessProbe:
            httpGet: {{path: /ready, port: http}}
            periodSeconds: 5
          livenessProbe:
            httpGet: {{path: /healthz, port: http}}
            failureThreshold: 6
          lifecycle:
            {prestop}
---
apiVersion: v1
kind: Service
metadata:
  name: svc-{i}
  namespace: team-{team}
spec:
  selector:
    app: svc-{i}
  ports:
    - name: http
      port: 80
      targetPort: http
---
"""


def corpus(workloads: int) -> str:
    """`workloads` Deployments with their Services; every tenth has one replica and no preStop hook."""
    parts = []
    for i in range(workloads):
        hazard = i % 10 == 0
        parts.append(
            WORKLOAD.format(
                i=i,
                team=i % 50,
                replicas=1 if hazard else 2 + i % 4,
                prestop="postStart: {exec: {command: [/bin/true]}}"
                if hazard
                else 'preStop: {exec: {command: [/bin/sh, -c, "sleep 5"]}}',
            )
        )
    return "".join(parts)


def cpu_model() -> str:
    """The processor's model name (Linux), else what `platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_seconds(fn: Callable[[], object]) -> float:
    """CPU time of one call: on a machine shared with other jobs, wall time mostly measures the neighbours."""
    start = time.process_time()
    fn()
    return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workloads", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if not getattr(yaml, "__with_libyaml__", False):
        raise SystemExit("PyYAML has no libyaml here: the C loader ceiling cannot be measured")

    text = corpus(args.workloads)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "corpus.yaml"
        path.write_text(text)
        lines = text.count("\n")

        def parse_only() -> object:
            return list(yaml.load_all(path.read_text(), Loader=yaml.CSafeLoader))

        def lint() -> object:
            report = lint_paths([str(path)])
            return render(report, "json")

        findings = len(lint_paths([str(path)]).findings)
        parse_times, lint_times = [], []
        for _ in range(args.repeat):  # alternate, so drift on a shared machine hits both alike
            parse_times.append(cpu_seconds(parse_only))
            lint_times.append(cpu_seconds(lint))
    parse_s, lint_s = min(parse_times), min(lint_times)
    python = f"Python {platform.python_version()}, PyYAML {yaml.__version__}"
    print(f"machine: {cpu_model()}, {os.cpu_count()} cores, {python}")
    print(
        f"corpus: {args.workloads} workloads (+ Services), {lines} lines, {len(text) / 1e6:.1f} MB, {findings} findings"
    )
    print(f"parse only (CSafeLoader): {parse_s:.2f} s CPU = {args.workloads / parse_s:,.0f} workloads/s")
    print(f"nonstop lint (json):      {lint_s:.2f} s CPU = {args.workloads / lint_s:,.0f} workloads/s")
    print(f"lint / parse rate: {parse_s / lint_s:.0%} (target ≥ 70 %)")


if __name__ == "__main__":
    main()
