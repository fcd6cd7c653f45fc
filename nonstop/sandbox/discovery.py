"""Discovery: `/version`, `/api`, `/apis` and the group-version resource lists kubectl reads.

`/version` answers gitVersion v1.32.0: the machine image's kubectl is a dispatcher that picks the
kubectl release matching the server (NOTES.md), so a fixed, real-looking version makes its choice
deterministic. Discovery is the legacy (unaggregated) form; kubectl falls back to it when the
answer to `/apis` is plain `application/json`.
"""

from __future__ import annotations

from nonstop.sandbox.kinds import KINDS, Kind
from nonstop.toolkit.objects import Obj

__all__ = ["api_group", "api_group_list", "api_versions", "resource_list", "version"]


_SUB_KINDS = {
    "scale": ("autoscaling", "v1", "Scale", ["get", "patch", "update"]),
    "eviction": ("policy", "v1", "Eviction", ["create"]),
    "status": (None, None, None, ["get", "patch", "update"]),
    "log": (None, None, None, ["get"]),
}


def version() -> Obj:
    return {
        "major": "1",
        "minor": "32",
        "gitVersion": "v1.32.0",
        "gitCommit": "70d3cc986aa8221cd1dfb1121852688902d3bf53",
        "gitTreeState": "clean",
        "buildDate": "2024-12-11T17:59:15Z",
        "goVersion": "go1.23.3",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


def api_versions() -> Obj:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}],
    }


def _groups() -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for kind in KINDS:
        if kind.group and kind.version not in groups.setdefault(kind.group, []):
            groups[kind.group].append(kind.version)
    return groups


def api_group(group: str) -> Obj | None:
    versions = _groups().get(group)
    if not versions:
        return None
    entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": entries, "preferredVersion": entries[0]}


def api_group_list() -> Obj:
    groups = []
    for group in _groups():
        found = api_group(group)
        if found is not None:
            found.pop("kind")
            found.pop("apiVersion")
            groups.append(found)
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def _singular(kind: Kind) -> str:
    return kind.kind.lower()


def resource_list(group: str, version: str) -> Obj | None:
    kinds = [k for k in KINDS if k.group == group and k.version == version]
    if not kinds:
        return None
    resources: list[Obj] = []
    for kind in kinds:
        entry: Obj = {
            "name": kind.resource,
            "singularName": _singular(kind),
            "namespaced": kind.namespaced,
            "kind": kind.kind,
            "verbs": list(kind.verbs),
        }
        if kind.short_names:
            entry["shortNames"] = list(kind.short_names)
        if kind.categories:
            entry["categories"] = list(kind.categories)
        resources.append(entry)
        for sub in kind.subresources:
            sub_group, sub_version, sub_kind, verbs = _SUB_KINDS[sub]
            sub_entry: Obj = {
                "name": f"{kind.resource}/{sub}",
                "singularName": "",
                "namespaced": kind.namespaced,
                "kind": sub_kind or kind.kind,
                "verbs": verbs,
            }
            if sub_group is not None:
                sub_entry["group"] = sub_group
                sub_entry["version"] = sub_version
            resources.append(sub_entry)
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": resources,
    }
