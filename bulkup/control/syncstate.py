"""What earlier syncs learned of objects, so that an unchanged tree is decided from the listing.

A file's mtime is compared with the object's ``x-amz-meta-mtime``, which only HeadObject
shows: one request per unchanged object (rclone's cost: 90 s for 200,000 files here). But an
object's metadata cannot change unless its ETag or LastModified does (replacing metadata is
a new write), so what one HeadObject said of a (key, size, ETag, LastModified) holds for as
long as the listing shows the same four. This file remembers it, per store and bucket.

An object bulkup wrote is remembered with the ETag the store answered and the mtime it
wrote, before its LastModified is known: the first listing that shows that ETag fills it in.
(An ETag is the MD5 of the bytes, or of the parts' MD5s, or an opaque value new with every
write: a match is that write.) Losing the file costs one HeadObject per object, once; a
file that cannot be read or written is said once, and the sync asks the store instead.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass

from bulkup.cachedir import cache_dir

FILE_NAME = "sync-state.sqlite3"
FORMAT = "1"
_Write = tuple[str, tuple[str | int | None, ...]]  # a statement and its parameters

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS places (id INTEGER PRIMARY KEY, store TEXT NOT NULL, bucket TEXT NOT NULL,
                                   UNIQUE (store, bucket));
CREATE TABLE IF NOT EXISTS objects (
    place INTEGER NOT NULL,
    key TEXT NOT NULL,
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,
    last_modified INTEGER,       -- whole seconds; NULL: written by bulkup, not listed since
    mtime_ns INTEGER,            -- its x-amz-meta-mtime; NULL: it has none
    crc64nvme TEXT,              -- its whole-object CRC64NVME, if the store keeps one
    PRIMARY KEY (place, key)
) WITHOUT ROWID;
"""


@dataclass(frozen=True)
class ObjectFacts:
    """What an object's HeadObject says beyond the listing."""

    mtime_ns: int | None  # x-amz-meta-mtime, read as a number (None: absent or unreadable)
    crc64nvme: str | None = None


class SyncState:
    """The remembered facts of one store's bucket."""

    def __init__(self, db: sqlite3.Connection, place: int) -> None:
        self.db = db
        self.place = place
        self._writes: list[_Write] = []
        self._lookup = "SELECT size, etag, last_modified, mtime_ns, crc64nvme FROM objects WHERE place = ? AND key = ?"

    @classmethod
    def open(cls, store: str, bucket: str, path: str | None = None) -> SyncState:
        """The state of ``bucket`` at ``store`` (an endpoint's scheme://host:port); OSError or
        sqlite3.Error if the file cannot be used."""
        path = path or os.path.join(cache_dir(), FILE_NAME)
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        db = sqlite3.connect(path, isolation_level=None, timeout=30)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SCHEMA)
            found = db.execute("SELECT value FROM meta WHERE name = 'format'").fetchone()
            if found is None or found[0] != FORMAT:
                db.executescript("DELETE FROM objects; DELETE FROM places;")
                db.execute("INSERT OR REPLACE INTO meta VALUES ('format', ?)", (FORMAT,))
            db.execute("INSERT OR IGNORE INTO places (store, bucket) VALUES (?, ?)", (store, bucket))
            place = db.execute("SELECT id FROM places WHERE store = ? AND bucket = ?", (store, bucket)).fetchone()[0]
        except BaseException:
            db.close()
            raise
        return cls(db, place)

    def facts(self, key: str, size: int, etag: str, last_modified: float) -> ObjectFacts | None:
        """What is known of the object the listing shows (None: nothing, or another write)."""
        row = self.db.execute(self._lookup, (self.place, key)).fetchone()
        if row is None or not etag or row[0] != size or row[1] != etag:
            return None
        seconds = int(last_modified)
        if row[2] is None:  # written by bulkup: this listing shows that write
            self._writes.append(
                ("UPDATE objects SET last_modified = ? WHERE place = ? AND key = ?", (seconds, self.place, key))
            )
        elif row[2] != seconds:
            return None
        return ObjectFacts(row[3], row[4])

    def seen(self, key: str, size: int, etag: str, last_modified: float | None, facts: ObjectFacts) -> None:
        """Remember what HeadObject said of an object (its size, ETag and time as it gave them)."""
        if etag and last_modified is not None:
            self._put(key, size, etag, int(last_modified), facts)

    def written(self, key: str, size: int, etag: str, facts: ObjectFacts) -> None:
        """Remember an object this run wrote (the store's ETag, the mtime written)."""
        if etag:
            self._put(key, size, etag.strip('"'), None, facts)

    def forget(self, keys: Iterable[str]) -> None:
        self._writes.extend(("DELETE FROM objects WHERE place = ? AND key = ?", (self.place, key)) for key in keys)

    def save(self) -> None:
        """Write what was learned since the last save, in one transaction."""
        if not self._writes:
            return
        writes, self._writes = self._writes, []
        self.db.execute("BEGIN IMMEDIATE")
        try:
            for sql, params in writes:
                self.db.execute(sql, params)
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def close(self) -> None:
        try:
            self.save()
        finally:
            self.db.close()

    def _put(self, key: str, size: int, etag: str, last_modified: int | None, facts: ObjectFacts) -> None:
        self._writes.append(
            (
                "INSERT OR REPLACE INTO objects VALUES (?, ?, ?, ?, ?, ?, ?)",
                (self.place, key, size, etag, last_modified, facts.mtime_ns, facts.crc64nvme),
            )
        )
