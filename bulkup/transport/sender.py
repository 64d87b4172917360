"""Sending one part on one connection, with retries: checksum, sign, send, read the answer."""
from __future__ import annotations

import os
import random
import socket
import ssl
import time
from typing import Callable

import h11

from bulkup.plan.checksums import get_algorithm
from bulkup.transport.connection import HttpConnection, TlsSettings
from bulkup.kernel import ktls
from bulkup.transport.engines import SendEngine, path_label
from bulkup.transport.engines.userspace import UserspaceEngine
from bulkup.errors import PartFailed
from bulkup.transport.filebody import FileBody
from bulkup.transport.messages import PartDone, PartTask, WorkerConfig
from bulkup.transport.request import BucketEndpoint, RequestSigner, upload_target
from bulkup.transport.responses import etag_of, failure_from_response

BACKOFF_BASE = 0.2
BACKOFF_CAP = 10.0


class PartSender:
    """Owns persistent connections (one per endpoint) and sends parts on them."""

    def __init__(self, worker: int, config: WorkerConfig, signer: RequestSigner,
                 engine: SendEngine, progress: Callable[[int], None],
                 on_retry: Callable[[PartTask, int, str], None] | None = None) -> None:
        self.worker = worker
        self.config = config
        self.signer = signer
        self.engine = engine
        self.progress = progress
        self.on_retry = on_retry or (lambda task, attempt, reason: None)
        self.tls = TlsSettings(config.verify_tls, config.ca_bundle, kernel_tls=engine.needs_kernel_tls,
                               max_version=config.tls_max_version)
        self.fallback = UserspaceEngine()
        self._connections: dict[BucketEndpoint, HttpConnection] = {}
        self._fallback_reasons: dict[str, str] = {}     # connection serial -> why not kTLS

    def send(self, task: PartTask) -> PartDone:
        """Send ``task``, retrying transient failures with backoff and full jitter."""
        with FileBody(task.source) as body:
            encoded = self._checksum(task, body)
            attempt = 0
            while True:
                attempt += 1
                try:
                    etag, conn, engine = self._attempt(task, body, encoded)
                    return PartDone(task_id=task.task_id, etag=etag, checksum=encoded,
                                    worker=self.worker, pid=os.getpid(), connection=conn.serial,
                                    request_on_connection=conn.requests_sent, attempts=attempt,
                                    data_path=path_label(engine, conn.tls),
                                    fallback=self._fallback_reasons.get(conn.serial),
                                    ktls_rx=conn.ktls_rx)
                except PartFailed as failure:
                    if not failure.retryable or attempt >= self.config.max_attempts:
                        if attempt > 1:
                            failure.args = (f"{failure} (after {attempt} attempts)",)
                        raise
                    self.on_retry(task, attempt, str(failure))
                time.sleep(random.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * 2 ** attempt)))

    def close(self) -> None:
        for conn in self._connections.values():
            conn.close()
        self.engine.close()

    def _checksum(self, task: PartTask, body: FileBody) -> str | None:
        if task.checksum is not None:
            return task.checksum
        algorithm = get_algorithm(task.checksum_algorithm)
        raw = algorithm.compute(body.view())
        return None if raw is None else algorithm.encode(raw)

    def _attempt(self, task: PartTask, body: FileBody,
                 checksum: str | None) -> tuple[str, HttpConnection, SendEngine]:
        conn = self._connection(task.endpoint)
        headers = dict(task.headers) if task.upload_id is None else {}
        headers["Content-Length"] = str(task.source.length)
        header = get_algorithm(task.checksum_algorithm).header
        if checksum is not None and header:
            headers[header] = checksum
        target = upload_target(task.endpoint, task.key, task.upload_id, task.part_number)
        head = self.signer.sign(task.endpoint, "PUT", target, headers)
        try:
            if not conn.is_open:
                conn.open()
            engine = self._engine_for(conn)
            response = conn.exchange(head, body, engine, self.progress)
        except ssl.SSLCertVerificationError as exc:
            raise PartFailed(f"TLS certificate verification failed for {task.endpoint.host}: "
                             f"{exc.verify_message or exc.reason}", retryable=False, fatal=True,
                             code="TLS") from None
        except (OSError, h11.ProtocolError) as exc:
            raise PartFailed(_describe_transport_error(task.endpoint, exc), retryable=True,
                             code="connection") from None
        if 200 <= response.status < 300:
            return etag_of(response.headers), conn, engine
        raise failure_from_response(response.status, response.body)

    def _engine_for(self, conn: HttpConnection) -> SendEngine:
        """The chosen engine, or user-space TLS on a connection the kernel did not take over."""
        if self.engine.can_send_on(conn):
            return self.engine
        if conn.serial not in self._fallback_reasons:
            self._fallback_reasons[conn.serial] = ktls.why_not_offloaded(conn.stream)
        return self.fallback

    def _connection(self, endpoint: BucketEndpoint) -> HttpConnection:
        conn = self._connections.get(endpoint)
        if conn is None:
            conn = self._connections[endpoint] = HttpConnection.to(endpoint, self.tls, self.config.timeout)
        return conn


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
