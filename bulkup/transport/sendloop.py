"""Small objects from one thread: many connections, none of them blocking.

A sender thread blocks on one connection; for a small object the handing over of the task
and of the GIL to it, its failed read and poll, and the switches between a worker's eleven
threads cost more than the request itself. The send loop instead writes each small object
(a PutObject of at most ``SMALL`` bytes, whose body is read once for its checksum and then
held) on a connection in non-blocking mode, and waits on all its connections and the
coordinator's pipe in one ``epoll``.

The loop makes an object's first attempt only. Whatever fails it (no connection, a refusal,
an echo that does not match, a file that changed, a deadline passed) goes with the task to
the worker's sender threads, whose retry policy takes it from there: retries live in one
place (``PartSender.send``). Connections are opened by a short-lived thread each (a
handshake blocks), and a connection the server closes while idle is noticed and dropped.
"""

from __future__ import annotations

import collections
import functools
import selectors
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from bulkup.transport.connection import HttpConnection, TlsSettings
from bulkup.transport.engines.userspace import UserspaceEngine
from bulkup.transport.failures import PartFailed
from bulkup.transport.filebody import FileBody
from bulkup.transport.http1 import ProtocolError, Response, ResponseReader
from bulkup.transport.messages import PartDone, PartTask, WorkerConfig
from bulkup.transport.request import BucketEndpoint, RequestSigner
from bulkup.transport.sender import (
    accepted,
    checksum_of,
    internal_error,
    new_connection,
    signed_request,
    transport_failure,
)

SMALL = 256 << 10  # bytes: an object up to this goes on the loop, its body held in memory
_RECV_SIZE = 64 * 1024
_Handler = Callable[[int], None]  # called with the events that woke a watched descriptor


@dataclass(slots=True)
class _Exchange:
    """One request on one connection: the part, its open file, what is left to write."""

    task: PartTask
    body: FileBody
    checksum: str | None
    conn: HttpConnection
    pending: list[memoryview]  # the request's pieces not yet written (head, body)
    deadline: float  # time.monotonic() by which the answer must have come
    reader: ResponseReader
    heard: bool = False  # the server sent some of its answer


class SendLoop:
    """Sends small single-request parts on ``connections`` non-blocking connections per
    endpoint; ``reply`` gets each PartDone (or PartError for a bug), ``retry`` each task whose
    attempt failed, with the failure. ``sent(n)`` counts body bytes as they leave; ``pace()``
    waits for the run's request rate before each request."""

    def __init__(
        self,
        worker: int,
        config: WorkerConfig,
        signer: RequestSigner,
        reply: Callable[[object], None],
        retry: Callable[[PartTask, PartFailed], None],
        sent: Callable[[int], None],
        pace: Callable[[], None],
    ) -> None:
        self.worker = worker
        self.config = config
        self.signer = signer
        self.reply, self.retry, self.sent, self.pace = reply, retry, sent, pace
        self.tls = TlsSettings(config.verify_tls, config.ca_bundle, max_version=config.tls_max_version)
        self.engine = UserspaceEngine()  # what the loop's writes are: OpenSSL encrypts in this process
        self.connections = max(1, config.connections)
        self.min_rate = max(config.min_rate, 1.0)
        self._selector = selectors.DefaultSelector()
        self._handlers: dict[int, _Handler] = {}
        self._waiting: collections.deque[PartTask] = collections.deque()
        self._idle: dict[BucketEndpoint, list[HttpConnection]] = {}
        self._made: dict[BucketEndpoint, int] = collections.defaultdict(int)  # open or opening
        self._opening = 0
        self._exchanges: dict[HttpConnection, _Exchange] = {}
        self._opened: collections.deque[tuple[HttpConnection, BucketEndpoint, BaseException | None]] = (
            collections.deque()
        )
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self.watch(self._wake_r.fileno(), self._woken)

    @staticmethod
    def suits(config: WorkerConfig) -> bool:
        """Whether a worker should run the loop (see ``runs_with``)."""
        return SendLoop.runs_with(config.engine)

    @staticmethod
    def runs_with(engine: str) -> bool:
        """Whether the loop sends small objects where ``engine`` is chosen: user-space TLS (or
        plain writes). A zero-copy engine sends every part itself, so its data path is what it says."""
        return engine == UserspaceEngine.name

    @staticmethod
    def takes(task: PartTask) -> bool:
        """Whether ``task`` is small: one PutObject of at most SMALL bytes."""
        return task.upload_id is None and task.source.length <= SMALL

    def watch(self, fd: int, handler: _Handler, events: int = selectors.EVENT_READ) -> None:
        """Call ``handler(events)`` whenever ``fd`` is ready (the coordinator's pipe, say)."""
        self._handlers[fd] = handler
        self._selector.register(fd, events)

    def submit(self, task: PartTask) -> None:
        self._waiting.append(task)
        self._start_waiting()

    @property
    def waiting(self) -> int:
        """Tasks held that no connection sends yet."""
        return len(self._waiting)

    @property
    def open_connections(self) -> int:
        """Connections open now, idle or carrying a request."""
        return len(self._exchanges) + sum(len(idle) for idle in self._idle.values())

    @property
    def empty(self) -> bool:
        """Nothing held, nothing under way."""
        return not self._waiting and not self._exchanges and not self._opening

    def poll(self, timeout: float | None) -> None:
        """Wait at most ``timeout`` seconds for something to happen, and handle it."""
        if self._exchanges:
            first = min(ex.deadline for ex in self._exchanges.values())
            left = max(0.0, first - time.monotonic())
            timeout = left if timeout is None else min(timeout, left)
        for key, events in self._selector.select(timeout):
            self._handlers[key.fd](events)
        if self._exchanges:
            self._expire(time.monotonic())
        self._start_waiting()

    def close(self) -> None:
        """Close every connection and the files of exchanges under way (they end unanswered);
        what waits is dropped. Closing twice does nothing more."""
        for exchange in self._exchanges.values():
            exchange.body.close()
        for conn in list(self._exchanges) + [c for idle in self._idle.values() for c in idle]:
            conn.close()
        self._exchanges.clear()
        self._idle.clear()
        self._waiting.clear()
        self._selector.close()
        self._wake_r.close()
        self._wake_w.close()

    # Connections

    def _start_waiting(self) -> None:
        """Start what waits, while connections are free (the one place exchanges start:
        nothing that ends one starts another, so failing tasks never recurse)."""
        while self._waiting:
            task = self._waiting[0]
            conn = self._connection(task.endpoint)
            if conn is None:
                return
            self._waiting.popleft()
            self._begin(task, conn)

    def _connection(self, endpoint: BucketEndpoint) -> HttpConnection | None:
        """An idle open connection to ``endpoint``; else None, after starting to open one if
        there are fewer than ``connections``."""
        idle = self._idle.get(endpoint)
        if idle:
            return idle.pop()
        if self._made[endpoint] < self.connections:
            self._made[endpoint] += 1
            spread = self.worker * self.connections + self._made[endpoint]
            conn = new_connection(endpoint, self.config, self.tls, spread)
            self._opening += 1
            threading.Thread(target=self._open, args=(conn, endpoint), daemon=True).start()
        return None

    def _open(self, conn: HttpConnection, endpoint: BucketEndpoint) -> None:
        """On its own thread: connect and handshake, then wake the loop."""
        error: BaseException | None = None
        try:
            conn.open()
        except BaseException as exc:  # handed to the loop, which fails a task with it
            error = exc
        self._opened.append((conn, endpoint, error))
        self._wake_w.send(b"o")

    def _woken(self, events: int) -> None:
        try:
            self._wake_r.recv(4096)
        except BlockingIOError:
            pass
        while self._opened:
            conn, endpoint, error = self._opened.popleft()
            self._opening -= 1
            if error is None and conn.stream is not None:
                conn.stream.setblocking(False)
                self._selector.register(conn.stream.fileno(), selectors.EVENT_READ)
                self._handlers[conn.stream.fileno()] = functools.partial(self._ready, conn)
                self._release(conn, endpoint)
                continue
            self._made[endpoint] -= 1
            waiting = next((t for t in self._waiting if t.endpoint == endpoint), None)
            if waiting is not None:  # the task the connection was for fails with it: the threads retry it
                self._waiting.remove(waiting)
                self.retry(waiting, _as_failure(endpoint, error))

    def _release(self, conn: HttpConnection, endpoint: BucketEndpoint) -> None:
        """``conn`` is free for the next task to ``endpoint``."""
        self._idle.setdefault(endpoint, []).append(conn)

    def _drop(self, conn: HttpConnection, endpoint: BucketEndpoint) -> None:
        if conn.stream is not None:
            fd = conn.stream.fileno()
            self._selector.unregister(fd)
            del self._handlers[fd]
        conn.close()
        self._made[endpoint] -= 1

    # Exchanges

    def _begin(self, task: PartTask, conn: HttpConnection) -> None:
        """Read the object (its checksum, its bytes), sign, and start writing the request."""
        self.pace()
        body: FileBody | None = None
        try:
            body = FileBody(task.source)
            checksum = checksum_of(task, body)
            pending = [memoryview(conn.head_bytes(signed_request(self.signer, task, checksum)))]
            pending += body.chunks()  # one piece (SMALL fits one read), held by the body
        except Exception as exc:
            if body is not None:
                body.close()
            self._release(conn, task.endpoint)
            self._not_sent(task, exc)
            return
        conn.requests_sent += 1
        deadline = time.monotonic() + conn.timeout + task.source.length / self.min_rate
        exchange = _Exchange(task, body, checksum, conn, pending, deadline, ResponseReader())
        self._exchanges[conn] = exchange
        self._write(exchange)

    def _not_sent(self, task: PartTask, exc: Exception) -> None:
        """The task failed before a byte left: the threads take over (a bug fails it)."""
        if isinstance(exc, PartFailed):
            self.retry(task, exc)
        else:
            self.reply(internal_error(task, exc))

    def _write(self, exchange: _Exchange) -> None:
        stream = exchange.conn.stream
        assert stream is not None
        pending = exchange.pending
        try:
            while pending:
                written = stream.send(pending[0])  # TLS: all of it, or SSLWantWriteError
                if written < len(pending[0]):
                    pending[0] = pending[0][written:]  # plain TCP writes part
                else:
                    del pending[0]
        except (ssl.SSLWantWriteError, BlockingIOError, InterruptedError):
            self._selector.modify(stream.fileno(), selectors.EVENT_READ | selectors.EVENT_WRITE)
            return
        except ssl.SSLWantReadError:
            return  # the TLS layer must read first: the socket's reading resumes the write
        except OSError as exc:
            self._failed(exchange, exc)
            return
        self.sent(exchange.task.source.length)

    def _ready(self, conn: HttpConnection, events: int) -> None:
        exchange = self._exchanges.get(conn)
        if exchange is None:
            self._idle_readable(conn)
            return
        if events & selectors.EVENT_WRITE:
            assert conn.stream is not None
            self._selector.modify(conn.stream.fileno(), selectors.EVENT_READ)
            self._write(exchange)
            if exchange.pending and conn in self._exchanges:
                return
        if events & selectors.EVENT_READ and conn in self._exchanges:
            self._read(exchange)

    def _read(self, exchange: _Exchange) -> None:
        stream = exchange.conn.stream
        assert stream is not None
        while True:
            try:
                data = stream.recv(_RECV_SIZE)
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError, InterruptedError):
                if exchange.pending:
                    self._write(exchange)  # a TLS write that waited for a read
                return
            except OSError as exc:
                self._failed(exchange, exc)
                return
            try:
                if data:
                    exchange.heard = True
                    response = exchange.reader.feed(data)
                elif exchange.heard:
                    response = exchange.reader.end_of_stream()
                else:
                    raise ConnectionResetError("server closed the connection before responding")
            except (OSError, ProtocolError) as exc:
                self._failed(exchange, exc)
                return
            if response is not None:
                self._answered(exchange, response)
                return

    def _idle_readable(self, conn: HttpConnection) -> None:
        """An idle connection is readable: TLS housekeeping (a session ticket), or the server
        closed it (dropped)."""
        assert conn.stream is not None
        try:
            data = conn.stream.recv(_RECV_SIZE)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        del data  # closed (empty), or bytes nobody asked for: either way the connection is done
        for endpoint, idle in self._idle.items():
            if conn in idle:
                idle.remove(conn)
                self._drop(conn, endpoint)
                return

    def _answered(self, exchange: _Exchange, response: Response) -> None:
        task, body, conn = exchange.task, exchange.body, exchange.conn
        del self._exchanges[conn]
        if exchange.reader.keep_alive and not exchange.reader.trailing and not exchange.pending:
            self._release(conn, task.endpoint)
        else:
            self._drop(conn, task.endpoint)
        try:
            done = self._done(exchange, response)
        except PartFailed as failure:
            self.retry(task, failure)
        except Exception as exc:  # a bug must fail the part, not hang the upload
            self.reply(internal_error(task, exc))
        else:
            self.reply(done)
        finally:
            body.close()

    def _done(self, exchange: _Exchange, response: Response) -> PartDone:
        sent = accepted(exchange.task, exchange.checksum, response, exchange.conn, self.engine)
        exchange.body.check_unchanged()
        return sent.done(exchange.task, self.worker, 1, exchange.body)

    def _failed(self, exchange: _Exchange, exc: OSError | ProtocolError) -> None:
        """The exchange got no answer: drop its connection, hand the task on."""
        task = exchange.task
        del self._exchanges[exchange.conn]
        self._drop(exchange.conn, task.endpoint)
        exchange.body.close()
        self.retry(task, transport_failure(task.endpoint, exc))

    def _expire(self, now: float) -> None:
        for exchange in [ex for ex in self._exchanges.values() if ex.deadline <= now]:
            self._failed(
                exchange,
                TimeoutError(
                    "the exchange took longer than its deadline (the timeout plus the body at the minimum rate)"
                ),
            )


def _as_failure(endpoint: BucketEndpoint, error: BaseException | None) -> PartFailed:
    if isinstance(error, (OSError, ProtocolError)):
        return transport_failure(endpoint, error)
    return PartFailed(
        f"cannot connect to {endpoint.host}:{endpoint.port}: {error!r}", retryable=True, code="connection"
    )
