"""Credentials that rotate during a run reach every sender before the old ones expire.

The session's credentials are refreshable (as from STS, SSO or an instance role) and always
inside botocore's 15-minute advisory window, so each look at them asks the provider again;
the provider hands out the server's second admin key pair once the run is under way. The
fault proxy records which key signed each request.
"""

from datetime import UTC, datetime, timedelta

import boto3
import botocore.session
import pytest
from botocore.credentials import CredentialProvider, RefreshableCredentials
from conftest import assert_same_bytes, write_random_file

import bulkup
from devtools.faultproxy import FaultProxy, upload_part_of
from devtools.timescale import scaled, time_scale

pytestmark = pytest.mark.slow  # end to end through processes and servers

MiB = 1024 * 1024


class RotatingProvider(CredentialProvider):
    """Hands out ``first`` until ``rotated()`` says so, then ``then``; always 12 minutes
    from expiry."""

    METHOD = "rotating-test"

    def __init__(self, first, then, rotated) -> None:
        super().__init__()
        self.first, self.then, self.rotated = first, then, rotated

    def load(self) -> RefreshableCredentials:
        return RefreshableCredentials.create_from_metadata(self._metadata(), self._metadata, self.METHOD)

    def _metadata(self) -> dict:
        who = self.then if self.rotated() else self.first
        expiry = datetime.now(UTC) + timedelta(minutes=12)
        return {
            "access_key": who.access_key,
            "secret_key": who.secret_key,
            "token": None,
            "expiry_time": expiry.isoformat(),
        }


def rotating_session(server, proxy: FaultProxy, after_parts: int) -> boto3.Session:
    """A session whose key pair turns into ``server.rotated`` once ``after_parts`` parts
    have been accepted through ``proxy``."""

    def rotated() -> bool:
        return sum(1 for r in proxy.snapshot() if upload_part_of(r) and r.status == 200) >= after_parts

    core = botocore.session.Session()
    core.get_component("credential_provider").insert_before(
        "env", RotatingProvider(server.admin, server.rotated, rotated)
    )
    return boto3.Session(botocore_session=core, region_name="us-east-1")


def upload_rotating(server, s3, bucket, tmp_path, size: int, **options) -> list:
    """Upload one file in 5 MiB parts through a paced proxy while the credentials rotate
    after two parts; returns the UploadPart records. The pace is slower on a slower machine
    (by the time scale), so the run outlasts the time the new key is given to reach every
    sender."""
    path = write_random_file(tmp_path / "f.bin", size)
    with FaultProxy(server.http_url, body_rate=10 * MiB / time_scale()) as proxy:
        result = bulkup.upload(
            path,
            f"s3://{bucket}/f.bin",
            endpoint_url=proxy.url,
            session=rotating_session(server, proxy, after_parts=2),
            part_size=5 * MiB,
            addressing_style="path",
            **options,
        )
        records = [r for r in proxy.records if upload_part_of(r)]
    assert result.ok, result.failed
    assert_same_bytes(s3, bucket, "f.bin", path)
    return records


def assert_senders_moved_to_the_new_key(records, server, within: float = 1.0) -> None:
    """Parts were signed with the old key, then with the new one; a request that started more
    than ``within`` seconds (on a usual machine, scaled to this one) after the first newly
    signed one used the new key."""
    within = scaled(within)
    keys = [r.access_key for r in records]
    assert keys[0] == server.admin.access_key and server.rotated.access_key in keys
    first_new = min(r.started for r in records if r.access_key == server.rotated.access_key)
    late = [r for r in records if r.started > first_new + within]
    assert late and {r.access_key for r in late} == {server.rotated.access_key}


def test_rotated_credentials_reach_every_worker_process(s3server, s3, bucket, tmp_path, quick_credential_checks):
    records = upload_rotating(s3server, s3, bucket, tmp_path, 60 * MiB, workers=2, connections=1)
    assert_senders_moved_to_the_new_key(records, s3server)
