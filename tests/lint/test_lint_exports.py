"""The public names of `checks.lint` and `nonstop.lint` exist, and the rule table is the one documented."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from checks.lint import RULES

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "module",
    [
        "checks.lint",
        "checks.lint.model",
        "checks.lint.objects",
        "checks.lint.selectors",
        "checks.lint.probes",
        "checks.lint.lifecycle",
        "checks.lint.rollout",
        "checks.lint.service",
        "checks.lint.disruption",
        "nonstop.lint",
        "nonstop.lint.inputs",
        "nonstop.lint.run",
        "nonstop.lint.render",
        "nonstop.lint.text",
        "nonstop.lint.sarif",
        "nonstop.lint.junit",
    ],
)
def test_every_name_in_all_exists(module: str) -> None:
    imported = importlib.import_module(module)
    missing = [name for name in imported.__all__ if not hasattr(imported, name)]
    assert missing == []


def test_readme_documents_every_rule_with_its_severity() -> None:
    readme = (ROOT / "README.md").read_text()
    documented = dict(re.findall(r"^\| `([a-z0-9-]+)` \| (error|warning) \|", readme, flags=re.MULTILINE))
    assert documented == {rule_id: rule.severity for rule_id, rule in RULES.items()}
