"""Choosing the pool for a run: local worker processes, or actors on a Ray cluster."""
from __future__ import annotations

import os

from bulkup.control.plane import ControlPlane
from bulkup.options import PoolSettings, SendSettings
from bulkup.pools.base import Pool
from bulkup.pools.local import LocalPool
from bulkup.pools.raypool import RayPool


def make_pool(settings: PoolSettings, sending: SendSettings, control: ControlPlane, tls: bool) -> Pool:
    """Local worker processes, or (``settings.ray``) actors on a Ray cluster's nodes, each
    node choosing its own engine."""
    if settings.ray:
        return RayPool(control.worker_config(sending, tls, choose_here=False), tls, settings.ray,
                       settings.workers)
    return LocalPool(control.worker_config(sending, tls), tls, settings.workers or os.cpu_count() or 1)
