"""Deciding a sync: the walk merged with the listing, a batch at a time, each object's metadata
remembered (``SyncState``) or read (HeadObject, many in flight) only where the listing
cannot decide (``plan.sync``). Memory holds one batch, whatever the number of objects; the
files to send and the keys to delete are the plan's only lists."""

from __future__ import annotations

import collections
import hashlib
import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from bulkup.control.syncstate import ObjectFacts, SyncState
from bulkup.plan.checksums import get_algorithm
from bulkup.plan.files import SourceFile
from bulkup.plan.mtime import parse_mtime
from bulkup.plan.sync import LOOK, DeleteRules, ObjectDetail, RemoteObject, from_listing, reason_to_send
from bulkup.transport.objectinfo import HeadAnswer
from bulkup.transport.readers import StoreReads

BATCH = 1000
READ_SIZE = 8 << 20


@dataclass
class SyncPlan:
    """What a sync does: files to send (with why), objects to delete, and what it leaves."""

    send: list[tuple[SourceFile, str]] = field(default_factory=list)
    unchanged: int = 0
    delete: list[str] = field(default_factory=list)
    kept: collections.Counter[str] = field(default_factory=collections.Counter)  # by why --delete keeps them
    looked_at: int = 0  # objects read with HeadObject
    remembered: int = 0  # objects decided from what an earlier run learned


class Comparer:
    """Decides every (file, object) pair of a merge into a SyncPlan.

    ``rules`` decide deletions (None: no --delete); ``state`` is what earlier runs learned
    (None: none kept); ``refresh()`` renews the reads' credentials before each batch."""

    def __init__(
        self,
        comparison: str,
        reads: StoreReads,
        state: SyncState | None,
        rules: DeleteRules | None,
        refresh: Callable[[], None] = lambda: None,
    ) -> None:
        self.comparison = comparison
        self.reads = reads
        self.state = state
        self.rules = rules
        self.refresh = refresh
        self.plan = SyncPlan()

    def decide(self, pairs: Iterable[tuple[SourceFile | None, RemoteObject | None]]) -> SyncPlan:
        iterator = iter(pairs)
        gone: list[str] = []  # objects with no file
        while batch := list(itertools.islice(iterator, BATCH)):
            self._batch(batch, gone)
        if self.rules is not None:  # only now: the whole walk is known, every skip with it
            for key in gone:
                reason = self.rules.keep_reason(key)
                if reason is None:
                    self.plan.delete.append(key)
                else:
                    self.plan.kept[reason] += 1
        return self.plan

    def _batch(self, batch: list[tuple[SourceFile | None, RemoteObject | None]], gone: list[str]) -> None:
        decided: list[tuple[SourceFile, RemoteObject | None, str | None, ObjectDetail | None]] = []
        unknown: list[str] = []
        for local, remote in batch:
            if local is None:
                if self.rules is not None and remote is not None:  # merge() never pairs None with None
                    gone.append(remote.key)
                continue
            why = from_listing(local, remote, self.comparison)
            detail = None
            if why == LOOK and remote is not None:  # LOOK: there is an object to look at
                detail = self._remembered(remote)
                if detail is None:
                    unknown.append(remote.key)
            decided.append((local, remote, why, detail))
        answers = self._look_at(unknown)
        for local, remote, why, detail in decided:
            if why == LOOK and remote is not None:
                if detail is None:
                    detail = self._learned(remote.key, answers[remote.key])
                why = reason_to_send(local, remote, detail, self.comparison, file_checksum)
            if why is None:
                self.plan.unchanged += 1
            else:
                self.plan.send.append((local, why))
        if self.state is not None:
            self.state.save()

    def _remembered(self, remote: RemoteObject) -> ObjectDetail | None:
        if self.state is None:
            return None
        facts = self.state.facts(remote.key, remote.size, remote.etag, remote.last_modified)
        if facts is None or (self.comparison == "checksum" and facts.crc64nvme is None):
            return None
        self.plan.remembered += 1
        return ObjectDetail(facts.mtime_ns, facts.crc64nvme)

    def _look_at(self, keys: list[str]) -> dict[str, HeadAnswer | None]:
        if not keys:
            return {}
        self.refresh()
        self.plan.looked_at += len(keys)
        return self.reads.heads(keys)

    def _learned(self, key: str, answer: HeadAnswer | None) -> ObjectDetail | None:
        if answer is None:
            return None  # gone since it was listed
        detail = ObjectDetail(parse_mtime(answer.mtime) if answer.mtime else None, answer.crc64nvme, answer.size)
        if self.state is not None:
            self.state.seen(
                key, answer.size, answer.etag, answer.last_modified, ObjectFacts(detail.mtime_ns, detail.crc64nvme)
            )
        return detail


def file_checksum(local: SourceFile, kind: str) -> str | None:
    """The file's whole CRC64NVME (base64) or MD5 (hex, as an ETag shows it), read now."""
    with open(local.path, "rb") as f:
        if kind == "md5":
            return hashlib.file_digest(f, "md5").hexdigest()
        return get_algorithm("crc64nvme").text(iter(lambda: f.read(READ_SIZE), b""))
