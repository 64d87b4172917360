"""``bulkup sync DIR s3://bucket/prefix/``: send what is new or changed, and with ``delete``
remove the objects under the prefix whose file is gone.

The prefix is listed to the end first (a listing that fails stops the sync before anything
is sent); objects the same size as their file are looked at (HeadObject) when the comparison
needs it (``plan.sync``). Sync writes each file's mtime as ``x-amz-meta-mtime`` so the next
sync can compare it. Deletions come last, only if every upload succeeded and the local tree
was read in full, and only under the prefix.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bulkup.api import upload_files
from bulkup.control.listing import delete_keys, list_prefix, with_details
from bulkup.control.plane import connect
from bulkup.display.sink import ProgressSink
from bulkup.errors import UsageError
from bulkup.options import UploadOptions, resolve
from bulkup.plan.checksums import get_algorithm
from bulkup.plan.results import UploadResult
from bulkup.plan.s3url import parse_s3_url
from bulkup.plan.sources import Collected, SourceFile, collect_sources
from bulkup.plan.sync import COMPARISONS, SyncPlan, deletions, needs_detail, reason_to_send
from bulkup.pools.factory import launch_early

if TYPE_CHECKING:
    import boto3

READ_SIZE = 8 << 20
# What a walk passes over that is no file to compare (its object, if any, is not at stake).
NOT_FILES = {"a FIFO", "a socket", "a character device", "a block device", "symbolic link (not followed)",
             "broken symbolic link", "symbolic link loop"}


@dataclass
class SyncResult:
    """What a sync did (or, dry, would do)."""

    plan: SyncPlan
    upload: UploadResult | None = None
    deleted: list[str] = field(default_factory=list)
    delete_failed: list[tuple[str, str]] = field(default_factory=list)
    delete_refused: str | None = None     # why --delete deleted nothing
    excluded: int = 0

    @property
    def ok(self) -> bool:
        return (self.upload is None or self.upload.ok) and not self.delete_failed and not self.delete_refused


def sync(source: str, destination: str, options: UploadOptions | None = None, comparison: str = "mtime",
         delete: bool = False, progress: ProgressSink | None = None,
         session: "boto3.Session | None" = None) -> SyncResult:
    """Make ``destination`` (a prefix) hold ``source``'s files (see the module docstring)."""
    if comparison not in COMPARISONS:
        raise UsageError(f"comparison must be one of {', '.join(COMPARISONS)}, not {comparison!r}")
    options = dataclasses.replace(options or UploadOptions(), preserve_mtime=True)
    settings = resolve(options)
    progress = progress or ProgressSink()
    dest = parse_s3_url(destination)
    if not dest.is_prefix:
        raise UsageError(f"{destination}: sync needs a prefix (end it with '/')")
    if not os.path.isdir(source):
        raise UsageError(f"{source}: sync needs a directory")
    found = collect_sources([source], dest, settings.follow_symlinks, settings.filters)
    control = connect(settings.client, session)
    client = control.route(dest.bucket).client
    remote = list_prefix(client, dest.bucket, dest.key)
    plan = _plan(found, remote, comparison, client, dest.bucket)
    result = SyncResult(plan=plan, excluded=found.excluded)
    if delete:
        unread = [path for path, why in found.skipped if why not in NOT_FILES]
        if unread:
            result.delete_refused = (f"{len(unread)} entries of {source} could not be read ({unread[0]}, ...), "
                                     "so what is gone cannot be told: nothing was deleted")
        else:
            plan.delete = deletions({f.key for f in found.files}, remote.values(), dest.key, settings.filters)
    if settings.dry_run:
        return result
    if plan.send:
        to_send = Collected(files=[f for f, _ in plan.send], skipped=found.skipped, excluded=found.excluded)
        with launch_early(settings.pool) as launcher:
            result.upload = upload_files(to_send, dest, settings, progress, control, launcher)
    if plan.delete:
        if result.upload is not None and not result.upload.ok:
            result.delete_refused = "some uploads failed: nothing was deleted"
        else:
            result.delete_failed = delete_keys(client, dest.bucket, plan.delete)
            failed = {k for k, _ in result.delete_failed}
            result.deleted = [k for k in plan.delete if k not in failed]
    return result


def _plan(found: Collected, remote: dict, comparison: str, client, bucket: str) -> SyncPlan:
    plan = SyncPlan()
    looked_at = {o.key: o for o in with_details(
        client, bucket, [remote[f.key] for f in found.files if needs_detail(f, remote.get(f.key), comparison)])}
    for local in found.files:
        why = reason_to_send(local, looked_at.get(local.key, remote.get(local.key)), comparison, _checksum)
        if why is None:
            plan.unchanged += 1
        else:
            plan.send.append((local, why))
    return plan


def _checksum(local: SourceFile, kind: str) -> str | None:
    """The file's whole CRC64NVME (base64) or MD5 (hex, as an ETag shows it), read now."""
    with open(local.path, "rb") as f:
        if kind == "md5":
            return hashlib.file_digest(f, "md5").hexdigest()
        return get_algorithm("crc64nvme").text(iter(lambda: f.read(READ_SIZE), b""))
