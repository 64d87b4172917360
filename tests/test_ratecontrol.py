"""The run's request rate: unlimited until the store pushes back, cut to what it accepted,
grown back along CUBIC's curve; one law for every worker (a simulated store, a fake clock)."""

import pytest

from bulkup.control.ratecontrol import BETA, EPISODE, FLOOR, RunRate


def accepted(rate: RunRate, per_second: int, seconds: float, start: float = 0.0) -> float:
    """``per_second`` successes for ``seconds`` from ``start``; the time reached."""
    t = start
    for _ in range(int(per_second * seconds)):
        t += 1 / per_second
        rate.succeeded(t)
    return t


def test_a_run_is_unlimited_until_the_store_pushes_back():
    rate = RunRate()
    accepted(rate, 100, 2)
    assert rate.limit(2.0) is None


def test_a_throttle_cuts_to_beta_times_what_the_store_accepted():
    rate = RunRate()
    now = accepted(rate, 50, 2)
    assert rate.throttled(now)
    assert rate.limit(now) == pytest.approx(BETA * 50, rel=0.05)


def test_throttles_of_one_episode_cut_once():
    rate = RunRate()
    now = accepted(rate, 50, 2)
    assert rate.throttled(now)
    assert not rate.throttled(now + EPISODE / 2)
    assert rate.cuts == 1 and rate.throttles == 2


def test_the_rate_grows_back_to_where_it_was_cut_then_beyond():
    rate = RunRate()
    now = accepted(rate, 200, 2)
    rate.throttled(now)
    k = (200 * (1 - BETA) / rate.c) ** (1 / 3)
    assert rate.limit(now + k / 2) < rate.limit(now + k) == pytest.approx(200, rel=0.01)
    assert rate.limit(now + 2 * k) > 200


def test_a_store_that_accepts_nothing_is_asked_at_the_floor():
    rate = RunRate()
    now = accepted(rate, 100, 1)
    for step in range(20):  # an outage: every request fails, nothing accepted
        rate.throttled(now + 2 + step)
    assert rate.limit(now + 21) == pytest.approx(FLOOR, rel=0.2)


def test_against_a_store_that_takes_50_writes_a_second_the_run_settles_just_below_it():
    """A store refusing writes above 50 a second (a bucket of one second's worth); requests
    sent as fast as the limit allows, the answer heard 10 ms later."""
    rate, store_tokens, last, now = RunRate(), 50.0, 0.0, 0.0
    sent = refused = 0
    while now < 60:
        limit = rate.limit(now)
        now += 1 / limit if limit else 0.001
        store_tokens = min(50.0, store_tokens + (now - last) * 50)
        last = now
        if store_tokens >= 1:
            store_tokens -= 1
            sent += 1
            rate.succeeded(now + 0.01)
        else:
            refused += 1
            rate.throttled(now + 0.01)
    assert sent / 60 >= 0.9 * 50  # at least 90% of what the store allows
    assert refused <= 0.05 * sent  # and a few refusals, not a storm
