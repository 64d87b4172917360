"""The Python API: ``bulkup.upload(sources, "s3://bucket/prefix/", ...)``."""
from __future__ import annotations

import dataclasses
import os
from typing import TYPE_CHECKING

from bulkup.control.coordinator import Coordinator
from bulkup.control.credentials import CredentialWatch
from bulkup.control.events import RunEvents
from bulkup.control.listing import list_prefix
from bulkup.control.plane import ControlPlane, connect
from bulkup.display.sink import ProgressSink
from bulkup.options import RunSettings, UploadOptions, resolve
from bulkup.plan.jobs import UploadJob
from bulkup.plan.results import ObjectResult, UploadResult
from bulkup.plan.s3url import S3Url, parse_s3_url
from bulkup.control.attributecheck import check_attributes
from bulkup.plan.sources import Collected, collect_sources
from bulkup.plan.sync import may_overwrite
from bulkup.pools.factory import launch_early, make_pool
from bulkup.pools.local import WorkerLauncher

if TYPE_CHECKING:
    import boto3


def upload(sources: str | list[str], destination: str, options: UploadOptions | None = None,
           progress: ProgressSink | None = None, session: "boto3.Session | None" = None,
           **kwargs) -> UploadResult:
    """Upload files and directory trees to ``s3://bucket/prefix/``.

    Keyword arguments are UploadOptions fields. ``session`` is a boto3 Session to take
    credentials and configuration from (default: a new one, with the usual credential
    chain and ``profile``). Raises BulkupError (one-line message) when nothing can be
    uploaded; per-object failures are in the result (``result.ok``).
    """
    settings = resolve(options or UploadOptions(**kwargs))
    progress = progress or ProgressSink()
    dest = parse_s3_url(destination)
    if settings.dry_run:
        return _dry_run_result(collect_sources(_paths(sources), dest, settings.follow_symlinks, settings.filters))
    with launch_early(settings.pool) as launcher:      # the workers start while the run is planned
        found = collect_sources(_paths(sources), dest, settings.follow_symlinks, settings.filters)
        control = connect(settings.client, session)
        kept = 0
        if settings.if_size_differ or settings.if_source_newer:
            found, kept = _replaceable(found, dest, settings, control)
        return upload_files(found, dest, settings, progress, control, launcher, kept)


def _replaceable(found: Collected, dest: S3Url, settings: RunSettings, control: ControlPlane) -> tuple[Collected, int]:
    """The files whose object may be written under --if-size-differ / --if-source-newer, and
    how many objects are kept as they are (the prefix is listed once)."""
    client = control.route(dest.bucket).client
    there = list_prefix(client, dest.bucket, dest.key)
    files = [f for f in found.files
             if may_overwrite(f, there.get(f.key), settings.if_size_differ, settings.if_source_newer)]
    return dataclasses.replace(found, files=files), len(found.files) - len(files)


def upload_files(found: Collected, dest: S3Url, settings: RunSettings, progress: ProgressSink,
                 control: ControlPlane, launcher: WorkerLauncher, kept: int = 0) -> UploadResult:
    """Upload the files ``found`` (their keys already under ``dest``) through ``control``,
    with workers from ``launcher`` (``kept``: objects left as they were, for the summary)."""
    route, checksum = control.checksum_for(dest.bucket, dest.key, settings.checksum,
                                           settings.require_verified, progress.notice)
    objects = dataclasses.replace(settings.objects, checksum=checksum.algorithm)
    check_attributes(route.client, dest.bucket, dest.key, objects, route.where)
    if settings.sending.bwlimit:
        progress.limit_bandwidth(settings.sending.bwlimit)
    jobs = [UploadJob(source=f, bucket=dest.bucket, settings=objects) for f in found.files]
    tls = route.endpoint.tls
    config = control.worker_config(settings.sending, tls, choose_here=not settings.pool.ray)
    pool = make_pool(settings.pool, config, tls, launcher)
    events = RunEvents(UploadResult(skipped=found.skipped, excluded=found.excluded, kept_count=kept), progress)
    coordinator = Coordinator({dest.bucket: route}, pool, events, CredentialWatch(control.session, pool),
                              bwlimit=settings.sending.bwlimit)
    try:
        result = coordinator.run(jobs, len(jobs), sum(f.size for f in found.files))
    except BaseException:
        progress.close()
        raise
    progress.finish(result, _passed_over_lines(found, result))
    return result


def _paths(sources: str | os.PathLike | list) -> list[str]:
    sources = [sources] if isinstance(sources, (str, os.PathLike)) else list(sources)
    return [os.fspath(s) for s in sources]


def _passed_over_lines(found: Collected, result: UploadResult) -> dict[str, str]:
    """The summary's lines for files not uploaded: unusable ones, those filtered out, and
    those whose key was taken (--no-overwrite)."""
    lines = {}
    if result.kept_count:
        lines["kept"] = (f"{result.kept_count:,} object{'' if result.kept_count == 1 else 's'} already there "
                         "kept (--if-size-differ / --if-source-newer)")
    if result.existing_count:
        lines["exists"] = (f"{result.existing_count:,} object{'' if result.existing_count == 1 else 's'} "
                           "already at their keys, left as they were (--no-overwrite)")
    if found.skipped:
        lines["skipped"] = f"{_files(len(found.skipped))} not uploaded (see the warnings)"
    if found.excluded:
        lines["excluded"] = f"{_files(found.excluded)} left out by --exclude/--include"
    return lines


def _files(count: int) -> str:
    return f"{count:,} file" + ("" if count == 1 else "s")


def _dry_run_result(found: Collected) -> UploadResult:
    return UploadResult(objects=[ObjectResult(key=f.key, path=f.path, size=f.size) for f in found.files],
                        skipped=found.skipped, excluded=found.excluded)
