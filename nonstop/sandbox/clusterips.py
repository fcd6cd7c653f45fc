"""A Service's ClusterIP through its life: allocated on create, kept on update, released on delete.

The addresses come from the registry's `defaults.ClusterIPAllocator`. A requested `spec.clusterIP`
must lie in its range (422 as the real server words it); `None` (headless) and ExternalName
Services get none.
"""

from __future__ import annotations

from nonstop.sandbox.apierrors import invalid
from nonstop.sandbox.defaults import ClusterIPAllocator
from nonstop.sandbox.store import Obj

__all__ = ["allocate", "keep", "release"]


def allocate(ips: ClusterIPAllocator, obj: Obj) -> str | None:
    """Give a Service being created its ClusterIP (the requested one, else a free one); the address taken."""
    spec = obj.setdefault("spec", {})
    if spec.get("type") == "ExternalName":
        return None
    wanted = str(spec.get("clusterIP") or "")
    if wanted == "None":
        spec["clusterIPs"] = ["None"]
        return None
    if wanted:
        if not ips.contains(wanted):
            raise invalid(
                "Service",
                "",
                obj["metadata"]["name"],
                [
                    (
                        "spec.clusterIPs",
                        (
                            f'Invalid value: []string{{"{wanted}"}}: failed to allocate IP {wanted}: '
                            "the provided IP is not in the valid range"
                        ),
                    )
                ],
            )
        ips.reserve(wanted)
        ip = wanted
    else:
        ip = ips.allocate()
    spec["clusterIP"] = ip
    spec["clusterIPs"] = [ip]
    return ip


def keep(current: Obj, new: Obj) -> None:
    """An update that leaves `spec.clusterIP` out keeps the Service's address."""
    spec = new.setdefault("spec", {})
    old_spec = current.get("spec") or {}
    if old_spec.get("clusterIP") and not spec.get("clusterIP"):
        spec["clusterIP"] = old_spec["clusterIP"]
        spec["clusterIPs"] = old_spec.get("clusterIPs", [old_spec["clusterIP"]])


def release(ips: ClusterIPAllocator, removed: Obj) -> None:
    """Free the address of a Service that is gone."""
    if (ip := (removed.get("spec") or {}).get("clusterIP")) and ip != "None":
        ips.release(ip)
