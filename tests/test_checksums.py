"""Per-part CRCs combine into the whole object's CRC without re-reading data."""

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


def _in_a_fresh_process(code: str) -> list[str]:
    """The lines ``code`` prints, run by a new interpreter (nothing imported yet)."""
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")


@pytest.mark.parametrize(
    "name, prelude",
    [("crc32c", ""), ("crc64nvme", "sys.modules['crc64fast'] = None;")],  # crc64nvme: as if crc64fast were missing
)
def test_a_process_checksums_a_few_small_files_in_python_without_awscrt_then_loads_it(name, prelude):
    out = _in_a_fresh_process(
        f"import sys; {prelude} from bulkup.plan.checksums import ALGORITHMS, PYTHON_CRC_BYTES;"
        f"algo = ALGORITHMS['{name}'];"
        "small = [algo.text(bytes([i]) * 1000) for i in range(3)];"
        "print('awscrt' in sys.modules);"
        "big = algo.text(b'x' * PYTHON_CRC_BYTES);"
        "print('awscrt' in sys.modules); print(' '.join(small + [big]))"
    )
    algo = ALGORITHMS[name]
    assert out[:2] == ["False", "True"]
    assert out[2].split() == [algo.text(bytes([i]) * 1000) for i in range(3)] + [algo.text(b"x" * PYTHON_CRC_BYTES)]


def test_a_process_checksums_crc64nvme_with_crc64fast_until_its_budget_is_spent_then_loads_awscrt():
    out = _in_a_fresh_process(
        "import sys; from bulkup.plan import checksums; checksums.LIGHT_CRC_BYTES = 1 << 20;"
        "algo = checksums.ALGORITHMS['crc64nvme'];"
        "values = [algo.text(bytes([i]) * 1000) for i in range(3)];"  # well within the budget
        "values.append(algo.text([b'y' * 1000] * 2000));"  # starts within it, ends past it
        "print('crc64fast' in sys.modules, 'awscrt' in sys.modules);"
        "values.append(algo.text(b'z' * 1000));"  # past it: awscrt's
        "print('awscrt' in sys.modules); print(' '.join(values))"
    )
    algo = ALGORITHMS["crc64nvme"]
    assert out[:2] == ["True False", "True"]
    expected = [algo.text(bytes([i]) * 1000) for i in range(3)] + [algo.text(b"y" * 2_000_000), algo.text(b"z" * 1000)]
    assert out[2].split() == expected


@settings(max_examples=60, deadline=None)
@given(data=st.binary(max_size=70_000), cuts=st.lists(st.integers(min_value=0, max_value=70_000), max_size=4))
def test_crc64nvme_by_crc64fast_is_awscrts_whatever_the_pieces(data, cuts):
    import awscrt.checksums

    from bulkup.plan.checksums import _light_crc, _light_crc64nvme

    hasher = _light_crc64nvme()
    assert hasher is not None, "crc64fast is a dependency"
    bounds = sorted({0, len(data), *(min(c, len(data)) for c in cuts)})
    view = memoryview(bytearray(data))
    pieces = [view[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]
    assert _light_crc(hasher, pieces) == awscrt.checksums.crc64nvme(data)
