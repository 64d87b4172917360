"""Parsing of ``s3://bucket/key`` destinations."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bulkup.errors import UsageError

# S3's rules for new buckets: 3-63 characters, lowercase letters, digits, dots and hyphens,
# starting and ending with a letter or digit. Older buckets may hold underscores and capitals,
# so those are accepted too; anything else is certainly not a bucket name.
_BUCKET = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,61}[A-Za-z0-9]$")
MAX_KEY_BYTES = 1024


@dataclass(frozen=True)
class S3Url:
    """A bucket and a key (or key prefix) inside it."""

    bucket: str
    key: str

    @property
    def is_prefix(self) -> bool:
        """True when the key names a folder-like prefix rather than one object."""
        return self.key == "" or self.key.endswith("/")

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def parse_s3_url(text: str) -> S3Url:
    """Parse ``s3://bucket[/key]``; raise UsageError naming what is wrong."""
    if not text.startswith("s3://"):
        raise UsageError(f"not an S3 URL (expected s3://bucket/key): {text!r}")
    bucket, _, key = text[len("s3://") :].partition("/")
    if not bucket:
        raise UsageError(f"S3 URL has no bucket name: {text!r}")
    if not _BUCKET.match(bucket) or ".." in bucket:
        raise UsageError(f"invalid bucket name {bucket!r} in {text!r}")
    check_key(key, allow_empty=True)
    return S3Url(bucket, key)


def check_key(key: str, allow_empty: bool = False) -> None:
    """Raise UsageError if ``key`` cannot be an S3 object key."""
    if not key and not allow_empty:
        raise UsageError("empty object key")
    if len(key.encode("utf-8", "surrogateescape")) > MAX_KEY_BYTES:
        raise UsageError(f"object key longer than {MAX_KEY_BYTES} bytes: {key[:60]!r}...")
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(f"object key is not valid UTF-8: {key!r}") from None
