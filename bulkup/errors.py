"""The errors a user sees: each class carries its exit status, and ``str()`` is the one line
that names the cause (the file or key it concerns) and, where there is one, what to do."""

from __future__ import annotations

from collections.abc import Sequence


class BulkupError(Exception):
    """Any failure bulkup reports to the user. ``uploads_left``: multipart uploads the
    stopped run could not abort, which its line names instead of "aborted"."""

    exit_code = 1

    def __init__(self, message: str = "", uploads_left: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.uploads_left = list(uploads_left)


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


class Interrupted(BulkupError):
    """Ctrl-C or SIGTERM stopped a run (its open uploads aborted, unless it keeps them for a
    resumed run or ``uploads_left`` names those it could not). ``then``: what was stored
    before, and the command that continues, where the command line knows them."""

    exit_code = 130
    then: str = ""
