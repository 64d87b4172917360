"""User-space TLS from an mmap of the file: works everywhere TLS works.

Bytes go from mapped page-cache pages straight into OpenSSL's encryption (one copy,
which encryption in user space cannot avoid); no part is ever read into a bytes object.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from bulkup.kernel.availability import Availability
from bulkup.transport.engines.base import SendEngine

if TYPE_CHECKING:
    from bulkup.transport.connection import HttpConnection
    from bulkup.transport.filebody import FileBody

WRITE_SIZE = 1024 * 1024


class UserspaceEngine(SendEngine):
    name = "userspace"
    label = "user-space TLS (mmap)"

    @classmethod
    def available(cls, tls: bool) -> Availability:
        if not tls:
            return Availability(True, "always available: writes from a memory map of the file")
        return Availability(True, "always available: OpenSSL encrypts from a memory map of the file")

    def send(self, conn: "HttpConnection", body: "FileBody", progress: Callable[[int], None]) -> None:
        assert conn.stream is not None
        view = body.view()
        for start in range(0, len(view), WRITE_SIZE):
            chunk = view[start:start + WRITE_SIZE]
            conn.stream.sendall(chunk)
            progress(len(chunk))
