"""Init containers and native sidecars on the sandbox kubelet, as real processes with real signals.

Kubernetes' semantics (k/k `getPhase`, `GeneratePodInitializedCondition`, `terminationOrdering`):
init containers run one at a time, each to exit 0, before any main container; a failing one is
retried with back-off (or fails the pod under `restartPolicy: Never`); a native sidecar
(`restartPolicy: Always`) lets the next container start once it has *started*, keeps running, is
restarted when it exits, counts for `Ready`, and gets SIGTERM only after every main container exited.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from kubelet_helpers import (
    PY,
    condition,
    container,
    core,
    delete_and_watch,
    events,
    pod,
    raw_pod,
    sleeper,
    stamp,
    wait_for,
    wait_ready,
)

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]

MARGIN = 0.2  # the kubelet's timing promise (docs/sandbox.md), as in test_kubelet_termination.py


def _stamping(name: str, *, seconds: float = 0.0, code: int = 0, then_sleep: bool = False) -> list[str]:
    """A command appending `<name> start|end <unix time>` lines to the file `$STAMPS`."""
    body = (
        "import os, time\n"
        "def note(what):\n"
        "    with open(os.environ['STAMPS'], 'a') as f:\n"
        f"        f.write('{name} ' + what + ' %f\\n' % time.time())\n"
        "note('start')\n"
        f"time.sleep({seconds})\n"
        "note('end')\n"
    )
    body += "time.sleep(600)\n" if then_sleep else f"raise SystemExit({code})\n"
    return [PY, "-c", body]


def _stamps(path: Path) -> dict[str, float]:
    out = {}
    for line in path.read_text().splitlines() if path.exists() else []:
        name, what, at = line.split()
        out.setdefault(f"{name}.{what}", float(at))
    return out


def _init_status(obj: dict[str, Any] | None, name: str) -> dict[str, Any]:
    for cs in (obj or {}).get("status", {}).get("initContainerStatuses") or []:
        if cs["name"] == name:
            return dict(cs)
    return {}


def _main_status(obj: dict[str, Any] | None, name: str = "app") -> dict[str, Any]:
    for cs in (obj or {}).get("status", {}).get("containerStatuses") or []:
        if cs["name"] == name:
            return dict(cs)
    return {}


def _exists(path: Path) -> list[str]:
    """An exec handler's command: succeeds once `path` exists."""
    return [PY, "-c", f"import os; raise SystemExit(not os.path.exists({str(path)!r}))"]


def _write_time(path: Path) -> list[str]:
    """An exec handler's command: writes the time it ran to `path`."""
    return [PY, "-c", f"import time; open({str(path)!r}, 'w').write(str(time.time()))"]


def _kubectl(sandbox: Any, *args: str) -> str:
    """The machine's real kubectl against the sandbox; its output."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")}
    env["KUBECONFIG"] = sandbox.kubeconfig
    env["HOME"] = str(Path(sandbox.kubeconfig).parent)
    done = subprocess.run(["kubectl", *args], check=True, capture_output=True, text=True, env=env, timeout=60)
    return done.stdout


def _kubectl_row(sandbox: Any, namespace: str, name: str) -> list[str]:
    """`kubectl get pod`: NAME READY STATUS (e.g. `Init:CrashLoopBackOff`) RESTARTS AGE."""
    return _kubectl(sandbox, "get", "pod", name, "-n", namespace, "--no-headers").split()


def _in_order(api: Any, namespace: str, name: str, reason: str) -> list[dict[str, Any]]:
    """The pod's events with `reason`, oldest first (the sandbox's resourceVersions only grow)."""
    found = [e for e in events(api, namespace, name) if e["reason"] == reason]
    return sorted(found, key=lambda e: int(e["metadata"]["resourceVersion"]))


def _started_events(api: Any, namespace: str, name: str) -> list[str]:
    return [e["involvedObject"].get("fieldPath", "") for e in _in_order(api, namespace, name, "Started")]


def test_init_containers_run_in_order_each_to_completion_before_the_main_container(
    sandbox, namespace, tmp_path: Path
) -> None:
    api = core(sandbox)
    stamps = tmp_path / "stamps"
    env = [{"name": "STAMPS", "value": str(stamps)}]
    spec = pod(
        "ordered",
        container(image="busybox", command=_stamping("app", then_sleep=True), env=env),
        initContainers=[
            container("init-1", image="busybox", command=_stamping("init-1", seconds=1.5), env=env),
            container("init-2", image="busybox", command=_stamping("init-2", seconds=0.3), env=env),
        ],
    )
    api.create_namespaced_pod(namespace, spec)

    def initializing() -> dict[str, Any] | None:
        p = raw_pod(api, namespace, "ordered")
        return p if "running" in _init_status(p, "init-1").get("state", {}) else None

    during = wait_for(initializing, message="init-1 running")
    assert during["status"]["phase"] == "Pending"
    assert condition(during, "Initialized") == {
        **condition(during, "Initialized"),
        "status": "False",
        "reason": "ContainersNotInitialized",
        "message": "containers with incomplete status: [init-1 init-2]",
    }
    assert _init_status(during, "init-2")["state"] == {"waiting": {"reason": "PodInitializing"}}
    assert _main_status(during)["state"] == {"waiting": {"reason": "PodInitializing"}}
    assert _main_status(during)["ready"] is False

    ready = wait_ready(api, namespace, "ordered")
    at = wait_for(lambda: (s := _stamps(stamps)) and "app.start" in s and s, message="the app's start stamp")
    assert at["init-1.end"] <= at["init-2.start"] <= at["init-2.end"] <= at["app.start"]
    assert at["init-2.start"] - at["init-1.start"] >= 1.5  # init-2 waited for init-1's whole run
    for name in ("init-1", "init-2"):
        cs = _init_status(ready, name)
        assert cs["state"]["terminated"]["exitCode"] == 0
        assert cs["state"]["terminated"]["reason"] == "Completed"
        assert cs["ready"] is True  # a regular init container is ready once it exited 0
        assert cs["started"] is False
        assert cs["restartCount"] == 0
        assert cs["image"] == "busybox"
        assert cs["containerID"].startswith("sandbox://")
    assert condition(ready, "Initialized")["status"] == "True"
    assert ready["status"]["phase"] == "Running"
    started = _started_events(api, namespace, "ordered")
    assert started == ["spec.initContainers{init-1}", "spec.initContainers{init-2}", "spec.containers{app}"]
    created = [e["message"] for e in _in_order(api, namespace, "ordered", "Created")]
    assert created == ["Created container: init-1", "Created container: init-2", "Created container: app"]
    typed = api.read_namespaced_pod("ordered", namespace)  # the official client's models accept the shapes
    assert [s.name for s in typed.status.init_container_statuses] == ["init-1", "init-2"]
    assert typed.status.init_container_statuses[0].state.terminated.exit_code == 0


@pytest.mark.requires("kubectl")
def test_a_failing_init_container_blocks_the_main_one_with_crashloop_backoff(sandbox, namespace) -> None:
    api = core(sandbox)
    spec = pod(
        "stuck",
        container(),
        initContainers=[container("migrate", image="busybox", command=[PY, "-c", "raise SystemExit(1)"])],
    )
    api.create_namespaced_pod(namespace, spec)

    def backing_off() -> dict[str, Any] | None:
        p = raw_pod(api, namespace, "stuck")
        waiting = _init_status(p, "migrate").get("state", {}).get("waiting", {})
        return p if waiting.get("reason") == "CrashLoopBackOff" else None

    p = wait_for(backing_off, message="Init:CrashLoopBackOff")
    cs = _init_status(p, "migrate")
    assert cs["restartCount"] == 1  # the first restart is at once, then the 10 s back-off
    assert cs["lastState"]["terminated"]["exitCode"] == 1
    assert cs["lastState"]["terminated"]["reason"] == "Error"
    assert cs["ready"] is False
    assert "back-off 10s restarting failed container=migrate pod=stuck_" in cs["state"]["waiting"]["message"]
    assert p["status"]["phase"] == "Pending"
    assert condition(p, "Initialized")["message"] == "containers with incomplete status: [migrate]"
    assert _main_status(p)["state"] == {"waiting": {"reason": "PodInitializing"}}
    assert _kubectl_row(sandbox, namespace, "stuck")[1:4] == ["0/1", "Init:CrashLoopBackOff", "1"]
    described = _kubectl(sandbox, "describe", "pod", "stuck", "-n", namespace)  # kubectl decodes every field
    init_part = described.split("Init Containers:")[1].split("Containers:")[0]
    assert re.search(r"Reason:\s+CrashLoopBackOff", init_part)
    assert re.search(r"Exit Code:\s+1\n", init_part)
    assert re.search(r"Initialized\s+False", described)
    backoff = [e for e in events(api, namespace, "stuck") if e["reason"] == "BackOff"]
    assert backoff
    assert backoff[0]["involvedObject"]["fieldPath"] == "spec.initContainers{migrate}"
    assert "spec.containers{app}" not in _started_events(api, namespace, "stuck")


@pytest.mark.requires("kubectl")
def test_a_failing_init_container_fails_a_pod_that_never_restarts(sandbox, namespace) -> None:
    api = core(sandbox)
    spec = pod(
        "once",
        container(),
        restartPolicy="Never",
        initContainers=[container("migrate", image="busybox", command=[PY, "-c", "raise SystemExit(3)"])],
    )
    api.create_namespaced_pod(namespace, spec)
    p = wait_for(lambda: (x := raw_pod(api, namespace, "once")) and x["status"].get("phase") == "Failed" and x)
    cs = _init_status(p, "migrate")
    assert cs["state"]["terminated"]["exitCode"] == 3
    assert cs["restartCount"] == 0
    assert _main_status(p)["state"] == {"waiting": {"reason": "PodInitializing"}}
    assert _kubectl_row(sandbox, namespace, "once")[1:3] == ["0/1", "Init:Error"]
    assert "spec.containers{app}" not in _started_events(api, namespace, "once")


def test_a_sidecar_startup_probe_holds_the_main_container_until_it_succeeds(sandbox, namespace, tmp_path: Path) -> None:
    api = core(sandbox)
    flag = tmp_path / "started"
    sidecar = container(
        "agent",
        image="busybox",
        command=sleeper(),
        restartPolicy="Always",
        startupProbe={"exec": {"command": _exists(flag)}, "periodSeconds": 1, "failureThreshold": 30},
    )
    api.create_namespaced_pod(namespace, pod("gated", container(), initContainers=[sidecar]))
    p = wait_for(
        lambda: (
            (x := raw_pod(api, namespace, "gated")) and "running" in _init_status(x, "agent").get("state", {}) and x
        ),
        message="the sidecar running",
    )
    time.sleep(1.5)  # a startup probe period or more: the main container must still wait
    p = raw_pod(api, namespace, "gated")
    assert _init_status(p, "agent")["started"] is False
    assert _main_status(p)["state"] == {"waiting": {"reason": "PodInitializing"}}
    assert p is not None
    assert p["status"]["phase"] == "Pending"
    assert condition(p, "Initialized")["message"] == "containers with incomplete status: [agent]"
    flag.touch()
    ready = wait_ready(api, namespace, "gated")
    agent = _init_status(ready, "agent")
    assert agent["started"] is True
    assert agent["ready"] is True  # no readiness probe: ready once started
    assert "running" in agent["state"]  # a sidecar keeps running beside the main container
    assert condition(ready, "Initialized")["status"] == "True"


def test_sidecar_readiness_counts_for_the_pod_and_an_exiting_sidecar_restarts(
    sandbox, namespace, tmp_path: Path
) -> None:
    api = core(sandbox)
    flag = tmp_path / "ready"
    crash_after = tmp_path / "crash"
    code = (
        "import os, time\n"
        "while not os.path.exists(" + repr(str(crash_after)) + "):\n"
        "    time.sleep(0.05)\n"
        "os.remove(" + repr(str(crash_after)) + ")\n"
        "raise SystemExit(2)\n"
    )
    sidecar = container(
        "agent",
        image="busybox",
        command=[PY, "-c", code],
        restartPolicy="Always",
        readinessProbe={"exec": {"command": _exists(flag)}, "periodSeconds": 1},
    )
    api.create_namespaced_pod(namespace, pod("mesh", container(), restartPolicy="Never", initContainers=[sidecar]))
    p = wait_for(
        lambda: (x := raw_pod(api, namespace, "mesh")) and "running" in _main_status(x).get("state", {}) and x,
        message="the main container running",
    )
    time.sleep(1.5)  # a readiness period or more: the unready sidecar keeps the pod unready
    p = raw_pod(api, namespace, "mesh")
    assert condition(p, "ContainersReady")["message"] == "containers with unready status: [agent]"
    assert condition(p, "Ready")["status"] == "False"
    flag.touch()
    wait_ready(api, namespace, "mesh")

    crash_after.touch()  # the sidecar exits 2: restarted although the pod's restartPolicy is Never
    p = wait_for(
        lambda: (x := raw_pod(api, namespace, "mesh")) and _init_status(x, "agent")["restartCount"] >= 1 and x,
        message="the sidecar restarted",
    )
    agent = _init_status(p, "agent")
    assert agent["lastState"]["terminated"]["exitCode"] == 2
    main = _main_status(p)
    assert main["restartCount"] == 0
    assert "running" in main["state"]
    assert p["status"]["phase"] == "Running"
    wait_ready(api, namespace, "mesh")  # the restarted sidecar is probed ready again


def _get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, response.headers.get("X-Pod-Name", "")


def test_a_native_sidecar_proxy_outlives_the_main_container_at_termination(sandbox, namespace, tmp_path: Path) -> None:
    """istio#7136's fix: the proxy gets SIGTERM only after the app exited, within the one grace period."""
    api = core(sandbox)
    hook = tmp_path / "prestop"
    proxy = container(
        "proxy",
        env=[{"name": "PORT", "value": "8080"}, {"name": "PROXY_UPSTREAM_PORT", "value": "8081"}],
        restartPolicy="Always",
        startupProbe={"tcpSocket": {"port": 8080}, "periodSeconds": 1},
        readinessProbe={"httpGet": {"path": "/ready", "port": 8080}, "periodSeconds": 1},
        lifecycle={"preStop": {"exec": {"command": _write_time(hook)}}},
    )  # not graceful: it exits at once on SIGTERM
    app = container(
        "app",
        env=[
            {"name": "PORT", "value": "8081"},
            {"name": "GRACEFUL_SHUTDOWN", "value": "true"},
            {"name": "SHUTDOWN_DELAY_SECONDS", "value": "2"},
        ],
        readinessProbe={"httpGet": {"path": "/ready", "port": 8081}, "periodSeconds": 1},
    )
    api.create_namespaced_pod(namespace, pod("meshed", app, initContainers=[proxy], terminationGracePeriodSeconds=10))
    ready = wait_ready(api, namespace, "meshed")
    ip = ready["status"]["podIP"]
    assert _get(f"http://{ip}:8080/") == (200, "meshed")  # through the proxy to the app

    served_while_app_drains: list[int] = []

    def probe_through_proxy() -> None:
        time.sleep(1.0)  # inside the app's 2 s shutdown delay, after both got the deletion
        served_while_app_drains.append(_get(f"http://{ip}:8080/")[0])

    prober = threading.Thread(target=probe_through_proxy)
    prober.start()
    _, seen = delete_and_watch(api, namespace, "meshed")
    prober.join()
    last = seen[-1][2]
    observed = stamp(last, "deletion-observed-at")
    app_sigterm, app_exit = stamp(last, "sigterm-at.app"), stamp(last, "exited-at.app")
    proxy_sigterm, proxy_exit = stamp(last, "sigterm-at.proxy"), stamp(last, "exited-at.proxy")
    assert served_while_app_drains == [200]  # the proxy still forwarded while the app drained
    assert abs(app_sigterm - observed) < MARGIN  # the main container first, at once
    assert abs(app_exit - app_sigterm - 2.0) < 1.0  # the app's own shutdown delay
    assert app_exit <= proxy_sigterm < app_exit + MARGIN  # the sidecar only after the app exited
    assert proxy_sigterm <= proxy_exit < proxy_sigterm + 1.0
    assert "sandbox.nonstop.dev/sigkill-at" not in last["metadata"]["annotations"]
    assert abs(float(hook.read_text()) - observed) < 0.5  # the sidecar's preStop ran at once (k8s: before its turn)
    proxy_state = _init_status(last, "proxy")["state"]["terminated"]
    assert proxy_state["exitCode"] == 143  # the non-graceful proxy died of SIGTERM...
    assert _main_status(last)["state"]["terminated"]["exitCode"] == 0
    assert last["status"]["phase"] == "Succeeded"  # ...which does not decide the pod's phase
    killing = [
        e["involvedObject"].get("fieldPath") for e in events(api, namespace, "meshed") if e["reason"] == "Killing"
    ]
    assert sorted(killing) == ["spec.containers{app}", "spec.initContainers{proxy}"]


def test_sidecars_stop_in_reverse_order_after_the_main_container(sandbox, namespace, tmp_path: Path) -> None:
    """Two sidecars: the later one gets SIGTERM once the app exited, the earlier one once the later one exited."""
    api = core(sandbox)
    armed = tmp_path / "armed"
    slow_exit = (
        "import signal, sys, time\n"
        "signal.signal(signal.SIGTERM, lambda *_: (time.sleep(1), sys.exit(0)))\n"
        f"open({str(armed)!r}, 'w').close()\n"
        "time.sleep(600)\n"
    )
    app = container(
        image="busybox",
        command=[PY, "-c", slow_exit],
        readinessProbe={"exec": {"command": _exists(armed)}, "periodSeconds": 1},
    )  # ready once its SIGTERM handler is in place
    spec = pod(
        "layers",
        app,
        initContainers=[
            container("first", image="busybox", command=sleeper(), restartPolicy="Always"),
            container("second", image="busybox", command=sleeper(), restartPolicy="Always"),
        ],
        terminationGracePeriodSeconds=10,
    )
    api.create_namespaced_pod(namespace, spec)
    wait_ready(api, namespace, "layers")
    _, seen = delete_and_watch(api, namespace, "layers")
    last = seen[-1][2]
    observed = stamp(last, "deletion-observed-at")
    assert abs(stamp(last, "sigterm-at.app") - observed) < MARGIN
    app_exit = stamp(last, "exited-at.app")
    second_sigterm, second_exit = stamp(last, "sigterm-at.second"), stamp(last, "exited-at.second")
    first_sigterm = stamp(last, "sigterm-at.first")
    assert abs(app_exit - stamp(last, "sigterm-at.app") - 1.0) < MARGIN  # its own 1 s shutdown
    assert app_exit <= second_sigterm < app_exit + MARGIN
    assert second_exit <= first_sigterm < second_exit + MARGIN
    assert stamp(last, "exited-at") == stamp(last, "exited-at.first")  # the pod's last exit is the first sidecar's
    assert [cs["state"]["terminated"]["exitCode"] for cs in last["status"]["initContainerStatuses"]] == [143, 143]
    assert last["status"]["phase"] == "Succeeded"  # the app exited 0; the sidecars' SIGTERM deaths do not count


def test_sidecars_stop_once_every_main_container_finished_and_the_pod_succeeds(sandbox, namespace) -> None:
    """A Job-style pod: the main container exits 0, the running sidecar is stopped, the phase is Succeeded."""
    api = core(sandbox)
    spec = pod(
        "job",
        container(image="busybox", command=[PY, "-c", "import time; time.sleep(0.5)"]),
        restartPolicy="Never",
        initContainers=[container("logs", image="busybox", command=sleeper(), restartPolicy="Always")],
        terminationGracePeriodSeconds=5,
    )
    api.create_namespaced_pod(namespace, spec)
    p = wait_for(lambda: (x := raw_pod(api, namespace, "job")) and x["status"].get("phase") == "Succeeded" and x)
    logs = _init_status(p, "logs")["state"]["terminated"]
    assert logs["exitCode"] == 143  # SIGTERM from the kubelet, not a restart
    assert _init_status(p, "logs")["restartCount"] == 0
    assert _main_status(p)["state"]["terminated"]["exitCode"] == 0
    assert condition(p, "Initialized") == {**condition(p, "Initialized"), "status": "True", "reason": "PodCompleted"}


def test_a_main_container_that_uses_the_whole_grace_period_leaves_the_sidecar_two_seconds(
    sandbox, namespace, tmp_path: Path
) -> None:
    """The sidecar's wait for its turn ends with the grace period; it then gets the 2 s minimum, then SIGKILL."""
    api = core(sandbox)

    def stubborn(name: str, **fields: Any) -> dict[str, Any]:
        armed = tmp_path / f"{name}.pid"  # written once SIGTERM is ignored: ready from then on
        command = sleeper(ignore_sigterm=True, pid_file=armed)
        probe = {"exec": {"command": _exists(armed)}, "periodSeconds": 1}
        return container(name, image="busybox", command=command, readinessProbe=probe, **fields)

    spec = pod(
        "stubborn",
        stubborn("app"),
        initContainers=[stubborn("agent", restartPolicy="Always")],
        terminationGracePeriodSeconds=3,
    )
    api.create_namespaced_pod(namespace, spec)
    wait_ready(api, namespace, "stubborn")
    _, seen = delete_and_watch(api, namespace, "stubborn")
    last = seen[-1][2]
    observed = stamp(last, "deletion-observed-at")
    assert abs(stamp(last, "exited-at.app") - observed - 3.0) < MARGIN  # SIGKILLed at the end of the grace period
    agent_sigterm = stamp(last, "sigterm-at.agent")
    assert abs(agent_sigterm - observed - 3.0) < MARGIN  # its turn came when the grace period ran out
    assert abs(stamp(last, "exited-at.agent") - agent_sigterm - 2.0) < MARGIN  # the 2 s minimum, then SIGKILL
    assert _init_status(last, "agent")["state"]["terminated"]["exitCode"] == 137


def test_a_pod_deleted_while_initialising_never_runs_its_main_container(sandbox, namespace) -> None:
    api = core(sandbox)
    spec = pod("early", container(), initContainers=[container("slow", image="busybox", command=sleeper())])
    api.create_namespaced_pod(namespace, spec)
    wait_for(lambda: "running" in _init_status(raw_pod(api, namespace, "early"), "slow").get("state", {}))
    _, seen = delete_and_watch(api, namespace, "early")
    last = seen[-1][2]
    assert _init_status(last, "slow")["state"]["terminated"]["exitCode"] == 143
    assert _main_status(last)["state"] == {"waiting": {"reason": "PodInitializing"}}
    assert last["status"]["phase"] == "Failed"
    assert "spec.containers{app}" not in _started_events(api, namespace, "early")
