"""The sandbox API server: cold start, and watch latency from a write to a watcher receiving it.

    .venv/bin/python bench/sandbox/api.py [--writes 10000] [--json OUT]

1. Cold start, two ways: `nonstop sandbox up` as a subprocess until its kubeconfig exists and
   `/version` answers (what tests and `nonstop drill --sandbox` wait for; includes the
   interpreter's start and the CLI's imports), and `Cluster(components=())` in-process until
   `/version` answers (the API's own start).
2. Watch latency: a `nonstop sandbox up` subprocess (every component running, idle), one
   watcher on a keep-alive HTTP connection reading chunked newline-delimited events, one writer
   sending `--writes` merge patches to a ConfigMap over another keep-alive connection, each after
   the watcher received the previous one. Latency = the watcher's receipt of the MODIFIED event −
   the moment the PATCH was sent (the write itself included). Also reported: the PATCH round
   trip alone, and the same watch through the official client's `watch.Watch().stream()`
   (pydantic deserialisation included) for 1,000 writes.

Wall times on a shared machine mostly measure the neighbours, so the load average at the start
and CPU figures (the sandbox process's own utime+stime: to be ready, and per write delivered to
one watcher) are reported too.

Targets (issue 3): cold start ≤ 1 s; watch p99 ≤ 20 ms.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from nonstop.sandbox.cluster import Cluster
from nonstop.sandbox.launcher import SandboxProcess


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process (not its children), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cold_start_subprocess(workdir: Path) -> tuple[float, float]:
    kubeconfig = workdir / "kc"
    kubeconfig.unlink(missing_ok=True)
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "nonstop", "--log-format", "json", "sandbox", "up", "--kubeconfig-out", str(kubeconfig)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while not kubeconfig.exists():
            time.sleep(0.002)
        import yaml

        url = yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
        urllib.request.urlopen(f"{url}/version", timeout=10).close()
        return time.monotonic() - started, cpu_seconds(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def cold_start_in_process() -> float:
    started = time.monotonic()
    cluster = Cluster(components=())
    cluster.start()
    try:
        urllib.request.urlopen(f"{cluster.url}/version", timeout=10).close()
        return time.monotonic() - started
    finally:
        cluster.stop()


def raw_watch_latency(url: str, writes: int) -> dict[str, Any]:
    """Serial: each PATCH waits until the watcher has its event, so one stall spoils one sample."""
    host, port = "127.0.0.1", int(url.rsplit(":", 1)[1])
    writer = http.client.HTTPConnection(host, port)
    body = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "bench"}}).encode()
    writer.request("POST", "/api/v1/namespaces/default/configmaps", body, {"Content-Type": "application/json"})
    rv = json.loads(writer.getresponse().read())["metadata"]["resourceVersion"]

    received: dict[str, float] = {}
    arrived = threading.Condition()
    ready = threading.Event()

    def watch() -> None:
        conn = http.client.HTTPConnection(host, port)
        conn.request("GET", f"/api/v1/namespaces/default/configmaps?watch=true&resourceVersion={rv}")
        resp = conn.getresponse()
        ready.set()
        while True:
            line = resp.readline()  # http.client de-chunks; events are newline-delimited
            if not line:
                break
            now = time.perf_counter()
            i = (json.loads(line)["object"].get("data") or {}).get("i")
            with arrived:
                received[i] = now
                arrived.notify_all()
            if i == str(writes - 1):
                break
        conn.close()

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    ready.wait(10)
    latencies, round_trips = [], []
    for i in range(writes):
        key = str(i)
        patch = json.dumps({"data": {"i": key}}).encode()
        t0 = time.perf_counter()
        writer.request(
            "PATCH",
            "/api/v1/namespaces/default/configmaps/bench",
            patch,
            {"Content-Type": "application/merge-patch+json"},
        )
        writer.getresponse().read()
        round_trips.append(time.perf_counter() - t0)
        with arrived:
            arrived.wait_for(lambda key=key: key in received, timeout=10)
        latencies.append(received[key] - t0)
    thread.join(10)
    writer.close()
    return {
        "writes": writes,
        "watch_p50_ms": round(pct(latencies, 0.50), 3),
        "watch_p99_ms": round(pct(latencies, 0.99), 3),
        "watch_max_ms": round(max(latencies) * 1000, 3),
        "patch_p50_ms": round(pct(round_trips, 0.50), 3),
        "patch_p99_ms": round(pct(round_trips, 0.99), 3),
    }


def client_watch_latency(kubeconfig: Path, writes: int) -> dict[str, Any]:
    from kubernetes import client, config, watch

    api = client.CoreV1Api(config.new_client_from_config(config_file=str(kubeconfig)))
    rv = api.create_namespaced_config_map("default", {"metadata": {"name": "bench-client"}}).metadata.resource_version
    received: dict[str, float] = {}
    cond = threading.Condition()
    w = watch.Watch()

    def consume() -> None:
        for event in w.stream(api.list_namespaced_config_map, "default", resource_version=rv, timeout_seconds=120):
            obj = event["object"]
            if obj.metadata.name != "bench-client":
                continue
            with cond:
                received[(obj.data or {})["i"]] = time.monotonic()
                cond.notify_all()
            if obj.data["i"] == str(writes - 1):
                w.stop()

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    latencies = []
    for i in range(writes):
        t0 = time.monotonic()
        api.patch_namespaced_config_map("bench-client", "default", {"data": {"i": str(i)}})
        with cond:
            cond.wait_for(lambda i=i: str(i) in received, timeout=10)
        latencies.append(received[str(i)] - t0)
    thread.join(10)
    return {
        "writes": writes,
        "client_watch_p50_ms": round(pct(latencies, 0.50), 3),
        "client_watch_p99_ms": round(pct(latencies, 0.99), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--writes", type=int, default=10_000)
    parser.add_argument("--client-writes", type=int, default=1_000)
    parser.add_argument("--starts", type=int, default=5)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        starts = [cold_start_subprocess(Path(tmp)) for _ in range(args.starts)]
    subprocess_starts = [wall for wall, _ in starts]
    in_process_starts = [cold_start_in_process() for _ in range(args.starts)]
    result: dict[str, Any] = {
        "load_average_1m_at_start": round(os.getloadavg()[0], 2),
        "cold_start_subprocess_median_s": round(statistics.median(subprocess_starts), 3),
        "cold_start_subprocess_max_s": round(max(subprocess_starts), 3),
        "cold_start_subprocess_cpu_median_s": round(statistics.median(cpu for _, cpu in starts), 3),
        "cold_start_in_process_median_s": round(statistics.median(in_process_starts), 4),
    }
    with SandboxProcess() as sandbox:  # its own process, as in a drill: no GIL shared with the clients
        assert sandbox.process is not None
        cpu_before = cpu_seconds(sandbox.process.pid)
        result["raw"] = raw_watch_latency(sandbox.url, args.writes)
        result["raw"]["server_cpu_ms_per_write"] = round(
            (cpu_seconds(sandbox.process.pid) - cpu_before) * 1000 / args.writes, 3
        )
        result["client"] = client_watch_latency(sandbox.kubeconfig, args.client_writes)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
