"""SARIF 2.1.0 output: one run, the rule table as the driver's rules, one result per finding."""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import quote

from checks.lint import RULES
from nonstop.lint.inputs import STDIN_NAME
from nonstop.lint.run import LintReport, LocatedFinding

__all__ = ["SARIF_SCHEMA", "render_sarif"]

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
_RULE_INDEX = {rule_id: position for position, rule_id in enumerate(RULES)}


def _version() -> str:
    try:
        return metadata.version("nonstop")
    except metadata.PackageNotFoundError:  # running from a source tree that was never installed
        return "0+unknown"


def _uri(file: str) -> str:
    """A relative path stays relative (GitHub resolves it against the checkout); an absolute one becomes file://."""
    path = Path(file)
    if path.is_absolute():
        return path.as_uri()
    return quote(path.as_posix())


def _result(located: LocatedFinding) -> dict[str, Any]:
    f = located.finding
    qualified = "/".join(p for p in (f.namespace, f.kind, f.name, f.container) if p)
    location: dict[str, Any] = {
        "logicalLocations": [{"name": f.container or f.name, "fullyQualifiedName": qualified, "kind": "object"}]
    }
    if located.file is not None and located.file != STDIN_NAME:
        physical: dict[str, Any] = {"artifactLocation": {"uri": _uri(located.file)}}
        if located.line is not None:
            physical["region"] = {"startLine": located.line}
        location["physicalLocation"] = physical
    return {
        "ruleId": f.rule,
        "ruleIndex": _RULE_INDEX[f.rule],
        "level": f.severity,
        "message": {"text": f.message},
        "locations": [location],
    }


def render_sarif(report: LintReport) -> str:
    """The report as a SARIF 2.1.0 log."""
    rules = [
        {
            "id": rule.id,
            "name": "".join(part.capitalize() for part in rule.id.split("-")),
            "shortDescription": {"text": rule.summary},
            "defaultConfiguration": {"level": rule.severity},
            "properties": {"tags": ["kubernetes", "zero-downtime"]},
        }
        for rule in RULES.values()
    ]
    log = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": {"name": "nonstop", "version": _version(), "rules": rules}},
                "results": [_result(f) for f in report.findings],
            }
        ],
    }
    return json.dumps(log, indent=2, ensure_ascii=False)
