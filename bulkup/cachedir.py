"""Where bulkup keeps what it may forget: ``$BULKUP_CACHE_DIR``, else ``$XDG_CACHE_HOME/bulkup``,
else ``~/.cache/bulkup``. Nothing kept there is needed for correctness."""

from __future__ import annotations

import os


def cache_dir() -> str:
    """The cache directory (not created here)."""
    given = os.environ.get("BULKUP_CACHE_DIR")
    if given:
        return given
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "bulkup")
