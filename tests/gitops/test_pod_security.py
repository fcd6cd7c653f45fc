"""Every pod `nonstop workflows render` writes meets the Pod Security Standards' `restricted` level.

`restricted_violations` is a small checker of the controls as the Pod Security Standards page
(kubernetes.io/docs/concepts/security/pod-security-standards) lists them for Linux pods: all of
Baseline (host namespaces, privileged, capabilities, hostPath, host ports, AppArmor, SELinux,
/proc mount, seccomp, sysctls) plus Restricted (volume types, privilege escalation, non-root,
non-root user, seccomp, capabilities). It is written from the page's tables, not from the
admission plugin's code, and tests below show that it catches each kind of violation.

The pods it checks are the ones Argo would create from our objects: one per container template
of the WorkflowTemplate (pod-level fields from the template, else from the workflow spec, as the
Argo controller does), the same for the hook Workflow and the CronWorkflow after their spec is
joined with the template's (their own fields win), and the analysis Job's pod template. Argo's own
`init` and `wait` containers are not ours: docs/gitops.md says what the controller needs for them.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from workflows import render_manifests
from workflows.names import NON_ROOT_UID

BASELINE_CAPABILITIES = {
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
    "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
}  # fmt: skip
SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}  # fmt: skip
SELINUX_TYPES = {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
RESTRICTED_VOLUMES = {
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret",
}  # fmt: skip
ALLOWED_SECCOMP = {"RuntimeDefault", "Localhost"}
CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")


def restricted_violations(pod: dict[str, Any], annotations: dict[str, str] | None = None) -> list[str]:  # noqa: C901 — one branch per control of the Pod Security Standard `restricted` profile
    """The `restricted` controls a Linux pod spec breaks, one sentence each; empty when it meets them all."""
    found: list[str] = []
    psc = pod.get("securityContext") or {}
    containers = [(f"{lst}[{c.get('name')}]", c) for lst in CONTAINER_LISTS for c in pod.get(lst) or []]
    if not containers:
        found.append("pod has no containers")
    # Baseline.
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(field):
            found.append(f"host namespaces: {field} is true")
    if (psc.get("windowsOptions") or {}).get("hostProcess"):
        found.append("HostProcess: pod sets windowsOptions.hostProcess")
    for sysctl in psc.get("sysctls") or []:
        if sysctl.get("name") not in SAFE_SYSCTLS:
            found.append(f"sysctls: {sysctl.get('name')} is not in the safe set")
    for where, sc in [("pod", psc), *((w, c.get("securityContext") or {}) for w, c in containers)]:
        selinux = sc.get("seLinuxOptions") or {}
        if selinux.get("type", "") not in SELINUX_TYPES:
            found.append(f"SELinux: {where} sets type {selinux['type']}")
        if selinux.get("user") or selinux.get("role"):
            found.append(f"SELinux: {where} sets a custom user or role")
        if (sc.get("appArmorProfile") or {}).get("type") not in (None, "RuntimeDefault", "Localhost"):
            found.append(f"AppArmor: {where} sets profile {sc['appArmorProfile']['type']}")
    for key, value in (annotations or {}).items():
        if key.startswith("container.apparmor.security.beta.kubernetes.io/") and not (
            value == "runtime/default" or value.startswith("localhost/")
        ):
            found.append(f"AppArmor: annotation {key}={value}")
    for volume in pod.get("volumes") or []:
        kinds = set(volume) - {"name"}
        if "hostPath" in kinds:
            found.append(f"HostPath volumes: {volume.get('name')} is a hostPath")
        # Restricted: volume types.
        if not kinds & RESTRICTED_VOLUMES or kinds - RESTRICTED_VOLUMES:
            found.append(f"volume types: {volume.get('name')} is {sorted(kinds)}")
    for where, container in containers:
        sc = container.get("securityContext") or {}
        if sc.get("privileged"):
            found.append(f"privileged containers: {where} is privileged")
        if (sc.get("windowsOptions") or {}).get("hostProcess"):
            found.append(f"HostProcess: {where} sets windowsOptions.hostProcess")
        for port in container.get("ports") or []:
            if port.get("hostPort") not in (None, 0):
                found.append(f"host ports: {where} uses hostPort {port['hostPort']}")
        if sc.get("procMount") not in (None, "Default"):
            found.append(f"/proc mount type: {where} sets {sc['procMount']}")
        capabilities = sc.get("capabilities") or {}
        added = set(capabilities.get("add") or [])
        if added - BASELINE_CAPABILITIES:
            found.append(f"capabilities: {where} adds {sorted(added - BASELINE_CAPABILITIES)}")
        # Restricted.
        if sc.get("allowPrivilegeEscalation") is not False:
            found.append(f"privilege escalation: {where} does not set allowPrivilegeEscalation: false")
        non_root = sc.get("runAsNonRoot", psc.get("runAsNonRoot"))
        if non_root is not True:
            found.append(f"running as non-root: neither {where} nor the pod sets runAsNonRoot: true")
        if "ALL" not in (capabilities.get("drop") or []):
            found.append(f"capabilities: {where} does not drop ALL")
        if added - {"NET_BIND_SERVICE"}:
            found.append(f"capabilities: {where} adds back more than NET_BIND_SERVICE: {sorted(added)}")
        seccomp = (sc.get("seccompProfile") or {}).get("type")
        if seccomp is None and (psc.get("seccompProfile") or {}).get("type") not in ALLOWED_SECCOMP:
            found.append(f"seccomp: neither {where} nor the pod sets RuntimeDefault or Localhost")
        if seccomp is not None and seccomp not in ALLOWED_SECCOMP:
            found.append(f"seccomp: {where} sets {seccomp}")
        if sc.get("runAsUser") == 0:
            found.append(f"running as non-root user: {where} sets runAsUser 0")
    if (psc.get("seccompProfile") or {}).get("type") not in (None, *ALLOWED_SECCOMP):
        found.append(f"seccomp: the pod sets {psc['seccompProfile']['type']}")
    if psc.get("runAsUser") == 0:
        found.append("running as non-root user: the pod sets runAsUser 0")
    return found


def _effective_user(pod: dict[str, Any], container: dict[str, Any]) -> Any:
    return (container.get("securityContext") or {}).get(
        "runAsUser", (pod.get("securityContext") or {}).get("runAsUser")
    )


POD_SHAPING = {"podSpecPatch", "hostNetwork", "securityContext", "volumes", "podMetadata", "templates"}
"""Workflow spec fields that shape a step's pod; a hook or schedule setting one would override the template's."""


def _workflow_pods(spec: dict[str, Any], source: str) -> list[tuple[str, dict[str, Any], dict[str, str]]]:
    """The pods Argo creates for each container template of a workflow spec (template fields win)."""
    assert "podSpecPatch" not in spec, f"{source}: podSpecPatch can change any pod field; the check cannot see it"
    pods = []
    for template in spec["templates"]:
        kinds = set(template) & {"container", "script", "containerSet", "resource", "steps", "dag", "suspend"}
        assert kinds in ({"container"}, {"steps"}), f"{source}/{template['name']}: extend this test for {kinds}"
        assert "podSpecPatch" not in template, f"{source}/{template['name']}: podSpecPatch"
        if "container" not in template:
            continue
        pod = {
            "securityContext": template.get("securityContext", spec.get("securityContext")),
            "hostNetwork": template.get("hostNetwork", spec.get("hostNetwork")),
            "volumes": [*(spec.get("volumes") or []), *(template.get("volumes") or [])],
            "initContainers": template.get("initContainers") or [],
            "containers": [{"name": "main", **template["container"]}, *(template.get("sidecars") or [])],
        }
        annotations = {
            **((spec.get("podMetadata") or {}).get("annotations") or {}),
            **((template.get("metadata") or {}).get("annotations") or {}),
        }
        pods.append((f"{source}/{template['name']}", pod, annotations))
    return pods


def _rendered_pods() -> list[tuple[str, dict[str, Any], dict[str, str]]]:
    files = render_manifests(image="registry.example.com/nonstop:test", namespace="drills")
    (template,) = yaml.safe_load_all(files["workflow-template.yaml"])
    pods = _workflow_pods(template["spec"], "workflow-template.yaml")
    (hook,) = yaml.safe_load_all(files["argocd-postsync-hook.yaml"])
    (cron,) = yaml.safe_load_all(files["cron-workflow.yaml"])
    for source, spec in (
        ("argocd-postsync-hook.yaml", hook["spec"]),
        ("cron-workflow.yaml", cron["spec"]["workflowSpec"]),
    ):
        assert spec["workflowTemplateRef"]["name"] == template["metadata"]["name"], source
        assert not set(spec) & POD_SHAPING, f"{source} overrides the template's pods: {set(spec) & POD_SHAPING}"
        pods += _workflow_pods({**template["spec"], **spec}, source)
    (analysis,) = yaml.safe_load_all(files["rollouts/analysis-template.yaml"])
    for metric in analysis["spec"]["metrics"]:
        pod_template = metric["provider"]["job"]["spec"]["template"]
        annotations = (pod_template.get("metadata") or {}).get("annotations") or {}
        pods.append((f"analysis-template.yaml/{metric['name']}", pod_template["spec"], annotations))
    return pods


RENDERED = _rendered_pods()


@pytest.mark.parametrize(("source", "pod", "annotations"), RENDERED, ids=[p[0] for p in RENDERED])
def test_every_rendered_pod_meets_the_restricted_level(
    source: str, pod: dict[str, Any], annotations: dict[str, str]
) -> None:
    """No control of Baseline or Restricted is broken, and every container runs as the image's numeric user."""
    assert restricted_violations(pod, annotations) == [], source
    for lst in CONTAINER_LISTS:
        for container in pod.get(lst) or []:
            assert _effective_user(pod, container) == NON_ROOT_UID, (source, container.get("name"))


def test_the_render_has_every_pod_we_ship() -> None:
    """Six step templates, each from the template, the hook and the schedule, plus the analysis Job."""
    names = {source for source, _, _ in RENDERED}
    steps = {"plan", "lint", "locust-worker", "drill", "promote", "abort"}
    for source in ("workflow-template.yaml", "argocd-postsync-hook.yaml", "cron-workflow.yaml"):
        assert {f"{source}/{step}" for step in steps} <= names
    assert "analysis-template.yaml/nonstop-drill" in names
    assert len(names) == 3 * len(steps) + 1


def _good_pod() -> dict[str, Any]:
    return {
        "securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
        "volumes": [{"name": "work", "emptyDir": {}}],
        "containers": [
            {
                "name": "main",
                "ports": [{"containerPort": 8080}],
                "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
            }
        ],
    }


def _set(path: str, value: Any) -> Any:
    def mutate(pod: dict[str, Any]) -> None:
        *parents, leaf = path.split(".")
        node: Any = pod
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
        if value is _DELETE:
            node.pop(leaf, None)
        else:
            node[leaf] = value

    return mutate


_DELETE = object()
_C = "containers.0.securityContext"

BAD_PODS = {
    "host namespaces": _set("hostNetwork", True),
    "privileged containers": _set(f"{_C}.privileged", True),
    "HostPath volumes": _set("volumes", [{"name": "host", "hostPath": {"path": "/"}}]),
    "volume types": _set("volumes", [{"name": "share", "nfs": {"server": "nfs", "path": "/"}}]),
    "host ports": _set("containers.0.ports", [{"containerPort": 80, "hostPort": 80}]),
    "sysctls": _set("securityContext.sysctls", [{"name": "kernel.msgmax", "value": "1"}]),
    "/proc mount type": _set(f"{_C}.procMount", "Unmasked"),
    "SELinux": _set(f"{_C}.seLinuxOptions", {"user": "system_u"}),
    "AppArmor": _set(f"{_C}.appArmorProfile", {"type": "Unconfined"}),
    "privilege escalation": _set(f"{_C}.allowPrivilegeEscalation", _DELETE),
    "running as non-root": _set("securityContext.runAsNonRoot", _DELETE),
    "running as non-root user": _set(f"{_C}.runAsUser", 0),
    "seccomp": _set("securityContext.seccompProfile", _DELETE),
    "capabilities": _set(f"{_C}.capabilities", {"drop": ["NET_RAW"], "add": ["SYS_ADMIN"]}),
}


def test_the_checker_passes_a_pod_that_meets_the_level() -> None:
    """A minimal restricted pod: non-root at pod level, seccomp at pod level, the container drops ALL."""
    assert restricted_violations(_good_pod()) == []


@pytest.mark.parametrize("control", sorted(BAD_PODS))
def test_the_checker_catches_each_control(control: str) -> None:
    """Breaking one control of the level yields a finding named after that control."""
    pod = copy.deepcopy(_good_pod())
    BAD_PODS[control](pod)
    found = restricted_violations(pod)
    assert found, control
    assert any(f.startswith(f"{control}:") for f in found), found


def test_the_checker_reads_container_values_over_the_pod() -> None:
    """A container's own runAsNonRoot: false or seccomp Unconfined breaks the level despite a good pod level."""
    pod = _good_pod()
    pod["containers"][0]["securityContext"]["runAsNonRoot"] = False
    pod["containers"][0]["securityContext"]["seccompProfile"] = {"type": "Unconfined"}
    found = restricted_violations(pod)
    assert any(f.startswith("running as non-root:") for f in found)
    assert any(f.startswith("seccomp:") for f in found)
    pod = _good_pod()
    del pod["securityContext"]["seccompProfile"]
    pod["containers"][0]["securityContext"]["seccompProfile"] = {"type": "Localhost", "localhostProfile": "p.json"}
    assert restricted_violations(pod) == [], "every container setting an allowed profile is enough"
    pod = _good_pod()
    pod["containers"][0]["securityContext"]["capabilities"]["add"] = ["NET_BIND_SERVICE"]
    assert restricted_violations(pod, {"container.apparmor.security.beta.kubernetes.io/main": "unconfined"}) == [
        "AppArmor: annotation container.apparmor.security.beta.kubernetes.io/main=unconfined"
    ]
