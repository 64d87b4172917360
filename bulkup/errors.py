"""Error types whose message is the one line a user sees."""

from __future__ import annotations


class BulkupError(Exception):
    """Any failure bulkup reports to the user; ``str()`` is one line naming the cause."""

    exit_code = 1


class UsageError(BulkupError):
    """Bad command-line input or arguments: nothing was sent."""

    exit_code = 2


class SourceError(BulkupError):
    """A local source that cannot be uploaded (missing, unreadable, wrong kind)."""

    exit_code = 2


class NotVerifiedError(BulkupError):
    """The user required verified uploads and the store verifies no checksum bulkup can send."""


class FatalRemoteError(BulkupError):
    """A failure that no other object can escape (credentials, TLS, missing bucket)."""
