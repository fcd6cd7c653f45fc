"""Start-up of `nonstop lint` as a pre-commit hook meets it: one small file, the whole process.

    .venv/bin/python bench/lint_startup.py [--runs 30] [--nonstop .venv/bin/nonstop] [--src DIR]

`--src DIR` runs `python -m nonstop lint` with DIR first on PYTHONPATH instead of the console script:
a source tree of another revision (`git archive REV | tar -x -C DIR`) measured on the same interpreter.

Runs, alternating so drift on a shared machine hits both alike, `--runs` times each:

  baseline   <the same interpreter> -c pass           (Python's own start-up, site and .pth files included)
  lint       nonstop lint --format json SMALL.yaml     (one Deployment and its Service, no finding)

with bytecode caches written (as a pip install has them, even where PYTHONDONTWRITEBYTECODE is
set), and prints the median wall time and the median CPU time (user + system of the child) of each, and
the ratio lint / baseline. Target (issue 14): lint ≤ 2 × baseline. It also lists the heavy
packages the lint process imported (`-X importtime` of one run), which should be none of:
kubernetes, locust, hera, typer, rich, structlog, pydantic, nonstop.report.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SMALL = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
spec:
  replicas: 2
  selector:
    matchLabels: {app: api}
  template:
    metadata:
      labels: {app: api}
    spec:
      affinity:
        podAntiAffinity:
          preferredDuringSchedulingIgnoredDuringExecution:
            - weight: 100
              podAffinityTerm:
                topologyKey: kubernetes.io/hostname
                labelSelector: {matchLabels: {app: api}}
      containers:
        - name: api
          image: registry.example/api:1.0.0
          ports: [{name: http, containerPort: 8080}]
          readinessProbe: {httpGet: {path: /ready, port: http}}
          lifecycle: {preStop: {sleep: {seconds: 5}}}
---
apiVersion: v1
kind: Service
metadata:
  name: api
spec:
  selector: {app: api}
  ports: [{port: 80, targetPort: http}]
"""

HEAVY = ("kubernetes", "locust", "hera", "typer", "rich", "structlog", "pydantic", "nonstop.report", "click")


# Bytecode caches on, as in a normal install (pip writes them): a PYTHONDONTWRITEBYTECODE=1 environment
# would otherwise compile every module of nonstop from source on every run and measure the compiler.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def timed(argv: list[str]) -> tuple[float, float]:
    """(wall seconds, child CPU seconds) of one run; the output is discarded, the exit code checked."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False, env=ENV, cwd=tempfile.gettempdir()
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.decode(errors='replace')}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def heavy_imports(command: list[str], path: str) -> list[str]:
    """Top-level packages of HEAVY that one lint run imported (from `-X importtime` on stderr)."""
    env = {**ENV, "PYTHONPROFILEIMPORTTIME": "1"}
    done = subprocess.run(
        [*command, "lint", path], capture_output=True, text=True, env=env, check=False, cwd=tempfile.gettempdir()
    )
    modules = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time")}
    return sorted(h for h in HEAVY if any(m == h or m.startswith(h + ".") for m in modules))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--nonstop", default=str(Path(sys.executable).with_name("nonstop")))
    parser.add_argument("--src", help="a source tree to run with `python -m nonstop` instead of the console script")
    args = parser.parse_args()
    command = [args.nonstop]
    if args.src:
        ENV["PYTHONPATH"] = str(Path(args.src).resolve())
        command = [sys.executable, "-m", "nonstop"]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "small.yaml"
        path.write_text(SMALL)
        baseline_argv = [sys.executable, "-c", "pass"]
        lint_argv = [*command, "lint", "--format", "json", str(path)]
        timed(baseline_argv), timed(lint_argv)  # warm the page cache and write the bytecode caches
        base: list[tuple[float, float]] = []
        lint: list[tuple[float, float]] = []
        for _ in range(args.runs):
            base.append(timed(baseline_argv))
            lint.append(timed(lint_argv))
        heavy = heavy_imports(command, str(path))
    base_wall, base_cpu = statistics.median(w for w, _ in base), statistics.median(c for _, c in base)
    lint_wall, lint_cpu = statistics.median(w for w, _ in lint), statistics.median(c for _, c in lint)
    machine = platform.processor() or platform.machine()
    print(f"machine: {machine}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"runs: {args.runs} each, alternating; medians")
    print(f"python -c pass:        {base_wall * 1000:6.0f} ms wall, {base_cpu * 1000:6.0f} ms CPU")
    print(f"nonstop lint (1 file): {lint_wall * 1000:6.0f} ms wall, {lint_cpu * 1000:6.0f} ms CPU")
    print(f"lint / baseline: {lint_wall / base_wall:.2f}× wall, {lint_cpu / base_cpu:.2f}× CPU (target ≤ 2×)")
    print(f"heavy packages imported: {', '.join(heavy) or 'none'}")


if __name__ == "__main__":
    main()
