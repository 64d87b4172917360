"""The run's events, told once by the coordinator and fanned out to everyone who keeps them:
the run's result, the progress display, and listeners such as a migration's journal."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING

from bulkup.display.sink import ProgressSink
from bulkup.plan.files import FileIdentity, SourceFile
from bulkup.plan.jobs import UploadJob
from bulkup.plan.results import ObjectResult, PartRecord, UploadResult, WorkerStats

if TYPE_CHECKING:
    from bulkup.transport.messages import WorkerReady


class UploadListener(ABC):
    """Hears each step of each object that a resumed run must know about."""

    @abstractmethod
    def creating_upload(self, job: UploadJob, part_size: int) -> None:
        """CreateMultipartUpload is about to be sent."""

    @abstractmethod
    def upload_created(self, job: UploadJob, upload_id: str, part_size: int) -> None:
        """The server opened ``upload_id`` for ``job``."""

    @abstractmethod
    def part_done(self, job: UploadJob, number: int, etag: str, checksum: str | None) -> None:
        """The server accepted part ``number``."""

    @abstractmethod
    def source_seen(self, job: UploadJob, identity: FileIdentity) -> None:
        """A worker found the file so (the first look at a file only its node can read)."""

    @abstractmethod
    def object_restarted(self, job: UploadJob, source: SourceFile, reason: str) -> None:
        """The object starts over from ``source`` (its upload was aborted or is gone)."""

    @abstractmethod
    def object_done(self, job: UploadJob, result: ObjectResult) -> None:
        """The object is on the server."""

    @abstractmethod
    def object_failed(self, job: UploadJob, reason: str) -> None:
        """The object failed (its upload, if any, was aborted or is kept for resuming)."""

    @abstractmethod
    def object_exists(self, job: UploadJob) -> None:
        """The object was not written: its key was taken (--no-overwrite)."""

    @abstractmethod
    def flush(self) -> None:
        """Make the steps heard so far durable (called between rounds and before the
        control-plane calls that a crash must not outrun)."""


EXISTS = "exists (--no-overwrite)"


class RunEvents:
    """One call per event; each reaches the result, the display and every listener."""

    def __init__(self, result: UploadResult, progress: ProgressSink, listeners: Sequence[UploadListener] = ()) -> None:
        self.result = result
        self.progress = progress
        self.listeners = tuple(listeners)

    def run_started(self, objects: int, total_bytes: int | None) -> None:
        self.progress.start(objects, total_bytes)
        self.progress.show_pending_notices()

    def worker_ready(self, ready: WorkerReady, connections: int) -> None:
        self.result.engines[ready.worker] = ready.engine_label
        if ready.node:
            self.result.nodes[ready.worker] = ready.node
        self.progress.worker_ready(ready, connections)

    def worker_stats(self, stats: WorkerStats) -> None:
        self.result.workers[stats.worker] = stats

    def worker_lost(self, worker: int, why: str) -> None:
        self.result.workers_lost.append((worker, why))
        self.progress.worker_lost(worker, why)

    def bytes_sent(self, worker: int, nbytes: int) -> None:
        self.progress.bytes_sent(worker, nbytes)

    def object_planned(self, result: ObjectResult) -> None:
        self.result.add_object(result)

    def creating_upload(self, job: UploadJob, part_size: int) -> None:
        for listener in self.listeners:
            listener.creating_upload(job, part_size)
        self.flush()  # the intent is on record before the server can act on it

    def upload_created(self, job: UploadJob, upload_id: str, part_size: int) -> None:
        for listener in self.listeners:
            listener.upload_created(job, upload_id, part_size)

    def object_started(self, key: str, size: int, parts: int) -> None:
        self.progress.object_started(key, size, parts)

    def object_sending(self, key: str, nbytes: int) -> None:
        """An estimate of how much of ``key``'s parts in flight has been sent (for display)."""
        self.progress.object_sending(key, nbytes)

    def part_sent(self, record: PartRecord, length: int) -> None:
        """A part the server accepted, whatever became of its object."""
        self.result.add_part(record, length)

    def part_done(self, job: UploadJob, record: PartRecord, length: int, etag: str, checksum: str | None) -> None:
        """A part of a live object the server accepted."""
        self.progress.part_done(job.source.key, length, record)
        if record.part_number is not None:
            for listener in self.listeners:
                listener.part_done(job, record.part_number, etag, checksum)

    def source_seen(self, job: UploadJob, identity: FileIdentity) -> None:
        for listener in self.listeners:
            listener.source_seen(job, identity)

    def object_restarted(self, job: UploadJob, source: SourceFile, reason: str) -> None:
        for listener in self.listeners:
            listener.object_restarted(job, source, reason)
        self.progress.object_restarted(job.source.key, reason)

    def store_throttled(self) -> None:
        """The store asked the run to slow down (SlowDown, a 5xx) or could not be reached."""
        self.result.slowdowns += 1
        self.progress.store_throttled()

    def rate_limited(self, requests_per_second: float | None) -> None:
        """The run's request rate was cut to this."""
        if requests_per_second is not None:
            lowest = self.result.lowest_rate
            self.result.lowest_rate = requests_per_second if lowest is None else min(lowest, requests_per_second)
        self.progress.rate_limited(requests_per_second)

    def part_retried(self, worker: int, key: str, part: int | None, attempt: int, reason: str) -> None:
        self.progress.part_retried(worker, key, part, attempt, reason)

    def object_done(self, job: UploadJob, result: ObjectResult) -> None:
        self.result.object_done(result)
        for listener in self.listeners:
            listener.object_done(job, result)
        self.progress.object_done(result)

    def object_failed(self, job: UploadJob, result: ObjectResult) -> None:
        self.result.object_failed(result)
        for listener in self.listeners:
            listener.object_failed(job, result.error or "")
        self.progress.object_failed(result)

    def object_exists(self, job: UploadJob, result: ObjectResult) -> None:
        result.exists = True
        self.result.object_exists(result)
        for listener in self.listeners:
            listener.object_exists(job)
        self.progress.object_skipped(result.key, result.size, EXISTS)

    def flush(self) -> None:
        for listener in self.listeners:
            listener.flush()
