"""The rules added after linting real repositories (issue 14): each with a case that fires and one that does not,
and the false alarms that prompted them (Services of operator-made pods, serving containers without ports).
"""

from __future__ import annotations

from typing import Any

from lint_helpers import container, findings, good, load, pod, rule_ids

SERVICE = """
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
"""


def _service(selector: dict[str, str], name: str = "web") -> dict[str, Any]:
    [svc] = load(SERVICE)
    svc["metadata"]["name"] = name
    svc["spec"]["selector"] = selector
    return svc


def _pdb(**policy: object) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, **policy},
    }


def _hpa(minimum: int) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": minimum,
            "maxReplicas": 10,
        },
    }


# --- service-selector-mismatch: an error only when the input holds every pod -----------------------------------


def test_selector_mismatch_with_every_pod_in_the_input_stays_an_error() -> None:
    [finding] = findings([good(), _service({"app": "api"})], "service-selector-mismatch")
    assert finding.severity == "error"


def test_selector_mismatch_is_a_warning_when_an_operator_creates_pods() -> None:
    """Prometheus operator: the Service selects pods of a StatefulSet the operator creates from the CR."""
    prometheus = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "Prometheus",
        "metadata": {"name": "k8s", "namespace": "shop"},
        "spec": {"replicas": 2},
    }
    [finding] = findings([good(), prometheus, _service({"prometheus": "k8s"})], "service-selector-mismatch")
    assert finding.severity == "warning"
    assert "Prometheus/k8s (monitoring.coreos.com) is a custom resource whose operator creates pods" in finding.message


def test_selector_mismatch_is_a_warning_when_a_custom_resource_holds_pod_templates() -> None:
    """An Argo Experiment (or any CR whose spec holds containers) runs pods the input does not list."""
    experiment = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "SomethingNew",
        "metadata": {"name": "exp", "namespace": "shop"},
        "spec": {"templates": [{"template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}]},
    }
    [finding] = findings([good(), experiment, _service({"app": "exp"})], "service-selector-mismatch")
    assert finding.severity == "warning"


def test_custom_resources_that_create_no_pods_keep_the_error() -> None:
    certificate = {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {"name": "tls", "namespace": "shop"},
        "spec": {"secretName": "tls"},
    }
    [finding] = findings([good(), certificate, _service({"app": "api"})], "service-selector-mismatch")
    assert finding.severity == "error"


def test_selector_mismatch_is_a_warning_when_something_refers_to_a_workload_outside_the_input() -> None:
    hpa = _hpa(2)
    hpa["spec"]["scaleTargetRef"]["name"] = "api"
    [finding] = findings([good(), hpa, _service({"app": "api"})], "service-selector-mismatch")
    assert finding.severity == "warning"
    assert "refers to Deployment/api, which is not in the input" in finding.message


def test_selector_mismatch_is_a_warning_when_templates_were_skipped() -> None:
    [finding] = findings(
        [good(), _service({"app": "api"})], "service-selector-mismatch", incomplete=["1 template file(s) skipped"]
    )
    assert finding.severity == "warning"
    assert "1 template file(s) skipped" in finding.message


# --- serving containers: a Service selecting the pod makes it serving --------------------------------------------


def test_container_without_ports_that_a_service_selects_is_serving() -> None:
    obj = good()
    del container(obj)["ports"]
    del container(obj)["readinessProbe"]
    del container(obj)["lifecycle"]
    del container(obj)["livenessProbe"]
    assert rule_ids([obj]) == []  # a worker: nothing routes to it
    found = findings([obj, _service({"app": "web"})])
    assert [f.rule for f in found] == ["readiness-probe-missing", "prestop-hook-missing"]
    assert "serves the traffic of Service/web" in found[0].message


def test_only_the_default_container_of_a_port_less_pod_is_taken_as_serving() -> None:
    obj = good()
    del container(obj)["ports"]
    del container(obj)["readinessProbe"]
    del container(obj)["livenessProbe"]
    pod(obj)["containers"].insert(0, {"name": "log-shipper", "image": "fluent-bit:3"})
    obj["spec"]["template"]["metadata"]["annotations"] = {"kubectl.kubernetes.io/default-container": "web"}
    found = findings([obj, _service({"app": "web"})], "readiness-probe-missing")
    assert [f.container for f in found] == ["web"]


# --- pdb-no-policy -----------------------------------------------------------------------------------------------


def test_pdb_with_neither_min_available_nor_max_unavailable() -> None:
    [finding] = findings([good(), _pdb()], "pdb-no-policy")
    assert (finding.kind, finding.severity, finding.container) == ("PodDisruptionBudget", "warning", None)
    assert "allows every eviction" in finding.message
    assert findings([good(), _pdb(maxUnavailable=1)], "pdb-no-policy") == []


# --- pdb-blocks-eviction -----------------------------------------------------------------------------------------


def test_pdb_that_allows_no_disruption_blocks_eviction() -> None:
    for policy in ({"maxUnavailable": 0}, {"maxUnavailable": "0%"}, {"minAvailable": 3}, {"minAvailable": "100%"}):
        [finding] = findings([good(), _pdb(**policy)], "pdb-blocks-eviction")  # good() has 3 replicas
        assert finding.kind == "PodDisruptionBudget"
        assert "drain" in finding.message
    for policy in ({"maxUnavailable": 1}, {"maxUnavailable": "10%"}, {"minAvailable": 2}, {"minAvailable": "50%"}):
        assert findings([good(), _pdb(**policy)], "pdb-blocks-eviction") == []


def test_pdb_min_available_is_judged_at_the_autoscalers_minimum() -> None:
    obj = good()
    del obj["spec"]["replicas"]
    [finding] = findings([obj, _hpa(2), _pdb(minAvailable=2)], "pdb-blocks-eviction")
    assert "at the autoscaler's minimum" in finding.message
    assert findings([obj, _hpa(3), _pdb(minAvailable=2)], "pdb-blocks-eviction") == []


def test_pdb_rules_do_not_count_a_broken_pdb_as_missing() -> None:
    assert findings([good(), _pdb()], "pod-disruption-budget-missing") == []


# --- readiness-probe-protocol-mismatch ---------------------------------------------------------------------------


def test_readiness_probe_on_a_udp_only_port() -> None:
    obj = good()
    container(obj)["ports"] = [{"name": "dns", "containerPort": 53, "protocol": "UDP"}]
    container(obj)["readinessProbe"] = {"tcpSocket": {"port": "dns"}}
    container(obj)["livenessProbe"] = {"httpGet": {"path": "/healthz", "port": 8080}}
    [finding] = findings([obj], "readiness-probe-protocol-mismatch")
    assert finding.severity == "error"
    assert "'dns' (53)" in finding.message
    assert "UDP" in finding.message


def test_readiness_probe_on_a_port_declared_for_tcp_and_udp_is_fine() -> None:
    obj = good()
    container(obj)["ports"] = [
        {"name": "dns", "containerPort": 53, "protocol": "UDP"},
        {"name": "dns-tcp", "containerPort": 53, "protocol": "TCP"},
    ]
    container(obj)["readinessProbe"] = {"tcpSocket": {"port": 53}}
    assert findings([obj], "readiness-probe-protocol-mismatch") == []
    assert findings([good()], "readiness-probe-protocol-mismatch") == []


# --- startup-probe-port-mismatch ---------------------------------------------------------------------------------


def test_startup_probe_on_an_undeclared_port_name() -> None:
    obj = good()
    container(obj)["startupProbe"] = {"httpGet": {"path": "/started", "port": "admin"}}
    [finding] = findings([obj], "startup-probe-port-mismatch")
    assert finding.severity == "error"
    assert "CrashLoopBackOff" in finding.message
    container(obj)["startupProbe"] = {"httpGet": {"path": "/started", "port": "http"}}
    assert findings([obj], "startup-probe-port-mismatch") == []


# --- no-anti-affinity --------------------------------------------------------------------------------------------


def test_replicas_with_no_spread_or_anti_affinity() -> None:
    obj = good()
    del pod(obj)["topologySpreadConstraints"]
    [finding] = findings([obj], "no-anti-affinity")
    assert finding.severity == "warning"
    assert "runs 3 replicas" in finding.message
    pod(obj)["affinity"] = {
        "podAntiAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {
                    "weight": 100,
                    "podAffinityTerm": {
                        "topologyKey": "kubernetes.io/hostname",
                        "labelSelector": {"matchLabels": {"app": "web"}},
                    },
                }
            ]
        }
    }
    assert findings([obj], "no-anti-affinity") == []


def test_one_replica_or_a_worker_needs_no_spread() -> None:
    obj = good()
    del pod(obj)["topologySpreadConstraints"]
    obj["spec"]["replicas"] = 1
    assert findings([obj], "no-anti-affinity") == []
    worker = good()
    del pod(worker)["topologySpreadConstraints"]
    del container(worker)["ports"]
    assert findings([worker], "no-anti-affinity") == []


# --- daemonset-rolling-update ------------------------------------------------------------------------------------

DAEMONSET = """
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: edge, namespace: shop}
spec:
  selector: {matchLabels: {app: edge}}
  template:
    metadata: {labels: {app: edge}}
    spec:
      containers:
        - name: proxy
          image: envoy:1
          ports: [{name: http, containerPort: 8080}]
          readinessProbe: {httpGet: {path: /ready, port: http}}
          lifecycle: {preStop: {sleep: {seconds: 5}}}
"""


def test_serving_daemonset_with_the_default_update_stops_each_pod_first() -> None:
    [daemonset] = load(DAEMONSET)
    assert rule_ids([daemonset]) == ["daemonset-rolling-update"]
    [finding] = findings([daemonset], "daemonset-rolling-update")
    assert "maxSurge: 1 and maxUnavailable: 0" in finding.message
    daemonset["spec"]["updateStrategy"] = {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
    }
    assert rule_ids([daemonset]) == []


def test_daemonset_updating_every_node_at_once_and_the_ones_not_judged() -> None:
    [daemonset] = load(DAEMONSET)
    daemonset["spec"]["updateStrategy"] = {"rollingUpdate": {"maxUnavailable": "100%"}}
    [finding] = findings([daemonset], "daemonset-rolling-update")
    assert "every node at once" in finding.message
    [host] = load(DAEMONSET)
    pod(host)["hostNetwork"] = True  # a surge pod could not bind the node's port
    assert findings([host], "daemonset-rolling-update") == []
    [agent] = load(DAEMONSET)
    container(agent)["ports"] = [{"name": "metrics", "containerPort": 9100}]
    assert findings([agent], "daemonset-rolling-update") == []
    [on_delete] = load(DAEMONSET)
    on_delete["spec"]["updateStrategy"] = {"type": "OnDelete"}
    assert findings([on_delete], "daemonset-rolling-update") == []


# --- liveness-without-startup-probe ------------------------------------------------------------------------------


def test_liveness_that_gives_up_before_readiness_starts() -> None:
    obj = good()
    container(obj)["readinessProbe"]["initialDelaySeconds"] = 60
    container(obj)["livenessProbe"]["initialDelaySeconds"] = 10  # 10 + 10 × 3 = 40 s < 60 s
    [finding] = findings([obj], "liveness-without-startup-probe")
    assert "40 s" in finding.message
    assert "startupProbe" in finding.message
    container(obj)["startupProbe"] = {"httpGet": {"path": "/healthz", "port": "http"}, "failureThreshold": 30}
    assert findings([obj], "liveness-without-startup-probe") == []


def test_liveness_with_a_long_initial_delay_guesses_the_start() -> None:
    obj = good()
    container(obj)["livenessProbe"]["initialDelaySeconds"] = 45
    [finding] = findings([obj], "liveness-without-startup-probe")
    assert "initialDelaySeconds: 45" in finding.message
    assert findings([good()], "liveness-without-startup-probe") == []  # defaults: 30 s to start


# --- shell-pid1-no-exec ------------------------------------------------------------------------------------------


def test_shell_script_that_does_not_exec_the_server() -> None:
    obj = good()
    container(obj)["command"] = ["/bin/sh", "-c"]
    container(obj)["args"] = ["./migrate && ./server --port 8080"]
    [finding] = findings([obj], "shell-pid1-no-exec")
    assert "exec" in finding.message
    assert finding.container == "web"


def test_shell_scripts_that_pass_sigterm_on_are_fine() -> None:
    for command in (
        ["sh", "-c", "./migrate && exec ./server"],
        ["sh", "-c", "trap 'kill -TERM $pid' TERM; ./server & pid=$!; wait $pid"],
        ["sh", "-c", "./server --flag 'a;b'"],  # one command: the shell replaces itself
        ["./server", "--port", "8080"],
        ["tini", "--", "sh", "-c", "./a; ./b"],
    ):
        obj = good()
        container(obj)["command"] = command
        assert findings([obj], "shell-pid1-no-exec") == [], command


# --- prestop-shorter-than-deregistration -------------------------------------------------------------------------


def test_prestop_shorter_than_the_target_group_deregistration_delay() -> None:
    svc = _service({"app": "web"})
    svc["metadata"]["annotations"] = {
        "service.beta.kubernetes.io/aws-load-balancer-target-group-attributes": (
            "preserve_client_ip.enabled=true,deregistration_delay.timeout_seconds=120"
        )
    }
    [finding] = findings([good(), svc], "prestop-shorter-than-deregistration")
    assert "120 s deregistration delay Service/web's target-group attributes declare" in finding.message
    container_ = container(good_obj := good())
    container_["lifecycle"]["preStop"] = {"sleep": {"seconds": 125}}
    pod(good_obj)["terminationGracePeriodSeconds"] = 135
    assert findings([good_obj, svc], "prestop-shorter-than-deregistration") == []
    assert findings([good(), _service({"app": "web"})], "prestop-shorter-than-deregistration") == []


def test_deregistration_delay_from_an_ingress_or_a_backend_config() -> None:
    ingress = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {
            "name": "web",
            "namespace": "shop",
            "annotations": {
                "alb.ingress.kubernetes.io/target-group-attributes": "deregistration_delay.timeout_seconds=30"
            },
        },
        "spec": {"rules": [{"http": {"paths": [{"path": "/", "backend": {"service": {"name": "web"}}}]}}]},
    }
    [finding] = findings([good(), _service({"app": "web"}), ingress], "prestop-shorter-than-deregistration")
    assert "Ingress/web" in finding.message
    svc = _service({"app": "web"})
    svc["metadata"]["annotations"] = {"cloud.google.com/backend-config": '{"default": "drain"}'}
    config = {
        "apiVersion": "cloud.google.com/v1",
        "kind": "BackendConfig",
        "metadata": {"name": "drain", "namespace": "shop"},
        "spec": {"connectionDraining": {"drainingTimeoutSec": 60}},
    }
    [finding] = findings([good(), svc, config], "prestop-shorter-than-deregistration")
    assert "BackendConfig/drain" in finding.message
