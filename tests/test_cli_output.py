"""What the command line says, for people and for scripts: the AWS CLI's spellings work,
--quiet is silent unless something fails, and with --progress json every outcome (a fatal
error, a usage error, each entry passed over) is a JSON line on stdout."""

import json
import os

import pytest
from conftest import keys_in, run_bulkup, write_random_file

pytestmark = pytest.mark.slow  # through the real command line and a server

BAD_NAME = b"bad-\xff.txt"  # not UTF-8: passed over with a warning


def tree(root, bad_name: bool = False):
    write_random_file(root / "a.txt", 100, seed=1)
    write_random_file(root / "d" / "b.txt", 200, seed=2)
    if bad_name:
        with open(os.path.join(os.fsencode(root), BAD_NAME), "wb") as f:
            f.write(b"x")
    return root


def put(server, root, destination, *args):
    return run_bulkup("put", str(root), destination, "--endpoint-url", server.url, *args, env=server.env())


def json_lines(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]


def test_the_aws_cli_spellings_recursive_and_dryrun_list_and_send_nothing(s3server, s3, bucket, tmp_path):
    proc = put(s3server, tree(tmp_path / "t"), f"s3://{bucket}/p/", "--recursive", "--dryrun")
    assert proc.returncode == 0, proc.stderr
    assert "(dry run)" in proc.stdout and "a.txt" in proc.stdout and "b.txt" in proc.stdout
    assert keys_in(s3, bucket) == []


def test_quiet_prints_nothing_when_everything_is_stored(s3server, s3, bucket, tmp_path):
    proc = put(s3server, tree(tmp_path / "t"), f"s3://{bucket}/p/", "--quiet")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
    assert keys_in(s3, bucket) == ["p/a.txt", "p/d/b.txt"]


def test_only_show_errors_is_quiet_under_the_aws_cli_name(s3server, s3, bucket, tmp_path):
    proc = put(s3server, tree(tmp_path / "t"), f"s3://{bucket}/p/", "--only-show-errors")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
    assert keys_in(s3, bucket) == ["p/a.txt", "p/d/b.txt"]


def test_quiet_still_names_what_was_not_uploaded(s3server, s3, bucket, tmp_path):
    proc = put(s3server, tree(tmp_path / "t", bad_name=True), f"s3://{bucket}/p/", "--quiet")
    assert proc.returncode == 2 and proc.stdout == ""
    [line] = proc.stderr.splitlines()
    assert line.startswith("bulkup: warning: skipped ") and "bad-" in line
    assert keys_in(s3, bucket) == ["p/a.txt", "p/d/b.txt"]


def test_quiet_sync_says_nothing_when_nothing_changed(s3server, bucket, tmp_path):
    root = tree(tmp_path / "t")
    args = ["--endpoint-url", s3server.url]
    assert run_bulkup("sync", str(root), f"s3://{bucket}/p/", *args, env=s3server.env()).returncode == 0
    proc = run_bulkup("sync", str(root), f"s3://{bucket}/p/", *args, "--quiet", env=s3server.env())
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")


def test_no_progress_shows_the_summary_and_no_progress(s3server, bucket, tmp_path):
    proc = put(s3server, tree(tmp_path / "t"), f"s3://{bucket}/p/", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert "2 objects" in proc.stderr and "\r" not in proc.stderr and "\x1b[" not in proc.stderr


def test_a_fatal_error_is_a_json_event_on_stdout(s3server, tmp_path):
    proc = put(s3server, tree(tmp_path / "t"), "s3://no-such-bucket-here/p/", "--progress", "json")
    assert proc.returncode == 1
    last = json_lines(proc.stdout)[-1]
    assert last["event"] == "error" and last["exit_code"] == 1 and "no-such-bucket-here" in last["message"]
    assert proc.stderr.strip().splitlines()[-1].endswith(last["message"])  # the same line as people read


def test_a_usage_error_is_a_json_event_on_stdout(s3server, bucket, tmp_path):
    proc = put(s3server, tree(tmp_path / "t"), f"s3://{bucket}/p/", "--progress", "json", "--part-size", "nan")
    assert proc.returncode == 2
    [event] = json_lines(proc.stdout)
    assert event["event"] == "error" and event["exit_code"] == 2 and "--part-size" in event["message"]


def test_each_entry_passed_over_is_a_json_event_and_counted_in_the_summary(s3server, s3, bucket, tmp_path):
    proc = put(s3server, tree(tmp_path / "t", bad_name=True), f"s3://{bucket}/p/", "--progress", "json")
    assert proc.returncode == 2
    events = json_lines(proc.stdout)
    [skipped] = [e for e in events if e["event"] == "entry_skipped"]
    assert "bad-" in skipped["path"] and skipped["reason"]
    summary = events[-1]
    assert summary["event"] == "summary" and summary["objects_skipped"] == 1 and summary["objects_uploaded"] == 2
