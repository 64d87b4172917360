"""io_uring splice: file -> pipe -> socket as linked chains, many chunks per io_uring_enter.

Each part body goes through one pipe per connection (enlarged to the pipe size limit) as one
linked chain per submit: ``[drain leftover] F0 S0 F1 S1 ... Fn Sn`` where F is a splice
file -> pipe and S pipe -> socket. Every op but the last carries IOSQE_IO_LINK, so a chunk
never enters the pipe before the previous one left it, and IOSQE_CQE_SKIP_SUCCESS, so a
chain posts one completion: the last op's, or that of the first op that moved fewer bytes
than asked (the kernel then cancels the rest silently). Bytes left in the pipe by a short
send are drained at the head of the next chain; nothing is lost or sent twice.

One ring per worker process serves all its connections. liburing's wait calls hold the
GIL, so a reaper thread waits in poll() on the ring's fd (which releases it) and hands
completions to the connection threads. The ring is probed in a child process first: the
binding can crash (e.g. SIGILL on CPUs it was not built for) and that must never take down
an upload.

Chunk and batch sizes are measured (see README): 1 MiB chunks (the pipe size; 64 KiB chunks
cost 3.5x the CPU) and up to 64 chunks per submit (batches of 4 to 64 cost the same CPU; 64
means 16 io_uring_enter calls per GiB where parts are large).
"""
from __future__ import annotations

import errno
import fcntl
import functools
import importlib
import importlib.util
import os
import select
import socket
import subprocess
import sys
import threading
import types
from dataclasses import dataclass
from types import SimpleNamespace
from typing import TYPE_CHECKING, Callable

from .base import Availability, SendEngine

if TYPE_CHECKING:
    from ..connection import Connection
    from ..filebody import FileBody

CHUNK = 1 << 20
BATCH = 64
RING_ENTRIES = 256
IOSQE_IO_LINK = 1 << 2            # kernel ABI values: the binding does not export them
IOSQE_CQE_SKIP_SUCCESS = 1 << 6
IORING_FEAT_CQE_SKIP = 1 << 11
SPLICE_F_MORE = 4
F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
F_GETPIPE_SZ = getattr(fcntl, "F_GETPIPE_SZ", 1032)


# -- the chain arithmetic (no I/O) -------------------------------------------------------

@dataclass(frozen=True)
class SpliceOp:
    into_pipe: bool        # True: file -> pipe (F); False: pipe -> socket (S)
    file_offset: int       # for F ops
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
        for index, op in enumerate(ops[:stopped_at + 1]):
            moved = op.length if index < stopped_at else max(result, 0)
            if op.into_pipe:
                self.into_pipe += moved
            else:
                self.sent += moved


# -- the ring -------------------------------------------------------------------------

class _Ring:
    """One io_uring shared by a worker's connection threads."""

    def __init__(self) -> None:
        self._lu = lu = _liburing()
        self.ring = lu.io_uring()
        lu.io_uring_queue_init(RING_ENTRIES, self.ring, 0)
        self.skip_success = bool(self.ring.features & IORING_FEAT_CQE_SKIP)
        self._lock = threading.Lock()
        self._chains: dict[int, _Chain] = {}
        self._next_id = 1
        self.enters = 0                  # io_uring_enter calls made by submits
        self._reaper = threading.Thread(target=self._reap_forever, name="uring-reaper", daemon=True)
        self._reaper.start()

    def run(self, ops: list[tuple[int, int, int, int, int]], timeout: float) -> tuple[int, int]:
        """Submit one linked chain of splices (fd_in, off_in, fd_out, nbytes, flags).

        Returns (index of the op that ended the chain, its result): the last op with its
        byte count when all went through, else the first op that fell short or failed.
        """
        lu = self._lu
        chain = _Chain(len(ops) if not self.skip_success else 1)
        with self._lock:
            chain_id = self._next_id
            self._next_id += 1
            self._chains[chain_id] = chain
            for index, (fd_in, off_in, fd_out, nbytes, flags) in enumerate(ops):
                sqe = lu.io_uring_get_sqe(self.ring)
                lu.io_uring_prep_splice(sqe, fd_in, off_in, fd_out, -1, nbytes, flags)
                lu.io_uring_sqe_set_data64(sqe, (chain_id << 16) | (index + 1))
                if index < len(ops) - 1:
                    lu.io_uring_sqe_set_flags(sqe, IOSQE_IO_LINK | (IOSQE_CQE_SKIP_SUCCESS
                                                                     if self.skip_success else 0))
            lu.io_uring_submit(self.ring)
            self.enters += 1
        # The socket's send timeout catches a stalled peer; this only guards against a lost
        # chain, allowing for links as slow as 64 KiB/s.
        limit = timeout + sum(op[3] for op in ops) / 65536
        if not chain.finished.wait(limit):
            raise TimeoutError(f"io_uring splice chain did not complete in {limit:.0f} s")
        return chain.outcome(ops)

    def _reap_forever(self) -> None:
        poller = select.poll()
        poller.register(self.ring.ring_fd, select.POLLIN)
        cqe = self._lu.io_uring_cqe()
        while True:
            poller.poll()                        # releases the GIL
            with self._lock:
                while self._lu.io_uring_peek_cqe(self.ring, cqe) == 0:
                    data, res = cqe.user_data, cqe.res
                    self._lu.io_uring_cqe_seen(self.ring, cqe)
                    chain = self._chains.get(data >> 16)
                    if chain is not None and chain.record((data & 0xFFFF) - 1, res):
                        del self._chains[data >> 16]


class _Chain:
    """Completions of one submitted chain, gathered by the reaper."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.results: dict[int, int] = {}
        self.finished = threading.Event()

    def record(self, index: int, res: int) -> bool:
        self.results[index] = res
        if len(self.results) >= self.expected:
            self.finished.set()
            return True
        return False

    def outcome(self, ops: list[tuple[int, int, int, int, int]]) -> tuple[int, int]:
        for index in sorted(self.results):
            if self.results[index] != ops[index][3]:
                return index, self.results[index]
        last = max(self.results)
        return last, self.results[last]


_shared_ring: _Ring | None = None
_shared_lock = threading.Lock()


def _ring() -> _Ring:
    global _shared_ring
    with _shared_lock:
        if _shared_ring is None:
            _shared_ring = _Ring()
        return _shared_ring


# -- probing, isolated -------------------------------------------------------------------

def _liburing() -> SimpleNamespace:
    """liburing's compiled modules, imported without running the package's __init__.

    That __init__ (dynamic-import) rewrites a cache file inside site-packages on every
    import, which fails wherever the install is read-only (a system install used by another
    user, a shared root filesystem). The modules themselves need none of it.
    """
    if "liburing" not in sys.modules:
        spec = importlib.util.find_spec("liburing")
        if spec is None or not spec.submodule_search_locations:
            raise ImportError("liburing is not installed")
        package = types.ModuleType("liburing")
        package.__path__ = list(spec.submodule_search_locations)
        package.__spec__ = spec
        sys.modules["liburing"] = package
    queue = importlib.import_module("liburing.queue")
    ops = importlib.import_module("liburing.os")
    return SimpleNamespace(**{name: getattr(queue, name) for name in (
        "io_uring", "io_uring_cqe", "io_uring_queue_init", "io_uring_get_sqe", "io_uring_submit",
        "io_uring_sqe_set_data64", "io_uring_sqe_set_flags", "io_uring_peek_cqe",
        "io_uring_cqe_seen")}, io_uring_prep_splice=ops.io_uring_prep_splice)


_SELF_TEST = "import sys; from bulkup.engines.uring import _self_test; sys.exit(_self_test())"


@functools.lru_cache(maxsize=1)
def probe() -> Availability:
    """Run a real splice through a ring in a child process; a crash there is only a 'no'."""
    try:
        proc = subprocess.run([sys.executable, "-c", _SELF_TEST],
                              capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Availability(False, f"io_uring probe could not run: {exc}")
    if proc.returncode == 0:
        return Availability(True, proc.stdout.strip() or "io_uring splice works")
    if proc.returncode < 0:
        import signal
        name = signal.Signals(-proc.returncode).name
        return Availability(False, f"liburing crashed in the probe ({name}): the installed binding "
                                   "does not run on this CPU or kernel")
    lines = (proc.stdout + proc.stderr).strip().splitlines()
    return Availability(False, lines[-1] if lines else f"io_uring probe failed ({proc.returncode})")


def _self_test() -> int:
    """Splice 300 KiB from a file through a pipe into a socket pair; print the verdict."""
    try:
        _liburing()
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
            ring = _Ring()
        except OSError as exc:
            print(f"io_uring is not usable in this kernel: {exc.strerror or exc}")
            return 1
        received = bytearray()
        reader = threading.Thread(target=lambda: _read_exactly(b, len(data), received))
        reader.start()
        _send_range(ring, _Pipe(), f.fileno(), 0, len(data), a.fileno(), lambda n: None, 10.0)
        reader.join(10)
        if bytes(received) != data:
            print("io_uring splice delivered wrong bytes")
            return 1
    print(f"io_uring splice works (kernel {os.uname().release}, "
          f"{'one completion per chain' if ring.skip_success else 'a completion per op'})")
    return 0


def _read_exactly(sock: socket.socket, n: int, into: bytearray) -> None:
    while len(into) < n:
        chunk = sock.recv(1 << 20)
        if not chunk:
            return
        into += chunk


# -- sending ------------------------------------------------------------------------------

class _Pipe:
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


def _send_range(ring: _Ring, pipe: _Pipe, file_fd: int, offset: int, length: int, sock_fd: int,
                progress: Callable[[int], None], timeout: float) -> None:
    state = SpliceProgress(offset, offset + length)
    while not state.done:
        ops = state.next_chain(pipe.size, BATCH)
        raw = [(file_fd, op.file_offset, pipe.w, op.length, 0) if op.into_pipe else
               (pipe.r, -1, sock_fd, op.length, SPLICE_F_MORE) for op in ops]
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
        self._pipes: dict[str, _Pipe] = {}

    @classmethod
    def available(cls, tls: bool) -> Availability:
        ring = probe()
        if not ring:
            return ring
        if tls:
            from .. import ktls
            ulp = ktls.tls_ulp_available()
            if not ulp:
                return Availability(False, f"needs kernel TLS for https: {ulp.reason}")
            return Availability(True, f"{ring.reason}; kernel TLS available")
        return ring

    def send(self, conn: "Connection", body: "FileBody", progress: Callable[[int], None]) -> None:
        pipe = self._pipes.get(conn.serial)
        if pipe is None:
            pipe = self._pipes[conn.serial] = _Pipe()
        try:
            with conn.kernel_send() as sock_fd:
                _send_range(_ring(), pipe, body.fd, body.offset, body.length, sock_fd,
                            progress, conn.timeout)
        except BaseException:
            pipe.close()                     # bytes may be left in it: never reuse
            del self._pipes[conn.serial]
            raise

    def close(self) -> None:
        for pipe in self._pipes.values():
            pipe.close()
        self._pipes.clear()
