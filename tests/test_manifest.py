"""Manifests: both formats parse, bad lines are named by number, reading is streamed."""

import json
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest
from conftest import error_line, run_bulkup, write_random_file
from test_bad_input_journal import fill, mounted_tmpfs

from bulkup.migrate.manifest import ManifestError, read_manifest
from devtools.timescale import scaled

EXAMPLES = Path(__file__).resolve().parents[1] / "manifests"


def write(path, text):
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("name", ["example.jsonl", "example.csv"])
def test_documented_examples_parse(name):
    entries = list(read_manifest(str(EXAMPLES / name)))
    assert entries[0].bucket == "analytics" and entries[0].key == "2026/part-0001.parquet"
    assert entries[0].size == 734003200
    assert entries[0].source == str(EXAMPLES / "data" / "part-0001.parquet")
    assert entries[1].metadata == (("owner", "ml-team"),)


def test_every_example_line_satisfies_the_schema_fields():
    schema = json.loads((EXAMPLES / "schema.json").read_text())
    for line in (EXAMPLES / "example.jsonl").read_text().splitlines():
        row = json.loads(line)
        assert set(schema["required"]) <= set(row) <= set(schema["properties"])


def test_manifest_command_writes_the_tree_and_it_reads_back(tmp_path):
    files = {f"d/{i}.bin": write_random_file(tmp_path / "tree" / "d" / f"{i}.bin", i) for i in range(5)}
    proc = run_bulkup("manifest", str(tmp_path / "tree"), "s3://bucket/pre/")
    assert proc.returncode == 0, proc.stderr
    (tmp_path / "m.jsonl").write_text(proc.stdout)
    entries = list(read_manifest(str(tmp_path / "m.jsonl")))
    assert [(e.key, e.source, e.size) for e in entries] == [
        (f"pre/{rel}", os.path.abspath(path), os.path.getsize(path)) for rel, path in sorted(files.items())
    ]
    assert all(abs(e.mtime - os.path.getmtime(e.source)) < 1e-3 for e in entries)


@pytest.mark.parametrize(
    "line,cause",
    [
        ('{"source": "a", "destination": "s3://bucket/k"', "3: not valid JSON"),
        ('{"source": "a", "destination": "s3://bucket/k", "sise": 1}', "3: unknown field 'sise'"),
        ('{"source": "a"}', "3: missing 'destination'"),
        ('{"source": "a", "destination": "s3://Bad_Bucket!/k"}', "3: invalid bucket name"),
        ('{"source": "a", "destination": "s3://bucket/dir/"}', "3: destination 's3://bucket/dir/' names no object key"),
        ('{"source": "a", "destination": "s3://bucket/k", "size": -1}', "3: size cannot be negative"),
        ('{"source": "a", "destination": "s3://bucket/k", "checksum": "sha1:xx"}', "3: checksum must be"),
        ('{"source": "a", "destination": "s3://bucket/k", "metadata": {"a": 1}}', "3: metadata must be"),
    ],
)
def test_bad_line_is_named_by_file_and_line_number(tmp_path, line, cause):
    good = '{"source": "a", "destination": "s3://bucket/k"}\n'
    path = write(tmp_path / "m.jsonl", good + "\n" + line + "\n" + good)
    with pytest.raises(ManifestError, match=f"m.jsonl:{cause}"):
        list(read_manifest(path))


def test_csv_with_an_unknown_column_is_refused(tmp_path):
    path = write(tmp_path / "m.csv", "source,destination,colour\na,s3://bucket/k,red\n")
    with pytest.raises(ManifestError, match="m.csv:1: unknown column 'colour'"):
        list(read_manifest(path))


@pytest.mark.slow
def test_reading_a_long_manifest_holds_one_line_at_a_time(tmp_path):
    path = tmp_path / "big.jsonl"
    with open(path, "w") as f:
        for i in range(200_000):
            f.write(json.dumps({"source": f"f{i}", "destination": f"s3://bucket/k{i}", "size": i}) + "\n")
    tracemalloc.start()
    count = sum(1 for _ in read_manifest(str(path)))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert count == 200_000
    assert peak < 2 * 1024 * 1024  # the file is ~16 MB


KEY = '"destination": "s3://bucket/k"'


@pytest.mark.parametrize(
    "line,cause",
    [
        (f'{{"source": "a", {KEY}, "size": 1e400}}', "2: size must be a whole number, not inf"),
        (f'{{"source": "a", {KEY}, "size": 1.5}}', "2: size must be a whole number, not 1.5"),
        (f'{{"source": "a", {KEY}, "mtime": NaN}}', "2: mtime must be epoch seconds"),
        (f'{{"source": "a", {KEY}, "content_type": "a\\r\\nb"}}', "2: content_type 'a\\\\r\\\\nb' must be"),
        (f'{{"source": "a\\u0000b", {KEY}}}', "2: source contains a NUL character"),
        (f'{{"source": "\\ud800", {KEY}}}', "2: source is not valid Unicode text"),
        (f'{{"source": "a", {KEY}, "expires": "9999-12-31T23:59:59-01:00"}}', "2: expires .* out of range"),
        ("[" * 100_000 + "]" * 100_000, "2: not valid JSON"),
    ],
)
def test_a_value_out_of_range_is_a_bad_line_not_a_crash(tmp_path, line, cause):
    path = write(tmp_path / "m.jsonl", '{"source": "a", "destination": "s3://bucket/j"}\n' + line + "\n")
    with pytest.raises(ManifestError, match=f"m.jsonl:{cause}"):
        list(read_manifest(path))


def test_a_line_that_is_not_utf8_is_a_bad_line_and_the_others_are_read(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_bytes(
        b'{"source": "a", "destination": "s3://bucket/k1"}\n'
        b'{"source": "caf\xe9", "destination": "s3://bucket/k2"}\n'
        b'{"source": "b", "destination": "s3://bucket/k3"}\n'
    )
    bad = []
    entries = list(read_manifest(str(path), on_error=bad.append))
    assert [e.key for e in entries] == ["k1", "k3"]
    assert [str(e) for e in bad] == [f"{path}:2: not UTF-8 text"]


def test_a_csv_saved_with_a_byte_order_mark_reads(tmp_path):
    path = tmp_path / "m.csv"
    path.write_bytes("source,destination\na,s3://bucket/k\n".encode("utf-8-sig"))
    assert [e.key for e in read_manifest(str(path))] == ["k"]


def test_a_csv_without_a_destination_column_is_refused_at_its_header(tmp_path):
    path = write(tmp_path / "m.csv", "\nsource,destination\na,s3://bucket/k\n")
    with pytest.raises(ManifestError, match="m.csv:1: no 'source' column"):
        list(read_manifest(path, on_error=lambda error: None))


# -- bulkup manifest -o ------------------------------------------------------------------------


def tree_of(root, count: int) -> dict[str, str]:
    return {f"d/{i:03d}.bin": write_random_file(root / "d" / f"{i:03d}.bin", 10 + i) for i in range(count)}


def test_manifest_output_file_holds_every_line_and_reads_back(tmp_path):
    files = tree_of(tmp_path / "tree", 5)
    proc = run_bulkup("manifest", str(tmp_path / "tree"), "s3://bucket/pre/", "-o", str(tmp_path / "m.jsonl"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "" and proc.stderr == "bulkup: 5 entries written\n"
    entries = list(read_manifest(str(tmp_path / "m.jsonl")))
    assert [(e.key, e.source) for e in entries] == [(f"pre/{rel}", path) for rel, path in sorted(files.items())]


def test_manifest_written_into_its_own_tree_does_not_list_itself(tmp_path):
    tree_of(tmp_path, 2)
    output = tmp_path / "m.jsonl"
    output.write_text("the manifest it replaces\n")
    assert run_bulkup("manifest", str(tmp_path), "s3://bucket/", "-o", str(output)).returncode == 0
    assert [e.key for e in read_manifest(str(output))] == ["d/000.bin", "d/001.bin"]


def test_manifest_into_a_missing_directory_is_one_line(tmp_path):
    tree_of(tmp_path / "tree", 1)
    output = str(tmp_path / "nowhere" / "m.jsonl")
    line = error_line(run_bulkup("manifest", str(tmp_path / "tree"), "s3://bucket/", "-o", output), 2)
    assert f"cannot write the manifest ({output}): no such file or directory" in line


def test_manifest_on_a_full_disk_leaves_the_previous_file_as_it_was(tmp_path):
    tree_of(tmp_path / "tree", 200)  # some 30 KB of lines, with 8 KiB of room
    with mounted_tmpfs(tmp_path / "disk") as disk:
        output = disk / "m.jsonl"
        output.write_text("the previous manifest\n")
        fill(disk, leave=8192)
        proc = run_bulkup("manifest", str(tmp_path / "tree"), "s3://bucket/", "-o", str(output))
        left = sorted(os.listdir(disk))
        kept = output.read_text()
    line = error_line(proc, 1)
    assert f"cannot write the manifest ({output}): no space left on device" in line
    assert f"{output} is as it was" in line
    assert kept == "the previous manifest\n" and left == ["filler", "m.jsonl"]


def test_manifest_to_a_full_standard_output_says_how_many_lines_it_wrote(tmp_path):
    tree_of(tmp_path / "tree", 200)
    with mounted_tmpfs(tmp_path / "disk") as disk:
        fill(disk, leave=8192)
        with open(disk / "m.jsonl", "w") as out:  # bulkup manifest ... > m.jsonl
            proc = subprocess.run(
                [sys.executable, "-m", "bulkup", "manifest", str(tmp_path / "tree"), "s3://bucket/"],
                stdout=out,
                stderr=subprocess.PIPE,
                text=True,
                timeout=scaled(120),
            )
        written = (disk / "m.jsonl").read_text(errors="replace")
    lines = proc.stderr.splitlines()
    assert proc.returncode == 1 and len(lines) == 1 and "Traceback" not in proc.stderr
    complete = written.count("\n")
    assert 0 < complete < 200
    assert lines[0] == (
        "bulkup: error: cannot write the manifest (standard output): no space left on device: "
        f"the output is INCOMPLETE, it stopped after {complete} lines; run again, with -o FILE "
        "(a failure leaves no partial file)"
    )
