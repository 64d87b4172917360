"""put - (stdin), a FIFO, a pipe: a stream of unknown length, in bounded memory."""

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading

import pytest
from conftest import data_uploads, error_line, keys_in, open_uploads, run_bulkup, sha256_object, wait_for

from bulkup.plan.parts import GiB, MiB, choose_part_size
from devtools.timescale import scaled


def put_stream(server, dest, *args, stdin=None, shell_input=None):
    """bulkup put - DEST, fed ``stdin`` bytes or by the shell pipeline ``shell_input``."""
    argv = [
        sys.executable,
        "-m",
        "bulkup",
        "put",
        "-",
        dest,
        "--endpoint-url",
        server.https_url,
        "--progress",
        "json",
        *args,
    ]
    env = {**os.environ, **server.env()}
    if shell_input is None:
        return subprocess.run(argv, input=stdin, env=env, capture_output=True, timeout=scaled(600))
    line = shell_input + " | " + " ".join(f"'{a}'" for a in argv)
    return subprocess.run(["bash", "-c", line], env=env, capture_output=True, timeout=scaled(600))


def summary_of(proc) -> dict:
    return json.loads(proc.stdout.decode().splitlines()[-1])


@pytest.mark.slow
def test_a_large_stream_lands_byte_exact_in_bounded_memory(s3server, s3, bucket, tmp_path):
    digest = tmp_path / "sha256"
    proc = put_stream(
        s3server,
        f"s3://{bucket}/big.bin",
        "--connections",
        "2",
        shell_input=f"head -c {3 * GiB // 2} /dev/urandom | tee >(sha256sum > {digest})",
    )
    assert proc.returncode == 0, proc.stderr
    assert sha256_object(s3, bucket, "big.bin") == digest.read_text().split()[0]
    head = s3.head_object(Bucket=bucket, Key="big.bin", PartNumber=1)
    assert head["PartsCount"] == 192 and head["ContentLength"] == 8 * MiB
    summary = summary_of(proc)
    workers = len(summary["workers"])
    assert summary["stream_peak_bytes_held"] <= (workers * 2 + 2) * 8 * MiB  # parts in flight
    assert all(w["peak_rss"] < 300 * MiB for w in summary["workers"].values())


def test_a_stream_in_several_parts_is_verified_whole(s3server, s3, bucket):
    data = os.urandom(23 * MiB)
    proc = put_stream(s3server, f"s3://{bucket}/s.bin", "--part-size", "5MiB", stdin=data)
    assert proc.returncode == 0, proc.stderr
    assert sha256_object(s3, bucket, "s.bin") == hashlib.sha256(data).hexdigest()
    assert s3.head_object(Bucket=bucket, Key="s.bin", PartNumber=1)["PartsCount"] == 5
    assert summary_of(proc)["verification"] == {"server: crc64nvme full-object": 1}


def test_a_stream_that_ends_within_its_first_part_is_one_put(s3server, s3, bucket):
    proc = put_stream(s3server, f"s3://{bucket}/small.json", stdin=b'{"a": 1}')
    assert proc.returncode == 0, proc.stderr
    head = s3.head_object(Bucket=bucket, Key="small.json")
    assert "-" not in head["ETag"] and head["ContentType"] == "application/json"
    assert s3.get_object(Bucket=bucket, Key="small.json")["Body"].read() == b'{"a": 1}'


def test_an_empty_stream_is_an_empty_object(s3server, s3, bucket):
    assert put_stream(s3server, f"s3://{bucket}/empty", stdin=b"").returncode == 0
    assert s3.head_object(Bucket=bucket, Key="empty")["ContentLength"] == 0


def test_expected_size_sizes_the_parts(s3server, s3, bucket):
    proc = put_stream(s3server, f"s3://{bucket}/e.bin", "--expected-size", "200GiB", stdin=os.urandom(30 * MiB))
    assert proc.returncode == 0, proc.stderr
    assert (
        s3.head_object(Bucket=bucket, Key="e.bin", PartNumber=1)["ContentLength"]
        == choose_part_size(200 * GiB, None)
        > 8 * MiB
    )


def test_a_fifo_is_read_as_a_stream(s3server, s3, bucket, tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    data = os.urandom(12 * MiB)

    def write():
        with open(fifo, "wb") as f:
            f.write(data)

    writer = threading.Thread(target=write)
    writer.start()
    proc = run_bulkup(
        "put",
        str(fifo),
        f"s3://{bucket}/f.bin",
        "--endpoint-url",
        s3server.https_url,
        "--part-size",
        "5MiB",
        "--progress",
        "none",
        env=s3server.env(),
    )
    writer.join()
    assert proc.returncode == 0, proc.stderr
    assert sha256_object(s3, bucket, "f.bin") == hashlib.sha256(data).hexdigest()


def test_a_stream_interrupted_midway_leaves_no_object_and_no_upload(s3server, s3, bucket):
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bulkup",
            "put",
            "-",
            f"s3://{bucket}/cut.bin",
            "--endpoint-url",
            s3server.https_url,
            "--progress",
            "none",
            "--part-size",
            "5MiB",
        ],
        env={**os.environ, **s3server.env()},
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdin.write(os.urandom(12 * MiB))  # two parts and more: the upload is open
    proc.stdin.flush()
    wait_for(lambda: data_uploads(s3, bucket), timeout=30, what="the upload to start")
    proc.send_signal(signal.SIGINT)  # Ctrl-C on the pipeline, mid-stream
    _, stderr = proc.communicate(timeout=scaled(60))
    assert proc.returncode == 130, stderr
    assert keys_in(s3, bucket) == [] and open_uploads(s3, bucket) == []


def test_a_stream_needs_a_key_not_a_prefix(s3server, bucket):
    proc = run_bulkup(
        "put", "-", f"s3://{bucket}/dir/", "--endpoint-url", s3server.https_url, env=s3server.env(), input="x"
    )
    assert "a stream has no name" in error_line(proc, exit_code=2)


def test_a_stream_goes_from_its_spool_to_the_socket_by_sendfile(s3server, s3, bucket):
    data = os.urandom(11 * MiB)
    argv = [
        sys.executable,
        "-m",
        "bulkup",
        "put",
        "-",
        f"s3://{bucket}/z.bin",
        "--endpoint-url",
        s3server.http_url,
        "--engine",
        "sendfile",
        "--part-size",
        "5MiB",
        "--progress",
        "json",
    ]
    proc = subprocess.run(
        argv, input=data, env={**os.environ, **s3server.env()}, capture_output=True, timeout=scaled(300)
    )
    assert proc.returncode == 0, proc.stderr
    paths = {path for w in summary_of(proc)["workers"].values() for path in w["paths"]}
    assert paths == {"plain+sendfile"}
    assert sha256_object(s3, bucket, "z.bin") == hashlib.sha256(data).hexdigest()


@pytest.mark.skipif(not shutil.which("strace"), reason="strace is needed to see the system calls")
def test_the_coordinator_splices_the_pipe_and_never_reads_it(s3server, s3, bucket, tmp_path):
    """Counted by strace over the process tree; over plain http with sendfile no worker splices,
    so every splice is the spool's, and a read of the pipe would show as a read of fd 0."""
    data = os.urandom(6 * MiB)
    trace = tmp_path / "strace"
    argv = [
        "strace",
        "-f",
        "-o",
        str(trace),
        "-e",
        "trace=splice,read",
        sys.executable,
        "-m",
        "bulkup",
        "put",
        "-",
        f"s3://{bucket}/p.bin",
        "--endpoint-url",
        s3server.http_url,
        "--engine",
        "sendfile",
        "--part-size",
        "5MiB",
        "--progress",
        "none",
    ]
    proc = subprocess.run(
        argv, input=data, env={**os.environ, **s3server.env()}, capture_output=True, timeout=scaled(300)
    )
    assert proc.returncode == 0, proc.stderr
    calls = trace.read_text().splitlines()
    spliced = [line for line in calls if "splice(0," in line]
    assert len(spliced) >= 6 and not [line for line in calls if " read(0," in line or "]read(0," in line]
    assert sha256_object(s3, bucket, "p.bin") == hashlib.sha256(data).hexdigest()


def test_no_overwrite_looks_at_the_key_before_reading_a_byte_of_the_stream(s3server, s3, bucket, tmp_path):
    s3.put_object(Bucket=bucket, Key="taken.bin", Body=b"theirs")
    source = tmp_path / "stream.bin"
    source.write_bytes(os.urandom(20 * MiB))
    with open(source, "rb") as stdin:  # the run shares this file offset
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "bulkup",
                "put",
                "-",
                f"s3://{bucket}/taken.bin",
                "--no-overwrite",
                "--endpoint-url",
                s3server.https_url,
                "--progress",
                "json",
            ],
            stdin=stdin,
            env={**os.environ, **s3server.env()},
            capture_output=True,
            timeout=scaled(300),
        )
        read = os.lseek(stdin.fileno(), 0, os.SEEK_CUR)
    assert proc.returncode == 0, proc.stderr
    assert summary_of(proc)["objects_existing"] == 1
    assert read == 0  # not a byte was taken from the stream
    assert s3.get_object(Bucket=bucket, Key="taken.bin")["Body"].read() == b"theirs"
    assert data_uploads(s3, bucket) == []
