"""The bottom layer: pure Kubernetes rules and process helpers both the engine and the sandbox need.

Nothing here talks to a cluster or imports the rest of nonstop; `checks`, the engine and the
sandbox all import it (import-linter keeps it the bottom layer). One rule a module:

    objects.py     `Obj`, a Kubernetes object as the API's JSON decodes it
    selectors.py   `metav1.LabelSelector` and label-map matching, as `labels.Selector` evaluates them
    intstr.py      int-or-percent fields scaled the way `intstr.GetScaledValueFromIntOrPercent` does
    quantity.py    resource quantities (`500m`, `128Mi`) as integers
    times.py       RFC 3339 timestamps as the API writes them (Time, MicroTime) and their parsing
    yamldocs.py    multi-document YAML with each document's line; the line of a YAML error
    children.py    child processes that die with their parent (PR_SET_PDEATHSIG)
"""

from __future__ import annotations

__all__: list[str] = []
