"""What runs leave on the store, found and removed: stale multipart uploads, and the objects of
bulkup's own probes that could not be deleted.

An interrupted or failed migration can leave multipart uploads open on the server; their
parts are stored (and billed) until the upload is completed or aborted. This lists the
uploads under a prefix that were initiated longer ago than a given age, with the parts and
bytes each holds, and aborts them when asked to.

A probe (see ``probekeys``) deletes what it wrote at once, but a store may refuse the delete
(a policy, Object Lock) or the run may be killed first. Such leftovers are listed and
deleted here too, every version of them on a versioned bucket. A probe lives seconds, so
its leftovers count as stale after ``STALE_AFTER`` even when the age asked for is longer.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bulkup.control import botoerrors as bex
from bulkup.control.probekeys import PROBE_MARK, STALE_AFTER, is_probe_key
from bulkup.control.s3client import S3Client, describe, error_code

_GONE = {"NoSuchKey", "NoSuchVersion"}


@dataclass(frozen=True)
class StaleUpload:
    """An open multipart upload, with what it holds on the server."""

    key: str
    upload_id: str
    initiated: datetime  # timezone-aware, UTC
    parts: int  # distinct part numbers uploaded so far
    size: int  # bytes of those parts, as the server lists them


@dataclass(frozen=True)
class ProbeObject:
    """One version of an object a probe left behind (or its delete marker)."""

    key: str
    version_id: str | None  # None: the bucket keeps no versions of it
    modified: datetime  # timezone-aware, UTC
    size: int
    delete_marker: bool = False


def find_stale(
    client: S3Client, bucket: str, prefix: str, older_than: timedelta, now: datetime | None = None
) -> Iterator[StaleUpload]:
    """The multipart uploads under ``prefix`` initiated more than ``older_than`` before ``now``
    (a probe's: more than ``STALE_AFTER``, if that is shorter).

    A zero age selects every upload under the prefix (even one whose initiation time is
    ahead of this machine's clock). Parts and bytes come from ListParts; an upload that
    was completed or aborted meanwhile (NoSuchUpload) is skipped. Other botocore errors
    propagate.
    """
    now = _utc(now or datetime.now(UTC))
    pages = client.get_paginator("list_multipart_uploads").paginate(Bucket=bucket, Prefix=prefix)
    for page in pages:
        for upload in page.get("Uploads", []):
            initiated = _utc(upload["Initiated"])
            if not _old_enough(upload["Key"], initiated, older_than, now):
                continue
            try:
                parts, size = _parts_held(client, bucket, upload["Key"], upload["UploadId"])
            except bex.ClientError as exc:
                if error_code(exc) == "NoSuchUpload":
                    continue
                raise
            yield StaleUpload(upload["Key"], upload["UploadId"], initiated, parts, size)


def _old_enough(key: str, created: datetime, older_than: timedelta, now: datetime) -> bool:
    if older_than <= timedelta(0):
        return True
    age = min(older_than, STALE_AFTER) if is_probe_key(key) else older_than
    return created < now - age


def _parts_held(client: S3Client, bucket: str, key: str, upload_id: str) -> tuple[int, int]:
    """Distinct part numbers and total bytes listed for one upload.

    Some stores (SeaweedFS) list every upload of a re-sent part number; each copy is kept
    until the upload ends, so all their bytes count, but the part number counts once.
    """
    numbers: set[int] = set()
    size = 0
    pages = client.get_paginator("list_parts").paginate(Bucket=bucket, Key=key, UploadId=upload_id)
    for page in pages:
        for part in page.get("Parts", []):
            numbers.add(part["PartNumber"])
            size += part.get("Size", 0)
    return len(numbers), size


def abort_uploads(
    client: S3Client, bucket: str, uploads: Iterable[StaleUpload]
) -> tuple[int, list[tuple[StaleUpload, str]]]:
    """Abort each upload; return how many are gone and the failures with one-line reasons.

    An upload the server no longer knows (NoSuchUpload: completed or aborted meanwhile)
    counts as gone, not as a failure.
    """
    aborted = 0
    failures: list[tuple[StaleUpload, str]] = []
    for upload in uploads:
        try:
            client.abort_multipart_upload(Bucket=bucket, Key=upload.key, UploadId=upload.upload_id)
        except bex.ClientError as exc:
            if error_code(exc) != "NoSuchUpload":
                failures.append((upload, describe(exc)))
                continue
        except bex.BotoCoreError as exc:
            failures.append((upload, describe(exc)))
            continue
        aborted += 1
    return aborted, failures


def find_probe_objects(
    client: S3Client, bucket: str, prefix: str, older_than: timedelta, now: datetime | None = None
) -> Iterator[ProbeObject]:
    """The versions (delete markers included) of probe objects under ``prefix`` written more
    than ``older_than`` (at most ``STALE_AFTER``) before ``now``; a zero age selects all.

    Every object under the prefix is listed to find them (probes sit next to any key).
    A store that lists no versions (or not to this identity) is listed plainly; other
    botocore errors propagate.
    """
    now = _utc(now or datetime.now(UTC))
    for found in _probe_versions(client, bucket, prefix):
        if _old_enough(found.key, found.modified, older_than, now):
            yield found


def _probe_versions(client: S3Client, bucket: str, prefix: str) -> Iterator[ProbeObject]:
    pages = client.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix)
    listed = False
    try:
        for page in pages:
            listed = True
            for entry in page.get("Versions", []):
                if is_probe_key(entry["Key"]):
                    yield _probe_object(entry, marker=False)
            for entry in page.get("DeleteMarkers", []):
                if is_probe_key(entry["Key"]):
                    yield _probe_object(entry, marker=True)
    except bex.ClientError as exc:
        if listed or error_code(exc) not in ("NotImplemented", "MethodNotAllowed", "AccessDenied"):
            raise
        yield from _probe_latest(client, bucket, prefix)


def _probe_latest(client: S3Client, bucket: str, prefix: str) -> Iterator[ProbeObject]:
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for entry in page.get("Contents", []):
            if is_probe_key(entry["Key"]):
                yield _probe_object(entry, marker=False)


def _probe_object(entry: dict[str, Any], marker: bool) -> ProbeObject:
    version = entry.get("VersionId")
    if version == "null" and not marker:
        version = None  # the object itself: a plain delete removes it
    return ProbeObject(entry["Key"], version, _utc(entry["LastModified"]), entry.get("Size", 0), marker)


def delete_probe_objects(
    client: S3Client, bucket: str, objects: Iterable[ProbeObject]
) -> tuple[int, list[tuple[ProbeObject, str]]]:
    """Delete each version; return how many are gone and the failures with one-line reasons
    (a version already gone counts as gone)."""
    deleted = 0
    failures: list[tuple[ProbeObject, str]] = []
    for found in objects:
        version = {"VersionId": found.version_id} if found.version_id else {}
        try:
            client.delete_object(Bucket=bucket, Key=found.key, **version)
        except bex.ClientError as exc:
            if error_code(exc) not in _GONE:
                failures.append((found, describe(exc)))
                continue
        except bex.BotoCoreError as exc:
            failures.append((found, describe(exc)))
            continue
        deleted += 1
    return deleted, failures


def clear_stale_probe_uploads(client: S3Client, bucket: str, key_hint: str, now: datetime | None = None) -> None:
    """Abort the uploads earlier runs' probes left next to ``key_hint`` (only a probe's, only
    stale ones); a store that refuses is left as it is (``bulkup cleanup`` reports them)."""
    try:
        stale = [u for u in find_stale(client, bucket, key_hint + PROBE_MARK, STALE_AFTER, now) if is_probe_key(u.key)]
        abort_uploads(client, bucket, stale)
    except (bex.ClientError, bex.BotoCoreError):
        pass


def clear_stale_probe_objects(client: S3Client, bucket: str, key_hint: str, now: datetime | None = None) -> None:
    """Delete the objects earlier runs' probes left next to ``key_hint`` (only a probe's, only
    stale ones); a store that refuses is left as it is (``bulkup cleanup`` reports them)."""
    try:
        delete_probe_objects(
            client, bucket, list(find_probe_objects(client, bucket, key_hint + PROBE_MARK, STALE_AFTER, now))
        )
    except (bex.ClientError, bex.BotoCoreError):
        pass


def _utc(moment: datetime) -> datetime:
    """Aware UTC; a naive time (some stores omit the zone) is taken as UTC."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
