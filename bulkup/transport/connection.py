"""A persistent HTTP/1.1 connection to one endpoint: TCP, optional TLS.

``http1`` does the framing (heads to bytes, bytes to responses); this class only moves
bytes. A request's head and body go to a send engine together, which puts them on the wire
its own way (one TLS write for a small body, the head held back with MSG_MORE in front of
sendfile or splice).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import socket
import ssl
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bulkup.kernel import ktls
from bulkup.transport.http1 import ProtocolError, Response, ResponseReader, request_head
from bulkup.transport.proxy import Proxy, open_tunnel
from bulkup.transport.request import BucketEndpoint, RequestHead

if TYPE_CHECKING:
    from bulkup.transport.engines.base import SendEngine
    from bulkup.transport.filebody import FileBody

_RECV_SIZE = 64 * 1024
DEFAULT_MIN_RATE = 256 * 1024  # bytes/s: an exchange's deadline grows with its body at this
MAX_RESPONSE_BODY = 1 << 20  # S3 answers a write with headers and at most a small XML
_serials = itertools.count(1)


@dataclass(frozen=True)
class TlsSettings:
    """How TLS peers are checked. Verification with SNI and hostname check is the default."""

    verify: bool = True
    ca_bundle: str | None = None
    kernel_tls: bool = False  # ask OpenSSL to hand record encryption to the kernel
    max_version: str | None = None  # "1.2" or "1.3"

    def context(self) -> ssl.SSLContext:
        """The process's one context for these settings: loading a trust store costs ~20 ms,
        and a context serves any number of connections."""
        return _context_for(self)

    def new_context(self) -> ssl.SSLContext:
        where = self.ca_bundle
        ctx = ssl.create_default_context(
            cafile=None if where and os.path.isdir(where) else where,
            capath=where if where and os.path.isdir(where) else None,
        )
        if not self.verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if self.kernel_tls:
            ktls.enable(ctx)
        if self.max_version:
            ctx.maximum_version = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}[self.max_version]
        return ctx


def certificate_failure(host: str, reason: str) -> str:
    """The one line for a certificate this machine does not accept: which host, why, and the
    fix (a name the certificate holds, or the CA that signed it)."""
    if "match" in reason:  # Hostname mismatch, certificate is not valid for 'host'
        fix = "use in --endpoint-url a name the certificate holds"
    else:
        fix = "give the CA that signed it with --ca-bundle FILE (or the profile's ca_bundle, or AWS_CA_BUNDLE)"
    return f"TLS certificate verification failed for {host}: {reason}: {fix}"


def connect_spread(host: str, port: int, spread: int, timeout: float) -> socket.socket:
    """A TCP connection to one of the addresses ``host`` resolves to: the ``spread``-th (modulo
    their number) first, then the others in turn, as ``socket.create_connection`` tries them.
    S3 answers with several addresses; connections that all went to the first would share
    one front end's limits."""
    found = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
    start = spread % len(found)
    error: OSError | None = None
    for family, kind, proto, _, address in found[start:] + found[:start]:
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(timeout)
            sock.connect(address)
            return sock
        except OSError as exc:
            sock.close()
            error = exc
    assert error is not None  # getaddrinfo names at least one address or raises
    raise error


@functools.lru_cache(maxsize=8)
def _context_for(settings: TlsSettings) -> ssl.SSLContext:
    return settings.new_context()


class HttpConnection:
    """One keep-alive connection; reopened transparently when the server closes it."""

    def __init__(
        self,
        host: str,
        port: int,
        tls_context: ssl.SSLContext | None,
        timeout: float = 60.0,
        proxy: Proxy | None = None,
        spread: int = 0,
    ) -> None:
        self.host, self.port = host, port
        self.spread = spread  # which of the name's addresses to try first
        self.peer: str | None = None  # the address connected to
        self.proxy = proxy
        self.tls_context = tls_context
        self.timeout = timeout
        self.serial = f"{os.getpid()}:{next(_serials)}"
        self.requests_sent = 0  # on the current socket
        self.deadline = float("inf")  # of the exchange under way (time.monotonic)
        self.stream: socket.socket | None = None  # TCP socket, or the SSLSocket wrapping it
        self.ktls_tx = self.ktls_rx = False  # as the kernel reports it, per socket
        self._armed: float | None = None  # the timeout set on the socket now
        self._cut = False  # cut(): no exchange from now on

    @classmethod
    def to(
        cls,
        endpoint: BucketEndpoint,
        tls: TlsSettings,
        timeout: float = 60.0,
        proxy: Proxy | None = None,
        spread: int = 0,
    ) -> HttpConnection:
        """A connection to ``endpoint``; ``spread`` picks which of its name's addresses it
        goes to (connection i of a run to address i modulo their number)."""
        return cls(endpoint.host, endpoint.port, tls.context() if endpoint.tls else None, timeout, proxy, spread)

    @property
    def is_open(self) -> bool:
        return self.stream is not None

    @property
    def tls(self) -> bool:
        return self.tls_context is not None

    @contextlib.contextmanager
    def kernel_send(self) -> Iterator[int]:
        """The socket's descriptor in blocking mode with a send timeout, for the kernel to
        write to directly (sendfile, splice): a non-blocking socket makes those stop early
        with EAGAIN and costs many more syscalls. Python's own timeout is restored after."""
        assert self.stream is not None
        self.stream.settimeout(None)
        seconds = int(self.timeout)
        self.stream.setsockopt(
            socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack("ll", seconds, int((self.timeout - seconds) * 1e6))
        )
        self._armed = None
        try:
            yield self.stream.fileno()
        finally:
            if self.stream is not None:
                self.stream.settimeout(self.timeout)
                self._armed = self.timeout

    def open(self) -> None:
        """Connect (and handshake) now; raises OSError / ssl.SSLError."""
        self.close()
        if self.proxy:
            sock = socket.create_connection((self.proxy.host, self.proxy.port), timeout=self.timeout)
        else:
            sock = connect_spread(self.host, self.port, self.spread, self.timeout)
        self.peer = sock.getpeername()[0]
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        stream = sock
        try:
            if self.proxy and self.tls_context is not None:
                open_tunnel(sock, self.proxy, self.host, self.port)
            if self.tls_context is not None:
                stream = self.tls_context.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise
        self.stream = stream
        if self._cut:  # cut while it connected
            self.close()
            raise ConnectionAbortedError("the connection was cut: the run was stopped")
        self._armed = self.timeout
        self.ktls_tx = self.tls and ktls.offloaded(stream, ktls.TLS_TX)
        self.ktls_rx = self.tls and ktls.offloaded(stream, ktls.TLS_RX)
        self.serial = f"{os.getpid()}:{next(_serials)}"
        self.requests_sent = 0

    def close(self) -> None:
        if self.stream is not None:
            try:
                self.stream.close()
            except OSError:
                pass
        self.stream = None

    def cut(self) -> None:
        """Shut the socket down, from another thread, under whatever exchange is under way:
        it fails at once (a halted run), and the thread that runs it closes the connection;
        a connection being opened fails as it opens, and no exchange starts again. The TCP
        socket's own shutdown, not TLS's: the exchange's thread still holds its TLS state."""
        self._cut = True  # before the stream is read: open() sets the stream, then reads this
        stream = self.stream
        if stream is not None:
            try:
                socket.socket.shutdown(stream, socket.SHUT_RDWR)
            except OSError:
                pass

    def exchange(
        self,
        head: RequestHead,
        body: FileBody,
        engine: SendEngine,
        progress: Callable[[int], None],
        min_rate: float = DEFAULT_MIN_RATE,
    ) -> Response:
        """Send one request whose body is ``body`` on the open connection; read the response.

        The whole exchange has a deadline: the connection's timeout plus the body's size at
        ``min_rate`` bytes/s (a server trickling bytes would otherwise hold it forever)."""
        assert self.stream is not None, "open() the connection first"
        if self._cut:
            raise ConnectionAbortedError("the connection was cut: the run was stopped")
        self.requests_sent += 1
        self.deadline = time.monotonic() + self.timeout + len(body) / max(min_rate, 1.0)
        try:
            engine.send(self, self.head_bytes(head), body, progress)
        except (BrokenPipeError, ConnectionResetError) as exc:
            # The server may have answered (e.g. 403) and closed before reading the body.
            early = self._try_read_response()
            self.close()
            if early is None:
                raise exc
            return early
        except BaseException:
            self.close()
            raise
        try:
            return self._read_response()
        except BaseException:
            self.close()
            raise

    def request(self, head: RequestHead, max_body: int = MAX_RESPONSE_BODY) -> Response:
        """Send a request without a body (GET, HEAD) on the open connection; read the answer
        (of at most ``max_body`` bytes), within the connection's timeout."""
        assert self.stream is not None, "open() the connection first"
        self.requests_sent += 1
        self.deadline = time.monotonic() + self.timeout
        try:
            self.arm_timeout()
            self.stream.sendall(self.head_bytes(head))
            return self._read_response(bodyless=head.method == "HEAD", max_body=max_body)
        except BaseException:
            self.close()
            raise

    def negotiated(self) -> str | None:
        """The TLS protocol and cipher this connection runs, e.g. ``TLSv1.3 TLS_AES_256_GCM_SHA384``."""
        if not self.tls or not isinstance(self.stream, ssl.SSLSocket):
            return None
        cipher = self.stream.cipher()
        return f"{self.stream.version()} {cipher[0]}" if cipher else None

    def arm_timeout(self) -> None:
        """Set the socket's timeout to what is left of the exchange (at most the connection's
        timeout); a system call only when that changes."""
        left = self.remaining()
        wanted = self.timeout if left >= self.timeout else left
        if wanted != self._armed:
            assert self.stream is not None, "open() the connection first"
            self.stream.settimeout(wanted)
            self._armed = wanted

    def _try_read_response(self) -> Response | None:
        try:
            return self._read_response()
        except (OSError, ProtocolError):
            return None

    def head_bytes(self, head: RequestHead) -> bytes:
        """The request head: absolute-form through an http proxy (no tunnel)."""
        if self.proxy is None or self.tls_context is not None:
            return request_head(head.method, head.target, head.headers)
        host = f"[{self.host}]" if ":" in self.host else self.host
        headers = list(head.headers)
        if self.proxy.authorization:
            headers.append(("Proxy-Authorization", self.proxy.authorization))
        return request_head(head.method, f"http://{host}:{self.port}{head.target}", headers)

    def remaining(self) -> float:
        """Seconds left before the current exchange's deadline; TimeoutError once past it."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(
                f"the exchange took longer than its deadline ({self.timeout:.0f} s plus the body at the minimum rate)"
            )
        return left

    def _read_response(self, bodyless: bool = False, max_body: int = MAX_RESPONSE_BODY) -> Response:
        assert self.stream is not None
        reader = ResponseReader(bodyless=bodyless, max_body=max_body)
        received = False
        while True:
            self.arm_timeout()
            data = self.stream.recv(_RECV_SIZE)
            if not data and not received:
                raise ConnectionResetError("server closed the connection before responding")
            received = True
            response = reader.feed(data) if data else reader.end_of_stream()
            if response is not None:
                break
        if not reader.keep_alive or reader.trailing:
            self.close()
        return response
