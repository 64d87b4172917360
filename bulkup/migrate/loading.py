"""Loading a manifest into a migration's journal, checking every line before anything is sent.

Each line is parsed, its source looked at (exists, regular, readable, the size and mtime the
manifest states), its destination checked against every other line (the journal's unique
index, so a manifest of millions of lines needs no set in memory). Bad lines stop the
migration before any upload, unless the user asked to skip them.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass, field

from bulkup.errors import UsageError
from bulkup.migrate.journal import DuplicateDestination, Journal
from bulkup.migrate.manifest import ManifestEntry, ManifestError, read_manifest
from bulkup.plan.files import FileIdentity
from bulkup.plan.parts import MAX_OBJECT_SIZE, MAX_SINGLE_PUT

MAX_LINES_NAMED = 10


@dataclass
class LoadReport:
    """What loading found: objects, bytes, and the bad lines with reasons."""

    objects: int = 0
    total_bytes: int = 0
    bad: list[ManifestError] = field(default_factory=list)
    bad_count: int = 0
    pinned: int = 0  # lines with a ``node``

    def reject(self, error: ManifestError) -> None:
        self.bad_count += 1
        if len(self.bad) < 1000:
            self.bad.append(error)


def manifest_digest(path: str) -> str:
    try:
        with open(path, "rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read manifest: {exc.strerror}") from None


def load_manifest(journal: Journal, manifest: str, skip_bad_lines: bool = False) -> LoadReport:
    """Fill ``journal`` from ``manifest`` (once: a rerun with the same manifest reuses it).

    Raises ManifestError naming the first bad line (and how many more) unless
    ``skip_bad_lines``; then the bad lines are recorded in the journal and reported.
    """
    digest = manifest_digest(manifest)
    if journal.meta("loaded"):
        if journal.meta("manifest_sha256") != digest:
            raise UsageError(
                f"{manifest} changed since {journal.path} was written from it; "
                "restore it, or start a new migration with another --journal"
            )
        return LoadReport()  # loaded by an earlier run: nothing to check again
    report = LoadReport()
    journal.begin_load()
    try:
        for entry in read_manifest(manifest, on_error=report.reject):
            _load_entry(journal, entry, manifest, report)
        if report.bad_count and not skip_bad_lines:
            raise ManifestError(_bad_lines_message(report))
        for error in report.bad:
            journal.add_bad_line(error.line, str(error))
        journal.finish_load({"manifest": os.path.abspath(manifest), "manifest_sha256": digest})
    except BaseException:
        journal.abandon_load()
        raise
    return report


def _load_entry(journal: Journal, entry: ManifestEntry, manifest: str, report: LoadReport) -> None:
    where = f"{manifest}:{entry.line}"
    try:
        identity = check_source(entry, where)
        journal.add_object(entry.line, entry.source, entry.bucket, entry.key, identity, attributes(entry))
    except ManifestError as exc:
        report.reject(exc)
        return
    except DuplicateDestination as dup:
        report.reject(
            ManifestError(
                f"{where}: destination s3://{entry.bucket}/{entry.key} is also on line {dup.other_line}", entry.line
            )
        )
        return
    report.objects += 1
    report.total_bytes += identity.size
    report.pinned += entry.node is not None


def check_source(entry: ManifestEntry, where: str) -> FileIdentity:
    """The source as it is (size, times, inode, device), if it is a readable regular file
    matching the manifest.

    A line pinned to a node is taken at its word (size as stated, mtime unknown: 0): its file
    may exist only on that node, which checks it when it sends the first byte.
    """

    def bad(reason: str) -> ManifestError:
        return ManifestError(f"{where}: {reason}", entry.line)

    if entry.node is not None:
        if entry.size is None or entry.size > MAX_OBJECT_SIZE:  # a pinned line states its size
            raise bad(f"source {entry.source} is larger than S3's maximum object size")
        return FileIdentity(size=entry.size)
    try:
        st = os.stat(entry.source)
    except OSError as exc:
        raise bad(f"source {entry.source}: {exc.strerror.lower() if exc.strerror else exc}") from None
    except ValueError:  # a NUL in the path: no file has that name
        raise bad(f"source {entry.source!r} is not a path a file can have") from None
    if not stat.S_ISREG(st.st_mode):
        raise bad(f"source {entry.source} is not a regular file")
    if not os.access(entry.source, os.R_OK):
        raise bad(f"source {entry.source}: permission denied")
    if entry.size is not None and entry.size != st.st_size:
        raise bad(f"source {entry.source} has {st.st_size} bytes, the manifest says {entry.size}")
    if entry.mtime is not None and not _same_mtime(entry.mtime, st.st_mtime_ns):
        raise bad(f"source {entry.source} was modified after the manifest was written")
    if st.st_size > MAX_OBJECT_SIZE:
        raise bad(f"source {entry.source} is larger than S3's maximum object size")
    if entry.checksum and entry.checksum[0] == "md5" and st.st_size > MAX_SINGLE_PUT:
        raise bad(
            "an md5 checksum can be verified only for objects up to 5 GiB (one PUT); give a crc64nvme checksum instead"
        )
    return FileIdentity.of(st)


def _same_mtime(expected: float, mtime_ns: int) -> bool:
    actual = mtime_ns / 1e9
    if expected == int(expected):  # whole seconds (ISO 8601 without fraction)
        return int(actual) == int(expected)
    return abs(actual - expected) < 1e-3


def attributes(entry: ManifestEntry) -> dict:
    """A line's optional object attributes, as the journal keeps them."""
    found: dict = {}
    if entry.content_type:
        found["content_type"] = entry.content_type
    if entry.metadata:
        found["metadata"] = dict(entry.metadata)
    if entry.checksum:
        found["checksum"] = list(entry.checksum)
    if entry.node:
        found["node"] = entry.node
    if entry.attributes:
        found["object"] = dict(entry.attributes)
    return found


def _bad_lines_message(report: LoadReport) -> str:
    first = str(report.bad[0])
    if report.bad_count == 1:
        return f"{first} (nothing was uploaded)"
    others = ", ".join(str(e.line) for e in report.bad[1 : MAX_LINES_NAMED + 1])
    more = "..." if report.bad_count > MAX_LINES_NAMED + 1 else ""
    return (
        f"{first}; {report.bad_count - 1} more bad lines ({others}{more}); nothing was "
        "uploaded (fix them, or pass --skip-bad-lines to upload the rest)"
    )


__all__ = ["load_manifest", "LoadReport", "check_source", "attributes"]
