"""The real control plane with our node: cold start to the first pod Ready, and where the time goes.

    .venv/bin/python bench/realcp_node.py            # 3 runs (root; the binary built beforehand)
    .venv/bin/python bench/realcp_node.py --runs 5

Each run is `nonstop sandbox up --control-plane real --apply config/examples/after.yaml` from a
fresh process (new PKI, empty etcd, a new pod network namespace), timed from the moment it is
started: each component ready (the command's own progress lines), the node schedulable, the
kubeconfig written (the manifests applied), then, polling the API every 0.1 s, the pod created
by the ReplicaSet controller, bound by the scheduler, its container running and the pod Ready
(after.yaml's app listens 1 s after start, readiness probe every 2 s). Prints one Markdown table
row per run with the 1-minute load average (other work on the machine slows every figure).
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from kubernetes import client, config

from nonstop.bundled import config_file

STAGES = (
    ("etcd", r"^etcd ready"),
    ("apiserver", r"^kube-apiserver ready"),
    ("kcm+sched", r"^kube-controller-manager and kube-scheduler ready"),
    ("registered", r"^node sandbox registered"),
    ("node", r"^node sandbox ready"),
)


def one_run(workdir: Path) -> dict[str, float]:
    marks: dict[str, float] = {}
    kubeconfig = workdir / "kubeconfig"
    argv = [sys.executable, "-m", "nonstop", "--log-format", "json", "sandbox", "up", "--control-plane", "real"]
    argv += ["--apply", str(config_file("examples/after.yaml")), "--kubeconfig-out", str(kubeconfig)]
    started = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def read_progress() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            for name, pattern in STAGES:
                if re.search(pattern, line):
                    marks[name] = time.monotonic() - started

    reader = threading.Thread(target=read_progress, daemon=True)
    reader.start()
    try:
        deadline = started + 240
        while not kubeconfig.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"sandbox up did not get ready (exit {proc.poll()})")
            time.sleep(0.05)
        marks["kubeconfig"] = time.monotonic() - started
        core = client.CoreV1Api(config.new_client_from_config(config_file=str(kubeconfig)))
        while "ready" not in marks:
            if time.monotonic() > deadline:
                raise SystemExit("no pod Ready within 240 s")
            for pod in core.list_namespaced_pod("default", label_selector="app=web").items:
                now = time.monotonic() - started
                marks.setdefault("created", now)
                if pod.spec.node_name:
                    marks.setdefault("bound", now)
                if any(s.state.running for s in pod.status.container_statuses or []):
                    marks.setdefault("running", now)
                if any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or []):
                    marks.setdefault("ready", now)
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    return marks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    columns = ["etcd", "apiserver", "kcm+sched", "registered", "node", "kubeconfig"]
    columns += ["created", "bound", "running", "ready"]
    print("| run | " + " | ".join(columns) + " | load (1 min) |")
    print("|---" * (len(columns) + 2) + "|")
    for number in range(1, runs + 1):
        with tempfile.TemporaryDirectory(prefix="bench-realcp-node-") as workdir:
            marks = one_run(Path(workdir))
        cells = [f"{marks[c]:.1f}" if c in marks else "-" for c in columns]
        print(f"| {number} | " + " | ".join(cells) + f" | {os.getloadavg()[0]:.1f} |", flush=True)


if __name__ == "__main__":
    main()
