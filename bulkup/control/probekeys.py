"""The keys of bulkup's probes: unique to each probe, and recognisable when one is left behind.

Before sending data, bulkup asks the store questions by writing under the destination (an
upload it aborts, an object it deletes). Each probe's key is ``<key hint>.bulkup-probe-``
(``.bulkup-doctor-`` for ``bulkup doctor``'s test of writing) followed by 12 random hex
digits, so runs probing one prefix at once never share a key, and
each removes only what it made itself (by upload id or version).

What a probe left behind (its run was killed, or the store refused the delete) may be removed
by another run or by ``bulkup cleanup`` only when it is provably bulkup's and provably dead:
its key has exactly that form, and it is older than ``STALE_AFTER``. A probe lives for a few
requests, seconds at most with retries; and a client whose clock is more than 15 minutes off
the store's cannot sign a request S3 accepts, so an hour covers both with a wide margin while
keeping leftovers from piling up.
"""

from __future__ import annotations

import os
import re
from datetime import timedelta

PROBE_MARK = ".bulkup-probe-"
DOCTOR_MARK = ".bulkup-doctor-"  # ``bulkup doctor s3://bucket/prefix/`` writes and deletes one
STALE_AFTER = timedelta(hours=1)
_PROBE_KEY = re.compile(f"(?:{re.escape(PROBE_MARK)}|{re.escape(DOCTOR_MARK)})" + r"[0-9a-f]{12}\Z")


def new_probe_key(key_hint: str, mark: str = PROBE_MARK) -> str:
    """A key for one probe, next to ``key_hint`` (where the run writes) and unique to it."""
    return f"{key_hint}{mark}{os.urandom(6).hex()}"


def is_probe_key(key: str) -> bool:
    """Whether ``key`` has exactly the form of a probe's key (a user's key that merely
    contains the mark does not)."""
    return _PROBE_KEY.search(key) is not None
