"""Local workers are forked by one zygote, a fresh interpreter; nothing outlives the run."""

import os
import signal

import pytest
from conftest import wait_for, write_random_file
from test_interrupt import start_put, wait_for_upload
from test_migrate_crash import children, worker_pids

from devtools.faultproxy import FaultProxy
from devtools.timescale import scaled

pytestmark = pytest.mark.slow


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_workers_are_forked_by_one_fresh_zygote(s3server, s3, bucket, tmp_path):
    path = write_random_file(tmp_path / "big.bin", 64 * 1024 * 1024)
    with FaultProxy(s3server.http_url, body_rate=8 * 1024 * 1024) as proxy:
        proc = start_put(s3server, path, bucket, url=proxy.url)
        wait_for_upload(s3, bucket)
        wait_for(lambda: len(worker_pids(proc.pid)) == os.cpu_count(), what="every worker forked")
        [zygote] = children(proc.pid)
        with open(f"/proc/{zygote}/cmdline", "rb") as f:
            assert f.read().split(b"\0")[1:3] == [b"-m", b"bulkup.pools.zygote"]  # not a fork of bulkup
        assert len(worker_pids(proc.pid)) == os.cpu_count()
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=scaled(60))


def test_killing_the_coordinator_leaves_no_zygote_or_worker_behind(s3server, s3, bucket, tmp_path):
    path = write_random_file(tmp_path / "big.bin", 64 * 1024 * 1024)
    with FaultProxy(s3server.http_url, body_rate=8 * 1024 * 1024) as proxy:
        proc = start_put(s3server, path, bucket, url=proxy.url)
        wait_for_upload(s3, bucket)
        wait_for(lambda: len(worker_pids(proc.pid)) == os.cpu_count(), what="every worker forked")
        left = children(proc.pid) + worker_pids(proc.pid)
        assert len(left) == 1 + os.cpu_count()
        proc.kill()
        proc.communicate(timeout=scaled(10))
        wait_for(lambda: not any(alive(pid) for pid in left), timeout=20, what="the zygote and workers to exit")
