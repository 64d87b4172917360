"""The pool interface: the coordinator's view of its senders, wherever they run.

A pool starts workers, carries messages to and from them, notices a death (reported as
``WorkerGone``), replaces the dead while its budget lasts, and stops them. ``LocalPool``
(``bulkup.pools.local``) runs them as local processes; ``RayPool``
(``bulkup.pools.raypool``) as actors on a Ray cluster.
"""

from __future__ import annotations

import dataclasses
import enum
import os
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field

from bulkup.transport.messages import NewCredentials, WorkerConfig
from bulkup.transport.request import CredentialSet


@dataclass(frozen=True)
class PoolSettings:
    """Where senders run: ``workers`` local processes, or per node of the Ray cluster ``ray``."""

    workers: int | None = None  # None: one per core (per node's CPU with Ray)
    ray: str | None = None
    ray_require_tls: bool = False  # refuse a cluster whose other nodes get credentials in clear


def local_workers(requested: int | None) -> int:
    """How many worker processes run here: ``requested``, else one per core."""
    return requested or os.cpu_count() or 1


@dataclass(frozen=True, kw_only=True)
class WorkerGone:
    """Not a message a worker sends: the pool's word that the worker died, and how."""

    why: str


class WorkerState(enum.Enum):
    STARTING = "starting"  # alive, not yet taking tasks
    READY = "ready"  # takes tasks (a local worker's pipe buffers them at once)
    GONE = "gone"  # died or was stopped


@dataclass(eq=False, kw_only=True)
class Worker:
    """A sender as the coordinator sees it: the tasks it holds and its state."""

    index: int
    state: WorkerState = WorkerState.STARTING
    in_flight: set[int] = field(default_factory=set)
    held_bytes: int = 0  # the body bytes of the tasks it holds
    outbox: list[object] = field(default_factory=list)  # messages ``send`` queued, delivered by ``flush``

    @property
    def alive(self) -> bool:
        return self.state is not WorkerState.GONE

    @property
    def ready(self) -> bool:
        return self.state is WorkerState.READY


OnMessage = Callable[[Worker, object], None]
HELD_BYTES_PER_CONNECTION = 16 << 20  # two default parts


class Pool(ABC):
    """What the coordinator needs from a pool of workers, wherever they run."""

    config: WorkerConfig
    # Tasks a worker holds per connection: one being sent, the rest ready to follow at once.
    queue_depth_per_connection = 4

    @abstractmethod
    def start(self) -> None:
        """Start the workers (returns once the first tasks may be sent)."""

    @abstractmethod
    def live(self) -> list[Worker]:
        """The workers not known to be gone."""

    @abstractmethod
    def send(self, worker: Worker, message: object) -> None:
        """Queue ``message`` for ``worker`` (delivered by ``flush`` at the latest)."""

    @abstractmethod
    def receive(self, timeout: float) -> list[tuple[Worker, object]]:
        """Messages that arrived within ``timeout``, in order; a death is a ``WorkerGone``
        after that worker's last messages."""

    @abstractmethod
    def replace(self, dead: Worker) -> Worker | None:
        """A new worker in place of ``dead`` (None: none can be started)."""

    @abstractmethod
    def stop(self, on_message: OnMessage) -> None:
        """Let every worker finish, pass their last messages to ``on_message``, end them."""

    @abstractmethod
    def halt(self) -> None:
        """End every worker at once (an interrupted or failed run): requests in flight are
        cut, so no part lands after this returns."""

    def flush(self) -> None:
        """Deliver what ``send`` queued (a pool may batch sends)."""

    def accepting(self) -> list[Worker]:
        """Live workers that may be sent tasks now."""
        return [w for w in self.live() if w.ready]

    def task_depth(self) -> int:
        """How many tasks a worker may hold at once."""
        return self.queue_depth_per_connection * max(1, self.config.connections)

    def may_take_more(self, worker: Worker) -> bool:
        """Whether ``worker`` may be handed another task: under its task depth and, once each
        connection has one, under ``HELD_BYTES_PER_CONNECTION`` per connection. Small objects
        fill the depth (the answers' latency is what it hides); large parts stop at about two
        per connection, so that work held by one worker cannot leave another idle at the end."""
        connections = max(1, self.config.connections)
        held = len(worker.in_flight)
        return held < self.task_depth() and (
            held < connections or worker.held_bytes < HELD_BYTES_PER_CONNECTION * connections
        )

    def serves(self, worker: Worker, node: str | None) -> bool:
        """Whether ``worker`` may send parts of an object pinned to ``node`` (None: unpinned)."""
        return True

    def unservable(self, node: str) -> str | None:
        """Why no live worker can send parts pinned to ``node`` (None: some can)."""
        return None

    def update_credentials(self, credentials: CredentialSet) -> None:
        """Send ``credentials`` to every live worker, and to workers started from now on."""
        self.config = dataclasses.replace(self.config, credentials=credentials)
        for worker in self.live():
            self.send(worker, NewCredentials(credentials=credentials))
        self.flush()
