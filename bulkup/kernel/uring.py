"""io_uring, as bulkup uses it: one ring per process running linked chains of splices.

liburing's wait calls hold the GIL, so a reaper thread waits in poll() on the ring's fd
(which releases it) and hands each chain's completions to the thread that submitted it.
With IOSQE_CQE_SKIP_SUCCESS a chain posts one completion: the last op's, or that of the
first op that moved fewer bytes than asked (the kernel cancels the rest silently).
"""

from __future__ import annotations

import importlib
import importlib.util
import select
import sys
import threading
import types
from types import SimpleNamespace
from typing import Protocol, cast

RING_ENTRIES = 256
IOSQE_IO_LINK = 1 << 2  # kernel ABI values: the binding does not export them
IOSQE_CQE_SKIP_SUCCESS = 1 << 6
IORING_FEAT_CQE_SKIP = 1 << 11


class IoUring(Protocol):
    """liburing's ``io_uring``: one ring (the binding ships no types)."""

    @property
    def ring_fd(self) -> int: ...
    @property
    def features(self) -> int: ...


class IoUringSqe(Protocol):
    """liburing's ``io_uring_sqe``: a submission queue entry, filled by the prep calls."""


class IoUringCqe(Protocol):
    """liburing's ``io_uring_cqe``: a completion, read in place."""

    @property
    def user_data(self) -> int: ...
    @property
    def res(self) -> int: ...


class Liburing(Protocol):
    """The part of liburing bulkup calls, with the types its Cython sources declare."""

    def io_uring(self) -> IoUring: ...
    def io_uring_cqe(self) -> IoUringCqe: ...
    def io_uring_queue_init(self, entries: int, ring: IoUring, flags: int = 0) -> int: ...
    def io_uring_get_sqe(self, ring: IoUring) -> IoUringSqe: ...
    def io_uring_submit(self, ring: IoUring) -> int: ...
    def io_uring_sqe_set_data64(self, sqe: IoUringSqe, data: int) -> None: ...
    def io_uring_sqe_set_flags(self, sqe: IoUringSqe, flags: int) -> None: ...
    def io_uring_peek_cqe(self, ring: IoUring, cqe: IoUringCqe) -> int: ...
    def io_uring_cqe_seen(self, ring: IoUring, cqe: IoUringCqe) -> None: ...
    def io_uring_prep_splice(
        self, sqe: IoUringSqe, fd_in: int, off_in: int, fd_out: int, off_out: int, nbytes: int, flags: int
    ) -> None: ...


def load_liburing() -> Liburing:
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
    found = SimpleNamespace(
        **{
            name: getattr(queue, name)
            for name in (
                "io_uring",
                "io_uring_cqe",
                "io_uring_queue_init",
                "io_uring_get_sqe",
                "io_uring_submit",
                "io_uring_sqe_set_data64",
                "io_uring_sqe_set_flags",
                "io_uring_peek_cqe",
                "io_uring_cqe_seen",
            )
        },
        io_uring_prep_splice=ops.io_uring_prep_splice,
    )
    return cast(Liburing, found)


class Ring:
    """One io_uring shared by a process's threads: submit linked splice chains, wait for each."""

    def __init__(self) -> None:
        self._lu = lu = load_liburing()
        self.ring = lu.io_uring()
        lu.io_uring_queue_init(RING_ENTRIES, self.ring, 0)
        self.skip_success = bool(self.ring.features & IORING_FEAT_CQE_SKIP)
        self._lock = threading.Lock()
        self._chains: dict[int, Chain] = {}
        self._next_id = 1
        self._reaper = threading.Thread(target=self._reap_forever, name="uring-reaper", daemon=True)
        self._reaper.start()

    def run(self, ops: list[tuple[int, int, int, int, int]], timeout: float) -> tuple[int, int]:
        """Submit one linked chain of splices (fd_in, off_in, fd_out, nbytes, flags).

        Returns (index of the op that ended the chain, its result): the last op with its
        byte count when all went through, else the first op that fell short or failed.
        """
        lu = self._lu
        chain = Chain(len(ops) if not self.skip_success else 1)
        with self._lock:
            chain_id = self._next_id
            self._next_id += 1
            self._chains[chain_id] = chain
            for index, (fd_in, off_in, fd_out, nbytes, flags) in enumerate(ops):
                sqe = lu.io_uring_get_sqe(self.ring)
                lu.io_uring_prep_splice(sqe, fd_in, off_in, fd_out, -1, nbytes, flags)
                lu.io_uring_sqe_set_data64(sqe, (chain_id << 16) | (index + 1))
                if index < len(ops) - 1:
                    lu.io_uring_sqe_set_flags(sqe, IOSQE_IO_LINK | (IOSQE_CQE_SKIP_SUCCESS if self.skip_success else 0))
            lu.io_uring_submit(self.ring)
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
            poller.poll()  # releases the GIL
            with self._lock:
                while self._lu.io_uring_peek_cqe(self.ring, cqe) == 0:
                    data, res = cqe.user_data, cqe.res
                    self._lu.io_uring_cqe_seen(self.ring, cqe)
                    chain = self._chains.get(data >> 16)
                    if chain is not None and chain.record((data & 0xFFFF) - 1, res):
                        del self._chains[data >> 16]


class Chain:
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


_shared_ring: Ring | None = None
_shared_lock = threading.Lock()


def shared_ring() -> Ring:
    """The process's ring, made on first use."""
    global _shared_ring
    with _shared_lock:
        if _shared_ring is None:
            _shared_ring = Ring()
        return _shared_ring
