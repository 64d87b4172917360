"""A stream of unknown length (``bulkup put - s3://b/k``, a FIFO) held part by part for the
workers to send, in bounded memory.

A thread moves the stream into one anonymous in-memory file (memfd) with splice(2), so the
bytes of a pipe never pass through user space here, in parts of ``part_size``; workers send
ranges of that file as they send ranges of any file (by ``/proc/PID/fd/N``, with sendfile or
splice where the engine can). Once the store has a part, its range is punched out of the
file and its memory returned; the thread waits while ``max_parts`` parts are held. A stream
that is not a pipe (a regular file as stdin) is copied with read/write instead.
"""

from __future__ import annotations

import errno
import functools
import os
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass

FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE = 0x01, 0x02
CHUNK = 1 << 20


@dataclass(frozen=True)
class SpooledPart:
    """Part ``number`` of the stream: ``length`` bytes at ``offset`` of the spool file."""

    number: int
    offset: int
    length: int


class Spool:
    """Reads ``source_fd`` into a memfd, one ``SpooledPart`` at a time (``next_part()``)."""

    def __init__(self, source_fd: int, part_size: int, max_parts: int, name: str = "stream") -> None:
        self.source_fd, self.part_size, self.name = source_fd, part_size, name
        self.fd = os.memfd_create(f"bulkup-{name}", os.MFD_CLOEXEC)
        self.path = f"/proc/{os.getpid()}/fd/{self.fd}"
        self.total = 0  # bytes read so far
        self.ended = False  # the stream's end was read
        self.error: str | None = None  # why reading stopped early
        self.drained = False  # every part was handed out (the stream is over)
        self.peak_held = 0  # the most memory the spool file held, as the kernel counts it
        self._splice = True  # False once the source turned out not to be a pipe
        self._ready: queue.Queue[SpooledPart | None] = queue.Queue()
        self._room = threading.Semaphore(max_parts)
        self._thread = threading.Thread(target=self._fill, daemon=True, name="bulkup-spool")

    def start(self) -> None:
        self._thread.start()

    def next_part(self, timeout: float | None = None) -> SpooledPart | None:
        """The next full (or last) part, waiting up to ``timeout`` s; None if none is ready,
        or once the stream is over (``drained``; ``error`` says if it ended badly)."""
        if self.drained:
            return None
        try:
            part = self._ready.get(timeout=timeout)
        except queue.Empty:
            return None
        self.drained = part is None
        return part

    def release(self, part: SpooledPart) -> None:
        """The store has ``part``: give its memory back and make room for another."""
        try:
            punch_hole(self.fd, part.offset, part.length)
        except OSError:
            pass  # memory is then held until the spool is closed
        self._room.release()

    def close(self) -> None:
        try:
            os.close(self.fd)
        except OSError:
            pass

    def _fill(self) -> None:
        number = 0
        try:
            while not self.ended:
                self._room.acquire()
                start = self.total
                while self.total - start < self.part_size:
                    moved = self._move(self.part_size - (self.total - start))
                    if moved == 0:
                        self.ended = True
                        break
                    self.total += moved
                self.peak_held = max(self.peak_held, os.fstat(self.fd).st_blocks * 512)
                if self.total > start or number == 0:
                    number += 1
                    self._ready.put(SpooledPart(number, start, self.total - start))
        except OSError as exc:
            self.error = f"reading the stream failed: {exc.strerror or exc}"
        finally:
            self._ready.put(None)

    def _move(self, wanted: int) -> int:
        """Bytes moved from the stream to the spool's end (0: the stream ended)."""
        count = min(wanted, CHUNK)
        if self._splice:
            try:
                return os.splice(self.source_fd, self.fd, count, offset_dst=self.total)
            except OSError as exc:
                if exc.errno != errno.EINVAL:
                    raise
                self._splice = False
        data = os.read(self.source_fd, count)  # not a pipe: copied through user space
        if data:
            os.pwrite(self.fd, data, self.total)
        return len(data)


def punch_hole(fd: int, offset: int, length: int) -> None:
    """Free a range of a file's memory, its size unchanged (fallocate(2), which Python's
    os.posix_fallocate cannot ask for)."""
    import ctypes  # a stream's: imported with its first part freed

    if _fallocate()(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


@functools.lru_cache(maxsize=1)
def _fallocate() -> Callable[[int, int, int, int], int]:
    import ctypes
    import ctypes.util

    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.fallocate.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long)
    return libc.fallocate
