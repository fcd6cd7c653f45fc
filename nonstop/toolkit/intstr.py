"""Int-or-percent fields (`maxSurge`, `maxUnavailable`, `minAvailable`) as Kubernetes scales them.

Restated from `intstr.GetScaledValueFromIntOrPercent`: an int as is, `"N%"` as N·total/100 rounded
up or down; any other string (`"3"` included) is an error, as the API server's validation says.
"""

from __future__ import annotations

import re

__all__ = ["IntOrPercent", "scaled_value"]

_PERCENT = re.compile(r"^(\d+)%$")

IntOrPercent = int | str | None


def scaled_value(value: object, total: int, *, round_up: bool) -> int:
    """The scaled value; `None` counts as 0 (`ValueOrDefault(…, 0)`); ValueError for anything else."""
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"invalid value for IntOrString: {value!r}")  # noqa: TRY004 — callers catch ValueError for any bad value
    if isinstance(value, int):
        return value
    found = _PERCENT.match(value.strip())
    if not found:
        raise ValueError(f"invalid value for IntOrString: invalid type: string is not a percentage: {value!r}")
    numerator = int(found.group(1)) * total
    return -(-numerator // 100) if round_up else numerator // 100
