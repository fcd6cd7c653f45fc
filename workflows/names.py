"""The names and paths every rendered manifest agrees on, in one place.

Users script against these (`argo submit --from workflowtemplate/nonstop-drill`, the ServiceAccount
their RoleBinding names, the files a step writes), so they are part of nonstop's public surface.
"""

from __future__ import annotations

from nonstop import __version__

__all__ = [
    "ANALYSIS_TEMPLATE",
    "CRON_WORKFLOW",
    "DEFAULT_IMAGE",
    "HOOK_GENERATE_NAME",
    "LOCUST_MASTER_PORT",
    "LOCUST_ROLE_LABEL",
    "NON_ROOT_UID",
    "PLAN_DIR",
    "REPORT_DIR",
    "ROLE",
    "SERVICE_ACCOUNT",
    "WORKFLOW_TEMPLATE",
    "WORK_DIR",
]

DEFAULT_IMAGE = f"ghcr.io/nonstop-dev/nonstop:{__version__}"
"""The step image built from `config/deploy/Dockerfile` (nonstop, Locust, kubectl); override with `--image`."""

NON_ROOT_UID = 65532
"""The step image's user (`USER 65532:65532` in config/deploy/Dockerfile); pods run as it, never root."""

WORKFLOW_TEMPLATE = "nonstop-drill"
CRON_WORKFLOW = "nonstop-resilience-drill"
ANALYSIS_TEMPLATE = "nonstop-drill"
HOOK_GENERATE_NAME = "nonstop-postsync-"
SERVICE_ACCOUNT = "nonstop-drill"
ROLE = "nonstop-drill"

WORK_DIR = "/tmp/nonstop"  # noqa: S108  # inside each step's own container, not a shared host /tmp
"""Every step writes under this directory; output parameters are read from files in it."""
PLAN_DIR = f"{WORK_DIR}/plan"
"""`nonstop workflows plan` writes one file per value here (target, workers, deadline, …)."""
REPORT_DIR = f"{WORK_DIR}/report"
"""The drill's `--report-dir`: `report.json` lands here."""

LOCUST_ROLE_LABEL = "nonstop.dev/locust-role"
"""Pod label of the drill step (`master`): Locust workers find the master's pod IP through it."""
LOCUST_MASTER_PORT = 5557
"""Locust's default master bind port; workers connect to it."""
