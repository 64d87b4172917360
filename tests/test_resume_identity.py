"""A resumed migration never completes an object from two versions of its file: the journal
knows each file's identity (size, mtime, ctime, inode, device), not only its size and mtime."""

import os
import signal

import pytest
from conftest import assert_same_bytes, open_uploads, write_random_file
from test_migrate import journal_states, manifest_for, migrate
from test_migrate_crash import start_migrate, wait_for

from devtools.faultproxy import FaultProxy, upload_part_of

pytestmark = pytest.mark.slow

MiB = 1 << 20


def rewrite_keeping_size_and_mtime(path: str, seed: int) -> None:
    """New bytes in place, the same size, the mtime put back: only the ctime (and the bytes) tell."""
    st = os.stat(path)
    write_random_file(path, st.st_size, seed=seed)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert (os.stat(path).st_size, os.stat(path).st_mtime_ns) == (st.st_size, st.st_mtime_ns)


@pytest.mark.parametrize("checksum", ["md5", "crc64nvme"])
def test_a_file_rewritten_between_kill_and_resume_is_sent_again_from_part_one(s3server, s3, bucket, tmp_path, checksum):
    path = write_random_file(tmp_path / "src" / "big.bin", 30 * MiB, seed=1)
    manifest = manifest_for(tmp_path, bucket, [(path, "big.bin")])
    with FaultProxy(s3server.http_url, body_rate=8 * MiB) as proxy:
        proc = start_migrate(s3server, manifest, "--checksum", checksum, url=proxy.url)
        wait_for(
            lambda: sum(1 for r in proxy.snapshot() if upload_part_of(r) and r.status == 200) >= 2,
            what="two parts stored",
        )
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proxy.release()
    [old_upload] = open_uploads(s3, bucket)
    rewrite_keeping_size_and_mtime(path, seed=2)
    with FaultProxy(s3server.http_url) as proxy:
        rerun = migrate(s3server, manifest, "--checksum", checksum, url=proxy.url)
        parts_sent = sorted(upload_part_of(r)[1] for r in proxy.snapshot() if upload_part_of(r))
    assert rerun.returncode == 0, rerun.stderr
    assert_same_bytes(s3, bucket, "big.bin", path)  # the new bytes, every one of them
    assert parts_sent == [1, 2, 3, 4, 5, 6]  # started over, not continued
    assert open_uploads(s3, bucket) == [] and old_upload["UploadId"]
    assert journal_states(manifest) == {"done": 1}
