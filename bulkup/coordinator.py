"""The coordinator: plans objects into tasks, runs the control plane, feeds the workers.

Data path: files -> plan (parts) -> here (CreateMultipartUpload, dispatch, Complete or
Abort) -> worker processes (connections, engine) -> kernel. Workers get descriptors over
pipes, never file bytes; results and bounded-rate progress come back the same way.
"""
from __future__ import annotations

import itertools
import socket
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection as Pipe, wait
from typing import Iterator

import botocore.exceptions as bex

from .checksums import ChecksumAlgorithm
from .errors import FatalRemoteError
from .messages import (BytesSent, NewCredentials, PartDone, PartError, PartTask, WorkerConfig,
                       WorkerReady, WorkerStart, WorkerStats)
from .plan import PartRange, choose_part_size, is_multipart, split_parts
from .progress import ProgressSink
from .request import BucketEndpoint, CredentialSet
from .responses import FATAL_CODES
from .s3client import describe, frozen_credentials
from .sources import SourceFile

CREDENTIAL_CHECK_INTERVAL = 60.0
QUEUE_DEPTH_PER_CONNECTION = 2


@dataclass(frozen=True)
class ObjectSettings:
    """What every object of a run gets besides its bytes."""

    checksum: ChecksumAlgorithm
    part_size: int | None = None
    multipart_threshold: int | None = None
    content_type: str | None = None            # None: guessed per file
    metadata: tuple[tuple[str, str], ...] = ()
    storage_class: str | None = None
    sse: str | None = None
    sse_kms_key_id: str | None = None

    def put_headers(self, path: str) -> tuple[tuple[str, str], ...]:
        """The object's headers on a single PutObject (the checksum is added per request)."""
        headers = [("Content-Type", self.content_type or guess_content_type(path))]
        headers += [(f"x-amz-meta-{k}", v) for k, v in self.metadata]
        headers += [(header, getattr(self, name)) for name, _, header in _OPTIONAL if getattr(self, name)]
        return tuple(headers)

    def create_params(self, path: str) -> dict:
        """The same attributes as CreateMultipartUpload parameters, plus the checksum kind."""
        params: dict = {"ContentType": self.content_type or guess_content_type(path)}
        if self.metadata:
            params["Metadata"] = dict(self.metadata)
        params.update({param: getattr(self, name) for name, param, _ in _OPTIONAL if getattr(self, name)})
        if self.checksum.s3_name:
            params["ChecksumAlgorithm"] = self.checksum.s3_name
            if self.checksum.full_object:
                params["ChecksumType"] = "FULL_OBJECT"
        return params


# Optional object attributes: (ObjectSettings field, boto3 parameter, request header).
_OPTIONAL = (("storage_class", "StorageClass", "x-amz-storage-class"),
             ("sse", "ServerSideEncryption", "x-amz-server-side-encryption"),
             ("sse_kms_key_id", "SSEKMSKeyId", "x-amz-server-side-encryption-aws-kms-key-id"))


@dataclass(frozen=True)
class PartRecord:
    """Where one part went: for reports and for proving the work was spread."""

    key: str
    part_number: int | None
    worker: int
    pid: int
    connection: str
    request_on_connection: int
    attempts: int
    path: str = ""
    fallback: str | None = None
    ktls_rx: bool = False


@dataclass
class ObjectResult:
    key: str
    path: str
    size: int
    etag: str = ""
    checksum: str | None = None
    parts: int = 1
    error: str | None = None


@dataclass
class UploadResult:
    """The outcome of a run."""

    objects: list[ObjectResult] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    parts: list[PartRecord] = field(default_factory=list)
    engines: dict[int, str] = field(default_factory=dict)
    workers: dict[int, WorkerStats] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def uploaded(self) -> list[ObjectResult]:
        return [o for o in self.objects if o.error is None]

    @property
    def failed(self) -> list[ObjectResult]:
        return [o for o in self.objects if o.error is not None]

    @property
    def bytes_uploaded(self) -> int:
        return sum(o.size for o in self.uploaded)

    @property
    def ok(self) -> bool:
        return not self.failed

    def paths_by_worker(self) -> dict[int, dict[str, int]]:
        """For each worker, how many parts went by each data path (e.g. kTLS+sendfile)."""
        paths: dict[int, dict[str, int]] = {}
        for part in self.parts:
            counts = paths.setdefault(part.worker, {})
            counts[part.path] = counts.get(part.path, 0) + 1
        return paths

    def fallbacks(self) -> dict[int, str]:
        """Workers whose connections fell back from the chosen engine, with the reason."""
        return {p.worker: p.fallback for p in self.parts if p.fallback}


@dataclass
class _Object:
    """An object being uploaded: its multipart state and the parts back so far."""

    source: SourceFile
    result: ObjectResult
    upload_id: str | None = None
    ranges: list[PartRange] = field(default_factory=list)
    done: dict[int, PartDone] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return self.result.error is not None


@dataclass
class _Worker:
    index: int
    process: subprocess.Popen
    pipe: Pipe
    in_flight: set[int] = field(default_factory=set)
    alive: bool = True


class Coordinator:
    """Uploads a list of files to one bucket with a pool of worker processes."""

    def __init__(self, client, session, endpoint: BucketEndpoint, bucket: str,
                 settings: ObjectSettings, worker_config: WorkerConfig, workers: int,
                 progress: ProgressSink) -> None:
        self.client = client
        self.session = session
        self.endpoint = endpoint
        self.bucket = bucket
        self.settings = settings
        self.worker_config = worker_config
        self.worker_count = workers
        self.progress = progress
        self.result = UploadResult()
        self._workers: list[_Worker] = []
        self._tasks: dict[int, tuple[_Object, PartTask]] = {}
        self._queue: deque[PartTask] = deque()
        self._open_uploads: dict[str, _Object] = {}
        self._task_ids = itertools.count(1)
        self._credentials: CredentialSet = worker_config.credentials
        self._last_credential_check = time.monotonic()
        self._exhausted = False

    # -- the run -----------------------------------------------------------------------

    def run(self, files: list[SourceFile]) -> UploadResult:
        """Upload ``files``; abort what was started if the run cannot finish."""
        started = time.monotonic()
        self.progress.start(len(files), sum(f.size for f in files))
        pending_objects: Iterator[SourceFile] = iter(files)
        try:
            self._start_workers()
            self._dispatch(pending_objects)
        except BaseException:
            self._abort_open_uploads()
            raise
        finally:
            self._stop_workers()
            self.result.seconds = time.monotonic() - started
        return self.result

    def _dispatch(self, pending: Iterator[SourceFile]) -> None:
        self._exhausted = False
        while True:
            self._fill_workers(pending)
            if self._exhausted and not self._queue and not self._tasks:
                return
            self._handle_messages()
            self._refresh_credentials()

    def _fill_workers(self, pending: Iterator[SourceFile]) -> None:
        """Hand out tasks one at a time to the least busy worker, up to its queue depth."""
        depth = QUEUE_DEPTH_PER_CONNECTION * max(1, self.worker_config.connections)
        while True:
            candidates = [w for w in self._live_workers() if len(w.in_flight) < depth]
            if not candidates:
                return
            task = self._next_task(pending)
            if task is None:
                return
            self._assign(min(candidates, key=lambda w: len(w.in_flight)), task)

    def _next_task(self, pending: Iterator[SourceFile]) -> PartTask | None:
        while (task := self._pop_queued()) is None:
            if self._exhausted or self._plan_next(pending) is None:
                self._exhausted = True
                return None
        return task

    def _pop_queued(self) -> PartTask | None:
        while self._queue:
            task = self._queue.popleft()
            obj, _ = self._tasks[task.task_id]
            if not obj.failed:
                return task
            del self._tasks[task.task_id]
        return None

    def _assign(self, worker: _Worker, task: PartTask) -> None:
        worker.in_flight.add(task.task_id)
        worker.pipe.send(task)

    # -- planning and the control plane -----------------------------------------------

    def _plan_next(self, pending: Iterator[SourceFile]) -> _Object | None:
        """Turn the next file into queued tasks (creating its multipart upload if needed)."""
        source = next(pending, None)
        if source is None:
            return None
        obj = _Object(source, ObjectResult(source.key, source.path, source.size))
        self.result.objects.append(obj.result)
        part_size = choose_part_size(source.size, self.settings.part_size)
        threshold = self.settings.multipart_threshold or part_size
        if not is_multipart(source.size, threshold):
            self._enqueue(obj, None, PartRange(1, 0, source.size), self.settings.put_headers(source.path))
            return obj
        try:
            obj.upload_id = self._create_multipart(source)
        except bex.ClientError as exc:
            self._fail_or_raise(obj, exc)
            return obj
        self._open_uploads[obj.upload_id] = obj
        obj.ranges = list(split_parts(source.size, part_size))
        obj.result.parts = len(obj.ranges)
        for part in obj.ranges:
            self._enqueue(obj, part.number, part, ())
        return obj

    def _enqueue(self, obj: _Object, number: int | None, part: PartRange,
                 headers: tuple[tuple[str, str], ...]) -> None:
        task = PartTask(next(self._task_ids), self.endpoint, obj.source.key, obj.source.path,
                        part.offset, part.length, obj.source.size, obj.source.mtime_ns,
                        obj.upload_id, number, headers)
        self._tasks[task.task_id] = (obj, task)
        self._queue.append(task)

    def _create_multipart(self, source: SourceFile) -> str:
        params = self.settings.create_params(source.path)
        return self.client.create_multipart_upload(Bucket=self.bucket, Key=source.key, **params)["UploadId"]

    def _complete(self, obj: _Object) -> None:
        algo = self.settings.checksum
        parts = []
        for number in range(1, len(obj.ranges) + 1):
            done = obj.done[number]
            entry = {"PartNumber": number, "ETag": done.etag}
            if algo.complete_key and done.checksum:
                entry[algo.complete_key] = done.checksum
            parts.append(entry)
        params: dict = {"Bucket": self.bucket, "Key": obj.source.key, "UploadId": obj.upload_id,
                        "MultipartUpload": {"Parts": parts}}
        if algo.full_object:
            params["ChecksumType"] = "FULL_OBJECT"
            params[algo.complete_key] = algo.combine_parts(
                [(obj.done[r.number].checksum, r.length) for r in obj.ranges])
            obj.result.checksum = params[algo.complete_key]
        try:
            response = self.client.complete_multipart_upload(**params)
        except bex.ClientError as exc:
            self._fail_or_raise(obj, exc)
            return
        del self._open_uploads[obj.upload_id]
        obj.result.etag = response.get("ETag", "")
        self.progress.object_done(obj.result)

    def _fail_or_raise(self, obj: _Object, exc: bex.ClientError) -> None:
        message = describe(exc)
        code = exc.response.get("Error", {}).get("Code", "")
        if code in FATAL_CODES:
            raise FatalRemoteError(message)
        self._fail_object(obj, message)

    def _fail_object(self, obj: _Object, reason: str) -> None:
        if obj.failed:
            return
        obj.result.error = reason
        self.progress.object_failed(obj.result)
        if obj.upload_id and obj.upload_id in self._open_uploads:
            self._abort(obj)

    def _abort(self, obj: _Object) -> None:
        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=obj.source.key,
                                               UploadId=obj.upload_id)
        except (bex.ClientError, bex.BotoCoreError):
            pass   # reported by the caller's error; `bulkup cleanup` can find it later
        self._open_uploads.pop(obj.upload_id, None)

    def _abort_open_uploads(self) -> None:
        for obj in list(self._open_uploads.values()):
            self._abort(obj)

    # -- results from workers ----------------------------------------------------------

    def _handle_messages(self) -> None:
        live = self._live_workers()
        if not live:
            codes = ", ".join(str(w.process.poll()) for w in self._workers)
            raise FatalRemoteError(f"all worker processes died (exit codes {codes})")
        ready = wait([w.pipe for w in live], timeout=0.5)
        for worker in live:
            if worker.pipe in ready:
                self._drain(worker)

    def _drain(self, worker: _Worker) -> None:
        while worker.alive and worker.pipe.poll():
            try:
                message = worker.pipe.recv()
            except (EOFError, OSError):
                self._worker_died(worker)
                return
            self._on_message(worker, message)

    def _on_message(self, worker: _Worker, message: object) -> None:
        if isinstance(message, BytesSent):
            self.progress.bytes_sent(message.nbytes)
        elif isinstance(message, PartDone):
            self._on_part_done(worker, message)
        elif isinstance(message, PartError):
            self._on_part_error(worker, message)
        elif isinstance(message, WorkerReady):
            self.result.engines[message.worker] = message.engine_label
            self.progress.worker_ready(message)
        elif isinstance(message, WorkerStats):
            self.result.workers[message.worker] = message

    def _on_part_done(self, worker: _Worker, done: PartDone) -> None:
        obj, task = self._finish_task(worker, done.task_id)
        self.result.parts.append(PartRecord(task.key, task.part_number, done.worker, done.pid,
                                            done.connection, done.request_on_connection,
                                            done.attempts, done.path, done.fallback,
                                            done.ktls_rx))
        if obj.failed:
            return
        if obj.upload_id is None:
            obj.result.etag, obj.result.checksum = done.etag, done.checksum
            self.progress.object_done(obj.result)
            return
        obj.done[task.part_number] = done
        if len(obj.done) == len(obj.ranges):
            self._complete(obj)

    def _on_part_error(self, worker: _Worker, error: PartError) -> None:
        obj, task = self._finish_task(worker, error.task_id)
        if error.fatal:
            raise FatalRemoteError(error.message)
        self._fail_object(obj, error.message)

    def _finish_task(self, worker: _Worker, task_id: int) -> tuple[_Object, PartTask]:
        worker.in_flight.discard(task_id)
        return self._tasks.pop(task_id)

    def _worker_died(self, worker: _Worker) -> None:
        """Give a dead worker's parts to the others."""
        worker.alive = False
        for task_id in sorted(worker.in_flight, reverse=True):
            self._queue.appendleft(self._tasks[task_id][1])
        worker.in_flight.clear()

    # -- workers and credentials ------------------------------------------------------

    def _start_workers(self) -> None:
        """Start ``python -m bulkup.worker`` processes, each joined to us by a socket pair.

        Fresh interpreters (not fork, not multiprocessing's spawn) so that a caller's script
        is never re-imported and no coordinator thread or lock is inherited. A worker's end
        of the pair is held by the worker alone: its death shows as end-of-file here.
        """
        for index in range(self.worker_count):
            ours, theirs = socket.socketpair()
            process = subprocess.Popen([sys.executable, "-m", "bulkup.worker", str(theirs.fileno())],
                                       pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL)
            theirs.close()
            pipe = Pipe(ours.detach())
            pipe.send(WorkerStart(index, self.worker_config, self.endpoint.tls))
            self._workers.append(_Worker(index, process, pipe))

    def _stop_workers(self) -> None:
        for worker in self._workers:
            if worker.alive:
                try:
                    worker.pipe.send(None)
                except OSError:
                    pass
        deadline = time.monotonic() + 10
        for worker in self._workers:
            self._drain_until_exit(worker, deadline)
            try:
                worker.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait()
            worker.pipe.close()

    def _drain_until_exit(self, worker: _Worker, deadline: float) -> None:
        """Collect a stopping worker's last messages (its progress and resource use)."""
        while worker.alive and time.monotonic() < deadline:
            if not wait([worker.pipe], timeout=max(0.0, deadline - time.monotonic())):
                return
            try:
                message = worker.pipe.recv()
            except (EOFError, OSError):
                return
            if isinstance(message, WorkerStats):
                self.result.workers[message.worker] = message
                return
            if isinstance(message, BytesSent):
                self.progress.bytes_sent(message.nbytes)

    def _live_workers(self) -> list[_Worker]:
        return [w for w in self._workers if w.alive]

    def _refresh_credentials(self) -> None:
        now = time.monotonic()
        if now - self._last_credential_check < CREDENTIAL_CHECK_INTERVAL:
            return
        self._last_credential_check = now
        current = frozen_credentials(self.session)
        if current != self._credentials:
            self._credentials = current
            for worker in self._live_workers():
                worker.pipe.send(NewCredentials(current))


def guess_content_type(path: str) -> str:
    """The Content-Type for a file, from its name (as the AWS CLI guesses it)."""
    import mimetypes
    guessed, _ = mimetypes.guess_type(path, strict=False)
    return guessed or "binary/octet-stream"


__all__ = ["Coordinator", "ObjectSettings", "UploadResult", "ObjectResult", "PartRecord"]
