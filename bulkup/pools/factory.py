"""Choosing the pool for a run: local worker processes, actors on a Ray cluster, or (a
handful of small objects) senders in the coordinator's own process."""

from __future__ import annotations

from bulkup.pools.base import Pool, PoolSettings, local_workers
from bulkup.pools.inprocess import InProcessPool
from bulkup.pools.local import LocalPool, WorkerLauncher
from bulkup.pools.raypool import RayPool
from bulkup.transport.messages import WorkerConfig


def launch_early(settings: PoolSettings) -> WorkerLauncher:
    """Start the local worker processes now, to be configured once the run is planned (none
    for Ray: its actors start on the cluster)."""
    return WorkerLauncher(0 if settings.ray else local_size(settings))


def local_size(settings: PoolSettings) -> int:
    return local_workers(settings.workers)


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
        return InProcessPool(config, tls)
    if settings.ray:
        return RayPool(config, tls, settings.ray, settings.workers, require_tls=settings.ray_require_tls)
    return LocalPool(config, tls, local_size(settings), launcher)
