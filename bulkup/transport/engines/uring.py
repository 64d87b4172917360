"""io_uring splice: file -> pipe -> socket as linked chains, many chunks per io_uring_enter.

Each part body goes through the engine's pipe (enlarged to the pipe size limit) as one
linked chain per submit: ``[drain leftover] F0 S0 F1 S1 ... Fn Sn`` where F is a splice
file -> pipe and S pipe -> socket. Every op but the last carries IOSQE_IO_LINK, so a chunk
never enters the pipe before the previous one left it (``bulkup.kernel.uring`` runs the
chains). Bytes left in the pipe by a short send are drained at the head of the next chain;
nothing is lost or sent twice.

An engine serves one sender thread, which sends one body at a time, so it needs one pipe,
whatever connection the body goes to; a pipe a failed send may have left bytes in is
closed and replaced. The ring is probed in a child process first: the binding can crash
(e.g. SIGILL on CPUs it was not built for) and that must never take down an upload.

Chunk and batch sizes are measured (see docs/engines.md): 1 MiB chunks (the pipe size; 64 KiB chunks
cost 3.5x the CPU) and up to 64 chunks per submit (batches of 4 to 64 cost the same CPU; 64
means 16 io_uring_enter calls per GiB where parts are large).
"""

from __future__ import annotations

import errno
import fcntl
import functools
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bulkup.kernel import ktls
from bulkup.kernel.availability import Availability
from bulkup.kernel.uring import Ring, load_liburing, shared_ring
from bulkup.transport.engines.base import Connection, SendEngine, send_head_held

if TYPE_CHECKING:
    from bulkup.transport.filebody import FileBody

CHUNK = 1 << 20
BATCH = 64
SPLICE_F_MORE = 4
F_SETPIPE_SZ: int = getattr(fcntl, "F_SETPIPE_SZ", 1031)
F_GETPIPE_SZ: int = getattr(fcntl, "F_GETPIPE_SZ", 1032)


# -- the chain arithmetic (no I/O) -------------------------------------------------------


@dataclass(frozen=True)
class SpliceOp:
    into_pipe: bool  # True: file -> pipe (F); False: pipe -> socket (S)
    file_offset: int  # for F ops
    length: int


@dataclass
class SpliceProgress:
    """Where a body stands: bytes read into the pipe, and bytes the socket has taken."""

    offset: int
    end: int
    into_pipe: int = 0
    sent: int = 0

    @property
    def in_pipe(self) -> int:
        return self.into_pipe - self.sent

    @property
    def done(self) -> bool:
        return self.offset + self.sent == self.end

    def next_chain(self, chunk: int, batch: int) -> list[SpliceOp]:
        """Drain what a short send left in the pipe, then up to ``batch`` new chunks."""
        ops = [SpliceOp(False, 0, self.in_pipe)] if self.in_pipe else []
        position = self.offset + self.into_pipe
        for _ in range(batch):
            if position >= self.end:
                break
            length = min(chunk - position % chunk if position % chunk else chunk, self.end - position)
            ops += [SpliceOp(True, position, length), SpliceOp(False, 0, length)]
            position += length
        return ops

    def account(self, ops: list[SpliceOp], stopped_at: int, result: int) -> None:
        """Record a chain's outcome: ops before ``stopped_at`` moved all, that one ``result``."""
        for index, op in enumerate(ops[: stopped_at + 1]):
            moved = op.length if index < stopped_at else max(result, 0)
            if op.into_pipe:
                self.into_pipe += moved
            else:
                self.sent += moved


# -- probing, isolated -------------------------------------------------------------------

_SELF_TEST = "import sys; from bulkup.transport.engines.uring import _self_test; sys.exit(_self_test())"


@functools.lru_cache(maxsize=1)
def probe() -> Availability:
    """Run a real splice through a ring in a child process; a crash there is only a 'no'."""
    if not sys.platform.startswith("linux"):
        return Availability(
            False,
            f"io_uring exists only in the Linux kernel (this is {sys.platform}); bulkup installs without liburing here",
        )
    import subprocess  # only when io_uring is asked about

    try:
        proc = subprocess.run([sys.executable, "-c", _SELF_TEST], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Availability(False, f"io_uring probe could not run: {exc}")
    if proc.returncode == 0:
        return Availability(True, proc.stdout.strip() or "io_uring splice works")
    if proc.returncode < 0:
        name = signal.Signals(-proc.returncode).name
        return Availability(
            False, f"liburing crashed in the probe ({name}): the installed binding does not run on this CPU or kernel"
        )
    lines = (proc.stdout + proc.stderr).strip().splitlines()
    return Availability(False, lines[-1] if lines else f"io_uring probe failed ({proc.returncode})")


def _self_test() -> int:
    """Splice 300 KiB from a file through a pipe into a socket pair; print the verdict."""
    try:
        load_liburing()
    except ImportError as exc:
        print(f"liburing is not importable: {exc}")
        return 1
    import tempfile

    data = os.urandom(300 * 1024 + 7)
    a, b = socket.socketpair()
    with tempfile.TemporaryFile() as f, a, b:
        f.write(data)
        f.flush()
        try:
            ring = Ring()
        except OSError as exc:
            print(f"io_uring is not usable in this kernel: {exc.strerror or exc}")
            return 1
        received = bytearray()
        reader = threading.Thread(target=lambda: _read_exactly(b, len(data), received))
        reader.start()
        _send_range(ring, Pipe(), f.fileno(), 0, len(data), a.fileno(), lambda n: None, 10.0)
        reader.join(10)
        if bytes(received) != data:
            print("io_uring splice delivered wrong bytes")
            return 1
    print(
        f"io_uring splice works (kernel {os.uname().release}, "
        f"{'one completion per chain' if ring.skip_success else 'a completion per op'})"
    )
    return 0


def _read_exactly(sock: socket.socket, n: int, into: bytearray) -> None:
    while len(into) < n:
        chunk = sock.recv(1 << 20)
        if not chunk:
            return
        into += chunk


# -- sending ------------------------------------------------------------------------------


class Pipe:
    """A pipe as large as the system allows (up to the chunk size)."""

    def __init__(self) -> None:
        self.r, self.w = os.pipe2(os.O_CLOEXEC)
        try:
            self.size = fcntl.fcntl(self.w, F_SETPIPE_SZ, CHUNK)
        except OSError:
            self.size = fcntl.fcntl(self.w, F_GETPIPE_SZ)

    def close(self) -> None:
        for fd in (self.r, self.w):
            try:
                os.close(fd)
            except OSError:
                pass


def _send_range(
    ring: Ring,
    pipe: Pipe,
    file_fd: int,
    offset: int,
    length: int,
    sock_fd: int,
    progress: Callable[[int], None],
    timeout: float,
    remaining: Callable[[], float] = lambda: float("inf"),
) -> None:
    state = SpliceProgress(offset, offset + length)
    while not state.done:
        remaining()  # past the exchange's deadline: TimeoutError
        ops = state.next_chain(pipe.size, BATCH)
        raw = [
            (file_fd, op.file_offset, pipe.w, op.length, 0)
            if op.into_pipe
            else (pipe.r, -1, sock_fd, op.length, SPLICE_F_MORE)
            for op in ops
        ]
        raw[-1] = raw[-1][:4] + (0,)
        before = state.sent
        stopped_at, result = ring.run(raw, timeout)
        state.account(ops, stopped_at, result)
        if state.sent > before:
            progress(state.sent - before)
        if result < 0 and result != -errno.ECANCELED:
            if result == -errno.EAGAIN:
                raise TimeoutError(f"socket took no data for {timeout:.0f} s")
            raise OSError(-result, os.strerror(-result))
        if result == 0 and ops[stopped_at].into_pipe:
            raise ConnectionResetError("file ended early: it shrank while being sent")


class UringEngine(SendEngine):
    name = "uring"
    label = "io_uring splice"
    path_name = "io_uring"
    needs_kernel_tls = True

    def __init__(self) -> None:
        self._pipe: Pipe | None = None

    @classmethod
    def available(cls, tls: bool) -> Availability:
        if tls:  # the cheap question first: the ring probe starts a process
            ulp = ktls.tls_ulp_available()
            if not ulp:
                return Availability(False, f"needs kernel TLS for https: {ulp.reason}")
        ring = probe()
        if not ring or not tls:
            return ring
        return Availability(True, f"{ring.reason}; kernel TLS available")

    def send(self, conn: Connection, head: bytes, body: FileBody, progress: Callable[[int], None]) -> None:
        if self._pipe is None:
            self._pipe = Pipe()
        try:
            with conn.kernel_send() as sock_fd:
                send_head_held(conn, head, body_follows=body.length > 0)
                _send_range(
                    shared_ring(),
                    self._pipe,
                    body.fd,
                    body.offset,
                    body.length,
                    sock_fd,
                    progress,
                    conn.timeout,
                    conn.remaining,
                )
        except BaseException:
            self.close()  # bytes may be left in the pipe: never reuse it
            raise

    def close(self) -> None:
        if self._pipe is not None:
            self._pipe.close()
            self._pipe = None
