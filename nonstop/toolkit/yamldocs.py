"""Multi-document YAML with the line each document starts on, and the line of a YAML error.

Two loaders, both safe: `fast` (libyaml, when built) for large inputs, and PyYAML's own; they word
their errors differently, and each caller keeps the wording its users (and tests) know. A bare `=`
is a string, as in Kubernetes' YAML, not PyYAML's `value` tag.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml

__all__ = ["Document", "documents", "error_line", "error_problem"]

_Fast: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True, slots=True)
class Document:
    """One YAML document: its data and its root node (None for an empty document)."""

    data: Any
    node: yaml.Node | None

    @property
    def line(self) -> int | None:
        """The 1-based line the document's content starts on."""
        return self.node.start_mark.line + 1 if self.node is not None else None


def _construct_value(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    return loader.construct_scalar(node)  # type: ignore[arg-type]  # a `=` is always a scalar node


def _line_loader(base: type[yaml.SafeLoader]) -> type[yaml.SafeLoader]:
    class LineLoader(base):  # type: ignore[misc,valid-type]  # the C loader has no stubs
        """A safe loader that remembers each document's root node, so its line is known for free."""

        def __init__(self, stream: str) -> None:
            super().__init__(stream)
            self.last_node: yaml.Node | None = None

        def get_data(self) -> Any:
            self.last_node = self.get_node() if self.check_node() else None
            return self.construct_document(self.last_node) if self.last_node is not None else None

    LineLoader.add_constructor("tag:yaml.org,2002:value", _construct_value)
    return LineLoader


_FAST_LOADER = _line_loader(_Fast)
_PURE_LOADER = _line_loader(yaml.SafeLoader)


def documents(text: str, *, fast: bool = False) -> Iterator[Document]:
    """Each document of `text` in order (empty ones as `Document(None, None)`); yaml.YAMLError when invalid."""
    loader: Any = (_FAST_LOADER if fast else _PURE_LOADER)(text)
    try:
        while loader.check_data():
            data = loader.get_data()
            yield Document(data, loader.last_node)
    finally:
        loader.dispose()


def error_line(exc: yaml.YAMLError) -> int | None:
    """The 1-based line a YAML error points at, if it points anywhere."""
    mark = getattr(exc, "problem_mark", None)
    return mark.line + 1 if mark is not None else None


def error_problem(exc: yaml.YAMLError) -> str:
    """What is wrong, in the parser's words (its first line when it names no problem)."""
    return str(getattr(exc, "problem", None) or str(exc).splitlines()[0])
