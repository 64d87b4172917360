"""Per-part CRCs combine into the whole object's CRC without re-reading data."""

import os

import pytest

from bulkup.plan.checksums import ALGORITHMS


@pytest.mark.parametrize("name", ["crc64nvme", "crc32c", "crc32"])
def test_combined_part_checksums_equal_the_whole_file_checksum(name):
    algo = ALGORITHMS[name]
    data = os.urandom(300_001)
    cuts = [0, 100_000, 200_000, 300_001]
    parts = [(algo.text(data[a:b]), b - a) for a, b in zip(cuts, cuts[1:], strict=False)]
    assert algo.combine_parts(parts) == algo.text(data)


def test_md5_is_the_content_md5_header_value():
    import base64
    import hashlib

    algo = ALGORITHMS["md5"]
    assert algo.header == "Content-MD5"
    assert algo.text(b"abc") == base64.b64encode(hashlib.md5(b"abc").digest()).decode()
