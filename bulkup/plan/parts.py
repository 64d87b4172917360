"""Cutting files into S3 parts: pure arithmetic within S3's multipart rules."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB
TiB = 1024 * GiB

MIN_PART_SIZE = 5 * MiB  # every part but the last
MAX_PART_SIZE = 5 * GiB
MAX_PARTS = 10_000
MAX_SINGLE_PUT = 5 * GiB
MAX_OBJECT_SIZE = MAX_PARTS * MAX_PART_SIZE  # 48.8 TiB
DEFAULT_PART_SIZE = 8 * MiB  # the AWS CLI's default, so results are comparable


@dataclass(frozen=True)
class PartRange:
    """One byte range of a file, sent as one part."""

    number: int  # 1-based S3 part number
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


MAX_SIZE = 2**63 - 1  # the largest size or rate a value may give (8 EiB)
_SIZE_UNITS = {"": 1, "k": KiB, "m": MiB, "g": GiB, "t": TiB}
_BIT_UNITS = (("kbit", 10**3), ("mbit", 10**6), ("gbit", 10**9), ("bit", 1))
_BITS_PER_SECOND = re.compile(r"(?i:[kmg]?)bps$")  # 100Mbps, 1gbps: bits (a lowercase b)
_NUMBER = re.compile(r"\s*\+?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?\s*", re.ASCII | re.IGNORECASE)
_EXAMPLES = {"size": "try 64MiB", "rate": "try 20MiB/s or 100Mbit"}


def parse_rate(text: str) -> int:
    """Bytes per second from ``20M``, ``20MiB/s``, ``50MB/s``, ``50MBps`` (sizes as parse_size
    reads them) or network units, ``100Mbit``, ``1Gbit/s``, ``100Mbps`` (decimal bits).

    Raises ValueError (one line) for anything else, a negative rate or one above 8 EiB/s."""
    s = text.strip()
    if bits := _BITS_PER_SECOND.search(s):
        s = s[: bits.start()] + s[bits.start() : -3] + "bit"
    s = s.lower().removesuffix("/s").removesuffix("ps")
    for unit, scale in _BIT_UNITS:
        if s.endswith(unit):
            return _whole(_number(s[: -len(unit)], text, "rate") * scale / 8, text, "rate")
    return _bytes(s, text, "rate")


def parse_size(text: str) -> int:
    """Parse a size such as ``64MiB``, ``8M``, ``1g`` or ``1048576`` into bytes.

    Raises ValueError (one line) for anything else (NaN and infinity included), a negative
    size or one above 8 EiB."""
    return _bytes(text, text, "size")


def _bytes(s: str, text: str, what: str) -> int:
    """``s`` (``text`` as the user gave it, for the message) as a whole number of bytes."""
    s = s.strip().lower().removesuffix("ib").removesuffix("b")
    number, unit = (s[:-1], s[-1]) if s and s[-1] in "kmgt" else (s, "")
    return _whole(_number(number, text, what) * _SIZE_UNITS[unit], text, what)


def _number(digits: str, text: str, what: str) -> Decimal:
    """The number before a unit, exactly: a plain decimal, perhaps with an exponent."""
    if digits.lstrip().startswith("-") and _NUMBER.fullmatch(digits.lstrip()[1:]):
        raise ValueError(f"a {what} cannot be negative: {_shown(text)!r} ({_EXAMPLES[what]})")
    if not _NUMBER.fullmatch(digits):
        raise ValueError(f"not a {what}: {_shown(text)!r} ({_EXAMPLES[what]})")
    number = Decimal(digits.strip())
    if number.adjusted() > 30:  # far above any size (and cheap to refuse before arithmetic)
        raise _too_large(text, what)
    return number


def _whole(value: Decimal, text: str, what: str) -> int:
    if value > MAX_SIZE:
        raise _too_large(text, what)
    return int(value)


def _too_large(text: str, what: str) -> ValueError:
    return ValueError(f"too large a {what}: {_shown(text)!r} (at most 8 EiB{'/s' if what == 'rate' else ''})")


def _shown(text: str, limit: int = 40) -> str:
    """``text`` cut short enough for a one-line message."""
    return text if len(text) <= limit else text[:limit] + "..."
