"""sendfile(2): the kernel moves file pages to the socket; bytes never enter user space.

Usable on plain TCP sockets (http endpoints) and on sockets whose TLS record layer the
kernel runs (kTLS), where the kernel also encrypts. Not on user-space TLS sockets.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from bulkup.kernel import ktls
from bulkup.kernel.availability import Availability
from bulkup.transport.engines.base import Connection, SendEngine, send_head_held

if TYPE_CHECKING:
    from bulkup.transport.filebody import FileBody

STEP = 8 * 1024 * 1024


class SendfileEngine(SendEngine):
    name = "sendfile"
    label = "sendfile"
    needs_kernel_tls = True
    ranked_because = "ahead of uring: as cheap in CPU and faster in every run of bulkup's benchmark (make bench)"

    @classmethod
    def available(cls, tls: bool) -> Availability:
        if not hasattr(os, "sendfile"):
            return Availability(False, "os.sendfile is not available on this platform")
        if tls:
            ulp = ktls.tls_ulp_available()
            if not ulp:
                return Availability(False, f"needs kernel TLS for https: {ulp.reason}")
            return Availability(True, "kernel TLS available: the kernel encrypts file pages as it sends them")
        return Availability(True, "plain TCP endpoint: the kernel sends file pages directly")

    def send(self, conn: Connection, head: bytes, body: FileBody, progress: Callable[[int], None]) -> None:
        offset, end = body.offset, body.offset + body.length
        with conn.kernel_send() as out:
            send_head_held(conn, head, body_follows=end > offset)
            while offset < end:
                conn.remaining()  # past the exchange's deadline: TimeoutError
                try:
                    sent = os.sendfile(out, body.fd, offset, min(STEP, end - offset))
                except BlockingIOError:  # the send timeout ran out with nothing sent
                    raise TimeoutError(f"socket took no data for {conn.timeout:.0f} s") from None
                if sent == 0:
                    raise ConnectionResetError("sendfile sent nothing: peer closed or file shrank")
                offset += sent
                progress(sent)
