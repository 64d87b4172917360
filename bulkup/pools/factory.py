"""Choosing the pool for a run: local worker processes, actors on a Ray cluster, or (a
handful of small objects) senders in the coordinator's own process. Each kind is imported
when it is chosen (local worker processes bring multiprocessing, Ray's pool its actors), so
that a run sent in process imports neither."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bulkup.pools.base import Pool, PoolSettings, local_workers
from bulkup.transport.messages import WorkerConfig

if TYPE_CHECKING:
    from bulkup.pools.local import WorkerLauncher


def launch_early(settings: PoolSettings) -> WorkerLauncher:
    """Start the local worker processes now, to be configured once the run is planned (none
    for Ray: its actors start on the cluster)."""
    from bulkup.pools.local import WorkerLauncher

    return WorkerLauncher(0 if settings.ray else local_size(settings))


def local_size(settings: PoolSettings) -> int:
    return local_workers(settings.workers)


def in_process_connections(settings: PoolSettings, config: WorkerConfig, objects: int) -> int:
    """Connections for a run sent from this process: a connection per object at most; where
    the send loop sends them, as many as the local workers would have had together (one
    thread serves them all), else a worker's."""
    from bulkup.transport.sendloop import SendLoop

    workers = local_size(settings) if SendLoop.suits(config) else 1
    return min(config.connections * workers, max(1, objects))


def make_pool(
    settings: PoolSettings,
    config: WorkerConfig,
    tls: bool,
    launcher: WorkerLauncher | None = None,
    in_process: bool = False,
) -> Pool:
    """Local worker processes (those ``launcher`` started early first), or (``settings.ray``)
    actors on a Ray cluster's nodes (each node then chooses its engine: ``config.engine`` may
    be "auto"), or (``in_process``) one worker in this process."""
    if in_process:
        from bulkup.pools.inprocess import InProcessPool

        return InProcessPool(config, tls)
    if settings.ray:
        from bulkup.pools.raypool import RayPool

        return RayPool(config, tls, settings.ray, settings.workers, require_tls=settings.ray_require_tls)
    from bulkup.pools.local import LocalPool

    return LocalPool(config, tls, local_size(settings), launcher)
