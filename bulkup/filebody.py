"""A byte range of an open file: what a request body is, without its bytes in memory."""
from __future__ import annotations

import mmap
import os

from .errors import PartFailed


class FileBody:
    """``length`` bytes of ``path`` at ``offset``, open for the duration of one part.

    ``view()`` maps the range read-only (page-cache pages, no copy) for checksums and for
    user-space TLS; zero-copy engines use ``fd`` directly and never map it.
    """

    def __init__(self, path: str, offset: int, length: int,
                 expect_size: int | None = None, expect_mtime_ns: int | None = None) -> None:
        self.path, self.offset, self.length = path, offset, length
        try:
            self.fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except OSError as exc:
            raise PartFailed(f"{path}: cannot open: {exc.strerror}", retryable=False) from None
        st = os.fstat(self.fd)
        if (expect_size is not None and st.st_size != expect_size) or \
                (expect_mtime_ns is not None and st.st_mtime_ns != expect_mtime_ns) or \
                st.st_size < offset + length:
            os.close(self.fd)
            raise PartFailed(f"{path}: file changed while being uploaded", retryable=False)
        self._map: mmap.mmap | None = None
        self._view: memoryview | None = None

    def __len__(self) -> int:
        return self.length

    def view(self) -> memoryview:
        """The range as a read-only memoryview over a private mapping."""
        if self._view is None:
            if self.length == 0:
                self._view = memoryview(b"")
            else:
                start = self.offset - self.offset % mmap.ALLOCATIONGRANULARITY
                self._map = mmap.mmap(self.fd, self.offset + self.length - start,
                                      prot=mmap.PROT_READ, offset=start)
                self._map.madvise(mmap.MADV_SEQUENTIAL)
                self._view = memoryview(self._map)[self.offset - start:]
        return self._view

    def close(self) -> None:
        if self._view is not None:
            self._view.release()
            self._view = None
        if self._map is not None:
            self._map.close()
            self._map = None
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> "FileBody":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
