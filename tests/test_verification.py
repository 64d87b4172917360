"""Integrity confirmed, not assumed: each object says how the store verified it, on stores
that verify everything (SeaweedFS), only Content-MD5 (rclone) or nothing (moto), and through
paths that refuse checksum headers, strip or alter the store's echo, or corrupt bodies."""

import contextlib
import json
import os
import subprocess
import sys
import threading

import pytest
from conftest import (
    assert_same_bytes,
    journaled_parts,
    keys_in,
    open_uploads,
    run_bulkup,
    wait_for,
    write_random_file,
)

from devtools.faultproxy import FaultProxy, completes_upload, is_probe
from devtools.stores import RcloneServer
from devtools.timescale import scaled

pytestmark = pytest.mark.slow  # end to end through three stores and a proxy
MiB = 1024 * 1024


def data_tree(tmp_path, large=12 * MiB, small=3) -> str:
    """One multipart object (3 parts of 5 MiB at most) and a few single PUTs."""
    write_random_file(tmp_path / "t" / "large.bin", large)
    for i in range(small):
        write_random_file(tmp_path / "t" / f"small{i}.txt", 1000 + i)
    return str(tmp_path / "t")


def put(server, src, dest, *args, url=None):
    return run_bulkup(
        "put",
        src,
        dest,
        "--endpoint-url",
        url or server.url,
        "--workers",
        "2",
        "--part-size",
        "5MiB",
        "--progress",
        "json",
        *args,
        env=server.env(),
    )


def verification_of(stdout: str) -> dict[str, str]:
    """Each uploaded object's verification, by key, from the JSON lines."""
    return {e["key"]: e["verification"] for e in map(json.loads, stdout.splitlines()) if e["event"] == "object_done"}


def checksum_notices(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "checksums:" in line]


def assert_tree_landed(client, bucket, src, prefix=""):
    names = sorted(os.listdir(src))
    assert keys_in(client, bucket) == sorted(prefix + n for n in names)
    for name in names:
        assert_same_bytes(client, bucket, prefix + name, os.path.join(src, name))
    assert open_uploads(client, bucket) == []


def new_bucket(server, name):
    server.client().create_bucket(Bucket=name)
    return name


# -- SeaweedFS: verifies flexible checksums and echoes them --------------------------------


def test_seaweedfs_verifies_every_object_by_crc64nvme(s3server, s3, bucket, tmp_path):
    src = data_tree(tmp_path)
    proc = put(s3server, src, f"s3://{bucket}/", url=s3server.https_url)
    assert proc.returncode == 0, proc.stderr
    found = verification_of(proc.stdout)
    assert found.pop("large.bin") == "server: crc64nvme full-object"
    assert set(found.values()) == {"server: crc64nvme"}
    [notice] = checksum_notices(proc.stderr)
    assert "verifies crc64nvme" in notice
    summary = json.loads(proc.stdout.splitlines()[-1])
    assert summary["verification"] == {"server: crc64nvme full-object": 1, "server: crc64nvme": 3}


def test_an_echo_that_differs_from_what_was_sent_fails_the_part(s3server, s3, bucket, tmp_path):
    path = write_random_file(tmp_path / "f.bin", 1000)
    with FaultProxy(
        s3server.http_url, response_checksums="alter", applies_to=lambda method, target: not is_probe(target)
    ) as proxy:
        proc = put(
            s3server, path, f"s3://{bucket}/f.bin", "--checksum", "crc64nvme", "--retry-deadline", "5s", url=proxy.url
        )
    assert proc.returncode == 1
    [failure] = json.loads(proc.stdout.splitlines()[-1])["failures"]
    assert "the store echoed crc64nvme" in failure["reason"] and "sent" in failure["reason"]
    assert keys_in(s3, bucket) == []


def test_a_path_that_refuses_checksum_headers_falls_back_to_md5_and_says_so_once(s3server, s3, bucket, tmp_path):
    src = data_tree(tmp_path)
    with FaultProxy(s3server.http_url, reject_checksum_headers=True) as proxy:
        proc = put(s3server, src, f"s3://{bucket}/", url=proxy.url)
    assert proc.returncode == 0, proc.stderr
    [notice] = checksum_notices(proc.stderr)
    assert "refuses x-amz-checksum" in notice and "md5" in notice
    found = verification_of(proc.stdout)
    assert found.pop("large.bin") == "server: md5 per part"
    assert set(found.values()) == {"server: md5"}
    assert_tree_landed(s3, bucket, src)


def test_a_path_that_strips_the_echo_falls_back_to_md5_and_says_so_once(s3server, s3, bucket, tmp_path):
    src = data_tree(tmp_path)
    with FaultProxy(s3server.http_url, response_checksums="strip") as proxy:
        proc = put(s3server, src, f"s3://{bucket}/", url=proxy.url)
    assert proc.returncode == 0, proc.stderr
    [notice] = checksum_notices(proc.stderr)
    assert "does not confirm" in notice and "md5" in notice
    assert verification_of(proc.stdout)["large.bin"] == "server: md5 per part"
    assert_tree_landed(s3, bucket, src)


def test_a_corrupted_part_is_rejected_by_seaweedfs_sent_again_and_lands_intact(s3server, s3, bucket, tmp_path):
    src = data_tree(tmp_path)
    with FaultProxy(s3server.http_url, corrupt=2) as proxy:
        proc = put(s3server, src, f"s3://{bucket}/", url=proxy.url)
        assert proxy.corrupted == 2
    assert proc.returncode == 0, proc.stderr
    retried = [e for e in map(json.loads, proc.stdout.splitlines()) if e["event"] == "part_retried"]
    assert len(retried) == 2 and all("BadDigest" in e["reason"] or "Digest" in e["reason"] for e in retried)
    assert_tree_landed(s3, bucket, src)


def test_explicit_checksum_none_warns_that_nothing_is_verified(s3server, s3, bucket, tmp_path):
    path = write_random_file(tmp_path / "f.bin", 1000)
    proc = put(s3server, path, f"s3://{bucket}/f.bin", "--checksum", "none", url=s3server.https_url)
    assert proc.returncode == 0, proc.stderr
    assert "nothing will be verified" in proc.stderr
    assert verification_of(proc.stdout) == {"f.bin": "unverified (--checksum none)"}


# -- rclone serve s3: verifies Content-MD5 only ----------------------------------------------


def test_rclone_gets_md5_per_part_chosen_automatically_and_lands_byte_exact(rclone_server, tmp_path):
    bucket = new_bucket(rclone_server, "put-md5")
    src = data_tree(tmp_path)
    proc = put(rclone_server, src, f"s3://{bucket}/")
    assert proc.returncode == 0, proc.stderr
    [notice] = checksum_notices(proc.stderr)
    assert "md5" in notice and "does not confirm x-amz-checksum-crc64nvme" in notice
    found = verification_of(proc.stdout)
    assert found.pop("large.bin") == "server: md5 per part"
    assert set(found.values()) == {"server: md5"}
    assert_tree_landed(rclone_server.client(), bucket, src)


def test_rclone_rejects_a_corrupted_part_which_is_sent_again(tmp_path):
    src = data_tree(tmp_path)
    with RcloneServer(tls=False) as plain:  # the proxy speaks plain HTTP upstream
        bucket = new_bucket(plain, "corrupt")
        with FaultProxy(plain.url, corrupt=2) as proxy:
            proc = put(plain, src, f"s3://{bucket}/", url=proxy.url)
            assert proxy.corrupted == 2
        assert proc.returncode == 0, proc.stderr
        retried = [e for e in map(json.loads, proc.stdout.splitlines()) if e["event"] == "part_retried"]
        assert len([e for e in retried if "BadDigest" in e["reason"]]) == 2
        assert_tree_landed(plain.client(), bucket, src)


def test_rclone_migration_lands_byte_exact_and_the_journal_says_how(rclone_server, tmp_path):
    bucket = new_bucket(rclone_server, "migrate-md5")
    big = write_random_file(tmp_path / "big.bin", 11 * MiB)
    small = write_random_file(tmp_path / "small.bin", 500)
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(
        "".join(
            json.dumps({"source": p, "destination": f"s3://{bucket}/{k}"}) + "\n"
            for p, k in ((big, "big"), (small, "small"))
        )
    )
    proc = run_bulkup(
        "migrate",
        str(manifest),
        "--endpoint-url",
        rclone_server.url,
        "--part-size",
        "5MiB",
        "--progress",
        "none",
        "--report",
        str(tmp_path / "r.json"),
        env=rclone_server.env(),
    )
    assert proc.returncode == 0, proc.stderr
    client = rclone_server.client()
    assert_same_bytes(client, bucket, "big", big)
    assert_same_bytes(client, bucket, "small", small)
    status = json.loads(run_bulkup("status", str(manifest) + ".journal", "--json").stdout)
    assert status["verification"] == {"server: md5 per part": 1, "server: md5": 1}
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["run"]["verification"] == {"server: md5 per part": 1, "server: md5": 1}


# -- moto: verifies nothing ------------------------------------------------------------------


def test_moto_uploads_land_and_are_reported_unverified(moto_server, tmp_path):
    bucket = new_bucket(moto_server, "unverified")
    src = data_tree(tmp_path)
    proc = put(moto_server, src, f"s3://{bucket}/")
    assert proc.returncode == 0, proc.stderr
    [notice] = checksum_notices(proc.stderr)
    assert "warning" in notice and "not be verified" in notice
    assert set(verification_of(proc.stdout).values()) == {"unverified (store ignores checksums)"}
    assert_tree_landed(moto_server.client(), bucket, src)
    summary = json.loads(proc.stdout.splitlines()[-1])
    assert summary["verification"] == {"unverified (store ignores checksums)": 4}


def test_require_verified_on_moto_exits_1_with_the_reason_and_sends_nothing(moto_server, tmp_path):
    bucket = new_bucket(moto_server, "required")
    src = data_tree(tmp_path)
    proc = run_bulkup(
        "put", src, f"s3://{bucket}/", "--endpoint-url", moto_server.url, "--require-verified", env=moto_server.env()
    )
    assert proc.returncode == 1
    assert "--require-verified" in proc.stderr and "verifies no checksum" in proc.stderr
    assert keys_in(moto_server.client(), bucket) == []


def test_moto_migration_lands_and_is_reported_unverified(moto_server, tmp_path):
    bucket = new_bucket(moto_server, "migrate-unverified")
    path = write_random_file(tmp_path / "f.bin", 7 * MiB)
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps({"source": path, "destination": f"s3://{bucket}/f"}) + "\n")
    proc = run_bulkup(
        "migrate",
        str(manifest),
        "--endpoint-url",
        moto_server.url,
        "--part-size",
        "5MiB",
        "--progress",
        "none",
        env=moto_server.env(),
    )
    assert proc.returncode == 0, proc.stderr
    assert_same_bytes(moto_server.client(), bucket, "f", path)
    status = json.loads(run_bulkup("status", str(manifest) + ".journal", "--json").stdout)
    assert status["verification"] == {"unverified (store ignores checksums)": 1}


# -- holes where a wrong object could be recorded as done ------------------------------------


@contextlib.contextmanager
def put_held_at(where, server, path, dest):
    """``bulkup put`` through a proxy that holds the first request ``where`` matches; the
    block runs while it is held; afterwards ``run["proc"]`` is the finished put."""
    with FaultProxy(server.http_url) as proxy:
        proxy.hold(where)
        run = {}
        thread = threading.Thread(target=lambda: run.update(proc=put(server, path, dest, url=proxy.url)))
        thread.start()
        wait_for(lambda: proxy.held >= 1, what="the request to be held")
        assert proxy.held == 1
        yield run
        proxy.hold(lambda method, target: False)
        proxy.release()
        thread.join(scaled(120))


def test_nosuchupload_at_complete_with_an_old_object_of_the_same_size_uploads_again(s3server, s3, bucket, tmp_path):
    path = write_random_file(tmp_path / "f.bin", 11 * MiB, seed=1)
    old = write_random_file(tmp_path / "old.bin", 11 * MiB, seed=2)
    with put_held_at(completes_upload, s3server, path, f"s3://{bucket}/f.bin") as run:
        for upload in open_uploads(s3, bucket):  # a lifecycle rule, a concurrent cleanup
            s3.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
        with open(old, "rb") as f:  # an old object of the same size
            s3.put_object(Bucket=bucket, Key="f.bin", Body=f.read())
    assert run["proc"].returncode == 0, run["proc"].stderr
    assert_same_bytes(s3, bucket, "f.bin", path)


def test_a_file_rewritten_after_its_last_part_was_sent_fails_instead_of_completing(s3server, s3, bucket, tmp_path):
    path = write_random_file(tmp_path / "f.bin", 11 * MiB, seed=1)

    def last_part(method, target):
        return method == "PUT" and "partNumber=3" in target

    with put_held_at(last_part, s3server, path, f"s3://{bucket}/f.bin") as run:
        write_random_file(path, 11 * MiB, seed=9)  # rewritten in place, same size
    proc = run["proc"]
    assert proc.returncode == 1
    [failure] = json.loads(proc.stdout.splitlines()[-1])["failures"]
    assert "changed while being uploaded" in failure["reason"]
    assert keys_in(s3, bucket) == [] and open_uploads(s3, bucket) == []


def pinned_manifest(tmp_path, bucket, path, size) -> str:
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(
        json.dumps({"source": path, "destination": f"s3://{bucket}/f", "size": size, "node": "this-node"}) + "\n"
    )
    return str(manifest)


def test_a_pinned_file_rewritten_at_the_same_size_between_runs_is_not_mixed(s3server, s3, bucket, tmp_path):
    size = 16 * MiB
    path = write_random_file(tmp_path / "f.bin", size, seed=1)
    manifest = pinned_manifest(tmp_path, bucket, path, size)

    def later_parts(method, target):
        return method == "PUT" and "partNumber=1&" not in target and "uploadId" in target

    with FaultProxy(s3server.http_url) as proxy:
        proxy.hold(later_parts)
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(s3server.env())
        first = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bulkup",
                "migrate",
                manifest,
                "--endpoint-url",
                proxy.url,
                "--part-size",
                "5MiB",
                "--workers",
                "1",
                "--connections",
                "1",
                "--progress",
                "none",
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        wait_for(lambda: proxy.held >= 1, what="a later part to be held")
        wait_for(lambda: journaled_parts(manifest + ".journal") >= 1, what="part 1's answer to be journaled")
        first.kill()
        first.wait()
        proxy.hold(lambda method, target: False)
        proxy.release()
    write_random_file(path, size, seed=2)  # rewritten in place, same size
    proc = run_bulkup(
        "migrate",
        manifest,
        "--endpoint-url",
        s3server.http_url,
        "--part-size",
        "5MiB",
        "--progress",
        "none",
        env=s3server.env(),
    )
    assert proc.returncode == 0, proc.stderr
    assert_same_bytes(s3, bucket, "f", path)
    assert open_uploads(s3, bucket) == []


# -- doctor ----------------------------------------------------------------------------------


def test_doctor_shows_what_a_store_verifies(rclone_server, moto_server):
    rclone_bucket = new_bucket(rclone_server, "doctor")
    moto_bucket = new_bucket(moto_server, "doctor")
    proc = run_bulkup("doctor", "--endpoint-url", rclone_server.url, f"s3://{rclone_bucket}", env=rclone_server.env())
    assert proc.returncode == 0, proc.stderr
    assert "crc64nvme: not confirmed" in proc.stdout and "md5: verified" in proc.stdout
    proc = run_bulkup("doctor", "--endpoint-url", moto_server.url, f"s3://{moto_bucket}", env=moto_server.env())
    assert "md5: not verified" in proc.stdout
