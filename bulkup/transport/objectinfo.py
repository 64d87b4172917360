"""Reading what a bucket holds (ListObjectsV2, HeadObject): the requests' targets and what
their answers say, with no I/O.

A listing page of 1,000 objects is parsed with the C XML parser in a few milliseconds, where
botocore's generic parser takes about 80; a HeadObject answer is read from its headers.
"""

from __future__ import annotations

import email.utils
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote, unquote

from bulkup.transport.http1 import ProtocolError
from bulkup.transport.request import BucketEndpoint

PAGE_SIZE = 1000  # S3's most objects a listing page


@dataclass(frozen=True, slots=True)
class ListedObject:
    """An object as a listing shows it."""

    key: str
    size: int
    last_modified: float  # seconds since the epoch
    etag: str  # without its quotes


@dataclass(frozen=True)
class ListPage:
    objects: list[ListedObject]
    truncated: bool
    next_token: str | None


@dataclass(frozen=True)
class HeadAnswer:
    """What HeadObject says of an object that is there."""

    size: int
    etag: str  # without its quotes
    last_modified: float | None
    mtime: str | None  # x-amz-meta-mtime as written
    crc64nvme: str | None  # the whole object's CRC64NVME, if the store keeps one


def list_target(endpoint: BucketEndpoint, prefix: str, token: str | None) -> str:
    """The target of one ListObjectsV2 page (keys URL-encoded in the answer: any key is XML-safe)."""
    query = f"encoding-type=url&list-type=2&max-keys={PAGE_SIZE}&prefix={_encode(prefix)}"
    if token:
        query += f"&continuation-token={_encode(token)}"
    return f"{endpoint.base_path}/?{query}"


def parse_list_page(body: bytes) -> ListPage:
    """A ListObjectsV2 answer; ProtocolError if it is not one."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise ProtocolError(f"the listing is not XML ({exc})") from None
    ns = root.tag[: root.tag.index("}") + 1] if root.tag.startswith("{") else ""
    if root.tag != f"{ns}ListBucketResult":
        raise ProtocolError(f"the listing is a {root.tag.removeprefix(ns)!r}, not a ListBucketResult")
    encoded = (root.findtext(f"{ns}EncodingType") or "").lower() == "url"
    key_tag, size_tag, time_tag, etag_tag = (f"{ns}Key", f"{ns}Size", f"{ns}LastModified", f"{ns}ETag")
    objects = []
    for item in root.iterfind(f"{ns}Contents"):
        key = item.findtext(key_tag)
        size = item.findtext(size_tag)
        if key is None or size is None or not size.isdigit():
            raise ProtocolError("a listed object without a key or size")
        objects.append(
            ListedObject(
                unquote(key) if encoded else key,
                int(size),
                iso_seconds(item.findtext(time_tag) or ""),
                (item.findtext(etag_tag) or "").strip('"'),
            )
        )
    truncated = (root.findtext(f"{ns}IsTruncated") or "").strip().lower() == "true"
    return ListPage(objects, truncated, root.findtext(f"{ns}NextContinuationToken") or None)


def head_answer(headers: dict[str, str]) -> HeadAnswer:
    """What a 200 answer to HeadObject (asked with x-amz-checksum-mode: ENABLED) says."""
    length = headers.get("content-length", "")
    if not length.isdigit():
        raise ProtocolError(f"HeadObject answered without a size ({length!r})")
    whole = headers.get("x-amz-checksum-type", "FULL_OBJECT").upper() == "FULL_OBJECT"
    return HeadAnswer(
        size=int(length),
        etag=headers.get("etag", "").strip('"'),
        last_modified=http_seconds(headers.get("last-modified", "")),
        mtime=headers.get("x-amz-meta-mtime"),
        crc64nvme=headers.get("x-amz-checksum-crc64nvme") if whole else None,
    )


def iso_seconds(text: str) -> float:
    """``2026-12-03T07:29:54.000Z`` as seconds since the epoch (0.0 if unreadable)."""
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return 0.0


def http_seconds(text: str) -> float | None:
    """An HTTP date as seconds since the epoch."""
    try:
        return email.utils.parsedate_to_datetime(text).timestamp()
    except (TypeError, ValueError):
        return None


def _encode(value: str) -> str:
    return quote(value, safe="-_.~")
