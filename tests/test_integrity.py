"""Checksums are really sent, and the server really checks them."""

import json
import os
import subprocess
import sys

import pytest
from conftest import data_uploads, keys_in, open_uploads, write_random_file

import bulkup
from bulkup.plan.checksums import get_algorithm
from bulkup.plan.files import FileIdentity
from bulkup.plan.parts import MiB
from bulkup.transport.engines.userspace import UserspaceEngine
from bulkup.transport.failures import PartFailed
from bulkup.transport.filebody import FileRange, checksum_file
from bulkup.transport.messages import PartTask, WorkerConfig
from bulkup.transport.request import BucketEndpoint, CredentialSet, RequestSigner
from bulkup.transport.sender import PartSender
from devtools.timescale import scaled


def _sender(server) -> PartSender:
    creds = CredentialSet(server.admin.access_key, server.admin.secret_key)
    config = WorkerConfig(region="us-east-1", credentials=creds, ca_bundle=server.ca_file, retry_deadline=0)
    return PartSender(0, config, RequestSigner(creds, "us-east-1"), UserspaceEngine(), lambda n: None)


def _task(server, bucket, path, size, algorithm="crc64nvme", checksum=None) -> PartTask:
    st = os.stat(path)
    source = FileRange(path=str(path), offset=0, length=size, expect=FileIdentity.of(st))
    return PartTask(
        task_id=1,
        endpoint=BucketEndpoint.from_url(f"{server.https_url}/{bucket}"),
        key="obj",
        source=source,
        checksum_algorithm=algorithm,
        checksum=checksum,
    )


@pytest.mark.parametrize("algorithm", ["crc64nvme", "crc32c", "crc32", "md5"])
def test_server_rejects_a_part_whose_checksum_does_not_match(s3server, s3, bucket, tmp_path, algorithm):
    path = write_random_file(tmp_path / "f.bin", 4096)
    algo = get_algorithm(algorithm)
    wrong = algo.encode(b"\0" * 16 if algorithm == "md5" else 12345)
    with pytest.raises(PartFailed) as failure:
        _sender(s3server).send(_task(s3server, bucket, path, 4096, algorithm, checksum=wrong))
    assert "BadDigest" in str(failure.value) or "InvalidDigest" in str(failure.value)
    assert f"is not the expected {wrong}" in str(failure.value)
    assert keys_in(s3, bucket) == []


def test_server_accepts_and_echoes_the_checksum_it_verified(s3server, s3, bucket, tmp_path):
    path = write_random_file(tmp_path / "f.bin", 4096)
    done = _sender(s3server).send(_task(s3server, bucket, path, 4096))
    head = s3.head_object(Bucket=bucket, Key="obj", ChecksumMode="ENABLED")
    assert head["ChecksumCRC64NVME"] == done.checksum


def test_multipart_object_carries_a_full_object_checksum_of_the_whole_file(aws_env, s3, bucket, tmp_path):
    path = write_random_file(tmp_path / "big.bin", 3 * 5 * MiB + 7)
    result = bulkup.upload(path, f"s3://{bucket}/big.bin", endpoint_url=aws_env.https_url, part_size=5 * MiB)
    head = s3.head_object(Bucket=bucket, Key="big.bin", ChecksumMode="ENABLED")
    whole = checksum_file(path, "crc64nvme")
    assert head["ChecksumType"] == "FULL_OBJECT"
    assert head["ChecksumCRC64NVME"] == whole == result.objects[0].checksum


def test_file_changing_during_upload_fails_that_object_and_leaves_nothing(aws_env, s3, bucket, tmp_path):
    path = write_random_file(tmp_path / "moving.bin", 4 * 5 * MiB)

    class GrowFileOnStart(bulkup.ProgressSink):
        def start(self, objects, total_bytes):
            with open(path, "ab") as f:
                f.write(b"more")

    result = bulkup.upload(
        path, f"s3://{bucket}/moving.bin", endpoint_url=aws_env.https_url, part_size=5 * MiB, progress=GrowFileOnStart()
    )
    assert not result.ok
    assert "changed while being uploaded" in result.failed[0].error
    assert keys_in(s3, bucket) == []
    assert open_uploads(s3, bucket) == []


def test_a_rewrite_keeping_size_and_mtime_during_upload_fails_that_object(aws_env, s3, bucket, tmp_path):
    path = write_random_file(tmp_path / "moving.bin", 4 * 5 * MiB)
    before = os.stat(path)

    class RewriteOnStart(bulkup.ProgressSink):  # new bytes in place; only the ctime moves
        def start(self, objects, total_bytes):
            write_random_file(path, before.st_size, seed=99)
            os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))

    result = bulkup.upload(
        path, f"s3://{bucket}/moving.bin", endpoint_url=aws_env.https_url, part_size=5 * MiB, progress=RewriteOnStart()
    )
    assert not result.ok
    assert "changed while being uploaded (its status change time changed)" in result.failed[0].error
    assert keys_in(s3, bucket) == [] and open_uploads(s3, bucket) == []


@pytest.mark.slow
def test_a_file_truncated_mid_upload_fails_that_object_alone_and_kills_no_worker(s3server, s3, bucket, tmp_path):
    """logrotate's copytruncate: the file shrinks under the parts being read and sent."""
    big = write_random_file(tmp_path / "t" / "big.log", 400 * MiB)
    write_random_file(tmp_path / "t" / "small.txt", 1000)
    env = s3server.env()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bulkup",
            "put",
            str(tmp_path / "t"),
            f"s3://{bucket}/",
            "--endpoint-url",
            s3server.https_url,
            "--part-size",
            "64MiB",
            "--workers",
            "2",
            "--progress",
            "json",
        ],
        env={**{k: v for k, v in os.environ.items() if not k.startswith("AWS_")}, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    events = []
    for line in proc.stdout:  # once bytes flow, parts are being read and sent
        events.append(json.loads(line))
        if events[-1]["event"] == "progress" and events[-1]["bytes_sent"] > 0:
            os.truncate(big, MiB)
            break
    stdout, stderr = proc.communicate(timeout=scaled(300))
    events += [json.loads(line) for line in stdout.splitlines()]
    assert proc.returncode == 1, stderr
    assert not [e for e in events if e["event"] == "worker_lost"], "a worker died"
    [failed] = [e for e in events if e["event"] == "object_failed"]
    assert failed["key"] == "big.log" and "changed while being uploaded" in failed["reason"]
    assert keys_in(s3, bucket) == ["small.txt"] and data_uploads(s3, bucket) == []
