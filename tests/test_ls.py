"""``bulkup ls``: a user sees what an upload stored, in the AWS CLI's layout, without another
tool."""

import re

import pytest
from conftest import error_line, run_bulkup, write_random_file

pytestmark = pytest.mark.slow  # through the real command line and a server

LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) +(\d+) (.+)$")


def stored_tree(server, bucket, tmp_path):
    root = tmp_path / "t"
    write_random_file(root / "a.txt", 100, seed=1)
    write_random_file(root / "d" / "b.txt", 200, seed=2)
    write_random_file(root / "d" / "e" / "c.txt", 300, seed=3)
    put = run_bulkup("put", str(root), f"s3://{bucket}/p/", "--endpoint-url", server.url, env=server.env())
    assert put.returncode == 0, put.stderr


def ls(server, *args):
    return run_bulkup("ls", *args, "--endpoint-url", server.url, env=server.env())


def objects(stdout: str) -> dict[str, int]:
    """name -> size, from the object lines of a listing."""
    return {m.group(3): int(m.group(2)) for line in stdout.splitlines() if (m := LINE.match(line))}


def folders(stdout: str) -> list[str]:
    return [line.split(" PRE ", 1)[1] for line in stdout.splitlines() if " PRE " in line]


def test_ls_shows_one_level_folders_first_as_aws_cli_does(s3server, bucket, tmp_path):
    stored_tree(s3server, bucket, tmp_path)
    proc = ls(s3server, f"s3://{bucket}/p/")
    assert proc.returncode == 0, proc.stderr
    assert folders(proc.stdout) == ["d/"] and objects(proc.stdout) == {"a.txt": 100}


def test_ls_recursive_shows_every_key_with_its_size_and_summarize_totals_them(s3server, bucket, tmp_path):
    stored_tree(s3server, bucket, tmp_path)
    proc = ls(s3server, f"s3://{bucket}/p/", "--recursive", "--summarize")
    assert proc.returncode == 0, proc.stderr
    assert objects(proc.stdout) == {"p/a.txt": 100, "p/d/b.txt": 200, "p/d/e/c.txt": 300}
    assert proc.stdout.rstrip().splitlines()[-2:] == ["Total Objects: 3", "   Total Size: 600"]


def test_ls_of_a_prefix_without_a_slash_shows_the_folder_it_names(s3server, bucket, tmp_path):
    stored_tree(s3server, bucket, tmp_path)
    proc = ls(s3server, f"s3://{bucket}/p/d")
    assert proc.returncode == 0, proc.stderr
    assert folders(proc.stdout) == ["d/"] and objects(proc.stdout) == {}


def test_ls_with_no_address_lists_the_buckets(s3server, bucket):
    proc = ls(s3server)
    assert proc.returncode == 0, proc.stderr
    assert bucket in [line.split()[-1] for line in proc.stdout.splitlines()]


def test_ls_of_a_missing_bucket_is_one_line(s3server):
    proc = ls(s3server, "s3://no-such-bucket-here/")
    assert "no-such-bucket-here" in error_line(proc, 1) and proc.stdout == ""
