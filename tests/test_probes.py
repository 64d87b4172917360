"""bulkup's questions to the store (probes) own their keys: runs probing one prefix at once do
not disturb each other nor a user's upload, a store's answer is remembered for a day so the
next runs ask nothing, and a probe object the store will not delete is named and then removed
by `bulkup cleanup`."""

import json
import os
import subprocess
import sys
from datetime import timedelta

import pytest
from conftest import keys_in, open_uploads, run_bulkup, write_random_file

from bulkup.control import storeanswers
from bulkup.control.cleanup import clear_stale_probe_objects, clear_stale_probe_uploads
from bulkup.control.probekeys import PROBE_MARK
from devtools.faultproxy import FaultProxy, is_probe
from devtools.timescale import scaled

DENY_DELETE = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Deny",
            "Principal": "*",
            "Action": ["s3:DeleteObject", "s3:DeleteObjectVersion"],
            "Resource": "arn:aws:s3:::{bucket}/*",
        }
    ],
}


@pytest.fixture
def empty_cache(tmp_path) -> dict[str, str]:
    """The environment of runs that start with nothing remembered (a cache of their own)."""
    return {"BULKUP_CACHE_DIR": str(tmp_path / "cache")}


def put(server, *args, url=None, env=None):
    return run_bulkup(
        "put",
        *args,
        "--endpoint-url",
        url or server.https_url,
        "--progress",
        "json",
        env={**server.env(), **(env or {})},
    )


def checksum_notices(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("bulkup: checksums:")]


def probe_requests(proxy: FaultProxy) -> int:
    return sum(is_probe(r.target) for r in proxy.records)


def probe_keys(s3, bucket: str) -> list[str]:
    """Every key in the bucket (versions and delete markers included) that holds the mark."""
    listed = s3.list_object_versions(Bucket=bucket)
    return [v["Key"] for v in listed.get("Versions", []) + listed.get("DeleteMarkers", []) if PROBE_MARK in v["Key"]]


def start_upload(s3, bucket: str, key: str) -> str:
    return s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]


# -- runs that probe at once -------------------------------------------------------------------


@pytest.mark.parametrize("caches", ["one-each", "shared"])
def test_twelve_runs_into_one_prefix_started_at_once_all_succeed(s3server, s3, bucket, tmp_path, caches):
    """Each run starts with nothing remembered: with a cache of its own each asks the store, so
    twelve probes run at once; sharing one, they also write the same answers at once."""
    sources = [write_random_file(tmp_path / "src" / f"f{i:02}.bin", 1000, seed=i + 1) for i in range(12)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(s3server.env())
    cache = (lambda i: tmp_path / f"cache{i}") if caches == "one-each" else (lambda i: tmp_path / "cache")
    with FaultProxy(s3server.http_url) as proxy:
        runs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "bulkup",
                    "put",
                    source,
                    f"s3://{bucket}/shared/",
                    "--require-verified",
                    "--endpoint-url",
                    proxy.url,
                    "--progress",
                    "none",
                ],
                env={**env, "BULKUP_CACHE_DIR": str(cache(i))},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for i, source in enumerate(sources)
        ]
        outcomes = [(run.communicate(timeout=scaled(600))[1], run.returncode) for run in runs]
        probes = {r.target.split("?")[0] for r in proxy.records if is_probe(r.target) and "uploadId" in r.target}
    assert [code for _, code in outcomes] == [0] * 12, [err for err, code in outcomes if code]
    assert keys_in(s3, bucket) == [f"shared/f{i:02}.bin" for i in range(12)]
    assert open_uploads(s3, bucket) == []
    if caches == "one-each":
        assert len(probes) == 12


def test_a_users_uploads_whose_keys_hold_the_probe_mark_survive_a_run(s3server, s3, bucket, tmp_path, empty_cache):
    mine = {
        start_upload(s3, bucket, "shared/.bulkup-probe-notes.txt"),
        start_upload(s3, bucket, "shared/.bulkup-probe-0123456789ab"),
    }  # a probe's form, but new
    proc = put(s3server, write_random_file(tmp_path / "f.bin", 1000), f"s3://{bucket}/shared/", env=empty_cache)
    assert proc.returncode == 0, proc.stderr
    assert {u["UploadId"] for u in open_uploads(s3, bucket)} == mine


def test_a_users_object_whose_key_holds_the_probe_mark_survives_a_no_overwrite_run(
    s3server, s3, bucket, tmp_path, empty_cache
):
    s3.put_object(Bucket=bucket, Key="shared/.bulkup-probe-notes.txt", Body=b"mine")
    proc = put(
        s3server,
        write_random_file(tmp_path / "f.bin", 1000),
        f"s3://{bucket}/shared/",
        "--no-overwrite",
        env=empty_cache,
    )
    assert proc.returncode == 0, proc.stderr
    assert keys_in(s3, bucket) == ["shared/.bulkup-probe-notes.txt", "shared/f.bin"]


def test_a_probe_upload_left_by_an_earlier_run_is_aborted_once_an_hour_old(s3, bucket):
    left = start_upload(s3, bucket, "d/f.bin.bulkup-probe-0123456789ab")
    users = start_upload(s3, bucket, "d/f.bin.bulkup-probe-notes")
    clear_stale_probe_uploads(s3, bucket, "d/f.bin")
    assert {u["UploadId"] for u in open_uploads(s3, bucket)} == {left, users}  # maybe a live run's
    [initiated] = {u["Initiated"] for u in open_uploads(s3, bucket) if u["UploadId"] == left}
    clear_stale_probe_uploads(s3, bucket, "d/f.bin", now=initiated + timedelta(hours=1, minutes=1))
    assert [u["UploadId"] for u in open_uploads(s3, bucket)] == [users]


def test_a_probe_object_left_by_an_earlier_run_is_deleted_once_an_hour_old(s3, bucket):
    for key in ("d/f.bin.bulkup-probe-0123456789ab", "d/f.bin.bulkup-probe-notes"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"")
    clear_stale_probe_objects(s3, bucket, "d/f.bin")
    assert len(keys_in(s3, bucket)) == 2  # maybe a live run's
    written = s3.head_object(Bucket=bucket, Key="d/f.bin.bulkup-probe-0123456789ab")["LastModified"]
    clear_stale_probe_objects(s3, bucket, "d/f.bin", now=written + timedelta(hours=1, minutes=1))
    assert keys_in(s3, bucket) == ["d/f.bin.bulkup-probe-notes"]


# -- what the store answered, remembered -------------------------------------------------------


def test_a_second_run_within_a_day_asks_the_store_nothing_and_says_the_same(
    s3server, s3, bucket, tmp_path, empty_cache
):
    path = write_random_file(tmp_path / "f.bin", 1000)
    with FaultProxy(s3server.http_url) as proxy:
        first = put(s3server, path, f"s3://{bucket}/a/", url=proxy.url, env=empty_cache)
        asked_first = probe_requests(proxy)
        second = put(s3server, path, f"s3://{bucket}/b/", url=proxy.url, env=empty_cache)
        asked_second = probe_requests(proxy) - asked_first
    assert (first.returncode, second.returncode) == (0, 0), first.stderr + second.stderr
    assert asked_first > 0 and asked_second == 0
    assert len(checksum_notices(first.stderr)) == 1
    assert checksum_notices(second.stderr) == checksum_notices(first.stderr)


def test_a_second_no_overwrite_run_within_a_day_writes_no_probe_object(s3server, s3, bucket, tmp_path, empty_cache):
    path = write_random_file(tmp_path / "f.bin", 1000)
    with FaultProxy(s3server.http_url) as proxy:
        first = put(s3server, path, f"s3://{bucket}/a/", "--no-overwrite", url=proxy.url, env=empty_cache)
        probe_objects_written = [
            r for r in proxy.records if is_probe(r.target) and r.method == "PUT" and "uploadId" not in r.target
        ]
        asked_first = probe_requests(proxy)
        second = put(s3server, path, f"s3://{bucket}/b/", "--no-overwrite", url=proxy.url, env=empty_cache)
        asked_second = probe_requests(proxy) - asked_first
    assert (first.returncode, second.returncode) == (0, 0), first.stderr + second.stderr
    assert probe_objects_written and asked_second == 0
    assert keys_in(s3, bucket) == ["a/f.bin", "b/f.bin"]


def test_a_store_that_ignores_the_condition_is_refused_again_from_what_it_answered(
    rclone_server, tmp_path, empty_cache
):
    client = rclone_server.client()
    client.create_bucket(Bucket="remembers-condition")
    path = write_random_file(tmp_path / "f.bin", 1000)
    runs = [
        run_bulkup(
            "put",
            path,
            "s3://remembers-condition/",
            "--no-overwrite",
            "--endpoint-url",
            rclone_server.url,
            env={**rclone_server.env(), **empty_cache},
        )
        for _ in range(2)
    ]
    assert [r.returncode for r in runs] == [1, 1]
    assert runs[0].stderr == runs[1].stderr and "ignores If-None-Match" in runs[1].stderr
    assert keys_in(client, "remembers-condition") == []


def test_a_remembered_answer_is_trusted_for_a_day_and_by_this_version_only(empty_cache, monkeypatch):
    monkeypatch.setenv("BULKUP_CACHE_DIR", empty_cache["BULKUP_CACHE_DIR"])
    storeanswers.remember("question", "127.0.0.1:1", "b", {"said": "yes"}, now=1000.0)
    assert storeanswers.recall("question", "127.0.0.1:1", "b", now=1000.0 + 86399) == {"said": "yes"}
    assert storeanswers.recall("question", "127.0.0.1:1", "b", now=1000.0 + 86400) is None
    assert storeanswers.recall("question", "127.0.0.1:1", "other-bucket", now=1001.0) is None
    assert storeanswers.recall("question", "127.0.0.1:2", "b", now=1001.0) is None
    monkeypatch.setattr(storeanswers, "__version__", "0.0.0-other")
    assert storeanswers.recall("question", "127.0.0.1:1", "b", now=1001.0) is None


def test_a_corrupt_remembered_answer_is_asked_again_and_the_run_succeeds(s3server, s3, bucket, tmp_path, empty_cache):
    path = write_random_file(tmp_path / "f.bin", 1000)
    with FaultProxy(s3server.http_url) as proxy:
        assert put(s3server, path, f"s3://{bucket}/a/", url=proxy.url, env=empty_cache).returncode == 0
        asked_first = probe_requests(proxy)
        folder = os.path.join(empty_cache["BULKUP_CACHE_DIR"], storeanswers.FOLDER)
        for name in os.listdir(folder):
            with open(os.path.join(folder, name), "w") as f:
                f.write('{"key": [1, 2')
        proc = put(s3server, path, f"s3://{bucket}/b/", url=proxy.url, env=empty_cache)
        asked_again = probe_requests(proxy) - asked_first
    assert proc.returncode == 0, proc.stderr
    assert asked_again > 0
    assert [line for line in proc.stderr.splitlines() if not line.startswith("bulkup: checksums:")] == []


def test_a_cache_that_cannot_be_written_does_not_fail_a_run(s3server, s3, bucket, tmp_path):
    not_a_directory = tmp_path / "cache"
    not_a_directory.write_text("a file where the cache directory would be")
    proc = put(
        s3server,
        write_random_file(tmp_path / "f.bin", 1000),
        f"s3://{bucket}/",
        "--no-overwrite",
        env={"BULKUP_CACHE_DIR": str(not_a_directory)},
    )
    assert proc.returncode == 0, proc.stderr
    assert [line for line in proc.stderr.splitlines() if not line.startswith("bulkup: checksums:")] == []
    assert keys_in(s3, bucket) == ["f.bin"]


# -- probe objects the store keeps ---------------------------------------------------------------


def test_a_probe_object_the_store_will_not_delete_is_named_and_cleanup_removes_it(
    s3server, s3, bucket, tmp_path, empty_cache
):
    path = write_random_file(tmp_path / "f.bin", 1000)
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(DENY_DELETE).replace("{bucket}", bucket))
    try:
        proc = put(s3server, path, f"s3://{bucket}/d/", "--no-overwrite", env=empty_cache)
    finally:
        s3.delete_bucket_policy(Bucket=bucket)
    assert proc.returncode == 0, proc.stderr
    [left] = probe_keys(s3, bucket)
    [warning] = [line for line in proc.stderr.splitlines() if not line.startswith("bulkup: checksums:")]
    assert warning.startswith(f"bulkup: warning: could not delete the probe object s3://{bucket}/{left} ")
    assert "AccessDenied" in warning

    listed = run_bulkup(
        "cleanup", f"s3://{bucket}/", "--older-than", "0s", "--endpoint-url", s3server.https_url, env=s3server.env()
    )
    assert listed.returncode == 0, listed.stderr
    [line] = listed.stdout.splitlines()
    assert line.split()[2:4] == ["probe", "object"] and f"s3://{bucket}/{left}" in line
    assert probe_keys(s3, bucket) == [left]
    removed = run_bulkup(
        "cleanup",
        f"s3://{bucket}/",
        "--older-than",
        "0s",
        "--yes",
        "--endpoint-url",
        s3server.https_url,
        env=s3server.env(),
    )
    assert removed.returncode == 0, removed.stderr
    assert probe_keys(s3, bucket) == [] and keys_in(s3, bucket) == ["d/f.bin"]


def test_the_no_overwrite_probe_leaves_no_version_on_a_versioned_bucket(s3server, s3, bucket, tmp_path, empty_cache):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    proc = put(
        s3server, write_random_file(tmp_path / "f.bin", 1000), f"s3://{bucket}/d/", "--no-overwrite", env=empty_cache
    )
    assert proc.returncode == 0, proc.stderr
    assert probe_keys(s3, bucket) == []
    assert keys_in(s3, bucket) == ["d/f.bin"]
