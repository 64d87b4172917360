"""Choosing the pool for a run: local worker processes, or actors on a Ray cluster."""
from __future__ import annotations

import os

from bulkup.pools.base import Pool, PoolSettings
from bulkup.pools.local import LocalPool
from bulkup.pools.raypool import RayPool
from bulkup.transport.messages import WorkerConfig


def make_pool(settings: PoolSettings, config: WorkerConfig, tls: bool) -> Pool:
    """Local worker processes, or (``settings.ray``) actors on a Ray cluster's nodes (each
    node then chooses its engine: ``config.engine`` may be "auto")."""
    if settings.ray:
        return RayPool(config, tls, settings.ray, settings.workers, require_tls=settings.ray_require_tls)
    return LocalPool(config, tls, settings.workers or os.cpu_count() or 1)
