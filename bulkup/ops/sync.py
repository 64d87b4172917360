"""``sync``: send what is new or changed under a prefix, and with ``delete`` remove the
objects under it whose file is gone.

The walk and the listing are merged as they come (``control.compare``); what the listing
cannot decide is decided from what earlier syncs learned (``control.syncstate``) or, failing
that, HeadObject on bulkup's own connections. A listing that fails stops the sync before
anything is sent. Sync writes each file's mtime as ``x-amz-meta-mtime`` (rclone's form) so
the next sync, bulkup's or rclone's, can compare it. Deletions come last, only if every
upload succeeded, and only as ``plan.sync.DeleteRules`` allow.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bulkup.control.attributecheck import MTIME_DROPPED
from bulkup.control.compare import Comparer, SyncPlan
from bulkup.control.listing import delete_keys, sorted_listing, store_reads
from bulkup.control.plane import connect
from bulkup.control.s3client import frozen_credentials
from bulkup.control.syncstate import ObjectFacts, SyncState
from bulkup.display.sink import ProgressSink
from bulkup.errors import BulkupError, UsageError
from bulkup.ops.put import put_files
from bulkup.ops.steps import passed_over_lines
from bulkup.options.resolve import RunSettings
from bulkup.plan.files import Skip
from bulkup.plan.filters import Selection
from bulkup.plan.results import UploadResult
from bulkup.plan.s3url import parse_s3_url
from bulkup.plan.sources import Collected
from bulkup.plan.sync import COMPARISONS, UPLOADS_FAILED, DeleteRules, OutOfOrder, merge
from bulkup.plan.walk import walk_tree
from bulkup.pools.factory import launch_early

if TYPE_CHECKING:
    import boto3


@dataclass
class SyncResult:
    """What a sync did (or, dry, would do)."""

    plan: SyncPlan
    upload: UploadResult | None = None
    deleted: list[str] = field(default_factory=list)
    delete_failed: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)  # tree entries not uploaded
    excluded: int = 0
    state_unavailable: str | None = None  # why nothing was remembered
    mtime_dropped: str | None = None  # the store keeps no x-amz-meta-mtime

    @property
    def ok(self) -> bool:
        return (self.upload is None or self.upload.ok) and not self.delete_failed


def sync(
    source: str,
    destination: str,
    settings: RunSettings,
    progress: ProgressSink,
    comparison: str = "mtime",
    delete: bool = False,
    session: boto3.Session | None = None,
    remember: bool = True,
) -> SyncResult:
    """Make ``destination`` (a prefix) hold ``source``'s files (see the module docstring);
    ``settings`` write each file's mtime (``preserve_mtime``). ``remember``: use and keep
    what syncs learn of objects (else every object whose size agrees is read with HeadObject)."""
    if comparison not in COMPARISONS:
        raise UsageError(f"comparison must be one of {', '.join(COMPARISONS)}, not {comparison!r}")
    dest = parse_s3_url(destination)
    if not dest.is_prefix:
        raise UsageError(f"{destination}: sync needs a prefix (end it with '/')")
    if not os.path.isdir(source):
        raise UsageError(f"{source}: sync needs a directory")
    control = connect(settings.client, session)
    route = control.route(dest.bucket)
    reads = store_reads(control, route, dest.bucket, settings.sending.retry_deadline)
    state, why_not = _open_state(route.endpoint.url(""), dest.bucket) if remember else (None, None)
    skips: list[Skip] = []
    selection = Selection(settings.sources.filters)
    try:
        rules = DeleteRules(dest.key, settings.sources.filters, skips, _exists_below(source)) if delete else None
        comparer = Comparer(
            comparison, reads, state, rules, refresh=lambda: reads.signer.update(frozen_credentials(control.session))
        )
        walk = walk_tree(source, dest.key, settings.sources.follow_symlinks, skips, selection)
        try:
            with sorted_listing(reads, dest.key) as listing:
                plan = comparer.decide(merge(walk, listing))
        except OutOfOrder as exc:  # a defect of the walk: never decide from it
            raise BulkupError(f"{exc}: nothing was sent or deleted") from None
        result = SyncResult(plan=plan, skipped=skips, excluded=selection.excluded, state_unavailable=why_not)
        if not settings.dry_run:
            _carry_out(result, dest, settings, progress, control, state)
    finally:
        reads.close()
        if state is not None:
            state.close()
    return result


def _carry_out(result: SyncResult, dest, settings, progress: ProgressSink, control, state: SyncState | None) -> None:
    """Send, then delete (only if every upload succeeded), then say what was done."""
    plan = result.plan
    found = Collected(files=[f for f, _ in plan.send], skipped=result.skipped, excluded=result.excluded)
    if plan.send:
        with launch_early(settings.pool) as launcher:
            result.upload = put_files(found, dest, settings, progress, control, launcher, finish=False)
        _mtime_kept(result)
        if state is not None:
            _remember_written(state, plan, result.upload)
    if plan.delete:
        if result.upload is not None and not result.upload.ok:
            plan.kept[UPLOADS_FAILED] += len(plan.delete)
            plan.delete = []
        else:
            sent = {f.key for f, _ in plan.send}
            plan.delete = [k for k in plan.delete if k not in sent]  # never a key written now
            result.delete_failed = delete_keys(control.route(dest.bucket).client, dest.bucket, plan.delete)
            failed = {k for k, _ in result.delete_failed}
            result.deleted = [k for k in plan.delete if k not in failed]
            if state is not None:
                state.forget(result.deleted)
    if result.upload is None:
        progress.start(0, 0)
        result.upload = UploadResult(skipped=result.skipped, excluded=result.excluded)
    progress.finish(
        result.upload,
        {**passed_over_lines(result.upload, found.skipped, found.excluded), **summary_lines(result)},
        summary_fields(result),
    )


def _mtime_kept(result: SyncResult) -> None:
    """A store that drops x-amz-meta-mtime (rclone's server keeps it as the file's time) is no
    failure of a sync, which then compares with the objects' LastModified: said, not fatal."""
    upload = result.upload
    if upload is None:
        return
    dropped = [line for line in upload.attributes_missing if MTIME_DROPPED in line]
    if dropped:
        result.mtime_dropped = dropped[0].removesuffix(" on " + dropped[0].rsplit(" on ", 1)[-1])
        upload.attributes_missing = [line for line in upload.attributes_missing if line not in dropped]


def summary_lines(result: SyncResult) -> dict[str, str]:
    """The sync's own line of the run's summary (what it sent and deleted comes after)."""
    plan = result.plan
    return {"compared": (f"{plan.looked_at:,} objects read (HeadObject), {plan.remembered:,} known from earlier syncs")}


def summary_fields(result: SyncResult) -> dict[str, object]:
    """The sync's own fields of the JSON summary."""
    plan = result.plan
    return {
        "objects_unchanged": plan.unchanged,
        "objects_deleted": len(result.deleted),
        "objects_delete_failed": len(result.delete_failed),
        "objects_not_deleted": dict(plan.kept),
        "objects_read": plan.looked_at,
        "objects_remembered": plan.remembered,
        "entries_skipped": len(result.skipped),
    }


def _remember_written(state: SyncState, plan: SyncPlan, upload: UploadResult) -> None:
    mtimes = {f.key: f.mtime_ns for f, _ in plan.send}
    for obj in upload.uploaded:
        if obj.key in mtimes:
            state.written(obj.key, obj.size, obj.etag, ObjectFacts(mtimes[obj.key]))
    state.save()


def _open_state(store: str, bucket: str) -> tuple[SyncState | None, str | None]:
    import sqlite3

    try:
        return SyncState.open(store.rstrip("/"), bucket), None
    except (OSError, sqlite3.Error) as exc:
        return None, f"{exc.__class__.__name__}: {exc}"


def _exists_below(root: str) -> Callable[[str], bool]:
    """Whether anything (a link too) is at a path below ``root`` (``a/b``)."""
    return lambda rel: os.path.lexists(os.path.join(root, *rel.split("/")))
