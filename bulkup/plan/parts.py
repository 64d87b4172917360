"""Cutting files into S3 parts: pure arithmetic within S3's multipart rules."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB
TiB = 1024 * GiB

MIN_PART_SIZE = 5 * MiB          # every part but the last
MAX_PART_SIZE = 5 * GiB
MAX_PARTS = 10_000
MAX_SINGLE_PUT = 5 * GiB
MAX_OBJECT_SIZE = MAX_PARTS * MAX_PART_SIZE   # 48.8 TiB
DEFAULT_PART_SIZE = 8 * MiB      # the AWS CLI's default, so results are comparable


@dataclass(frozen=True)
class PartRange:
    """One byte range of a file, sent as one part."""

    number: int     # 1-based S3 part number
    offset: int
    length: int


def choose_part_size(size: int, requested: int | None = None) -> int:
    """The part size for an object of ``size`` bytes.

    ``requested`` (or the default) is honoured when the result stays within S3's rules;
    otherwise it grows, in whole MiB, just enough to fit in 10,000 parts.
    """
    if size > MAX_OBJECT_SIZE:
        raise ValueError(f"{size} bytes is over S3's maximum object size of {MAX_OBJECT_SIZE}")
    part = requested or DEFAULT_PART_SIZE
    if part < MIN_PART_SIZE:
        raise ValueError(f"part size {part} is below S3's minimum of {MIN_PART_SIZE} (5 MiB)")
    if part > MAX_PART_SIZE:
        raise ValueError(f"part size {part} is above S3's maximum of {MAX_PART_SIZE} (5 GiB)")
    needed = -(-size // MAX_PARTS)
    if part < needed:
        part = -(-needed // MiB) * MiB
    return min(part, MAX_PART_SIZE)


def is_multipart(size: int, threshold: int) -> bool:
    """Whether an object of ``size`` bytes goes as a multipart upload."""
    return size > threshold or size > MAX_SINGLE_PUT


def split_parts(size: int, part_size: int) -> Iterator[PartRange]:
    """The parts of a ``size``-byte object: all ``part_size`` long but the last."""
    count = max(1, -(-size // part_size))
    if count > MAX_PARTS:
        raise ValueError(f"{count} parts is over S3's limit of {MAX_PARTS}")
    for index in range(count):
        offset = index * part_size
        yield PartRange(index + 1, offset, min(part_size, size - offset))


def parse_rate(text: str) -> int:
    """Bytes per second from ``20M``, ``20MiB/s``, ``50MB/s`` (sizes as parse_size reads them)
    or network units, ``100Mbit`` / ``1Gbit/s`` (decimal bits)."""
    s = text.strip().lower().removesuffix("/s").removesuffix("ps")
    for unit, scale in (("kbit", 1e3), ("mbit", 1e6), ("gbit", 1e9), ("bit", 1)):
        if s.endswith(unit):
            try:
                return int(float(s[:-len(unit)]) * scale / 8)
            except ValueError:
                break
    else:
        try:
            return parse_size(s)
        except ValueError:
            pass
    raise ValueError(f"not a rate: {text!r} (try 20MiB/s or 100Mbit)")


def parse_size(text: str) -> int:
    """Parse a size such as ``64MiB``, ``8M``, ``1g`` or ``1048576`` into bytes."""
    units = {"": 1, "k": KiB, "m": MiB, "g": GiB, "t": TiB}
    s = text.strip().lower().removesuffix("ib").removesuffix("b")
    number, unit = (s[:-1], s[-1]) if s and s[-1] in "kmgt" else (s, "")
    try:
        value = float(number)
    except ValueError:
        raise ValueError(f"not a size: {text!r} (try 64MiB)") from None
    return int(value * units[unit])
