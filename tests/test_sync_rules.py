"""The rules of sync, without a store: what is sent, how mtimes are read, how the walk and the
listing are merged, and what --delete never deletes."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bulkup.plan.files import Skip, SkipKind, SourceFile
from bulkup.plan.filters import NO_FILTERS, Filters
from bulkup.plan.mtime import format_mtime, parse_mtime, same_mtime
from bulkup.plan.sync import (
    FILTERED,
    FOLDER_MARKER,
    LOOK,
    OUTSIDE,
    PASSED_OVER,
    SOURCE_EXISTS,
    WALK_ERRORS,
    DeleteRules,
    ObjectDetail,
    OutOfOrder,
    RemoteObject,
    from_listing,
    merge,
    reason_to_send,
)

NS = 10**9


T = 1_700_000_000_123_456_789  # a file's mtime, to the nanosecond


def local(size=10, mtime_ns=T, key="k"):
    return SourceFile(path="/x/" + key, key=key, size=size, mtime_ns=mtime_ns, ctime_ns=0, inode=1)


def remote(size=10, last_modified=1_700_000_100.0, etag="e", key="k"):
    return RemoteObject(key=key, size=size, last_modified=last_modified, etag=etag)


def no_checksum(file, kind):
    raise AssertionError("no checksum needed")


# -- what the listing decides ------------------------------------------------------------------


@pytest.mark.parametrize(
    "there, comparison, outcome",
    [
        (None, "mtime", "new"),
        (remote(size=11), "mtime", "size"),
        (remote(size=10), "size", None),
        (remote(size=10), "mtime", LOOK),
        (remote(size=10), "checksum", LOOK),
    ],
    ids=["missing", "other-size", "size-only", "same-size-mtime", "same-size-checksum"],
)
def test_the_listing_decides_a_missing_object_another_size_and_size_only(there, comparison, outcome):
    assert from_listing(local(), there, comparison) == outcome


@pytest.mark.parametrize(
    "detail, why",
    [
        (ObjectDetail(mtime_ns=T), None),
        (ObjectDetail(mtime_ns=T + 1), "mtime"),
        (ObjectDetail(mtime_ns=None), None),  # no recorded mtime: the object is newer
        (ObjectDetail(mtime_ns=T, size=11), "size"),  # rewritten since it was listed
        (None, "gone"),  # deleted since it was listed
    ],
    ids=["same-mtime", "mtime-1ns-off", "no-mtime-older-file", "size-changed-since-listing", "vanished"],
)
def test_the_objects_metadata_decides_when_the_sizes_agree(detail, why):
    assert reason_to_send(local(), remote(), detail, "mtime", no_checksum) == why


def test_without_a_recorded_mtime_a_file_newer_than_the_object_is_sent():
    newer = local(mtime_ns=1_700_000_200 * NS)
    assert reason_to_send(newer, remote(), ObjectDetail(mtime_ns=None), "mtime", no_checksum) == "newer"


def test_checksum_comparison_uses_the_full_object_crc_then_a_single_put_md5():
    sums = {"crc64nvme": "CRC=", "md5": "abc"}
    file = local()
    assert reason_to_send(file, remote(), ObjectDetail(None, "CRC="), "checksum", lambda f, k: sums[k]) is None
    assert reason_to_send(file, remote(), ObjectDetail(None, "OTHER="), "checksum", lambda f, k: sums[k]) == "checksum"
    assert reason_to_send(file, remote(etag="abc"), ObjectDetail(None), "checksum", lambda f, k: sums[k]) is None
    assert (
        reason_to_send(file, remote(etag="abc-2"), ObjectDetail(None), "checksum", lambda f, k: sums[k]) == "checksum"
    )


# -- mtime as rclone writes it ----------------------------------------------------------------


@pytest.mark.parametrize(
    "nanos, text",
    [
        (1_746_439_200_500_000_000, "1746439200.5"),
        (1_746_439_200 * NS, "1746439200"),
        (1_796_265_171_982_942_471, "1796265171.982942471"),
        (-86_400_250_000_000, "-86400.25"),  # 1969-12-30 23:59:59.75
        (-250_000_000, "-0.25"),
        (0, "0"),
    ],
    ids=["half", "whole", "nanoseconds", "before-1970", "just-before-1970", "epoch"],
)
def test_mtime_is_written_as_rclone_writes_it(nanos, text):
    assert format_mtime(nanos) == text
    assert parse_mtime(text) == nanos


@pytest.mark.parametrize(
    "text, nanos",
    [
        ("1746439200.500000000", 1_746_439_200_500_000_000),  # bulkup's earlier form, zeros kept
        (" 1746439200.5 ", 1_746_439_200_500_000_000),
        ("1746439200", 1_746_439_200 * NS),
    ],
)
def test_mtime_is_read_as_a_number_not_as_text(text, nanos):
    assert parse_mtime(text) == nanos


@pytest.mark.parametrize("text", ["", "abc", "1.2.3", "1e9", "1746439200.1234567891", "--1", "0x10", "nan"])
def test_an_unreadable_mtime_is_none(text):
    assert parse_mtime(text) is None


@given(st.integers(min_value=-(10**18), max_value=10**19))
def test_any_mtime_survives_its_round_trip(nanos):
    assert parse_mtime(format_mtime(nanos)) == nanos


def test_mtimes_compare_at_the_precision_both_sides_keep():
    assert same_mtime(5 * NS + 1, 5 * NS + 1)
    assert not same_mtime(5 * NS + 1, 5 * NS + 2)
    assert same_mtime(5 * NS, 5 * NS + 123_456_789)  # a file system of whole seconds
    assert not same_mtime(5 * NS + 123, 5 * NS)  # the file has more than the record
    assert not same_mtime(5 * NS, 6 * NS)


# -- merging the walk with the listing ----------------------------------------------------------


keys = st.lists(st.text(alphabet="ab/-.é", min_size=1, max_size=6), unique=True).map(sorted)


@given(keys, keys)
def test_the_merge_pairs_every_key_once_as_a_dictionary_join_would(here, there):
    pairs = list(merge([local(key=k) for k in here], [remote(key=k) for k in there]))
    seen = [(f.key if f else None, o.key if o else None) for f, o in pairs]
    expected = sorted(
        {(k if k in here else None, k if k in there else None) for k in {*here, *there}}, key=lambda p: p[0] or p[1]
    )
    assert seen == expected


def test_a_listing_out_of_order_is_refused_before_anything_is_decided():
    with pytest.raises(OutOfOrder, match="listing"):
        list(merge([local(key="a")], [remote(key="b"), remote(key="a")]))


# -- what --delete keeps ------------------------------------------------------------------------


def rules(skips=(), filters=NO_FILTERS, existing=()):
    return DeleteRules("p/", filters, list(skips), lambda rel: rel in existing)


def test_delete_keeps_folder_markers_and_what_the_filters_leave_out():
    keep = rules(filters=Filters.of([("exclude", "*.log")]))
    assert keep.keep_reason("p/photos/") == FOLDER_MARKER
    assert keep.keep_reason("p/") == FOLDER_MARKER
    assert keep.keep_reason("p/a.log") == FILTERED
    assert keep.keep_reason("p/a.txt") is None
    assert keep.keep_reason("other/a.txt") == OUTSIDE


def test_after_any_read_error_delete_deletes_nothing():
    keep = rules([Skip("/t/d/secret", "permission denied", "d/", SkipKind.ERROR)])
    assert keep.keep_reason("p/elsewhere/a") == WALK_ERRORS


def test_delete_keeps_everything_under_a_directory_with_an_entry_passed_over():
    keep = rules([Skip("/t/a/b/fifo", "a FIFO", "a/b/", SkipKind.ENTRY)])
    assert keep.keep_reason("p/a/b/gone") == PASSED_OVER
    assert keep.keep_reason("p/a/b/c/d/gone") == PASSED_OVER
    assert keep.keep_reason("p/a/gone") is None
    assert keep.keep_reason("p/a/bb/gone") is None


def test_a_skip_at_the_root_keeps_everything():
    assert rules([Skip("/t/\\xe9", "not UTF-8", "", SkipKind.ENTRY)]).keep_reason("p/x/y") == PASSED_OVER


def test_a_link_not_followed_keeps_only_its_own_key():
    keep = rules([Skip("/t/a/link", "symbolic link (not followed)", "a/", SkipKind.CHOSEN)], existing={"a/link"})
    assert keep.keep_reason("p/a/link") == SOURCE_EXISTS
    assert keep.keep_reason("p/a/gone") is None


def test_a_key_whose_path_exists_on_disk_is_kept_but_an_impossible_path_is_not_looked_for():
    keep = rules(existing={"d/unreadable", "a/b"})
    assert keep.keep_reason("p/d/unreadable") == SOURCE_EXISTS
    assert keep.keep_reason("p/a//b") is None  # no walk makes this key: a stray object
    assert keep.keep_reason("p/a/./b") is None
