"""What ``bulkup sync`` sends and deletes: local files against the objects under the prefix.

Pure decisions, no I/O: the listing and any HeadObject answers come in as ``RemoteObject``.

A file is sent when its object is missing or has another size. When the sizes agree:
- ``size``: it is unchanged (``--size-only``);
- ``mtime`` (the default): unchanged if the object's ``x-amz-meta-mtime`` (rclone's form,
  which sync writes) is the file's mtime to the nanosecond; an object without it is
  unchanged unless the file is newer than the object's LastModified (the AWS CLI's rule);
- ``checksum``: unchanged if the object's whole-object checksum (a full-object CRC64NVME,
  or an MD5 ETag of a single PUT) equals the file's.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable

from bulkup.plan.attributes import mtime_metadata
from bulkup.plan.filters import Filters
from bulkup.plan.sources import SourceFile

COMPARISONS = ("mtime", "size", "checksum")


@dataclass(frozen=True)
class RemoteObject:
    """An object under the prefix, from the listing (and a HeadObject where one was needed)."""

    key: str
    size: int
    last_modified: float                  # seconds since the epoch
    etag: str = ""
    mtime: str | None = None             # x-amz-meta-mtime, if HeadObject was asked
    crc64nvme: str | None = None         # its full-object CRC64NVME, if the store gave one


@dataclass
class SyncPlan:
    """What a sync does: files to send (with why), objects to delete, and what it leaves."""

    send: list[tuple[SourceFile, str]] = field(default_factory=list)
    unchanged: int = 0
    delete: list[str] = field(default_factory=list)


def needs_detail(local: SourceFile, remote: RemoteObject | None, comparison: str) -> bool:
    """Whether deciding needs the object's HeadObject (the listing alone cannot tell)."""
    return remote is not None and remote.size == local.size and comparison != "size"


def reason_to_send(local: SourceFile, remote: RemoteObject | None, comparison: str,
                   local_checksum: Callable[[SourceFile, str], str | None]) -> str | None:
    """Why ``local`` must be sent ("new", "size", "mtime", "newer", "checksum"), or None if
    its object is up to date. ``local_checksum(file, kind)`` computes the file's ``crc64nvme``
    or ``md5`` (base64 / hex) when a checksum comparison needs it."""
    if remote is None:
        return "new"
    if remote.size != local.size:
        return "size"
    if comparison == "size":
        return None
    if comparison == "checksum":
        return _checksum_differs(local, remote, local_checksum)
    if remote.mtime is not None:
        return None if remote.mtime == mtime_metadata(local.mtime_ns) else "mtime"
    return "newer" if local.mtime_ns / 1e9 > remote.last_modified else None


def _checksum_differs(local: SourceFile, remote: RemoteObject,
                      local_checksum: Callable[[SourceFile, str], str | None]) -> str | None:
    if remote.crc64nvme is not None:
        return None if local_checksum(local, "crc64nvme") == remote.crc64nvme else "checksum"
    etag = remote.etag.strip('"')
    if etag and "-" not in etag:            # a single PUT's ETag is its MD5 (without SSE-KMS)
        return None if local_checksum(local, "md5") == etag else "checksum"
    return "checksum"                       # nothing to compare with: sent to be sure


def may_overwrite(local: SourceFile, remote: RemoteObject | None, if_size_differ: bool,
                  if_source_newer: bool) -> bool:
    """s5cmd's ``--if-size-differ`` / ``--if-source-newer`` on put: an object already there is
    replaced only if each condition given holds (a missing one is always written)."""
    if remote is None:
        return True
    if if_size_differ and remote.size == local.size:
        return False
    return not (if_source_newer and local.mtime_ns / 1e9 <= remote.last_modified)


def deletions(local_keys: set[str], remote: Iterable[RemoteObject], prefix: str, filters: Filters) -> list[str]:
    """Objects under ``prefix`` whose file is gone; objects the filters leave out are kept,
    as the AWS CLI keeps them. Never a key outside the prefix."""
    return [o.key for o in remote
            if o.key.startswith(prefix) and o.key not in local_keys
            and (not filters or filters.admits(o.key[len(prefix):]))]
