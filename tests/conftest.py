"""Shared fixtures: one real S3 server (SeaweedFS over HTTPS) for the whole session."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import itertools
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

import bulkup.control.credentials
from bulkup.control.probekeys import PROBE_MARK
from devtools.s3server import DevServer, Identity
from devtools.stores import MotoServer, RcloneServer
from devtools.timescale import scaled, too_slow

LIMITED_BUCKET = "bulkup-limited"
# The futex system call's number, as /proc/PID/syscall shows it: a thread waiting on a lock.
FUTEX = {"x86_64": "202", "aarch64": "98"}.get(os.uname().machine)

# tests/guest/ runs inside a guest kernel with kTLS (tests/test_ktls_guest.py boots it).
collect_ignore = [] if os.environ.get("BULKUP_GUEST") else ["guest"]
_bucket_numbers = itertools.count(1)


@pytest.fixture(scope="session", autouse=True)
def own_cache_dir(tmp_path_factory):
    """What bulkup remembers between runs (sync state) goes to a directory of the suite's own,
    never the user's, and every run of the suite starts with it empty."""
    path = str(tmp_path_factory.mktemp("cache"))
    os.environ["BULKUP_CACHE_DIR"] = path
    yield path


@pytest.fixture(scope="session")
def s3server():
    limited = Identity(
        "limited",
        "BULKUPLIMITED",
        "limited-secret-" + os.urandom(8).hex(),
        actions=(f"Read:{LIMITED_BUCKET}", f"Write:{LIMITED_BUCKET}", f"List:{LIMITED_BUCKET}"),
    )
    rotated = Identity("rotated", "BULKUPROTATED", "rotated-secret-" + os.urandom(8).hex())
    with DevServer(extra_identities=(limited, rotated)) as server:
        server.limited = limited
        server.rotated = rotated  # an admin's second key pair, for credential rotation
        yield server


@pytest.fixture(scope="session")
def rclone_server():
    """rclone's S3 server over HTTPS: checks signatures and Content-MD5, ignores x-amz-checksum-*."""
    with RcloneServer() as server:
        yield server


@pytest.fixture(scope="session")
def moto_server():
    """moto's S3 server over plain HTTP: verifies no checksum at all."""
    with MotoServer() as server:
        yield server


@pytest.fixture
def s3(s3server):
    return s3server.client()


@pytest.fixture
def bucket(s3):
    name = f"test-{os.getpid()}-{next(_bucket_numbers)}"
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def aws_env(s3server, monkeypatch):
    """Point boto3 (and so bulkup's Python API) at the test server."""
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    for key, value in s3server.env().items():
        monkeypatch.setenv(key, value)
    return s3server


def write_random_file(path, size: int, seed: int = 0) -> str:
    """A file of ``size`` pseudo-random bytes (fast enough for GiB sizes)."""
    rng = random.Random(seed or size)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 16 << 20)
            f.write(rng.randbytes(n))
            left -= n
    return str(path)


def sha256_file(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(8 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_object(s3, bucket: str, key: str) -> str:
    digest = hashlib.sha256()
    for chunk in s3.get_object(Bucket=bucket, Key=key)["Body"].iter_chunks(8 << 20):
        digest.update(chunk)
    return digest.hexdigest()


def assert_same_bytes(s3, bucket: str, key: str, path) -> None:
    """The object on the server holds exactly the file's bytes."""
    head = s3.head_object(Bucket=bucket, Key=key)
    assert head["ContentLength"] == os.path.getsize(path)
    assert sha256_object(s3, bucket, key) == sha256_file(path)


def keys_in(s3, bucket: str) -> list[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return sorted(o["Key"] for page in pages for o in page.get("Contents", []))


def open_uploads(s3, bucket: str) -> list[dict]:
    return s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])


def data_uploads(s3, bucket: str) -> list[dict]:
    """Open multipart uploads of objects, not bulkup's short-lived question to the store
    about what it verifies (a ``.bulkup-probe-`` key, aborted at once)."""
    return [u for u in open_uploads(s3, bucket) if PROBE_MARK not in u["Key"]]


def error_line(proc, exit_code: int | None = None) -> str:
    """The single line the user sees about what went wrong; fails if there is more (or other)
    output: on stdout, only JSON events ending with the same error (--progress json). A run
    that got as far as starting has said which checksum it sends: not an error."""
    lines = [line for line in proc.stderr.splitlines() if line.strip() and not line.startswith("bulkup: checksums:")]
    assert proc.returncode != 0 if exit_code is None else proc.returncode == exit_code, proc.stderr
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("bulkup: error: ")
    assert "Traceback" not in proc.stderr
    if proc.stdout:  # --progress json: every line an event, the last the same error
        events = [json.loads(line) for line in proc.stdout.splitlines()]
        assert events[-1]["event"] == "error" and events[-1]["exit_code"] == proc.returncode, events[-1]
        assert lines[0].endswith(events[-1]["message"]), (lines[0], events[-1])
    return lines[0]


def run_bulkup(*args: str, env: dict[str, str] | None = None, **kwargs) -> subprocess.CompletedProcess:
    """Run the CLI as a user would, capturing its output."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "bulkup", *args],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=scaled(600),
        **kwargs,
    )


def wait_for(condition, timeout: float = 60.0, what: str = "condition") -> None:
    """Poll ``condition`` until it holds; fail after ``timeout`` seconds (sized for a usual
    machine, scaled to this one)."""
    timeout = scaled(timeout)
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, too_slow(f"timed out waiting for {what}", timeout)
        time.sleep(0.05)


def journaled_parts(journal: str) -> int:
    """Parts a migration's journal has recorded (0 while there is none yet to read)."""
    if not os.path.exists(journal):
        return 0
    try:
        with contextlib.closing(sqlite3.connect(journal)) as db:
            return db.execute("SELECT COUNT(*) FROM parts").fetchone()[0]
    except sqlite3.Error:
        return 0


def blocked_call(pid: int, thread: int | None = None) -> str | None:
    """The system call (its number, as /proc shows it) the process's main thread, or
    ``thread``, waits in; None while it runs."""
    with open(f"/proc/{pid}/task/{thread or pid}/syscall") as f:
        call = f.read().split()[0]
    return None if call == "running" else call


def signal_pending(pid: int, signum: int) -> bool:
    """Whether ``signum`` was sent to the process and not yet taken."""
    with open(f"/proc/{pid}/status") as f:
        masks = [int(line.split()[1], 16) for line in f if line.startswith(("SigPnd:", "ShdPnd:"))]
    return any(mask >> (signum - 1) & 1 for mask in masks)


def signal_when_waiting(proc: subprocess.Popen, signum: int = signal.SIGINT) -> None:
    """Send ``signum`` while the process waits in a system call (an answer held back), and
    return once it has taken it: no longer pending, and waiting in that call again, which
    Python re-enters only after running the signal's handler. No time is guessed at."""
    wait_for(lambda: blocked_call(proc.pid) not in (None, FUTEX), what="the process to wait in a call")
    call = blocked_call(proc.pid)
    proc.send_signal(signum)
    wait_for(
        lambda: not signal_pending(proc.pid, signum) and blocked_call(proc.pid) == call,
        what=f"the process to take signal {signum}",
    )


@functools.cache
def expected_data_path(scheme: str) -> str:
    """The data path ``bulkup doctor`` says uploads to ``scheme`` (https, http) take here:
    what a test expects, whether or not this kernel has kTLS."""
    proc = run_bulkup("doctor", "--json")
    return json.loads(proc.stdout)["chosen"][scheme]["path"]


@pytest.fixture
def quick_credential_checks(monkeypatch):
    """The coordinator looks at the credentials every 60 s; a test cannot wait that long."""
    monkeypatch.setattr(bulkup.control.credentials, "CHECK_INTERVAL", 0.1)
