"""Files shipped inside the package: example manifests, drills, locustfiles, deploy files.

`config/` is installed as `nonstop.bundled_config` (see pyproject.toml) and `locustfiles/` as a
package, so both resolve from any working directory, in a wheel and in an editable install.
"""

from __future__ import annotations

from importlib import resources
from importlib.abc import Traversable
from pathlib import Path

__all__ = ["config_dir", "config_file", "locustfile"]


def config_dir() -> Traversable:
    """The bundled `config/` folder (examples/, drills/, deploy/)."""
    return resources.files("nonstop.bundled_config")


def config_file(relative: str) -> Path:
    """A bundled config file as a real path (e.g. `examples/after.yaml`)."""
    item = config_dir().joinpath(*relative.split("/"))
    return Path(str(item))


def locustfile(name: str = "http_user.py") -> Path:
    """A bundled locustfile as a real path Locust can load in its own process."""
    return Path(str(resources.files("locustfiles").joinpath(name)))
