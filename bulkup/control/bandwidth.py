"""``--bwlimit``: one rate for the whole run, shared by its workers.

Each worker's throttle (``transport.throttle``) keeps to the rate it is given. The share
follows the work: the workers holding tasks split the limit but for a trickle left to each
idle one (so one that is handed work starts at once, and the rates never add up to more
than the limit). Rates are reconsidered every ``INTERVAL`` and sent only when they change.
"""
from __future__ import annotations

import time
from typing import Callable

from bulkup.pools.base import Pool, Worker
from bulkup.transport.messages import NewRate

INTERVAL = 0.5              # seconds between reconsiderations
IDLE_SHARE = 1 / 16         # of an even share, left to a worker without tasks
CHANGE = 0.01               # a new rate is sent when it differs by more than this fraction


class BandwidthShare:
    """Splits ``limit`` bytes/s among ``pool``'s live workers."""

    def __init__(self, limit: float, pool: Pool, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.pool, self._clock = limit, pool, clock
        self._sent: dict[int, float] = {}       # id(worker) -> the rate it runs at
        self._last = float("-inf")

    def rates(self, workers: list[Worker]) -> dict[int, float]:
        """Each worker's rate: busy ones share what the idle ones leave."""
        if not workers:
            return {}
        even = self.limit / len(workers)
        busy = [w for w in workers if w.in_flight]
        if not busy or len(busy) == len(workers):
            return {w.index: even for w in workers}
        idle = even * IDLE_SHARE
        busy_rate = (self.limit - idle * (len(workers) - len(busy))) / len(busy)
        return {w.index: busy_rate if w.in_flight else idle for w in workers}

    def rebalance(self, force: bool = False) -> None:
        """Send new rates where they changed (at most every INTERVAL unless ``force``)."""
        now = self._clock()
        if not force and now - self._last < INTERVAL:
            return
        self._last = now
        live = self.pool.live()
        rates = self.rates(live)
        sent = {}
        for worker in live:
            rate, before = rates[worker.index], self._sent.get(id(worker))
            if before is None or abs(rate - before) > CHANGE * before:
                self.pool.send(worker, NewRate(bytes_per_second=rate))
                before = rate
            sent[id(worker)] = before
        self._sent = sent
