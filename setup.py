"""Packaging glue pyproject.toml cannot express: data folders shipped as packages.

`config/` ships as the data package `nonstop.bundled_config`, and `controlplane/` (the Go module
that builds the real control plane: go.mod, go.sum, main.go) as `nonstop.bundled_controlplane`.

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
    packages=find_packages(include=["nonstop*", "checks*", "workflows*", "locustfiles*"])
    + config_packages
    + ["nonstop.bundled_controlplane"],
    package_dir={"nonstop.bundled_config": "config", "nonstop.bundled_controlplane": "controlplane"},
    package_data={pkg: ["*"] for pkg in config_packages},
)
