"""bulkup and rclone read each other's x-amz-meta-mtime: a tree one of them synced is unchanged
for the other, whatever its files' times (nanoseconds, trailing zeros, whole seconds, 1969)."""

import json
import os
import re
import subprocess

import pytest
from conftest import run_bulkup, write_random_file

from devtools.stores import _tool
from devtools.timescale import scaled

pytestmark = pytest.mark.slow

NS = 10**9
TIMES = [
    1_746_439_200_500_000_000,
    1_746_439_200 * NS,
    1_796_265_171_982_942_471,
    -86_400_250_000_000,
    -250_000_000,
    1_700_000_000_100_000_000,
    1_700_000_000_000_000_001,
    1_234_567_890_123_450_000,
]


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "tree"
    for i in range(40):
        path = write_random_file(root / f"d{i % 4}" / f"f{i}.bin", 100 + i, seed=i)
        os.utime(path, ns=(TIMES[i % len(TIMES)], TIMES[i % len(TIMES)] + i * 1_000_000_007))
    return root


def rclone(server, *args):
    env = {
        **os.environ,
        "RCLONE_CONFIG": os.devnull,
        "RCLONE_CONFIG_S_TYPE": "s3",
        "RCLONE_CONFIG_S_PROVIDER": "Other",
        "RCLONE_CONFIG_S_ENDPOINT": server.https_url,
        "RCLONE_CONFIG_S_ACCESS_KEY_ID": server.admin.access_key,
        "RCLONE_CONFIG_S_SECRET_ACCESS_KEY": server.admin.secret_key,
        "RCLONE_CA_CERT": server.ca_file,
    }
    proc = subprocess.run([_tool("rclone"), *args], env=env, capture_output=True, text=True, timeout=scaled(300))
    assert proc.returncode == 0, proc.stderr
    return proc


def bulkup_sync(server, root, destination):
    proc = run_bulkup(
        "sync",
        str(root),
        destination,
        "--endpoint-url",
        server.https_url,
        "--progress",
        "json",
        "--no-sync-state",
        env=server.env(),
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


def test_rclones_objects_are_unchanged_for_bulkup_sync(s3server, bucket, tree):
    rclone(s3server, "copy", str(tree), f"s:{bucket}/r")
    summary = bulkup_sync(s3server, tree, f"s3://{bucket}/r/")
    assert (summary["objects_uploaded"], summary["objects_unchanged"], summary["objects_read"]) == (0, 40, 40)


def test_bulkups_objects_are_unchanged_for_rclone_sync(s3server, bucket, tree):
    assert bulkup_sync(s3server, tree, f"s3://{bucket}/b/")["objects_uploaded"] == 40
    proc = rclone(s3server, "sync", str(tree), f"s:{bucket}/b", "--dry-run", "-v")
    assert re.search(r"Checks:\s+40 / 40", proc.stderr), proc.stderr  # every file compared,
    assert not re.search(r"Transferred:\s+[1-9]\d* / ", proc.stderr), proc.stderr  # none to copy
    assert "Skipped" not in proc.stderr, proc.stderr  # and no time to set


def test_bulkup_writes_the_very_text_rclone_writes(s3server, s3, bucket, tree):
    rclone(s3server, "copy", str(tree), f"s:{bucket}/r")
    bulkup_sync(s3server, tree, f"s3://{bucket}/b/")
    for i in range(40):
        rel = f"d{i % 4}/f{i}.bin"
        theirs = s3.head_object(Bucket=bucket, Key=f"r/{rel}")["Metadata"]["mtime"]
        ours = s3.head_object(Bucket=bucket, Key=f"b/{rel}")["Metadata"]["mtime"]
        assert ours == theirs, rel
