"""A sender on a Ray node: the actor behind ``--ray`` (made remote by ``bulkup.pools.raypool``).

It wraps the same SendingWorker a local worker process runs: its own persistent
connections, the best engine this node can run (probed here, not on the driver), and
bounded-rate progress. Messages wait in a queue until the coordinator's next ``poll``.
Credentials arrive with ``start`` (a method call's arguments travel to the actor alone;
an actor's constructor arguments are kept by Ray's control store for restarts).
"""

from __future__ import annotations

import dataclasses
import os
import queue
import threading
import time
from typing import cast

from bulkup.transport.engines import EngineUnavailable, choose_engine
from bulkup.transport.messages import PartDone, PartError, PartTask, WorkerConfig, WorkerReady
from bulkup.transport.request import CredentialSet
from bulkup.transport.worker import PROGRESS_INTERVAL, SendingWorker

MIN_POLL_INTERVAL = 0.1  # seconds: at most 10 answers a second per actor


class RaySender:
    """One worker: ``start`` once, then ``submit`` tasks and ``poll`` for what came back."""

    def __init__(self, index: int, config: WorkerConfig, tls_endpoint: bool, node: str) -> None:
        self.index, self.config, self.tls_endpoint, self.node = index, config, tls_endpoint, node
        self._replies: queue.Queue[object] = queue.Queue()
        self._worker: SendingWorker | None = None
        self._last_answer = 0.0
        self._holding = 0  # parts submitted and not yet finished
        self._part_ended = threading.Condition()

    def start(self, credentials: CredentialSet) -> WorkerReady:
        """Choose this node's engine and open for work; raises if no engine can run here."""
        try:
            engine, reason = choose_engine(self.config.engine, self.tls_endpoint)
        except EngineUnavailable as exc:
            raise RuntimeError(f"node {self.node}: {exc}") from None
        config = dataclasses.replace(self.config, engine=engine.name, engine_reason=reason, credentials=credentials)
        self._worker = SendingWorker(self.index, config, self.tls_endpoint, self._reply, self.node)
        self._worker.start()
        return self._worker.ready

    def submit(self, messages: list[object]) -> None:
        """Part tasks to send, and any new credentials."""
        sending = self._sending()
        for message in messages:
            if sending.control(message):
                continue
            if isinstance(message, PartTask):
                with self._part_ended:
                    self._holding += 1
            sending.submit(cast(PartTask, message))  # what does not control the worker is a task

    def poll(self, wait: float) -> list[object]:
        """What the senders said since the last poll; waits up to ``wait`` s for something.

        Answers at most every MIN_POLL_INTERVAL (each answer is a round trip through Ray,
        about half a millisecond of CPU on each side, and a burst of results is worth one), or
        sooner when so many parts have ended that a connection may soon have nothing to send.
        """
        sending = self._sending()
        deadline = time.monotonic() + wait
        found: list[object] = []
        while not found:
            try:
                found.append(self._replies.get(timeout=PROGRESS_INTERVAL))
            except queue.Empty:
                if (sent := sending.progress()) is not None:
                    return self._answer([sent])
                if time.monotonic() >= deadline:
                    return self._answer([])
        self._linger()
        found += self._drain()
        if (sent := sending.progress()) is not None:
            found.append(sent)
        return self._answer(found)

    def _linger(self) -> None:
        until = self._last_answer + MIN_POLL_INTERVAL
        with self._part_ended:
            while self._holding > self.config.connections and (left := until - time.monotonic()) > 0:
                self._part_ended.wait(left)

    def _answer(self, messages: list[object]) -> list[object]:
        self._last_answer = time.monotonic()
        return messages

    def stop(self) -> list[object]:
        """Finish the parts in hand and stop: the last messages, then this worker's stats."""
        final = self._worker.finish() if self._worker else []
        return self._drain() + final

    def pid(self) -> int:
        return os.getpid()

    def _sending(self) -> SendingWorker:
        assert self._worker is not None, "start() comes first"
        return self._worker

    def _reply(self, message: object) -> None:
        if isinstance(message, PartError):  # say which machine could not read or send it
            message = dataclasses.replace(message, message=f"on node {self.node}: {message.message}")
        self._replies.put(message)
        if isinstance(message, (PartDone, PartError)):
            with self._part_ended:
                self._holding -= 1
                self._part_ended.notify()

    def _drain(self) -> list[object]:
        found: list[object] = []
        while True:
            try:
                found.append(self._replies.get_nowait())
            except queue.Empty:
                return found
