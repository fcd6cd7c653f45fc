"""CRUD through the official client: server-set metadata, defaults, validation, conflicts, errors."""

from __future__ import annotations

import ipaddress
import json

import pytest
from api_helpers import configmap, deployment, pod
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from nonstop.sandbox.cluster import Cluster

pytestmark = pytest.mark.sandbox


@pytest.fixture
def core(sandbox):
    return client.CoreV1Api(sandbox.api_client())


@pytest.fixture
def apps(sandbox):
    return client.AppsV1Api(sandbox.api_client())


@pytest.fixture(scope="module")
def bare():
    """The API alone, in-process (no controllers writing status): for status/generation semantics."""
    with Cluster(components=()) as cluster:
        yield client.AppsV1Api(config.new_client_from_config(config_file=str(cluster.kubeconfig_path)))


def test_create_stamps_server_metadata_and_get_returns_it(core, namespace) -> None:
    created = core.create_namespaced_config_map(namespace, configmap("c", {"a": "1"}))
    assert created.metadata.uid
    assert created.metadata.resource_version.isdigit()
    assert created.metadata.creation_timestamp is not None
    got = core.read_namespaced_config_map("c", namespace)
    assert got.data == {"a": "1"}
    assert got.metadata.resource_version == created.metadata.resource_version


def test_duplicate_create_is_409_already_exists(core, namespace) -> None:
    core.create_namespaced_config_map(namespace, configmap("c"))
    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map(namespace, configmap("c"))
    assert err.value.status == 409
    body = json.loads(err.value.body)
    assert body["reason"] == "AlreadyExists"
    assert body["message"] == 'configmaps "c" already exists'


def test_error_body_is_byte_for_byte_the_real_servers(core, apps, namespace) -> None:
    """metav1.Status in its Go field order (details before code), `group` omitted for a core kind,
    a trailing newline: the official client's `create_from_yaml` errors quote it verbatim."""
    core.create_namespaced_config_map(namespace, configmap("c"))
    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map(namespace, configmap("c"))
    assert err.value.body == (
        '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
        '"message":"configmaps \\"c\\" already exists","reason":"AlreadyExists",'
        '"details":{"name":"c","kind":"configmaps"},"code":409}\n'
    )
    with pytest.raises(ApiException) as err:
        apps.read_namespaced_deployment("nope", namespace)
    assert err.value.body.endswith('"details":{"name":"nope","group":"apps","kind":"deployments"},"code":404}\n')


def test_missing_object_is_404_status_with_details(apps, namespace) -> None:
    with pytest.raises(ApiException) as err:
        apps.read_namespaced_deployment("nope", namespace)
    body = json.loads(err.value.body)
    assert (err.value.status, body["reason"], body["message"]) == (404, "NotFound", 'deployments.apps "nope" not found')
    assert body["details"] == {"name": "nope", "group": "apps", "kind": "deployments"}


def test_create_in_missing_namespace_is_404(core) -> None:
    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map("no-such-namespace", configmap("c"))
    assert err.value.status == 404


def test_stale_update_is_409_conflict_with_kubernetes_message(apps, namespace) -> None:
    dep = apps.create_namespaced_deployment(namespace, deployment("web"))
    apps.patch_namespaced_deployment("web", namespace, {"spec": {"replicas": 2}})
    dep.spec.replicas = 3  # still carries the creation's resourceVersion
    with pytest.raises(ApiException) as err:
        apps.replace_namespaced_deployment("web", namespace, dep)
    body = json.loads(err.value.body)
    assert err.value.status == 409
    assert body["reason"] == "Conflict"
    assert body["message"] == (
        'Operation cannot be fulfilled on deployments.apps "web": the object has been modified; '
        "please apply your changes to the latest version and try again"
    )


def test_deployment_defaults_are_filled_in(apps, namespace) -> None:
    body = deployment("web")
    del body["spec"]["replicas"]
    dep = apps.create_namespaced_deployment(namespace, body)
    assert dep.spec.replicas == 1
    assert dep.spec.strategy.type == "RollingUpdate"
    assert (dep.spec.strategy.rolling_update.max_surge, dep.spec.strategy.rolling_update.max_unavailable) == (
        "25%",
        "25%",
    )
    assert (dep.spec.revision_history_limit, dep.spec.progress_deadline_seconds) == (10, 600)
    container = dep.spec.template.spec.containers[0]
    assert dep.spec.template.spec.termination_grace_period_seconds == 30
    assert container.ports[0].protocol == "TCP"
    probe = container.readiness_probe
    assert (probe.period_seconds, probe.timeout_seconds, probe.success_threshold, probe.failure_threshold) == (
        10,
        1,
        1,
        3,
    )
    assert dep.metadata.generation == 1


def test_both_zero_surge_and_unavailable_is_422_with_kubernetes_message(apps, namespace) -> None:
    body = deployment("web", strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}})
    with pytest.raises(ApiException) as err:
        apps.create_namespaced_deployment(namespace, body)
    status = json.loads(err.value.body)
    assert (err.value.status, status["reason"]) == (422, "Invalid")
    assert status["details"]["causes"][0]["field"] == "spec.strategy.rollingUpdate.maxUnavailable"
    assert "may not be 0 when `maxSurge` is 0" in status["message"]
    assert status["message"].startswith('Deployment.apps "web" is invalid: ')


def test_zero_surge_with_percent_unavailable_is_accepted(apps, namespace) -> None:
    body = deployment(
        "web", strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": "1%"}}
    )
    assert apps.create_namespaced_deployment(namespace, body).spec.strategy.rolling_update.max_unavailable == "1%"


def test_generation_bumps_on_spec_and_annotations_not_labels_or_status(bare) -> None:
    apps, namespace = bare, "default"
    apps.create_namespaced_deployment(namespace, deployment("gen"))
    assert (
        apps.patch_namespaced_deployment("gen", namespace, {"metadata": {"labels": {"x": "y"}}}).metadata.generation
        == 1
    )
    assert apps.patch_namespaced_deployment("gen", namespace, {"spec": {"replicas": 4}}).metadata.generation == 2
    annotated = apps.patch_namespaced_deployment("gen", namespace, {"metadata": {"annotations": {"a": "b"}}})
    assert annotated.metadata.generation == 3
    after_status = apps.patch_namespaced_deployment_status("gen", namespace, {"status": {"observedGeneration": 3}})
    assert after_status.metadata.generation == 3
    assert after_status.status.observed_generation == 3


def test_status_write_keeps_spec_and_labels_and_main_write_keeps_status(bare) -> None:
    apps, namespace = bare, "default"
    apps.create_namespaced_deployment(namespace, deployment("web", replicas=2))
    changed = apps.patch_namespaced_deployment_status(
        "web",
        namespace,
        {
            "metadata": {"labels": {"sneaky": "1"}, "annotations": {"rev": "1"}},
            "spec": {"replicas": 9},
            "status": {"replicas": 2},
        },
    )
    assert changed.spec.replicas == 2
    assert "sneaky" not in changed.metadata.labels
    assert changed.metadata.annotations["rev"] == "1"  # annotations do change through /status
    assert changed.status.replicas == 2
    main = apps.patch_namespaced_deployment("web", namespace, {"status": {"replicas": 7}, "spec": {"replicas": 3}})
    assert (main.spec.replicas, main.status.replicas) == (3, 2)


def test_service_gets_a_cluster_ip_from_the_loopback_range(core, namespace) -> None:
    svc = core.create_namespaced_service(
        namespace,
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
        },
    )
    assert ipaddress.ip_address(svc.spec.cluster_ip) in ipaddress.ip_network("127.20.0.0/16")
    assert svc.spec.cluster_ips == [svc.spec.cluster_ip]
    assert svc.spec.ports[0].protocol == "TCP"
    assert svc.spec.type == "ClusterIP"


def test_graceful_pod_delete_sets_deletion_timestamp_and_keeps_the_pod(core, namespace) -> None:
    core.create_namespaced_pod(namespace, pod("p"))
    answered = core.delete_namespaced_pod("p", namespace)
    assert answered.metadata.deletion_timestamp is not None
    assert answered.metadata.deletion_grace_period_seconds == 30
    still = core.read_namespaced_pod("p", namespace)
    assert still.metadata.deletion_grace_period_seconds == 30
    shorter = core.delete_namespaced_pod("p", namespace, grace_period_seconds=5)
    assert shorter.metadata.deletion_grace_period_seconds == 5
    longer = core.delete_namespaced_pod("p", namespace, grace_period_seconds=60)
    assert longer.metadata.deletion_grace_period_seconds == 5  # a later delete only shortens
    core.delete_namespaced_pod("p", namespace, grace_period_seconds=0)
    with pytest.raises(ApiException) as err:
        core.read_namespaced_pod("p", namespace)
    assert err.value.status == 404


def test_unscheduled_pod_delete_is_immediate(core, namespace) -> None:
    core.create_namespaced_pod(namespace, pod("p", node=None))
    core.delete_namespaced_pod("p", namespace, grace_period_seconds=0)
    assert [p.metadata.name for p in core.list_namespaced_pod(namespace).items] == []


def test_deployment_delete_returns_status_success(apps, namespace) -> None:
    apps.create_namespaced_deployment(namespace, deployment("web"))
    answer = apps.delete_namespaced_deployment("web", namespace)
    assert answer["status"] == "Success"
    assert answer["details"]["kind"] == "deployments"
    with pytest.raises(ApiException):
        apps.read_namespaced_deployment("web", namespace)


def test_service_delete_returns_the_deleted_service(core, namespace) -> None:
    """The Service registry sets ReturnDeletedObject: the answer is the Service (a Status made the
    official client v37 raise a validation error), its ClusterIP released."""
    body = {"metadata": {"name": "web"}, "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}
    created = core.create_namespaced_service(namespace, body)
    answer = core.delete_namespaced_service("web", namespace)
    assert isinstance(answer, client.V1Service)
    assert (answer.metadata.name, answer.metadata.uid) == ("web", created.metadata.uid)
    assert answer.spec.cluster_ip == created.spec.cluster_ip
    with pytest.raises(ApiException) as err:
        core.read_namespaced_service("web", namespace)
    assert err.value.status == 404


def test_dry_run_create_writes_nothing(sandbox, core, namespace) -> None:
    mark = sandbox.mark()
    core.create_namespaced_config_map(namespace, configmap("c"), dry_run="All")
    assert core.list_namespaced_config_map(namespace).items == []
    creates = [e for e in sandbox.requests(since=mark) if e["verb"] == "create"]
    assert [(e["resource"], e["dryRun"]) for e in creates] == [("configmaps", True)]


def test_scale_subresource_reads_and_writes_replicas(apps, namespace) -> None:
    apps.create_namespaced_deployment(namespace, deployment("web", replicas=2))
    scale = apps.read_namespaced_deployment_scale("web", namespace)
    assert scale.spec.replicas == 2
    assert scale.status.selector == "app=web"
    patched = apps.patch_namespaced_deployment_scale("web", namespace, {"spec": {"replicas": 5}})
    assert patched.spec.replicas == 5
    assert apps.read_namespaced_deployment("web", namespace).spec.replicas == 5


def test_events_are_listed_as_core_and_events_k8s_io(sandbox, core, namespace) -> None:
    core.create_namespaced_event(
        namespace,
        {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": "e1"},
            "reason": "Tested",
            "message": "hello",
            "type": "Normal",
            "involvedObject": {"kind": "Pod", "name": "p", "namespace": namespace},
            "source": {"component": "pytest"},
            "count": 1,
        },
    )
    assert [e.reason for e in core.list_namespaced_event(namespace).items] == ["Tested"]
    new = client.EventsV1Api(sandbox.api_client()).list_namespaced_event(namespace).items
    assert [(e.reason, e.note, e.regarding.name) for e in new] == [("Tested", "hello", "p")]
    picked = core.list_namespaced_event(namespace, field_selector="involvedObject.name=p,reason=Tested").items
    assert len(picked) == 1
    assert core.list_namespaced_event(namespace, field_selector="involvedObject.name=q").items == []


def test_self_subject_access_review_allows_until_denied(sandbox, namespace) -> None:
    authz = client.AuthorizationV1Api(sandbox.api_client())

    def allowed(verb: str, resource: str, group: str = "") -> bool:
        review = authz.create_self_subject_access_review(
            {
                "apiVersion": "authorization.k8s.io/v1",
                "kind": "SelfSubjectAccessReview",
                "spec": {
                    "resourceAttributes": {"verb": verb, "resource": resource, "group": group, "namespace": namespace}
                },
            }
        )
        return bool(review.status.allowed)

    assert allowed("patch", "deployments", "apps")
    sandbox.deny("patch", "deployments")
    assert not allowed("patch", "deployments", "apps")
    assert allowed("get", "deployments", "apps")
    sandbox.allow_all()
    assert allowed("patch", "deployments", "apps")


def test_recreate_with_rolling_update_parameters_is_422(apps, namespace) -> None:
    body = deployment("web", strategy={"type": "Recreate", "rollingUpdate": {"maxSurge": 1}})
    with pytest.raises(ApiException) as err:
        apps.create_namespaced_deployment(namespace, body)
    assert err.value.status == 422
    assert "may not be specified when strategy `type` is 'Recreate'" in json.loads(err.value.body)["message"]
    body["spec"]["strategy"] = {"type": "Recreate"}
    assert apps.create_namespaced_deployment(namespace, body).spec.strategy.rolling_update is None
