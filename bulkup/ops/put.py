"""``put``: files, trees and streams to S3 (plan the sources, ask the store, run, judge).

Where the environment is plain and the store's every answer is remembered
(``control.remembered``), a run needs nothing of boto3 (~0.3 s of CPU to load, and a
HeadBucket) until a call needs it, and a handful of small files goes faster than worker
processes start (an interpreter and its imports each): they are sent from this process, on
its own connections, by the same coordinator and senders. Which way a run goes is decided
before anything is sent; anything else goes the usual way (boto3 asks, workers send).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bulkup.control import botoerrors as bex
from bulkup.control.events import EXISTS, RunEvents
from bulkup.control.plane import ControlPlane, Plane, connect
from bulkup.control.remembered import RememberedPlane, remembered_plane
from bulkup.control.s3client import describe, error_code
from bulkup.control.spool import Spool
from bulkup.display.sink import ProgressSink
from bulkup.errors import FatalRemoteError, UsageError
from bulkup.ops.steps import ask_store, passed_over_lines, run_jobs
from bulkup.options.resolve import RunSettings
from bulkup.plan.files import Skip, SourceFile
from bulkup.plan.filters import Selection
from bulkup.plan.jobs import ObjectSettings, UploadJob, guess_content_type
from bulkup.plan.parts import choose_part_size, is_multipart
from bulkup.plan.results import ObjectResult, UploadResult
from bulkup.plan.s3url import S3Url, parse_s3_url
from bulkup.plan.sources import Collected, Collecting, collect_sources, iter_sources, surely_more_than
from bulkup.plan.sync import may_overwrite
from bulkup.pools.base import local_workers
from bulkup.pools.factory import launch_early

if TYPE_CHECKING:
    import boto3

    from bulkup.pools.local import WorkerLauncher

HANDFUL = 64  # files at most that may be sent from this process (each a single PutObject),
SMALL_BYTES = 16 << 20  # and bytes in all: beyond, the workers' cores are worth their start;
LOOP_FILES = 4096  # or, where its send loop would send them all, files at most (over the
# cores that workers would add: with 2, one thread sent 2,000 x 16 KiB in 0.74 s at 364 µs an
# object, two workers in 0.88 s at 513; the workers' start is paid back from ~4,000 objects)
NEVER_IN_PROCESS = "BULKUP_NEVER_IN_PROCESS"  # internal: "1": boto3 asks, worker processes send (tests)
log = logging.getLogger("bulkup")


def put(
    sources: list[str],
    destination: str,
    settings: RunSettings,
    progress: ProgressSink,
    session: boto3.Session | None = None,
    records: bool = True,
) -> UploadResult:
    """Upload ``sources`` (files, trees, or one stream) under ``destination``; per-object
    failures are in the result, BulkupError (one line) when nothing can be uploaded.
    ``records``: the result keeps every object and part uploaded (else totals only)."""
    dest = parse_s3_url(destination)
    if (stream := stream_source(sources)) is not None:
        return _put_stream(stream, dest, settings, progress, session)
    follow, filters = settings.sources.follow_symlinks, settings.sources.filters
    if settings.dry_run:
        return _dry_run_result(collect_sources(sources, dest, follow, filters))
    collecting = Collecting(sources, dest, follow, filters)
    with contextlib.ExitStack() as stack:
        # The workers start while the run is planned: at once where a glance shows that they send.
        launcher = stack.enter_context(launch_early(settings.pool)) if _plainly_many(sources, settings) else None
        plane = _remembered(dest, settings, session)
        if (
            plane is not None
            and launcher is None
            and (few := _sent_from_here(collecting, plane, dest, settings)) is not None
        ):
            log.debug("%d small files: sent from this process, the store's answers remembered", len(few.files))
            return _on_remembered(
                plane, dest, settings, lambda: put_files(few, dest, settings, progress, plane, None, records=records)
            )
        launcher = launcher or stack.enter_context(launch_early(settings.pool))
        found = collecting.rest()
        if plane is not None:
            log.debug("the store's answers remembered: no boto3 until a call needs it")
            return _on_remembered(
                plane,
                dest,
                settings,
                lambda: put_files(found, dest, settings, progress, plane, launcher, records=records),
            )
        control = connect(settings.client, session)
        kept = 0
        if settings.sources.if_size_differ or settings.sources.if_source_newer:
            found, kept = _replaceable(found, dest, settings, control)
        return put_files(found, dest, settings, progress, control, launcher, kept, records=records)


def put_files(
    found: Collected,
    dest: S3Url,
    settings: RunSettings,
    progress: ProgressSink,
    control: Plane,
    launcher: WorkerLauncher | None,
    kept: int = 0,
    stream: Spool | None = None,
    finish: bool = True,
    records: bool = True,
) -> UploadResult:
    """Upload the files ``found`` (their keys already under ``dest``) through ``control``,
    with workers from ``launcher`` (None: senders in this process; ``kept``: objects left
    as they were, for the summary; ``stream``: the one file found is this stream's spool;
    ``finish``: end the progress display with the summary, else the caller does, after more
    work; ``records``: keep every object and part in the result, else totals only)."""
    route, objects = ask_store(control, dest.bucket, dest.key, settings, progress.notice)
    jobs = [UploadJob(source=f, bucket=dest.bucket, settings=objects, stream=stream) for f in found.files]
    result = UploadResult(skipped=found.skipped, excluded=found.excluded, kept_count=kept, record=records)
    events = RunEvents(result, progress)
    total = None if stream else sum(f.size for f in found.files)
    try:
        result = run_jobs(jobs, len(jobs), total, {dest.bucket: route}, objects, settings, control, launcher, events)
    except BaseException:
        progress.close()
        raise
    if finish:
        progress.finish(result, passed_over_lines(result, found.skipped, found.excluded))
    return result


def _remembered(dest: S3Url, settings: RunSettings, session: boto3.Session | None) -> RememberedPlane | None:
    """The remembered plane for this run, if it may take it (None: boto3's): it needs no
    listing (--if-size-differ, --if-source-newer), no attribute the store is asked about or
    read back for, no Ray, no session of the caller's, and every answer of the store
    remembered."""
    if (
        os.environ.get(NEVER_IN_PROCESS) == "1"
        or session is not None
        or settings.pool.ray
        or settings.sources.if_size_differ
        or settings.sources.if_source_newer
        or settings.objects.attributes
        or settings.objects.preserve_mtime
    ):
        return None
    return remembered_plane(settings.client, dest.bucket, settings.checks.checksum, settings.objects.no_overwrite)


def _sent_from_here(
    collecting: Collecting, plane: RememberedPlane, dest: S3Url, settings: RunSettings
) -> Collected | None:
    """The files, if this process sends them sooner than worker processes would: up to
    ``LOOP_FILES`` (over the cores workers would add) where its send loop would send them
    all (user-space TLS, none over ``sendloop.SMALL`` bytes), else a handful of small ones;
    None: workers send them."""
    from bulkup.transport.sendloop import SMALL

    loop = _send_loop_runs(plane, dest, settings)
    few = collecting.at_most(_most_sent_here(settings, loop))
    if few is None:
        return None
    if loop and all(f.size <= SMALL for f in few.files):
        return few
    return few if len(few.files) <= HANDFUL and _small(few.files, settings.objects) else None


def _most_sent_here(settings: RunSettings, loop: bool) -> int:
    """Files at most that this process sends itself: ``LOOP_FILES`` over the cores workers
    would add where its send loop sends them (``loop``), else ``HANDFUL``."""
    return LOOP_FILES // max(1, local_workers(settings.pool.workers) - 1) if loop else HANDFUL


def _plainly_many(sources: list[str], settings: RunSettings) -> bool:
    """Whether the sources plainly hold more files than this process would send itself,
    whichever way it would (``sources.surely_more_than``; with no filters, which could leave
    most of them out)."""
    bound = max(_most_sent_here(settings, True), _most_sent_here(settings, False))
    return not settings.sources.filters and surely_more_than(sources, bound)


def _send_loop_runs(plane: RememberedPlane, dest: S3Url, settings: RunSettings) -> bool:
    """Whether the engine the run would choose is the send loop's (user-space TLS)."""
    from bulkup.transport.engines import EngineUnavailable, choose_engine
    from bulkup.transport.sendloop import SendLoop

    try:
        engine, _ = choose_engine(settings.sending.engine, plane.route(dest.bucket).endpoint.tls)
    except EngineUnavailable:
        return False  # the run says why, as it starts
    return SendLoop.runs_with(engine.name)


def _small(files: list[SourceFile], objects: ObjectSettings) -> bool:
    """Whether ``files`` are few and small: each a single PutObject (as the coordinator plans
    a put's files) and ``SMALL_BYTES`` at most in all."""
    for f in files:
        if is_multipart(f.size, objects.multipart_threshold or choose_part_size(f.size, objects.part_size)):
            return False
    return sum(f.size for f in files) <= SMALL_BYTES


def _on_remembered(
    plane: RememberedPlane, dest: S3Url, settings: RunSettings, send: Callable[[], UploadResult]
) -> UploadResult:
    """``send()`` on the remembered plane. A failure no object escapes (credentials, TLS, a
    bucket gone since it was remembered) forgets the route and asks HeadBucket, as the usual
    way would have first: where it fails, the run ends with its words (``bucket 'b' does
    not exist``), as it would have."""
    try:
        return send()
    except FatalRemoteError:
        plane.forget(dest.bucket)
        connect(settings.client).route(dest.bucket)
        raise


@dataclass
class Planned:
    """The files a put would upload, found as ``files`` is iterated (a tree of millions is
    never held in memory), and once it is done, what was passed over."""

    files: Iterator[SourceFile]
    skipped: list[Skip]
    selection: Selection

    @property
    def excluded(self) -> int:
        return self.selection.excluded


def planned(sources: list[str], destination: str, settings: RunSettings) -> Planned:
    """What ``put(sources, destination, settings)`` would upload, streamed (a dry run)."""
    dest = parse_s3_url(destination)
    skipped: list[Skip] = []
    selection = Selection(settings.sources.filters)
    files = iter_sources(sources, dest, settings.sources.follow_symlinks, selection, skipped)
    return Planned(files, skipped, selection)


def stream_source(paths: list[str]) -> str | None:
    """The one source if it is a stream (``-`` for stdin, a FIFO, a pipe as /dev/fd/N)."""
    if len(paths) != 1:
        return None
    if paths[0] == "-":
        return "-"
    try:
        return paths[0] if stat.S_ISFIFO(os.stat(paths[0]).st_mode) else None
    except OSError:
        return None


def _put_stream(
    name: str, dest: S3Url, settings: RunSettings, progress: ProgressSink, session: boto3.Session | None
) -> UploadResult:
    """One object from a stream of unknown length, in parts held in memory a few at a time."""
    if dest.is_prefix:
        raise UsageError(f"a stream has no name: give the object's key, not the prefix {dest}")
    if settings.pool.ray:
        raise UsageError("a stream is read on this machine: it cannot be sent with --ray")
    control = connect(settings.client, session)
    if settings.objects.no_overwrite and _key_taken(control, dest):  # before a byte is read
        return _left_as_it_was(name, dest, progress)
    part_size = choose_part_size(settings.sources.expected_size or 0, settings.objects.part_size)
    connections = local_workers(settings.pool.workers) * settings.sending.connections
    fd = 0 if name == "-" else os.open(name, os.O_RDONLY)
    spool = Spool(fd, part_size, max_parts=connections + 2, name="stdin" if name == "-" else name)
    content_type = settings.objects.content_type or guess_content_type(dest.key)
    settings = dataclasses.replace(settings, objects=dataclasses.replace(settings.objects, content_type=content_type))
    source = SourceFile(path=spool.path, key=dest.key, size=0, mtime_ns=0, ctime_ns=0, inode=0)
    spool.start()
    try:
        with launch_early(settings.pool) as launcher:
            return put_files(Collected(files=[source]), dest, settings, progress, control, launcher, stream=spool)
    finally:
        spool.close()
        if fd != 0:
            os.close(fd)


def _key_taken(control: ControlPlane, dest: S3Url) -> bool:
    """Whether an object is at ``dest`` (HeadObject); FatalRemoteError if the store cannot say."""
    client = control.route(dest.bucket).client
    try:
        client.head_object(Bucket=dest.bucket, Key=dest.key)
    except bex.ClientError as exc:
        if error_code(exc) in ("404", "NoSuchKey", "NotFound"):
            return False
        raise FatalRemoteError(
            f"cannot tell whether {dest} exists ({describe(exc)}): nothing was read from the stream"
        ) from None
    except bex.BotoCoreError as exc:
        raise FatalRemoteError(f"cannot tell whether {dest} exists ({describe(exc)})") from None
    return True


def _left_as_it_was(name: str, dest: S3Url, progress: ProgressSink) -> UploadResult:
    """The run's result when --no-overwrite finds the stream's key taken: nothing read or sent."""
    result = UploadResult()
    obj = ObjectResult(key=dest.key, path=name, size=0, bucket=dest.bucket, exists=True)
    result.add_object(obj)
    result.object_exists(obj)
    progress.start(1, None)
    progress.object_skipped(dest.key, 0, EXISTS)
    progress.finish(result, passed_over_lines(result, [], 0))
    return result


def _replaceable(found: Collected, dest: S3Url, settings: RunSettings, control: ControlPlane) -> tuple[Collected, int]:
    """The files whose object may be written under --if-size-differ / --if-source-newer, and
    how many objects are kept as they are (the prefix is listed once)."""
    from bulkup.control.listing import list_prefix, store_reads  # SQLite, a sync's reads: not every put's

    reads = store_reads(control, control.route(dest.bucket), dest.bucket, settings.sending.retry_deadline)
    try:
        there = list_prefix(reads, dest.key)
    finally:
        reads.close()
    size, newer = settings.sources.if_size_differ, settings.sources.if_source_newer
    files = [f for f in found.files if may_overwrite(f, there.get(f.key), size, newer)]
    return dataclasses.replace(found, files=files), len(found.files) - len(files)


def _dry_run_result(found: Collected) -> UploadResult:
    return UploadResult(
        objects=[ObjectResult(key=f.key, path=f.path, size=f.size) for f in found.files],
        skipped=found.skipped,
        excluded=found.excluded,
    )
