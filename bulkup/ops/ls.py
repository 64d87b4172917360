"""``ls``: what a bucket holds under a prefix, one level at a time (or every key), as the
AWS CLI and s5cmd list it; and the buckets the credentials own."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import botocore.exceptions as bex

from bulkup.control.plane import ControlPlane
from bulkup.control.s3client import describe
from bulkup.errors import FatalRemoteError
from bulkup.plan.s3url import S3Url


@dataclass(frozen=True)
class Listed:
    """One line of a listing: an object, or a common prefix (a "folder") when ``size`` is None."""

    key: str  # the whole key (a prefix ends with "/")
    size: int | None = None
    modified: datetime | None = None

    @property
    def is_prefix(self) -> bool:
        return self.size is None


def listing(plane: ControlPlane, where: S3Url, recursive: bool) -> Iterator[Listed]:
    """What is under ``where``: every key when ``recursive``, else the keys and common
    prefixes one "/" below it. Each page's prefixes come before its objects, as aws-cli shows
    them; a failure is one line."""
    client = plane.route(where.bucket).client
    request: dict[str, Any] = {"Bucket": where.bucket, "Prefix": where.key}
    if not recursive:
        request["Delimiter"] = "/"
    try:
        for page in client.get_paginator("list_objects_v2").paginate(**request):
            for common in page.get("CommonPrefixes", []):
                yield Listed(common["Prefix"])
            for item in page.get("Contents", []):
                yield Listed(item["Key"], item["Size"], item["LastModified"])
    except (bex.ClientError, bex.BotoCoreError) as exc:
        raise FatalRemoteError(f"listing {where}: {describe(exc)}") from None


def buckets(plane: ControlPlane) -> list[Listed]:
    """The buckets these credentials own (``key``: the name; ``modified``: created)."""
    try:
        answer = plane.client.list_buckets()
    except (bex.ClientError, bex.BotoCoreError) as exc:
        raise FatalRemoteError(f"listing the buckets: {describe(exc)}") from None
    return [Listed(b["Name"], None, b.get("CreationDate")) for b in answer.get("Buckets", [])]
