"""Interrupted migrations lose nothing: Ctrl-C, kill -9 of the coordinator or of a worker.

Parts are counted from the server side by the test suite's loopback proxy, so "re-sent"
means requests the server really received twice.
"""

import os
import signal
import sqlite3
import subprocess
import sys
from urllib.parse import urlsplit

import pytest
from conftest import (
    FUTEX,
    assert_same_bytes,
    blocked_call,
    data_uploads,
    error_line,
    journaled_parts,
    open_uploads,
    run_bulkup,
    wait_for,
    write_random_file,
)
from test_migrate import assert_migrated, journal_states, make_files, manifest_for, migrate

from bulkup.pools.base import Pool
from devtools.faultproxy import FaultProxy, completes_upload, is_put_object, upload_part_of
from devtools.timescale import scaled

pytestmark = pytest.mark.slow  # end to end through processes and servers

MiB = 1024 * 1024


def start_migrate(server, manifest, *args, url=None):
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bulkup",
            "migrate",
            manifest,
            "--endpoint-url",
            url or server.https_url,
            "--workers",
            "2",
            "--connections",
            "2",
            "--part-size",
            "5MiB",
            "--progress",
            "none",
            *args,
        ],
        env={**server.env(), "PATH": os.environ["PATH"]},
        stderr=subprocess.PIPE,
        text=True,
    )


def children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def waiting_for_work(workers: list[int]) -> bool:
    """Every sender thread of these workers waits for its next task (on a lock), and each
    main thread in a call: none has an answer still to read or to report (a sender reports
    before it waits for more work). The kernel's io_uring helpers are not senders."""
    for pid in workers:
        for tid in map(int, os.listdir(f"/proc/{pid}/task")):
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                if f.read().startswith("iou-"):
                    continue
            call = blocked_call(pid, tid)
            if call is None or (tid != pid and FUTEX is not None and call != FUTEX):
                return False
    return True


def worker_pids(coordinator: int) -> list[int]:
    """A running bulkup's worker processes: the children of its zygote."""
    zygotes = [p for p in children(coordinator) if b"bulkup.pools.zygote" in open(f"/proc/{p}/cmdline", "rb").read()]
    return [worker for zygote in zygotes for worker in children(zygote)]


def test_ctrl_c_keeps_uploads_and_says_how_to_resume(s3server, s3, bucket, tmp_path):
    files = make_files(tmp_path, 2, [300 * MiB])
    manifest = manifest_for(tmp_path, bucket, files)
    proc = start_migrate(s3server, manifest)
    wait_for(lambda: data_uploads(s3, bucket), what="the multipart upload")
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=scaled(60))
    assert proc.returncode == 130
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bulkup: interrupted: ")
    assert f"Resume with: bulkup migrate {manifest}" in lines[0]
    assert len(open_uploads(s3, bucket)) == 1  # kept for the resumed run
    proc = migrate(s3server, manifest)
    assert proc.returncode == 0, proc.stderr
    assert_migrated(s3, bucket, files)


def test_killed_worker_is_replaced_and_the_migration_finishes(s3server, s3, bucket, tmp_path):
    files = make_files(tmp_path, 50, [200 * MiB])
    manifest = manifest_for(tmp_path, bucket, files)
    proc = start_migrate(s3server, manifest)
    wait_for(lambda: data_uploads(s3, bucket), what="the multipart upload")
    workers = worker_pids(proc.pid)
    assert len(workers) == 2
    os.kill(workers[0], signal.SIGKILL)
    _, stderr = proc.communicate(timeout=scaled(300))
    assert proc.returncode == 0, stderr
    assert "died (killed by signal 9)" in stderr
    assert_migrated(s3, bucket, files)
    assert journal_states(manifest) == {"done": 51}


# -- through the fault proxy: the server side's own count of what was sent -------------------


def sent_parts(records) -> list[tuple[str, int | None]]:
    """(key path, part number or None for PutObject) of every object-data request."""
    found = []
    for record in records:
        part = upload_part_of(record)
        if part is not None:
            found.append(part)
        elif is_put_object(record):
            found.append((urlsplit(record.target).path, None))
    return found


def accepted_parts(records) -> set[tuple[str, int]]:
    return {upload_part_of(r) for r in records if upload_part_of(r) and r.status == 200}


def kill_and_resume(server, s3, bucket, tmp_path, files, at, hold=None, body_rate=None):
    """Run a migration through a proxy, SIGKILL it when ``at(proxy)``, rerun it through a
    second proxy; return (records of the first run, in flight at the kill, records of the rerun)."""
    manifest = manifest_for(tmp_path, bucket, files)
    with FaultProxy(server.http_url, body_rate=body_rate) as first:
        if hold:
            first.hold(hold)
        proc = start_migrate(server, manifest, url=first.url)
        wait_for(lambda: at(first) or proc.poll() is not None, what="the kill point")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        before = first.snapshot()
        in_flight = [r for r in before if r.finished is None]
        first.release()
    with FaultProxy(server.http_url) as second:
        rerun = migrate(server, manifest, url=second.url)
        assert rerun.returncode == 0, rerun.stderr
        after = second.snapshot()
    assert_migrated(s3, bucket, files)
    assert journal_states(manifest) == {"done": len(files)}
    return before, in_flight, after


def interleaved(tmp_path, small: int, large_sizes) -> list[tuple[str, str]]:
    """Large files spread among the small ones, so parts and small PUTs are in flight together."""
    files = make_files(tmp_path, small, large_sizes)
    smalls, larges = files[:small], files[small:]
    step = max(1, small // len(larges))
    mixed = []
    for i, large in enumerate(larges):
        mixed += [large, *smalls[i * step : (i + 1) * step]]
    return mixed + smalls[len(larges) * step :]


def test_kill_mid_part_resends_only_what_was_in_flight(s3server, s3, bucket, tmp_path):
    files = interleaved(tmp_path, 1500, [30 * MiB, 30 * MiB, 20 * MiB])

    def mid_part(proxy):
        records = proxy.snapshot()
        return len(accepted_parts(records)) >= 8 and any(upload_part_of(r) and r.finished is None for r in records)

    before, in_flight, after = kill_and_resume(s3server, s3, bucket, tmp_path, files, mid_part, body_rate=40 * MiB)
    assert any(upload_part_of(r) for r in in_flight), "the kill did not land mid-part"
    accepted = accepted_parts(before)
    resent = [p for p in sent_parts(after) if p in set(sent_parts(before))]
    assert not [p for p in resent if p in accepted], "a part the server had was sent again"
    queue_depth = 2 * 2 * Pool.queue_depth_per_connection  # workers x connections x tasks each holds
    assert len(resent) <= queue_depth, resent


def test_kill_between_last_part_and_complete_resends_nothing(s3server, s3, bucket, tmp_path):
    files = make_files(tmp_path, 20, [16 * MiB])
    before, _, after = kill_and_resume(
        s3server, s3, bucket, tmp_path, files, lambda proxy: proxy.held >= 1, hold=completes_upload
    )
    assert len(accepted_parts(before)) == 4  # every part was sent before the kill
    assert not [p for p in sent_parts(after) if p[1] is not None], "parts were sent again"


def test_an_upload_another_client_started_on_the_key_is_neither_adopted_nor_aborted(s3server, s3, bucket, tmp_path):
    """Killed while its CreateMultipartUpload was held: the upload that appears on the key
    meanwhile is another tool's; the rerun makes its own and leaves that one alone."""
    files = make_files(tmp_path, 5, [12 * MiB])
    manifest = manifest_for(tmp_path, bucket, files)

    def creating(method, target):
        return method == "POST" and target.endswith("?uploads")

    with FaultProxy(s3server.http_url) as first:
        first.hold(creating)
        proc = start_migrate(s3server, manifest, url=first.url)
        wait_for(lambda: first.held >= 1, what="bulkup's CreateMultipartUpload")
        foreign = s3.create_multipart_upload(
            Bucket=bucket, Key=files[-1][1], ChecksumAlgorithm="CRC64NVME", ChecksumType="FULL_OBJECT"
        )["UploadId"]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        first.release()
    rerun = migrate(s3server, manifest)
    assert rerun.returncode == 0, rerun.stderr
    assert [u["UploadId"] for u in data_uploads(s3, bucket)] == [foreign]  # untouched
    for path, key in files:
        assert_same_bytes(s3, bucket, key, path)
    s3.abort_multipart_upload(Bucket=bucket, Key=files[-1][1], UploadId=foreign)


def test_resets_and_slowdowns_at_random_still_upload_everything(s3server, s3, bucket, tmp_path):
    files = make_files(tmp_path, 400, [23 * MiB, 12 * MiB])
    manifest = manifest_for(tmp_path, bucket, files)
    with FaultProxy(s3server.http_url, seed=20261122, reset_rate=0.05, slowdown_rate=0.05) as proxy:
        proc = migrate(s3server, manifest, url=proxy.url)
        outcomes = {r.outcome for r in proxy.snapshot()}
    assert proc.returncode == 0, proc.stderr
    assert {"reset", "slowdown"} <= outcomes
    assert_migrated(s3, bucket, files)


# -- reconciling with the server: ListParts is the truth --------------------------------------


def killed_with_parts_held(server, bucket, tmp_path, files, hold, journaled: int = 4):
    """Run until ``hold`` holds a request and the journal has the ``journaled`` parts that
    were not held (the server accepted them and the coordinator recorded them), then SIGKILL."""
    manifest = manifest_for(tmp_path, bucket, files)
    with FaultProxy(server.http_url) as proxy:
        proxy.hold(hold)
        proc = start_migrate(server, manifest, url=proxy.url)
        wait_for(
            lambda: proxy.held >= 1 and journaled_parts(manifest + ".journal") >= journaled,
            what="the held request, every other part journaled",
        )
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    return manifest


def journal_parts(manifest) -> dict[int, str]:
    with sqlite3.connect(manifest + ".journal") as db:
        return dict(db.execute("SELECT number, etag FROM parts").fetchall())


def rerun_counting_parts(server, manifest) -> list[tuple[str, int | None]]:
    with FaultProxy(server.http_url) as proxy:
        proc = migrate(server, manifest, url=proxy.url)
        assert proc.returncode == 0, proc.stderr
        return [p for p in sent_parts(proxy.snapshot()) if p[1] is not None]


def test_part_the_journal_missed_but_the_server_has_is_not_sent_again(s3server, s3, bucket, tmp_path):
    files = make_files(tmp_path, 0, [16 * MiB])
    manifest = killed_with_parts_held(s3server, bucket, tmp_path, files, completes_upload)
    assert sorted(journal_parts(manifest)) == [1, 2, 3, 4]
    with sqlite3.connect(manifest + ".journal") as db:
        db.execute("DELETE FROM parts WHERE number = 2")  # as if the kill came first
    assert rerun_counting_parts(s3server, manifest) == []
    assert_migrated(s3, bucket, files)


def test_part_the_journal_has_but_the_server_lacks_is_sent_again(s3server, s3, bucket, tmp_path):
    files = make_files(tmp_path, 0, [16 * MiB])

    def part_three(method, target):
        return method == "PUT" and "partNumber=3&" in target

    manifest = killed_with_parts_held(s3server, bucket, tmp_path, files, part_three, journaled=3)
    with sqlite3.connect(manifest + ".journal") as db:
        object_id = db.execute("SELECT id FROM objects").fetchone()[0]
        db.execute("INSERT INTO parts VALUES (?, 3, '\"not-on-the-server\"', 'AAAAAAAAAAA=')", (object_id,))
    assert [n for _, n in rerun_counting_parts(s3server, manifest)] == [3]
    assert_migrated(s3, bucket, files)


def test_source_changed_since_its_parts_were_sent_starts_over(s3server, s3, bucket, tmp_path):
    files = make_files(tmp_path, 0, [16 * MiB])
    manifest = killed_with_parts_held(s3server, bucket, tmp_path, files, completes_upload)
    old_upload = open_uploads(s3, bucket)[0]["UploadId"]
    write_random_file(files[0][0], 16 * MiB, seed=99)  # same size, new bytes and mtime
    assert sorted(n for _, n in rerun_counting_parts(s3server, manifest)) == [1, 2, 3, 4]
    assert_migrated(s3, bucket, files)  # the new bytes, nothing left open
    assert old_upload not in [u["UploadId"] for u in open_uploads(s3, bucket)]


def test_source_deleted_since_its_parts_were_sent_fails_and_aborts_its_upload(s3server, s3, bucket, tmp_path):
    files = make_files(tmp_path, 0, [16 * MiB])
    manifest = killed_with_parts_held(s3server, bucket, tmp_path, files, completes_upload)
    os.unlink(files[0][0])
    proc = migrate(s3server, manifest)
    assert proc.returncode == 1
    assert "no such file or directory" in proc.stderr
    assert open_uploads(s3, bucket) == [] and journal_states(manifest) == {"failed": 1}


def test_a_second_run_on_the_same_journal_is_refused_naming_the_first(s3server, s3, bucket, tmp_path):
    files = make_files(tmp_path, 3, [24 * MiB])
    manifest = manifest_for(tmp_path, bucket, files)
    with FaultProxy(s3server.http_url, body_rate=4 * MiB) as proxy:
        first = start_migrate(s3server, manifest, url=proxy.url)
        wait_for(lambda: data_uploads(s3, bucket), what="the first run's upload")
        second = run_bulkup("migrate", manifest, "--endpoint-url", proxy.url, "--progress", "none", env=s3server.env())
        status = run_bulkup("status", manifest + ".journal")
        _, stderr = first.communicate(timeout=scaled(120))
    line = error_line(second, 2)
    assert f"pid {first.pid}" in line and "in use" in line
    assert status.returncode == 0 and "migration of" in status.stdout
    assert first.returncode == 0, stderr
    assert_migrated(s3, bucket, files)


def test_parts_a_dying_worker_reported_before_it_died_are_not_sent_again(s3server, s3, bucket, tmp_path):
    """The coordinator is stopped (SIGSTOP) while workers finish parts and report them; both
    workers are then killed with their reports unread. On SIGCONT it reads each worker's last
    reports and then its death: those parts count, and are not sent again."""
    path = write_random_file(tmp_path / "big.bin", 60 * MiB)

    def parts(method, target):
        return method == "PUT" and "partNumber=" in target

    with FaultProxy(s3server.http_url) as proxy:
        proxy.hold(parts)
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bulkup",
                "put",
                path,
                f"s3://{bucket}/big.bin",
                "--endpoint-url",
                proxy.url,
                "--workers",
                "2",
                "--part-size",
                "5MiB",
                "--progress",
                "none",
            ],
            env={**s3server.env(), "PATH": os.environ["PATH"]},
            stderr=subprocess.PIPE,
            text=True,
        )
        wait_for(lambda: proxy.held >= 4, what="every connection to hold a part")
        workers = worker_pids(proc.pid)
        os.kill(proc.pid, signal.SIGSTOP)
        proxy.hold(lambda method, target: False)
        proxy.release()  # the parts end while nobody reads the reports
        wait_for(
            lambda: not proxy.in_flight() and waiting_for_work(workers),
            what="the workers' parts in hand to end and be reported",
        )
        reported = [upload_part_of(r)[1] for r in proxy.records if upload_part_of(r) and r.status == 200]
        for pid in workers:
            os.kill(pid, signal.SIGKILL)
        os.kill(proc.pid, signal.SIGCONT)
        _, stderr = proc.communicate(timeout=scaled(120))
        sent = [upload_part_of(r)[1] for r in proxy.records if upload_part_of(r)]
    assert proc.returncode == 0, stderr
    assert len(reported) >= 4
    assert sorted(sent) == sorted(set(sent))  # no part was sent twice
    assert_same_bytes(s3, bucket, "big.bin", path)
