"""Uploads land byte-exact on a real S3 server over HTTPS."""

import os

import pytest
from conftest import assert_same_bytes, keys_in, open_uploads, write_random_file

import bulkup
from bulkup.plan.parts import MiB
from devtools.timescale import scaled

PART = 5 * MiB


@pytest.mark.parametrize(
    "size",
    [0, 1, PART - 1, PART, PART + 1, 3 * PART + 1],
    ids=["empty", "1-byte", "5MiB-1", "5MiB", "5MiB+1", "3-parts+1"],
)
def test_file_of_any_size_uploads_byte_exact(aws_env, s3, bucket, tmp_path, size):
    path = write_random_file(tmp_path / "data.bin", size)
    result = bulkup.upload(
        path,
        f"s3://{bucket}/sizes/",
        endpoint_url=aws_env.https_url,
        part_size=PART,
        multipart_threshold=PART,
        workers=2,
    )
    assert result.ok, result.failed
    assert_same_bytes(s3, bucket, "sizes/data.bin", path)
    assert open_uploads(s3, bucket) == []


@pytest.mark.slow
def test_one_gib_file_uploads_byte_exact(aws_env, s3, bucket, tmp_path):
    path = write_random_file(tmp_path / "big.bin", 1024 * MiB)
    result = bulkup.upload(path, f"s3://{bucket}/big.bin", endpoint_url=aws_env.https_url)
    assert result.ok and result.objects[0].parts == 128
    assert_same_bytes(s3, bucket, "big.bin", path)


def test_tree_of_many_small_files_keeps_relative_keys(aws_env, s3, bucket, tmp_path):
    root = tmp_path / "tree"
    files = {
        f"d{i % 7}/sub/file-{i}.dat": write_random_file(
            root / f"d{i % 7}" / "sub" / f"file-{i}.dat", (i * 977) % 20000, seed=i + 1
        )
        for i in range(400)
    }
    result = bulkup.upload(str(root), f"s3://{bucket}/backup/", endpoint_url=aws_env.https_url)
    assert result.ok and len(result.uploaded) == 400
    assert keys_in(s3, bucket) == sorted(f"backup/{k}" for k in files)
    for rel in ("d0/sub/file-0.dat", "d3/sub/file-199.dat", "d0/sub/file-399.dat"):
        assert_same_bytes(s3, bucket, f"backup/{rel}", files[rel])


def test_keys_with_spaces_unicode_and_reserved_characters_upload(aws_env, s3, bucket, tmp_path):
    names = [
        "a b.txt",
        "plus+sign",
        "question?mark",
        "hash#tag",
        "per%cent",
        "ünïcødé ✓.txt",
        "semi;colon=eq&amp",
        "tilde~(paren)",
    ]
    for i, name in enumerate(names):
        write_random_file(tmp_path / "odd" / name, 100 + i)
    result = bulkup.upload(str(tmp_path / "odd"), f"s3://{bucket}/odd dir/", endpoint_url=aws_env.https_url)
    assert result.ok, result.failed
    assert keys_in(s3, bucket) == sorted(f"odd dir/{n}" for n in names)
    for name in names:
        assert_same_bytes(s3, bucket, f"odd dir/{name}", tmp_path / "odd" / name)


@pytest.mark.slow
def test_parts_of_one_file_are_spread_over_workers_and_reuse_connections(aws_env, s3, bucket, tmp_path):
    path = write_random_file(tmp_path / "spread.bin", 24 * PART)
    result = bulkup.upload(
        path, f"s3://{bucket}/spread.bin", endpoint_url=aws_env.https_url, part_size=PART, workers=2, connections=2
    )
    assert result.ok, result.failed
    assert_same_bytes(s3, bucket, "spread.bin", path)
    pids = {p.pid for p in result.parts}
    assert len(pids) == 2 and os.getpid() not in pids
    per_connection = {}
    for part in result.parts:
        per_connection.setdefault(part.connection, []).append(part.request_on_connection)
    assert max(len(v) for v in per_connection.values()) > 1
    assert max(max(v) for v in per_connection.values()) > 1  # later requests on an open socket


def test_object_settings_reach_the_server(aws_env, s3, bucket, tmp_path):
    small = write_random_file(tmp_path / "page.html", 1000)
    large = write_random_file(tmp_path / "movie.bin", 2 * PART + 5)
    result = bulkup.upload(
        [small, large],
        f"s3://{bucket}/",
        endpoint_url=aws_env.https_url,
        part_size=PART,
        metadata={"project": "bulkup"},
    )
    assert result.ok, result.failed
    page = s3.head_object(Bucket=bucket, Key="page.html")
    movie = s3.head_object(Bucket=bucket, Key="movie.bin")
    assert page["ContentType"] == "text/html"
    assert page["Metadata"] == {"project": "bulkup"} and movie["Metadata"] == {"project": "bulkup"}


def test_symlinks_are_followed_and_special_files_skipped_with_a_reason(aws_env, s3, bucket, tmp_path):
    root = tmp_path / "links"
    target = write_random_file(tmp_path / "outside.bin", 5000)
    write_random_file(root / "real.bin", 10)
    os.symlink(target, root / "link.bin")
    os.symlink(tmp_path / "missing", root / "dangling")
    os.mkfifo(root / "pipe")
    os.symlink(root, root / "loop")
    result = bulkup.upload(str(root), f"s3://{bucket}/", endpoint_url=aws_env.https_url)
    assert result.ok, result.failed
    assert keys_in(s3, bucket) == ["link.bin", "real.bin"]
    assert_same_bytes(s3, bucket, "link.bin", target)
    reasons = {os.path.basename(s.path): s.reason for s in result.skipped}
    assert reasons == {
        "dangling": "broken symbolic link",
        "pipe": "a FIFO",
        "loop": f"symbolic link loop (it leads back to {root})",
    }


def test_dry_run_sends_nothing(aws_env, s3, bucket, tmp_path):
    path = write_random_file(tmp_path / "f.bin", 100)
    result = bulkup.upload(path, f"s3://{bucket}/", endpoint_url=aws_env.https_url, dry_run=True)
    assert [o.key for o in result.objects] == ["f.bin"]
    assert keys_in(s3, bucket) == []


@pytest.mark.slow
def test_upload_survives_a_worker_process_killed_mid_part(aws_env, s3, bucket, tmp_path):
    import signal

    path = write_random_file(tmp_path / "f.bin", 20 * PART)

    class KillOneWorkerOnceBytesFlow(bulkup.ProgressSink):
        victim, killed = None, False

        def worker_ready(self, ready, connections=1):
            self.victim = self.victim or ready.pid

        def bytes_sent(self, worker, nbytes):
            if self.victim and not self.killed:
                os.kill(self.victim, signal.SIGKILL)
                self.killed = True

    sink = KillOneWorkerOnceBytesFlow()
    result = bulkup.upload(
        path, f"s3://{bucket}/f.bin", endpoint_url=aws_env.https_url, part_size=PART, workers=2, progress=sink
    )
    assert sink.killed, "no worker was killed"
    assert result.ok, result.failed
    assert_same_bytes(s3, bucket, "f.bin", path)
    assert open_uploads(s3, bucket) == []


def test_python_api_works_from_a_script_without_a_main_guard(aws_env, s3, bucket, tmp_path):
    import subprocess
    import sys

    path = write_random_file(tmp_path / "f.bin", 1000)
    script = tmp_path / "plain_script.py"
    script.write_text(
        f"import bulkup\nr = bulkup.upload({str(path)!r}, 's3://{bucket}/', "
        f"endpoint_url={aws_env.https_url!r}, workers=2)\nassert r.ok, r.failed\n"
    )
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=scaled(120))
    assert proc.returncode == 0, proc.stderr
    assert_same_bytes(s3, bucket, "f.bin", path)
