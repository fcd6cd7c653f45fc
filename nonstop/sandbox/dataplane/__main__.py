"""`python -m nonstop.sandbox.dataplane`: the data-plane process (see `process.py`)."""

from __future__ import annotations

import os
import signal
import sys

from nonstop.toolkit.children import die_with_parent

# First thing, before the data plane's own imports; the parent's pid comes in the arguments, so a
# parent that died while this process was still starting is noticed too (SIGTERM: a clean exit).
die_with_parent(
    int(sys.argv[sys.argv.index("--parent-pid") + 1]) if "--parent-pid" in sys.argv else os.getppid(), signal.SIGTERM
)

from nonstop.sandbox.dataplane.process import main  # noqa: E402

sys.exit(main())
