"""The worker processes: started, replaced when one dies, and stopped, by the coordinator.

Each worker is a fresh ``python -m bulkup.worker`` joined to the coordinator by a socket
pair. Fresh interpreters (not fork, not multiprocessing's spawn) so that a caller's script
is never re-imported and no coordinator thread or lock is inherited. A worker's end of the
pair is held by the worker alone: its death shows as end-of-file here.
"""
from __future__ import annotations

import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection as Pipe, wait

from .messages import WorkerConfig, WorkerStart

STOP_GRACE = 10.0


@dataclass
class Worker:
    index: int
    process: subprocess.Popen
    pipe: Pipe
    in_flight: set[int] = field(default_factory=set)
    alive: bool = True

    def exit_description(self) -> str:
        code = self.process.poll()
        if code is None:
            return "its pipe closed"
        return f"killed by signal {-code}" if code < 0 else f"exit code {code}"


class WorkerPool:
    """``size`` workers; a dead one is replaced while the replacement budget lasts."""

    def __init__(self, config: WorkerConfig, tls_endpoint: bool, size: int) -> None:
        self.config = config
        self.tls_endpoint = tls_endpoint
        self.size = size
        self.replacements_left = 2 * size
        self.workers: list[Worker] = []

    def start(self) -> None:
        for _ in range(self.size):
            self._spawn()

    def live(self) -> list[Worker]:
        return [w for w in self.workers if w.alive]

    def replace(self, dead: Worker) -> Worker | None:
        """Start a worker in place of ``dead`` (None once the budget is spent)."""
        if self.replacements_left <= 0:
            return None
        self.replacements_left -= 1
        dead.pipe.close()
        return self._spawn()

    def _spawn(self) -> Worker:
        ours, theirs = socket.socketpair()
        process = subprocess.Popen([sys.executable, "-m", "bulkup.worker", str(theirs.fileno())],
                                   pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL)
        theirs.close()
        pipe = Pipe(ours.detach())
        index = len(self.workers)
        pipe.send(WorkerStart(index, self.config, self.tls_endpoint))
        worker = Worker(index, process, pipe)
        self.workers.append(worker)
        return worker

    def stop(self, on_message) -> None:
        """Ask every live worker to finish, pass their last messages to ``on_message``."""
        for worker in self.live():
            try:
                worker.pipe.send(None)
            except OSError:
                pass
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
    def _drain_until_exit(worker: Worker, deadline: float, on_message) -> None:
        while time.monotonic() < deadline:
            if not wait([worker.pipe], timeout=max(0.0, deadline - time.monotonic())):
                return
            try:
                message = worker.pipe.recv()
            except (EOFError, OSError):
                return
            on_message(worker, message)
