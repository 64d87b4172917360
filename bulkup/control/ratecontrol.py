"""The run's request rate: one controller for every worker and connection, as the AWS SDKs'
adaptive retry mode keeps one per client (pure: the clock is passed in).

A store that is asked too much answers 503 SlowDown (S3: above about 3,500 writes a second
per prefix), 500 InternalError, or drops connections; one that restarts refuses them. Each
part backing off on its own does not slow a run down: the other connections keep the store
as busy as before. So every such answer, from any worker, lowers one rate for the whole run,
and every success lets it grow back.

The law is CUBIC's (RFC 9438), in requests per second rather than packets per round trip,
as the SDKs have it: after a throttle at rate W, the rate drops to BETA x W and then grows
along C(t - K)^3 + W, with K the time it takes to get back to W: quickly at first, slowly
near W (where the store refused before, so most of the time is spent just below it), then
faster again, to find more room if the store has it. Why not AIMD (TCP Reno's additive
increase): it regains a cut of 20 requests/s at one request per second per second, taking
20 s during which the run crawls, while CUBIC is back near W in K seconds whatever W is.

Two choices differ from the SDKs': W is the rate the store actually *accepted* in the last
second (not the rate asked for, which after an unlimited start can be many times what the
store takes), and BETA is 0.9, not 0.7: a limit that is a rate of writes is found again
within a second, and a deep cut costs more time than the few SlowDowns a shallow one draws.
A run starts unlimited; throttles within one EPISODE of a cut are the same congestion and
cut once. Connection failures count as throttles; the rate never drops below FLOOR, the
pace at which a store that is down is asked whether it is back.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field

BETA = 0.9  # the rate kept after a throttle
C = 0.4  # CUBIC's scaling constant (the SDKs')
FLOOR = 2.0  # requests/s: the least a run keeps asking at
EPISODE = 0.25  # s: throttles this soon after a cut are the same congestion
WINDOW = 1.0  # s: how far back the accepted rate is measured


@dataclass
class RunRate:
    """Requests per second the run may send (``limit``; None: no limit yet)."""

    beta: float = BETA
    c: float = C
    floor: float = FLOOR
    throttles: int = 0  # throttling answers heard
    cuts: int = 0  # times the rate was lowered
    _w_max: float | None = None  # the rate at the last cut
    _cut_at: float = float("-inf")
    _started: float | None = None
    _accepted: collections.deque[float] = field(default_factory=collections.deque)  # times of successes

    def succeeded(self, now: float, count: int = 1) -> None:
        """``count`` requests were accepted (at ``now``)."""
        if self._started is None:
            self._started = now
        self._accepted.extend([now] * min(count, 10_000))
        self._forget(now)

    def throttled(self, now: float) -> bool:
        """The store refused or failed a request (at ``now``); whether the rate was cut."""
        self.throttles += 1
        if self._started is None:
            self._started = now
        if now - self._cut_at < EPISODE:
            return False
        self._forget(now)
        current = self.limit(now)
        accepted = self.accepted_rate(now)
        ceiling = accepted if current is None else min(current, max(accepted, self.floor))
        self._w_max = max(self.floor, ceiling)
        self._cut_at = now
        self.cuts += 1
        return True

    def limit(self, now: float) -> float | None:
        """The rate the run may send at now (None: unlimited, nothing refused yet)."""
        if self._w_max is None:
            return None
        k: float = (self._w_max * (1 - self.beta) / self.c) ** (1 / 3)
        return max(self.floor, self.c * (now - self._cut_at - k) ** 3 + self._w_max)

    def accepted_rate(self, now: float) -> float:
        """Requests accepted per second over the last WINDOW (or since the run began)."""
        span = min(WINDOW, max(now - (self._started or now), 0.25))
        return sum(1 for t in self._accepted if t > now - WINDOW) / span

    def _forget(self, now: float) -> None:
        while self._accepted and self._accepted[0] <= now - WINDOW:
            self._accepted.popleft()
