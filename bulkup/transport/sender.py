"""Sending one part on one connection, with retries: checksum, sign, send, read the answer."""

from __future__ import annotations

import base64
import os
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass

from bulkup.kernel import ktls
from bulkup.plan.checksums import get_algorithm
from bulkup.transport.connection import HttpConnection, TlsSettings, certificate_failure
from bulkup.transport.engines import SendEngine, path_label
from bulkup.transport.engines.userspace import UserspaceEngine
from bulkup.transport.failures import PartFailed
from bulkup.transport.filebody import FileBody
from bulkup.transport.http1 import ProtocolError, Response
from bulkup.transport.messages import PartDone, PartError, PartTask, WorkerConfig
from bulkup.transport.proxy import proxy_for
from bulkup.transport.request import BucketEndpoint, RequestHead, RequestSigner, upload_target
from bulkup.transport.responses import DIGEST_CODES, etag_of, failure_from_response
from bulkup.transport.retry import Deadline, pause


class PartSender:
    """Owns persistent connections (one per endpoint) and sends parts on them."""

    def __init__(
        self,
        worker: int,
        config: WorkerConfig,
        signer: RequestSigner,
        engine: SendEngine,
        progress: Callable[[int], None],
        on_retry: Callable[[PartTask, int, PartFailed], None] | None = None,
        spread: int = 0,
        pace: Callable[[], None] = lambda: None,
        backed_off: Callable[[float], None] = lambda s: None,
    ) -> None:
        self.worker = worker
        self.spread = spread  # which of an endpoint's addresses this sender's connection uses
        self.config = config
        self.signer = signer
        self.engine = engine
        self.progress = progress
        self.on_retry = on_retry or (lambda task, attempt, failure: None)
        self.pace = pace  # waits for the worker's share of the run's request rate
        self.backed_off = backed_off  # told each pause between attempts
        self.tls = TlsSettings(
            config.verify_tls, config.ca_bundle, kernel_tls=engine.needs_kernel_tls, max_version=config.tls_max_version
        )
        self.fallback = UserspaceEngine()
        self._connections: dict[BucketEndpoint, HttpConnection] = {}
        self._last: tuple[BucketEndpoint, HttpConnection] | None = None  # the last part's endpoint, its connection
        self._fallback_reasons: dict[str, str] = {}  # connection serial -> why not kTLS
        self._cut = False

    def send(self, task: PartTask, failed: PartFailed | None = None) -> PartDone:
        """Send ``task``, retrying transient failures with backoff and full jitter until the
        retry deadline; every attempt waits for its turn in the run's request rate.
        ``failed``: its first attempt was made elsewhere (the send loop) and failed so; this
        takes over from there.

        A body the store finds does not match its checksum (corrupted on the way) is read and
        checked again and sent again; the part fails only if that keeps happening.
        """
        with FileBody(task.source) as body:
            checksum = checksum_of(task, body)
            attempt, deadline = 0, Deadline(self.config.retry_deadline)
            while True:
                attempt += 1
                if failed is None:
                    self.pace()
                    try:
                        sent = self._attempt(task, body, checksum)
                        body.check_unchanged()
                        return sent.done(task, self.worker, attempt, body)
                    except PartFailed as failure:
                        failed = failure
                checksum = self._after_failure(task, body, checksum, failed, attempt, deadline)
                failed = None
                wait = pause(attempt)
                self.backed_off(wait)
                time.sleep(wait)

    def _after_failure(
        self,
        task: PartTask,
        body: FileBody,
        checksum: str | None,
        failure: PartFailed,
        attempt: int,
        deadline: Deadline,
    ) -> str | None:
        """Raise ``failure`` if it is final; else the checksum to send next (read again when
        the store found the body corrupted), and the coordinator told of the retry."""
        if failure.code == "connection":
            body.check_unchanged()  # sendfile and splice stop short at a shrunk file
        if failure.code in DIGEST_CODES:
            checksum = self._checked_again(task, body, checksum, failure)
        if failure.retryable and deadline.passed:
            failure.args = (
                f"{failure} (still refused after {deadline.elapsed:.0f} s and {attempt} "
                f"attempts: --retry-deadline {self.config.retry_deadline:g}s)",
            )
            raise failure
        if not failure.retryable:
            if attempt > 1:
                failure.args = (f"{failure} (after {attempt} attempts)",)
            raise failure
        self.on_retry(task, attempt, failure)
        return checksum

    def cut(self) -> None:
        """Fail the exchange under way at once, and every one after (called from another
        thread: a halted run)."""
        self._cut = True  # before the connections are read: _connection() adds, then reads this
        for conn in list(self._connections.values()):
            conn.cut()

    def close(self) -> None:
        for conn in self._connections.values():
            conn.close()
        self.engine.close()

    @staticmethod
    def _checked_again(task: PartTask, body: FileBody, sent: str | None, failure: PartFailed) -> str | None:
        """After the store rejected the body's checksum: read the range again and compute it
        anew. A file that is not what it was, or not what a given checksum says, is final."""
        body.check_unchanged()
        body.forget()
        again = _computed(task, body)
        if task.checksum is not None and again != task.checksum:
            raise PartFailed(
                f"{failure}: the file's {task.checksum_algorithm} {again} is not the expected {task.checksum}",
                retryable=False,
                code="checksum",
            )
        if again == sent:
            failure.args = (
                f"{failure}: the store's copy of the body did not match; the file has "
                "not changed, so it was altered on the way",
            )
        return again

    def _attempt(self, task: PartTask, body: FileBody, checksum: str | None) -> Sent:
        conn = self._connection(task.endpoint)
        head = signed_request(self.signer, task, checksum)
        try:
            if not conn.is_open:
                conn.open()
            engine = self._engine_for(conn)
            response = conn.exchange(head, body, engine, self.progress, self.config.min_rate)
        except (OSError, ProtocolError) as exc:
            raise transport_failure(task.endpoint, exc) from None
        return accepted(task, checksum, response, conn, engine, self._fallback_reasons.get(conn.serial))

    def _engine_for(self, conn: HttpConnection) -> SendEngine:
        """The chosen engine, or user-space TLS on a connection the kernel did not take over."""
        if self.engine.can_send_on(conn):
            return self.engine
        if conn.serial not in self._fallback_reasons:
            assert conn.stream is not None  # the caller opened it
            self._fallback_reasons[conn.serial] = ktls.why_not_offloaded(conn.stream)
        return self.fallback

    def _connection(self, endpoint: BucketEndpoint) -> HttpConnection:
        """The connection to ``endpoint``: the last part's when it came with the same object
        (parts of one batch share it), with no hash of the endpoint's five fields."""
        last = self._last
        if last is not None and last[0] is endpoint:
            return last[1]
        conn = self._connections.get(endpoint)
        if conn is None:
            conn = self._connections[endpoint] = new_connection(endpoint, self.config, self.tls, self.spread)
            if self._cut:  # made while it was being cut
                conn.cut()
        self._last = (endpoint, conn)  # an endpoint's connection is never replaced: it reopens
        return conn


def signed_request(signer: RequestSigner, task: PartTask, checksum: str | None) -> RequestHead:
    """The signed head of the PutObject or UploadPart that sends ``task`` with ``checksum``."""
    headers = dict(task.headers) if task.upload_id is None else {}
    headers["Content-Length"] = str(task.source.length)
    header = get_algorithm(task.checksum_algorithm).header
    if checksum is not None and header:
        headers[header] = checksum
    target = upload_target(task.endpoint, task.key, task.upload_id, task.part_number)
    return signer.sign(task.endpoint, "PUT", target, headers)


def internal_error(task: PartTask, exc: Exception) -> PartError:
    """A bug met while sending ``task``: the part fails (and the upload goes on) instead of hanging."""
    return PartError(
        task_id=task.task_id, message=f"internal error: {exc.__class__.__name__}: {exc}", fatal=False, code="internal"
    )


def transport_failure(endpoint: BucketEndpoint, exc: OSError | ProtocolError) -> PartFailed:
    """An attempt that did not get an answer: final for a certificate this machine does not
    accept, else worth another attempt."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        reason = certificate_failure(endpoint.host, exc.verify_message or exc.reason)
        return PartFailed(reason, retryable=False, fatal=True, code="TLS")
    return PartFailed(_describe_transport_error(endpoint, exc), retryable=True, code="connection")


def accepted(
    task: PartTask,
    checksum: str | None,
    response: Response,
    conn: HttpConnection,
    engine: SendEngine,
    fallback: str | None = None,
) -> Sent:
    """What the store's answer to an attempt says: the part stored, or PartFailed (refused,
    or an echo that says the store has other bytes)."""
    if not 200 <= response.status < 300:
        raise failure_from_response(response.status, response.body)
    etag = etag_of(response.headers)
    echoed = _confirmed(task, checksum, etag, response.headers)
    return Sent(etag=etag, checksum=checksum, conn=conn, engine=engine, echoed=echoed, fallback=fallback)


@dataclass(kw_only=True, slots=True)
class Sent:
    """What the store answered to one attempt that it accepted (not frozen: a frozen
    dataclass takes ~0.6 µs more to make, once a part)."""

    etag: str
    checksum: str | None
    conn: HttpConnection
    engine: SendEngine
    echoed: bool
    fallback: str | None

    def done(self, task: PartTask, worker: int, attempts: int, body: FileBody) -> PartDone:
        return PartDone(
            task_id=task.task_id,
            etag=self.etag,
            checksum=self.checksum,
            worker=worker,
            pid=os.getpid(),
            connection=self.conn.serial,
            request_on_connection=self.conn.requests_sent,
            attempts=attempts,
            data_path=path_label(self.engine, self.conn.tls),
            fallback=self.fallback,
            ktls_rx=self.conn.ktls_rx,
            echoed=self.echoed,
            source_seen=body.identity,
            tls=self.conn.negotiated() if self.conn.requests_sent == 1 else None,
        )


def new_connection(endpoint: BucketEndpoint, config: WorkerConfig, tls: TlsSettings, spread: int) -> HttpConnection:
    """A connection (not yet open) to ``endpoint``, through the proxy the run's environment names for it."""
    proxy = proxy_for(endpoint.scheme, endpoint.host, endpoint.port, config.proxy_environment)
    return HttpConnection.to(endpoint, tls, config.timeout, proxy, spread)


def checksum_of(task: PartTask, body: FileBody) -> str | None:
    """The checksum to send with the part: the one given, else computed from the file."""
    if task.checksum is not None:
        return task.checksum
    return _computed(task, body)


def _computed(task: PartTask, body: FileBody) -> str | None:
    return get_algorithm(task.checksum_algorithm).text(body.chunks())


def _confirmed(task: PartTask, checksum: str | None, etag: str, headers: dict[str, str]) -> bool:
    """Whether the store echoed the flexible checksum sent; raises PartFailed (to send the part
    again) if what it echoed, or an ETag that is the body's MD5, says it has other bytes."""
    algorithm = get_algorithm(task.checksum_algorithm)
    if checksum is None:
        return False
    if algorithm.flexible and algorithm.header is not None:
        echo = headers.get(algorithm.header.lower())
        if echo is not None and echo != checksum:
            raise PartFailed(
                f"the store echoed {algorithm.name} {echo}, not the {checksum} sent",
                retryable=True,
                code="ChecksumEcho",
            )
        return echo is not None
    if algorithm.name == "md5" and task.etag_is_md5:
        digest = base64.b64decode(checksum).hex()
        if etag.strip('"').lower() != digest:
            raise PartFailed(
                f"the store's ETag {etag} is not the MD5 {digest} of the part sent", retryable=True, code="ETagMismatch"
            )
    return False


def _describe_transport_error(endpoint: BucketEndpoint, exc: BaseException) -> str:
    where = f"{endpoint.host}:{endpoint.port}"
    if isinstance(exc, ConnectionRefusedError):
        return f"cannot connect to {where}: connection refused"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve host {endpoint.host}: {exc.strerror}"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return f"timed out talking to {where}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS error with {where}: {exc.reason or exc}"
    if isinstance(exc, OSError) and exc.strerror:
        return f"connection to {where} failed: {exc.strerror}"
    return f"connection to {where} failed: {exc.__class__.__name__}"
