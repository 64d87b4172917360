"""Secrets, signatures and tokens never appear in anything bulkup prints or logs."""
import re

from conftest import run_bulkup, write_random_file

SIGNATURE = re.compile(r"Signature=[0-9a-f]{16,}|X-Amz-Signature=[0-9a-f]{16,}", re.I)


def assert_no_secrets(text: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in text
    assert not SIGNATURE.search(text)


def test_debug_output_of_an_upload_holds_no_secret_or_signature(s3server, s3, bucket, tmp_path):
    small = write_random_file(tmp_path / "a.txt", 100)
    large = write_random_file(tmp_path / "b.bin", 12 * 1024 * 1024)
    proc = run_bulkup("--debug", "put", small, large, f"s3://{bucket}/",
                      "--endpoint-url", s3server.https_url, env=s3server.env())
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Authorization" in proc.stderr or "authorization" in proc.stderr   # debug really logged headers
    assert_no_secrets(proc.stdout + proc.stderr, s3server.admin.secret_key)


def test_session_token_is_never_printed_even_when_the_request_fails(s3server, bucket, tmp_path):
    token = "SESSIONTOKEN" + "x" * 40
    env = {**s3server.env(), "AWS_SESSION_TOKEN": token, "AWS_SECRET_ACCESS_KEY": "wrong-secret-value"}
    path = write_random_file(tmp_path / "a.txt", 100)
    proc = run_bulkup("--debug", "put", path, f"s3://{bucket}/", "--endpoint-url", s3server.https_url,
                      env=env)
    assert proc.returncode != 0
    assert_no_secrets(proc.stdout + proc.stderr, token, "wrong-secret-value")


def test_debug_is_taken_after_the_command_too():
    proc = run_bulkup("doctor", "--debug")
    assert proc.returncode == 0, proc.stderr
