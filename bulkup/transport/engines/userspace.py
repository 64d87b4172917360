"""User-space TLS: works everywhere TLS works.

The body is read (pread) into one reused buffer and OpenSSL encrypts from there: one copy
from the page cache, which also keeps a file that shrinks under the upload an error of
that part (a memory map of it would kill the worker with SIGBUS).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from bulkup.kernel.availability import Availability
from bulkup.transport.engines.base import Connection, SendEngine

COALESCE = 64 * 1024  # a head and first chunk up to this size leave in one TLS write

if TYPE_CHECKING:
    from bulkup.transport.filebody import FileBody


class UserspaceEngine(SendEngine):
    name = "userspace"
    label = "user-space TLS"

    @classmethod
    def available(cls, tls: bool) -> Availability:
        if not tls:
            return Availability(True, "always available: writes the file's bytes from a buffer")
        return Availability(True, "always available: OpenSSL encrypts the file's bytes in this process")

    def send(self, conn: Connection, head: bytes, body: FileBody, progress: Callable[[int], None]) -> None:
        assert conn.stream is not None
        conn.arm_timeout()
        held = head
        for chunk in body.chunks():
            if held and len(held) + len(chunk) <= COALESCE:
                conn.stream.sendall(held + chunk)  # a small object: one record set, one syscall
            else:
                if held:
                    conn.stream.sendall(held)
                conn.arm_timeout()
                conn.stream.sendall(chunk)
            held = b""
            progress(len(chunk))
        if held:
            conn.stream.sendall(held)
