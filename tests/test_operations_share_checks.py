"""put, sync and migrate are built from the same steps: each check a user counts on holds for
each of them (--require-verified, --no-overwrite, filters, entries passed over)."""

import json
import os

import pytest
from conftest import error_line, keys_in, run_bulkup, write_random_file

OPERATIONS = ["put", "sync", "migrate"]


def tree(root):
    write_random_file(root / "a.txt", 100, seed=1)
    write_random_file(root / "d" / "b.log", 200, seed=2)
    return root


def run(operation, server, root, destination, *args, tmp_path=None):
    """``operation`` over the tree at ``root`` to ``destination`` (a migration's manifest is
    made first, with the same filters, since a migration's selection is its manifest)."""
    common = ["--endpoint-url", server.url, "--progress", "json", *args]
    if operation != "migrate":
        return run_bulkup(operation, str(root), destination, *common, env=server.env())
    filters = [
        a for i, a in enumerate(args) if a in ("--exclude", "--include") or args[i - 1] in ("--exclude", "--include")
    ]
    manifest = str(tmp_path / "m.jsonl")
    made = run_bulkup("manifest", str(root), destination, "-o", manifest, *filters, env=server.env())
    assert made.returncode in (0, 2), made.stderr
    rest = [a for a in args if a not in filters]
    return run_bulkup("migrate", manifest, "--endpoint-url", server.url, "--progress", "json", *rest, env=server.env())


@pytest.mark.parametrize("operation", OPERATIONS)
def test_require_verified_sends_nothing_to_a_store_that_verifies_nothing(operation, moto_server, tmp_path):
    s3 = moto_server.client()
    bucket = f"verify-{operation}"
    s3.create_bucket(Bucket=bucket)
    proc = run(
        operation, moto_server, tree(tmp_path / "t"), f"s3://{bucket}/p/", "--require-verified", tmp_path=tmp_path
    )
    assert "verifies no checksum bulkup can send" in error_line(proc, 1)
    assert keys_in(s3, bucket) == []


@pytest.mark.parametrize("operation", OPERATIONS)
def test_no_overwrite_keeps_an_object_already_at_its_key(operation, s3server, s3, bucket, tmp_path):
    s3.put_object(Bucket=bucket, Key="p/a.txt", Body=b"theirs")
    proc = run(operation, s3server, tree(tmp_path / "t"), f"s3://{bucket}/p/", "--no-overwrite", tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert s3.get_object(Bucket=bucket, Key="p/a.txt")["Body"].read() == b"theirs"
    assert "p/d/b.log" in keys_in(s3, bucket)


@pytest.mark.parametrize("operation", OPERATIONS)
def test_excluded_files_are_not_sent(operation, s3server, s3, bucket, tmp_path):
    proc = run(operation, s3server, tree(tmp_path / "t"), f"s3://{bucket}/p/", "--exclude", "*.log", tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert keys_in(s3, bucket) == ["p/a.txt"]


@pytest.mark.parametrize("operation", ["put", "sync"])
def test_an_entry_passed_over_is_warned_about_and_the_exit_is_2(operation, s3server, s3, bucket, tmp_path):
    root = tree(tmp_path / "t")
    os.mkfifo(root / "d" / "pipe")
    proc = run(operation, s3server, root, f"s3://{bucket}/p/", tmp_path=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert f"bulkup: warning: skipped {root / 'd' / 'pipe'}: a FIFO" in proc.stderr
    assert keys_in(s3, bucket) == ["p/a.txt", "p/d/b.log"]


def test_a_migration_passes_over_nothing_silently(s3server, s3, bucket, tmp_path):
    """A migration's entries are its manifest's lines: one that cannot be sent is refused,
    or with --skip-bad-lines reported, never dropped without a word."""
    root = tree(tmp_path / "t")
    manifest = tmp_path / "m.jsonl"
    lines = [
        {"source": str(root / "a.txt"), "destination": f"s3://{bucket}/p/a.txt"},
        {"source": str(root / "gone.txt"), "destination": f"s3://{bucket}/p/gone.txt"},
    ]
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines))
    refused = run_bulkup("migrate", str(manifest), "--endpoint-url", s3server.url, env=s3server.env())
    assert "m.jsonl:2" in error_line(refused, 2) and keys_in(s3, bucket) == []
    skipped = run_bulkup(
        "migrate",
        str(manifest),
        "--skip-bad-lines",
        "--endpoint-url",
        s3server.url,
        "--progress",
        "none",
        env=s3server.env(),
    )
    assert skipped.returncode == 0, skipped.stderr
    assert "skipped bad line" in skipped.stderr and "gone.txt" in skipped.stderr
    assert keys_in(s3, bucket) == ["p/a.txt"]
