"""`Obj`: a Kubernetes object (or any part of one) as the API's JSON decodes it."""

from __future__ import annotations

from typing import Any

__all__ = ["Obj"]

Obj = dict[str, Any]
