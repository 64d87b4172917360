"""A byte range of a file: what a request body is, without its bytes in memory."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

from bulkup.plan.checksums import ChecksumAlgorithm, get_algorithm
from bulkup.plan.files import FileIdentity
from bulkup.plan.pickling import PickledAsValues
from bulkup.transport.failures import PartFailed

CHANGED = "file changed while being uploaded"
READ_SIZE = 1 << 20  # bytes per read: the buffer stays in cache, syscalls stay few


@dataclass(frozen=True, kw_only=True)
class FileRange(PickledAsValues):
    """``length`` bytes of the file at ``path`` from ``offset``, and what the file was when
    planned (``None``: not known, not checked)."""

    path: str
    offset: int
    length: int
    expect: FileIdentity | None = None
    growing: bool = False  # written past this range meanwhile (a stream's spool): only its size is checked


class FileBody:
    """A ``FileRange``, open for the duration of one part.

    ``chunks()`` reads it for checksums and user-space TLS (one copy from the page cache,
    ~0.05 CPU-s/GiB); zero-copy engines hand ``fd`` to the kernel and never read it. A range
    that fits in one buffer is read once: the checksum pass and the send then see the very
    same bytes (``forget()`` makes the next pass read the file again).
    """

    def __init__(self, source: FileRange) -> None:
        self.path, self.offset, self.length = source.path, source.offset, source.length
        self.growing = source.growing
        try:
            self.fd = os.open(source.path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except OSError as exc:
            raise PartFailed(f"{source.path}: cannot open: {exc.strerror}", retryable=False) from None
        self._buffer: memoryview | None = None
        self._held: memoryview | None = None  # the whole range, when one buffer holds it
        self.identity = FileIdentity.of(os.fstat(self.fd))  # as opened
        what = source.expect.differs_from(self.identity) if source.expect else None
        if what is None and self.identity.size < source.offset + source.length:
            what = "its size"
        if what is not None:
            self.close()
            raise PartFailed(f"{source.path}: {CHANGED} ({what} changed)", retryable=False, code="changed")

    def check_unchanged(self) -> None:
        """Raise PartFailed if the file is not what it was when opened (size, times, or a
        different file now at its path): the bytes sent may not be the file's."""
        try:
            now = FileIdentity.of(os.fstat(self.fd))
            at_path = os.stat(self.path).st_ino
        except OSError as exc:
            raise PartFailed(
                f"{self.path}: {CHANGED} ({(exc.strerror or str(exc)).lower()})", retryable=False, code="changed"
            ) from None
        if self.growing:
            what = "its size" if now.size < self.offset + self.length else None
        else:
            what = self.identity.differs_from(now)
        if what is None and at_path != self.identity.inode:
            what = "the file it names (replaced)"
        if what is not None:
            raise PartFailed(f"{self.path}: {CHANGED} ({what} changed)", retryable=False, code="changed")

    def __len__(self) -> int:
        return self.length

    def chunks(self) -> Iterator[memoryview]:
        """The range in pieces of at most READ_SIZE bytes, read (pread) into one reused
        buffer: each piece is valid until the next is asked for. A file that shrinks under
        it fails the part as changed (a memory map of it would kill the process: SIGBUS)."""
        if self._held is not None:
            yield self._held
            return
        if self._buffer is None:
            self._buffer = memoryview(bytearray(max(1, min(READ_SIZE, self.length))))
        position, end = self.offset, self.offset + self.length
        while position < end:
            piece = self._buffer[: min(len(self._buffer), end - position)]
            got = os.preadv(self.fd, [piece], position)
            if got <= 0:
                raise PartFailed(
                    f"{self.path}: {CHANGED} (it shrank while being read)", retryable=False, code="changed"
                )
            if got == self.length:
                self._held = piece
            yield piece[:got]
            position += got

    def forget(self) -> None:
        """Read the file again on the next pass (after the store found the body corrupted)."""
        self._held = None

    def close(self) -> None:
        self._buffer = self._held = None
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> FileBody:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def checksum_range(path: str, offset: int, length: int, algorithm: ChecksumAlgorithm) -> str | None:
    """The base64 checksum of a byte range of a file."""
    with FileBody(FileRange(path=path, offset=offset, length=length)) as body:
        return algorithm.text(body.chunks())


def checksum_file(path: str, name: str = "crc64nvme") -> str | None:
    """The base64 checksum of a whole file."""
    return checksum_range(path, 0, os.path.getsize(path), get_algorithm(name))
