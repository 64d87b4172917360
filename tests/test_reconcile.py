"""Resuming: the Reconciler's decision for each unfinished journal row, from real files in
tmp_path and a FakeS3Client standing for the server."""

from __future__ import annotations

import os
import random
import time
from datetime import UTC, datetime

import pytest
from fakes import FakeS3Client, checksum_of, etag_of

from bulkup.migrate.journal import JournalObject, ObjectState
from bulkup.migrate.reconcile import Action, Reconciler
from bulkup.plan.checksums import get_algorithm

MiB = 1 << 20
PART = 5 * MiB
SIZE = 2 * PART + MiB  # parts of 5, 5 and 1 MiB
CRC64 = get_algorithm("crc64nvme")
BUCKET = "bucket"
KEY = "k/f.bin"


# -- helpers ------------------------------------------------------------------------------------


def a_file(tmp_path, size: int = SIZE, name: str = "f.bin") -> str:
    path = tmp_path / name
    path.write_bytes(random.Random(size).randbytes(size))
    return str(path)


def part(path: str, number: int) -> bytes:
    with open(path, "rb") as f:
        f.seek((number - 1) * PART)
        return f.read(PART)


def journaled(path: str, number: int) -> tuple[str, str]:
    """A part as the journal records it: (etag, checksum)."""
    data = part(path, number)
    return etag_of(data), checksum_of(data, "crc64nvme")


def listed(path: str, number: int, checksum: bool = True) -> tuple[str, int, str | None]:
    """A part as ListParts shows it: (etag, size, checksum)."""
    data = part(path, number)
    return etag_of(data), len(data), checksum_of(data, "crc64nvme") if checksum else None


def whole_checksum(path: str) -> str:
    with open(path, "rb") as f:
        return checksum_of(f.read(), "crc64nvme")


def a_row(
    path: str,
    *,
    state: ObjectState = ObjectState.UPLOADING,
    upload_id: str | None = "up-1",
    part_size: int | None = PART,
    algorithm: str | None = "crc64nvme",
    attributes: dict | None = None,
    since: float | None = None,
    size: int | None = None,
    mtime_ns: int | None = None,
) -> JournalObject:
    """A journal row for the file at ``path`` as it is now (unless size/mtime say otherwise)."""
    st = os.stat(path) if os.path.exists(path) else None
    return JournalObject(
        id=1,
        source=path,
        bucket=BUCKET,
        key=KEY,
        size=size if size is not None else st.st_size,
        mtime_ns=mtime_ns if mtime_ns is not None else st.st_mtime_ns,
        attributes=attributes or {},
        state=state,
        upload_id=upload_id,
        part_size=part_size,
        algorithm=algorithm,
        since=since if since is not None else time.time() - 60,
    )


def a_pending_row(path: str, **fields) -> JournalObject:
    return a_row(path, state=ObjectState.PENDING, upload_id=None, part_size=None, algorithm=None, **fields)


@pytest.fixture
def s3() -> FakeS3Client:
    return FakeS3Client(page_size=1)  # one part per page: every listing spans pages


def reconciler(s3: FakeS3Client, skip_existing: str | None = None) -> Reconciler:
    return Reconciler(lambda bucket: s3, lambda bucket: CRC64, skip_existing)


# -- an open upload, source unchanged -----------------------------------------------------------------


def test_an_open_upload_of_an_unchanged_source_continues_with_the_parts_the_server_lists(tmp_path, s3):
    path = a_file(tmp_path)
    s3.add_upload(BUCKET, KEY, "up-1", parts={1: listed(path, 1), 3: listed(path, 3)})
    journal_parts = {1: journaled(path, 1), 2: journaled(path, 2)}

    decision = reconciler(s3).decide(a_row(path), journal_parts)

    assert decision.action is Action.UPLOAD and not decision.replan
    assert decision.upload_id == "up-1"
    assert decision.parts == {
        1: journaled(path, 1),  # both have it
        3: journaled(path, 3),
    }  # only the server has it: kept
    assert 2 not in decision.parts  # only the journal has it: sent again
    assert s3.calls_to("abort_multipart_upload") == []


def test_a_server_part_listed_without_a_checksum_gets_its_checksum_from_the_file(tmp_path, s3):
    path = a_file(tmp_path)
    s3.add_upload(BUCKET, KEY, "up-1", parts={2: listed(path, 2, checksum=False)})

    decision = reconciler(s3).decide(a_row(path), {})

    assert decision.parts == {2: journaled(path, 2)}


def test_a_server_part_of_the_wrong_size_is_sent_again(tmp_path, s3):
    path = a_file(tmp_path)
    etag, size, checksum = listed(path, 1)
    s3.add_upload(BUCKET, KEY, "up-1", parts={1: (etag, size - 1, checksum), 2: listed(path, 2)})

    decision = reconciler(s3).decide(a_row(path), {})

    assert set(decision.parts) == {2}


def test_a_part_the_server_holds_with_another_etag_than_the_journals_is_taken_from_the_server(tmp_path, s3):
    path = a_file(tmp_path)
    s3.add_upload(BUCKET, KEY, "up-1", parts={1: listed(path, 1)})
    stale = ('"stale-etag"', "stale-checksum")

    decision = reconciler(s3).decide(a_row(path), {1: stale})

    assert decision.parts == {1: journaled(path, 1)}


# -- a changed source ------------------------------------------------------------------------------


def test_a_source_whose_size_changed_aborts_the_old_upload_and_starts_over(tmp_path, s3):
    path = a_file(tmp_path)
    row = a_row(path)
    s3.add_upload(BUCKET, KEY, "up-1", parts={1: listed(path, 1)})
    with open(path, "ab") as f:
        f.write(b"more")
    os.utime(path, ns=(row.mtime_ns, row.mtime_ns))  # only the size tells

    decision = reconciler(s3).decide(row, {1: journaled(path, 1)})

    assert decision.action is Action.UPLOAD and decision.replan
    assert decision.upload_id is None and decision.parts == {}
    assert decision.size == SIZE + 4
    assert s3.aborted() == ["up-1"] and "up-1" not in s3.uploads


def test_a_source_whose_mtime_changed_aborts_the_old_upload_and_starts_over(tmp_path, s3):
    path = a_file(tmp_path)
    row = a_row(path)
    s3.add_upload(BUCKET, KEY, "up-1", parts={1: listed(path, 1)})
    os.utime(path, ns=(row.mtime_ns + 10**9, row.mtime_ns + 10**9))

    decision = reconciler(s3).decide(row, {1: journaled(path, 1)})

    assert decision.action is Action.UPLOAD and decision.replan and decision.upload_id is None
    assert (decision.size, decision.mtime_ns) == (SIZE, row.mtime_ns + 10**9)
    assert s3.aborted() == ["up-1"]


# -- a vanished upload ---------------------------------------------------------------------------------


def test_a_vanished_upload_whose_object_is_there_with_the_journals_full_object_checksum_is_done(tmp_path, s3):
    path = a_file(tmp_path)
    s3.put_object(BUCKET, KEY, SIZE, '"whole-3"', "crc64nvme", whole_checksum(path))
    journal_parts = {n: journaled(path, n) for n in (1, 2, 3)}

    decision = reconciler(s3).decide(a_row(path), journal_parts)

    assert decision.action is Action.DONE and not decision.replan
    assert (decision.etag, decision.checksum) == ('"whole-3"', whole_checksum(path))


def test_a_vanished_upload_whose_object_is_missing_starts_over(tmp_path, s3):
    path = a_file(tmp_path)
    journal_parts = {n: journaled(path, n) for n in (1, 2, 3)}

    decision = reconciler(s3).decide(a_row(path), journal_parts)

    assert decision.action is Action.UPLOAD and decision.replan and decision.upload_id is None


def test_a_vanished_upload_whose_object_has_another_checksum_starts_over(tmp_path, s3):
    path = a_file(tmp_path)
    s3.put_object(BUCKET, KEY, SIZE, '"other-3"', "crc64nvme", checksum_of(b"other", "crc64nvme"))
    journal_parts = {n: journaled(path, n) for n in (1, 2, 3)}

    decision = reconciler(s3).decide(a_row(path), journal_parts)

    assert decision.action is Action.UPLOAD and decision.replan


def test_a_vanished_upload_whose_journal_lacks_a_part_starts_over_even_if_an_object_is_there(tmp_path, s3):
    path = a_file(tmp_path)
    s3.put_object(BUCKET, KEY, SIZE, '"whole-3"', "crc64nvme", whole_checksum(path))
    journal_parts = {n: journaled(path, n) for n in (1, 2)}

    decision = reconciler(s3).decide(a_row(path), journal_parts)

    assert decision.action is Action.UPLOAD and decision.replan


# -- an upload on the key that the journal never recorded -------------------------------------------


def test_an_upload_the_journal_never_recorded_is_neither_adopted_nor_aborted(tmp_path, s3):
    path = a_file(tmp_path)
    since = time.time() - 60
    s3.add_upload(
        BUCKET,
        KEY,
        "someone-elses",
        initiated=datetime.fromtimestamp(since + 1, UTC),
        parts={1: listed(path, 1)},
    )
    row = a_row(path, state=ObjectState.CREATING, upload_id=None, since=since)

    decision = reconciler(s3).decide(row, {})

    assert decision.action is Action.UPLOAD and decision.replan and decision.upload_id is None
    assert "someone-elses" in s3.uploads
    assert s3.calls_to("list_multipart_uploads") == [] and s3.calls_to("abort_multipart_upload") == []


# -- failures --------------------------------------------------------------------------------------------


def test_a_missing_source_fails_with_a_reason_and_its_upload_is_aborted(tmp_path, s3):
    path = a_file(tmp_path)
    row = a_row(path)
    s3.add_upload(BUCKET, KEY, "up-1")
    os.unlink(path)

    decision = reconciler(s3).decide(row, {})

    assert decision.action is Action.FAIL
    assert decision.reason == f"source {path}: no such file or directory"
    assert s3.aborted() == ["up-1"]


def test_a_missing_source_of_a_pending_object_fails_without_server_calls(tmp_path, s3):
    row = a_pending_row(str(tmp_path / "gone.bin"), size=10, mtime_ns=1)

    decision = reconciler(s3).decide(row, {})

    assert decision.action is Action.FAIL and "no such file or directory" in decision.reason
    assert s3.calls == []


def test_a_server_error_while_listing_parts_fails_the_object_with_a_one_line_reason(tmp_path, s3):
    path = a_file(tmp_path)
    s3.add_upload(BUCKET, KEY, "up-1")
    s3.answer_error("list_parts", "AccessDenied")

    decision = reconciler(s3).decide(a_row(path), {})

    assert decision.action is Action.FAIL
    assert decision.reason == "AccessDenied: access denied"


# -- skipping what is there --------------------------------------------------------------------------


def test_skip_existing_size_skips_an_object_of_the_same_size(tmp_path, s3):
    path = a_file(tmp_path)
    s3.put_object(BUCKET, KEY, SIZE, '"anything"')

    decision = reconciler(s3, skip_existing="size").decide(a_pending_row(path), {})

    assert decision.action is Action.SKIP
    assert decision.reason == "already on the server (same size)"


def test_skip_existing_size_uploads_an_object_of_another_size(tmp_path, s3):
    path = a_file(tmp_path)
    s3.put_object(BUCKET, KEY, SIZE + 1, '"anything"')

    decision = reconciler(s3, skip_existing="size").decide(a_pending_row(path), {})

    assert decision.action is Action.UPLOAD


def test_skip_existing_size_uploads_an_object_not_on_the_server(tmp_path, s3):
    path = a_file(tmp_path)

    decision = reconciler(s3, skip_existing="size").decide(a_pending_row(path), {})

    assert decision.action is Action.UPLOAD and len(s3.calls_to("head_object")) == 1


def test_skip_existing_checksum_skips_only_an_object_with_the_same_checksum(tmp_path, s3):
    same = a_file(tmp_path, name="same.bin")
    s3.put_object(BUCKET, KEY, SIZE, '"x-3"', "crc64nvme", whole_checksum(same))
    skipping = reconciler(s3, skip_existing="checksum")

    assert skipping.decide(a_pending_row(same), {}).action is Action.SKIP
    s3.put_object(BUCKET, KEY, SIZE, '"x-3"', "crc64nvme", checksum_of(b"other", "crc64nvme"))
    assert skipping.decide(a_pending_row(same), {}).action is Action.UPLOAD


def test_an_open_upload_is_continued_not_skipped(tmp_path, s3):
    path = a_file(tmp_path)
    s3.add_upload(BUCKET, KEY, "up-1", parts={1: listed(path, 1)})
    s3.put_object(BUCKET, KEY, SIZE, '"older-version"')

    decision = reconciler(s3, skip_existing="size").decide(a_row(path), {})

    assert decision.action is Action.UPLOAD and decision.upload_id == "up-1"


# -- what needs the server --------------------------------------------------------------------------


def test_only_open_uploads_or_skip_existing_need_the_server(tmp_path, s3):
    path = a_file(tmp_path, size=10)

    assert not reconciler(s3).needs_server(a_pending_row(path))
    assert reconciler(s3, skip_existing="size").needs_server(a_pending_row(path))
    assert reconciler(s3).needs_server(a_row(path))
    assert reconciler(s3).needs_server(a_row(path, state=ObjectState.CREATING, upload_id=None))


def test_a_pending_object_is_uploaded_as_its_file_is_now_without_server_calls(tmp_path, s3):
    path = a_file(tmp_path, size=10)
    row = a_pending_row(path, size=5, mtime_ns=1)

    decision = reconciler(s3).decide(row, {})

    assert decision.action is Action.UPLOAD and not decision.replan
    assert (decision.size, decision.mtime_ns) == (10, os.stat(path).st_mtime_ns)
    assert s3.calls == []


def test_a_pinned_object_is_not_looked_for_here(tmp_path, s3):
    row = a_pending_row(str(tmp_path / "only-on-node-a.bin"), size=10, mtime_ns=7, attributes={"node": "a"})

    decision = reconciler(s3).decide(row, {})

    assert decision.action is Action.UPLOAD and (decision.size, decision.mtime_ns) == (10, 7)
