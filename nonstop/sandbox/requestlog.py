"""The request log: one entry per API request, so tests can assert what a client did.

Each entry: `time` (RFC 3339, ms), `caller` (the bearer token, else the User-Agent), `verb`
(Kubernetes' verb: get, list, watch, create, update, patch, delete, deletecollection), `group`,
`resource`, `subresource`, `namespace`, `name`, `code`, `dryRun`. Entries are numbered from 0 for
the life of the server; `since(i)` returns the entries from index i (older ones may be dropped
past `limit`, the numbering stays).
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = ["RequestLog", "RequestRecord"]


@dataclass(frozen=True)
class RequestRecord:
    """One request as the log keeps it."""

    time: str
    caller: str
    verb: str
    group: str
    resource: str
    subresource: str
    namespace: str
    name: str
    code: int
    dryRun: bool = False  # noqa: N815  (the wire name)


class RequestLog:
    """A thread-safe, numbered, bounded list of `RequestRecord`s."""

    def __init__(self, *, limit: int = 200_000) -> None:
        self._entries: deque[RequestRecord] = deque(maxlen=limit)
        self._dropped = 0
        self._lock = threading.Lock()

    def add(
        self,
        *,
        caller: str,
        verb: str,
        group: str = "",
        resource: str = "",
        subresource: str = "",
        namespace: str = "",
        name: str = "",
        code: int,
        dry_run: bool = False,
    ) -> None:
        record = RequestRecord(
            datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            caller,
            verb,
            group,
            resource,
            subresource,
            namespace,
            name,
            code,
            dry_run,
        )
        with self._lock:
            if len(self._entries) == self._entries.maxlen:
                self._dropped += 1
            self._entries.append(record)

    def mark(self) -> int:
        """The index the next entry will get."""
        with self._lock:
            return self._dropped + len(self._entries)

    def since(self, index: int = 0) -> list[dict[str, Any]]:
        """Entries numbered `index` and later, as plain dicts (with their `index`)."""
        with self._lock:
            start = max(0, index - self._dropped)
            return [
                {"index": self._dropped + start + i, **asdict(rec)} for i, rec in enumerate(list(self._entries)[start:])
            ]
