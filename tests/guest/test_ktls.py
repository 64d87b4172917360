"""Inside a kernel with kTLS: part bodies leave through the kernel, encrypted by it.

These run only in the guest kernel booted by tests/test_ktls_guest.py (BULKUP_GUEST=1). Every
test asserts the kernel's own evidence: getsockopt(SOL_TLS, TLS_TX) on each connection used
(a part is labelled kTLS+... only when it said yes) and /proc/net/tls_stat.
"""

import subprocess

import pytest
from conftest import assert_same_bytes, write_random_file

import bulkup
from bulkup.kernel import ktls

MiB = 1 << 20
PART = 5 * MiB
ENGINE_PATHS = {"uring": "kTLS+io_uring", "sendfile": "kTLS+sendfile"}


@pytest.fixture(scope="module", autouse=True)
def tls_module():
    subprocess.run(["modprobe", "tls"], check=False)
    assert ktls.tls_ulp_available(), "this guest kernel should have kTLS"


def upload(server, path, dest, **options):
    return bulkup.upload(
        path, dest, endpoint_url=server.https_url, session=server.session(), ca_bundle=server.ca_file, **options
    )


@pytest.mark.parametrize("tls_version", ["1.2", "1.3"])
@pytest.mark.parametrize("engine", ["uring", "sendfile"])
def test_multipart_upload_goes_through_kernel_tls_byte_exact(s3server, s3, bucket, tmp_path, engine, tls_version):
    path = write_random_file(tmp_path / "f.bin", 3 * PART + 12345)
    before = ktls.tls_stat()
    result = upload(
        s3server,
        path,
        f"s3://{bucket}/f.bin",
        engine=engine,
        workers=2,
        connections=1,
        part_size=PART,
        tls_max_version=tls_version,
    )
    after = ktls.tls_stat()
    assert result.ok, result.failed
    assert_same_bytes(s3, bucket, "f.bin", path)
    connections = {p.connection for p in result.parts}
    assert {p.data_path for p in result.parts} == {ENGINE_PATHS[engine]}  # TLS_TX said yes
    assert len({p.pid for p in result.parts}) == 2
    assert after["TlsTxSw"] - before["TlsTxSw"] == len(connections)  # kernel counted them
    # TLS 1.2 receive is offloaded too (responses then come through the kernel); 1.3's is not.
    assert {p.ktls_rx for p in result.parts} == {tls_version == "1.2"}


def peak_worker_memory(server, s3, bucket, tmp_path, engine: str, size: int) -> int:
    """A worker's peak RSS sending one ``size`` body in one PUT, checksum off (a checksum is
    the one pass that must read the data); the lower of two runs, as one run's peak can
    carry a couple of MiB of allocator noise."""
    path = write_random_file(tmp_path / f"{size}.bin", size)
    peaks = []
    for attempt in range(2):
        result = upload(
            server,
            path,
            f"s3://{bucket}/{engine}-{size}-{attempt}.bin",
            engine=engine,
            workers=1,
            checksum="none",
            multipart_threshold=64 * MiB,
        )
        assert result.ok, result.failed
        if engine in ENGINE_PATHS:
            assert result.parts[0].data_path == ENGINE_PATHS[engine]
        assert_same_bytes(s3, bucket, f"{engine}-{size}-{attempt}.bin", path)
        peaks.append(result.workers[0].max_rss)
    return min(peaks)


@pytest.mark.parametrize("engine", ["uring", "sendfile"])
def test_body_bytes_never_enter_user_space(s3server, s3, bucket, tmp_path, engine):
    """The worker's peak memory stays flat while the body grows 100x."""
    small, large = (peak_worker_memory(s3server, s3, bucket, tmp_path, engine, size) for size in (512 * 1024, 50 * MiB))
    assert large - small < 8 * MiB
