"""A server that trickles its answer, or answers far too much, cannot hold a part forever."""

import os
import socket
import threading

import pytest
from conftest import write_random_file

from bulkup.plan.files import FileIdentity
from bulkup.transport.engines.userspace import UserspaceEngine
from bulkup.transport.failures import PartFailed
from bulkup.transport.filebody import FileRange
from bulkup.transport.messages import PartTask, WorkerConfig
from bulkup.transport.request import BucketEndpoint, CredentialSet, RequestSigner
from bulkup.transport.sender import PartSender


class BadServer:
    """A TCP server on loopback that reads each request, then answers with ``answer(sock)``."""

    def __init__(self, answer) -> None:
        self.answer = answer
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.done = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.done.is_set():
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(sock,), daemon=True).start()

    def _one(self, sock: socket.socket) -> None:
        with sock:
            data = b""
            while b"\r\n\r\n" not in data:
                data += sock.recv(65536)
            head, _, rest = data.partition(b"\r\n\r\n")
            length = int(
                next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
            )
            while len(rest) < length:
                rest += sock.recv(65536)
            try:
                self.answer(sock, self.done)
            except OSError:
                pass

    def close(self) -> None:
        self.done.set()
        self.listener.close()


ANSWER = b'HTTP/1.1 200 OK\r\nETag: "x"\r\nContent-Length: 0\r\n\r\n'
trickled = []


def trickle(sock, done) -> None:
    """One byte of a valid answer every 0.3 s: no single receive ever times out."""
    for byte in ANSWER:
        if done.wait(0.3):
            return
        sock.sendall(bytes([byte]))
        trickled.append(byte)


def flood(sock, done) -> None:
    """An answer whose body never ends."""
    sock.sendall(b'HTTP/1.1 200 OK\r\nETag: "x"\r\nTransfer-Encoding: chunked\r\n\r\n')
    chunk = b"%x\r\n%s\r\n" % (65536, b"x" * 65536)
    while not done.is_set():
        sock.sendall(chunk)


def send_to(server: BadServer, path: str, size: int) -> str:
    creds = CredentialSet("AKIDEXAMPLE", "secret")
    config = WorkerConfig(region="us-east-1", credentials=creds, retry_deadline=0, timeout=1.0, min_rate=1 << 20)
    sender = PartSender(0, config, RequestSigner(creds, "us-east-1"), UserspaceEngine(), lambda n: None)
    task = PartTask(
        task_id=1,
        endpoint=BucketEndpoint.from_url(f"{server.url}/b"),
        key="k",
        source=FileRange(path=path, offset=0, length=size, expect=FileIdentity.of(os.stat(path))),
        checksum_algorithm="crc64nvme",
    )
    try:
        with pytest.raises(PartFailed) as failure:
            sender.send(task)
    finally:
        sender.close()
    return str(failure.value)


def test_a_trickling_answer_is_cut_at_the_requests_deadline(tmp_path):
    path = write_random_file(tmp_path / "f.bin", 1000)
    server = BadServer(trickle)
    try:
        reason = send_to(server, path, 1000)
        sent_when_cut = len(trickled)
    finally:
        server.close()
    assert "timed out" in reason or "deadline" in reason
    assert sent_when_cut < len(ANSWER)  # cut at its deadline, not after the whole trickle


def test_an_answer_that_never_ends_is_refused(tmp_path):
    path = write_random_file(tmp_path / "f.bin", 1000)
    server = BadServer(flood)
    try:
        reason = send_to(server, path, 1000)
    finally:
        server.close()
    assert "connection" in reason or "response body" in reason
