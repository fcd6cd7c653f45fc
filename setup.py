"""Packaging glue pyproject.toml cannot express: `config/` ships as the data package `nonstop.bundled_config`.

The code packages are found automatically; every folder under config/ is added as a data package,
so `importlib.resources` finds the examples, drills and deploy files from any directory, both in
a wheel and in an editable install.
"""

from pathlib import Path

from setuptools import find_packages, setup

config_packages = ["nonstop.bundled_config"] + [
    "nonstop.bundled_config." + ".".join(p.relative_to("config").parts)
    for p in sorted(Path("config").rglob("*"))
    if p.is_dir() and "__pycache__" not in p.parts
]

setup(
    packages=find_packages(include=["nonstop*", "checks*", "workflows*", "locustfiles*"]) + config_packages,
    package_dir={"nonstop.bundled_config": "config"},
    package_data={pkg: ["*"] for pkg in config_packages},
)
