"""The benchmark's data sets, generated on the fly, and what the server must hold afterwards.

Each file's expected ETag follows S3's rule for the part size every tool is given: the MD5
of the file for a single PUT, and for a multipart upload the MD5 of the concatenated part
MD5s followed by ``-N``. Comparing every listed object's size and ETag with these checks
every tool's bytes on the real server without downloading them.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from dataclasses import dataclass

MiB, GiB = 1 << 20, 1 << 30


@dataclass(frozen=True)
class DataSet:
    name: str  # e.g. "4 GiB file"
    slug: str  # folder name
    count: int
    size: int  # bytes per file

    @property
    def total(self) -> int:
        return self.count * self.size

    def scaled(self, count: int | None = None, size: int | None = None) -> DataSet:
        count, size = count or self.count, size or self.size
        return DataSet(describe(count, size), f"{self.slug.split('-')[0]}-{count}x{size}", count, size)


def describe(count: int, size: int) -> str:
    unit = (
        f"{size // GiB} GiB"
        if size % GiB == 0
        else (f"{size // MiB} MiB" if size % MiB == 0 else f"{size // 1024} KiB")
    )
    return f"{unit} file" if count == 1 else f"{count:,} x {unit}"


FULL = (
    DataSet(describe(1, 4 * GiB), "big", 1, 4 * GiB),
    DataSet(describe(10_000, MiB), "1mib", 10_000, MiB),
    DataSet(describe(50_000, 16 * 1024), "16kib", 50_000, 16 * 1024),
)


def materialize(root: str, data: DataSet) -> str:
    """Create (once) the files of ``data`` under ``root``; returns the folder."""
    folder = os.path.join(root, data.slug)
    done = folder + ".complete"  # beside the folder: every tool uploads all it holds
    if os.path.exists(done):
        return folder
    os.makedirs(folder, exist_ok=True)
    rng = random.Random(data.slug)
    for i in range(data.count):
        with open(os.path.join(folder, f"f{i:06d}.bin"), "wb") as f:
            left = data.size
            while left:
                n = min(left, 16 * MiB)
                f.write(rng.randbytes(n))
                left -= n
    open(done, "w").close()
    return folder


def many(root: str, name: str, count: int, size: int) -> str:
    """The folder of ``count`` files of ``size`` random bytes under ``root`` (made once)."""
    return materialize(root, DataSet(describe(count, size), f"{name}-{count}x{size}", count, size))


def warm(folder: str) -> None:
    """Read every file once so each tool starts with the data in the page cache (the first
    tool of a group would otherwise pay for reading the disk for all the others)."""
    for path in files(folder):
        with open(path, "rb", buffering=0) as f:
            while f.readinto(_BUFFER):
                pass


_BUFFER = bytearray(16 * MiB)


def files(folder: str) -> list[str]:
    return sorted(os.path.join(folder, n) for n in os.listdir(folder))


def expected_etags(folder: str, part_size: int, threshold: int) -> dict[str, tuple[int, str]]:
    """File name -> (size, ETag S3 gives it when uploaded with ``part_size`` parts)."""
    cache = f"{folder}.etags-{part_size}-{threshold}.json"
    if os.path.exists(cache):
        with open(cache) as f:
            return {k: tuple(v) for k, v in json.load(f).items()}
    found = {os.path.basename(p): (os.path.getsize(p), etag_of(p, part_size, threshold)) for p in files(folder)}
    with open(cache, "w") as f:
        json.dump(found, f)
    return found


def etag_of(path: str, part_size: int, threshold: int) -> str:
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        if size <= threshold:
            return hashlib.md5(f.read(), usedforsecurity=False).hexdigest()
        digests = []
        while chunk := f.read(part_size):
            digests.append(hashlib.md5(chunk, usedforsecurity=False).digest())
    return f"{hashlib.md5(b''.join(digests), usedforsecurity=False).hexdigest()}-{len(digests)}"


def expected_puts(folder: str, part_size: int) -> int:
    """PUTs (PutObject or UploadPart) that uploading ``folder`` with ``part_size`` parts takes."""
    return sum(1 if os.path.getsize(p) <= part_size else -(-os.path.getsize(p) // part_size) for p in files(folder))
