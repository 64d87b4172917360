"""On the host kernel: io_uring moves a GiB in a small fraction of the syscalls of the others.

Counted by strace over the whole process tree (coordinator and workers), plain http to the
local S3 server, one worker and connection, 64 MiB parts. Counted per engine: the calls that
carry bodies (io_uring_enter; sendfile; send/sendto, which also carry the request heads).
"""

import re
import shutil
import subprocess
import sys

import pytest
from conftest import write_random_file

from bulkup.transport.engines import ENGINES
from devtools.timescale import scaled

pytestmark = pytest.mark.slow  # end to end through processes and servers

SIZE = 256 << 20
BODY_CALLS = {"uring": ("io_uring_enter",), "sendfile": ("sendfile",), "userspace": ("sendto",)}


def body_syscalls_per_gib(server, bucket, path, engine, tmp_path) -> int:
    trace = tmp_path / f"{engine}.strace"
    cmd = [
        "strace",
        "-f",
        "-c",
        "-o",
        str(trace),
        "-e",
        "trace=" + ",".join(BODY_CALLS[engine]),
        sys.executable,
        "-m",
        "bulkup",
        "put",
        str(path),
        f"s3://{bucket}/{engine}.bin",
        "--endpoint-url",
        server.http_url,
        "--engine",
        engine,
        "--workers",
        "1",
        "--connections",
        "1",
        "--part-size",
        "64MiB",
        "--progress",
        "none",
    ]
    env = {**server.env()}
    proc = subprocess.run(
        cmd, env={"PATH": "/usr/bin:/bin", **env}, capture_output=True, text=True, timeout=scaled(600)
    )
    assert proc.returncode == 0, proc.stderr
    total = 0
    for line in trace.read_text().splitlines():
        fields = line.split()
        if fields and fields[-1] in BODY_CALLS[engine] and re.fullmatch(r"\d+", fields[3]):
            total += int(fields[3])
    return total * (1 << 30) // SIZE


@pytest.mark.skipif(not shutil.which("strace"), reason="strace is needed to count syscalls")
def test_io_uring_needs_a_small_fraction_of_the_syscalls_of_sendfile_and_writes(s3server, bucket, tmp_path):
    if not ENGINES["uring"].available(tls=False):
        pytest.skip(ENGINES["uring"].available(tls=False).reason)
    path = write_random_file(tmp_path / "f.bin", SIZE)
    counts = {
        engine: body_syscalls_per_gib(s3server, bucket, path, engine, tmp_path)
        for engine in ("uring", "sendfile", "userspace")
    }
    print(f"syscalls per GiB: {counts}")
    assert counts["uring"] * 5 <= counts["sendfile"]
    assert counts["uring"] * 5 <= counts["userspace"]
