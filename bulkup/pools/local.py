"""Local worker processes, forked by one fresh interpreter (the zygote) that imported the
worker's modules once.

Each is joined to the coordinator by a socket pair, which carries lists of messages: one
write per worker and scheduling round, however many tasks it hands out. Never a fork of the
coordinator's process (nor multiprocessing's spawn): a caller's script is never re-imported
and no coordinator thread or lock is inherited. A worker's end of the pair is held by the
worker alone: its death shows as end-of-file here.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections import deque
from dataclasses import dataclass
from multiprocessing.connection import Connection as Pipe
from multiprocessing.connection import wait

from bulkup.pools.base import OnMessage, Pool, Worker, WorkerGone, WorkerState
from bulkup.pools.zygote import ForkedWorker, Zygote
from bulkup.transport.messages import WorkerConfig, WorkerStart

STOP_GRACE = 10.0


@dataclass(eq=False, kw_only=True)
class LocalWorker(Worker):
    """A worker process and the coordinator's end of its socket pair."""

    process: ForkedWorker
    pipe: Pipe

    def exit_description(self) -> str:
        code = self.process.poll()
        if code is None:
            return "its pipe closed"
        return f"killed by signal {-code}" if code < 0 else f"exit code {code}"


def _local(worker: Worker) -> LocalWorker:
    """``worker`` as a local pool made it (the coordinator hands a pool back its own)."""
    assert isinstance(worker, LocalWorker), f"not a local worker: {worker!r}"
    return worker


class WorkerLauncher:
    """Starts worker processes ahead of their configuration, so that their start overlaps the
    coordinator's own (connecting, asking the store, walking the sources). They are forked by
    one zygote (``bulkup.pools.zygote``): W workers cost one interpreter and one import.
    ``close`` ends the unused ones and the zygote."""

    def __init__(self, count: int = 0) -> None:
        self._zygote: Zygote | None = None
        self._early = deque(self._launch() for _ in range(count))

    def take(self) -> tuple[ForkedWorker, Pipe]:
        return self._early.popleft() if self._early else self._launch()

    def _launch(self) -> tuple[ForkedWorker, Pipe]:
        if self._zygote is None:
            self._zygote = Zygote()
        ours, theirs = socket.socketpair()
        process = self._zygote.fork(theirs.fileno())
        theirs.close()
        return process, Pipe(ours.detach())

    def __enter__(self) -> WorkerLauncher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        while self._early:
            _, pipe = self._early.popleft()
            pipe.close()  # the worker reads end-of-file and exits
        if self._zygote is not None:
            self._zygote.close()
            self._zygote = None


class LocalPool(Pool):
    """``size`` local worker processes; a dead one is replaced while the budget lasts.

    Objects pinned to a node are sent from here like any other: this machine is the node.
    """

    def __init__(
        self, config: WorkerConfig, tls_endpoint: bool, size: int, launcher: WorkerLauncher | None = None
    ) -> None:
        self.config = config
        self.launcher = launcher or WorkerLauncher()
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
        worker.outbox.append(message)

    def flush(self) -> None:
        for worker in self.workers:
            if worker.outbox and worker.alive:
                batch, worker.outbox = worker.outbox, []
                try:
                    worker.pipe.send(batch)
                except OSError:
                    pass  # its death shows as end-of-file in receive()

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
                into.extend((worker, message) for message in worker.pipe.recv())
            except (EOFError, OSError):
                into.append((worker, WorkerGone(why=self._reap(worker))))
                return

    @staticmethod
    def _reap(worker: LocalWorker) -> str:
        worker.state = WorkerState.GONE
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
        _local(dead).pipe.close()
        return self._spawn()

    def _spawn(self) -> LocalWorker:
        process, pipe = self.launcher.take()
        index = len(self.workers)
        pipe.send(WorkerStart(worker=index, config=self.config, tls_endpoint=self.tls_endpoint))
        worker = LocalWorker(index=index, state=WorkerState.READY, process=process, pipe=pipe)
        self.workers.append(worker)
        return worker

    def stop(self, on_message: OnMessage) -> None:
        """Ask every live worker to finish, pass their last messages to ``on_message``."""
        for worker in self.live():
            self.send(worker, None)
        self.flush()
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

    def halt(self) -> None:
        for worker in self.workers:
            if worker.process.poll() is None:
                worker.process.kill()
            worker.process.wait()
            worker.state = WorkerState.GONE

    @staticmethod
    def _drain_until_exit(worker: LocalWorker, deadline: float, on_message: OnMessage) -> None:
        while time.monotonic() < deadline:
            if not wait([worker.pipe], timeout=max(0.0, deadline - time.monotonic())):
                return
            try:
                batch = worker.pipe.recv()
            except (EOFError, OSError):
                return
            for message in batch:
                on_message(worker, message)
