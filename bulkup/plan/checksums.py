"""Checksums S3 verifies on upload, computed from mapped file pages without copying.

CRCs come from awscrt (hardware-accelerated, ~50 GB/s, the GIL released, with the combine
functions that turn per-part CRCs into the whole object's FULL_OBJECT checksum without
re-reading data), imported on first need: the command line's help and a dry run never
load it. Importing it costs 0.035-0.05 s (its crypto library gathers CPU-jitter entropy as
it starts), as long as sending a few thousand small files takes. So a process that has
not loaded it computes CRC64NVME with crc64fast (loads in ~1 ms; ~8 GB/s with the copy
its bytes-only API needs, the GIL held) for its first ``LIGHT_CRC_BYTES``, below the
~450 MiB where awscrt's import pays for itself, and the other CRCs in Python for their
first ``PYTHON_CRC_BYTES`` (table-driven, ~10 ms at most). The values are the same.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import importlib
import sys
import threading
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, cast

PYTHON_CRC_BYTES = 64 * 1024  # bytes a process checksums in Python before it imports awscrt
LIGHT_CRC_BYTES = 256 << 20  # bytes a process checksums with crc64fast before it imports awscrt
REFLECTED = {"crc64nvme": (0x9A6C9329AC4BC9B5, 64), "crc32c": (0x82F63B78, 32)}  # polynomial, width


@dataclass(frozen=True)
class ChecksumAlgorithm:
    """A checksum S3 can verify: how to compute it and where it goes in requests."""

    name: str  # CLI name: crc64nvme, crc32c, crc32, md5, none
    header: str | None  # request header carrying the value
    s3_name: str | None  # ChecksumAlgorithm value for CreateMultipartUpload
    width: int  # bytes in the big-endian encoding of a CRC (0: digest)
    crc_function: str | None = None  # its name in awscrt.checksums (the combine is combine_<name>)

    @property
    def full_object(self) -> bool:
        """Whether per-part values combine into a FULL_OBJECT checksum at Complete."""
        return self.crc_function is not None

    @property
    def flexible(self) -> bool:
        """An ``x-amz-checksum-*`` checksum (the store echoes what it verified)."""
        return self.s3_name is not None

    @property
    def complete_key(self) -> str | None:
        """The boto3 parameter name for this checksum in CompleteMultipartUpload."""
        return f"Checksum{self.s3_name}" if self.s3_name else None

    def compute(self, data: Iterable[bytes | memoryview] | bytes | memoryview) -> int | bytes | None:
        """The raw checksum (an int for CRCs, a digest for MD5) of ``data``: one buffer, or
        its pieces in order."""
        pieces = [data] if isinstance(data, (bytes, bytearray, memoryview)) else data
        if self.crc_function is not None:
            return _crc_of_pieces(self.crc_function, pieces)
        if self.name == "md5":
            digest = hashlib.md5(usedforsecurity=False)
            for piece in pieces:
                digest.update(piece)
            return digest.digest()
        return None

    def text(self, data: Iterable[bytes | memoryview] | bytes | memoryview) -> str | None:
        """The checksum of ``data`` (one buffer, or its pieces in order) as S3 writes it
        (base64); None for ``none``."""
        raw = self.compute(data)
        return None if raw is None else self.encode(raw)

    def combine(self, first: int, second: int, second_length: int) -> int:
        """The CRC of two adjacent ranges from the CRCs of each."""
        assert self.crc_function is not None
        if second_length == 0:
            return first
        combined: int = _crt(f"combine_{self.crc_function}")(first, second, second_length)
        return combined

    def encode(self, value: int | bytes) -> str:
        """The base64 text S3 expects in headers and API parameters."""
        raw = value if isinstance(value, bytes) else value.to_bytes(self.width, "big")
        return base64.b64encode(raw).decode("ascii")

    def decode(self, text: str) -> int:
        """The CRC value of a base64 checksum text."""
        return int.from_bytes(base64.b64decode(text), "big")

    def combine_parts(self, parts: list[tuple[str, int]]) -> str:
        """The whole object's checksum from its parts' (base64 value, length), in order."""
        total = self.decode(parts[0][0])
        for text, length in parts[1:]:
            total = self.combine(total, self.decode(text), length)
        return self.encode(total)


ALGORITHMS: dict[str, ChecksumAlgorithm] = {
    a.name: a
    for a in (
        ChecksumAlgorithm("crc64nvme", "x-amz-checksum-crc64nvme", "CRC64NVME", 8, "crc64nvme"),
        ChecksumAlgorithm("crc32c", "x-amz-checksum-crc32c", "CRC32C", 4, "crc32c"),
        ChecksumAlgorithm("crc32", "x-amz-checksum-crc32", "CRC32", 4, "crc32"),
        ChecksumAlgorithm("md5", "Content-MD5", None, 0),
        ChecksumAlgorithm("none", None, None, 0),
    )
}
DEFAULT_ALGORITHM = "crc64nvme"
AUTO = "auto"  # asked for: the best checksum the store verifies


def get_algorithm(name: str) -> ChecksumAlgorithm:
    """Look up an algorithm by its CLI name."""
    try:
        return ALGORITHMS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown checksum {name!r} (choose from {', '.join(ALGORITHMS)})") from None


def load() -> None:
    """Import the light CRC64NVME now (~1 ms): in a process that forks workers, once for all."""
    _light_crc64nvme()


_python_left = PYTHON_CRC_BYTES
_light_spent = 0  # bytes checksummed with crc64fast so far
_budget_lock = threading.Lock()  # the budgets, spent by a worker's sender threads at once


def _crc_of_pieces(name: str, pieces: Iterable[bytes | bytearray | memoryview]) -> int:
    """The CRC ``name`` of ``pieces`` in order. CRC64NVME: all of them with crc64fast if the
    call starts before awscrt is loaded and within the budget, else with awscrt. The others
    (or without crc64fast): piece by piece, in Python while its budget lasts, then awscrt."""
    light = _light_crc64nvme() if name == "crc64nvme" and "awscrt.checksums" not in sys.modules else None
    if light is not None and _light_spent < LIGHT_CRC_BYTES:
        return _light_crc(light, pieces)
    crc = _crt(name) if light is not None else functools.partial(_crc, name)
    value = 0
    for piece in pieces:
        value = crc(piece, value)
    return value


def _light_crc(hasher_type: Callable[[], Any], pieces: Iterable[bytes | bytearray | memoryview]) -> int:
    """CRC64NVME of ``pieces`` by crc64fast (which reads only bytes: views are copied)."""
    global _light_spent
    hasher = hasher_type()
    length = 0
    for piece in pieces:
        hasher.update(piece if isinstance(piece, bytes) else bytes(piece))
        length += len(piece)
    with _budget_lock:
        _light_spent += length
    return int.from_bytes(hasher.digest(), "big")


@functools.cache
def _light_crc64nvme() -> Callable[[], Any] | None:
    """crc64fast's hasher type, or None where it is not installed (then Python, then awscrt)."""
    try:
        from crc64fast import crc64fast
    except ImportError:
        return None
    return cast("Callable[[], Any]", crc64fast)


def _crc(name: str, piece: bytes | bytearray | memoryview, value: int) -> int:
    """The CRC ``name`` of ``piece`` continued from ``value`` (a finished CRC): in Python
    while awscrt is not loaded and the process's budget lasts, else awscrt's."""
    global _python_left
    if "awscrt.checksums" not in sys.modules:
        with _budget_lock:
            fits = len(piece) <= _python_left
            if fits:
                _python_left -= len(piece)
        if fits:
            return python_crc(name, piece, value)
    return _crt(name)(piece, value)


def python_crc(name: str, data: bytes | bytearray | memoryview, value: int = 0) -> int:
    """The CRC ``name`` (crc64nvme, crc32c, crc32) of ``data`` continued from ``value``, as
    awscrt computes it, without it: table-driven (~150 ns a byte), zlib's for crc32."""
    if name == "crc32":
        return zlib.crc32(data, value)
    table = _table(name)
    mask = (1 << REFLECTED[name][1]) - 1
    crc = value ^ mask
    for byte in memoryview(data).cast("B"):
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ mask


@functools.cache
def _table(name: str) -> tuple[int, ...]:
    """The reflected CRC's table: each byte's remainder."""
    polynomial = REFLECTED[name][0]
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ polynomial if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


@functools.cache
def _crt(name: str) -> Callable[..., int]:
    """awscrt's checksum function ``name`` (imported on first use)."""
    function: Callable[..., int] = getattr(importlib.import_module("awscrt.checksums"), name)
    return function
