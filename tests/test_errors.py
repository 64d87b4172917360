"""Bad input: one clear line naming the cause, a non-zero exit, and nothing left behind."""

import json
import os
import socket
import subprocess

import pytest
from conftest import data_uploads, error_line, keys_in, open_uploads, run_bulkup, write_random_file

from devtools.faultproxy import FaultProxy, completes_upload, is_probe

SMALL = 1000
LARGE = 12 * 1024 * 1024  # multipart at the default 8 MiB threshold


@pytest.fixture
def files(tmp_path):
    return (write_random_file(tmp_path / "small.txt", SMALL), write_random_file(tmp_path / "large.bin", LARGE))


def put(server, *args, env=None):
    return run_bulkup("put", *args, "--endpoint-url", server.https_url, env=env or server.env())


def assert_nothing_left(s3, bucket):
    assert keys_in(s3, bucket) == []
    assert open_uploads(s3, bucket) == []


def test_missing_source_is_named(s3server, s3, bucket, tmp_path):
    line = error_line(put(s3server, str(tmp_path / "nope.bin"), f"s3://{bucket}/"))
    assert "nope.bin: no such file or directory" in line
    assert_nothing_left(s3, bucket)


def test_unreadable_source_is_named(s3server, s3, bucket, tmp_path):
    path = write_random_file(tmp_path / "secret.bin", 10)
    os.chmod(path, 0)
    os.chmod(tmp_path, 0o755)
    proc = run_bulkup(
        "put",
        path,
        f"s3://{bucket}/",
        "--endpoint-url",
        s3server.https_url,
        env=s3server.env(),
        preexec_fn=_without_root_file_access,
    )
    assert "secret.bin: permission denied" in error_line(proc)
    assert_nothing_left(s3, bucket)


def _without_root_file_access() -> None:
    """Drop CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH so file modes apply even to root."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2):
        libc.prctl(24, capability, 0, 0, 0)  # PR_CAPBSET_DROP


def test_directory_where_a_single_object_is_expected(s3server, s3, bucket, tmp_path):
    write_random_file(tmp_path / "dir" / "a", 10)
    line = error_line(put(s3server, str(tmp_path / "dir"), f"s3://{bucket}/one-object"))
    assert "is a directory" in line and "end the destination with '/'" in line
    assert_nothing_left(s3, bucket)


@pytest.mark.parametrize(
    "url,cause",
    [("bucket/key", "not an S3 URL"), ("s3://", "no bucket name"), ("s3://bad_bucket!/k", "invalid bucket name")],
)
def test_bad_s3_url_is_named(s3server, files, url, cause):
    assert cause in error_line(put(s3server, files[0], url))


def test_missing_bucket_is_named(s3server, s3, files):
    line = error_line(put(s3server, *files, "s3://no-such-bucket-here/"))
    assert "bucket 'no-such-bucket-here' does not exist" in line
    assert "no-such-bucket-here" not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


@pytest.mark.parametrize("which", ["small", "large"])
def test_wrong_secret_key_is_named(s3server, s3, bucket, files, which):
    env = {**s3server.env(), "AWS_SECRET_ACCESS_KEY": "not-the-secret"}
    line = error_line(put(s3server, files[which == "large"], f"s3://{bucket}/", env=env))
    assert "SignatureDoesNotMatch" in line and "wrong secret key" in line
    assert_nothing_left(s3, bucket)


def test_identity_without_write_permission_gets_access_denied(s3server, s3, bucket, files):
    env = s3server.env(s3server.limited)
    line = error_line(put(s3server, *files, f"s3://{bucket}/", env=env))
    assert "AccessDenied" in line
    assert_nothing_left(s3, bucket)


def test_unreachable_endpoint_is_named(s3server, files):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    proc = run_bulkup(
        "put", files[0], "s3://bucket/", "--endpoint-url", f"https://127.0.0.1:{port}", env=s3server.env()
    )
    assert f"cannot connect to endpoint 127.0.0.1:{port}" in error_line(proc)


def test_certificate_not_matching_the_host_is_refused(s3server, s3, bucket, files):
    # The server's certificate names 127.0.0.1 only; "localhost" reaches it but must not match.
    url = s3server.https_url.replace("127.0.0.1", "localhost")
    proc = run_bulkup("put", files[0], f"s3://{bucket}/", "--endpoint-url", url, env=s3server.env())
    line = error_line(proc)
    assert "TLS certificate verification failed for localhost" in line and "doesn't match" in line
    assert "a name the certificate holds" in line  # what to do
    assert_nothing_left(s3, bucket)


def test_untrusted_certificate_is_refused_by_default(s3server, s3, bucket, files):
    env = {k: v for k, v in s3server.env().items() if k != "AWS_CA_BUNDLE"}
    line = error_line(put(s3server, files[0], f"s3://{bucket}/", env=env))
    assert "TLS certificate verification failed for 127.0.0.1" in line and "--ca-bundle FILE" in line
    assert_nothing_left(s3, bucket)


def test_no_verify_ssl_works_but_warns_loudly(s3server, s3, bucket, files):
    env = {k: v for k, v in s3server.env().items() if k != "AWS_CA_BUNDLE"}
    proc = put(s3server, *files, f"s3://{bucket}/", "--no-verify-ssl", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "TLS certificate verification is OFF" in proc.stderr.splitlines()[0]
    assert keys_in(s3, bucket) == ["large.bin", "small.txt"]


# A call that keeps failing is retried until --retry-deadline (5 minutes by default): these
# tests are about what is said and kept after that, so they give up after a few seconds.
GIVE_UP_SOON = ("--retry-deadline", "3s")


@pytest.mark.slow
def test_a_control_plane_call_that_keeps_failing_is_one_line_and_put_aborts_its_upload(s3server, s3, bucket, files):
    _, large = files
    with FaultProxy(s3server.http_url, reset_rate=1.0, applies_to=completes_upload) as proxy:
        proc = run_bulkup(
            "put", large, f"s3://{bucket}/large.bin", "--endpoint-url", proxy.url, *GIVE_UP_SOON, env=s3server.env()
        )
    line = error_line(proc, 1)
    assert "CompleteMultipartUpload" in line or "connection" in line.lower()
    assert_nothing_left(s3, bucket)


@pytest.mark.slow
def test_a_control_plane_call_that_keeps_failing_keeps_a_migrations_upload_for_resuming(
    s3server, s3, bucket, files, tmp_path
):
    _, large = files
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps({"source": large, "destination": f"s3://{bucket}/large.bin"}) + "\n")
    with FaultProxy(s3server.http_url, reset_rate=1.0, applies_to=completes_upload) as proxy:
        proc = run_bulkup(
            "migrate",
            str(manifest),
            "--endpoint-url",
            proxy.url,
            "--progress",
            "none",
            *GIVE_UP_SOON,
            env=s3server.env(),
        )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "rerun to resume" in proc.stderr
    assert len(data_uploads(s3, bucket)) == 1
    proc = run_bulkup(
        "migrate", str(manifest), "--endpoint-url", s3server.http_url, "--progress", "none", env=s3server.env()
    )
    assert proc.returncode == 0, proc.stderr
    assert data_uploads(s3, bucket) == [] and keys_in(s3, bucket) == ["large.bin"]


@pytest.mark.slow
def test_a_store_that_says_the_clock_is_wrong_ends_the_run_at_once_with_the_skew(s3server, s3, bucket, files):
    small, large = files
    with FaultProxy(s3server.http_url, skewed_by=-1200.0, applies_to=lambda method, target: method == "PUT") as proxy:
        proc = run_bulkup("put", small, large, f"s3://{bucket}/", "--endpoint-url", proxy.url, env=s3server.env())
        puts = [r for r in proxy.records if r.method == "PUT" and not is_probe(r.target)]
    line = error_line(proc, 1)
    assert "clock" in line and "20 min" in line and "behind" in line
    assert len(puts) <= 4  # no part was tried again and again
    assert_nothing_left(s3, bucket)


def test_a_file_larger_than_s3s_largest_object_is_one_line_before_any_byte(s3server, s3, bucket, tmp_path):
    roomy = tmp_path / "tmpfs"  # ext4 cannot hold a 49 TiB file, even sparse
    roomy.mkdir()
    if (
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(roomy)], capture_output=True).returncode
        != 0
    ):
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        huge = roomy / "huge.bin"
        with open(huge, "wb") as f:
            f.truncate(49 * 1024**4)
        line = error_line(put(s3server, str(huge), f"s3://{bucket}/"))
    finally:
        subprocess.run(["umount", str(roomy)], capture_output=True)
    assert "huge.bin" in line and "48.8 TiB" in line
    assert_nothing_left(s3, bucket)
