"""A migration's journal on a real SQLite file: what it records at each step, and when."""

from __future__ import annotations

import sqlite3

import pytest
from test_bad_input_journal import fill, mounted_tmpfs

import bulkup.migrate.journal as journal_module
from bulkup.errors import UsageError
from bulkup.migrate.journal import SCHEMA_VERSION, DuplicateDestination, Journal, JournalUnwritable, ObjectState
from bulkup.plan.checksums import get_algorithm
from bulkup.plan.files import FileIdentity, SourceFile
from bulkup.plan.jobs import ObjectSettings, UploadJob
from bulkup.plan.results import ObjectResult

MiB = 1 << 20
SETTINGS = ObjectSettings(checksum=get_algorithm("crc64nvme"))


def line(n: int, size: int = 1000, **attributes) -> tuple:
    """A manifest line's object: (line, source, bucket, key, identity, attributes)."""
    return (
        n,
        f"/data/f{n}.bin",
        "bucket",
        key_of(n),
        FileIdentity(size=size, mtime_ns=1_700_000_000_000_000_000 + n),
        attributes,
    )


def key_of(n: int) -> str:
    return f"k/{'z' * (10 - n)}-f{n}.bin"  # later lines sort first by key: order is by line


def load(journal: Journal, *lines: tuple) -> None:
    journal.begin_load()
    for entry in lines:
        journal.add_object(*entry)
    journal.finish_load({"manifest": "manifest.csv"})


def job_for(n: int, size: int = 1000, mtime_ns: int | None = None) -> UploadJob:
    source = SourceFile(
        path=f"/data/f{n}.bin",
        key=key_of(n),
        size=size,
        mtime_ns=mtime_ns if mtime_ns is not None else 1_700_000_000_000_000_000 + n,
    )
    return UploadJob(source=source, bucket="bucket", settings=SETTINGS, ref=n)


def row(journal: Journal, n: int):
    return next(o for o in journal.unfinished() if o.id == n) if n in ids(journal) else None


def ids(journal: Journal) -> list[int]:
    return [o.id for o in journal.unfinished()]


def stored(path, n: int, *columns: str) -> tuple:
    """Columns of line ``n`` as another connection sees them."""
    with sqlite3.connect(path) as other:
        return other.execute(f"SELECT {', '.join(columns)} FROM objects WHERE id = ?", (n,)).fetchone()


@pytest.fixture
def path(tmp_path) -> str:
    return str(tmp_path / "migration.journal")


@pytest.fixture
def journal(path):
    journal = Journal.open(path)
    yield journal
    journal.close()


# -- loading ------------------------------------------------------------------------------------


def test_a_new_journal_is_created_and_an_existing_one_reopened(path):
    first = Journal.open(path)
    assert first.created
    first.close()
    again = Journal.open(path, create=False)
    assert not again.created
    again.close()


def test_opening_a_missing_journal_without_create_is_refused(tmp_path):
    with pytest.raises(UsageError, match="no such journal"):
        Journal.open(str(tmp_path / "absent.journal"), create=False)


def test_loaded_objects_are_pending_in_manifest_order_with_their_attributes(journal):
    load(journal, line(2), line(1, 5 * MiB, content_type="text/csv", checksum=["crc32c", "AAAAAA=="]), line(3))

    objects = list(journal.unfinished())

    assert [o.id for o in objects] == [1, 2, 3]
    assert {o.state for o in objects} == {ObjectState.PENDING}
    first = objects[0]
    assert (first.source, first.bucket, first.key, first.size) == ("/data/f1.bin", "bucket", key_of(1), 5 * MiB)
    assert first.destination == f"s3://bucket/{key_of(1)}"
    assert first.attributes == {"content_type": "text/csv", "checksum": ["crc32c", "AAAAAA=="]}
    assert objects[1].attributes == {}
    assert (first.upload_id, first.part_size, first.algorithm) == (None, None, None)
    assert journal.meta("manifest") == "manifest.csv" and journal.meta("loaded") == "1"
    assert journal.buckets() == ["bucket"]


def test_a_destination_named_twice_is_refused_naming_the_other_line(journal):
    journal.begin_load()
    journal.add_object(*line(1))

    with pytest.raises(DuplicateDestination) as refused:
        journal.add_object(7, "/data/other.bin", "bucket", key_of(1), FileIdentity(size=10, mtime_ns=1), {})

    assert refused.value.other_line == 1
    journal.abandon_load()


def test_an_abandoned_load_leaves_no_objects(journal):
    journal.begin_load()
    journal.add_object(*line(1))
    journal.abandon_load()

    assert ids(journal) == [] and journal.meta("loaded") is None


def test_loading_again_replaces_the_objects_parts_and_meta(journal):
    load(journal, line(1), line(2))
    journal.part_done(job_for(1), 1, '"e1"', "c1")
    journal.set_meta("options", "{}")
    journal.flush()

    load(journal, line(3))

    assert ids(journal) == [3]
    assert journal.parts(1) == {}
    assert journal.meta("options") is None and journal.meta("schema") == str(SCHEMA_VERSION)


# -- states -------------------------------------------------------------------------------------


def test_creating_records_the_part_size_and_the_algorithm(journal):
    load(journal, line(1, 20 * MiB))

    journal.creating_upload(job_for(1, 20 * MiB), 8 * MiB)

    obj = row(journal, 1)
    assert (obj.state, obj.part_size, obj.algorithm, obj.upload_id) == (
        ObjectState.CREATING,
        8 * MiB,
        "crc64nvme",
        None,
    )
    assert obj.since is not None


def test_upload_created_moves_to_uploading_with_the_upload_id_and_the_source_as_sent(journal):
    load(journal, line(1, 20 * MiB))
    journal.creating_upload(job_for(1, 20 * MiB), 8 * MiB)

    journal.upload_created(job_for(1, 21 * MiB, mtime_ns=42), "up-1", 8 * MiB)

    obj = row(journal, 1)
    assert (obj.state, obj.upload_id, obj.part_size) == (ObjectState.UPLOADING, "up-1", 8 * MiB)
    assert (obj.size, obj.mtime_ns) == (21 * MiB, 42)
    assert [(o.id, n) for o, n in journal.in_progress()] == [(1, 0)]


def test_done_records_etag_and_checksum_and_the_object_is_no_longer_unfinished(journal, path):
    load(journal, line(1, 20 * MiB), line(2))
    journal.creating_upload(job_for(1, 20 * MiB), 8 * MiB)
    journal.upload_created(job_for(1, 20 * MiB), "up-1", 8 * MiB)

    journal.object_done(
        job_for(1, 20 * MiB),
        ObjectResult(key=key_of(1), path="/data/f1.bin", size=20 * MiB, etag='"abc-3"', checksum="CRC=="),
    )
    journal.flush()

    assert ids(journal) == [2]
    assert stored(path, 1, "state", "etag", "checksum", "upload_id") == ("done", '"abc-3"', "CRC==", None)


def test_failed_records_the_reason_and_the_object_stays_unfinished(journal):
    load(journal, line(1, 20 * MiB), line(2))
    journal.upload_created(job_for(1, 20 * MiB), "up-1", 8 * MiB)

    journal.object_failed(job_for(1, 20 * MiB), "InternalError: fake")

    obj = row(journal, 1)
    assert (obj.state, obj.reason, obj.upload_id) == (ObjectState.FAILED, "InternalError: fake", None)
    assert [(o.id, o.reason) for o in journal.failures()] == [(1, "InternalError: fake")]


def test_replan_returns_an_object_to_pending_with_the_new_source_and_no_upload_or_parts(journal):
    load(journal, line(1, 20 * MiB))
    journal.creating_upload(job_for(1, 20 * MiB), 8 * MiB)
    journal.upload_created(job_for(1, 20 * MiB), "up-1", 8 * MiB)
    journal.part_done(job_for(1, 20 * MiB), 1, '"e1"', "c1")

    journal.replan(1, FileIdentity(size=30 * MiB, mtime_ns=99))

    obj = row(journal, 1)
    assert obj.state is ObjectState.PENDING
    assert (obj.size, obj.mtime_ns) == (30 * MiB, 99)
    assert (obj.upload_id, obj.part_size, obj.algorithm, obj.reason) == (None, None, None, None)
    assert journal.parts(1) == {}


def test_a_failed_object_replanned_is_pending_again_without_its_reason(journal):
    load(journal, line(1))
    journal.object_failed(job_for(1), "source gone")

    journal.replan(1, FileIdentity(size=1000, mtime_ns=5))

    obj = row(journal, 1)
    assert (obj.state, obj.reason) == (ObjectState.PENDING, None)
    assert list(journal.failures()) == []


def test_skipped_objects_are_not_unfinished_and_keep_their_reason(journal):
    load(journal, line(1), line(2))

    journal.mark_skipped(1, "already on the server (same size)")

    assert ids(journal) == [2]
    assert [(o.id, o.reason) for o in journal.skipped()] == [(1, "already on the server (same size)")]


# -- parts --------------------------------------------------------------------------------------


def test_parts_are_kept_per_object_and_a_part_sent_again_replaces_the_old_one(journal):
    load(journal, line(1, 20 * MiB), line(2, 20 * MiB))
    journal.part_done(job_for(1, 20 * MiB), 1, '"e1"', "c1")
    journal.part_done(job_for(1, 20 * MiB), 2, '"e2"', None)
    journal.part_done(job_for(2, 20 * MiB), 1, '"x1"', "y1")

    journal.part_done(job_for(1, 20 * MiB), 1, '"e1-again"', "c1-again")

    assert journal.parts(1) == {1: ('"e1-again"', "c1-again"), 2: ('"e2"', None)}
    assert journal.parts(2) == {1: ('"x1"', "y1")}


def test_adopt_upload_replaces_the_journals_parts_with_the_servers(journal):
    load(journal, line(1, 20 * MiB))
    journal.creating_upload(job_for(1, 20 * MiB), 8 * MiB)
    journal.part_done(job_for(1, 20 * MiB), 1, '"e1"', "c1")
    journal.part_done(job_for(1, 20 * MiB), 2, '"e2"', "c2")

    journal.adopt_upload(1, "up-found", {1: ('"e1"', "c1"), 3: ('"e3"', "c3")})

    obj = row(journal, 1)
    assert (obj.state, obj.upload_id) == (ObjectState.UPLOADING, "up-found")
    assert journal.parts(1) == {1: ('"e1"', "c1"), 3: ('"e3"', "c3")}
    assert [(o.id, n) for o, n in journal.in_progress()] == [(1, 2)]


# -- totals -------------------------------------------------------------------------------------


def test_totals_count_objects_and_bytes_per_state_with_every_state_named(journal):
    load(journal, line(1, 100), line(2, 200), line(3, 300), line(4, 400), line(5, 500))
    journal.object_done(job_for(1, 100), ObjectResult(key=key_of(1), path="/data/f1.bin", size=100))
    journal.object_done(job_for(2, 200), ObjectResult(key=key_of(2), path="/data/f2.bin", size=200))
    journal.object_failed(job_for(3, 300), "nope")
    journal.mark_skipped(4, "already there")

    assert journal.totals() == {
        "pending": (1, 500),
        "creating": (0, 0),
        "uploading": (0, 0),
        "done": (2, 300),
        "failed": (1, 300),
        "skipped": (1, 400),
    }
    assert journal.unfinished_totals() == (2, 800)


# -- commits ------------------------------------------------------------------------------------


def test_steps_are_seen_by_another_connection_only_after_flush(journal, path):
    load(journal, line(1, 20 * MiB))
    journal.creating_upload(job_for(1, 20 * MiB), 8 * MiB)
    journal.upload_created(job_for(1, 20 * MiB), "up-1", 8 * MiB)
    journal.part_done(job_for(1, 20 * MiB), 1, '"e1"', "c1")

    assert stored(path, 1, "state", "upload_id") == ("pending", None)
    with sqlite3.connect(path) as other:
        assert other.execute("SELECT COUNT(*) FROM parts").fetchone() == (0,)

    journal.flush()

    assert stored(path, 1, "state", "upload_id") == ("uploading", "up-1")
    with sqlite3.connect(path) as other:
        assert other.execute("SELECT number, etag FROM parts WHERE object = 1").fetchall() == [(1, '"e1"')]


def test_close_commits_the_pending_steps(path):
    journal = Journal.open(path)
    load(journal, line(1))
    journal.mark_skipped(1, "already there")

    journal.close()

    assert journal.closed
    assert stored(path, 1, "state") == ("skipped",)


# -- reading ------------------------------------------------------------------------------------


def test_unfinished_streams_in_manifest_order_across_batches(journal, monkeypatch):
    monkeypatch.setattr(journal_module, "BATCH", 2)
    load(journal, *(line(n) for n in (7, 3, 1, 5, 2, 6, 4)))
    journal.mark_done(3, '"e"', None)
    journal.mark_skipped(6, "already there")
    journal.object_failed(job_for(4), "bad")

    assert ids(journal) == [1, 2, 4, 5, 7]


def test_unfinished_reads_each_batch_after_committing_the_steps_taken_meanwhile(journal, monkeypatch):
    monkeypatch.setattr(journal_module, "BATCH", 2)
    load(journal, *(line(n) for n in range(1, 7)))
    stream = journal.unfinished()

    seen = [next(stream).id, next(stream).id]
    journal.mark_done(4, '"e"', None)  # done while the first batch was being worked on
    seen += [o.id for o in stream]

    assert seen == [1, 2, 3, 5, 6]


def test_a_journal_of_another_schema_version_is_refused_with_one_line(path):
    journal = Journal.open(path)
    journal.set_meta("schema", "99")
    journal.close()

    with pytest.raises(UsageError) as refused:
        Journal.open(path)

    message = str(refused.value)
    assert "\n" not in message
    assert path in message and "journal format 99" in message


def test_a_file_that_is_not_a_journal_is_refused_with_one_line(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_bytes(b"this is not a database, just some text long enough to have a header " * 20)

    with pytest.raises(UsageError) as refused:
        Journal.open(str(path))

    assert "not a bulkup journal" in str(refused.value) and "\n" not in str(refused.value)


# -- a journal that cannot be written ------------------------------------------------------------


def test_a_journal_under_a_file_is_refused_naming_it_and_what_to_do(tmp_path):
    (tmp_path / "notes.txt").write_text("a file\n")
    path = str(tmp_path / "notes.txt" / "m.journal")

    with pytest.raises(UsageError) as refused:
        Journal.open(path, run=True)

    assert str(refused.value) == (
        f"cannot create the journal ({path}): a part of its path is a file, not a "
        "directory: put it in a directory you can write to (bulkup migrate --journal PATH)"
    )


def test_a_commit_on_a_full_disk_fails_in_one_line_and_keeps_every_step_committed_before(tmp_path):
    with mounted_tmpfs(tmp_path / "disk") as disk:
        path = str(disk / "m.journal")
        journal = Journal.open(path, run=True)
        load(journal, line(1), line(2), line(3))
        journal.creating_upload(job_for(1), 8 * MiB)
        journal.flush()
        filler = fill(disk)
        journal.creating_upload(job_for(2), 8 * MiB)
        journal.upload_created(job_for(2), "up-2", 8 * MiB)

        with pytest.raises(JournalUnwritable) as refused:
            journal.flush()
        journal.mark_skipped(3, "already there")  # later steps are not written either
        journal.close()
        filler.unlink()

        assert str(refused.value) == (
            f"cannot write the journal ({path}): no space left on its disk: free "
            "space on its disk, then run the same command again"
        )
        again = Journal.open(path)
        assert [(o.id, o.state) for o in again.unfinished()] == [
            (1, ObjectState.CREATING),
            (2, ObjectState.PENDING),
            (3, ObjectState.PENDING),
        ]
        again.close()
