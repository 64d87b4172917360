"""Moved to devtools/faultproxy.py (the benchmarks use it too)."""
from devtools.faultproxy import *  # noqa: F401,F403
from devtools.faultproxy import _ClientGone  # noqa: F401
