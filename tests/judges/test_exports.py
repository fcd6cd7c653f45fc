"""The public API is stated in one place: `checks.__all__` and `nonstop.report.__all__` are complete."""

from __future__ import annotations

import importlib

import pytest

import checks
import nonstop.report

CHECK_MODULES = ["attribution", "budget", "evidence", "judge", "ordering", "series", "verdict"]


@pytest.mark.parametrize("module", CHECK_MODULES)
def test_every_public_name_of_a_check_module_is_exported_by_the_package(module: str) -> None:
    names = set(importlib.import_module(f"checks.{module}").__all__)
    assert names <= set(checks.__all__)


def test_every_exported_name_of_checks_exists() -> None:
    assert all(hasattr(checks, name) for name in checks.__all__)


@pytest.mark.parametrize("module", ["model", "writer"])
def test_the_report_package_exports_its_modules_main_names(module: str) -> None:
    exported = set(nonstop.report.__all__)
    names = set(importlib.import_module(f"nonstop.report.{module}").__all__) - {"Timestamp", "to_datetime"}
    assert names <= exported
    assert all(hasattr(nonstop.report, name) for name in exported)
