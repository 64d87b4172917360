"""Stale multipart uploads: finding them (age, parts, bytes held) and aborting them.

An interrupted or failed migration can leave multipart uploads open on the server; their
parts are stored (and billed) until the upload is completed or aborted. This lists the
uploads under a prefix that were initiated longer ago than a given age, with the parts and
bytes each holds, and aborts them when asked to.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import botocore.exceptions as bex

from bulkup.control.s3client import describe, error_code

DEFAULT_AGE = "7d"


@dataclass(frozen=True)
class StaleUpload:
    """An open multipart upload, with what it holds on the server."""

    key: str
    upload_id: str
    initiated: datetime         # timezone-aware, UTC
    parts: int                  # distinct part numbers uploaded so far
    size: int                   # bytes of those parts, as the server lists them


def find_stale(client, bucket: str, prefix: str, older_than: timedelta,
               now: datetime | None = None) -> Iterator[StaleUpload]:
    """The multipart uploads under ``prefix`` initiated more than ``older_than`` before ``now``.

    A zero age selects every upload under the prefix (even one whose initiation time is
    ahead of this machine's clock). Parts and bytes come from ListParts; an upload that
    was completed or aborted meanwhile (NoSuchUpload) is skipped. Other botocore errors
    propagate.
    """
    now = _utc(now or datetime.now(timezone.utc))
    cutoff = now - older_than
    pages = client.get_paginator("list_multipart_uploads").paginate(Bucket=bucket, Prefix=prefix)
    for page in pages:
        for upload in page.get("Uploads", []):
            initiated = _utc(upload["Initiated"])
            if older_than > timedelta(0) and initiated >= cutoff:
                continue
            try:
                parts, size = _parts_held(client, bucket, upload["Key"], upload["UploadId"])
            except bex.ClientError as exc:
                if error_code(exc) == "NoSuchUpload":
                    continue
                raise
            yield StaleUpload(upload["Key"], upload["UploadId"], initiated, parts, size)


def _parts_held(client, bucket: str, key: str, upload_id: str) -> tuple[int, int]:
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


def abort_uploads(client, bucket: str,
                  uploads: Iterable[StaleUpload]) -> tuple[int, list[tuple[StaleUpload, str]]]:
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


def _utc(moment: datetime) -> datetime:
    """Aware UTC; a naive time (some stores omit the zone) is taken as UTC."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)
