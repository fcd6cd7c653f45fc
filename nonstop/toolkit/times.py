"""RFC 3339 timestamps as the Kubernetes API writes and reads them.

`metav1.Time` has whole seconds (`2024-05-01T12:00:00Z`), `metav1.MicroTime` microseconds (Leases,
events.k8s.io); measurements nonstop writes itself carry milliseconds.
"""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["now_rfc3339", "parse_time", "rfc3339", "rfc3339_micro", "rfc3339_milli", "to_epoch", "try_parse_time"]


def _utc(at: float | datetime) -> datetime:
    return datetime.fromtimestamp(at, UTC) if isinstance(at, int | float) else at.astimezone(UTC)


def rfc3339(at: float | datetime) -> str:
    """`metav1.Time`: UTC, whole seconds, `Z`."""
    return _utc(at).strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc3339_micro(at: float | datetime) -> str:
    """`metav1.MicroTime`: UTC, microseconds, `Z`."""
    return _utc(at).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def rfc3339_milli(at: float | datetime) -> str:
    """A measurement's timestamp: UTC, milliseconds, `Z`."""
    return _utc(at).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def now_rfc3339() -> str:
    """The current `metav1.Time`."""
    return rfc3339(datetime.now(UTC))


def parse_time(text: str | None) -> datetime | None:
    """An RFC 3339 timestamp as an aware datetime (naive ones are UTC); None when absent, ValueError when malformed."""
    if not text:
        return None
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def try_parse_time(text: str | None) -> datetime | None:
    """As `parse_time`, but None for a malformed timestamp too."""
    try:
        return parse_time(text)
    except ValueError:
        return None


def to_epoch(text: str | None) -> float | None:
    """An RFC 3339 timestamp as epoch seconds; None when absent, ValueError when malformed."""
    parsed = parse_time(text)
    return None if parsed is None else parsed.timestamp()
