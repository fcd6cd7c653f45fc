"""`nonstop sandbox up --control-plane real`: applies, writes the kubeconfig last; SIGTERM removes both."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kubernetes import client, config

from nonstop.bundled import config_file

pytestmark = [pytest.mark.realcp, pytest.mark.slow]


def _children(pid: int) -> set[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True, check=False)
    return {int(p) for p in out.stdout.split()}


def test_sandbox_up_real_applies_then_writes_kubeconfig_and_stops_clean(realcp_binary: Path, tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    log = (tmp_path / "up.log").open("wb")
    argv = [sys.executable, "-m", "nonstop", "--log-format", "json", "sandbox", "up", "--control-plane", "real"]
    argv += ["--apply", str(config_file("examples/after.yaml")), "--kubeconfig-out", str(kubeconfig)]
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180
        while not kubeconfig.exists():
            assert proc.poll() is None, (tmp_path / "up.log").read_text()
            assert time.monotonic() < deadline, (tmp_path / "up.log").read_text()
            time.sleep(0.1)
        components = _children(proc.pid)
        assert len(components) == 4  # etcd, kube-apiserver, kube-controller-manager, kube-scheduler
        api = config.new_client_from_config(config_file=str(kubeconfig))
        raw = client.AppsV1Api(api).read_namespaced_deployment("web", "default", _preload_content=False)
        assert json.loads(raw.data)["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
        assert client.CoreV1Api(api).read_namespaced_service("web", "default").spec.cluster_ip.startswith("127.20.")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        assert not kubeconfig.exists()
        still = [pid for pid in components if Path(f"/proc/{pid}").exists()]
        assert still == []
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # lets it stop its components and remove its work directory
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()


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
