"""--exclude / --include: which files of a tree are uploaded, as the AWS CLI selects them."""

import json
import os

import pytest
from conftest import assert_same_bytes, error_line, keys_in, run_bulkup, write_random_file

import bulkup
from bulkup.plan.filters import Filters

JPEGS_ONLY = [("exclude", "*"), ("include", "*.jpg")]


def admitted(rules, paths):
    filters = Filters.of(rules)
    return [p for p in paths if filters.admits(p)]


def test_without_rules_every_file_is_uploaded():
    assert admitted([], ["a", ".b", "c/d"]) == ["a", ".b", "c/d"]


def test_the_last_matching_rule_decides():
    paths = ["a.jpg", "a.png", "deep/er/b.jpg", ".hidden.jpg", "dir/.c.jpg", "jpg"]
    assert admitted(JPEGS_ONLY, paths) == ["a.jpg", "deep/er/b.jpg", ".hidden.jpg", "dir/.c.jpg"]
    assert admitted([("include", "*.jpg"), ("exclude", "*")], paths) == []


def test_star_matches_across_directories_and_leading_dots():
    assert admitted([("exclude", "*.log")], ["a.log", "x/y/z.log", ".log", "a.log.gz"]) == ["a.log.gz"]


def test_a_directory_pattern_matches_below_it_only_from_the_top():
    paths = ["cache/a", "cache/b/c", "src/cache/d", "cachet"]
    assert admitted([("exclude", "cache/*")], paths) == ["src/cache/d", "cachet"]


def test_matching_is_case_sensitive_and_takes_character_classes():
    assert admitted(
        [("exclude", "*.JPG"), ("exclude", "img[0-9].png")], ["a.jpg", "b.JPG", "img1.png", "imgA.png"]
    ) == ["a.jpg", "imgA.png"]


@pytest.fixture
def photo_tree(tmp_path):
    root = tmp_path / "photos"
    files = {}
    for rel in [
        "a.jpg",
        "b.png",
        "2024/c.jpg",
        "2024/d.txt",
        "2024/raw/e.jpg",
        ".f.jpg",
        ".cache/g.jpg",
        "notes.jpg.txt",
    ]:
        files[rel] = write_random_file(root / rel, 1000 + len(rel), seed=len(files) + 1)
    return root, files


def test_put_uploads_exactly_the_files_the_filters_select(aws_env, s3, bucket, photo_tree, tmp_path):
    root, files = photo_tree
    report = tmp_path / "report.json"
    proc = run_bulkup(
        "put",
        str(root),
        f"s3://{bucket}/p/",
        "--exclude",
        "*",
        "--include",
        "*.jpg",
        "--exclude",
        "2024/raw/*",
        "--endpoint-url",
        aws_env.https_url,
        "--progress",
        "none",
        "--report",
        str(report),
        env=aws_env.env(),
    )
    assert proc.returncode == 0, proc.stderr
    expected = ["a.jpg", "2024/c.jpg", ".f.jpg", ".cache/g.jpg"]
    assert keys_in(s3, bucket) == sorted(f"p/{k}" for k in expected)
    for rel in expected:
        assert_same_bytes(s3, bucket, f"p/{rel}", files[rel])
    assert json.loads(report.read_text())["objects_excluded"] == len(files) - len(expected)


def test_manifest_selects_the_same_files_as_put(aws_env, s3, bucket, photo_tree):
    root, _ = photo_tree
    rules = ["--exclude", "*", "--include", "*.jpg", "--exclude", ".*"]
    proc = run_bulkup("manifest", str(root), f"s3://{bucket}/p/", *rules)
    assert proc.returncode == 0, proc.stderr
    listed = sorted(json.loads(line)["destination"] for line in proc.stdout.splitlines())
    assert "5 files excluded by filters" in proc.stderr
    put = run_bulkup(
        "put",
        str(root),
        f"s3://{bucket}/p/",
        *rules,
        "--endpoint-url",
        aws_env.https_url,
        "--progress",
        "none",
        env=aws_env.env(),
    )
    assert put.returncode == 0, put.stderr
    assert listed == [f"s3://{bucket}/{k}" for k in keys_in(s3, bucket)]
    assert len(listed) == 3  # a.jpg, 2024/c.jpg, 2024/raw/e.jpg: the dotted ones are out


def test_a_file_given_directly_is_matched_by_its_name(aws_env, s3, bucket, photo_tree):
    root, _ = photo_tree
    result = bulkup.upload(
        [str(root / "a.jpg"), str(root / "b.png")],
        f"s3://{bucket}/",
        endpoint_url=aws_env.https_url,
        filters=[("exclude", "*.png")],
    )
    assert result.ok and result.excluded == 1
    assert keys_in(s3, bucket) == ["a.jpg"]


def test_an_excluded_special_file_is_not_warned_about(aws_env, s3, bucket, tmp_path):
    root = tmp_path / "tree"
    write_random_file(root / "keep.bin", 10)
    os.mkfifo(root / "pipe")
    proc = run_bulkup(
        "put",
        str(root),
        f"s3://{bucket}/",
        "--exclude",
        "pipe",
        "--endpoint-url",
        aws_env.https_url,
        "--progress",
        "none",
        env=aws_env.env(),
    )
    assert proc.returncode == 0, proc.stderr
    assert "warning" not in proc.stderr
    assert keys_in(s3, bucket) == ["keep.bin"]


def test_an_empty_pattern_is_refused_before_anything_is_sent(aws_env, s3, bucket, photo_tree):
    root, _ = photo_tree
    proc = run_bulkup(
        "put", str(root), f"s3://{bucket}/", "--exclude", "", "--endpoint-url", aws_env.https_url, env=aws_env.env()
    )
    assert "--exclude needs a pattern" in error_line(proc, exit_code=2)
    assert keys_in(s3, bucket) == []


def test_dry_run_lists_only_the_selected_files_and_counts_the_rest(aws_env, bucket, photo_tree):
    root, _ = photo_tree
    proc = run_bulkup(
        "put",
        str(root),
        f"s3://{bucket}/",
        "--exclude",
        "*.jpg",
        "--dry-run",
        "--endpoint-url",
        aws_env.https_url,
        env=aws_env.env(),
    )
    assert proc.returncode == 0, proc.stderr
    listed = [line for line in proc.stdout.splitlines() if " -> " in line]
    assert len(listed) == 3 and all(".jpg " not in line for line in listed)
    assert "5 files excluded by filters" in proc.stdout
