"""A worker process: persistent connections, a send engine, part descriptors in, results out.

The main thread reads tasks from the coordinator's pipe and reports progress at a bounded
rate; one sender thread per connection sends parts (socket writes, sendfile and the CRC
code release the GIL, so connections overlap). Where the engine is user-space TLS, the main
thread is also the send loop (``sendloop.py``), which sends small objects itself and hands
the sender threads the rest and every retry. Messages travel in lists both ways: answers
wait up to ``REPLY_DELAY`` to share a pipe write, unless the worker runs out of work.
"""

from __future__ import annotations

import os
import queue
import resource
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, NoReturn, TypeAlias, cast

from bulkup.gctune import few_collections
from bulkup.plan import checksums
from bulkup.plan.results import WorkerStats
from bulkup.transport.engines import ENGINES, path_label
from bulkup.transport.failures import PartFailed
from bulkup.transport.messages import (
    BytesSent,
    NewCredentials,
    NewRate,
    NewRequestRate,
    PartError,
    PartRetrying,
    PartTask,
    WorkerConfig,
    WorkerReady,
    WorkerStart,
)
from bulkup.transport.request import RequestSigner
from bulkup.transport.responses import slows_the_run
from bulkup.transport.sender import PartSender, internal_error
from bulkup.transport.sendloop import SendLoop
from bulkup.transport.throttle import Throttle

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

PROGRESS_INTERVAL = 0.1  # seconds between progress reports, whatever the part count
REPLY_DELAY = 0.002  # seconds an answer may wait for others to share its pipe write,
BUSY_REPLY_DELAY = 0.02  # or while every connection has a task waiting after its current one
REPLY_BATCH = 128  # answers that go at once, however young

# The coordinator's end as a worker sees it: lists of messages out; in, a WorkerStart, then
# lists of messages.
Pipe: TypeAlias = "Connection[list[object], object]"
# What a sender thread takes: a task, or one whose first attempt failed elsewhere (and how).
_Work: TypeAlias = "PartTask | tuple[PartTask, PartFailed]"


class _ProgressMeter:
    """Counts bytes sent by all sender threads; drained by the main thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending = 0

    def add(self, nbytes: int) -> None:
        with self._lock:
            self._pending += nbytes

    def drain(self) -> int:
        with self._lock:
            pending, self._pending = self._pending, 0
        return pending


class Outbox:
    """Messages for the coordinator, written in lists: one write carries every answer that
    arrived within ``delay`` of the first (or ``REPLY_BATCH`` of them). While the worker is
    ``busy`` (it holds more work than its connections are sending) the coordinator need not
    hear at once, so answers wait up to ``busy_delay``: fewer, larger writes (a write and its
    read cost ~11 µs an answer in twos, ~5 in twenties)."""

    def __init__(
        self,
        write: Callable[[list[object]], None],
        delay: float = REPLY_DELAY,
        busy_delay: float = BUSY_REPLY_DELAY,
    ) -> None:
        self._write = write
        self._delay = delay
        self._busy_delay = busy_delay
        self.busy: Callable[[], bool] = lambda: False
        self._lock = threading.Lock()
        self._messages: list[object] = []
        self._first_at = 0.0

    def put(self, message: object, now: bool = False) -> None:
        """Queue ``message``; write the batch if ``now``, if it is full or its first is due."""
        with self._lock:
            self._messages.append(message)
            if len(self._messages) == 1:
                self._first_at = time.monotonic()
            if now or len(self._messages) >= REPLY_BATCH or time.monotonic() - self._first_at >= self._wait():
                self._write_locked()

    def _wait(self) -> float:
        return self._busy_delay if self.busy() else self._delay

    def flush(self) -> None:
        with self._lock:
            if self._messages:
                self._write_locked()

    def due_in(self) -> float | None:
        """Seconds until the waiting batch must be written (None: nothing waits)."""
        with self._lock:
            if not self._messages:
                return None
            return max(0.0, self._first_at + self._wait() - time.monotonic())

    def _write_locked(self) -> None:
        batch, self._messages = self._messages, []
        self._write(batch)


def preload() -> None:
    """Import what a worker would import on its first task (its pipe's framing, the light
    CRC64NVME; awscrt only if it checksums more than that is for): called by the zygote,
    which forks workers that have it already."""
    import multiprocessing.connection  # noqa: F401 (imported for the workers)

    checksums.load()


def main(argv: list[str]) -> int:
    """``python -m bulkup.transport.worker FD``: serve the coordinator on the socket FD."""
    from multiprocessing.connection import Connection  # a worker process's (preloaded by the zygote)

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the coordinator handles Ctrl-C
    pipe: Pipe = Connection(int(argv[1]))
    try:
        start = pipe.recv()
    except EOFError:
        return 1
    assert isinstance(start, WorkerStart)
    worker_main(start.worker, pipe, start.config, start.tls_endpoint)
    return 0


class SendingWorker:
    """A worker's sending side, whatever carries its messages (a pipe, Ray, or none: in the
    coordinator's own process).

    One sender thread per connection takes tasks from a queue; ``reply`` is called (from
    any thread) with each result. Bytes sent are counted, and drained by ``progress``.
    ``own_process``: the process is this worker's alone, so its resource use is the
    worker's; else (in the coordinator's process) the sender threads' is.
    """

    def __init__(
        self,
        worker: int,
        config: WorkerConfig,
        tls_endpoint: bool,
        reply: Callable[[object], None],
        node: str = "",
        idle: Callable[[], None] = lambda: None,
        own_process: bool = True,
    ) -> None:
        self.worker = worker
        self.config = config
        self.own_process = own_process
        self.engine_cls = ENGINES[config.engine]
        self.ready = WorkerReady(
            worker=worker,
            pid=os.getpid(),
            engine=self.engine_cls.name,
            engine_label=path_label(self.engine_cls, tls_endpoint),
            reason=config.engine_reason,
            node=node,
        )
        assert config.credentials is not None, "a sending worker needs credentials"
        self.signer = RequestSigner(config.credentials, config.region)
        self._meter = _ProgressMeter()
        self.throttle = Throttle(config.rate)
        self.requests = Throttle(config.request_rate)  # its share of the run's request rate
        self._backoff = _Seconds()
        self._cpu = _ThreadCpu()  # the sender threads', as they end
        self._halted = threading.Event()
        self._tasks: queue.SimpleQueue[_Work | None] = queue.SimpleQueue()

        def retrying(task: PartTask, attempt: int, failure: PartFailed) -> None:
            throttled = slows_the_run(failure.code)
            reply(
                PartRetrying(
                    worker=worker, task_id=task.task_id, attempt=attempt, reason=str(failure), throttled=throttled
                )
            )

        count = max(1, config.connections)
        self._senders = [
            PartSender(
                worker,
                config,
                self.signer,
                self.engine_cls(),
                self._sent,
                retrying,
                spread=worker * count + i,
                pace=self._pace,
                backed_off=self._backoff.add,
            )
            for i in range(count)
        ]
        self._threads = [
            threading.Thread(
                target=_sender_loop,
                name=f"sender-{worker}-{i}",
                daemon=True,
                args=(sender, self._tasks, reply, idle, self._cpu.add),
            )
            for i, sender in enumerate(self._senders)
        ]
        self._starting = threading.Lock()
        self._started = False  # the sender threads run

    def start(self) -> None:
        """Ready to send. The sender threads start with the first task they are given: where
        the send loop sends every part, and none fails, they never do (~0.2 ms of CPU each)."""
        if self.own_process:
            _reset_peak_memory()

    def submit(self, task: PartTask) -> None:
        self._give(task)

    def take_over(self, task: PartTask, failure: PartFailed) -> None:
        """Send ``task``, whose first attempt (made by the send loop) failed with ``failure``,
        as the sender threads send every part: with retries while they are worth it."""
        self._give((task, failure))

    def _give(self, work: _Work) -> None:
        with self._starting:
            if not self._started:
                self._started = True
                for thread in self._threads:
                    thread.start()
        self._tasks.put(work)

    def send_loop(self, reply: Callable[[object], None]) -> SendLoop:
        """The loop that sends this worker's small objects from the calling thread."""
        return SendLoop(self.worker, self.config, self.signer, reply, self.take_over, self._sent, self._pace)

    def busy(self) -> bool:
        """Whether every connection has a task waiting after the one it sends."""
        return self._tasks.qsize() >= len(self._senders)

    def control(self, message: object) -> bool:
        """Act on a message that is not a task (new credentials, a new rate); False for a task."""
        if isinstance(message, NewCredentials):
            self.signer.update(message.credentials)
        elif isinstance(message, NewRate):
            self.throttle.set_rate(message.bytes_per_second)
        elif isinstance(message, NewRequestRate):
            self.requests.set_rate(message.requests_per_second)
        else:
            return False
        return True

    def _pace(self) -> None:
        """Before each attempt: its turn in the run's request rate; none once halted."""
        if self._halted.is_set():
            raise PartFailed("not sent: the run was stopped", retryable=False, code="halted")
        self.requests.take(1)

    def halt(self) -> None:
        """Stop sending at once, where the worker cannot be killed (its threads are in the
        coordinator's process): the tasks held are dropped, exchanges under way fail, no
        attempt starts, and the sender threads end."""
        self._halted.set()
        while True:
            try:
                self._tasks.get_nowait()
            except queue.Empty:
                break
        for sender in self._senders:
            sender.cut()
        for _ in self._threads:
            self._tasks.put(None)

    def _sent(self, nbytes: int) -> None:
        self._meter.add(nbytes)
        self.throttle.take(nbytes)

    def progress(self) -> BytesSent | None:
        """Bytes handed to the kernel since the last call, if any."""
        sent = self._meter.drain()
        return BytesSent(worker=self.worker, nbytes=sent) if sent else None

    def finish(self) -> list[object]:
        """Let the senders finish their parts and stop; the last progress and own stats."""
        with self._starting:
            started, self._started = self._started, True  # none starts from now on
        for _ in self._threads:
            self._tasks.put(None)
        for thread in self._threads if started else ():
            thread.join(timeout=5)
        last = self.progress()
        held_back = self.requests.waited + self._backoff.total
        if self.own_process:
            stats = _own_stats(self.worker, self.throttle.waited, held_back)
        else:
            stats = _threads_stats(self.worker, self._cpu, self.throttle.waited, held_back)
        return ([last] if last else []) + [stats]


def worker_main(worker: int, pipe: Pipe, config: WorkerConfig, tls_endpoint: bool) -> None:
    """Send parts for the coordinator until it says stop (None) or goes away."""

    def write(batch: list[object]) -> None:
        try:
            pipe.send(batch)
        except OSError:
            _coordinator_gone()

    outbox = Outbox(write)
    sending = SendingWorker(worker, config, tls_endpoint, outbox.put, idle=outbox.flush)
    loop = sending.send_loop(outbox.put) if SendLoop.suits(config) else None
    outbox.busy = sending.busy if loop is None else lambda: sending.busy() or loop.waiting >= loop.connections
    outbox.put(sending.ready, now=True)
    sending.start()
    try:
        with few_collections():
            if loop is None:
                _read_loop(pipe, sending, outbox)
            else:
                _event_loop(pipe, sending, loop, outbox)
    finally:
        for message in sending.finish():
            outbox.put(message)
        outbox.flush()


def _coordinator_gone() -> NoReturn:
    """Nobody is left to record what this worker sends: stop at once, quietly."""
    os._exit(0)


def _reset_peak_memory() -> None:
    """Start the peak-RSS count (VmHWM) afresh, so it shows sending, not importing."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


class _Seconds:
    """A sum of seconds added to from several threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.total = 0.0

    def add(self, seconds: float) -> None:
        with self._lock:
            self.total += seconds


class _ThreadCpu:
    """CPU seconds (user, system) of threads, each added as it ends."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.user = self.system = 0.0

    def add(self) -> None:
        """Add the calling thread's own CPU time."""
        if not hasattr(resource, "RUSAGE_THREAD"):  # Linux only
            return
        usage = resource.getrusage(resource.RUSAGE_THREAD)
        with self._lock:
            self.user += usage.ru_utime
            self.system += usage.ru_stime


def _threads_stats(worker: int, cpu: _ThreadCpu, throttled: float, held_back: float) -> WorkerStats:
    """A worker's stats from its sender threads' CPU (it shares its process)."""
    return WorkerStats(
        worker=worker,
        pid=os.getpid(),
        cpu_user=cpu.user,
        cpu_system=cpu.system,
        max_rss=_peak_rss(),
        throttled=round(throttled, 3),
        held_back=round(held_back, 3),
    )


def _peak_rss() -> int:
    """The process's peak resident set, in bytes (VmHWM; since it was last reset)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    try:
        with open("/proc/self/status") as f:
            status = dict(line.split(":", 1) for line in f if ":" in line)
        peak = int(status["VmHWM"].split()[0]) * 1024
    except (OSError, ValueError, KeyError):
        pass
    return peak


def _own_stats(worker: int, throttled: float = 0.0, held_back: float = 0.0) -> WorkerStats:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    peak = _peak_rss()
    return WorkerStats(
        worker=worker,
        pid=os.getpid(),
        cpu_user=usage.ru_utime,
        cpu_system=usage.ru_stime,
        max_rss=peak,
        throttled=round(throttled, 3),
        held_back=round(held_back, 3),
    )


def _read_loop(pipe: Pipe, sending: SendingWorker, outbox: Outbox) -> None:
    reporting = _Reporting(sending, outbox)
    while True:
        if pipe.poll(reporting.wait()):
            for message in _received(pipe):
                if message is None:
                    return
                if not sending.control(message):
                    sending.submit(cast(PartTask, message))  # what does not control the worker is a task
        reporting.keep_up()


def _event_loop(pipe: Pipe, sending: SendingWorker, loop: SendLoop, outbox: Outbox) -> None:
    """The worker's main thread as the send loop: the pipe's tasks and the small objects'
    connections in one wait; a task the loop does not take goes to the sender threads. Ends
    once the coordinator said stop (None) and what the loop holds is done."""
    stopping = False

    def from_pipe(events: int) -> None:
        nonlocal stopping
        for message in _received(pipe):
            if message is None:
                stopping = True
            elif not sending.control(message):
                task = cast(PartTask, message)  # what does not control the worker is a task
                if loop.takes(task):
                    loop.submit(task)
                else:
                    sending.submit(task)

    loop.watch(pipe.fileno(), from_pipe)
    reporting = _Reporting(sending, outbox)
    try:
        while not (stopping and loop.empty):
            loop.poll(reporting.wait())
            if not loop.waiting:
                outbox.flush()  # answers must not wait while the coordinator waits for them
            reporting.keep_up()
    finally:
        loop.close()


def _received(pipe: Pipe) -> list[object]:
    """The next batch of messages from the coordinator (gone: the worker ends)."""
    try:
        return cast("list[object]", pipe.recv())
    except (EOFError, OSError):
        _coordinator_gone()


class _Reporting:
    """A worker's progress, reported at a bounded rate, and its answers, written when due."""

    def __init__(self, sending: SendingWorker, outbox: Outbox) -> None:
        self.sending, self.outbox = sending, outbox
        self.last_report = time.monotonic()

    def wait(self) -> float:
        """Seconds the worker may wait for the pipe or its connections."""
        due = self.outbox.due_in()
        return PROGRESS_INTERVAL if due is None else due

    def keep_up(self) -> None:
        now = time.monotonic()
        if now - self.last_report >= PROGRESS_INTERVAL:
            self.last_report = now
            if (sent := self.sending.progress()) is not None:
                self.outbox.put(sent)
        if (due := self.outbox.due_in()) is not None and due <= 0:
            self.outbox.flush()


def _sender_loop(
    sender: PartSender,
    tasks: queue.SimpleQueue[_Work | None],
    reply: Callable[[object], None],
    idle: Callable[[], None],
    ended: Callable[[], None],
) -> None:
    try:
        while True:
            if tasks.empty():
                idle()  # answers must not wait while the coordinator waits for them
            if (work := tasks.get()) is None:
                break
            task, failed = work if isinstance(work, tuple) else (work, None)
            try:
                reply(sender.send(task, failed))
            except PartFailed as failure:
                reply(PartError(task_id=task.task_id, message=str(failure), fatal=failure.fatal, code=failure.code))
            except Exception as exc:  # a bug must fail the part, not hang the upload
                reply(internal_error(task, exc))
    finally:
        sender.close()
        ended()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
