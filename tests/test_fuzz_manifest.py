"""Fuzzing the manifest reader (JSON Lines and CSV) and loading: whatever the bytes, a line is
an entry or a ManifestError that names it in one line; nothing else is ever raised."""

import json
import math
import os
import string
import tempfile

from hypothesis import given, settings
from hypothesis import strategies as st

from bulkup.errors import UsageError
from bulkup.migrate.journal import Journal
from bulkup.migrate.loading import load_manifest
from bulkup.migrate.manifest import FIELDS, ManifestEntry, ManifestError, read_manifest

FUZZ = settings(max_examples=300, deadline=None)

# JSON values of every kind, with the awkward ones: huge and non-finite numbers, lone
# surrogates, control characters, deep nesting.
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.integers(-(10**30), 10**30)
    | st.text()
    | st.sampled_from(
        [
            "",
            "\0",
            "\ud800",
            "s3://bucket/key",
            "1e400",
            "NaN",
            "9999-12-31T23:59:59-01:00",
            "crc64nvme:AAAA",
            "md5:",
            "-1",
        ]
    )
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
rows = st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=6), json_values, max_size=6)


def read_all(path: str) -> tuple[list[ManifestEntry], list[ManifestError]]:
    """Every entry and every bad line of the manifest, as ``--skip-bad-lines`` reads it; a
    manifest that is bad as a whole (a CSV header) is one ManifestError."""
    bad: list[ManifestError] = []
    try:
        entries = list(read_manifest(path, on_error=bad.append))
    except ManifestError as exc:
        return [], [exc]
    return entries, bad


def assert_sane(entries: list[ManifestEntry], bad: list[ManifestError], path: str) -> None:
    for error in bad:
        assert isinstance(error, ManifestError)
        message = str(error)
        assert message.startswith(f"{path}:") and "\n" not in message and "\r" not in message
    for entry in entries:
        assert entry.source and entry.bucket and entry.key
        entry.source.encode("utf-8")  # a path that can be stored and shown
        assert entry.size is None or (isinstance(entry.size, int) and entry.size >= 0)
        assert entry.mtime is None or math.isfinite(entry.mtime)
        for name, value in (("content_type", entry.content_type), *entry.attributes):
            assert value is None or (value.isascii() and value.isprintable()), name


def manifest_file(folder: str, name: str, data: bytes) -> str:
    path = os.path.join(folder, name)
    with open(path, "wb") as f:
        f.write(data)
    return path


@FUZZ
@given(data=st.binary(max_size=400), name=st.sampled_from(["m.jsonl", "m.csv"]))
def test_any_bytes_are_entries_or_bad_lines_named_in_one_line(data, name):
    with tempfile.TemporaryDirectory() as folder:
        path = manifest_file(folder, name, data)
        entries, bad = read_all(path)
        assert_sane(entries, bad, path)


@FUZZ
@given(lines=st.lists(rows | json_values, max_size=6))
def test_any_json_lines_are_entries_or_bad_lines_named_by_number(lines):
    with tempfile.TemporaryDirectory() as folder:
        text = "\n".join(json.dumps(line) for line in lines) + "\n"
        path = manifest_file(folder, "m.jsonl", text.encode())
        entries, bad = read_all(path)
        assert_sane(entries, bad, path)
        assert len(entries) + len(bad) == len(lines)
        assert sorted([e.line for e in entries] + [e.line for e in bad]) == list(range(1, len(lines) + 1))


cells = st.text(string.printable + "\u00e9\u2028\0", max_size=12) | st.sampled_from(
    ["s3://bucket/key", "-1", "1.5", "inf", "nan", "1e400", '{"a": "b"}', '"', "a,b", "9" * 30]
)


@FUZZ
@given(
    header=st.lists(st.sampled_from(FIELDS), min_size=1, max_size=5, unique=True),
    body=st.lists(st.lists(cells, max_size=6), max_size=5),
)
def test_any_csv_rows_are_entries_or_bad_lines_named_in_one_line(header, body):
    with tempfile.TemporaryDirectory() as folder:
        lines = [",".join(header)] + [",".join(row) for row in body]
        path = manifest_file(folder, "m.csv", ("\n".join(lines) + "\n").encode())
        entries, bad = read_all(path)
        assert_sane(entries, bad, path)


@settings(max_examples=60, deadline=None)
@given(lines=st.lists(rows, max_size=5))
def test_loading_any_lines_into_a_journal_rejects_bad_ones_with_one_line_each(lines):
    with tempfile.TemporaryDirectory() as folder:
        with open(os.path.join(folder, "present.bin"), "wb") as f:
            f.write(b"x" * 10)
        lines = [
            {"source": "present.bin", **row} if n % 2 else row  # some name a file that is there
            for n, row in enumerate(lines)
        ]
        text = "\n".join(json.dumps(line) for line in lines) + "\n"
        path = manifest_file(folder, "m.jsonl", text.encode())
        journal = Journal.open(os.path.join(folder, "m.jsonl.journal"))
        try:
            report = load_manifest(journal, path, skip_bad_lines=True)
        except UsageError as exc:  # the whole manifest refused: one line
            assert "\n" not in str(exc)
            return
        finally:
            journal.close()
        assert report.objects + report.bad_count == len(lines)
        assert all("\n" not in str(error) for error in report.bad)
