"""The send loop: a worker's small objects from one thread, on non-blocking connections.

What it sends arrives intact, on no more connections than it was given. Whatever fails an
object's first attempt (a refusal, no connection, an answer past its deadline, a file that
changed) goes with its reason to the sender threads, whose retries take it from there
(through real faults, with the CLI: test_load_and_faults)."""

import os
import threading

import pytest
from conftest import keys_in, sha256_file, sha256_object, write_random_file
from test_slow_servers import ANSWER, BadServer, trickle, trickled

from bulkup.plan.files import FileIdentity
from bulkup.transport.engines.userspace import UserspaceEngine
from bulkup.transport.failures import PartFailed
from bulkup.transport.filebody import FileRange
from bulkup.transport.messages import PartDone, PartTask, WorkerConfig
from bulkup.transport.request import BucketEndpoint, CredentialSet, RequestSigner
from bulkup.transport.sender import PartSender
from bulkup.transport.sendloop import SMALL, SendLoop
from bulkup.transport.worker import SendingWorker
from devtools.faultproxy import FaultProxy
from devtools.timescale import scaled

KiB = 1 << 10


class Loop:
    """A SendLoop and what it said: answers, tasks handed over (with why), bytes sent."""

    def __init__(self, url: str, creds: CredentialSet, ca_file: str | None = None, **config) -> None:
        settings = {"connections": 3, "retry_deadline": 0, **config}
        self.config = WorkerConfig(region="us-east-1", credentials=creds, ca_bundle=ca_file, **settings)
        self.endpoint = BucketEndpoint.from_url(url)
        self.answers: list[object] = []
        self.handed_over: list[tuple[PartTask, PartFailed]] = []
        self.sent: list[int] = []
        self.loop = SendLoop(
            0,
            self.config,
            RequestSigner(creds, "us-east-1"),
            self.answers.append,
            lambda task, failure: self.handed_over.append((task, failure)),
            self.sent.append,
            lambda: None,
        )
        self._ids = iter(range(1, 1 << 30))

    def task(self, path, key: str | None = None) -> PartTask:
        st = os.stat(path)
        return PartTask(
            task_id=next(self._ids),
            endpoint=self.endpoint,
            key=key or os.path.basename(path),
            source=FileRange(path=str(path), offset=0, length=st.st_size, expect=FileIdentity.of(st)),
            checksum_algorithm="crc64nvme",
        )

    def send(self, *tasks: PartTask) -> None:
        """Submit ``tasks`` and run the loop until each is answered or handed over."""
        for task in tasks:
            self.loop.submit(task)
        self.run_until(lambda: self.loop.empty)

    def run_until(self, condition, seconds: float = 60) -> None:
        for _ in range(int(scaled(seconds) / 0.05)):
            if condition():
                return
            self.loop.poll(0.05)
        raise AssertionError("the loop did not get there")

    def close(self) -> None:
        self.loop.close()


@pytest.fixture
def admin(s3server):
    return CredentialSet(s3server.admin.access_key, s3server.admin.secret_key)


def test_small_objects_sent_by_the_loop_arrive_byte_for_byte_on_its_connections(s3server, s3, bucket, admin, tmp_path):
    sizes = [0, 1, 16 * KiB, 16 * KiB + 1, 100 * KiB, SMALL] + [(i * 7919) % (64 * KiB) for i in range(24)]
    paths = [write_random_file(tmp_path / f"f{i:02d}", size, seed=i) for i, size in enumerate(sizes)]
    sent = Loop(f"{s3server.https_url}/{bucket}", admin, s3server.ca_file)
    try:
        sent.send(*(sent.task(p) for p in paths))
    finally:
        sent.close()
    assert sent.handed_over == []
    done = [a for a in sent.answers if isinstance(a, PartDone)]
    assert len(done) == len(paths)
    assert keys_in(s3, bucket) == sorted(os.path.basename(p) for p in paths)
    for path in paths:
        assert sha256_object(s3, bucket, os.path.basename(path)) == sha256_file(path)
    assert len({d.connection for d in done}) <= 3  # the connections it was given, each reused
    assert all(d.data_path == "user-space TLS" and d.attempts == 1 for d in done)
    assert sum(sent.sent) == sum(sizes)


def test_an_object_larger_than_small_or_a_part_of_an_upload_is_not_the_loops():
    endpoint = BucketEndpoint.from_url("https://127.0.0.1:1/b")

    def task(length: int, upload_id: str | None = None) -> PartTask:
        source = FileRange(path="/f", offset=0, length=length)
        part = 1 if upload_id else None
        return PartTask(task_id=1, endpoint=endpoint, key="k", source=source, checksum_algorithm="crc64nvme",
                        upload_id=upload_id, part_number=part)  # fmt: skip

    assert SendLoop.takes(task(SMALL)) and SendLoop.takes(task(0))
    assert not SendLoop.takes(task(SMALL + 1))
    assert not SendLoop.takes(task(5 << 20, upload_id="u"))


def test_a_refused_object_goes_to_the_threads_with_the_stores_reason(s3server, s3, bucket, tmp_path):
    path = write_random_file(tmp_path / "f", 4 * KiB)
    wrong = CredentialSet(s3server.admin.access_key, "not-the-secret")
    sent = Loop(f"{s3server.https_url}/{bucket}", wrong, s3server.ca_file)
    try:
        sent.send(sent.task(path))
    finally:
        sent.close()
    assert sent.answers == []
    [(task, failure)] = sent.handed_over
    assert "SignatureDoesNotMatch" in str(failure) and not failure.retryable
    assert keys_in(s3, bucket) == []


def test_an_endpoint_that_refuses_connections_hands_the_object_over_to_be_retried(tmp_path):
    path = write_random_file(tmp_path / "f", 4 * KiB)
    sent = Loop("http://127.0.0.1:1/b", CredentialSet("AKID", "secret"))
    try:
        sent.send(sent.task(path))
    finally:
        sent.close()
    [(_, failure)] = sent.handed_over
    assert "connection refused" in str(failure) and failure.retryable and failure.code == "connection"


def test_an_answer_trickled_past_its_deadline_is_cut_and_handed_over(tmp_path):
    path = write_random_file(tmp_path / "f", 1000)
    server = BadServer(trickle)
    trickled.clear()
    sent = Loop(f"{server.url}/b", CredentialSet("AKID", "secret"), timeout=1.0, min_rate=1 << 20)
    try:
        sent.send(sent.task(path))
        sent_when_cut = len(trickled)
    finally:
        sent.close()
        server.close()
    [(_, failure)] = sent.handed_over
    assert "timed out" in str(failure) and failure.retryable
    assert sent_when_cut < len(ANSWER)  # cut at its deadline, not after the whole trickle


def test_a_file_changed_since_it_was_planned_is_handed_over_as_changed(s3server, s3, bucket, admin, tmp_path):
    path = write_random_file(tmp_path / "f", 4 * KiB)
    sent = Loop(f"{s3server.https_url}/{bucket}", admin, s3server.ca_file)
    task = sent.task(path)
    write_random_file(tmp_path / "f", 5 * KiB, seed=9)
    try:
        sent.send(task)
    finally:
        sent.close()
    [(_, failure)] = sent.handed_over
    assert failure.code == "changed" and not failure.retryable
    assert keys_in(s3, bucket) == []


def test_a_connection_reset_while_idle_is_dropped_and_the_next_object_takes_a_new_one(
    s3server, s3, bucket, admin, tmp_path
):
    first, second = (write_random_file(tmp_path / name, 4 * KiB, seed=i) for i, name in enumerate("ab"))
    with FaultProxy(s3server.http_url) as proxy:
        sent = Loop(f"{proxy.url}/{bucket}", admin, connections=1)
        try:
            sent.send(sent.task(first))
            assert sent.loop.open_connections == 1
            proxy.outage(0.2, "reset")  # every connection through the proxy is reset
            sent.run_until(lambda: sent.loop.open_connections == 0)  # the reset noticed while idle
            sent.run_until(lambda: proxy.outage_mode() is None)
            sent.send(sent.task(second))
        finally:
            sent.close()
    assert sent.handed_over == []  # no attempt was lost on the dead connection
    done = [a for a in sent.answers if isinstance(a, PartDone)]
    assert [d.request_on_connection for d in done] == [1, 1]
    assert done[0].connection != done[1].connection
    assert sha256_object(s3, bucket, "b") == sha256_file(second)


def _sender(s3server, admin, retried: list) -> PartSender:
    config = WorkerConfig(region="us-east-1", credentials=admin, ca_bundle=s3server.ca_file, retry_deadline=60)
    on_retry = lambda task, attempt, failure: retried.append((attempt, str(failure)))  # noqa: E731
    return PartSender(0, config, RequestSigner(admin, "us-east-1"), UserspaceEngine(), lambda n: None, on_retry)


def test_the_threads_take_over_a_failed_first_attempt_as_their_own_second(s3server, s3, bucket, admin, tmp_path):
    path = write_random_file(tmp_path / "f", 4 * KiB)
    retried: list = []
    sender = _sender(s3server, admin, retried)
    task = Loop(f"{s3server.https_url}/{bucket}", admin).task(path)
    try:
        done = sender.send(task, PartFailed("connection reset", retryable=True, code="connection"))
    finally:
        sender.close()
    assert done.attempts == 2
    assert retried == [(1, "connection reset")]  # the coordinator hears of the first attempt
    assert sha256_object(s3, bucket, "f") == sha256_file(path)


def test_the_threads_do_not_retry_a_final_failure_they_take_over(s3server, s3, bucket, admin, tmp_path):
    path = write_random_file(tmp_path / "f", 4 * KiB)
    retried: list = []
    sender = _sender(s3server, admin, retried)
    task = Loop(f"{s3server.https_url}/{bucket}", admin).task(path)
    refused = PartFailed("AccessDenied: no", retryable=False, code="AccessDenied")
    try:
        with pytest.raises(PartFailed) as failure:
            sender.send(task, refused)
    finally:
        sender.close()
    assert failure.value is refused and retried == []
    assert keys_in(s3, bucket) == []


def test_a_worker_starts_its_sender_threads_with_the_first_task_they_are_given(tmp_path):
    """Where the send loop sends every small object, the sender threads (retries, and every
    part of a zero-copy engine) never start; a task handed to them starts them all."""
    path = write_random_file(tmp_path / "f", 4 * KiB)
    replies: list = []
    loop = Loop("https://127.0.0.1:9/b", CredentialSet("AKID", "secret"))
    sending = SendingWorker(0, loop.config, True, replies.append, own_process=False)
    sending.start()
    assert _senders_running() == 0
    sending.take_over(loop.task(path), PartFailed("AccessDenied: no", retryable=False, code="AccessDenied"))
    assert _senders_running() == loop.config.connections
    stats = sending.finish()
    assert _senders_running() == 0
    assert [type(r).__name__ for r in replies] == ["PartError"] and replies[0].code == "AccessDenied"
    assert stats[-1].worker == 0
    loop.close()


def _senders_running() -> int:
    return sum(t.name.startswith("sender-0-") and t.is_alive() for t in threading.enumerate())
