"""The coordinator: turns jobs into part tasks, runs the control plane, feeds the workers.

Data path: files -> jobs (plan) -> here (CreateMultipartUpload, dispatch, Complete or
Abort) -> workers (connections, engine) -> kernel. Workers, local processes or Ray actors,
get descriptors from their pool, never file bytes; results and bounded-rate progress come
back the same way. A listener (the migration journal) hears every step that must survive
a crash.
"""
from __future__ import annotations

import itertools
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Iterable, Iterator

import botocore.exceptions as bex

from .errors import FatalRemoteError
from .jobs import BucketRoute, ObjectSettings, UploadJob, guess_content_type
from .messages import (BytesSent, PartDone, PartError, PartRetrying, PartTask, WorkerReady,
                       WorkerStats)
from .plan import PartRange, choose_part_size, is_multipart, split_parts
from .pool import Pool, Worker, WorkerGone
from .progress import ProgressSink
from .request import CredentialSet
from .responses import FATAL_CODES
from .results import ObjectResult, PartRecord, UploadResult
from .s3client import describe, error_code, frozen_credentials

CREDENTIAL_CHECK_INTERVAL = 60.0
MAX_QUEUED_AHEAD = 1024     # tasks planned ahead while every free worker waits on pinned ones


class UploadListener:
    """Hears each step of each object that a resumed run must know about; ignores them here."""

    def creating_upload(self, job: UploadJob, part_size: int) -> None: ...
    def upload_created(self, job: UploadJob, upload_id: str, part_size: int) -> None: ...
    def part_done(self, job: UploadJob, number: int, etag: str, checksum: str | None) -> None: ...
    def object_done(self, job: UploadJob, result: ObjectResult) -> None: ...
    def object_failed(self, job: UploadJob, reason: str) -> None: ...
    def flush(self) -> None:
        """Make the steps heard so far durable (called between rounds and before
        the control-plane calls that a crash must not outrun)."""


@dataclass
class _Object:
    """An object being uploaded: its multipart state and the parts back so far."""

    job: UploadJob
    result: ObjectResult
    upload_id: str | None = None
    ranges: list[PartRange] = field(default_factory=list)
    done: dict[int, tuple[str, str | None]] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return self.result.error is not None

    @property
    def settings(self) -> ObjectSettings:
        return self.job.settings


class Coordinator:
    """Uploads jobs (to one or more buckets) with a pool of workers (processes or Ray actors).

    ``keep_uploads``: on an interruption or fatal error, leave open multipart uploads for a
    resumed run instead of aborting them (a migration's journal knows them).
    """

    def __init__(self, session, routes: dict[str, BucketRoute], pool: Pool,
                 progress: ProgressSink, listener: UploadListener | None = None,
                 keep_uploads: bool = False, record: bool = True) -> None:
        self.session = session
        self.routes = routes
        self.pool = pool
        self.worker_config = pool.config
        self.progress = progress
        self.listener = listener or UploadListener()
        self.keep_uploads = keep_uploads
        self.result = UploadResult(record=record)
        self._tasks: dict[int, tuple[_Object, PartTask]] = {}
        self._queues: dict[str | None, deque[PartTask]] = {None: deque()}   # by pinned node
        self._queued = 0
        self._open_uploads: dict[str, _Object] = {}
        self._task_ids = itertools.count(1)
        self._credentials: CredentialSet = pool.config.credentials
        self._last_credential_check = time.monotonic()
        self._exhausted = False

    # -- the run -----------------------------------------------------------------------

    def run(self, jobs: Iterable[UploadJob], objects: int, total_bytes: int) -> UploadResult:
        """Upload ``jobs`` (``objects`` of them, ``total_bytes`` in all)."""
        started = time.monotonic()
        self.progress.start(objects, total_bytes)
        try:
            self.pool.start()
            self._dispatch(iter(jobs))
        except BaseException:
            if not self.keep_uploads:
                self._abort_open_uploads()
            raise
        finally:
            self.listener.flush()
            self.pool.stop(self._on_last_message)
            self.result.seconds = time.monotonic() - started
        return self.result

    def _dispatch(self, pending: Iterator[UploadJob]) -> None:
        self._exhausted = False
        while True:
            self._fill_workers(pending)
            if self._exhausted and not self._tasks:
                return
            self._handle_messages()
            self._refresh_credentials()

    def _fill_workers(self, pending: Iterator[UploadJob]) -> None:
        """Hand out tasks one at a time to the least busy worker, up to its queue depth."""
        depth = self.pool.queue_depth_per_connection * max(1, self.worker_config.connections)
        idle: set[Worker] = set()       # workers with nothing they may take this round
        while True:
            candidates = [w for w in self.pool.accepting()
                          if len(w.in_flight) < depth and w not in idle]
            if not candidates:
                break
            worker = min(candidates, key=lambda w: len(w.in_flight))
            task = self._next_task(worker, pending)
            if task is None:
                idle.add(worker)
                continue
            worker.in_flight.add(task.task_id)
            self.pool.send(worker, task)
        self.pool.flush()

    def _next_task(self, worker: Worker, pending: Iterator[UploadJob]) -> PartTask | None:
        """The next task ``worker`` may send: pinned to its node first, else any unpinned."""
        while (task := self._pop_queued(worker)) is None:
            if self._exhausted or self._queued >= MAX_QUEUED_AHEAD:
                return None
            job = next(pending, None)
            if job is None:
                self._exhausted = True
                return None
            self._plan(job)
        return task

    def _pop_queued(self, worker: Worker) -> PartTask | None:
        for node, queue in self._queues.items():
            if node is not None and not self.pool.serves(worker, node):
                continue
            while queue:
                task = queue.popleft()
                self._queued -= 1
                obj, _ = self._tasks[task.task_id]
                if not obj.failed:
                    return task
                del self._tasks[task.task_id]
        return None

    # -- planning and the control plane -----------------------------------------------

    def _plan(self, job: UploadJob) -> None:
        """Queue a job's tasks, creating (or continuing) its multipart upload if it has one."""
        source, settings = job.source, job.settings
        obj = _Object(job, ObjectResult(source.key, source.path, source.size, bucket=job.bucket))
        self.result.add_object(obj.result)
        if job.node is not None and (why := self.pool.unservable(job.node)):
            self._fail_object(obj, why)
            return
        part_size = job.part_size or choose_part_size(source.size, settings.part_size)
        threshold = settings.multipart_threshold or part_size
        if job.upload_id is None and not is_multipart(source.size, threshold):
            self._enqueue(obj, None, PartRange(1, 0, source.size),
                          settings.put_headers(source.path), job.checksum)
            return
        obj.upload_id = job.upload_id or self._create_multipart(obj, part_size)
        if obj.upload_id is None:
            return
        self._open_uploads[obj.upload_id] = obj
        obj.ranges = list(split_parts(source.size, part_size))
        obj.result.parts = len(obj.ranges)
        obj.done = {n: done for n, done in job.parts_done.items() if n <= len(obj.ranges)}
        self.progress.object_started(source.key, source.size, len(obj.ranges))
        for part in obj.ranges:
            if part.number not in obj.done:
                self._enqueue(obj, part.number, part, ())
        if len(obj.done) == len(obj.ranges):
            self._complete(obj)

    def _enqueue(self, obj: _Object, number: int | None, part: PartRange,
                 headers: tuple[tuple[str, str], ...], checksum: str | None = None) -> None:
        source, algorithm = obj.job.source, obj.settings.checksum.name
        task = PartTask(next(self._task_ids), self.routes[obj.job.bucket].endpoint, source.key,
                        source.path, part.offset, part.length, source.size, source.mtime_ns or None,
                        obj.upload_id, number, headers, checksum,
                        None if algorithm == self.worker_config.checksum else algorithm)
        self._tasks[task.task_id] = (obj, task)
        self._queues.setdefault(obj.job.node, deque()).append(task)
        self._queued += 1

    def _create_multipart(self, obj: _Object, part_size: int) -> str | None:
        job = obj.job
        self.listener.creating_upload(job, part_size)
        self.listener.flush()
        try:
            upload_id = self._client(job).create_multipart_upload(
                Bucket=job.bucket, Key=job.source.key, **obj.settings.create_params(job.source.path)
            )["UploadId"]
        except bex.ClientError as exc:
            self._fail_or_raise(obj, exc)
            return None
        self.listener.upload_created(job, upload_id, part_size)
        return upload_id

    def _complete(self, obj: _Object) -> None:
        job, algo = obj.job, obj.settings.checksum
        params: dict = {"Bucket": job.bucket, "Key": job.source.key, "UploadId": obj.upload_id,
                        "MultipartUpload": {"Parts": self._completed_parts(obj)}}
        if algo.full_object:
            whole = algo.combine_parts([(obj.done[r.number][1], r.length) for r in obj.ranges])
            if job.checksum is not None and job.checksum != whole:
                self._fail_object(obj, f"the file's {algo.name} {whole} is not the expected {job.checksum}")
                return
            params["ChecksumType"] = "FULL_OBJECT"
            params[algo.complete_key] = obj.result.checksum = whole
        self.listener.flush()       # every part is on record before the upload can vanish
        try:
            response = self._client(job).complete_multipart_upload(**params)
        except bex.ClientError as exc:
            if error_code(exc) != "NoSuchUpload" or not self._completed_meanwhile(obj):
                self._fail_or_raise(obj, exc)
                return
            response = {}
        self._open_uploads.pop(obj.upload_id, None)
        obj.result.etag = response.get("ETag", obj.result.etag)
        self._object_done(obj)

    @staticmethod
    def _completed_parts(obj: _Object) -> list[dict]:
        key = obj.settings.checksum.complete_key
        parts = []
        for number in range(1, len(obj.ranges) + 1):
            etag, checksum = obj.done[number]
            entry = {"PartNumber": number, "ETag": etag}
            if key and checksum:
                entry[key] = checksum
            parts.append(entry)
        return parts

    def _completed_meanwhile(self, obj: _Object) -> bool:
        """After NoSuchUpload at Complete: did an earlier (retried) Complete succeed?"""
        job, algo = obj.job, obj.settings.checksum
        try:
            head = self._client(job).head_object(Bucket=job.bucket, Key=job.source.key,
                                                 ChecksumMode="ENABLED")
        except (bex.ClientError, bex.BotoCoreError):
            return False
        if head.get("ContentLength") != job.source.size:
            return False
        expected = obj.result.checksum
        found = head.get(algo.complete_key) if algo.complete_key else None
        obj.result.etag = head.get("ETag", "")
        return expected is None or found is None or found == expected

    def _object_done(self, obj: _Object) -> None:
        self.result.object_done(obj.result)
        self.listener.object_done(obj.job, obj.result)
        self.progress.object_done(obj.result)

    def _fail_or_raise(self, obj: _Object, exc: bex.ClientError) -> None:
        message = describe(exc)
        if error_code(exc) in FATAL_CODES:
            raise FatalRemoteError(message)
        self._fail_object(obj, message)

    def _fail_object(self, obj: _Object, reason: str) -> None:
        if obj.failed:
            return
        obj.result.error = reason
        if obj.upload_id and obj.upload_id in self._open_uploads:
            self._abort(obj)
        self.result.object_failed(obj.result)
        self.listener.object_failed(obj.job, reason)
        self.progress.object_failed(obj.result)

    def _abort(self, obj: _Object) -> None:
        try:
            self._client(obj.job).abort_multipart_upload(Bucket=obj.job.bucket, Key=obj.job.source.key,
                                                         UploadId=obj.upload_id)
        except (bex.ClientError, bex.BotoCoreError):
            pass   # reported by the caller's error; `bulkup cleanup` can find it later
        self._open_uploads.pop(obj.upload_id, None)

    def _abort_open_uploads(self) -> None:
        for obj in list(self._open_uploads.values()):
            self._abort(obj)

    def _client(self, job: UploadJob):
        return self.routes[job.bucket].client

    # -- results from workers ----------------------------------------------------------

    def _handle_messages(self) -> None:
        if not self.pool.live():
            lost = "; ".join(f"worker {i}: {why}" for i, why in self.result.workers_lost)
            raise FatalRemoteError(f"worker processes keep dying ({lost})")
        self.listener.flush()
        for worker, message in self.pool.receive(0.5):
            if isinstance(message, WorkerGone):
                self._worker_died(worker, message.why)
            elif worker.alive:
                self._on_message(worker, message)

    def _on_message(self, worker: Worker, message: object) -> None:
        if isinstance(message, BytesSent):
            self.progress.bytes_sent(message.worker, message.nbytes)
        elif isinstance(message, PartDone):
            self._on_part_done(worker, message)
        elif isinstance(message, PartError):
            self._on_part_error(worker, message)
        elif isinstance(message, PartRetrying):
            self._on_part_retrying(message)
        elif isinstance(message, WorkerReady):
            self.result.engines[message.worker] = message.engine_label
            if message.node:
                self.result.nodes[message.worker] = message.node
            self.progress.worker_ready(message, self.worker_config.connections)
        elif isinstance(message, WorkerStats):
            self.result.workers[message.worker] = message

    def _on_last_message(self, worker: Worker, message: object) -> None:
        """A stopping worker's last words: its progress and resource use."""
        if isinstance(message, (BytesSent, WorkerStats, PartRetrying)):
            self._on_message(worker, message)

    def _on_part_done(self, worker: Worker, done: PartDone) -> None:
        obj, task = self._finish_task(worker, done.task_id)
        record = PartRecord(task.key, task.part_number, done.worker, done.pid, done.connection,
                            done.request_on_connection, done.attempts, done.path, done.fallback,
                            done.ktls_rx)
        self.result.add_part(record, task.length)
        if obj.failed:
            return
        self.progress.part_done(task.key, task.length, record)
        if obj.upload_id is None:
            obj.result.etag, obj.result.checksum = done.etag, done.checksum
            self._object_done(obj)
            return
        obj.done[task.part_number] = (done.etag, done.checksum)
        self.listener.part_done(obj.job, task.part_number, done.etag, done.checksum)
        if len(obj.done) == len(obj.ranges):
            self._complete(obj)

    def _on_part_retrying(self, retrying: PartRetrying) -> None:
        entry = self._tasks.get(retrying.task_id)
        if entry is not None:
            task = entry[1]
            self.progress.part_retried(retrying.worker, task.key, task.part_number,
                                       retrying.attempt, retrying.reason)

    def _on_part_error(self, worker: Worker, error: PartError) -> None:
        obj, task = self._finish_task(worker, error.task_id)
        if error.fatal:
            raise FatalRemoteError(error.message)
        self._fail_object(obj, error.message)

    def _finish_task(self, worker: Worker, task_id: int) -> tuple[_Object, PartTask]:
        worker.in_flight.discard(task_id)
        return self._tasks.pop(task_id)

    def _worker_died(self, worker: Worker, why: str) -> None:
        """Give a dead worker's parts to the others, and start a worker in its place."""
        worker.alive = False
        self.result.workers_lost.append((worker.index, why))
        self.progress.worker_lost(worker.index, why)
        for task_id in sorted(worker.in_flight, reverse=True):
            obj, task = self._tasks[task_id]
            self._queues.setdefault(obj.job.node, deque()).appendleft(task)
            self._queued += 1
        worker.in_flight.clear()
        self.pool.replace(worker)
        self._fail_unservable()

    def _fail_unservable(self) -> None:
        """Fail objects pinned to a node that no worker can send from any more."""
        for node, queue in self._queues.items():
            if node is None or not queue or not (why := self.pool.unservable(node)):
                continue
            while queue:
                task = queue.popleft()
                self._queued -= 1
                obj, _ = self._tasks.pop(task.task_id)
                self._fail_object(obj, why)

    # -- credentials ------------------------------------------------------------------

    def _refresh_credentials(self) -> None:
        now = time.monotonic()
        if now - self._last_credential_check < CREDENTIAL_CHECK_INTERVAL:
            return
        self._last_credential_check = now
        current = frozen_credentials(self.session)
        if current != self._credentials:
            self._credentials = current
            self.pool.update_credentials(current)


__all__ = ["Coordinator", "UploadListener", "ObjectSettings", "UploadJob", "BucketRoute",
           "UploadResult", "ObjectResult", "PartRecord", "guess_content_type"]
