"""Bad manifests: the line is named, and nothing is uploaded unless bad lines are skipped."""

import json

from conftest import error_line as conftest_error_line
from conftest import keys_in, write_random_file
from test_migrate import migrate, write_manifest


def error_line(proc) -> str:
    return conftest_error_line(proc, exit_code=2)


def good_lines(tmp_path, bucket, count=3):
    return [
        {"source": write_random_file(tmp_path / f"f{i}", 100 + i), "destination": f"s3://{bucket}/k{i}"}
        for i in range(count)
    ]


def test_unknown_field_is_named_with_its_line(s3server, s3, bucket, tmp_path):
    lines = good_lines(tmp_path, bucket)
    lines[1]["sise"] = 5
    manifest = write_manifest(tmp_path / "m.jsonl", lines)
    line = error_line(migrate(s3server, manifest))
    assert "m.jsonl:2: unknown field 'sise'" in line and "nothing was uploaded" in line
    assert keys_in(s3, bucket) == []


def test_missing_source_is_named_with_its_line(s3server, s3, bucket, tmp_path):
    lines = good_lines(tmp_path, bucket)
    lines[2]["source"] = str(tmp_path / "gone.bin")
    line = error_line(migrate(s3server, write_manifest(tmp_path / "m.jsonl", lines)))
    assert "m.jsonl:3: source" in line and "gone.bin: no such file or directory" in line
    assert keys_in(s3, bucket) == []


def test_duplicate_destination_names_both_lines(s3server, s3, bucket, tmp_path):
    lines = good_lines(tmp_path, bucket)
    lines[2]["destination"] = lines[0]["destination"]
    line = error_line(migrate(s3server, write_manifest(tmp_path / "m.jsonl", lines)))
    assert f"m.jsonl:3: destination {lines[0]['destination']} is also on line 1" in line
    assert keys_in(s3, bucket) == []


def test_size_that_does_not_match_the_file_is_a_bad_line(s3server, s3, bucket, tmp_path):
    lines = good_lines(tmp_path, bucket)
    lines[0]["size"] = 5
    line = error_line(migrate(s3server, write_manifest(tmp_path / "m.jsonl", lines)))
    assert "m.jsonl:1:" in line and "has 100 bytes, the manifest says 5" in line


def test_several_bad_lines_are_counted_in_one_line(s3server, s3, bucket, tmp_path):
    lines = good_lines(tmp_path, bucket, 5)
    manifest = write_manifest(tmp_path / "m.jsonl", [lines[0], "{not json", lines[1], {"source": "x"}, lines[2]])
    line = error_line(migrate(s3server, manifest))
    assert "m.jsonl:2: not valid JSON" in line and "1 more bad lines (4)" in line


def test_no_journal_is_left_by_a_rejected_manifest(s3server, bucket, tmp_path):
    manifest = write_manifest(tmp_path / "m.jsonl", ['{"bad": 1}'])
    error_line(migrate(s3server, manifest))
    assert not (tmp_path / "m.jsonl.journal").exists()


def test_skip_bad_lines_uploads_the_rest_and_reports_each(s3server, s3, bucket, tmp_path):
    lines = good_lines(tmp_path, bucket, 3)
    manifest = write_manifest(
        tmp_path / "m.jsonl",
        [lines[0], '{"source": 1}', lines[1], {**lines[2], "destination": lines[0]["destination"]}],
    )
    proc = migrate(s3server, manifest, "--skip-bad-lines", "--report", str(tmp_path / "r.json"))
    assert proc.returncode == 0, proc.stderr
    assert keys_in(s3, bucket) == ["k0", "k1"]
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("bulkup: warning: skipped bad line")]
    assert len(warnings) == 2 and "m.jsonl:2:" in warnings[0] and "m.jsonl:4:" in warnings[1]
    assert [b["line"] for b in json.loads((tmp_path / "r.json").read_text())["bad_lines"]] == [2, 4]


def test_missing_bucket_is_one_line_and_nothing_is_sent(s3server, s3, bucket, tmp_path):
    lines = good_lines(tmp_path, bucket)
    lines[1]["destination"] = "s3://no-such-bucket-here/k"
    proc = migrate(s3server, write_manifest(tmp_path / "m.jsonl", lines))
    lines_out = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 1 and len(lines_out) == 1
    assert "bucket 'no-such-bucket-here' does not exist" in lines_out[0]
    assert keys_in(s3, bucket) == []


def test_manifest_changed_under_a_journal_is_refused(s3server, s3, bucket, tmp_path):
    lines = good_lines(tmp_path, bucket, 2)
    manifest = write_manifest(tmp_path / "m.jsonl", lines)
    assert migrate(s3server, manifest).returncode == 0
    write_manifest(tmp_path / "m.jsonl", lines[:1])
    line = error_line(migrate(s3server, manifest))
    assert "m.jsonl changed since" in line


def test_skip_existing_size_skips_objects_already_there(s3server, s3, bucket, tmp_path):
    lines = good_lines(tmp_path, bucket, 3)
    s3.put_object(Bucket=bucket, Key="k0", Body=b"x" * 100)  # same size: skipped
    s3.put_object(Bucket=bucket, Key="k1", Body=b"x" * 5)  # other size: uploaded
    proc = migrate(s3server, write_manifest(tmp_path / "m.jsonl", lines), "--skip-existing", "size")
    assert proc.returncode == 0, proc.stderr
    assert s3.get_object(Bucket=bucket, Key="k0")["Body"].read() == b"x" * 100
    assert s3.get_object(Bucket=bucket, Key="k1")["ContentLength"] == 101
    assert "1 skipped as already there" in proc.stderr


def test_skip_existing_checksum_compares_content(s3server, s3, bucket, tmp_path):
    lines = good_lines(tmp_path, bucket, 2)
    with open(lines[0]["source"], "rb") as f:
        s3.put_object(Bucket=bucket, Key="k0", Body=f.read(), ChecksumAlgorithm="CRC64NVME")
    s3.put_object(Bucket=bucket, Key="k1", Body=b"y" * 101, ChecksumAlgorithm="CRC64NVME")  # same size
    proc = migrate(s3server, write_manifest(tmp_path / "m.jsonl", lines), "--skip-existing", "checksum")
    assert proc.returncode == 0, proc.stderr
    assert "1 skipped as already there" in proc.stderr
    with open(lines[1]["source"], "rb") as f:
        assert s3.get_object(Bucket=bucket, Key="k1")["Body"].read() == f.read()


def test_dry_run_checks_every_line_and_sends_nothing(s3server, s3, bucket, tmp_path):
    lines = good_lines(tmp_path, bucket, 3)
    manifest = write_manifest(tmp_path / "m.jsonl", lines)
    proc = migrate(s3server, manifest, "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert "(dry run) 3 objects, 303 B would be uploaded; nothing was sent" in proc.stdout
    assert keys_in(s3, bucket) == [] and not (tmp_path / "m.jsonl.journal").exists()


def test_lines_pinned_to_a_node_warn_that_this_machine_reads_them_without_ray(s3server, s3, bucket, tmp_path):
    lines = good_lines(tmp_path, bucket, 2)
    lines[0].update(node="10.0.3.7", size=100)
    proc = migrate(s3server, write_manifest(tmp_path / "m.jsonl", lines))
    assert proc.returncode == 0, proc.stderr
    assert "bulkup: warning: " in proc.stderr and "m.jsonl: 1 of its lines name a node" in proc.stderr
    assert keys_in(s3, bucket) == ["k0", "k1"]


def test_a_number_out_of_range_is_a_bad_line_named_by_number(s3server, s3, bucket, tmp_path):
    lines = good_lines(tmp_path, bucket)
    huge = json.dumps(lines[1])[:-1] + ', "size": 1e400}'  # JSON's number that is infinity
    line = error_line(migrate(s3server, write_manifest(tmp_path / "m.jsonl", [lines[0], huge, lines[2]])))
    assert "m.jsonl:2: size must be a whole number, not inf" in line and "nothing was uploaded" in line
    assert keys_in(s3, bucket) == []


def test_a_line_that_is_not_utf8_is_skipped_with_the_others_uploaded(s3server, s3, bucket, tmp_path):
    lines = good_lines(tmp_path, bucket, 2)
    manifest = tmp_path / "m.jsonl"
    manifest.write_bytes(json.dumps(lines[0]).encode() + b'\n{"source": "caf\xe9"}\n' + json.dumps(lines[1]).encode())
    proc = migrate(s3server, str(manifest), "--skip-bad-lines")
    assert proc.returncode == 0, proc.stderr
    assert "bulkup: warning: skipped bad line " + f"{manifest}:2: not UTF-8 text" in proc.stderr
    assert keys_in(s3, bucket) == ["k0", "k1"]
