"""Send engines: each one lands byte-exact, and the choice is explained."""
import pytest

import bulkup
from bulkup import ktls
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


def test_forcing_sendfile_for_https_without_kernel_tls_names_the_fix():
    if ktls.tls_ulp_available():
        pytest.skip("this kernel has kTLS: sendfile can run over https")
    with pytest.raises(EngineUnavailable, match=r"sendfile cannot run: .*modprobe tls"):
        choose_engine("sendfile", tls=True)


def test_https_falls_back_to_userspace_tls_when_the_kernel_has_no_tls():
    if ktls.tls_ulp_available():
        pytest.skip("this kernel has kTLS")
    engine, reason = choose_engine("auto", tls=True)
    assert engine.name == "userspace" and "sendfile: needs kernel TLS" in reason
