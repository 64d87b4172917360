"""Send engines: each one lands byte-exact, and the choice is explained."""

import os

import pytest
from conftest import assert_same_bytes, expected_data_path, write_random_file

import bulkup
from bulkup.kernel import ktls
from bulkup.plan.parts import MiB
from bulkup.transport.engines import ENGINES, EngineUnavailable, choose_engine, path_label


@pytest.mark.parametrize("engine", ["uring", "sendfile", "userspace"])
def test_each_engine_lands_parts_byte_exact_on_plain_http(aws_env, s3, bucket, tmp_path, engine):
    if not ENGINES[engine].available(tls=False):
        pytest.skip(f"{engine}: {ENGINES[engine].available(tls=False).reason}")
    path = write_random_file(tmp_path / "f.bin", 4 * 5 * MiB + 12345)
    small = write_random_file(tmp_path / "s.bin", 1)
    result = bulkup.upload(
        [path, small],
        f"s3://{bucket}/",
        endpoint_url=aws_env.http_url,
        part_size=5 * MiB,
        engine=engine,
        workers=2,
        connections=2,
    )
    assert result.ok, result.failed
    assert {p.data_path for p in result.parts} == {path_label(ENGINES[engine], tls=False)}
    assert_same_bytes(s3, bucket, "f.bin", path)
    assert_same_bytes(s3, bucket, "s.bin", small)


def test_https_endpoint_uses_the_path_doctor_names_byte_exact(aws_env, s3, bucket, tmp_path):
    path = write_random_file(tmp_path / "f.bin", 2 * 5 * MiB + 3)
    result = bulkup.upload(path, f"s3://{bucket}/f.bin", endpoint_url=aws_env.https_url, part_size=5 * MiB)
    assert {p.data_path for p in result.parts} == {expected_data_path("https")}
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


def test_zero_copy_engine_on_a_connection_the_kernel_refused_falls_back_and_says_why(s3server, s3, bucket, tmp_path):
    """OpenSSL is asked for kTLS; where the kernel says no, the part still goes (user-space TLS)."""
    from bulkup.plan.files import FileIdentity
    from bulkup.transport.engines.sendfile import SendfileEngine
    from bulkup.transport.filebody import FileRange
    from bulkup.transport.messages import PartTask, WorkerConfig
    from bulkup.transport.request import BucketEndpoint, CredentialSet, RequestSigner
    from bulkup.transport.sender import PartSender

    if ktls.tls_ulp_available():
        pytest.skip("this kernel has kTLS: the kernel would not refuse")
    path = write_random_file(tmp_path / "f.bin", 70000)
    creds = CredentialSet(s3server.admin.access_key, s3server.admin.secret_key)
    config = WorkerConfig(region="us-east-1", credentials=creds, ca_bundle=s3server.ca_file)
    sender = PartSender(0, config, RequestSigner(creds, "us-east-1"), SendfileEngine(), lambda n: None)
    source = FileRange(path=path, offset=0, length=70000, expect=FileIdentity.of(os.stat(path)))
    task = PartTask(
        task_id=1,
        endpoint=BucketEndpoint.from_url(f"{s3server.https_url}/{bucket}"),
        key="f.bin",
        source=source,
        checksum_algorithm="crc64nvme",
    )
    done = sender.send(task)
    sender.close()
    assert done.data_path == "user-space TLS"
    assert "modprobe tls" in done.fallback
    assert_same_bytes(s3, bucket, "f.bin", path)
