"""Senders in the coordinator's own process: for runs of small objects that are sent before
worker processes would have started (an interpreter and its imports each), or that the
coordinator's own thread sends for less than their start would cost.

One worker, index 0, running the same ``SendingWorker`` as a worker process or a Ray actor.
Where a worker would run the send loop (user-space TLS), so does the coordinator's thread:
``send`` starts a small object's request at once, and ``receive`` waits on the loop's
connections (one epoll), so a run of small objects needs no other thread. Otherwise, and for
whatever the loop hands over (a larger object, a retry), a sender thread per connection sends
it and hands each answer back as it comes. Answers wait in a list, and a byte on a pipe
wakes the coordinator, which waits there (or in the loop's epoll) as it does on worker
processes' pipes (a signal reaches it there at once). The worker cannot die apart from the
coordinator (a sender's own error fails its part, as in a worker process), so it is never
replaced; ``halt`` fails the exchanges under way and drops what it holds, since its threads
cannot be killed.
"""

from __future__ import annotations

import os
import select
import threading
from typing import cast

from bulkup.pools.base import OnMessage, Pool, Worker, WorkerState
from bulkup.transport.messages import PartTask, WorkerConfig
from bulkup.transport.sendloop import SendLoop
from bulkup.transport.worker import PROGRESS_INTERVAL, SendingWorker


class InProcessPool(Pool):
    """One worker whose sender threads run in this process."""

    def __init__(self, config: WorkerConfig, tls_endpoint: bool) -> None:
        self.config = config
        self.tls_endpoint = tls_endpoint
        self.worker = Worker(index=0, state=WorkerState.READY)
        self._sending: SendingWorker | None = None
        self._loop: SendLoop | None = None
        self._lock = threading.Lock()
        self._answers: list[object] = []
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_read, False)

    def start(self) -> None:
        self._sending = SendingWorker(0, self.config, self.tls_endpoint, self._answer, own_process=False)
        self._answer(self._sending.ready)
        self._sending.start()
        if SendLoop.suits(self.config):
            self._loop = self._sending.send_loop(self._answer)
            self._loop.watch(self._wake_read, lambda events: None)  # the threads' answers end its wait

    def live(self) -> list[Worker]:
        return [self.worker] if self.worker.alive else []

    def send(self, worker: Worker, message: object) -> None:
        """Hand ``message`` to the worker at once (there is no pipe to batch writes for)."""
        sending = self._running()
        if sending.control(message):
            return
        task = cast(PartTask, message)  # what does not control the worker is a task
        if self._loop is not None and self._loop.takes(task):
            self._loop.submit(task)
        else:
            sending.submit(task)

    def receive(self, timeout: float) -> list[tuple[Worker, object]]:
        """The answers that came within ``timeout`` (at most ``PROGRESS_INTERVAL``: the bytes
        sent meanwhile are reported too, as a worker process reports them)."""
        answers = self._take()
        if not answers:
            wait = max(0.0, min(timeout, PROGRESS_INTERVAL))
            if self._loop is not None:
                self._loop.poll(wait)  # its answers come through _answer, as the threads' do
            else:
                select.select([self._wake_read], [], [], wait)
            answers = self._take()
        if self._sending is not None and (sent := self._sending.progress()) is not None:
            answers.insert(0, sent)  # a part's bytes before its answer, as a worker sends them
        return [(self.worker, answer) for answer in answers]

    def replace(self, dead: Worker) -> Worker | None:
        return None  # it dies only with the coordinator

    def stop(self, on_message: OnMessage) -> None:
        """Let the senders finish, pass their last messages to ``on_message``."""
        if self._sending is not None and self.worker.alive:
            if self._loop is not None:
                while not self._loop.empty:
                    self._loop.poll(PROGRESS_INTERVAL)
                self._loop.close()
            final = self._sending.finish()
            for message in self._take() + final:
                on_message(self.worker, message)
        self.worker.state = WorkerState.GONE
        self._close_pipe()

    def halt(self) -> None:
        if self._loop is not None:
            self._loop.close()  # its exchanges under way end with their connections
        if self._sending is not None:
            self._sending.halt()
        self.worker.state = WorkerState.GONE
        with self._lock:
            self._answers.clear()

    def _answer(self, message: object) -> None:
        """From any thread: keep ``message`` for ``receive``, waking it if it waits."""
        with self._lock:
            self._answers.append(message)
            if len(self._answers) == 1:
                try:
                    os.write(self._wake_write, b".")
                except OSError:
                    pass  # closed: the pool has stopped

    def _take(self) -> list[object]:
        try:
            while os.read(self._wake_read, 4096):
                pass
        except OSError:
            pass  # nothing to read (or closed)
        with self._lock:
            answers, self._answers = self._answers, []
        return answers

    def _running(self) -> SendingWorker:
        assert self._sending is not None, "start() comes first"
        return self._sending

    def _close_pipe(self) -> None:
        """Close the pipe; a sender thread still answering (after ``halt``) finds -1, never
        a descriptor number the process has since given to another file."""
        with self._lock:
            for fd in (self._wake_read, self._wake_write):
                if fd >= 0:
                    os.close(fd)
            self._wake_read = self._wake_write = -1
