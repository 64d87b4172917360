"""One rate for the whole run, shared by its workers: ``--bwlimit``'s bytes a second, and the
request rate the store lets the run send (``control.ratecontrol``).

Each worker keeps to the share it is given (``transport.throttle``). The shares follow the
work: the workers holding tasks split the limit but for a trickle left to each idle one (so
one that is handed work starts at once, and the shares never add up to more than the limit).
Shares are reconsidered every ``interval`` and sent only when they change.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from bulkup.pools.base import Pool, Worker

IDLE_SHARE = 1 / 16  # of an even share, left to a worker without tasks
CHANGE = 0.01  # a new share is sent when it differs by more than this fraction


class RateShares:
    """Splits ``limit`` (per second; None: no limit) among ``pool``'s live workers, telling
    each its share with ``message(share)``."""

    def __init__(
        self,
        pool: Pool,
        message: Callable[[float | None], object],
        limit: float | None = None,
        interval: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pool, self.message, self.limit = pool, message, limit
        self.interval, self._clock = interval, clock
        self._sent: dict[int, float | None] = {}  # id(worker) -> the share it runs at
        self._last = float("-inf")

    def set_limit(self, limit: float | None) -> None:
        self.limit = limit

    def rates(self, workers: list[Worker]) -> dict[int, float | None]:
        """Each worker's share: busy ones share what the idle ones leave."""
        if not workers or self.limit is None:
            return {w.index: None for w in workers}
        even = self.limit / len(workers)
        busy = [w for w in workers if w.in_flight]
        if not busy or len(busy) == len(workers):
            return {w.index: even for w in workers}
        idle = even * IDLE_SHARE
        busy_rate = (self.limit - idle * (len(workers) - len(busy))) / len(busy)
        return {w.index: busy_rate if w.in_flight else idle for w in workers}

    def rebalance(self, force: bool = False) -> None:
        """Send new shares where they changed (at most every ``interval`` unless ``force``)."""
        now = self._clock()
        if not force and now - self._last < self.interval:
            return
        self._last = now
        live = self.pool.live()
        rates = self.rates(live)
        sent: dict[int, float | None] = {}
        for worker in live:
            rate = rates[worker.index]
            before = self._sent.get(id(worker))  # a worker told nothing yet runs unlimited
            if _changed(before, rate):
                self.pool.send(worker, self.message(rate))
                before = rate
            sent[id(worker)] = before
        self._sent = sent


def _changed(before: float | None, now: float | None) -> bool:
    if before is None or now is None:
        return before is not now
    return abs(now - before) > CHANGE * before
