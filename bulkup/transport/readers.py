"""Reading a bucket on bulkup's own keep-alive connections: a listing page after page, and
HeadObject for many keys at once, from one thread.

boto3 spends about 3 ms of CPU on a HeadObject and 80 ms on a listing page; here a HEAD
costs about 0.15 ms (a signed head written, the answer's headers read) and a page a few.
HEADs go out on ``connections`` connections at once, driven by one ``selectors`` loop: no
thread per request, no lock. A connection that fails or times out is opened again and its
request sent again; an answer the store asks to be repeated (5xx, 429, SlowDown) is repeated
after a growing, jittered pause until the retry deadline (``transport.retry``); every
other refusal is one line naming the key.
"""

from __future__ import annotations

import collections
import heapq
import itertools
import selectors
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass

from bulkup.errors import FatalRemoteError
from bulkup.transport.connection import HttpConnection, TlsSettings, certificate_failure
from bulkup.transport.http1 import ProtocolError, Response, ResponseReader, request_head
from bulkup.transport.objectinfo import HeadAnswer, ListPage, head_answer, list_target, parse_list_page
from bulkup.transport.proxy import Proxy
from bulkup.transport.request import BucketEndpoint, RequestHead, RequestSigner
from bulkup.transport.responses import error_code_and_message, failure_from_response
from bulkup.transport.retry import Deadline, pause

MAX_LISTING_PAGE = 64 << 20  # bytes: 1,000 keys of up to 1 KiB each, URL-encoded, with room
_HEAD_STATUS_WORDS = {
    400: "bad request (wrong region?)",
    401: "not authorized",
    403: "access denied",
    301: "the bucket is in another region or endpoint",
    405: "method not allowed",
}


class StoreReadError(FatalRemoteError):
    """The store could not be read (listing or HeadObject): nothing may be decided from it."""


@dataclass(frozen=True)
class ReadSettings:
    """How the reads reach the store."""

    endpoint: BucketEndpoint
    bucket: str
    tls: TlsSettings
    proxy: Proxy | None = None
    connections: int = 16
    timeout: float = 60.0
    retry_deadline: float = 300.0  # s: how long a read is retried while the store refuses it


class StoreReads:
    """Reads of one bucket, signed by ``signer`` (whose credentials the caller refreshes)."""

    def __init__(self, settings: ReadSettings, signer: RequestSigner) -> None:
        self.settings = settings
        self.signer = signer
        self._listing: HttpConnection | None = None
        self._idle: list[HttpConnection] = []

    def pages(self, prefix: str) -> Iterator[ListPage]:
        """ListObjectsV2 of ``prefix``, page by page, to the end; StoreReadError if a page
        cannot be had or the store ends early (no continuation token)."""
        token: str | None = None
        where = self.where(prefix)
        while True:
            target = list_target(self.settings.endpoint, prefix, token)
            response = self._get(target, where)
            try:
                page = parse_list_page(response.body)
            except ProtocolError as exc:
                raise StoreReadError(f"cannot list {where}: {exc}") from None
            yield page
            if not page.truncated:
                return
            if not page.next_token:
                raise StoreReadError(f"the store ended the listing of {where} without a continuation token")
            token = page.next_token

    def heads(self, keys: list[str]) -> dict[str, HeadAnswer | None]:
        """HeadObject of every key (None: not there), many in flight at once."""
        if not keys:
            return {}
        return _HeadRound(self, keys).run()

    def close(self) -> None:
        for conn in [*self._idle, *([self._listing] if self._listing else [])]:
            conn.close()
        self._idle, self._listing = [], None

    # -- one request at a time (the listing) ----------------------------------------------

    def _get(self, target: str, where: str) -> Response:
        last, deadline = "", Deadline(self.settings.retry_deadline)
        for attempt in itertools.count():
            if attempt:
                if deadline.passed:
                    break
                time.sleep(pause(attempt))
            if self._listing is None:
                self._listing = self.connection()
            conn = self._listing
            try:
                if not conn.is_open:
                    conn.open()
                response = conn.request(self.sign("GET", target), max_body=MAX_LISTING_PAGE)
            except ssl.SSLCertVerificationError as exc:
                raise StoreReadError(
                    certificate_failure(self.settings.endpoint.host, exc.verify_message or exc.reason)
                ) from None
            except (OSError, ProtocolError) as exc:
                last = describe_failure(exc)
                continue
            if 200 <= response.status < 300:
                return response
            failure = failure_from_response(response.status, response.body)
            if not failure.retryable:
                raise StoreReadError(f"cannot list {where} ({failure})")
            last = str(failure)
        raise StoreReadError(f"cannot list {where} ({last}, for {deadline.elapsed:.0f} s: --retry-deadline)")

    # -- shared -----------------------------------------------------------------------------

    def sign(self, method: str, target: str, extra: dict[str, str] | None = None) -> RequestHead:
        return self.signer.sign(self.settings.endpoint, method, target, dict(extra or {}))

    def connection(self) -> HttpConnection:
        s = self.settings
        return HttpConnection.to(s.endpoint, s.tls, s.timeout, s.proxy)

    def where(self, key: str) -> str:
        return f"s3://{self.settings.bucket}/{key}"


def describe_failure(exc: BaseException) -> str:
    """A failed read in a few words: the system's own for an OSError that has them."""
    strerror = exc.strerror if isinstance(exc, OSError) else None
    if isinstance(exc, (TimeoutError, ssl.SSLError)) or not strerror:
        return f"{exc.__class__.__name__}: {exc}" if str(exc) else exc.__class__.__name__
    return strerror.lower()


@dataclass
class _Slot:
    """One connection of a round and the HEAD it carries."""

    conn: HttpConnection
    key: str = ""
    attempt: int = 0
    reader: ResponseReader | None = None
    deadline: float = 0.0


class _HeadRound:
    """HeadObject for a list of keys over the reads' connections (opened as needed)."""

    def __init__(self, reads: StoreReads, keys: list[str]) -> None:
        self.reads = reads
        self.todo: collections.deque[tuple[str, int]] = collections.deque((k, 0) for k in keys)
        self.later: list[tuple[float, str, int]] = []  # (when, key, attempt): a heap
        self.answers: dict[str, HeadAnswer | None] = {}
        self.selector = selectors.DefaultSelector()
        self.busy: dict[int, _Slot] = {}
        wanted = min(reads.settings.connections, len(keys))
        idle = reads._idle
        while len(idle) < wanted:
            idle.append(reads.connection())
        self.free = [_Slot(conn) for conn in idle[:wanted]]
        self.first_try: dict[str, float] = {}  # key -> when it was first asked

    def run(self) -> dict[str, HeadAnswer | None]:
        try:
            while self.todo or self.later or self.busy:
                self._start_due()
                self._wait()
        finally:
            for slot in list(self.busy.values()):
                slot.conn.close()
            for slot in self.free:
                if slot.conn.stream is not None:  # as the connection says it is armed
                    slot.conn.stream.settimeout(slot.conn.timeout)
            self.selector.close()
        return self.answers

    def _start_due(self) -> None:
        now = time.monotonic()
        while self.later and self.later[0][0] <= now:
            _, key, attempt = heapq.heappop(self.later)
            self.todo.append((key, attempt))
        while self.free and self.todo:
            key, attempt = self.todo.popleft()
            self._send(self.free.pop(), key, attempt)

    def _send(self, slot: _Slot, key: str, attempt: int) -> None:
        slot.key, slot.attempt = key, attempt
        self.first_try.setdefault(key, time.monotonic())
        conn = slot.conn
        target = self.reads.settings.endpoint.target(key)
        head = self.reads.sign("HEAD", target, {"x-amz-checksum-mode": "ENABLED"})
        try:
            if not conn.is_open:
                conn.open()
            stream = conn.stream
            assert stream is not None  # open() sets it or raises
            stream.settimeout(conn.timeout)
            stream.sendall(request_head(head.method, head.target, head.headers))
            stream.setblocking(False)
        except ssl.SSLCertVerificationError as exc:
            conn.close()
            raise StoreReadError(certificate_failure(conn.host, exc.verify_message or exc.reason)) from None
        except OSError as exc:
            conn.close()
            self.free.append(slot)
            self._again(slot, describe_failure(exc))
            return
        slot.reader = ResponseReader(bodyless=True)
        slot.deadline = time.monotonic() + conn.timeout
        self.busy[stream.fileno()] = slot
        self.selector.register(stream, selectors.EVENT_READ, slot)

    def _wait(self) -> None:
        if not self.busy:
            if self.later and not self.todo:
                time.sleep(max(0.0, self.later[0][0] - time.monotonic()))
            return
        now = time.monotonic()
        until = min(slot.deadline for slot in self.busy.values())
        if self.later:
            until = min(until, self.later[0][0])
        for selected, _ in self.selector.select(max(0.0, until - now)):
            self._readable(selected.data)
        now = time.monotonic()
        for slot in [s for s in self.busy.values() if s.deadline <= now]:
            self._done_with(slot, keep=False)
            self._again(slot, f"no answer in {slot.conn.timeout:.0f} s")

    def _readable(self, slot: _Slot) -> None:
        stream, reader = slot.conn.stream, slot.reader
        assert stream is not None and reader is not None  # a busy slot's
        response = None
        try:
            while response is None:
                try:
                    data = stream.recv(65536)
                except (ssl.SSLWantReadError, BlockingIOError):
                    return
                response = reader.feed(data) if data else reader.end_of_stream()
        except (OSError, ProtocolError) as exc:
            self._done_with(slot, keep=False)
            self._again(slot, describe_failure(exc))
            return
        self._done_with(slot, keep=reader.keep_alive and not reader.trailing)
        self._answered(slot, response)

    def _done_with(self, slot: _Slot, keep: bool) -> None:
        stream = slot.conn.stream
        assert stream is not None  # a busy slot's
        self.selector.unregister(stream)
        del self.busy[stream.fileno()]
        if not keep:
            slot.conn.close()
        self.free.append(slot)

    def _answered(self, slot: _Slot, response: Response) -> None:
        status, key = response.status, slot.key
        if status == 200:
            try:
                self.answers[key] = head_answer(response.headers)
            except ProtocolError as exc:
                self._again(slot, str(exc))
        elif status == 404:
            self.answers[key] = None
        elif status >= 500 or status in (408, 429):
            code, _ = error_code_and_message(response.body)
            self._again(slot, f"{code or 'HTTP'} {status}")
        else:
            words = _HEAD_STATUS_WORDS.get(status, f"HTTP {status}")
            raise StoreReadError(f"HeadObject {self.reads.where(key)}: {words}")

    def _again(self, slot: _Slot, why: str) -> None:
        attempt = slot.attempt + 1
        tried_for = time.monotonic() - self.first_try[slot.key]
        if tried_for >= self.reads.settings.retry_deadline:
            raise StoreReadError(
                f"HeadObject {self.reads.where(slot.key)} failed for {tried_for:.0f} s ({why}): --retry-deadline"
            )
        heapq.heappush(self.later, (time.monotonic() + pause(attempt), slot.key, attempt))
