"""--bwlimit: one rate for the run, split among the workers with work, kept by each worker."""

import json

import pytest
from conftest import assert_same_bytes, run_bulkup, write_random_file
from fakes import FakePool

from bulkup.control.shares import IDLE_SHARE, RateShares
from bulkup.transport.messages import NewRate
from bulkup.transport.throttle import BURST, Throttle

MiB = 1 << 20


class FakeClock:
    """Time that passes only when someone sleeps (or the test says so)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.slept += seconds


def test_a_throttle_keeps_its_worker_to_the_rate():
    clock = FakeClock()
    throttle = Throttle(2 * MiB, clock, clock.sleep)
    start = clock.now
    for _ in range(20):
        throttle.take(MiB)
    assert clock.now - start == pytest.approx(10 - BURST)


def test_a_pause_earns_no_more_than_a_short_burst():
    clock = FakeClock()
    throttle = Throttle(MiB, clock, clock.sleep)
    throttle.take(MiB)
    clock.now += 60  # idle for a minute
    start = clock.now
    for _ in range(4):
        throttle.take(MiB)
    assert clock.now - start == pytest.approx(4 - 2 * BURST)


def test_without_a_rate_nothing_waits():
    clock = FakeClock()
    throttle = Throttle(None, clock, clock.sleep)
    throttle.take(100 * MiB)
    assert clock.slept == 0


def test_a_new_rate_applies_to_what_follows():
    clock = FakeClock()
    throttle = Throttle(MiB, clock, clock.sleep)
    throttle.take(MiB)
    throttle.set_rate(4 * MiB)
    start = clock.now
    for _ in range(8):
        throttle.take(MiB)
    assert clock.now - start == pytest.approx(2, abs=0.1)


def bandwidth_share(rate):
    return NewRate(bytes_per_second=rate)


def busy(pool: FakePool, *indexes: int) -> None:
    for worker in pool.workers:
        worker.in_flight = {1} if worker.index in indexes else set()


def test_busy_workers_share_what_idle_ones_leave_and_the_rates_add_up_to_the_limit():
    pool = FakePool(4)
    share = RateShares(pool, bandwidth_share, 100.0)
    busy(pool, 0)
    rates = share.rates(pool.workers)
    assert rates[1] == rates[2] == rates[3] == pytest.approx(25 * IDLE_SHARE)
    assert sum(rates.values()) == pytest.approx(100)
    busy(pool, 0, 1, 2, 3)
    assert share.rates(pool.workers) == {0: 25, 1: 25, 2: 25, 3: 25}


def test_rates_are_sent_when_they_change_only():
    clock = FakeClock()
    pool = FakePool(2)
    share = RateShares(pool, bandwidth_share, 100.0, clock=clock)
    busy(pool, 0, 1)
    share.rebalance(force=True)
    share.rebalance(force=True)
    busy(pool, 1)
    share.rebalance(force=True)
    rates = [(w, m.bytes_per_second) for w, m in pool.sent if isinstance(m, NewRate)]
    idle = 50 * IDLE_SHARE
    assert rates == [(0, 50), (1, 50), (0, idle), (1, pytest.approx(100 - idle))]


def test_a_limit_holds_the_workers_back_and_cuts_no_request(s3server, s3, bucket, tmp_path):
    path = write_random_file(tmp_path / "f.bin", 2 * MiB)
    proc = run_bulkup(
        "put",
        path,
        f"s3://{bucket}/f.bin",
        "--bwlimit",
        "1MiB/s",
        "--endpoint-url",
        s3server.https_url,
        "--progress",
        "json",
        env=s3server.env(),
    )
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    notices = [e["text"] for e in events if e["event"] == "notice"]
    assert "bandwidth: at most 1.0 MiB/s (--bwlimit), shared by every worker and connection" in notices
    assert events[-1]["retries"] == 0
    held_back = sum(w["throttled_seconds"] for w in events[-1]["workers"].values())
    assert held_back >= 1.5  # 2 MiB at 1 MiB/s: the throttles made the senders wait ~2 s
    assert_same_bytes(s3, bucket, "f.bin", path)
