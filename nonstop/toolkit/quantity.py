"""Resource quantities (`resource.Quantity`: `500m`, `2`, `128Mi`, `1G`) as integers."""

from __future__ import annotations

import math
import re

__all__ = ["quantity"]

_QUANTITY = re.compile(r"^([0-9.]+)(m|k|Ki|M|Mi|G|Gi|T|Ti|)$")
_SUFFIX = {"": 1, "k": 10**3, "Ki": 2**10, "M": 10**6, "Mi": 2**20, "G": 10**9, "Gi": 2**30, "T": 10**12, "Ti": 2**40}


def quantity(text: object, *, milli: bool = False) -> int | None:
    """A quantity rounded up to an integer (in milli-units with `milli`); None when it does not parse."""
    found = _QUANTITY.match(str(text).strip())
    if found is None:
        return None
    number, suffix = float(found.group(1)), found.group(2)
    value = number / 1000 if suffix == "m" else number * _SUFFIX[suffix]
    return math.ceil(value * 1000) if milli else math.ceil(value)
