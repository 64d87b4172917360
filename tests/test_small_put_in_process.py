"""Small files go from bulkup's own process (a handful on its sender threads, hundreds on its
send loop), without worker processes and without boto3, once the store's every answer is
remembered; and that changes nothing a user or a script can see: the objects stored, the
summary, each object's verification, the failures, their one line and exit code. Anything
else goes the usual way (worker processes, boto3).

Which way a run went is seen, not guessed: the modules it imported (``python -X
importtime``: no boto3, no botocore) and its ``worker`` event's pid (the run's own process,
not a worker process). Each test remembers in a cache directory of its own.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys

import pytest
from conftest import assert_same_bytes, keys_in, wait_for, write_random_file

from bulkup.ops.put import HANDFUL
from bulkup.transport.sendloop import SMALL
from devtools.faultproxy import FaultProxy
from devtools.timescale import scaled

pytestmark = pytest.mark.slow  # end to end through processes and servers

CLIENT_LIBRARIES = ("boto3", "botocore", "s3transfer")
USUAL_WAY = {"BULKUP_NEVER_IN_PROCESS": "1"}
MEASURES = ("seconds", "rate", "peak_rate", "held_back_seconds", "workers")  # how it went, not what it did


@dataclasses.dataclass
class Run:
    """What one ``bulkup put`` did, as its user and a script see it."""

    returncode: int
    pid: int
    events: list[dict]
    lines: list[str]  # stderr, without -X importtime's lines
    modules: set[str]

    @property
    def in_process(self) -> bool:
        """Its one worker ran in the run's own process: no worker process was started."""
        return worker_pids(self.events) == {self.pid}

    @property
    def in_worker_processes(self) -> bool:
        """Its workers ran in processes of their own."""
        return bool(pids := worker_pids(self.events)) and self.pid not in pids

    @property
    def loaded_a_client_library(self) -> bool:
        return any(m.split(".")[0] in CLIENT_LIBRARIES for m in self.modules)

    def event(self, name: str) -> dict:
        [found] = [e for e in self.events if e["event"] == name]
        return found


def worker_pids(events: list[dict]) -> set[int]:
    return {e["pid"] for e in events if e["event"] == "worker"}


def put(server, tmp_path, *args: str, env: dict[str, str] | None = None) -> Run:
    """``bulkup put ARGS --progress json`` against ``server``, remembering in ``tmp_path``."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    full_env.update(server.env())
    full_env["BULKUP_CACHE_DIR"] = str(tmp_path / "cache")
    full_env.update(env or {})
    proc = subprocess.Popen(
        [sys.executable, "-X", "importtime", "-m", "bulkup", "put", *args, "--progress", "json"],
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = proc.communicate(timeout=scaled(300))
    imported = [line for line in err.splitlines() if line.startswith("import time:")]
    return Run(
        returncode=proc.returncode,
        pid=proc.pid,
        events=[json.loads(line) for line in out.splitlines()],
        lines=[line for line in err.splitlines() if not line.startswith("import time:")],
        modules={line.rsplit("|", 1)[1].strip() for line in imported},
    )


def outcome(run: Run, prefix: str) -> dict:
    """What a run says it did (keys without ``prefix``), without what measures how it went."""
    summary = {k: v for k, v in run.event("summary").items() if k not in (*MEASURES, "time")}
    paths: dict[str, int] = {}
    for worker in run.event("summary")["workers"].values():
        for path, count in worker["paths"].items():
            paths[path] = paths.get(path, 0) + count
    objects = sorted(
        (e["key"].removeprefix(prefix), e["bytes"], e["parts"], e["etag"], e["checksum"], e["verification"])
        for e in run.events
        if e["event"] == "object_done"
    )
    passed = sorted(
        (e["event"], e["key"].removeprefix(prefix), e["reason"])
        for e in run.events
        if e["event"] in ("object_failed", "object_skipped")
    )
    notices = [e["text"] for e in run.events if e["event"] == "notice"]
    return {
        "exit": run.returncode,
        "summary": summary,
        "paths": paths,
        "objects": objects,
        "passed": passed,
        "notices": notices,
        "lines": [line for line in run.lines if not line.startswith("uploaded ")],  # its time and rate
    }


def small_files(root, count: int = 3) -> str:
    """A directory of ``count`` small files: empty, one byte, some KiB of random bytes..."""
    os.makedirs(root, exist_ok=True)
    (root / "empty.txt").write_bytes(b"")
    (root / "one.txt").write_bytes(b"1")
    for i in range(count - 2):
        write_random_file(root / f"r{i}.bin", 300 * 1024 + i, seed=i + 1)
    return str(root)


def learned(server, tmp_path, bucket: str, *args: str) -> Run:
    """A first put to ``bucket``, which asks the store what later runs remember."""
    first = tmp_path / "first.txt"
    first.write_bytes(b"first")
    run = put(server, tmp_path, str(first), f"s3://{bucket}/first/", "--endpoint-url", server.url, *args)
    assert run.returncode == 0, run.lines
    return run


def test_a_first_put_asks_the_store_with_boto3_and_the_next_small_one_is_sent_in_process(s3server, bucket, tmp_path):
    first = learned(s3server, tmp_path, bucket)
    (tmp_path / "tiny.txt").write_bytes(b"tiny")
    second = put(
        s3server, tmp_path, str(tmp_path / "tiny.txt"), f"s3://{bucket}/t/", "--endpoint-url", s3server.https_url
    )
    assert first.loaded_a_client_library and first.in_worker_processes
    assert second.returncode == 0, second.lines
    assert not second.loaded_a_client_library, sorted(m for m in second.modules if m.startswith(CLIENT_LIBRARIES))
    assert second.in_process


def test_small_files_sent_in_process_land_and_are_reported_as_with_worker_processes(s3server, s3, bucket, tmp_path):
    root = small_files(tmp_path / "src", count=4)
    options = ("--endpoint-url", s3server.https_url, "--content-type", "text/x-bulkup", "--metadata", "team=a")
    learned(s3server, tmp_path, bucket)
    usual = put(s3server, tmp_path, root, f"s3://{bucket}/usual/", *options, env=USUAL_WAY)
    fast = put(s3server, tmp_path, root, f"s3://{bucket}/fast/", *options)
    assert usual.in_worker_processes and fast.in_process
    assert outcome(fast, "fast/") == outcome(usual, "usual/")
    assert fast.event("summary")["objects_uploaded"] == 4
    for name in os.listdir(root):
        assert_same_bytes(s3, bucket, f"fast/{name}", os.path.join(root, name))
        head = s3.head_object(Bucket=bucket, Key=f"fast/{name}", ChecksumMode="ENABLED")
        [done] = [e for e in fast.events if e["event"] == "object_done" and e["key"] == f"fast/{name}"]
        assert head["ChecksumCRC64NVME"] == done["checksum"] and done["verification"] == "server: crc64nvme"
        assert head["ContentType"] == "text/x-bulkup" and head["Metadata"] == {"team": "a"}


def test_no_overwrite_in_process_leaves_a_taken_key_as_worker_processes_do(s3server, s3, bucket, tmp_path):
    root = small_files(tmp_path / "src")
    for prefix in ("usual/", "fast/"):
        s3.put_object(Bucket=bucket, Key=f"{prefix}one.txt", Body=b"theirs")
    options = ("--endpoint-url", s3server.https_url, "--no-overwrite")
    learned(s3server, tmp_path, bucket, "--no-overwrite")
    usual = put(s3server, tmp_path, root, f"s3://{bucket}/usual/", *options, env=USUAL_WAY)
    fast = put(s3server, tmp_path, root, f"s3://{bucket}/fast/", *options)
    assert fast.in_process
    assert outcome(fast, "fast/") == outcome(usual, "usual/")
    assert fast.event("summary")["objects_existing"] == 1
    assert s3.get_object(Bucket=bucket, Key="fast/one.txt")["Body"].read() == b"theirs"
    assert_same_bytes(s3, bucket, "fast/r0.bin", os.path.join(root, "r0.bin"))


@pytest.mark.parametrize("require", [False, True], ids=["verification-said", "require-verified"])
def test_a_store_that_verifies_nothing_is_reported_in_process_as_with_worker_processes(require, moto_server, tmp_path):
    bucket = f"moto-{os.getpid()}-{int(require)}"
    moto_server.client().create_bucket(Bucket=bucket)
    root = small_files(tmp_path / "src")
    options = ("--endpoint-url", moto_server.url, *(["--require-verified"] if require else []))
    learned(moto_server, tmp_path, bucket)
    usual = put(moto_server, tmp_path, root, f"s3://{bucket}/usual/", *options, env=USUAL_WAY)
    fast = put(moto_server, tmp_path, root, f"s3://{bucket}/fast/", *options)
    if require:
        assert fast.returncode == usual.returncode == 1
        assert fast.lines == usual.lines and fast.event("error") == usual.event("error")
        assert not fast.loaded_a_client_library
    else:
        assert fast.in_process
        assert outcome(fast, "fast/") == outcome(usual, "usual/")
        assert set(fast.event("summary")["verification"]) == {"unverified (store ignores checksums)"}


FALLBACKS = {
    "a profile": (
        {"AWS_PROFILE": "p", "AWS_CONFIG_FILE": "{config}"},
        "[profile p]\nregion = us-east-1\n",
        (),
        1,
    ),
    "a config file that says something": ({"AWS_CONFIG_FILE": "{config}"}, "[default]\nregion = us-east-1\n", (), 1),
    "an AWS variable bulkup does not read itself": ({"AWS_MAX_ATTEMPTS": "3"}, "", (), 1),
    "an attribute the store is asked about": ({}, "", ("--storage-class", "STANDARD"), 1),
    "a listing first": ({}, "", ("--if-size-differ",), 1),
}


@pytest.mark.parametrize("case", list(FALLBACKS))
def test_a_put_goes_the_usual_way_with(case, s3server, s3, bucket, tmp_path):
    env, config, options, count = FALLBACKS[case]
    (tmp_path / "config").write_text(config)
    env = {k: v.format(config=tmp_path / "config") for k, v in env.items()}
    if "AWS_PROFILE" in env:  # the profile's credentials: botocore does not take the environment's
        who = s3server.env()
        (tmp_path / "credentials").write_text(
            f"[p]\naws_access_key_id = {who['AWS_ACCESS_KEY_ID']}\n"
            f"aws_secret_access_key = {who['AWS_SECRET_ACCESS_KEY']}\n"
        )
        env["AWS_SHARED_CREDENTIALS_FILE"] = str(tmp_path / "credentials")
    root = tmp_path / "src"
    os.makedirs(root)
    for i in range(count):
        write_random_file(root / f"f{i}.bin", 5 * 1024 * 1024 + 1 if "parts" in case else 1024, seed=i + 1)
    learned(s3server, tmp_path, bucket)
    run = put(
        s3server, tmp_path, str(root), f"s3://{bucket}/p/", "--endpoint-url", s3server.https_url, *options, env=env
    )
    assert run.returncode == 0, run.lines
    assert run.in_worker_processes and run.loaded_a_client_library
    assert len(keys_in(s3, bucket)) == count + 1


@pytest.mark.parametrize(
    "case, count, options",
    [
        ("more than a handful of files, too large for the send loop", HANDFUL + 1, ()),
        ("a file sent in parts", 1, ("--multipart-threshold", "5MiB", "--part-size", "5MiB")),
    ],
)
def test_worker_processes_send_on_the_remembered_answers_what_is_too_much_for_one_process(
    case, count, options, s3server, s3, bucket, tmp_path
):
    root = tmp_path / "src"
    os.makedirs(root)
    for i in range(count):
        write_random_file(root / f"f{i}.bin", 5 * 1024 * 1024 + 1 if "parts" in case else SMALL + 1, seed=i + 1)
    learned(s3server, tmp_path, bucket)
    options = ("--endpoint-url", s3server.https_url, *options)
    usual = put(s3server, tmp_path, str(root), f"s3://{bucket}/usual/", *options, env=USUAL_WAY)
    remembered = put(s3server, tmp_path, str(root), f"s3://{bucket}/r/", *options)
    assert remembered.returncode == 0, remembered.lines
    assert remembered.in_worker_processes
    assert outcome(remembered, "r/") == outcome(usual, "usual/")
    if "parts" not in case:  # a multipart upload's calls are boto3's, made when first needed
        assert not remembered.loaded_a_client_library
    for name in os.listdir(root):
        assert_same_bytes(s3, bucket, f"r/{name}", os.path.join(root, name))


def test_hundreds_of_small_files_go_from_this_process_on_its_send_loop_as_workers_would_send_them(
    s3server, s3, bucket, tmp_path
):
    root = tmp_path / "src"
    os.makedirs(root)
    sizes = [0, 1, SMALL] + [(i * 977) % (8 * 1024) for i in range(HANDFUL * 3)]
    for i, size in enumerate(sizes):
        write_random_file(root / f"f{i:03d}.bin", size, seed=i + 1)
    learned(s3server, tmp_path, bucket)
    options = ("--endpoint-url", s3server.https_url)
    usual = put(s3server, tmp_path, str(root), f"s3://{bucket}/usual/", *options, env=USUAL_WAY)
    fast = put(s3server, tmp_path, str(root), f"s3://{bucket}/fast/", *options)
    assert usual.in_worker_processes and fast.in_process
    assert fast.returncode == 0, fast.lines
    assert outcome(fast, "fast/") == outcome(usual, "usual/")
    for name in os.listdir(root):
        assert_same_bytes(s3, bucket, f"fast/{name}", os.path.join(root, name))


@pytest.mark.parametrize("count", [3, HANDFUL + 1], ids=["in-process", "worker-processes"])
def test_wrong_credentials_end_in_process_with_the_line_and_exit_code_of_the_usual_way(
    count, s3server, bucket, tmp_path
):
    root = small_files(tmp_path / "src", count)
    learned(s3server, tmp_path, bucket)
    wrong = {"AWS_SECRET_ACCESS_KEY": "not-the-secret"}
    options = ("--endpoint-url", s3server.https_url)
    usual = put(s3server, tmp_path, root, f"s3://{bucket}/p/", *options, env={**wrong, **USUAL_WAY})
    fast = put(s3server, tmp_path, root, f"s3://{bucket}/p/", *options, env=wrong)
    assert fast.in_process == (count <= HANDFUL)
    assert fast.returncode == usual.returncode == 1
    assert fast.lines == usual.lines and len(fast.lines) == 2  # the checksums notice, then the error
    assert fast.event("error") == usual.event("error")


def test_a_bucket_gone_since_it_was_remembered_is_named_missing_as_the_usual_way_names_it(
    s3server, s3, bucket, tmp_path
):
    root = small_files(tmp_path / "src")
    learned(s3server, tmp_path, bucket)
    s3.delete_object(Bucket=bucket, Key="first/first.txt")
    s3.delete_bucket(Bucket=bucket)
    options = ("--endpoint-url", s3server.https_url)
    fast = put(s3server, tmp_path, root, f"s3://{bucket}/p/", *options)
    usual = put(s3server, tmp_path, root, f"s3://{bucket}/p/", *options, env=USUAL_WAY)
    assert fast.in_process
    assert fast.returncode == usual.returncode == 1
    assert fast.lines[-1] == usual.lines[-1] == f"bulkup: error: bucket {bucket!r} does not exist"
    assert fast.event("error") == usual.event("error")


def test_ctrl_c_while_a_small_file_is_sent_in_process_ends_the_run_as_the_usual_way_ends_it(s3server, bucket, tmp_path):
    (tmp_path / "tiny.txt").write_bytes(b"tiny")
    env = {**s3server.env(), "BULKUP_CACHE_DIR": str(tmp_path / "cache")}
    ended = {}
    with FaultProxy(s3server.http_url) as proxy:
        argv = [sys.executable, "-m", "bulkup", "put", str(tmp_path / "tiny.txt")]
        options = ("--endpoint-url", proxy.url, "--progress", "json")
        first = subprocess.run([*argv, f"s3://{bucket}/first/", *options], env=env, capture_output=True, text=True)
        assert first.returncode == 0, first.stderr
        proxy.hold(lambda method, target: method == "PUT" and "/held/" in target)
        for held, (way, extra) in enumerate((("usual", USUAL_WAY), ("fast", {})), start=1):
            proc = subprocess.Popen(
                [*argv, f"s3://{bucket}/held/", *options],
                env={**env, **extra},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            wait_for(lambda: proxy.held == held, what="the PutObject to be held")  # noqa: B023 (waited for here)
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=scaled(60))
            pids = worker_pids([json.loads(line) for line in out.splitlines()])
            ended[way] = (proc.returncode, err.strip().splitlines(), pids == {proc.pid})
        proxy.release()
    assert ended["fast"] == (130, ended["usual"][1], True) and ended["usual"][2] is False
    notice, line = ended["fast"][1]
    assert notice.startswith("bulkup: checksums: ")
    assert line.startswith("bulkup: interrupted: open multipart uploads were aborted; 0 of 1 objects stored")
