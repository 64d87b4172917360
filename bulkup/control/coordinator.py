"""The coordinator: runs jobs through a pool of workers and the store's control plane.

Data path: jobs (``bulkup.plan``) -> here -> workers (``bulkup.pools``, ``bulkup.transport``)
-> kernel. The coordinator plans each job into part tasks (creating its multipart upload),
lets the scheduler hand tasks to workers, routes the workers' answers, and completes or
aborts each upload through ``S3Calls``. Every step is told once to ``RunEvents``, which
passes it to the result, the display and listeners (a migration's journal).
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import time
from collections.abc import Callable, Iterable

from bulkup.control.credentials import CredentialWatch
from bulkup.control.events import RunEvents
from bulkup.control.inflight import ObjectUpload
from bulkup.control.interrupts import interrupts_held
from bulkup.control.plane import BucketRoute
from bulkup.control.ratecontrol import RunRate
from bulkup.control.s3calls import KeyTaken, ObjectFailed, S3Calls
from bulkup.control.scheduler import Scheduler
from bulkup.control.sending import SendingEstimate
from bulkup.control.shares import RateShares
from bulkup.control.spool import Spool, SpooledPart
from bulkup.control.verification import verification_label
from bulkup.errors import BulkupError, FatalRemoteError, Interrupted
from bulkup.gctune import few_collections
from bulkup.plan.files import FileIdentity, SourceFile
from bulkup.plan.jobs import UploadJob
from bulkup.plan.parts import PartRange, choose_part_size, is_multipart, split_parts
from bulkup.plan.results import ObjectResult, PartRecord, UploadResult, WorkerStats
from bulkup.pools.base import Pool, Worker, WorkerGone
from bulkup.transport.filebody import CHANGED, FileRange
from bulkup.transport.messages import (
    BytesSent,
    NewRate,
    NewRequestRate,
    PartDone,
    PartError,
    PartRetrying,
    PartTask,
    WorkerReady,
)

RECEIVE_WAIT = 0.5  # seconds to wait for workers' messages per round
STREAM_WAIT = 0.02  # the same while a stream is read (its next part may be ready)
MAX_PARTS = 10_000  # S3's most parts of one upload
MAX_RESTARTS = 2  # times an object may start over (a changed file, a lost upload)
KMS = ("aws:kms", "aws:kms:dsse")  # their part ETags are not the body's MD5
WRITTEN_BUT_WRONG = ("ChecksumEcho", "ETagMismatch")  # the store took a body it says differs


class Coordinator:
    """Uploads jobs (to one or more buckets) with a pool of workers (processes or Ray actors).

    ``keep_uploads``: on an interruption or fatal error, leave open multipart uploads for a
    resumed run instead of aborting them (a migration's journal knows them).
    ``restart_changed``: a file that changes while it is sent starts over (a migration)
    instead of failing its object.
    """

    def __init__(
        self,
        routes: dict[str, BucketRoute],
        pool: Pool,
        events: RunEvents,
        credentials: CredentialWatch | None = None,
        keep_uploads: bool = False,
        restart_changed: bool = False,
        bwlimit: float | None = None,
        retry_deadline: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.routes = routes
        self.pool = pool
        self.events = events
        self.result: UploadResult = events.result
        self.clock = clock
        self.rate = RunRate()  # the run's request rate: one for every worker and call
        self.store = S3Calls(routes, retry_deadline, self._store_throttled)
        self.scheduler = Scheduler(pool, self._plan)
        self.sending = SendingEstimate()  # how far parts in flight have got (for the bars)
        self.credentials = credentials
        self.keep_uploads = keep_uploads
        self.restart_changed = restart_changed
        self._open_uploads: dict[str, ObjectUpload] = {}
        self._interrupted_create: ObjectUpload | None = None  # its upload ID never came
        self._streams: list[ObjectUpload] = []  # streams still being read
        self._task_ids = itertools.count(1)
        self.bandwidth = RateShares(pool, lambda r: NewRate(bytes_per_second=r), bwlimit) if bwlimit else None
        self.requests = RateShares(pool, lambda r: NewRequestRate(requests_per_second=r), interval=0.2)

    # -- the run -----------------------------------------------------------------------

    def run(self, jobs: Iterable[UploadJob], objects: int, total_bytes: int | None) -> UploadResult:
        """Upload ``jobs`` (``objects`` of them, ``total_bytes`` in all; None: not known, a stream)."""
        with few_collections():
            return self._run(jobs, objects, total_bytes)

    def _run(self, jobs: Iterable[UploadJob], objects: int, total_bytes: int | None) -> UploadResult:
        started = time.monotonic()
        try:
            self.pool.start()  # a cluster that cannot be joined ends the run here
            self.events.run_started(objects, total_bytes)
            if self.bandwidth:
                self.bandwidth.rebalance(force=True)  # each worker's share, before its first task
            self.scheduler.start(jobs)
            while True:
                if self.bandwidth:
                    self.bandwidth.rebalance()
                self._pace_requests()
                self._feed_streams()
                self.scheduler.fill()
                if self.scheduler.finished and not self._streams:
                    break
                self._handle_messages()
                if self.credentials is not None:
                    self.credentials.check()
        except KeyboardInterrupt:
            raise Interrupted("interrupted", self._stop()) from None
        except BulkupError as exc:
            exc.uploads_left = self._stop()
            raise
        except BaseException:
            self._stop()
            raise
        finally:
            self.events.flush()
            self.pool.stop(self._on_last_message)
            self.result.seconds = time.monotonic() - started
        return self.result

    # -- planning ------------------------------------------------------------------------

    def _plan(self, job: UploadJob, result: ObjectResult | None = None) -> None:
        """Queue a job's tasks, creating (or continuing) its multipart upload if it has one
        (``result``: an object starting over keeps its record)."""
        source, settings = job.source, job.settings
        if result is None:
            result = ObjectResult(key=source.key, path=source.path, size=source.size, bucket=job.bucket)
            self.events.object_planned(result)
        obj = ObjectUpload(job=job, result=result)
        if obj.spool is not None:  # the job's stream
            self._plan_stream(obj, obj.spool)
            return
        if job.node is not None and (why := self.pool.unservable(job.node)):
            self._fail_object(obj, why)
            return
        part_size = job.part_size or choose_part_size(source.size, settings.part_size)
        threshold = settings.multipart_threshold or part_size
        if job.upload_id is None and not is_multipart(source.size, threshold):
            self._enqueue(obj, PartRange(1, 0, source.size), single=True)
            return
        if job.upload_id is not None:
            obj.upload_id = job.upload_id
            self._open_uploads[obj.upload_id] = obj
        elif settings.no_overwrite and self.store.head(job) is not None:
            self._key_taken(obj)  # not a byte sent for a key that is taken already (the
            return  # conditional Complete guards against one written later)
        elif not self._create_upload(obj, part_size):
            return
        obj.ranges = list(split_parts(source.size, part_size))
        obj.result.parts = len(obj.ranges)
        obj.done = {n: done for n, done in job.parts_done.items() if n <= len(obj.ranges)}
        self.events.object_started(source.key, source.size, len(obj.ranges))
        for part in obj.ranges:
            if part.number not in obj.done:
                self._enqueue(obj, part, single=False)
        if obj.all_parts_done:
            self._complete(obj)

    # -- streams (a pipe, stdin) -----------------------------------------------------------

    def _plan_stream(self, obj: ObjectUpload, spool: Spool) -> None:
        """A stream's first part decides: the stream ended within it (one PutObject), or a
        multipart upload whose parts are queued as they are read (``_feed_streams``)."""
        obj.result.path = spool.name
        first = spool.next_part(timeout=None)
        self.result.stream_peak_held = spool.peak_held
        if spool.error is not None or first is None:
            self._fail_object(obj, spool.error or "the stream gave nothing to read")
            return
        if spool.ended and first.length == spool.total:
            obj.result.size = first.length
            self._enqueue(obj, PartRange(1, first.offset, first.length), single=True)
            return
        if not self._create_upload(obj, first.length):
            return
        self._streams.append(obj)
        self.events.object_started(obj.job.source.key, 0, 0)
        self._add_stream_part(obj, first)

    def _feed_streams(self) -> None:
        """Queue the parts of each stream read since the last round; at a stream's end,
        complete its upload once every part is stored."""
        for obj in list(self._streams):
            spool = obj.spool
            assert spool is not None  # a stream's object
            while not obj.closed and (part := spool.next_part(timeout=0)) is not None:
                self._add_stream_part(obj, part)
            self.result.stream_peak_held = spool.peak_held
            if obj.closed or spool.drained:
                self._streams.remove(obj)
            if not obj.closed and spool.drained:
                self._stream_ended(obj, spool)

    def _stream_ended(self, obj: ObjectUpload, spool: Spool) -> None:
        if spool.error is not None:
            self._fail_object(obj, spool.error)
            return
        obj.result.size, obj.result.parts = spool.total, len(obj.ranges)
        if obj.all_parts_done:
            self._complete(obj)

    def _add_stream_part(self, obj: ObjectUpload, part: SpooledPart) -> None:
        if part.number > MAX_PARTS:
            self._fail_object(
                obj,
                f"the stream is longer than {MAX_PARTS:,} parts of {part.length:,} bytes: "
                "give --expected-size (or a larger --part-size)",
            )
            return
        obj.spooled[part.number] = part
        obj.ranges.append(PartRange(part.number, part.offset, part.length))
        self._enqueue(obj, obj.ranges[-1], single=False)

    def _enqueue(self, obj: ObjectUpload, part: PartRange, single: bool) -> None:
        job, route = obj.job, self.routes[obj.job.bucket]
        source = FileRange(
            path=job.source.path,
            offset=part.offset,
            length=part.length,
            expect=None if job.stream is not None else job.source.identity,
            growing=job.stream is not None,
        )
        task = PartTask(
            task_id=next(self._task_ids),
            endpoint=route.endpoint,
            key=job.source.key,
            source=source,
            checksum_algorithm=obj.settings.checksum.name,
            upload_id=None if single else obj.upload_id,
            part_number=None if single else part.number,
            headers=obj.settings.put_headers(job.source) if single else (),
            checksum=job.checksum if single else None,
            etag_is_md5=bool(route.checks and route.checks.etag_is_md5) and obj.settings.sse not in KMS,
        )
        self.scheduler.add(obj, task)

    def _create_upload(self, obj: ObjectUpload, part_size: int) -> bool:
        """Open the object's multipart upload and put it on record (whether it opened).
        Ctrl-C waits for each attempt's answer, so that no upload is opened that nothing can
        abort (between attempts, while the store is waited for, it acts at once)."""
        self.events.creating_upload(obj.job, part_size)

        def on_record(upload_id: str) -> None:
            obj.upload_id = upload_id
            self._open_uploads[upload_id] = obj
            self.events.upload_created(obj.job, upload_id, part_size)

        try:
            self.store.create(obj.job, held=interrupts_held, created=on_record)
        except ObjectFailed as exc:
            self._fail_object(obj, str(exc))
            return False
        except KeyboardInterrupt:  # a second Ctrl-C: the server may have opened one
            if obj.upload_id is None:
                self._interrupted_create = obj
            raise
        return True

    # -- finishing objects -----------------------------------------------------------------

    def _complete(self, obj: ObjectUpload) -> None:
        upload_id = obj.upload_id
        assert upload_id is not None  # only a multipart upload is completed
        algorithm = obj.settings.checksum
        whole_key = algorithm.complete_key if algorithm.full_object else None  # None: per-part checksums only
        whole_checksum: dict[str, str] = {}
        if whole_key is not None:
            whole = algorithm.combine_parts(self._part_checksums(obj))
            if obj.job.checksum is not None and obj.job.checksum != whole:
                self._fail_object(obj, f"the file's {algorithm.name} {whole} is not the expected {obj.job.checksum}")
                return
            whole_checksum = {"ChecksumType": "FULL_OBJECT", whole_key: whole}
            obj.result.checksum = whole
        if (changed := self._changed_since_planned(obj)) is not None:
            self._file_changed(obj, f"{obj.job.source.path}: {CHANGED} ({changed})")
            return
        self.events.flush()  # every part is on record before the upload can vanish
        try:
            answer = self.store.complete(obj.job, upload_id, self._completed_parts(obj), whole_checksum)
        except ObjectFailed as exc:
            self._fail_object(obj, str(exc))
            return
        except KeyTaken:  # written meanwhile by someone else: theirs stays
            self._key_taken(obj)
            return
        if answer is None:
            self._completed_meanwhile(obj, upload_id)
            return
        self._open_uploads.pop(upload_id, None)
        echo = answer.get(whole_key) if whole_key is not None else None
        if echo is not None and echo != obj.result.checksum:
            self.store.delete(obj.job)
            self._fail_object(
                obj,
                f"the store's whole-object {algorithm.name} {echo} is not the "
                f"file's {obj.result.checksum}: the object was removed",
            )
            return
        obj.result.etag = answer.get("ETag", "") or obj.result.etag
        self._object_done(obj)

    def _object_done(self, obj: ObjectUpload) -> None:
        checks = self.routes[obj.job.bucket].checks
        obj.result.verification = verification_label(
            obj.settings.checksum, checks, obj.upload_id is not None, echoed_all=obj.unechoed == 0
        )
        self.events.object_done(obj.job, obj.result)

    @staticmethod
    def _part_checksums(obj: ObjectUpload) -> list[tuple[str, int]]:
        """Each part's checksum and length, in order (for a FULL_OBJECT checksum: each has one)."""
        parts: list[tuple[str, int]] = []
        for r in obj.ranges:
            checksum = obj.done[r.number][1]
            assert checksum is not None, f"part {r.number} came back without its checksum"
            parts.append((checksum, r.length))
        return parts

    @staticmethod
    def _completed_parts(obj: ObjectUpload) -> list[dict[str, str | int]]:
        key = obj.settings.checksum.complete_key
        parts = []
        for number in range(1, len(obj.ranges) + 1):
            etag, checksum = obj.done[number]
            entry: dict[str, str | int] = {"PartNumber": number, "ETag": etag}
            if key and checksum:
                entry[key] = checksum
            parts.append(entry)
        return parts

    def _completed_meanwhile(self, obj: ObjectUpload, upload_id: str) -> None:
        """After NoSuchUpload at Complete: an earlier (retried) Complete may have succeeded, or
        a lifecycle rule or a cleanup aborted the upload. The object there is this upload only
        if it has this upload's whole-object checksum; otherwise the object starts over."""
        self._open_uploads.pop(upload_id, None)
        head = self.store.head(obj.job)
        algorithm = obj.settings.checksum
        found = head.get(algorithm.complete_key) if head and algorithm.complete_key else None
        if (
            head
            and head.get("ContentLength") == obj.job.source.size
            and found is not None
            and found == obj.result.checksum
        ):
            obj.result.etag = head.get("ETag", "")
            self._object_done(obj)
            return
        obj.upload_id = None  # nothing left to abort
        self._restart(obj, "its multipart upload vanished before it was completed (NoSuchUpload)")

    def _changed_since_planned(self, obj: ObjectUpload) -> str | None:
        """What changed in a local file since it was planned (None: nothing, or a file only
        its node can read, which its worker checks)."""
        if obj.job.node is not None or obj.job.stream is not None:
            return None
        try:
            now = FileIdentity.of(os.stat(obj.job.source.path))
        except OSError as exc:
            return (exc.strerror or str(exc)).lower()
        what = obj.job.source.identity.differs_from(now)
        return None if what is None else f"{what} changed"

    def _file_changed(self, obj: ObjectUpload, reason: str) -> None:
        """The file is not what was sent: start over (a migration) or fail the object."""
        if self.restart_changed:
            self._restart(obj, reason)
        else:
            self._fail_object(obj, reason)

    def _restart(self, obj: ObjectUpload, reason: str) -> None:
        """Start the object over: its upload aborted (if open), its file looked at again."""
        job = obj.job
        if job.stream is not None:
            self._fail_object(obj, f"{reason} (a stream cannot be read again)")
            return
        if job.restarts >= MAX_RESTARTS:
            self._fail_object(obj, f"{reason} (and again after starting over {job.restarts} times)")
            return
        try:
            source = self._look_again(job)
        except OSError as exc:
            self._fail_object(obj, f"{job.source.path}: {(exc.strerror or str(exc)).lower()}")
            return
        obj.retired = True
        self._abort_when_idle(obj)
        self.events.object_restarted(job, source, reason)
        obj.result.parts, obj.result.checksum = 1, None
        self._plan(
            dataclasses.replace(
                job, source=source, upload_id=None, part_size=None, parts_done={}, restarts=job.restarts + 1
            ),
            result=obj.result,
        )

    @staticmethod
    def _look_again(job: UploadJob) -> SourceFile:
        """The job's file as it is now (one only its node can read: as the manifest says)."""
        if job.node is not None:
            return dataclasses.replace(job.source, mtime_ns=0, ctime_ns=None, inode=None, device=None)
        return SourceFile.found(job.source.path, job.source.key, os.stat(job.source.path))

    def _key_taken(self, obj: ObjectUpload) -> None:
        """--no-overwrite found an object at the key: this one is not written (its upload,
        if any, is aborted), and that is no failure of the run."""
        if obj.closed:
            return
        self.events.object_exists(obj.job, obj.result)  # closes it
        self._abort_when_idle(obj)

    def _fail_object(self, obj: ObjectUpload, reason: str) -> None:
        if obj.closed:
            return
        obj.result.error = reason
        self._abort_when_idle(obj)
        self.events.object_failed(obj.job, obj.result)

    def _abort_when_idle(self, obj: ObjectUpload) -> None:
        """Abort the object's upload once none of its parts is in flight (a part still being
        sent may survive an Abort); it is called again as each of them is answered."""
        if obj.upload_id and obj.upload_id in self._open_uploads and not self.scheduler.in_flight_of(obj):
            self._abort(obj, obj.upload_id)

    def _abort(self, obj: ObjectUpload, upload_id: str) -> None:
        self.store.abort(obj.job, upload_id)
        self._open_uploads.pop(upload_id, None)

    def _stop(self) -> list[str]:
        """Halt the workers (no part may land after its upload is aborted), then abort the
        open uploads unless a journal keeps them; the ones left open."""
        self.pool.halt()
        return [] if self.keep_uploads else self._abort_open_uploads()

    def _abort_open_uploads(self) -> list[str]:
        """Abort every open upload (the workers are halted); the ones left open, as
        ``s3://bucket/key (upload ID)``, if aborting failed or was interrupted."""
        try:
            for upload_id, obj in list(self._open_uploads.items()):
                if self.store.abort(obj.job, upload_id):
                    self._open_uploads.pop(upload_id)
        except KeyboardInterrupt:  # a second Ctrl-C: stop aborting, and say what is left
            pass
        left = [f"s3://{o.job.bucket}/{o.job.source.key} (upload {o.upload_id})" for o in self._open_uploads.values()]
        if (o := self._interrupted_create) is not None:
            left.append(f"s3://{o.job.bucket}/{o.job.source.key} (an upload being created, ID unknown)")
        return left

    # -- what workers say ----------------------------------------------------------------

    def _handle_messages(self) -> None:
        """One round of workers' messages, in the order each worker sent them; a worker's
        death is handled after its last messages."""
        if not self.pool.live():
            lost = "; ".join(f"worker {i}: {why}" for i, why in self.result.workers_lost)
            raise FatalRemoteError(f"worker processes keep dying ({lost})")
        self.events.flush()
        buried: set[Worker] = set()
        for worker, message in self.pool.receive(STREAM_WAIT if self._streams else RECEIVE_WAIT):
            if worker in buried:
                continue
            if isinstance(message, WorkerGone):
                buried.add(worker)
                self._worker_died(worker, message.why)
            else:
                self._on_message(worker, message)

    def _on_message(self, worker: Worker, message: object) -> None:
        if isinstance(message, BytesSent):
            self.events.bytes_sent(message.worker, message.nbytes)
            held = self.scheduler.held_by(worker)
            for key, sending in self.sending.sent(held, message.nbytes, self.pool.config.connections).items():
                self.events.object_sending(key, sending)
        elif isinstance(message, PartDone):
            self._on_part_done(worker, message)
        elif isinstance(message, PartError):
            self._on_part_error(worker, message)
        elif isinstance(message, PartRetrying):
            self._on_part_retrying(message)
        elif isinstance(message, WorkerReady):
            self.events.worker_ready(message, self.pool.config.connections)
        elif isinstance(message, WorkerStats):
            self.events.worker_stats(message)

    # -- the run's request rate ---------------------------------------------------------

    def _store_throttled(self) -> None:
        """The store refused, failed or could not be reached: the whole run slows down."""
        now = self.clock()
        self.events.store_throttled()
        if self.rate.throttled(now):
            self.requests.set_limit(self.rate.limit(now))
            self.requests.rebalance(force=True)
            self.events.rate_limited(self.requests.limit)

    def _pace_requests(self) -> None:
        """Let the rate grow back as the store accepts (the workers' shares follow)."""
        limit = self.rate.limit(self.clock())
        if limit != self.requests.limit:
            self.requests.set_limit(limit)
            self.requests.rebalance()

    def _on_last_message(self, worker: Worker, message: object) -> None:
        """A stopping worker's last words: its progress and resource use."""
        if isinstance(message, (BytesSent, WorkerStats, PartRetrying)):
            self._on_message(worker, message)

    def _on_part_done(self, worker: Worker, done: PartDone) -> None:
        self.rate.succeeded(self.clock())
        obj, task = self.scheduler.answered(worker, done.task_id)
        self.events.object_sending(*self.sending.answered(task))
        record = PartRecord(
            key=task.key,
            part_number=task.part_number,
            worker=done.worker,
            pid=done.pid,
            connection=done.connection,
            request_on_connection=done.request_on_connection,
            attempts=done.attempts,
            data_path=done.data_path,
            fallback=done.fallback,
            ktls_rx=done.ktls_rx,
            tls=done.tls,
        )
        self.events.part_sent(record, task.source.length)
        if obj.closed:
            self._abort_when_idle(obj)
            return
        if (changed := self._seen(obj, done)) is not None:
            self._file_changed(obj, f"{obj.job.source.path}: {CHANGED} ({changed})")
            return
        obj.unechoed += not done.echoed
        self.events.part_done(obj.job, record, task.source.length, done.etag, done.checksum)
        if obj.upload_id is None:
            obj.result.etag, obj.result.checksum = done.etag, done.checksum
            self._object_done(obj)
            return
        number = task.part_number
        assert number is not None  # a part of the multipart upload
        obj.done[number] = (done.etag, done.checksum)
        if obj.spool is not None:
            obj.spool.release(obj.spooled.pop(number))  # its memory back
        if obj.all_parts_done:
            self._complete(obj)

    def _seen(self, obj: ObjectUpload, done: PartDone) -> str | None:
        """Whether the file a worker found is the one the object's other parts came from
        (a file only its node can read is known from its first part on); what changed."""
        if done.source_seen is None or obj.job.stream is not None:
            return None  # a stream's spool grows between its parts
        if obj.seen is None:
            obj.seen = done.source_seen
            if obj.job.source.mtime_ns == 0:
                self.events.source_seen(obj.job, done.source_seen)
            return None
        what = obj.seen.differs_from(done.source_seen)
        return None if what is None else f"{what} changed between its parts"

    def _on_part_retrying(self, retrying: PartRetrying) -> None:
        if retrying.throttled:
            self._store_throttled()
        entry = self.scheduler.lookup(retrying.task_id)
        if entry is not None:
            task = entry[1]
            self.events.part_retried(retrying.worker, task.key, task.part_number, retrying.attempt, retrying.reason)

    def _on_part_error(self, worker: Worker, error: PartError) -> None:
        obj, task = self.scheduler.answered(worker, error.task_id)
        self.events.object_sending(*self.sending.answered(task))
        if error.fatal:
            raise FatalRemoteError(error.message)
        if obj.closed:
            self._abort_when_idle(obj)
            return
        if error.code == "changed":
            self._file_changed(obj, error.message)
            return
        if error.code == "PreconditionFailed" and obj.settings.no_overwrite and obj.upload_id is None:
            self._key_taken(obj)
            return
        if error.code == "NoSuchUpload" and obj.upload_id is not None:
            # Gone: a lifecycle rule, a cleanup, or a store that drops an upload whose part
            # it refused (rclone's does). Whatever the server holds of it is lost: start over.
            self._open_uploads.pop(obj.upload_id, None)
            obj.upload_id = None
            self._restart(obj, "its multipart upload vanished while its parts were sent (NoSuchUpload)")
            return
        if error.code in WRITTEN_BUT_WRONG and obj.upload_id is None:
            self.store.delete(obj.job)  # the store holds a PutObject it says is other bytes
            error = dataclasses.replace(error, message=f"{error.message}; the object was removed")
        self._fail_object(obj, error.message)

    def _worker_died(self, worker: Worker, why: str) -> None:
        """Give a dead worker's parts to the others, and start a worker in its place."""
        self.events.worker_lost(worker.index, why)
        self.scheduler.requeue(worker)
        self.pool.replace(worker)
        for obj in [o for o in self._open_uploads.values() if o.closed]:
            self._abort_when_idle(obj)  # its last part in flight died with the worker
        for obj, reason in self.scheduler.drop_unservable():
            self._fail_object(obj, reason)
