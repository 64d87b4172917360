"""sendfile(2): the kernel moves file pages to the socket; bytes never enter user space.

Usable on plain TCP sockets (http endpoints) and on sockets whose TLS record layer the
kernel runs (kTLS), where the kernel also encrypts. Not on user-space TLS sockets.
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
    needs_kernel_tls = True

    @classmethod
    def available(cls, tls: bool) -> Availability:
        if not hasattr(os, "sendfile"):
            return Availability(False, "os.sendfile is not available on this platform")
        if tls:
            from .. import ktls
            ulp = ktls.tls_ulp_available()
            if not ulp:
                return Availability(False, f"needs kernel TLS for https: {ulp.reason}")
            return Availability(True, "kernel TLS available: the kernel encrypts file pages as it sends them")
        return Availability(True, "plain TCP endpoint: the kernel sends file pages directly")

    def send(self, conn: "Connection", body: "FileBody", progress: Callable[[int], None]) -> None:
        out = conn.fileno()
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
