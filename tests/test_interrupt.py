"""Ctrl-C stops cleanly: exit 130, one line, and no multipart upload left open."""
import signal
import subprocess
import sys
import time

import pytest

from conftest import data_uploads, keys_in, open_uploads, write_random_file

pytestmark = pytest.mark.slow      # end to end through processes and servers


def test_ctrl_c_aborts_open_multipart_uploads(s3server, s3, bucket, tmp_path):
    path = write_random_file(tmp_path / "big.bin", 400 * 1024 * 1024)
    env = {**s3server.env()}
    proc = subprocess.Popen([sys.executable, "-m", "bulkup", "put", path, f"s3://{bucket}/big.bin",
                             "--endpoint-url", s3server.https_url, "--progress", "none"],
                            env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not data_uploads(s3, bucket) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert data_uploads(s3, bucket), "the upload never started"
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert stderr.strip().splitlines() == ["bulkup: interrupted: open multipart uploads were aborted"]
    assert open_uploads(s3, bucket) == []
    assert keys_in(s3, bucket) == []
