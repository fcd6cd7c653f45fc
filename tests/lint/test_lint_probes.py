"""Probe rules: readiness-probe-missing, readiness-probe-port-mismatch, liveness-same-as-readiness."""

from __future__ import annotations

from lint_helpers import container, findings, good, load, pod, rule_ids

from checks.lint import normalized_probe


def test_good_deployment_has_no_findings() -> None:
    assert rule_ids([good()]) == []


def test_serving_container_without_readiness_probe_is_an_error() -> None:
    obj = good()
    del container(obj)["readinessProbe"]
    [finding] = findings([obj], "readiness-probe-missing")
    assert finding.severity == "error"
    assert (finding.kind, finding.name, finding.namespace, finding.container) == ("Deployment", "web", "shop", "web")
    assert "Ready" in finding.message
    assert "Fix:" in finding.message


def test_min_ready_seconds_does_not_replace_a_readiness_probe() -> None:
    obj = good()
    del container(obj)["readinessProbe"]
    obj["spec"]["minReadySeconds"] = 10
    [finding] = findings([obj], "readiness-probe-missing")
    assert "minReadySeconds: 10 does not replace it" in finding.message


def test_startup_probe_alone_still_needs_a_readiness_probe() -> None:
    obj = good()
    c = container(obj)
    c["startupProbe"] = c.pop("readinessProbe")
    [finding] = findings([obj], "readiness-probe-missing")
    assert "startupProbe gates only the first start" in finding.message


def test_worker_without_ports_needs_no_probe_or_prestop() -> None:
    [worker] = load(
        """
apiVersion: apps/v1
kind: Deployment
metadata: {name: worker}
spec:
  replicas: 2
  selector: {matchLabels: {app: worker}}
  template:
    metadata: {labels: {app: worker}}
    spec:
      containers:
        - name: worker
          image: worker:1
          args: [consume, --queue, jobs]
"""
    )
    assert rule_ids([worker]) == []


def test_native_sidecar_with_ports_needs_a_readiness_probe_but_plain_init_container_does_not() -> None:
    obj = good()
    pod(obj)["initContainers"] = [
        {"name": "migrate", "image": "m:1", "ports": [{"containerPort": 5000}]},
        {"name": "proxy", "image": "p:1", "restartPolicy": "Always", "ports": [{"containerPort": 15001}]},
    ]
    assert [f.container for f in findings([obj], "readiness-probe-missing")] == ["proxy"]
    assert findings([obj], "prestop-hook-missing") == []


def test_readiness_probe_on_undeclared_port_name_is_an_error() -> None:
    obj = good()
    container(obj)["readinessProbe"] = {"httpGet": {"path": "/ready", "port": "web"}}
    [finding] = findings([obj], "readiness-probe-port-mismatch")
    assert finding.severity == "error"
    assert "'web'" in finding.message
    assert "http" in finding.message  # names what the container does declare


def test_tcp_readiness_probe_on_undeclared_port_name_is_an_error() -> None:
    obj = good()
    container(obj)["readinessProbe"] = {"tcpSocket": {"port": "grpc"}}
    assert rule_ids([obj]) == ["readiness-probe-port-mismatch"]


def test_port_name_declared_by_another_container_does_not_count() -> None:
    obj = good()
    container(obj)["readinessProbe"] = {"httpGet": {"path": "/ready", "port": "metrics"}}
    pod(obj)["containers"].append(
        {
            "name": "exporter",
            "image": "e:1",
            "ports": [{"name": "metrics", "containerPort": 9090}],
            "readinessProbe": {"tcpSocket": {"port": "metrics"}},
            "lifecycle": {"preStop": {"sleep": {"seconds": 5}}},
        }
    )
    [finding] = findings([obj], "readiness-probe-port-mismatch")
    assert finding.container == "web"
    assert "container exporter declares it" in finding.message


def test_numbered_readiness_port_is_not_checked_against_declared_ports() -> None:
    obj = good()
    container(obj)["readinessProbe"] = {"httpGet": {"path": "/ready", "port": 9000}}
    assert findings([obj], "readiness-probe-port-mismatch") == []


def test_liveness_identical_to_readiness_after_defaults_is_a_warning() -> None:
    obj = good()
    c = container(obj)
    c["readinessProbe"] = {"httpGet": {"port": "http"}, "periodSeconds": 10}
    c["livenessProbe"] = {
        "httpGet": {"path": "/", "port": 8080, "scheme": "HTTP"},
        "failureThreshold": 3,
        "timeoutSeconds": 1,
    }
    [finding] = findings([obj], "liveness-same-as-readiness")
    assert finding.severity == "warning"
    assert finding.container == "web"


def test_liveness_with_higher_failure_threshold_is_not_identical() -> None:
    obj = good()
    c = container(obj)
    c["readinessProbe"] = {"httpGet": {"path": "/healthz", "port": "http"}}
    c["livenessProbe"] = {"httpGet": {"path": "/healthz", "port": "http"}, "failureThreshold": 6}
    assert findings([obj], "liveness-same-as-readiness") == []


def test_liveness_on_another_path_is_not_identical() -> None:
    assert findings([good()], "liveness-same-as-readiness") == []


def test_normalized_probe_fills_kubernetes_defaults_and_resolves_named_ports() -> None:
    c = {"ports": [{"name": "http", "containerPort": 8080}]}
    short = normalized_probe({"httpGet": {"port": "http"}}, c)
    assert short == {
        "initialDelaySeconds": 0,
        "periodSeconds": 10,
        "timeoutSeconds": 1,
        "successThreshold": 1,
        "failureThreshold": 3,
        "httpGet": ("", "/", "HTTP", 8080, ()),
    }
    assert normalized_probe({"tcpSocket": {"port": 8080}}, c) == normalized_probe({"tcpSocket": {"port": "http"}}, c)
    assert normalized_probe({"exec": {"command": ["true"]}}, c) != normalized_probe({"exec": {"command": ["false"]}}, c)
