"""Forwarding throughput of the sandbox's data plane, each mode against a direct connection to the pod.

    .venv/bin/python bench/sandbox/dataplane.py [--seconds 5] [--connections 20] [--json OUT]

One run, same machine, same pod:

1. the sample app runs as a "pod" on its own loopback address (POD_IP=127.11.99.1);
2. for each mode (kube-proxy, ingress), a sandbox starts (`nonstop sandbox up --proxy-lag 0
   --data-plane MODE`); a selector-less Service and a hand-written EndpointSlice point its
   ClusterIP at the pod;
3. wrk (Debian's `wrk`, pinned to the last CPU) measures, with keep-alive connections and with
   `Connection: close` (a new TCP connection per request, as a share of the drill's users do):
   the pod directly, then the ClusterIP.

The direct figure is the ceiling (the sample app is a Python server); the ratio is the cost of
the data plane. Absolute numbers drift between machines: compare within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from kubernetes import client, config

from nonstop.sandbox.launcher import SandboxProcess

POD_IP = "127.11.99.1"  # outside the kubelet's 127.10.0.0/16: no sandbox pod can hold it
POD_PORT = 8080


def start_pod() -> subprocess.Popen[bytes]:
    env = {**os.environ, "POD_IP": POD_IP, "PORT": str(POD_PORT), "POD_NAME": "bench-pod", "VERSION": "bench"}
    proc = subprocess.Popen([sys.executable, "-m", "nonstop.sandbox.sample_app"], env=env, stderr=subprocess.DEVNULL)
    wait_http(f"http://{POD_IP}:{POD_PORT}/healthz")
    return proc


def wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"{url} did not answer within {timeout} s")


def route_service(kubeconfig: Path) -> str:
    """A selector-less Service whose EndpointSlice names the bench pod; returns its ClusterIP."""
    api = config.new_client_from_config(config_file=str(kubeconfig))
    core, discovery = client.CoreV1Api(api), client.DiscoveryV1Api(api)
    svc = core.create_namespaced_service(
        "default",
        {
            "metadata": {"name": "bench"},
            # A random address: other sandboxes on this machine hand out 127.20.0.1 upwards.
            "spec": {
                "clusterIP": f"127.20.{random.randint(128, 254)}.{random.randint(1, 254)}",
                "ports": [{"name": "http", "port": 80}],
            },
        },
    )
    discovery.create_namespaced_endpoint_slice(
        "default",
        {
            "metadata": {"name": "bench-1", "labels": {"kubernetes.io/service-name": "bench"}},
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": POD_PORT, "protocol": "TCP"}],
            "endpoints": [
                {
                    "addresses": [POD_IP],
                    "conditions": {"ready": True},
                    "targetRef": {"kind": "Pod", "name": "bench-pod"},
                }
            ],
        },
    )
    api.close()
    return str(svc.spec.cluster_ip)


def wrk(url: str, *, seconds: int, connections: int, close: bool) -> dict[str, Any]:
    cpu = str((os.cpu_count() or 1) - 1)
    cmd = ["taskset", "-c", cpu, "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if close:
        cmd[5:5] = ["-H", "Connection: close"]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"wrk failed on {url}: {done.stdout} {done.stderr}")
    out = done.stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", out, re.MULTILINE))
    return {
        "rps": rps,
        "p50": latency.get("50"),
        "p99": latency.get("99"),
        "socket_errors": sum(int(x) for x in errors.groups()) if errors else 0,
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=20)
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()
    if shutil.which("wrk") is None or shutil.which("taskset") is None:
        raise SystemExit("needs wrk and taskset: apt-get install -y wrk util-linux")

    results: list[dict[str, Any]] = []
    pod = start_pod()
    try:
        for mode in ("kube-proxy", "ingress"):
            with SandboxProcess(proxy_lag=0.0, data_plane=mode) as sandbox:
                vip = route_service(sandbox.kubeconfig)
                try:
                    wait_http(f"http://{vip}/")
                except SystemExit:
                    print(sandbox.log_tail(40), file=sys.stderr)
                    raise
                for close in (False, True):
                    for target, url in (("direct", f"http://{POD_IP}:{POD_PORT}/"), (mode, f"http://{vip}/")):
                        if target == "direct" and mode != "kube-proxy":
                            continue  # measured once, in the first sandbox's run
                        row = {
                            "target": target,
                            "connection": "close" if close else "keep-alive",
                            **wrk(url, seconds=args.seconds, connections=args.connections, close=close),
                        }
                        results.append(row)
                        print(
                            f"{row['target']:>10}  {row['connection']:>10}  {row['rps']:>9.0f} req/s"
                            f"  p50 {row['p50']:>8}  p99 {row['p99']:>8}"
                            f"  socket errors {row['socket_errors']}  non-2xx {row['non_2xx']}",
                            flush=True,
                        )
    finally:
        pod.terminate()
        pod.wait(timeout=10)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
