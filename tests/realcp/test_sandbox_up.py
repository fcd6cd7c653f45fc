"""`nonstop sandbox up --control-plane real`: the control plane and our node; applies, writes the kubeconfig
last; SIGTERM removes both, and the node's network namespace.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from kubernetes import client, config

from nonstop.bundled import config_file

pytestmark = [pytest.mark.realcp, pytest.mark.slow]


def _children(pid: int) -> set[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True, check=False)
    return {int(p) for p in out.stdout.split()}


def _first_pod_ready(core: client.CoreV1Api, deadline: float) -> client.V1Pod:
    while True:
        pods = core.list_namespaced_pod("default", label_selector="app=web").items
        ready = [p for p in pods if any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])]
        if ready:
            return ready[0]
        assert time.monotonic() < deadline, [p.status for p in pods]
        time.sleep(0.1)


def _netns_names() -> str:
    return subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout


def test_sandbox_up_real_runs_the_node_serves_the_service_and_stops_clean(
    realcp_binary: Path, pod_network_possible: None, tmp_path: Path
) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    log_path = tmp_path / "up.log"
    log = log_path.open("wb")
    argv = [sys.executable, "-m", "nonstop", "--log-format", "json", "sandbox", "up", "--control-plane", "real"]
    argv += ["--apply", str(config_file("examples/after.yaml")), "--kubeconfig-out", str(kubeconfig)]
    started = time.monotonic()
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180
        while not kubeconfig.exists():
            assert proc.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.1)
        kubeconfig_after = time.monotonic() - started
        api = config.new_client_from_config(config_file=str(kubeconfig))
        core = client.CoreV1Api(api)
        node = core.read_node("sandbox")  # the node joined before the kubeconfig was written
        assert not [t for t in node.spec.taints or [] if t.key == "node.kubernetes.io/not-ready"]
        raw = client.AppsV1Api(api).read_namespaced_deployment("web", "default", _preload_content=False)
        assert json.loads(raw.data)["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
        pod = _first_pod_ready(core, time.monotonic() + 90)
        ready_after = time.monotonic() - started
        assert pod.status.pod_ip.startswith("198.18.")
        events = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
        [network] = [e for e in events if e.get("event") == "pod network ready"]
        assert network["netns"] in _netns_names()
        cluster_ip = core.read_namespaced_service("web", "default").spec.cluster_ip
        assert cluster_ip.startswith("127.20.")
        answer = _get_through(cluster_ip, 80, deadline=time.monotonic() + 30)
        assert answer == (200, pod.metadata.name)
        # etcd, kube-apiserver, kube-controller-manager, kube-scheduler, the data plane on the host
        # and the one inside the pod network namespace, the pod
        children = _children(proc.pid)
        assert len(children) == 7, children
        print(f"kubeconfig {kubeconfig_after:.1f} s, first pod Ready {ready_after:.1f} s after start")  # bench (-s)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        assert not kubeconfig.exists()
        still = [pid for pid in children if Path(f"/proc/{pid}").exists()]
        assert still == []
        assert network["netns"] not in _netns_names()  # the namespace, its link and routes went with it
        routes = subprocess.run(["ip", "route"], capture_output=True, text=True, check=True).stdout
        assert network["pod_cidr"] not in routes
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # lets it stop its components and remove its work directory
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()


def _get_through(host: str, port: int, *, deadline: float) -> tuple[int, str]:
    """GET / through the ClusterIP until the data plane answers (it applies endpoints after its lag)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback only, whatever $http_proxy says
    while True:
        try:
            with opener.open(f"http://{host}:{port}/", timeout=2) as response:
                return int(response.status), str(response.headers["X-Pod-Name"])
        except OSError:
            assert time.monotonic() < deadline, f"no answer from {host}:{port}"
            time.sleep(0.2)


def test_without_root_real_is_one_sentence(tmp_path: Path) -> None:
    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0 or setpriv is None:
        pytest.skip("needs root and setpriv to run the command as another user")
    argv = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]
    argv += [sys.executable, "-m", "nonstop", "sandbox", "up", "--control-plane", "real"]
    argv += ["--kubeconfig-out", str(tmp_path / "kubeconfig")]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: "), done.stderr
    assert "needs root" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_component_that_cannot_start_is_one_sentence_with_its_log_tail(realcp_binary: Path, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        argv = [sys.executable, "-m", "nonstop", "sandbox", "up", "--control-plane", "real", "--port", str(port)]
        argv += ["--kubeconfig-out", str(tmp_path / "kubeconfig")]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 2
    error = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(error) == 1, done.stderr
    assert "kube-apiserver exited with code 1 before it was ready" in error[0]
    assert "address already in use" in error[0]
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "kubeconfig").exists()
    shutil.rmtree(error[0].split("(log: ")[1].split("/logs/")[0])  # the work directory it kept for the log
