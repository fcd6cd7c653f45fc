"""The drill spec (`nonstop.dev/v1alpha1`, kind `Drill`), exactly as CONTRACT.md writes it.

Each sub-model is one concern; every field documents its unit, default and why, and those
docstrings become the JSON Schema descriptions `nonstop schema` prints.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.alias_generators import to_camel

from nonstop.errors import SpecError
from nonstop.strategies import STRATEGIES
from nonstop.toolkit.yamldocs import documents, error_line

__all__ = [
    "BudgetSpec",
    "ChaosSpec",
    "DecisionSpec",
    "Drill",
    "DrillMetadata",
    "DrillSpec",
    "GracefulExitSpec",
    "LoadSpec",
    "OrderingSpec",
    "RolloutSpec",
    "SafetySpec",
    "SandboxIngressSpec",
    "SandboxSpec",
    "TargetSpec",
    "drill_schema",
    "load_drill",
    "parse_drill",
]

DEFAULT_PROTECTED_NAMESPACES = ["kube-system", "kube-public", "kube-node-lease"]


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        use_attribute_docstrings=True,
        frozen=True,
    )


class TargetSpec(_Model):
    kind: Literal["Deployment", "Rollout"] = "Deployment"
    """The workload under test: an apps/v1 Deployment or an Argo Rollouts `Rollout` (argoproj.io/v1alpha1)."""
    name: str = Field(min_length=1, max_length=253)
    """Name of the workload. Required."""
    namespace: str | None = None
    """Namespace of the workload and Service; null means the kubeconfig context's namespace, else `default`."""
    service: str = Field(min_length=1, max_length=63)
    """The Service in front of the workload: its EndpointSlices are watched and the load goes through it. Required."""
    port: int = Field(default=80, ge=1, le=65535)
    """The Service port (not the container port) the load is sent to. Default 80."""


class RolloutSpec(_Model):
    strategy: Literal["restart", "image", "canary", "scale", "drain", "external"] = "restart"
    """How the new version arrives: `restart` (as `kubectl rollout restart`), `image` (set a new image),
    `canary` (a `<name>-canary` Deployment beside the stable one), `scale` (to `replicas` through the
    `/scale` subresource, as an HPA scales down: the removed pods are judged), `drain` (as `kubectl
    drain` of `node`: cordon it, evict the target's pods on it through the Eviction API, uncordon it
    afterwards; the evicted pods are judged), or `external` (someone else rolls out; nonstop observes)."""
    image: str | None = None
    """For `image` and `canary`: the new image. Required by those strategies, ignored by the others."""
    container: str | None = None
    """Which container gets the new image; null means every container of the pod template."""
    canary_replicas: int = Field(default=1, ge=1, le=1000)
    """For `canary` on a Deployment: replicas of the `<name>-canary` Deployment. Default 1."""
    replicas: int | None = Field(default=None, ge=0, le=10000)
    """For `scale`: the replica count to scale the Deployment to. Required by `scale`, ignored otherwise."""
    node: str | None = Field(default=None, min_length=1, max_length=253)
    """For `drain`: the Node to drain (only the target's pods on it are evicted; other pods stay). Required by
    `drain`, ignored otherwise."""


class LoadSpec(_Model):
    users: int = Field(default=10, ge=1, le=10000)
    """Concurrent Locust users. Default 10."""
    spawn_rate: float = Field(default=10, gt=0, le=10000)
    """Users started per second while ramping up. Default 10."""
    path: str = Field(default="/", pattern=r"^/")
    """HTTP path every request asks for; also what the per-pod prober asks unless `ordering.probePath`
    says otherwise. Default `/`."""
    method: Literal["GET", "POST"] = "GET"
    """HTTP method of the bundled locustfile's requests: `GET`, or `POST` with a small body — never
    retried by the client, as a payment or any non-idempotent request. Default `GET`."""
    locustfile: str | None = None
    """Path of a custom locustfile; null uses the bundled HTTP user (constant throughput, a share of its
    users close the connection after each request so routing is sampled continuously)."""
    user_rate: float = Field(default=20, gt=0, le=10000)
    """Requests per second each user of the bundled locustfile aims for (constant throughput). Default 20."""
    workers: int = Field(default=0, ge=0, le=256)
    """0 runs Locust in one process; N > 0 uses Locust's master/worker mode with N workers."""
    timeout_seconds: float = Field(default=5, gt=0, le=300)
    """A request slower than this many seconds counts as a failure (class `timeout`). Default 5."""
    settle_seconds: float = Field(default=60, ge=0, le=3600)
    """Before warm-up: at most this long to wait until every ready endpoint answers and the Service answers
    10 requests in a row. Default 60."""
    warmup_seconds: float = Field(default=2, ge=0, le=3600)
    """Steady state measured before the rollout (the baseline), in seconds. Default 2."""
    cooldown_seconds: float = Field(default=2, ge=0, le=3600)
    """Load keeps running this long after the drill window closes, in seconds. Default 2."""
    url: str | None = Field(default=None, pattern=r"^https?://")
    """Override of the load's base URL; null means http://<Service ClusterIP>:<port>."""
    allow_external_url: bool = False
    """A `url` that is not the Service's own address must be allowed explicitly. Default false."""


class ChaosSpec(_Model):
    terminate_old_pods: bool = True
    """For `canary` and `external`: evict stable pods one at a time under load (Eviction API, so
    PodDisruptionBudgets hold). `restart` and `image` already SIGTERM every old pod, so it is skipped."""
    grace_period_seconds: int | None = Field(default=None, ge=0, le=86400)
    """Grace period for evictions; null uses each pod's own terminationGracePeriodSeconds."""


class BudgetSpec(_Model):
    max_failure_ratio: float = Field(default=0.0, ge=0, le=1)
    """Failed requests / all requests in the drill window that still pass. Default 0.0: zero downtime."""
    max_p99_ms: float | None = Field(default=None, gt=0)
    """Highest acceptable p99 latency in the window, in milliseconds; null: not judged."""
    min_requests: int = Field(default=100, ge=1)
    """Fewer requests than this in the window make the drill inconclusive (exit 3). Default 100."""
    count_retries: bool = True
    """A request the load's client silently sent again after its connection failed (a reset or close
    before any answer on a kept-alive connection) counts as failed (class `retried`): a non-idempotent
    request would have failed there. false: retries are reported per pod but not judged. Default true."""


class OrderingSpec(_Model):
    min_serve_after_unready_seconds: float = Field(default=1.0, ge=0, le=3600)
    """A terminating pod is in order when it kept serving at least this long after leaving the
    endpoints (the data plane's propagation lag it must cover). Default 1.0 s."""
    probe_path: str | None = Field(default=None, pattern=r"^/")
    """The path the per-pod prober asks each terminating pod (a fast one makes "stopped accepting" sharp);
    null means `load.path`."""


class GracefulExitSpec(_Model):
    enabled: bool = True
    """Judge the `graceful-exit` check: every pod the rollout terminated must exit by itself within its
    grace period (not SIGKILLed, not exit 137 or OOMKilled). Default true."""


class DecisionSpec(_Model):
    on_pass: Literal["promote", "none"] = "promote"
    """What a passing drill does: `promote` (CONTRACT.md's decision table) or `none`."""
    on_fail: Literal["rollback", "abort", "none"] = "rollback"
    """What a failing or inconclusive drill does: `rollback`, `abort` or `none`."""
    allow_git_ops_managed_rollback: bool = Field(default=False, alias="allowGitOpsManagedRollback")
    """Roll back objects an Argo CD Application tracks only when true (self-heal would undo it)."""


class SafetySpec(_Model):
    protected_namespaces: list[str] = Field(default_factory=lambda: list(DEFAULT_PROTECTED_NAMESPACES))
    """Namespaces nonstop never acts in: a target there is refused before anything changes."""


class SandboxIngressSpec(_Model):
    retry_stale_connections: bool = True
    """With `--sandbox` and `dataPlane: ingress`: a request sent on a pooled upstream connection that the pod
    had already closed (no response byte) is retried once on a fresh connection to the same pod, as a
    keep-alive client does. `false`: the client gets the 502, as behind a load balancer that does not retry
    (an app whose keep-alive timeout is shorter than the proxy's). Default true."""


class SandboxSpec(_Model):
    proxy_lag_seconds: float = Field(default=1.0, ge=0, le=60)
    """With `--sandbox`: how late the data plane sees endpoint changes, in seconds (ignored otherwise);
    the shorthand for both `addLagSeconds` and `removeLagSeconds`, each of which wins when set. Default 1.0."""
    add_lag_seconds: float | None = Field(default=None, ge=0, le=600)
    """With `--sandbox`: seconds until a new (or newly ready) endpoint starts receiving traffic, as a cloud load
    balancer registers a target slowly; also how long after its containers are ready a pod with
    `spec.readinessGates` gets each gate's condition set True (its endpoint then gets traffic as soon as
    it is ready: the gate stood for the registration). Null: `proxyLagSeconds`."""
    remove_lag_seconds: float | None = Field(default=None, ge=0, le=600)
    """With `--sandbox`: seconds until a removed, unready or terminating endpoint stops receiving traffic, as a
    load balancer deregisters a target late. Null: `proxyLagSeconds`."""
    data_plane: Literal["kube-proxy", "ingress", "ipvs"] = "kube-proxy"
    """With `--sandbox`: `kube-proxy` (a backend per connection, falls back to serving terminating
    endpoints), `ingress` (a backend per request, no fallback) or `ipvs` (as kube-proxy, but an established
    connection whose endpoint left is reset on its next packet, kubernetes#123116)."""
    ingress: SandboxIngressSpec = Field(default_factory=SandboxIngressSpec)
    """With `--sandbox` and `dataPlane: ingress`: how the ingress data plane treats stale upstream connections."""
    network_delay_ms: float = Field(default=0.0, ge=0, le=1000)
    """With `--sandbox` and the `kube-proxy` or `ipvs` data plane: one-way latency between client and pod, in
    milliseconds. Every byte, end of stream and reset the data plane forwards arrives this much later, each
    way, in order (a round trip gains twice it). The sandbox's loopback has none; a real client is a
    network away, and a request in flight is what meets a server closing its connection (golang/go#23829).
    Default 0."""
    nodes: int = Field(default=1, ge=1, le=100)
    """With `--sandbox`: how many Nodes the sandbox has (1: `sandbox`; N: `sandbox-1` … `sandbox-N`); its
    scheduler places pods over them (topology spread, pod anti-affinity, cordons), for `rollout.strategy:
    drain`. Default 1."""

    @model_validator(mode="after")
    def _delay_needs_a_connection_proxy(self) -> SandboxSpec:
        if self.network_delay_ms and self.data_plane == "ingress":
            msg = "networkDelayMs works with the kube-proxy and ipvs data planes, not ingress"
            raise ValueError(msg)
        return self

    @property
    def add_lag(self) -> float:
        """The lag in effect for an endpoint to start receiving traffic, in seconds."""
        return self.proxy_lag_seconds if self.add_lag_seconds is None else self.add_lag_seconds

    @property
    def remove_lag(self) -> float:
        """The lag in effect for an endpoint to stop receiving traffic, in seconds."""
        return self.proxy_lag_seconds if self.remove_lag_seconds is None else self.remove_lag_seconds


class DrillSpec(_Model):
    target: TargetSpec
    """The workload and Service under test."""
    rollout: RolloutSpec = Field(default_factory=RolloutSpec)
    """How the new version rolls out."""
    load: LoadSpec = Field(default_factory=LoadSpec)
    """The Locust load sent through the Service during the drill."""
    chaos: ChaosSpec = Field(default_factory=ChaosSpec)
    """Extra SIGTERMs to old pods for strategies that do not send them themselves."""
    budget: BudgetSpec = Field(default_factory=BudgetSpec)
    """The error budget the drill window must stay within."""
    ordering: OrderingSpec = Field(default_factory=OrderingSpec)
    """The endpoint-ordering check's threshold."""
    graceful_exit: GracefulExitSpec = Field(default_factory=GracefulExitSpec)
    """The graceful-exit check (old pods must not need the SIGKILL)."""
    decision: DecisionSpec = Field(default_factory=DecisionSpec)
    """What happens after the verdict."""
    timeout_seconds: float = Field(default=600, gt=0, le=86400)
    """Deadline of the drill window, in seconds; past it the drill is inconclusive (exit 3). Default 600."""
    safety: SafetySpec = Field(default_factory=SafetySpec)
    """Guard rails that hold whatever else the spec says."""
    sandbox: SandboxSpec = Field(default_factory=SandboxSpec)
    """Settings of the embedded sandbox, used only with `--sandbox`."""

    @model_validator(mode="after")
    def _strategy_fits_target(self) -> DrillSpec:
        STRATEGIES[self.rollout.strategy].check_spec(self.rollout, self.target.kind)
        return self


class DrillMetadata(_Model):
    name: str = Field(min_length=1, max_length=253, pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
    """Name of the drill: used in reports, Leases and workflow names (a DNS subdomain)."""


class Drill(_Model):
    """A zero-downtime drill: load through a Service while a workload rolls out, judged and decided."""

    api_version: Literal["nonstop.dev/v1alpha1"] = "nonstop.dev/v1alpha1"
    """Always `nonstop.dev/v1alpha1`."""
    kind: Literal["Drill"] = "Drill"
    """Always `Drill`."""
    metadata: DrillMetadata
    """The drill's name."""
    spec: DrillSpec
    """What to roll out, the load, the budget and the decision."""


def _field_path(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif not item.startswith("function-") and item not in ("model", "after"):
            parts.append(("." if parts else "") + item)
    return "".join(parts) or "(top level)"


def parse_drill(data: Any, *, source: str) -> Drill:
    """Validate parsed YAML as a Drill; errors name `source` and the first bad field's path."""
    if not isinstance(data, dict):
        raise SpecError(f"{source}: a drill must be a YAML mapping with apiVersion, kind, metadata and spec")
    try:
        return Drill.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        path = _field_path(tuple(first["loc"]))
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            message = "unknown field (check the spelling against `nonstop schema`)"
        more = len(exc.errors()) - 1
        tail = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
        raise SpecError(f"{source}: field {path}: {message}{tail}") from exc


def load_drill(path: str | Path) -> Drill:
    """Read and validate a drill file; any problem is a SpecError naming the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise SpecError(f"{path}: no such drill file") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"{path}: cannot read the drill file ({exc})") from exc
    try:
        found = [document.data for document in documents(text)]
    except yaml.YAMLError as exc:
        line = error_line(exc)
        where = f" at line {line}" if line is not None else ""
        raise SpecError(f"{path}: invalid YAML{where}: {getattr(exc, 'problem', exc)}") from exc
    if len(found) > 1:
        raise SpecError(f"{path}: holds {len(found)} YAML documents; a drill file holds exactly one YAML document")
    return parse_drill(found[0] if found else None, source=str(path))


def drill_schema() -> dict[str, Any]:
    """The JSON Schema (2020-12) of the drill spec, with the field docs as descriptions."""
    schema = Drill.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://nonstop.dev/schemas/drill-v1alpha1.json"
    return schema
