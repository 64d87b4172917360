"""Part sizing obeys S3's multipart rules."""

import pytest

from bulkup.plan.parts import (
    DEFAULT_PART_SIZE,
    MAX_OBJECT_SIZE,
    MAX_PARTS,
    GiB,
    MiB,
    TiB,
    choose_part_size,
    is_multipart,
    parse_size,
    split_parts,
)


def test_default_part_size_is_used_for_ordinary_files():
    assert choose_part_size(1 * GiB) == DEFAULT_PART_SIZE


def test_part_size_grows_to_fit_ten_thousand_parts():
    size = 1 * TiB
    part = choose_part_size(size)
    assert part % MiB == 0
    assert -(-size // part) <= MAX_PARTS


def test_largest_object_fits_in_ten_thousand_five_gib_parts():
    part = choose_part_size(MAX_OBJECT_SIZE)
    assert part == 5 * GiB
    assert len(list(split_parts(MAX_OBJECT_SIZE, part))) == MAX_PARTS


def test_object_over_the_maximum_is_refused():
    with pytest.raises(ValueError, match="maximum object size"):
        choose_part_size(MAX_OBJECT_SIZE + 1)


@pytest.mark.parametrize("bad", [5 * MiB - 1, 5 * GiB + 1])
def test_part_size_outside_s3_limits_is_refused(bad):
    with pytest.raises(ValueError):
        choose_part_size(100 * MiB, bad)


def test_parts_cover_the_file_exactly_with_only_the_last_short():
    parts = list(split_parts(3 * (5 * MiB) + 1, 5 * MiB))
    assert [p.number for p in parts] == [1, 2, 3, 4]
    assert [p.length for p in parts] == [5 * MiB] * 3 + [1]
    assert all(a.offset + a.length == b.offset for a, b in zip(parts, parts[1:], strict=False))


def test_empty_file_is_one_empty_part():
    assert [(p.offset, p.length) for p in split_parts(0, 5 * MiB)] == [(0, 0)]


def test_files_at_the_threshold_go_as_single_put():
    assert not is_multipart(8 * MiB, 8 * MiB)
    assert is_multipart(8 * MiB + 1, 8 * MiB)


def test_sizes_parse_with_binary_units():
    assert parse_size("64MiB") == 64 * MiB
    assert parse_size("8m") == 8 * MiB
    assert parse_size("1G") == GiB
    assert parse_size("1048576") == MiB
