"""bulkup sync: only what is new or changed is sent; --delete removes exactly what --dry-run listed."""
import json
import os

import pytest

from bulkup.plan.attributes import mtime_metadata
from bulkup.plan.sources import SourceFile
from bulkup.plan.sync import RemoteObject, deletions, reason_to_send
from bulkup.plan.filters import Filters

from conftest import assert_same_bytes, error_line, keys_in, run_bulkup, write_random_file


def local(size=10, mtime_ns=1_700_000_000_000_000_000, key="k"):
    return SourceFile(path="/x/" + key, key=key, size=size, mtime_ns=mtime_ns, ctime_ns=0, inode=1)


def remote(size=10, last_modified=1_700_000_100.0, mtime=None, etag='"e"', crc=None, key="k"):
    return RemoteObject(key=key, size=size, last_modified=last_modified, etag=etag, mtime=mtime, crc64nvme=crc)


def no_checksum(file, kind):
    raise AssertionError("no checksum needed")


@pytest.mark.parametrize("there, comparison, why", [
    (None, "mtime", "new"),
    (remote(size=11), "mtime", "size"),
    (remote(size=10), "size", None),
    (remote(mtime=mtime_metadata(1_700_000_000_000_000_000)), "mtime", None),
    (remote(mtime=mtime_metadata(1_700_000_000_000_000_001)), "mtime", "mtime"),
    (remote(last_modified=1_699_999_999.0), "mtime", "newer"),   # no recorded mtime: the object's time
    (remote(last_modified=1_700_000_001.0), "mtime", None),
], ids=["missing", "other-size", "size-only", "same-mtime", "mtime-1ns-off", "older-object", "newer-object"])
def test_what_is_sent_and_why(there, comparison, why):
    assert reason_to_send(local(), there, comparison, no_checksum) == why


def test_checksum_comparison_uses_the_full_object_crc_then_a_single_put_md5():
    sums = {"crc64nvme": "CRC=", "md5": "abc"}
    file = local()
    assert reason_to_send(file, remote(crc="CRC="), "checksum", lambda f, k: sums[k]) is None
    assert reason_to_send(file, remote(crc="OTHER="), "checksum", lambda f, k: sums[k]) == "checksum"
    assert reason_to_send(file, remote(etag='"abc"'), "checksum", lambda f, k: sums[k]) is None
    assert reason_to_send(file, remote(etag='"abc-2"'), "checksum", lambda f, k: sums[k]) == "checksum"


def test_deletions_stay_under_the_prefix_and_spare_what_the_filters_leave_out():
    objects = [remote(key=k) for k in ["p/a", "p/gone", "p/keep.log", "pother/x", "q/gone"]]
    assert deletions({"p/a"}, objects, "p/", Filters.of([("exclude", "*.log")])) == ["p/gone"]


# -- against the server ---------------------------------------------------------------------


def sync(server, *args, env=None):
    return run_bulkup("sync", *args, "--endpoint-url", server.https_url, "--progress", "none",
                      env={**server.env(), **(env or {})})


def tree_of(root, count: int) -> dict[str, str]:
    return {f"d{i % 10}/f{i}.bin": write_random_file(root / f"d{i % 10}" / f"f{i}.bin", 100 + i, seed=i)
            for i in range(count)}


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
        write_random_file(root / rel, 100 + 7 * n, seed=10_000 + n)   # same size for some, new bytes
        os.utime(root / rel, ns=(1_800_000_000_000_000_000, 1_800_000_000_000_000_000 + n))
    second = run_bulkup("sync", str(root), f"s3://{bucket}/t/", "--endpoint-url", s3server.https_url,
                        "--progress", "json", env=s3server.env())
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


def test_delete_is_refused_when_part_of_the_tree_cannot_be_read(aws_env, s3, bucket, tmp_path, monkeypatch):
    import bulkup.sync
    from bulkup.options import UploadOptions
    root = tmp_path / "tree"
    tree_of(root, 10)
    assert sync(aws_env, str(root), f"s3://{bucket}/t/").returncode == 0
    walk = bulkup.sync.collect_sources

    def unreadable_d3(*args, **kwargs):         # as a directory without read permission is walked
        found = walk(*args, **kwargs)
        found.files = [f for f in found.files if not f.key.startswith("t/d3/")]
        found.skipped.append((str(root / "d3"), "permission denied"))
        return found
    monkeypatch.setattr(bulkup.sync, "collect_sources", unreadable_d3)
    result = bulkup.sync.sync(str(root), f"s3://{bucket}/t/", UploadOptions(endpoint_url=aws_env.https_url),
                              delete=True)
    assert not result.ok and "nothing was deleted" in result.delete_refused
    assert len(keys_in(s3, bucket)) == 10


def test_size_only_leaves_a_same_size_change_alone_and_checksum_finds_it(s3server, s3, bucket, tmp_path):
    root = tmp_path / "tree"
    path = write_random_file(root / "a.bin", 1000, seed=1)
    assert sync(s3server, str(root), f"s3://{bucket}/").returncode == 0
    write_random_file(root / "a.bin", 1000, seed=2)
    os.utime(path, ns=(1, 1))                    # older than the object: mtime says unchanged too
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
    write_random_file(root / "same.bin", 100, seed=3)            # same size, new bytes
    write_random_file(root / "grown.bin", 200, seed=4)
    proc = run_bulkup("put", str(root), f"s3://{bucket}/", "--if-size-differ", "--endpoint-url",
                      s3server.https_url, "--progress", "json", env=s3server.env())
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.splitlines()[-1])
    assert (summary["objects_uploaded"], summary["objects_kept"]) == (1, 1)
    assert_same_bytes(s3, bucket, "grown.bin", grown)
    os.utime(same, ns=(1, 1))                                    # older than its object
    newer = run_bulkup("put", same, f"s3://{bucket}/", "--if-source-newer", "--endpoint-url",
                       s3server.https_url, "--progress", "json", env=s3server.env())
    assert json.loads(newer.stdout.splitlines()[-1])["objects_kept"] == 1
