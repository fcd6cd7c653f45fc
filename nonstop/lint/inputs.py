"""Reading manifests for `nonstop lint`: paths, folders and stdin; multi-document YAML; `kind: List`.

Parsing uses PyYAML's C loader when it is there. The line of each object comes from the root node
the composer already built (its start mark), so knowing where an object is costs nothing extra; no
second pass over the text is made.

A file is a *template* (Helm, or anything else with `{{ }}` that must be rendered first) only when
it fails to parse and holds `{{`: valid YAML whose strings contain `{{ }}` (a values.yaml, a
ConfigMap holding a template, Argo Workflows parameters) is linted like any other file. A bare `=`
loads as the string "=" (YAML 1.1's `!!value` tag, which PyYAML's safe loader cannot construct).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from nonstop.errors import InputError, TemplateError
from nonstop.toolkit.yamldocs import documents, error_line, error_problem

__all__ = ["STDIN", "LoadedObject", "expand_paths", "load_text", "read_source"]

STDIN = "-"
"""The path argument that means standard input."""

STDIN_NAME = "<stdin>"
"""How standard input is named in messages and findings."""

_SUFFIXES = (".yaml", ".yml")
_HELM_HINT = (
    "; it contains Helm template directives ({{ }}): render the chart first and lint the result, "
    "e.g. `helm template RELEASE CHART | nonstop lint -`"
)


@dataclass(frozen=True, slots=True)
class LoadedObject:
    """One object of the input with where it came from (`line` is 1-based, of its first key)."""

    obj: dict[str, Any]
    file: str
    line: int | None


def expand_paths(paths: Sequence[str]) -> list[tuple[str, bool]]:
    """(path, found in a folder) for the files named, `-`, and every `*.yaml`/`*.yml` under a folder
    (recursively, sorted, hidden folders skipped).
    """
    found: list[tuple[str, bool]] = []
    for raw in paths:
        if raw == STDIN:
            found.append((STDIN, False))
            continue
        path = Path(raw)
        if path.is_dir():
            found.extend(
                (str(p), True)
                for p in sorted(path.rglob("*"))
                if p.suffix in _SUFFIXES
                and p.is_file()
                and not any(part.startswith(".") for part in p.relative_to(path).parts[:-1])
            )
        elif path.exists():
            found.append((raw, False))
        else:
            raise InputError(f"{raw}: no such file or directory")
    return found


def read_source(path: str) -> tuple[str, str]:
    """(display name, text) of one input; stdin is read once as UTF-8."""
    name = STDIN_NAME if path == STDIN else path
    try:
        data = sys.stdin.buffer.read() if path == STDIN else Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"{name}: cannot read it ({exc.strerror or exc})") from exc
    try:
        return name, data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{name}: not UTF-8 text (byte {exc.start}); Kubernetes manifests are UTF-8") from exc


def _yaml_error(name: str, text: str, exc: yaml.YAMLError) -> InputError:
    line = error_line(exc)
    where = f", line {line}" if line is not None else ""
    problem = error_problem(exc)
    if "{{" in text:
        line = text.count("\n", 0, text.index("{{")) + 1
        return TemplateError(
            f"{name}{where}: invalid YAML: {problem}{_HELM_HINT}",
            skipped=f"{name}, line {line}: skipped, a template ({{{{ }}}} and not YAML): render it first and lint "
            "the result, e.g. `helm template RELEASE CHART | nonstop lint -`",
        )
    return InputError(f"{name}{where}: invalid YAML: {problem}")


def _list_items(data: dict[str, Any], node: yaml.Node | None) -> Iterator[tuple[Any, int | None]]:
    """Items of a `kind: List` (or `DeploymentList` from the API, whose items carry no kind) with their lines."""
    item_nodes: list[yaml.Node] = []
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if key.value == "items" and isinstance(value, yaml.SequenceNode):
                item_nodes = value.value
    kind = str(data["kind"])
    item_kind = kind[: -len("List")] if kind != "List" else None
    for position, item in enumerate(data["items"]):
        line = item_nodes[position].start_mark.line + 1 if position < len(item_nodes) else None
        if item_kind and isinstance(item, dict) and "kind" not in item:
            yield {"kind": item_kind, **item}, line
        else:
            yield item, line


def load_text(name: str, text: str) -> list[LoadedObject]:
    """Every object (a mapping with a `kind`) in a multi-document YAML text; empty documents are skipped.

    Raises InputError naming the file and line for invalid YAML; TemplateError (with a hint to run
    `helm template`) when the invalid text holds `{{`.
    """
    loaded: list[LoadedObject] = []
    try:
        for document in documents(text, fast=True):
            data = document.data
            if not isinstance(data, dict) or not isinstance(data.get("kind"), str):
                continue
            if data["kind"].endswith("List") and isinstance(data.get("items"), list):
                loaded.extend(
                    LoadedObject(item, name, line)
                    for item, line in _list_items(data, document.node)
                    if isinstance(item, dict) and isinstance(item.get("kind"), str)
                )
            else:
                loaded.append(LoadedObject(data, name, document.line))
    except yaml.YAMLError as exc:
        raise _yaml_error(name, text, exc) from exc
    return loaded
