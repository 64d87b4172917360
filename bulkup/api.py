"""The Python API: ``bulkup.upload(sources, "s3://bucket/prefix/", ...)``, ``sync`` and
``migrate``. Each takes ``UploadOptions`` (or their fields as keyword arguments), resolves
them once, and hands the settings to its operation (``bulkup.ops``)."""

from __future__ import annotations

import dataclasses
import os
from typing import TYPE_CHECKING, Any

from bulkup.display.sink import ProgressSink
from bulkup.options import UploadOptions
from bulkup.options.resolve import resolve
from bulkup.plan.results import UploadResult

if TYPE_CHECKING:
    import boto3

    from bulkup.ops.migrate import MigrationResult
    from bulkup.ops.put import Planned
    from bulkup.ops.sync import SyncResult


def upload(
    sources: str | os.PathLike[str] | list[str],
    destination: str,
    options: UploadOptions | None = None,
    progress: ProgressSink | None = None,
    session: boto3.Session | None = None,
    records: bool = True,
    **kwargs: Any,
) -> UploadResult:
    """Upload files and directory trees (or one stream: ``-``, a FIFO) to ``s3://bucket/prefix/``.

    Keyword arguments are UploadOptions fields. ``session`` is a boto3 Session to take
    credentials and configuration from (default: a new one, with the usual credential
    chain and ``profile``). Raises BulkupError (one-line message) when nothing can be
    uploaded; per-object failures are in the result (``result.ok``). ``records``: the
    result lists every object and part uploaded (``objects``, ``parts``); False keeps the
    totals only, for runs of millions of files.
    """
    from bulkup.ops.put import put

    settings = resolve(options or UploadOptions(**kwargs))
    return put(_paths(sources), destination, settings, progress or ProgressSink(), session, records)


def planned(sources: str | list[str], destination: str, options: UploadOptions | None = None) -> Planned:
    """What ``upload(sources, destination, options)`` would upload, streamed (a dry run)."""
    from bulkup.ops.put import planned as put_planned

    return put_planned(_paths(sources), destination, resolve(options or UploadOptions()))


def sync(
    source: str,
    destination: str,
    options: UploadOptions | None = None,
    comparison: str = "mtime",
    delete: bool = False,
    progress: ProgressSink | None = None,
    session: boto3.Session | None = None,
    remember: bool = True,
) -> SyncResult:
    """Make ``destination`` (a prefix) hold the files of the directory ``source``: send what
    is new or changed (``comparison``: mtime, size or checksum), and with ``delete`` remove
    what is gone (see ``bulkup.ops.sync``). Each file's mtime is written as x-amz-meta-mtime."""
    from bulkup.ops.sync import sync as run_sync

    settings = resolve(dataclasses.replace(options or UploadOptions(), preserve_mtime=True))
    return run_sync(source, destination, settings, progress or ProgressSink(), comparison, delete, session, remember)


def migrate(
    manifest: str,
    options: UploadOptions | None = None,
    journal_path: str | None = None,
    skip_bad_lines: bool = False,
    skip_existing: str | None = None,
    progress: ProgressSink | None = None,
    session: boto3.Session | None = None,
    report: str | None = None,
    **kwargs: Any,
) -> MigrationResult:
    """Upload everything ``manifest`` lists, journaled beside it (or at ``journal_path``);
    run again, it resumes where the journal says the last run stopped."""
    from bulkup.ops.migrate import migrate as run_migrate

    options = options or UploadOptions(**kwargs)
    return run_migrate(
        manifest,
        resolve(options),
        options,
        progress or ProgressSink(),
        journal_path,
        skip_bad_lines,
        skip_existing,
        session,
        report,
    )


def _paths(sources: str | os.PathLike[str] | list[str]) -> list[str]:
    listed = [sources] if isinstance(sources, str | os.PathLike) else list(sources)
    return [os.fspath(s) for s in listed]
