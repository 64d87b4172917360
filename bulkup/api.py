"""The Python API: ``bulkup.upload(sources, "s3://bucket/prefix/", ...)``."""

from __future__ import annotations

import dataclasses
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import botocore.exceptions as bex

from bulkup.control.attributecheck import check_attributes, confirm_after_run
from bulkup.control.coordinator import Coordinator
from bulkup.control.credentials import CredentialWatch
from bulkup.control.events import EXISTS, RunEvents
from bulkup.control.listing import list_prefix, store_reads
from bulkup.control.plane import ControlPlane, connect
from bulkup.control.s3client import describe, error_code
from bulkup.control.spool import Spool
from bulkup.display.sink import ProgressSink
from bulkup.display.text import counted
from bulkup.errors import FatalRemoteError, UsageError
from bulkup.options import RunSettings, UploadOptions, resolve
from bulkup.plan.files import Skip, SourceFile
from bulkup.plan.filters import Selection
from bulkup.plan.jobs import UploadJob, guess_content_type
from bulkup.plan.parts import choose_part_size
from bulkup.plan.results import ObjectResult, UploadResult
from bulkup.plan.s3url import S3Url, parse_s3_url
from bulkup.plan.sources import Collected, collect_sources, iter_sources
from bulkup.plan.sync import may_overwrite
from bulkup.pools.base import local_workers
from bulkup.pools.factory import launch_early, make_pool
from bulkup.pools.local import WorkerLauncher

if TYPE_CHECKING:
    import boto3


def upload(
    sources: str | list[str],
    destination: str,
    options: UploadOptions | None = None,
    progress: ProgressSink | None = None,
    session: boto3.Session | None = None,
    **kwargs,
) -> UploadResult:
    """Upload files and directory trees to ``s3://bucket/prefix/``.

    Keyword arguments are UploadOptions fields. ``session`` is a boto3 Session to take
    credentials and configuration from (default: a new one, with the usual credential
    chain and ``profile``). Raises BulkupError (one-line message) when nothing can be
    uploaded; per-object failures are in the result (``result.ok``).
    """
    settings = resolve(options or UploadOptions(**kwargs))
    progress = progress or ProgressSink()
    dest = parse_s3_url(destination)
    if (stream := stream_source(_paths(sources))) is not None:
        return _upload_stream(stream, dest, settings, progress, session)
    if settings.dry_run:
        return _dry_run_result(collect_sources(_paths(sources), dest, settings.follow_symlinks, settings.filters))
    with launch_early(settings.pool) as launcher:  # the workers start while the run is planned
        found = collect_sources(_paths(sources), dest, settings.follow_symlinks, settings.filters)
        control = connect(settings.client, session)
        kept = 0
        if settings.if_size_differ or settings.if_source_newer:
            found, kept = _replaceable(found, dest, settings, control)
        return upload_files(found, dest, settings, progress, control, launcher, kept)


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


def planned(sources: str | list[str], destination: str, options: UploadOptions | None = None) -> Planned:
    """What ``upload(sources, destination, options)`` would upload, streamed (a dry run)."""
    settings = resolve(options or UploadOptions())
    dest = parse_s3_url(destination)
    skipped: list[Skip] = []
    selection = Selection(settings.filters)
    files = iter_sources(_paths(sources), dest, settings.follow_symlinks, selection, skipped)
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


def _upload_stream(
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
    part_size = choose_part_size(settings.expected_size or 0, settings.objects.part_size)
    connections = local_workers(settings.pool.workers) * settings.sending.connections
    fd = 0 if name == "-" else os.open(name, os.O_RDONLY)
    spool = Spool(fd, part_size, max_parts=connections + 2, name="stdin" if name == "-" else name)
    settings = dataclasses.replace(
        settings,
        objects=dataclasses.replace(
            settings.objects, content_type=settings.objects.content_type or guess_content_type(dest.key)
        ),
    )
    source = SourceFile(path=spool.path, key=dest.key, size=0, mtime_ns=0, ctime_ns=0, inode=0)
    spool.start()
    try:
        with launch_early(settings.pool) as launcher:
            return upload_files(Collected(files=[source]), dest, settings, progress, control, launcher, stream=spool)
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
    progress.finish(result, passed_over_lines(Collected(), result))
    return result


def _replaceable(found: Collected, dest: S3Url, settings: RunSettings, control: ControlPlane) -> tuple[Collected, int]:
    """The files whose object may be written under --if-size-differ / --if-source-newer, and
    how many objects are kept as they are (the prefix is listed once)."""
    reads = store_reads(control, control.route(dest.bucket), dest.bucket, settings.sending.retry_deadline)
    try:
        there = list_prefix(reads, dest.key)
    finally:
        reads.close()
    files = [
        f for f in found.files if may_overwrite(f, there.get(f.key), settings.if_size_differ, settings.if_source_newer)
    ]
    return dataclasses.replace(found, files=files), len(found.files) - len(files)


def upload_files(
    found: Collected,
    dest: S3Url,
    settings: RunSettings,
    progress: ProgressSink,
    control: ControlPlane,
    launcher: WorkerLauncher,
    kept: int = 0,
    stream: Spool | None = None,
    finish: bool = True,
) -> UploadResult:
    """Upload the files ``found`` (their keys already under ``dest``) through ``control``,
    with workers from ``launcher`` (``kept``: objects left as they were, for the summary;
    ``stream``: the one file found is this stream's spool; ``finish``: end the progress
    display with the summary, else the caller does, after more work)."""
    route, checksum = control.checksum_for(
        dest.bucket, dest.key, settings.checksum, settings.require_verified, progress.notice
    )
    objects = dataclasses.replace(settings.objects, checksum=checksum.algorithm)
    check_attributes(route.client, dest.bucket, dest.key, objects, route.where)
    if settings.sending.bwlimit:
        progress.limit_bandwidth(settings.sending.bwlimit)
    jobs = [UploadJob(source=f, bucket=dest.bucket, settings=objects, stream=stream) for f in found.files]
    tls = route.endpoint.tls
    config = control.worker_config(settings.sending, tls, choose_here=not settings.pool.ray)
    pool = make_pool(settings.pool, config, tls, launcher)
    events = RunEvents(UploadResult(skipped=found.skipped, excluded=found.excluded, kept_count=kept), progress)
    coordinator = Coordinator(
        {dest.bucket: route},
        pool,
        events,
        CredentialWatch(control.session, pool),
        bwlimit=settings.sending.bwlimit,
        retry_deadline=settings.sending.retry_deadline,
    )
    try:
        result = coordinator.run(jobs, len(jobs), None if stream else sum(f.size for f in found.files))
        confirm_after_run({dest.bucket: route}, result, objects)
    except BaseException:
        progress.close()
        raise
    if finish:
        progress.finish(result, passed_over_lines(found, result))
    return result


def _paths(sources: str | os.PathLike | list) -> list[str]:
    sources = [sources] if isinstance(sources, (str, os.PathLike)) else list(sources)
    return [os.fspath(s) for s in sources]


def passed_over_lines(found: Collected, result: UploadResult) -> dict[str, str]:
    """The summary's lines for files not uploaded: unusable ones, those filtered out, and
    those whose key was taken (--no-overwrite)."""
    lines = {}
    if result.kept_count:
        lines["kept"] = (
            f"{counted(result.kept_count, 'object')} already there kept (--if-size-differ / --if-source-newer)"
        )
    if result.existing_count:
        lines["exists"] = (
            f"{counted(result.existing_count, 'object')} already at their keys, left as they were (--no-overwrite)"
        )
    if found.skipped:
        lines["skipped"] = f"{counted(len(found.skipped), 'entry', 'entries')} not uploaded (see the warnings)"
    if found.excluded:
        lines["excluded"] = f"{counted(found.excluded, 'file')} left out by --exclude/--include"
    return lines


def _dry_run_result(found: Collected) -> UploadResult:
    return UploadResult(
        objects=[ObjectResult(key=f.key, path=f.path, size=f.size) for f in found.files],
        skipped=found.skipped,
        excluded=found.excluded,
    )
