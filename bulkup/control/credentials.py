"""Keeping workers' credentials fresh: botocore renews them before expiry; this notices."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from bulkup.control.s3client import frozen_credentials
from bulkup.pools.base import Pool

if TYPE_CHECKING:
    import boto3

CHECK_INTERVAL = 60.0  # seconds between looks at the session's credentials


class CredentialWatch:
    """Sends the session's credentials to the pool's workers whenever they change."""

    def __init__(self, session: boto3.Session, pool: Pool, interval: float | None = None) -> None:
        self.session = session
        self.pool = pool
        self.interval = CHECK_INTERVAL if interval is None else interval
        self._current = pool.config.credentials
        self._checked = time.monotonic()

    def check(self, now: float | None = None) -> None:
        """Look again if the interval has passed; pass changed credentials on."""
        now = time.monotonic() if now is None else now
        if now - self._checked < self.interval:
            return
        self._checked = now
        current = frozen_credentials(self.session)
        if current != self._current:
            self._current = current
            self.pool.update_credentials(current)
