"""A journal that cannot be created or written: one line naming the journal and what to do;
nothing half-written; and a disk that fills up mid-run leaves a journal a rerun resumes from."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest
from conftest import assert_same_bytes, error_line, keys_in, open_uploads
from test_migrate import make_files, manifest_for, migrate

from bulkup.migrate.journal import Journal
from bulkup.migrate.loading import load_manifest


@contextmanager
def mounted_tmpfs(path: Path, size: str = "1m", read_only: bool = False) -> Iterator[Path]:
    """A real file system of ``size`` at ``path`` (so that it can fill up), unmounted after.
    Skips the test where mounting is not permitted (it needs root)."""
    path.mkdir(exist_ok=True)
    options = f"size={size}" + (",ro" if read_only else "")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        if subprocess.run(["umount", str(path)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "--lazy", str(path)], capture_output=True)  # still in use: detach


def fill(folder: Path, leave: int = 0) -> Path:
    """Fill the file system of ``folder`` to its last byte, then free ``leave`` bytes (whole
    pages); the filler file, which frees the rest when deleted."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass  # ENOSPC: full
    finally:
        os.ftruncate(fd, max(0, os.fstat(fd).st_size - leave))
        os.close(fd)
    return filler


def integrity(path: str) -> str:
    with closing(sqlite3.connect(path)) as db:
        return db.execute("PRAGMA integrity_check").fetchone()[0]


@pytest.fixture
def manifest(tmp_path, bucket):
    return manifest_for(tmp_path, bucket, make_files(tmp_path, 3))


def test_a_journal_under_a_file_is_one_line_naming_it(s3server, manifest, tmp_path):
    journal = str(tmp_path / "notes.txt" / "m.journal")
    (tmp_path / "notes.txt").write_text("a file, not a directory\n")
    line = error_line(migrate(s3server, manifest, "--journal", journal), 2)
    assert f"cannot create the journal ({journal})" in line and "is a file, not a directory" in line
    assert "--journal" in line


def test_a_journal_path_that_is_a_directory_is_one_line(s3server, manifest, tmp_path):
    line = error_line(migrate(s3server, manifest, "--journal", str(tmp_path)), 2)
    assert f"{tmp_path} is a directory, not a journal" in line


def test_a_journal_in_a_read_only_directory_is_one_line_naming_it(s3server, s3, bucket, manifest, tmp_path):
    with mounted_tmpfs(tmp_path / "ro", read_only=True) as folder:
        journal = str(folder / "m.journal")
        line = error_line(migrate(s3server, manifest, "--journal", journal), 2)
    assert f"cannot create the journal ({journal}): read-only file system" in line
    assert keys_in(s3, bucket) == []


def test_a_journal_on_a_full_disk_is_one_line_and_leaves_no_file(s3server, s3, bucket, manifest, tmp_path):
    with mounted_tmpfs(tmp_path / "disk") as disk:
        fill(disk)
        journal = str(disk / "m.journal")
        line = error_line(migrate(s3server, manifest, "--journal", journal), 1)
        left = sorted(os.listdir(disk))
    assert f"cannot write the journal ({journal}): no space left on its disk: free space" in line
    assert left == ["filler"]
    assert keys_in(s3, bucket) == []


def test_a_disk_that_fills_up_mid_run_stops_it_with_one_line_and_a_rerun_resumes(s3server, s3, bucket, tmp_path):
    files = make_files(tmp_path, 60)
    manifest = manifest_for(tmp_path, bucket, files)
    # Every object as a multipart upload: each commits its intent to the journal before the
    # store is asked, so the run needs 60 commits of a 4 KiB page or more, and has room for a few.
    run = ("--journal", str(tmp_path / "disk" / "m.journal"), "--multipart-threshold", "1")
    with mounted_tmpfs(tmp_path / "disk") as disk:
        journal = str(disk / "m.journal")
        loaded = Journal.open(journal)
        load_manifest(loaded, manifest)
        loaded.close()
        filler = fill(disk, leave=64 * 1024)
        line = error_line(migrate(s3server, manifest, *run), 1)
        assert f"cannot write the journal ({journal}): no space left on its disk" in line
        assert "then run the same command again" in line and "objects done" in line
        assert integrity(journal) == "ok"
        unrecorded = keys_in_state(journal, "creating")
        filler.unlink()
        rerun = migrate(s3server, manifest, *run)
        assert rerun.returncode == 0, rerun.stderr
    assert keys_in(s3, bucket) == sorted(key for _, key in files)
    for path, key in files:
        assert_same_bytes(s3, bucket, key, path)
    # As after a kill -9: an upload the store opened but the full disk kept out of the journal
    # is left for `bulkup cleanup`; every other is completed.
    assert {u["Key"] for u in open_uploads(s3, bucket)} <= unrecorded


def keys_in_state(journal: str, state: str) -> set[str]:
    with closing(sqlite3.connect(journal)) as db:
        return {key for (key,) in db.execute("SELECT key FROM objects WHERE state = ?", (state,))}
