"""The drill's report: the model of report.json and the files written to the report directory.

The package exports what its two modules export (`model.__all__`, `writer.__all__`), named once there.
"""

from nonstop.report import model, writer
from nonstop.report.model import *  # noqa: F403
from nonstop.report.writer import *  # noqa: F403

__all__: list[str] = []
__all__ += model.__all__
__all__ += writer.__all__
