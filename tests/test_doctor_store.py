"""`bulkup doctor s3://bucket/prefix/` answers a user's real questions about a destination:
do the credentials work, does the bucket exist, may they list, write and delete there, what
the store verifies and which data path runs. Each "no" names the fix."""

import json

import pytest
from conftest import LIMITED_BUCKET, keys_in, run_bulkup

pytestmark = pytest.mark.slow  # asks real servers


def doctor(server, where, *args, env=None):
    return run_bulkup("doctor", where, "--endpoint-url", server.url, *args, env=env or server.env())


def lines_of(stdout: str) -> dict[str, str]:
    """step name -> its line, for the lines "ok  name: ..." and "--  name: ..."."""
    found = {}
    for line in stdout.splitlines():
        mark, _, rest = line.strip().partition("  ")
        if mark in ("ok", "--"):
            found[rest.split(":", 1)[0]] = line.strip()
    return found


def test_credentials_that_may_write_get_a_yes_to_every_question_and_leave_nothing(s3server, s3, bucket):
    proc = doctor(s3server, f"s3://{bucket}/p/")
    assert proc.returncode == 0, proc.stderr
    steps = lines_of(proc.stdout)
    assert list(steps) == ["credentials", "bucket", "list", "write", "delete"]
    assert all(line.startswith("ok  ") for line in steps.values()), steps
    assert "from the environment" in steps["credentials"] and s3server.admin.access_key not in proc.stdout
    assert f"s3://{bucket}/p/.bulkup-doctor-" in steps["write"]
    assert "crc64nvme: verified" in proc.stdout and "data path: " in proc.stdout
    assert keys_in(s3, bucket) == []  # the object written was deleted


def test_a_wrong_secret_is_named_as_the_credentials_fault_with_the_fix(s3server, bucket):
    env = {**s3server.env(), "AWS_SECRET_ACCESS_KEY": "not-the-secret"}
    proc = doctor(s3server, f"s3://{bucket}/p/", env=env)
    assert proc.returncode == 1
    line = lines_of(proc.stdout)["credentials"]
    assert line.startswith("--  credentials:") and "AWS_SECRET_ACCESS_KEY" in line, line
    assert "not-the-secret" not in proc.stdout + proc.stderr


def test_a_missing_bucket_is_named_with_the_fix(s3server):
    proc = doctor(s3server, "s3://no-such-bucket-here/p/")
    assert proc.returncode == 1
    line = lines_of(proc.stdout)["bucket"]
    assert line.startswith("--  bucket: no such bucket") and "create the bucket" in line, line


def test_an_identity_limited_to_another_bucket_is_told_which_permission_it_lacks(s3server, bucket):
    proc = doctor(s3server, f"s3://{bucket}/p/", env=s3server.env(s3server.limited))
    assert proc.returncode == 1
    steps = lines_of(proc.stdout)
    failed = [line for line in steps.values() if line.startswith("--")]
    assert len(failed) == 1 and "access denied" in failed[0] and "allow s3:" in failed[0], steps


def test_the_same_identity_passes_where_it_may_write(s3server, s3):
    if LIMITED_BUCKET not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
        s3.create_bucket(Bucket=LIMITED_BUCKET)
    proc = doctor(s3server, f"s3://{LIMITED_BUCKET}/p/", "--json", env=s3server.env(s3server.limited))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    access = json.loads(proc.stdout)["store"]["access"]
    assert [(s["name"], s["ok"]) for s in access] == [
        ("credentials", True),
        ("bucket", True),
        ("list", True),
        ("write", True),
        ("delete", True),
    ]


def test_an_untrusted_certificate_says_to_give_the_ca(s3server, bucket):
    env = {k: v for k, v in s3server.env().items() if k != "AWS_CA_BUNDLE"}
    proc = doctor(s3server, f"s3://{bucket}/p/", env=env)
    assert proc.returncode == 1
    assert "TLS certificate verification failed" in proc.stdout and "--ca-bundle FILE" in proc.stdout
