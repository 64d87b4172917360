"""The store's side of a sync: list the objects under a prefix (on bulkup's own connection,
the next page fetched while this one is used), put them in S3's key order, and delete some
(DeleteObjects, 1,000 a request).

S3 lists keys in the order of their UTF-8 bytes, but not every store does: SeaweedFS lists a
directory's objects before a sibling that sorts ahead of its ``/`` (``a/x`` before ``a-b``).
A sync that merged the listing with the walk as it came would take objects for gone. So a
listing is put in order first, in a temporary SQLite table (an external sort: memory stays
flat at any number of objects), and read back in S3's order.
"""

from __future__ import annotations

import contextlib
import os
import queue
import sqlite3
import tempfile
import threading
from collections.abc import Iterator

from bulkup.control import botoerrors as bex
from bulkup.control.plane import BucketRoute, ControlPlane
from bulkup.control.s3client import S3Client, describe, frozen_credentials
from bulkup.plan.sync import RemoteObject
from bulkup.transport.connection import TlsSettings
from bulkup.transport.objectinfo import ListedObject
from bulkup.transport.proxy import proxy_environment, proxy_for
from bulkup.transport.readers import ReadSettings, StoreReadError, StoreReads
from bulkup.transport.request import RequestSigner

DELETE_BATCH = 1000  # S3's most per DeleteObjects
READ_CONNECTIONS = 16
PAGES_AHEAD = 2


class ListingIncomplete(StoreReadError):
    """The prefix could not be listed to the end: nothing may be decided from it."""


def store_reads(
    control: ControlPlane,
    route: BucketRoute,
    bucket: str,
    retry_deadline: float = 300.0,
    connections: int = READ_CONNECTIONS,
) -> StoreReads:
    """Reads of ``bucket`` on bulkup's own connections, signed with the run's credentials."""
    endpoint = route.endpoint
    settings = ReadSettings(
        endpoint=endpoint,
        bucket=bucket,
        tls=TlsSettings(control.settings.verify_ssl, control.settings.ca_bundle),
        proxy=proxy_for(endpoint.scheme, endpoint.host, endpoint.port, proxy_environment()),
        connections=connections,
        retry_deadline=retry_deadline,
    )
    return StoreReads(settings, RequestSigner(frozen_credentials(control.session), endpoint.region))


def listed_objects(reads: StoreReads, prefix: str) -> Iterator[RemoteObject]:
    """Every object under ``prefix`` in the store's order, streamed."""
    for page in _pages(reads, prefix):
        for o in page:
            yield RemoteObject(o.key, o.size, o.last_modified, o.etag)


def _pages(reads: StoreReads, prefix: str) -> Iterator[list[ListedObject]]:
    """The listing's pages of ``prefix``: a thread fetches the next page while this one is
    used, and at most PAGES_AHEAD pages are held. ListingIncomplete if a page fails or the
    store ends the listing early."""
    pages: queue.Queue[list[ListedObject] | BaseException | None] = queue.Queue(maxsize=PAGES_AHEAD)
    stop = threading.Event()

    def hand_over(item: list[ListedObject] | BaseException | None) -> bool:
        while not stop.is_set():
            try:
                pages.put(item, timeout=0.1)
                return True
            except queue.Full:
                pass
        return False

    def fetch() -> None:
        try:
            for page in reads.pages(prefix):
                if not hand_over(page.objects):
                    return
            hand_over(None)
        except BaseException as exc:  # handed to the reader, who raises it
            hand_over(exc)

    fetcher = threading.Thread(target=fetch, name="bulkup-listing", daemon=True)
    fetcher.start()
    try:
        while (page := pages.get()) is not None:
            if isinstance(page, BaseException):
                raise ListingIncomplete(f"{page}: nothing was sent or deleted") from None
            yield page
    finally:
        stop.set()  # a fetcher still at work ends after its page


@contextlib.contextmanager
def sorted_listing(reads: StoreReads, prefix: str) -> Iterator[Iterator[RemoteObject]]:
    """Every object under ``prefix``, listed to the end first, then given in S3's key order
    (UTF-8 bytes, SQLite's BINARY collation), whatever order the store listed them in."""
    with tempfile.TemporaryDirectory(prefix="bulkup-listing-") as workdir:
        db = sqlite3.connect(os.path.join(workdir, "listing.sqlite3"), isolation_level=None)
        try:
            db.executescript(
                "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-8192;"
                "CREATE TABLE listed (key TEXT PRIMARY KEY, size INTEGER, last_modified REAL,"
                " etag TEXT) WITHOUT ROWID;"
            )
            db.execute("BEGIN")
            for page in _pages(reads, prefix):
                db.executemany(
                    "INSERT OR REPLACE INTO listed VALUES (?, ?, ?, ?)",
                    [(o.key, o.size, o.last_modified, o.etag) for o in page],
                )
            db.execute("COMMIT")
            rows = db.execute("SELECT key, size, last_modified, etag FROM listed ORDER BY key")
            yield (RemoteObject(*row) for row in rows)
        finally:
            db.close()


def list_prefix(reads: StoreReads, prefix: str) -> dict[str, RemoteObject]:
    """Every object under ``prefix``, by key (for a run that must know them all)."""
    return {o.key: o for o in listed_objects(reads, prefix)}


def delete_keys(client: S3Client, bucket: str, keys: list[str]) -> list[tuple[str, str]]:
    """Delete ``keys``; the ones that could not be deleted, with why."""
    failed: list[tuple[str, str]] = []
    for start in range(0, len(keys), DELETE_BATCH):
        batch = keys[start : start + DELETE_BATCH]
        try:
            answer = client.delete_objects(
                Bucket=bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True}
            )
        except (bex.ClientError, bex.BotoCoreError) as exc:
            failed += [(key, describe(exc)) for key in batch]
            continue
        failed += [
            (e.get("Key", "?"), f"{e.get('Code', '')}: {e.get('Message', '')}") for e in answer.get("Errors", [])
        ]
    return failed
