"""The observer reads a native sidecar's exit from `initContainerStatuses`, as the sandbox kubelet writes it.

A graceful app leaves first; the sidecar that ignores SIGTERM gets its turn after it, is SIGKILLed
when its 2 s run out, and that 137 is the pod's worst exit (what the graceful-exit check judges).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from nonstop.drill.observe import Observer
from nonstop.kube.api import Kube
from nonstop.kube.connection import connect


def _pod(name: str, armed: Path) -> dict[str, Any]:
    ignore = (
        "import signal, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        f"open({str(armed)!r}, 'w').close()\n"
        "time.sleep(600)\n"
    )
    armed_probe = [sys.executable, "-c", f"import os; raise SystemExit(not os.path.exists({str(armed)!r}))"]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "meshed"}},
        "spec": {
            "terminationGracePeriodSeconds": 3,
            "initContainers": [
                {"name": "envoy", "image": "busybox", "command": [sys.executable, "-c", ignore],
                 "restartPolicy": "Always", "readinessProbe": {"exec": {"command": armed_probe}, "periodSeconds": 1}},
            ],
            "containers": [
                {"name": "app", "image": "nonstop/sample-app:v1",
                 "env": [{"name": "GRACEFUL_SHUTDOWN", "value": "true"}],
                 "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}, "periodSeconds": 1}},
            ],
        },
    }  # fmt: skip


def test_a_sidecar_killed_after_the_app_left_is_the_pods_exit(sandbox: Any, namespace: str, tmp_path: Path) -> None:
    kube = Kube(connect(kubeconfig=sandbox.kubeconfig))
    observer = Observer(kube, namespace=namespace, pod_selector="app=meshed", service="meshed",
                        related_names=("meshed",), on_terminating=lambda _record: None)  # fmt: skip
    observer.start()
    try:
        kube.core.create_namespaced_pod(namespace, _pod("meshed-1", tmp_path / "armed"))
        deadline = time.monotonic() + 30
        while not any(p.name == "meshed-1" and p.ready_at is not None for p in observer.snapshot()):
            assert time.monotonic() < deadline, "the pod never became Ready"
            observer.wait_for_change(1.0)
        kube.core.delete_namespaced_pod("meshed-1", namespace)
        deadline = time.monotonic() + 30
        while not any(p.name == "meshed-1" and p.exit_code == 137 for p in observer.snapshot()):
            assert time.monotonic() < deadline, f"no 137 seen: {observer.snapshot()}"
            observer.wait_for_change(1.0)
        [record] = [p for p in observer.snapshot() if p.name == "meshed-1"]
        assert record.deleted_at is not None
        assert record.exited_at is not None
        assert record.exited_at - record.deleted_at < 1.5  # the app's exit came first, at once
    finally:
        observer.stop()
        kube.close()
