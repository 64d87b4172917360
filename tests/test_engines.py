"""Send engines: each one lands byte-exact, and the choice is explained."""
import pytest

import bulkup
from bulkup.engines import EngineUnavailable, choose_engine
from bulkup.plan import MiB

from conftest import assert_same_bytes, write_random_file


def test_plain_http_endpoint_uses_sendfile_byte_exact(aws_env, s3, bucket, tmp_path):
    path = write_random_file(tmp_path / "f.bin", 3 * 5 * MiB + 3)
    result = bulkup.upload(path, f"s3://{bucket}/f.bin", endpoint_url=aws_env.http_url, part_size=5 * MiB)
    assert result.ok, result.failed
    assert set(result.engines.values()) == {"sendfile"}
    assert_same_bytes(s3, bucket, "f.bin", path)


def test_https_endpoint_uses_userspace_tls_byte_exact(aws_env, s3, bucket, tmp_path):
    path = write_random_file(tmp_path / "f.bin", 2 * 5 * MiB + 3)
    result = bulkup.upload(path, f"s3://{bucket}/f.bin", endpoint_url=aws_env.https_url, part_size=5 * MiB)
    assert set(result.engines.values()) == {"user-space TLS (mmap)"}
    assert_same_bytes(s3, bucket, "f.bin", path)


def test_forcing_an_engine_that_cannot_run_fails_with_the_reason():
    with pytest.raises(EngineUnavailable, match="sendfile cannot run: TLS in user space"):
        choose_engine("sendfile", tls=True)
