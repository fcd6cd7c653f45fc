"""The drill's default load: paced HTTP GETs, a share of the users on a new connection every time.

Loaded by Locust (``locust -f``); nonstop never imports it (importing Locust monkey-patches sockets and
threads). Settings come from environment variables, so every process of a master/worker run reads the
same ones (nonstop's LoadRunner sets them from the spec's ``load:`` block):

``NONSTOP_LOAD_PATH``
    Path every request asks for (``load.path``). Default ``/``.
``NONSTOP_LOAD_METHOD``
    ``GET`` or ``POST`` (``load.method``). A POST carries a small JSON body and is never retried by the
    client, as a payment or any other non-idempotent request. Default ``GET``.
``NONSTOP_LOAD_USER_RATE``
    Requests per second each user aims for (``load.userRate``), paced with Locust's
    ``constant_throughput``: a user waits out the rest of its 1/rate slot after each request, and
    sends at once when a request took longer than that. Default 20.
``NONSTOP_LOAD_TIMEOUT``
    Seconds (``load.timeoutSeconds``): connect and each read time out after this long, and a
    request that succeeded but took longer still counts as a failure (a ``TimeoutError``). Default 5.
``NONSTOP_LOAD_CLOSE_SHARE``
    Share of the users (0–1) that send ``Connection: close`` and drop their connection after every
    request. kube-proxy picks a backend per *connection*, so these users sample the routing on every
    request instead of staying pinned to one pod; the others keep their connection alive, as real
    clients do. Default 0.5.

Each variable is also a Locust option (``--nonstop-load-path``, ``--nonstop-load-method``, ``--nonstop-load-user-rate``,
``--nonstop-load-timeout``, ``--nonstop-load-close-share``) whose value defaults to the variable. A
Locust master forwards its options to its workers, so a worker started without the variables (a
worker pod of the Argo workflow) applies the master's path, rate and timeout when its test starts.
The close share is the master's alone to apply: it sets the user classes' weights, and the master
decides how many users of each class every worker runs.

Both user classes are FastHttpUser (geventhttpclient): several times the throughput of HttpUser per
core (bench/README.md has the figures). Each user owns one connection (``concurrency = 1``), so
geventhttpclient retries a GET whose connection closed before any response byte at most once, the way
browsers and Go's net/http treat a stale keep-alive connection; a POST never. The answering pod
(``X-Pod-Name``), the failure class and every such retry are recorded by the ``nonstop_stream``
plugin, which LoadRunner loads next to any locustfile.
"""

from __future__ import annotations

import os
from fractions import Fraction
from typing import Any

from locust import FastHttpUser, constant_throughput, events, task

PATH = os.environ.get("NONSTOP_LOAD_PATH", "/")
METHOD = os.environ.get("NONSTOP_LOAD_METHOD", "GET").upper()
USER_RATE = float(os.environ.get("NONSTOP_LOAD_USER_RATE", "20"))
TIMEOUT_SECONDS = float(os.environ.get("NONSTOP_LOAD_TIMEOUT", "5"))
CLOSE_SHARE = min(1.0, max(0.0, float(os.environ.get("NONSTOP_LOAD_CLOSE_SHARE", "0.5"))))

# Locust splits users between classes by integer weight: 0.5 → 1:1, 0.3 → 3:7.
_SHARE = Fraction(CLOSE_SHARE).limit_denominator(20)
_SETTINGS: dict[str, Any] = {"path": PATH, "method": METHOD, "timeout_ms": TIMEOUT_SECONDS * 1000.0}
POST_BODY = b'{"nonstop":"drill"}'
"""What a POST sends: small, so the request is about the method, not the upload."""


class _DrillUser(FastHttpUser):
    abstract = True
    wait_time = constant_throughput(USER_RATE)
    connection_timeout = TIMEOUT_SECONDS
    network_timeout = TIMEOUT_SECONDS
    concurrency = 1
    request_headers: dict[str, str] = {}  # noqa: RUF012 - read-only per class

    @task
    def send(self) -> None:
        method, path = _SETTINGS["method"], _SETTINGS["path"]
        if method == "POST":
            headers = {**self.request_headers, "Content-Type": "application/json"}
            request = self.client.request("POST", path, data=POST_BODY, headers=headers, catch_response=True)
        else:
            request = self.client.request("GET", path, headers=self.request_headers, catch_response=True)
        with request as response:
            elapsed_ms = response.request_meta["response_time"]
            limit_ms = _SETTINGS["timeout_ms"]
            if response.request_meta["exception"] is None and elapsed_ms > limit_ms:
                response.failure(TimeoutError(f"answered after {elapsed_ms:.0f} ms, over {limit_ms:.0f} ms"))
        self.after_request()

    def after_request(self) -> None:
        """Hook run after every request."""


class KeepAliveUser(_DrillUser):
    """Keeps its connection open between requests, as browsers and most clients do."""

    abstract = _SHARE >= 1
    weight = max(1, _SHARE.denominator - _SHARE.numerator)


class ClosingUser(_DrillUser):
    """Opens a new connection for every request, so each request is routed afresh."""

    abstract = _SHARE <= 0
    weight = max(1, _SHARE.numerator)
    request_headers = {"Connection": "close"}  # noqa: RUF012 - read-only per class

    def after_request(self) -> None:
        # The server closes after answering `Connection: close`; dropping the client's pool as well
        # guarantees a new connection even when a server keeps it open regardless.
        pool: Any = self.client.client.clientpool
        pool.close()


@events.init_command_line_parser.add_listener
def _add_arguments(parser: Any) -> None:
    for name, variable, kind in (
        ("path", "NONSTOP_LOAD_PATH", str),
        ("method", "NONSTOP_LOAD_METHOD", str),
        ("user-rate", "NONSTOP_LOAD_USER_RATE", float),
        ("timeout", "NONSTOP_LOAD_TIMEOUT", float),
        ("close-share", "NONSTOP_LOAD_CLOSE_SHARE", float),
    ):
        parser.add_argument(
            f"--nonstop-load-{name}", env_var=variable, type=kind, default=None, include_in_web_ui=False,
            help=f"nonstop's default load: {variable} (forwarded to workers)",
        )  # fmt: skip


@events.test_start.add_listener
def _apply_options(environment: Any, **_kwargs: Any) -> None:
    """Take the path, rate and timeout from the options (on a worker: the master's)."""
    options = environment.parsed_options
    path = getattr(options, "nonstop_load_path", None)
    method = getattr(options, "nonstop_load_method", None)
    rate = getattr(options, "nonstop_load_user_rate", None)
    timeout = getattr(options, "nonstop_load_timeout", None)
    if path is not None:
        _SETTINGS["path"] = path
    if method is not None:
        _SETTINGS["method"] = method.upper()
    if rate is not None:
        _DrillUser.wait_time = constant_throughput(float(rate))
    if timeout is not None:
        _DrillUser.connection_timeout = _DrillUser.network_timeout = float(timeout)
        _SETTINGS["timeout_ms"] = float(timeout) * 1000.0
