"""`nonstop workflows submit` against a local HTTP endpoint that checks what the Argo Server API expects."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self

import pytest
import yaml

from nonstop.cli import main
from nonstop.errors import InputError
from workflows.submit import ArgoServer

DRILL = """\
apiVersion: nonstop.dev/v1alpha1
kind: Drill
metadata:
  name: web-restart
spec:
  target:
    name: web
    service: web
    namespace: shop   # the target's namespace
  decision:
    onFail: none
"""


class FakeArgoServer:
    """Records each request; answers POST /api/v1/workflows/{ns} like the Argo Server (the created Workflow)."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.requests: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"null")
                outer.requests.append(
                    {"method": "POST", "path": self.path, "headers": dict(self.headers.items()), "body": body}
                )
                if outer.status != 200:
                    payload: dict[str, Any] = {"code": 7, "message": "workflows.argoproj.io is forbidden"}
                else:
                    workflow = body["workflow"]
                    namespace = self.path.rsplit("/", 1)[-1]
                    meta = {
                        **workflow["metadata"],
                        "name": workflow["metadata"]["generateName"] + "abcde",
                        "namespace": namespace,
                    }
                    payload = {**workflow, "metadata": meta}
                data = json.dumps(payload).encode()
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # the base class's name
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def drill_file(tmp_path: Path) -> Path:
    path = tmp_path / "drill.yaml"
    path.write_text(DRILL, encoding="utf-8")
    return path


@pytest.fixture
def argo() -> Iterator[FakeArgoServer]:
    with FakeArgoServer() as server:
        yield server


def _clean_env(**extra: str) -> dict[str, str]:
    return dict(extra)


@dataclass
class Done:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def submit(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Callable[..., Done]:
    """Run `nonstop workflows submit ARGS` in this process with exactly the given environment."""

    def run(*args: str, env: dict[str, str]) -> Done:
        for key in list(os.environ):
            if key.startswith("ARGO_"):
                monkeypatch.delenv(key)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        capsys.readouterr()
        try:
            main(["workflows", "submit", *args])
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return Done(code, out, err)

    return run


def test_submit_posts_the_workflow_the_argo_server_expects(
    argo: FakeArgoServer, drill_file: Path, submit: Callable[..., Done]
) -> None:
    """POST /api/v1/workflows/<target ns>, Bearer token, body {"workflow": …} from nonstop-drill, the spec verbatim."""
    done = submit("-f", str(drill_file), "--argo-server", argo.url, "--token", "s3cret", env=_clean_env())
    assert done.returncode == 0, done.stderr
    assert "submitted workflow shop/nonstop-web-restart-abcde for drill web-restart" in done.stdout
    (request,) = argo.requests
    assert request["path"] == "/api/v1/workflows/shop"
    assert request["headers"]["Authorization"] == "Bearer s3cret"
    assert request["headers"]["Content-Type"] == "application/json"
    assert set(request["body"]) == {"workflow"}
    workflow = request["body"]["workflow"]
    assert workflow["apiVersion"] == "argoproj.io/v1alpha1"
    assert workflow["kind"] == "Workflow"
    assert workflow["metadata"]["generateName"] == "nonstop-web-restart-"
    assert workflow["metadata"]["namespace"] == "shop"
    assert workflow["metadata"]["labels"]["nonstop.dev/drill"] == "web-restart"
    assert workflow["spec"]["workflowTemplateRef"] == {"name": "nonstop-drill"}
    assert workflow["spec"]["arguments"]["parameters"] == [{"name": "drill", "value": DRILL}]
    assert yaml.safe_load(workflow["spec"]["arguments"]["parameters"][0]["value"])["metadata"]["name"] == "web-restart"


def test_submit_takes_server_token_and_namespace_from_the_argo_cli_env(
    argo: FakeArgoServer, drill_file: Path, submit: Callable[..., Done]
) -> None:
    """ARGO_SERVER (host:port) + ARGO_SECURE=false; ARGO_TOKEN keeps its Bearer prefix; ARGO_NAMESPACE wins."""
    host_port = argo.url.removeprefix("http://")
    env = _clean_env(ARGO_SERVER=host_port, ARGO_SECURE="false", ARGO_TOKEN="Bearer v2:abc", ARGO_NAMESPACE="argo")
    done = submit("-f", str(drill_file), env=env)
    assert done.returncode == 0, done.stderr
    (request,) = argo.requests
    assert request["path"] == "/api/v1/workflows/argo"
    assert request["headers"]["Authorization"] == "Bearer v2:abc"


def test_submit_refused_by_the_server_is_one_sentence_exit_2(drill_file: Path, submit: Callable[..., Done]) -> None:
    """A 403 from the Argo Server: exit 2, one line naming the server and the drill, no traceback."""
    with FakeArgoServer(status=403) as argo:
        done = submit("-f", str(drill_file), "--argo-server", argo.url, "--token", "t", env=_clean_env())
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"error: Argo Server {argo.url}/: submitting drill web-restart failed")
    assert len(argo.requests) == 1


def test_submit_without_a_server_or_with_a_bad_spec_sends_nothing(
    argo: FakeArgoServer, tmp_path: Path, submit: Callable[..., Done]
) -> None:
    """No server configured, or an invalid spec: exit 2 with one sentence, and no request is made."""
    good = tmp_path / "good.yaml"
    good.write_text(DRILL, encoding="utf-8")
    done = submit("-f", str(good), env=_clean_env())
    assert done.returncode == 2
    assert "no Argo Server given" in done.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text(DRILL.replace("service: web", "servise: web"), encoding="utf-8")
    done = submit("-f", str(bad), "--argo-server", argo.url, env=_clean_env())
    assert done.returncode == 2
    assert str(bad) in done.stderr
    assert "field spec.target.service" in done.stderr
    assert argo.requests == []


@pytest.mark.parametrize(
    ("server", "env", "url"),
    [
        ("https://argo.example.com:2746", {}, "https://argo.example.com:2746/"),
        (None, {"ARGO_SERVER": "argo:2746"}, "https://argo:2746/"),
        (None, {"ARGO_SERVER": "argo:2746", "ARGO_SECURE": "false"}, "http://argo:2746/"),
        (None, {"ARGO_SERVER": "argo:443", "ARGO_BASE_HREF": "/argo/"}, "https://argo:443/argo/"),
    ],
)
def test_argo_server_resolution_follows_the_argo_cli(server: str | None, env: dict[str, str], url: str) -> None:
    """Flags first, then ARGO_SERVER as the argo CLI reads it (no scheme; https unless ARGO_SECURE=false; base href)."""
    assert ArgoServer.resolve(server=server, token=None, namespace=None, env=env).url == url


def test_argo_server_rejects_other_schemes() -> None:
    """--argo-server grpc://… is a user error naming the flag."""
    with pytest.raises(InputError, match="--argo-server"):
        ArgoServer.resolve(server="grpc://argo:2746", token=None, namespace=None, env={})
