"""Holding Ctrl-C back while a call the store acts on is answered.

An interrupt that lands while CreateMultipartUpload is on the wire leaves an upload the
server opened and the coordinator never heard of: nothing could abort it. Inside
``interrupts_held()`` the first SIGINT or SIGTERM is noted and acted on when the block ends
(the call answered, its upload on record); a second one acts at once, for a user who will
not wait for a call that hangs.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

HELD_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_Handler = Callable[[int, FrameType | None], Any]  # a signal handler set in Python


@contextmanager
def interrupts_held() -> Iterator[None]:
    """Run the block with the first SIGINT/SIGTERM deferred to its end (a second acts at
    once). Only signals handled in Python are held (those that raise KeyboardInterrupt);
    outside the main thread, where no handler can be set, nothing is held."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous: dict[int, _Handler] = {s: h for s in HELD_SIGNALS if callable(h := signal.getsignal(s))}
    pending: list[int] = []

    def note(signum: int, frame: FrameType | None) -> None:
        if pending:
            previous[signum](signum, frame)
        pending.append(signum)

    for signum in previous:
        signal.signal(signum, note)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if len(pending) == 1:  # a second one has acted already
            previous[pending[0]](pending[0], None)
