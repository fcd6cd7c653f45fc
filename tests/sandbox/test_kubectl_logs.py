"""`kubectl logs` and the official client's `read_namespaced_pod_log` against the embedded sandbox:
per-instance logs (`--previous`), `--tail`, `--timestamps`, `--since`, `-f`, and the real API
server's and kubelet's refusals (docs/sandbox.md "Logs").
"""

from __future__ import annotations

import os
import re
import subprocess
import textwrap
import time
from pathlib import Path

import pytest
from kubelet_helpers import PY, container, core, pod, wait_for
from kubernetes.client.exceptions import ApiException
from test_kubectl_api import kubectl

pytestmark = [pytest.mark.sandbox, pytest.mark.requires("kubectl")]

STAMPED = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (.*)$")

# First instance: prints two lines and exits 1; the restart (at once: the back-off starts at 0) prints "second".
CRASH_ONCE = textwrap.dedent(
    """\
    import os, sys, time
    if os.path.exists("marker"):
        print("second", flush=True)
        time.sleep(600)
    open("marker", "w").close()
    print("first", flush=True)
    print("line2", flush=True)
    sys.exit(1)
    """
)
FIVE_LINES = "import time\nfor i in range(5): print('side', i, flush=True)\ntime.sleep(600)"


def _log(api, namespace: str, name: str, **options) -> str:
    try:
        return str(api.read_namespaced_pod_log(name, namespace, **options))
    except ApiException:
        return ""


def test_previous_tail_timestamps_and_the_refusals(sandbox, namespace) -> None:
    api = core(sandbox)
    api.create_namespaced_pod(
        namespace,
        pod(
            "crash",
            container("app", image="python", command=[PY, "-c", CRASH_ONCE]),
            container("side", image="python", command=[PY, "-c", FIVE_LINES]),
        ),
    )
    wait_for(lambda: _log(api, namespace, "crash", container="app") == "second\n", timeout=30, message="restart")
    wait_for(lambda: _log(api, namespace, "crash", container="side").count("\n") == 5, timeout=30)

    assert kubectl(sandbox, "logs", "-n", namespace, "crash", "-c", "app").stdout == "second\n"
    assert kubectl(sandbox, "logs", "-n", namespace, "crash", "-c", "app", "--previous").stdout == "first\nline2\n"
    defaulted = kubectl(sandbox, "logs", "-n", namespace, "crash")
    assert defaulted.stdout == "second\n"
    assert 'Defaulted container "app" out of: app, side' in defaulted.stderr
    assert kubectl(sandbox, "logs", "-n", namespace, "crash", "-c", "side", "--tail=2").stdout == "side 3\nside 4\n"
    stamped = kubectl(sandbox, "logs", "-n", namespace, "crash", "-c", "side", "--timestamps").stdout.splitlines()
    assert [m.group(1) for line in stamped if (m := STAMPED.match(line))] == [f"side {i}" for i in range(5)]
    no_previous = kubectl(sandbox, "logs", "-n", namespace, "crash", "-c", "side", "--previous", check=False)
    assert no_previous.returncode == 1
    assert no_previous.stderr.strip() == (
        'Error from server (BadRequest): previous terminated container "side" in pod "crash" not found'
    )

    # the official client sees the API server's own refusals (kubectl checks container names itself first)
    with pytest.raises(ApiException) as unnamed:
        api.read_namespaced_pod_log("crash", namespace)
    assert unnamed.value.status == 400
    assert "a container name must be specified for pod crash, choose one of: [app side]" in unnamed.value.body
    with pytest.raises(ApiException) as unknown:
        api.read_namespaced_pod_log("crash", namespace, container="nope")
    assert unknown.value.status == 400
    assert "container nope is not valid for pod crash" in unknown.value.body
    with pytest.raises(ApiException) as negative:
        api.read_namespaced_pod_log("crash", namespace, container="side", tail_lines=-1)
    assert negative.value.status == 422
    assert api.read_namespaced_pod_log("crash", namespace, container="app", previous=True) == "first\nline2\n"
    assert api.read_namespaced_pod_log("crash", namespace, container="side", tail_lines=1) == "side 4\n"
    assert api.read_namespaced_pod_log("crash", namespace, container="side", limit_bytes=8) == "side 0\ns"


def test_follow_streams_until_the_container_exits(sandbox, namespace) -> None:
    api = core(sandbox)
    ticks = "import time\nfor i in range(6):\n    print('tick', i, flush=True)\n    time.sleep(0.5)"
    api.create_namespaced_pod(
        namespace, pod("ticker", container("app", image="python", command=[PY, "-c", ticks]), restartPolicy="Never")
    )
    wait_for(lambda: _log(api, namespace, "ticker").startswith("tick 0"), timeout=30, message="first tick")
    started = time.monotonic()
    followed = kubectl(sandbox, "logs", "-f", "-n", namespace, "ticker")  # returns only once the container exits
    assert followed.stdout == "".join(f"tick {i}\n" for i in range(6))
    assert time.monotonic() - started < 30
    assert api.read_namespaced_pod(namespace=namespace, name="ticker").status.phase == "Succeeded"


def test_since_drops_older_lines(sandbox, namespace) -> None:
    api = core(sandbox)
    early_late = "import time\nprint('early', flush=True)\ntime.sleep(8)\nprint('late', flush=True)\ntime.sleep(600)"
    api.create_namespaced_pod(namespace, pod("since", container("app", image="python", command=[PY, "-c", early_late])))
    wait_for(lambda: "late" in _log(api, namespace, "since"), timeout=40, interval=0.1, message="late line")
    assert api.read_namespaced_pod_log("since", namespace, since_seconds=4) == "late\n"  # early is ≥ 8 s old
    assert kubectl(sandbox, "logs", "-n", namespace, "since", "--since=1h").stdout == "early\nlate\n"


def test_a_pod_not_yet_running_has_no_logs_yet(sandbox, namespace) -> None:
    api = core(sandbox)
    api.create_namespaced_pod(namespace, pod("pulling", container("app", image="registry.invalid/none:1")))
    wait_for(
        lambda: "waiting to start" in kubectl(sandbox, "logs", "-n", namespace, "pulling", check=False).stderr,
        timeout=30,
        message="waiting message",
    )
    refused = kubectl(sandbox, "logs", "-n", namespace, "pulling", check=False)
    assert refused.returncode == 1
    assert re.fullmatch(
        r'Error from server \(BadRequest\): container "app" in pod "pulling" is waiting to start: '
        r"(image can't be pulled|trying and failing to pull image|ContainerCreating)\n",
        refused.stderr,
    ), refused.stderr


def test_follow_streams_a_running_container_at_once(sandbox, namespace) -> None:
    """`-f` on a container that keeps running sends what is there at once (chunks flushed), then waits."""
    api = core(sandbox)
    api.create_namespaced_pod(namespace, pod("long", container("app", image="python", command=[PY, "-c", FIVE_LINES])))
    wait_for(lambda: _log(api, namespace, "long").count("\n") == 5, timeout=30)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")}
    env.update(KUBECONFIG=sandbox.kubeconfig, HOME=str(Path(sandbox.kubeconfig).parent))
    argv = ["kubectl", "logs", "-f", "-n", namespace, "long"]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env) as follower:
        try:
            assert follower.stdout is not None
            assert follower.stdout.readline() == b"side 0\n"
        finally:
            follower.kill()
    assert api.read_namespaced_pod_log("long", namespace, tail_lines=1) == "side 4\n"
