"""The messages sent once per part cross the pipe as their values: unpickled equal to what
was sent, without a dataclass's dict of field names."""

import pickle

from hypothesis import given
from hypothesis import strategies as st

from bulkup.plan.files import FileIdentity
from bulkup.transport.filebody import FileRange
from bulkup.transport.messages import BytesSent, PartDone, PartTask
from bulkup.transport.request import BucketEndpoint

ENDPOINT = BucketEndpoint("https", "127.0.0.1", 443, "/bench", "us-east-1")
maybe_int = st.none() | st.integers(min_value=0, max_value=2**64)
identities = st.builds(
    FileIdentity, size=st.integers(0, 2**50), mtime_ns=maybe_int, ctime_ns=maybe_int, inode=maybe_int, device=maybe_int
)


def a_task(identity: FileIdentity | None, task_id: int = 7) -> PartTask:
    source = FileRange(path="/data/f.bin", offset=0, length=16384, expect=identity)
    return PartTask(
        task_id=task_id,
        endpoint=ENDPOINT,
        key="p/f.bin",
        source=source,
        checksum_algorithm="crc64nvme",
        headers=(("Content-Type", "application/octet-stream"),),
    )


def a_done(identity: FileIdentity | None) -> PartDone:
    return PartDone(
        task_id=7,
        etag='"e"',
        checksum="AAAAAAAAAAA=",
        worker=1,
        pid=42,
        connection="42:1",
        request_on_connection=3,
        attempts=1,
        echoed=True,
        source_seen=identity,
    )


@given(identities, st.integers(0, 2**40))
def test_a_task_and_its_answer_arrive_equal_to_what_was_sent(identity, task_id):
    for message in (a_task(identity, task_id), a_done(identity), BytesSent(worker=0, nbytes=task_id)):
        arrived = pickle.loads(pickle.dumps(message, protocol=5))
        assert arrived == message and type(arrived) is type(message)


def test_the_field_names_do_not_cross_the_pipe():
    sent = pickle.dumps([a_task(FileIdentity(size=1, mtime_ns=2)), a_done(None)], protocol=5)
    for name in (b"task_id", b"checksum_algorithm", b"source_seen", b"mtime_ns", b"offset"):
        assert name not in sent
