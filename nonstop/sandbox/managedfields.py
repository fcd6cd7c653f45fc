"""`metadata.managedFields`: who owns which field, kept on every write (K8S-SEMANTICS.md §6).

Each entry is one manager's fields in `FieldsV1`, keyed by manager, operation, subresource and
(for `Update` only) apiVersion, as the apiserver keys them:

- **Update** (create, update, every non-apply patch, and the in-process controllers' and kubelet's
  writes): the manager gains what the write added or changed and keeps what it had; every other
  manager loses what the write changed or removed. Its `time` moves only when it gained a field.
- **Apply** (`apply_config`): the manager owns exactly the configuration it sent; a field it owned
  last time and no longer sends is removed from the object unless another manager owns it; a
  change to a field another manager owns is a conflict (409) unless forced, then that manager
  loses it.

Fields never tracked: `apiVersion`, `kind`, the server-set metadata, `status` on a main resource
of a kind with a status subresource, and everything but `status` on `/status`.

Controllers and the kubelet write to the store directly; `acting_as(name)` names the manager of
the writes a thread makes (`kube-controller-manager`, `kube-scheduler`), and the store calls
`track_write` for them.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from typing import Any

from nonstop.sandbox.apierrors import ApiError
from nonstop.sandbox.fieldschema import rules_for, zero_object
from nonstop.sandbox.fieldsets import (
    FieldSetError,
    compare,
    difference,
    field_set,
    from_fields_v1,
    intersection,
    merge,
    path_string,
    paths,
    remove,
    to_fields_v1,
    union,
)
from nonstop.sandbox.kinds import Kind
from nonstop.toolkit.objects import Obj

__all__ = ["acting_as", "acting_manager", "apply_config", "from_user_agent", "track_update", "track_write"]

_UNTRACKED_METADATA = (
    "name",
    "namespace",
    "creationTimestamp",
    "selfLink",
    "uid",
    "generation",
    "managedFields",
    "resourceVersion",
)
_local = threading.local()
Node = dict[str, Any]


def acting_as(manager: str) -> None:
    """Name the manager of this thread's direct store writes (a controller's loop calls it once)."""
    _local.manager = manager


def acting_manager() -> str:
    return str(getattr(_local, "manager", ""))


def from_user_agent(user_agent: str) -> str:
    """The manager of a request without `fieldManager`: its User-Agent up to the first `/`."""
    return user_agent.split("/", 1)[0][:128]


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Entry:
    """One managedFields entry; its `FieldsV1` is read into a trie only when a write touches it."""

    def __init__(
        self,
        manager: str,
        operation: str,
        api_version: str,
        subresource: str,
        time: str | None,
        fields: dict[str, Any] | None = None,
        *,
        raw: Obj | None = None,
    ) -> None:
        self.manager, self.operation, self.api_version = manager, operation, api_version
        self.subresource, self.time = subresource, time
        self._fields = fields if fields is not None or raw is not None else {}
        self._raw = raw  # the entry as stored, kept as long as nothing changed it

    @property
    def fields(self) -> dict[str, Any]:
        if self._fields is None:
            raw = (self._raw or {}).get("fieldsV1")
            self._fields = from_fields_v1(raw) if raw else {}
        return self._fields

    @fields.setter
    def fields(self, value: dict[str, Any]) -> None:
        self._fields, self._raw = value, None

    def empty(self) -> bool:
        if self._fields is None:
            return not (self._raw or {}).get("fieldsV1")
        return not self._fields

    def touches(self, *tries: dict[str, Any]) -> bool:
        """Whether any of `tries` shares a top-level field with this entry (else a write leaves it be)."""
        top = set((self._raw or {}).get("fieldsV1") or {}) if self._fields is None else set(self._fields)
        return any(top & set(trie) for trie in tries)

    def same_owner(self, other: _Entry) -> bool:
        return (
            self.manager == other.manager
            and self.operation == other.operation
            and self.subresource == other.subresource
            and (self.operation == "Apply" or self.api_version == other.api_version)
        )

    def describe(self) -> str:
        """How a conflict names this manager."""
        text = f'"{self.manager}"'
        if self.subresource:
            text += f' with subresource "{self.subresource}"'
        if self.operation == "Update":
            text += f" using {self.api_version}"
        return text

    def encode(self) -> Obj:
        if self._raw is not None and self._fields is None:
            return self._raw
        out: Obj = {"manager": self.manager, "operation": self.operation, "apiVersion": self.api_version}
        if self.time:
            out["time"] = self.time
        out["fieldsType"] = "FieldsV1"
        out["fieldsV1"] = to_fields_v1(self.fields)
        if self.subresource:
            out["subresource"] = self.subresource
        return out


def _decode(obj: Obj | None) -> list[_Entry]:
    entries = []
    for raw in ((obj or {}).get("metadata") or {}).get("managedFields") or []:
        if not isinstance(raw, dict):
            continue
        entries.append(
            _Entry(
                manager=str(raw.get("manager") or ""),
                operation=str(raw.get("operation") or "Update"),
                api_version=str(raw.get("apiVersion") or ""),
                subresource=str(raw.get("subresource") or ""),
                time=raw.get("time"),
                fields=None,
                raw=raw,
            )
        )
    return entries


def _store(obj: Obj, entries: list[_Entry]) -> None:
    kept = [entry for entry in entries if not entry.empty()]
    kept.sort(key=lambda e: (e.operation, e.time or "", e.manager, e.api_version, e.subresource))
    meta = obj.setdefault("metadata", {})
    if kept:
        meta["managedFields"] = [entry.encode() for entry in kept]
    else:
        meta.pop("managedFields", None)


def _view(kind: Kind, obj: Obj, subresource: str) -> Obj:
    """The fields the manager of a write to `subresource` can own."""
    if subresource == "status":
        return {"metadata": {}, **({"status": obj["status"]} if "status" in obj else {})}
    view = {key: value for key, value in obj.items() if key not in ("apiVersion", "kind")}
    if "status" in kind.subresources:
        view.pop("status", None)
    meta = view.get("metadata") or {}
    view["metadata"] = {key: value for key, value in meta.items() if key not in _UNTRACKED_METADATA}
    return view


def _compare(kind: Kind, old: Obj, new: Obj, subresource: str) -> tuple[Node, Node, Node]:
    added, modified, removed = compare(_view(kind, old, subresource), _view(kind, new, subresource), rules_for(kind))
    return _unowned_metadata(added), modified, _unowned_metadata(removed)


def _unowned_metadata(trie: Node) -> Node:
    """`metadata` itself is never owned, only what is in it."""
    meta = trie.get("f:metadata")
    if meta is not None and "." in meta:
        trie = dict(trie)
        meta = {k: v for k, v in meta.items() if k != "."}
        if meta:
            trie["f:metadata"] = meta
        else:
            del trie["f:metadata"]
    return trie


def track_update(kind: Kind, live: Obj | None, new: Obj, manager: str, *, subresource: str = "") -> None:
    """Record an Update by `manager` from `live` (None: a create) to `new`, in `new`'s metadata."""
    try:
        added, modified, removed = _compare(kind, live if live is not None else zero_object(kind), new, subresource)
    except FieldSetError:
        added = modified = removed = {}  # an item of a keyed list without its key: validation's business
    sent = (new.get("metadata") or {}).get("managedFields")
    if sent and live is not None and sent == (live.get("metadata") or {}).get("managedFields"):
        sent = None  # the live entries, as every read-modify-write carries them
    if not (added or modified or removed) and live is not None and (not sent or subresource):
        _keep(live, new)  # nothing changed hands: the live entries stand (the common controller write)
        return
    entries = _decode(new) if sent and not subresource else _decode(live)
    changed = union(added, modified)
    mine = _Entry(manager, "Update", kind.api_version, subresource, None, {})
    for entry in entries:
        if entry.same_owner(mine):
            mine = entry
        elif entry.touches(changed, removed):
            entry.fields = difference(difference(entry.fields, changed), removed)
    if mine not in entries:
        entries.append(mine)
    mine.fields = union(difference(mine.fields, removed), changed)
    if changed:
        mine.time = _now()
    _store(new, entries)


def _keep(live: Obj, new: Obj) -> None:
    meta = new.setdefault("metadata", {})
    if kept := (live.get("metadata") or {}).get("managedFields"):
        meta["managedFields"] = kept
    else:
        meta.pop("managedFields", None)


def track_write(kind: Kind, live: Obj | None, new: Obj, manager: str) -> None:
    """A controller's or the kubelet's direct write: `/status` when nothing but status changed."""
    subresource = ""
    if live is not None and "status" in kind.subresources and live.get("status") != new.get("status"):
        strip = ("status", "metadata")
        same = {k: v for k, v in live.items() if k not in strip} == {k: v for k, v in new.items() if k not in strip}
        if same and (live.get("metadata") or {}).get("labels") == (new.get("metadata") or {}).get("labels"):
            subresource = "status"
    track_update(kind, live, new, manager, subresource=subresource)


def apply_config(kind: Kind, live: Obj | None, config: Obj, manager: str, *, force: bool, subresource: str = "") -> Obj:
    """The object after `manager` applies `config` to `live` (None: create), with its managedFields.

    Raises the apiserver's 409 when the change touches another manager's fields and not `force`.
    """
    rules = rules_for(kind)
    entries = _decode(live)
    base = live if live is not None else {}
    try:
        merged: Obj = merge(base, config, rules)
        owned = _unowned_metadata(field_set(_view(kind, config, subresource), rules))
        mine = next(
            (e for e in entries if e.same_owner(_Entry(manager, "Apply", "", subresource, None, {}))),
            None,
        )
        if mine is not None:
            others = [e for e in entries if e is not mine]
            still_owned = owned
            for entry in others:
                still_owned = union(still_owned, entry.fields)
            merged = remove(merged, _prunable(difference(mine.fields, still_owned), still_owned), rules)
        else:
            others = list(entries)
        added, modified, removed = _compare(kind, base or zero_object(kind), merged, subresource)
    except FieldSetError as exc:
        raise ApiError(500, "InternalError", f"failed to create typed patch object: {exc}") from exc
    changed = union(added, modified)
    conflicts = [(entry, lost) for entry in others if (lost := intersection(entry.fields, changed))]
    if conflicts and not force:
        raise _conflict_error(conflicts)
    for entry in others:
        entry.fields = difference(difference(entry.fields, changed), removed)
    if mine is None:
        mine = _Entry(manager, "Apply", "", subresource, None, {})
    if mine.fields != owned or changed or removed or mine.time is None:
        mine.time = _now()
    mine.api_version, mine.fields = str(config.get("apiVersion") or kind.api_version), owned
    _store(merged, [*others, mine])
    return merged


def _prunable(candidates: dict[str, Any], owned: dict[str, Any]) -> dict[str, Any]:
    """Of the fields an applier dropped, those to remove: not a node another manager owns below."""
    out: dict[str, Any] = {}
    for element, child in candidates.items():
        if element == ".":
            continue
        below = owned.get(element, {})
        if "." in child and not any(k != "." for k in below):
            out[element] = {".": {}}
            continue
        rest = _prunable({k: v for k, v in child.items() if k != "."}, below)
        if "." in child and element.startswith("k:"):
            for key in _json_keys(element):
                rest.pop(f"f:{key}", None)  # an item that stays keeps its key fields
        if rest:
            out[element] = rest
    return out


def _json_keys(element: str) -> list[str]:
    return list(json.loads(element[2:]))


def _conflict_error(conflicts: list[tuple[_Entry, dict[str, Any]]]) -> ApiError:
    listed = [(entry, path) for entry, lost in conflicts for path in paths(lost)]
    causes = [
        {"reason": "FieldManagerConflict", "message": f"conflict with {entry.describe()}", "field": path_string(path)}
        for entry, path in listed
    ]
    if len(listed) == 1:
        entry, path = listed[0]
        message = f"Apply failed with 1 conflict: conflict with {entry.describe()}: {path_string(path)}"
    else:
        lines = []
        for entry, lost in sorted(conflicts, key=lambda pair: pair[0].manager):
            lines.append(f"conflicts with {entry.describe()}:")
            lines.extend(f"- {path_string(path)}" for path in paths(lost))
        message = f"Apply failed with {len(listed)} conflicts: " + "\n".join(lines)
    return ApiError(409, "Conflict", message, details={"causes": causes})
