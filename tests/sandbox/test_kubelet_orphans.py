"""No pod process outlives the sandbox: SIGTERM (clean stop) and SIGKILL (PDEATHSIG) of `nonstop sandbox up`."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from kubelet_helpers import alive, container, pids_with_env, pod, sleeper, wait_for, wait_running
from kubernetes import client, config

from nonstop.sandbox.launcher import SandboxProcess

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_no_pod_process_outlives_the_sandbox(tmp_path: Path, sig: signal.Signals) -> None:
    sandbox = SandboxProcess(workdir=tmp_path, extra_args=[]).start()
    try:
        assert sandbox.process is not None
        api = client.CoreV1Api(config.new_client_from_config(config_file=str(sandbox.kubeconfig)))
        stubborn = container(image="busybox", command=sleeper(ignore_sigterm=True, pid_file=tmp_path / "pid"))
        api.create_namespaced_pod("default", pod("app", container(env=[{"name": "GRACEFUL_SHUTDOWN", "value": "1"}])))
        api.create_namespaced_pod("default", pod("stubborn", stubborn))
        ips = [wait_running(api, "default", name)["status"]["podIP"] for name in ("app", "stubborn")]
        wait_for((tmp_path / "pid").exists, message="the stubborn pod ignores SIGTERM")

        def pod_pids() -> list[int]:
            return [p for ip in ips for p in pids_with_env(f"POD_IP={ip}")]

        pids = wait_for(lambda: len(pod_pids()) >= 2 and pod_pids(), message="both pod processes")
        sandbox.process.send_signal(sig)
        sandbox.process.wait(timeout=30)
        wait_for(lambda: not [p for p in pids if alive(p)], timeout=10, message="every pod process gone")
        assert not [p for p in pod_pids() if alive(p)]
    finally:
        sandbox.stop()
