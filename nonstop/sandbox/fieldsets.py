"""Sets of field paths in the `FieldsV1` shape, and the walks server-side apply makes over objects.

A set is a trie of nested dicts keyed by path elements as `FieldsV1` spells them: `f:<field>`,
`k:{"name":"app"}` (an item of a keyed list, its keys as compact JSON, sorted), `v:<json>` (an
item of a set), `i:<n>`. Inside this module a member carries the key `.`; `to_fields_v1` writes a
member without children as `{}`, as the apiserver does, and `from_fields_v1` reads it back.

The walks follow the apiserver's structured merge: `field_set` is what an applied configuration
owns (its leaves, its empty maps, each keyed or set list item), `compare` says what a write added,
modified and removed (every node of an added or removed subtree), `merge` lays an applied
configuration over the live object (keyed lists merged item by item, atomic values replaced), and
`remove` prunes the fields a set names.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

from nonstop.sandbox.fieldschema import ATOMIC, Rule, Rules

__all__ = [
    "FieldSetError",
    "compare",
    "difference",
    "field_set",
    "from_fields_v1",
    "intersection",
    "merge",
    "path_string",
    "paths",
    "remove",
    "to_fields_v1",
    "union",
]

Node = dict[str, Any]
_MEMBER = "."
_MISSING = object()


class FieldSetError(Exception):
    """An object that cannot be read with its schema (a keyed list item without its key)."""


# -- the trie --------------------------------------------------------------------------------------


def _insert(trie: Node, path: tuple[str, ...]) -> None:
    node = trie
    for element in path:
        node = node.setdefault(element, {})
    node[_MEMBER] = {}


def union(a: Node, b: Node) -> Node:
    """Members of either."""
    out = {k: (union(v, {}) if k != _MEMBER else {}) for k, v in a.items()}
    for key, child in b.items():
        out[key] = {} if key == _MEMBER else union(out.get(key, {}), child)
    return out


def difference(a: Node, b: Node) -> Node:
    """Members of `a` that are not members of `b` (a member's children stay unless `b` names them)."""
    out: Node = {}
    for key, child in a.items():
        if key == _MEMBER:
            if _MEMBER not in b:
                out[_MEMBER] = {}
            continue
        rest = difference(child, b[key]) if key in b else union(child, {})
        if rest:
            out[key] = rest
    return out


def intersection(a: Node, b: Node) -> Node:
    """Members of both."""
    out: Node = {}
    for key, child in a.items():
        if key not in b:
            continue
        if key == _MEMBER:
            out[_MEMBER] = {}
            continue
        both = intersection(child, b[key])
        if both:
            out[key] = both
    return out


def _order(key: str) -> tuple[int, Any]:
    rank = "fkvi".find(key[0]) if key != _MEMBER else -1
    if key.startswith("k:"):
        fields = json.loads(key[2:])
        return rank, tuple((name, isinstance(value, str), value) for name, value in fields.items())
    if key.startswith("i:"):
        return rank, int(key[2:])
    return rank, key


def paths(trie: Node, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every member, in the apiserver's order: at each level its members first, then its children."""
    keys = sorted((k for k in trie if k != _MEMBER), key=_order)
    for key in keys:
        if _MEMBER in trie[key]:
            yield (*prefix, key)
    for key in keys:
        if any(k != _MEMBER for k in trie[key]):
            yield from paths(trie[key], (*prefix, key))


def _element_string(element: str) -> str:
    tag, raw = element[0], element[2:]
    if tag == "f":
        return "." + raw
    if tag == "k":
        fields = json.loads(raw)
        return "[" + ",".join(f"{k}={_go_string(v)}" for k, v in fields.items()) + "]"
    if tag == "v":
        return f"[={_go_string(json.loads(raw))}]"
    return f"[{raw}]"


def _go_string(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def path_string(path: tuple[str, ...]) -> str:
    """`.spec.template.spec.containers[name="app"].image`, as conflicts name a field."""
    return "".join(_element_string(element) for element in path)


def to_fields_v1(trie: Node) -> Node:
    """The trie as `FieldsV1` JSON: `.` only beside children, keys in the apiserver's order."""
    out: Node = {}
    if _MEMBER in trie and len(trie) > 1:
        out[_MEMBER] = {}
    for key in sorted((k for k in trie if k != _MEMBER), key=_order):
        out[key] = to_fields_v1(trie[key])
    return out


def from_fields_v1(fields: Any) -> Node:
    """A `FieldsV1` document back into a trie (`{}` is a member)."""
    if not isinstance(fields, dict) or not fields:
        return {_MEMBER: {}}
    out: Node = {}
    for key, child in fields.items():
        if key == _MEMBER:
            out[_MEMBER] = {}
        else:
            out[key] = from_fields_v1(child)
    return out


# -- reading objects with their schema -------------------------------------------------------------


def _item_key(rule: Rule, item: Any) -> str:
    if rule.type == "set":
        return "v:" + json.dumps(item, separators=(",", ":"))
    if not isinstance(item, dict):
        raise FieldSetError(f"an item of a list keyed by {', '.join(rule.keys)} is not an object")
    keys: dict[str, Any] = {}
    for name in rule.keys:
        value = item.get(name, rule.defaults.get(name))
        if value is None:
            raise FieldSetError(f"an item of a list keyed by {', '.join(rule.keys)} has no {name!r}")
        keys[name] = value
    return "k:" + json.dumps(keys, separators=(",", ":"))


def _items(rule: Rule, values: list[Any]) -> dict[str, Any]:
    return {_item_key(rule, item): item for item in values}


def _list_rule(rules: Rules, names: tuple[str, ...]) -> Rule:
    rule = rules.get(names, ATOMIC)
    return rule if rule.type in ("map", "set") else ATOMIC


def field_set(obj: Any, rules: Rules) -> Node:
    """What an applied configuration owns: leaves, empty maps, atomic values, each list item."""
    trie: Node = {}
    _owned(obj, (), (), rules, trie)
    return trie


def _owned(value: Any, names: tuple[str, ...], path: tuple[str, ...], rules: Rules, trie: Node) -> None:
    if isinstance(value, dict) and value and rules.get(names) is not ATOMIC:
        for key, child in value.items():
            _owned(child, (*names, key), (*path, f"f:{key}"), rules, trie)
    elif isinstance(value, list) and (rule := _list_rule(rules, names)) is not ATOMIC:
        for key, item in _items(rule, value).items():
            _insert(trie, (*path, key))
            if rule.type == "map":
                for field, child in item.items():
                    _owned(child, (*names, field), (*path, key, f"f:{field}"), rules, trie)
    elif path:
        _insert(trie, path)


def _every_node(value: Any, names: tuple[str, ...], path: tuple[str, ...], rules: Rules, trie: Node) -> None:
    """Every node of a subtree (what `compare` reports as added or removed)."""
    _insert(trie, path)
    if isinstance(value, dict) and rules.get(names) is not ATOMIC:
        for key, child in value.items():
            _every_node(child, (*names, key), (*path, f"f:{key}"), rules, trie)
    elif isinstance(value, list) and (rule := _list_rule(rules, names)) is not ATOMIC:
        for key, item in _items(rule, value).items():
            _insert(trie, (*path, key))
            if rule.type == "map":
                for field, child in item.items():
                    _every_node(child, (*names, field), (*path, key, f"f:{field}"), rules, trie)


def compare(old: Any, new: Any, rules: Rules) -> tuple[Node, Node, Node]:
    """(added, modified, removed) from `old` to `new`: an added or removed node brings its subtree."""
    added: Node = {}
    modified: Node = {}
    removed: Node = {}
    _diff(old, new, (), (), rules, (added, modified, removed))
    return added, modified, removed


def _diff(
    old: Any, new: Any, names: tuple[str, ...], path: tuple[str, ...], rules: Rules, out: tuple[Node, Node, Node]
) -> None:
    if old is new or old == new:
        return
    added, modified, removed = out
    if old is _MISSING:
        _every_node(new, names, path, rules, added)
    elif new is _MISSING:
        _every_node(old, names, path, rules, removed)
    elif isinstance(old, dict) and isinstance(new, dict) and rules.get(names) is not ATOMIC:
        for key in {**old, **new}:
            _diff(old.get(key, _MISSING), new.get(key, _MISSING), (*names, key), (*path, f"f:{key}"), rules, out)
    elif isinstance(old, list) and isinstance(new, list) and (rule := _list_rule(rules, names)) is not ATOMIC:
        before, after = _items(rule, old), _items(rule, new)
        for key in {**before, **after}:
            was, now = before.get(key, _MISSING), after.get(key, _MISSING)
            if rule.type == "set" or was is _MISSING or now is _MISSING:
                _diff(was, now, names, (*path, key), rules, out)
            else:
                for field in {**was, **now}:
                    _diff(
                        was.get(field, _MISSING),
                        now.get(field, _MISSING),
                        (*names, field),
                        (*path, key, f"f:{field}"),
                        rules,
                        out,
                    )
    elif path:
        _insert(modified, path)


# -- applying and pruning --------------------------------------------------------------------------


def merge(live: Any, config: Any, rules: Rules, names: tuple[str, ...] = ()) -> Any:
    """`config` laid over `live`: maps merged key by key, keyed lists item by item, the rest replaced.

    A `null` in the configuration removes the field. A keyed list keeps the live order, except that
    the items both name come in the configuration's order, each new item where the configuration
    puts it (the order the apiserver's merge gives).
    """
    if isinstance(live, dict) and isinstance(config, dict) and rules.get(names) is not ATOMIC:
        out = dict(live)
        for key, value in config.items():
            if value is None:
                out.pop(key, None)
            elif key in out:
                out[key] = merge(out[key], value, rules, (*names, key))
            else:
                out[key] = copy.deepcopy(value)
        return out
    if isinstance(live, list) and isinstance(config, list) and (rule := _list_rule(rules, names)) is not ATOMIC:
        return _merge_items(rule, live, config, rules, names)
    return copy.deepcopy(config)


def _merge_items(rule: Rule, live: list[Any], config: list[Any], rules: Rules, names: tuple[str, ...]) -> list[Any]:
    before, wanted = _items(rule, live), _items(rule, config)
    lkeys, rkeys = list(before), list(wanted)
    shared = [key for key in rkeys if key in before]
    result: list[Any] = []
    done: set[str] = set()

    def take(key: str) -> None:
        item = wanted[key]
        if key in before and rule.type == "map":
            item = merge(before[key], item, rules, names)
        result.append(copy.deepcopy(item))
        done.add(key)
        if shared and shared[0] == key:
            shared.pop(0)

    left = right = 0
    while left < len(lkeys) or right < len(rkeys):
        lkey = lkeys[left] if left < len(lkeys) else None
        rkey = rkeys[right] if right < len(rkeys) else None
        if lkey is not None and lkey == rkey:
            take(rkey)
            left, right = left + 1, right + 1
        elif lkey is not None and lkey not in wanted:
            result.append(before[lkey])
            left += 1
        elif lkey is not None and (lkey in done or (shared and shared[0] != lkey) or rkey is None):
            left += 1  # a shared item out of the configuration's order: it comes with the configuration
        elif rkey is not None:
            take(rkey)
            right += 1
    return result


def remove(obj: Any, trie: Node, rules: Rules, names: tuple[str, ...] = ()) -> Any:
    """`obj` without the members of `trie` (a member goes with its subtree; emptied maps and lists go)."""
    if isinstance(obj, dict):
        out = dict(obj)
        for element, child in trie.items():
            if not element.startswith("f:") or element[2:] not in out:
                continue
            field = element[2:]
            if _MEMBER in child:
                del out[field]
                continue
            kept = remove(out[field], child, rules, (*names, field))
            if kept in ({}, []) and out[field] not in ({}, []):
                del out[field]
            else:
                out[field] = kept
        return out
    if isinstance(obj, list) and (rule := _list_rule(rules, names)) is not ATOMIC:
        result = []
        for item in obj:
            child = trie.get(_item_key(rule, item))
            if child is None:
                result.append(item)
            elif _MEMBER not in child:
                result.append(remove(item, child, rules, names) if rule.type == "map" else item)
        return result
    return obj
