"""The Ray backend: the coordinator's workers as actors spread over a Ray cluster's nodes.

The coordinator, its journal and the control plane stay on the driver; only part
descriptors and results cross the cluster. By default each node with CPUs gets one actor
per CPU (``workers``: that many per node instead), pinned there with node affinity, each
with its own connections and the best engine that node can run. An actor that dies (or a
node that leaves) shows as ``WorkerGone``: its parts go to the others and an actor takes
its place while the node lives and the budget lasts.

Each live actor has one ``poll`` call outstanding; ``receive`` waits on all of them at once
with ``ray.wait``, so one driver thread serves the whole cluster.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Protocol, cast

from bulkup.errors import UsageError
from bulkup.pools.base import OnMessage, Pool, Worker, WorkerGone, WorkerState
from bulkup.pools.rayactor import RaySender
from bulkup.transport.messages import WorkerConfig, WorkerReady

log = logging.getLogger("bulkup")

POLL_WAIT = 0.5  # seconds an actor's poll may wait for something to say
STOP_GRACE = 10.0
START_WAIT = 10.0  # seconds the first parts wait for the slowest actor to start
CONNECT_TIMEOUT = 5.0
DIAGNOSIS_TIMEOUT = 60.0  # seconds every node has to answer ``bulkup doctor``
STANDARD_RESOURCES = ("CPU", "GPU", "memory", "object_store_memory")
INSTALL_HINT = "the Ray backend needs Ray: pip install 'bulkup[ray]'"


@dataclass(frozen=True)
class RayNode:
    """A node of the cluster as placement sees it."""

    node_id: str
    ip: str
    cpus: float
    resources: tuple[str, ...]  # custom resource names, e.g. ("rack7-nvme",)
    label: str  # what displays call it: its IP, made unique if need be

    def matches(self, pin: str) -> bool:
        return pin in (self.ip, self.node_id) or pin in self.resources


def cluster_nodes(described: list[dict[str, Any]]) -> list[RayNode]:
    """The live nodes with CPUs, from ``ray.nodes()``; labels are IPs, with a short node id
    added where several nodes share one IP (several nodes on one machine)."""
    alive = [d for d in described if d.get("Alive") and d.get("Resources", {}).get("CPU", 0) > 0]
    ips = [d["NodeManagerAddress"] for d in alive]
    nodes = []
    for d in alive:
        ip = d["NodeManagerAddress"]
        label = ip if ips.count(ip) == 1 else f"{ip}#{d['NodeID'][:6]}"
        custom = tuple(
            sorted(
                r
                for r in d["Resources"]
                if r not in STANDARD_RESOURCES and not r.startswith(("node:", "accelerator_type:"))
            )
        )
        nodes.append(RayNode(d["NodeID"], ip, d["Resources"]["CPU"], custom, label))
    return sorted(nodes, key=lambda n: n.label)


class RemoteMethod(Protocol):
    """An actor method as Ray exposes it: ``remote`` starts a call and returns its reference."""

    def remote(self, *args: object) -> object: ...


class SenderActor(Protocol):
    """A ``RaySender`` actor's handle, as this pool calls it."""

    start: RemoteMethod
    submit: RemoteMethod
    poll: RemoteMethod
    stop: RemoteMethod


@dataclass(eq=False, kw_only=True)
class RayWorker(Worker):
    """A worker as a Ray actor on one node, with its outstanding call and unsent messages."""

    node: RayNode
    actor: SenderActor
    pending: object = None  # the outstanding start or poll call (a Ray object reference)
    cannot_start: bool = False  # its node cannot run it (e.g. no engine): do not replace


class RayPool(Pool):
    """Workers as Ray actors: ``per_node`` on each node (default: one per CPU)."""

    # An actor answers at most every MIN_POLL_INTERVAL: it holds enough to keep every
    # connection busy until its finished parts have been reported and replaced.
    queue_depth_per_connection = 4

    def __init__(
        self,
        config: WorkerConfig,
        tls_endpoint: bool,
        address: str,
        per_node: int | None = None,
        require_tls: bool = False,
    ) -> None:
        self.config = config
        self.tls_endpoint = tls_endpoint
        self.address = address
        self.per_node = per_node
        self.require_tls = require_tls
        self.size = 0
        self.replacements_left = 0
        self.workers: list[RayWorker] = []
        self.nodes: list[RayNode] = []
        self._owns_connection = False

    # -- starting ----------------------------------------------------------------------

    def start(self) -> None:
        ray = _ray()
        self._owns_connection = join_cluster(self.address)
        self.nodes = cluster_nodes(ray.nodes())
        if not self.nodes:
            raise UsageError(f"the Ray cluster at {self.address} has no node with CPUs to send from")
        self._check_tls(ray)
        self._actor_class = ray.remote(RaySender)
        for node in self.nodes:
            for _ in range(self._count(node)):
                self._spawn(node)
        self.size = len(self.workers)
        self.replacements_left = 2 * self.size
        # The first parts go out once (nearly) every actor can take some: the first actors
        # up would otherwise fill their queues with all of a small run's parts.
        ray.wait([w.pending for w in self.workers], num_returns=self.size, timeout=START_WAIT)

    def _check_tls(self, ray: ModuleType) -> None:
        """Before any credentials leave this machine: say (or, required, refuse) that a
        cluster without TLS carries them to its other nodes in clear gRPC."""
        if cluster_uses_tls():
            return
        here = ray.get_runtime_context().get_node_id()
        others = [node.label for node in self.nodes if node.node_id != here]
        if not others:
            return
        words = (
            f"the Ray cluster at {self.address} runs without TLS (RAY_USE_TLS is off): the "
            f"credentials reach its other nodes ({', '.join(others)}) in clear gRPC; start "
            "every node and this driver with RAY_USE_TLS=1 and its certificates (see docs/ray.md)"
        )
        if self.require_tls:  # stop() ends the connection this pool opened
            raise UsageError(f"{words}; --ray-require-tls refuses to send them")
        log.warning("%s", words)

    def _count(self, node: RayNode) -> int:
        return self.per_node or max(1, int(node.cpus))

    def _spawn(self, node: RayNode) -> RayWorker:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        count = self._count(node)
        config = dataclasses.replace(self.config, credentials=None)  # sent with start()
        actor: SenderActor = self._actor_class.options(
            num_cpus=node.cpus / count,
            max_concurrency=4,
            max_restarts=0,
            scheduling_strategy=NodeAffinitySchedulingStrategy(node.node_id, soft=False),
        ).remote(len(self.workers), config, self.tls_endpoint, node.label)
        worker = RayWorker(index=len(self.workers), node=node, actor=actor)
        worker.pending = actor.start.remote(self.config.credentials)
        self.workers.append(worker)
        return worker

    # -- messages ----------------------------------------------------------------------

    def live(self) -> list[Worker]:
        return [w for w in self.workers if w.alive]

    def send(self, worker: Worker, message: object) -> None:
        worker.outbox.append(message)

    def flush(self) -> None:
        for worker in self.workers:
            if worker.outbox and worker.alive:
                worker.actor.submit.remote(worker.outbox)
                worker.outbox = []

    def receive(self, timeout: float) -> list[tuple[Worker, object]]:
        ray = _ray()
        calls = {w.pending: w for w in self.workers if w.alive and w.pending is not None}
        if not calls:
            time.sleep(timeout)
            return []
        ready, rest = ray.wait(list(calls), num_returns=1, timeout=timeout)
        if ready and rest:
            more, _ = ray.wait(rest, num_returns=len(rest), timeout=0)
            ready += more
        messages: list[tuple[Worker, object]] = []
        for call in ready:
            self._answered(calls[call], call, messages)
        return messages

    def _answered(self, worker: RayWorker, call: object, into: list[tuple[Worker, object]]) -> None:
        ray = _ray()
        try:
            answer = ray.get(call)
        except ray.exceptions.RayActorError as exc:
            if getattr(exc, "actor_init_failed", False):  # the node cannot even load it
                worker.cannot_start = True
                why = f"cannot start a sender there: {_creation_error(str(exc))}"
            else:
                why = f"its actor died: {_first_line(exc)}"
            into.append((worker, WorkerGone(why=self._bury(worker, why))))
            return
        except ray.exceptions.RayTaskError as exc:
            worker.cannot_start = True
            into.append((worker, WorkerGone(why=self._bury(worker, _first_line(getattr(exc, "cause", exc))))))
            return
        if isinstance(answer, WorkerReady):
            worker.state = WorkerState.READY
            into.append((worker, answer))
        else:
            into.extend((worker, message) for message in answer)
        worker.pending = worker.actor.poll.remote(POLL_WAIT)

    def _bury(self, worker: RayWorker, why: str) -> str:
        worker.state = WorkerState.GONE
        worker.pending = None
        _kill(worker.actor)
        return f"on node {worker.node.label}: {why}"

    # -- faults and placement ------------------------------------------------------------

    def replace(self, dead: Worker) -> Worker | None:
        """An actor in place of ``dead`` on the same node, if that node is still alive."""
        dead = _ray_worker(dead)
        if self.replacements_left <= 0 or dead.cannot_start:
            return None
        alive = {node.node_id for node in cluster_nodes(_ray().nodes())}
        if dead.node.node_id not in alive:
            return None
        self.replacements_left -= 1
        return self._spawn(dead.node)

    def serves(self, worker: Worker, node: str | None) -> bool:
        return node is None or _ray_worker(worker).node.matches(node)

    def unservable(self, node: str) -> str | None:
        if any(w.node.matches(node) for w in self.workers if w.alive):
            return None
        known = ", ".join(f"{n.label}" + (f" [{' '.join(n.resources)}]" if n.resources else "") for n in self.nodes)
        return f"no live Ray node matches node {node!r} (nodes: {known})"

    # -- stopping ------------------------------------------------------------------------

    def halt(self) -> None:
        for worker in self.workers:
            _kill(worker.actor)
            worker.state = WorkerState.GONE

    def stop(self, on_message: OnMessage) -> None:
        """Let every ready actor finish and report, then end them all."""
        ray = _ray()
        stopping = {w.actor.stop.remote(): w for w in self.workers if w.alive and w.ready}
        deadline = time.monotonic() + STOP_GRACE
        while stopping and time.monotonic() < deadline:
            ready, _ = ray.wait(list(stopping), num_returns=1, timeout=deadline - time.monotonic())
            for call in ready:
                worker = stopping.pop(call)
                try:
                    for message in ray.get(call):
                        on_message(worker, message)
                except ray.exceptions.RayError:
                    pass
        for worker in self.workers:
            _kill(worker.actor)
        if self._owns_connection:
            ray.shutdown()


def _ray_worker(worker: Worker) -> RayWorker:
    """``worker`` as a Ray pool made it (the coordinator hands a pool back its own)."""
    assert isinstance(worker, RayWorker), f"not a Ray worker: {worker!r}"
    return worker


def cluster_uses_tls() -> bool:
    """Whether Ray's gRPC runs over TLS here (Ray reads RAY_USE_TLS from the environment)."""
    return os.environ.get("RAY_USE_TLS", "0").strip().lower() in ("1", "true", "yes")


def join_cluster(address: str) -> bool:
    """Connect this process to the cluster as its driver; False if already connected (the
    caller's own connection, e.g. from the Python API: theirs to close)."""
    ray = _ray()
    if ray.is_initialized():
        return False
    _check_reachable(address)
    try:
        ray.init(address=None if address == "auto" else address, logging_level=logging.ERROR, log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise UsageError(f"cannot join the Ray cluster at {address}: {_first_line(exc)}") from None
    _route_cluster_messages_to_log()
    return True


def on_every_node(
    address: str, function: Callable[[], dict[str, object]], timeout: float = DIAGNOSIS_TIMEOUT
) -> dict[str, dict[str, object]]:
    """``function()``'s result (a dict) on each node with CPUs, by node label, for ``bulkup
    doctor``. A node that cannot run it says why under "error"; one that left the cluster
    between the listing and the call is left out."""
    ray = _ray()
    owned = join_cluster(address)
    try:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        remote = ray.remote(function)
        nodes = cluster_nodes(ray.nodes())
        calls = {
            remote.options(
                num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(node.node_id, soft=False)
            ).remote(): node
            for node in nodes
        }
        ready, _ = ray.wait(list(calls), num_returns=len(calls), timeout=timeout)
        answers = {calls[call].label: _answer(ray, call) for call in ready}
        found: dict[str, dict[str, object]] = {}
        for node in nodes:
            answer = answers.get(node.label, {"error": f"no answer within {timeout:.0f} s"})
            if answer is None:
                log.info("node %s left the cluster during the diagnosis", node.label)
            else:
                found[node.label] = answer
        return found
    finally:
        if owned:
            ray.shutdown()


def _answer(ray: ModuleType, call: object) -> dict[str, object] | None:
    """One node's result, None if the node is gone, or what kept it from answering."""
    try:
        return cast(dict[str, object], ray.get(call))
    except ray.exceptions.TaskUnschedulableError:
        return None
    except ray.exceptions.RayTaskError as exc:
        cause = exc.cause
        return {"error": f"{type(cause).__name__}: {_first_line(cause)}" if cause else _first_line(exc)}
    except ray.exceptions.RayError as exc:
        return {"error": _first_line(exc)}


def _ray() -> ModuleType:
    """The ray module, imported when first needed (an optional dependency)."""
    try:
        import ray
    except ImportError:
        raise UsageError(INSTALL_HINT) from None
    return ray


def _check_reachable(address: str) -> None:
    """Fail at once when nothing listens at the cluster's address (Ray itself would retry
    for minutes)."""
    if address.startswith("ray://"):
        return
    try:
        from ray._private.services import canonicalize_bootstrap_address_or_die

        wanted = None if address == "auto" else address  # None: the cluster started here, or RAY_ADDRESS
        # Ray annotates the address as str, though its code and docstring take None.
        resolved = canonicalize_bootstrap_address_or_die(wanted)  # type: ignore[arg-type]
    except ConnectionError as exc:
        if address == "auto":
            raise UsageError(
                "no running Ray cluster found: give --ray ADDRESS (the head's host:port) or set RAY_ADDRESS"
            ) from None
        raise UsageError(f"cannot join the Ray cluster at {address}: {_first_line(exc)}") from None
    except Exception:  # Ray's internals moved: let ray.init decide
        return
    host, _, port = resolved.rpartition(":")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT).close()
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc) or exc.__class__.__name__
        raise UsageError(
            f"cannot join the Ray cluster at {address}: nothing answers at {resolved} ({reason.lower()})"
        ) from None


def _kill(actor: SenderActor) -> None:
    try:
        _ray().kill(actor, no_restart=True)
    except Exception:  # already gone, or the cluster is
        pass


def _first_line(exc: BaseException) -> str:
    text = _ANSI.sub("", str(exc)).strip()
    return text.splitlines()[0] if text else exc.__class__.__name__


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_EXCEPTION_LINE = re.compile(r"[A-Za-z_][\w.]*(Error|Exception): \S")


def _creation_error(text: str) -> str:
    """The exception that ended an actor's creation, from Ray's report of it (the last
    "SomeError: message" line of the traceback it quotes)."""
    lines = [line.strip() for line in _ANSI.sub("", text).splitlines()]
    found = [line for line in lines if _EXCEPTION_LINE.match(line)]
    return found[-1] if found else next((line for line in lines if line), "unknown error")


def _route_cluster_messages_to_log() -> None:
    """Ray's driver prints the cluster's error notices (a worker died, ...) to stdout,
    which would break ``--progress json`` and the dashboard. Send them to bulkup's log
    instead (``--debug`` shows them); what they mean is reported as worker_lost."""
    try:
        import ray._private.worker as ray_worker
    except ImportError:
        return

    def to_log(data: dict[str, Any], ignore_prefix: bool = False) -> None:
        for line in data.get("lines", []):
            log.debug("ray %s: %s", data.get("pid", ""), line)

    ray_worker.print_to_stdstream = to_log
