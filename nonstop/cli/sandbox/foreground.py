"""Running in the foreground until Ctrl-C or SIGTERM: what `sandbox up` and `sandbox node` share."""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from types import FrameType

__all__ = ["stop_on_signals", "wait_for_stop"]


@contextlib.contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """An event that SIGTERM and SIGINT set; the previous handlers are back when the block ends.

    Ctrl-C is the same clean stop as SIGTERM, never a KeyboardInterrupt in the middle of a start.
    """
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, on_signal)
    previous_int = signal.signal(signal.SIGINT, on_signal)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)


def wait_for_stop(stop: threading.Event, *, check: Callable[[], None] | None = None) -> None:
    """Block until `stop` is set; every half second, `check` may raise when a part stopped running."""
    while not stop.wait(0.5):
        if check is not None:
            check()
