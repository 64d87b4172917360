"""A migration's journal: SQLite in WAL mode, beside the manifest, committed at every step.

It holds the manifest's objects (loaded once, so a rerun needs no second pass over a huge
manifest), each object's state, its open multipart upload and every part the server
accepted, with ETag and checksum. Steps are group-committed: the coordinator flushes after each
round of worker messages (milliseconds), before every CompleteMultipartUpload and after
recording the intent to create an upload, so a kill -9 loses at most the steps of one round,
which a resumed run reconciles with the server.

``synchronous=NORMAL``: a commit survives the process being killed; after a power cut the
last few may be lost, which a resumed run also reconciles (ListParts, HeadObject).
"""

from __future__ import annotations

import enum
import errno
import fcntl
import json
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass

from bulkup.control.events import UploadListener
from bulkup.errors import BulkupError, UsageError
from bulkup.plan.files import FileIdentity
from bulkup.plan.results import ObjectResult

SCHEMA_VERSION = 3  # 2: objects.verification; 3: a source's ctime, inode and device
BATCH = 500

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS objects (
    id INTEGER PRIMARY KEY,          -- the manifest line
    source TEXT NOT NULL,
    bucket TEXT NOT NULL,
    key TEXT NOT NULL,
    size INTEGER NOT NULL,           -- as found when the object was (re)planned
    mtime_ns INTEGER NOT NULL,       -- 0: not known (a file only its node reads)
    ctime_ns INTEGER,                -- with size and mtime, the file's identity: any change means
    inode INTEGER,                   -- other bytes may be there (NULL: not known)
    device INTEGER,
    attributes TEXT,                 -- JSON: content_type, metadata, storage_class, checksum
    state TEXT NOT NULL DEFAULT 'pending',   -- pending creating uploading done failed skipped
    upload_id TEXT,
    part_size INTEGER,
    algorithm TEXT,                  -- the open upload's checksum kind
    since REAL,                      -- when the state was entered
    etag TEXT,
    checksum TEXT,
    reason TEXT,                     -- why it failed or was skipped
    verification TEXT,               -- how the store verified it, once done
    UNIQUE (bucket, key)
);
CREATE TABLE IF NOT EXISTS parts (
    object INTEGER NOT NULL,
    number INTEGER NOT NULL,
    etag TEXT NOT NULL,
    checksum TEXT,
    PRIMARY KEY (object, number)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS bad_lines (line INTEGER PRIMARY KEY, reason TEXT NOT NULL);
"""


class ObjectState(enum.StrEnum):
    """Where an object of a migration stands (stored as its value)."""

    PENDING = "pending"  # not started, or to start afresh
    CREATING = "creating"  # CreateMultipartUpload sent, its answer not yet recorded
    UPLOADING = "uploading"  # an open multipart upload, with the parts recorded so far
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"  # already on the server (--skip-existing)


class DuplicateDestination(Exception):
    """Two manifest lines name the same object."""

    def __init__(self, other_line: int) -> None:
        super().__init__(other_line)
        self.other_line = other_line


@dataclass(frozen=True)
class JournalObject:
    """One row of the journal's objects table."""

    id: int
    source: str
    bucket: str
    key: str
    size: int
    mtime_ns: int
    attributes: dict
    state: ObjectState
    upload_id: str | None
    part_size: int | None
    algorithm: str | None
    since: float | None
    reason: str | None = None
    ctime_ns: int | None = None
    inode: int | None = None
    device: int | None = None

    @property
    def destination(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    @property
    def identity(self) -> FileIdentity:
        """The source as recorded when its object was (re)planned: what its upload's parts
        were read from."""
        return FileIdentity(
            size=self.size, mtime_ns=self.mtime_ns or None, ctime_ns=self.ctime_ns, inode=self.inode, device=self.device
        )


class Journal(UploadListener):
    """The journal file of one migration. Also the coordinator's listener."""

    def __init__(self, path: str, created: bool, db: sqlite3.Connection, lock: int | None = None) -> None:
        self.path = path
        self.created = created
        self.db = db
        self._closed = False
        self.seconds = 0.0  # time spent committing steps, for the overhead figure
        self._pending: list[tuple[str, tuple]] = []
        self._lock = lock
        self._unwritable = False  # a commit failed: the journal holds what was committed before

    @classmethod
    def open(cls, path: str, create: bool = True, run: bool = False) -> Journal:
        """Open (or create) the journal at ``path``. ``run``: for a run that changes it, which
        holds it alone until closed (JournalBusy, naming the holder, if another run does);
        readers (``bulkup status``) need no such hold. UsageError (JournalUnwritable for a
        full disk) naming the path and what to do if it cannot be opened or created."""
        exists = os.path.exists(path)
        if not exists and not create:
            raise UsageError(f"{path}: no such journal")
        if os.path.isdir(path):
            raise UsageError(f"{path} is a directory, not a journal: give a journal file's path")
        held_before = os.path.exists(path + ".lock")
        lock = _hold(path) if run else None
        db = None
        try:
            db = _connect(path)
            journal = cls(path, not exists, db, lock)
            journal._check_format()
        except BaseException as exc:
            if db is not None:
                db.close()
            if lock is not None:
                os.close(lock)
            if not exists:
                _remove_files(path)  # nothing half-made is left
            elif lock is not None and not held_before:
                os.unlink(path + ".lock")
            raise _open_error(path, exc, exists) from None
        return journal

    def _check_format(self) -> None:
        """Record this bulkup's format in a new journal, bring an older one up to it, and
        refuse one of a newer bulkup."""
        version = self.meta("schema")
        if version is None:
            self.set_meta("schema", str(SCHEMA_VERSION))
        elif version in ("1", "2"):  # the same but for verification (1) and the files' identity
            _upgrade(self.db, int(version))
            self.set_meta("schema", str(SCHEMA_VERSION))
        elif version != str(SCHEMA_VERSION):
            raise UsageError(f"{self.path}: journal format {version} is not this bulkup's ({SCHEMA_VERSION})")

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        if not self._closed:
            try:
                self.flush()
            finally:
                self.db.close()
                self._closed = True
        if self._lock is not None:
            os.close(self._lock)  # the kernel lets go of the hold with it
            self._lock = None

    def discard(self) -> None:
        """Close and delete a journal this run created (nothing was uploaded)."""
        self.close()
        _remove_files(self.path)

    # -- metadata -------------------------------------------------------------------------

    def meta(self, name: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return row[0] if row else None

    def set_meta(self, name: str, value: str) -> None:
        with self._writing():
            self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (name, value))

    # -- loading the manifest -------------------------------------------------------------

    def begin_load(self) -> None:
        """Start (or restart) loading a manifest: one transaction, emptied tables."""
        self.flush()  # a step still waiting must not land in the new load
        with self._writing():
            self.db.execute("BEGIN")
            for table in ("objects", "parts", "bad_lines"):
                self.db.execute(f"DELETE FROM {table}")
            self.db.execute("DELETE FROM meta WHERE name != 'schema'")

    def add_object(
        self, line: int, source: str, bucket: str, key: str, identity: FileIdentity, attributes: dict
    ) -> None:
        """Record one manifest line; DuplicateDestination if another line has its destination."""
        try:
            with self._writing():
                self.db.execute(
                    "INSERT INTO objects (id, source, bucket, key, size, mtime_ns, ctime_ns, inode,"
                    " device, attributes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        line,
                        source,
                        bucket,
                        key,
                        *_identity_values(identity),
                        json.dumps(attributes) if attributes else None,
                    ),
                )
        except sqlite3.IntegrityError:
            other = self.db.execute("SELECT id FROM objects WHERE bucket = ? AND key = ?", (bucket, key)).fetchone()
            raise DuplicateDestination(other[0]) from None

    def add_bad_line(self, line: int, reason: str) -> None:
        with self._writing():
            self.db.execute("INSERT OR REPLACE INTO bad_lines VALUES (?, ?)", (line, reason))

    def finish_load(self, meta: dict[str, str]) -> None:
        for name, value in meta.items():
            self.set_meta(name, value)
        self.set_meta("loaded", "1")
        with self._writing():
            self.db.execute("COMMIT")

    def abandon_load(self) -> None:
        self._roll_back()

    # -- reading --------------------------------------------------------------------------

    def unfinished(self) -> Iterator[JournalObject]:
        """Objects not yet done or skipped, in manifest order, read in small batches."""
        last = 0
        while True:
            self.flush()
            rows = self.db.execute(
                "SELECT id, source, bucket, key, size, mtime_ns, attributes, state, upload_id,"
                " part_size, algorithm, since, reason, ctime_ns, inode, device FROM objects"
                " WHERE id > ? AND state NOT IN ('done', 'skipped') ORDER BY id LIMIT ?",
                (last, BATCH),
            ).fetchall()
            if not rows:
                return
            for row in rows:
                yield _object(row)
            last = rows[-1][0]

    def parts(self, object_id: int) -> dict[int, tuple[str, str | None]]:
        self.flush()
        rows = self.db.execute("SELECT number, etag, checksum FROM parts WHERE object = ?", (object_id,))
        return {number: (etag, checksum) for number, etag, checksum in rows}

    def first_key(self, bucket: str) -> str:
        """The key of the bucket's first object (where to ask the store what it verifies)."""
        row = self.db.execute("SELECT key FROM objects WHERE bucket = ? ORDER BY id LIMIT 1", (bucket,)).fetchone()
        return row[0] if row else ""

    def buckets(self) -> list[str]:
        return [row[0] for row in self.db.execute("SELECT DISTINCT bucket FROM objects ORDER BY bucket")]

    def totals(self) -> dict[str, tuple[int, int]]:
        """For each state: (objects, bytes)."""
        self.flush()
        rows = self.db.execute("SELECT state, COUNT(*), COALESCE(SUM(size), 0) FROM objects GROUP BY state")
        found = {state: (count, size) for state, count, size in rows}
        return {state.value: found.get(state.value, (0, 0)) for state in ObjectState}

    def unfinished_totals(self) -> tuple[int, int]:
        self.flush()
        row = self.db.execute(
            "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM objects WHERE state NOT IN ('done', 'skipped')"
        ).fetchone()
        return row[0], row[1]

    def failures(self, limit: int | None = None) -> Iterator[JournalObject]:
        yield from self._select("state = 'failed'", limit)

    def skipped(self, limit: int | None = None) -> Iterator[JournalObject]:
        yield from self._select("state = 'skipped'", limit)

    def in_progress(self, limit: int | None = None) -> Iterator[tuple[JournalObject, int]]:
        """Objects with an open multipart upload, and how many parts the server has."""
        for obj in self._select("state = 'uploading'", limit):
            count = self.db.execute("SELECT COUNT(*) FROM parts WHERE object = ?", (obj.id,)).fetchone()[0]
            yield obj, count

    def verification(self) -> dict[str, int]:
        """Objects done, by how the store verified them."""
        self.flush()
        rows = self.db.execute(
            "SELECT COALESCE(verification, 'not recorded'), COUNT(*) FROM objects"
            " WHERE state = 'done' GROUP BY 1 ORDER BY 2 DESC"
        )
        return dict(rows.fetchall())

    def bad_lines(self) -> Iterator[tuple[int, str]]:
        yield from self.db.execute("SELECT line, reason FROM bad_lines ORDER BY line")

    def _select(self, where: str, limit: int | None) -> Iterator[JournalObject]:
        self.flush()
        query = (
            "SELECT id, source, bucket, key, size, mtime_ns, attributes, state, upload_id,"
            f" part_size, algorithm, since, reason, ctime_ns, inode, device FROM objects WHERE {where} ORDER BY id"
        )
        if limit is not None:
            query += f" LIMIT {int(limit)}"
        for row in self.db.execute(query).fetchall():
            yield _object(row)

    # -- changes from resuming --------------------------------------------------------------

    def replan(self, object_id: int, identity: FileIdentity) -> None:
        """Start an object afresh from its source as it is now (it changed, or its upload is gone)."""
        self._write(
            "UPDATE objects SET state = 'pending', upload_id = NULL, part_size = NULL, algorithm = NULL,"
            " size = ?, mtime_ns = ?, ctime_ns = ?, inode = ?, device = ?, since = ?, reason = NULL"
            " WHERE id = ?",
            (*_identity_values(identity), time.time(), object_id),
        )
        self._write("DELETE FROM parts WHERE object = ?", (object_id,))

    def adopt_upload(self, object_id: int, upload_id: str, parts: dict[int, tuple[str, str | None]]) -> None:
        """Record what the server holds of an open upload (after ListParts)."""
        self._write("UPDATE objects SET state = 'uploading', upload_id = ? WHERE id = ?", (upload_id, object_id))
        self._write("DELETE FROM parts WHERE object = ?", (object_id,))
        for number, (etag, checksum) in parts.items():
            self._write("INSERT INTO parts VALUES (?, ?, ?, ?)", (object_id, number, etag, checksum))

    def mark_done(self, object_id: int, etag: str, checksum: str | None, verification: str | None = None) -> None:
        """Done: on the server with this ETag and checksum (``verification``: how the store
        verified it; None: found there by a resumed run, as the earlier run left it)."""
        self._write(
            "UPDATE objects SET state = 'done', upload_id = NULL, etag = ?, checksum = ?,"
            " since = ?, reason = NULL, verification = COALESCE(?, verification) WHERE id = ?",
            (etag, checksum, time.time(), verification, object_id),
        )

    def mark_skipped(self, object_id: int, reason: str) -> None:
        self._write(
            "UPDATE objects SET state = 'skipped', since = ?, reason = ? WHERE id = ?", (time.time(), reason, object_id)
        )

    def mark_failed(self, object_id: int, reason: str) -> None:
        self._write(
            "UPDATE objects SET state = 'failed', upload_id = NULL, since = ?, reason = ? WHERE id = ?",
            (time.time(), reason, object_id),
        )

    # -- the coordinator's listener -------------------------------------------------------

    def creating_upload(self, job, part_size: int) -> None:
        self._write(
            "UPDATE objects SET state = 'creating', part_size = ?, algorithm = ?, since = ? WHERE id = ?",
            (part_size, job.settings.checksum.name, time.time(), job.ref),
        )

    def upload_created(self, job, upload_id: str, part_size: int) -> None:
        """The upload is open: its parts will be read from the file as the job found it."""
        self._write(
            "UPDATE objects SET state = 'uploading', upload_id = ?, part_size = ?,"
            " size = ?, mtime_ns = ?, ctime_ns = ?, inode = ?, device = ? WHERE id = ?",
            (upload_id, part_size, *_identity_values(job.source.identity), job.ref),
        )

    def part_done(self, job, number: int, etag: str, checksum: str | None) -> None:
        self._write("INSERT OR REPLACE INTO parts VALUES (?, ?, ?, ?)", (job.ref, number, etag, checksum))

    def source_seen(self, job, identity) -> None:
        if identity.mtime_ns is not None:
            self._write("UPDATE objects SET mtime_ns = ? WHERE id = ? AND mtime_ns = 0", (identity.mtime_ns, job.ref))

    def object_restarted(self, job, source, reason: str) -> None:
        self.replan(job.ref, source.identity)

    def object_done(self, job, result: ObjectResult) -> None:
        self.mark_done(job.ref, result.etag, result.checksum, result.verification or None)

    def object_failed(self, job, reason: str) -> None:
        self.mark_failed(job.ref, reason)

    def object_exists(self, job) -> None:
        self.mark_skipped(job.ref, "exists (--no-overwrite)")

    def flush(self) -> None:
        """Commit the steps written since the last flush, as one transaction.

        JournalUnwritable if the commit fails (a full disk): the transaction is rolled back,
        so the journal holds every step up to the last flush, as after a kill -9, and this
        journal writes nothing more (a resumed run reconciles what it did not record)."""
        if not self._pending or self._unwritable:
            return
        started = time.perf_counter()
        pending, self._pending = self._pending, []
        try:
            with self._writing():
                if len(pending) == 1:
                    self.db.execute(*pending[0])  # a statement on its own commits itself
                else:
                    self.db.execute("BEGIN")
                    for sql, params in pending:
                        self.db.execute(sql, params)
                    self.db.execute("COMMIT")
        except JournalUnwritable:
            self._unwritable = True
            self._roll_back()
            raise
        self.seconds += time.perf_counter() - started

    def _write(self, sql: str, params: tuple) -> None:
        self._pending.append((sql, params))

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """Statements that change the journal: a failure to write it is JournalUnwritable."""
        try:
            yield
        except sqlite3.OperationalError as exc:
            raise JournalUnwritable(self.path, _why(exc)) from None

    def _roll_back(self) -> None:
        """End the open transaction, if any, keeping nothing of it."""
        if self.db.in_transaction:
            with suppress(sqlite3.Error):  # SQLite may have rolled it back itself
                self.db.execute("ROLLBACK")


def _upgrade(db: sqlite3.Connection, version: int) -> None:
    """Add what later formats hold (unknown, NULL, for the objects already recorded)."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(objects)")}
    added = [("verification", "TEXT")] if version < 2 else []
    added += [("ctime_ns", "INTEGER"), ("inode", "INTEGER"), ("device", "INTEGER")]
    for name, kind in added:
        if name not in columns:
            db.execute(f"ALTER TABLE objects ADD COLUMN {name} {kind}")


class JournalBusy(UsageError):
    """Another run holds the journal."""


class JournalUnwritable(BulkupError):
    """The journal could not be written (a full disk, an I/O error): the run stops, and
    the journal holds what was committed before, for a resume."""

    def __init__(self, path: str, cause: str) -> None:
        self.path = path
        self.cause = cause
        super().__init__(
            f"cannot write the journal ({path}): {cause}: {_what_to_do(cause)}, then run the same command again"
        )


FULL = "no space left on its disk"
OVER_QUOTA = "over the disk quota"
_SQLITE_CAUSES = {
    "database or disk is full": FULL,
    "unable to open database file": "it cannot be opened or created",
    "attempt to write a readonly database": "it is read-only",
}
_OS_CAUSES = {
    errno.ENOSPC: FULL,
    errno.EDQUOT: OVER_QUOTA,
    errno.ENOENT: "its directory does not exist",
    errno.ENOTDIR: "a part of its path is a file, not a directory",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
}


def _why(exc: sqlite3.Error | OSError) -> str:
    """What went wrong, as a user reads it."""
    if isinstance(exc, OSError):
        return _OS_CAUSES.get(exc.errno or 0, (exc.strerror or str(exc)).lower())
    return _SQLITE_CAUSES.get(str(exc), str(exc))


def _what_to_do(cause: str) -> str:
    if cause in (FULL, OVER_QUOTA):
        return "free space on its disk"
    return "put it in a directory you can write to (bulkup migrate --journal PATH)"


def _cannot_open(path: str, cause: str, exists: bool) -> BulkupError:
    """The one line for a journal that cannot be opened or created: UsageError (the path
    cannot work), or JournalUnwritable for a full disk (the place may work again)."""
    if cause in (FULL, OVER_QUOTA):
        return JournalUnwritable(path, cause)
    verb = "open" if exists else "create"
    return UsageError(f"cannot {verb} the journal ({path}): {cause}: {_what_to_do(cause)}")


def _hold(path: str) -> int:
    """Hold the journal for this run (an exclusive flock on ``path.lock``, which also names
    the holder's pid); the kernel releases it when the process ends, however it ends."""
    try:
        fd = os.open(path + ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise _cannot_open(path, _why(exc), os.path.exists(path)) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise JournalBusy(
            f"{path} is in use by another bulkup run (pid {holder}): wait for it to "
            f"end or stop it; bulkup status {path} shows where it stands"
        ) from None
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    except OSError as exc:
        os.close(fd)
        exists = os.path.exists(path)
        if not exists:
            os.unlink(path + ".lock")
        raise _cannot_open(path, _why(exc), exists) from None
    return fd


def _connect(path: str) -> sqlite3.Connection:
    """The journal's database, in WAL mode, with its tables."""
    db = sqlite3.connect(path, isolation_level=None)
    try:
        _refuse_other_databases(db, path)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA wal_autocheckpoint=10000")
        db.executescript(_SCHEMA)
    except BaseException:
        db.close()
        raise
    return db


def _open_error(path: str, exc: BaseException, exists: bool) -> BaseException:
    """The one-line error for a journal that could not be opened (``exc`` itself if it is
    not about the journal)."""
    if isinstance(exc, (sqlite3.OperationalError, JournalUnwritable)):
        return _cannot_open(path, exc.cause if isinstance(exc, JournalUnwritable) else _why(exc), exists)
    if isinstance(exc, sqlite3.DatabaseError):
        return UsageError(f"{path}: not a bulkup journal ({exc})")
    return exc


def _refuse_other_databases(db: sqlite3.Connection, path: str) -> None:
    """UsageError for a SQLite database that holds tables but not a journal's: bulkup must
    not add its own to another program's database."""
    tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if tables and "meta" not in tables:
        raise UsageError(
            f"{path}: not a bulkup journal (a database with other tables: "
            f"{', '.join(sorted(tables)[:3])}); give a journal's path"
        )


def _remove_files(path: str) -> None:
    """Delete the journal at ``path`` and the files SQLite and the run's hold keep beside it."""
    for suffix in ("", "-wal", "-shm", ".lock"):
        with suppress(FileNotFoundError, NotADirectoryError):
            os.unlink(path + suffix)


def _object(row: tuple) -> JournalObject:
    (
        id_,
        source,
        bucket,
        key,
        size,
        mtime_ns,
        attributes,
        state,
        upload_id,
        part_size,
        algorithm,
        since,
        reason,
        ctime_ns,
        inode,
        device,
    ) = row
    return JournalObject(
        id_,
        source,
        bucket,
        key,
        size,
        mtime_ns,
        json.loads(attributes) if attributes else {},
        ObjectState(state),
        upload_id,
        part_size,
        algorithm,
        since,
        reason,
        ctime_ns,
        inode,
        device,
    )


def _identity_values(identity: FileIdentity) -> tuple:
    """size, mtime_ns (0: unknown), ctime_ns, inode, device, as the objects table keeps them."""
    return identity.size, identity.mtime_ns or 0, identity.ctime_ns, identity.inode, identity.device
