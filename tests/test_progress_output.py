"""What scripts and logs get: JSON lines that add up, and no terminal codes in pipes."""

import json
import os

import pytest
from conftest import expected_data_path, keys_in, run_bulkup, write_random_file
from test_security import assert_no_secrets

from devtools.faultproxy import FaultProxy

MiB = 1024 * 1024


def tree(tmp_path, small=30, large=(12 * MiB,)):
    for i in range(small):
        write_random_file(tmp_path / "t" / f"s{i}", 500 + i)
    for i, size in enumerate(large):
        write_random_file(tmp_path / "t" / f"l{i}", size)
    return str(tmp_path / "t")


def put(server, src, bucket, *args, url=None):
    return run_bulkup(
        "put",
        src,
        f"s3://{bucket}/",
        "--endpoint-url",
        url or server.https_url,
        "--workers",
        "2",
        "--part-size",
        "5MiB",
        *args,
        env=server.env(),
    )


def events(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]


def server_totals(s3, bucket) -> tuple[int, int]:
    objects = [
        o for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket) for o in page.get("Contents", [])
    ]
    return len(objects), sum(o["Size"] for o in objects)


def test_json_lines_parse_and_add_up_to_what_the_server_holds(s3server, s3, bucket, tmp_path):
    proc = put(s3server, tree(tmp_path), bucket, "--progress", "json")
    assert proc.returncode == 0, proc.stderr
    stream = events(proc.stdout)
    assert stream[0]["event"] == "start" and stream[-1]["event"] == "summary"
    objects, size = server_totals(s3, bucket)
    done = [e for e in stream if e["event"] == "object_done"]
    assert len(done) == objects == stream[-1]["objects_uploaded"] == stream[0]["objects"] == 31
    assert sum(e["bytes"] for e in done) == size == stream[-1]["bytes_uploaded"]
    assert {e["key"] for e in done} == set(keys_in(s3, bucket))
    assert [e for e in stream if e["event"] == "object_started"][0]["parts"] == 3
    assert {e["worker"] for e in stream if e["event"] == "worker"} == {0, 1}


def test_json_lines_hold_no_secrets(s3server, bucket, tmp_path):
    proc = put(s3server, tree(tmp_path, small=3), bucket, "--progress", "json", "--debug")
    assert proc.returncode == 0, proc.stderr
    assert events(proc.stdout)[-1]["objects_uploaded"] == 4
    assert_no_secrets(proc.stdout + proc.stderr, s3server.admin.secret_key)


@pytest.mark.slow
def test_retries_are_reported_as_events_and_totals_still_match(s3server, s3, bucket, tmp_path):
    with FaultProxy(
        s3server.http_url, seed=7, reset_rate=0.15, applies_to=lambda method, target: method == "PUT"
    ) as proxy:
        proc = put(s3server, tree(tmp_path, small=40), bucket, "--progress", "json", url=proxy.url)
    assert proc.returncode == 0, proc.stderr
    stream = events(proc.stdout)
    retried = [e for e in stream if e["event"] == "part_retried"]
    assert retried and all(e["reason"] and e["attempt"] >= 1 for e in retried)
    assert stream[-1]["retries"] >= len(retried)
    assert server_totals(s3, bucket) == (stream[-1]["objects_uploaded"], stream[-1]["bytes_uploaded"])


def test_piped_output_has_no_terminal_control_sequences(s3server, bucket, tmp_path):
    proc = put(s3server, tree(tmp_path), bucket)  # auto: not a terminal
    assert proc.returncode == 0, proc.stderr
    for text in (proc.stdout, proc.stderr):
        assert "\x1b" not in text and "\r" not in text
    assert "uploaded 31 objects" in proc.stderr


def test_progress_none_prints_the_summary_only(s3server, bucket, tmp_path):
    proc = put(s3server, tree(tmp_path, small=3), bucket, "--progress", "none")
    assert proc.returncode == 0 and proc.stdout == ""
    assert proc.stderr.startswith("uploaded 4 objects")


def test_tqdm_bars_end_with_the_summary(s3server, s3, bucket, tmp_path):
    proc = put(s3server, tree(tmp_path, small=5), bucket, "--progress", "tqdm")
    assert proc.returncode == 0, proc.stderr
    assert "bulkup" in proc.stderr and "uploaded 6 objects" in proc.stderr
    assert server_totals(s3, bucket)[0] == 6


def test_migration_json_summary_carries_the_migration_totals(s3server, s3, bucket, tmp_path):
    source = write_random_file(tmp_path / "a.bin", 1000)
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps({"source": source, "destination": f"s3://{bucket}/a"}) + "\n")
    proc = run_bulkup(
        "migrate", str(manifest), "--endpoint-url", s3server.https_url, "--progress", "json", env=s3server.env()
    )
    assert proc.returncode == 0, proc.stderr
    summary = events(proc.stdout)[-1]
    assert summary["event"] == "summary" and summary["migration"].startswith("1 of 1 objects done")
    assert os.path.exists(str(manifest) + ".journal")


def test_put_report_holds_the_summary(s3server, s3, bucket, tmp_path):
    proc = put(s3server, tree(tmp_path, small=4), bucket, "--report", str(tmp_path / "r.json"))
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert (report["objects_uploaded"], report["bytes_uploaded"]) == server_totals(s3, bucket)
    assert report["peak_rate"] >= report["rate"] > 0 and report["retries"] == 0
    assert {w["engine"] for w in report["workers"].values()} == {expected_data_path("https")}
    assert all(w["cpu_seconds"] > 0 for w in report["workers"].values())
