"""Manifests: both formats parse, bad lines are named by number, reading is streamed."""
import json
import os
import tracemalloc
from pathlib import Path

import pytest

from bulkup.migrate.manifest import ManifestError, read_manifest

from conftest import run_bulkup, write_random_file

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
        (f"pre/{rel}", os.path.abspath(path), os.path.getsize(path)) for rel, path in sorted(files.items())]
    assert all(abs(e.mtime - os.path.getmtime(e.source)) < 1e-3 for e in entries)


@pytest.mark.parametrize("line,cause", [
    ('{"source": "a", "destination": "s3://bucket/k"', "3: not valid JSON"),
    ('{"source": "a", "destination": "s3://bucket/k", "sise": 1}', "3: unknown field 'sise'"),
    ('{"source": "a"}', "3: missing 'destination'"),
    ('{"source": "a", "destination": "s3://Bad_Bucket!/k"}', "3: invalid bucket name"),
    ('{"source": "a", "destination": "s3://bucket/dir/"}', "3: destination 's3://bucket/dir/' names no object key"),
    ('{"source": "a", "destination": "s3://bucket/k", "size": -1}', "3: size cannot be negative"),
    ('{"source": "a", "destination": "s3://bucket/k", "checksum": "sha1:xx"}', "3: checksum must be"),
    ('{"source": "a", "destination": "s3://bucket/k", "metadata": {"a": 1}}', "3: metadata must be"),
])
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
    assert peak < 2 * 1024 * 1024       # the file is ~16 MB
