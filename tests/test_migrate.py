"""bulkup migrate: every manifest line ends up on the server, once, and a rerun is a no-op."""

import base64
import json
import os
import sqlite3

import pytest
from conftest import assert_same_bytes, keys_in, open_uploads, run_bulkup, write_random_file

from bulkup.transport.filebody import checksum_file

MiB = 1024 * 1024


def write_manifest(path, lines) -> str:
    with open(path, "w") as f:
        for line in lines:
            f.write((line if isinstance(line, str) else json.dumps(line)) + "\n")
    return str(path)


def make_files(tmp_path, small: int, large_sizes=()) -> list[tuple[str, str]]:
    """(path, key) pairs: ``small`` files of a few KiB and the given large ones."""
    files = []
    for i in range(small):
        files.append(
            (write_random_file(tmp_path / "src" / f"s{i:05d}.bin", 1000 + i * 7, seed=i + 1), f"small/{i:05d}")
        )
    for i, size in enumerate(large_sizes):
        files.append((write_random_file(tmp_path / "src" / f"l{i}.bin", size, seed=1000 + i), f"large/{i}"))
    return files


def manifest_for(tmp_path, bucket, files, name="m.jsonl") -> str:
    return write_manifest(tmp_path / name, [{"source": p, "destination": f"s3://{bucket}/{k}"} for p, k in files])


def migrate(server, manifest, *args, env=None, url=None):
    return run_bulkup(
        "migrate",
        manifest,
        "--endpoint-url",
        url or server.https_url,
        "--workers",
        "2",
        "--part-size",
        "5MiB",
        "--progress",
        "none",
        *args,
        env=env or server.env(),
    )


def assert_migrated(s3, bucket, files):
    assert keys_in(s3, bucket) == sorted(k for _, k in files)
    for path, key in files:
        assert_same_bytes(s3, bucket, key, path)
    assert open_uploads(s3, bucket) == []


def journal_states(manifest) -> dict[str, int]:
    with sqlite3.connect(manifest + ".journal") as db:
        return dict(db.execute("SELECT state, COUNT(*) FROM objects GROUP BY state").fetchall())


def test_every_line_is_uploaded_byte_exact(s3server, s3, bucket, tmp_path):
    files = make_files(tmp_path, 300, [23 * MiB, 11 * MiB])
    manifest = manifest_for(tmp_path, bucket, files)
    proc = migrate(s3server, manifest)
    assert proc.returncode == 0, proc.stderr
    assert_migrated(s3, bucket, files)
    assert "migration: 302 of 302 objects done" in proc.stderr
    status = json.loads(run_bulkup("status", manifest + ".journal", "--json").stdout)
    assert status["verification"] == {"server: crc64nvme": 300, "server: crc64nvme full-object": 2}


@pytest.mark.slow
def test_rerun_of_a_finished_migration_uploads_nothing(s3server, s3, bucket, tmp_path):
    files = make_files(tmp_path, 5, [11 * MiB])
    manifest = manifest_for(tmp_path, bucket, files)
    assert migrate(s3server, manifest).returncode == 0
    s3.delete_object(Bucket=bucket, Key=files[0][1])  # not re-sent: the journal says done
    proc = migrate(s3server, manifest)
    assert proc.returncode == 0, proc.stderr
    assert "nothing left to upload" in proc.stderr
    assert files[0][1] not in keys_in(s3, bucket)


def test_csv_manifest_with_relative_sources(s3server, s3, bucket, tmp_path):
    write_random_file(tmp_path / "data" / "a.bin", 5000)
    write_random_file(tmp_path / "data" / "b c.bin", 7 * MiB)
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"destination,source\ns3://{bucket}/a,data/a.bin\ns3://{bucket}/b c,data/b c.bin\n")
    proc = migrate(s3server, str(manifest))
    assert proc.returncode == 0, proc.stderr
    assert_migrated(s3, bucket, [(tmp_path / "data" / "a.bin", "a"), (tmp_path / "data" / "b c.bin", "b c")])


def test_line_attributes_reach_the_object(s3server, s3, bucket, tmp_path):
    path = write_random_file(tmp_path / "photo.raw", 6 * MiB)
    manifest = write_manifest(
        tmp_path / "m.jsonl",
        [
            {
                "source": path,
                "destination": f"s3://{bucket}/p",
                "content_type": "image/x-raw",
                "metadata": {"camera": "x100"},
                "checksum": "crc64nvme:" + checksum_file(path),
            }
        ],
    )
    assert migrate(s3server, manifest, "--multipart-threshold", "5MiB").returncode == 0
    head = s3.head_object(Bucket=bucket, Key="p", ChecksumMode="ENABLED")
    assert head["ContentType"] == "image/x-raw" and head["Metadata"] == {"camera": "x100"}
    assert head["ChecksumCRC64NVME"] == checksum_file(path)


@pytest.mark.parametrize("size", [4000, 11 * MiB], ids=["put", "multipart"])
def test_wrong_checksum_fails_that_object_only(s3server, s3, bucket, tmp_path, size):
    bad = write_random_file(tmp_path / "bad.bin", size)
    good = write_random_file(tmp_path / "good.bin", 3000)
    wrong = base64.b64encode(b"\0" * 8).decode()
    manifest = write_manifest(
        tmp_path / "m.jsonl",
        [
            {"source": bad, "destination": f"s3://{bucket}/bad", "checksum": f"crc64nvme:{wrong}"},
            {"source": good, "destination": f"s3://{bucket}/good"},
        ],
    )
    proc = migrate(s3server, manifest)
    assert proc.returncode == 1
    assert "bulkup: failed: line 1:" in proc.stderr
    assert keys_in(s3, bucket) == ["good"] and open_uploads(s3, bucket) == []
    assert journal_states(manifest) == {"done": 1, "failed": 1}


def test_md5_checksum_is_verified_by_the_server(s3server, s3, bucket, tmp_path):
    path = write_random_file(tmp_path / "f.bin", 9 * MiB)  # above the part size: still one PUT
    md5 = checksum_file(path, "md5")
    manifest = write_manifest(
        tmp_path / "m.jsonl", [{"source": path, "destination": f"s3://{bucket}/f", "checksum": f"md5:{md5}"}]
    )
    assert migrate(s3server, manifest).returncode == 0
    assert s3.head_object(Bucket=bucket, Key="f")["ETag"].strip('"') == base64.b64decode(md5).hex()


@pytest.mark.slow
def test_failed_objects_are_retried_by_a_rerun(s3server, s3, bucket, tmp_path):
    files = make_files(tmp_path, 3)
    manifest = manifest_for(tmp_path, bucket, files)
    load_only = migrate(s3server, manifest, url="https://127.0.0.1:9")  # loads, sends nothing
    assert load_only.returncode == 1 and "cannot connect" in load_only.stderr
    os.chmod(files[1][0], 0)  # readable when loaded, not when sent
    first = run_bulkup(
        "migrate",
        manifest,
        "--endpoint-url",
        s3server.https_url,
        "--progress",
        "none",
        env=s3server.env(),
        preexec_fn=_without_root_file_access,
    )
    assert first.returncode == 1 and "permission denied" in first.stderr.lower(), first.stderr
    assert journal_states(manifest) == {"done": 2, "failed": 1}
    os.chmod(files[1][0], 0o644)
    proc = migrate(s3server, manifest)
    assert proc.returncode == 0, proc.stderr
    assert_migrated(s3, bucket, files)


def _without_root_file_access() -> None:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2):
        libc.prctl(24, capability, 0, 0, 0)  # PR_CAPBSET_DROP


def test_report_lists_totals_and_failures(s3server, s3, bucket, tmp_path):
    files = make_files(tmp_path, 4)
    lines = [{"source": p, "destination": f"s3://{bucket}/{k}"} for p, k in files]
    lines[2]["checksum"] = "crc32:AAAAAA=="
    manifest = write_manifest(tmp_path / "m.jsonl", lines)
    proc = migrate(s3server, manifest, "--report", str(tmp_path / "r.json"))
    report = json.loads((tmp_path / "r.json").read_text())
    assert proc.returncode == 1 and report["ok"] is False
    assert report["run"]["objects_uploaded"] == 3
    assert report["migration"]["done"]["objects"] == 3
    assert report["migration"]["done"]["bytes"] == sum(os.path.getsize(p) for p, _ in files) - os.path.getsize(
        files[2][0]
    )
    assert [f["line"] for f in report["failures"]] == [3]
    assert s3server.admin.secret_key not in (tmp_path / "r.json").read_text()


def test_status_shows_progress_from_the_journal(s3server, s3, bucket, tmp_path):
    files = make_files(tmp_path, 3)
    manifest = manifest_for(tmp_path, bucket, files)
    migrate(s3server, manifest)
    proc = run_bulkup("status", manifest + ".journal", "--json")
    status = json.loads(proc.stdout)
    assert status["objects"]["done"]["objects"] == 3
    assert status["manifest"] == manifest
    text = run_bulkup("status", manifest + ".journal").stdout
    assert "done" in text and "3 objects" in text


@pytest.mark.slow
def test_resume_uses_the_options_the_journal_recorded(s3server, s3, bucket, tmp_path):
    files = make_files(tmp_path, 3)
    manifest = manifest_for(tmp_path, bucket, files)
    loaded = run_bulkup(
        "migrate", manifest, "--endpoint-url", "https://127.0.0.1:9", "--progress", "none", env=s3server.env()
    )
    assert loaded.returncode != 0  # unreachable: the journal is loaded, nothing sent
    proc = run_bulkup(
        "resume", manifest + ".journal", "--endpoint-url", s3server.https_url, "--progress", "none", env=s3server.env()
    )
    assert proc.returncode == 0, proc.stderr
    again = run_bulkup("resume", manifest + ".journal", "--progress", "none", env=s3server.env())
    assert again.returncode == 0 and "nothing left to upload" in again.stderr
    assert_migrated(s3, bucket, files)
