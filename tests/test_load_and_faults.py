"""Under throttling, outages and a restart of the store, every object arrives: the run slows
down as one, retries until its deadline, and says how often the store pushed back."""

import json
import os
import subprocess
import sys
import threading

import pytest
from conftest import assert_same_bytes, keys_in, open_uploads, write_random_file

from devtools.faultproxy import FaultProxy
from devtools.s3server import DevServer
from devtools.timescale import scaled, time_scale

pytestmark = pytest.mark.slow

KiB, MiB = 1 << 10, 1 << 20


def tree(root, count: int, size: int, large=()) -> dict[str, str]:
    files = {f"f{i:04d}.bin": write_random_file(root / f"f{i:04d}.bin", size, seed=i + 1) for i in range(count)}
    for i, big in enumerate(large):
        files[f"large{i}.bin"] = write_random_file(root / f"large{i}.bin", big, seed=9000 + i)
    return files


def start_put(server, url, root, prefix, *args) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bulkup",
            "put",
            str(root),
            f"s3://{prefix}/",
            "--endpoint-url",
            url,
            "--progress",
            "json",
            "--part-size",
            "5MiB",
            *args,
        ],
        env={**env, **server.env()},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def when_stored(proxy: FaultProxy, count: int, then) -> threading.Thread:
    """Call ``then()`` once ``count`` writes went through the proxy (in a thread)."""

    def watch() -> None:
        while sum(1 for r in proxy.snapshot() if r.method == "PUT" and r.status == 200) < count:
            if proxy.closed:
                return
            threading.Event().wait(0.05)
        then()

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def finished(proc: subprocess.Popen) -> tuple[dict, str]:
    out, err = proc.communicate(timeout=scaled(900))
    summary = [json.loads(line) for line in out.splitlines() if '"summary"' in line]
    assert proc.returncode == 0, err
    return summary[-1], err


def assert_all_there(s3, bucket, prefix, files):
    assert keys_in(s3, bucket) == sorted(f"{prefix}/{name}" for name in files)
    for name, path in files.items():
        assert_same_bytes(s3, bucket, f"{prefix}/{name}", path)
    assert open_uploads(s3, bucket) == []


# How small objects go: sender threads (the zero-copy engine's way, plain HTTP's default), or
# the send loop (user-space TLS's way, HTTPS's default where the kernel has no TLS).
SENDERS = [pytest.param((), id="threads"), pytest.param(("--engine", "userspace"), id="send-loop")]


@pytest.mark.parametrize("senders", SENDERS)
def test_every_object_arrives_when_the_store_says_slow_down_above_50_writes_a_second(
    s3server, s3, bucket, tmp_path, senders
):
    files = tree(tmp_path / "t", 300, 16 * KiB)
    limit = 50 / time_scale()  # below what the run asks for, on a slower machine too
    with FaultProxy(s3server.http_url, write_rate=limit) as proxy:
        summary, _ = finished(start_put(s3server, proxy.url, tmp_path / "t", f"{bucket}/p", *senders))
        refused = sum(1 for r in proxy.snapshot() if r.outcome == "slowdown")
    assert refused > 0, "the store never pushed back: the test proves nothing"
    assert summary["objects_uploaded"] == 300 and summary["objects_failed"] == 0
    assert summary["slowdowns"] == refused  # every SlowDown heard and counted
    assert summary["lowest_request_rate"] <= limit  # the whole run slowed to the store's pace
    assert_all_there(s3, bucket, "p", files)


@pytest.mark.parametrize(
    "mode, seconds, senders",
    [("reset", 15, ()), ("stall", 15, ()), ("stall", 60, ()), ("reset", 15, SENDERS[1].values[0])],
    ids=["reset-15", "stall-15", "stall-60", "reset-15-send-loop"],
)
def test_nothing_is_lost_through_an_outage(s3server, s3, bucket, tmp_path, mode, seconds, senders):
    files = tree(tmp_path / "t", 150, 256 * KiB, large=[12 * MiB])  # parts, creates, completes too
    with FaultProxy(s3server.http_url, body_rate=4 * MiB) as proxy:
        proc = start_put(s3server, proxy.url, tmp_path / "t", f"{bucket}/p", *senders)
        when_stored(proxy, 40, lambda: proxy.outage(seconds, mode))
        summary, _ = finished(proc)
        met = proxy.refused_connections + sum(r.outcome == "reset" for r in proxy.snapshot()) + proxy.stalled
    assert met > 0, "no request met the outage: the test proves nothing"
    if mode == "reset":
        assert summary["slowdowns"] > 0  # the run heard the store was gone
    assert summary["objects_uploaded"] == len(files) and summary["objects_failed"] == 0
    assert_all_there(s3, bucket, "p", files)


def test_an_outage_longer_than_the_retry_deadline_fails_each_object_in_one_line(s3server, s3, bucket, tmp_path):
    tree(tmp_path / "t", 30, 16 * KiB)
    with FaultProxy(s3server.http_url, body_rate=256 * KiB) as proxy:
        proc = start_put(s3server, proxy.url, tmp_path / "t", f"{bucket}/p", "--retry-deadline", "3s")
        when_stored(proxy, 5, lambda: proxy.outage(60, "reset"))
        out, err = proc.communicate(timeout=scaled(300))
    assert proc.returncode == 1
    failures = [json.loads(line) for line in out.splitlines() if '"object_failed"' in line]
    assert failures and all("--retry-deadline" in f["reason"] for f in failures), failures[:2]
    assert "Traceback" not in err


@pytest.fixture
def own_server():
    """A store of this test's own, to restart."""
    with DevServer() as server:
        yield server


def test_nothing_is_lost_when_the_store_restarts_mid_run(own_server, tmp_path):
    s3 = own_server.client()
    s3.create_bucket(Bucket="restarted")
    files = tree(tmp_path / "t", 300, 64 * KiB, large=[20 * MiB])
    with FaultProxy(own_server.http_url, body_rate=4 * MiB) as proxy:  # only to see when to restart
        proc = start_put(own_server, proxy.url, tmp_path / "t", "restarted/p")
        when_stored(proxy, 60, own_server.restart)
        summary, _ = finished(proc)
    assert summary["slowdowns"] > 0, "no request met the restart: the test proves nothing"
    assert_all_there(s3, "restarted", "p", files)
