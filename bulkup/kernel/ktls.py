"""Kernel TLS (kTLS): asking OpenSSL to hand record encryption to the kernel, and checking it did.

After the handshake in OpenSSL, with SSL_OP_ENABLE_KTLS set, OpenSSL pushes the session keys
into the kernel (setsockopt TCP_ULP "tls" + TLS_TX/TLS_RX). From then on, bytes written to
the raw TCP socket (sendfile, splice) are encrypted by the kernel, and OpenSSL's own writes
and reads on the same socket keep working. The kernel's word is the only evidence trusted:
``getsockopt(SOL_TLS, TLS_TX)`` and ``/proc/net/tls_stat``.
"""

from __future__ import annotations

import errno
import os
import socket
import ssl
import sys

from bulkup.kernel.availability import Availability

OP_ENABLE_KTLS = 1 << 3  # SSL_OP_ENABLE_KTLS (OpenSSL 3); Python 3.11 has no name for it
SOL_TLS = 282
TLS_TX, TLS_RX = 1, 2
TCP_ULP = 31
TLS_STAT = "/proc/net/tls_stat"


def enable(context: ssl.SSLContext) -> None:
    """Ask OpenSSL to offload record encryption to the kernel after handshakes."""
    context.options |= OP_ENABLE_KTLS


def offloaded(sock: socket.socket, direction: int = TLS_TX) -> bool:
    """Whether the kernel runs this socket's TLS records in ``direction`` (TLS_TX or TLS_RX)."""
    try:
        sock.getsockopt(SOL_TLS, direction, 4)
        return True
    except OSError:
        return False


def why_not_offloaded(sock: socket.socket) -> str:
    """A plain-words reason for a socket whose TX is not offloaded."""
    ulp = tls_ulp_available()
    if not ulp:
        return ulp.reason
    if ssl.OPENSSL_VERSION_INFO < (3, 0):
        return f"{ssl.OPENSSL_VERSION} cannot offload TLS to the kernel (needs OpenSSL 3 built with ktls)"
    return (
        "OpenSSL did not offload this connection (cipher or TLS version the kernel does not "
        "support, or OpenSSL built without ktls)"
    )


def tls_ulp_available() -> Availability:
    """Whether this kernel can attach the TLS upper-layer protocol to a TCP socket."""
    if not sys.platform.startswith("linux"):
        return Availability(False, f"kernel TLS as bulkup uses it is a Linux feature (this is {sys.platform})")
    listener = socket.socket()
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        with socket.create_connection(listener.getsockname(), timeout=2) as client:
            client.setsockopt(socket.IPPROTO_TCP, TCP_ULP, b"tls")
        return Availability(True, "kernel TLS (tls module) is available")
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return Availability(
                False,
                "the kernel has no TLS module loaded (try: sudo modprobe tls; "
                "kernels built without CONFIG_TLS cannot do kTLS)",
            )
        return Availability(False, f"kernel TLS probe failed: {exc.strerror or exc}")
    finally:
        listener.close()


def tls_stat() -> dict[str, int]:
    """The kernel's kTLS counters (TlsCurrTxSw, TlsTxSw, TlsTxDevice, ...); {} without kTLS."""
    try:
        with open(TLS_STAT) as f:
            return {name: int(value) for name, value in (line.split() for line in f if line.strip())}
    except (OSError, ValueError):
        return {}


def openssl_supports_ktls() -> Availability:
    """OpenSSL 3 is needed; whether it was built with ktls shows only in a real handshake."""
    if ssl.OPENSSL_VERSION_INFO >= (3, 0):
        return Availability(True, f"{ssl.OPENSSL_VERSION} (kTLS-capable; engaged per connection)")
    return Availability(False, f"{ssl.OPENSSL_VERSION} is older than OpenSSL 3: no kTLS")


def kernel_release() -> str:
    return os.uname().release
