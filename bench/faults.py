"""Figures for docs/reliability.md: how the drill's watches and the drill itself behave under API faults.

    .venv/bin/python bench/faults.py [--drops 20] [--drills 1]

On one `nonstop sandbox up` subprocess (its fault plan set over the admin endpoint):

1. **dropped watch → resumed**: a `ResilientWatch` on ConfigMaps; the plan ends every open watch
   (`dropWatches`), then a ConfigMap is created; the figure is creation → delivery (the change
   crosses the reconnect), `--drops` times, median and max, and the uncertainty it carried;
2. **stalled reconnect**: the same with `stallSeconds: 2` on the reconnect: how late the change is
   seen and the uncertainty the drill counts against it;
3. **a restart drill** (Deployment `after`, 2 replicas), clean, then with the drill's watches cut
   every second, every resume answered 410 and 20 % of its reads answered 500: verdict, duration,
   injected 500s the drill retried through, re-lists, and the drill's note.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, config

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "drill"))

from drill_helpers import drill_spec, manifest  # noqa: E402

from nonstop.kube.watching import Observed, ResilientWatch  # noqa: E402
from nonstop.sandbox.launcher import SandboxProcess  # noqa: E402


def admin(url: str, what: str, body: dict[str, Any] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"{url}/sandbox.nonstop.dev/{what}", data=data, method="POST" if data else "GET")
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read() or b"null")


def watch_figures(sandbox: SandboxProcess, drops: int, stall: float) -> tuple[list[float], list[float]]:
    api = client.CoreV1Api(config.new_client_from_config(config_file=str(sandbox.kubeconfig)))
    ns = f"bench-{int(time.time())}-{int(stall * 10)}"
    api.create_namespace({"metadata": {"name": ns}})
    seen: dict[str, Observed] = {}
    arrived = threading.Condition()

    def on_event(event: Observed) -> None:
        with arrived:
            seen[event.obj["metadata"]["name"]] = event
            arrived.notify_all()

    watch = ResilientWatch(api.list_namespaced_config_map, what="configmaps", namespace=ns, on_event=on_event)
    watch.start()
    watch.synced.wait(10)
    delays, uncertainties = [], []
    for i in range(drops):
        reconnects = watch.stats.reconnects
        admin(sandbox.url, "faults", {"dropWatches": True, "stallSeconds": stall, "verbs": ["watch", "list"],
                                      "resources": ["configmaps"]} if stall else {"dropWatches": True})  # fmt: skip
        while watch.stats.reconnects == reconnects:
            time.sleep(0.005)
        created = time.time()
        api.create_namespaced_config_map(ns, {"metadata": {"name": f"cm-{i}"}})
        with arrived:
            arrived.wait_for(lambda i=i: f"cm-{i}" in seen, timeout=30)
        delays.append(seen[f"cm-{i}"].at - created)
        uncertainties.append(seen[f"cm-{i}"].uncertainty)
        admin(sandbox.url, "faults", {})
    watch.stop()
    api.delete_namespace(ns)
    return delays, uncertainties


def drill(sandbox: SandboxProcess, ns: str, workdir: Path, plan: dict[str, Any]) -> dict[str, Any]:
    admin(sandbox.url, "faults", plan)
    mark = admin(sandbox.url, "requests?since=999999999")["mark"]
    spec_path = workdir / f"drill-{len(plan)}.yaml"
    spec_path.write_text(yaml.safe_dump(drill_spec(ns)))
    report_dir = workdir / f"report-{len(plan)}"
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "nonstop", "--log-format", "json", "drill", "-f", str(spec_path),
                           "--kubeconfig", str(sandbox.kubeconfig), "--report-dir", str(report_dir)],
                          capture_output=True, text=True, check=False)  # fmt: skip
    seconds = time.monotonic() - started
    admin(sandbox.url, "faults", {})
    log = admin(sandbox.url, f"requests?since={mark}")["items"]
    report = json.loads((report_dir / "report.json").read_text())
    return {
        "exit": done.returncode,
        "verdict": report["verdict"],
        "seconds": round(seconds, 1),
        "injected 500s": sum(1 for e in log if e["code"] == 500 and e["caller"].startswith("nonstop/")),
        "drill requests": sum(1 for e in log if e["caller"].startswith("nonstop/")),
        "notes": report["notes"],
        "reasons": report["verdictReasons"][:2],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--drops", type=int, default=20)
    parser.add_argument("--drills", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        sandbox = SandboxProcess(workdir=workdir, extra_args=["--bookmark-interval", "1"]).start()
        try:
            for stall in (0.0, 2.0):
                delays, unc = watch_figures(sandbox, args.drops if not stall else max(3, args.drops // 5), stall)
                what = f" + reconnect stalled {stall:.0f} s" if stall else ""
                print(f"watch dropped{what}: change seen after "
                      f"median {statistics.median(delays) * 1000:.0f} ms, max {max(delays) * 1000:.0f} ms; "
                      f"uncertainty median {statistics.median(unc) * 1000:.0f} ms, max {max(unc) * 1000:.0f} ms "
                      f"({len(delays)} drops)")  # fmt: skip
            ns = f"bench-drill-{int(time.time())}"
            admin_ns = client.CoreV1Api(config.new_client_from_config(config_file=str(sandbox.kubeconfig)))
            admin_ns.create_namespace({"metadata": {"name": ns}})
            objects = workdir / "objects.yaml"
            objects.write_text(yaml.safe_dump_all(manifest("after", replicas=2)))
            env_kc = {"KUBECONFIG": str(sandbox.kubeconfig)}
            subprocess.run(["kubectl", "apply", "--validate=false", "-n", ns, "-f", str(objects)], check=True,
                           env={**os.environ, **env_kc}, capture_output=True)  # fmt: skip
            subprocess.run(["kubectl", "rollout", "status", "-n", ns, "deployment/web", "--timeout=60s"], check=True,
                           env={**os.environ, **env_kc}, capture_output=True)  # fmt: skip
            faulted = {"dropWatchesEverySeconds": 1, "expireResumes": True, "errorRate": 0.2, "errorCode": 500,
                       "verbs": ["get", "list", "watch"], "callers": ["nonstop/"]}  # fmt: skip
            for _ in range(args.drills):
                print("clean drill:", json.dumps(drill(sandbox, ns, workdir, {})))
                print("faulted drill:", json.dumps(drill(sandbox, ns, workdir, faulted)))
        finally:
            sandbox.stop()


if __name__ == "__main__":
    main()
