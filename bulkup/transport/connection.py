"""A persistent HTTP/1.1 connection to one endpoint: TCP, optional TLS, h11 framing.

h11 does the HTTP framing (no hand-written parser); this class only moves bytes. Request
bodies are passed through h11 untouched (``send_with_data_passthrough``) so a send engine
can put them on the wire its own way (TLS writes from a buffer, sendfile, splice).
"""
from __future__ import annotations

import contextlib
import itertools
import os
import socket
import ssl
import struct
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterator

import h11

from bulkup.kernel import ktls
from bulkup.transport.proxy import Proxy, open_tunnel
from bulkup.transport.request import BucketEndpoint, RequestHead

if TYPE_CHECKING:
    from bulkup.transport.engines.base import SendEngine
    from bulkup.transport.filebody import FileBody

_RECV_SIZE = 64 * 1024
DEFAULT_MIN_RATE = 256 * 1024        # bytes/s: an exchange's deadline grows with its body at this
MAX_RESPONSE_BODY = 1 << 20          # S3 answers a write with headers and at most a small XML
_serials = itertools.count(1)


@dataclass(frozen=True)
class TlsSettings:
    """How TLS peers are checked. Verification with SNI and hostname check is the default."""

    verify: bool = True
    ca_bundle: str | None = None
    kernel_tls: bool = False        # ask OpenSSL to hand record encryption to the kernel
    max_version: str | None = None  # "1.2" or "1.3"

    def context(self) -> ssl.SSLContext:
        where = self.ca_bundle
        ctx = ssl.create_default_context(cafile=None if where and os.path.isdir(where) else where,
                                         capath=where if where and os.path.isdir(where) else None)
        if not self.verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if self.kernel_tls:
            ktls.enable(ctx)
        if self.max_version:
            ctx.maximum_version = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}[self.max_version]
        return ctx


@dataclass
class Response:
    """A complete HTTP response (S3 write responses are small)."""

    status: int
    headers: dict[str, str]
    body: bytes


class HttpConnection:
    """One keep-alive connection; reopened transparently when the server closes it."""

    def __init__(self, host: str, port: int, tls_context: ssl.SSLContext | None,
                 timeout: float = 60.0, proxy: Proxy | None = None) -> None:
        self.host, self.port = host, port
        self.proxy = proxy
        self.tls_context = tls_context
        self.timeout = timeout
        self.serial = f"{os.getpid()}:{next(_serials)}"
        self.requests_sent = 0           # on the current socket
        self.deadline = float("inf")     # of the exchange under way (time.monotonic)
        self.stream: socket.socket | None = None     # TCP socket, or the SSLSocket wrapping it
        self.ktls_tx = self.ktls_rx = False          # as the kernel reports it, per socket
        self._h11 = h11.Connection(our_role=h11.CLIENT)

    @classmethod
    def to(cls, endpoint: BucketEndpoint, tls: TlsSettings, timeout: float = 60.0,
           proxy: Proxy | None = None) -> "HttpConnection":
        return cls(endpoint.host, endpoint.port, tls.context() if endpoint.tls else None, timeout, proxy)

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
        self.stream.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO,
                               struct.pack("ll", seconds, int((self.timeout - seconds) * 1e6)))
        try:
            yield self.stream.fileno()
        finally:
            if self.stream is not None:
                self.stream.settimeout(self.timeout)

    def open(self) -> None:
        """Connect (and handshake) now; raises OSError / ssl.SSLError."""
        self.close()
        via = (self.proxy.host, self.proxy.port) if self.proxy else (self.host, self.port)
        sock = socket.create_connection(via, timeout=self.timeout)
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
        self.ktls_tx = self.tls and ktls.offloaded(stream, ktls.TLS_TX)
        self.ktls_rx = self.tls and ktls.offloaded(stream, ktls.TLS_RX)
        self.serial = f"{os.getpid()}:{next(_serials)}"
        self.requests_sent = 0
        self._h11 = h11.Connection(our_role=h11.CLIENT)

    def close(self) -> None:
        if self.stream is not None:
            try:
                self.stream.close()
            except OSError:
                pass
        self.stream = None

    def exchange(self, head: RequestHead, body: "FileBody", engine: "SendEngine",
                 progress: Callable[[int], None], min_rate: float = DEFAULT_MIN_RATE) -> Response:
        """Send one request whose body is ``body`` on the open connection; read the response.

        The whole exchange has a deadline: the connection's timeout plus the body's size at
        ``min_rate`` bytes/s (a server trickling bytes would otherwise hold it forever)."""
        assert self.stream is not None, "open() the connection first"
        self.requests_sent += 1
        self.deadline = time.monotonic() + self.timeout + len(body) / max(min_rate, 1.0)
        try:
            self.stream.sendall(self._h11.send(self._request(head)))
            if len(body):
                for chunk in self._h11.send_with_data_passthrough(h11.Data(data=body)):
                    if chunk is body:
                        engine.send(self, body, progress)
                    else:
                        self.stream.sendall(chunk)
            self._h11.send(h11.EndOfMessage())
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

    def _try_read_response(self) -> Response | None:
        try:
            return self._read_response()
        except (OSError, h11.ProtocolError):
            return None

    def _request(self, head: RequestHead) -> h11.Request:
        """The request line and headers: absolute-form through an http proxy (no tunnel)."""
        if self.proxy is None or self.tls_context is not None:
            return h11.Request(method=head.method, target=head.target, headers=head.headers)
        host = f"[{self.host}]" if ":" in self.host else self.host
        headers = list(head.headers)
        if self.proxy.authorization:
            headers.append(("Proxy-Authorization", self.proxy.authorization))
        return h11.Request(method=head.method, target=f"http://{host}:{self.port}{head.target}", headers=headers)

    def remaining(self) -> float:
        """Seconds left before the current exchange's deadline; TimeoutError once past it."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"the exchange took longer than its deadline "
                               f"({self.timeout:.0f} s plus the body at the minimum rate)")
        return left

    def _read_response(self) -> Response:
        assert self.stream is not None
        status, headers, body = 0, {}, bytearray()
        while True:
            event = self._h11.next_event()
            if event is h11.NEED_DATA:
                self.stream.settimeout(min(self.timeout, self.remaining()))
                self._h11.receive_data(self.stream.recv(_RECV_SIZE))
            elif isinstance(event, h11.Response):
                status = event.status_code
                headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in event.headers}
            elif isinstance(event, h11.Data):
                body += event.data
                if len(body) > MAX_RESPONSE_BODY:
                    raise h11.RemoteProtocolError(f"response body over {MAX_RESPONSE_BODY} bytes: "
                                                  "not an S3 answer to a write")
            elif isinstance(event, h11.EndOfMessage):
                break
            elif isinstance(event, h11.ConnectionClosed):
                raise ConnectionResetError("server closed the connection before responding")
        self._finish_cycle()
        return Response(status, headers, bytes(body))

    def _finish_cycle(self) -> None:
        if self._h11.our_state is h11.DONE and self._h11.their_state is h11.DONE:
            self._h11.start_next_cycle()
        else:
            self.close()
