"""Resuming: what to do with each unfinished object of a journal, asked of the disk and server.

Pure decisions from what is found, no journal writes (the caller applies them), so the
slow part (stat, ListParts, HeadObject) can run in a thread pool ahead of the uploads:
- an open upload whose source is unchanged continues with the parts the server holds
  (ListParts is the truth: a part the journal missed is kept, one the server lost is resent);
- an upload that vanished is checked for a Complete that succeeded just before a crash;
- a source changed since its parts were sent starts over (the old upload is aborted): its
  identity (size, mtime, ctime, inode, device) is compared with the one the journal recorded
  when the upload was opened, so a file rewritten in place keeping its size and mtime (its
  ctime moves) or replaced by another file is never completed from two versions;
- with ``skip_existing``, an object already on the server is skipped;
- only uploads this journal recorded are continued or aborted: one that appeared on the key
  otherwise (another tool's, or one whose id a crash kept from the journal) is left alone,
  for ``bulkup cleanup`` to list.
"""

from __future__ import annotations

import base64
import enum
import os
from collections.abc import Callable
from dataclasses import dataclass, field

import botocore.exceptions as bex

from bulkup.control.s3client import describe, error_code
from bulkup.migrate.journal import JournalObject, ObjectState
from bulkup.plan.checksums import ChecksumAlgorithm, get_algorithm
from bulkup.plan.files import FileIdentity
from bulkup.plan.parts import split_parts
from bulkup.transport.failures import PartFailed
from bulkup.transport.filebody import checksum_range


class Action(enum.Enum):
    UPLOAD = "upload"  # upload it (continuing its open upload, if it has one)
    DONE = "done"  # it is on the server already: its Complete succeeded
    SKIP = "skip"  # on the server already (--skip-existing)
    FAIL = "fail"


@dataclass
class Decision:
    """What to do with one journal row (``identity``: its source as found now)."""

    row: JournalObject
    action: Action
    identity: FileIdentity = FileIdentity(size=0)
    upload_id: str | None = None  # continue this upload
    parts: dict[int, tuple[str, str | None]] = field(default_factory=dict)
    replan: bool = False  # forget the journal's upload and parts
    reason: str = ""
    etag: str = ""
    checksum: str | None = None

    @property
    def size(self) -> int:
        return self.identity.size

    @property
    def mtime_ns(self) -> int:
        return self.identity.mtime_ns or 0


class Reconciler:
    """Decides per row; ``client_for(bucket)`` gives the bucket's boto3 client and
    ``algorithm_for(bucket)`` the checksum the run sends there."""

    def __init__(
        self,
        client_for: Callable[[str], object],
        algorithm_for: Callable[[str], ChecksumAlgorithm],
        skip_existing: str | None,
    ) -> None:
        self.client_for = client_for
        self.algorithm_for = algorithm_for
        self.skip_existing = skip_existing

    def needs_server(self, row: JournalObject) -> bool:
        """Whether deciding takes network calls (else it is a quick stat)."""
        return row.state in (ObjectState.CREATING, ObjectState.UPLOADING) or self.skip_existing is not None

    def decide(self, row: JournalObject, journal_parts: dict[int, tuple[str, str | None]]) -> Decision:
        if _pinned(row):  # node-local data: the node that sends it checks it
            decision = Decision(row, Action.UPLOAD, row.identity)
        else:
            try:
                st = os.stat(row.source)
            except OSError as exc:
                if row.upload_id:
                    _abort_quietly(self.client_for(row.bucket), row, row.upload_id)
                return Decision(row, Action.FAIL, reason=f"source {row.source}: {(exc.strerror or str(exc)).lower()}")
            decision = Decision(row, Action.UPLOAD, FileIdentity.of(st))
        try:
            upload_id = row.upload_id  # only uploads this journal recorded are ours to continue
            if upload_id:
                self._continue(decision, upload_id, journal_parts)
            elif row.state in (ObjectState.CREATING, ObjectState.UPLOADING):
                decision.replan = True
            if decision.action is Action.UPLOAD and decision.upload_id is None and self.skip_existing:
                self._skip_if_present(decision)
        except (bex.ClientError, bex.BotoCoreError) as exc:
            return Decision(row, Action.FAIL, reason=describe(exc))
        except PartFailed as exc:
            return Decision(row, Action.FAIL, reason=str(exc))
        return decision

    def _continue(self, decision: Decision, upload_id: str, journal_parts: dict) -> None:
        row = decision.row
        client = self.client_for(row.bucket)
        if row.identity.differs_from(decision.identity) is not None:
            _abort_quietly(client, row, upload_id)
            decision.replan = True
            return
        try:
            server_parts = _list_parts(client, row, upload_id)
        except bex.ClientError as exc:
            if error_code(exc) != "NoSuchUpload":
                raise
            self._completed_before_crash(decision, journal_parts)
            return
        decision.upload_id = upload_id
        decision.parts = self._kept_parts(row, server_parts, journal_parts)

    def _kept_parts(
        self, row: JournalObject, server_parts: dict, journal_parts: dict
    ) -> dict[int, tuple[str, str | None]]:
        """The server's parts of the right size, with the checksums Complete needs."""
        algorithm = self._algorithm(row)
        ranges = {r.number: r for r in split_parts(row.size, row.part_size)} if row.part_size else {}
        kept = {}
        for number, (etag, size, server_checksum) in server_parts.items():
            part = ranges.get(number)
            if part is None or part.length != size:
                continue
            journaled = journal_parts.get(number)
            if journaled and journaled[0] == etag and journaled[1]:
                kept[number] = journaled
            elif server_checksum or not algorithm.full_object:
                kept[number] = (etag, server_checksum)
            elif _pinned(row):
                continue  # its checksum needs the node's file: send the part again
            else:
                kept[number] = (etag, checksum_range(row.source, part.offset, part.length, algorithm))
        return kept

    def _completed_before_crash(self, decision: Decision, journal_parts: dict) -> None:
        """The upload is gone: done if the object is there with the journal's checksum."""
        row = decision.row
        algorithm = self._algorithm(row)
        head = _head(self.client_for(row.bucket), row)
        expected = None
        if row.part_size and algorithm.full_object:
            ranges = list(split_parts(row.size, row.part_size))
            if all(journal_parts.get(r.number, ("", None))[1] for r in ranges):
                expected = algorithm.combine_parts([(journal_parts[r.number][1], r.length) for r in ranges])
        found = head.get(algorithm.complete_key) if head and algorithm.complete_key else None
        if head and head.get("ContentLength") == row.size and expected and found == expected:
            decision.action, decision.etag, decision.checksum = Action.DONE, head.get("ETag", ""), found
        else:
            decision.replan = True

    def _skip_if_present(self, decision: Decision) -> None:
        row = decision.row
        head = _head(self.client_for(row.bucket), row)
        if not head or head.get("ContentLength") != decision.size:
            return
        if self.skip_existing == "size":
            decision.action, decision.reason = Action.SKIP, "already on the server (same size)"
            return
        algorithm = self._expected_algorithm(row)
        found = head.get(algorithm.complete_key) if algorithm.complete_key else None
        if algorithm.name == "md5" and "-" not in head.get("ETag", "-"):
            found = head["ETag"].strip('"')
        if found and "-" not in found and found == self._whole_checksum(row, algorithm, decision.size):
            decision.action, decision.reason = Action.SKIP, f"already on the server (same {algorithm.name})"

    def _whole_checksum(self, row: JournalObject, algorithm: ChecksumAlgorithm, size: int) -> str:
        given = row.attributes.get("checksum")
        if given and given[0] == algorithm.name:
            value = given[1]
        elif _pinned(row):
            return ""  # only the node can read the file: not the same as far as we know
        else:
            value = checksum_range(row.source, 0, size, algorithm)
        if algorithm.name == "md5":
            return base64.b64decode(value).hex()
        return value

    def _algorithm(self, row: JournalObject) -> ChecksumAlgorithm:
        return get_algorithm(row.algorithm) if row.algorithm else self._expected_algorithm(row)

    def _expected_algorithm(self, row: JournalObject) -> ChecksumAlgorithm:
        given = row.attributes.get("checksum")
        return get_algorithm(given[0]) if given else self.algorithm_for(row.bucket)


def _pinned(row: JournalObject) -> bool:
    """Whether the object is pinned to a node (its file may be readable only there)."""
    return bool(row.attributes.get("node"))


def _list_parts(client, row: JournalObject, upload_id: str) -> dict[int, tuple[str, int, str | None]]:
    found = {}
    pages = client.get_paginator("list_parts").paginate(Bucket=row.bucket, Key=row.key, UploadId=upload_id)
    for page in pages:
        for part in page.get("Parts", []):
            checksum = next((part[k] for k in part if k.startswith("Checksum") and k != "ChecksumType"), None)
            found[part["PartNumber"]] = (part["ETag"], part["Size"], checksum)
    return found


def _head(client, row: JournalObject) -> dict | None:
    try:
        return client.head_object(Bucket=row.bucket, Key=row.key, ChecksumMode="ENABLED")
    except bex.ClientError as exc:
        if error_code(exc) in ("404", "NoSuchKey", "NotFound"):
            return None
        raise


def _abort_quietly(client, row: JournalObject, upload_id: str) -> None:
    try:
        client.abort_multipart_upload(Bucket=row.bucket, Key=row.key, UploadId=upload_id)
    except (bex.ClientError, bex.BotoCoreError):
        pass  # `bulkup cleanup` finds what could not be aborted
