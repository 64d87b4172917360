"""`bulkup cleanup`: stale multipart uploads and the objects bulkup's probes left are listed,
and removed only with --yes."""

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from conftest import error_line, keys_in, open_uploads, run_bulkup

from bulkup.control.cleanup import StaleUpload, abort_uploads, find_probe_objects, find_stale
from bulkup.errors import UsageError
from bulkup.plan.durations import format_age, parse_age

LINE = re.compile(
    r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)\s+(\S+(?: \S+)?)\s+(\d+) parts?\s+"
    r"(\d+(?:\.\d)? (?:B|KiB|MiB|GiB|TiB))\s+(s3://\S+)\s+(\S+)$"
)
PROBE_LINE = re.compile(
    r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)\s+(\S+(?: \S+)?)\s+(probe object|delete marker)\s+"
    r"(\d+(?:\.\d)? (?:B|KiB|MiB|GiB|TiB))\s+(s3://\S+)\s+(\S+)$"
)
PROBE = "data/f.bin.bulkup-probe-0123456789ab"  # the form of a probe's key


def start_upload(s3, bucket: str, key: str, part_sizes: tuple[int, ...] = ()) -> str:
    """Open a multipart upload holding parts of the given sizes; its upload id."""
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    for number, size in enumerate(part_sizes, 1):
        s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=b"x" * size)
    return upload_id


def cleanup(server, url: str, *args: str, env: dict[str, str] | None = None):
    return run_bulkup("cleanup", url, *args, "--endpoint-url", server.https_url, env=env or server.env())


def open_ids(s3, bucket: str) -> set[str]:
    return {u["UploadId"] for u in open_uploads(s3, bucket)}


def listed(proc) -> dict[str, tuple[str, ...]]:
    """The listing on stdout: upload id -> (initiated, age, parts, bytes, url)."""
    rows = {}
    for line in proc.stdout.splitlines():
        match = LINE.match(line)
        assert match, f"unexpected listing line: {line!r}"
        rows[match.group(6)] = match.groups()[:5]
    return rows


# -- the command, against the real server -------------------------------------------------


def test_stale_uploads_are_listed_but_not_aborted_without_yes(s3server, s3, bucket):
    with_parts = start_upload(s3, bucket, "data/a.bin", (1000, 2000))
    empty = start_upload(s3, bucket, "data/b.bin")
    proc = cleanup(s3server, f"s3://{bucket}/data/", "--older-than", "0s")
    assert proc.returncode == 0, proc.stderr
    rows = listed(proc)
    assert set(rows) == {with_parts, empty}
    initiated, age, parts, held, url = rows[with_parts]
    assert (parts, held, url) == ("2", "2.9 KiB", f"s3://{bucket}/data/a.bin")
    assert rows[empty][2:] == ("0", "0 B", f"s3://{bucket}/data/b.bin")
    started = datetime.strptime(initiated, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert abs(datetime.now(UTC) - started) < timedelta(minutes=5)
    assert re.fullmatch(r"\d+s|\d+m \d+s", age)
    assert proc.stderr.splitlines() == ["2 stale multipart uploads (2.9 KiB held); run again with --yes to abort them"]
    assert open_ids(s3, bucket) == {with_parts, empty}
    assert s3server.admin.secret_key not in proc.stdout + proc.stderr


def test_yes_aborts_stale_uploads_under_the_prefix_and_leaves_others_open(s3server, s3, bucket):
    inside = {start_upload(s3, bucket, "data/a.bin", (1000,)), start_upload(s3, bucket, "data/sub/b.bin")}
    outside = {start_upload(s3, bucket, "other/c.bin", (500,)), start_upload(s3, bucket, "data2/d.bin")}
    proc = cleanup(s3server, f"s3://{bucket}/data/", "--older-than", "0s", "--yes")
    assert proc.returncode == 0, proc.stderr
    assert set(listed(proc)) == inside
    assert proc.stderr.splitlines() == ["aborted 2 stale multipart uploads (1000 B freed)"]
    assert open_ids(s3, bucket) == outside


def test_uploads_younger_than_the_age_are_not_listed(s3server, s3, bucket):
    upload_id = start_upload(s3, bucket, "data/a.bin", (100,))
    proc = cleanup(s3server, f"s3://{bucket}/data/", "--older-than", "1d", "--yes")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    assert proc.stderr.splitlines() == [f"no multipart uploads under s3://{bucket}/data/ older than 1d"]
    assert open_ids(s3, bucket) == {upload_id}


def test_bad_age_is_one_error_line_and_exit_code_2(s3server, bucket):
    proc = cleanup(s3server, f"s3://{bucket}/", "--older-than", "7x")
    line = error_line(proc)
    assert proc.returncode == 2
    assert "--older-than" in line and "'7x'" in line


def test_missing_bucket_is_one_clear_error_line(s3server):
    proc = cleanup(s3server, "s3://no-such-bucket-for-cleanup/", "--older-than", "0s")
    assert error_line(proc) == "bulkup: error: bucket 'no-such-bucket-for-cleanup' does not exist"
    assert proc.returncode == 1


def test_wrong_credentials_are_one_error_line_without_the_secret(s3server, bucket):
    env = {**s3server.env(), "AWS_ACCESS_KEY_ID": "NOSUCHKEY", "AWS_SECRET_ACCESS_KEY": "not-the-secret-42"}
    proc = cleanup(s3server, f"s3://{bucket}/", env=env)
    line = error_line(proc)
    assert "InvalidAccessKeyId" in line
    assert "not-the-secret-42" not in proc.stderr


def test_probe_objects_left_behind_are_listed_with_their_age_and_deleted_with_yes(s3server, s3, bucket):
    s3.put_object(Bucket=bucket, Key=PROBE, Body=b"")
    s3.put_object(Bucket=bucket, Key="data/.bulkup-probe-notes.txt", Body=b"a user's")
    upload_id = start_upload(s3, bucket, "data/a.bin", (100,))
    proc = cleanup(s3server, f"s3://{bucket}/data/", "--older-than", "0s")
    assert proc.returncode == 0, proc.stderr
    upload_line, probe_line = proc.stdout.splitlines()
    assert LINE.match(upload_line).group(6) == upload_id
    written, age, kind, size, url, version = PROBE_LINE.match(probe_line).groups()
    assert (kind, size, url, version) == ("probe object", "0 B", f"s3://{bucket}/{PROBE}", "-")
    assert re.fullmatch(r"\d+s|\d+m \d+s", age)
    assert proc.stderr.splitlines() == [
        "1 stale multipart upload (100 B held); run again with --yes to abort it",
        "1 leftover probe object (0 B); run again with --yes to delete it",
    ]
    assert keys_in(s3, bucket) == ["data/.bulkup-probe-notes.txt", PROBE]

    proc = cleanup(s3server, f"s3://{bucket}/data/", "--older-than", "0s", "--yes")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines() == [
        "aborted 1 stale multipart upload (100 B freed)",
        "deleted 1 leftover probe object",
    ]
    assert keys_in(s3, bucket) == ["data/.bulkup-probe-notes.txt"] and open_ids(s3, bucket) == set()


def test_every_version_of_a_probe_object_on_a_versioned_bucket_is_deleted(s3server, s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=bucket, Key=PROBE, Body=b"")
    s3.delete_object(Bucket=bucket, Key=PROBE)  # an older bulkup: a delete marker
    s3.put_object(Bucket=bucket, Key=PROBE, Body=b"")
    proc = cleanup(s3server, f"s3://{bucket}/", "--older-than", "0s", "--yes")
    assert proc.returncode == 0, proc.stderr
    assert sorted(PROBE_LINE.match(line).group(3) for line in proc.stdout.splitlines()) == [
        "delete marker",
        "probe object",
        "probe object",
    ]
    assert proc.stderr.splitlines() == ["deleted 3 leftover probe objects"]
    listed = s3.list_object_versions(Bucket=bucket)
    assert listed.get("Versions", []) == [] and listed.get("DeleteMarkers", []) == []


def test_a_bucket_whose_objects_cannot_be_listed_still_has_its_uploads_aborted_with_one_warning(s3server, s3, bucket):
    upload_id = start_upload(s3, bucket, "data/a.bin")
    deny = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": ["s3:ListBucket", "s3:ListBucketVersions"],
                "Resource": f"arn:aws:s3:::{bucket}",
            }
        ],
    }
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(deny))
    try:
        proc = cleanup(s3server, f"s3://{bucket}/", "--older-than", "0s", "--yes")
    finally:
        s3.delete_bucket_policy(Bucket=bucket)
    assert proc.returncode == 0, proc.stderr
    assert set(listed(proc)) == {upload_id} and open_ids(s3, bucket) == set()
    warning, summary = proc.stderr.splitlines()
    assert warning.startswith(f"bulkup: warning: could not look for probe objects under s3://{bucket}/: ")
    assert "AccessDenied" in warning and summary == "aborted 1 stale multipart upload (0 B freed)"


# -- the core, against the real server ----------------------------------------------------


def test_age_counts_from_the_servers_initiated_time(s3, bucket):
    before = datetime.now(UTC)
    upload_id = start_upload(s3, bucket, "a.bin")
    [found] = find_stale(s3, bucket, "", timedelta(0))
    assert found.upload_id == upload_id and found.initiated.tzinfo is not None
    assert before - timedelta(seconds=5) <= found.initiated <= datetime.now(UTC) + timedelta(seconds=5)
    later = found.initiated + timedelta(hours=2)
    assert [u.upload_id for u in find_stale(s3, bucket, "", timedelta(hours=1), now=later)] == [upload_id]
    assert list(find_stale(s3, bucket, "", timedelta(hours=3), now=later)) == []


def test_upload_that_vanishes_before_its_parts_are_listed_is_skipped(s3, bucket):
    kept = start_upload(s3, bucket, "kept.bin", (10,))
    gone = start_upload(s3, bucket, "gone.bin", (10,))

    class AbortsGoneFirst:
        """The real client, but "gone.bin" is completed/aborted elsewhere after the listing."""

        def get_paginator(self, name):
            if name == "list_parts" and gone in open_ids(s3, bucket):
                s3.abort_multipart_upload(Bucket=bucket, Key="gone.bin", UploadId=gone)
            return s3.get_paginator(name)

    assert [u.upload_id for u in find_stale(AbortsGoneFirst(), bucket, "", timedelta(0))] == [kept]


def test_abort_counts_unknown_uploads_as_gone_and_reports_failures(s3server, s3, bucket):
    now = datetime.now(UTC)
    real = StaleUpload("a.bin", start_upload(s3, bucket, "a.bin"), now, 0, 0)
    unknown = StaleUpload("b.bin", "no-such-upload-id", now, 0, 0)
    assert abort_uploads(s3, bucket, [real, unknown]) == (2, [])
    assert open_ids(s3, bucket) == set()

    denied = StaleUpload("c.bin", start_upload(s3, bucket, "c.bin"), now, 0, 0)
    limited = s3server.client(s3server.limited)  # may not touch this bucket
    aborted, failures = abort_uploads(limited, bucket, [denied])
    assert aborted == 0 and len(failures) == 1
    upload, reason = failures[0]
    assert upload == denied and reason.startswith("AccessDenied") and "\n" not in reason
    assert open_ids(s3, bucket) == {denied.upload_id}


def test_a_probes_leftover_is_stale_after_an_hour_whatever_longer_age_is_asked(s3, bucket):
    probe_upload = start_upload(s3, bucket, PROBE)
    start_upload(s3, bucket, "data/f.bin.bulkup-probe-notes")  # a user's: only after 7 days
    s3.put_object(Bucket=bucket, Key=PROBE, Body=b"")
    written = s3.head_object(Bucket=bucket, Key=PROBE)["LastModified"]
    later = written + timedelta(hours=1, minutes=5)
    assert [u.upload_id for u in find_stale(s3, bucket, "", timedelta(days=7), now=later)] == [probe_upload]
    assert [p.key for p in find_probe_objects(s3, bucket, "", timedelta(days=7), now=later)] == [PROBE]
    assert list(find_probe_objects(s3, bucket, "", timedelta(days=7), now=written + timedelta(minutes=55))) == []


# -- ages ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("90s", timedelta(seconds=90)),
        ("30m", timedelta(minutes=30)),
        ("12h", timedelta(hours=12)),
        ("7d", timedelta(days=7)),
        ("2w", timedelta(weeks=2)),
        ("0s", timedelta(0)),
        ("1d12h", timedelta(hours=36)),
        (" 7D ", timedelta(days=7)),
    ],
)
def test_parse_age_accepts_a_number_with_a_unit(text, expected):
    assert parse_age(text) == expected


@pytest.mark.parametrize("text", ["", "7", "7x", "-1d", "1.5h", "d", "7 d", "1d 2h", "99999999999w"])
def test_parse_age_rejects_anything_else_with_one_line(text):
    with pytest.raises(UsageError) as info:
        parse_age(text)
    assert "\n" not in str(info.value) and repr(text) in str(info.value)


@pytest.mark.parametrize(
    "age, shown",
    [
        (timedelta(seconds=7), "7s"),
        (timedelta(minutes=4, seconds=10), "4m 10s"),
        (timedelta(hours=5, minutes=12, seconds=59), "5h 12m"),
        (timedelta(days=9, hours=3, minutes=1), "9d 3h"),
        (timedelta(seconds=-3), "0s"),
    ],
)
def test_format_age_shows_the_two_largest_units(age, shown):
    assert format_age(age) == shown
