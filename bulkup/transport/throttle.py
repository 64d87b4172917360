"""A worker's share of a run's bandwidth limit (``--bwlimit``): a token bucket its
connections draw from as they hand bytes to the kernel.

Each ``take(n)`` books ``n`` bytes right after those booked before it, at the current rate,
and the caller sleeps until its booking is due: the worker's connections together never run
ahead of the rate by more than ``BURST`` seconds' worth. The coordinator sets the rate
(``set_rate``) as the limit is shared among the workers that have work.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

BURST = 0.05  # seconds of the rate a worker may send ahead after a pause


class Throttle:
    """Bytes at most ``rate`` a second (None: no limit), shared by a worker's threads."""

    def __init__(
        self,
        rate: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = rate
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()
        self._booked_until = clock()
        self.waited = 0.0  # seconds the worker's connections were held back

    def set_rate(self, rate: float | None) -> None:
        with self._lock:
            self.rate = rate

    def take(self, nbytes: int) -> None:
        """Account for ``nbytes`` just sent; return once sending more keeps to the rate."""
        if not self.rate:  # no limit: no lock on the data path
            return
        with self._lock:
            if not self.rate:
                return
            now = self._clock()
            start = max(self._booked_until, now - BURST)
            self._booked_until = start + nbytes / self.rate
            wait = self._booked_until - now - BURST
            if wait > 0:
                self.waited += wait
        if wait > 0:
            self._sleep(wait)
