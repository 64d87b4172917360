"""When to try a request again: one policy for every request of a run (parts, the
coordinator's calls, listings and HeadObject).

An attempt the store refused transiently (SlowDown, a 5xx, no connection) is tried again
after a pause drawn at random below a doubling cap ("full jitter": retries of many requests
spread out instead of arriving together), until the retry deadline: an object fails only
when the store has kept refusing for that long, however many attempts that took.
"""

from __future__ import annotations

import time
from collections.abc import Callable

FIRST_PAUSE = 0.2  # s: the cap of the first pause
LONGEST_PAUSE = 5.0  # s: a store that is back is found within this


def pause(attempt: int, longest: float = LONGEST_PAUSE) -> float:
    """Seconds to wait after failed attempt ``attempt`` (1, 2, ...)."""
    import random  # a run that retries nothing does not import it

    return random.uniform(0, min(longest, FIRST_PAUSE * 2**attempt))


class Deadline:
    """The time a request's retries end: ``seconds`` after its first attempt."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.started = clock()
        self.seconds = seconds

    @property
    def passed(self) -> bool:
        return self._clock() - self.started >= self.seconds

    @property
    def elapsed(self) -> float:
        return self._clock() - self.started
