"""Interrupted migrations lose nothing: Ctrl-C, kill -9 of the coordinator or of a worker.

Parts are counted from the server side by the test suite's loopback proxy, so "re-sent"
means requests the server really received twice.
"""
import os
import signal
import subprocess
import sys
import time

from conftest import open_uploads
from test_migrate import assert_migrated, journal_states, make_files, manifest_for, migrate

MiB = 1024 * 1024


def start_migrate(server, manifest, *args, url=None):
    return subprocess.Popen([sys.executable, "-m", "bulkup", "migrate", manifest, "--endpoint-url",
                             url or server.https_url, "--workers", "2", "--part-size", "5MiB",
                             "--progress", "none", *args],
                            env={**server.env(), "PATH": os.environ["PATH"]},
                            stderr=subprocess.PIPE, text=True)


def wait_for(condition, timeout=60.0, what="condition"):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def test_ctrl_c_keeps_uploads_and_says_how_to_resume(s3server, s3, bucket, tmp_path):
    files = make_files(tmp_path, 2, [300 * MiB])
    manifest = manifest_for(tmp_path, bucket, files)
    proc = start_migrate(s3server, manifest)
    wait_for(lambda: open_uploads(s3, bucket), what="the multipart upload")
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bulkup: interrupted: ")
    assert f"Resume with: bulkup migrate {manifest}" in lines[0]
    assert len(open_uploads(s3, bucket)) == 1               # kept for the resumed run
    proc = migrate(s3server, manifest)
    assert proc.returncode == 0, proc.stderr
    assert_migrated(s3, bucket, files)


def test_killed_worker_is_replaced_and_the_migration_finishes(s3server, s3, bucket, tmp_path):
    files = make_files(tmp_path, 50, [200 * MiB])
    manifest = manifest_for(tmp_path, bucket, files)
    proc = start_migrate(s3server, manifest)
    wait_for(lambda: open_uploads(s3, bucket), what="the multipart upload")
    workers = children(proc.pid)
    assert len(workers) == 2
    os.kill(workers[0], signal.SIGKILL)
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    assert "died (killed by signal 9)" in stderr
    assert_migrated(s3, bucket, files)
    assert journal_states(manifest) == {"done": 51}
