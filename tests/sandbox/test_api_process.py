"""`nonstop sandbox up` as a process, the in-process `Cluster`, auth, fault hooks, and import weight."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from nonstop.sandbox.cluster import Cluster
from nonstop.sandbox.launcher import SandboxProcess


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())


def _up(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nonstop", "sandbox", "up", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("a: [unclosed\n", "is not valid YAML at line"),
        ("apiVersion: v1\nkind: Gadget\nmetadata: {name: x}\n", "does not serve v1 Gadget"),
        ("kind: ConfigMap\n", "needs apiVersion and kind"),
    ],
)
def test_bad_apply_file_is_one_sentence_and_exit_2(tmp_path: Path, content: str, needle: str) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(content)
    done = _up("--apply", str(bad), "--kubeconfig-out", str(tmp_path / "kc"))
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert needle in done.stderr
    assert str(bad) in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "kc").exists()


def test_missing_apply_file_is_exit_2(tmp_path: Path) -> None:
    done = _up("--apply", str(tmp_path / "nope.yaml"), "--kubeconfig-out", str(tmp_path / "kc"))
    assert done.returncode == 2
    assert "cannot read manifest" in done.stderr


@pytest.mark.slow
def test_sandbox_up_applies_then_writes_kubeconfig_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    manifest = tmp_path / "objects.yaml"
    manifest.write_text(
        textwrap.dedent(
            """\
            apiVersion: v1
            kind: Namespace
            metadata: {name: shop}
            ---
            apiVersion: v1
            kind: ConfigMap
            metadata: {name: settings, namespace: shop}
            data: {color: blue}
            """
        )
    )
    process = SandboxProcess(apply=[manifest], workdir=tmp_path, extra_args=["--data-plane", "ingress"])
    process.start()
    try:
        assert process.kubeconfig.exists()
        assert _get(f"{process.url}/api/v1/namespaces/shop/configmaps/settings")["data"] == {"color": "blue"}
        assert _get(f"{process.url}/version")["gitVersion"] == "v1.32.0"
    finally:
        code = process.stop()
    assert code == 0
    assert not process.kubeconfig.exists()  # removed on stop: its existence means "ready"


def test_in_process_cluster_serves_and_stops(tmp_path: Path) -> None:
    with Cluster(components=(), kubeconfig_path=tmp_path / "kc") as cluster:
        api = client.CoreV1Api(config.new_client_from_config(config_file=str(cluster.kubeconfig_path)))
        assert "default" in [ns.metadata.name for ns in api.list_namespace().items]
        url = cluster.url
    with pytest.raises(urllib.error.URLError):
        _get(f"{url}/version")


def test_tokens_answer_401_and_403(tmp_path: Path) -> None:
    with Cluster(components=(), tokens={"good": 200, "expired": 401, "viewer": 403}) as cluster:
        for token, status in (("good", None), ("expired", 401), ("viewer", 403), ("unknown", 401)):
            configuration = client.Configuration(
                host=cluster.url, api_key={"authorization": token}, api_key_prefix={"authorization": "Bearer"}
            )
            api = client.CoreV1Api(client.ApiClient(configuration))
            if status is None:
                api.list_namespaced_pod("default")
                continue
            with pytest.raises(ApiException) as err:
                api.list_namespaced_pod("default")
            assert err.value.status == status
        callers = {e["caller"] for e in cluster.api.requests.since(0)}
        assert "good" in callers


def test_fault_hooks_inject_errors_and_latency() -> None:
    with Cluster(components=()) as cluster:
        api = client.CoreV1Api(config.new_client_from_config(config_file=str(cluster.kubeconfig_path)))
        request = urllib.request.Request(
            f"{cluster.url}/sandbox.nonstop.dev/faults",
            data=json.dumps({"errorRate": 1.0, "errorCode": 503, "verbs": ["list"], "resources": ["pods"]}).encode(),
            method="POST",
        )
        urllib.request.urlopen(request, timeout=10).close()
        with pytest.raises(ApiException) as err:
            api.list_namespaced_pod("default")
        assert err.value.status == 503
        api.list_namespaced_config_map("default")  # other resources are untouched
        cluster.api.faults.clear()
        api.list_namespaced_pod("default")


def test_importing_the_sandbox_does_not_import_hera_or_locust() -> None:
    code = (
        "import sys, nonstop.sandbox, nonstop.sandbox.cluster, nonstop.sandbox.apiserver, nonstop.sandbox.launcher;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('hera', 'locust', 'gevent')))"
    )
    done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "[]"


def test_dropping_watch_streams_ends_open_watches() -> None:
    with Cluster(components=()) as cluster:
        api = client.CoreV1Api(config.new_client_from_config(config_file=str(cluster.kubeconfig_path)))
        rv = api.list_namespaced_config_map("default").metadata.resource_version
        url = f"{cluster.url}/api/v1/namespaces/default/configmaps?watch=true&resourceVersion={rv}"
        with urllib.request.urlopen(url, timeout=10) as stream:
            cluster.api.faults.drop_watches()
            assert stream.read() == b""  # the stream ended (cleanly, with its last chunk)


@pytest.mark.slow
def test_ctrl_c_stops_sandbox_up_cleanly(tmp_path: Path) -> None:
    import signal

    process = SandboxProcess(workdir=tmp_path)
    process.start()
    assert process.process is not None
    process.process.send_signal(signal.SIGINT)
    assert process.process.wait(timeout=30) == 0
    assert not process.kubeconfig.exists()
    process.stop()


def test_busy_port_is_one_sentence_and_exit_2(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = _up("--port", str(port), "--kubeconfig-out", str(tmp_path / "kc"))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        f"error: cannot serve the sandbox API on 127.0.0.1:{port}: Address already in use"
    )


def test_apply_refused_by_the_api_names_the_file_and_object(tmp_path: Path) -> None:
    bad = tmp_path / "zero.yaml"
    bad.write_text(
        textwrap.dedent(
            """\
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: web}
            spec:
              selector: {matchLabels: {app: web}}
              strategy: {rollingUpdate: {maxSurge: 0, maxUnavailable: 0}}
              template:
                metadata: {labels: {app: web}}
                spec: {containers: [{name: web, image: nonstop/sample-app:v1}]}
            """
        )
    )
    done = _up("--apply", str(bad), "--kubeconfig-out", str(tmp_path / "kc"))
    assert done.returncode == 2
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: manifest {bad}: Deployment 'web' was refused: ")
    assert "may not be 0 when `maxSurge` is 0" in last
    assert not (tmp_path / "kc").exists()


def test_a_watch_whose_client_left_ends_without_waiting_for_a_change() -> None:
    import socket
    import time

    with Cluster(components=()) as cluster:
        host, port = "127.0.0.1", cluster.api.port
        with socket.create_connection((host, port), timeout=10) as sock:
            sock.sendall(b"GET /api/v1/namespaces/default/secrets?watch=true HTTP/1.1\r\nHost: x\r\n\r\n")
            assert sock.recv(12) == b"HTTP/1.1 200"
            assert cluster.api.open_watches == 1
        deadline = time.monotonic() + 5
        while cluster.api.open_watches and time.monotonic() < deadline:
            time.sleep(0.02)
        assert cluster.api.open_watches == 0
