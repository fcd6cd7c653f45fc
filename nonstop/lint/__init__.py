"""`nonstop lint` below the CLI: read manifests, run `checks.lint` on them, render the findings.

    lint_paths(paths, require_pdb=False) -> LintReport     files, folders, "-" for stdin
    render(report, fmt, fail_on=..., color=...) -> str     text | json | sarif | junit

The rules themselves live in `checks.lint` (pure functions over dicts, no I/O).
"""

from __future__ import annotations

from nonstop.lint.render import FORMATS, render
from nonstop.lint.run import CheckedObject, LintReport, LocatedFinding, lint_loaded, lint_paths

__all__ = ["FORMATS", "CheckedObject", "LintReport", "LocatedFinding", "lint_loaded", "lint_paths", "render"]
