"""The coordinator in process: a FakePool's workers answer on cue, a FakeS3Client is the store.

Files are real (in tmp_path), cut into real 5 MiB parts; checksums are the real CRC64NVME.
"""

from __future__ import annotations

import random
from collections import Counter

import pytest
from fakes import FakePool, FakeS3Client, FakeSession, checksum_of, etag_of

from bulkup.control.coordinator import Coordinator
from bulkup.control.credentials import CredentialWatch
from bulkup.control.events import RunEvents, UploadListener
from bulkup.control.plane import BucketRoute
from bulkup.display.sink import ProgressSink
from bulkup.errors import FatalRemoteError
from bulkup.plan.checksums import get_algorithm
from bulkup.plan.files import SourceFile
from bulkup.plan.jobs import ObjectSettings, UploadJob
from bulkup.plan.results import UploadResult
from bulkup.pools.base import HELD_BYTES_PER_CONNECTION
from bulkup.transport.messages import NewCredentials
from bulkup.transport.request import BucketEndpoint, CredentialSet

MiB = 1 << 20
PART = 5 * MiB
CRC64 = get_algorithm("crc64nvme")
SETTINGS = ObjectSettings(checksum=CRC64, part_size=PART)
BUCKET = "b"
ENDPOINT = BucketEndpoint.from_url("https://127.0.0.1:9/b")
NEW_CREDENTIALS = CredentialSet("AKIDNEW", "new-secret", "new-token")


# -- helpers ------------------------------------------------------------------------------------


def a_file(tmp_path, key: str, size: int) -> SourceFile:
    path = tmp_path / key
    path.write_bytes(random.Random(key).randbytes(size))
    return SourceFile(path=str(path), key=key, size=size, mtime_ns=path.stat().st_mtime_ns)


def a_job(source: SourceFile, **fields) -> UploadJob:
    return UploadJob(source=source, bucket=BUCKET, settings=SETTINGS, **fields)


def part_bytes(source: SourceFile, number: int) -> bytes:
    with open(source.path, "rb") as f:
        f.seek((number - 1) * PART)
        return f.read(PART)


def whole_checksum(source: SourceFile) -> str:
    with open(source.path, "rb") as f:
        return checksum_of(f.read(), "crc64nvme")


def parts_sent(pool: FakePool, key: str) -> Counter:
    return Counter(task.part_number for _, task in pool.tasks_sent(key))


def upload(
    pool: FakePool,
    s3: FakeS3Client,
    jobs: list[UploadJob],
    *,
    listeners=(),
    sink=None,
    keep_uploads: bool = False,
    credentials: CredentialWatch | None = None,
) -> UploadResult:
    events = RunEvents(UploadResult(), sink or ProgressSink(), listeners)
    coordinator = Coordinator(
        {BUCKET: BucketRoute(client=s3, endpoint=ENDPOINT)},
        pool,
        events,
        credentials=credentials,
        keep_uploads=keep_uploads,
    )
    return coordinator.run(jobs, len(jobs), sum(job.source.size for job in jobs))


class RecordingSink(ProgressSink):
    def __init__(self) -> None:
        super().__init__()
        self.retried: list[tuple[int, str, int | None, int, str]] = []

    def part_retried(self, worker, key, part, attempt, reason) -> None:
        super().part_retried(worker, key, part, attempt, reason)
        self.retried.append((worker, key, part, attempt, reason))


class RecordingListener(UploadListener):
    """Writes each step it hears into a timeline shared with the fake client."""

    def __init__(self, timeline: list[str]) -> None:
        self.timeline = timeline

    def creating_upload(self, job, part_size):
        self.timeline.append(f"creating_upload {job.source.key} {part_size}")

    def upload_created(self, job, upload_id, part_size):
        self.timeline.append(f"upload_created {job.source.key} {upload_id}")

    def part_done(self, job, number, etag, checksum):
        self.timeline.append(f"part_done {job.source.key} {number}")

    def source_seen(self, job, identity):
        self.timeline.append(f"source_seen {job.source.key}")

    def object_restarted(self, job, source, reason):
        self.timeline.append(f"object_restarted {job.source.key}: {reason}")

    def object_done(self, job, result):
        self.timeline.append(f"object_done {job.source.key}")

    def object_failed(self, job, reason):
        self.timeline.append(f"object_failed {job.source.key}: {reason}")

    def object_exists(self, job):
        self.timeline.append(f"object_exists {job.source.key}")

    def flush(self):
        self.timeline.append("flush")


@pytest.fixture
def timeline() -> list[str]:
    return []


@pytest.fixture
def s3(timeline) -> FakeS3Client:
    return FakeS3Client(timeline=timeline)


# -- objects done -------------------------------------------------------------------------------


def test_every_part_is_sent_once_and_complete_lists_them_in_order_with_their_checksums(tmp_path, s3):
    source = a_file(tmp_path, "three-parts.bin", 2 * PART + 123)
    pool = FakePool(2, store=s3)

    result = upload(pool, s3, [a_job(source)])

    assert result.ok and result.uploaded_count == 1
    assert parts_sent(pool, source.key) == {1: 1, 2: 1, 3: 1}
    [create] = s3.calls_to("create_multipart_upload", source.key)
    assert create.params["ChecksumAlgorithm"] == "CRC64NVME"
    assert create.params["ChecksumType"] == "FULL_OBJECT"
    [complete] = s3.calls_to("complete_multipart_upload", source.key)
    assert complete.params["UploadId"] == s3.upload_id_of(source.key)
    assert complete.params["MultipartUpload"]["Parts"] == [
        {
            "PartNumber": n,
            "ETag": etag_of(part_bytes(source, n)),
            "ChecksumCRC64NVME": checksum_of(part_bytes(source, n), "crc64nvme"),
        }
        for n in (1, 2, 3)
    ]
    assert complete.params["ChecksumType"] == "FULL_OBJECT"
    assert complete.params["ChecksumCRC64NVME"] == whole_checksum(source)
    [done] = result.uploaded
    assert done.checksum == whole_checksum(source)
    assert done.etag == s3.objects[(BUCKET, source.key)]["ETag"] and done.etag.endswith('-3"')
    assert done.parts == 3


def test_a_single_put_object_is_done_without_create_or_complete(tmp_path, s3):
    source = a_file(tmp_path, "small.txt", 1000)
    pool = FakePool(2, store=s3)

    result = upload(pool, s3, [a_job(source)])

    assert result.ok and result.uploaded_count == 1
    assert s3.calls == []
    [(_, task)] = pool.tasks_sent(source.key)
    assert task.upload_id is None and task.part_number is None
    assert (task.source.offset, task.source.length) == (0, 1000)
    assert ("Content-Type", "text/plain") in task.headers
    [done] = result.uploaded
    assert done.etag == etag_of(part_bytes(source, 1))
    assert done.checksum == whole_checksum(source)


def test_a_resumed_upload_sends_only_the_missing_parts_and_completes_with_all(tmp_path, s3):
    source = a_file(tmp_path, "resumed.bin", 2 * PART + 7)
    first = part_bytes(source, 1)
    s3.add_upload(
        BUCKET, source.key, "open-1", parts={1: (etag_of(first), len(first), checksum_of(first, "crc64nvme"))}
    )
    job = a_job(
        source, upload_id="open-1", part_size=PART, parts_done={1: (etag_of(first), checksum_of(first, "crc64nvme"))}
    )
    pool = FakePool(2, store=s3)

    result = upload(pool, s3, [job])

    assert result.ok
    assert s3.calls_to("create_multipart_upload") == []
    assert parts_sent(pool, source.key) == {2: 1, 3: 1}
    [complete] = s3.calls_to("complete_multipart_upload", source.key)
    assert [p["PartNumber"] for p in complete.params["MultipartUpload"]["Parts"]] == [1, 2, 3]
    assert complete.params["ChecksumCRC64NVME"] == whole_checksum(source)


def test_an_object_whose_file_checksum_is_not_the_expected_one_fails_and_is_not_completed(tmp_path, s3):
    source = a_file(tmp_path, "changed.bin", PART + 1)
    wrong = checksum_of(b"something else", "crc64nvme")
    pool = FakePool(1, store=s3)

    result = upload(pool, s3, [a_job(source, checksum=wrong)])

    [failed] = result.failed
    assert wrong in failed.error and "crc64nvme" in failed.error
    assert s3.calls_to("complete_multipart_upload") == []
    assert s3.aborted() == [s3.upload_id_of(source.key)]


def test_a_resumed_upload_with_every_part_done_is_completed_without_sending_anything(tmp_path, s3):
    source = a_file(tmp_path, "all-there.bin", PART + 9)
    held = {n: part_bytes(source, n) for n in (1, 2)}
    s3.add_upload(
        BUCKET,
        source.key,
        "open-2",
        parts={n: (etag_of(d), len(d), checksum_of(d, "crc64nvme")) for n, d in held.items()},
    )
    job = a_job(
        source,
        upload_id="open-2",
        part_size=PART,
        parts_done={n: (etag_of(d), checksum_of(d, "crc64nvme")) for n, d in held.items()},
    )
    pool = FakePool(1, store=s3)

    result = upload(pool, s3, [job])

    assert result.ok and result.uploaded_count == 1
    assert pool.tasks_sent() == []
    [complete] = s3.calls_to("complete_multipart_upload", source.key)
    assert complete.params["ChecksumCRC64NVME"] == whole_checksum(source)


def test_a_create_that_fails_fails_only_its_object(tmp_path, s3):
    refused = a_file(tmp_path, "refused.bin", PART + 1)
    fine = a_file(tmp_path, "fine.bin", PART + 1)
    s3.answer_error("create_multipart_upload", "InvalidArgument", key=refused.key, message="bad header")
    pool = FakePool(2, store=s3)

    result = upload(pool, s3, [a_job(refused), a_job(fine)])

    [failed] = result.failed
    assert (failed.key, failed.error) == (refused.key, "CreateMultipartUpload: InvalidArgument: bad header")
    assert pool.tasks_sent(refused.key) == []
    assert [o.key for o in result.uploaded] == [fine.key]


def test_a_create_refused_for_access_ends_the_run_and_aborts_the_uploads_already_open(tmp_path, s3):
    first = a_file(tmp_path, "first.bin", PART + 1)
    second = a_file(tmp_path, "second.bin", PART + 1)
    s3.answer_error("create_multipart_upload", "AccessDenied", key=second.key)
    pool = FakePool(2, store=s3)

    with pytest.raises(FatalRemoteError, match="AccessDenied: access denied"):
        upload(pool, s3, [a_job(first), a_job(second)])

    assert s3.aborted() == [s3.upload_id_of(first.key)]


# -- how much a worker holds -----------------------------------------------------------------------


def most_held(pool: FakePool) -> list[int]:
    """Each worker's largest number of tasks held at once, at the start of a round."""
    most = [0] * len(pool.workers)

    def look(_round: int) -> None:
        for worker in pool.workers:
            most[worker.index] = max(most[worker.index], len(worker.holding))

    pool.on_round(look)
    return most


def test_small_objects_fill_each_workers_task_depth(tmp_path, s3):
    pool = FakePool(2, connections=2, pace=1, store=s3)
    held = most_held(pool)
    result = upload(pool, s3, [a_job(a_file(tmp_path, f"s{i:02}", 1000)) for i in range(40)])
    assert result.ok and held == [pool.task_depth()] * 2  # 4 a connection


def test_large_parts_stop_at_the_bytes_a_worker_may_hold(tmp_path, s3):
    pool = FakePool(2, connections=2, pace=1, store=s3)
    held = most_held(pool)
    result = upload(pool, s3, [a_job(a_file(tmp_path, "big", 40 * PART))])
    budget = HELD_BYTES_PER_CONNECTION * 2
    assert result.ok and max(held) == budget // PART + 1 < pool.task_depth()  # 7 parts of 5 MiB, not 8


# -- workers dying -------------------------------------------------------------------------------


def test_a_dying_workers_answered_parts_count_and_its_unanswered_parts_go_once_to_another_worker(tmp_path, s3):
    source = a_file(tmp_path, "eight-parts.bin", 7 * PART + 1)
    pool = FakePool(2, connections=2, store=s3)  # each worker holds up to 4 tasks
    pool.die(0, after=1, why="killed by signal 9")

    result = upload(pool, s3, [a_job(source)])

    sends = pool.tasks_sent(source.key)
    held_by_dead = [task.part_number for worker, task in sends if worker == 0]
    answered, unanswered = held_by_dead[:1], held_by_dead[1:]  # it answers in the order given
    assert unanswered, "the dying worker held more than the part it answered"
    assert parts_sent(pool, source.key)[answered[0]] == 1
    for number in unanswered:
        resent_by = [worker for worker, task in sends if task.part_number == number and worker != 0]
        assert len(resent_by) == 1, f"part {number} sent again {len(resent_by)} times"
    assert sum(parts_sent(pool, source.key).values()) == 8 + len(unanswered)
    assert result.ok and result.uploaded_count == 1
    assert result.part_count == 8  # the dead worker's answered part counts once
    [complete] = s3.calls_to("complete_multipart_upload")
    assert [p["PartNumber"] for p in complete.params["MultipartUpload"]["Parts"]] == list(range(1, 9))
    assert pool.replaced == [0]
    assert result.workers_lost == [(0, "killed by signal 9")]


def test_workers_that_keep_dying_end_the_run_and_their_uploads_are_aborted(tmp_path, s3):
    source = a_file(tmp_path, "doomed.bin", 2 * PART)
    pool = FakePool(2, replacements=0, store=s3)
    pool.die(0, why="exit code 1")
    pool.die(1, why="killed by signal 11")

    with pytest.raises(FatalRemoteError, match="keep dying.*worker 0: exit code 1.*worker 1: killed by signal 11"):
        upload(pool, s3, [a_job(source)])

    assert s3.aborted() == [s3.upload_id_of(source.key)]


# -- parts failing --------------------------------------------------------------------------------


def test_a_failed_part_fails_only_its_object_and_aborts_its_upload(tmp_path, s3):
    bad = a_file(tmp_path, "bad.bin", 2 * PART + 1)
    good = a_file(tmp_path, "good.bin", PART + 1)
    pool = FakePool(2, store=s3)
    pool.fail(bad.key, 2, message="InternalError: we encountered an internal error")

    result = upload(pool, s3, [a_job(bad), a_job(good)])

    assert (result.uploaded_count, result.failed_count) == (1, 1)
    [failed] = result.failed
    assert (failed.key, failed.error) == (bad.key, "InternalError: we encountered an internal error")
    assert s3.aborted() == [s3.upload_id_of(bad.key)]
    assert s3.calls_to("complete_multipart_upload", bad.key) == []
    assert [o.key for o in result.uploaded] == [good.key]
    assert (BUCKET, good.key) in s3.objects and (BUCKET, bad.key) not in s3.objects
    assert s3.uploads == {}


def test_a_failed_single_put_fails_its_object_without_any_abort(tmp_path, s3):
    source = a_file(tmp_path, "small.bin", 100)
    pool = FakePool(1, store=s3)
    pool.fail(source.key, message="BadDigest: the checksum did not match")

    result = upload(pool, s3, [a_job(source)])

    [failed] = result.failed
    assert (failed.key, failed.error) == (source.key, "BadDigest: the checksum did not match")
    assert s3.calls == [] and (BUCKET, source.key) not in s3.objects


def test_a_fatal_part_error_ends_the_run_and_aborts_every_open_upload(tmp_path, s3):
    first = a_file(tmp_path, "first.bin", 2 * PART + 1)
    second = a_file(tmp_path, "second.bin", PART + 1)
    pool = FakePool(2, store=s3)
    pool.fail(first.key, 1, message="InvalidAccessKeyId: the access key is not known", fatal=True)

    with pytest.raises(FatalRemoteError, match="InvalidAccessKeyId"):
        upload(pool, s3, [a_job(first), a_job(second)])

    assert sorted(s3.aborted()) == sorted([s3.upload_id_of(first.key), s3.upload_id_of(second.key)])
    assert s3.calls_to("complete_multipart_upload") == []
    assert s3.uploads == {}
    assert pool.stopped


def test_an_upload_that_cannot_be_aborted_is_named_and_the_others_are_still_aborted(tmp_path, s3):
    first = a_file(tmp_path, "first.bin", 2 * PART + 1)
    second = a_file(tmp_path, "second.bin", PART + 1)
    pool = FakePool(2, store=s3)
    pool.fail(first.key, 1, message="InvalidAccessKeyId: the access key is not known", fatal=True)
    s3.answer_error("abort_multipart_upload", "AccessDenied", key=first.key, times=10)

    with pytest.raises(FatalRemoteError) as ended:
        upload(pool, s3, [a_job(first), a_job(second)])

    assert list(s3.uploads) == [s3.upload_id_of(first.key)]  # the second was aborted
    assert ended.value.uploads_left == [f"s3://{BUCKET}/{first.key} (upload {s3.upload_id_of(first.key)})"]


def test_a_fatal_part_error_with_keep_uploads_leaves_every_upload_open(tmp_path, s3):
    first = a_file(tmp_path, "first.bin", 2 * PART + 1)
    second = a_file(tmp_path, "second.bin", PART + 1)
    pool = FakePool(2, store=s3)
    pool.fail(first.key, 1, message="InvalidAccessKeyId: the access key is not known", fatal=True)

    with pytest.raises(FatalRemoteError):
        upload(pool, s3, [a_job(first), a_job(second)], keep_uploads=True)

    assert s3.calls_to("abort_multipart_upload") == []
    assert set(s3.uploads) == {s3.upload_id_of(first.key), s3.upload_id_of(second.key)}


def test_retries_reach_the_progress_sink_and_the_retry_count_comes_from_part_done_attempts(tmp_path, s3):
    source = a_file(tmp_path, "flaky.bin", 2 * PART + 1)
    pool = FakePool(1, store=s3)
    pool.retry(source.key, 2, attempts=3, reason="SlowDown: please reduce your request rate")
    sink = RecordingSink()

    result = upload(pool, s3, [a_job(source)], sink=sink)

    assert result.ok
    assert sink.retried == [
        (0, source.key, 2, 1, "SlowDown: please reduce your request rate"),
        (0, source.key, 2, 2, "SlowDown: please reduce your request rate"),
    ]
    assert result.retries == 2 and result.summary()["retries"] == 2
    assert [p.attempts for p in sorted(result.parts, key=lambda p: p.part_number)] == [1, 3, 1]
    assert sink.state.retries == 2


# -- CompleteMultipartUpload answering NoSuchUpload ----------------------------------------------


def test_complete_answering_no_such_upload_is_done_when_the_object_is_there_with_its_checksum(tmp_path, s3):
    source = a_file(tmp_path, "completed-earlier.bin", PART + 1)
    s3.answer_error("complete_multipart_upload", "NoSuchUpload", took_effect=True)  # first answer lost
    pool = FakePool(1, store=s3)

    result = upload(pool, s3, [a_job(source)])

    assert result.ok and result.uploaded_count == 1
    head = s3.objects[(BUCKET, source.key)]
    assert head["ChecksumCRC64NVME"] == whole_checksum(source) and head["ContentLength"] == source.size
    assert result.uploaded[0].etag == head["ETag"]
    assert [c.params["ChecksumMode"] for c in s3.calls_to("head_object", source.key)] == ["ENABLED"]
    assert s3.calls_to("abort_multipart_upload") == []


def test_complete_answering_no_such_upload_with_no_object_there_uploads_it_again(tmp_path, s3):
    source = a_file(tmp_path, "vanished.bin", PART + 1)
    s3.answer_error("complete_multipart_upload", "NoSuchUpload")
    pool = FakePool(1, store=s3)

    result = upload(pool, s3, [a_job(source)])

    assert result.ok and result.uploaded_count == 1
    assert len(s3.calls_to("create_multipart_upload", source.key)) == 2
    assert parts_sent(pool, source.key) == {1: 2, 2: 2}
    assert s3.objects[(BUCKET, source.key)]["ChecksumCRC64NVME"] == whole_checksum(source)


def test_an_old_object_of_the_same_size_is_not_taken_for_the_upload_that_vanished(tmp_path, s3):
    source = a_file(tmp_path, "overwritten.bin", PART + 1)
    s3.answer_error("complete_multipart_upload", "NoSuchUpload")
    s3.put_object(BUCKET, source.key, source.size, '"other-2"', "crc64nvme", checksum_of(b"other bytes", "crc64nvme"))
    pool = FakePool(1, store=s3)

    result = upload(pool, s3, [a_job(source)])

    assert result.ok
    assert s3.objects[(BUCKET, source.key)]["ChecksumCRC64NVME"] == whole_checksum(source)


def test_an_upload_that_keeps_vanishing_fails_its_object_naming_nosuchupload(tmp_path, s3):
    source = a_file(tmp_path, "keeps-vanishing.bin", PART + 1)
    s3.answer_error("complete_multipart_upload", "NoSuchUpload", times=10)
    pool = FakePool(1, store=s3)

    result = upload(pool, s3, [a_job(source)])

    [failed] = result.failed
    assert "NoSuchUpload" in failed.error and "starting over 2 times" in failed.error
    assert (BUCKET, source.key) not in s3.objects


# -- objects pinned to a node ------------------------------------------------------------------------


def test_objects_pinned_to_a_node_go_only_to_workers_on_that_node(tmp_path, s3):
    on_a = a_file(tmp_path, "on-a.bin", 3 * PART)
    on_b = a_file(tmp_path, "on-b.bin", 3 * PART)
    anywhere = a_file(tmp_path, "anywhere.bin", 3 * PART)
    pool = FakePool(3, nodes=["a", "b", "b"], store=s3)

    result = upload(pool, s3, [a_job(on_a, node="a"), a_job(on_b, node="b"), a_job(anywhere)])

    assert result.ok and result.uploaded_count == 3
    node_of = {w.index: w.node for w in pool.workers}
    assert {node_of[w] for w, _ in pool.tasks_sent(on_a.key)} == {"a"}
    assert {node_of[w] for w, _ in pool.tasks_sent(on_b.key)} == {"b"}
    assert parts_sent(pool, on_a.key) == parts_sent(pool, on_b.key) == {1: 1, 2: 1, 3: 1}


def test_an_object_pinned_to_a_node_no_live_worker_serves_fails_with_the_pools_reason(tmp_path, s3):
    nowhere = a_file(tmp_path, "nowhere.bin", 2 * PART)
    elsewhere = a_file(tmp_path, "elsewhere.bin", 10)
    pool = FakePool(2, nodes=["a", "b"], store=s3)

    result = upload(pool, s3, [a_job(nowhere, node="c"), a_job(elsewhere, node="a")])

    [failed] = result.failed
    assert (failed.key, failed.error) == (nowhere.key, "no live worker on node 'c'")
    assert pool.tasks_sent(nowhere.key) == [] and s3.calls_to("create_multipart_upload") == []
    assert [o.key for o in result.uploaded] == [elsewhere.key]


def test_an_object_pinned_to_a_node_whose_last_worker_dies_fails_with_the_pools_reason(tmp_path, s3):
    pinned = a_file(tmp_path, "pinned.bin", 3 * PART)
    loose = a_file(tmp_path, "loose.bin", 2 * PART)
    pool = FakePool(2, nodes=["a", "b"], replacements=0, store=s3)
    pool.die(1, after=1)

    result = upload(pool, s3, [a_job(pinned, node="b"), a_job(loose)])

    [failed] = result.failed
    assert (failed.key, failed.error) == (pinned.key, "no live worker on node 'b'")
    assert s3.aborted() == [s3.upload_id_of(pinned.key)]
    assert [o.key for o in result.uploaded] == [loose.key]
    assert {w for w, _ in pool.tasks_sent(pinned.key)} == {1}


# -- credentials -------------------------------------------------------------------------------------


def test_rotated_credentials_are_sent_to_every_live_worker_once(tmp_path, s3):
    sources = [a_file(tmp_path, f"f{i:02}.txt", 100) for i in range(40)]
    pool = FakePool(3, pace=1, store=s3)
    session = FakeSession()
    pool.on_round(lambda n: n == 2 and session.rotate(NEW_CREDENTIALS))
    watch = CredentialWatch(session, pool, interval=0)

    result = upload(pool, s3, [a_job(source) for source in sources], credentials=watch)

    assert result.ok and result.uploaded_count == 40
    for worker in pool.workers:
        assert pool.messages_to(worker.index, NewCredentials) == [NewCredentials(credentials=NEW_CREDENTIALS)]
    assert pool.config.credentials == NEW_CREDENTIALS
    kinds = [type(message).__name__ for _, message in pool.sent]
    first_new = kinds.index("NewCredentials")
    assert "PartTask" in kinds[:first_new] and "PartTask" in kinds[first_new:]  # mid-run


def test_credentials_that_do_not_change_are_not_sent_again(tmp_path, s3):
    sources = [a_file(tmp_path, f"f{i:02}.txt", 100) for i in range(6)]
    pool = FakePool(2, pace=1, store=s3)
    session = FakeSession()

    result = upload(
        pool, s3, [a_job(source) for source in sources], credentials=CredentialWatch(session, pool, interval=0)
    )

    assert result.ok and session.looks > 2
    assert [m for _, m in pool.sent if isinstance(m, NewCredentials)] == []


def test_a_worker_that_died_is_not_sent_new_credentials(tmp_path, s3):
    sources = [a_file(tmp_path, f"f{i:02}.txt", 100) for i in range(6)]
    pool = FakePool(3, pace=1, replacements=0, store=s3)
    pool.die(2)
    session = FakeSession()
    pool.on_round(lambda n: n == 1 and session.rotate(NEW_CREDENTIALS))

    result = upload(
        pool, s3, [a_job(source) for source in sources], credentials=CredentialWatch(session, pool, interval=0)
    )

    assert result.ok
    assert pool.messages_to(2, NewCredentials) == []
    for worker in (0, 1):
        assert pool.messages_to(worker, NewCredentials) == [NewCredentials(credentials=NEW_CREDENTIALS)]


# -- listeners --------------------------------------------------------------------------------------


def test_a_listener_hears_each_step_in_order_and_flush_comes_before_complete(tmp_path, s3, timeline):
    source = a_file(tmp_path, "heard.bin", 2 * PART + 1)
    pool = FakePool(1, store=s3)

    result = upload(pool, s3, [a_job(source)], listeners=[RecordingListener(timeline)])

    assert result.ok
    upload_id = s3.upload_id_of(source.key)
    assert [step for step in timeline if step != "flush"] == [
        f"creating_upload heard.bin {PART}",
        "create_multipart_upload heard.bin",
        f"upload_created heard.bin {upload_id}",
        "part_done heard.bin 1",
        "part_done heard.bin 2",
        "part_done heard.bin 3",
        "complete_multipart_upload heard.bin",
        "object_done heard.bin",
    ]
    created = timeline.index("create_multipart_upload heard.bin")
    assert timeline[created - 1] == "flush"  # the intent is on record before the server acts
    completed = timeline.index("complete_multipart_upload heard.bin")
    assert timeline[completed - 1] == "flush"  # every part is on record before Complete
    assert timeline[-1] == "flush"


def test_a_listener_hears_a_failed_object_with_its_reason(tmp_path, s3, timeline):
    source = a_file(tmp_path, "refused.bin", 2 * PART + 1)
    pool = FakePool(1, store=s3)
    pool.fail(source.key, 3, message="EntityTooLarge: fake")

    result = upload(pool, s3, [a_job(source)], listeners=[RecordingListener(timeline)])

    assert not result.ok
    steps = [step for step in timeline if step != "flush"]
    assert steps[-3:] == [
        "abort_multipart_upload refused.bin",
        "list_parts refused.bin",
        "object_failed refused.bin: EntityTooLarge: fake",
    ]
    assert "complete_multipart_upload refused.bin" not in steps
    assert not any(step.startswith("object_done") for step in steps)


def test_a_listener_hears_a_single_put_object_done_without_parts(tmp_path, s3, timeline):
    source = a_file(tmp_path, "tiny.bin", 10)
    pool = FakePool(1, store=s3)

    upload(pool, s3, [a_job(source)], listeners=[RecordingListener(timeline)])

    assert [step for step in timeline if step != "flush"] == ["object_done tiny.bin"]


def test_a_failed_objects_upload_is_aborted_only_once_its_other_parts_in_flight_are_answered(tmp_path, s3):
    source = a_file(tmp_path, "refused-early.bin", 4 * PART)
    pool = FakePool(4, store=s3)
    pool.fail(source.key, 1)
    aborted_while = []
    s3.on_call("abort_multipart_upload", lambda: aborted_while.append(sum(1 for w in pool.live() for _ in w.in_flight)))

    result = upload(pool, s3, [a_job(source)])

    assert not result.ok
    assert aborted_while == [0]  # no part of it was still being sent
    assert s3.uploads == {}
