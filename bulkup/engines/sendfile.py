"""sendfile(2): the kernel moves file pages to the socket; bytes never enter user space.

Usable on plain TCP sockets (http endpoints) and, later, on sockets whose TLS record
layer the kernel runs (kTLS). Not on user-space TLS sockets.
"""
from __future__ import annotations

import os
import select
from typing import TYPE_CHECKING, Callable

from .base import Availability, SendEngine

if TYPE_CHECKING:
    from ..connection import Connection
    from ..filebody import FileBody

STEP = 8 * 1024 * 1024


class SendfileEngine(SendEngine):
    name = "sendfile"
    label = "sendfile"

    @classmethod
    def available(cls, tls: bool) -> Availability:
        if not hasattr(os, "sendfile"):
            return Availability(False, "os.sendfile is not available on this platform")
        if tls:
            return Availability(False, "TLS in user space: sendfile needs kernel TLS (kTLS) on the socket")
        return Availability(True, "plain TCP endpoint: the kernel sends file pages directly")

    def send(self, conn: "Connection", body: "FileBody", progress: Callable[[int], None]) -> None:
        assert conn.sock is not None
        out = conn.sock.fileno()
        offset, end = body.offset, body.offset + body.length
        while offset < end:
            try:
                sent = os.sendfile(out, body.fd, offset, min(STEP, end - offset))
            except BlockingIOError:          # the socket has a timeout, so it is non-blocking
                wait_writable(out, conn.timeout)
                continue
            if sent == 0:
                raise ConnectionResetError("sendfile sent nothing: peer closed or file shrank")
            offset += sent
            progress(sent)


def wait_writable(fd: int, timeout: float) -> None:
    """Block until ``fd`` accepts more bytes; TimeoutError after ``timeout`` seconds."""
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    if not poller.poll(timeout * 1000):
        raise TimeoutError(f"socket not writable for {timeout:.0f} s")
