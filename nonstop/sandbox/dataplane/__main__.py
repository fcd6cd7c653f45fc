"""`python -m nonstop.sandbox.dataplane`: the data-plane process (see `process.py`)."""

from __future__ import annotations

import sys

from nonstop.sandbox.dataplane.process import die_with_parent

die_with_parent()  # first thing, to keep the window where a dying parent goes unnoticed short

from nonstop.sandbox.dataplane.process import main  # noqa: E402

sys.exit(main())
