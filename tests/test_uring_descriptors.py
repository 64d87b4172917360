"""The io_uring engine holds a fixed number of descriptors however often connections are
remade (it once kept a pipe per connection it had ever used: two descriptors leaked per
reconnect)."""

import os

import pytest
from conftest import write_random_file

import bulkup.transport.retry
from bulkup.plan.files import FileIdentity
from bulkup.plan.parts import MiB
from bulkup.transport.engines.uring import UringEngine
from bulkup.transport.filebody import FileRange
from bulkup.transport.messages import PartTask, WorkerConfig
from bulkup.transport.request import BucketEndpoint, CredentialSet, RequestSigner
from bulkup.transport.sender import PartSender
from devtools.faultproxy import FaultProxy
from devtools.timescale import scaled

pytestmark = pytest.mark.skipif(
    not UringEngine.available(tls=False), reason=f"io_uring: {UringEngine.available(tls=False).reason}"
)


def kernel_objects() -> int:
    """This process's pipes and anonymous inodes (io_uring rings): what an engine holds.
    The proxy's sockets, which come and go with its connections, are not counted."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        count += target.startswith(("pipe:", "anon_inode:"))
    return count


def test_uring_engine_descriptors_stay_flat_across_forced_reconnects(s3server, bucket, tmp_path, monkeypatch):
    monkeypatch.setattr(bulkup.transport.retry, "FIRST_PAUSE", 0.001)  # retry at once
    path = write_random_file(tmp_path / "f.bin", MiB)
    creds = CredentialSet(s3server.admin.access_key, s3server.admin.secret_key)
    config = WorkerConfig(region="us-east-1", credentials=creds, retry_deadline=scaled(120))
    with FaultProxy(s3server.http_url, seed=7, reset_rate=0.4) as proxy:
        sender = PartSender(0, config, RequestSigner(creds, "us-east-1"), UringEngine(), lambda n: None)
        endpoint = BucketEndpoint.from_url(f"{proxy.url}/{bucket}")

        def send(number: int) -> None:
            source = FileRange(path=path, offset=0, length=MiB, expect=FileIdentity.of(os.stat(path)))
            sender.send(
                PartTask(
                    task_id=number, endpoint=endpoint, key=f"k{number}", source=source, checksum_algorithm="crc64nvme"
                )
            )

        send(0)  # the ring and the engine's pipe now exist
        before = kernel_objects()
        for number in range(1, 40):
            send(number)
        after = kernel_objects()
        sender.close()
        connections = {r.connection for r in proxy.records}
    assert len(connections) >= 10, "the proxy should have forced many reconnects"
    assert after <= before
