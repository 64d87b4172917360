"""The cyclic garbage collector during a run: rarely, and never over what was imported.

A run makes a few container objects per file (its job, task, answer, record), and keeps many
of them until it ends, so with Python's default threshold (a young collection every 700 new
objects) the collector walks them again and again: ~10% of the coordinator's CPU at 16 KiB
per object. They form no cycles that matter for memory while the run lasts, so the run
collects every ``YOUNG`` new objects instead, and ``gc.freeze()`` moves everything alive at
its start (the imported modules) out of every collection, which also leaves those pages
shared between a forking process and its children.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

YOUNG = 50_000  # new objects between young collections (Python's default: 700)


@contextmanager
def few_collections() -> Iterator[None]:
    """Collect rarely while the block runs, then as before."""
    before = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(YOUNG, before[1], before[2])
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()
