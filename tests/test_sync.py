"""bulkup sync: only what is new or changed is sent; --delete removes exactly what --dry-run listed."""

import json
import os

import pytest
from conftest import assert_same_bytes, error_line, keys_in, run_bulkup, write_random_file
from test_errors import _without_root_file_access

# -- against the server ---------------------------------------------------------------------


def sync(server, *args, env=None):
    return run_bulkup(
        "sync", *args, "--endpoint-url", server.https_url, "--progress", "none", env={**server.env(), **(env or {})}
    )


def tree_of(root, count: int) -> dict[str, str]:
    return {
        f"d{i % 10}/f{i}.bin": write_random_file(root / f"d{i % 10}" / f"f{i}.bin", 100 + i, seed=i)
        for i in range(count)
    }


def puts_in(proc) -> int:
    """Objects the run sent, from its JSON summary."""
    return json.loads([line for line in proc.stdout.splitlines() if '"summary"' in line][-1])["objects_uploaded"]


def test_a_second_sync_sends_exactly_the_changed_files(s3server, s3, bucket, tmp_path):
    root = tmp_path / "tree"
    files = tree_of(root, 1000)
    first = sync(s3server, str(root), f"s3://{bucket}/t/")
    assert first.returncode == 0, first.stderr
    assert len(keys_in(s3, bucket)) == 1000
    changed = ["d1/f1.bin", "d5/f555.bin", "d9/f999.bin"]
    for n, rel in enumerate(changed):
        write_random_file(root / rel, 100 + 7 * n, seed=10_000 + n)  # same size for some, new bytes
        os.utime(root / rel, ns=(1_800_000_000_000_000_000, 1_800_000_000_000_000_000 + n))
    second = run_bulkup(
        "sync",
        str(root),
        f"s3://{bucket}/t/",
        "--endpoint-url",
        s3server.https_url,
        "--progress",
        "json",
        env=s3server.env(),
    )
    assert second.returncode == 0, second.stderr
    assert puts_in(second) == 3
    assert "sync: sent 3 (0 new, 3 changed), 997 unchanged" in second.stderr
    for rel in changed:
        assert_same_bytes(s3, bucket, f"t/{rel}", files[rel])
    third = sync(s3server, str(root), f"s3://{bucket}/t/")
    assert "sync: sent 0 (0 new, 0 changed), 1,000 unchanged" in third.stderr


def test_delete_removes_exactly_what_the_dry_run_listed(s3server, s3, bucket, tmp_path):
    root = tmp_path / "tree"
    tree_of(root, 20)
    assert sync(s3server, str(root), f"s3://{bucket}/t/").returncode == 0
    s3.put_object(Bucket=bucket, Key="t-outside/keep", Body=b"not under the prefix")
    s3.put_object(Bucket=bucket, Key="elsewhere/keep", Body=b"not under the prefix")
    for rel in ["d0/f0.bin", "d3/f13.bin", "d7/f7.bin"]:
        os.remove(root / rel)
    dry = sync(s3server, str(root), f"s3://{bucket}/t/", "--delete", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    listed = sorted(line.split()[-1] for line in dry.stdout.splitlines() if line.startswith("(dry run) delete:"))
    assert listed == [f"s3://{bucket}/t/d0/f0.bin", f"s3://{bucket}/t/d3/f13.bin", f"s3://{bucket}/t/d7/f7.bin"]
    assert len(keys_in(s3, bucket)) == 22
    real = sync(s3server, str(root), f"s3://{bucket}/t/", "--delete")
    assert real.returncode == 0, real.stderr
    remaining = set(keys_in(s3, bucket))
    assert {f"s3://{bucket}/{k}" for k in remaining} & set(listed) == set()
    assert len(remaining) == 19 and {"t-outside/keep", "elsewhere/keep"} <= remaining


def test_size_only_leaves_a_same_size_change_alone_and_checksum_finds_it(s3server, s3, bucket, tmp_path):
    root = tmp_path / "tree"
    path = write_random_file(root / "a.bin", 1000, seed=1)
    assert sync(s3server, str(root), f"s3://{bucket}/").returncode == 0
    write_random_file(root / "a.bin", 1000, seed=2)
    os.utime(path, ns=(1, 1))  # older than the object: mtime says unchanged too
    size_only = sync(s3server, str(root), f"s3://{bucket}/", "--size-only")
    assert "sent 0" in size_only.stderr
    by_checksum = sync(s3server, str(root), f"s3://{bucket}/", "--compare", "checksum")
    assert "sent 1 (0 new, 1 changed)" in by_checksum.stderr
    assert_same_bytes(s3, bucket, "a.bin", path)


def test_sync_to_a_single_object_is_one_line(s3server, bucket, tmp_path):
    root = tmp_path / "tree"
    tree_of(root, 2)
    line = error_line(sync(s3server, str(root), f"s3://{bucket}/key"), exit_code=2)
    assert "sync needs a prefix" in line


def test_put_if_size_differ_and_if_source_newer_keep_what_they_should(s3server, s3, bucket, tmp_path):
    root = tmp_path / "tree"
    same, grown = write_random_file(root / "same.bin", 100, seed=1), write_random_file(root / "grown.bin", 100, seed=2)
    assert sync(s3server, str(root), f"s3://{bucket}/").returncode == 0
    write_random_file(root / "same.bin", 100, seed=3)  # same size, new bytes
    write_random_file(root / "grown.bin", 200, seed=4)
    proc = run_bulkup(
        "put",
        str(root),
        f"s3://{bucket}/",
        "--if-size-differ",
        "--endpoint-url",
        s3server.https_url,
        "--progress",
        "json",
        env=s3server.env(),
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.splitlines()[-1])
    assert (summary["objects_uploaded"], summary["objects_kept"]) == (1, 1)
    assert_same_bytes(s3, bucket, "grown.bin", grown)
    os.utime(same, ns=(1, 1))  # older than its object
    newer = run_bulkup(
        "put",
        same,
        f"s3://{bucket}/",
        "--if-source-newer",
        "--endpoint-url",
        s3server.https_url,
        "--progress",
        "json",
        env=s3server.env(),
    )
    assert json.loads(newer.stdout.splitlines()[-1])["objects_kept"] == 1


def summary_of(proc) -> dict:
    return json.loads([line for line in proc.stdout.splitlines() if '"summary"' in line][-1])


def json_sync(server, *args, **kwargs):
    return run_bulkup(
        "sync", *args, "--endpoint-url", server.https_url, "--progress", "json", env=server.env(), **kwargs
    )


def test_a_directory_reached_by_a_sibling_link_keeps_its_objects_through_delete(s3server, s3, bucket, tmp_path):
    root = tmp_path / "tree"
    real = {f"zz_real/f{i}": write_random_file(root / "zz_real" / f"f{i}", 100 + i, seed=i) for i in range(3)}
    os.symlink("zz_real", root / "aa_link")  # sorts first: it once hid zz_real as a "loop"
    for _ in range(2):
        proc = sync(s3server, str(root), f"s3://{bucket}/t/", "--delete")
        assert proc.returncode == 0, proc.stderr
        assert "loop" not in proc.stderr
    for rel, path in real.items():
        assert_same_bytes(s3, bucket, f"t/{rel}", path)
        assert_same_bytes(s3, bucket, "t/aa_link/" + rel.split("/")[1], path)


def test_delete_keeps_folder_markers_and_says_so(s3server, s3, bucket, tmp_path):
    root = tmp_path / "tree"
    tree_of(root, 3)
    for marker in ("t/photos/", "t/d0/"):
        s3.put_object(Bucket=bucket, Key=marker, Body=b"")
    s3.put_object(Bucket=bucket, Key="t/gone.txt", Body=b"its file is gone")
    proc = sync(s3server, str(root), f"s3://{bucket}/t/", "--delete")
    assert proc.returncode == 0, proc.stderr
    assert "t/photos/" in keys_in(s3, bucket) and "t/d0/" in keys_in(s3, bucket)
    assert "t/gone.txt" not in keys_in(s3, bucket)
    assert "--delete kept 2 objects with no file: folder markers (2)" in proc.stderr


def test_entries_passed_over_are_warned_about_and_every_rerun_exits_2(s3server, s3, bucket, tmp_path):
    root = tmp_path / "tree"
    tree_of(root, 3)
    os.mkfifo(root / "d1" / "pipe")
    for _ in range(2):
        proc = sync(s3server, str(root), f"s3://{bucket}/t/")
        assert proc.returncode == 2, proc.stderr
        assert f"bulkup: warning: skipped {root / 'd1' / 'pipe'}: a FIFO" in proc.stderr
        assert "1 entry skipped" in proc.stderr
    assert len(keys_in(s3, bucket)) == 3


def test_delete_deletes_nothing_when_an_entry_cannot_be_read(s3server, s3, bucket, tmp_path):
    root = tmp_path / "tree"
    tree_of(root, 20)
    assert sync(s3server, str(root), f"s3://{bucket}/t/").returncode == 0
    os.remove(root / "d5" / "f5.bin")  # gone: --delete would remove its object
    os.chmod(root / "d3", 0)  # unreadable: its objects must stay
    try:
        proc = run_bulkup(
            "sync",
            str(root),
            f"s3://{bucket}/t/",
            "--delete",
            "--endpoint-url",
            s3server.https_url,
            "--progress",
            "none",
            env=s3server.env(),
            preexec_fn=_without_root_file_access,
        )
    finally:
        os.chmod(root / "d3", 0o755)
    assert proc.returncode == 2, proc.stderr
    assert f"skipped {root / 'd3'}: permission denied" in proc.stderr
    assert "--delete kept 3 objects with no file: the walk could not read every entry (3)" in proc.stderr
    assert len(keys_in(s3, bucket)) == 20


def test_an_unchanged_tree_is_decided_from_the_listing_once_objects_were_read(s3server, s3, bucket, tmp_path):
    root = tmp_path / "tree"
    tree_of(root, 50)
    first = json_sync(s3server, str(root), f"s3://{bucket}/t/")
    assert summary_of(first)["objects_uploaded"] == 50
    second = summary_of(json_sync(s3server, str(root), f"s3://{bucket}/t/"))
    assert (second["objects_unchanged"], second["objects_read"], second["objects_remembered"]) == (50, 0, 50)
    asked = summary_of(json_sync(s3server, str(root), f"s3://{bucket}/t/", "--no-sync-state"))
    assert (asked["objects_unchanged"], asked["objects_read"]) == (50, 50)


def test_an_object_another_writer_replaced_is_read_again_not_taken_from_memory(s3server, s3, bucket, tmp_path):
    root = tmp_path / "tree"
    files = tree_of(root, 10)
    json_sync(s3server, str(root), f"s3://{bucket}/t/")
    json_sync(s3server, str(root), f"s3://{bucket}/t/")  # every object's state now known
    size = os.path.getsize(files["d4/f4.bin"])
    s3.put_object(
        Bucket=bucket, Key="t/d4/f4.bin", Body=b"y" * size, Metadata={"mtime": "1000000000.5"}
    )  # same size, other bytes and mtime
    proc = json_sync(s3server, str(root), f"s3://{bucket}/t/")
    summary = summary_of(proc)
    assert (summary["objects_read"], summary["objects_uploaded"]) == (1, 1), proc.stderr
    assert_same_bytes(s3, bucket, "t/d4/f4.bin", files["d4/f4.bin"])


@pytest.mark.parametrize("store", ["rclone_server", "moto_server"])
def test_sync_and_delete_on_stores_that_list_and_verify_differently(store, request, tmp_path):
    server = request.getfixturevalue(store)
    s3 = server.client()
    bucket = f"sync-{store.split('_')[0]}"
    s3.create_bucket(Bucket=bucket)
    root = tmp_path / "tree"
    files = tree_of(root, 30)
    os.makedirs(root / "a-b")  # sorts before a/ in S3, after it in a walk
    files["a-b/x"] = write_random_file(root / "a-b" / "x", 10, seed=1)
    files["a/x"] = write_random_file(root / "a" / "x", 11, seed=2)

    def run(*args):
        proc = run_bulkup(
            "sync",
            str(root),
            f"s3://{bucket}/t/",
            "--endpoint-url",
            server.url,
            "--addressing-style",
            "path",
            "--progress",
            "json",
            *args,
            env=server.env(),
        )
        assert proc.returncode == 0, proc.stderr
        return summary_of(proc)

    assert run()["objects_uploaded"] == 32
    os.remove(files.pop("d3/f3.bin"))
    second = run("--delete")
    assert (second["objects_uploaded"], second["objects_unchanged"], second["objects_deleted"]) == (0, 31, 1)
    assert keys_in(s3, bucket) == sorted(f"t/{rel}" for rel in files)
    for rel, path in files.items():
        assert_same_bytes(s3, bucket, f"t/{rel}", path)
