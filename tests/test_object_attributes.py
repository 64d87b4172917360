"""Object attributes (aws-cli / s5cmd / rclone options) read back from a real store."""

import datetime as dt
import json
import os
import subprocess
import time

import pytest
from conftest import (
    assert_same_bytes,
    error_line,
    keys_in,
    open_uploads,
    run_bulkup,
    sha256_object,
    wait_for,
    write_random_file,
)

from bulkup.plan.parts import MiB
from devtools.faultproxy import FaultProxy, completes_upload
from devtools.timescale import scaled

PART = 5 * MiB
ATTRIBUTES = [
    "--cache-control",
    "max-age=3600, public",
    "--content-encoding",
    "identity",
    "--content-disposition",
    'attachment; filename="report.bin"',
    "--content-language",
    "fr-CA",
    "--expires",
    "2031-05-06T07:08:09Z",
    "--tags",
    "team=storage&note=two%20words",
    "--acl",
    "private",
    "--preserve-mtime",
]


def put(server, *args, env=None):
    return run_bulkup(
        "put", *args, "--endpoint-url", server.https_url, "--progress", "none", env={**server.env(), **(env or {})}
    )


def later(days: int = 1) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize("size", [1000, 2 * PART + 7], ids=["single-put", "multipart"])
def test_every_attribute_is_on_the_object(s3server, s3, bucket, tmp_path, size):
    path = write_random_file(tmp_path / "report.bin", size)
    os.utime(path, ns=(1_700_000_000_123_456_789, 1_700_000_000_123_456_789))
    proc = put(
        s3server, path, f"s3://{bucket}/r.bin", *ATTRIBUTES, "--part-size", "5MiB", "--multipart-threshold", "5MiB"
    )
    assert proc.returncode == 0, proc.stderr
    head = s3.head_object(Bucket=bucket, Key="r.bin")
    assert (head["CacheControl"], head["ContentEncoding"], head["ContentDisposition"], head["ContentLanguage"]) == (
        "max-age=3600, public",
        "identity",
        'attachment; filename="report.bin"',
        "fr-CA",
    )
    assert head["Expires"] == dt.datetime(2031, 5, 6, 7, 8, 9, tzinfo=dt.UTC)
    assert head["Metadata"] == {"mtime": "1700000000.123456789"}
    tags = s3.get_object_tagging(Bucket=bucket, Key="r.bin")["TagSet"]
    assert sorted((t["Key"], t["Value"]) for t in tags) == [("note", "two words"), ("team", "storage")]
    assert_same_bytes(s3, bucket, "r.bin", path)


def test_rclone_reads_the_preserved_mtime(s3server, s3, bucket, tmp_path):
    path = write_random_file(tmp_path / "old.bin", 100)
    os.utime(path, ns=(1_600_000_000_987_654_321, 1_600_000_000_987_654_321))
    assert put(s3server, path, f"s3://{bucket}/", "--preserve-mtime").returncode == 0
    who = s3server.admin
    remote = (
        f":s3,provider=Other,env_auth=false,access_key_id={who.access_key},"
        f"secret_access_key={who.secret_key},endpoint='{s3server.https_url}':{bucket}"
    )
    listing = subprocess.run(
        [rclone(), "lsl", remote, "--ca-cert", s3server.ca_file],
        capture_output=True,
        text=True,
        env={**os.environ, "TZ": "UTC"},
        timeout=scaled(60),
    )
    assert listing.returncode == 0, listing.stderr
    assert listing.stdout.split() == ["100", "2020-09-13", "12:26:40.987654321", "old.bin"]


def rclone() -> str:
    from devtools.stores import _tool

    return _tool("rclone")


@pytest.fixture
def lock_bucket(s3):
    name = f"lock-{os.getpid()}-{time.monotonic_ns() % 10**9}"
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    return name


@pytest.mark.parametrize("size", [1000, 2 * PART + 7], ids=["single-put", "multipart"])
def test_object_lock_retention_and_legal_hold_are_on_the_object(s3server, s3, lock_bucket, tmp_path, size):
    path = write_random_file(tmp_path / "kept.bin", size)
    until = later(2)
    proc = put(
        s3server,
        path,
        f"s3://{lock_bucket}/kept.bin",
        "--object-lock-mode",
        "GOVERNANCE",
        "--object-lock-retain-until",
        until,
        "--object-lock-legal-hold",
        "ON",
        "--part-size",
        "5MiB",
        "--multipart-threshold",
        "5MiB",
    )
    assert proc.returncode == 0, proc.stderr
    retention = s3.get_object_retention(Bucket=lock_bucket, Key="kept.bin")["Retention"]
    assert retention["Mode"] == "GOVERNANCE"
    assert retention["RetainUntilDate"].astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ") == until
    assert s3.get_object_legal_hold(Bucket=lock_bucket, Key="kept.bin")["LegalHold"]["Status"] == "ON"
    assert_same_bytes(s3, lock_bucket, "kept.bin", path)


def test_object_lock_on_a_bucket_without_it_is_refused_once_before_anything_is_sent(s3server, s3, bucket, tmp_path):
    for i in range(3):
        write_random_file(tmp_path / "tree" / f"f{i}.bin", 1000, seed=i)
    proc = put(
        s3server,
        str(tmp_path / "tree"),
        f"s3://{bucket}/",
        "--object-lock-mode",
        "COMPLIANCE",
        "--object-lock-retain-until",
        later(),
    )
    line = error_line(proc, exit_code=1)
    assert "refuses --object-lock-mode/--object-lock-retain-until" in line
    assert f"is Object Lock enabled on bucket {bucket}?" in line and "nothing was sent" in line
    assert keys_in(s3, bucket) == [] and open_uploads(s3, bucket) == []


def test_no_overwrite_leaves_what_is_there_and_reports_it_as_existing(s3server, s3, bucket, tmp_path):
    tree = tmp_path / "tree"
    write_random_file(tree / "a.bin", 1000, seed=1)
    fresh = write_random_file(tree / "b.bin", 1000, seed=2)
    write_random_file(tree / "big.bin", 2 * PART + 7, seed=3)
    s3.put_object(Bucket=bucket, Key="a.bin", Body=b"theirs")
    s3.put_object(Bucket=bucket, Key="big.bin", Body=b"theirs too")
    before = sha256_object(s3, bucket, "big.bin")
    report = tmp_path / "report.json"
    proc = put(
        s3server,
        str(tree),
        f"s3://{bucket}/",
        "--no-overwrite",
        "--report",
        str(report),
        "--part-size",
        "5MiB",
        "--multipart-threshold",
        "5MiB",
    )
    assert proc.returncode == 0, proc.stderr
    assert s3.get_object(Bucket=bucket, Key="a.bin")["Body"].read() == b"theirs"
    assert sha256_object(s3, bucket, "big.bin") == before
    assert_same_bytes(s3, bucket, "b.bin", fresh)
    summary = json.loads(report.read_text())
    assert (summary["objects_existing"], summary["objects_uploaded"], summary["objects_failed"]) == (2, 1, 0)
    assert open_uploads(s3, bucket) == []


def test_no_overwrite_keeps_an_object_written_while_the_parts_were_sent(s3server, s3, bucket, tmp_path):
    path = write_random_file(tmp_path / "big.bin", 2 * PART + 7)
    with FaultProxy(s3server.http_url) as proxy:
        proxy.hold(completes_upload)  # Complete waits: someone else writes the key
        proc = subprocess.Popen(
            [
                *run_argv(),
                "put",
                path,
                f"s3://{bucket}/big.bin",
                "--no-overwrite",
                "--endpoint-url",
                proxy.url,
                "--progress",
                "none",
                "--part-size",
                "5MiB",
                "--report",
                str(tmp_path / "r.json"),
            ],
            env={**os.environ, **s3server.env()},
            stderr=subprocess.PIPE,
            text=True,
        )
        wait_for(lambda: proxy.held >= 1, what="the request to be held")
        assert proxy.held == 1
        s3.put_object(Bucket=bucket, Key="big.bin", Body=b"written meanwhile")
        proxy.release()
        _, stderr = proc.communicate(timeout=scaled(60))
    assert proc.returncode == 0, stderr
    assert s3.get_object(Bucket=bucket, Key="big.bin")["Body"].read() == b"written meanwhile"
    assert json.loads((tmp_path / "r.json").read_text())["objects_existing"] == 1
    assert open_uploads(s3, bucket) == []


def run_argv() -> list[str]:
    import sys

    return [sys.executable, "-m", "bulkup"]


@pytest.mark.parametrize(
    "args, says",
    [
        (["--tags", "team"], "--tags 'team': expected key=value pairs"),
        (["--tags", "&".join(f"k{i}=v" for i in range(11))], "at most 10"),
        (["--object-lock-mode", "GOVERNANCE"], "--object-lock-mode and --object-lock-retain-until go together"),
        (["--object-lock-mode", "GOVERNANCE", "--object-lock-retain-until", "2001-01-01"], "is not in the future"),
        (["--object-lock-legal-hold", "ON", "--checksum", "none"], "Object Lock needs a checksum"),
        (["--expires", "someday"], "--expires 'someday': not a date"),
        (["--cache-control", "max-age=1\r\nx-amz-acl: public-read"], "--cache-control"),
    ],
    ids=[
        "tag-without-value",
        "eleven-tags",
        "mode-without-date",
        "past-date",
        "lock-without-checksum",
        "bad-expires",
        "header-injection",
    ],
)
def test_a_bad_attribute_is_one_line_and_nothing_is_sent(s3server, s3, bucket, tmp_path, args, says):
    path = write_random_file(tmp_path / "f.bin", 10)
    line = error_line(put(s3server, path, f"s3://{bucket}/", *args), exit_code=2)
    assert says in line
    assert keys_in(s3, bucket) == [] and open_uploads(s3, bucket) == []


def test_a_migration_applies_the_attributes_and_its_journal_keeps_them_for_resume(s3server, s3, bucket, tmp_path):
    from bulkup.migrate.journal import Journal
    from bulkup.ops.migrate import stored_options

    sources = [write_random_file(tmp_path / f"m{i}.bin", 1000, seed=i) for i in range(3)]
    s3.put_object(Bucket=bucket, Key="m0.bin", Body=b"theirs")
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(
        "".join(
            json.dumps({"source": p, "destination": f"s3://{bucket}/m{i}.bin"}) + "\n" for i, p in enumerate(sources)
        )
    )
    proc = run_bulkup(
        "migrate",
        str(manifest),
        "--cache-control",
        "no-store",
        "--tags",
        "run=m1",
        "--no-overwrite",
        "--endpoint-url",
        s3server.https_url,
        "--progress",
        "none",
        env=s3server.env(),
    )
    assert proc.returncode == 0, proc.stderr
    assert s3.get_object(Bucket=bucket, Key="m0.bin")["Body"].read() == b"theirs"
    for key in ("m1.bin", "m2.bin"):
        assert s3.head_object(Bucket=bucket, Key=key)["CacheControl"] == "no-store"
        assert s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"] == [{"Key": "run", "Value": "m1"}]
    journal = Journal.open(str(manifest) + ".journal", create=False)
    try:
        stored = stored_options(journal)
        skipped = {o.destination: o.reason for o in journal.skipped()}
    finally:
        journal.close()
    assert (stored.cache_control, stored.tags, stored.no_overwrite) == ("no-store", "run=m1", True)
    assert skipped == {f"s3://{bucket}/m0.bin": "exists (--no-overwrite)"}


def test_a_manifest_lines_attributes_replace_the_runs_for_its_object(s3server, s3, bucket, tmp_path):
    own, plain = write_random_file(tmp_path / "own.bin", 100, seed=1), write_random_file(tmp_path / "plain.bin", 100)
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(
        json.dumps(
            {
                "source": own,
                "destination": f"s3://{bucket}/own.bin",
                "cache_control": "no-cache",
                "tags": "kind=own",
                "content_language": "de",
            }
        )
        + "\n"
        + json.dumps({"source": plain, "destination": f"s3://{bucket}/plain.bin"})
        + "\n"
    )
    proc = run_bulkup(
        "migrate",
        str(manifest),
        "--cache-control",
        "max-age=5",
        "--endpoint-url",
        s3server.https_url,
        "--progress",
        "none",
        env=s3server.env(),
    )
    assert proc.returncode == 0, proc.stderr
    own_head, plain_head = (s3.head_object(Bucket=bucket, Key=k) for k in ("own.bin", "plain.bin"))
    assert (own_head["CacheControl"], own_head["ContentLanguage"]) == ("no-cache", "de")
    assert plain_head["CacheControl"] == "max-age=5" and "ContentLanguage" not in plain_head
    assert s3.get_object_tagging(Bucket=bucket, Key="own.bin")["TagSet"] == [{"Key": "kind", "Value": "own"}]


def test_a_manifest_line_with_a_bad_attribute_names_its_line(s3server, s3, bucket, tmp_path):
    path = write_random_file(tmp_path / "f.bin", 10)
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps({"source": path, "destination": f"s3://{bucket}/f.bin", "tags": "nokey"}) + "\n")
    proc = run_bulkup("migrate", str(manifest), "--endpoint-url", s3server.https_url, env=s3server.env())
    assert f"{manifest}:1: tags 'nokey': expected key=value pairs" in error_line(proc)
    assert keys_in(s3, bucket) == []


# -- a store that takes attributes and drops them (rclone's server) --------------------------


def rclone_bucket(server, name: str) -> str:
    server.client().create_bucket(Bucket=name)
    return name


def test_a_store_that_drops_tags_is_named_after_the_run(rclone_server, tmp_path):
    bucket = rclone_bucket(rclone_server, "drops-tags")
    path = write_random_file(tmp_path / "t.bin", 1000)
    proc = run_bulkup(
        "put",
        path,
        f"s3://{bucket}/",
        "--tags",
        "a=1",
        "--cache-control",
        "no-cache",
        "--endpoint-url",
        rclone_server.url,
        "--progress",
        "none",
        env=rclone_server.env(),
    )
    assert proc.returncode == 1
    errors = [line for line in proc.stderr.splitlines() if line.startswith("bulkup: error:")]
    assert len(errors) == 1
    assert "did not keep --tags (get_object_tagging:" in errors[0] and f"s3://{bucket}/t.bin" in errors[0]


def test_no_overwrite_is_refused_where_the_store_ignores_the_condition(rclone_server, tmp_path):
    bucket = rclone_bucket(rclone_server, "ignores-condition")
    path = write_random_file(tmp_path / "n.bin", 1000)
    proc = run_bulkup(
        "put", path, f"s3://{bucket}/", "--no-overwrite", "--endpoint-url", rclone_server.url, env=rclone_server.env()
    )
    line = error_line(proc, exit_code=1)
    assert "ignores If-None-Match" in line and "nothing was sent" in line
    assert keys_in(rclone_server.client(), bucket) == []


def test_moto_keeps_the_condition_and_no_overwrite_runs(moto_server, tmp_path):
    moto_server.client().create_bucket(Bucket="keeps-condition")
    path = write_random_file(tmp_path / "m.bin", 1000)
    moto_server.client().put_object(Bucket="keeps-condition", Key="m.bin", Body=b"theirs")
    proc = run_bulkup(
        "put",
        path,
        "s3://keeps-condition/",
        "--no-overwrite",
        "--endpoint-url",
        moto_server.url,
        "--progress",
        "none",
        env=moto_server.env(),
    )
    assert proc.returncode == 0, proc.stderr
    assert moto_server.client().get_object(Bucket="keeps-condition", Key="m.bin")["Body"].read() == b"theirs"
