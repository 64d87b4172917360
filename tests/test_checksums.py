"""Per-part CRCs combine into the whole object's CRC without re-reading data."""

import os

import pytest

from bulkup.plan.checksums import ALGORITHMS, PYTHON_CRC_BYTES


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


@pytest.mark.parametrize("name", ["crc64nvme", "crc32c", "crc32"])
def test_a_crc_computed_in_python_is_awscrts(name):
    import awscrt.checksums

    from bulkup.plan.checksums import python_crc

    crt = getattr(awscrt.checksums, name)
    assert python_crc(name, b"123456789") == crt(b"123456789")  # the catalogue's check value
    for size in (0, 1, 7, 8, 9, 255, 4096 + 3):
        data = os.urandom(size)
        assert python_crc(name, data) == crt(data)
        cut = size // 3
        assert python_crc(name, data[cut:], python_crc(name, data[:cut])) == crt(data)  # continued
        assert crt(data[cut:], python_crc(name, data[:cut])) == crt(data)  # continued by awscrt
        assert python_crc(name, memoryview(data)) == crt(data)


def test_a_process_checksums_a_few_small_files_without_awscrt_then_loads_it():
    import subprocess
    import sys

    code = (
        "import sys; from bulkup.plan.checksums import ALGORITHMS, PYTHON_CRC_BYTES;"
        "algo = ALGORITHMS['crc64nvme'];"
        "small = [algo.text(bytes([i]) * 1000) for i in range(3)];"
        "print('awscrt' in sys.modules);"
        "big = algo.text(b'x' * PYTHON_CRC_BYTES);"
        "print('awscrt' in sys.modules); print(' '.join(small + [big]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    algo = ALGORITHMS["crc64nvme"]
    assert out[:2] == ["False", "True"]
    assert out[2].split() == [algo.text(bytes([i]) * 1000) for i in range(3)] + [algo.text(b"x" * PYTHON_CRC_BYTES)]
