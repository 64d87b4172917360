"""How long the test suite and the development servers wait: one factor for the machine.

``BULKUP_TEST_TIME_SCALE`` (a number, 1 when unset) multiplies every wait for a server, a
cluster or a guest kernel to be ready, and every deadline a test gives a process or a
condition. A machine three times slower than usual, or one whose cores are all busy, runs
the suite with ``BULKUP_TEST_TIME_SCALE=3``. Nothing a test asserts depends on it: it only
gives a slow machine more time before a wait is called a failure.
"""

from __future__ import annotations

import math
import os

VARIABLE = "BULKUP_TEST_TIME_SCALE"


def time_scale() -> float:
    """The factor set in the environment (1 when unset); a value that is not a positive
    number is an error rather than silently ignored."""
    raw = os.environ.get(VARIABLE, "").strip()
    if not raw:
        return 1.0
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{VARIABLE}={raw!r}: expected a positive number, such as 3")
    return value


def scaled(seconds: float) -> float:
    """``seconds`` (a wait sized for a usual machine) on this machine."""
    return seconds * time_scale()


def too_slow(what: str, seconds: float) -> str:
    """The message for a wait that ran out: what, after how long, and the knob to turn."""
    return f"{what} in {seconds:.0f} s (on a slow or busy machine, raise {VARIABLE}; now {time_scale():g})"
