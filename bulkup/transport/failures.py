"""The signal a sender gives its worker about a part it could not send (never shown as is)."""

from __future__ import annotations


class PartFailed(Exception):
    """A part (or single PUT) the worker gave up on; carries a retryable flag."""

    def __init__(self, message: str, retryable: bool, fatal: bool = False, code: str = "") -> None:
        super().__init__(message)
        self.retryable = retryable
        self.fatal = fatal
        self.code = code
