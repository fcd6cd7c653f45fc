"""report.html as a person sees it: real sandbox drills, their pages loaded in headless Chromium.

Two drills run on the shared sandbox, once for the module: the seed's broken Deployment (`before`)
under a pseudo-terminal, so the live progress panel runs for real, and its fixed one (`after`)
through pipes, as CI runs it. Chromium (Debian's package; `.ci/run` installs it) loads each page
from the file system; the test reads the browser's console through the DevTools protocol,
checks the page's DOM and JavaScript, and takes a screenshot.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import websocket
import xmlschema
from report_factory import made_up_report
from terminal_helpers import run_in_pty

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-quic"]  # fmt: skip
JUNIT_XSD = Path(__file__).parents[1] / "data" / "schemas" / "junit-10.xsd"


def _drill_helpers() -> ModuleType:
    """tests/drill/drill_helpers.py: how the drill tests apply manifests and build the CLI's argv."""
    if "drill_helpers" in sys.modules:
        return sys.modules["drill_helpers"]
    spec = importlib.util.spec_from_file_location(
        "drill_helpers", Path(__file__).parents[1] / "drill" / "drill_helpers.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["drill_helpers"] = module
    spec.loader.exec_module(module)
    return module


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (.ci/run installs Debian's chromium package)")
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    return found


@dataclass
class Drilled:
    code: int
    output: str
    report_dir: Path

    @property
    def report(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.report_dir / "report.json").read_text(encoding="utf-8"))
        return data


@pytest.fixture(scope="module")
def drills(sandbox: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Drilled]]:
    """`before` run under a pty, `after` run through pipes, each in a namespace of its own."""
    helpers = _drill_helpers()
    results: dict[str, Drilled] = {}
    namespaces: list[str] = []
    try:
        for case in ("before", "after"):
            namespace = f"chromium-{case}-{uuid.uuid4().hex[:6]}"
            sandbox.create_namespace(namespace)
            namespaces.append(namespace)
            tmp = tmp_path_factory.mktemp(f"drill-{case}")
            helpers.apply(sandbox, namespace, helpers.manifest(case), tmp)
            argv, report_dir = helpers.drill_command(sandbox, helpers.drill_spec(namespace), tmp)
            if case == "before":
                argv = [a for a in argv if a not in ("--log-format", "json")]  # what a person types
                env = {**os.environ, "TERM": "xterm-256color"}
                env.pop("NO_COLOR", None)
                code, output = run_in_pty(argv, timeout=240, env=env)
            else:
                done = subprocess.run(argv, capture_output=True, text=True, timeout=240, check=False)
                code, output = done.returncode, done.stderr
            results[case] = Drilled(code, output, report_dir)
        yield results
    finally:
        for namespace in namespaces:
            sandbox.delete_namespace(namespace)


class DevTools:
    """Just enough of the Chrome DevTools protocol: commands by id, events kept in order."""

    def __init__(self, url: str) -> None:
        self._socket = websocket.create_connection(url, timeout=60, suppress_origin=True)
        self._next = 0
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._next += 1
        ident = self._next
        self._socket.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads(self._socket.recv())
            if message.get("id") == ident:
                if "error" in message:
                    raise AssertionError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result
            if "method" in message:
                self.events.append(message)

    def wait_for(self, event: str, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = next((e for e in self.events if e["method"] == event), None)
            if found is not None:
                return found
            self._socket.settimeout(max(deadline - time.monotonic(), 0.1))
            message = json.loads(self._socket.recv())
            if "method" in message:
                self.events.append(message)
        raise AssertionError(f"no {event} within {timeout} s")

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def close(self) -> None:
        self._socket.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A headless Chromium with a fresh profile; yields its DevTools port."""
    chromium = _chromium()
    profile = tmp_path_factory.mktemp("chromium-profile")
    process = subprocess.Popen(
        [chromium, *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0", "--remote-allow-origins=*",
         "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    lines: list[str] = []
    found = threading.Event()

    def drain() -> None:  # keep reading stderr so Chromium never blocks on it
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line)
            if "DevTools listening on" in line:
                found.set()

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        assert found.wait(90), "Chromium did not start its DevTools endpoint:\n" + "".join(lines[-20:])
        url = next(line for line in lines if "DevTools listening on" in line).split()[-1]
        yield int(url.split(":")[2].split("/")[0])
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        reader.join(timeout=30)
        assert process.stderr is not None
        process.stderr.close()


@dataclass
class Page:
    title: str
    badge: str
    lanes: list[str]
    gaps: dict[str, str]
    rows: list[str]
    cursor_shown: bool
    problems: list[str]
    """Console errors, uncaught exceptions and error log entries."""
    screenshot: bytes


_INSPECT = """(() => {
  const lanes = [...document.querySelectorAll("#chart g.lane[data-pod]")];
  return {
    title: document.title,
    badge: document.querySelector("#verdict .badge").textContent,
    lanes: lanes.map(g => g.dataset.pod),
    gaps: Object.fromEntries(lanes.filter(g => g.querySelector("g.gap"))
                                  .map(g => [g.dataset.pod, g.querySelector("g.gap").getAttribute("class")])),
    rows: [...document.querySelectorAll("#pods tr[data-pod]")].map(r => r.dataset.pod),
    cursor: document.getElementById("cursor").getAttribute("visibility") === "visible",
    chart: (() => { const b = document.getElementById("chart").getBoundingClientRect();
                    return [b.left, b.top, b.width, b.height]; })(),
  };
})()"""


def open_page(port: int, page: Path) -> Page:
    """Load `page` in a new tab, move the mouse over the chart, read the DOM and the console, take a screenshot."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}/json/new?about:blank", method="PUT")
    with urllib.request.urlopen(request, timeout=30) as response:
        target = json.loads(response.read())
    tools = DevTools(target["webSocketDebuggerUrl"])
    try:
        for domain in ("Runtime", "Log", "Page"):
            tools.call(f"{domain}.enable")
        tools.call("Emulation.setDeviceMetricsOverride", width=1300, height=1300, deviceScaleFactor=1, mobile=False)
        tools.call("Page.navigate", url=page.resolve().as_uri())
        tools.wait_for("Page.loadEventFired")
        first = tools.evaluate(_INSPECT)
        left, top, width, height = first["chart"]
        tools.call("Input.dispatchMouseEvent", type="mouseMoved", x=left + width * 0.6, y=top + height * 0.3)
        seen = tools.evaluate(_INSPECT)
        shot = tools.call("Page.captureScreenshot", format="png")
        problems = []
        for event in tools.events:
            params = event.get("params", {})
            if event["method"] == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert", "warning"):
                problems.append(json.dumps(params.get("args")))
            elif event["method"] == "Runtime.exceptionThrown":
                problems.append(json.dumps(params.get("exceptionDetails")))
            elif event["method"] == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                problems.append(params["entry"].get("text", ""))
        return Page(seen["title"], seen["badge"], seen["lanes"], seen["gaps"], seen["rows"], seen["cursor"],
                    problems, base64.b64decode(shot["data"]))  # fmt: skip
    finally:
        tools.close()


@pytest.mark.parametrize("case", ["before", "after"])
def test_the_drill_page_opens_clean_in_chromium(
    drills: dict[str, Drilled], browser: int, case: str, tmp_path: Path
) -> None:
    """No console error; the verdict, a lane and a table row for every pod, red gaps where ordering failed."""
    drilled = drills[case]
    assert drilled.code in (0, 1), drilled.output[-3000:]
    report = drilled.report
    page = open_page(browser, drilled.report_dir / "report.html")
    assert page.problems == []
    assert page.badge == report["verdict"].upper()
    assert page.title == f"nonstop: {report['drill']} — {report['verdict'].upper()}"
    names = [pod["name"] for pod in report["pods"]]
    assert names
    assert page.lanes == names
    assert page.rows == names
    for pod in report["pods"]:
        if pod["orderingOk"] is not None and pod["endpointUnreadyAt"] and pod["stoppedAcceptingAt"]:
            assert page.gaps[pod["name"]] == ("gap ok" if pod["orderingOk"] else "gap short")
    assert page.cursor_shown  # the page's script ran: the time cursor follows the mouse
    assert page.screenshot.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(page.screenshot) > 20_000  # a rendered page, not a blank one
    (tmp_path / f"{case}.png").write_bytes(page.screenshot)
    if target := os.environ.get("NONSTOP_SCREENSHOT_DIR"):  # to refresh docs/report-example.png by hand
        Path(target, f"report-{case}.png").write_bytes(page.screenshot)


def test_the_seed_before_fails_and_after_passes(drills: dict[str, Drilled]) -> None:
    """The two pages show the two outcomes the demo is about."""
    assert (drills["before"].code, drills["before"].report["verdict"]) == (1, "fail")
    assert (drills["after"].code, drills["after"].report["verdict"]) == (0, "pass")


def test_a_real_drills_junit_xml_validates(drills: dict[str, Drilled]) -> None:
    """junit.xml beside each report validates against the JUnit schema, one testcase per check."""
    schema = xmlschema.XMLSchema(str(JUNIT_XSD))
    for drilled in drills.values():
        schema.validate(str(drilled.report_dir / "junit.xml"))
        document = schema.to_dict(str(drilled.report_dir / "junit.xml"))
        (suite,) = document["testsuite"]
        assert suite["@name"] == drilled.report["drill"]
        assert [case["@name"] for case in suite["testcase"]] == [c["name"] for c in drilled.report["checks"]]


def test_nonstop_report_renders_the_same_page_again(drills: dict[str, Drilled], tmp_path: Path) -> None:
    """`nonstop report report.json --out FILE` writes the very page the drill wrote."""
    drilled = drills["before"]
    out = tmp_path / "again.html"
    done = subprocess.run([sys.executable, "-m", "nonstop", "report", str(drilled.report_dir / "report.json"),
                           "--out", str(out)], capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert out.read_text(encoding="utf-8") == (drilled.report_dir / "report.html").read_text(encoding="utf-8")


def test_progress_is_live_on_a_terminal_and_plain_in_a_pipe(drills: dict[str, Drilled]) -> None:
    """Under a pty the drill redraws its progress panel; through pipes it writes JSON lines and no escape code."""
    live = drills["before"].output
    assert "nonstop drill test-drill" in live
    assert "\x1b[2K" in live or "\x1b[1A" in live
    assert "requests/s" in live
    plain = drills["after"].output
    assert "\x1b" not in plain
    events = [json.loads(line)["event"] for line in plain.splitlines() if line.startswith("{")]
    assert "drill phase" in events
    assert all(line.startswith("{") for line in plain.splitlines() if line.strip())


def test_a_page_with_thousands_of_failures_opens_clean(browser: int, tmp_path: Path) -> None:
    """5,000 failures over five terminating pods: still no console error, every lane drawn, a small page."""
    from nonstop.report.html import render_html

    report = made_up_report(failures=5000, serve_after=0.2, unattributed=500, old_pods=5)
    path = tmp_path / "report.html"
    path.write_text(render_html(report), encoding="utf-8")
    assert path.stat().st_size < 300_000
    page = open_page(browser, path)
    assert page.problems == []
    assert page.badge == "FAIL"
    assert page.lanes == [pod.name for pod in report.pods]
    assert set(page.gaps.values()) == {"gap short"}
