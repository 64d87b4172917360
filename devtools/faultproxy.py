"""A threaded HTTP/1.1 reverse proxy that injects faults between a client and an S3 server.

``with FaultProxy(upstream_url, seed=1, reset_rate=0.2) as proxy:``, then point the client
at ``proxy.url``. For each request where ``applies_to(method, target)``, one seeded
``random.Random`` picks: forward it, reset the connection (TCP RST, before or part-way
through the request body) or answer an S3 ``503 SlowDown`` itself. ``proxy.records`` says
what happened. Targets stay in memory: they are never logged nor shown in reprs.

It plays a store under load and one that goes away: ``write_rate`` answers 503 SlowDown to
the writes (PUT, POST, DELETE) above that many a second (a token bucket holding one second's
worth, as S3 refuses a prefix written too fast), and ``outage(seconds, mode)`` makes the
store unreachable for a while: ``"reset"`` resets every connection and request, ``"stall"``
answers nothing until the outage ends (requests then go on, as after a partition heals).

It can also play a store or a path that treats checksums badly: flip one byte in the body
of the first ``corrupt`` requests (as a faulty middlebox would), refuse every request that
carries an ``x-amz-checksum-*`` header with ``400 InvalidArgument`` (as some stores do), and
strip or alter the ``x-amz-checksum-*`` headers of responses (``response_checksums``).

bulkup's own question to the store about what it verifies (a multipart upload on a
``.bulkup-probe-`` key, aborted at once) meets those store behaviours, but never the path's
faults (resets, slowdowns, holds, corruption) and never counts as an upload's part.
"""

from __future__ import annotations

import itertools
import random
import re
import select
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, unquote, urlsplit

import h11

from bulkup.control.probekeys import PROBE_MARK
from devtools.timescale import scaled

Predicate = Callable[[str, str], bool]
CHUNK = 64 * 1024
UPSTREAM_TIMEOUT = 60.0  # seconds the server may take to answer, on a usual machine
SLOWDOWN_XML = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message></Error>"
)
UNSUPPORTED_XML = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>InvalidArgument</Code>'
    b"<Message>Unsupported header 'x-amz-checksum'</Message></Error>"
)
_HOP_BY_HOP = {b"connection", b"keep-alive", b"proxy-connection", b"te", b"trailer", b"upgrade"}


@dataclass(frozen=True)
class Record:
    """One request; ``outcome`` is "in-flight" until it ends as "forwarded", "reset",
    "slowdown", "client-closed" or "upstream-error"."""

    method: str
    target: str = field(repr=False)
    outcome: str
    status: int | None
    started: float
    finished: float | None
    connection: int
    access_key: str | None = None  # whose credentials signed it (the key id, not the secret)
    client_port: int | None = None  # the client's end of the connection (its port on 127.0.0.1)


def _split(target: str) -> tuple[str, dict[str, list[str]]]:
    parts = urlsplit(target)
    return unquote(parts.path), parse_qs(parts.query, keep_blank_values=True)


def _access_key(headers) -> str | None:
    """The access key id in a SigV4 Authorization header (``Credential=AKID/date/...``)."""
    for name, value in headers:
        if name == b"authorization" and (found := re.search(rb"Credential=([^/,\s]+)/", value)):
            return found.group(1).decode()
    return None


def is_probe(target: str) -> bool:
    """A request of bulkup's question to the store about which checksums it verifies."""
    return PROBE_MARK in target


def upload_part_of(record: Record) -> tuple[str, int] | None:
    """(key path, partNumber) if ``record`` is an UploadPart of an object, else None."""
    path, query = _split(record.target)
    if record.method != "PUT" or "uploadId" not in query or "partNumber" not in query or is_probe(record.target):
        return None
    return path, int(query["partNumber"][0])


def is_put_object(record: Record) -> bool:
    """Whether ``record`` is a PutObject (a PUT of a key, not of a part or a subresource)."""
    path, query = _split(record.target)
    return record.method == "PUT" and "/" in path.strip("/") and set(query) <= {"x-id"} and not is_probe(record.target)


def completes_upload(method: str, target: str) -> bool:
    """A hold()/applies_to predicate for CompleteMultipartUpload requests."""
    return method == "POST" and "uploadId" in _split(target)[1]


class _ClientGone(Exception):
    """The client closed or broke the connection."""


class _UpstreamGone(Exception):
    """The upstream server closed, broke or garbled the connection."""


class FaultProxy:
    """Listens on 127.0.0.1 (only) and forwards to ``upstream_url`` (plain http)."""

    def __init__(
        self,
        upstream_url: str,
        seed: int = 0,
        reset_rate: float = 0.0,
        slowdown_rate: float = 0.0,
        applies_to: Predicate | None = None,
        body_rate: float | None = None,
        corrupt: int = 0,
        reject_checksum_headers: bool = False,
        response_checksums: str = "keep",
        skewed_by: float | None = None,
        write_rate: float | None = None,
    ) -> None:
        parts = urlsplit(upstream_url)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.reset_rate, self.slowdown_rate, self.body_rate = reset_rate, slowdown_rate, body_rate
        self.corrupt_left = corrupt  # bodies still to corrupt
        self.corrupted = 0
        self.reject_checksum_headers = reject_checksum_headers
        assert response_checksums in ("keep", "strip", "alter")
        self.response_checksums = response_checksums
        self.skewed_by = skewed_by  # seconds the client's clock is off: answer RequestTimeTooSkewed
        self.write_rate = write_rate  # writes/s above which the store says SlowDown
        self._write_tokens, self._tokens_at = write_rate or 0.0, time.monotonic()
        self._outage: tuple[float, str] | None = None  # (until, mode)
        self.stalled = 0  # requests an outage held unanswered
        self.refused_connections = 0  # connections an outage reset as they came
        self._applies_to = applies_to or (lambda method, target: True)
        self._rng = random.Random(seed)
        self._lock = threading.Condition()
        self._records: list[Record] = []
        self._links: set[_Link] = set()
        self._hold: Predicate | None = None
        self._hold_answers = False
        self._releases = 0
        self.held = 0
        self.closed = False
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True)
        self._acceptor.start()

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def records(self) -> list[Record]:
        """A copy of the records, in the order the requests started."""
        return self.snapshot()

    def snapshot(self) -> list[Record]:
        with self._lock:
            return list(self._records)

    def in_flight(self) -> list[Record]:
        return [r for r in self.snapshot() if r.finished is None]

    def hold(self, predicate: Predicate, answered: bool = False) -> None:
        """Make matching requests that arrive from now on wait for release(): unforwarded,
        or with ``answered`` forwarded and their answer held back (the server has acted,
        the client does not know it yet)."""
        with self._lock:
            self._hold, self._hold_answers = predicate, answered

    def outage(self, seconds: float, mode: str = "reset") -> None:
        """From now, for ``seconds``: every connection and request reset (``"reset"``), or
        nothing answered until the outage ends (``"stall"``)."""
        assert mode in ("reset", "stall")
        with self._lock:
            self._outage = (time.monotonic() + seconds, mode)
            self._lock.notify_all()
            links = list(self._links) if mode == "reset" else []
        for link in links:  # connections break: requests under way too
            for sock in (link.client, link.upstream):
                if sock is not None:
                    _shutdown(sock)

    def outage_mode(self) -> str | None:
        """The outage under way ("reset" or "stall"), if any."""
        with self._lock:
            if self._outage is None or time.monotonic() >= self._outage[0]:
                return None
            return self._outage[1]

    def _wait_out_stall(self) -> None:
        with self._lock:
            self.stalled += 1
            while self._outage is not None and not self.closed and time.monotonic() < self._outage[0]:
                self._lock.wait(timeout=self._outage[0] - time.monotonic())
            if self.closed:
                raise _ClientGone()

    def release(self) -> None:
        """Let the held requests go on, and hold no more."""
        with self._lock:
            self._hold, self._releases = None, self._releases + 1
            self._lock.notify_all()

    def close(self) -> None:
        """Stop listening and break every connection (held requests end as client-closed)."""
        with self._lock:
            self.closed = True
            self._lock.notify_all()
            links = list(self._links)
        _shutdown(self._listener)
        self._listener.close()
        for sock in [s for link in links for s in (link.client, link.upstream) if s]:
            _shutdown(sock)
        for thread in [self._acceptor, *(link.thread for link in links)]:
            thread.join(timeout=5)

    def _accept_loop(self) -> None:
        for number in itertools.count(1):
            try:
                sock, address = self._listener.accept()
            except OSError:
                return
            if self.outage_mode() == "reset":
                self.refused_connections += 1
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.close()
                continue
            link = _Link(self, sock, number, address[1])
            with self._lock:
                if self.closed:
                    return sock.close()
                self._links.add(link)
            link.thread.start()

    def _start(self, method: str, target: str, link: _Link, access_key: str | None) -> int:
        with self._lock:
            self._records.append(
                Record(
                    method, target, "in-flight", None, time.monotonic(), None, link.number, access_key, link.client_port
                )
            )
            return len(self._records) - 1

    def _finish(self, index: int, outcome: str, status: int | None) -> None:
        with self._lock:
            self._records[index] = replace(
                self._records[index], outcome=outcome, status=status, finished=time.monotonic()
            )

    def _decide(self, method: str, target: str, length: int) -> tuple[str, int | None]:
        """("forward" | "slowdown" | "reset", for a reset the body bytes to forward first,
        or None to forward nothing)."""
        if not self._applies_to(method, target) or is_probe(target):
            return "forward", None
        with self._lock:
            if self.write_rate and method in ("PUT", "POST", "DELETE") and not self._take_write_token():
                return "slowdown", None
            roll = self._rng.random()
            if roll < self.reset_rate:
                midway = self._rng.random() < 0.5
                return "reset", self._rng.randrange(length) if midway and length else None
            return "slowdown" if roll < self.reset_rate + self.slowdown_rate else "forward", None

    def _take_write_token(self) -> bool:
        """Whether a write fits the rate (a bucket of one second's writes; lock held)."""
        now = time.monotonic()
        self._write_tokens = min(self.write_rate, self._write_tokens + (now - self._tokens_at) * self.write_rate)
        self._tokens_at = now
        if self._write_tokens < 1:
            return False
        self._write_tokens -= 1
        return True

    def _take_corruption(self, method: str, target: str) -> bool:
        """Whether to corrupt this request's body (one of the first ``corrupt`` that apply)."""
        with self._lock:
            if self.corrupt_left > 0 and method == "PUT" and self._applies_to(method, target) and not is_probe(target):
                self.corrupt_left -= 1
                self.corrupted += 1
                return True
        return False

    def _wait_if_held(self, method: str, target: str, answered: bool = False) -> None:
        with self._lock:
            if (
                self._hold is None
                or self._hold_answers != answered
                or is_probe(target)
                or not self._hold(method, target)
            ):
                return
            releases, self.held = self._releases, self.held + 1
            try:
                self._lock.wait_for(lambda: self._releases != releases or self.closed)
            finally:
                self.held -= 1
            if self.closed:
                raise _ClientGone()


class _Link:
    """One client connection (h11 server side) and its upstream one, served by one thread."""

    def __init__(self, proxy: FaultProxy, client: socket.socket, number: int, client_port: int) -> None:
        self.proxy, self.client, self.number, self.client_port = proxy, client, number, client_port
        self.down = h11.Connection(h11.SERVER)
        self.up: h11.Connection | None = None
        self.upstream: socket.socket | None = None
        self.record: int | None = None
        self.request_line = ("", "")  # the current request's method and target
        self.applies = False  # the current request is one the faults apply to
        self.aborted = False
        self.next_send = 0.0
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        try:
            while self.serve_one():
                self.down.start_next_cycle()
        finally:
            self.close_upstream()
            self.close_client()
            with self.proxy._lock:
                self.proxy._links.discard(self)

    def serve_one(self) -> bool:
        """Serve one request; whether the client connection can carry another."""
        try:
            request = self.client_event()
        except _ClientGone:
            return False
        method, target = request.method.decode(), request.target.decode()
        self.request_line = method, target
        self.applies = self.proxy._applies_to(method, target)
        self.record = self.proxy._start(method, target, self, _access_key(request.headers))
        try:
            outage = self.proxy.outage_mode()
            if outage == "reset":
                self.reset(request, None)
                return False
            if outage == "stall":
                self.proxy._wait_out_stall()
            fault, cut = self.proxy._decide(method, target, _body_length(request))
            self.proxy._wait_if_held(method, target)
            if self.proxy.reject_checksum_headers and self.applies and _has_checksum_header(request.headers):
                self.refuse(400, b"Bad Request", UNSUPPORTED_XML, "refused")
            elif self.proxy.skewed_by is not None and self.applies and not is_probe(target):
                self.refuse(403, b"Forbidden", _skewed_xml(request.headers, self.proxy.skewed_by), "skewed")
            elif fault == "reset":
                self.reset(request, cut)
            elif fault == "slowdown":
                self.slowdown()
            else:
                self.forward(request)
        except _ClientGone:
            self.done("client-closed", None)
        except (_UpstreamGone, h11.LocalProtocolError):
            self.done("upstream-error", None)
            self.abort()
        return not self.aborted and self.down.states == {h11.CLIENT: h11.DONE, h11.SERVER: h11.DONE}

    def done(self, outcome: str, status: int | None) -> None:
        """Finish the record: called before the client can see the end of the response."""
        if self.record is not None:
            self.proxy._finish(self.record, outcome, status)
            self.record = None

    def forward(self, request: h11.Request) -> None:
        self.send_head(request)
        if self.down.they_are_waiting_for_100_continue:
            event = self.upstream_event()  # 100 Continue, or a final answer refusing the body
            if isinstance(event, h11.Response):
                return self.relay_response(event)
        self.send_body(corrupt=self.proxy._take_corruption(request.method.decode(), request.target.decode()))
        self.relay_response(self.upstream_event())

    def relay_response(self, event: h11.Event) -> None:
        """Pass on the response starting at ``event``, one event behind, so that the
        record is finished before the client has the whole response."""
        while isinstance(event, h11.InformationalResponse):
            event = self.upstream_event()
        self.proxy._wait_if_held(*self.request_line, answered=True)
        status = event.status_code
        headers = _end_to_end(event.headers)
        if self.applies:
            headers = _checksums_changed(headers, self.proxy.response_checksums)
        pending = self.response(status, event.reason, headers)
        while not isinstance(event := self.upstream_event(), h11.EndOfMessage):
            self.to_client(pending)
            pending = event
        if self.up.states == {h11.CLIENT: h11.DONE, h11.SERVER: h11.DONE}:
            self.up.start_next_cycle()
        else:
            self.close_upstream()
        self.done("forwarded", status)
        self.to_client(pending)
        self.to_client(event)

    def response(self, status: int, reason: bytes, headers: list[tuple[bytes, bytes]]) -> h11.Response:
        """A response that closes the connection unless the whole request was read."""
        if self.down.their_state is not h11.DONE:
            headers = [*headers, (b"Connection", b"close")]
        return h11.Response(status_code=status, reason=reason, headers=headers)

    def slowdown(self) -> None:
        """Answer 503 SlowDown: after the body, or at once if the client awaits a 100."""
        self.refuse(503, b"Slow Down", SLOWDOWN_XML, "slowdown")

    def refuse(self, status: int, reason: bytes, body: bytes, outcome: str) -> None:
        """Answer an S3 error document ourselves: after the body, or at once if the client
        awaits a 100."""
        if not self.down.they_are_waiting_for_100_continue:
            while not isinstance(self.client_event(), h11.EndOfMessage):
                pass
        head = self.response(
            status, reason, [(b"Content-Type", b"application/xml"), (b"Content-Length", str(len(body)).encode())]
        )
        self.done(outcome, status)
        for event in (head, h11.Data(data=body), h11.EndOfMessage()):
            self.to_client(event)

    def reset(self, request: h11.Request, cut: int | None) -> None:
        if cut is not None:
            self.send_head(request)
            self.send_body(limit=cut)
        self.done("reset", None)
        self.abort()

    def send_head(self, request: h11.Request) -> None:
        """Send the request head upstream, Expect included (the upstream may refuse)."""
        self.connect_upstream()
        self.to_upstream(
            h11.Request(method=request.method, target=request.target, headers=_end_to_end(request.headers))
        )

    def send_body(self, limit: int | None = None, corrupt: bool = False) -> None:
        """Forward the request body upstream, or only its first ``limit`` bytes; with
        ``corrupt``, one byte of it flipped."""
        if self.down.they_are_waiting_for_100_continue:
            self.to_client(h11.InformationalResponse(status_code=100, headers=[], reason=b"Continue"))
        sent = 0
        while limit is None or sent < limit:
            event = self.client_event()
            if isinstance(event, h11.EndOfMessage):
                return self.to_upstream(event)
            data = event.data if limit is None else event.data[: limit - sent]
            if corrupt and data:
                data = bytes([data[0] ^ 0x01]) + bytes(data[1:])
                corrupt = False
            self.paced_to_upstream(data)
            sent += len(data)

    def paced_to_upstream(self, data: bytes) -> None:
        rate = self.proxy.body_rate
        step = max(1, int(rate / 50) if rate else len(data))
        for start in range(0, len(data), step):
            piece = data[start : start + step]
            if rate:
                time.sleep(max(0.0, self.next_send - time.monotonic()))
                self.next_send = max(self.next_send, time.monotonic()) + len(piece) / rate
            self.to_upstream(h11.Data(data=piece))

    def client_event(self) -> h11.Event:
        return _next_event(self.down, self.client, _ClientGone)

    def upstream_event(self) -> h11.Event:
        return _next_event(self.up, self.upstream, _UpstreamGone)

    def to_client(self, event: h11.Event) -> None:
        _send(self.down, self.client, event, _ClientGone)

    def to_upstream(self, event: h11.Event) -> None:
        _send(self.up, self.upstream, event, _UpstreamGone)

    def connect_upstream(self) -> None:
        """Connect, unless already connected and idle (a connection the server closed
        reads as ready)."""
        if self.upstream is not None and select.select([self.upstream], [], [], 0)[0]:
            self.close_upstream()
        if self.upstream is None:
            if self.proxy.closed:
                raise _ClientGone()
            try:
                self.upstream = socket.create_connection(self.proxy.upstream, timeout=scaled(UPSTREAM_TIMEOUT))
            except OSError:
                raise _UpstreamGone() from None
            self.up = h11.Connection(h11.CLIENT)

    def close_upstream(self) -> None:
        if self.upstream is not None:
            self.upstream.close()
            self.upstream, self.up = None, None

    def abort(self) -> None:
        """Reset the client connection (RST, not FIN) and close the upstream one."""
        self.aborted = True
        self.close_upstream()
        self.client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.client.close()

    def close_client(self) -> None:
        """Close gracefully: FIN, then drain what the client still sends (no RST)."""
        if self.aborted:
            return
        try:
            self.client.shutdown(socket.SHUT_WR)
            self.client.settimeout(2)
            while self.client.recv(CHUNK):
                pass
        except OSError:
            pass
        finally:
            self.client.close()


def _skewed_xml(headers, skewed_by: float) -> bytes:
    """S3's RequestTimeTooSkewed for a request signed at X-Amz-Date by a clock ``skewed_by``
    seconds off the server's."""
    stamp = next((v.decode() for k, v in headers if k == b"x-amz-date"), "")
    sent = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC) if stamp else datetime.now(UTC)
    server = (sent - timedelta(seconds=skewed_by)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>RequestTimeTooSkewed</Code>'
        f"<Message>The difference between the request time and the current time is too large."
        f"</Message><RequestTime>{stamp}</RequestTime><ServerTime>{server}</ServerTime>"
        f"<MaxAllowedSkewMilliseconds>900000</MaxAllowedSkewMilliseconds></Error>"
    ).encode()


def _has_checksum_header(headers) -> bool:
    """An ``x-amz-checksum-*`` request header (the read-side ``-mode`` aside)."""
    return any(k.startswith(b"x-amz-checksum-") and k != b"x-amz-checksum-mode" for k, _ in headers)


def _checksums_changed(headers: list[tuple[bytes, bytes]], how: str) -> list[tuple[bytes, bytes]]:
    """Response headers with ``x-amz-checksum-*`` kept, stripped, or their values altered."""
    if how == "keep":
        return headers
    changed = []
    for name, value in headers:
        if name.lower().startswith(b"x-amz-checksum-") and name.lower() != b"x-amz-checksum-type":
            if how == "strip":
                continue
            value = b"AAAAAAAAAAA=" if value != b"AAAAAAAAAAA=" else b"AQAAAAAAAAA="
        changed.append((name, value))
    return changed


def _body_length(request: h11.Request) -> int:
    lengths = [int(v) for k, v in request.headers if k == b"content-length"]
    return lengths[0] if lengths else 16 * CHUNK  # chunked: any cut point will do


def _end_to_end(headers: h11.Headers) -> list[tuple[bytes, bytes]]:
    return [(k, v) for k, v in headers.raw_items() if k.lower() not in _HOP_BY_HOP]


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _next_event(conn: h11.Connection, sock: socket.socket, gone: type[Exception]) -> h11.Event:
    """The next HTTP event read from ``sock``; raises ``gone`` if the peer went away."""
    try:
        while (event := conn.next_event()) is h11.NEED_DATA:
            conn.receive_data(sock.recv(CHUNK))
    except (OSError, h11.RemoteProtocolError):
        raise gone() from None
    if isinstance(event, h11.ConnectionClosed):
        raise gone()
    return event


def _send(conn: h11.Connection, sock: socket.socket, event: h11.Event, gone: type[Exception]) -> None:
    try:
        sock.sendall(conn.send(event) or b"")
    except OSError:
        raise gone() from None
