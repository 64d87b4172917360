"""The coordinator: runs jobs through a pool of workers and the store's control plane.

Data path: jobs (``bulkup.plan``) -> here -> workers (``bulkup.pools``, ``bulkup.transport``)
-> kernel. The coordinator plans each job into part tasks (creating its multipart upload),
lets the scheduler hand tasks to workers, routes the workers' answers, and completes or
aborts each upload through ``S3Calls``. Every step is told once to ``RunEvents``, which
passes it to the result, the display and listeners (a migration's journal).
"""
from __future__ import annotations

import itertools
import time
from typing import Iterable

from bulkup.control.credentials import CredentialWatch
from bulkup.control.events import RunEvents
from bulkup.control.inflight import ObjectUpload
from bulkup.control.plane import BucketRoute
from bulkup.control.s3calls import ObjectFailed, S3Calls
from bulkup.control.scheduler import Scheduler
from bulkup.errors import FatalRemoteError
from bulkup.plan.jobs import UploadJob
from bulkup.plan.parts import PartRange, choose_part_size, is_multipart, split_parts
from bulkup.plan.results import ObjectResult, PartRecord, UploadResult
from bulkup.pools.base import Pool, Worker, WorkerGone
from bulkup.transport.filebody import FileRange
from bulkup.transport.messages import (BytesSent, PartDone, PartError, PartRetrying, PartTask,
                                       WorkerReady, WorkerStats)

RECEIVE_WAIT = 0.5          # seconds to wait for workers' messages per round


class Coordinator:
    """Uploads jobs (to one or more buckets) with a pool of workers (processes or Ray actors).

    ``keep_uploads``: on an interruption or fatal error, leave open multipart uploads for a
    resumed run instead of aborting them (a migration's journal knows them).
    """

    def __init__(self, routes: dict[str, BucketRoute], pool: Pool, events: RunEvents,
                 credentials: CredentialWatch | None = None, keep_uploads: bool = False) -> None:
        self.routes = routes
        self.pool = pool
        self.events = events
        self.result: UploadResult = events.result
        self.store = S3Calls(routes)
        self.scheduler = Scheduler(pool, self._plan)
        self.credentials = credentials
        self.keep_uploads = keep_uploads
        self._open_uploads: dict[str, ObjectUpload] = {}
        self._task_ids = itertools.count(1)

    # -- the run -----------------------------------------------------------------------

    def run(self, jobs: Iterable[UploadJob], objects: int, total_bytes: int) -> UploadResult:
        """Upload ``jobs`` (``objects`` of them, ``total_bytes`` in all)."""
        started = time.monotonic()
        self.events.run_started(objects, total_bytes)
        try:
            self.pool.start()
            self.scheduler.start(jobs)
            while True:
                self.scheduler.fill()
                if self.scheduler.finished:
                    break
                self._handle_messages()
                if self.credentials is not None:
                    self.credentials.check()
        except BaseException:
            if not self.keep_uploads:
                self._abort_open_uploads()
            raise
        finally:
            self.events.flush()
            self.pool.stop(self._on_last_message)
            self.result.seconds = time.monotonic() - started
        return self.result

    # -- planning ------------------------------------------------------------------------

    def _plan(self, job: UploadJob) -> None:
        """Queue a job's tasks, creating (or continuing) its multipart upload if it has one."""
        source, settings = job.source, job.settings
        obj = ObjectUpload(job=job, result=ObjectResult(key=source.key, path=source.path,
                                                        size=source.size, bucket=job.bucket))
        self.events.object_planned(obj.result)
        if job.node is not None and (why := self.pool.unservable(job.node)):
            self._fail_object(obj, why)
            return
        part_size = job.part_size or choose_part_size(source.size, settings.part_size)
        threshold = settings.multipart_threshold or part_size
        if job.upload_id is None and not is_multipart(source.size, threshold):
            self._enqueue(obj, PartRange(1, 0, source.size), single=True)
            return
        obj.upload_id = job.upload_id or self._create_upload(obj, part_size)
        if obj.upload_id is None:
            return
        self._open_uploads[obj.upload_id] = obj
        obj.ranges = list(split_parts(source.size, part_size))
        obj.result.parts = len(obj.ranges)
        obj.done = {n: done for n, done in job.parts_done.items() if n <= len(obj.ranges)}
        self.events.object_started(source.key, source.size, len(obj.ranges))
        for part in obj.ranges:
            if part.number not in obj.done:
                self._enqueue(obj, part, single=False)
        if obj.all_parts_done:
            self._complete(obj)

    def _enqueue(self, obj: ObjectUpload, part: PartRange, single: bool) -> None:
        job = obj.job
        source = FileRange(path=job.source.path, offset=part.offset, length=part.length,
                           file_size=job.source.size, file_mtime_ns=job.source.mtime_ns or None)
        task = PartTask(task_id=next(self._task_ids), endpoint=self.routes[job.bucket].endpoint,
                        key=job.source.key, source=source,
                        checksum_algorithm=obj.settings.checksum.name,
                        upload_id=None if single else obj.upload_id,
                        part_number=None if single else part.number,
                        headers=obj.settings.put_headers(job.source.path) if single else (),
                        checksum=job.checksum if single else None)
        self.scheduler.add(obj, task)

    def _create_upload(self, obj: ObjectUpload, part_size: int) -> str | None:
        self.events.creating_upload(obj.job, part_size)
        try:
            upload_id = self.store.create(obj.job)
        except ObjectFailed as exc:
            self._fail_object(obj, str(exc))
            return None
        self.events.upload_created(obj.job, upload_id, part_size)
        return upload_id

    # -- finishing objects -----------------------------------------------------------------

    def _complete(self, obj: ObjectUpload) -> None:
        algorithm = obj.settings.checksum
        whole_checksum: dict[str, str] = {}
        if algorithm.full_object:
            whole = algorithm.combine_parts([(obj.done[r.number][1], r.length) for r in obj.ranges])
            if obj.job.checksum is not None and obj.job.checksum != whole:
                self._fail_object(obj, f"the file's {algorithm.name} {whole} is not the expected "
                                       f"{obj.job.checksum}")
                return
            whole_checksum = {"ChecksumType": "FULL_OBJECT", algorithm.complete_key: whole}
            obj.result.checksum = whole
        self.events.flush()       # every part is on record before the upload can vanish
        try:
            etag = self.store.complete(obj.job, obj.upload_id, self._completed_parts(obj), whole_checksum)
            if etag is None:
                etag = self._completed_meanwhile(obj)
        except ObjectFailed as exc:
            self._fail_object(obj, str(exc))
            return
        self._open_uploads.pop(obj.upload_id, None)
        obj.result.etag = etag or obj.result.etag
        self.events.object_done(obj.job, obj.result)

    @staticmethod
    def _completed_parts(obj: ObjectUpload) -> list[dict]:
        key = obj.settings.checksum.complete_key
        parts = []
        for number in range(1, len(obj.ranges) + 1):
            etag, checksum = obj.done[number]
            entry = {"PartNumber": number, "ETag": etag}
            if key and checksum:
                entry[key] = checksum
            parts.append(entry)
        return parts

    def _completed_meanwhile(self, obj: ObjectUpload) -> str:
        """After NoSuchUpload at Complete: did an earlier (retried) Complete succeed? Its
        ETag if so; else ObjectFailed."""
        head = self.store.head(obj.job)
        algorithm = obj.settings.checksum
        if head is None or head.get("ContentLength") != obj.job.source.size:
            raise ObjectFailed("CompleteMultipartUpload: NoSuchUpload: the upload is gone "
                               "and the object is not there")
        expected = obj.result.checksum
        found = head.get(algorithm.complete_key) if algorithm.complete_key else None
        if expected is not None and found is not None and found != expected:
            raise ObjectFailed("CompleteMultipartUpload: NoSuchUpload: the upload is gone and "
                               "the object there has another checksum")
        return head.get("ETag", "")

    def _fail_object(self, obj: ObjectUpload, reason: str) -> None:
        if obj.failed:
            return
        obj.result.error = reason
        if obj.upload_id and obj.upload_id in self._open_uploads:
            self._abort(obj)
        self.events.object_failed(obj.job, obj.result)

    def _abort(self, obj: ObjectUpload) -> None:
        self.store.abort(obj.job, obj.upload_id)
        self._open_uploads.pop(obj.upload_id, None)

    def _abort_open_uploads(self) -> None:
        for obj in list(self._open_uploads.values()):
            self._abort(obj)

    # -- what workers say ----------------------------------------------------------------

    def _handle_messages(self) -> None:
        """One round of workers' messages, in the order each worker sent them; a worker's
        death is handled after its last messages."""
        if not self.pool.live():
            lost = "; ".join(f"worker {i}: {why}" for i, why in self.result.workers_lost)
            raise FatalRemoteError(f"worker processes keep dying ({lost})")
        self.events.flush()
        buried: set[Worker] = set()
        for worker, message in self.pool.receive(RECEIVE_WAIT):
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

    def _on_last_message(self, worker: Worker, message: object) -> None:
        """A stopping worker's last words: its progress and resource use."""
        if isinstance(message, (BytesSent, WorkerStats, PartRetrying)):
            self._on_message(worker, message)

    def _on_part_done(self, worker: Worker, done: PartDone) -> None:
        obj, task = self.scheduler.answered(worker, done.task_id)
        record = PartRecord(key=task.key, part_number=task.part_number, worker=done.worker,
                            pid=done.pid, connection=done.connection,
                            request_on_connection=done.request_on_connection,
                            attempts=done.attempts, data_path=done.data_path,
                            fallback=done.fallback, ktls_rx=done.ktls_rx)
        self.events.part_sent(record, task.source.length)
        if obj.failed:
            return
        self.events.part_done(obj.job, record, task.source.length, done.etag, done.checksum)
        if obj.upload_id is None:
            obj.result.etag, obj.result.checksum = done.etag, done.checksum
            self.events.object_done(obj.job, obj.result)
            return
        obj.done[task.part_number] = (done.etag, done.checksum)
        if obj.all_parts_done:
            self._complete(obj)

    def _on_part_retrying(self, retrying: PartRetrying) -> None:
        entry = self.scheduler.lookup(retrying.task_id)
        if entry is not None:
            task = entry[1]
            self.events.part_retried(retrying.worker, task.key, task.part_number,
                                     retrying.attempt, retrying.reason)

    def _on_part_error(self, worker: Worker, error: PartError) -> None:
        obj, _ = self.scheduler.answered(worker, error.task_id)
        if error.fatal:
            raise FatalRemoteError(error.message)
        self._fail_object(obj, error.message)

    def _worker_died(self, worker: Worker, why: str) -> None:
        """Give a dead worker's parts to the others, and start a worker in its place."""
        self.events.worker_lost(worker.index, why)
        self.scheduler.requeue(worker)
        self.pool.replace(worker)
        for obj, reason in self.scheduler.drop_unservable():
            self._fail_object(obj, reason)
