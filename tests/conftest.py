"""Shared fixtures. Logs are data: structlog's defaults are reset around every test.

`sandbox` (session): ONE `nonstop sandbox up` subprocess shared by the whole session; its handle
gives `kubeconfig`, `url`, `api_client()`, `requests(since=0)`, `mark()`, `deny(verb, resource)`,
`allow_all()`, `expire_history()`, `faults(**plan)`. `namespace` (function): a fresh namespace per
test, deleted afterwards, so tests do not see each other's objects.

A sandbox controller's bug fails the run: every `sync failed` (or `keys_for failed`) a sandbox
logged — in a `nonstop sandbox up` subprocess or in this process — is an error at the end of the
session, naming the controller and the key, even when the test that provoked it passed on a retry.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

RUN_MARK = "NONSTOP_TEST_RUN"
"""Every process the test session starts inherits this variable (a value unique to the session), so a
process that survives the session can be found in /proc whoever its parent was (orphans are re-parented)."""


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "requires(tool): needs this program on PATH; skipped without it, a failure under CI=true"
    )
    os.environ.setdefault(RUN_MARK, uuid.uuid4().hex)


def pytest_runtest_setup(item: pytest.Item) -> None:
    for marker in item.iter_markers("requires"):
        for tool in marker.args:
            if shutil.which(tool) is None:
                if os.environ.get("CI") == "true":
                    pytest.fail(f"{tool} is not on PATH, and under CI=true a missing tool is a failure, not a skip")
                pytest.skip(f"{tool} is not on this machine")


def _survivors(mark: str) -> list[tuple[int, str]]:
    """Processes other than this one whose environment carries the session's mark."""
    found = []
    needle = f"{RUN_MARK}={mark}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            cmdline = (entry / "cmdline").read_bytes()
            found.append((int(entry.name), cmdline.replace(b"\0", b" ").decode(errors="replace").strip()))
        except OSError:  # gone meanwhile, or a kernel thread
            continue
    return found


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The test run ends by checking that no process it started survives it (issue 18: a leaked data plane)."""
    mark = os.environ.get(RUN_MARK)
    if not mark or hasattr(session.config, "workerinput"):
        return
    deadline = time.monotonic() + 10  # processes told to stop get a moment to finish
    survivors = _survivors(mark)
    while survivors and time.monotonic() < deadline:
        time.sleep(0.2)  # bounded wait for exits that are already under way
        survivors = _survivors(mark)
    if survivors:
        for pid, _ in survivors:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        listed = "; ".join(f"{pid}: {cmd[:160]}" for pid, cmd in survivors)
        print(f"\nerror: {len(survivors)} process(es) started by the tests outlived the session (killed now): {listed}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


CONTROLLER_FAULTS = ('"sync failed"', '"keys_for failed"')


@pytest.fixture(autouse=True, scope="session")
def _controller_faults_fail_the_run() -> Iterator[None]:
    """Collect controller faults from every sandbox the session ran, and fail at its end if there were any."""
    from nonstop.sandbox.controllers.loop import Controller
    from nonstop.sandbox.launcher import SandboxProcess

    faults: list[str] = []
    original_stop, original_failed = SandboxProcess.stop, Controller._sync_failed

    def stop(self: SandboxProcess, *args: Any, **kwargs: Any) -> Any:
        with contextlib.suppress(OSError):  # read before stop(): a temporary work directory goes with it
            faults.extend(
                line[:300]
                for line in self.log_path.read_text(errors="replace").splitlines()
                if any(fault in line for fault in CONTROLLER_FAULTS)
            )
        return original_stop(self, *args, **kwargs)

    def sync_failed(self: Controller[Any], key: Any, exc: Exception) -> None:
        faults.append(f"{self.name} (in process): sync failed for {key}: {exc!r}")
        original_failed(self, key, exc)

    SandboxProcess.stop = stop  # type: ignore[method-assign]
    Controller._sync_failed = sync_failed  # type: ignore[method-assign]
    try:
        yield
    finally:
        SandboxProcess.stop, Controller._sync_failed = original_stop, original_failed  # type: ignore[method-assign]
    expected = [f for f in faults if "broken-controller" in f]  # the one test that provokes it on purpose
    unexpected = [f for f in faults if f not in expected]
    if unexpected:
        pytest.fail(f"{len(unexpected)} sandbox controller fault(s) during the run: " + " | ".join(unexpected[:5]))


@pytest.fixture(autouse=True)
def _reset_structlog() -> Iterator[None]:
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()


class SandboxHandle:
    """The shared sandbox subprocess, as tests reach it: only over HTTP."""

    def __init__(self, kubeconfig: Path, url: str) -> None:
        self.kubeconfig = str(kubeconfig)
        self.url = url

    def api_client(self) -> Any:
        """A fresh `kubernetes.client.ApiClient` configured from the sandbox's kubeconfig."""
        from kubernetes import config

        return config.new_client_from_config(config_file=self.kubeconfig)

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read() or b"null")

    def requests(self, since: int = 0) -> list[dict[str, Any]]:
        """The API request log from index `since` (entries: time, caller, verb, resource, …, code)."""
        items: list[dict[str, Any]] = self._call("GET", f"/sandbox.nonstop.dev/requests?since={since}")["items"]
        return items

    def mark(self) -> int:
        """The request log's current index: `requests(since=mark())` shows only later requests."""
        mark: int = self._call("GET", "/sandbox.nonstop.dev/requests?since=999999999")["mark"]
        return mark

    def deny(self, verb: str, resource: str) -> None:
        """Make SelfSubjectAccessReview deny `verb` on `resource` (e.g. "patch", "deployments")."""
        self._call("POST", "/sandbox.nonstop.dev/access", {"deny": [[verb, resource]]})

    def allow_all(self) -> None:
        self._call("POST", "/sandbox.nonstop.dev/access", {"allowAll": True})

    def expire_history(self, resource_version: int | None = None) -> None:
        """Forget watch history up to now (or `resource_version`): older resumes get 410."""
        body = {"resourceVersion": resource_version} if resource_version else {}
        self._call("POST", "/sandbox.nonstop.dev/expire-history", body)

    def faults(self, **plan: Any) -> None:
        """Set the API's fault plan (latencyMs, errorRate, errorCode, verbs, resources, …); no args clears it."""
        self._call("POST", "/sandbox.nonstop.dev/faults", plan)

    def create_namespace(self, name: str) -> None:
        self._call("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})

    def delete_namespace(self, name: str) -> None:
        self._call("DELETE", f"/api/v1/namespaces/{name}")


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxHandle]:
    """One sandbox subprocess for the whole test session (CI has a time budget: share it)."""
    from nonstop.sandbox.launcher import SandboxProcess

    workdir = tmp_path_factory.mktemp("sandbox")
    process = SandboxProcess(workdir=workdir, extra_args=["--bookmark-interval", "1"])
    process.start()
    try:
        yield SandboxHandle(process.kubeconfig, process.url)
    finally:
        process.stop()


@pytest.fixture
def faults(sandbox: SandboxHandle) -> Iterator[Any]:
    """`faults(**plan)` sets the shared sandbox's fault plan for this test; teardown always clears it."""
    try:
        yield sandbox.faults
    finally:
        sandbox.faults()


@pytest.fixture
def namespace(sandbox: SandboxHandle, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace for this test (unique name), deleted afterwards."""
    base = "".join(c if c.isalnum() else "-" for c in request.node.name.lower())[:40].strip("-")
    name = f"{base}-{uuid.uuid4().hex[:6]}"
    sandbox.create_namespace(name)
    try:
        yield name
    finally:
        sandbox.allow_all()
        sandbox.delete_namespace(name)
