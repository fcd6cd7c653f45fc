"""`python -m nonstop.sandbox.dataplane`: the data-plane process (see `process.py`)."""

from __future__ import annotations

import sys

from nonstop.sandbox.dataplane.process import die_with_parent

# First thing; the parent's pid comes in the arguments, so a parent that died while this process was
# still importing is noticed too.
die_with_parent(int(sys.argv[sys.argv.index("--parent-pid") + 1]) if "--parent-pid" in sys.argv else None)

from nonstop.sandbox.dataplane.process import main  # noqa: E402

sys.exit(main())
