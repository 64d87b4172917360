"""The order of work: which task each worker sends next.

Tasks wait in queues, one per pinned node plus one for tasks any worker may send. Jobs are
planned into tasks only as workers free up (never more than ``MAX_QUEUED_AHEAD`` waiting),
so a run of millions of objects holds a bounded number. Each worker holds at most its
pool's task depth; the least busy gets the next task.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator

from bulkup.control.inflight import ObjectUpload
from bulkup.plan.jobs import UploadJob
from bulkup.pools.base import Pool, Worker
from bulkup.transport.messages import PartTask

MAX_QUEUED_AHEAD = 1024  # tasks planned ahead while every free worker waits on pinned ones


class Scheduler:
    """Queues tasks and hands them to workers; ``plan(job)`` turns a job into tasks (``add``)."""

    def __init__(self, pool: Pool, plan: Callable[[UploadJob], None]) -> None:
        self.pool = pool
        self._plan = plan
        self._tasks: dict[int, tuple[ObjectUpload, PartTask]] = {}  # queued or in flight
        self._queues: dict[str | None, deque[PartTask]] = {None: deque()}  # by pinned node
        self._queued = 0
        self._jobs: Iterator[UploadJob] = iter(())
        self.exhausted = False

    def start(self, jobs: Iterable[UploadJob]) -> None:
        self._jobs = iter(jobs)
        self.exhausted = False

    @property
    def finished(self) -> bool:
        """Every job planned and every task answered."""
        return self.exhausted and not self._tasks

    def add(self, obj: ObjectUpload, task: PartTask) -> None:
        """Queue ``task`` (a part of ``obj``) behind the others of its node."""
        self._tasks[task.task_id] = (obj, task)
        self._queues.setdefault(obj.job.node, deque()).append(task)
        self._queued += 1

    def in_flight_of(self, obj: ObjectUpload) -> int:
        """How many of ``obj``'s tasks a worker holds (sent, not yet answered)."""
        return sum(
            1
            for worker in self.pool.live()
            for task_id in worker.in_flight
            if self._tasks.get(task_id, (None,))[0] is obj
        )

    def held_by(self, worker: Worker) -> list[PartTask]:
        """The tasks ``worker`` holds (sent to it, not yet answered)."""
        return [self._tasks[task_id][1] for task_id in worker.in_flight if task_id in self._tasks]

    def lookup(self, task_id: int) -> tuple[ObjectUpload, PartTask] | None:
        return self._tasks.get(task_id)

    def answered(self, worker: Worker, task_id: int) -> tuple[ObjectUpload, PartTask]:
        """A worker is done with ``task_id`` (sent or given up): forget it."""
        if task_id in worker.in_flight:
            worker.in_flight.discard(task_id)
            worker.held_bytes -= self._tasks[task_id][1].source.length
        return self._tasks.pop(task_id)

    def fill(self) -> None:
        """Hand out tasks one at a time to the least busy worker, while it may take more
        (its task depth, and for large parts a bound on the bytes it holds)."""
        open_to = [w for w in self.pool.accepting() if self.pool.may_take_more(w)]
        while open_to:
            worker = min(open_to, key=lambda w: len(w.in_flight))
            task = self._next_task(worker)
            if task is not None:
                worker.in_flight.add(task.task_id)
                worker.held_bytes += task.source.length
                self.pool.send(worker, task)
            if task is None or not self.pool.may_take_more(worker):
                open_to.remove(worker)  # full, or nothing it may take this round
        self.pool.flush()

    def requeue(self, worker: Worker) -> None:
        """Put a dead worker's tasks back at the front of their queues, in order."""
        for task_id in sorted(worker.in_flight, reverse=True):
            obj, task = self._tasks[task_id]
            self._queues.setdefault(obj.job.node, deque()).appendleft(task)
            self._queued += 1
        worker.in_flight.clear()
        worker.held_bytes = 0

    def drop_unservable(self) -> list[tuple[ObjectUpload, str]]:
        """Take out the tasks pinned to nodes no live worker can send from; their objects,
        each with the reason."""
        dropped = []
        for node, queue in self._queues.items():
            if node is None or not queue or not (why := self.pool.unservable(node)):
                continue
            while queue:
                task = queue.popleft()
                self._queued -= 1
                obj, _ = self._tasks.pop(task.task_id)
                dropped.append((obj, why))
        return dropped

    def _next_task(self, worker: Worker) -> PartTask | None:
        """The next task ``worker`` may send: pinned to its node first, else any unpinned."""
        while (task := self._pop_queued(worker)) is None:
            if self.exhausted or self._queued >= MAX_QUEUED_AHEAD:
                return None
            job = next(self._jobs, None)
            if job is None:
                self.exhausted = True
                return None
            self._plan(job)
        return task

    def _pop_queued(self, worker: Worker) -> PartTask | None:
        for node, queue in self._queues.items():
            if node is not None and not self.pool.serves(worker, node):
                continue
            while queue:
                task = queue.popleft()
                self._queued -= 1
                obj, _ = self._tasks[task.task_id]
                if not obj.closed:
                    return task
                del self._tasks[task.task_id]
        return None
