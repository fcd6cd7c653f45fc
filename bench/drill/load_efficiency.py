"""Requests/s of the drill's load path against a local nginx, beside plain Locust and wrk.

    .venv/bin/python bench/drill/load_efficiency.py [--seconds 8] [--rounds 2] [--users 10]

Starts its own nginx (Debian's `nginx-light`, config in a temp dir, a `return 200` location on
127.0.0.1, pinned to CPU 1), then runs in the same invocation, each load generator pinned to CPU 0:

- `wrk` (1 thread, one connection per user): the ceiling of the machine;
- plain `locust --headless` on the bundled locustfile (no streaming plugin);
- the drill's path: `LoadRunner` with the bundled locustfile, every record streamed to this process
  (pinned to CPU 1 with nginx) and counted;
- plain Locust with an `HttpUser` version of the same user, for the FastHttpUser choice.

Locust figures are Locust's own: requests / (last request − start) from its `--json-file`. Beside
requests/s, the CPU time Locust spent per request (its rusage: user + system) is shown; the drill's
extra row is the CPU this process spent receiving and decoding the records. Each round runs plain
then drill (the order alternates); the verdict is the median of the per-round drill/plain ratios,
target ≥ 90 %. Requires `apt-get install -y nginx-light wrk`.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from checks.evidence import RequestSample
from nonstop.drill.load import BUNDLED_LOCUSTFILE, LoadRunner
from nonstop.spec import LoadSpec

LOAD_CPU, SERVER_CPU = 0, 1
UNPACED = 10_000.0  # userRate (the spec's maximum) high enough that pacing never waits

NGINX_CONF = """
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 10000000;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location / {{
            add_header X-Pod-Name nginx-bench;
            return 200 "ok\\n";
        }}
    }}
}}
"""

HTTP_USER = """
import os
from locust import HttpUser, constant_throughput, task

class PlainHttpUser(HttpUser):
    wait_time = constant_throughput(float(os.environ["NONSTOP_LOAD_USER_RATE"]))

    @task
    def get(self):
        self.client.get("/")
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _stop_with_parent() -> None:
    ctypes.CDLL(None).prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG


def start_nginx(work: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    conf = work / "nginx.conf"
    conf.write_text(NGINX_CONF.format(dir=work, port=port))
    command = ["taskset", "-c", str(SERVER_CPU), "nginx", "-e", "stderr", "-p", str(work), "-c", str(conf)]
    # single-threaded here, so preexec_fn is safe; nginx must not outlive the bench
    proc = subprocess.Popen([*command, "-g", "daemon off;"], preexec_fn=_stop_with_parent)  # noqa: PLW1509
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit("nginx did not start; is nginx-light installed?") from None
            time.sleep(0.05)
        else:
            return proc, f"http://127.0.0.1:{port}"


def load_env(close_share: float) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        NONSTOP_LOAD_PATH="/",
        NONSTOP_LOAD_USER_RATE=repr(UNPACED),
        NONSTOP_LOAD_TIMEOUT="5",
        NONSTOP_LOAD_CLOSE_SHARE=repr(close_share),
    )
    env.pop("NONSTOP_LOAD_SINK", None)
    return env


def locust_rate(stats_json: Path) -> tuple[float, int]:
    """Requests/s and requests from Locust's own end-of-run statistics."""
    entries = json.loads(stats_json.read_text())
    requests = sum(e["num_requests"] for e in entries)
    start = min(e["start_time"] for e in entries)
    end = max(e["last_request_timestamp"] for e in entries)
    return requests / (end - start), requests


def run_wrk(url: str, users: int, seconds: float) -> float:
    out = subprocess.run(
        ["taskset", "-c", str(LOAD_CPU), "wrk", "-t1", f"-c{users}", f"-d{seconds:.0f}s", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if match is None:
        raise SystemExit(f"cannot read wrk's output:\n{out}")
    return float(match.group(1))


def cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def run_plain(
    url: str, locustfile: Path, users: int, seconds: float, close_share: float, work: Path
) -> tuple[float, float]:
    """Requests/s and Locust's CPU µs per request."""
    stats = work / "plain-stats"
    cmd = ["taskset", "-c", str(LOAD_CPU), sys.executable, "-m", "locust", "-f", str(locustfile), "--headless"]
    cmd += ["-u", str(users), "-r", str(users), "-t", f"{seconds:.0f}s", "--host", url, "--only-summary"]
    cmd += ["--json-file", str(stats), "--loglevel", "WARNING"]
    cpu = cpu_seconds(resource.RUSAGE_CHILDREN)
    subprocess.run(cmd, env=load_env(close_share), cwd=work, check=True, stdout=subprocess.DEVNULL)
    cpu = cpu_seconds(resource.RUSAGE_CHILDREN) - cpu
    rate, requests = locust_rate(stats.with_suffix(".json"))
    return rate, cpu / requests * 1e6


def run_drill(url: str, users: int, seconds: float, close_share: float, work: Path) -> tuple[float, float, float, int]:
    """Requests/s, Locust's and this process's CPU µs per request, and records lost on the way."""
    received = 0
    lock = threading.Lock()

    def consume(batch: Sequence[RequestSample]) -> None:
        nonlocal received
        with lock:
            received += len(batch)

    log_dir = work / "drill"
    shutil.rmtree(log_dir, ignore_errors=True)
    load = LoadSpec(users=users, spawn_rate=users, user_rate=UNPACED)
    runner = LoadRunner(
        host=url, load=load, on_samples=consume, max_seconds=seconds, close_share=close_share,
        log_dir=log_dir, cpus=[LOAD_CPU],
    )  # fmt: skip
    children, own = cpu_seconds(resource.RUSAGE_CHILDREN), cpu_seconds(resource.RUSAGE_SELF)
    runner.start()
    if runner.wait(timeout=seconds + 60) != 0:
        raise SystemExit(f"LoadRunner failed; see {log_dir}")
    children, own = cpu_seconds(resource.RUSAGE_CHILDREN) - children, cpu_seconds(resource.RUSAGE_SELF) - own
    rate, requests = locust_rate(runner.stats_path)
    return rate, children / requests * 1e6, own / requests * 1e6, requests - received


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=6, help="length of each run")
    parser.add_argument("--rounds", type=int, default=5, help="plain/drill pairs per close share")
    parser.add_argument("--users", type=int, default=10)
    args = parser.parse_args()
    for tool in ("nginx", "wrk", "taskset"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is missing: apt-get install -y nginx-light wrk")
    os.sched_setaffinity(0, {SERVER_CPU})  # this process (the drill's consumer) shares nginx's CPU

    work = Path(tempfile.mkdtemp(prefix="nonstop-bench-load-"))
    nginx, url = start_nginx(work)
    http_user = work / "plain_http_user.py"
    http_user.write_text(HTTP_USER)
    rates: dict[str, list[float]] = {}
    cpus: dict[str, list[float]] = {}
    ratios: dict[float, list[float]] = {}
    lost = 0

    def record(name: str, rate: float, cpu: float | None = None) -> None:
        rates.setdefault(name, []).append(rate)
        if cpu is not None:
            cpus.setdefault(name, []).append(cpu)

    try:
        record("wrk", run_wrk(url, args.users, args.seconds))
        for share in (0.0, 0.5):
            for round_ in range(args.rounds):
                # Alternate which goes first, so drift in the neighbours' load hits both alike.
                pair: dict[str, float] = {}
                for which in ("plain", "drill") if round_ % 2 == 0 else ("drill", "plain"):
                    if which == "plain":
                        rate, cpu = run_plain(url, BUNDLED_LOCUSTFILE, args.users, args.seconds, share, work)
                        record(f"plain locust, close share {share}", rate, cpu)
                    else:
                        rate, cpu, own_cpu, missing = run_drill(url, args.users, args.seconds, share, work)
                        record(f"drill LoadRunner, close share {share}", rate, cpu)
                        record(f"  + drill process, close share {share}", 0.0, own_cpu)
                        lost += missing
                    pair[which] = rate
                ratios.setdefault(share, []).append(pair["drill"] / pair["plain"])
        for _ in range(args.rounds):
            record("plain locust HttpUser, keep-alive", *run_plain(url, http_user, args.users, args.seconds, 0.0, work))
    finally:
        nginx.terminate()
        nginx.wait()
        shutil.rmtree(work, ignore_errors=True)

    rate = {name: statistics.median(values) for name, values in rates.items()}
    cpu = {name: statistics.median(values) for name, values in cpus.items()}
    print(f"{'load generator (CPU 0; nginx on CPU 1)':<42} {'req/s':>8} {'CPU µs/req':>11}  req/s of each run")
    for name, runs_of in rates.items():
        shown = f"{rate[name]:>8.0f}" if rate[name] else f"{'':>8}"
        per_request = f"{cpu[name]:>11.0f}" if name in cpu else f"{'':>11}"
        runs = ", ".join(f"{r:.0f}" for r in runs_of) if rate[name] else ""
        print(f"{name:<42} {shown} {per_request}  {runs}")
    for share, paired in ratios.items():
        plain, drill = f"plain locust, close share {share}", f"drill LoadRunner, close share {share}"
        extra = cpu[f"  + drill process, close share {share}"]
        print(
            f"close share {share}: drill/plain requests/s, median of pairs {statistics.median(paired):.1%} "
            f"({', '.join(f'{r:.0%}' for r in paired)}; target ≥ 90 %); "
            f"Locust CPU per request plain/drill {cpu[plain] / cpu[drill]:.1%}, "
            f"with the drill's decoding {cpu[plain] / (cpu[drill] + extra):.1%}"
        )
    print(f"records lost between Locust and the drill: {lost}")


if __name__ == "__main__":
    main()
