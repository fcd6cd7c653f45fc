"""Child processes that die with their parent.

`prctl(PR_SET_PDEATHSIG, sig)` makes the kernel send `sig` to a child when the *thread* that forked
it ends (so fork from a long-lived thread); a parent that died before the call would go unnoticed,
so the child then compares its parent pid with the one it expects and leaves at once. Linux only:
elsewhere the prctl is skipped and only the parent check remains.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
from typing import Any

__all__ = ["PR_SET_PDEATHSIG", "die_with_parent"]

PR_SET_PDEATHSIG = 1

_libc: Any = None
with contextlib.suppress(OSError):
    _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_prctl: Any = getattr(_libc, "prctl", None)


def die_with_parent(parent_pid: int, sig: int = signal.SIGKILL, *, orphan_exit: int | None = None) -> bool:
    """In the child: ask for `sig` when the parent's forking thread ends; True when the kernel agreed.

    Safe in a `preexec_fn` (no allocation beyond a ctypes call, no lock). When `parent_pid` is no
    longer the parent, the child ends now: `os._exit(orphan_exit)`, or `sig` sent to itself.
    """
    armed = _prctl is not None and _prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    if os.getppid() != parent_pid:
        if orphan_exit is not None:
            os._exit(orphan_exit)
        os.kill(os.getpid(), sig)
    return armed
