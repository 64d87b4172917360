"""Worker pools: the coordinator's view of its senders, wherever they run.

A pool starts workers, carries messages to and from them, notices a death (reported as
``WorkerGone``), replaces the dead while its budget lasts, and stops them. ``WorkerPool``
runs them as local processes; ``bulkup.raypool.RayWorkerPool`` as actors on a Ray cluster.

Each local worker is a fresh ``python -m bulkup.worker`` joined to the coordinator by a
socket pair. Fresh interpreters (not fork, not multiprocessing's spawn) so that a caller's
script is never re-imported and no coordinator thread or lock is inherited. A worker's end
of the pair is held by the worker alone: its death shows as end-of-file here.
"""
from __future__ import annotations

import dataclasses
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection as Pipe, wait
from typing import Callable

from .messages import NewCredentials, WorkerConfig, WorkerStart

STOP_GRACE = 10.0


@dataclass(frozen=True)
class WorkerGone:
    """Not a message a worker sends: the pool's word that the worker died, and how."""

    why: str


@dataclass(eq=False)
class Worker:
    """A sender as the coordinator sees it: the tasks it holds, whether it lives and takes work."""

    index: int
    in_flight: set[int] = field(default_factory=set)
    alive: bool = True
    ready: bool = False        # tasks may be sent (a local worker's pipe buffers them at once)


OnMessage = Callable[[Worker, object], None]


class Pool:
    """What the coordinator needs from a pool of workers, wherever they run."""

    config: WorkerConfig
    size: int
    # Tasks a worker holds per connection: one being sent, the rest ready to follow at once.
    queue_depth_per_connection = 2

    def start(self) -> None: ...

    def live(self) -> list[Worker]:
        raise NotImplementedError

    def accepting(self) -> list[Worker]:
        """Live workers that may be sent tasks now."""
        return [w for w in self.live() if w.ready]

    def send(self, worker: Worker, message: object) -> None:
        raise NotImplementedError

    def flush(self) -> None:
        """Deliver what ``send`` buffered (a pool may batch sends)."""

    def receive(self, timeout: float) -> list[tuple[Worker, object]]:
        """Messages that arrived within ``timeout`` (``WorkerGone`` for a death)."""
        raise NotImplementedError

    def replace(self, dead: Worker) -> Worker | None:
        raise NotImplementedError

    def stop(self, on_message: OnMessage) -> None:
        raise NotImplementedError

    def serves(self, worker: Worker, node: str | None) -> bool:
        """Whether ``worker`` may send parts of an object pinned to ``node`` (None: unpinned)."""
        return True

    def unservable(self, node: str) -> str | None:
        """Why no live worker can send parts pinned to ``node`` (None: some can)."""
        return None

    def update_credentials(self, credentials) -> None:
        self.config = dataclasses.replace(self.config, credentials=credentials)
        for worker in self.live():
            self.send(worker, NewCredentials(credentials))
        self.flush()


@dataclass(eq=False)
class LocalWorker(Worker):
    process: subprocess.Popen | None = None
    pipe: Pipe | None = None

    def exit_description(self) -> str:
        code = self.process.poll()
        if code is None:
            return "its pipe closed"
        return f"killed by signal {-code}" if code < 0 else f"exit code {code}"


class WorkerPool(Pool):
    """``size`` local worker processes; a dead one is replaced while the budget lasts.

    Objects pinned to a node are sent from here like any other: this machine is the node.
    """

    def __init__(self, config: WorkerConfig, tls_endpoint: bool, size: int) -> None:
        self.config = config
        self.tls_endpoint = tls_endpoint
        self.size = size
        self.replacements_left = 2 * size
        self.workers: list[LocalWorker] = []

    def start(self) -> None:
        for _ in range(self.size):
            self._spawn()

    def live(self) -> list[Worker]:
        return [w for w in self.workers if w.alive]

    def send(self, worker: Worker, message: object) -> None:
        try:
            worker.pipe.send(message)
        except OSError:
            pass     # its death shows as end-of-file in receive()

    def receive(self, timeout: float) -> list[tuple[Worker, object]]:
        live = [w for w in self.workers if w.alive]
        ready = wait([w.pipe for w in live], timeout=timeout)
        messages: list[tuple[Worker, object]] = []
        for worker in live:
            if worker.pipe in ready:
                self._drain(worker, messages)
        return messages

    def _drain(self, worker: LocalWorker, into: list[tuple[Worker, object]]) -> None:
        while worker.pipe.poll():
            try:
                into.append((worker, worker.pipe.recv()))
            except (EOFError, OSError):
                into.append((worker, WorkerGone(self._reap(worker))))
                return

    @staticmethod
    def _reap(worker: LocalWorker) -> str:
        worker.alive = False
        try:
            worker.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            worker.process.kill()
            worker.process.wait()
        return worker.exit_description()

    def replace(self, dead: Worker) -> Worker | None:
        """Start a worker in place of ``dead`` (None once the budget is spent)."""
        if self.replacements_left <= 0:
            return None
        self.replacements_left -= 1
        dead.pipe.close()
        return self._spawn()

    def _spawn(self) -> LocalWorker:
        ours, theirs = socket.socketpair()
        process = subprocess.Popen([sys.executable, "-m", "bulkup.worker", str(theirs.fileno())],
                                   pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL)
        theirs.close()
        pipe = Pipe(ours.detach())
        index = len(self.workers)
        pipe.send(WorkerStart(index, self.config, self.tls_endpoint))
        worker = LocalWorker(index, ready=True, process=process, pipe=pipe)
        self.workers.append(worker)
        return worker

    def stop(self, on_message: OnMessage) -> None:
        """Ask every live worker to finish, pass their last messages to ``on_message``."""
        for worker in self.live():
            self.send(worker, None)
        deadline = time.monotonic() + STOP_GRACE
        for worker in self.workers:
            if worker.alive:
                self._drain_until_exit(worker, deadline, on_message)
            try:
                worker.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait()
            if not worker.pipe.closed:
                worker.pipe.close()

    @staticmethod
    def _drain_until_exit(worker: LocalWorker, deadline: float, on_message: OnMessage) -> None:
        while time.monotonic() < deadline:
            if not wait([worker.pipe], timeout=max(0.0, deadline - time.monotonic())):
                return
            try:
                message = worker.pipe.recv()
            except (EOFError, OSError):
                return
            on_message(worker, message)
