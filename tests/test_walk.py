"""The walk of a tree: every file under every path that reaches it, in S3's key order; loops,
unreadable entries and names that are not UTF-8 passed over with a reason, never a traceback."""

import json
import os
import stat
import subprocess
import sys

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_errors import _without_root_file_access
from trees import build, touch, trees

import bulkup.plan.walk as walk_module
from bulkup.plan.files import SkipKind
from bulkup.plan.filters import Filters, Selection
from bulkup.plan.sources import surely_more_than
from bulkup.plan.walk import walk_tree


def walked(root, follow=True, filters=None):
    skips = []
    selection = Selection(filters) if filters else None
    keys = [f.key for f in walk_tree(str(root), "p/", follow, skips, selection)]
    return keys, skips


def test_a_directory_reached_by_two_paths_is_walked_under_both(tmp_path):
    touch(tmp_path / "zz_real" / "a")
    touch(tmp_path / "zz_real" / "sub" / "b")
    os.symlink("zz_real", tmp_path / "aa_link")  # the link sorts first
    keys, skips = walked(tmp_path)
    assert keys == ["p/aa_link/a", "p/aa_link/sub/b", "p/zz_real/a", "p/zz_real/sub/b"]
    assert skips == []


def test_a_link_to_an_ancestor_is_a_loop_passed_over_with_its_reason(tmp_path):
    touch(tmp_path / "d" / "f")
    os.symlink("..", tmp_path / "d" / "up")
    keys, skips = walked(tmp_path)
    assert keys == ["p/d/f"]
    [skip] = skips
    assert skip.path == str(tmp_path / "d" / "up") and "symbolic link loop" in skip.reason
    assert (skip.directory, skip.kind) == ("d/", SkipKind.ENTRY)


def test_a_link_to_itself_is_a_loop_not_a_traceback(tmp_path):
    touch(tmp_path / "f")
    os.symlink("self", tmp_path / "self")
    keys, skips = walked(tmp_path)
    assert keys == ["p/f"] and [s.reason for s in skips] == ["symbolic link loop (too many levels of links)"]


def test_a_name_that_is_not_utf8_is_passed_over_and_the_rest_walked(tmp_path):
    touch(tmp_path / "ok.txt")
    with open(os.path.join(os.fsencode(tmp_path), b"caf\xe9.txt"), "wb") as f:
        f.write(b"x")
    keys, skips = walked(tmp_path)
    assert keys == ["p/ok.txt"]
    [skip] = skips
    assert skip.path.endswith("caf\\xe9.txt") and "not valid UTF-8" in skip.reason


def test_an_entry_that_vanishes_during_the_walk_is_a_read_error(tmp_path, monkeypatch):
    touch(tmp_path / "a")
    touch(tmp_path / "b")
    real_scandir = os.scandir

    class Listing:  # the directory is read, then a file is deleted before its stat
        def __init__(self, path):
            self.entries = list(real_scandir(path))
            os.unlink(tmp_path / "b")

        def __enter__(self):
            return iter(self.entries)

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(walk_module.os, "scandir", Listing)
    keys, skips = walked(tmp_path)
    assert keys == ["p/a"]
    assert [(s.reason, s.kind) for s in skips] == [("vanished while the tree was read", SkipKind.ERROR)]


def test_special_files_are_passed_over_under_their_directory(tmp_path):
    touch(tmp_path / "d" / "f")
    os.mkfifo(tmp_path / "d" / "pipe")
    keys, skips = walked(tmp_path)
    assert keys == ["p/d/f"]
    assert [(s.reason, s.directory, s.kind) for s in skips] == [("a FIFO", "d/", SkipKind.ENTRY)]


def test_links_not_followed_are_passed_over_as_asked(tmp_path):
    touch(tmp_path / "d" / "f")
    os.symlink("f", tmp_path / "d" / "link")
    keys, skips = walked(tmp_path, follow=False)
    assert keys == ["p/d/f"] and [s.kind for s in skips] == [SkipKind.CHOSEN]


def test_what_the_filters_leave_out_is_never_warned_about(tmp_path):
    touch(tmp_path / "keep.txt")
    os.mkfifo(tmp_path / "pipe.log")
    keys, skips = walked(tmp_path, filters=Filters.of([("exclude", "*.log")]))
    assert keys == ["p/keep.txt"] and skips == []


def test_unreadable_files_and_directories_are_read_errors(tmp_path):
    touch(tmp_path / "open" / "f")
    touch(tmp_path / "closed" / "f")
    touch(tmp_path / "secret.txt")
    os.chmod(tmp_path / "closed", 0)
    os.chmod(tmp_path / "secret.txt", 0)
    script = (
        "import json, sys; from bulkup.plan.walk import walk_tree; s = []; "
        "k = [f.key for f in walk_tree(sys.argv[1], '', True, s)]; "
        "print(json.dumps([k, [(x.path, x.reason, x.directory, x.kind.value) for x in s]]))"
    )
    try:
        proc = subprocess.run(
            [sys.executable, "-c", script, str(tmp_path)],
            capture_output=True,
            text=True,
            preexec_fn=_without_root_file_access,
            check=True,
        )
    finally:
        os.chmod(tmp_path / "closed", 0o755)
    keys, skips = json.loads(proc.stdout)
    assert keys == ["open/f"]
    assert sorted(skips) == [
        [str(tmp_path / "closed"), "permission denied", "", "error"],
        [str(tmp_path / "secret.txt"), "permission denied", "", "error"],
    ]


# -- random trees -------------------------------------------------------------------------------


def reference_walk(directory, rel, ancestors):
    """The AWS CLI's rule, written plainly: every file by every path, a loop only back to an
    ancestor (told by real path here, by device and inode in bulkup)."""
    for name in os.listdir(directory):
        path = os.path.join(directory, name)
        if os.path.isdir(path):
            real = os.path.realpath(path)
            if real not in ancestors:
                yield from reference_walk(path, rel + name + "/", ancestors | {real})
        elif os.path.isfile(path):
            yield rel + name


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=trees())
def test_random_trees_walk_as_the_reference_does_in_s3_order(tmp_path_factory, steps):
    root = str(tmp_path_factory.mktemp("tree"))
    build(root, steps)
    keys, skips = walked(root)
    expected = sorted(("p/" + k for k in reference_walk(root, "", {os.path.realpath(root)})), key=lambda k: k.encode())
    assert keys == expected  # the same keys, in S3's byte order
    assert all(s.kind is not SkipKind.ERROR for s in skips)
    for skip in skips:  # a loop is only a link back to a directory on the path walked to it
        if "leads back to " in skip.reason:
            ancestor = skip.reason.split("leads back to ", 1)[1].rstrip(")")
            assert skip.path.startswith(ancestor.rstrip("/") + "/")
            assert os.path.realpath(skip.path) == os.path.realpath(ancestor)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=trees(), count=st.integers(0, 6))
def test_a_glance_that_sees_more_files_than_a_count_is_never_wrong_about_it(tmp_path_factory, steps, count):
    """The glance that starts worker processes before the walk (more files than one process
    sends) only ever says "more" where the walk finds more, in trees of files, directories
    and links (a file the walk passes over, unreadable or badly named, it may count: it
    chooses how to send, never what)."""
    root = str(tmp_path_factory.mktemp("tree"))
    build(root, steps)
    keys, _ = walked(root)
    top_files = sum(stat.S_ISREG(os.lstat(os.path.join(root, name)).st_mode) for name in os.listdir(root))
    assert surely_more_than([root], count) == (top_files > count)  # what it sees: the top level's files
    if surely_more_than([root], count):
        assert len(keys) > count


def test_a_glance_sees_the_files_of_a_flat_directory_and_the_files_named(tmp_path):
    for i in range(5):
        touch(str(tmp_path / f"f{i}"))
    single = str(tmp_path / "f0")
    assert surely_more_than([str(tmp_path)], 4)
    assert not surely_more_than([str(tmp_path)], 5)
    assert surely_more_than([str(tmp_path), single], 5)
    assert not surely_more_than([str(tmp_path / "missing")], 0)  # the walk names what is wrong
