"""Ctrl-C stops cleanly: exit 130, one line, and no multipart upload left open."""

import shlex
import signal
import subprocess
import sys

import pytest
from conftest import data_uploads, keys_in, open_uploads, signal_when_waiting, wait_for, write_random_file

from devtools.faultproxy import FaultProxy, is_put_object
from devtools.timescale import scaled

pytestmark = pytest.mark.slow  # end to end through processes and servers


def test_ctrl_c_aborts_open_multipart_uploads(s3server, s3, bucket, tmp_path):
    path = write_random_file(tmp_path / "big.bin", 400 * 1024 * 1024)
    env = {**s3server.env()}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bulkup",
            "put",
            path,
            f"s3://{bucket}/big.bin",
            "--endpoint-url",
            s3server.https_url,
            "--progress",
            "none",
        ],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for_upload(s3, bucket)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=scaled(60))
    assert proc.returncode == 130
    assert_interrupted_line(stderr, "open multipart uploads were aborted; 0 of 1 objects stored")
    assert open_uploads(s3, bucket) == []
    assert keys_in(s3, bucket) == []


def assert_interrupted_line(stderr: str, says: str) -> str:
    """The run ended with one line, which says ``says`` and the command that continues it."""
    [line] = stderr.strip().splitlines()
    assert line.startswith(f"bulkup: interrupted: {says}") and "; continue with: bulkup put " in line, line
    return line


def start_put(server, path, bucket, url=None):
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bulkup",
            "put",
            path,
            f"s3://{bucket}/big.bin",
            "--endpoint-url",
            url or server.https_url,
            "--progress",
            "none",
        ],
        env={**server.env()},
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_upload(s3, bucket):
    wait_for(lambda: data_uploads(s3, bucket), timeout=30, what="the upload to start")


def test_sigterm_stops_like_ctrl_c_and_aborts_open_uploads(s3server, s3, bucket, tmp_path):
    path = write_random_file(tmp_path / "big.bin", 400 * 1024 * 1024)
    proc = start_put(s3server, path, bucket)
    wait_for_upload(s3, bucket)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=scaled(60))
    assert proc.returncode == 130
    assert_interrupted_line(stderr, "open multipart uploads were aborted; 0 of 1 objects stored")
    assert open_uploads(s3, bucket) == [] and keys_in(s3, bucket) == []


def creates_upload(method: str, target: str) -> bool:
    return method == "POST" and target.endswith("?uploads")


def wait_until_held(proxy, count: int = 1) -> None:
    wait_for(lambda: proxy.held >= count, timeout=30, what=f"{count} held request(s)")
    assert proxy.held == count


def test_ctrl_c_while_the_upload_is_being_created_aborts_it(s3server, s3, bucket, tmp_path):
    path = write_random_file(tmp_path / "big.bin", 50 * 1024 * 1024)
    with FaultProxy(s3server.http_url) as proxy:
        proxy.hold(creates_upload, answered=True)  # the server opened it; bulkup waits
        proc = start_put(s3server, path, bucket, url=proxy.url)
        wait_until_held(proxy)
        assert data_uploads(s3, bucket)
        signal_when_waiting(proc, signal.SIGINT)  # taken while the answer is held
        proxy.release()
        _, stderr = proc.communicate(timeout=scaled(60))
    assert proc.returncode == 130
    assert_interrupted_line(stderr, "open multipart uploads were aborted; 0 of 1 objects stored")
    assert open_uploads(s3, bucket) == [] and keys_in(s3, bucket) == []


def test_a_second_ctrl_c_while_the_upload_is_being_created_says_one_may_be_open(s3server, s3, bucket, tmp_path):
    path = write_random_file(tmp_path / "big.bin", 50 * 1024 * 1024)
    with FaultProxy(s3server.http_url) as proxy:
        proxy.hold(creates_upload, answered=True)
        proc = start_put(s3server, path, bucket, url=proxy.url)
        wait_until_held(proxy)
        signal_when_waiting(proc, signal.SIGINT)  # the first, taken: the second is another
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=scaled(60))
    [upload] = data_uploads(s3, bucket)
    assert proc.returncode == 130
    [line] = stderr.strip().splitlines()
    assert "were NOT aborted" in line and f"s3://{bucket}/big.bin (an upload being created, ID unknown)" in line
    assert f"bulkup cleanup s3://{bucket}/ --older-than 0s --yes" in line
    s3.abort_multipart_upload(Bucket=bucket, Key="big.bin", UploadId=upload["UploadId"])


def test_a_second_ctrl_c_during_the_aborts_names_the_uploads_left_open(s3server, s3, bucket, tmp_path):
    path = write_random_file(tmp_path / "big.bin", 200 * 1024 * 1024)
    with FaultProxy(s3server.http_url, body_rate=20 * 1024 * 1024) as proxy:
        proxy.hold(lambda method, target: method == "DELETE")  # the Abort
        proc = start_put(s3server, path, bucket, url=proxy.url)
        wait_for_upload(s3, bucket)
        proc.send_signal(signal.SIGINT)
        wait_until_held(proxy)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=scaled(60))
    [upload] = data_uploads(s3, bucket)
    assert proc.returncode == 130
    [line] = stderr.strip().splitlines()
    assert "were NOT aborted" in line and upload["UploadId"] in line and "big.bin" in line
    assert f"bulkup cleanup s3://{bucket}/ --older-than 0s --yes" in line
    assert "uploads were aborted" not in line
    s3.abort_multipart_upload(Bucket=bucket, Key="big.bin", UploadId=upload["UploadId"])


def test_ctrl_c_says_what_was_stored_and_the_command_that_sends_only_the_rest(s3server, s3, bucket, tmp_path):
    files = {f"f{i:02}.bin": write_random_file(tmp_path / "t" / f"f{i:02}.bin", 256 * 1024, seed=i) for i in range(20)}
    # One connection, paced at 1 MiB/s: the objects land one by one, ~4 a second (on 20
    # connections all 20 land together, and Ctrl-C may come after the last of them).
    with FaultProxy(s3server.http_url, body_rate=1024 * 1024) as proxy:
        argv = ["put", str(tmp_path / "t"), f"s3://{bucket}/p/", "--endpoint-url", proxy.url, "--progress", "none"]
        argv += ["--workers", "1", "--connections", "1"]
        proc = subprocess.Popen(
            [sys.executable, "-m", "bulkup", *argv], env=s3server.env(), stderr=subprocess.PIPE, text=True
        )
        wait_for(lambda: len(keys_in(s3, bucket)) >= 3, what="three objects stored")
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=scaled(60))
        assert proc.returncode == 130
        # A body the proxy had whole still reaches the store after the client has gone.
        wait_for(lambda: not proxy.in_flight(), what="the requests under way to end")
        stored_before = set(keys_in(s3, bucket))
        line = assert_interrupted_line(stderr, "open multipart uploads were aborted; ")
        # It counts the objects the store answered it for, never more than were stored (a
        # request under way may still have stored one without the answer reaching it).
        reported = int(line.split(" of 20 objects stored", 1)[0].rsplit(" ", 1)[1])
        assert 0 < reported <= len(stored_before), (reported, stored_before)
        command = shlex.split(line.split("; continue with: ", 1)[1])
        assert command == ["bulkup", *argv, "--skip-existing"]
        proxy.body_rate = None
        before = len(proxy.snapshot())
        rerun = subprocess.run(
            [sys.executable, "-m", "bulkup", *command[1:]], env=s3server.env(), capture_output=True, text=True
        )
        assert rerun.returncode == 0, rerun.stderr
        sent = {r.target.split("?")[0].rsplit("/", 1)[1] for r in proxy.snapshot()[before:] if is_put_object(r)}
    assert sent == set(files) - {k.removeprefix("p/") for k in stored_before}  # only what was missing
    assert sorted(keys_in(s3, bucket)) == sorted(f"p/{name}" for name in files)
