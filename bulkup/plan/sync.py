"""What ``bulkup sync`` sends, leaves and deletes: the rules, with no I/O.

The walk and the listing come in S3's key order and are merged (``merge``), holding neither.

What is sent: a file whose object is missing or another size. When the sizes agree:
- ``size`` (``--size-only``): nothing more is compared: unchanged;
- ``mtime`` (the default): unchanged if the object's ``x-amz-meta-mtime`` (rclone's, which
  sync writes) is the file's mtime at the precision both keep (``plan.mtime``); an object
  without one is unchanged unless the file is newer than the object's LastModified (the
  AWS CLI's rule);
- ``checksum``: unchanged if the object's whole-object checksum (a full-object CRC64NVME,
  or the MD5 ETag of a single PUT) equals the file's, read now; sent if there is none.
The listing decides wherever it can (missing, another size, ``--size-only``); otherwise the
object's metadata decides: remembered from an earlier run, or read with HeadObject.

What ``--delete`` deletes: an object under the prefix whose file is gone. Never (``keep_reason``):
a folder marker (a key ending ``/``); a key the filters leave out (as the AWS CLI); anything,
if the walk failed to read an entry (rclone's rule); a key under a directory where the walk
passed over an entry (a FIFO, a loop, a name that is not UTF-8); a key whose path exists
on disk though no file was uploaded from it. Nor, by construction, a key written in this run:
every local key is matched, never a deletion. Deletions come after every upload succeeded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from bulkup.plan.files import Skip, SkipKind, SourceFile
from bulkup.plan.filters import Filters
from bulkup.plan.mtime import same_mtime

COMPARISONS = ("mtime", "size", "checksum")
LOOK = "look"  # the listing cannot decide: the object's metadata must

OUTSIDE = "outside the prefix"
FOLDER_MARKER = "folder markers"
FILTERED = "left out by --exclude/--include"
WALK_ERRORS = "the walk could not read every entry"
PASSED_OVER = "under a directory with entries not uploaded"
SOURCE_EXISTS = "their path exists on disk but was not uploaded"
UPLOADS_FAILED = "some uploads failed"


@dataclass(frozen=True)
class RemoteObject:
    """An object under the prefix as the listing shows it (ETag without quotes)."""

    key: str
    size: int
    last_modified: float  # seconds since the epoch
    etag: str = ""


@dataclass(frozen=True)
class ObjectDetail:
    """What deciding needs beyond the listing: from HeadObject, or remembered."""

    mtime_ns: int | None  # its x-amz-meta-mtime as a number (None: it has none)
    crc64nvme: str | None = None  # its full-object CRC64NVME, if the store gave one
    size: int | None = None  # as HeadObject saw it, if it was asked (else the listing's)


class OutOfOrder(Exception):
    """A side of the merge is not in S3's key order (the walk's, or the store's listing)."""


def merge(
    local: Iterable[SourceFile], remote: Iterable[RemoteObject]
) -> Iterator[tuple[SourceFile | None, RemoteObject | None]]:
    """Pair files and objects by key, both streams in ascending key order: (file, object),
    (file, None) for a file with no object, (None, object) for an object with no file.
    OutOfOrder if either stream is not strictly ascending."""
    files, objects = _ascending(local, "the walk"), _ascending(remote, "the store's listing")
    f, o = next(files, None), next(objects, None)
    while f is not None or o is not None:
        if o is None or (f is not None and f.key < o.key):
            yield f, None
            f = next(files, None)
        elif f is None or o.key < f.key:
            yield None, o
            o = next(objects, None)
        else:
            yield f, o
            f, o = next(files, None), next(objects, None)


class _Keyed(Protocol):
    """Anything merged by key: a file of the walk, an object of the listing."""

    @property
    def key(self) -> str: ...


_K = TypeVar("_K", bound=_Keyed)


def _ascending(items: Iterable[_K], side: str) -> Iterator[_K]:
    previous = None
    for item in items:
        if previous is not None and item.key <= previous:
            raise OutOfOrder(f"{side} gave {item.key!r} after {previous!r}: sync needs keys in S3's order")
        previous = item.key
        yield item


def from_listing(local: SourceFile, remote: RemoteObject | None, comparison: str) -> str | None:
    """Why ``local`` must be sent ("new", "size"), None if it is unchanged, or LOOK if only
    the object's metadata can tell."""
    if remote is None:
        return "new"
    if remote.size != local.size:
        return "size"
    return None if comparison == "size" else LOOK


def reason_to_send(
    local: SourceFile,
    remote: RemoteObject,
    detail: ObjectDetail | None,
    comparison: str,
    local_checksum: Callable[[SourceFile, str], str | None],
) -> str | None:
    """Why ``local`` must be sent ("gone", "size", "mtime", "newer", "checksum"), or None if
    its object is up to date. ``detail`` is None when the object vanished since it was
    listed. ``local_checksum(file, kind)`` computes the file's ``crc64nvme`` or ``md5``
    (base64 / hex) when a checksum comparison needs it."""
    if detail is None:
        return "gone"
    if detail.size is not None and detail.size != local.size:
        return "size"
    if comparison == "checksum":
        return _checksum_differs(local, remote, detail, local_checksum)
    if detail.mtime_ns is not None:
        return None if same_mtime(local.mtime_ns, detail.mtime_ns) else "mtime"
    return "newer" if local.mtime_ns / 1e9 > remote.last_modified else None


def _checksum_differs(
    local: SourceFile,
    remote: RemoteObject,
    detail: ObjectDetail,
    local_checksum: Callable[[SourceFile, str], str | None],
) -> str | None:
    if detail.crc64nvme is not None:
        return None if local_checksum(local, "crc64nvme") == detail.crc64nvme else "checksum"
    if remote.etag and "-" not in remote.etag:  # a single PUT's ETag is its MD5 (without SSE-KMS)
        return None if local_checksum(local, "md5") == remote.etag else "checksum"
    return "checksum"  # nothing to compare with: sent to be sure


def may_overwrite(local: SourceFile, remote: RemoteObject | None, if_size_differ: bool, if_source_newer: bool) -> bool:
    """s5cmd's ``--if-size-differ`` / ``--if-source-newer`` on put: an object already there is
    replaced only if each condition given holds (a missing one is always written)."""
    if remote is None:
        return True
    if if_size_differ and remote.size == local.size:
        return False
    return not (if_source_newer and local.mtime_ns / 1e9 <= remote.last_modified)


@dataclass
class DeleteRules:
    """Which objects with no file ``--delete`` may delete (see the module's docstring).

    ``prefix`` is the destination prefix, ``skips`` what the walk passed over (the whole
    walk's: ask only once it has ended), and ``exists(relative_path)`` whether that path
    below the tree's root exists on disk."""

    prefix: str
    filters: Filters
    skips: list[Skip]
    exists: Callable[[str], bool]
    _seen: int = field(init=False, default=-1)
    _passed_over: set[str] = field(init=False, default_factory=set)
    _walk_failed: bool = field(init=False, default=False)

    def keep_reason(self, key: str) -> str | None:
        """Why the object ``key`` (under the prefix, with no file) is kept; None: delete it."""
        if self._seen != len(self.skips):
            self._seen = len(self.skips)
            self._walk_failed = any(s.kind is SkipKind.ERROR for s in self.skips)
            self._passed_over = {s.directory for s in self.skips if s.kind is SkipKind.ENTRY}
        if not key.startswith(self.prefix):
            return OUTSIDE
        rel = key[len(self.prefix) :]
        if not rel or key.endswith("/"):
            return FOLDER_MARKER
        if self.filters and not self.filters.admits(rel):
            return FILTERED
        if self._walk_failed:
            return WALK_ERRORS
        if self._under_passed_over(rel):
            return PASSED_OVER
        if _plain_path(rel) and self.exists(rel):
            return SOURCE_EXISTS
        return None

    def _under_passed_over(self, rel: str) -> bool:
        if not self._passed_over:
            return False
        if "" in self._passed_over:
            return True
        end = rel.find("/")
        while end >= 0:
            if rel[: end + 1] in self._passed_over:
                return True
            end = rel.find("/", end + 1)
        return False


def _plain_path(rel: str) -> bool:
    """Whether a key's path below the prefix could have come from a walk (no empty, ``.`` or
    ``..`` segments): only such a path can be looked for on disk."""
    return all(part not in ("", ".", "..") for part in rel.split("/"))
