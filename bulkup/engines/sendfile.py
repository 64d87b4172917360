"""sendfile(2): the kernel moves file pages to the socket; bytes never enter user space.

Usable on plain TCP sockets (http endpoints) and, later, on sockets whose TLS record
layer the kernel runs (kTLS). Not on user-space TLS sockets.
"""
from __future__ import annotations

import os
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
            sent = os.sendfile(out, body.fd, offset, min(STEP, end - offset))
            if sent == 0:
                raise ConnectionResetError("sendfile sent nothing: peer closed or file shrank")
            offset += sent
            progress(sent)
