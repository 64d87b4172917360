"""Secrets, signatures and tokens never appear in anything bulkup prints or logs."""

import hashlib
import http.server
import json
import re
import threading
import time

import pytest
from conftest import run_bulkup, write_random_file

SIGNATURE = re.compile(r"Signature=[0-9a-f]{16,}|X-Amz-Signature=[0-9a-f]{16,}|Signature:\s*[0-9a-f]{64}", re.I)


def assert_no_secrets(text: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in text
    assert not SIGNATURE.search(text)


def test_debug_output_of_an_upload_holds_no_secret_or_signature(s3server, s3, bucket, tmp_path):
    small = write_random_file(tmp_path / "a.txt", 100)
    large = write_random_file(tmp_path / "b.bin", 12 * 1024 * 1024)
    proc = run_bulkup(
        "--debug", "put", small, large, f"s3://{bucket}/", "--endpoint-url", s3server.https_url, env=s3server.env()
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Authorization" in proc.stderr or "authorization" in proc.stderr  # debug really logged headers
    assert_no_secrets(proc.stdout + proc.stderr, s3server.admin.secret_key)


def test_session_token_is_never_printed_even_when_the_request_fails(s3server, bucket, tmp_path):
    token = "SESSIONTOKEN" + "x" * 40
    env = {**s3server.env(), "AWS_SESSION_TOKEN": token, "AWS_SECRET_ACCESS_KEY": "wrong-secret-value"}
    path = write_random_file(tmp_path / "a.txt", 100)
    proc = run_bulkup("--debug", "put", path, f"s3://{bucket}/", "--endpoint-url", s3server.https_url, env=env)
    assert proc.returncode != 0
    assert_no_secrets(proc.stdout + proc.stderr, token, "wrong-secret-value")


def test_debug_is_taken_after_the_command_too(s3server, bucket, tmp_path):
    path = write_random_file(tmp_path / "a.txt", 100)
    proc = run_bulkup(
        "put", path, f"s3://{bucket}/", "--endpoint-url", s3server.https_url, "--debug", env=s3server.env()
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "bulkup: debug:" in proc.stderr  # it really logs at debug level
    assert_no_secrets(proc.stdout + proc.stderr, s3server.admin.secret_key)


# -- role credentials: what STS and SSO answer must not reach the output -----------------------

LEAKED = re.compile(
    r"<(SecretAccessKey|SessionToken)>(?!<redacted>)[^<]+<|"
    r"[\"'](secretAccessKey|sessionToken|SecretAccessKey|SessionToken)[\"']\s*:\s*b?[\"'](?!<redacted>)[^\"']+"
)


def role_profile(tmp_path, sts_url: str, **profile: str) -> dict[str, str]:
    """AWS config for a profile ``role`` (as given), with STS (and SSO) on ``sts_url``."""
    config = tmp_path / "config"
    config.write_text(
        "[profile role]\n"
        + "".join(f"{k} = {v}\n" for k, v in profile.items())
        + "[profile base]\nregion = us-east-1\n"
    )
    credentials = tmp_path / "credentials"
    credentials.write_text(
        "[base]\naws_access_key_id = AKIDBASEEXAMPLE\naws_secret_access_key = base-secret-never-shown-0123456789\n"
    )
    return {
        "AWS_CONFIG_FILE": str(config),
        "AWS_SHARED_CREDENTIALS_FILE": str(credentials),
        "AWS_ENDPOINT_URL_STS": sts_url,
        "AWS_ENDPOINT_URL_SSO": sts_url,
        "AWS_DEFAULT_REGION": "us-east-1",
        "HOME": str(tmp_path),
    }


def debug_put(moto_server, tmp_path, env) -> str:
    moto_server.client().create_bucket(Bucket="roles")
    path = write_random_file(tmp_path / "a.txt", 100)
    proc = run_bulkup(
        "--debug", "put", path, "s3://roles/", "--endpoint-url", moto_server.url, "--profile", "role", env=env
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout + proc.stderr


@pytest.mark.slow
def test_debug_shows_no_credentials_from_assume_role(moto_server, tmp_path):
    env = role_profile(
        tmp_path, moto_server.url, role_arn="arn:aws:iam::123456789012:role/uploader", source_profile="base"
    )
    output = debug_put(moto_server, tmp_path, env)
    assert "AssumeRole" in output  # the role really was assumed, with --debug on
    assert not LEAKED.search(output)
    assert_no_secrets(output, "base-secret-never-shown-0123456789")


@pytest.mark.slow
def test_debug_shows_no_web_identity_token(moto_server, tmp_path):
    token = tmp_path / "token"
    token.write_text("web-identity-token-never-shown-" + "y" * 40)
    env = role_profile(
        tmp_path,
        moto_server.url,
        role_arn="arn:aws:iam::123456789012:role/uploader",
        web_identity_token_file=str(token),
    )
    output = debug_put(moto_server, tmp_path, env)
    assert "AssumeRoleWithWebIdentity" in output
    assert not LEAKED.search(output)
    assert_no_secrets(output, token.read_text())


class SsoPortal(http.server.BaseHTTPRequestHandler):
    """The SSO portal's GetRoleCredentials, answering fixed role credentials."""

    def do_GET(self):
        body = json.dumps(
            {
                "roleCredentials": {
                    "accessKeyId": "ASIASSOEXAMPLE",
                    "secretAccessKey": "sso-secret-never-shown-" + "z" * 30,
                    "sessionToken": "sso-session-token-never-shown-" + "w" * 60,
                    "expiration": int((time.time() + 3600) * 1000),
                }
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.mark.slow
def test_debug_shows_no_sso_token_or_credentials(moto_server, tmp_path):
    portal = http.server.ThreadingHTTPServer(("127.0.0.1", 0), SsoPortal)
    threading.Thread(target=portal.serve_forever, daemon=True).start()
    start_url = "https://example.awsapps.com/start"
    cache = tmp_path / ".aws" / "sso" / "cache"
    cache.mkdir(parents=True)
    access_token = "sso-access-token-never-shown-" + "v" * 50
    (cache / (hashlib.sha1(start_url.encode()).hexdigest() + ".json")).write_text(
        json.dumps(
            {
                "startUrl": start_url,
                "region": "us-east-1",
                "accessToken": access_token,
                "expiresAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600)),
            }
        )
    )
    env = role_profile(
        tmp_path,
        f"http://127.0.0.1:{portal.server_address[1]}",
        sso_start_url=start_url,
        sso_region="us-east-1",
        sso_account_id="123456789012",
        sso_role_name="uploader",
    )
    try:
        output = debug_put(moto_server, tmp_path, env)
    finally:
        portal.shutdown()
    assert "GetRoleCredentials" in output
    assert not LEAKED.search(output)
    assert_no_secrets(
        output, access_token, "sso-secret-never-shown-" + "z" * 30, "sso-session-token-never-shown-" + "w" * 60
    )


def test_one_trust_store_for_control_plane_and_workers_the_systems(s3server, s3, bucket, tmp_path):
    """A CA only in the system store (OpenSSL's SSL_CERT_FILE here) is trusted by boto3's
    calls and by the workers alike; certifi's list does not hold it."""
    path = write_random_file(tmp_path / "big.bin", 11 * 1024 * 1024)
    env = {k: v for k, v in s3server.env().items() if k != "AWS_CA_BUNDLE"}
    env["SSL_CERT_FILE"] = s3server.ca_file
    proc = run_bulkup(
        "put", path, f"s3://{bucket}/big.bin", "--endpoint-url", s3server.https_url, "--part-size", "5MiB", env=env
    )
    assert proc.returncode == 0, proc.stderr
    assert s3.head_object(Bucket=bucket, Key="big.bin")["ContentLength"] == 11 * 1024 * 1024


@pytest.mark.slow
def test_a_ca_bundle_replaces_the_system_store_for_both(s3server, bucket, tmp_path):
    path = write_random_file(tmp_path / "a.txt", 100)
    env = {k: v for k, v in s3server.env().items() if k != "AWS_CA_BUNDLE"}
    env["SSL_CERT_FILE"] = s3server.ca_file  # the system would trust it...
    other = tmp_path / "other-ca.pem"
    import trustme

    trustme.CA().cert_pem.write_to_path(str(other))
    proc = run_bulkup(
        "put", path, f"s3://{bucket}/", "--endpoint-url", s3server.https_url, "--ca-bundle", str(other), env=env
    )  # ...but only this bundle counts
    assert proc.returncode == 2 or proc.returncode == 1
    assert "certificate verification failed" in proc.stderr
